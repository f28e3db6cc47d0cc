//! Wire-level tests of CORS: what a browser app needs to call the emulator.

mod common;

use acs_chat_emulator::Emulator;
use common::{agent, Client};

/// Sends a preflight for `POST path` from `origin` asking for `headers`.
fn preflight(base: &str, path: &str, origin: &str, headers: &str) -> common::Reply {
    let c = Client {
        agent: agent(),
        base: base.to_string(),
        user: String::new(),
        token: String::new(),
    };
    c.send_raw(
        "OPTIONS",
        &c.url(path),
        None,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", headers),
        ],
    )
}

/// A preflight with no token is answered 204, echoing the origin and every header the SDKs
/// send, on chat and identity routes alike.
#[test]
fn preflight_answers_without_auth_and_allows_sdk_headers() {
    let emu = Emulator::start().expect("emulator");
    let asked = "authorization,content-type,x-ms-useragent,x-ms-client-request-id,\
x-ms-date,x-ms-content-sha256,repeatability-request-id,repeatability-first-sent,traceparent";
    for path in [
        "/chat/threads?api-version=2024-03-07",
        "/chat/threads/19%3Aabc%40thread.v2/messages?api-version=2024-03-07",
        "/identities?api-version=2023-10-01",
    ] {
        let r = preflight(&emu.endpoint(), path, "http://localhost:3000", asked);
        assert_eq!(r.status, 204, "{path}: {r:?}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://localhost:3000"),
            "{path}: {r:?}"
        );
        let methods = r.header("access-control-allow-methods").unwrap_or("");
        for m in ["GET", "POST", "PATCH", "DELETE"] {
            assert!(methods.contains(m), "{path}: methods {methods}");
        }
        let allowed = r.header("access-control-allow-headers").unwrap_or("");
        for h in asked.split(',') {
            assert!(
                allowed.split(", ").any(|a| a == h),
                "{path}: {h} not in {allowed}"
            );
        }
    }
}

/// A real request from an allowed origin carries `Access-Control-Allow-Origin` and exposes
/// `location`, `ms-cv` and `retry-after`, on success and on error.
#[test]
fn response_exposes_headers_sdks_read() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let body = serde_json::json!({"topic": "cors"})
        .to_string()
        .into_bytes();
    let r = c.send_raw(
        "POST",
        &c.url("/chat/threads?api-version=2024-03-07"),
        Some(body),
        &[("Origin", "https://app.example")],
    );
    r.expect(201);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example"),
        "{r:?}"
    );
    let exposed = r.header("access-control-expose-headers").unwrap_or("");
    for h in ["location", "ms-cv", "retry-after", "x-ms-client-request-id"] {
        assert!(exposed.split(", ").any(|e| e == h), "{h} not in {exposed}");
    }
    let anon = c.with_token("");
    let r = anon.send_raw(
        "GET",
        &anon.url("/chat/threads?api-version=2024-03-07"),
        None,
        &[("Origin", "https://app.example")],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example"),
        "an error must be readable by the page too: {r:?}"
    );
}

/// With `cors_origin`, only the listed origins are allowed: others' preflights get 403 and
/// their responses no `Access-Control-Allow-Origin`.
#[test]
fn configured_origins_refuse_other_origins() {
    let emu = Emulator::builder()
        .cors_origin("https://app.example")
        .start()
        .expect("emulator");
    let path = "/chat/threads?api-version=2024-03-07";
    let ok = preflight(
        &emu.endpoint(),
        path,
        "https://app.example",
        "authorization",
    );
    assert_eq!(ok.status, 204, "{ok:?}");
    let no = preflight(
        &emu.endpoint(),
        path,
        "https://evil.example",
        "authorization",
    );
    no.expect_error(403, "CorsOriginNotAllowed");
    assert_eq!(no.header("access-control-allow-origin"), None, "{no:?}");
    let c = Client::new(&emu);
    let r = c.send_raw(
        "GET",
        &c.url(path),
        None,
        &[("Origin", "https://evil.example")],
    );
    r.expect(200);
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
}

/// A plain `OPTIONS` (no preflight headers) is still an ordinary, authenticated request.
#[test]
fn options_without_preflight_headers_is_not_exempt() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu).with_token("");
    let r = c.send_raw(
        "OPTIONS",
        &c.url("/chat/threads?api-version=2024-03-07"),
        None,
        &[],
    );
    assert_eq!(r.status, 401, "{r:?}");
}
