//! Wire-level tests of fault injection: throttling, server errors, dropped connections,
//! truncated and malformed bodies, latency, seeded rates.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use acs_chat_emulator::{Emulator, Fault, Faults};
use common::{enc, Client, V2024};
use serde_json::json;

/// A sequence of 429 (with Retry-After), 500 and 503 answers in the service's shape, then
/// normal service resumes.
#[test]
fn fault_sequence_returns_throttle_and_server_errors() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    emu.set_faults(Faults::sequence(vec![
        Some(Fault::TooManyRequests {
            retry_after: Duration::from_millis(1500),
        }),
        Some(Fault::InternalError),
        Some(Fault::ServiceUnavailable),
        None,
    ]));
    let r = c.get("/chat/threads");
    r.expect_error(429, "TooManyRequests");
    assert_eq!(r.header("retry-after"), Some("2"), "{:?}", r.headers);
    assert_eq!(r.header("retry-after-ms"), Some("1500"), "{:?}", r.headers);
    c.get("/chat/threads")
        .expect_error(500, "InternalServerError");
    c.get("/chat/threads")
        .expect_error(503, "ServiceUnavailable");
    c.get("/chat/threads").expect(200);
    c.get("/chat/threads").expect(200);
    assert_eq!(emu.request_count(), 5);
}

/// Faults set on the builder apply from the first request.
#[test]
fn builder_faults_apply_from_start() {
    let emu = Emulator::builder()
        .faults(Faults::sequence(vec![Some(Fault::ServiceUnavailable)]))
        .start()
        .expect("emulator");
    let c = Client::new(&emu);
    c.get("/chat/threads")
        .expect_error(503, "ServiceUnavailable");
    c.get("/chat/threads").expect(200);
}

/// Closing before processing changes nothing; closing after processing keeps the change.
#[test]
fn close_faults_drop_connection_before_or_after_processing() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Close", &[]);
    let path = format!("/chat/threads/{}/messages", enc(&tid));
    emu.set_faults(Faults::sequence(vec![Some(Fault::CloseBeforeProcessing)]));
    let before = c.try_call("POST", &path, Some(&json!({"content": "lost"})));
    assert!(
        before.is_err(),
        "expected a dropped connection, got {before:?}"
    );
    emu.set_faults(Faults::sequence(vec![Some(Fault::CloseAfterProcessing)]));
    let after = c.try_call("POST", &path, Some(&json!({"content": "kept"})));
    assert!(
        after.is_err(),
        "expected a dropped connection, got {after:?}"
    );
    let (items, _) = c.walk(&format!("{path}?maxPageSize=50"), V2024);
    let texts: Vec<&str> = items
        .iter()
        .filter_map(|m| m["content"]["message"].as_str())
        .collect();
    assert_eq!(texts, vec!["kept"], "messages after close faults");
}

/// Raw GET over a fresh TCP connection; returns everything until the server closes.
fn raw_get(emu: &Emulator, path: &str, token: &str) -> Vec<u8> {
    let addr = emu.endpoint().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// A truncated body is shorter than its Content-Length and the connection closes.
#[test]
fn truncated_body_fault_sends_less_than_content_length() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Trunc", &[]);
    emu.set_faults(Faults::sequence(vec![Some(Fault::TruncatedBody)]));
    let raw = raw_get(
        &emu,
        &format!("/chat/threads/{}?api-version={V2024}", enc(&tid)),
        &c.token,
    );
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no headers in {text:?}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_string)
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    assert!(
        body.len() < len,
        "body {} bytes, Content-Length {len}",
        body.len()
    );
    assert!(c
        .try_call("GET", &format!("/chat/threads/{}", enc(&tid)), None)
        .is_ok());
}

/// A malformed body is not JSON, and the next request is served normally.
#[test]
fn malformed_body_fault_returns_invalid_json() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Bad", &[]);
    emu.set_faults(Faults::sequence(vec![Some(Fault::MalformedBody)]));
    let r = c.get(&format!("/chat/threads/{}", enc(&tid)));
    r.expect(200);
    assert!(
        serde_json::from_str::<serde_json::Value>(&r.text).is_err(),
        "body parsed as JSON: {}",
        r.text
    );
    c.get(&format!("/chat/threads/{}", enc(&tid))).expect(200);
}

/// Delay faults and added latency still serve the request.
#[test]
fn delay_faults_still_serve_requests() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    emu.set_faults(Faults {
        latency: Duration::from_millis(5),
        sequence: vec![Some(Fault::Delay(Duration::from_millis(20)))],
        ..Faults::default()
    });
    c.get("/chat/threads").expect(200);
    c.get("/chat/threads").expect(200);
}

fn statuses(emu: &Emulator, c: &Client, seed: u64) -> Vec<u16> {
    emu.set_faults(Faults {
        seed,
        ..Faults::rate(0.5, vec![Fault::ServiceUnavailable])
    });
    (0..60).map(|_| c.get("/chat/threads").status).collect()
}

