//! End to end over Event Grid webhooks: the emulator publishes, a seeded loopback webhook
//! that fails 20 % of deliveries (500s, or no answer until the 30 s limit, scaled down)
//! receives, and a bot built on `WebhookHandler` + `Deduplicator` answers each
//! `ChatMessageReceived` through the SDK exactly once. Also measures delivery latency and
//! throughput on a healthy webhook.

use acs_chat_emulator::test_webhook as webhook;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use acs_chat::events::{
    ChatEventData, Deduplicator, WebhookHandler, WebhookOptions, WebhookRequestKind,
};
use acs_chat::{
    ChatClient, ChatMessage, ChatParticipant, ChatThreadClient, CommunicationIdentifier,
    CommunicationTokenCredential, CreateChatThreadOptions, SendMessageOptions,
};
use acs_chat_emulator::{Emulator, SubscriptionOptions};
use webhook::{Answer, Delivery};

const SENDERS: usize = 3;
const THREADS: usize = 10;
const MESSAGES: usize = 1000;

fn client(emu: &Emulator) -> (CommunicationIdentifier, ChatClient) {
    let (user, token) = emu.user_with_token();
    let chat = ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(token).expect("token"),
    )
    .expect("client");
    (CommunicationIdentifier::from_raw_id(&user), chat)
}

