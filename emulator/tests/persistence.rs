//! `--data-dir`: what survives a restart, and what a `kill -9` cannot take away.

mod common;

use std::path::Path;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use acs_chat_emulator::Emulator;
use common::{agent, enc, participant, Client, TempDir, V2024, V2025};
use serde_json::{json, Value};

fn start(dir: &Path) -> Emulator {
    Emulator::builder()
        .data_dir(dir)
        .start()
        .expect("emulator on the data dir")
}

/// `c`'s user and token against another emulator (the restarted one).
fn on(emu: &Emulator, c: &Client) -> Client {
    Client {
        agent: agent(),
        base: emu.endpoint(),
        user: c.user.clone(),
        token: c.token.clone(),
    }
}

const REPEAT_ID: &str = "0f7d3c52-9a4e-4d7b-a3a1-5b0c6f1e2d99";

fn create_with_repeat_id(c: &Client, others: &[&str]) -> Value {
    let mut participants = vec![participant(&c.user, "Creator")];
    participants.extend(others.iter().map(|u| participant(u, "Other")));
    let body = json!({
        "topic": "Kept",
        "participants": participants,
        "metadata": {"team": "blue"},
    });
    let url = c.url(&format!("/chat/threads?api-version={V2025}"));
    let r = c.send_raw(
        "POST",
        &url,
        Some(body.to_string().into_bytes()),
        &[("repeatability-request-id", REPEAT_ID)],
    );
    r.expect(201);
    r.json()
}

/// Everything `c` can see of thread `tid`, as the wire shows it.
fn view(c: &Client, tid: &str) -> Value {
    let t = enc(tid);
    let (messages, _) = c.walk(&format!("/chat/threads/{t}/messages?maxPageSize=3"), V2025);
    let (participants, _) = c.walk(&format!("/chat/threads/{t}/participants"), V2025);
    let (receipts, _) = c.walk(&format!("/chat/threads/{t}/readReceipts"), V2025);
    let (threads, _) = c.walk("/chat/threads", V2025);
    let thread = c.call("GET", &format!("/chat/threads/{t}"), V2025, None);
    thread.expect(200);
    json!({
        "thread": thread.json(),
        "threads": threads,
        "messages": messages,
        "participants": participants,
        "receipts": receipts,
    })
}

