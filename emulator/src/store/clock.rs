//! The store's counters: the stamp clock that hands out message ids and versions, and the
//! token issue counter. Both can be seeded, so a persistent backend can resume after the
//! largest value it stored.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Hands out epoch-millisecond stamps that are unique and strictly increasing: message ids
/// and versions come from here, so ids never collide even at thousands of sends a second.
#[derive(Debug, Default)]
pub(crate) struct Clock(AtomicI64);

impl Clock {
    /// A clock whose next stamp is later than `last` (a stamp already handed out).
    pub(crate) fn seeded(last: i64) -> Clock {
        Clock(AtomicI64::new(last))
    }

    pub(crate) fn next(&self) -> i64 {
        let now = chrono::Utc::now().timestamp_millis();
        let mut last = self.0.load(Ordering::Acquire);
        loop {
            let next = now.max(last + 1);
            match self
                .0
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// The last stamp handed out: everything that exists now has a stamp at or below it.
    pub(crate) fn current(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }
}

/// A counter of issued things (access tokens): 1, 2, 3, … from its seed on.
#[derive(Debug, Default)]
pub(crate) struct Sequence(AtomicU64);

impl Sequence {
    /// A counter whose next value is `last + 1`.
    pub(crate) fn seeded(last: u64) -> Sequence {
        Sequence(AtomicU64::new(last))
    }

    /// The next value.
    pub(crate) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The last value handed out (0: none yet).
    pub(crate) fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Stamps from four threads at once are all distinct, and `current` is the largest.
    #[test]
    fn clock_is_strictly_increasing_across_threads() {
        let clock = Arc::new(Clock::default());
        let stamps: Vec<i64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let c = Arc::clone(&clock);
                    s.spawn(move || (0..1000).map(|_| c.next()).collect::<Vec<_>>())
                })
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let unique: std::collections::HashSet<_> = stamps.iter().collect();
        assert_eq!(unique.len(), 4000, "duplicate stamps");
        assert_eq!(clock.current(), *stamps.iter().max().unwrap_or(&0));
    }

    /// A seeded clock and sequence continue right after their seed.
    #[test]
    fn seeded_counters_continue_after_their_seed() {
        let far = chrono::Utc::now().timestamp_millis() + 1_000_000;
        assert_eq!(Clock::seeded(far).next(), far + 1);
        let seq = Sequence::seeded(41);
        assert_eq!((seq.next(), seq.current()), (42, 42));
    }
}
