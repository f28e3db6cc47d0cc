//! The change feeds against the emulator: exactly once across resume, concurrency and
//! faults; coalescing; bounded memory; stopping; 403/404 endings; and the inbox.

#[allow(dead_code)]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acs_chat::{
    ChatClient, ChatClientOptions, ChatMessage, ChatParticipant, ChatThreadClient,
    CommunicationIdentifier, Error, RetryOptions, ThreadEvent, TransportOptions,
    UpdateMessageOptions, WatchCursor, WatchOptions,
};
use acs_chat_emulator::{Emulator, Faults};
use common::{chaos_faults, chat_client, chat_client_with, new_thread_client};

fn fast() -> WatchOptions {
    WatchOptions {
        poll_interval: Duration::from_millis(10),
        max_poll_interval: Duration::from_millis(40),
        retry: RetryOptions {
            max_retries: 50,
            initial_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        },
        ..Default::default()
    }
}

fn text(m: &ChatMessage) -> String {
    m.content
        .as_ref()
        .and_then(|c| c.message.clone())
        .unwrap_or_default()
}

fn edit(thread: &ChatThreadClient, id: &str, content: &str) -> acs_chat::Result<()> {
    thread.update_message(
        id,
        Some(UpdateMessageOptions {
            content: Some(content.into()),
            ..Default::default()
        }),
    )
}

/// What a watch handed out, per message id: the (kind, version) of each event in order.
#[derive(Default, Debug)]
struct Heard {
    by_id: BTreeMap<String, Vec<(&'static str, i64, String)>>,
}

impl Heard {
    fn add(&mut self, event: &ThreadEvent) {
        let kind = match event {
            ThreadEvent::MessageReceived(_) => "received",
            ThreadEvent::MessageEdited(_) => "edited",
            ThreadEvent::MessageDeleted(_) => "deleted",
            _ => "system",
        };
        if let Some(m) = event.message() {
            let version = m.version.parse().expect("numeric version");
            self.by_id
                .entry(m.id.clone())
                .or_default()
                .push((kind, version, text(m)));
        }
    }