/// A restart on the same data dir keeps users, tokens, revocations, threads, messages (edits,
/// deletes, metadata), participants, receipts, repeatability ids and the access key.
#[test]
fn restart_keeps_every_kind_of_state() {
    let dir = TempDir::new("restart");
    let emu = start(&dir.0);
    let (key, conn) = (emu.access_key(), emu.connection_string());
    let a = Client::new(&emu);
    let b = Client::new(&emu);
    let gone = Client::new(&emu);
    let late = emu.create_user();
    let created = create_with_repeat_id(&a, &[&b.user, &gone.user]);
    let tid = created["chatThread"]["id"]
        .as_str()
        .expect("thread id")
        .to_string();
    let t = enc(&tid);
    let first = a.send(&tid, "first");
    let second = b.send(&tid, "second");
    let third = a.send(&tid, "third");
    a.call(
        "PATCH",
        &format!("/chat/threads/{t}/messages/{first}"),
        V2025,
        Some(&json!({"content": "first, edited", "metadata": {"k": "v"}})),
    )
    .expect(204);
    a.delete(&format!("/chat/threads/{t}/messages/{third}"))
        .expect(204);
    b.post(
        &format!("/chat/threads/{t}/readReceipts"),
        &json!({"chatMessageId": second}),
    )
    .expect(200);
    a.post(
        &format!("/chat/threads/{t}/participants/:add"),
        &json!({"participants": [participant(&late, "Late")]}),
    )
    .expect(201);
    a.post(
        &format!("/chat/threads/{t}/participants/:remove"),
        &json!({"communicationUser": {"id": gone.user}, "rawId": gone.user}),
    )
    .expect(204);
    a.patch(&format!("/chat/threads/{t}"), &json!({"topic": "Renamed"}))
        .expect(204);
    let revoked = Client::new(&emu);
    emu.revoke_tokens(&revoked.user);
    revoked.get("/chat/threads").expect(401);
    let before_a = view(&a, &tid);
    let before_b = view(&b, &tid);
    drop(emu);

    let emu = start(&dir.0);
    assert_eq!(emu.access_key(), key, "the access key changed");
    let endpoint_part = |s: &str| s.split(";accesskey=").nth(1).map(str::to_string);
    assert_eq!(
        endpoint_part(&emu.connection_string()),
        endpoint_part(&conn),
        "the connection string's key changed"
    );
    let (a2, b2) = (on(&emu, &a), on(&emu, &b));
    assert_eq!(
        view(&a2, &tid),
        before_a,
        "a's view changed across the restart"
    );
    assert_eq!(
        view(&b2, &tid),
        before_b,
        "b's view changed across the restart"
    );
    on(&emu, &revoked)
        .get("/chat/threads")
        .expect_error(401, "Unauthorized");
    let fresh = emu.issue_token(&revoked.user, &["chat"], Duration::from_secs(600));
    on(&emu, &revoked)
        .with_token(&fresh)
        .get("/chat/threads")
        .expect(200);
    assert!(emu.user_exists(&late), "a user created in-process was lost");
    let again = create_with_repeat_id(&a2, &[&b.user, &gone.user]);
    assert_eq!(
        again["chatThread"]["id"], created["chatThread"]["id"],
        "the repeatability id was forgotten: {again}"
    );
    // The counters resume: the next message follows the last sequenceId and stamp.
    let last = before_a["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["sequenceId"].as_str().and_then(|s| s.parse::<u64>().ok()))
        .max()
        .flatten()
        .expect("sequence ids");
    let next = a2.send(&tid, "after the restart");
    let m = a2.get(&format!("/chat/threads/{t}/messages/{next}"));
    m.expect(200);
    assert_eq!(
        m.json()["sequenceId"],
        (last + 1).to_string(),
        "sequenceId after the restart: {}",
        m.text
    );
    let newest: i64 = second.parse().expect("numeric id");
    assert!(
        next.parse::<i64>().expect("numeric id") > newest,
        "message id {next} not after {newest}"
    );
}

/// A different access key on an existing data dir is refused before anything is served.
#[test]
fn start_with_other_access_key_on_data_dir_fails() {
    let dir = TempDir::new("key");
    let key = start(&dir.0).access_key();
    let other = Emulator::builder()
        .data_dir(&dir.0)
        .access_key("b3RoZXIta2V5LW90aGVyLWtleQ==")
        .start();
    let err = other.map(|_| ()).expect_err("another key was accepted");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert!(
        !err.to_string().contains(&key),
        "the error shows the key: {err}"
    );
    let same = Emulator::builder()
        .data_dir(&dir.0)
        .access_key(&key)
        .start();
    assert!(same.is_ok(), "the stored key itself was refused: {same:?}");
}

/// A second emulator on a data dir in use is refused; once the first stops, it starts.
#[test]
fn start_on_data_dir_in_use_fails() {
    let dir = TempDir::new("busy");
    let first = start(&dir.0);
    let second = Emulator::builder().data_dir(&dir.0).start();
    let err = second
        .map(|_| ())
        .expect_err("two emulators on one directory");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    drop(first);
    let third = Emulator::builder().data_dir(&dir.0).start();
    assert!(third.is_ok(), "the lock outlived the emulator: {third:?}");
}

/// The emulator binary on `dir`, with its endpoint.
fn spawn_binary(dir: &Path) -> (Child, String) {
    let (child, ready) =
        common::start_binary(&[std::ffi::OsStr::new("--data-dir"), dir.as_os_str()]);
    let endpoint = ready["endpoint"].as_str().expect("endpoint").to_string();
    (child, endpoint)
}

const SENDERS: usize = 8;
const PER_SENDER: usize = 500;

/// `kill -9` in the middle of 8 × 500 concurrent sends loses no acknowledged message, and the
/// thread's sequenceIds stay contiguous after a restart.
#[cfg(unix)]
#[test]
fn kill_during_concurrent_sends_loses_no_acknowledged_message() {
    let dir = TempDir::new("kill");
    // Users, token and thread made in-process, on the same directory the binary then opens.
    let (user, token, tid) = {
        let emu = start(&dir.0);
        let c = Client::new(&emu);
        let tid = c.create_thread("Crash", &[]);
        (c.user, c.token, tid)
    };
    let (mut child, endpoint) = spawn_binary(&dir.0);
    let client = Client {
        agent: agent(),
        base: endpoint,
        user,
        token,
    };
    let (acks, acked) = mpsc::channel::<i64>();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (c, tid, acks) = (client.clone(), tid.clone(), acks.clone());
            std::thread::spawn(move || {
                let path = format!("/chat/threads/{}/messages", enc(&tid));
                for i in 0..PER_SENDER {
                    let body = json!({"content": format!("{s}-{i}"), "type": "text"});
                    match c.try_call("POST", &path, Some(&body)) {
                        Ok(r) if r.status == 201 => {
                            let id = r.json()["id"].as_str().and_then(|v| v.parse().ok());
                            let Some(id) = id else { return };
                            if acks.send(id).is_err() {
                                return;
                            }
                        }
                        // The process is gone: this send was never acknowledged.
                        _ => return,
                    }
                }
            })
        })
        .collect();
    drop(acks);
    let kill_after = SENDERS * PER_SENDER * 3 / 8;
    let mut ids: Vec<i64> = Vec::new();
    while ids.len() < kill_after {
        match acked.recv_timeout(Duration::from_secs(60)) {
            Ok(id) => ids.push(id),
            Err(e) => panic!("after {} acknowledged sends: {e}", ids.len()),
        }
    }
    child.kill().expect("SIGKILL the emulator");
    let status = child.wait().expect("reap the emulator");
    assert!(
        !status.success(),
        "the emulator exited normally: {status:?}"
    );
    for s in senders {
        s.join().expect("a sender panicked");
    }
    ids.extend(acked.try_iter());
    assert!(
        ids.len() < SENDERS * PER_SENDER,
        "every send finished before the kill; nothing was tested"
    );

    let emu = start(&dir.0);
    let c = on(&emu, &client);
    let (messages, _) = c.walk(
        &format!("/chat/threads/{}/messages?maxPageSize=200", enc(&tid)),
        V2024,
    );
    let stored: std::collections::HashSet<i64> = messages
        .iter()
        .filter_map(|m| m["id"].as_str().and_then(|v| v.parse().ok()))
        .collect();
    let lost: Vec<_> = ids.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages lost, e.g. {:?}",
        lost.len(),
        ids.len(),
        &lost[..lost.len().min(5)]
    );
    let mut seqs: Vec<u64> = messages
        .iter()
        .filter_map(|m| m["sequenceId"].as_str().and_then(|v| v.parse().ok()))
        .collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (1..=messages.len() as u64).collect();
    assert!(
        seqs == expected,
        "sequenceIds not 1..={}: {seqs:?}",
        messages.len()
    );
    // Two system messages, the acknowledged sends, and at most one unacknowledged send per
    // sender that committed just before the kill.
    let extra = messages.len() - 2 - ids.len();
    assert!(
        extra <= SENDERS,
        "{extra} unacknowledged messages stored (at most {SENDERS} were in flight)"
    );
    eprintln!(
        "kill -9 after {} acknowledged sends: {} stored, {extra} committed but unacknowledged",
        ids.len(),
        messages.len() - 2
    );
}

