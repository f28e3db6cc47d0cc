//! `--rate-limits`: the service's documented per-operation request rates, enforced with a
//! sliding window per scope and answered 429 `TooManyRequests` with `Retry-After` (whole
//! seconds, rounded up) and `retry-after-ms`, so callers can test their throttling paths.
//! Off by default. A throttled request does not count against the window.
//!
//! | Operation | Scope | Window | Requests |
//! |---|---|---|---|
//! | Send message | per thread | 10 s | 10 |
//! | List messages | per user and thread | 10 s | 50 |
//! | Send typing notification | per user and thread | 10 s | 5 |
//!
//! The window can be scaled down (`EmulatorBuilder::rate_limit_window`) so a test of a
//! throttled loop runs in seconds; the counts stay.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use crate::wire::ApiError;

/// The service's window for every chat rate it documents.
pub(crate) const SERVICE_WINDOW: Duration = Duration::from_secs(10);

/// Keys past which expired windows are swept out.
const SWEEP_AT: usize = 10_000;

/// A rate-limited chat operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// 10 per window per thread.
    SendMessage,
    /// 50 per window per user and thread.
    ListMessages,
    /// 5 per window per user and thread.
    Typing,
}

impl Op {
    /// Requests allowed per window.
    pub(crate) fn limit(self) -> usize {
        match self {
            Op::SendMessage => 10,
            Op::ListMessages => 50,
            Op::Typing => 5,
        }
    }

    /// Whether the scope includes the user (else the thread only).
    fn per_user(self) -> bool {
        !matches!(self, Op::SendMessage)
    }
}

/// The rate limiter of one emulator; disabled until [`configure`](Self::configure)d.
#[derive(Default)]
pub(crate) struct RateLimiter {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// `None`: off.
    window: Option<Duration>,
    /// (operation, thread, user or "") → times of the requests let through, oldest first.
    seen: HashMap<(Op, String, String), VecDeque<Instant>>,
}

impl RateLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Turns the limits on with `window` (the service's is [`SERVICE_WINDOW`]), or off.
    pub(crate) fn configure(&self, window: Option<Duration>) {
        let mut inner = self.lock();
        inner.window = window.map(|w| w.max(Duration::from_millis(1)));
        inner.seen.clear();
    }

    /// Forgets every window (after a reset).
    pub(crate) fn clear(&self) {
        self.lock().seen.clear();
    }

    /// Lets a request of `op` by `user` on `thread` through (counting it), or says how long
    /// to wait.
    fn admit_at(&self, op: Op, thread: &str, user: &str, now: Instant) -> Result<(), Duration> {
        let mut inner = self.lock();
        let Some(window) = inner.window else {
            return Ok(());
        };
        if inner.seen.len() > SWEEP_AT {
            inner.seen.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < window)
            });
        }
        let user = if op.per_user() { user } else { "" };
        let times = inner
            .seen
            .entry((op, thread.to_string(), user.to_string()))
            .or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            times.pop_front();
        }
        if times.len() >= op.limit() {
            let oldest = times.front().copied().unwrap_or(now);
            return Err((oldest + window).saturating_duration_since(now));
        }
        times.push_back(now);
        Ok(())
    }

    /// `None` when the request may go on; otherwise the 429 to answer with.
    pub(crate) fn check(&self, op: Op, thread: &str, user: &str) -> Option<Response> {
        let wait = self.admit_at(op, thread, user, Instant::now()).err()?;
        Some(throttled(wait))
    }
}

/// A 429 in the service's shape asking to wait `wait`.
fn throttled(wait: Duration) -> Response {
    let ms = wait.as_millis().max(1);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Rate limit exceeded. Retry after the time in the Retry-After header.",
    );
    e.retry_after = Some(u64::try_from(ms.div_ceil(1000)).unwrap_or(u64::MAX));
    let mut r = e.into_response();
    if let Ok(v) = HeaderValue::from_str(&ms.to_string()) {
        r.headers_mut().insert("retry-after-ms", v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Off by default: nothing is ever throttled.
    #[test]
    fn limiter_is_off_by_default() {
        let l = RateLimiter::default();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(l.admit_at(Op::Typing, "t", "u", now), Ok(()));
        }
    }

    /// The 11th send in a window on one thread waits until the first leaves the window;
    /// another thread has its own window; a throttled request is not counted.
    #[test]
    fn send_limit_is_per_thread_sliding_window() {
        let l = RateLimiter::default();
        l.configure(Some(SERVICE_WINDOW));
        let t0 = Instant::now();
        for i in 0..10u64 {
            let at = t0 + Duration::from_millis(i * 100);
            assert_eq!(
                l.admit_at(Op::SendMessage, "a", "u1", at),
                Ok(()),
                "send {i}"
            );
        }
        let at = t0 + Duration::from_secs(2);
        assert_eq!(
            l.admit_at(Op::SendMessage, "a", "u2", at),
            Err(Duration::from_secs(8)),
            "per thread, whoever sends"
        );
        assert_eq!(l.admit_at(Op::SendMessage, "b", "u1", at), Ok(()));
        let later = t0 + SERVICE_WINDOW;
        assert_eq!(l.admit_at(Op::SendMessage, "a", "u1", later), Ok(()));
    }

    /// Typing is per user and thread: 5, then the same user waits, another user does not.
    #[test]
    fn typing_limit_is_per_user_and_thread() {
        let l = RateLimiter::default();
        l.configure(Some(SERVICE_WINDOW));
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.admit_at(Op::Typing, "t", "u1", now), Ok(()));
        }
        assert!(l.admit_at(Op::Typing, "t", "u1", now).is_err());
        assert_eq!(l.admit_at(Op::Typing, "t", "u2", now), Ok(()));
        assert_eq!(Op::ListMessages.limit(), 50);
    }

    /// The 429 carries whole seconds rounded up and the exact milliseconds.
    #[test]
    fn throttled_response_carries_both_retry_headers() {
        let r = throttled(Duration::from_millis(1500));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "2");
        assert_eq!(r.headers()["retry-after-ms"], "1500");
    }
}
