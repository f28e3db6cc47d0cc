//! The Event Grid publisher: fan-out, envelopes, both handshakes, retries, dead-lettering,
//! the time to live, and that delivery never holds up a chat request.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use acs_chat_emulator::test_webhook::{self as webhook, Answer, Delivery};
use acs_chat_emulator::{Emulator, EventSchema, SubscribeError, SubscriptionOptions};
use common::{enc, participant, Client};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// Reads events off `rx` until none comes for a moment; panics if fewer than `n` arrive.
fn take(rx: &Receiver<Value>, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        match rx.recv_timeout(WAIT) {
            Ok(v) => out.push(v),
            Err(_) => panic!("only {} of {n} events arrived: {out:#?}", out.len()),
        }
    }
    out
}

/// The next non-handshake delivery.
fn next_notification(rx: &Receiver<Delivery>) -> Delivery {
    loop {
        let d = rx.recv_timeout(WAIT).expect("a delivery in time");
        if !d.is_handshake() {
            return d;
        }
    }
}

fn types(events: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = events
        .iter()
        .map(|e| {
            e["eventType"]
                .as_str()
                .unwrap_or("?")
                .trim_start_matches("Microsoft.Communication.")
                .to_string()
        })
        .collect();
    t.sort();
    t
}

/// A message in a 4-user thread publishes 1 per-thread event and 3 per-user events (not to the
/// sender), with the topic, subjects, sequenceId and version the chat API shows.
#[test]
fn send_message_fans_out_per_thread_once_and_per_user_except_sender() {
    let emu = Emulator::start().expect("emulator");
    let a = Client::new(&emu);
    let others: Vec<Client> = (0..3).map(|_| Client::new(&emu)).collect();
    let ids: Vec<&str> = others.iter().map(|c| c.user.as_str()).collect();
    let tid = a.create_thread("fan-out", &ids);
    let rx = emu.events();
    let mid = a.send(&tid, "hello");
    let events = take(&rx, 4);
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "a 5th event arrived"
    );
    assert_eq!(
        types(&events),
        [
            "ChatMessageReceived",
            "ChatMessageReceived",
            "ChatMessageReceived",
            "ChatMessageReceivedInThread"
        ],
        "types seen"
    );
    let msg = a
        .get(&format!("/chat/threads/{}/messages/{mid}", enc(&tid)))
        .expect(200)
        .json();
    let mut recipients = HashSet::new();
    let mut ids_seen = HashSet::new();
    for e in &events {
        assert!(
            ids_seen.insert(e["id"].as_str().expect("id").to_string()),
            "duplicate id: {e}"
        );
        assert_eq!(e["topic"], emu.event_topic(), "{e}");
        assert!(e["topic"]
            .as_str()
            .unwrap()
            .contains("/providers/Microsoft.Communication/communicationServices/"));
        assert_eq!(
            (e["dataVersion"].as_str(), e["metadataVersion"].as_str()),
            (Some("1.0"), Some("1")),
            "{e}"
        );
        let d = &e["data"];
        assert_eq!(d["threadId"], tid.as_str(), "{e}");
        assert_eq!(d["messageId"], mid.as_str(), "{e}");
        assert_eq!(
            d["sequenceId"].to_string(),
            msg["sequenceId"].as_str().unwrap(),
            "sequenceId {e} vs {msg}"
        );
        assert_eq!(
            d["version"].to_string(),
            msg["version"].as_str().unwrap(),
            "version {e} vs {msg}"
        );
        assert_eq!(d["messageBody"], "hello", "{e}");
        assert_eq!(
            d["senderCommunicationIdentifier"]["rawId"],
            a.user.as_str(),
            "{e}"
        );
        assert!(d["transactionId"].is_string(), "{e}");
        let subject = e["subject"].as_str().unwrap();
        if e["eventType"] == "Microsoft.Communication.ChatMessageReceived" {
            let r = d["recipientCommunicationIdentifier"]["rawId"]
                .as_str()
                .unwrap();
            assert_eq!(
                subject,
                format!("thread/{tid}/sender/{}/recipient/{r}", a.user)
            );
            assert_eq!(d["recipientId"], r);
            recipients.insert(r.to_string());
        } else {
            assert_eq!(subject, format!("thread/{tid}/sender/{}", a.user));
            assert!(d.get("recipientCommunicationIdentifier").is_none(), "{e}");
        }
    }
    let expected: HashSet<String> = ids.iter().map(|s| s.to_string()).collect();
    assert_eq!(recipients, expected, "per-user recipients");
}