/// Chat calls whose write the database refuses answer 500 `InternalServerError`, leave the
/// thread as the wire showed it, and a restart shows the same.
#[test]
fn chat_calls_with_failed_writes_answer_500_and_change_nothing() {
    let dir = TempDir::new("failed-writes");
    let emu = start(&dir.0);
    let a = Client::new(&emu);
    let b = Client::new(&emu);
    let tid = a.create_thread("Before", &[&b.user]);
    let mid = a.send(&tid, "kept");
    let t = enc(&tid);
    let c = emu.create_user();
    let before = (view(&a, &tid), emu.state());
    let refusing = common::fixtures::refuse_writes(&dir.0);
    let calls: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/chat/threads".into(),
            Some(json!({"topic": "New"})),
        ),
        (
            "POST",
            format!("/chat/threads/{t}/messages"),
            Some(json!({"content": "lost"})),
        ),
        (
            "PATCH",
            format!("/chat/threads/{t}"),
            Some(json!({"topic": "After"})),
        ),
        (
            "PATCH",
            format!("/chat/threads/{t}/messages/{mid}"),
            Some(json!({"content": "edited"})),
        ),
        ("DELETE", format!("/chat/threads/{t}/messages/{mid}"), None),
        (
            "POST",
            format!("/chat/threads/{t}/readReceipts"),
            Some(json!({"chatMessageId": mid})),
        ),
        (
            "POST",
            format!("/chat/threads/{t}/participants/:add"),
            Some(json!({"participants": [participant(&c, "C")]})),
        ),
        (
            "POST",
            format!("/chat/threads/{t}/participants/:remove"),
            Some(json!({"communicationUser": {"id": b.user}})),
        ),
        ("DELETE", format!("/chat/threads/{t}"), None),
    ];
    for (method, path, body) in &calls {
        let r = a.call(method, path, V2025, body.as_ref());
        r.expect_error(500, "InternalServerError");
        assert!(
            !r.text.contains(&a.token),
            "{method} {path}: the error shows the token: {}",
            r.text
        );
    }
    let mut after = (view(&a, &tid), emu.state());
    assert_eq!(after.0, before.0, "the thread changed under refused writes");
    assert_eq!(
        after.1["threads"], before.1["threads"],
        "/emulator/state threads changed"
    );
    assert_eq!(
        after.1["users"], before.1["users"],
        "/emulator/state users changed"
    );
    common::fixtures::allow_writes(&refusing);
    drop((emu, refusing));
    let emu = start(&dir.0);
    after = (view(&on(&emu, &a), &tid), emu.state());
    assert_eq!(
        after.0, before.0,
        "after a restart the thread differs from what was acknowledged"
    );
    assert_eq!(
        after.1["users"], before.1["users"],
        "after a restart the users differ"
    );
}
