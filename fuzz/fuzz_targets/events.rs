//! Feeds arbitrary bytes to `acs_chat::events::parse` and to `WebhookHandler::handle` (with
//! method, URL and headers also taken from the input). Nothing may panic; whatever parses
//! must re-encode to exactly the JSON it was parsed from; the handler answers only with the
//! statuses it documents.
#![no_main]

use acs_chat::events::{self, WebhookHandler, WebhookOptions, WebhookSecret};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const CONTENT_TYPES: [&str; 5] = [
    "application/json; charset=utf-8",
    "application/cloudevents+json; charset=utf-8",
    "application/cloudevents-batch+json",
    "",
    "text/plain",
];

const METHODS: [&str; 4] = ["POST", "OPTIONS", "GET", "post"];

/// Splits off a short text field ended by a 0xff byte (or the end of the input).
fn field(data: &[u8]) -> (String, &[u8]) {
    let end = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let text = String::from_utf8_lossy(&data[..end.min(200)]).into_owned();
    (text, data.get(end + 1..).unwrap_or_default())
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];

    if selector & 0x80 == 0 {
        // parse alone: the body is the rest.
        let body = rest;
        if let Ok(parsed) = events::parse(content_type, body) {
            let original: Value = serde_json::from_slice(body).expect("parse accepted JSON");
            let encoded: Vec<Value> = parsed
                .iter()
                .map(|e| serde_json::to_value(e).expect("events encode"))
                .collect();
            let again = if original.is_array() {
                Value::Array(encoded)
            } else {
                assert_eq!(encoded.len(), 1, "one object gave several events");
                encoded.into_iter().next().unwrap()
            };
            assert_eq!(again, original, "re-encoding changed the delivery");
        }
        return;
    }

    // The handler: method, URL, one header name and value from the input, then the body.
    let method = METHODS[usize::from(selector >> 2) % METHODS.len()];
    let (url, rest) = field(rest);
    let (name, rest) = field(rest);
    let (value, body) = field(rest);
    let handler = WebhookHandler::new(WebhookOptions {
        subscription_names: if selector & 0x40 != 0 {
            vec!["sub".into()]
        } else {
            Vec::new()
        },
        secret: (selector & 0x20 != 0).then(|| WebhookSecret::new("code", "s3cret")),
        allowed_rate: (selector & 0x10 != 0).then_some(60),
        max_body_bytes: 4096,
        ..Default::default()
    });
    let headers = [
        ("Content-Type", content_type),
        (name.as_str(), value.as_str()),
        ("aeg-subscription-name", "sub"),
    ];
    let out = handler.handle(method, &url, headers, body);
    assert!(
        [200, 400, 401, 403, 405, 413].contains(&out.response.status),
        "undocumented status {}",
        out.response.status
    );
    assert!(
        out.response.status == 200 || out.events.is_empty(),
        "a refusal handed out events"
    );
});
