//! Entra ID (Azure AD) authentication for the identity client: the [`TokenCredential`] trait
//! and the bearer-token cache every request of a
//! [`with_token_credential`](CommunicationIdentityClient::with_token_credential) client goes
//! through.
//!
//! # When the credential is asked
//!
//! The token for [`COMMUNICATION_SCOPE`] is cached and used until it comes within
//! [`TOKEN_REFRESH_OFFSET`] (5 minutes, as the Azure SDKs' bearer-token policies do) of its
//! `expires_on`. Then:
//! - the first call that notices asks the credential, while other calls keep sending the
//!   still-valid token instead of waiting; should the credential fail, the still-valid token is
//!   used (and the failure logged) until it expires;
//! - once the token has expired (or there is none yet), calls wait for that one request to the
//!   credential; when it fails, every call that waited gets the same [`Error::Credential`].
//!
//! After a 401 the cached token is dropped, a fresh one fetched and the call repeated once.
//! The credential is never called by two threads at once for the same client.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::client::{CommunicationIdentityClient, CommunicationIdentityClientOptions};
use crate::credential::{AccessToken, RefreshError};
use crate::error::{Error, Result};
use crate::http::{Authorize, Request};

/// The scope an Entra ID token for the Communication Services data plane is requested for
/// (the resource `https://communication.azure.com/` plus `/.default`, hence the double slash).
pub const COMMUNICATION_SCOPE: &str = "https://communication.azure.com//.default";

/// How long before its expiry a cached Entra ID token is replaced.
pub const TOKEN_REFRESH_OFFSET: Duration = Duration::from_secs(5 * 60);

/// Anything that can hand out Entra ID access tokens: implement it for your own type, or
/// wrap the credential of the Azure SDK you use (see the [`identity`](crate::identity) docs
/// for `azure_identity`). A closure `Fn(&[&str]) -> Result<AccessToken, RefreshError>`
/// implements it too.
///
/// `get_token` is called with `[COMMUNICATION_SCOPE]`, from the thread of the call that needs
/// a token, at most once at a time per client. Any error it returns reaches the caller as the
/// `source` of [`Error::Credential`]. Give it a timeout of its own: a call waiting for it stops
/// waiting at its `call_timeout`, but nothing can interrupt the credential itself.
///
/// ```
/// use std::sync::Arc;
/// use acs_chat::identity::{CommunicationIdentityClient, TokenCredential};
/// use acs_chat::{credential::RefreshError, AccessToken};
/// # let emu = acs_chat_emulator::Emulator::builder().entra_app("my-app").start()?;
///
/// /// Hands out the tokens of a service principal (here: the emulator's).
/// struct MyCredential(acs_chat_emulator::Emulator);
///
/// impl TokenCredential for MyCredential {
///     fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, RefreshError> {
///         assert_eq!(scopes, ["https://communication.azure.com//.default"]);
///         Ok(AccessToken::from_jwt(self.0.entra_token("my-app"))?)
///     }
/// }
/// # let endpoint = emu.endpoint();
/// let client = CommunicationIdentityClient::with_token_credential(
///     &endpoint,
///     Arc::new(MyCredential(emu)),
///     Default::default(),
/// )?;
/// let user = client.create_user()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait TokenCredential: Send + Sync {
    /// A token for `scopes`, with the time it expires.
    fn get_token(&self, scopes: &[&str]) -> std::result::Result<AccessToken, RefreshError>;
}

impl<F> TokenCredential for F
where
    F: Fn(&[&str]) -> std::result::Result<AccessToken, RefreshError> + Send + Sync,
{
    fn get_token(&self, scopes: &[&str]) -> std::result::Result<AccessToken, RefreshError> {
        self(scopes)
    }
}

