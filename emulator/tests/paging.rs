//! Wire-level tests of paging: page sizes, nextLink form, and walks that stay exact while
//! others write.

mod common;

use std::collections::HashSet;

use acs_chat_emulator::Emulator;
use common::{enc, Client, V2024, V2025};
use serde_json::{json, Value};

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect()
}

/// Default page size is 10; nextLink is absolute on the emulator, alphanumeric continuation,
/// keeps maxPageSize, and is absent (not null) on the last page.
#[test]
fn list_messages_pages_with_absolute_next_link() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Paging", &[]);
    for i in 0..9 {
        c.send(&tid, &format!("m{i}"));
    }
    // 2 system messages + 9 = 11: a page of 10, then 1.
    let first = c
        .get(&format!("/chat/threads/{}/messages", enc(&tid)))
        .json();
    assert_eq!(first["value"].as_array().map(Vec::len), Some(10));
    let link = first["nextLink"].as_str().expect("nextLink").to_string();
    let prefix = format!("{}/chat/threads/{tid}/messages?syncState=", emu.endpoint());
    assert!(link.starts_with(&prefix), "nextLink {link}");
    let state = link[prefix.len()..].split('&').next().unwrap_or("");
    assert!(
        !state.is_empty() && state.bytes().all(|b| b.is_ascii_alphanumeric()),
        "continuation {state:?}"
    );
    assert!(link.contains("maxPageSize=10"), "{link}");
    assert!(link.contains(&format!("api-version={V2024}")), "{link}");
    let second = c.send_url("GET", &link, None).json();
    assert_eq!(
        second["value"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert!(
        second.get("nextLink").is_none(),
        "last page has nextLink: {second}"
    );
    assert_eq!(second["value"][0]["sequenceId"], "1");
}

/// maxPageSize outside 1..=200 or not a number is a 400; 200 is accepted.
#[test]
fn list_rejects_invalid_page_sizes() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Sizes", &[]);
    for bad in ["0", "-1", "201", "abc", "1.5"] {
        for path in [
            format!("/chat/threads?maxPageSize={bad}"),
            format!("/chat/threads/{}/messages?maxPageSize={bad}", enc(&tid)),
            format!("/chat/threads/{}/participants?maxPageSize={bad}", enc(&tid)),
            format!("/chat/threads/{}/readReceipts?maxPageSize={bad}", enc(&tid)),
        ] {
            c.get(&path).expect_error(400, "BadRequest");
        }
    }
    c.get(&format!("/chat/threads/{}/participants?skip=-1", enc(&tid)))
        .expect_error(400, "BadRequest");
    c.get(&format!(
        "/chat/threads/{}/messages?syncState=zz",
        enc(&tid)
    ))
    .expect_error(400, "BadRequest");
    c.get(&format!(
        "/chat/threads/{}/messages?startTime=yesterday",
        enc(&tid)
    ))
    .expect_error(400, "BadRequest");
    c.get(&format!(
        "/chat/threads/{}/messages?maxPageSize=200",
        enc(&tid)
    ))
    .expect(200);
}

/// A follow-up request may carry another supported api-version (SDKs replace it).
#[test]
fn next_link_accepts_other_api_version() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Versions", &[]);
    c.send(&tid, "a");
    let first = c
        .get(&format!(
            "/chat/threads/{}/messages?maxPageSize=1",
            enc(&tid)
        ))
        .json();
    let link = first["nextLink"].as_str().expect("nextLink");
    let swapped = link.replace(
        &format!("api-version={V2024}"),
        &format!("api-version={V2025}"),
    );
    let r = c.send_url("GET", &swapped, None);
    r.expect(200);
    assert_eq!(r.json()["value"].as_array().map(Vec::len), Some(1));
}

/// startTime is a lower bound on createdOn and is kept in nextLink.
#[test]
fn list_messages_start_time_filters_and_is_kept() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Start", &[]);
    let (all, _) = c.walk(&format!("/chat/threads/{}/messages", enc(&tid)), V2024);
    assert_eq!(all.len(), 2);
    let future = "2999-01-01T00%3A00%3A00.000Z";
    let none = c
        .get(&format!(
            "/chat/threads/{}/messages?startTime={future}",
            enc(&tid)
        ))
        .json();
    assert_eq!(none["value"], json!([]), "{none}");
    for i in 0..3 {
        c.send(&tid, &format!("m{i}"));
    }
    let past = "2000-01-01T00%3A00%3A00Z";
    let page = c
        .get(&format!(
            "/chat/threads/{}/messages?startTime={past}&maxPageSize=2",
            enc(&tid)
        ))
        .json();
    let link = page["nextLink"].as_str().expect("nextLink");
    assert!(
        link.contains("startTime=2000-01-01T00%3A00%3A00.000Z"),
        "{link}"
    );
    let (walked, pages) = c.walk(
        &format!(
            "/chat/threads/{}/messages?startTime={past}&maxPageSize=2",
            enc(&tid)
        ),
        V2024,
    );
    assert_eq!((walked.len(), pages), (5, 3));
}

