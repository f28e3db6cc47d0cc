//! When to retry, and how long to wait first.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How failed attempts are retried: exponential backoff with jitter, capped, and never past
/// the call's timeout.
///
/// The delay before retry `n` (0-based) is `initial_delay * 2^n`, capped at `max_delay`, then
/// scaled by a random factor between 0.8 and 1.2 (and capped again). When the service says how
/// long to wait (`retry-after-ms`, `x-ms-retry-after-ms` or `Retry-After` in seconds or as an
/// HTTP date), that wait is used instead. A retry whose wait would end after the call's
/// timeout is not made; the last error is returned instead.
///
/// Which failures are retried depends on the operation: see the "Retries" section of
/// [`ChatClientOptions`](crate::ChatClientOptions).
///
/// ```
/// use std::time::Duration;
/// use acs_chat::RetryOptions;
///
/// let retry = RetryOptions { max_retries: 5, ..Default::default() };
/// assert_eq!(retry.initial_delay, Duration::from_millis(800));
/// let none = RetryOptions::none();
/// assert_eq!(none.max_retries, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryOptions {
    /// How many times a failed attempt is retried (so at most `max_retries + 1` attempts).
    /// Default: 3.
    pub max_retries: u32,
    /// The wait before the first retry. Default: 800 ms.
    pub initial_delay: Duration,
    /// The longest computed wait between attempts (a service's `Retry-After` may ask for
    /// longer and is honoured). Default: 30 s.
    pub max_delay: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_retries: 3,
            initial_delay: Duration::from_millis(800),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryOptions {
    /// No retries at all: every failure is returned at once.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// use acs_chat::{ChatClient, ChatClientOptions, CommunicationTokenCredential, RetryOptions, TransportOptions};
    ///
    /// let options = ChatClientOptions {
    ///     transport_options: TransportOptions { retry: RetryOptions::none(), ..Default::default() },
    ///     ..Default::default()
    /// };
    /// let chat = ChatClient::with_options(&emu.endpoint(), CommunicationTokenCredential::new(token)?, options)?;
    /// let before = emu.request_count();
    /// assert!(chat.get_chat_thread("19:unknown@thread.v2").is_err());
    /// assert_eq!(emu.request_count() - before, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn none() -> Self {
        RetryOptions {
            max_retries: 0,
            ..Default::default()
        }
    }

    /// The backoff before retry number `retry` (0-based), with `random` in `[0, 1)` as jitter.
    pub(crate) fn backoff(&self, retry: u32, random: f64) -> Duration {
        let factor = 2f64.powi(retry.min(30) as i32);
        let base = self.initial_delay.as_secs_f64() * factor;
        let capped = base.min(self.max_delay.as_secs_f64());
        let jittered = capped * (0.8 + 0.4 * random.clamp(0.0, 1.0));
        let secs = jittered.min(self.max_delay.as_secs_f64()).max(0.0);
        Duration::try_from_secs_f64(secs).unwrap_or(self.max_delay)
    }
}

/// Which failures an operation may retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryClass {
    /// Repeating the request has the same effect as sending it once (GET, PATCH, DELETE, read
    /// receipts, typing, remove participant, create thread with its kept
    /// `repeatability-request-id`). Retries connection failures, cut-short bodies and
    /// 408/429/500/502/503/504.
    SafeToRepeat,
    /// A repeat could act twice (send message, add participants). Retried only when the
    /// request provably was not processed: 429, 503, or a failure to connect.
    OnlyIfNotProcessed,
}

impl RetryClass {
    /// Whether a response with this status may be retried.
    pub(crate) fn retries_status(self, status: u16) -> bool {
        match self {
            RetryClass::SafeToRepeat => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            RetryClass::OnlyIfNotProcessed => matches!(status, 429 | 503),
        }
    }

    /// Whether a transport failure may be retried; `before_sending` is true when the request
    /// never left the client (resolve or connect failed).
    pub(crate) fn retries_transport(self, before_sending: bool) -> bool {
        match self {
            RetryClass::SafeToRepeat => true,
            RetryClass::OnlyIfNotProcessed => before_sending,
        }
    }
}