impl CommunicationIdentityClient {
    /// A client for `endpoint` (`https://<resource>.communication.azure.com`) that
    /// authenticates with Entra ID: every request carries `Authorization: Bearer <token>` for
    /// [`COMMUNICATION_SCOPE`] from `credential`, instead of an access-key signature. Use it
    /// when the resource has local (key) authentication disabled.
    ///
    /// The credential is an `Arc` so that one credential (and whatever cache it keeps) can
    /// serve several clients; each client caches its own token (see the
    /// [`entra` module docs](crate::identity::entra) for when it asks for a new one). The
    /// endpoint is checked as for [`new`](Self::new): `https://`, or plain `http://` only for
    /// loopback hosts unless the options' `allow_insecure_http` says otherwise, since a
    /// bearer token seen on the network can be replayed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope, TokenCredential};
    /// use acs_chat::AccessToken;
    /// # let emu = Arc::new(acs_chat_emulator::Emulator::builder().entra_app("my-app").start()?);
    /// # let e = emu.clone();
    /// // Usually azure_identity's credential, wrapped (see the identity module docs).
    /// let credential: Arc<dyn TokenCredential> =
    ///     Arc::new(move |_scopes: &[&str]| Ok(AccessToken::from_jwt(e.entra_token("my-app"))?));
    /// let client = CommunicationIdentityClient::with_token_credential(
    ///     &emu.endpoint(), credential.clone(), Default::default())?;
    /// let (user, token) = client.create_user_and_token(&[CommunicationTokenScope::Chat], None)?;
    /// client.revoke_tokens(&user)?;
    /// // Plain http is refused for anything but loopback hosts.
    /// assert!(CommunicationIdentityClient::with_token_credential(
    ///     "http://contoso.example", credential, Default::default()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_token_credential(
        endpoint: &str,
        credential: Arc<dyn TokenCredential>,
        options: CommunicationIdentityClientOptions,
    ) -> Result<Self> {
        Self::with_authorizer(
            endpoint,
            Box::new(BearerAuthorizer::new(credential)),
            options,
        )
    }
}

/// What the cache holds, behind its mutex.
#[derive(Default)]
struct Cache {
    token: Option<AccessToken>,
    /// The service refused `token` (401): do not send it again.
    rejected: bool,
    /// A thread is asking the credential.
    refreshing: bool,
    /// Completed requests to the credential, so waiters can tell theirs has finished.
    generation: u64,
    /// The error of the latest request, when it failed.
    failure: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

/// What a caller does next.
enum Step {
    Use(AccessToken),
    /// Ask the credential; on failure fall back to this still-valid token.
    Refresh(Option<AccessToken>),
    Wait,
}

/// Authorizes identity requests with a cached Entra ID bearer token.
pub(crate) struct BearerAuthorizer {
    credential: Arc<dyn TokenCredential>,
    cache: Mutex<Cache>,
    refreshed: Condvar,
    clock: Box<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

impl fmt::Debug for BearerAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a secret: only its expiry is shown.
        let expires_on = self.lock().token.as_ref().map(|t| t.expires_on);
        f.debug_struct("BearerAuthorizer")
            .field("expires_on", &expires_on)
            .finish_non_exhaustive()
    }
}

impl BearerAuthorizer {
    pub(crate) fn new(credential: Arc<dyn TokenCredential>) -> Self {
        BearerAuthorizer {
            credential,
            cache: Mutex::new(Cache::default()),
            refreshed: Condvar::new(),
            clock: Box::new(Utc::now),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // The cache is consistent after any panic (the credential runs outside the lock).
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token to send now, asking the credential when needed (see the module docs).
    fn token(&self, deadline: Option<Instant>) -> Result<AccessToken> {
        let started = Instant::now();
        let mut cache = self.lock();
        let mut waited_for: Option<u64> = None;
        loop {
            if let (Some(generation), Some(failure)) = (waited_for, &cache.failure) {
                if cache.generation != generation {
                    return Err(credential_failed(Arc::clone(failure)));
                }
            }
            match decide(&cache, (self.clock)()) {
                Step::Use(token) => return Ok(token),
                Step::Wait => {
                    waited_for.get_or_insert(cache.generation);
                    cache = self.wait(cache, deadline, started)?;
                }
                Step::Refresh(fallback) => {
                    cache.refreshing = true;
                    drop(cache);
                    return self.refresh(fallback);
                }
            }
        }
    }

    fn wait<'a>(
        &'a self,
        cache: MutexGuard<'a, Cache>,
        deadline: Option<Instant>,
        started: Instant,
    ) -> Result<MutexGuard<'a, Cache>> {
        crate::credential::wait_for_refresh(&self.refreshed, cache, deadline, started)
    }

