//! `CommunicationTokenCredential` against the in-process emulator: one refresh per expiry
//! however many threads ask, failures surfaced and backed off, revoked tokens replaced on the
//! next chat call, and no secret in `Debug`, errors or logs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use acs_chat::credential::REFRESH_WINDOW;
use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope};
use acs_chat::{
    AccessToken, ChatClient, CommunicationIdentifier, CommunicationTokenCredential,
    CommunicationTokenRefreshOptions, Error, TransportOptions,
};
use acs_chat_emulator::Emulator;
use chrono::Utc;

#[allow(dead_code)] // this test crate uses only some of the shared helpers
mod common;

use common::chat_client;

/// Every log record any test in this binary produced, formatted with its arguments.
fn captured_logs() -> &'static Mutex<Vec<String>> {
    static LOGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

struct CapturingLogger;

impl log::Log for CapturingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        captured_logs()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }

    fn flush(&self) {}
}

/// Installs the capturing logger once for this test binary, at the most verbose level.
fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Fails only when another logger is installed, which nothing in this binary does.
        log::set_logger(&CapturingLogger).expect("no other logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// A refresher's lifetime that is inside the refresh window two to three seconds after issue
/// (the emulator rounds `exp` up to a whole second).
fn short_lifetime() -> Duration {
    REFRESH_WINDOW + Duration::from_secs(2)
}

/// What the refresher saw, for checking one refresh per expiry.
#[derive(Default)]
struct RefreshLog {
    /// The tokens issued, in order.
    issued: Vec<AccessToken>,
    /// Refreshes that ran while the latest token was not yet due (must stay empty).
    premature: Vec<String>,
}

/// Runs 16 threads on one credential until the refresher has run `refreshes` times and checks
/// that exactly one refresh ran per expiry.
fn run_sixteen_threads(proactive_refresh: bool) {
    capture_logs();
    let emu = Arc::new(Emulator::start().expect("emulator starts"));
    let user = emu.create_user();
    let record = Arc::new(Mutex::new(RefreshLog::default()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let refresher = {
        let (emu, record) = (Arc::clone(&emu), Arc::clone(&record));
        let (in_flight, max_in_flight) = (Arc::clone(&in_flight), Arc::clone(&max_in_flight));
        move || {
            let now_in = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            max_in_flight.fetch_max(now_in, Ordering::SeqCst);
            {
                let mut log = record.lock().expect("refresh log");
                if let Some(last) = log.issued.last() {
                    let due_from = last.expires_on
                        - chrono::TimeDelta::from_std(REFRESH_WINDOW).expect("window");
                    if Utc::now() < due_from {
                        let note = format!(
                            "refresh at {} but the token was due from {due_from}",
                            Utc::now()
                        );
                        log.premature.push(note);
                    }
                }
            }
            // Widen the race: other threads pile up while this refresh runs.
            std::thread::sleep(Duration::from_millis(20));
            let token = AccessToken::from_jwt(emu.issue_token(&user, &["chat"], short_lifetime()));
            if let Ok(token) = &token {
                record
                    .lock()
                    .expect("refresh log")
                    .issued
                    .push(token.clone());
            }
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(token?)
        }
    };
    let credential = CommunicationTokenCredential::with_options(CommunicationTokenRefreshOptions {
        token: None,
        token_refresher: Box::new(refresher),
        proactive_refresh,
    })
    .expect("valid options");

    let refreshes_wanted = 3;
    let seen = Mutex::new(HashSet::new());
    let expired_handed_out = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let token = credential.get_token().expect("a token");
                    if token.expires_on <= Utc::now() {
                        expired_handed_out.fetch_add(1, Ordering::SeqCst);
                    }
                    seen.lock().expect("seen").insert(token.token);
                    let issued = record.lock().expect("refresh log").issued.len();
                    // Stop after the last refresh's token has been handed out (or after a
                    // generous cap, which the assertions below then report).
                    if (issued >= refreshes_wanted
                        && seen.lock().expect("seen").len() >= refreshes_wanted)
                        || started.elapsed() > Duration::from_secs(60)
                    {
                        stop.store(true, Ordering::SeqCst);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
    });

    let record = record.lock().expect("refresh log");
    let seen = seen.lock().expect("seen");
    assert!(
        record.issued.len() >= refreshes_wanted,
        "only {} refreshes happened before the cap",
        record.issued.len()
    );
    assert_eq!(
        max_in_flight.load(Ordering::SeqCst),
        1,
        "refreshes overlapped"
    );
    assert!(
        record.premature.is_empty(),
        "refreshes before expiry: {:?}",
        record.premature
    );
    let issued: HashSet<_> = record.issued.iter().map(|t| t.token.clone()).collect();
    assert_eq!(
        issued.len(),
        record.issued.len(),
        "the refresher returned a token twice"
    );
    assert!(
        seen.iter().all(|t| issued.contains(t)),
        "threads saw tokens the refresher never issued"
    );
    assert_eq!(
        seen.len(),
        issued.len(),
        "issued tokens that no thread ever got: refreshes were wasted"
    );
    assert_eq!(
        expired_handed_out.load(Ordering::SeqCst),
        0,
        "expired tokens handed out"
    );
    // And the last token really works against the service.
    let last = record.issued.last().expect("a token").token.clone();
    let chat = chat_client(&emu.endpoint(), &last);
    chat.create_chat_thread("works", None)
        .expect("the refreshed token is accepted");
}

/// 16 threads sharing one credential whose token expires mid-run cause exactly one refresher
/// call per expiry, and never get an expired token.
#[test]
fn get_token_sixteen_threads_refresh_once_per_expiry() {
    run_sixteen_threads(false);
}

/// The same with proactive refresh, where callers keep the still-valid token during a refresh.
#[test]
fn get_token_sixteen_threads_proactive_refresh_once_per_expiry() {
    run_sixteen_threads(true);
}

/// A refresher that fails is reported to every caller as a credential error with the cause as
/// its source, is not called again during the backoff, and works again once it recovers.
#[test]
fn get_token_failing_refresher_is_surfaced_then_recovers() {
    capture_logs();
    let emu = Emulator::start().expect("emulator starts");
    let identity = CommunicationIdentityClient::from_connection_string(&emu.connection_string())
        .expect("identity client");
    let user = identity.create_user().expect("user");
    let ghost = CommunicationIdentifier::communication_user("8:acs:ghost_user");
    let calls = Arc::new(AtomicUsize::new(0));
    let refresher = {
        let calls = Arc::clone(&calls);
        move || {
            // The first two attempts ask for a user that does not exist: a real service 404.
            let who = if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                &ghost
            } else {
                &user
            };
            Ok(identity.get_token(who, &[CommunicationTokenScope::Chat], None)?)
        }
    };
    let credential = CommunicationTokenCredential::with_options(
        CommunicationTokenRefreshOptions::new(refresher),
    )
    .expect("valid options");

    let first = credential.get_token().expect_err("the refresher fails");
    let Error::Credential {
        source: Some(source),
        ..
    } = &first
    else {
        panic!("expected a credential error with a source, got {first:?}");
    };
    let status = source.downcast_ref::<Error>().and_then(Error::status);
    assert_eq!(status, Some(404), "source {source:?}");

    // Eight threads poll until the token arrives.
    let errors = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                match credential.get_token() {
                    Ok(_) => break,
                    Err(e) => {
                        assert!(matches!(e, Error::Credential { .. }), "error {e:?}");
                        errors.fetch_add(1, Ordering::SeqCst);
                        assert!(
                            started.elapsed() < Duration::from_secs(60),
                            "never recovered: {e}"
                        );
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            });
        }
    });
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "two failures and one success, whatever the number of calls ({} failed calls)",
        errors.load(Ordering::SeqCst)
    );
    assert!(
        errors.load(Ordering::SeqCst) >= 1,
        "the second failure reached the callers"
    );
}