/// The longest server-requested wait we accept as given; longer values are clamped (the
/// call's timeout still applies).
const MAX_SERVER_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Reads the wait the service asked for from `retry-after-ms`, `x-ms-retry-after-ms` or
/// `Retry-After` (seconds or an HTTP date), in that order. Unparsable values are ignored.
pub(crate) fn server_delay(
    header: impl Fn(&str) -> Option<String>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = header(name).and_then(|v| parse_non_negative(&v)) {
            return Some(clamp_secs(ms / 1000.0));
        }
    }
    let value = header("retry-after")?;
    let value = value.trim();
    if let Some(secs) = parse_non_negative(value) {
        return Some(clamp_secs(secs));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&Utc) - now;
    Some(
        wait.to_std()
            .map(|d| d.min(MAX_SERVER_DELAY))
            .unwrap_or(Duration::ZERO),
    )
}

fn parse_non_negative(value: &str) -> Option<f64> {
    let v: f64 = value.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

fn clamp_secs(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs)
        .unwrap_or(MAX_SERVER_DELAY)
        .min(MAX_SERVER_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_string())
        }
    }

    /// Backoff doubles, is capped at max_delay and stays within the jitter band.
    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        let r = RetryOptions {
            max_retries: 10,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(r.backoff(0, 0.5), Duration::from_millis(100));
        assert_eq!(r.backoff(1, 0.5), Duration::from_millis(200));
        assert_eq!(r.backoff(2, 0.5), Duration::from_millis(400));
        assert_eq!(r.backoff(9, 0.5), Duration::from_secs(1));
        assert_eq!(r.backoff(u32::MAX, 1.0), Duration::from_secs(1));
        let low = r.backoff(0, 0.0);
        let high = r.backoff(0, 0.999);
        assert!(
            low >= Duration::from_millis(79) && low <= Duration::from_millis(81),
            "low {low:?}"
        );
        assert!(
            high >= Duration::from_millis(119) && high <= Duration::from_millis(120),
            "high {high:?}"
        );
    }

    /// The defaults are the documented ones.
    #[test]
    fn retry_options_default_is_documented() {
        let r = RetryOptions::default();
        assert_eq!(
            (r.max_retries, r.initial_delay, r.max_delay),
            (3, Duration::from_millis(800), Duration::from_secs(30))
        );
    }

    /// Safe operations retry transient statuses; unsafe ones only 429 and 503.
    #[test]
    fn retry_class_decides_by_status() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(RetryClass::SafeToRepeat.retries_status(s), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 409, 501] {
            assert!(!RetryClass::SafeToRepeat.retries_status(s), "{s}");
        }
        for s in [429, 503] {
            assert!(RetryClass::OnlyIfNotProcessed.retries_status(s), "{s}");
        }
        for s in [408, 500, 502, 504] {
            assert!(!RetryClass::OnlyIfNotProcessed.retries_status(s), "{s}");
        }
        assert!(RetryClass::OnlyIfNotProcessed.retries_transport(true));
        assert!(!RetryClass::OnlyIfNotProcessed.retries_transport(false));
        assert!(RetryClass::SafeToRepeat.retries_transport(false));
    }

    /// Every retry-after header form is read, milliseconds first.
    #[test]
    fn server_delay_reads_every_header_form() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 26, 23, 0, 0)
            .single()
            .expect("valid date");
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<Duration>);
        let cases: &[Case] = &[
            (&[("Retry-After", "2")], Some(Duration::from_secs(2))),
            (&[("retry-after", "0")], Some(Duration::ZERO)),
            (
                &[("retry-after-ms", "250")],
                Some(Duration::from_millis(250)),
            ),
            (
                &[("x-ms-retry-after-ms", "1500")],
                Some(Duration::from_millis(1500)),
            ),
            (
                &[("Retry-After", "9"), ("retry-after-ms", "10")],
                Some(Duration::from_millis(10)),
            ),
            (
                &[("Retry-After", "Thu, 26 Nov 2026 23:00:05 GMT")],
                Some(Duration::from_secs(5)),
            ),
            (
                &[("Retry-After", "Thu, 26 Nov 2026 22:00:00 GMT")],
                Some(Duration::ZERO),
            ),
            (&[("Retry-After", "soon")], None),
            (&[("Retry-After", "-3")], None),
            (&[("retry-after-ms", "NaN")], None),
            (&[("Retry-After", "1e300")], Some(MAX_SERVER_DELAY)),
            (&[], None),
        ];
        for (pairs, want) in cases {
            assert_eq!(
                server_delay(headers(pairs), now),
                *want,
                "headers {pairs:?}"
            );
        }
    }
}