    /// Asks the credential (this thread set `refreshing`), stores the outcome and wakes the
    /// waiters.
    fn refresh(&self, fallback: Option<AccessToken>) -> Result<AccessToken> {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.credential.get_token(&[COMMUNICATION_SCOPE])
        }))
        .unwrap_or_else(|_| Err("the token credential panicked".into()))
        .and_then(|token| {
            check_token(&token.token)?;
            Ok(token)
        });
        let mut cache = self.lock();
        cache.refreshing = false;
        cache.generation += 1;
        let result = match outcome {
            Ok(token) => {
                cache.token = Some(token.clone());
                cache.rejected = false;
                cache.failure = None;
                Ok(token)
            }
            Err(e) => {
                let failure: Arc<dyn std::error::Error + Send + Sync> = Arc::from(e);
                cache.failure = Some(Arc::clone(&failure));
                match fallback {
                    Some(token) => {
                        log::warn!(
                            "the token credential failed; using the current Entra ID token until \
                             it expires at {}: {failure}",
                            token.expires_on
                        );
                        Ok(token)
                    }
                    None => Err(credential_failed(failure)),
                }
            }
        };
        drop(cache);
        self.refreshed.notify_all();
        result
    }

    #[cfg(test)]
    fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }
}

fn credential_failed(source: Arc<dyn std::error::Error + Send + Sync + 'static>) -> Error {
    Error::Credential {
        message: "the Entra ID token credential failed".to_owned(),
        source: Some(source),
    }
}

/// A token must be something an `Authorization` header can carry.
fn check_token(token: &str) -> std::result::Result<(), RefreshError> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "the token credential returned an empty token or one with characters a \
                    header cannot carry"
                .into(),
        );
    }
    Ok(())
}

/// The next step for a caller, given the cache at `now`.
fn decide(cache: &Cache, now: DateTime<Utc>) -> Step {
    let offset = chrono::TimeDelta::from_std(TOKEN_REFRESH_OFFSET).unwrap_or_default();
    match cache.token.as_ref().filter(|_| !cache.rejected) {
        Some(token) if token.expires_on - now > offset => Step::Use(token.clone()),
        Some(token) if token.expires_on > now => {
            if cache.refreshing {
                Step::Use(token.clone())
            } else {
                Step::Refresh(Some(token.clone()))
            }
        }
        _ if cache.refreshing => Step::Wait,
        _ => Step::Refresh(None),
    }
}

impl Authorize for BearerAuthorizer {
    fn authorize(&self, request: &mut Request, deadline: Option<Instant>) -> Result<()> {
        let token = self.token(deadline)?;
        request.set_header("authorization", format!("Bearer {}", token.token));
        request.set_header("x-ms-return-client-request-id", "true");
        Ok(())
    }

