//! Replays every recorded exchange of the official SDKs' test suites (`../shared/recordings`,
//! or the folder in `ACS_RECORDINGS_DIR`) through the models: each response body decodes and
//! re-encodes with nothing lost or changed, each request body the client would send decodes
//! into the request models and re-encodes to the same JSON, and error bodies parse.
//!
//! Exchanges are routed by method and path, never by file name, so recordings from suites not
//! seen before are checked the same way.

#[path = "recordings/replay.rs"]
mod replay;

use std::path::{Path, PathBuf};

use replay::{route, Body, Report};
use serde_json::Value;

/// The recordings folder, or why there is none.
fn recordings_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("ACS_RECORDINGS_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!(
                "ACS_RECORDINGS_DIR={} is not a directory",
                dir.display()
            ))
        };
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/recordings");
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "{} does not exist and ACS_RECORDINGS_DIR is not set",
            dir.display()
        ))
    }
}

/// Every `.json` file under `dir`, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// One recorded request and its response, whatever the recording format.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub uri: String,
    pub status: u16,
    pub request: Body,
    pub response: Body,
}

/// Reads both formats: test-proxy `Entries` and legacy Java `networkCallRecords`.
fn exchanges(recording: &Value) -> Option<Vec<Exchange>> {
    let status = |v: Option<&Value>| -> u16 {
        match v {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            _ => 0,
        }
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(entries) = recording.get("Entries").and_then(Value::as_array) {
        return Some(
            entries
                .iter()
                .map(|e| Exchange {
                    method: text(e.get("RequestMethod")),
                    uri: text(e.get("RequestUri")),
                    status: status(e.get("StatusCode")),
                    request: Body::from_recorded(e.get("RequestBody")),
                    response: Body::from_recorded(e.get("ResponseBody")),
                })
                .collect(),
        );
    }
    if let Some(records) = recording
        .get("networkCallRecords")
        .and_then(Value::as_array)
    {
        return Some(
            records
                .iter()
                .map(|r| {
                    let response = r.get("Response");
                    Exchange {
                        method: text(r.get("Method")),
                        uri: text(r.get("Uri")),
                        status: status(response.and_then(|x| x.get("StatusCode"))),
                        // Legacy records keep no request bodies.
                        request: Body::Empty,
                        response: Body::from_recorded(response.and_then(|x| x.get("Body"))),
                    }
                })
                .collect(),
        );
    }
    None
}

/// Loads every recording, or says why it cannot.
fn load_all() -> Option<Vec<(String, Vec<Exchange>)>> {
    let dir = match recordings_dir() {
        Ok(dir) => dir,
        Err(why) => {
            println!("SKIPPED: no recordings to replay: {why}");
            return None;
        }
    };
    let mut out = Vec::new();
    for path in json_files(&dir) {
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => panic!("cannot read recording {name}: {e}"),
        };
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => panic!("recording {name} is not JSON: {e}"),
        };
        match exchanges(&value) {
            Some(list) => out.push((name, list)),
            None => println!("not a recording (no Entries or networkCallRecords), skipped: {name}"),
        }
    }
    Some(out)
}

/// Every recorded chat body decodes and re-encodes without losing or changing anything.
#[test]
fn recordings_round_trip_through_models() {
    let Some(recordings) = load_all() else {
        return;
    };
    let mut report = Report::default();
    let (mut chat, mut other) = (0usize, 0usize);
    for (name, list) in &recordings {
        for (i, exchange) in list.iter().enumerate() {
            let at = format!("{name} #{i} {} {}", exchange.method, exchange.uri);
            let Some(op) = route(&exchange.method, &exchange.uri) else {
                other += 1;
                continue;
            };
            chat += 1;
            if exchange.status < 400 {
                replay::check_request(&mut report, &at, op, &exchange.request);
            }
            replay::check_response(&mut report, &at, op, exchange.status, &exchange.response);
        }
    }
    println!(
        "{} recordings, {chat} chat exchanges checked, {other} non-chat exchanges (identity) not routed",
        recordings.len()
    );
    report.print("recordings");
    assert!(
        chat > 0,
        "no chat exchange found in {} recordings",
        recordings.len()
    );
    assert!(
        report.failures.is_empty(),
        "{} failures:\n{}",
        report.failures.len(),
        report.failures.join("\n")
    );
}

/// A tiny HTTP server that records each request target (path and query) and answers every
/// request with an empty last page.
struct CaptureServer {
    endpoint: String,
    targets: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl CaptureServer {
    fn start() -> CaptureServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
        let targets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&targets);
        // The thread ends with the test process; it only ever answers loopback requests.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    match reader.read_line(&mut header) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if header == "\r\n" || header == "\n" => break,
                        Ok(_) => {}
                    }
                }
                let target = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                if let Ok(mut list) = seen.lock() {
                    list.push(target);
                }
                let body = r#"{"value":[]}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let mut stream = reader.into_inner();
                let _ = stream.write_all(response.as_bytes());
            }
        });
        CaptureServer { endpoint, targets }
    }

    fn take(&self) -> Vec<String> {
        self.targets
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
    }
}

/// A JWT-shaped token valid for an hour (the client only reads `exp`).
fn test_token() -> String {
    use base64::Engine as _;
    let exp = chrono::Utc::now().timestamp() + 3600;
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#));
    format!("eyJhbGciOiJub25lIn0.{payload}.c2ln")
}

