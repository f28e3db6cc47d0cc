//! Hostile input: whatever a client sends, the emulator answers in the service's error shape
//! (never a 5xx, never a dropped connection) and keeps serving.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use acs_chat_emulator::Emulator;
use common::{enc, Client, V2024};
use serde_json::json;

fn hex_cursor(snapshot: i64, key: i64, tie: &str) -> String {
    let mut b = vec![0x3e_u8];
    b.extend_from_slice(&snapshot.to_le_bytes());
    b.extend_from_slice(&key.to_le_bytes());
    b.extend_from_slice(tie.as_bytes());
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Malformed queries, bodies, ids and continuations get 4xx answers, and the server lives on.
#[test]
fn hostile_requests_get_client_errors() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("target", &[]);
    let t = enc(&tid);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, String, Option<Vec<u8>>)> = vec![
        ("GET", format!("/chat/threads/{t}/messages?maxPageSize=99999999999999999999999"), None),
        ("GET", format!("/chat/threads/{t}/messages?syncState={}", hex_cursor(i64::MAX, i64::MIN, "x")), None),
        ("GET", format!("/chat/threads/{t}/messages?syncState={}", hex_cursor(i64::MIN, i64::MAX, "9999999999999999999999")), None),
        ("GET", format!("/chat/threads?syncState={}", hex_cursor(-1, -1, "")), None),
        ("GET", format!("/chat/threads/{t}/messages?startTime=%2B999999-01-01T00%3A00%3A00Z"), None),
        ("GET", format!("/chat/threads/{t}/participants?skip=9223372036854775807&maxPageSize=200"), None),
        ("GET", format!("/chat/threads/{t}/messages/-1"), None),
        ("GET", "/chat/threads/%E2%82".to_string(), None),
        ("GET", format!("/chat/threads/{}", "a".repeat(10_000)), None),
        ("POST", "/chat/threads".to_string(), Some(deep.clone().into_bytes())),
        ("POST", "/chat/threads".to_string(), Some(vec![0xff, 0xfe, 0x00])),
        ("POST", "/chat/threads".to_string(), Some(b"[]".to_vec())),
        ("POST", "/chat/threads".to_string(), Some(br#"{"topic": 5}"#.to_vec())),
        ("POST", "/chat/threads".to_string(), Some(br#"{"topic": "t", "participants": "x"}"#.to_vec())),
        ("POST", "/chat/threads".to_string(), Some(br#"{"topic": "t", "participants": [{"communicationIdentifier": {"rawId": "8:acs:x"}, "shareHistoryTime": "never"}]}"#.to_vec())),
        ("POST", format!("/chat/threads/{t}/messages"), Some(br#"{"content": ["x"]}"#.to_vec())),
        ("POST", format!("/chat/threads/{t}/messages"), Some(br#"{"content": "x", "metadata": {"k": 1}}"#.to_vec())),
        ("POST", format!("/chat/threads/{t}/messages"), Some(json!({"content": "x", "metadata": {"k": "v".repeat(2000)}}).to_string().into_bytes())),
        ("PATCH", format!("/chat/threads/{t}"), Some(br#"{"topic": ""}"#.to_vec())),
        ("POST", format!("/chat/threads/{t}/participants/:add"), Some(br#"{"participants": []}"#.to_vec())),
        ("POST", format!("/chat/threads/{t}/participants/:remove"), Some(br#"{}"#.to_vec())),
        ("POST", format!("/chat/threads/{t}/readReceipts"), Some(br#"{"chatMessageId": 12}"#.to_vec())),
        ("POST", format!("/chat/threads/{t}/typing"), Some(br#"{"senderDisplayName": {}}"#.to_vec())),
    ];
    for (method, path, body) in cases {
        let url = c.url(&format!(
            "{path}{}api-version={V2024}",
            if path.contains('?') { '&' } else { '?' }
        ));
        let r = c
            .try_send_raw(method, &url, body, &[])
            .unwrap_or_else(|e| panic!("{method} {path}: connection failed: {e}"));
        assert!(
            (400..500).contains(&r.status) || r.status == 200,
            "{method} {}: status {} body {}",
            &path[..path.len().min(120)],
            r.status,
            r.text
        );
        if r.status >= 400 {
            let v: serde_json::Value = serde_json::from_str(&r.text)
                .unwrap_or_else(|_| panic!("{method} {path}: error body not JSON: {}", r.text));
            assert!(v["error"]["code"].is_string(), "{method} {path}: {v}");
        }
    }
    c.get(&format!("/chat/threads/{t}")).expect(200);
}

/// Raw bytes a client library would refuse to send still get an HTTP answer or a clean close.
#[test]
fn raw_garbage_does_not_stop_the_server() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let addr = emu.endpoint().trim_start_matches("http://").to_string();
    for raw in [
        &b"GET /chat/threads/%%%%?api-version=2024-03-07 HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"POST /chat/threads?api-version=2024-03-07 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        s.write_all(raw).expect("write");
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let head = String::from_utf8_lossy(&out);
        assert!(
            out.is_empty() || head.starts_with("HTTP/1.1 4"),
            "answer to garbage: {head}"
        );
    }
    c.get("/chat/threads").expect(200);
}
