//! User access tokens for chat calls, and how they are kept fresh.
//!
//! A [`CommunicationTokenCredential`] holds either one static token or a token plus a
//! *refresher* (any `Fn() -> Result<AccessToken>`, typically a call to your own service that
//! asks the Identity API for a new token).
//!
//! # When a token is refreshed
//!
//! A token is refreshed on the first call that needs it when
//! - there is no token yet, or
//! - it is expired or expires within 10 minutes ([`REFRESH_WINDOW`]), or
//! - the service rejected it with a 401 (the chat clients then refresh once and retry once).
//!
//! A refresher that hands out tokens living 10 minutes or less would put every token inside
//! that window at once; such a token is refreshed at half its lifetime instead, so a refresher
//! is never called in a loop.
//!
//! However many threads ask at once, the refresher runs once, on a short-lived thread of its
//! own (`acs-chat-token-refresh`, started by the first call that needs a token), and the
//! callers wait for its result. A failed refresh is returned as [`Error::Credential`] with
//! the refresher's error as its source, and the next attempt is allowed only after a backoff
//! (0.5 s, doubling to at most 30 s); calls in between fail fast with the same error instead
//! of calling the refresher again. While the current token is still valid, a failed refresh is
//! logged and the current token is used. A panicking refresher counts as a failed refresh.
//!
//! # Refreshes and call timeouts
//!
//! A chat call waits for a refresh no longer than its
//! [`call_timeout`](crate::TransportOptions::call_timeout): a caller whose time runs out gets
//! [`Error::Timeout`], while the refresh goes on and serves the callers after it. Nothing can
//! interrupt the refresher itself, so give it a timeout of its own: a refresher that never
//! returns blocks every refresh after it. [`get_token`](CommunicationTokenCredential::get_token)
//! has no deadline and waits as long as the refresher takes. (Should the system refuse a new
//! thread, the caller runs the refresher itself, and then cannot stop at its deadline.)
//!
//! # Proactive refresh, without a timer thread
//!
//! With [`CommunicationTokenRefreshOptions::proactive_refresh`], the call that first finds the
//! token inside the refresh window starts a refresh, while it and every other caller keep
//! using the still-valid token instead of waiting. Calls therefore never wait for a refresh as long as
//! one call happens in the 10 minutes before expiry; only an expired (or rejected) token makes
//! callers wait. Without it, callers inside the window wait for the refresh, so nobody sends a
//! token that is about to expire.
//!
//! # Dispose and drop
//!
//! Clones share one token. [`dispose`](CommunicationTokenCredential::dispose) drops the token
//! for every clone and makes every later call fail with [`Error::Credential`]; a refresh already
//! running finishes, but its result is discarded. Dropping the last clone frees the token and
//! the refresher (once a refresh still running has returned); nothing else runs in the
//! background, so there is nothing else to stop.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, TimeZone as _, Utc};

use crate::error::{Error, Result};

/// How long before its expiry a token is refreshed.
pub const REFRESH_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The wait after the first failed refresh; it doubles with each further failure.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// The longest wait between refresh attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A user access token and the time it expires. `Debug` never shows the token.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// let token = acs_chat::AccessToken::from_jwt(token)?;
/// assert!(!format!("{token:?}").contains(&token.token));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token text, sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working.
    pub expires_on: DateTime<Utc>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_on", &self.expires_on)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// Reads the `exp` claim of a JWT-shaped token without verifying its signature.
    ///
    /// Fails with [`Error::Credential`] when the token is not three dot-separated parts whose
    /// middle part is base64 JSON with a numeric `exp`. The error never contains the token.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, jwt) = emu.user_with_token();
    /// let token = acs_chat::AccessToken::from_jwt(jwt)?;
    /// assert!(token.expires_on > chrono::Utc::now());
    /// assert!(acs_chat::AccessToken::from_jwt("not-a-jwt").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_jwt(token: impl Into<String>) -> Result<Self> {
        let token = token.into();
        let expires_on = jwt_expiry(&token)?;
        Ok(AccessToken { token, expires_on })
    }
}

fn jwt_expiry(token: &str) -> Result<DateTime<Utc>> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::credential(
            "the token is not a JWT (expected three dot-separated parts)",
        ));
    };
    let trimmed = payload.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|_| Error::credential("the token's payload is not base64"))?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| Error::credential("the token's payload is not JSON"))?;
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_f64())
        .filter(|v| v.is_finite())
        .ok_or_else(|| Error::credential("the token has no numeric `exp` claim"))?;
    Utc.timestamp_opt(exp.trunc() as i64, 0)
        .single()
        .ok_or_else(|| Error::credential("the token's `exp` claim is out of range"))
}

/// Any error a token refresher returns: yours (a backend's HTTP error, a database error) or
/// this crate's. It becomes the `source` of the [`Error::Credential`] the callers get, from
/// which `downcast_ref` gets it back.
pub type RefreshError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The function that fetches a fresh token.
pub type TokenRefresher = dyn Fn() -> Result<AccessToken, RefreshError> + Send + Sync;

