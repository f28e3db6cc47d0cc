//! `--rate-limits`: the service's documented per-operation request rates ("Service limits
//! for Azure Communication Services", Chat and Identity sections), enforced with sliding
//! windows per scope and answered 429 `TooManyRequests` with `Retry-After` (whole seconds,
//! rounded up) and `retry-after-ms`, so callers can test their throttling paths. Off by
//! default. A request must fit every rule of its operation; a throttled request counts
//! against none of them.
//!
//! | Operation | Scope | Per 10 s | Per minute |
//! |---|---|---|---|
//! | Create chat thread | per user | 10 | - |
//! | Delete chat thread | per user | 10 | - |
//! | Update chat thread | per thread | 5 | - |
//! | Add / remove participants (one budget) | per thread | 10 | 30 |
//! | Get chat thread / list chat threads (one budget) | per user | 50 | - |
//! | Get chat message | per user and thread; per thread | 50; 250 | - |
//! | List chat messages | per user and thread; per thread | 50; 250 | 200; 400 |
//! | List read receipts | per user and thread; per thread | 5; 100 | - |
//! | List participants | per user and thread; per thread | 10; 250 | - |
//! | Send / update / delete message (one budget) | per thread | 10 | 30 |
//! | Send read receipt | per user and thread | 10 | 30 |
//! | Send typing notification | per user and thread; per thread | 5; 10 | 15; 30 |
//!
//! Identity, per resource, per 30 s: create identity (with or without a token: one budget)
//! 1,000, delete identity 500, issue access token 1,000, revoke access tokens 500, exchange a
//! Teams token 500.
//!
//! Where the page lists operations together ("send message / update message / delete
//! message") they share one budget: the stricter reading.
//!
//! The window can be scaled down (`EmulatorBuilder::rate_limit_window`) so a test of a
//! throttled loop runs in seconds: the 10 s window becomes the given one, a minute six of
//! them and 30 s three; the counts stay.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;
use crate::wire::ApiError;

/// The service's window for every chat rate it documents.
pub(crate) const SERVICE_WINDOW: Duration = Duration::from_secs(10);

/// Keys past which expired windows are swept out.
const SWEEP_AT: usize = 10_000;

/// The longest rule window, in base windows (a minute).
const LONGEST: u32 = 6;

/// A rate-limited operation: one budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// `POST /chat/threads`.
    CreateThread,
    /// `DELETE /chat/threads/{id}`.
    DeleteThread,
    /// `PATCH /chat/threads/{id}`.
    UpdateThread,
    /// `:add` and `:remove` participants.
    Participants,
    /// `GET /chat/threads/{id}` and `GET /chat/threads`.
    GetThreads,
    /// `GET .../messages/{id}`.
    GetMessage,
    /// `GET .../messages`.
    ListMessages,
    /// `GET .../readReceipts`.
    ListReadReceipts,
    /// `GET .../participants`.
    ListParticipants,
    /// `POST .../messages`, `PATCH` and `DELETE .../messages/{id}`.
    SendMessage,
    /// `POST .../readReceipts`.
    SendReadReceipt,
    /// `POST .../typing`.
    Typing,
    /// `POST /identities`.
    CreateIdentity,
    /// `DELETE /identities/{id}`.
    DeleteIdentity,
    /// `POST /identities/{id}/:issueAccessToken`.
    IssueToken,
    /// `POST /identities/{id}/:revokeAccessTokens`.
    RevokeTokens,
    /// `POST /teamsUser/:exchangeAccessToken`.
    ExchangeToken,
}

/// Who shares one window of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Scope {
    User,
    Thread,
    UserAndThread,
    Resource,
}

/// `count` requests per `windows` base windows, per `scope`.
#[derive(Clone, Copy, Debug)]
struct Rule {
    scope: Scope,
    count: usize,
    windows: u32,
}

