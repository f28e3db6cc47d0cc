//! `--rate-limits` over the wire: every chat operation the service's table limits answers
//! 429 `TooManyRequests` with `Retry-After` once past its documented count, where the
//! operations the page lists together share one budget. The window is stretched to 10
//! minutes so nothing leaves it while a case runs (no timing in the assertions).

mod common;

use std::time::Duration;

use acs_chat_emulator::Emulator;
use common::{enc, participant, Client, Reply};
use serde_json::json;

fn throttled_emulator() -> Emulator {
    Emulator::builder()
        .rate_limit_window(Duration::from_secs(600))
        .start()
        .expect("emulator")
}

#[track_caller]
fn expect_throttled(r: &Reply, what: &str) {
    assert_eq!(
        r.status, 429,
        "{what}: expected 429, got {} {}",
        r.status, r.text
    );
    r.expect_error(429, "TooManyRequests");
    let secs: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no Retry-After seconds: {:?}", r.headers));
    assert!(secs >= 1, "{what}: Retry-After {secs}");
}

#[track_caller]
fn expect_ok(r: &Reply, what: &str) {
    assert!(
        (200..300).contains(&r.status),
        "{what}: expected success within the rate, got {} {}",
        r.status,
        r.text
    );
}

/// A thread of `a` with `b`, and one message of `a`'s.
struct Room {
    emu: Emulator,
    a: Client,
    b: Client,
    t: String,
    mid: String,
}

fn room() -> Room {
    let emu = throttled_emulator();
    let a = Client::new(&emu);
    let b = Client::new(&emu);
    let tid = a.create_thread("limits", &[&b.user]);
    let mid = a.send(&tid, "first");
    Room {
        t: enc(&tid),
        emu,
        a,
        b,
        mid,
    }
}

/// Each single-budget operation: `count` calls pass, the next is throttled.
#[test]
fn each_limited_chat_operation_answers_429_past_its_count() {
    type Call = fn(&Room, usize) -> Reply;
    let cases: [(&str, usize, Call); 7] = [
        // One creation was spent by `room()`.
        ("create thread (per user)", 9, |r, _| {
            r.a.post("/chat/threads", &json!({"topic": "more"}))
        }),
        ("update thread (per thread)", 5, |r, i| {
            r.a.patch(
                &format!("/chat/threads/{}", r.t),
                &json!({"topic": format!("t{i}")}),
            )
        }),
        ("get message (per user and thread)", 50, |r, _| {
            r.a.get(&format!("/chat/threads/{}/messages/{}", r.t, r.mid))
        }),
        ("list read receipts (per user and thread)", 5, |r, _| {
            r.a.get(&format!("/chat/threads/{}/readReceipts", r.t))
        }),
        ("list participants (per user and thread)", 10, |r, _| {
            r.a.get(&format!("/chat/threads/{}/participants", r.t))
        }),
        ("send read receipt (per user and thread)", 10, |r, _| {
            r.b.post(
                &format!("/chat/threads/{}/readReceipts", r.t),
                &json!({"chatMessageId": r.mid}),
            )
        }),
        ("list messages (per user and thread)", 50, |r, _| {
            r.a.get(&format!("/chat/threads/{}/messages", r.t))
        }),
    ];
    for (name, count, call) in cases {
        let r = room();
        for i in 0..count {
            expect_ok(&call(&r, i), &format!("{name} #{i}"));
        }
        expect_throttled(&call(&r, count), name);
    }
}

/// Get thread and list threads share 50 per user; another user is not affected.
#[test]
fn get_and_list_threads_share_one_budget_per_user() {
    let r = room();
    for i in 0..50 {
        let reply = if i % 2 == 0 {
            r.a.get(&format!("/chat/threads/{}", r.t))
        } else {
            r.a.get("/chat/threads")
        };
        expect_ok(&reply, &format!("get/list #{i}"));
    }
    expect_throttled(&r.a.get("/chat/threads"), "the 51st get/list");
    expect_ok(&r.b.get("/chat/threads"), "another user");
}