/// Every chat operation publishes its Event Grid types; a read receipt publishes none.
#[test]
fn every_operation_publishes_its_event_types() {
    let emu = Emulator::start().expect("emulator");
    let rx = emu.events();
    let a = Client::new(&emu);
    let b = Client::new(&emu);
    let c = Client::new(&emu);
    let tid = a.create_thread("ops", &[&b.user]);
    assert_eq!(
        types(&take(&rx, 2)),
        ["ChatThreadCreated", "ChatThreadCreatedWithUser"]
    );
    let path = format!("/chat/threads/{}", enc(&tid));
    a.patch(&path, &json!({"topic": "new"})).expect(204);
    let ev = take(&rx, 2);
    assert_eq!(
        types(&ev),
        [
            "ChatThreadPropertiesUpdated",
            "ChatThreadPropertiesUpdatedPerUser"
        ]
    );
    assert!(
        ev.iter().all(|e| e["data"]["properties"]["topic"] == "new"),
        "{ev:?}"
    );
    a.post(
        &format!("{path}/participants/:add"),
        &json!({"participants": [participant(&c.user, "C")]}),
    )
    .expect(201);
    let ev = take(&rx, 3);
    assert_eq!(
        types(&ev),
        [
            "ChatParticipantAddedToThreadWithUser",
            "ChatParticipantAddedToThreadWithUser",
            "ChatThreadParticipantAdded"
        ]
    );
    let added = ev
        .iter()
        .find(|e| {
            e["eventType"]
                .as_str()
                .unwrap()
                .ends_with("ChatThreadParticipantAdded")
        })
        .unwrap();
    assert_eq!(
        added["subject"],
        format!("thread/{tid}/participantadded/{}", c.user)
    );
    let mid = a.send(&tid, "x");
    assert_eq!(take(&rx, 3).len(), 3);
    a.patch(&format!("{path}/messages/{mid}"), &json!({"content": "y"}))
        .expect(204);
    let ev = take(&rx, 3);
    assert_eq!(
        types(&ev),
        [
            "ChatMessageEdited",
            "ChatMessageEdited",
            "ChatMessageEditedInThread"
        ]
    );
    assert!(
        ev.iter()
            .all(|e| e["data"]["editTime"].is_string() && e["data"]["messageBody"] == "y"),
        "{ev:?}"
    );
    b.post(
        &format!("{path}/readReceipts"),
        &json!({"chatMessageId": mid}),
    )
    .expect(200);
    b.post(
        &format!("{path}/typing"),
        &json!({"senderDisplayName": "Bee"}),
    )
    .expect(200);
    let ev = take(&rx, 1);
    assert_eq!(
        types(&ev),
        ["ChatTypingIndicatorReceivedInThread"],
        "read receipts publish nothing"
    );
    assert_eq!(ev[0]["data"]["senderDisplayName"], "Bee");
    a.delete(&format!("{path}/messages/{mid}")).expect(204);
    let ev = take(&rx, 3);
    assert_eq!(
        types(&ev),
        [
            "ChatMessageDeleted",
            "ChatMessageDeleted",
            "ChatMessageDeletedInThread"
        ]
    );
    assert!(
        ev.iter().all(|e| e["data"]["deleteTime"].is_string()),
        "{ev:?}"
    );
    a.post(
        &format!("{path}/participants/:remove"),
        &json!({"rawId": c.user, "communicationUser": {"id": c.user}}),
    )
    .expect(204);
    let ev = take(&rx, 3);
    assert_eq!(
        types(&ev),
        [
            "ChatParticipantRemovedFromThreadWithUser",
            "ChatParticipantRemovedFromThreadWithUser",
            "ChatThreadParticipantRemoved"
        ],
        "the removed user learns of it too"
    );
    a.delete(&path).expect(204);
    let ev = take(&rx, 2);
    assert_eq!(
        types(&ev),
        ["ChatThreadDeleted", "ChatThreadWithUserDeleted"]
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "no extra event"
    );
}

fn accept_all(d: &Delivery) -> Answer {
    webhook::handshake(d).unwrap_or_else(|| Answer::status(200))
}