/// A token revoked on the service turns into a refreshed one on the next chat call: the client
/// sees the 401, the credential refreshes once, and the call is retried once.
#[test]
fn get_token_revoked_token_is_refreshed_on_next_call() {
    capture_logs();
    let emu = Emulator::start().expect("emulator starts");
    let identity = CommunicationIdentityClient::from_connection_string(&emu.connection_string())
        .expect("identity client");
    let (user, first) = identity
        .create_user_and_token(&[CommunicationTokenScope::Chat], None)
        .expect("user and token");
    let calls = Arc::new(AtomicUsize::new(0));
    let refresher = {
        let (identity, user, calls) = (identity.clone(), user.clone(), Arc::clone(&calls));
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(identity.get_token(&user, &[CommunicationTokenScope::Chat], None)?)
        }
    };
    let credential = CommunicationTokenCredential::with_options(CommunicationTokenRefreshOptions {
        token: Some(first.token.clone()),
        token_refresher: Box::new(refresher),
        proactive_refresh: false,
    })
    .expect("valid options");
    let chat = ChatClient::new(&emu.endpoint(), credential.clone()).expect("chat client");
    chat.create_chat_thread("before", None)
        .expect("the first token works");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no refresh while the token is good"
    );

    identity.revoke_tokens(&user).expect("revoke");
    chat.create_chat_thread("after", None)
        .expect("the call succeeds with a refreshed token");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "exactly one refresh after the 401"
    );
    let now = credential.get_token().expect("a token");
    assert_ne!(now.token, first.token, "the revoked token is still in use");

    // A static credential cannot refresh: the 401 comes back, after one request only.
    let (other, token) = identity
        .create_user_and_token(&[CommunicationTokenScope::Chat], None)
        .expect("user and token");
    let fixed = chat_client(&emu.endpoint(), &token.token);
    fixed
        .create_chat_thread("ok", None)
        .expect("works before revoking");
    identity.revoke_tokens(&other).expect("revoke");
    let sent = emu.request_count();
    let err = fixed
        .create_chat_thread("no", None)
        .expect_err("revoked static token");
    assert_eq!(err.status(), Some(401), "{err:?}");
    assert_eq!(
        emu.request_count() - sent,
        1,
        "a static token's 401 was retried"
    );
}