/// Send, update and delete message share 10 per thread, whoever calls.
#[test]
fn send_update_delete_message_share_one_budget_per_thread() {
    let r = room();
    // `room()` spent one send.
    let messages = format!("/chat/threads/{}/messages", r.t);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(r.a.send(&enc_back(&r.t), "within"));
    }
    for id in &ids[..3] {
        let reply =
            r.a.patch(&format!("{messages}/{id}"), &json!({"content": "edited"}));
        expect_ok(&reply, "update");
    }
    expect_ok(&r.a.delete(&format!("{messages}/{}", ids[3])), "delete");
    expect_ok(&r.a.delete(&format!("{messages}/{}", ids[2])), "delete");
    expect_throttled(
        &r.b.post(&messages, &json!({"content": "the 11th"})),
        "another user's send on the same thread",
    );
    expect_throttled(
        &r.a.delete(&format!("{messages}/{}", ids[0])),
        "a delete past 10",
    );
}

/// The thread id back from its path segment.
fn enc_back(t: &str) -> String {
    t.replace("%3A", ":").replace("%40", "@")
}

/// Add and remove participants share 10 per thread.
#[test]
fn add_and_remove_participants_share_one_budget_per_thread() {
    let r = room();
    let c = r.emu.create_user();
    let add = format!("/chat/threads/{}/participants/:add", r.t);
    let remove = format!("/chat/threads/{}/participants/:remove", r.t);
    for i in 0..10 {
        let reply = if i % 2 == 0 {
            r.a.post(&add, &json!({"participants": [participant(&c, "C")]}))
        } else {
            r.a.post(&remove, &json!({"communicationUser": {"id": c}}))
        };
        expect_ok(&reply, &format!("add/remove #{i}"));
    }
    expect_throttled(
        &r.b.post(&add, &json!({"participants": [participant(&c, "C")]})),
        "the 11th add/remove",
    );
}

/// Delete thread: 10 per user, across threads.
#[test]
fn delete_thread_answers_429_past_ten_per_user() {
    let emu = throttled_emulator();
    let a = Client::new(&emu);
    let b = Client::new(&emu);
    let c = Client::new(&emu);
    let mut threads: Vec<String> = (0..10)
        .map(|i| b.create_thread(&format!("b{i}"), &[&a.user]))
        .collect();
    threads.push(c.create_thread("c", &[&a.user]));
    for (i, t) in threads[..10].iter().enumerate() {
        expect_ok(
            &a.delete(&format!("/chat/threads/{}", enc(t))),
            &format!("delete #{i}"),
        );
    }
    expect_throttled(
        &a.delete(&format!("/chat/threads/{}", enc(&threads[10]))),
        "the 11th delete",
    );
}

/// Typing: 5 per user and thread, and 10 per thread whoever types.
#[test]
fn typing_answers_429_past_ten_per_thread() {
    let r = room();
    let c = Client::new(&r.emu);
    let add = format!("/chat/threads/{}/participants/:add", r.t);
    r.a.post(&add, &json!({"participants": [participant(&c.user, "C")]}))
        .expect(201);
    let typing = format!("/chat/threads/{}/typing", r.t);
    for who in [&r.a, &r.b] {
        for i in 0..5 {
            expect_ok(&who.post(&typing, &json!({})), &format!("typing #{i}"));
        }
    }
    expect_throttled(
        &c.post(&typing, &json!({})),
        "a third user on a full thread",
    );
}

/// Without `--rate-limits` none of these operations is throttled.
#[test]
fn no_rate_limits_by_default() {
    let emu = Emulator::start().expect("emulator");
    let a = Client::new(&emu);
    let tid = a.create_thread("free", &[]);
    let t = enc(&tid);
    for i in 0..12 {
        a.patch(
            &format!("/chat/threads/{t}"),
            &json!({"topic": format!("t{i}")}),
        )
        .expect(204);
        a.get(&format!("/chat/threads/{t}/readReceipts"))
            .expect(200);
        a.get(&format!("/chat/threads/{t}/participants"))
            .expect(200);
    }
}
