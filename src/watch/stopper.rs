//! [`WatchStopper`]: ends a watch from any thread, and the wait between polls that it wakes.

use std::fmt;
use std::time::{Duration, Instant};

use crate::http::{jitter, RetryOptions, Waiter};

/// Ends a [`ThreadWatcher`](crate::ThreadWatcher) or [`InboxWatcher`](crate::InboxWatcher)
/// from any thread.
///
/// After [`stop`](Self::stop), a `next()` that is waiting for the next poll returns `None` at
/// once (the wait is a `Condvar` wait, woken by `stop`); a `next()` in the middle of a request
/// returns `None` as soon as that request ends (bounded by the client's `call_timeout`).
/// Events already fetched but not handed out are dropped: the watcher's
/// [`cursor`](crate::ThreadWatcher::cursor) still points just after the last event handed
/// out, so a watch resumed from it hears them.
///
/// `WatchStopper` is `Clone + Send + Sync`; every clone stops the same watch.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
/// let mut watcher = thread.watch(None);
/// let stopper = watcher.stopper();
/// std::thread::spawn(move || stopper.stop());
/// assert!(watcher.next().is_none()); // ends without waiting for a change
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct WatchStopper {
    waiter: Waiter,
}

impl fmt::Debug for WatchStopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchStopper")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

impl WatchStopper {
    /// Stops the watch: a waiting `next()` returns `None` now, later ones return `None` too.
    pub fn stop(&self) {
        self.waiter.stop();
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.waiter.is_stopped()
    }

    /// Waits until `deadline` or until stopped, whichever comes first; true when stopped.
    pub(crate) fn wait_until(&self, deadline: Instant) -> bool {
        self.waiter.wait_until(deadline)
    }
}

/// The schedule of one watch: the idle back-off between polls and the retry back-off after
/// failed ones.
#[derive(Debug)]
pub(crate) struct Schedule {
    poll_interval: Duration,
    max_poll_interval: Duration,
    retry: RetryOptions,
    /// The wait before the next poll when nothing fails.
    idle: Duration,
    /// Failed polls in a row.
    failures: u32,
    next_poll: Option<Instant>,
}

impl Schedule {
    pub(crate) fn new(poll: Duration, max_poll: Duration, retry: RetryOptions) -> Schedule {
        let poll_interval = poll.max(Duration::from_millis(1));
        Schedule {
            poll_interval,
            max_poll_interval: max_poll.max(poll_interval),
            retry,
            idle: poll_interval,
            failures: 0,
            next_poll: None,
        }
    }

    /// When the next poll is due (`None`: now).
    pub(crate) fn next_poll(&self) -> Option<Instant> {
        self.next_poll
    }

    /// The wait the schedule currently uses between successful polls.
    #[cfg(test)]
    pub(crate) fn idle_interval(&self) -> Duration {
        self.idle
    }

    /// A poll succeeded; `busy` when it found something (the interval drops back to
    /// `poll_interval`), otherwise the interval doubles up to `max_poll_interval`.
    pub(crate) fn succeeded(&mut self, busy: bool) {
        self.failures = 0;
        self.idle = if busy {
            self.poll_interval
        } else {
            (self.idle * 2).min(self.max_poll_interval)
        };
        self.next_poll = Some(Instant::now() + self.idle);
    }

    /// A poll failed with a transient error: whether to try again (after the retry back-off),
    /// or give up because `retry.max_retries` polls in a row failed.
    pub(crate) fn failed(&mut self) -> bool {
        if self.failures >= self.retry.max_retries {
            return false;
        }
        let wait = self.retry.backoff(self.failures, jitter());
        self.failures += 1;
        self.next_poll = Some(Instant::now() + wait);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle polls double the interval up to the ceiling; a busy poll resets it.
    #[test]
    fn schedule_backs_off_when_idle_and_resets_when_busy() {
        let mut s = Schedule::new(
            Duration::from_secs(1),
            Duration::from_secs(10),
            RetryOptions::default(),
        );
        let mut seen = Vec::new();
        for _ in 0..6 {
            s.succeeded(false);
            seen.push(s.idle_interval().as_secs());
        }
        assert_eq!(seen, [2, 4, 8, 10, 10, 10], "idle intervals");
        s.succeeded(true);
        assert_eq!(s.idle_interval(), Duration::from_secs(1));
    }

    /// Failed polls are retried `max_retries` times in a row, then the schedule gives up.
    #[test]
    fn schedule_gives_up_after_max_retries_failures_in_a_row() {
        let retry = RetryOptions {
            max_retries: 2,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let mut s = Schedule::new(Duration::from_secs(1), Duration::from_secs(1), retry);
        assert!(
            s.failed() && s.failed(),
            "the first two failures are retried"
        );
        assert!(!s.failed(), "the third failure in a row is not");
        s.succeeded(false);
        assert!(s.failed(), "a success resets the count");
    }
}