impl Op {
    /// The rules a request of this operation must fit, from the service's table.
    fn rules(self) -> &'static [Rule] {
        use Scope::*;
        match self {
            Op::CreateThread | Op::DeleteThread => &[Rule {
                scope: User,
                count: 10,
                windows: 1,
            }],
            Op::UpdateThread => &[Rule {
                scope: Thread,
                count: 5,
                windows: 1,
            }],
            Op::Participants | Op::SendMessage => &[
                Rule {
                    scope: Thread,
                    count: 10,
                    windows: 1,
                },
                Rule {
                    scope: Thread,
                    count: 30,
                    windows: 6,
                },
            ],
            Op::GetThreads => &[Rule {
                scope: User,
                count: 50,
                windows: 1,
            }],
            Op::GetMessage => &[
                Rule {
                    scope: UserAndThread,
                    count: 50,
                    windows: 1,
                },
                Rule {
                    scope: Thread,
                    count: 250,
                    windows: 1,
                },
            ],
            Op::ListMessages => &[
                Rule {
                    scope: UserAndThread,
                    count: 50,
                    windows: 1,
                },
                Rule {
                    scope: UserAndThread,
                    count: 200,
                    windows: 6,
                },
                Rule {
                    scope: Thread,
                    count: 250,
                    windows: 1,
                },
                Rule {
                    scope: Thread,
                    count: 400,
                    windows: 6,
                },
            ],
            Op::ListReadReceipts => &[
                Rule {
                    scope: UserAndThread,
                    count: 5,
                    windows: 1,
                },
                Rule {
                    scope: Thread,
                    count: 100,
                    windows: 1,
                },
            ],
            Op::ListParticipants => &[
                Rule {
                    scope: UserAndThread,
                    count: 10,
                    windows: 1,
                },
                Rule {
                    scope: Thread,
                    count: 250,
                    windows: 1,
                },
            ],
            Op::SendReadReceipt => &[
                Rule {
                    scope: UserAndThread,
                    count: 10,
                    windows: 1,
                },
                Rule {
                    scope: UserAndThread,
                    count: 30,
                    windows: 6,
                },
            ],
            Op::Typing => &[
                Rule {
                    scope: UserAndThread,
                    count: 5,
                    windows: 1,
                },
                Rule {
                    scope: UserAndThread,
                    count: 15,
                    windows: 6,
                },
                Rule {
                    scope: Thread,
                    count: 10,
                    windows: 1,
                },
                Rule {
                    scope: Thread,
                    count: 30,
                    windows: 6,
                },
            ],
            Op::CreateIdentity | Op::IssueToken => &[Rule {
                scope: Resource,
                count: 1000,
                windows: 3,
            }],
            Op::DeleteIdentity | Op::RevokeTokens | Op::ExchangeToken => &[Rule {
                scope: Resource,
                count: 500,
                windows: 3,
            }],
        }
    }

    /// Requests allowed per (scaled) 10 s window by the operation's first rule.
    #[cfg(test)]
    pub(crate) fn limit(self) -> usize {
        self.rules()[0].count
    }
}

/// The rate limiter of one emulator; disabled until [`configure`](Self::configure)d.
#[derive(Default)]
pub(crate) struct RateLimiter {
    inner: Mutex<Inner>,
}

/// (operation, rule index, thread or "", user or "").
type Key = (Op, usize, String, String);

#[derive(Default)]
struct Inner {
    /// `None`: off.
    window: Option<Duration>,
    /// Key → times of the requests let through, oldest first.
    seen: HashMap<Key, VecDeque<Instant>>,
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

    /// Lets a request of `op` by `user` on `thread` through (counting it against every rule),
    /// or says how long to wait until every rule has room (counting it against none).
    fn admit_at(&self, op: Op, thread: &str, user: &str, now: Instant) -> Result<(), Duration> {
        let mut inner = self.lock();
        let Some(base) = inner.window else {
            return Ok(());
        };
        if inner.seen.len() > SWEEP_AT {
            let longest = base * LONGEST;
            inner.seen.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < longest)
            });
        }
        let mut wait = Duration::ZERO;
        for (i, r) in op.rules().iter().enumerate() {
            let window = base * r.windows;
            let times = inner
                .seen
                .entry(key(op, i, r.scope, thread, user))
                .or_default();
            while times
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= window)
            {
                times.pop_front();
            }
            if times.len() >= r.count {
                // Room comes when the request `count` places back leaves the window.
                let freeing = times.get(times.len() - r.count).copied().unwrap_or(now);
                wait = wait.max((freeing + window).saturating_duration_since(now));
            }
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        for (i, r) in op.rules().iter().enumerate() {
            if let Some(times) = inner.seen.get_mut(&key(op, i, r.scope, thread, user)) {
                times.push_back(now);
            }
        }
        Ok(())
    }

    /// `None` when the request may go on; otherwise the 429 to answer with.
    pub(crate) fn check(&self, op: Op, thread: &str, user: &str) -> Option<Response> {
        let wait = self.admit_at(op, thread, user, Instant::now()).err()?;
        Some(throttled(wait))
    }
}

fn key(op: Op, i: usize, scope: Scope, thread: &str, user: &str) -> Key {
    let (t, u) = match scope {
        Scope::User => ("", user),
        Scope::Thread => (thread, ""),
        Scope::UserAndThread => (thread, user),
        Scope::Resource => ("", ""),
    };
    (op, i, t.to_owned(), u.to_owned())
}

