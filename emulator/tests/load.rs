//! Load: many clients sending into one thread at once lose nothing.

mod common;

use std::collections::HashSet;

use acs_chat_emulator::Emulator;
use common::{enc, Client, V2024};

const CLIENTS: usize = 8;
const SENDS: usize = 1_000;

/// 8 clients × 1,000 sends into one thread: contiguous sequenceIds, every message listed once.
#[test]
fn concurrent_sends_keep_sequence_contiguous_and_lose_nothing() {
    let emu = Emulator::start().expect("emulator");
    let owner = Client::new(&emu);
    let members: Vec<Client> = (0..CLIENTS).map(|_| Client::new(&emu)).collect();
    let ids: Vec<&str> = members.iter().map(|c| c.user.as_str()).collect();
    let tid = owner.create_thread("load", &ids);
    let sent: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = members
            .iter()
            .enumerate()
            .map(|(n, c)| {
                let tid = tid.as_str();
                s.spawn(move || {
                    (0..SENDS)
                        .map(|i| c.send(tid, &format!("client {n} message {i}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sender thread"))
            .collect()
    });
    let sent: Vec<String> = sent.into_iter().flatten().collect();
    let unique_sent: HashSet<&String> = sent.iter().collect();
    assert_eq!(unique_sent.len(), CLIENTS * SENDS, "duplicate message ids");
    let (items, pages) = owner.walk(
        &format!("/chat/threads/{}/messages?maxPageSize=200", enc(&tid)),
        V2024,
    );
    let total = CLIENTS * SENDS + 2;
    assert_eq!(
        items.len(),
        total,
        "listed {} of {total} in {pages} pages",
        items.len()
    );
    let mut seqs: Vec<u64> = items
        .iter()
        .map(|m| {
            m["sequenceId"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad sequenceId in {m}"))
        })
        .collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (1..=total as u64).collect();
    assert!(
        seqs == expected,
        "sequenceIds are not 1..={total} exactly once"
    );
    let listed: HashSet<&str> = items.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(listed.len(), total, "a message is listed twice");
    for id in &sent {
        assert!(listed.contains(id.as_str()), "sent message {id} not listed");
    }
    assert!(
        emu.connection_count() <= (CLIENTS + 1) as u64 * 2,
        "{} connections for {} keep-alive clients",
        emu.connection_count(),
        CLIENTS + 1
    );
}