    fn on_unauthorized(&self) -> bool {
        let mut cache = self.lock();
        if cache.token.is_some() {
            cache.rejected = true;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn token(text: &str, expires_on: DateTime<Utc>) -> AccessToken {
        AccessToken {
            token: text.to_owned(),
            expires_on,
        }
    }

    /// A credential that counts its calls and hands out `tok-N` valid for `lifetime`.
    fn counting(
        lifetime: chrono::TimeDelta,
        now: DateTime<Utc>,
    ) -> (Arc<AtomicUsize>, Arc<dyn TokenCredential>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let credential = move |scopes: &[&str]| {
            assert_eq!(scopes, [COMMUNICATION_SCOPE], "scopes asked for");
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(token(&format!("tok-{n}"), now + lifetime))
        };
        (calls, Arc::new(credential))
    }

    /// The refresh rule: fresh → use; inside the 5-minute window → refresh with a fallback,
    /// unless a refresh runs; expired, rejected or absent → refresh, or wait for the running one.
    #[test]
    fn decide_follows_refresh_offset() {
        let now = Utc::now();
        let minutes = chrono::TimeDelta::minutes;
        let with = |expires: Option<chrono::TimeDelta>, refreshing: bool, rejected: bool| Cache {
            token: expires.map(|d| token("t", now + d)),
            refreshing,
            rejected,
            ..Default::default()
        };
        let name = |s: Step| match s {
            Step::Use(_) => "use",
            Step::Refresh(Some(_)) => "refresh-with-fallback",
            Step::Refresh(None) => "refresh",
            Step::Wait => "wait",
        };
        let table = [
            (with(Some(minutes(6)), false, false), "use"),
            (with(Some(minutes(6)), true, false), "use"),
            (
                with(Some(minutes(4)), false, false),
                "refresh-with-fallback",
            ),
            (with(Some(minutes(4)), true, false), "use"),
            (with(Some(minutes(-1)), false, false), "refresh"),
            (with(Some(minutes(-1)), true, false), "wait"),
            (with(Some(minutes(60)), false, true), "refresh"),
            (with(Some(minutes(60)), true, true), "wait"),
            (with(None, false, false), "refresh"),
            (with(None, true, false), "wait"),
        ];
        for (i, (cache, want)) in table.into_iter().enumerate() {
            assert_eq!(name(decide(&cache, now)), want, "row {i}");
        }
    }

    /// A fresh token is cached; one inside the window is replaced on the next call.
    #[test]
    fn token_cached_until_refresh_offset() {
        let now = Utc::now();
        let (calls, credential) = counting(chrono::TimeDelta::hours(1), now);
        let auth = BearerAuthorizer::new(credential).with_clock(move || now);
        for _ in 0..5 {
            assert_eq!(auth.token(None).expect("token").token, "tok-1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "credential calls");
        let later = now + chrono::TimeDelta::minutes(56);
        let auth = auth.with_clock(move || later);
        assert_eq!(auth.token(None).expect("token").token, "tok-2");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "credential calls");
    }

    /// A failing credential inside the window falls back to the valid token; once expired
    /// the failure is an `Error::Credential` with the credential's error as source.
    #[test]
    fn refresh_failure_falls_back_then_fails() {
        let now = Utc::now();
        let first = std::sync::atomic::AtomicBool::new(true);
        let credential = move |_: &[&str]| -> std::result::Result<AccessToken, RefreshError> {
            if first.swap(false, Ordering::SeqCst) {
                Ok(token("tok", now + chrono::TimeDelta::minutes(2)))
            } else {
                Err("directory unreachable".into())
            }
        };
        let auth = BearerAuthorizer::new(Arc::new(credential)).with_clock(move || now);
        assert_eq!(auth.token(None).expect("first").token, "tok");
        assert_eq!(auth.token(None).expect("fallback").token, "tok");
        let later = now + chrono::TimeDelta::minutes(3);
        let auth = auth.with_clock(move || later);
        let err = auth
            .token(None)
            .expect_err("expired and the credential fails");
        let Error::Credential {
            source: Some(source),
            ..
        } = &err
        else {
            panic!("expected a credential error with a source, saw {err:?}");
        };
        assert_eq!(source.to_string(), "directory unreachable");
    }

    /// Tokens a header cannot carry, and a panicking credential, are credential errors.
    #[test]
    fn refresh_rejects_unsendable_token_and_panic() {
        let now = Utc::now();
        for text in ["", "a\r\nx-injected: 1", "with space"] {
            let text = text.to_owned();
            let credential = move |_: &[&str]| Ok(token(&text, now + chrono::TimeDelta::hours(1)));
            let auth = BearerAuthorizer::new(Arc::new(credential));
            let err = auth.token(None).expect_err("unsendable token");
            assert!(matches!(err, Error::Credential { .. }), "{err:?}");
        }
        let credential = |_: &[&str]| -> std::result::Result<AccessToken, RefreshError> {
            panic!("credential bug")
        };
        let auth = BearerAuthorizer::new(Arc::new(credential));
        let err = auth.token(None).expect_err("panicked");
        assert!(matches!(err, Error::Credential { .. }), "{err:?}");
        assert!(!auth.lock().refreshing, "a panic leaves no refresh running");
    }

    /// A 401 drops the cached token, so the next call asks for a fresh one.
    #[test]
    fn on_unauthorized_forces_refresh() {
        let now = Utc::now();
        let (calls, credential) = counting(chrono::TimeDelta::hours(1), now);
        let auth = BearerAuthorizer::new(credential).with_clock(move || now);
        auth.token(None).expect("first");
        assert!(auth.on_unauthorized(), "a fresh token can be had");
        assert_eq!(auth.token(None).expect("second").token, "tok-2");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "credential calls");
    }

    /// Debug shows the expiry, never the token.
    #[test]
    fn debug_hides_token() {
        let now = Utc::now();
        let credential = move |_: &[&str]| {
            Ok(token(
                "secret-token-text",
                now + chrono::TimeDelta::hours(1),
            ))
        };
        let auth = BearerAuthorizer::new(Arc::new(credential));
        auth.token(None).expect("token");
        let text = format!("{auth:?}");
        assert!(!text.contains("secret-token-text"), "{text}");
        assert!(text.contains("expires_on"), "{text}");
    }
}