/// An expired static token fails before anything is sent, saying it expired.
#[test]
fn get_token_expired_static_token_fails_before_sending() {
    let emu = Emulator::start().expect("emulator starts");
    let user = emu.create_user();
    let token = emu.issue_token(&user, &["chat"], Duration::from_secs(1));
    let credential = CommunicationTokenCredential::new(token).expect("jwt");
    // `exp` is rounded up to a whole second: wait until it has certainly passed.
    while credential.get_token().is_ok() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let chat = ChatClient::new(&emu.endpoint(), credential).expect("chat client");
    let sent = emu.request_count();
    let err = chat
        .create_chat_thread("late", None)
        .expect_err("expired token");
    assert!(matches!(err, Error::Credential { .. }), "{err:?}");
    assert!(err.to_string().contains("expired"), "message: {err}");
    assert_eq!(
        emu.request_count(),
        sent,
        "a request was sent with an expired token"
    );
}

/// Neither the access key nor any token appears in `Debug`, `Display` of errors or the logs.
#[test]
fn debug_errors_and_logs_never_show_secrets() {
    capture_logs();
    let emu = Emulator::start().expect("emulator starts");
    let key = emu.access_key();
    let identity = CommunicationIdentityClient::from_connection_string(&emu.connection_string())
        .expect("identity client");
    let (user, token) = identity
        .create_user_and_token(&[CommunicationTokenScope::Chat], None)
        .expect("user and token");
    let mut secrets = vec![key.clone(), token.token.clone()];
    let mut shown = vec![format!("{identity:?}"), format!("{token:?}")];

    // A refreshing credential: refresh, a 401 after revocation, a failed refresh.
    let fail = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(Mutex::new(Vec::new()));
    let refresher = {
        let (identity, user, fail, issued) = (
            identity.clone(),
            user.clone(),
            Arc::clone(&fail),
            Arc::clone(&issued),
        );
        move || {
            if fail.load(Ordering::SeqCst) {
                return Err(Error::InvalidArgument {
                    name: "user",
                    reason: "refresher told to fail".to_owned(),
                }
                .into());
            }
            let t = identity.get_token(&user, &[CommunicationTokenScope::Chat], None)?;
            issued.lock().expect("issued").push(t.token.clone());
            Ok(t)
        }
    };
    let options = CommunicationTokenRefreshOptions {
        token: Some(token.token.clone()),
        token_refresher: Box::new(refresher),
        proactive_refresh: true,
    };
    shown.push(format!("{options:?}"));
    let credential = CommunicationTokenCredential::with_options(options).expect("valid options");
    let chat = ChatClient::new(&emu.endpoint(), credential.clone()).expect("chat client");
    chat.create_chat_thread("a", None).expect("works");
    identity.revoke_tokens(&user).expect("revoke");
    chat.create_chat_thread("b", None)
        .expect("works after a refresh");
    identity.revoke_tokens(&user).expect("revoke");
    fail.store(true, Ordering::SeqCst);
    let err = chat
        .create_chat_thread("c", None)
        .expect_err("the refresh fails");
    shown.push(format!("{err} {err:?}"));
    shown.push(format!("{credential:?}"));
    shown.push(format!("{chat:?}"));

    // A wrong key and a bad connection string.
    let bad = CommunicationIdentityClient::from_connection_string(&format!(
        "endpoint={}/;accesskey={key}!",
        emu.endpoint()
    ))
    .expect_err("bad key");
    shown.push(format!("{bad} {bad:?}"));
    let expired = CommunicationTokenCredential::new(emu.issue_token(
        &emu.create_user(),
        &["chat"],
        Duration::ZERO,
    ))
    .expect("jwt");
    // `exp` is rounded up to a whole second: wait until it has certainly passed.
    let err = loop {
        match expired.get_token() {
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => break e,
        }
    };
    shown.push(format!("{err} {err:?}"));

    secrets.extend(issued.lock().expect("issued").iter().cloned());
    assert!(
        secrets.len() >= 3,
        "the refresher issued tokens: {}",
        secrets.len()
    );
    let logs = captured_logs().lock().expect("logs").clone();
    assert!(
        !logs.is_empty(),
        "nothing was logged, so nothing was checked"
    );
    for text in shown.iter().chain(logs.iter()) {
        for secret in &secrets {
            // The token's signature part is its most secret piece; check it and the whole.
            let tail = secret.rsplit('.').next().unwrap_or(secret);
            assert!(
                !text.contains(secret.as_str()) && !text.contains(tail),
                "a secret appears in: {text}"
            );
        }
    }
}

