//! `CommunicationIdentityClient::with_token_credential` against the in-process emulator: Entra
//! ID bearer tokens instead of the access key, the token cache, refreshes and the 401 retry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acs_chat::credential::RefreshError;
use acs_chat::identity::entra::COMMUNICATION_SCOPE;
use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope, TokenCredential};
use acs_chat::{AccessToken, ChatClient, CommunicationTokenCredential, Error};
use acs_chat_emulator::Emulator;
use chrono::{TimeDelta, Utc};

const APP: &str = "0f6a1d52-5d5c-4b6e-9d8e-3a5c2b1e7f00";

fn emulator() -> Arc<Emulator> {
    Arc::new(
        Emulator::builder()
            .entra_app(APP)
            .start()
            .expect("emulator"),
    )
}

/// A credential that hands out the emulator's tokens for `app`, with the expiry `lifetime`
/// says for the n-th call (1-based), and counts its calls.
struct Counting {
    emu: Arc<Emulator>,
    app: Box<dyn Fn(usize) -> String + Send + Sync>,
    lifetime: Box<dyn Fn(usize) -> TimeDelta + Send + Sync>,
    calls: AtomicUsize,
    scopes: Mutex<Vec<String>>,
    handed: Mutex<Vec<String>>,
}

impl Counting {
    fn new(emu: &Arc<Emulator>) -> Counting {
        Counting {
            emu: Arc::clone(emu),
            app: Box::new(|_| APP.to_owned()),
            lifetime: Box::new(|_| TimeDelta::hours(1)),
            calls: AtomicUsize::new(0),
            scopes: Mutex::new(Vec::new()),
            handed: Mutex::new(Vec::new()),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenCredential for Counting {
    fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, RefreshError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.scopes
            .lock()
            .expect("scopes")
            .extend(scopes.iter().map(|s| s.to_string()));
        let token = self.emu.entra_token(&(self.app)(n));
        self.handed.lock().expect("handed").push(token.clone());
        Ok(AccessToken {
            token,
            expires_on: Utc::now() + (self.lifetime)(n),
        })
    }
}

fn client(emu: &Emulator, credential: Arc<dyn TokenCredential>) -> CommunicationIdentityClient {
    CommunicationIdentityClient::with_token_credential(
        &emu.endpoint(),
        credential,
        Default::default(),
    )
    .expect("identity client")
}

/// Users are created, issued tokens (which work for chat), revoked and deleted with Entra ID
/// auth, and the credential is asked for the Communication Services scope only.
#[test]
fn entra_credential_creates_user_issues_and_revokes_token() {
    let emu = emulator();
    let credential = Arc::new(Counting::new(&emu));
    let identity = client(&emu, credential.clone());
    let (user, token) = identity
        .create_user_and_token(&[CommunicationTokenScope::Chat], None)
        .expect("create user and token");
    assert!(emu.user_exists(&user.raw_id()), "user {user:?} exists");
    let second = identity
        .get_token(
            &user,
            &[CommunicationTokenScope::Chat],
            Some(Duration::from_secs(3600)),
        )
        .expect("issue token");
    let chat = ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(second.token.clone()).expect("chat credential"),
    )
    .expect("chat client");
    chat.create_chat_thread("via entra", None)
        .expect("the issued token works for chat");
    identity.revoke_tokens(&user).expect("revoke");
    let revoked = ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(token.token).expect("chat credential"),
    )
    .expect("chat client")
    .create_chat_thread("after revoke", None)
    .expect_err("revoked token refused");
    assert_eq!(revoked.status(), Some(401), "{revoked:?}");
    identity.delete_user(&user).expect("delete");
    assert!(!emu.user_exists(&user.raw_id()), "user deleted");
    let scopes = credential.scopes.lock().expect("scopes").clone();
    assert_eq!(scopes, [COMMUNICATION_SCOPE], "scopes asked for");
}

#[derive(Debug)]
struct DirectoryDown;

impl std::fmt::Display for DirectoryDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the token endpoint is unreachable")
    }
}

impl std::error::Error for DirectoryDown {}

/// A failing credential surfaces as `Error::Credential` whose source is its own error type,
/// and nothing is sent.
#[test]
fn entra_credential_error_surfaces_with_source() {
    let emu = emulator();
    let failing =
        |_: &[&str]| -> Result<AccessToken, RefreshError> { Err(Box::new(DirectoryDown)) };
    let identity = client(&emu, Arc::new(failing));
    let before = emu.request_count();
    let err = identity.create_user().expect_err("the credential fails");
    let Error::Credential {
        source: Some(source),
        ..
    } = &err
    else {
        panic!("expected Error::Credential with a source, saw {err:?}");
    };
    assert!(
        source.downcast_ref::<DirectoryDown>().is_some(),
        "source is the credential's own error, saw {source:?}"
    );
    assert_eq!(emu.request_count(), before, "no request was sent");
}

/// One token serves many requests from many threads: the credential is asked once.
#[test]
fn entra_token_cached_across_requests_and_threads() {
    let emu = emulator();
    let credential = Arc::new(Counting::new(&emu));
    let identity = client(&emu, credential.clone());
    let (threads, per_thread) = (8, 5);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let identity = identity.clone();
            s.spawn(move || {
                for _ in 0..per_thread {
                    identity.create_user().expect("create user");
                }
            });
        }
    });
    assert_eq!(
        credential.calls(),
        1,
        "credential calls for {} requests",
        threads * per_thread
    );
}

