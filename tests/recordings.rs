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