/// The identity operation a request is, if it is one the service limits.
fn identity_op(method: &Method, path: &str) -> Option<Op> {
    if method != Method::POST && method != Method::DELETE {
        return None;
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let action = |s: &str| crate::wire::percent_decode(s, false);
    match (method == Method::POST, segs.as_slice()) {
        (true, ["identities"]) => Some(Op::CreateIdentity),
        (false, ["identities", _]) => Some(Op::DeleteIdentity),
        (true, ["identities", _, a]) => match action(a).as_deref() {
            Some(":issueAccessToken") => Some(Op::IssueToken),
            Some(":revokeAccessTokens") => Some(Op::RevokeTokens),
            _ => None,
        },
        (true, ["teamsUser", a]) => {
            (action(a).as_deref() == Some(":exchangeAccessToken")).then_some(Op::ExchangeToken)
        }
        _ => None,
    }
}

/// Middleware on the Identity routes: the 429 of `--rate-limits` past the identity rates
/// (per resource; counted before the signature is checked, as the request reaches the
/// resource either way).
pub(crate) async fn identity_rate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(op) = identity_op(req.method(), req.uri().path()) {
        if let Some(throttled) = state.0.rate_limits.check(op, "", "") {
            return throttled;
        }
    }
    next.run(req).await
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

    /// The per-minute rule holds after three full 10 s windows of sends: the fourth window
    /// waits for the minute's first send to leave it.
    #[test]
    fn send_limit_per_minute_holds_across_windows() {
        let l = RateLimiter::default();
        l.configure(Some(SERVICE_WINDOW));
        let t0 = Instant::now();
        for w in 0..3u64 {
            for i in 0..10 {
                let at = t0 + Duration::from_secs(w * 10);
                assert_eq!(
                    l.admit_at(Op::SendMessage, "t", "u", at),
                    Ok(()),
                    "send {i} of window {w}"
                );
            }
        }
        let at = t0 + Duration::from_secs(30);
        assert_eq!(
            l.admit_at(Op::SendMessage, "t", "u", at),
            Err(Duration::from_secs(30)),
            "the 31st send in a minute"
        );
        let later = t0 + Duration::from_secs(60);
        assert_eq!(l.admit_at(Op::SendMessage, "t", "u", later), Ok(()));
    }

    /// Typing is also limited per thread: two users' 5 each fill it, a third user waits
    /// though its own window is empty; a throttled request is counted against no rule.
    #[test]
    fn typing_limit_per_thread_stops_a_third_user() {
        let l = RateLimiter::default();
        l.configure(Some(SERVICE_WINDOW));
        let now = Instant::now();
        for u in ["u1", "u2"] {
            for _ in 0..5 {
                assert_eq!(l.admit_at(Op::Typing, "t", u, now), Ok(()), "{u}");
            }
        }
        assert!(
            l.admit_at(Op::Typing, "t", "u3", now).is_err(),
            "u3 past the thread's 10"
        );
        assert!(
            l.admit_at(Op::Typing, "other", "u3", now).is_ok(),
            "another thread"
        );
    }

    /// Shared budgets: get thread and list threads count together, per user.
    #[test]
    fn shared_budget_get_and_list_threads_per_user() {
        let l = RateLimiter::default();
        l.configure(Some(SERVICE_WINDOW));
        let now = Instant::now();
        for i in 0..50 {
            let thread = if i % 2 == 0 { "a" } else { "" };
            assert_eq!(l.admit_at(Op::GetThreads, thread, "u", now), Ok(()), "{i}");
        }
        assert!(l.admit_at(Op::GetThreads, "b", "u", now).is_err());
        assert!(
            l.admit_at(Op::GetThreads, "b", "v", now).is_ok(),
            "per user"
        );
    }

    /// Identity requests map to their operation; others to none.
    #[test]
    fn identity_op_names_each_limited_route() {
        let cases = [
            (Method::POST, "/identities", Some(Op::CreateIdentity)),
            (
                Method::DELETE,
                "/identities/8%3Aacs%3Ax",
                Some(Op::DeleteIdentity),
            ),
            (
                Method::POST,
                "/identities/x/:issueAccessToken",
                Some(Op::IssueToken),
            ),
            (
                Method::POST,
                "/identities/x/%3ArevokeAccessTokens",
                Some(Op::RevokeTokens),
            ),
            (
                Method::POST,
                "/teamsUser/:exchangeAccessToken",
                Some(Op::ExchangeToken),
            ),
            (Method::GET, "/identities", None),
            (Method::POST, "/identities/x/:nothing", None),
        ];
        for (m, path, want) in cases {
            assert_eq!(identity_op(&m, path), want, "{m} {path}");
        }
        assert_eq!(Op::CreateIdentity.rules()[0].count, 1000);
        assert_eq!(
            Op::RevokeTokens.rules()[0].windows,
            3,
            "30 s is three windows"
        );
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
