//! `POST /emulator/reset` and `GET /emulator/state`, signed with the access key like identity
//! calls.

mod common;

use acs_chat_emulator::{hmac, Emulator};
use base64::Engine as _;
use common::{agent, Client, Reply};
use serde_json::json;

/// Sends `method path` signed with `key` (base64) as the identity API is.
fn signed(emu: &Emulator, method: &str, path: &str, key: &str) -> Reply {
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .expect("base64 key");
    let host = emu.endpoint().trim_start_matches("http://").to_string();
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let hash = hmac::content_hash(b"");
    let signature = hmac::sign(
        &key,
        &hmac::string_to_sign(method, path, &date, &host, &hash),
    );
    let c = Client {
        agent: agent(),
        base: emu.endpoint(),
        user: String::new(),
        token: String::new(),
    };
    c.send_raw(
        method,
        &c.url(path),
        None,
        &[
            ("x-ms-date", &date),
            ("x-ms-content-sha256", &hash),
            ("Authorization", &hmac::authorization_header(&signature)),
        ],
    )
}

/// The state lists users, threads, participants and message counts, and never a key,
/// token or message content.
#[test]
fn state_lists_users_threads_and_counts_without_secrets() {
    let emu = Emulator::start().expect("emulator");
    let alice = Client::new(&emu);
    let bob = emu.create_user();
    let thread = alice.create_thread("inspected", &[&bob]);
    alice.send(&thread, "secret message text");
    alice.send(&thread, "another");
    let r = signed(&emu, "GET", "/emulator/state", &emu.access_key());
    r.expect(200);
    let v = r.json();
    assert_eq!(v["counts"]["users"], 2, "{v}");
    assert_eq!(v["counts"]["threads"], 1, "{v}");
    let t = &v["threads"][0];
    assert_eq!(t["id"], thread.as_str(), "{v}");
    assert_eq!(t["topic"], "inspected", "{v}");
    assert_eq!(t["userMessageCount"], 2, "{v}");
    assert!(t["messageCount"].as_u64().unwrap_or(0) >= 2, "{v}");
    let ids: Vec<&str> = t["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(
        ids.contains(&alice.user.as_str()) && ids.contains(&bob.as_str()),
        "{ids:?}"
    );
    for secret in [
        alice.token.as_str(),
        emu.access_key().as_str(),
        "secret message text",
    ] {
        assert!(!r.text.contains(secret), "state leaks a secret: {}", r.text);
    }
    assert_eq!(v, emu.state(), "in-process state matches the route");
}

/// Reset forgets users, tokens and threads (an old token gets 401), keeps the key, and the
/// emulator keeps serving new users.
#[test]
fn reset_forgets_everything_but_key() {
    let emu = Emulator::start().expect("emulator");
    let alice = Client::new(&emu);
    let thread = alice.create_thread("before reset", &[]);
    alice.send(&thread, "gone soon");
    signed(&emu, "POST", "/emulator/reset", &emu.access_key()).expect(204);
    let v = signed(&emu, "GET", "/emulator/state", &emu.access_key()).json();
    assert_eq!(v["counts"]["users"], 0, "{v}");
    assert_eq!(v["counts"]["threads"], 0, "{v}");
    assert_eq!(v["counts"]["messages"], 0, "{v}");
    assert_eq!(emu.message_count(), 0);
    alice.get("/chat/threads").expect_error(401, "Unauthorized");
    let fresh = Client::new(&emu);
    fresh.create_thread("after reset", &[]);
    fresh
        .post("/chat/threads", &json!({"topic": "x"}))
        .expect(201);
}

/// Unsigned, wrongly signed and bearer-token requests get 401 and change nothing; a wrong
/// method gets 405.
#[test]
fn admin_routes_require_access_key() {
    let emu = Emulator::start().expect("emulator");
    let alice = Client::new(&emu);
    alice.create_thread("kept", &[]);
    let other_key = base64::engine::general_purpose::STANDARD.encode(b"some other key");
    signed(&emu, "POST", "/emulator/reset", &other_key).expect_error(401, "Unauthorized");
    signed(&emu, "GET", "/emulator/state", &other_key).expect_error(401, "Unauthorized");
    let r = alice.send_raw("POST", &alice.url("/emulator/reset"), None, &[]);
    assert_eq!(r.status, 401, "a chat token must not reset: {r:?}");
    let r = alice.send_raw("GET", &alice.url("/emulator/state"), None, &[]);
    assert_eq!(r.status, 401, "a chat token must not inspect: {r:?}");
    assert_eq!(emu.state()["counts"]["threads"], 1, "nothing was reset");
    signed(&emu, "GET", "/emulator/reset", &emu.access_key()).expect_error(405, "MethodNotAllowed");
}
