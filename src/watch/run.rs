//! The loop both watchers run: hand out what a poll buffered, else wait for the next poll (a
//! stop ends the wait at once), poll, and ride out transient failures with the schedule's
//! back-off. A watcher says how it takes, drops and polls; [`next`] does the rest.

use super::is_transient;
use super::stopper::{Schedule, WatchStopper};
use super::WatchOptions;
use crate::error::{Error, Result};

/// The state the loop keeps for a watcher.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) schedule: Schedule,
    pub(crate) stopper: WatchStopper,
    /// An error found before any poll (bad options), handed out by the first `next()`.
    pub(crate) deferred: Option<Error>,
    /// The watch ended (stopped, or after the error it handed out).
    pub(crate) ended: bool,
}

impl Run {
    pub(crate) fn new(options: &WatchOptions, deferred: Option<Error>) -> Run {
        Run {
            schedule: Schedule::new(
                options.poll_interval,
                options.max_poll_interval,
                options.retry.clone(),
            ),
            stopper: WatchStopper::default(),
            deferred,
            ended: false,
        }
    }
}

/// What a watcher does at each step of [`next`].
pub(crate) trait Polled {
    type Event;
    /// Names the watch in debug logs.
    const WHAT: &'static str;
    fn run(&mut self) -> &mut Run;
    /// The next buffered event, with its cursor bookkeeping done.
    fn take(&mut self) -> Option<Self::Event>;
    /// Stopped: drops what is buffered; the cursor stays at the last event handed out.
    fn drop_pending(&mut self);
    /// One poll, buffering what it finds.
    fn poll_once(&mut self) -> Result<()>;

    /// "Now" is the moment the watch starts: poll at once. A transient failure leaves it to
    /// the first `next()`; any other is what that `next()` hands out.
    fn start(&mut self) {
        if self.run().deferred.is_some() {
            return;
        }
        if let Err(e) = self.poll_once() {
            if !is_transient(&e) {
                self.run().deferred = Some(e);
            }
        }
    }
}

/// Blocks until the next change and returns it; `None` once stopped or after the error that
/// ended the watch.
pub(crate) fn next<W: Polled>(w: &mut W) -> Option<Result<W::Event>> {
    loop {
        if w.run().stopper.is_stopped() {
            w.drop_pending();
            return None;
        }
        if let Some(event) = w.take() {
            return Some(Ok(event));
        }
        let run = w.run();
        if run.ended {
            return None;
        }
        if let Some(e) = run.deferred.take() {
            run.ended = true;
            return Some(Err(e));
        }
        if let Some(due) = run.schedule.next_poll() {
            if run.stopper.wait_until(due) {
                return None;
            }
        }
        match w.poll_once() {
            Ok(()) => {}
            Err(e) if is_transient(&e) && w.run().schedule.failed() => {
                log::debug!(target: "acs_chat::watch", "{} poll failed, retrying: {e}", W::WHAT);
            }
            Err(e) => {
                w.run().ended = true;
                return Some(Err(e));
            }
        }
    }
}