/// SplitMix64 of (seed, n): the webhook's reproducible coin.
fn coin(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn answer(r: acs_chat::events::WebhookResponse) -> Answer {
    Answer::Status(r.status, r.headers.clone(), r.body.clone())
}

/// What the bot saw.
#[derive(Default)]
struct Seen {
    /// Distinct event ids delivered (after dedup).
    ids: HashSet<String>,
    /// (type, message id or thread id, recipient raw id or "") of every distinct event.
    keys: HashSet<(String, String, String)>,
    /// Messages the bot handled (ChatMessageReceived for it), with how often.
    handled: HashMap<String, usize>,
    /// Duplicate deliveries the deduplicator dropped.
    duplicates: usize,
}

fn key_of(data: &ChatEventData, event_type: &str) -> (String, String, String) {
    let short = event_type
        .trim_start_matches("Microsoft.Communication.")
        .to_string();
    let recipient = data.recipient().map(|r| r.raw_id()).unwrap_or_default();
    let subject = match data {
        ChatEventData::MessageReceived(m) => m.message_id.clone(),
        ChatEventData::MessageReceivedInThread(m) => m.message_id.clone(),
        other => other.thread_id().unwrap_or_default().to_string(),
    };
    (short, subject, recipient)
}

/// 1,000 messages from 3 senders in 10 threads, 20 % of deliveries failing: every event the
/// fan-out implies arrives at least once, the bot handles each message exactly once, and no
/// reply is duplicated.
#[test]
fn webhook_bot_handles_each_event_once_despite_failing_deliveries() {
    let emu = Emulator::start().expect("emulator");
    let (bot_id, bot_chat) = client(&emu);
    let senders: Vec<(CommunicationIdentifier, ChatClient)> =
        (0..SENDERS).map(|_| client(&emu)).collect();

    let handler = Arc::new(WebhookHandler::new(WebhookOptions::default()));
    let dedup = Arc::new(Deduplicator::new(100_000));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let threads: Arc<Mutex<HashMap<String, ChatThreadClient>>> = Arc::default();
    let (progress_tx, progress_rx) = channel::<()>();
    let progress_tx = Mutex::new(progress_tx);
    let requests = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    const SEED: u64 = 0x00C0_FFEE;

    let hook = {
        let (handler, dedup, seen, threads) = (
            Arc::clone(&handler),
            Arc::clone(&dedup),
            Arc::clone(&seen),
            Arc::clone(&threads),
        );
        let (requests, failures) = (Arc::clone(&requests), Arc::clone(&failures));
        let bot_raw = bot_id.raw_id();
        webhook::start(move |d: &Delivery| {
            let headers = d.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            let out = handler.handle(&d.method, &d.path, headers, &d.body);
            if !matches!(out.kind, WebhookRequestKind::Notification) {
                return answer(out.response);
            }
            let n = requests.fetch_add(1, Ordering::SeqCst);
            // 0–9: 500 before handling; 10–14: handle, then 500 (a crash after the work);
            // 15–19: handle, then never answer (the sender times out and redelivers).
            let roll = coin(SEED, n) % 100;
            if roll < 20 {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            if roll < 10 {
                return Answer::status(500);
            }
            for e in &out.events {
                if !dedup.first_delivery(&e.id) {
                    seen.lock().unwrap().duplicates += 1;
                    continue;
                }
                {
                    let mut s = seen.lock().unwrap();
                    s.ids.insert(e.id.clone());
                    s.keys.insert(key_of(&e.data, &e.event_type));
                }
                if let ChatEventData::MessageReceived(m) = &e.data {
                    if m.recipient.raw_id() == bot_raw && m.sender.raw_id() != bot_raw {
                        *seen
                            .lock()
                            .unwrap()
                            .handled
                            .entry(m.message_id.clone())
                            .or_default() += 1;
                        let t = threads.lock().unwrap().get(&m.thread_id).cloned();
                        let t = t.expect("a thread the bot knows");
                        let reply = SendMessageOptions {
                            metadata: Some(
                                [("inReplyTo".to_string(), m.message_id.clone())].into(),
                            ),
                            ..Default::default()
                        };
                        if let Err(err) =
                            t.send_message(&format!("re: {}", m.message_body), Some(reply))
                        {
                            // Let the delivery fail so it is retried; allow the retry in.
                            dedup.forget(&e.id);
                            seen.lock()
                                .unwrap()
                                .handled
                                .entry(m.message_id.clone())
                                .and_modify(|c| *c -= 1);
                            eprintln!("reply failed: {err}");
                            return Answer::status(503);
                        }
                    }
                }
                let _ = progress_tx.lock().unwrap().send(());
            }
            if roll < 15 {
                Answer::status(500)
            } else if roll < 20 {
                Answer::Hang
            } else {
                answer(out.response)
            }
        })
    };

    // 10 threads with the 3 senders and the bot, created by sender 0.
    let mut thread_ids = Vec::new();
    for i in 0..THREADS {
        let participants = senders[1..]
            .iter()
            .map(|(id, _)| ChatParticipant::new(id.clone()))
            .chain([ChatParticipant::new(bot_id.clone()).with_display_name("Bot")])
            .collect();
        let tid = senders[0]
            .1
            .create_chat_thread(
                &format!("e2e {i}"),
                Some(CreateChatThreadOptions {
                    participants,
                    ..Default::default()
                }),
            )
            .expect("create")
            .chat_thread
            .id;
        threads.lock().unwrap().insert(
            tid.clone(),
            bot_chat.get_chat_thread_client(&tid).expect("bot thread"),
        );
        thread_ids.push(tid);
    }
    emu.subscribe_events(
        &hook.url,
        SubscriptionOptions::default()
            .name("e2e-bot")
            .retry_scale(0.001)
            .response_timeout(Duration::from_millis(250)),
    )
    .expect("subscribed");

    let started = Instant::now();
    let sent: Vec<Vec<(String, String, usize)>> = std::thread::scope(|s| {
        let handles: Vec<_> = senders
            .iter()
            .enumerate()
            .map(|(k, (_, chat))| {
                let thread_ids = &thread_ids;
                s.spawn(move || {
                    let clients: Vec<ChatThreadClient> = thread_ids
                        .iter()
                        .map(|t| chat.get_chat_thread_client(t).expect("thread"))
                        .collect();
                    let mine = (k..MESSAGES).step_by(SENDERS);
                    mine.map(|n| {
                        let t = &clients[n % THREADS];
                        let id = t.send_message(&format!("m{n}"), None).expect("send").id;
                        (t.thread_id().to_string(), id, k)
                    })
                    .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sender"))
            .collect()
    });
    let sent: Vec<(String, String, usize)> = sent.into_iter().flatten().collect();
    assert_eq!(sent.len(), MESSAGES);

    // Per message: 1 per-thread + 3 per-user (2 other senders, the bot); per reply the same
    // (3 senders); nothing for thread creation (subscribed after).
    let expected = MESSAGES * 4 * 2;
    let deadline = Instant::now() + Duration::from_secs(240);
    while seen.lock().unwrap().ids.len() < expected {
        let left = deadline.saturating_duration_since(Instant::now());
        if progress_rx
            .recv_timeout(left.min(Duration::from_secs(5)))
            .is_err()
            && Instant::now() >= deadline
        {
            break;
        }
    }
    let elapsed = started.elapsed();
    let s = seen.lock().unwrap();
    let stats = emu.event_stats();
    eprintln!(
        "e2e: {} distinct events in {elapsed:?}; {} requests, {} failed on purpose, {} duplicates dropped; {stats:?}",
        s.ids.len(),
        requests.load(Ordering::SeqCst),
        failures.load(Ordering::SeqCst),
        s.duplicates
    );
    assert!(
        emu.dead_lettered().is_empty(),
        "dead-lettered: {:?}",
        emu.dead_lettered().first()
    );

    // Every event the fan-out implies, at least once.
    let sender_raw: Vec<String> = senders.iter().map(|(id, _)| id.raw_id()).collect();
    let bot_raw = bot_id.raw_id();
    let mut missing = Vec::new();
    let mut expect = |k: (&str, &str, &str)| {
        let k = (k.0.to_string(), k.1.to_string(), k.2.to_string());
        if !s.keys.contains(&k) {
            missing.push(k);
        }
    };
    let mut replies: Vec<ChatMessage> = Vec::new();
    for tid in &thread_ids {
        let t = threads.lock().unwrap().get(tid).cloned().unwrap();
        replies.extend(
            t.list_messages(None)
                .collect::<Result<Vec<_>, _>>()
                .expect("list")
                .into_iter()
                .filter(|m| m.sender.as_ref().map(|x| x.raw_id()) == Some(bot_raw.clone())),
        );
    }
    for (_, mid, k) in &sent {
        expect(("ChatMessageReceivedInThread", mid, ""));
        expect(("ChatMessageReceived", mid, &bot_raw));
        for (j, sr) in sender_raw.iter().enumerate() {
            if j != *k {
                expect(("ChatMessageReceived", mid, sr));
            }
        }
    }
    for r in &replies {
        expect(("ChatMessageReceivedInThread", &r.id, ""));
        for sr in &sender_raw {
            expect(("ChatMessageReceived", &r.id, sr));
        }
    }
    assert!(
        missing.is_empty(),
        "{} events never arrived, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert_eq!(s.ids.len(), expected, "distinct events");

    // Each message handled exactly once; each answered by exactly one reply.
    assert_eq!(s.handled.len(), MESSAGES, "messages handled");
    let twice: Vec<_> = s.handled.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    let mut per_question: HashMap<String, usize> = HashMap::new();
    for r in &replies {
        let q = r
            .metadata
            .as_ref()
            .and_then(|m| m.get("inReplyTo"))
            .cloned()
            .expect("inReplyTo");
        *per_question.entry(q).or_default() += 1;
    }
    assert_eq!(replies.len(), MESSAGES, "replies sent");
    assert!(
        per_question.values().all(|n| *n == 1),
        "a reply was duplicated"
    );
    assert!(
        sent.iter().all(|(_, m, _)| per_question.contains_key(m)),
        "a message got no reply"
    );
    assert!(
        failures.load(Ordering::SeqCst) > 0 && s.duplicates > 0,
        "the failures and redeliveries happened"
    );
}

/// Delivery latency (send request start → webhook receipt, p50/p99) and events/s on a
/// healthy webhook: 1,000 messages in a 5-user thread, 5 events each. Prints the figures
/// (BENCHMARKS.md); asserts only that every event arrived (by id: delivery is at least
/// once), since timings are noisy.
#[test]
fn webhook_delivery_latency_and_throughput_are_reported() {
    let emu = Emulator::start().expect("emulator");
    let (_, a) = client(&emu);
    let others: Vec<(CommunicationIdentifier, ChatClient)> = (0..4).map(|_| client(&emu)).collect();
    let tid = a
        .create_chat_thread(
            "latency",
            Some(CreateChatThreadOptions {
                participants: others
                    .iter()
                    .map(|(id, _)| ChatParticipant::new(id.clone()))
                    .collect(),
                ..Default::default()
            }),
        )
        .expect("create")
        .chat_thread
        .id;
    // (event id, the message it is about and whether it is the thread's event (else a
    // user's), when it arrived); other events (the thread's creation, published while the
    // subscription was being made) carry no message.
    type Seen = (String, Option<(String, bool)>, Instant);
    let (tx, rx) = channel::<Seen>();
    let tx = Mutex::new(tx);
    let handler = WebhookHandler::new(WebhookOptions::default());
    let hook = webhook::start(move |d: &Delivery| {
        let headers = d.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let out = handler.handle(&d.method, &d.path, headers, &d.body);
        for e in &out.events {
            let mid = match &e.data {
                ChatEventData::MessageReceivedInThread(m) => Some((m.message_id.clone(), true)),
                ChatEventData::MessageReceived(m) => Some((m.message_id.clone(), false)),
                _ => None,
            };
            let _ = tx.lock().unwrap().send((e.id.clone(), mid, d.at));
        }
        answer(out.response)
    });
    emu.subscribe_events(&hook.url, SubscriptionOptions::default())
        .expect("subscribed");
    let t = a.get_chat_thread_client(&tid).expect("thread");
    const N: usize = 1000;
    let mut started = HashMap::new();
    let first = Instant::now();
    for i in 0..N {
        let t0 = Instant::now();
        let id = t.send_message(&format!("m{i}"), None).expect("send").id;
        started.insert(id, t0);
    }
    let sending = first.elapsed();
    // Event Grid delivers at least once: a redelivery (same event id) is counted, not timed.
    let mut latencies = Vec::new();
    let mut last = first;
    let mut seen = HashSet::new();
    let (mut redelivered, mut other) = (0, 0);
    while seen.len() < N * 5 {
        let (id, about, at) = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("only {} of {} message events arrived", seen.len(), N * 5));
        let Some((mid, in_thread)) = about.filter(|(mid, _)| started.contains_key(mid)) else {
            other += 1;
            continue;
        };
        if !seen.insert(id) {
            redelivered += 1;
            continue;
        }
        last = last.max(at);
        if in_thread {
            latencies.push(at.duration_since(started[&mid]));
        }
    }
    latencies.sort();
    assert_eq!(latencies.len(), N);
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let total = last.duration_since(first);
    eprintln!(
        "webhook delivery: {N} messages x 5 events; send→webhook p50 {:?} p99 {:?}; {:.0} events/s ({} events in {total:?}; sending alone took {sending:?}; {redelivered} redeliveries, {other} other events)",
        p(0.50),
        p(0.99),
        (N * 5) as f64 / total.as_secs_f64(),
        N * 5
    );
}
