//! Helpers for the emulator's wire-level tests: a bare `ureq` agent (never the SDK), requests
//! built by hand, and replies with status, headers and parsed JSON.

#![allow(dead_code)] // Each test file uses a different subset of these helpers.

use std::time::Duration;

/// Fixture lookup (CI fails on a missing folder), the same module as the SDK's tests use.
#[allow(unused_imports)] // not every test file reads fixtures
pub use acs_chat_emulator::fixtures;

use acs_chat_emulator::Emulator;
use serde_json::{json, Value};

/// The api-version the official Python SDK sends.
pub const V2024: &str = "2024-03-07";
/// The newest stable chat api-version.
pub const V2025: &str = "2025-03-15";

/// A fresh directory under the system's temp dir (for a data directory), removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// `<temp>/acs-emulator-<tag>-<uuid>`, created.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("acs-emulator-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One HTTP reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Reply {
    /// Header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts a service-shaped error with `status` and `code`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        self.expect(status);
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "error body: {v}");
        assert!(v["error"]["message"].is_string(), "error body: {v}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8"),
            "error content type"
        );
    }
}

/// A bare HTTP client for one user of one emulator.
#[derive(Clone)]
pub struct Client {
    pub agent: ureq::Agent,
    pub base: String,
    pub user: String,
    pub token: String,
}

/// An agent that reports every status as a reply.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

impl Client {
    /// A new user with a chat token on `emu`.
    pub fn new(emu: &Emulator) -> Client {
        let (user, token) = emu.user_with_token();
        Client {
            agent: agent(),
            base: emu.endpoint(),
            user,
            token,
        }
    }

    /// Same emulator and agent, another token.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: token.to_string(),
            ..self.clone()
        }
    }

    /// `base + path_and_query` (no api-version added).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    /// Sends `method` to an absolute `url` with the bearer token and optional JSON body.
    pub fn send_url(&self, method: &str, url: &str, body: Option<&Value>) -> Reply {
        self.send_raw(method, url, body.map(|b| b.to_string().into_bytes()), &[])
    }

    /// Sends with extra headers and raw body bytes.
    pub fn send_raw(
        &self,
        method: &str,
        url: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.try_send_raw(method, url, body, headers)
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"))
    }

    /// Like [`send_raw`](Self::send_raw), but a transport failure (closed connection,
    /// truncated body) is returned rather than a panic.
    pub fn try_send_raw(
        &self,
        method: &str,
        url: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, ureq::Error> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Accept", "application/json");
        if !self.token.is_empty() {
            req = req.header("Authorization", format!("Bearer {}", self.token));
        }
        let ctype = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        if body.is_some() {
            req = req.header("Content-Type", ctype);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body.unwrap_or_default()).expect("valid request");
        let mut resp = self.agent.run(req)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = resp.body_mut().read_to_string()?;
        Ok(Reply {
            status,
            headers,
            text,
        })
    }

    /// `try_send_raw` of `method path?api-version=2024-03-07` with an optional JSON body.
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ureq::Error> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = self.url(&format!("{path}{sep}api-version={V2024}"));
        self.try_send_raw(method, &url, body.map(|b| b.to_string().into_bytes()), &[])
    }

    /// `method path?api-version=V` (path may already carry a query).
    pub fn call(&self, method: &str, path: &str, version: &str, body: Option<&Value>) -> Reply {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = self.url(&format!("{path}{sep}api-version={version}"));
        self.send_url(method, &url, body)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path, V2024, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.call("POST", path, V2024, Some(body))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Reply {
        self.call("PATCH", path, V2024, Some(body))
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, V2024, None)
    }

    /// Creates a thread with the given extra participants; returns its id.
    pub fn create_thread(&self, topic: &str, others: &[&str]) -> String {
        let mut participants = vec![participant(&self.user, "Creator")];
        participants.extend(others.iter().map(|u| participant(u, "Other")));
        let r = self.post(
            "/chat/threads",
            &json!({"topic": topic, "participants": participants}),
        );
        r.expect(201);
        r.json()["chatThread"]["id"]
            .as_str()
            .expect("thread id")
            .to_string()
    }

    /// Sends a text message; returns its id.
    pub fn send(&self, thread: &str, text: &str) -> String {
        let r = self.post(
            &format!("/chat/threads/{}/messages", enc(thread)),
            &json!({"content": text, "senderDisplayName": "Tester", "type": "text"}),
        );
        r.expect(201);
        r.json()["id"].as_str().expect("message id").to_string()
    }

    /// Walks every page of a list from `first_path`, following `nextLink`; returns the items
    /// and the number of pages.
    pub fn walk(&self, first_path: &str, version: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut r = self.call("GET", first_path, version, None);
        loop {
            r.expect(200);
            pages += 1;
            let v = r.json();
            items.extend(v["value"].as_array().expect("value array").iter().cloned());
            match v.get("nextLink") {
                None => break,
                Some(Value::String(link)) => r = self.send_url("GET", link, None),
                Some(other) => panic!("nextLink is neither absent nor a string: {other}"),
            }
        }
        (items, pages)
    }
}

/// A `ChatParticipant` request body for `user`.
pub fn participant(user: &str, name: &str) -> Value {
    json!({
        "communicationIdentifier": {"rawId": user, "communicationUser": {"id": user}},
        "displayName": name,
    })
}

/// Percent-encodes an id for a path segment, as the official SDKs do.
pub fn enc(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Starts the emulator binary with `args`, stdout piped and stderr dropped, and reads its
/// one-line JSON ready message. Returns the child (kill it when done) and that message.
pub fn start_binary<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (std::process::Child, Value) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_acs-chat-emulator"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the emulator binary");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the ready line");
    let ready: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("ready line is not JSON ({e}): {line:?}"));
    (child, ready)
}
