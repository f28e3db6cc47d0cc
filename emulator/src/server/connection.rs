//! One connection's life: the limits every connection is held to, and the watchdog that
//! enforces them.
//!
//! Three limits, like a service's front door:
//! - a **header-read timeout**: once the first byte of a request has arrived, the whole head
//!   must follow within it, or the connection is closed (a half-sent request cannot hold a
//!   socket for ever);
//! - a **keep-alive idle timeout**: a connection with no request in flight and no byte of a new
//!   one is closed after it;
//! - a **connection cap**: past it the accept loop stops accepting until a connection ends,
//!   so new clients wait in the listen backlog (and are served once a slot frees) instead of
//!   being accepted and reset. Idle connections free their slots within the idle timeout.
//!
//! hyper's own `header_read_timeout` is not used: hyper starts that timer whenever it waits for
//! a request head, idle keep-alive time included, so it cannot give an idle connection longer
//! than a half-sent one. The watchdog tells the two apart by watching the bytes read.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The limits every connection is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    /// From the first byte of a request head to its end.
    pub(crate) header_read_timeout: Duration,
    /// With no request in flight and no byte of a new one.
    pub(crate) idle_timeout: Duration,
    /// Connections open at once; past it, accepting pauses.
    pub(crate) max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// "No time recorded" in an [`Activity`] field.
const NONE: u64 = u64::MAX;

/// What one connection is doing, shared by its reader, its service and its watchdog. Times
/// are milliseconds since the connection was accepted.
#[derive(Debug)]
pub(crate) struct Activity {
    accepted: Instant,
    /// Requests handed to the service and not yet answered.
    in_flight: AtomicUsize,
    /// When the first byte of the next request head arrived (`NONE`: not yet).
    head_started: AtomicU64,
    /// When the connection last became idle (accepted, or a response was produced).
    idle_since: AtomicU64,
    /// Wakes the watchdog when a head starts: its deadline moved earlier.
    head_began: Notify,
}

/// Why the watchdog closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    /// A request head did not complete within the header-read timeout.
    HeaderRead,
    /// No request within the keep-alive idle timeout.
    Idle,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            head_started: AtomicU64::new(NONE),
            idle_since: AtomicU64::new(0),
            head_began: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        let far = Duration::from_secs(365 * 24 * 3600);
        self.accepted
            .checked_add(Duration::from_millis(ms))
            .unwrap_or(self.accepted + far)
    }

    /// Bytes arrived: between requests they start a head, whose clock starts now.
    fn on_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let now = self.now_ms();
            let began = self
                .head_started
                .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if began {
                self.head_began.notify_one();
            }
        }
    }

    /// A complete head reached the service.
    pub(crate) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NONE, Ordering::Release);
    }

    /// The service produced its response: the connection is idle again.
    pub(crate) fn request_finished(&self) {
        self.idle_since.store(self.now_ms(), Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// When the connection expires if nothing happens meanwhile, and why; `None` while a
    /// request is in flight.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, Expired)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.head_started.load(Ordering::Acquire) {
            NONE => Some((
                self.at(self.idle_since.load(Ordering::Acquire)) + limits.idle_timeout,
                Expired::Idle,
            )),
            started => Some((
                self.at(started) + limits.header_read_timeout,
                Expired::HeaderRead,
            )),
        }
    }

    /// Resolves when the connection has expired under `limits`, with the reason.
    pub(crate) async fn expired(&self, limits: ConnectionLimits) -> Expired {
        loop {
            match self.deadline(&limits) {
                // Busy: look again after the shorter timeout (a finished request resets it).
                None => {
                    tokio::time::sleep(limits.header_read_timeout.min(limits.idle_timeout)).await
                }
                Some((at, why)) => {
                    if at <= Instant::now() {
                        return why;
                    }
                    // A head that starts meanwhile brings the deadline forward: look again.
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = self.head_began.notified() => {}
                    }
                }
            }
        }
    }
}

/// A stream whose reads are reported to its connection's [`Activity`]; generic so the same
/// watchdog serves TCP and, later, TLS streams.
pub(crate) struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Watched<S> {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.on_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Counts a connection as open for as long as it lives.
pub(crate) struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    pub(crate) fn new(open: Arc<AtomicUsize>) -> OpenGuard {
        open.fetch_add(1, Ordering::AcqRel);
        OpenGuard(open)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(10),
        max_connections: 1,
    };

    /// With nothing read, a connection expires as idle after the idle timeout.
    #[tokio::test(start_paused = true)]
    async fn idle_connection_expires_after_idle_timeout() {
        let a = Activity::new();
        let started = Instant::now();
        assert_eq!(a.expired(LIMITS).await, Expired::Idle);
        assert_eq!(started.elapsed(), LIMITS.idle_timeout);
    }

    /// Once a head has started, the header-read timeout applies from its first byte.
    #[tokio::test(start_paused = true)]
    async fn half_sent_head_expires_after_header_timeout() {
        let a = Activity::new();
        tokio::time::advance(Duration::from_secs(5)).await;
        a.on_read();
        let started = Instant::now();
        assert_eq!(a.expired(LIMITS).await, Expired::HeaderRead);
        assert_eq!(started.elapsed(), LIMITS.header_read_timeout);
    }

    /// A head starting while the watchdog waits out the idle timeout wakes it early.
    #[tokio::test(start_paused = true)]
    async fn head_starting_while_idle_brings_deadline_forward() {
        let a = Activity::new();
        let watchdog = {
            let a = Arc::clone(&a);
            tokio::spawn(async move { a.expired(LIMITS).await })
        };
        // Let the watchdog settle into its idle wait, then start a head.
        tokio::time::advance(Duration::from_secs(1)).await;
        tokio::task::yield_now().await;
        a.on_read();
        let started = Instant::now();
        let why = watchdog.await.expect("watchdog task");
        assert_eq!(why, Expired::HeaderRead);
        assert_eq!(started.elapsed(), LIMITS.header_read_timeout);
    }

    /// A request in flight has no deadline; finishing it restarts the idle clock.
    #[tokio::test(start_paused = true)]
    async fn request_in_flight_never_expires_and_finishing_restarts_idle() {
        let a = Activity::new();
        a.on_read();
        a.request_started();
        assert_eq!(a.deadline(&LIMITS), None, "busy connection has no deadline");
        tokio::time::advance(Duration::from_secs(100)).await;
        a.request_finished();
        let (at, why) = a.deadline(&LIMITS).expect("idle again");
        assert_eq!(why, Expired::Idle);
        assert_eq!(at, Instant::now() + LIMITS.idle_timeout);
    }
}