/// How a refreshing [`CommunicationTokenCredential`] is set up.
///
/// ```
/// use acs_chat::credential::{AccessToken, CommunicationTokenCredential, CommunicationTokenRefreshOptions};
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let user = emu.create_user();
/// # let emu = std::sync::Arc::new(emu);
/// # let e = emu.clone();
/// let options = CommunicationTokenRefreshOptions {
///     token: None,
///     // Usually a call to your own backend, which asks the Identity API for a token.
///     token_refresher: Box::new(move || {
///         Ok(AccessToken::from_jwt(e.issue_token(&user, &["chat"], std::time::Duration::from_secs(3600)))?)
///     }),
///     proactive_refresh: true,
/// };
/// let credential = CommunicationTokenCredential::with_options(options)?;
/// let token = credential.get_token()?; // runs the refresher once
/// assert!(token.expires_on > chrono::Utc::now());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CommunicationTokenRefreshOptions {
    /// The token to start with. `None` fetches one with the refresher on first use.
    pub token: Option<String>,
    /// Fetches a fresh token. Called on a refresh thread of the credential's own, at most one
    /// at a time (see the [module docs](crate::credential)).
    pub token_refresher: Box<TokenRefresher>,
    /// Refresh inside the refresh window without making other callers wait (see the
    /// [module docs](crate::credential)).
    pub proactive_refresh: bool,
}

impl CommunicationTokenRefreshOptions {
    /// Options with `refresher`, no initial token and no proactive refresh.
    ///
    /// ```
    /// use acs_chat::{AccessToken, CommunicationTokenCredential, CommunicationTokenRefreshOptions};
    /// # let emu = std::sync::Arc::new(acs_chat_emulator::Emulator::start()?);
    /// # let (user, e) = (emu.create_user(), emu.clone());
    /// let options = CommunicationTokenRefreshOptions::new(move || {
    ///     Ok(AccessToken::from_jwt(e.issue_token(&user, &["chat"], std::time::Duration::from_secs(3600)))?)
    /// });
    /// let credential = CommunicationTokenCredential::with_options(options)?;
    /// # credential.get_token()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        refresher: impl Fn() -> Result<AccessToken, RefreshError> + Send + Sync + 'static,
    ) -> Self {
        CommunicationTokenRefreshOptions {
            token: None,
            token_refresher: Box::new(refresher),
            proactive_refresh: false,
        }
    }
}

impl fmt::Debug for CommunicationTokenRefreshOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommunicationTokenRefreshOptions")
            .field("has_token", &self.token.is_some())
            .field("proactive_refresh", &self.proactive_refresh)
            .finish_non_exhaustive()
    }
}

/// Holds the user access token that chat calls send, and refreshes it when it can.
///
/// Cheap to clone (clones share the token and the refresher) and `Send + Sync`. `Debug` shows
/// when the token expires, never the token. See the [module docs](crate::credential) for when
/// tokens are refreshed, how concurrent callers are served, and dispose/drop semantics.
///
/// ```
/// use acs_chat::CommunicationTokenCredential;
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// let credential = CommunicationTokenCredential::new(token)?;
/// let now = credential.get_token()?;
/// assert!(!format!("{credential:?}").contains(&now.token));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CommunicationTokenCredential {
    inner: Arc<Inner>,
}

/// A refresher's error, shared by every caller that waited for that refresh.
type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The wall clock a credential reads (a fake one in tests).
type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

struct Inner {
    state: Mutex<State>,
    clock: Clock,
    /// Signalled whenever a refresh ends (well or badly) and on dispose.
    refreshed: Condvar,
    refresher: Option<Box<TokenRefresher>>,
    proactive: bool,
}

#[derive(Default)]
struct State {
    current: Option<Held>,
    refreshing: bool,
    /// Consecutive failed refreshes.
    failures: u32,
    /// No refresh before this time (set after a failure).
    retry_at: Option<DateTime<Utc>>,
    /// What the last failed refresh returned, for the callers that waited for it.
    last_error: Option<SharedError>,
    /// How many refreshes have ended (well or badly), so a waiter knows its refresh is over.
    generation: u64,
    disposed: bool,
}

struct Held {
    token: AccessToken,
    /// From this time on the token is due for a refresh.
    refresh_at: DateTime<Utc>,
    /// The service answered 401 to it.
    rejected: bool,
}

impl Held {
    /// A token handed in by the caller: due 10 minutes before it expires. Fails when the
    /// token cannot be sent as a header value.
    fn initial(token: AccessToken) -> Result<Self> {
        check_token_text(&token.token)?;
        Ok(Held {
            refresh_at: window_start(token.expires_on),
            token,
            rejected: false,
        })
    }

    /// A token the refresher returned at `now`: due 10 minutes before expiry, or at half its
    /// lifetime when it lives 10 minutes or less (else every call would refresh it again).
    fn refreshed(token: AccessToken, now: DateTime<Utc>) -> Result<Self> {
        let window_start = window_start(token.expires_on);
        let refresh_at = if window_start > now {
            window_start
        } else {
            // `expires_on` comes from outside: every step is checked (a time near chrono's
            // ends overflowed here and panicked).
            now.checked_add_signed(token.expires_on.signed_duration_since(now) / 2)
                .unwrap_or(now)
        };
        check_token_text(&token.token)?;
        Ok(Held {
            token,
            refresh_at,
            rejected: false,
        })
    }

