//! Fault injection: throttling, server errors, latency, dropped connections and broken bodies,
//! either for a fraction of requests (seeded, so a run can be repeated) or as an exact sequence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// One injected failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer `429 TooManyRequests` with a `Retry-After` header (whole seconds, rounded up)
    /// without processing the request.
    TooManyRequests {
        /// The delay the client is told to wait.
        retry_after: Duration,
    },
    /// Answer `500 InternalServerError` without processing the request.
    InternalError,
    /// Answer `503 ServiceUnavailable` without processing the request.
    ServiceUnavailable,
    /// Close the connection before the request is processed (nothing changes on the server).
    CloseBeforeProcessing,
    /// Process the request, then close the connection without answering.
    CloseAfterProcessing,
    /// Process the request, then send only part of the response body and close the connection.
    TruncatedBody,
    /// Process the request, then answer with a body that is not valid JSON.
    MalformedBody,
    /// Wait this long, then process the request normally.
    Delay(Duration),
}

impl Fault {
    /// Parses a fault name as the binary's `--faults` flag accepts it: `429`, `500`, `503`,
    /// `close-before`, `close-after`, `truncate`, `malformed`, `delay:MS`.
    pub fn parse(s: &str) -> Option<Fault> {
        match s.trim() {
            "429" => Some(Fault::TooManyRequests {
                retry_after: Duration::from_secs(1),
            }),
            "500" => Some(Fault::InternalError),
            "503" => Some(Fault::ServiceUnavailable),
            "close-before" => Some(Fault::CloseBeforeProcessing),
            "close-after" => Some(Fault::CloseAfterProcessing),
            "truncate" => Some(Fault::TruncatedBody),
            "malformed" => Some(Fault::MalformedBody),
            other => {
                let ms = other.strip_prefix("delay:")?.parse::<u64>().ok()?;
                Some(Fault::Delay(Duration::from_millis(ms)))
            }
        }
    }
}

/// Which requests fail, and how. `Faults::default()` injects nothing.
///
/// The first `sequence.len()` requests take their fault from `sequence` (`None` = served
/// normally); every later request fails with probability `rate`, with a kind drawn from
/// `kinds`. Every request is delayed by `latency` first.
///
/// ```
/// use std::time::Duration;
/// use acs_chat_emulator::{Fault, Faults};
/// let faults = Faults {
///     rate: 0.2,
///     kinds: vec![Fault::ServiceUnavailable, Fault::TooManyRequests { retry_after: Duration::ZERO }],
///     seed: 7,
///     ..Faults::default()
/// };
/// # let emu = acs_chat_emulator::Emulator::builder().faults(faults).start()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Fraction of requests (0.0–1.0) that fail once `sequence` is used up.
    pub rate: f64,
    /// The kinds a failing request picks from, uniformly. Empty = no random faults.
    pub kinds: Vec<Fault>,
    /// Exact faults for the next requests, in arrival order.
    pub sequence: Vec<Option<Fault>>,
    /// Latency added to every request.
    pub latency: Duration,
    /// Seed of the random choice (0 picks a fixed default), so a run can be repeated.
    pub seed: u64,
}

impl Faults {
    /// An exact sequence of faults for the next requests, then none.
    pub fn sequence(sequence: Vec<Option<Fault>>) -> Faults {
        Faults {
            sequence,
            ..Faults::default()
        }
    }

    /// A fraction `rate` of requests fails with one of `kinds`.
    pub fn rate(rate: f64, kinds: Vec<Fault>) -> Faults {
        Faults {
            rate,
            kinds,
            ..Faults::default()
        }
    }
}

/// The live fault state of a server: the configuration plus its cursor and RNG.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    inner: Mutex<Live>,
    /// Fast path: no faults configured at all.
    active: AtomicU64,
}

#[derive(Debug, Default)]
struct Live {
    faults: Faults,
    next: usize,
    rng: XorShift,
}

/// What to do with one request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub(crate) latency: Duration,
    pub(crate) fault: Option<Fault>,
}

impl FaultState {
    pub(crate) fn new(faults: Faults) -> FaultState {
        let s = FaultState::default();
        s.set(faults);
        s
    }

    /// Replaces the configuration and restarts the sequence and the RNG.
    pub(crate) fn set(&self, faults: Faults) {
        let active = !faults.sequence.is_empty()
            || (faults.rate > 0.0 && !faults.kinds.is_empty())
            || !faults.latency.is_zero();
        let mut live = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        live.rng = XorShift::new(faults.seed);
        live.next = 0;
        live.faults = faults;
        self.active.store(u64::from(active), Ordering::Release);
    }

    /// Decides the fate of the next request.
    pub(crate) fn decide(&self) -> Decision {
        if self.active.load(Ordering::Acquire) == 0 {
            return Decision::default();
        }
        let mut live = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let latency = live.faults.latency;
        let fault = if live.next < live.faults.sequence.len() {
            let f = live.faults.sequence[live.next].clone();
            live.next += 1;
            f
        } else if live.faults.rate > 0.0 && !live.faults.kinds.is_empty() {
            let roll = live.rng.next_f64();
            if roll < live.faults.rate {
                let n = live.faults.kinds.len() as u64;
                let pick = (live.rng.next_u64() % n) as usize;
                live.faults.kinds.get(pick).cloned()
            } else {
                None
            }
        } else {
            None
        };
        Decision { latency, fault }
    }
}

/// A tiny xorshift64* generator: plenty for picking faults, and reproducible from a seed.
#[derive(Debug)]
pub(crate) struct XorShift(u64);

impl Default for XorShift {
    fn default() -> Self {
        XorShift::new(0)
    }
}

impl XorShift {
    pub(crate) fn new(seed: u64) -> XorShift {
        // Zero is a fixed point of xorshift: replace it with an arbitrary odd constant.
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decide_follows_sequence_then_stops() {
        let s = FaultState::new(Faults::sequence(vec![
            Some(Fault::InternalError),
            None,
            Some(Fault::ServiceUnavailable),
        ]));
        let got: Vec<_> = (0..4).map(|_| s.decide().fault).collect();
        assert_eq!(
            got,
            vec![
                Some(Fault::InternalError),
                None,
                Some(Fault::ServiceUnavailable),
                None
            ]
        );
    }

    #[test]
    fn decide_rate_is_close_to_configured_fraction() {
        let s = FaultState::new(Faults {
            seed: 42,
            ..Faults::rate(0.2, vec![Fault::InternalError])
        });
        let n = (0..10_000).filter(|_| s.decide().fault.is_some()).count();
        assert!(
            (1_700..2_300).contains(&n),
            "saw {n} faults in 10000 at rate 0.2"
        );
    }

    #[test]
    fn parse_fault_names() {
        assert_eq!(Fault::parse("503"), Some(Fault::ServiceUnavailable));
        assert_eq!(
            Fault::parse("delay:15"),
            Some(Fault::Delay(Duration::from_millis(15)))
        );
        assert_eq!(Fault::parse("nope"), None);
    }
}
