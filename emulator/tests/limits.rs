//! Wire-level tests of the limits the emulator enforces (see the crate docs' "Limits"): batch
//! sizes, metadata and message sizes, and what a deleted thread still answers.

mod common;

use std::time::Instant;

use acs_chat_emulator::Emulator;
use common::{enc, participant, Client};
use serde_json::{json, Value};

/// `n` participant bodies for users the resource never created.
fn unknown_participants(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| participant(&format!("8:acs:unknown_{i:06}"), "Nobody"))
        .collect()
}

/// Create thread with 201 participants: the service's 400 shape, and no thread is created.
#[test]
fn create_thread_rejects_more_than_200_participants() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let r = c.post(
        "/chat/threads",
        &json!({"topic": "big", "participants": unknown_participants(201)}),
    );
    r.expect_error(400, "BadRequest");
    let (threads, _) = c.walk("/chat/threads", common::V2024);
    assert!(threads.is_empty(), "a thread was created: {threads:?}");
}

/// Create thread with exactly 200 participants (all unknown) succeeds, reporting each once.
#[test]
fn create_thread_accepts_200_participants_and_reports_each_unknown_once() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let mut list = unknown_participants(199);
    list.push(list[0].clone());
    let r = c.post(
        "/chat/threads",
        &json!({"topic": "full", "participants": list}),
    );
    r.expect(201);
    let invalid = r.json()["invalidParticipants"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(invalid, 199, "invalidParticipants count");
}

/// Add participants with 201 entries: the service's 400 shape, and nobody is added.
#[test]
fn add_participants_rejects_more_than_200_participants() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("t", &[]);
    let mut list = unknown_participants(200);
    let real = emu.create_user();
    list.push(participant(&real, "Real"));
    let r = c.post(
        &format!("/chat/threads/{}/participants/:add", enc(&tid)),
        &json!({ "participants": list }),
    );
    r.expect_error(400, "BadRequest");
    let (members, _) = c.walk(
        &format!("/chat/threads/{}/participants", enc(&tid)),
        common::V2024,
    );
    assert_eq!(
        members.len(),
        1,
        "participants after a rejected add: {members:?}"
    );
}

/// The 60,000-participant create request that froze the emulator for ~50 s is refused at once
/// (prints its time; no timed assertion, the status is what is checked).
#[test]
fn create_thread_with_60000_participants_is_refused() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    // The shortest participant form, so that 60,000 fit under the 4 MiB body limit.
    let list: Vec<Value> = (0..60_000)
        .map(|i| json!({"communicationIdentifier": {"rawId": format!("8:acs:u{i}")}}))
        .collect();
    let body = json!({"topic": "huge", "participants": list});
    let started = Instant::now();
    let r = c.post("/chat/threads", &body);
    println!(
        "60,000-participant create answered {} in {:?}",
        r.status,
        started.elapsed()
    );
    r.expect_error(400, "BadRequest");
}

/// 20 metadata values of 60 bytes each fit per request, but not together.
fn metadata_patch(i: usize) -> Value {
    json!({ "metadata": { format!("key{i:03}"): "v".repeat(60) } })
}

/// Thread metadata patches merge; the 1 KB limit holds for the merged result, and a refused
/// patch leaves the stored metadata as it was.
#[test]
fn update_thread_rejects_metadata_merge_above_1kb() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("t", &[]);
    let path = format!("/chat/threads/{}", enc(&tid));
    let mut refused_at = None;
    for i in 0..40 {
        let r = c.call("PATCH", &path, common::V2025, Some(&metadata_patch(i)));
        if r.status != 204 {
            r.expect_error(400, "BadRequest");
            refused_at = Some(i);
            break;
        }
    }
    // Each pair is 6 + 60 = 66 bytes: 15 fit in 1,024, the 16th does not.
    assert_eq!(refused_at, Some(15), "first refused patch");
    let stored = c.call("GET", &path, common::V2025, None).json()["metadata"].clone();
    let keys = stored.as_object().map_or(0, |m| m.len());
    assert_eq!(
        keys, 15,
        "stored metadata after the refused patch: {stored}"
    );
}

/// Message metadata patches merge under the same 1 KB limit on the merged result.
#[test]
fn update_message_rejects_metadata_merge_above_1kb() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("t", &[]);
    let mid = c.send(&tid, "hello");
    let path = format!("/chat/threads/{}/messages/{mid}", enc(&tid));
    let mut refused_at = None;
    for i in 0..40 {
        let r = c.patch(&path, &metadata_patch(i));
        if r.status != 204 {
            r.expect_error(400, "BadRequest");
            refused_at = Some(i);
            break;
        }
    }
    assert_eq!(refused_at, Some(15), "first refused patch");
    let stored = c.get(&path).json()["metadata"].clone();
    let keys = stored.as_object().map_or(0, |m| m.len());
    assert_eq!(
        keys, 15,
        "stored metadata after the refused patch: {stored}"
    );
}

/// Removing keys (an empty value) makes room again: the limit is on what is stored.
#[test]
fn update_thread_accepts_metadata_after_keys_are_removed() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("t", &[]);
    let path = format!("/chat/threads/{}", enc(&tid));
    for i in 0..15 {
        c.call("PATCH", &path, common::V2025, Some(&metadata_patch(i)))
            .expect(204);
    }
    let swap = json!({"metadata": {"key000": "", "key099": "v".repeat(60)}});
    c.call("PATCH", &path, common::V2025, Some(&swap))
        .expect(204);
}

