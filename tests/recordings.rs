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

/// The `api-version` query parameter of a URL.
fn api_version(uri: &str) -> Option<String> {
    let (_, query) = replay::split_url(uri);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("api-version="))
        .map(replay::percent_decode)
}

/// Whether an api-version predates chat's first stable version (2021-03-07).
fn is_pre_ga(version: &str) -> bool {
    version.get(..10).is_some_and(|date| date < "2021-03-07")
}

/// Every recorded chat body decodes and re-encodes without losing or changing anything.
#[test]
fn recordings_round_trip_through_models() {
    let Some(recordings) = load_all() else {
        return;
    };
    let mut report = Report::default();
    let (mut chat, mut other, mut unimplemented) = (0usize, 0usize, 0usize);
    for (name, list) in &recordings {
        for (i, exchange) in list.iter().enumerate() {
            let at = format!("{name} #{i} {} {}", exchange.method, exchange.uri);
            let Some(op) = route(&exchange.method, &exchange.uri) else {
                let (segments, _) = replay::split_url(&exchange.uri);
                if segments.first().map(String::as_str) == Some("chat") {
                    unimplemented += 1;
                    report.note(format!(
                        "{} {} is not an operation of the stable chat API (not checked)",
                        exchange.method,
                        segments
                            .get(3)
                            .map_or("/chat/…", |_| "/chat/threads/{id}/…")
                    ));
                } else {
                    other += 1;
                }
                continue;
            };
            chat += 1;
            let version = api_version(&exchange.uri);
            if exchange.status < 400 && version.as_deref().is_some_and(is_pre_ga) {
                // Pre-GA previews used other shapes (multi-status creates, `createdBy`
                // strings, `members`); the client speaks none of them. Their error bodies
                // are still checked below.
                report.note(format!(
                    "api-version {} is a pre-GA preview: success bodies not checked",
                    version.unwrap_or_default()
                ));
                continue;
            }
            if exchange.status < 400 {
                replay::check_request(&mut report, &at, op, &exchange.request);
            }
            replay::check_response(&mut report, &at, op, exchange.status, &exchange.response);
        }
    }
    println!(
        "{} recordings: {chat} chat exchanges checked, {unimplemented} to chat routes outside the stable API, {other} non-chat (identity) exchanges not routed",
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

/// For each recorded page with a `nextLink`, the pager resumed from that link (as its
/// continuation token) sends the request the next recorded exchange made: the same path and
/// the same query (in any order, with the client's api-version), on the client's own host.
#[test]
fn recordings_next_links_resume_as_recorded() {
    let Some(recordings) = load_all() else {
        return;
    };
    let server = replay::CaptureServer::start();
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
            // The request to expect: the next recorded exchange when it is the follow-up (same
            // operation and path, same query apart from api-version), else the link itself.
            let without_version = |url: &str| {
                let (path, query) = replay::split_url(url);
                let pairs: Vec<_> = replay::query_pairs(&query)
                    .into_iter()
                    .filter(|(k, _)| k != "api-version")
                    .collect();
                (path, pairs)
            };
            let expected = match list.get(i + 1) {
                Some(next)
                    if next.method.eq_ignore_ascii_case("GET")
                        && route(&next.method, &next.uri) == Some(op)
                        && without_version(&next.uri) == without_version(next_link) =>
                {
                    against_next += 1;
                    next.uri.clone()
                }
                _ => next_link.to_string(),
            };
            let (expected_path, expected_query) = replay::split_url(&expected);
            let expected_pairs = replay::query_pairs(&expected_query);
            let api_version = expected_pairs
                .iter()
                .find(|(k, _)| k == "api-version")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "2025-03-15".to_string());
            checked += 1;
            let sent = match replay::resume_from(&server, op, next_link, &api_version) {
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
            let pairs = replay::query_pairs(&query);
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