/// A refresher that takes `delay` (a channel nobody sends on, so no sleep loop) and then
/// issues a 1-hour chat token for `user`; counts its calls.
fn slow_refresher(
    emu: &Arc<Emulator>,
    user: &str,
    delay: Duration,
    calls: &Arc<AtomicUsize>,
) -> CommunicationTokenRefreshOptions {
    let (emu, user, calls) = (Arc::clone(emu), user.to_owned(), Arc::clone(calls));
    let (never, waits) = std::sync::mpsc::channel::<()>();
    let waits = Mutex::new(waits);
    CommunicationTokenRefreshOptions::new(move || {
        calls.fetch_add(1, Ordering::SeqCst);
        let _keep_sender_alive = &never;
        let _ = waits.lock().expect("channel").recv_timeout(delay);
        Ok(AccessToken::from_jwt(emu.issue_token(
            &user,
            &["chat"],
            Duration::from_secs(3600),
        ))?)
    })
}

/// A chat client with `call_timeout` whose credential is `refresh`, and a thread its user is in.
fn client_with_refresher(
    emu: &Emulator,
    user: &str,
    refresh: CommunicationTokenRefreshOptions,
    call_timeout: Duration,
) -> (ChatClient, String, CommunicationTokenCredential) {
    let owner = chat_client(
        &emu.endpoint(),
        &emu.issue_token(user, &["chat"], Duration::from_secs(3600)),
    );
    let thread_id = owner
        .create_chat_thread("slow refresh", None)
        .expect("thread")
        .chat_thread
        .id;
    let credential = CommunicationTokenCredential::with_options(refresh).expect("options");
    let options = acs_chat::ChatClientOptions {
        transport_options: TransportOptions {
            call_timeout,
            ..Default::default()
        },
        ..Default::default()
    };
    let chat =
        ChatClient::with_options(&emu.endpoint(), credential.clone(), options).expect("client");
    (chat, thread_id, credential)
}