    /// Good to send: not rejected and not expired.
    fn usable(&self, now: DateTime<Utc>) -> Option<&AccessToken> {
        (!self.rejected && self.token.expires_on > now).then_some(&self.token)
    }
}

/// The longest token accepted, in bytes. ACS user tokens are about 500 bytes (481 in the
/// recordings) and Teams-exchanged ones under 2 KiB; common servers and proxies refuse a header
/// line longer than 8 KiB (nginx's `large_client_header_buffers`, Apache's
/// `LimitRequestFieldSize` of 8190), so a longer token could not reach the service anyway.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Checks that `token` can travel as `Authorization: Bearer <token>`: not empty, at most
/// [`MAX_TOKEN_LEN`] bytes, and only visible ASCII (a bearer token is base64url and dots; a
/// CR/LF would end the header, other bytes are refused by the HTTP stack after the request was
/// already being retried). The error never contains the token.
fn check_token_text(token: &str) -> Result<()> {
    if token.is_empty() {
        return Err(Error::credential("the token is empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::credential(format!(
            "the token is {} bytes long, over the {MAX_TOKEN_LEN}-byte limit of a header value",
            token.len()
        )));
    }
    if let Some(at) = token.bytes().position(|b| !b.is_ascii_graphic()) {
        return Err(Error::credential(format!(
            "the token cannot be sent as a header value: byte {at} is not visible ASCII"
        )));
    }
    Ok(())
}

/// When a token expiring at `expires_on` enters the refresh window. The expiry comes from
/// outside (a JWT's `exp`, a refresher's result), so the subtraction is checked: a time within
/// the window of chrono's minimum is due from the start.
fn window_start(expires_on: DateTime<Utc>) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(REFRESH_WINDOW)
        .ok()
        .and_then(|window| expires_on.checked_sub_signed(window))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `now + wait`, saturating at chrono's largest time.
fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(wait)
        .ok()
        .and_then(|wait| now.checked_add_signed(wait))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
}

impl fmt::Debug for CommunicationTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("CommunicationTokenCredential")
            .field(
                "expires_on",
                &state.current.as_ref().map(|h| h.token.expires_on),
            )
            .field("refreshable", &self.inner.refresher.is_some())
            .field("proactive_refresh", &self.inner.proactive)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held while user code runs, so a poisoned lock still holds
        // consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Waits on `refreshed` for a running refresh to end, no later than `deadline` (a call that
/// began at `started`): past it, [`Error::Timeout`] with nothing sent. Shared by every token
/// cache (ACS user tokens here, Entra ID tokens in `identity::entra`).
pub(crate) fn wait_for_refresh<'a, T>(
    refreshed: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
    started: Instant,
) -> Result<MutexGuard<'a, T>> {
    let Some(deadline) = deadline else {
        return Ok(refreshed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner));
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::Timeout {
            after: started.elapsed(),
            sent: false,
        });
    }
    let (guard, _) = refreshed
        .wait_timeout(guard, left)
        .unwrap_or_else(PoisonError::into_inner);
    Ok(guard)
}

impl Inner {
    /// Waits for the running refresh to end, no later than `deadline`.
    fn wait<'a>(
        &'a self,
        state: MutexGuard<'a, State>,
        deadline: Option<Instant>,
        started: Instant,
    ) -> Result<MutexGuard<'a, State>> {
        wait_for_refresh(&self.refreshed, state, deadline, started)
    }

    /// Runs the refresher once (the caller has set `refreshing`) and stores what it returned.
    fn refresh(&self) {
        let Some(refresher) = &self.refresher else {
            return;
        };
        let mut guard = RefreshGuard {
            inner: self,
            armed: true,
        };
        let result = refresher().and_then(|token| {
            let now = (self.clock)();
            if token.expires_on <= now {
                Err(Error::credential(
                    "the token refresher returned a token that has already expired",
                )
                .into())
            } else {
                // A token that cannot be a header value fails here, as a failed refresh,
                // before any request carries it.
                Held::refreshed(token, now).map_err(RefreshError::from)
            }
        });
        let now = (self.clock)();
        let mut state = self.lock();
        guard.armed = false;
        state.refreshing = false;
        state.generation = state.generation.wrapping_add(1);
        if !state.disposed {
            match result {
                Ok(held) => {
                    log::debug!(
                        "user access token refreshed; it expires at {}",
                        held.token.expires_on
                    );
                    state.current = Some(held);
                    state.failures = 0;
                    state.retry_at = None;
                    state.last_error = None;
                }
                Err(err) => {
                    state.failures = state.failures.saturating_add(1);
                    let wait = backoff(state.failures);
                    state.retry_at = Some(after(now, wait));
                    let still_valid = state
                        .current
                        .as_ref()
                        .is_some_and(|h| h.usable(now).is_some());
                    log::warn!(
                        "user access token refresh failed ({err}); {}next attempt in {wait:?}",
                        if still_valid {
                            "using the current token, "
                        } else {
                            ""
                        }
                    );
                    state.last_error = Some(SharedError::from(err));
                }
            }
        }
        self.refreshed.notify_all();
    }
}

