//! Replays the real service's recorded traffic (`../shared/recordings`, or
//! `$ACS_RECORDINGS_DIR`) against fresh emulators: every request that can be replayed must
//! get the recorded status and a body of the recorded shape (same keys, same JSON types).
//!
//! Each recording file runs against its own emulator. Ids are mapped as the replay goes:
//! users the recording created are created (identity requests are replayed, HMAC-signed with
//! the emulator's key), threads and messages that a recording only refers to (because an
//! earlier test created them) are set up first, and the ids the emulator returns replace the
//! recorded ones in later paths and bodies. What cannot be replayed is counted and explained.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use acs_chat_emulator::Emulator;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{enc, participant, Client, Reply};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Keys whose presence depends on state the replay cannot reproduce exactly, or on a
/// documented difference; a key listed here may be present on one side only.
const OPTIONAL_KEYS: &[(&str, &str)] = &[
    ("nextLink", "page boundaries depend on how much setup data exists"),
    ("metadata", "present only when set"),
    ("editedOn", "present only after an edit"),
    ("deletedOn", "present only after a delete"),
    ("displayName", "present only when set"),
    ("lastMessageReceivedOn", "the service sometimes omits it"),
    ("messagingPolicy", "only in the preview api-version 2024-06-05-preview"),
    (
        "kind",
        "the emulator adds `kind` on identifiers from 2023-11-07 (project decision); the service omits it",
    ),
];

/// The recordings folder; `None` (after saying why) when missing, a failure under CI.
fn recordings_dir() -> Option<PathBuf> {
    common::fixtures::dir(
        "replay_recordings_match_status_and_shape",
        &common::fixtures::RECORDINGS,
    )
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            if let Ok(v) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or("zz"), 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits an absolute URL into (path, query pairs raw).
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let path_and_query = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    (path.to_string(), pairs)
}

/// The api-version a recorded chat version is replayed with, or why it cannot be.
fn chat_version(recorded: &str) -> Result<&'static str, String> {
    match recorded {
        "2021-09-07" => Ok("2021-09-07"),
        "2023-11-07" => Ok("2023-11-07"),
        "2024-03-07" => Ok("2024-03-07"),
        "2025-03-15" => Ok("2025-03-15"),
        // The preview between 2024-03-07 and 2025-03-15: 2025-03-15 has its thread shape
        // (metadata, retentionPolicy) minus messagingPolicy.
        "2024-06-05-preview" => Ok("2025-03-15"),
        other => Err(format!(
            "pre-GA api-version {other} (the emulator serves GA versions only)"
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Recorded chat messages of every file, by `type`: lists mix message kinds, and a page the
/// emulator returns may hold a kind the recorded page happens not to.
fn message_library(files: &[PathBuf]) -> HashMap<String, Vec<Value>> {
    fn collect(v: &Value, lib: &mut HashMap<String, Vec<Value>>) {
        match v {
            Value::Object(m) => {
                if let (Some(t), true) = (
                    m.get("type").and_then(Value::as_str),
                    m.contains_key("sequenceId"),
                ) {
                    lib.entry(t.to_string()).or_default().push(v.clone());
                }
                m.values().for_each(|x| collect(x, lib));
            }
            Value::Array(a) => a.iter().for_each(|x| collect(x, lib)),
            _ => {}
        }
    }
    let mut lib = HashMap::new();
    for f in files {
        if let Some(doc) = std::fs::read_to_string(f)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            for e in doc["Entries"].as_array().into_iter().flatten() {
                collect(&e["ResponseBody"], &mut lib);
            }
        }
    }
    lib
}

static LIBRARY: std::sync::OnceLock<HashMap<String, Vec<Value>>> = std::sync::OnceLock::new();

/// Differences in shape between `want` (recorded) and `got` (emulator).
fn shape_diff(at: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        // Different variants of a polymorphic model (e.g. retentionPolicy kinds): the state
        // differs, not the shape.
        (Value::Object(w), Value::Object(g))
            if w.get("kind").is_some_and(Value::is_string)
                && g.get("kind").is_some_and(Value::is_string)
                && w.get("kind") != g.get("kind")
                && !w.contains_key("rawId") => {}
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => shape_diff(&format!("{at}.{k}"), wv, gv, out),
                    None if OPTIONAL_KEYS.iter().any(|(o, _)| o == k) => {}
                    None => out.push(format!("{at}.{k}: missing")),
                }
            }
            for k in g.keys() {
                if !w.contains_key(k) && !OPTIONAL_KEYS.iter().any(|(o, _)| o == k) {
                    out.push(format!("{at}.{k}: not in the recording"));
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.is_empty() {
                return;
            }
            for (i, gv) in g.iter().enumerate() {
                // Compare with the recorded element of the same message type, from this list
                // or from any recording, else with the one it resembles most.
                let kind = gv.get("type").and_then(Value::as_str);
                let same: Vec<&Value> = match kind {
                    Some(k) => {
                        let here: Vec<&Value> =
                            w.iter().filter(|x| x["type"].as_str() == Some(k)).collect();
                        if here.is_empty() {
                            LIBRARY
                                .get()
                                .and_then(|l| l.get(k))
                                .map(|v| v.iter().collect())
                                .unwrap_or_default()
                        } else {
                            here
                        }
                    }
                    None => w.iter().collect(),
                };
                let candidates = if same.is_empty() {
                    w.iter().collect()
                } else {
                    same
                };
                let best = candidates
                    .into_iter()
                    .map(|wv| {
                        let mut d = Vec::new();
                        shape_diff(&format!("{at}[{i}]"), wv, gv, &mut d);
                        d
                    })
                    .min_by_key(Vec::len)
                    .unwrap_or_default();
                out.extend(best);
            }
        }
        (w, g) if type_name(w) != type_name(g) => out.push(format!(
            "{at}: {} recorded, {} from the emulator",
            type_name(w),
            type_name(g)
        )),
        _ => {}
    }
}