/// With `call_timeout` 1 s and a refresher that takes 3 s, the call ends with `Timeout` near
/// 1 s (it returned `Ok` after 3 s before), and the refresh goes on: the next call gets its
/// token without calling the refresher again (issue 9, item 1).
#[test]
fn slow_refresher_call_ends_with_timeout_at_call_timeout() {
    let emu = Arc::new(Emulator::start().expect("emulator starts"));
    let user = emu.create_user();
    let calls = Arc::new(AtomicUsize::new(0));
    let call_timeout = Duration::from_secs(1);
    let refresh = slow_refresher(&emu, &user, Duration::from_secs(3), &calls);
    let (chat, thread_id, credential) = client_with_refresher(&emu, &user, refresh, call_timeout);
    let started = Instant::now();
    let r = chat.get_chat_thread(&thread_id);
    let took = started.elapsed();
    println!("call_timeout 1 s, 3 s refresher: returned {r:?} after {took:?}");
    assert!(
        matches!(r, Err(Error::Timeout { after, sent: false }) if after == call_timeout),
        "got {r:?}"
    );
    assert!(
        r.as_ref().is_err_and(|e| !e.may_have_taken_effect()),
        "nothing was sent while waiting for the token, yet {r:?} may have taken effect"
    );
    assert!(
        took < call_timeout + Duration::from_secs(2),
        "the call took {took:?}, past its {call_timeout:?} timeout"
    );
    // A patient call waits for the refresh still running, which the first call started.
    let patient = ChatClient::new(&emu.endpoint(), credential).expect("client");
    patient
        .get_chat_thread(&thread_id)
        .expect("the refreshed token works");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "refresher calls");
}

/// Six callers with `call_timeout` 1 s waiting on a 5 s refresh each get `Timeout` near 1 s
/// (all returned after 5 s before), and the one refresh finishes for later calls.
#[test]
fn six_callers_waiting_on_slow_refresh_each_time_out() {
    let emu = Arc::new(Emulator::start().expect("emulator starts"));
    let user = emu.create_user();
    let calls = Arc::new(AtomicUsize::new(0));
    let call_timeout = Duration::from_secs(1);
    let refresh = slow_refresher(&emu, &user, Duration::from_secs(5), &calls);
    let (chat, thread_id, credential) = client_with_refresher(&emu, &user, refresh, call_timeout);
    let outcomes: Vec<(Result<(), Error>, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    let started = Instant::now();
                    let r = chat.get_chat_thread(&thread_id).map(|_| ());
                    (r, started.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("caller thread"))
            .collect()
    });
    let times: Vec<_> = outcomes.iter().map(|(_, t)| *t).collect();
    println!("6 callers, call_timeout 1 s, 5 s refresher: returned after {times:?}");
    for (r, took) in &outcomes {
        assert!(
            matches!(r, Err(Error::Timeout { .. })),
            "a caller got {r:?}"
        );
        assert!(
            *took < call_timeout + Duration::from_secs(2),
            "a caller took {took:?}, past its {call_timeout:?} timeout"
        );
    }
    let patient = ChatClient::new(&emu.endpoint(), credential).expect("client");
    patient
        .get_chat_thread(&thread_id)
        .expect("the refreshed token works");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "refresher calls");
}