/// Event Grid schema: the validation event comes first, then each event alone in an array
/// with the aeg-* headers.
#[test]
fn event_grid_subscription_validates_then_delivers_one_per_request() {
    let emu = Emulator::start().expect("emulator");
    let hook = webhook::start(accept_all);
    let name = emu
        .subscribe_events(&hook.url, SubscriptionOptions::default().name("bots"))
        .expect("validated");
    assert_eq!(name, "BOTS");
    let v = hook.rx.recv_timeout(WAIT).expect("validation request");
    assert_eq!(v.header("aeg-event-type"), Some("SubscriptionValidation"));
    let body = v.json();
    assert_eq!(
        body[0]["eventType"], "Microsoft.EventGrid.SubscriptionValidationEvent",
        "{body}"
    );
    assert!(body[0]["data"]["validationCode"].is_string(), "{body}");
    let a = Client::new(&emu);
    let b = Client::new(&emu);
    a.create_thread("t", &[&b.user]);
    for _ in 0..2 {
        let d = next_notification(&hook.rx);
        assert_eq!(d.method, "POST");
        assert_eq!(d.path, "/api/events");
        assert_eq!(
            d.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(d.header("aeg-event-type"), Some("Notification"));
        assert_eq!(d.header("aeg-subscription-name"), Some("BOTS"));
        assert_eq!(d.header("aeg-delivery-count"), Some("1"));
        assert_eq!(d.header("aeg-metadata-version"), Some("1"));
        assert_eq!(d.header("aeg-data-version"), Some("1.0"));
        let arr = d.json();
        assert_eq!(
            arr.as_array().map(Vec::len),
            Some(1),
            "one event per request: {arr}"
        );
        assert_eq!(d.header("aeg-output-event-id"), arr[0]["id"].as_str());
    }
}

/// A webhook that answers 202, or the wrong code, does not validate; nothing is subscribed.
#[test]
fn event_grid_validation_requires_200_and_the_code() {
    let emu = Emulator::start().expect("emulator");
    let opts = || SubscriptionOptions::default().retry_scale(0.001);
    let hook = webhook::start(|_| Answer::status(202));
    let err = emu.subscribe_events(&hook.url, opts()).unwrap_err();
    assert!(
        matches!(&err, SubscribeError::Validation(m) if m.contains("202")),
        "{err}"
    );
    let hook = webhook::start(|_| {
        Answer::Status(200, vec![], br#"{"validationResponse":"nope"}"#.to_vec())
    });
    let err = emu.subscribe_events(&hook.url, opts()).unwrap_err();
    assert!(err.to_string().contains("not the validationCode"), "{err}");
    let err = emu
        .subscribe_events("https://example.com/x", opts())
        .unwrap_err();
    assert!(matches!(err, SubscribeError::InvalidUrl(_)), "{err}");
}

/// CloudEvents: the OPTIONS abuse-protection handshake, then structured-mode objects with
/// `Origin`; a webhook that withholds WebHook-Allowed-Origin is refused.
#[test]
fn cloud_events_subscription_uses_options_handshake() {
    let emu = Emulator::start().expect("emulator");
    let opts = || {
        SubscriptionOptions::default()
            .schema(EventSchema::CloudEvents)
            .retry_scale(0.001)
    };
    let hook = webhook::start(accept_all);
    emu.subscribe_events(&hook.url, opts()).expect("validated");
    let h = hook.rx.recv_timeout(WAIT).expect("handshake");
    assert_eq!(h.method, "OPTIONS");
    assert_eq!(
        h.header("webhook-request-origin"),
        Some("eventgrid.azure.net")
    );
    let a = Client::new(&emu);
    let b = Client::new(&emu);
    let tid = a.create_thread("t", &[&b.user]);
    let d = next_notification(&hook.rx);
    assert_eq!(
        d.header("content-type"),
        Some("application/cloudevents+json; charset=utf-8")
    );
    assert_eq!(d.header("origin"), Some("eventgrid.azure.net"));
    let ce = d.json();
    assert_eq!(ce["specversion"], "1.0", "{ce}");
    assert_eq!(ce["source"], emu.event_topic(), "{ce}");
    assert_eq!(ce["data"]["threadId"], tid.as_str(), "{ce}");
    assert!(ce.get("eventType").is_none(), "{ce}");
    let refuse = webhook::start(|_| Answer::status(200));
    let err = emu.subscribe_events(&refuse.url, opts()).unwrap_err();
    assert!(err.to_string().contains("WebHook-Allowed-Origin"), "{err}");
}

/// Sets up a validated subscription whose notifications `policy(n)` answers (n counts from
/// 1), and a 2-user thread to send in; returns the emulator, hook and sender.
fn rig(
    options: SubscriptionOptions,
    policy: impl Fn(usize) -> Answer + Send + Sync + 'static,
) -> (Emulator, webhook::Hook, Client, String) {
    let emu = Emulator::start().expect("emulator");
    let n = AtomicUsize::new(0);
    let hook = webhook::start(move |d| {
        webhook::handshake(d).unwrap_or_else(|| policy(n.fetch_add(1, Ordering::SeqCst) + 1))
    });
    let a = Client::new(&emu);
    let b = Client::new(&emu);
    let tid = a.create_thread("t", &[&b.user]);
    emu.subscribe_events(
        &hook.url,
        options.event_types(["ChatMessageReceivedInThread"]),
    )
    .expect("validated");
    (emu, hook, a, tid)
}

/// 500, 503 and 404 are retried with a rising aeg-delivery-count until a 200.
#[test]
fn failed_delivery_is_retried_until_success() {
    let (emu, hook, a, tid) = rig(
        SubscriptionOptions::default().retry_scale(0.0001),
        |n| match n {
            1 => Answer::status(500),
            2 => Answer::status(503),
            3 => Answer::status(404),
            _ => Answer::status(200),
        },
    );
    a.send(&tid, "x");
    let counts: Vec<String> = (0..4)
        .map(|_| {
            next_notification(&hook.rx)
                .header("aeg-delivery-count")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(counts, ["1", "2", "3", "4"], "delivery counts");
    let stats = emu.event_stats();
    assert!(emu.dead_lettered().is_empty(), "{:?}", emu.dead_lettered());
    assert_eq!(stats.retried, 3, "{stats:?}");
}

/// 400, 401, 403 and 413 are never retried: dead-lettered after one attempt.
#[test]
fn non_retriable_status_dead_letters_at_once() {
    for code in [400u16, 401, 403, 413] {
        let (emu, _hook, a, tid) = rig(
            SubscriptionOptions::default().retry_scale(0.0001),
            move |_| Answer::status(code),
        );
        a.send(&tid, "x");
        let dead = emu.wait_dead_lettered(1, WAIT);
        assert_eq!(dead.len(), 1, "{code}: {dead:?}");
        let d = &dead[0];
        assert_eq!(
            (
                d.dead_letter_reason.as_str(),
                d.delivery_attempts,
                d.last_http_status_code
            ),
            ("NonRetriableStatusCode", 1, Some(code)),
            "{code}: {d:?}"
        );
        let copy = d.to_json();
        assert_eq!(copy["deadLetterReason"], "NonRetriableStatusCode");
        assert!(
            copy["lastDeliveryOutcome"].is_string() && copy["publishTime"].is_string(),
            "{copy}"
        );
        assert_eq!(emu.event_stats().attempts, 1, "{code}");
    }
}

/// An endpoint that always fails is given up after max attempts.
#[test]
fn always_failing_endpoint_dead_letters_after_max_attempts() {
    let (emu, _hook, a, tid) = rig(
        SubscriptionOptions::default()
            .retry_scale(0.0001)
            .max_delivery_attempts(4),
        |_| Answer::status(500),
    );
    a.send(&tid, "x");
    let dead = emu.wait_dead_lettered(1, WAIT);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (
            dead[0].dead_letter_reason.as_str(),
            dead[0].delivery_attempts,
            dead[0].last_delivery_outcome.as_str()
        ),
        ("MaxDeliveryAttemptsExceeded", 4, "Aborted")
    );
    assert_eq!(emu.event_stats().attempts, 4);
}

/// The time to live is checked before a retry: once past it, the event is dead-lettered.
#[test]
fn time_to_live_ends_retries() {
    // The first retry waits 10 s × 0.01 = 100 ms, past the 1 ms time to live.
    let (emu, _hook, a, tid) = rig(
        SubscriptionOptions::default()
            .retry_scale(0.01)
            .time_to_live(Duration::from_millis(1)),
        |_| Answer::status(500),
    );
    a.send(&tid, "x");
    let dead = emu.wait_dead_lettered(1, WAIT);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (
            dead[0].dead_letter_reason.as_str(),
            dead[0].delivery_attempts
        ),
        ("TimeToLiveExceeded", 1)
    );
}

/// A webhook that never answers times out (`TimedOut`) and is retried.
#[test]
fn hanging_webhook_times_out_and_is_retried() {
    let (emu, _hook, a, tid) = rig(
        SubscriptionOptions::default()
            .retry_scale(0.0001)
            .max_delivery_attempts(2)
            .response_timeout(Duration::from_millis(100)),
        |_| Answer::Hang,
    );
    a.send(&tid, "x");
    let dead = emu.wait_dead_lettered(1, WAIT);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (
            dead[0].last_delivery_outcome.as_str(),
            dead[0].delivery_attempts,
            dead[0].last_http_status_code
        ),
        ("TimedOut", 2, None)
    );
}

/// Chat requests finish while every delivery hangs: delivery never blocks a request. A full
/// queue dead-letters the overflow (`QueueFull`) rather than waiting.
#[test]
fn hanging_webhook_never_blocks_chat_requests() {
    let (emu, hook, a, tid) = rig(
        SubscriptionOptions::default()
            .response_timeout(Duration::from_secs(600))
            .max_concurrent_deliveries(1)
            .queue_capacity(2),
        |_| Answer::Hang,
    );
    for i in 0..10 {
        a.send(&tid, &format!("m{i}"));
    }
    // All 10 sends returned; the webhook holds the first delivery unanswered.
    let first = next_notification(&hook.rx);
    assert_eq!(first.header("aeg-delivery-count"), Some("1"));
    let stats = emu.event_stats();
    assert_eq!(stats.delivered, 0, "{stats:?}");
    // 1 in flight, at most 1 taken by the worker waiting for a permit, 2 queued: the rest
    // overflowed.
    let dead = emu.wait_dead_lettered(6, WAIT);
    assert!(
        dead.len() >= 6 && dead.iter().all(|d| d.dead_letter_reason == "QueueFull"),
        "{dead:?}"
    );
    assert_eq!(emu.event_stats().queue_full as usize, dead.len(), "counted");
}

/// With max events per batch above 1, waiting events share one request (an array).
#[test]
fn batching_sends_waiting_events_together() {
    let emu = Emulator::start().expect("emulator");
    let hook = webhook::start(accept_all);
    let a = Client::new(&emu);
    let others: Vec<Client> = (0..20).map(|_| Client::new(&emu)).collect();
    let ids: Vec<&str> = others.iter().map(|c| c.user.as_str()).collect();
    let tid = a.create_thread("t", &ids);
    emu.subscribe_events(
        &hook.url,
        SubscriptionOptions::default().max_events_per_batch(50),
    )
    .expect("validated");
    a.send(&tid, "x");
    let mut total = 0;
    let mut sizes = Vec::new();
    while total < 21 {
        let n = next_notification(&hook.rx)
            .json()
            .as_array()
            .expect("array")
            .len();
        sizes.push(n);
        total += n;
    }
    assert_eq!(total, 21, "sizes {sizes:?}");
    assert!(sizes.len() < 21, "no batch formed: {sizes:?}");
}

/// The binary subscribes each `--event-webhook` (validated before the ready line) with the
/// `--event-schema` given, and refuses a bad schema with status 2.
#[cfg(unix)]
#[test]
fn binary_event_webhook_flags_subscribe_before_ready() {
    use std::process::Command;
    let hook = webhook::start(accept_all);
    let (mut child, _ready) = common::start_binary(&[
        "--port",
        "0",
        "--event-webhook",
        &hook.url,
        "--event-types",
        "ChatMessageReceived",
        "--event-schema",
        "cloudevents",
    ]);
    let h = hook
        .rx
        .try_recv()
        .expect("the handshake came before the ready line");
    assert_eq!(h.method, "OPTIONS", "CloudEvents handshake");
    let _ = child.kill();
    let _ = child.wait();
    let out = Command::new(env!("CARGO_BIN_EXE_acs-chat-emulator"))
        .args(["--event-schema", "xml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("xml"),
        "{out:?}"
    );
}