/// A fault rate fails some requests, and the same seed fails the same ones.
#[test]
fn fault_rate_is_reproducible_with_seed() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let a = statuses(&emu, &c, 11);
    let b = statuses(&emu, &c, 11);
    assert_eq!(a, b, "same seed, different faults");
    let failed = a.iter().filter(|s| **s == 503).count();
    assert!(
        (10..=50).contains(&failed),
        "{failed} of 60 failed at rate 0.5: {a:?}"
    );
    assert!(a.iter().all(|s| *s == 503 || *s == 200), "{a:?}");
    emu.set_faults(Faults::default());
    assert!((0..20).all(|_| c.get("/chat/threads").status == 200));
}

/// Keep-alive: one client reuses one TCP connection; counters see every request.
#[test]
fn keep_alive_reuses_one_connection() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    for _ in 0..10 {
        c.get("/chat/threads").expect(200);
    }
    assert_eq!(emu.request_count(), 10);
    assert_eq!(
        emu.connection_count(),
        1,
        "connections for 10 sequential requests"
    );
}

/// An injected 429/500/503 reads the request body before answering, so the connection stays
/// open for the client's retry: the head goes first, the body only after the answer has come
/// (what a client sees when the service answers early), then a second request on the same
/// socket must be served. Unread, hyper closed the connection after the fault answer.
#[test]
fn fault_answers_keep_the_connection_for_the_retry() {
    for fault in [
        Fault::TooManyRequests {
            retry_after: Duration::ZERO,
        },
        Fault::InternalError,
        Fault::ServiceUnavailable,
    ] {
        let emu = Emulator::start().expect("emulator");
        let (_user, token) = emu.user_with_token();
        emu.set_faults(Faults::sequence(vec![Some(fault.clone()), None]));
        let target = format!("/chat/threads?api-version={V2024}");
        let auth = format!("Bearer {token}");
        let body = br#"{"topic":"kept"}"#;
        let (mut s, head, first) = post_with_late_body(&emu, &target, &auth, body);
        assert!(
            !first.starts_with(b"HTTP/1.1 2"),
            "{fault:?}: {}",
            String::from_utf8_lossy(&first)
        );
        let second = request_again(&mut s, &[head.as_bytes(), body]);
        assert!(
            second.starts_with(b"HTTP/1.1 201"),
            "{fault:?}: the retry on the same connection got {:?}",
            String::from_utf8_lossy(&second)
        );
        assert_eq!(emu.connection_count(), 1, "{fault:?}");
    }
}

/// Sends `POST target` with `Authorization: auth` to the emulator on a new connection, the
/// head first and `body` 100 ms later (a client whose answer may come before it has sent the
/// body), and reads the answer. Returns the connection, the head sent and the answer.
fn post_with_late_body(
    emu: &Emulator,
    target: &str,
    auth: &str,
    body: &[u8],
) -> (TcpStream, String, Vec<u8>) {
    let addr = emu.endpoint().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("head");
    // An early answer does not wait for the body; the emulator must still read it.
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(body).expect("body");
    let answer = read_response(&mut s);
    (s, head, answer)
}

/// Sends one more request on `s` and reads its answer, or says that the connection was closed.
fn request_again(s: &mut TcpStream, parts: &[&[u8]]) -> Vec<u8> {
    match parts.iter().try_for_each(|part| s.write_all(part)) {
        Ok(()) => read_response(s),
        Err(e) => format!("(the connection was closed: {e})").into_bytes(),
    }
}

/// Reads one response (head and a `Content-Length` body) from `s`; empty if the peer closed.
fn read_response(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => out.push(byte[0]),
            _ => return out,
        }
    }
    let head = String::from_utf8_lossy(&out).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut rest = vec![0u8; len];
    if s.read_exact(&mut rest).is_ok() {
        out.extend_from_slice(&rest);
    }
    out
}

/// Answers given before a handler reads the body (a refused bearer token on identity, an
/// unknown api-version) also leave the connection open: the front door reads every request
/// to its end first.
#[test]
fn early_error_answers_keep_the_connection() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let addr = emu.endpoint().trim_start_matches("http://").to_string();
    let body = br#"{"createTokenWithScopes":["chat"]}"#;
    let early = [
        (
            "/identities?api-version=2023-10-01",
            "Bearer not-a-jwt",
            "401",
        ),
        (
            "/identities?api-version=1999-01-01",
            "Bearer not-a-jwt",
            "400",
        ),
    ];
    for (target, auth, status) in early {
        let (mut s, _, first) = post_with_late_body(&emu, target, auth, body);
        assert!(
            first.starts_with(format!("HTTP/1.1 {status}").as_bytes()),
            "{target}: {}",
            String::from_utf8_lossy(&first)
        );
        let next = format!(
            "GET /chat/threads?api-version={V2024} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        let second = request_again(&mut s, &[next.as_bytes()]);
        assert!(
            second.starts_with(b"HTTP/1.1 200"),
            "{target}: the next request on the same connection got {:?}",
            String::from_utf8_lossy(&second)
        );
    }
}
