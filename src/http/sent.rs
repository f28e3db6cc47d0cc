//! Whether an attempt's request left the client, so a failure can tell "never sent" (safe to
//! send again) from "sent, outcome unknown" ([`Error::may_have_taken_effect`]).
//!
//! ureq 3 does not say in its errors whether any request bytes were written. Its connector
//! chain does let us wrap the finished transport (after TCP and TLS), and every request byte
//! passes through that transport's `transmit_output` on the calling thread (the blocking
//! agent does its I/O there). So the wrapper marks a thread-local flag, which
//! [`Pipeline::attempt`](super::Pipeline) clears before and reads after each attempt. A write
//! that fails counts as sent: some bytes may have reached the server, and for this question
//! the safe answer is "maybe".
//!
//! [`Error::may_have_taken_effect`]: crate::Error::may_have_taken_effect

use std::cell::Cell;
use std::fmt;

use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

thread_local! {
    /// Set when the current attempt on this thread handed request bytes to a connection.
    static SENT: Cell<bool> = const { Cell::new(false) };
}

/// Clears the flag before an attempt.
pub(crate) fn reset() {
    SENT.with(|s| s.set(false));
}

/// Whether the attempt since the last [`reset`] on this thread wrote request bytes.
pub(crate) fn was_sent() -> bool {
    SENT.with(Cell::get)
}

/// The last link of the connector chain: wraps each connection in [`Recording`].
#[derive(Debug, Default)]
pub(crate) struct RecordSends;

impl<In: Transport> Connector<In> for RecordSends {
    type Out = Recording<In>;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(Recording))
    }
}

/// A connection that marks [`SENT`] whenever it transmits.
pub(crate) struct Recording<T>(T);

impl<T> fmt::Debug for Recording<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recording(..)")
    }
}

impl<T: Transport> Transport for Recording<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if amount > 0 {
            SENT.with(|s| s.set(true));
        }
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.0.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

/// The source of an [`Error::Transport`](crate::Error::Transport) from a failed attempt: the
/// HTTP client's error, plus whether request bytes had been written (`sent`: the request may
/// have been processed) and whether the retry policy retries it (`transient`: a connection
/// that failed or broke, not a malformed request or a TLS failure). Displays and chains exactly
/// like the error it wraps.
#[derive(Debug)]
pub(crate) struct AttemptFailed {
    pub(crate) error: ureq::Error,
    pub(crate) sent: bool,
    pub(crate) transient: bool,
}

impl fmt::Display for AttemptFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for AttemptFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}
