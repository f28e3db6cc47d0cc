//! Change feeds: [`ThreadWatcher`] (one thread) and [`InboxWatcher`] (all of a user's
//! threads), resumable from a [`WatchCursor`].
//!
//! - `cursor.rs`: [`WatchCursor`], the saved position.
//! - `options.rs`: [`WatchOptions`].
//! - `event.rs`: [`ThreadEvent`] and how a listed message is classified.
//! - `feed.rs`: one thread's position and the poll that walks the list back to it.
//! - `thread_watcher.rs`, `inbox_watcher.rs`: the two iterators.
//! - `stopper.rs`: [`WatchStopper`] and the poll schedule (idle and retry back-off).

mod cursor;
mod event;
mod feed;
mod inbox_watcher;
mod options;
mod run;
mod stopper;
mod thread_watcher;

pub use cursor::WatchCursor;
pub use event::ThreadEvent;
pub use inbox_watcher::{InboxEvent, InboxWatcher};
pub use options::WatchOptions;
pub use stopper::WatchStopper;
pub use thread_watcher::ThreadWatcher;

pub(crate) use thread_watcher::changes_since;

use crate::client::check_page_size;
use crate::error::{Error, Result};

// A watcher may be moved to its own thread, and a stopper shared with any other: keep both
// compile-time facts.
const _: fn() = || {
    fn movable<T: Send + 'static>() {}
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    movable::<ThreadWatcher>();
    movable::<InboxWatcher>();
    shareable::<WatchStopper>();
    shareable::<WatchCursor>();
};

/// Whether a failed poll may succeed if tried again later.
pub(crate) fn is_transient(error: &Error) -> bool {
    match error {
        Error::Service(e) => matches!(e.status, 408 | 429 | 500 | 502 | 503 | 504),
        Error::Transport { .. }
        | Error::Timeout { .. }
        | Error::TruncatedBody { .. }
        | Error::Decode { .. } => true,
        _ => false,
    }
}

/// Rejects options no watch can run with, before any request.
pub(crate) fn check_options(options: &WatchOptions) -> Result<()> {
    check_page_size(options.page_size)?;
    if options.poll_interval.is_zero() {
        return Err(Error::invalid_argument(
            "poll_interval",
            "must be more than zero",
        ));
    }
    if options.max_poll_interval < options.poll_interval {
        return Err(Error::invalid_argument(
            "max_poll_interval",
            "must not be shorter than poll_interval",
        ));
    }
    if options.sweep_interval.is_zero() {
        return Err(Error::invalid_argument(
            "sweep_interval",
            "must be more than zero",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Unusable options are typed errors naming the field.
    #[test]
    fn check_options_names_the_bad_field() {
        let bad = [
            (
                WatchOptions {
                    page_size: Some(0),
                    ..Default::default()
                },
                "results_per_page",
            ),
            (
                WatchOptions {
                    poll_interval: Duration::ZERO,
                    ..Default::default()
                },
                "poll_interval",
            ),
            (
                WatchOptions {
                    max_poll_interval: Duration::from_millis(10),
                    ..Default::default()
                },
                "max_poll_interval",
            ),
            (
                WatchOptions {
                    sweep_interval: Duration::ZERO,
                    ..Default::default()
                },
                "sweep_interval",
            ),
        ];
        for (options, field) in bad {
            let r = check_options(&options);
            assert!(
                matches!(r, Err(Error::InvalidArgument { name, .. }) if name == field),
                "{field}: {r:?}"
            );
        }
        assert!(check_options(&WatchOptions::default()).is_ok());
    }

    /// 403 and 404 end a watch; throttling and connection failures do not.
    #[test]
    fn is_transient_separates_endings_from_hiccups() {
        let service = |status| {
            Error::Service(Box::new(crate::ServiceError {
                status,
                ..Default::default()
            }))
        };
        for s in [429, 500, 503] {
            assert!(is_transient(&service(s)), "{s}");
        }
        for s in [400, 401, 403, 404] {
            assert!(!is_transient(&service(s)), "{s}");
        }
        assert!(is_transient(&Error::Timeout {
            after: Duration::from_secs(1),
            sent: true,
        }));
    }
}
