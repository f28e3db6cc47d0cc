//! No log record at any level, TRACE included, from this crate or the HTTP stack under it
//! (ureq, ureq-proto, rustls), carries a token or the access key (issue 9, item 6).
//!
//! ureq-proto dumps every byte it receives at TRACE, 16 bytes a row, unredacted; identity
//! responses carry tokens. The crate's default feature `no-wire-trace` compiles TRACE out
//! (see the crate docs, "Logging"), which this test proves holds for a whole run of identity and
//! chat calls: every 16-byte window of every token is looked for in every record.

use std::sync::{Mutex, OnceLock};

use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope};
use acs_chat::{ChatClient, CommunicationTokenCredential, CommunicationTokenRefreshOptions};
use acs_chat_emulator::Emulator;
use base64::Engine as _;

/// Every record logged in this test binary, as `LEVEL target: message`.
fn records() -> &'static Mutex<Vec<String>> {
    static RECORDS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    RECORDS.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        records()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }

    fn flush(&self) {}
}

/// Every window of `width` bytes of `secret` (all of it when shorter).
fn windows(secret: &str, width: usize) -> Vec<&str> {
    if secret.len() <= width {
        return vec![secret];
    }
    (0..=secret.len() - width)
        .filter_map(|i| secret.get(i..i + width))
        .collect()
}

/// Identity (create_user_and_token, get_token, the Teams exchange) and chat calls, with a
/// refreshing credential, logged at TRACE: no record holds any 16-byte window of a token, nor
/// of the access key.
#[test]
fn trace_logs_never_carry_token_or_key_fragments() {
    if !cfg!(feature = "no-wire-trace") {
        println!(
            "skipped: built without the `no-wire-trace` feature, so ureq-proto's TRACE wire dump \
             (which holds tokens) is compiled in by choice"
        );
        return;
    }
    log::set_logger(&Capture).expect("no other logger in this binary");
    log::set_max_level(log::LevelFilter::Trace);

    let emu = std::sync::Arc::new(
        Emulator::builder()
            .entra_app("trace-app")
            .start()
            .expect("emulator"),
    );
    let key = emu.access_key();
    let identity = CommunicationIdentityClient::from_connection_string(&emu.connection_string())
        .expect("identity client");
    let (user, first) = identity
        .create_user_and_token(&[CommunicationTokenScope::Chat], None)
        .expect("user and token");
    let second = identity
        .get_token(&user, &[CommunicationTokenScope::Chat], None)
        .expect("token");
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let entra = format!(
        "{}.{}.c2lnbmF0dXJlLW9mLXRoZS1lbnRyYS10b2tlbg",
        b64(r#"{"alg":"RS256"}"#),
        b64(r#"{"appid":"app-id","oid":"user-object-id"}"#)
    );
    let teams = identity
        .get_token_for_teams_user(&entra, "app-id", "user-object-id")
        .expect("exchange");

    let issued = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
    let refresher = {
        let (identity, user, issued) = (identity.clone(), user.clone(), issued.clone());
        move || {
            let t = identity.get_token(&user, &[CommunicationTokenScope::Chat], None)?;
            issued.lock().expect("issued").push(t.token.clone());
            Ok(t)
        }
    };
    let credential = CommunicationTokenCredential::with_options(CommunicationTokenRefreshOptions {
        token: Some(first.token.clone()),
        token_refresher: Box::new(refresher),
        proactive_refresh: false,
    })
    .expect("credential");
    let chat = ChatClient::new(&emu.endpoint(), credential).expect("chat client");
    let created = chat.create_chat_thread("trace", None).expect("thread");
    let thread = chat
        .get_chat_thread_client(&created.chat_thread.id)
        .expect("thread client");
    thread.send_message("hello", None).expect("send");
    identity.revoke_tokens(&user).expect("revoke");
    // A 401, a refresh through the identity client, and a retry with the new token.
    let listed = thread
        .list_messages(None)
        .collect::<Result<Vec<_>, _>>()
        .expect("list after refresh");
    assert!(!listed.is_empty(), "messages listed: {listed:?}");

    // Entra ID: a token the service refuses (401, then a refresh and a retry), then a good one.
    let entra_tokens = [emu.entra_token("unknown-app"), emu.entra_token("trace-app")];
    let handed = std::sync::atomic::AtomicUsize::new(0);
    let entra_credential = {
        let tokens = entra_tokens.clone();
        move |_: &[&str]| -> Result<acs_chat::AccessToken, acs_chat::credential::RefreshError> {
            let i = handed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(acs_chat::AccessToken::from_jwt(tokens[i.min(1)].clone())?)
        }
    };
    let with_entra = CommunicationIdentityClient::with_token_credential(
        &emu.endpoint(),
        std::sync::Arc::new(entra_credential),
        Default::default(),
    )
    .expect("entra identity client");
    let (_, entra_issued) = with_entra
        .create_user_and_token(&[CommunicationTokenScope::Chat], None)
        .expect("user and token via Entra ID");

    let mut secrets = vec![
        entra_tokens[0].clone(),
        entra_tokens[1].clone(),
        entra_issued.token.clone(),
        first.token.clone(),
        second.token.clone(),
        teams.token.clone(),
        entra,
        key,
    ];
    secrets.extend(issued.lock().expect("issued").iter().cloned());
    assert!(
        secrets.len() >= 6,
        "the refresher ran: {} secrets",
        secrets.len()
    );
    let logged = records().lock().expect("records").clone();
    assert!(
        !logged.is_empty(),
        "nothing was logged, so nothing was checked"
    );
    println!(
        "{} records checked for every 16-byte window of {} secrets",
        logged.len(),
        secrets.len()
    );
    let mut leaks = Vec::new();
    for secret in &secrets {
        for window in windows(secret, 16) {
            if let Some(line) = logged.iter().find(|l| l.contains(window)) {
                leaks.push(format!("{window:?} in {line:?}"));
                break;
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} of {} secrets leaked into {} records, e.g. {:?}",
        leaks.len(),
        secrets.len(),
        logged.len(),
        leaks.first()
    );
}