/// Decoded query pairs, sorted, so that order and percent-encoding do not matter.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| replay::percent_decode(&s.replace('+', " "));
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect();
    pairs.sort();
    pairs
}

/// Resumes the list operation of `next_link` from it (the continuation token is the
/// nextLink) and returns the request target the pager sent.
fn resume_from(
    server: &CaptureServer,
    op: replay::Operation,
    next_link: &str,
    api_version: &str,
) -> Result<Vec<String>, String> {
    use acs_chat::{
        ChatClient, ChatClientOptions, CommunicationTokenCredential, ListChatThreadsOptions,
        ListMessagesOptions, ListParticipantsOptions, ListReadReceiptsOptions,
    };
    use replay::Operation::*;
    let credential = CommunicationTokenCredential::new(test_token()).map_err(|e| e.to_string())?;
    let options = ChatClientOptions {
        api_version: api_version.to_string(),
        ..Default::default()
    };
    let chat = ChatClient::with_options(&server.endpoint, credential, options)
        .map_err(|e| e.to_string())?;
    let token = Some(next_link.to_string());
    let (segments, _) = replay::split_url(next_link);
    let thread_id = segments.get(2).cloned().unwrap_or_default();
    let first_page_ok = match op {
        ListChatThreads => chat
            .list_chat_threads(Some(ListChatThreadsOptions {
                continuation_token: token,
                ..Default::default()
            }))
            .map(|p| p.by_page().next().map(|r| r.is_ok())),
        ListChatMessages => chat.get_chat_thread_client(&thread_id).and_then(|t| {
            t.list_messages(Some(ListMessagesOptions {
                continuation_token: token,
                ..Default::default()
            }))
            .map(|p| p.by_page().next().map(|r| r.is_ok()))
        }),
        ListChatParticipants => chat.get_chat_thread_client(&thread_id).and_then(|t| {
            t.list_participants(Some(ListParticipantsOptions {
                continuation_token: token,
                ..Default::default()
            }))
            .map(|p| p.by_page().next().map(|r| r.is_ok()))
        }),
        ListChatReadReceipts => chat.get_chat_thread_client(&thread_id).and_then(|t| {
            t.list_read_receipts(Some(ListReadReceiptsOptions {
                continuation_token: token,
                ..Default::default()
            }))
            .map(|p| p.by_page().next().map(|r| r.is_ok()))
        }),
        other => return Err(format!("{other:?} is not a list operation")),
    };
    match first_page_ok {
        Ok(Some(true)) => Ok(server.take()),
        Ok(other) => Err(format!(
            "resuming gave {other:?} instead of one page; sent {:?}",
            server.take()
        )),
        Err(e) => Err(format!("resuming failed: {e}")),
    }
}

/// For each recorded page with a `nextLink`, the pager resumed from that link (as its
/// continuation token) sends the request the next recorded exchange made: the same path and
/// the same query (in any order, with the client's api-version), on the client's own host.
#[test]
fn recordings_next_links_resume_as_recorded() {
    let Some(recordings) = load_all() else {
        return;
    };
    let server = CaptureServer::start();
    let mut failures = Vec::new();
    let (mut checked, mut against_next) = (0usize, 0usize);
    for (name, list) in &recordings {
        for (i, exchange) in list.iter().enumerate() {
            let Some(op) = route(&exchange.method, &exchange.uri) else {
                continue;
            };
            let Body::Json(body, _) = &exchange.response else {
                continue;
            };
            let Some(next_link) = body
                .get("nextLink")
                .and_then(Value::as_str)
                .filter(|l| !l.is_empty())
            else {
                continue;
            };
            let at = format!("{name} #{i}");
            // The request to expect: the next recorded exchange of the same operation, if the
            // recording went on to follow the link, else the link itself.
            let expected = match list.get(i + 1) {
                Some(next)
                    if next.method.eq_ignore_ascii_case("GET")
                        && route(&next.method, &next.uri) == Some(op) =>
                {
                    against_next += 1;
                    next.uri.clone()
                }
                _ => next_link.to_string(),
            };
            let (expected_path, expected_query) = replay::split_url(&expected);
            let expected_pairs = query_pairs(&expected_query);
            let api_version = expected_pairs
                .iter()
                .find(|(k, _)| k == "api-version")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "2025-03-15".to_string());
            checked += 1;
            let sent = match resume_from(&server, op, next_link, &api_version) {
                Ok(sent) => sent,
                Err(e) => {
                    failures.push(format!("{at}: {e}"));
                    continue;
                }
            };
            let [target] = sent.as_slice() else {
                failures.push(format!(
                    "{at}: expected one request, the pager sent {sent:?}"
                ));
                continue;
            };
            let (path, query) = replay::split_url(target);
            let pairs = query_pairs(&query);
            if path != expected_path || pairs != expected_pairs {
                failures.push(format!(
                    "{at}: resumed request {target}\n  path  {path:?}\n  query {pairs:?}\n expected {expected}\n  path  {expected_path:?}\n  query {expected_pairs:?}"
                ));
            }
        }
    }
    println!("nextLink: {checked} recorded nextLinks resumed, {against_next} compared with the recorded follow-up request");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