/// A token within 5 minutes of its expiry is replaced before the next request; a fresh one
/// is kept.
#[test]
fn entra_token_near_expiry_refreshed() {
    let emu = emulator();
    let mut credential = Counting::new(&emu);
    credential.lifetime = Box::new(|n| {
        if n == 1 {
            TimeDelta::minutes(3)
        } else {
            TimeDelta::hours(1)
        }
    });
    let credential = Arc::new(credential);
    let identity = client(&emu, credential.clone());
    identity.create_user().expect("first");
    assert_eq!(credential.calls(), 1, "calls after the first request");
    identity.create_user().expect("second");
    assert_eq!(credential.calls(), 2, "the 3-minute token was replaced");
    identity.create_user().expect("third");
    assert_eq!(credential.calls(), 2, "the 1-hour token was kept");
}

/// A token the service refuses (401) is replaced once and the request repeated once.
#[test]
fn entra_unauthorized_refreshes_once_and_retries() {
    let emu = emulator();
    let mut credential = Counting::new(&emu);
    credential.app = Box::new(|n| {
        if n == 1 {
            "revoked-app".to_owned()
        } else {
            APP.to_owned()
        }
    });
    let credential = Arc::new(credential);
    let identity = client(&emu, credential.clone());
    let before = emu.request_count();
    identity.create_user().expect("succeeds after the retry");
    assert_eq!(credential.calls(), 2, "credential calls");
    assert_eq!(emu.request_count() - before, 2, "requests sent");
    identity.create_user().expect("the new token is cached");
    assert_eq!(
        credential.calls(),
        2,
        "credential calls after another request"
    );
}

/// A token for an app the resource does not know fails with the service's 401, after exactly
/// one refresh and retry, and the error shows no token.
#[test]
fn entra_unknown_app_fails_with_401() {
    let emu = emulator();
    let mut credential = Counting::new(&emu);
    credential.app = Box::new(|_| "not-configured-app".to_owned());
    let credential = Arc::new(credential);
    let identity = client(&emu, credential.clone());
    let before = emu.request_count();
    let err = identity.create_user().expect_err("unknown app");
    assert_eq!(err.status(), Some(401), "{err:?}");
    let service = err.service_error().expect("a service error");
    assert_eq!(service.code, "InvalidAuthenticationToken", "{service:?}");
    assert_eq!(credential.calls(), 2, "one refresh after the 401");
    assert_eq!(emu.request_count() - before, 2, "one retry after the 401");
    let text = format!("{err} {err:?}");
    for token in credential.handed.lock().expect("handed").iter() {
        let (_, signature) = token.rsplit_once('.').expect("a JWT");
        assert!(!text.contains(signature), "the error shows a token: {text}");
    }
}

/// A bearer token is never sent over plain http to a non-loopback host, unless the options
/// allow it.
#[test]
fn entra_client_refuses_insecure_remote_endpoint() {
    let emu = emulator();
    let credential: Arc<dyn TokenCredential> = Arc::new(Counting::new(&emu));
    let err = CommunicationIdentityClient::with_token_credential(
        "http://contoso.example",
        credential.clone(),
        Default::default(),
    )
    .expect_err("plain http to a remote host");
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    let options = acs_chat::identity::CommunicationIdentityClientOptions {
        transport_options: acs_chat::TransportOptions {
            allow_insecure_http: true,
            ..Default::default()
        },
        ..Default::default()
    };
    CommunicationIdentityClient::with_token_credential(
        "http://contoso.example",
        credential,
        options,
    )
    .expect("allowed by the options");
}

/// A call that waits for another thread's refresh stops at its call timeout, before sending;
/// the refresh goes on and its token serves later calls.
#[test]
fn entra_waiting_call_times_out_while_credential_hangs() {
    let emu = emulator();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let e = Arc::clone(&emu);
    let slow = move |_: &[&str]| -> Result<AccessToken, RefreshError> {
        let _ = entered_tx.send(());
        let _ = release_rx.lock().expect("release").recv();
        Ok(AccessToken::from_jwt(e.entra_token(APP))?)
    };
    let options = acs_chat::identity::CommunicationIdentityClientOptions {
        transport_options: acs_chat::TransportOptions {
            call_timeout: Duration::from_millis(200),
            ..Default::default()
        },
        ..Default::default()
    };
    let identity = CommunicationIdentityClient::with_token_credential(
        &emu.endpoint(),
        Arc::new(slow),
        options,
    )
    .expect("identity client");
    std::thread::scope(|s| {
        let first = identity.clone();
        let refreshing = s.spawn(move || first.create_user());
        entered_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the credential was called");
        let err = identity
            .create_user()
            .expect_err("waits past its call timeout");
        assert!(
            matches!(err, Error::Timeout { sent: false, .. }),
            "expected a timeout before sending, saw {err:?}"
        );
        release_tx.send(()).expect("release the credential");
        // Its own call timeout has passed by now too, so it may time out as well.
        let _ = refreshing.join().expect("no panic");
    });
    identity.create_user().expect("the token is cached");
}