/// What a caller asking for a token does next.
#[derive(Debug)]
enum Step {
    /// Send the current token.
    Use,
    /// A refresh is running: wait for it to end.
    Wait,
    /// Start a refresh; `keep_using` when the current token is still valid and the caller
    /// goes on with it (proactive refresh) instead of waiting.
    Refresh { keep_using: bool },
    /// Fail without sending.
    Fail(Error),
}

/// What [`decide`] needs to know besides the shared state.
struct View {
    has_refresher: bool,
    proactive: bool,
    /// The generation of the refresh this caller started or waits for.
    awaited: Option<u64>,
}

/// The refresh decision: a pure function of the credential's state, the caller's view and
/// the time (see the [module docs](crate::credential) for the rules).
fn decide(state: &State, view: &View, now: DateTime<Utc>) -> Step {
    if state.disposed {
        return Step::Fail(Error::credential("the credential was disposed"));
    }
    let usable = state
        .current
        .as_ref()
        .is_some_and(|h| h.usable(now).is_some());
    let due = state
        .current
        .as_ref()
        .is_none_or(|held| held.rejected || now >= held.refresh_at);
    if !due && usable {
        return Step::Use;
    }
    if !view.has_refresher {
        return match (usable, &state.current) {
            (true, _) => Step::Use,
            (false, Some(held)) => Step::Fail(Error::credential(format!(
                "the static token expired at {} and there is no refresher to renew it",
                held.token.expires_on
            ))),
            (false, None) => Step::Fail(Error::credential("there is no token")),
        };
    }
    if view
        .awaited
        .is_some_and(|generation| generation != state.generation)
    {
        // The refresh this caller waited for is over and left no token that is due later:
        // it failed. A still-valid token is used; else its error is returned.
        if usable {
            return Step::Use;
        }
        return Step::Fail(Error::Credential {
            message: "the token refresher failed".to_owned(),
            source: state.last_error.clone(),
        });
    }
    if state.refreshing {
        return if view.proactive && usable {
            Step::Use
        } else {
            Step::Wait
        };
    }
    if let Some(retry_at) = state.retry_at.filter(|at| *at > now) {
        if usable {
            return Step::Use;
        }
        let left = retry_at.signed_duration_since(now).num_milliseconds();
        return Step::Fail(Error::Credential {
            message: format!(
                "the token refresher failed {} time(s) in a row; the next attempt is allowed in {left} ms",
                state.failures,
            ),
            source: state.last_error.clone(),
        });
    }
    Step::Refresh {
        keep_using: view.proactive && usable,
    }
}

/// Ends a refresh even when the refresher panics, so waiting callers are never stuck.
struct RefreshGuard<'a> {
    inner: &'a Inner,
    armed: bool,
}

impl Drop for RefreshGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.inner.lock();
            state.refreshing = false;
            state.generation = state.generation.wrapping_add(1);
            state.failures = state.failures.saturating_add(1);
            state.retry_at = Some(after((self.inner.clock)(), backoff(state.failures)));
            state.last_error = Some(Arc::new(Error::credential("the token refresher panicked")));
            self.inner.refreshed.notify_all();
        }
    }
}

