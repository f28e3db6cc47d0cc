//! [`WatchOptions`]: where a watch starts and how often it polls.

use std::time::Duration;

use super::WatchCursor;
use crate::http::RetryOptions;

/// How a [`ThreadWatcher`](crate::ThreadWatcher) or [`InboxWatcher`](crate::InboxWatcher)
/// starts and polls. Build with `..Default::default()`.
///
/// ```
/// use std::time::Duration;
/// use acs_chat::WatchOptions;
///
/// let options = WatchOptions {
///     poll_interval: Duration::from_millis(500),
///     include_read_receipts: true,
///     ..Default::default()
/// };
/// assert_eq!(options.max_poll_interval, Duration::from_secs(10));
/// assert_eq!(options.read_receipt_interval, Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchOptions {
    /// Resume just after this position (from a watcher's `cursor()` or `changes_since`).
    /// Default: `None`, the watch starts now (or at the beginning, see `from_beginning`).
    pub resume_from: Option<WatchCursor>,
    /// Without `resume_from`: deliver the whole history first (every message still listed,
    /// system messages included) instead of starting now. Default: `false`.
    pub from_beginning: bool,
    /// The wait between polls while things happen. Default: 1 s.
    pub poll_interval: Duration,
    /// The ceiling of the idle back-off: each poll that finds nothing doubles the wait, up to
    /// this. Default: 10 s.
    pub max_poll_interval: Duration,
    /// Also deliver [`ThreadEvent::ReadReceipt`](crate::ThreadEvent::ReadReceipt)s (one more
    /// request per `read_receipt_interval`). Default: `false`.
    pub include_read_receipts: bool,
    /// The shortest time between two read-receipt polls of a thread. Default: 5 s (the
    /// service allows 5 read-receipt requests per 10 s per user and thread).
    pub read_receipt_interval: Duration,
    /// Items per page of each list request (1..=200). Default: `None`, 200 (the fewest
    /// requests when many changes arrive at once).
    pub page_size: Option<i32>,
    /// Inbox only: the time over which every thread is polled once for edits and deletions
    /// (quiet threads are not polled otherwise), and the thread list read in full to find
    /// threads joined and left. Default: 120 s.
    pub sweep_interval: Duration,
    /// How polls that fail with a transient error (connection failures, 429, 5xx, cut-short
    /// bodies, after the client's own retries) are retried: `max_retries` failed polls in a row
    /// end the watch with the last error. Default: 8 retries, 1 s initial delay, 30 s cap.
    pub retry: RetryOptions,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            resume_from: None,
            from_beginning: false,
            poll_interval: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(10),
            include_read_receipts: false,
            read_receipt_interval: Duration::from_secs(5),
            page_size: None,
            sweep_interval: Duration::from_secs(120),
            retry: RetryOptions {
                max_retries: 8,
                initial_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(30),
            },
        }
    }
}

/// The page size a watch asks for.
pub(crate) const DEFAULT_WATCH_PAGE_SIZE: i32 = 200;

impl WatchOptions {
    pub(crate) fn page_size(&self) -> i32 {
        self.page_size.unwrap_or(DEFAULT_WATCH_PAGE_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults are the documented ones.
    #[test]
    fn watch_options_default_is_documented() {
        let o = WatchOptions::default();
        assert_eq!(
            (
                o.poll_interval,
                o.max_poll_interval,
                o.read_receipt_interval,
                o.sweep_interval
            ),
            (
                Duration::from_secs(1),
                Duration::from_secs(10),
                Duration::from_secs(5),
                Duration::from_secs(120)
            )
        );
        assert!(!o.from_beginning && !o.include_read_receipts && o.resume_from.is_none());
        assert_eq!(o.page_size(), 200);
    }
}