/// Walking messages while others send and edit: every message that existed when the walk
/// started is listed exactly once, in the order it had then.
#[test]
fn list_messages_walk_is_stable_under_concurrent_writes() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Stable", &[]);
    let mut sent = Vec::new();
    for i in 0..40 {
        sent.push(c.send(&tid, &format!("m{i}")));
    }
    let before: Vec<String> = ids(&c
        .walk(
            &format!("/chat/threads/{}/messages?maxPageSize=200", enc(&tid)),
            V2024,
        )
        .0);
    assert_eq!(before.len(), 42);
    let mut r = c.get(&format!(
        "/chat/threads/{}/messages?maxPageSize=7",
        enc(&tid)
    ));
    let mut seen = Vec::new();
    let mut round = 0;
    loop {
        r.expect(200);
        let v = r.json();
        seen.extend(ids(v["value"].as_array().expect("value")));
        // Between pages: new messages, and edits of messages not yet reached (and reached).
        c.send(&tid, &format!("late {round}"));
        let victim = &sent[round % sent.len()];
        c.patch(
            &format!("/chat/threads/{}/messages/{victim}", enc(&tid)),
            &json!({"content": format!("edited {round}")}),
        )
        .expect(204);
        round += 1;
        match v.get("nextLink").and_then(Value::as_str) {
            Some(link) => r = c.send_url("GET", link, None),
            None => break,
        }
    }
    assert_eq!(
        seen, before,
        "walk under writes differs from the snapshot order"
    );
}

/// Threads are paged by last activity with a stable cursor while threads are created and
/// become active.
#[test]
fn list_threads_walk_is_stable_under_concurrent_writes() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let mut made = Vec::new();
    for i in 0..12 {
        made.push(c.create_thread(&format!("t{i}"), &[]));
    }
    let before = ids(&c.walk("/chat/threads?maxPageSize=200", V2024).0);
    assert_eq!(before.len(), 12);
    let mut r = c.get("/chat/threads?maxPageSize=5");
    let mut seen = Vec::new();
    let mut round = 0;
    loop {
        r.expect(200);
        let v = r.json();
        seen.extend(ids(v["value"].as_array().expect("value")));
        c.create_thread(&format!("late {round}"), &[]);
        c.send(&made[round], "activity");
        round += 1;
        match v.get("nextLink").and_then(Value::as_str) {
            Some(link) => {
                assert!(link.contains("maxPageSize=5"), "{link}");
                r = c.send_url("GET", link, None)
            }
            None => break,
        }
    }
    assert_eq!(
        seen, before,
        "thread walk under writes differs from the snapshot"
    );
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}

/// Participants and read receipts page by skip, with nextLink `skip=N&maxPageSize=M`.
#[test]
fn list_participants_pages_by_skip() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let others: Vec<String> = (0..4).map(|_| emu.create_user()).collect();
    let refs: Vec<&str> = others.iter().map(String::as_str).collect();
    let tid = c.create_thread("Many", &refs);
    let first = c
        .get(&format!(
            "/chat/threads/{}/participants?maxPageSize=2&skip=0",
            enc(&tid)
        ))
        .json();
    let link = first["nextLink"].as_str().expect("nextLink");
    assert_eq!(
        link,
        format!(
            "{}/chat/threads/{tid}/participants?skip=2&maxPageSize=2&api-version={V2024}",
            emu.endpoint()
        )
    );
    let (all, pages) = c.walk(
        &format!("/chat/threads/{}/participants?maxPageSize=2", enc(&tid)),
        V2024,
    );
    assert_eq!((all.len(), pages), (5, 3));
    let skipped = c
        .get(&format!("/chat/threads/{}/participants?skip=4", enc(&tid)))
        .json();
    assert_eq!(
        skipped["value"].as_array().map(Vec::len),
        Some(1),
        "{skipped}"
    );
    let beyond = c
        .get(&format!("/chat/threads/{}/participants?skip=99", enc(&tid)))
        .json();
    assert_eq!(beyond, json!({"value": []}));
    // Read receipts page the same way.
    let mid = c.send(&tid, "read me");
    for u in &others {
        let token = emu.issue_token(u, &["chat"], std::time::Duration::from_secs(600));
        c.with_token(&token)
            .post(
                &format!("/chat/threads/{}/readReceipts", enc(&tid)),
                &json!({"chatMessageId": mid}),
            )
            .expect(200);
    }
    let (receipts, pages) = c.walk(
        &format!("/chat/threads/{}/readReceipts?maxPageSize=3", enc(&tid)),
        V2024,
    );
    assert_eq!((receipts.len(), pages), (4, 2));
}