impl CommunicationTokenCredential {
    /// A credential for one static token. Fails with [`Error::Credential`] when the token is
    /// not a JWT with a numeric `exp`, or cannot be sent as a header value (empty, over
    /// [`MAX_TOKEN_LEN`] bytes, or anything but visible ASCII, such as CR/LF).
    ///
    /// The token is sent until it expires; after that every call fails before sending
    /// anything, with an [`Error::Credential`] that says the token expired.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// let credential = acs_chat::CommunicationTokenCredential::new(token)?;
    /// let chat = acs_chat::ChatClient::new(&emu.endpoint(), credential)?;
    /// # chat.create_chat_thread("t", None)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(token: impl Into<String>) -> Result<Self> {
        Ok(Self::build(
            Some(Held::initial(AccessToken::from_jwt(token)?)?),
            None,
            false,
        ))
    }

    /// A credential that refreshes its token with `options.token_refresher`. Fails when
    /// `options.token` is given but is not a JWT with a numeric `exp` or cannot be a header
    /// value (see [`new`](Self::new)); a refresher's token that cannot be one is a failed
    /// refresh, so no request ever carries it. Nothing is fetched here: without an initial
    /// token, the first [`get_token`](Self::get_token) runs the refresher.
    ///
    /// ```
    /// use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope};
    /// use acs_chat::{CommunicationTokenCredential, CommunicationTokenRefreshOptions};
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// let identity = CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// let (user, first) = identity.create_user_and_token(&[CommunicationTokenScope::Chat], None)?;
    /// let credential = CommunicationTokenCredential::with_options(CommunicationTokenRefreshOptions {
    ///     token: Some(first.token),
    ///     token_refresher: Box::new(move || Ok(identity.get_token(&user, &[CommunicationTokenScope::Chat], None)?)),
    ///     proactive_refresh: false,
    /// })?;
    /// assert!(credential.get_token()?.expires_on > chrono::Utc::now());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_options(options: CommunicationTokenRefreshOptions) -> Result<Self> {
        let current = match options.token {
            Some(token) => Some(Held::initial(AccessToken::from_jwt(token)?)?),
            None => None,
        };
        Ok(Self::build(
            current,
            Some(options.token_refresher),
            options.proactive_refresh,
        ))
    }

    fn build(
        current: Option<Held>,
        refresher: Option<Box<TokenRefresher>>,
        proactive: bool,
    ) -> Self {
        CommunicationTokenCredential {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    current,
                    ..State::default()
                }),
                clock: Arc::new(Utc::now),
                refreshed: Condvar::new(),
                refresher,
                proactive,
            }),
        }
    }

    /// The token to send now, refreshed first when it is due (see the
    /// [module docs](crate::credential)).
    ///
    /// Fails, without sending anything, when a static token has expired, when the refresher
    /// failed (the error is the source of the returned [`Error::Credential`]) and no valid
    /// token remains, or after [`dispose`](Self::dispose).
    ///
    /// ```
    /// use acs_chat::{CommunicationTokenCredential, CommunicationTokenRefreshOptions, Error};
    /// // Your backend's own error type: kept whole as the source of the credential error.
    /// #[derive(Debug)]
    /// struct BackendDown;
    /// impl std::fmt::Display for BackendDown {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str("backend unavailable")
    ///     }
    /// }
    /// impl std::error::Error for BackendDown {}
    ///
    /// let failing = CommunicationTokenCredential::with_options(CommunicationTokenRefreshOptions::new(
    ///     || Err(BackendDown.into()),
    /// ))?;
    /// match failing.get_token() {
    ///     Err(Error::Credential { source: Some(cause), .. }) => {
    ///         assert!(cause.downcast_ref::<BackendDown>().is_some());
    ///         println!("refresh failed: {cause}");
    ///     }
    ///     other => panic!("expected a credential error, got {other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_token(&self) -> Result<AccessToken> {
        self.current(None, |held| held.token.clone())
    }

    /// [`get_token`](Self::get_token) for a call: a refresh in progress is waited for no
    /// later than `deadline`, then [`Error::Timeout`].
    pub(crate) fn token_until(&self, deadline: Option<Instant>) -> Result<AccessToken> {
        self.current(deadline, |held| held.token.clone())
    }

    /// What `pick` takes from the token to send now, refreshed first when it is due, waiting
    /// for a refresh no later than `deadline` (then [`Error::Timeout`], with the time waited;
    /// the refresh goes on for the other callers).
    fn current<R>(&self, deadline: Option<Instant>, pick: impl Fn(&Held) -> R) -> Result<R> {
        let inner = &*self.inner;
        let started = Instant::now();
        let mut state = inner.lock();
        // The generation of the refresh this caller started or waits for, once it does.
        let mut awaited: Option<u64> = None;
        let held = |state: &State| {
            state
                .current
                .as_ref()
                .map(&pick)
                .ok_or_else(|| Error::credential("there is no token"))
        };
        loop {
            let view = View {
                has_refresher: inner.refresher.is_some(),
                proactive: inner.proactive,
                awaited,
            };
            match decide(&state, &view, (inner.clock)()) {
                Step::Use => return held(&state),
                Step::Fail(error) => return Err(error),
                Step::Wait => {
                    awaited.get_or_insert(state.generation);
                    state = inner.wait(state, deadline, started)?;
                }
                Step::Refresh { keep_using } => {
                    state.refreshing = true;
                    awaited = Some(state.generation);
                    // In the background when a thread can be had; this caller goes on with
                    // the still-valid token (`keep_using`) or waits for the new one.
                    if self.spawn_refresh() {
                        if keep_using {
                            return held(&state);
                        }
                        state = inner.wait(state, deadline, started)?;
                    } else {
                        // No thread to be had: refresh on this thread (it cannot honour the
                        // deadline).
                        drop(state);
                        inner.refresh();
                        state = inner.lock();
                    }
                }
            }
        }
    }

    /// Runs the refresher on a thread of its own, so that callers can stop waiting for it at
    /// their deadline while it finishes for the others. `false` when no thread could be
    /// started (the caller then refreshes on its own thread).
    fn spawn_refresh(&self) -> bool {
        let inner = Arc::clone(&self.inner);
        std::thread::Builder::new()
            .name("acs-chat-token-refresh".into())
            .spawn(move || inner.refresh())
            .map_err(|e| log::warn!("could not start a token refresh thread ({e}); refreshing on the caller's thread"))
            .is_ok()
    }

    /// This credential reading `clock` instead of the system clock (tests with fake time).
    #[cfg(test)]
    fn with_clock(self, clock: Clock) -> Self {
        let inner = Arc::into_inner(self.inner).expect("a credential with no clones");
        CommunicationTokenCredential {
            inner: Arc::new(Inner { clock, ..inner }),
        }
    }

    /// Blocks until no refresh is running (tests of the background refresh).
    #[cfg(test)]
    fn wait_until_idle(&self) {
        let mut state = self.inner.lock();
        while state.refreshing {
            state = self
                .inner
                .refreshed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Called by a client after the service rejected `token` with a 401. Marks that token
    /// unusable, so the next [`get_token`](Self::get_token) refreshes. Returns `true` when a
    /// fresh token can be had (there is a refresher), so the call is worth retrying once.
    pub(crate) fn invalidate(&self, token: &AccessToken) -> bool {
        if self.inner.refresher.is_none() {
            return false;
        }
        let mut state = self.inner.lock();
        if state.disposed {
            return false;
        }
        if let Some(held) = state.current.as_mut() {
            if held.token.token == token.token {
                held.rejected = true;
            }
        }
        true
    }

    /// Drops the token for this credential and all its clones; every later call fails with
    /// [`Error::Credential`]. A refresh running on another thread finishes, but its token is
    /// discarded. Calling it twice is harmless.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// let credential = acs_chat::CommunicationTokenCredential::new(token)?;
    /// let clone = credential.clone();
    /// credential.dispose();
    /// assert!(clone.get_token().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dispose(&self) {
        let mut state = self.inner.lock();
        state.disposed = true;
        state.current = None;
        state.last_error = None;
        self.inner.refreshed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A JWT-shaped token that expires `secs` seconds from now.
    /// A wall clock that moves only when told to.
    #[derive(Clone)]
    struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

    impl Default for FakeClock {
        fn default() -> Self {
            FakeClock(Arc::new(Mutex::new(Utc::now())))
        }
    }

    impl FakeClock {
        fn clock(&self) -> Clock {
            let time = Arc::clone(&self.0);
            Arc::new(move || *time.lock().expect("clock lock"))
        }

        fn advance(&self, by: Duration) {
            let mut time = self.0.lock().expect("clock lock");
            *time = after(*time, by);
        }
    }

    fn held(expires_in_secs: i64, now: DateTime<Utc>) -> Held {
        let token = AccessToken {
            token: "t".into(),
            expires_on: now + chrono::TimeDelta::seconds(expires_in_secs),
        };
        Held::refreshed(token, now).expect("a valid token")
    }

    fn view(proactive: bool, awaited: Option<u64>) -> View {
        View {
            has_refresher: true,
            proactive,
            awaited,
        }
    }

    /// The refresh decision over time: use a fresh token, refresh (waiting or, proactively,
    /// going on) inside the window, refresh an expired one, fail a static one.
    #[test]
    fn decide_follows_the_refresh_window_over_time() {
        let t0 = Utc::now();
        let state = State {
            current: Some(held(3600, t0)),
            ..State::default()
        };
        let at = |secs: i64| t0 + chrono::TimeDelta::seconds(secs);
        let cases = [
            (0, false, "Use"),
            (3600 - 601, false, "Use"),
            (3600 - 599, false, "Refresh { keep_using: false }"),
            (3600 - 599, true, "Refresh { keep_using: true }"),
            (3601, true, "Refresh { keep_using: false }"),
        ];
        for (secs, proactive, want) in cases {
            let got = format!("{:?}", decide(&state, &view(proactive, None), at(secs)));
            assert_eq!(got, want, "at t0+{secs}s, proactive {proactive}");
        }
        let fixed = View {
            has_refresher: false,
            ..view(false, None)
        };
        assert!(
            matches!(decide(&state, &fixed, at(3590)), Step::Use),
            "static, still valid"
        );
        let got = decide(&state, &fixed, at(3601));
        assert!(
            matches!(&got, Step::Fail(e) if e.to_string().contains("expired")),
            "static, expired: {got:?}"
        );
    }

    /// While a refresh runs, callers wait (or keep a valid token when proactive); after a
    /// failure they fail fast until the backoff time, then refresh again.
    #[test]
    fn decide_waits_for_running_refresh_and_honours_backoff() {
        let t0 = Utc::now();
        let running = State {
            current: Some(held(30, t0)),
            refreshing: true,
            ..State::default()
        };
        // Past half of its 30 s life the token is due, and still valid.
        let due = t0 + chrono::TimeDelta::seconds(20);
        let got = decide(&running, &view(false, None), due);
        assert!(matches!(got, Step::Wait), "due, refresh running: {got:?}");
        let got = decide(&running, &view(true, None), due);
        assert!(
            matches!(got, Step::Use),
            "proactive, refresh running: {got:?}"
        );
        let failed = State {
            current: None,
            failures: 1,
            retry_at: Some(after(t0, backoff(1))),
            generation: 1,
            last_error: Some(Arc::new(Error::credential("backend down"))),
            ..State::default()
        };
        let got = decide(&failed, &view(false, Some(0)), t0);
        assert!(
            matches!(&got, Step::Fail(Error::Credential { message, source: Some(_) }) if message == "the token refresher failed"),
            "the waited-for refresh failed: {got:?}"
        );
        let got = decide(&failed, &view(false, None), t0);
        assert!(
            matches!(&got, Step::Fail(e) if e.to_string().contains("next attempt is allowed in 500 ms")),
            "inside the backoff: {got:?}"
        );
        let got = decide(&failed, &view(false, None), after(t0, backoff(1)));
        assert!(
            matches!(got, Step::Refresh { keep_using: false }),
            "after the backoff: {got:?}"
        );
        let disposed = State {
            disposed: true,
            ..State::default()
        };
        assert!(matches!(
            decide(&disposed, &view(true, None), t0),
            Step::Fail(_)
        ));
    }

    fn token_expiring_in(secs: i64, tag: &str) -> String {
        let exp = Utc::now().timestamp() + secs;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!(r#"{{"exp":{exp},"tag":"{tag}"}}"#));
        format!("eyJhbGciOiJub25lIn0.{payload}.c2ln")
    }

    #[test]
    fn get_token_static_returns_token() {
        let text = token_expiring_in(3600, "a");
        let credential = CommunicationTokenCredential::new(text.clone()).expect("valid token");
        let got = credential.get_token().expect("valid token");
        assert_eq!(got.token, text);
        assert!(
            !credential.invalidate(&got),
            "a static token cannot be refreshed"
        );
    }

    /// An expired static token fails with an error that says it expired.
    #[test]
    fn get_token_expired_static_fails_saying_so() {
        let text = token_expiring_in(-5, "old");
        let credential = CommunicationTokenCredential::new(text.clone()).expect("valid JWT");
        let err = credential.get_token().expect_err("an expired static token");
        let shown = format!("{err} {err:?}");
        assert!(matches!(err, Error::Credential { .. }), "{shown}");
        assert!(shown.contains("expired"), "message: {shown}");
        assert!(!shown.contains(&text), "token leaked: {shown}");
    }

    /// Malformed tokens are rejected without echoing them.
    #[test]
    fn new_malformed_token_fails_without_echo() {
        for bad in ["abc", "a.!!!.c", "a.bm90IGpzb24.c", "a.eyJ4IjoxfQ.c"] {
            let err = CommunicationTokenCredential::new(bad).expect_err("malformed token");
            assert!(!format!("{err:?}").contains(bad), "token echoed: {err:?}");
        }
    }

    /// A JWT-shaped token whose payload is `claims` (raw JSON text).
    fn token_with_claims(claims: &str) -> String {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        format!("eyJhbGciOiJub25lIn0.{payload}.c2ln")
    }

    /// `exp` values at and beyond the ends of the time range, negative, fractional or not a
    /// number give a credential or an error, never a panic (issue 9, item 2).
    #[test]
    fn new_extreme_exp_never_panics() {
        let cases = [
            r#"{"exp":-8334601228740}"#,
            r#"{"exp":-8334601228800}"#,
            r#"{"exp":8210266876799}"#,
            r#"{"exp":8210266876800}"#,
            r#"{"exp":-9223372036854775808}"#,
            r#"{"exp":9223372036854775807}"#,
            r#"{"exp":18446744073709551615}"#,
            r#"{"exp":1e300}"#,
            r#"{"exp":-1e300}"#,
            r#"{"exp":-0.5}"#,
            r#"{"exp":1.5}"#,
            r#"{"exp":0}"#,
            r#"{"exp":"1700000000"}"#,
            r#"{"exp":null}"#,
            r#"{"exp":[1]}"#,
            r#"{}"#,
        ];
        for claims in cases {
            let token = token_with_claims(claims);
            let outcome = std::panic::catch_unwind(|| {
                let made = CommunicationTokenCredential::new(token.clone())
                    .map(|c| c.get_token().map(|t| t.expires_on));
                let refreshing =
                    CommunicationTokenCredential::with_options(CommunicationTokenRefreshOptions {
                        token: Some(token.clone()),
                        token_refresher: Box::new({
                            let token = token.clone();
                            move || Ok(AccessToken::from_jwt(token.clone())?)
                        }),
                        proactive_refresh: true,
                    })
                    .map(|c| c.get_token().map(|t| t.expires_on));
                format!("{made:?} / {refreshing:?}")
            });
            assert!(outcome.is_ok(), "claims {claims} panicked");
        }
    }

    /// A refresher returning a token at the end of time is kept, not overflowed.
    #[test]
    fn refreshed_token_at_max_time_is_used() {
        let credential = CommunicationTokenCredential::with_options(
            CommunicationTokenRefreshOptions::new(|| {
                Ok(AccessToken {
                    token: "a.b.c".into(),
                    expires_on: DateTime::<Utc>::MAX_UTC,
                })
            }),
        )
        .expect("valid options");
        let got = credential.get_token().expect("a far-future token");
        assert_eq!(got.expires_on, DateTime::<Utc>::MAX_UTC, "seen {got:?}");
    }

    /// A refreshing credential fetches lazily, reuses a fresh token, and refreshes after
    /// `invalidate`.
    #[test]
    fn invalidate_token_makes_next_call_refresh() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let credential = CommunicationTokenCredential::with_options(
            CommunicationTokenRefreshOptions::new(move || {
                let n = c.fetch_add(1, Ordering::SeqCst);
                Ok(AccessToken::from_jwt(token_expiring_in(
                    3600,
                    &n.to_string(),
                ))?)
            }),
        )
        .expect("valid options");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing fetched up front");
        let first = credential.get_token().expect("refreshed");
        let again = credential.get_token().expect("cached");
        assert_eq!(first, again);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(credential.invalidate(&first));
        let second = credential.get_token().expect("refreshed");
        assert_ne!(first.token, second.token);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Invalidating a token that was already replaced changes nothing.
        assert!(credential.invalidate(&first));
        assert_eq!(credential.get_token().expect("cached"), second);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    /// A token inside the refresh window is replaced; a short-lived one at half-life only.
    #[test]
    fn get_token_refreshes_inside_window_without_looping() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let options = CommunicationTokenRefreshOptions {
            token: Some(token_expiring_in(120, "initial")),
            // Tokens that live 5 minutes: inside the window from the start.
            token_refresher: Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(AccessToken::from_jwt(token_expiring_in(300, "short"))?)
            }),
            proactive_refresh: false,
        };
        let credential = CommunicationTokenCredential::with_options(options).expect("valid");
        for _ in 0..10 {
            credential.get_token().expect("a token");
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the initial token inside the window is refreshed once, the short-lived one kept"
        );
    }

    /// A failing refresher surfaces its error, is not retried during the backoff, and a
    /// refresher that recovers is used again afterwards.
    #[test]
    fn get_token_failing_refresher_backs_off_then_recovers() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let credential = CommunicationTokenCredential::with_options(
            CommunicationTokenRefreshOptions::new(move || {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(Error::invalid_argument("user", "no such user").into())
                } else {
                    Ok(AccessToken::from_jwt(token_expiring_in(3600, "ok"))?)
                }
            }),
        )
        .expect("valid options");
        let fake = FakeClock::default();
        let credential = credential.with_clock(fake.clock());
        let err = credential.get_token().expect_err("the refresher failed");
        let Error::Credential {
            source: Some(source),
            ..
        } = &err
        else {
            panic!("expected a credential error with a source, got {err:?}");
        };
        assert!(
            matches!(
                source.downcast_ref::<Error>(),
                Some(Error::InvalidArgument { .. })
            ),
            "source {source:?}"
        );
        let fast = credential.get_token().expect_err("inside the backoff");
        assert!(
            fast.to_string().contains("next attempt"),
            "backoff error: {fast}"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "no retry inside the backoff"
        );
        fake.advance(backoff(1));
        credential.get_token().expect("recovered");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    /// While the current token is still valid, a failed refresh hands out that token (and
    /// waits for the backoff before trying again).
    #[test]
    fn get_token_failed_refresh_keeps_valid_token() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let initial = token_expiring_in(300, "still-valid");
        let options = CommunicationTokenRefreshOptions {
            token: Some(initial.clone()),
            token_refresher: Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
                Err(Error::credential("backend down").into())
            }),
            proactive_refresh: true,
        };
        let credential = CommunicationTokenCredential::with_options(options).expect("valid");
        for _ in 0..5 {
            let got = credential.get_token().expect("the still-valid token");
            assert_eq!(got.token, initial);
            // The proactive refresh runs on its own thread; let it end before the next call.
            credential.wait_until_idle();
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "retried inside the backoff"
        );
        // Once the service rejected it, the token is no longer handed out.
        assert!(credential.invalidate(&AccessToken::from_jwt(initial).expect("jwt")));
        let err = credential
            .get_token()
            .expect_err("rejected token, refresher in backoff");
        assert!(err.to_string().contains("next attempt"), "{err}");
    }

    /// A panicking refresher does not leave waiters stuck.
    #[test]
    fn get_token_panicking_refresher_is_reported() {
        let credential = CommunicationTokenCredential::with_options(
            CommunicationTokenRefreshOptions::new(|| panic!("refresher bug")),
        )
        .expect("valid options");
        // The refresher runs on a thread of its own: the caller gets an error, not the panic.
        let first = credential.get_token().expect_err("a panicking refresher");
        assert!(
            format!("{first:?}").contains("panicked"),
            "error of the refresh that panicked: {first:?}"
        );
        let err = credential.get_token().expect_err("backoff after a panic");
        assert!(
            format!("{err:?}").contains("panicked") && err.to_string().contains("next attempt"),
            "error after a panic: {err:?}"
        );
    }

    /// Dispose drops the token for all clones.
    #[test]
    fn dispose_credential_fails_later_calls() {
        let credential =
            CommunicationTokenCredential::new(token_expiring_in(3600, "d")).expect("valid");
        let clone = credential.clone();
        credential.dispose();
        let err = clone.get_token().expect_err("disposed");
        assert!(err.to_string().contains("disposed"), "{err}");
        assert!(
            format!("{clone:?}").contains("expires_on: None"),
            "{clone:?}"
        );
    }

    /// Backoff doubles and is capped.
    #[test]
    fn backoff_doubles_up_to_cap() {
        let seen: Vec<_> = (1..=9).map(backoff).collect();
        assert_eq!(seen[0], Duration::from_millis(500));
        assert_eq!(seen[1], Duration::from_secs(1));
        assert_eq!(seen[8], BACKOFF_MAX, "{seen:?}");
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