fn rfc1123_now() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// State of one file's replay.
struct Replay<'a> {
    emu: &'a Emulator,
    caller: Client,
    users: HashMap<String, String>,
    threads: HashMap<String, String>,
    messages: HashMap<String, String>,
    last_created_user: Option<String>,
    last_next_link: Option<String>,
}

impl Replay<'_> {
    fn map_user(&mut self, recorded: &str, invalid: &[String]) -> String {
        if invalid.iter().any(|i| i == recorded) {
            return recorded.to_string();
        }
        if let Some(u) = self.users.get(recorded) {
            return u.clone();
        }
        let u = self.emu.create_user();
        self.users.insert(recorded.to_string(), u.clone());
        u
    }

    /// A thread for a recorded id the recording never created (setup: caller + messages +
    /// a read receipt, so lists are not empty).
    fn map_thread(&mut self, recorded: &str) -> String {
        if let Some(t) = self.threads.get(recorded) {
            return t.clone();
        }
        let others: Vec<String> = self.users.values().cloned().collect();
        let mut parts = vec![participant(&self.caller.user, "Caller")];
        parts.extend(others.iter().map(|u| participant(u, "Other")));
        let r = self.caller.post(
            "/chat/threads",
            &json!({"topic": "setup", "participants": parts}),
        );
        let tid = r.json()["chatThread"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("setup thread failed: {}", r.text))
            .to_string();
        // Two messages, so the 2 system messages + 2 fill more than one small page.
        self.caller.send(&tid, "setup message 1");
        let mid = self.caller.send(&tid, "setup message 2");
        self.caller
            .post(
                &format!("/chat/threads/{}/readReceipts", enc(&tid)),
                &json!({"chatMessageId": mid}),
            )
            .expect(200);
        self.threads.insert(recorded.to_string(), tid.clone());
        tid
    }

    fn map_message(&mut self, tid: &str, recorded: &str) -> String {
        if let Some(m) = self.messages.get(recorded) {
            return m.clone();
        }
        let m = self.caller.send(tid, "setup message");
        self.messages.insert(recorded.to_string(), m.clone());
        m
    }

    /// Rewrites ids inside a request body.
    fn rewrite_body(&mut self, v: &Value, tid: Option<&str>, invalid: &[String]) -> Value {
        match v {
            Value::String(s) if s.starts_with("8:acs:") => Value::from(self.map_user(s, invalid)),
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, v) in m {
                    let nv = match (k.as_str(), v, tid) {
                        ("chatMessageId", Value::String(s), Some(t)) => {
                            let t = t.to_string();
                            Value::from(self.map_message(&t, s))
                        }
                        _ => self.rewrite_body(v, tid, invalid),
                    };
                    out.insert(k.clone(), nv);
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.rewrite_body(x, tid, invalid))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Rewrites a recorded chat path to the emulator's ids.
    fn rewrite_chat_path(&mut self, path: &str) -> (String, Option<String>) {
        let Some(rest) = path.strip_prefix("/chat/threads/") else {
            return (path.to_string(), None);
        };
        let mut segs: Vec<String> = rest.split('/').map(str::to_string).collect();
        let recorded_tid = pct_decode(&segs[0]);
        let tid = self.map_thread(&recorded_tid);
        segs[0] = enc(&tid);
        if segs.len() == 3 && segs[1] == "messages" {
            let mid = self.map_message(&tid, &pct_decode(&segs[2]));
            segs[2] = mid;
        }
        (format!("/chat/threads/{}", segs.join("/")), Some(tid))
    }

    fn send_identity(&self, method: &str, path_and_query: &str, body: &[u8]) -> Reply {
        let host = self
            .emu
            .endpoint()
            .trim_start_matches("http://")
            .to_string();
        let date = rfc1123_now();
        let hash = STANDARD.encode(Sha256::digest(body));
        let to_sign = format!("{method}\n{path_and_query}\n{date};{host};{hash}");
        let key = STANDARD
            .decode(self.emu.access_key())
            .expect("access key is base64");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac key");
        mac.update(to_sign.as_bytes());
        let sig = STANDARD.encode(mac.finalize().into_bytes());
        let auth =
            format!("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={sig}");
        let unsigned = self.caller.with_token("");
        unsigned.send_raw(
            method,
            &unsigned.url(path_and_query),
            Some(body.to_vec()),
            &[
                ("x-ms-date", &date),
                ("x-ms-content-sha256", &hash),
                ("Authorization", &auth),
            ],
        )
    }
}

