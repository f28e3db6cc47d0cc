//! [`Waiter`]: the one interruptible wait of the crate, used between a call's attempts and
//! between a watch's polls. A `Condvar` wait with a deadline that [`Waiter::stop`] ends at
//! once from any thread, instead of a `thread::sleep` that must run out.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// A stoppable wait. Clones share one stop flag: stopping any clone wakes every wait of all
/// of them, now and later.
#[derive(Clone, Default)]
pub(crate) struct Waiter {
    inner: Arc<WaitState>,
}

#[derive(Default)]
struct WaitState {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Waiter {
    /// Ends every current and future [`wait_until`](Self::wait_until) at once.
    pub(crate) fn stop(&self) {
        *self.lock() = true;
        self.inner.wake.notify_all();
    }

    /// Whether [`stop`](Self::stop) was called.
    pub(crate) fn is_stopped(&self) -> bool {
        *self.lock()
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        // A panic while holding this lock cannot leave the flag half-written.
        self.inner.stopped.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `deadline` or until stopped, whichever comes first; `true` when stopped.
    pub(crate) fn wait_until(&self, deadline: Instant) -> bool {
        let mut stopped = self.lock();
        loop {
            if *stopped {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = self
                .inner
                .wake
                .wait_timeout(stopped, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

/// A number in `[0, 1)` for back-off jitter (no random-number crate in the SDK: a UUID v4
/// carries 122 random bits; 53 of them make the fraction).
pub(crate) fn jitter() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u64_pair().0 >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A wait with no stop ends at its deadline and says it was not stopped.
    #[test]
    fn wait_until_returns_false_at_deadline() {
        let waiter = Waiter::default();
        let deadline = Instant::now() + Duration::from_millis(5);
        assert!(!waiter.wait_until(deadline), "not stopped");
        assert!(Instant::now() >= deadline, "returned before the deadline");
    }

    /// A stop from another thread ends an hour-long wait and reports the stop.
    #[test]
    fn wait_until_returns_true_when_stopped_from_another_thread() {
        let waiter = Waiter::default();
        let other = waiter.clone();
        let handle = std::thread::spawn(move || other.stop());
        let stopped = waiter.wait_until(Instant::now() + Duration::from_secs(3600));
        handle.join().expect("stopper thread");
        assert!(stopped, "the wait was not ended by stop");
        assert!(waiter.is_stopped(), "flag after stop");
    }

    /// Jitter stays in `[0, 1)`.
    #[test]
    fn jitter_is_a_fraction() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "jitter {j}");
        }
    }
}
