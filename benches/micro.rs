//! Micro benchmarks of the SDK's pure, CPU-only steps (criterion).
//!
//! Run: `cargo bench --bench micro` (add `-- --quick` for a short run). No network, no emulator.
//!
//! - `decode_page_200_messages`: decoding one 200-message list page (a page the service could
//!   send, generated here) with `acs_chat::models::decode_page::<ChatMessage>`, exactly as the
//!   pager does; `decode_page_200_messages_as_value` decodes the same bytes into an untyped
//!   `serde_json::Value`, for scale, and `decode_page_200_messages_as_derive` into plain
//!   `#[derive(Deserialize)]` structs with the same fields (`DerivedPage`): what serde's own
//!   derive costs for these types when nothing unknown is kept and no identifier is checked.
//! - `identity_build_and_sign`: building an identity `issueAccessToken` request body and its
//!   HMAC-SHA256 headers with the public `identity::hmac` functions, as the identity client
//!   does for each attempt.
//! - `access_token_from_jwt`: reading the `exp` claim of a user token.

use std::hint::black_box;

use acs_chat::identity::{hmac, AzureKeyCredential};
use acs_chat::models::{decode_page, ChatMessage};
use acs_chat::AccessToken;
use base64::Engine as _;
use chrono::TimeZone as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const THREAD: &str = "19:d3b3f8a0c5e04f1e9d6a0e2f0a3f5b21@thread.v2";
const USER: &str =
    "8:acs:5d2e1f7c-9a3b-4c8d-8e1f-2a3b4c5d6e7f_00000025-3f1a-7b2c-8d9e-0a1b2c3d4e5f";

/// A list page of `n` text messages shaped as the service sends them (2025-03-15).
fn message_page(n: usize) -> Vec<u8> {
    let base_ms: i64 = 1_764_200_000_000;
    let value: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let id = (base_ms - i as i64 * 37).to_string();
            serde_json::json!({
                "id": id,
                "type": "text",
                "sequenceId": (n - i + 2).to_string(),
                "version": id,
                "content": { "message": format!("bench message {i}: the quick brown fox jumps over the lazy dog") },
                "senderDisplayName": "Alice",
                "createdOn": "2026-11-27T04:10:00Z",
                "senderCommunicationIdentifier": {
                    "rawId": USER,
                    "communicationUser": { "id": USER }
                },
                "metadata": { "tag": "bench", "n": i.to_string() }
            })
        })
        .collect();
    let page = serde_json::json!({
        "value": value,
        "nextLink": format!(
            "http://127.0.0.1:8080/chat/threads/{}/messages?syncState=3e0a1b2c3d4e5f60718293a4b5c6d7e8f9&maxPageSize={n}&api-version=2025-03-15",
            THREAD.replace(':', "%3A").replace('@', "%40")
        ),
    });
    serde_json::to_vec(&page).expect("a generated page serialises")
}

/// A JWT-shaped token as the emulator issues them (payload padded to letters and digits).
fn user_token() -> String {
    let header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        format!(
            r#"{{"skypeid":"acs:{USER}","scp":1792,"csi":"1764200000","exp":1764286400,"resourceId":"5d2e1f7c-9a3b-4c8d-8e1f-2a3b4c5d6e7f"}}"#
        )
        .as_bytes(),
    );
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
    format!("{header}.{payload}.{signature}")
}

/// The baseline of `decode_page_200_messages_as_derive`: a message page's fields in plain
/// derived structs, with the public model's field types (`createdOn` left as text) but nothing
/// unknown kept and identifiers taken as they come.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // read only by serde
struct DerivedPage {
    value: Vec<DerivedMessage>,
    next_link: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct DerivedMessage {
    id: String,
    #[serde(rename = "type")]
    message_type: String,
    sequence_id: String,
    version: String,
    content: Option<DerivedContent>,
    sender_display_name: Option<String>,
    created_on: String,
    sender_communication_identifier: Option<DerivedIdentifier>,
    metadata: Option<std::collections::HashMap<String, String>>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct DerivedContent {
    message: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct DerivedIdentifier {
    raw_id: Option<String>,
    communication_user: Option<DerivedUser>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct DerivedUser {
    id: String,
}

fn decode(c: &mut Criterion) {
    let page = message_page(200);
    let (items, next) = decode_page::<ChatMessage>(&page).expect("the generated page decodes");
    assert_eq!(items.len(), 200, "decoded {} messages", items.len());
    assert!(next.is_some(), "the generated page has a nextLink");
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(page.len() as u64));
    group.bench_function("decode_page_200_messages", |b| {
        b.iter(|| decode_page::<ChatMessage>(black_box(&page)))
    });
    // Baseline: the same bytes into an untyped `serde_json::Value` (what the e2e floor does).
    group.bench_function("decode_page_200_messages_as_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&page)))
    });
    // Baseline: the same bytes into plain derived structs (one UTF-8 check, as decode_page).
    let derived: DerivedPage =
        serde_json::from_slice(&page).expect("the generated page decodes as DerivedPage");
    assert_eq!(derived.value.len(), 200);
    group.bench_function("decode_page_200_messages_as_derive", |b| {
        b.iter(|| {
            let text = std::str::from_utf8(black_box(&page)).expect("UTF-8");
            serde_json::from_str::<DerivedPage>(text)
        })
    });
    group.finish();
}

fn sign(c: &mut Criterion) {
    let key = AzureKeyCredential::new("ZW11bGF0b3Itc2VjcmV0LWtleS0wMDAwMDAwMDAwMDA=")
        .expect("a valid base64 key");
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 11, 27, 4, 0, 0)
        .single()
        .expect("a valid time");
    let host = hmac::host_for_signing("http://127.0.0.1:8080/identities").expect("a valid URL");
    c.bench_function("identity_build_and_sign", |b| {
        b.iter(|| {
            let path = format!(
                "/identities/{}/:issueAccessToken?api-version=2023-10-01",
                black_box(USER).replace(':', "%3A")
            );
            let body = serde_json::to_vec(&serde_json::json!({
                "scopes": ["chat"],
                "expiresInMinutes": 60,
            }))
            .expect("a JSON body");
            let signed = hmac::sign(&key, "POST", &host, &path, &body, now);
            (body, signed)
        })
    });
}

fn token(c: &mut Criterion) {
    let jwt = user_token();
    let parsed = AccessToken::from_jwt(jwt.clone()).expect("the generated token parses");
    assert_eq!(parsed.expires_on.timestamp(), 1_764_286_400);
    c.bench_function("access_token_from_jwt", |b| {
        b.iter(|| AccessToken::from_jwt(black_box(jwt.as_str())))
    });
}

criterion_group!(benches, decode, sign, token);
criterion_main!(benches);
