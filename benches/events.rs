//! Benchmarks of `acs_chat::events` (criterion): the receiving side of an Event Grid webhook.
//!
//! Run: `cargo bench --bench events` (add `-- --quick` for a short run). No network.
//!
//! - `parse_100_message_events`: `events::parse` of one Event Grid delivery holding 100
//!   `ChatMessageReceived` events (Event Grid sends one per request by default; a batching
//!   subscription sends up to 5,000); `parse_100_message_events_as_value` decodes the same
//!   bytes into an untyped `serde_json::Value`, for scale: the ratio is the cost of the typed
//!   models and of keeping every field for re-encoding.
//! - `handle_one_event`: `WebhookHandler::handle` of a one-event delivery with a secret and a
//!   subscription name to check, as a server does per request.
//! - `reencode_100_message_events`: writing the parsed events back as JSON.

use std::hint::black_box;

use acs_chat::events::{self, Deduplicator, WebhookHandler, WebhookOptions, WebhookSecret};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};

const THREAD: &str = "19:d3b3f8a0c5e04f1e9d6a0e2f0a3f5b21@thread.v2";

fn user(i: usize) -> Value {
    let raw = format!("8:acs:5d2e1f7c-9a3b-4c8d-8e1f-2a3b4c5d6e7f_00000025-3f1a-7b2c-8d9e-{i:012}");
    json!({"rawId": raw, "communicationUser": {"id": raw}})
}

/// A delivery of `n` `ChatMessageReceived` events shaped like the docs' sample.
fn delivery(n: usize) -> Vec<u8> {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": format!("7c4c5b2e-0000-4000-8000-{i:012}"),
                "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/c",
                "subject": format!("thread/{THREAD}/sender/{}/recipient/{}", user(1)["rawId"], user(i)["rawId"]),
                "eventType": "Microsoft.Communication.ChatMessageReceived",
                "eventTime": "2021-02-19T00:25:59.9436666Z",
                "dataVersion": "1.0",
                "metadataVersion": "1",
                "data": {
                    "messageBody": format!("message number {i} with some text in it"),
                    "messageId": format!("{}", 1_613_694_358_927_u64 + i as u64),
                    "senderId": user(1)["rawId"],
                    "senderCommunicationIdentifier": user(1),
                    "senderDisplayName": "Ann",
                    "recipientId": user(i)["rawId"],
                    "recipientCommunicationIdentifier": user(i),
                    "composeTime": "2021-02-19T00:25:58.927Z",
                    "type": "Text",
                    "version": 1_613_694_358_927_u64 + i as u64,
                    "metadata": {"key": "value"},
                    "threadId": THREAD,
                    "transactionId": "oh+LGB2dUUadMcTAdRWQxQ.1.1.1.1.1827536918.1.7"
                }
            })
        })
        .collect();
    serde_json::to_vec(&events).expect("JSON")
}

fn parse(c: &mut Criterion) {
    let body = delivery(100);
    let parsed = events::parse("application/json", &body).expect("the delivery parses");
    assert_eq!(parsed.len(), 100, "parsed {} events", parsed.len());
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("parse_100_message_events", |b| {
        b.iter(|| events::parse("application/json", black_box(&body)))
    });
    group.bench_function("parse_100_message_events_as_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&body)))
    });
    group.bench_function("reencode_100_message_events", |b| {
        b.iter(|| serde_json::to_vec(black_box(&parsed)))
    });
    group.finish();
}

fn handle(c: &mut Criterion) {
    let body = delivery(1);
    let handler = WebhookHandler::new(WebhookOptions {
        subscription_names: vec!["bot".into()],
        secret: Some(WebhookSecret::new("code", "a-long-enough-shared-secret")),
        ..Default::default()
    });
    let headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("aeg-event-type", "Notification"),
        ("aeg-subscription-name", "BOT"),
    ];
    let url = "/api/events?code=a-long-enough-shared-secret";
    assert_eq!(
        handler.handle("POST", url, headers, &body).response.status,
        200
    );
    let seen = Deduplicator::new(100_000);
    let mut n = 0u64;
    c.bench_function("handle_one_event", |b| {
        b.iter(|| handler.handle("POST", black_box(url), headers, black_box(&body)))
    });
    c.bench_function("deduplicator_first_delivery", |b| {
        b.iter(|| {
            n += 1;
            seen.first_delivery(black_box(&n.to_string()))
        })
    });
}

criterion_group!(benches, parse, handle);
criterion_main!(benches);
