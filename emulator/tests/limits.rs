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
    let r = c.post("/chat/threads", &json!({"topic": "full", "participants": list}));
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
    assert_eq!(members.len(), 1, "participants after a rejected add: {members:?}");
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
    println!("60,000-participant create answered {} in {:?}", r.status, started.elapsed());
    r.expect_error(400, "BadRequest");
}