/// Content and sender display name of 28 KB together are accepted; one byte more gets the
/// service's "Message size exceeded.", on send and on edit, and the refused edit leaves the
/// message as it was.
#[test]
fn send_message_rejects_content_above_28kb() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("t", &[]);
    let path = format!("/chat/threads/{}/messages", enc(&tid));
    // `Client::send` names the sender "Tester".
    let at_limit = "x".repeat(28 * 1024 - "Tester".len());
    let mid = c.send(&tid, &at_limit);
    let over = format!("{at_limit}x");
    for (what, r) in [
        (
            "send",
            c.post(
                &path,
                &json!({"content": over, "senderDisplayName": "Tester"}),
            ),
        ),
        (
            "send without a name",
            c.post(&path, &json!({"content": "x".repeat(28 * 1024 + 1)})),
        ),
        (
            "edit",
            c.patch(&format!("{path}/{mid}"), &json!({"content": over})),
        ),
    ] {
        r.expect_error(400, "BadRequest");
        assert_eq!(
            r.json()["error"]["message"],
            "Message size exceeded.",
            "{what}"
        );
    }
    let stored = c.get(&format!("{path}/{mid}")).json();
    let len = stored["content"]["message"].as_str().map_or(0, str::len);
    assert_eq!(len, at_limit.len(), "content after the refused edit");
}

/// Deleting a thread frees its messages at once.
#[test]
fn delete_thread_frees_its_messages() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let kept = c.create_thread("kept", &[]);
    let gone = c.create_thread("gone", &[]);
    for i in 0..20 {
        c.send(&gone, &format!("m{i}"));
    }
    c.send(&kept, "stays");
    // Two system messages per thread (participantAdded, topicUpdated).
    assert_eq!(emu.message_count(), 2 + 1 + 2 + 20, "before the delete");
    c.delete(&format!("/chat/threads/{}", enc(&gone)))
        .expect(204);
    assert_eq!(emu.message_count(), 2 + 1, "after the delete");
}

/// A second delete of a deleted thread: 204 for a participant with the scope, 403 for a
/// non-participant and for a `chat.join` token, as for a live thread.
#[test]
fn delete_deleted_thread_checks_participant_and_scope_first() {
    let emu = Emulator::start().expect("emulator");
    let owner = Client::new(&emu);
    let joiner_id = emu.create_user();
    let tid = owner.create_thread("t", &[&joiner_id]);
    let path = format!("/chat/threads/{}", enc(&tid));
    let stranger = Client::new(&emu);
    let joiner = owner.with_token(&emu.issue_token(
        &joiner_id,
        &["chat.join"],
        std::time::Duration::from_secs(3600),
    ));
    let live = (stranger.delete(&path).status, joiner.delete(&path).status);
    owner.delete(&path).expect(204);
    let deleted = (stranger.delete(&path).status, joiner.delete(&path).status);
    assert_eq!(live, (403, 403), "live thread: (stranger, chat.join)");
    assert_eq!(deleted, live, "deleted thread answers as the live one did");
    owner.delete(&path).expect(204);
}

/// A thread holds at most 250 participants: adding past that is a 400 in the service's
/// shape and adds no one; up to it succeeds.
#[test]
fn add_participants_past_250_per_thread_is_bad_request() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let thread = c.create_thread("full", &[]);
    let path = format!("/chat/threads/{}/participants/:add", enc(&thread));
    // The creator plus 2 batches of 120 and one of 9: 250.
    for n in [120, 120, 9] {
        let batch: Vec<Value> = (0..n)
            .map(|_| participant(&emu.create_user(), "Member"))
            .collect();
        c.post(&path, &json!({ "participants": batch })).expect(201);
    }
    let one_more = vec![participant(&emu.create_user(), "Too many")];
    c.post(&path, &json!({ "participants": one_more }))
        .expect_error(400, "BadRequest");
    let (listed, _) = c.walk(
        &format!(
            "/chat/threads/{}/participants?maxPageSize=200",
            enc(&thread)
        ),
        common::V2024,
    );
    assert_eq!(listed.len(), 250, "participants after the refused add");
}

/// With `rate_limits(true)`, the 11th send within 10 s on one thread gets 429 with
/// `Retry-After` (seconds) and `retry-after-ms`; the 6th typing notification of a user too;
/// without it nothing is throttled.
#[test]
fn rate_limits_answer_429_with_retry_after() {
    let emu = Emulator::builder()
        .rate_limits(true)
        .start()
        .expect("emulator");
    let c = Client::new(&emu);
    let thread = c.create_thread("throttled", &[]);
    for _ in 0..10 {
        c.send(&thread, "within the rate");
    }
    let path = format!("/chat/threads/{}/messages", enc(&thread));
    let r = c.post(&path, &json!({"content": "one too many"}));
    r.expect_error(429, "TooManyRequests");
    let secs: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=10).contains(&secs), "Retry-After {secs}");
    let ms: u64 = r
        .header("retry-after-ms")
        .and_then(|v| v.parse().ok())
        .expect("retry-after-ms");
    assert!(
        ms <= 10_000 && ms.div_ceil(1000) == secs,
        "{ms} ms vs {secs} s"
    );
    let typing = format!("/chat/threads/{}/typing", enc(&thread));
    for _ in 0..5 {
        c.post(&typing, &json!({})).expect(200);
    }
    c.post(&typing, &json!({}))
        .expect_error(429, "TooManyRequests");

    let free = Emulator::start().expect("emulator");
    let f = Client::new(&free);
    let t = f.create_thread("free", &[]);
    for _ in 0..20 {
        f.send(&t, "no limits by default");
    }
}
