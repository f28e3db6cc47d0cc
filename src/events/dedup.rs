//! `Deduplicator`: remembers recent event ids, because Event Grid delivers at least once.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tells first deliveries from redeliveries by event `id`, in bounded memory.
///
/// It remembers at most `capacity` ids; when full, the oldest one is forgotten first (FIFO:
/// a redelivery does not refresh an id, since Event Grid's retries of one event come within
/// its time to live, not forever). With a window, ids older than the window are forgotten
/// too, so memory follows the recent delivery rate rather than staying at `capacity`.
///
/// Pick `capacity` above the number of distinct events you may receive within Event Grid's
/// retry span for one event (24 h by default): a redelivery of an id already forgotten is seen
/// as new. Deduplication at the receiver is a best effort; make the effect idempotent too
/// where a duplicate would hurt.
///
/// # Thread safety
///
/// `Send + Sync`: share one (in an `Arc` or a `static`) between a server's threads. Checks
/// take a short lock; no I/O happens under it.
///
/// ```
/// use acs_chat::events::Deduplicator;
///
/// let seen = Deduplicator::new(10_000);
/// assert!(seen.first_delivery("4c2b8d0e"));   // handle it
/// assert!(!seen.first_delivery("4c2b8d0e"));  // a redelivery: skip it
/// assert_eq!(seen.len(), 1);
/// ```
#[derive(Debug)]
pub struct Deduplicator {
    capacity: usize,
    window: Option<Duration>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// id → when it was first seen.
    seen: HashMap<String, Instant>,
    /// Ids in the order they were first seen, with that time (to evict and expire).
    order: VecDeque<(String, Instant)>,
}

impl Deduplicator {
    /// Remembers up to `capacity` ids (at least 1), with no time window.
    pub fn new(capacity: usize) -> Self {
        Deduplicator {
            capacity: capacity.max(1),
            window: None,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Remembers up to `capacity` ids, each for at most `window`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use acs_chat::events::Deduplicator;
    ///
    /// // Event Grid retries an event for up to 24 h by default.
    /// let seen = Deduplicator::with_window(100_000, Duration::from_secs(24 * 3600));
    /// assert!(seen.first_delivery("e1"));
    /// ```
    pub fn with_window(capacity: usize, window: Duration) -> Self {
        Deduplicator {
            window: Some(window),
            ..Self::new(capacity)
        }
    }

    /// Whether this is the first delivery of `id` that this deduplicator remembers; records
    /// it if so. Exactly one of several threads checking the same new id at once gets `true`.
    pub fn first_delivery(&self, id: &str) -> bool {
        self.first_delivery_at(id, Instant::now())
    }

    /// [`first_delivery`](Self::first_delivery) with the current time given, for tests and
    /// for callers that already read the clock. Times earlier than ones already seen are
    /// treated as equal to the latest.
    pub fn first_delivery_at(&self, id: &str, now: Instant) -> bool {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters here (at worst an id is forgotten), so a poisoned lock is used as is.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = inner.order.back().map_or(now, |(_, last)| now.max(*last));
        if let Some(window) = self.window {
            while let Some((_, at)) = inner.order.front() {
                if now.duration_since(*at) < window {
                    break;
                }
                if let Some((old, _)) = inner.order.pop_front() {
                    inner.seen.remove(&old);
                }
            }
        }
        if inner.seen.contains_key(id) {
            return false;
        }
        while inner.order.len() >= self.capacity {
            match inner.order.pop_front() {
                Some((old, _)) => {
                    inner.seen.remove(&old);
                }
                None => break,
            }
        }
        inner.seen.insert(id.to_owned(), now);
        inner.order.push_back((id.to_owned(), now));
        true
    }

    /// Forgets `id`, so that its next delivery counts as the first: call it when handling
    /// the event failed and you answer Event Grid with an error so that it retries.
    pub fn forget(&self, id: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.seen.remove(id).is_some() {
            inner.order.retain(|(k, _)| k != id);
        }
    }

    /// How many ids are remembered now.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .seen
            .len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most ids remembered at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At capacity, the oldest id is forgotten first, and memory never exceeds capacity.
    #[test]
    fn first_delivery_evicts_oldest_at_capacity() {
        let d = Deduplicator::new(3);
        for id in ["a", "b", "c", "d"] {
            assert!(d.first_delivery(id), "{id} seen as a duplicate");
        }
        assert_eq!(d.len(), 3);
        assert!(d.first_delivery("a"), "a was not evicted");
        assert!(!d.first_delivery("d"), "d was forgotten too early");
        assert_eq!(d.len(), 3);
    }

    /// Ids older than the window are forgotten; younger ones are still duplicates.
    #[test]
    fn first_delivery_expires_ids_after_window() {
        let d = Deduplicator::with_window(100, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(d.first_delivery_at("a", t0));
        assert!(d.first_delivery_at("b", t0 + Duration::from_secs(30)));
        assert!(!d.first_delivery_at("a", t0 + Duration::from_secs(59)));
        assert!(d.first_delivery_at("a", t0 + Duration::from_secs(60)));
        assert!(!d.first_delivery_at("b", t0 + Duration::from_secs(60)));
        // A clock that goes backwards does not resurrect expired entries.
        assert!(!d.first_delivery_at("a", t0));
    }

    /// `forget` lets a failed event be handled again on its redelivery.
    #[test]
    fn forget_makes_next_delivery_first() {
        let d = Deduplicator::new(10);
        assert!(d.first_delivery("x"));
        d.forget("x");
        assert!(d.is_empty());
        assert!(d.first_delivery("x"));
    }

    /// Many threads racing on the same ids: each id is first exactly once.
    #[test]
    fn first_delivery_is_exactly_once_across_threads() {
        let d = std::sync::Arc::new(Deduplicator::new(10_000));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let d = d.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|i| d.first_delivery(&format!("id-{i}")))
                        .count()
                })
            })
            .collect();
        let firsts: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(firsts, 1000, "ids handled as first: {firsts}");
    }
}
