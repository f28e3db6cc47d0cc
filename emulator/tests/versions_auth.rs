//! Wire-level tests of api-version handling, per-version shapes, and authentication.

mod common;

use std::time::Duration;

use acs_chat_emulator::Emulator;
use common::{enc, participant, Client, V2024, V2025};
use serde_json::{json, Value};

/// A missing or unknown api-version is a 400 in the service's error shape.
#[test]
fn request_without_supported_version_returns_400() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let r = c.send_url("GET", &c.url("/chat/threads"), None);
    r.expect_error(400, "MissingApiVersionParameter");
    for v in ["2021-03-07", "2099-01-01", "", "2024-03-07-preview"] {
        c.call("GET", "/chat/threads", v, None)
            .expect_error(400, "UnsupportedApiVersion");
    }
    for v in ["2021-09-07", "2023-11-07", "2024-03-07", "2025-03-15"] {
        c.call("GET", "/chat/threads", v, None).expect(200);
    }
}

/// 2021-09-07 has no `kind` on identifiers and no `attachments`; later versions have both.
#[test]
fn identifiers_and_content_follow_version_shape() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("V", &[]);
    let mid = c.send(&tid, "hi");
    let path = format!("/chat/threads/{}/messages/{mid}", enc(&tid));
    let old = c.call("GET", &path, "2021-09-07", None).json();
    assert!(
        old["senderCommunicationIdentifier"].get("kind").is_none(),
        "{old}"
    );
    assert_eq!(old["content"], json!({"message": "hi"}));
    for v in ["2023-11-07", V2024, V2025] {
        let m = c.call("GET", &path, v, None).json();
        assert_eq!(
            m["senderCommunicationIdentifier"]["kind"], "communicationUser",
            "{v}: {m}"
        );
        assert_eq!(m["content"]["attachments"], json!([]), "{v}: {m}");
    }
}

/// Thread metadata and retentionPolicy exist only in 2025-03-15.
#[test]
fn thread_metadata_and_retention_only_in_2025() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let body = json!({
        "topic": "Meta",
        "participants": [participant(&c.user, "me")],
        "metadata": {"k": "v"},
        "retentionPolicy": {"kind": "threadCreationDate", "deleteThreadAfterDays": 30},
    });
    let r = c.call("POST", "/chat/threads", V2025, Some(&body));
    r.expect(201);
    let t = &r.json()["chatThread"];
    assert_eq!(t["metadata"], json!({"k": "v"}));
    assert_eq!(
        t["retentionPolicy"],
        json!({"kind": "threadCreationDate", "deleteThreadAfterDays": 30})
    );
    let tid = t["id"].as_str().expect("id").to_string();
    let path = format!("/chat/threads/{}", enc(&tid));
    let old = c.call("GET", &path, V2024, None).json();
    assert!(
        old.get("metadata").is_none() && old.get("retentionPolicy").is_none(),
        "2024-03-07 shape: {old}"
    );
    // Merge-patch: "" removes a key; null retention resets to kind none.
    c.call(
        "PATCH",
        &path,
        V2025,
        Some(&json!({"metadata": {"k": "", "n": "1"}, "retentionPolicy": null})),
    )
    .expect(204);
    let now = c.call("GET", &path, V2025, None).json();
    assert_eq!(now["metadata"], json!({"n": "1"}));
    assert_eq!(now["retentionPolicy"], json!({"kind": "none"}));
    // A thread created without a policy reports kind none.
    let plain = c.call("POST", "/chat/threads", V2025, Some(&json!({"topic": "p"})));
    assert_eq!(
        plain.json()["chatThread"]["retentionPolicy"],
        json!({"kind": "none"})
    );
    assert!(plain.json()["chatThread"].get("metadata").is_none());
    c.call(
        "PATCH",
        &path,
        V2025,
        Some(&json!({"retentionPolicy": {"kind": "forever"}})),
    )
    .expect_error(400, "BadRequest");
}

/// Participant metadata round-trips in 2025-03-15 only.
#[test]
fn participant_metadata_only_in_2025() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let other = emu.create_user();
    let tid = c.create_thread("PM", &[]);
    let mut p = participant(&other, "O");
    p["metadata"] = json!({"key1": "val1"});
    c.call(
        "POST",
        &format!("/chat/threads/{}/participants/:add", enc(&tid)),
        V2025,
        Some(&json!({"participants": [p]})),
    )
    .expect(201);
    let path = format!("/chat/threads/{}/participants", enc(&tid));
    let new = c.call("GET", &path, V2025, None).json();
    assert_eq!(
        new["value"][1]["metadata"],
        json!({"key1": "val1"}),
        "{new}"
    );
    let old = c.call("GET", &path, V2024, None).json();
    assert!(old["value"][1].get("metadata").is_none(), "{old}");
}

fn status_of(c: &Client, token: &str) -> (u16, Value) {
    let r = c.with_token(token).get("/chat/threads");
    let body = if r.text.is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r.status, body)
}