    /// Checks the promise against the final listing: every message created after `since`
    /// (all, for 0) was heard, its last event carries its final version and content, no
    /// version was heard twice, and versions only grew. Returns the problems.
    fn check(&self, thread: &ChatThreadClient, since: i64) -> Vec<String> {
        let final_list: Vec<ChatMessage> = thread
            .list_messages(None)
            .collect::<acs_chat::Result<_>>()
            .expect("final listing");
        let mut problems = Vec::new();
        for m in &final_list {
            let version: i64 = m.version.parse().expect("numeric");
            if version <= since {
                continue;
            }
            let Some(events) = self.by_id.get(&m.id) else {
                problems.push(format!("message {} (version {version}) never heard", m.id));
                continue;
            };
            let (kind, last_version, last_text) = events.last().expect("non-empty");
            if *last_version != version || *last_text != text(m) {
                problems.push(format!(
                    "message {}: last heard {kind} v{last_version} {last_text:?}, final v{version} {:?}",
                    m.id,
                    text(m)
                ));
            }
            if m.deleted_on.is_some() && *kind != "deleted" {
                problems.push(format!("message {} deleted but last heard {kind}", m.id));
            }
            let created: i64 = m.id.parse().expect("numeric id");
            if created > since && m.deleted_on.is_none() {
                let received = events.iter().filter(|e| e.0 == "received").count();
                if received != 1 || events[0].0 != "received" && events[0].0 != "system" {
                    problems.push(format!("message {}: events {events:?}", m.id));
                }
            }
            if events.iter().any(|e| e.2.is_empty() && e.0 == "received") {
                problems.push(format!("message {}: received with empty content", m.id));
            }
            if events.windows(2).any(|w| w[0].1 >= w[1].1) {
                problems.push(format!(
                    "message {}: versions not increasing {events:?}",
                    m.id
                ));
            }
        }
        problems
    }
}

/// Reads events until `done` says so, failing on errors or after `limit`.
fn read_until(
    watcher: &mut impl Iterator<Item = acs_chat::Result<ThreadEvent>>,
    heard: &mut Heard,
    limit: Duration,
    mut done: impl FnMut(&ThreadEvent) -> bool,
) {
    let deadline = Instant::now() + limit;
    for event in watcher {
        let event = event.expect("watch event");
        heard.add(&event);
        if done(&event) {
            return;
        }
        assert!(Instant::now() < deadline, "no end event within {limit:?}");
    }
    panic!("watch ended early");
}

/// The newest version in the thread now.
fn top_version(thread: &ChatThreadClient) -> i64 {
    thread
        .list_messages(None)
        .next()
        .expect("a message")
        .expect("ok")
        .version
        .parse()
        .expect("numeric")
}

fn is_text(event: &ThreadEvent, want: &str) -> bool {
    matches!(event, ThreadEvent::MessageReceived(m) if text(m) == want)
}

/// Two edits between polls are one Edited with the latest text; sent-and-deleted is one Deleted.
#[test]
fn changes_since_coalesces_edits_and_deletes_between_polls() {
    let emu = Emulator::start().expect("emulator");
    let (_u, token) = emu.user_with_token();
    let thread = new_thread_client(&chat_client(&emu.endpoint(), &token), "coalesce");
    let kept = thread.send_message("v1", None).expect("send").id;
    let (_history, cursor) = thread.changes_since(None).expect("history");
    edit(&thread, &kept, "v2").expect("edit");
    edit(&thread, &kept, "v3").expect("edit");
    let gone = thread.send_message("oops", None).expect("send").id;
    thread.delete_message(&gone).expect("delete");
    let (events, _) = thread.changes_since(Some(&cursor)).expect("poll");
    match &events[..] {
        [ThreadEvent::MessageEdited(a), ThreadEvent::MessageDeleted(b)] => {
            assert_eq!((a.id.as_str(), text(a).as_str()), (kept.as_str(), "v3"));
            assert_eq!(b.id, gone);
        }
        other => panic!("expected [Edited v3, Deleted], got {other:?}"),
    }
}

/// An idle poll is one request; a poll over more changes than a page gets all of them.
#[test]
fn changes_since_costs_one_request_when_idle_and_pages_through_bursts() {
    let emu = Emulator::start().expect("emulator");
    let (_u, token) = emu.user_with_token();
    let thread = new_thread_client(&chat_client(&emu.endpoint(), &token), "cost");
    let (_, cursor) = thread.changes_since(None).expect("history");
    let before = emu.request_count();
    let (events, cursor) = thread.changes_since(Some(&cursor)).expect("idle poll");
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(emu.request_count() - before, 1, "requests for an idle poll");
    for n in 0..450 {
        thread.send_message(&format!("m{n}"), None).expect("send");
    }
    let (events, _) = thread.changes_since(Some(&cursor)).expect("burst poll");
    let texts: Vec<String> = events
        .iter()
        .filter_map(|e| e.message().map(text))
        .collect();
    let want: Vec<String> = (0..450).map(|n| format!("m{n}")).collect();
    assert_eq!(texts, want, "burst delivered oldest first, each once");
}

/// Stopping mid-batch and resuming from the saved cursor hears every change exactly once.
#[test]
fn watch_resumed_from_saved_cursor_hears_each_change_once() {
    let emu = Emulator::start().expect("emulator");
    let (_u, token) = emu.user_with_token();
    let thread = new_thread_client(&chat_client(&emu.endpoint(), &token), "resume");
    let start = thread.watch(Some(fast())).cursor();
    let since = top_version(&thread);
    for n in 0..30 {
        thread.send_message(&format!("m{n}"), None).expect("send");
    }
    let mut heard = Heard::default();
    let mut saved = start;
    // Three watches, each stopped after a few events (mid-batch), each resumed from text.
    for round in 0..3 {
        let options = WatchOptions {
            resume_from: Some(saved.to_string().parse::<WatchCursor>().expect("parse")),
            page_size: Some(7),
            ..fast()
        };
        let mut watcher = thread.watch(Some(options));
        for _ in 0..(7 + round) {
            let event = watcher.next().expect("event").expect("ok");
            heard.add(&event);
        }
        saved = watcher.cursor();
        watcher.stopper().stop();
        assert!(watcher.next().is_none(), "a stopped watch ends");
    }
    let mut watcher = thread.watch(Some(WatchOptions {
        resume_from: Some(saved),
        ..fast()
    }));
    thread.send_message("end", None).expect("send");
    read_until(&mut watcher, &mut heard, Duration::from_secs(30), |e| {
        is_text(e, "end")
    });
    let received: Vec<String> = heard
        .by_id
        .values()
        .flat_map(|v| v.iter().map(|e| e.2.clone()))
        .collect();
    assert_eq!(received.len(), 31, "events: {received:?}");
    let problems = heard.check(&thread, since);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Runs `senders` threads that send, edit and delete `ops` times each (errors tolerated),
/// while a watch listens; then checks the watch against the final listing.
fn busy_thread_is_heard_exactly_once(faults: Option<Faults>, senders: usize, ops: usize) {
    let emu = Arc::new(Emulator::start().expect("emulator"));
    let (_u, token) = emu.user_with_token();
    let options = ChatClientOptions {
        transport_options: TransportOptions {
            call_timeout: Duration::from_secs(20),
            retry: RetryOptions {
                max_retries: 5,
                initial_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let chat = chat_client_with(&emu.endpoint(), &token, options);
    let thread = new_thread_client(&chat, "busy");
    // Pages of 3: walks span several pages while others write, the case where a message
    // changed mid-walk must be left for the next poll.
    let mut watcher = thread.watch(Some(WatchOptions {
        page_size: Some(3),
        ..fast()
    }));
    let since = top_version(&thread);
    if let Some(f) = faults.clone() {
        emu.set_faults(f);
    }
    let workers: Vec<_> = (0..senders)
        .map(|w| {
            let thread = thread.clone();
            std::thread::spawn(move || {
                let mut mine: Vec<String> = Vec::new();
                let mut failed = 0usize;
                for n in 0..ops {
                    let ok = match n % 4 {
                        0 | 1 => match thread.send_message(&format!("w{w}-{n}"), None) {
                            Ok(s) => {
                                mine.push(s.id);
                                true
                            }
                            Err(_) => false,
                        },
                        2 => match mine.last() {
                            Some(id) => edit(&thread, id, &format!("w{w}-{n}-edited")).is_ok(),
                            None => true,
                        },
                        _ => match mine.first().cloned() {
                            Some(id) => {
                                let ok = thread.delete_message(&id).is_ok();
                                if ok {
                                    mine.remove(0);
                                }
                                ok
                            }
                            None => true,
                        },
                    };
                    failed += usize::from(!ok);
                }
                failed
            })
        })
        .collect();
    let mut heard = Heard::default();
    let listening = Arc::new(AtomicBool::new(true));
    let reader = {
        let listening = Arc::clone(&listening);
        std::thread::spawn(move || {
            let mut events = 0usize;
            for event in watcher.by_ref() {
                let event = event.expect("watch survives faults");
                heard.add(&event);
                events += 1;
                if is_text(&event, "end") {
                    break;
                }
            }
            listening.store(false, Ordering::SeqCst);
            (heard, events)
        })
    };
    let failed: usize = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    if faults.is_some() {
        // Proof the faults were on: some writes failed even after the client's retries.
        println!("writes that failed under faults: {failed}");
        assert!(failed > 0, "no write failed: were faults injected?");
    }
    emu.set_faults(Faults::default());
    thread.send_message("end", None).expect("send end");
    let (heard, events) = reader.join().expect("reader");
    assert!(!listening.load(Ordering::SeqCst));
    let problems = heard.check(&thread, since);
    assert!(
        problems.is_empty(),
        "{} problems in {events} events: {problems:#?}",
        problems.len()
    );
    assert!(events > senders * ops / 4, "only {events} events heard");
}

/// Concurrent senders, editors and deleters: every change heard exactly once, in order.
#[test]
fn watch_hears_concurrent_senders_editors_deleters_exactly_once() {
    busy_thread_is_heard_exactly_once(None, 4, 200);
}

/// The same with 20 % of requests failing in every way the emulator knows.
#[test]
fn watch_hears_every_change_exactly_once_under_20_percent_faults() {
    let faults = chaos_faults(11, Some(Duration::from_millis(20)));
    busy_thread_is_heard_exactly_once(Some(faults), 4, 120);
}

/// Over 10,000 events the cursor stays short and the buffer holds at most one poll's changes.
#[test]
fn watch_memory_stays_bounded_over_10000_events() {
    let emu = Emulator::start().expect("emulator");
    let (_u, token) = emu.user_with_token();
    let thread = new_thread_client(&chat_client(&emu.endpoint(), &token), "memory");
    let mut watcher = thread.watch(Some(fast()));
    let senders: Vec<_> = (0..4)
        .map(|w| {
            let thread = thread.clone();
            std::thread::spawn(move || {
                for n in 0..2500 {
                    thread
                        .send_message(&format!("{w}-{n}"), None)
                        .expect("send");
                }
            })
        })
        .collect();
    let (mut events, mut max_buffered, mut max_cursor) = (0usize, 0usize, 0usize);
    while events < 10_000 {
        let event = watcher.next().expect("event").expect("ok");
        assert!(
            matches!(event, ThreadEvent::MessageReceived(_)),
            "{event:?}"
        );
        events += 1;
        max_buffered = max_buffered.max(watcher.buffered());
        max_cursor = max_cursor.max(watcher.cursor().to_string().len());
    }
    for s in senders {
        s.join().expect("sender");
    }
    println!("10000 events: max buffered {max_buffered}, max cursor {max_cursor} chars");
    assert!(max_cursor <= 40, "cursor grew to {max_cursor} chars");
    assert!(
        max_buffered < 2_500,
        "buffer held {max_buffered} events (one poll's worth expected)"
    );
    assert_eq!(watcher.buffered(), 0);
}

/// stop() from another thread ends an idle, blocked next() promptly with None.
#[test]
fn stopper_ends_blocked_next_promptly() {
    let emu = Emulator::start().expect("emulator");
    let (_u, token) = emu.user_with_token();
    let thread = new_thread_client(&chat_client(&emu.endpoint(), &token), "stop");
    let mut watcher = thread.watch(Some(WatchOptions {
        poll_interval: Duration::from_secs(30),
        max_poll_interval: Duration::from_secs(60),
        ..Default::default()
    }));
    let stopper = watcher.stopper();
    let stopped_at = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300)); // let next() block first
        let at = Instant::now();
        stopper.stop();
        at
    });
    let event = watcher.next();
    let returned = Instant::now();
    let stopped_at = stopped_at.join().expect("stopper thread");
    let took = returned.saturating_duration_since(stopped_at);
    println!("stop → next() returned None in {took:?}");
    assert!(event.is_none(), "{event:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(watcher.next().is_none(), "stays ended");
}

/// A user removed from the thread gets the 403 once, then the watch ends.
#[test]
fn watch_ends_with_403_when_user_is_removed() {
    let emu = Emulator::start().expect("emulator");
    let (_owner, owner_token) = emu.user_with_token();
    let (guest, guest_token) = emu.user_with_token();
    let owner = new_thread_client(&chat_client(&emu.endpoint(), &owner_token), "removal");
    let guest_id = CommunicationIdentifier::communication_user(guest);
    owner
        .add_participant(&ChatParticipant::new(guest_id.clone()))
        .expect("add guest");
    let guest_chat = chat_client(&emu.endpoint(), &guest_token);
    let mut watcher = guest_chat
        .get_chat_thread_client(owner.thread_id())
        .expect("client")
        .watch(Some(fast()));
    owner.remove_participant(&guest_id).expect("remove guest");
    let mut last = None;
    for event in watcher.by_ref() {
        match event {
            Ok(_) => continue, // the removal's system message may come first
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    let e = last.expect("an error ends the watch");
    assert_eq!(e.status(), Some(403), "{e:?}");
    assert!(watcher.next().is_none(), "ended after the error");
}

/// A deleted thread ends the watch with its 404.
#[test]
fn watch_ends_with_404_when_thread_is_deleted() {
    let emu = Emulator::start().expect("emulator");
    let (_u, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    let thread = new_thread_client(&chat, "deleted");
    let mut watcher = thread.watch(Some(fast()));
    chat.delete_chat_thread(thread.thread_id()).expect("delete");
    let e = watcher
        .next()
        .expect("an item")
        .expect_err("an error ends the watch");
    assert_eq!(e.status(), Some(404), "{e:?}");
    assert!(watcher.next().is_none());
}

/// Bad options and cursors are typed errors before any request.
#[test]
fn watch_rejects_bad_options_without_sending() {
    let emu = Emulator::start().expect("emulator");
    let (_u, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    let thread = chat
        .get_chat_thread_client("19:x@thread.v2")
        .expect("client");
    let before = emu.request_count();
    let inbox_cursor = chat
        .watch(Some(WatchOptions {
            page_size: Some(500),
            ..Default::default()
        }))
        .cursor();
    for options in [
        WatchOptions {
            page_size: Some(0),
            ..Default::default()
        },
        WatchOptions {
            resume_from: Some(inbox_cursor.clone()),
            ..Default::default()
        },
    ] {
        let mut watcher = thread.watch(Some(options));
        let first = watcher.next();
        assert!(
            matches!(first, Some(Err(Error::InvalidArgument { .. }))),
            "{first:?}"
        );
        assert!(watcher.next().is_none());
    }
    assert!(matches!(
        thread.changes_since(Some(&inbox_cursor)),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(emu.request_count(), before, "requests sent");
}

/// Read receipts are delivered once each, not again on later polls.
#[test]
fn watch_delivers_each_read_receipt_once() {
    let emu = Emulator::start().expect("emulator");
    let (_u, token) = emu.user_with_token();
    let thread = new_thread_client(&chat_client(&emu.endpoint(), &token), "receipts");
    let mut watcher = thread.watch(Some(WatchOptions {
        include_read_receipts: true,
        read_receipt_interval: Duration::from_millis(20),
        ..fast()
    }));
    let first = thread.send_message("read me", None).expect("send").id;
    thread.send_read_receipt(&first).expect("receipt");
    let mut receipts: Vec<String> = Vec::new();
    let mut heard = Heard::default();
    read_until(&mut watcher, &mut heard, Duration::from_secs(20), |e| {
        if let ThreadEvent::ReadReceipt(r) = e {
            receipts.push(r.chat_message_id.clone());
        }
        receipts.len() == 1
    });
    thread.send_message("end", None).expect("send");
    read_until(&mut watcher, &mut heard, Duration::from_secs(20), |e| {
        if let ThreadEvent::ReadReceipt(r) = e {
            receipts.push(r.chat_message_id.clone());
        }
        is_text(e, "end")
    });
    assert_eq!(receipts, [first], "receipts heard");
}

fn inbox_events(
    inbox: &mut acs_chat::InboxWatcher,
    limit: Duration,
    mut done: impl FnMut(&acs_chat::InboxEvent) -> bool,
) -> Vec<acs_chat::InboxEvent> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    for event in inbox.by_ref() {
        let event = event.expect("inbox event");
        let stop = done(&event);
        seen.push(event);
        if stop {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "not done within {limit:?}: {seen:#?}"
        );
    }
    panic!("inbox ended early: {seen:#?}");
}

/// The inbox finds a thread created or joined later, its messages, edits in quiet threads,
/// and threads left or deleted.
#[test]
fn inbox_discovers_new_and_removed_threads() {
    let emu = Emulator::start().expect("emulator");
    let (me, token) = emu.user_with_token();
    let (_other, other_token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    let other = chat_client(&emu.endpoint(), &other_token);
    let quiet = new_thread_client(&chat, "quiet");
    let old_id = quiet.send_message("old", None).expect("send").id;
    let doomed = new_thread_client(&chat, "doomed");
    let mut inbox = chat.watch(Some(WatchOptions {
        sweep_interval: Duration::from_millis(200),
        ..fast()
    }));
    // Joined: another user creates a thread with me in it, and writes.
    let me_id = CommunicationIdentifier::communication_user(me);
    let shared = new_thread_client(&other, "shared");
    shared
        .add_participant(&ChatParticipant::new(me_id.clone()))
        .expect("add me");
    shared.send_message("welcome", None).expect("send");
    let seen = inbox_events(&mut inbox, Duration::from_secs(20), |e| {
        e.thread_id == shared.thread_id()
            && matches!(&e.event, ThreadEvent::MessageReceived(m) if text(m) == "welcome")
    });
    let mine: Vec<&ThreadEvent> = seen
        .iter()
        .filter(|e| e.thread_id == shared.thread_id())
        .map(|e| &e.event)
        .collect();
    assert!(
        matches!(mine.first(), Some(ThreadEvent::ThreadJoined(_))),
        "joined first: {mine:#?}"
    );
    // An edit in a quiet thread is found by the sweep.
    edit(&quiet, &old_id, "old, edited").expect("edit");
    inbox_events(&mut inbox, Duration::from_secs(20), |e| {
        e.thread_id == quiet.thread_id()
            && matches!(&e.event, ThreadEvent::MessageEdited(m) if text(m) == "old, edited")
    });
    // Removed from one thread, another deleted.
    shared.remove_participant(&me_id).expect("remove me");
    chat.delete_chat_thread(doomed.thread_id()).expect("delete");
    let mut ended: HashMap<String, &'static str> = HashMap::new();
    inbox_events(&mut inbox, Duration::from_secs(20), |e| {
        match e.event {
            ThreadEvent::ThreadLeft => {
                ended.insert(e.thread_id.clone(), "left");
            }
            ThreadEvent::ThreadDeleted => {
                ended.insert(e.thread_id.clone(), "deleted");
            }
            _ => {}
        }
        ended.len() == 2
    });
    assert_eq!(ended.get(shared.thread_id()), Some(&"left"), "{ended:?}");
    assert_eq!(ended.get(doomed.thread_id()), Some(&"deleted"), "{ended:?}");
    let cursor = inbox.cursor().to_string();
    assert!(
        cursor.contains(quiet.thread_id()) && !cursor.contains(doomed.thread_id()),
        "{cursor}"
    );
}

/// An inbox resumed from its saved cursor hears what happened meanwhile, once.
#[test]
fn inbox_resumed_from_cursor_hears_changes_once() {
    let emu = Emulator::start().expect("emulator");
    let (_u, token) = emu.user_with_token();
    let chat: ChatClient = chat_client(&emu.endpoint(), &token);
    let a = new_thread_client(&chat, "a");
    let inbox = chat.watch(Some(fast()));
    let saved = inbox.cursor();
    drop(inbox);
    a.send_message("while away", None).expect("send");
    let b = new_thread_client(&chat, "b");
    b.send_message("in b", None).expect("send");
    let mut resumed = chat.watch(Some(WatchOptions {
        resume_from: Some(saved),
        ..fast()
    }));
    let mut got: Vec<(String, String)> = Vec::new();
    inbox_events(&mut resumed, Duration::from_secs(20), |e| {
        let what = match &e.event {
            ThreadEvent::MessageReceived(m) => text(m),
            ThreadEvent::ThreadJoined(_) => "joined".into(),
            _ => return false,
        };
        got.push((e.thread_id.clone(), what));
        got.iter().any(|g| g.1 == "while away") && got.iter().any(|g| g.1 == "in b")
    });
    let a_events: Vec<&String> = got
        .iter()
        .filter(|g| g.0 == a.thread_id())
        .map(|g| &g.1)
        .collect();
    assert_eq!(a_events, ["while away"], "thread a: {got:?}");
    assert_eq!(
        got.iter()
            .find(|g| g.0 == b.thread_id())
            .map(|g| g.1.as_str()),
        Some("joined"),
        "thread b starts with joined: {got:?}"
    );
}
