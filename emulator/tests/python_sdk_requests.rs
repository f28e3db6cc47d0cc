//! Replays, byte for byte, every request one run of the official Python SDK sent
//! (`../shared/conformance/official-python-sdk-requests.jsonl`, or the file in
//! `$ACS_CONFORMANCE_DIR`): same methods, targets, bodies and content types, with only the ids
//! swapped for the emulator's. Each must get the status the SDK expects; a partial add must
//! report the SDK's bad participant. This checks the emulator against the official client's
//! wire format even where Python is not installed.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use acs_chat_emulator::Emulator;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{enc, Client};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The capture file; `None` (after saying why) when missing, a failure under CI.
fn capture_file() -> Option<PathBuf> {
    common::fixtures::file(
        "python_sdk_requests_get_expected_statuses",
        &common::fixtures::CONFORMANCE,
        "official-python-sdk-requests.jsonl",
    )
}

/// Replaces every recorded id (raw and percent-encoded) with the emulator's.
fn swap(text: &str, ids: &HashMap<String, String>) -> String {
    let mut out = text.to_string();
    for (rec, ours) in ids {
        out = out.replace(&enc(rec), &enc(ours)).replace(rec, ours);
    }
    out
}

fn header<'a>(record: &'a Value, name: &str) -> Option<&'a str> {
    record["headers"].as_array()?.iter().find_map(|h| {
        (h[0].as_str()?.eq_ignore_ascii_case(name))
            .then(|| h[1].as_str())
            .flatten()
    })
}

/// Every request of the official Python SDK's run gets the status that run expected.
#[test]
fn python_sdk_requests_get_expected_statuses() {
    let Some(path) = capture_file() else {
        return;
    };
    let text = std::fs::read_to_string(&path).expect("capture readable");
    let emu = Emulator::start().expect("emulator");
    let host = emu.endpoint().trim_start_matches("http://").to_string();
    let key = STANDARD.decode(emu.access_key()).expect("key");
    let raw = Client::new(&emu).with_token("");
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut token: Option<String> = None;
    let mut last_next_link: Option<String> = None;
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (n, line) in text.lines().enumerate() {
        let rec: Value = serde_json::from_str(line).expect("capture line is JSON");
        let method = rec["method"].as_str().unwrap_or("GET");
        let mut target = swap(rec["raw_target"].as_str().unwrap_or("/"), &ids);
        let body = swap(rec["body"].as_str().unwrap_or(""), &ids).into_bytes();
        let want = rec["response_status"].as_u64().unwrap_or(0) as u16;
        let mut headers: Vec<(String, String)> = Vec::new();
        for name in ["Content-Type", "repeatability-request-id"] {
            if let Some(v) = header(&rec, name) {
                headers.push((name.to_string(), v.to_string()));
            }
        }
        if target.contains("syncState=") {
            match last_next_link.take() {
                // The SDK follows the emulator's own nextLink, not the recorded server's.
                Some(link) => target = link.trim_start_matches(&emu.endpoint()).to_string(),
                None => {
                    failures.push(format!("#{n}: no nextLink to follow"));
                    continue;
                }
            }
        }
        if target.starts_with("/identities") {
            let date = chrono::Utc::now()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string();
            let hash = STANDARD.encode(Sha256::digest(&body));
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac key");
            mac.update(format!("{method}\n{target}\n{date};{host};{hash}").as_bytes());
            let sig = STANDARD.encode(mac.finalize().into_bytes());
            headers.push(("x-ms-date".into(), date));
            headers.push(("x-ms-content-sha256".into(), hash));
            headers.push((
                "Authorization".into(),
                format!(
                    "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={sig}"
                ),
            ));
        } else {
            let t = token
                .as_deref()
                .expect("a token from the first identity call");
            headers.push(("Authorization".into(), format!("Bearer {t}")));
        }
        let hdrs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let body_opt = (method != "GET").then_some(body);
        let r = raw.send_raw(method, &raw.url(&target), body_opt, &hdrs);
        replayed += 1;
        if r.status != want {
            failures.push(format!(
                "#{n} {method} {target}: status {} (the SDK expects {want}): {}",
                r.status, r.text
            ));
            continue;
        }
        let got: Value = serde_json::from_str(&r.text).unwrap_or(Value::Null);
        let recorded = &rec["response_body"];
        // Learn the emulator's ids for what the recording created.
        if let (Some(a), Some(b)) = (
            recorded["identity"]["id"].as_str(),
            got["identity"]["id"].as_str(),
        ) {
            ids.insert(a.to_string(), b.to_string());
            if token.is_none() {
                token = got["accessToken"]["token"].as_str().map(str::to_string);
            }
        }
        if let (Some(a), Some(b)) = (
            recorded["chatThread"]["id"].as_str(),
            got["chatThread"]["id"].as_str(),
        ) {
            ids.insert(a.to_string(), b.to_string());
        }
        if method == "POST" && target.contains("/messages?") {
            if let (Some(a), Some(b)) = (recorded["id"].as_str(), got["id"].as_str()) {
                ids.insert(a.to_string(), b.to_string());
            }
        }
        last_next_link = got["nextLink"].as_str().map(str::to_string);
        let targets = |v: &Value| -> Vec<String> {
            v["invalidParticipants"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e["target"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (want_bad, got_bad) = (targets(recorded), targets(&got));
        if want_bad != got_bad {
            failures.push(format!(
                "#{n} {method} {target}: invalidParticipants {got_bad:?}, the SDK expects {want_bad:?}"
            ));
        }
    }
    println!(
        "replayed {replayed} official Python SDK requests from {}",
        path.display()
    );
    assert!(replayed > 20, "only {replayed} requests replayed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