#[derive(Default)]
struct Tally {
    replayed: usize,
    skipped: BTreeMap<String, usize>,
    failures: Vec<String>,
}

fn replay_file(path: &Path, tally: &mut Tally) {
    let name = path.display().to_string();
    let Ok(text) = std::fs::read_to_string(path) else {
        *tally.skipped.entry("unreadable file".into()).or_default() += 1;
        return;
    };
    let Ok(doc) = serde_json::from_str::<Value>(&text) else {
        *tally.skipped.entry("not JSON".into()).or_default() += 1;
        return;
    };
    let Some(entries) = doc["Entries"].as_array() else {
        let n = doc["networkCallRecords"].as_array().map_or(1, Vec::len);
        *tally
            .skipped
            .entry("legacy Java format (pre-GA api-versions 2020/2021 previews)".into())
            .or_default() += n;
        return;
    };
    let emu = Emulator::start().expect("emulator");
    let mut r = Replay {
        emu: &emu,
        caller: Client::new(&emu),
        users: HashMap::new(),
        threads: HashMap::new(),
        messages: HashMap::new(),
        last_created_user: None,
        last_next_link: None,
    };
    for (i, e) in entries.iter().enumerate() {
        let method = e["RequestMethod"].as_str().unwrap_or("GET").to_string();
        let url = e["RequestUri"].as_str().unwrap_or("");
        let want_status = e["StatusCode"].as_u64().unwrap_or(0) as u16;
        let want_body = &e["ResponseBody"];
        let (rec_path, query) = split_url(url);
        let label = format!("{name} #{i} {method} {rec_path}");
        let invalid: Vec<String> = want_body["invalidParticipants"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["target"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let reply = if rec_path.starts_with("/identities") {
            let version = query
                .iter()
                .find(|(k, _)| k == "api-version")
                .map_or("2023-10-01", |(_, v)| v.as_str())
                .to_string();
            let mut p = rec_path.clone();
            if let Some(rest) = rec_path.strip_prefix("/identities/") {
                let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
                let id = pct_decode(id);
                let mapped = if id == "Sanitized" {
                    match &r.last_created_user {
                        Some(u) => u.clone(),
                        None => {
                            *tally
                                .skipped
                                .entry(
                                    "identity id sanitized with no user created before it".into(),
                                )
                                .or_default() += 1;
                            continue;
                        }
                    }
                } else {
                    r.map_user(&id, &[])
                };
                p = format!("/identities/{}", enc(&mapped));
                if !action.is_empty() {
                    p.push('/');
                    p.push_str(action);
                }
            }
            let body = match &e["RequestBody"] {
                Value::Null => Vec::new(),
                v => v.to_string().into_bytes(),
            };
            let reply = r.send_identity(&method, &format!("{p}?api-version={version}"), &body);
            if let (Some(rec), Some(ours)) = (
                want_body["identity"]["id"].as_str(),
                reply
                    .json_opt()
                    .and_then(|v| v["identity"]["id"].as_str().map(str::to_string)),
            ) {
                r.users.insert(rec.to_string(), ours.clone());
                r.last_created_user = Some(ours);
            }
            reply
        } else if rec_path.starts_with("/chat/") {
            let rec_version = query
                .iter()
                .find(|(k, _)| k == "api-version")
                .map_or("", |(_, v)| v.as_str());
            let version = match chat_version(rec_version) {
                Ok(v) => v,
                Err(why) => {
                    *tally.skipped.entry(why).or_default() += 1;
                    continue;
                }
            };
            let target = if query.iter().any(|(k, _)| k == "syncState") {
                match r.last_next_link.take() {
                    // Our own continuation replaces the service's (which encodes its ids).
                    Some(link) => link,
                    None => {
                        *tally
                            .skipped
                            .entry(
                                "continuation token minted by the service, with no page before it"
                                    .into(),
                            )
                            .or_default() += 1;
                        continue;
                    }
                }
            } else {
                let (path, _tid) = r.rewrite_chat_path(&rec_path);
                let mut q: Vec<String> = query
                    .iter()
                    .filter(|(k, _)| k != "api-version")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                q.push(format!("api-version={version}"));
                r.caller.url(&format!("{path}?{}", q.join("&")))
            };
            let (_, tid) = r.rewrite_chat_path(&rec_path);
            let body = match &e["RequestBody"] {
                Value::Null => None,
                v => Some(r.rewrite_body(v, tid.as_deref(), &invalid)),
            };
            let reply = r.caller.send_url(&method, &target, body.as_ref());
            // Learn the ids the emulator chose for what the recording created.
            if method == "POST" && want_status == 201 {
                let rec_id = |key: &Value| {
                    key.as_str()
                        .filter(|s| *s != "sanitized")
                        .map(str::to_string)
                        .or_else(|| {
                            e["ResponseHeaders"]["Location"]
                                .as_str()
                                .and_then(|l| l.rsplit('/').next())
                                .map(pct_decode)
                        })
                };
                let ours = reply.json_opt();
                if rec_path == "/chat/threads" {
                    if let (Some(rec), Some(o)) = (
                        rec_id(&want_body["chatThread"]["id"]),
                        ours.as_ref().and_then(|v| v["chatThread"]["id"].as_str()),
                    ) {
                        r.threads.insert(rec, o.to_string());
                    }
                } else if rec_path.ends_with("/messages") {
                    if let (Some(rec), Some(o)) = (
                        rec_id(&want_body["id"]),
                        ours.as_ref().and_then(|v| v["id"].as_str()),
                    ) {
                        r.messages.insert(rec, o.to_string());
                    }
                }
            }
            r.last_next_link = reply
                .json_opt()
                .and_then(|v| v["nextLink"].as_str().map(str::to_string));
            reply
        } else {
            *tally
                .skipped
                .entry(format!("path outside chat and identity: {rec_path}"))
                .or_default() += 1;
            continue;
        };
        tally.replayed += 1;
        if reply.status != want_status {
            tally.failures.push(format!(
                "{label}: status {} (recorded {want_status}); body {}",
                reply.status, reply.text
            ));
            continue;
        }
        if want_body.is_null() {
            if !reply.text.is_empty() {
                tally
                    .failures
                    .push(format!("{label}: recorded no body, got {}", reply.text));
            }
            continue;
        }
        match reply.json_opt() {
            None => tally
                .failures
                .push(format!("{label}: body is not JSON: {}", reply.text)),
            Some(got) => {
                let mut diffs = Vec::new();
                shape_diff("$", want_body, &got, &mut diffs);
                if !diffs.is_empty() {
                    tally
                        .failures
                        .push(format!("{label}: shape differs: {}", diffs.join("; ")));
                }
            }
        }
    }
}

trait JsonOpt {
    fn json_opt(&self) -> Option<Value>;
}

impl JsonOpt for Reply {
    fn json_opt(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }
}

/// Every replayable recorded request gets the recorded status and a body of the recorded shape.
#[test]
fn replay_recordings_match_status_and_shape() {
    let Some(dir) = recordings_dir() else {
        return;
    };
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    let _ = LIBRARY.set(message_library(&files));
    let mut tally = Tally::default();
    for f in &files {
        replay_file(f, &mut tally);
    }
    let skipped: usize = tally.skipped.values().sum();
    println!(
        "replay: {} files, {} requests replayed, {} skipped",
        files.len(),
        tally.replayed,
        skipped
    );
    for (why, n) in &tally.skipped {
        println!("  skipped {n}: {why}");
    }
    for (key, why) in OPTIONAL_KEYS {
        println!("  tolerated key `{key}` on one side only: {why}");
    }
    println!("  tolerated: a polymorphic object (`kind`) of another variant than recorded (state, not shape)");
    assert!(
        tally.replayed > 0,
        "no request replayed from {}",
        dir.display()
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} replayed requests differ:\n{}",
        tally.failures.len(),
        tally.replayed,
        tally.failures.join("\n")
    );
}