/// No token, a malformed token, a forged signature and an unknown scheme are 401.
#[test]
fn bad_tokens_return_401() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let (s, body) = status_of(&c, "");
    assert_eq!(s, 401, "{body}");
    assert_eq!(body["error"]["code"], "Unauthorized");
    for bad in ["abc", "a.b.c", "....", "e30.e30.e30"] {
        let (s, body) = status_of(&c, bad);
        assert_eq!(s, 401, "token {bad:?}: {body}");
    }
    let mut forged = c.token.clone();
    forged.push('x');
    assert_eq!(status_of(&c, &forged).0, 401, "forged signature accepted");
    let other = Emulator::start().expect("second emulator");
    let (_, foreign) = other.user_with_token();
    assert_eq!(
        status_of(&c, &foreign).0,
        401,
        "another resource's token accepted"
    );
    let url = c.url(&format!("/chat/threads?api-version={V2024}"));
    let basic = c.with_token("").send_raw(
        "GET",
        &url,
        None,
        &[("Authorization", "Basic dXNlcjpwdw==")],
    );
    basic.expect_error(401, "Unauthorized");
}

/// Expired and revoked tokens are 401; a token issued after the revocation works.
#[test]
fn expired_and_revoked_tokens_return_401() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let expired = emu.issue_token(&c.user, &["chat"], Duration::ZERO);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(status_of(&c, &expired).0, 401, "expired token accepted");
    assert_eq!(status_of(&c, &c.token).0, 200);
    emu.revoke_tokens(&c.user);
    assert_eq!(status_of(&c, &c.token).0, 401, "revoked token accepted");
    let fresh = emu.issue_token(&c.user, &["chat"], Duration::from_secs(3600));
    assert_eq!(
        status_of(&c, &fresh).0,
        200,
        "token issued after revocation refused"
    );
}

/// A token without a chat scope is 401; chat.join cannot create threads (403).
#[test]
fn scopes_limit_chat_access() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let voip = emu.issue_token(&c.user, &["voip"], Duration::from_secs(3600));
    assert_eq!(
        status_of(&c, &voip).0,
        401,
        "voip-only token accepted for chat"
    );
    let join = c.with_token(&emu.issue_token(&c.user, &["chat.join"], Duration::from_secs(3600)));
    join.post("/chat/threads", &json!({"topic": "t"}))
        .expect_error(403, "Forbidden");
    let tid = c.create_thread("joined", &[]);
    join.send(&tid, "members with chat.join may send");
    let limited =
        c.with_token(&emu.issue_token(&c.user, &["chat.join.limited"], Duration::from_secs(3600)));
    let other = emu.create_user();
    limited
        .post(
            &format!("/chat/threads/{}/participants/:add", enc(&tid)),
            &json!({"participants": [participant(&other, "x")]}),
        )
        .expect_error(403, "Forbidden");
}

/// Someone who is not a participant gets 403 on every thread operation.
#[test]
fn non_participant_is_forbidden_everywhere() {
    let emu = Emulator::start().expect("emulator");
    let owner = Client::new(&emu);
    let stranger = Client::new(&emu);
    let tid = owner.create_thread("private", &[]);
    let mid = owner.send(&tid, "secret");
    let t = enc(&tid);
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/chat/threads/{t}"), None),
        (
            "PATCH",
            format!("/chat/threads/{t}"),
            Some(json!({"topic": "x"})),
        ),
        ("DELETE", format!("/chat/threads/{t}"), None),
        (
            "POST",
            format!("/chat/threads/{t}/messages"),
            Some(json!({"content": "x"})),
        ),
        ("GET", format!("/chat/threads/{t}/messages"), None),
        ("GET", format!("/chat/threads/{t}/messages/{mid}"), None),
        (
            "PATCH",
            format!("/chat/threads/{t}/messages/{mid}"),
            Some(json!({"content": "x"})),
        ),
        ("DELETE", format!("/chat/threads/{t}/messages/{mid}"), None),
        ("GET", format!("/chat/threads/{t}/participants"), None),
        (
            "POST",
            format!("/chat/threads/{t}/participants/:add"),
            Some(json!({"participants": [participant(&stranger.user, "me")]})),
        ),
        (
            "POST",
            format!("/chat/threads/{t}/participants/:remove"),
            Some(json!({"rawId": owner.user})),
        ),
        (
            "POST",
            format!("/chat/threads/{t}/readReceipts"),
            Some(json!({"chatMessageId": mid})),
        ),
        ("GET", format!("/chat/threads/{t}/readReceipts"), None),
        ("POST", format!("/chat/threads/{t}/typing"), Some(json!({}))),
    ];
    for (method, path, body) in cases {
        let r = stranger.call(method, &path, V2024, body.as_ref());
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text);
    }
    owner.get(&format!("/chat/threads/{t}")).expect(200);
}
