//! Shared by `tests/recordings.rs` and `tests/spec_examples.rs`: routes a recorded exchange to
//! its chat operation by method and path, decodes each body with the crate's public models,
//! re-encodes it and reports every JSON path where something was lost, added or changed.

// Each of the two test binaries uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use acs_chat::models::requests::{
    AddChatParticipantsRequest, CreateChatThreadRequest, SendChatMessageRequest,
    SendReadReceiptRequest, SendTypingNotificationRequest, UpdateChatMessageRequest,
    UpdateChatThreadRequest,
};
use acs_chat::models::{decode_error, decode_page};
use acs_chat::{
    ChatError, ChatMessage, ChatMessageReadReceipt, ChatParticipant, ChatThreadInfo,
    ChatThreadProperties, CommunicationIdentifier, SendChatMessageResult,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::common::{serve, Request};

/// The chat operations, as the swagger names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    CreateChatThread,
    ListChatThreads,
    GetChatThreadProperties,
    UpdateChatThreadProperties,
    DeleteChatThread,
    SendChatMessage,
    ListChatMessages,
    GetChatMessage,
    UpdateChatMessage,
    DeleteChatMessage,
    ListChatParticipants,
    AddChatParticipants,
    RemoveChatParticipant,
    SendChatReadReceipt,
    ListChatReadReceipts,
    SendTypingNotification,
}

/// Percent-decodes one path segment (invalid escapes are kept as they are).
pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits an absolute or relative URL into its percent-decoded path segments and its query.
pub fn split_url(url: &str) -> (Vec<String>, String) {
    let without_scheme = match url.find("://") {
        Some(at) => {
            let rest = &url[at + 3..];
            rest.find('/').map_or("", |slash| &rest[slash..])
        }
        None => url,
    };
    let (path, query) = match without_scheme.split_once('?') {
        Some((p, q)) => (p, q.to_string()),
        None => (without_scheme, String::new()),
    };
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    (segments, query)
}

/// The chat operation a request is, from its method and path; `None` for anything else
/// (identity calls, operations this crate does not implement).
pub fn route(method: &str, url: &str) -> Option<Operation> {
    use Operation::*;
    let (segments, _) = split_url(url);
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = method.to_ascii_uppercase();
    Some(match (method.as_str(), s.as_slice()) {
        ("POST", ["chat", "threads"]) => CreateChatThread,
        ("GET", ["chat", "threads"]) => ListChatThreads,
        ("GET", ["chat", "threads", _]) => GetChatThreadProperties,
        ("PATCH", ["chat", "threads", _]) => UpdateChatThreadProperties,
        ("DELETE", ["chat", "threads", _]) => DeleteChatThread,
        ("POST", ["chat", "threads", _, "messages"]) => SendChatMessage,
        ("GET", ["chat", "threads", _, "messages"]) => ListChatMessages,
        ("GET", ["chat", "threads", _, "messages", _]) => GetChatMessage,
        ("PATCH", ["chat", "threads", _, "messages", _]) => UpdateChatMessage,
        ("DELETE", ["chat", "threads", _, "messages", _]) => DeleteChatMessage,
        ("GET", ["chat", "threads", _, "participants"]) => ListChatParticipants,
        ("POST", ["chat", "threads", _, "participants", ":add"]) => AddChatParticipants,
        ("POST", ["chat", "threads", _, "participants", ":remove"]) => RemoveChatParticipant,
        ("POST", ["chat", "threads", _, "readReceipts"]) => SendChatReadReceipt,
        ("GET", ["chat", "threads", _, "readReceipts"]) => ListChatReadReceipts,
        ("POST", ["chat", "threads", _, "typing"]) => SendTypingNotification,
        _ => return None,
    })
}

/// Counts per kind of check, and every failure with where it happened.
#[derive(Default)]
pub struct Report {
    pub counts: BTreeMap<String, usize>,
    pub failures: Vec<String>,
    pub notes: BTreeMap<String, usize>,
}

impl Report {
    pub fn count(&mut self, what: impl Into<String>) {
        *self.counts.entry(what.into()).or_default() += 1;
    }

    pub fn note(&mut self, what: impl Into<String>) {
        *self.notes.entry(what.into()).or_default() += 1;
    }

    pub fn fail(&mut self, at: &str, what: impl std::fmt::Display) {
        self.failures.push(format!("{at}: {what}"));
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    pub fn print(&self, title: &str) {
        println!("{title}: {} checks", self.total());
        for (what, n) in &self.counts {
            println!("  {n:5}  {what}");
        }
        for (what, n) in &self.notes {
            println!("  note ({n}x): {what}");
        }
    }
}

/// A recorded body: nothing, JSON, or text that is not JSON.
#[derive(Clone, Debug)]
pub enum Body {
    Empty,
    /// JSON, with the raw text when the recording stored the body as a string.
    Json(Value, Option<String>),
    Text(String),
}

impl Body {
    /// Reads a body stored either as parsed JSON or as a string holding the raw body.
    pub fn from_recorded(value: Option<&Value>) -> Body {
        match value {
            None | Some(Value::Null) => Body::Empty,
            // Older .NET session records write an empty body as an empty byte array.
            Some(Value::Array(a)) if a.is_empty() => Body::Empty,
            Some(Value::String(s)) if s.trim().is_empty() => Body::Empty,
            Some(Value::String(s)) => match serde_json::from_str(s) {
                Ok(v) => Body::Json(v, Some(s.clone())),
                Err(_) => Body::Text(s.clone()),
            },
            Some(v) => Body::Json(v.clone(), None),
        }
    }

    /// `Body::Empty` instead of a JSON body that fails `keep`.
    pub fn filter(self, keep: impl Fn(&Value) -> bool) -> Body {
        match self {
            Body::Json(v, _) if !keep(&v) => Body::Empty,
            other => other,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Body::Empty => Vec::new(),
            Body::Json(_, Some(raw)) => raw.clone().into_bytes(),
            Body::Json(v, None) => serde_json::to_vec(v).unwrap_or_default(),
            Body::Text(s) => s.clone().into_bytes(),
        }
    }
}

/// How `null` compares with an absent member.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    /// `null` and absent mean the same (optional fields in responses and POST bodies).
    AbsentEqualsNull,
    /// Merge-patch bodies: `null` means "reset", so it must survive.
    Significant,
}

/// Every path where `actual` differs from `expected`. Strings that are both timestamps
/// compare as instants (`…41.6460000Z` and `…41.646Z` are the same time).
pub fn diff(expected: &Value, actual: &Value, nulls: Nulls) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("$", expected, actual, nulls, &mut out);
    out
}

fn diff_at(path: &str, expected: &Value, actual: &Value, nulls: Nulls, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            fn present(v: Option<&Value>, nulls: Nulls) -> Option<&Value> {
                match (v, nulls) {
                    (Some(Value::Null), Nulls::AbsentEqualsNull) => None,
                    (v, _) => v,
                }
            }
            let keys: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for key in keys {
                let at = format!("{path}.{key}");
                match (present(e.get(key), nulls), present(a.get(key), nulls)) {
                    (Some(ev), Some(av)) => diff_at(&at, ev, av, nulls, out),
                    (Some(ev), None) => out.push(format!("{at} lost (was {ev})")),
                    (None, Some(av)) => out.push(format!("{at} added ({av})")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!(
                    "{path} has {} items instead of {}",
                    a.len(),
                    e.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff_at(&format!("{path}[{i}]"), ev, av, nulls, out);
            }
        }
        (Value::String(e), Value::String(a)) if e != a => match (instant(e), instant(a)) {
            (Some(ei), Some(ai)) if ei == ai => {}
            _ => out.push(format!("{path} changed from {e:?} to {a:?}")),
        },
        (e, a) if e != a => out.push(format!("{path} changed from {e} to {a}")),
        _ => {}
    }
}

fn instant(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Decodes `value` as `T`, re-encodes it and records any difference: the re-encoded JSON must
/// equal the recorded JSON (timestamps compared as instants, `null` as the mode says), and
/// decoding the re-encoded JSON must give back an equal model (`PartialEq` of the models,
/// which covers unknown members and identifiers kept as received).
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
    report: &mut Report,
    at: &str,
    what: &str,
    value: &Value,
    nulls: Nulls,
) -> Option<T> {
    round_trip_with::<T>(report, at, what, value, nulls, |t| serde_json::to_value(t))
}

/// [`round_trip`] with the encoding step given, so that a test can prove the check fails
/// when the encoding loses something.
pub fn round_trip_with<T: DeserializeOwned + PartialEq + std::fmt::Debug>(
    report: &mut Report,
    at: &str,
    what: &str,
    value: &Value,
    nulls: Nulls,
    encode: impl Fn(&T) -> serde_json::Result<Value>,
) -> Option<T> {
    let decoded: T = match serde_json::from_value(value.clone()) {
        Ok(t) => t,
        Err(e) => {
            report.fail(at, format!("{what} does not decode: {e}"));
            return None;
        }
    };
    let encoded = match encode(&decoded) {
        Ok(v) => v,
        Err(e) => {
            report.fail(at, format!("{what} does not re-encode: {e}"));
            return None;
        }
    };
    let differences = diff(value, &encoded, nulls);
    if !differences.is_empty() {
        report.fail(
            at,
            format!("{what} changed on a round trip: {}", differences.join("; ")),
        );
        return Some(decoded);
    }
    match serde_json::from_value::<T>(encoded.clone()) {
        Ok(again) if again == decoded => report.count(what.to_string()),
        Ok(again) => report.fail(
            at,
            format!(
                "{what} decoded from its own encoding differs: {again:?}, first decoded {decoded:?}"
            ),
        ),
        Err(e) => report.fail(
            at,
            format!("{what} does not decode from its own encoding {encoded}: {e}"),
        ),
    }
    Some(decoded)
}

/// Fails when an envelope object has members our decoding would drop.
fn envelope_keys(
    report: &mut Report,
    at: &str,
    what: &str,
    value: &Value,
    allowed: &[&str],
) -> bool {
    let Some(object) = value.as_object() else {
        report.fail(at, format!("{what} is not a JSON object: {value}"));
        return false;
    };
    let mut ok = true;
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            report.fail(
                at,
                format!("{what} has member `{key}` that would be dropped"),
            );
            ok = false;
        }
    }
    ok
}

fn page<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
    report: &mut Report,
    at: &str,
    what: &str,
    value: &Value,
) {
    if !envelope_keys(report, at, what, value, &["value", "nextLink"]) {
        return;
    }
    let Some(items) = value.get("value").and_then(Value::as_array) else {
        report.fail(at, format!("{what} has no `value` array"));
        return;
    };
    for (i, item) in items.iter().enumerate() {
        round_trip::<T>(
            report,
            &format!("{at} value[{i}]"),
            &format!("{what} item"),
            item,
            Nulls::AbsentEqualsNull,
        );
    }
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    match decode_page::<T>(&bytes) {
        Ok((decoded, next)) => {
            let recorded_next = value
                .get("nextLink")
                .and_then(Value::as_str)
                .map(str::to_string);
            if decoded.len() != items.len() || next != recorded_next {
                report.fail(
                    at,
                    format!(
                        "decode_page gave {} items and {next:?}, recorded {} and {recorded_next:?}",
                        decoded.len(),
                        items.len()
                    ),
                );
            } else {
                report.count(format!("{what} (decode_page)"));
            }
        }
        Err(e) => report.fail(at, format!("decode_page failed on {what}: {e}")),
    }
}

fn invalid_participants(report: &mut Report, at: &str, value: &Value) {
    if let Some(list) = value.get("invalidParticipants") {
        round_trip::<Vec<ChatError>>(
            report,
            at,
            "invalidParticipants",
            list,
            Nulls::AbsentEqualsNull,
        );
    }
}

/// Checks a response body for `op` with `status`.
pub fn check_response(report: &mut Report, at: &str, op: Operation, status: u16, body: &Body) {
    use Operation::*;
    if status >= 400 {
        check_error(report, at, status, body);
        return;
    }
    let json = match body {
        Body::Empty => {
            report.count(format!("{op:?} {status} without body"));
            return;
        }
        Body::Text(t) => {
            report.fail(at, format!("{op:?} {status} body is not JSON: {t:?}"));
            return;
        }
        Body::Json(v, _) => v,
    };
    let strict = Nulls::AbsentEqualsNull;
    match op {
        CreateChatThread => {
            if envelope_keys(
                report,
                at,
                "create-thread result",
                json,
                &["chatThread", "invalidParticipants"],
            ) {
                if let Some(thread) = json.get("chatThread").filter(|v| !v.is_null()) {
                    round_trip::<ChatThreadProperties>(
                        report,
                        at,
                        "ChatThreadProperties (create)",
                        thread,
                        strict,
                    );
                }
                invalid_participants(report, at, json);
            }
        }
        AddChatParticipants => {
            if envelope_keys(
                report,
                at,
                "add-participants result",
                json,
                &["invalidParticipants"],
            ) {
                report.count("AddChatParticipants result");
                invalid_participants(report, at, json);
            }
        }
        GetChatThreadProperties => {
            round_trip::<ChatThreadProperties>(report, at, "ChatThreadProperties", json, strict);
        }
        GetChatMessage => {
            round_trip::<ChatMessage>(report, at, "ChatMessage", json, strict);
        }
        SendChatMessage => {
            round_trip::<SendChatMessageResult>(report, at, "SendChatMessageResult", json, strict);
        }
        ListChatThreads => page::<ChatThreadInfo>(report, at, "ChatThreadInfo page", json),
        ListChatMessages => page::<ChatMessage>(report, at, "ChatMessage page", json),
        ListChatParticipants => page::<ChatParticipant>(report, at, "ChatParticipant page", json),
        ListChatReadReceipts => {
            page::<ChatMessageReadReceipt>(report, at, "ChatMessageReadReceipt page", json)
        }
        UpdateChatThreadProperties
        | DeleteChatThread
        | UpdateChatMessage
        | DeleteChatMessage
        | RemoveChatParticipant
        | SendChatReadReceipt
        | SendTypingNotification => {
            if json.as_object().is_some_and(|o| o.is_empty()) {
                report.count(format!("{op:?} {status} with empty object"));
            } else {
                report.fail(
                    at,
                    format!("{op:?} {status} has a body the client would drop: {json}"),
                );
            }
        }
    }
}

/// The code and message an error body carries, found independently of the crate's parser.
fn expected_error(body: &Value) -> Option<(String, String)> {
    let object = body.as_object()?;
    let inner = ["error", "Error", "CommunicationError", "communicationError"]
        .iter()
        .find_map(|k| object.get(*k))
        .and_then(Value::as_object)
        .unwrap_or(object);
    let get = |name: &str| {
        inner
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str().map(str::to_string))
    };
    let code = get("code");
    let message = get("message");
    if code.is_none() && message.is_none() {
        return None;
    }
    Some((code.unwrap_or_default(), message.unwrap_or_default()))
}

fn check_error(report: &mut Report, at: &str, status: u16, body: &Body) {
    // Legacy recordings keep the body text exactly as sent (`\r\n` and all).
    let raw = body.bytes();
    let parsed = decode_error(status, &raw);
    if parsed.status != status {
        report.fail(
            at,
            format!("error status {} instead of {status}", parsed.status),
        );
        return;
    }
    let want = match body {
        Body::Json(v, _) => expected_error(v),
        _ => None,
    };
    match want {
        Some((code, message)) if parsed.code == code && parsed.message == message => {
            report.count(format!("error body {status}"));
        }
        Some((code, message)) => report.fail(
            at,
            format!(
                "error body parsed as ({:?}, {:?}), expected ({code:?}, {message:?})",
                parsed.code, parsed.message
            ),
        ),
        None if parsed.code.is_empty() => report.count(format!("error body {status} without code")),
        None => report.fail(
            at,
            format!("error body without code parsed as code {:?}", parsed.code),
        ),
    }
}

/// Checks a request body our client would send for `op`.
pub fn check_request(report: &mut Report, at: &str, op: Operation, body: &Body) {
    use Operation::*;
    let json = match body {
        Body::Empty => {
            if has_request_body(op) {
                report.note(format!("{op:?} request without a recorded body"));
            }
            return;
        }
        Body::Text(t) => {
            report.fail(at, format!("{op:?} request body is not JSON: {t:?}"));
            return;
        }
        Body::Json(v, _) => v,
    };
    let post = Nulls::AbsentEqualsNull;
    let patch = Nulls::Significant;
    match op {
        CreateChatThread => drop(round_trip::<CreateChatThreadRequest>(
            report,
            at,
            "CreateChatThreadRequest",
            json,
            post,
        )),
        UpdateChatThreadProperties => drop(round_trip::<UpdateChatThreadRequest>(
            report,
            at,
            "UpdateChatThreadRequest",
            json,
            patch,
        )),
        SendChatMessage => drop(round_trip::<SendChatMessageRequest>(
            report,
            at,
            "SendChatMessageRequest",
            json,
            post,
        )),
        UpdateChatMessage => drop(round_trip::<UpdateChatMessageRequest>(
            report,
            at,
            "UpdateChatMessageRequest",
            json,
            patch,
        )),
        AddChatParticipants => drop(round_trip::<AddChatParticipantsRequest>(
            report,
            at,
            "AddChatParticipantsRequest",
            json,
            post,
        )),
        SendChatReadReceipt => drop(round_trip::<SendReadReceiptRequest>(
            report,
            at,
            "SendReadReceiptRequest",
            json,
            post,
        )),
        SendTypingNotification => drop(round_trip::<SendTypingNotificationRequest>(
            report,
            at,
            "SendTypingNotificationRequest",
            json,
            post,
        )),
        RemoveChatParticipant => check_bare_identifier(report, at, json),
        _ => report.fail(
            at,
            format!("{op:?} request has a body the client never sends: {json}"),
        ),
    }
}

/// Whether the client sends a body for `op`.
pub fn has_request_body(op: Operation) -> bool {
    use Operation::*;
    !matches!(
        op,
        ListChatThreads
            | GetChatThreadProperties
            | DeleteChatThread
            | ListChatMessages
            | GetChatMessage
            | DeleteChatMessage
            | ListChatParticipants
            | ListChatReadReceipts
    )
}

/// The remove-participant body is a bare identifier, which the client always writes in its
/// canonical form (`rawId` + typed sub-object, as the Python SDK does). Other SDKs omit
/// `rawId` (Java) and sanitized recordings replace the sub-object's id, so `rawId` may differ;
/// every other member must survive unchanged.
fn check_bare_identifier(report: &mut Report, at: &str, json: &Value) {
    let identifier: CommunicationIdentifier = match serde_json::from_value(json.clone()) {
        Ok(id) => id,
        Err(e) => {
            report.fail(
                at,
                format!("remove-participant identifier does not decode: {e}"),
            );
            return;
        }
    };
    let Ok(mut encoded) = serde_json::to_value(&identifier) else {
        report.fail(at, "remove-participant identifier does not re-encode");
        return;
    };
    let recorded_raw = json.get("rawId").cloned();
    let ours = encoded.get("rawId").cloned();
    if recorded_raw != ours {
        report.note("remove-participant rawId differs from the recording (recorded without rawId, or sanitized); the client derives it from the identifier");
        if let (Some(object), Some(raw)) = (encoded.as_object_mut(), recorded_raw.clone()) {
            object.insert("rawId".into(), raw);
        } else if let Some(object) = encoded.as_object_mut() {
            object.remove("rawId");
        }
    }
    let differences = diff(json, &encoded, Nulls::AbsentEqualsNull);
    if differences.is_empty() {
        report.count("RemoveChatParticipant identifier");
    } else {
        report.fail(
            at,
            format!(
                "remove-participant identifier changed: {}",
                differences.join("; ")
            ),
        );
    }
}

type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

/// A tiny HTTP server on a loopback port: records each request (method, target, headers,
/// body) and answers with the next queued `(status, body)`, or with an empty last page when
/// none is queued.
pub struct CaptureServer {
    pub endpoint: String,
    seen: Shared<Vec<Request>>,
    queue: Shared<std::collections::VecDeque<(u16, String)>>,
}

impl CaptureServer {
    pub fn start() -> CaptureServer {
        let seen: Shared<Vec<Request>> = Default::default();
        let queue: Shared<std::collections::VecDeque<(u16, String)>> = Default::default();
        let (seen_by_server, queue_for_server) = (seen.clone(), queue.clone());
        let endpoint = serve(move |_, request| {
            if let Ok(mut list) = seen_by_server.lock() {
                list.push(request);
            }
            let (status, answer) = queue_for_server
                .lock()
                .ok()
                .and_then(|mut q| q.pop_front())
                .unwrap_or_else(|| (200, r#"{"value":[]}"#.to_string()));
            format!(
                "HTTP/1.1 {status} Recorded\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            )
        });
        CaptureServer {
            endpoint,
            seen,
            queue,
        }
    }

    /// Queues the answer to the next request.
    pub fn answer(&self, status: u16, body: String) {
        if let Ok(mut q) = self.queue.lock() {
            q.push_back((status, body));
        }
    }

    /// The requests received since the last call.
    pub fn take_requests(&self) -> Vec<Request> {
        if let Ok(mut q) = self.queue.lock() {
            q.clear();
        }
        self.seen
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
    }

    /// The request targets received since the last call.
    pub fn take(&self) -> Vec<String> {
        self.take_requests().into_iter().map(|c| c.target).collect()
    }
}

/// A JWT-shaped token valid for an hour (the client only reads `exp`).
pub fn test_token() -> String {
    use base64::Engine as _;
    let exp = chrono::Utc::now().timestamp() + 3600;
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#));
    format!("eyJhbGciOiJub25lIn0.{payload}.c2ln")
}

/// Decoded query pairs, sorted, so that order and percent-encoding do not matter.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode(&s.replace('+', " "));
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
pub fn resume_from(
    server: &CaptureServer,
    op: Operation,
    next_link: &str,
    api_version: &str,
) -> Result<Vec<String>, String> {
    use acs_chat::{
        ChatClient, ChatClientOptions, CommunicationTokenCredential, ListChatThreadsOptions,
        ListMessagesOptions, ListParticipantsOptions, ListReadReceiptsOptions,
    };
    use Operation::*;
    /// The pager's first page, as `Some(true)`, or `None` when it yielded none.
    fn first_page<T>(pager: acs_chat::Pager<T>) -> acs_chat::Result<Option<bool>> {
        pager
            .by_page()
            .next()
            .transpose()
            .map(|page| page.map(|_| true))
    }
    let credential = CommunicationTokenCredential::new(test_token()).map_err(|e| e.to_string())?;
    let options = ChatClientOptions {
        api_version: api_version.to_string(),
        ..Default::default()
    };
    let chat = ChatClient::with_options(&server.endpoint, credential, options)
        .map_err(|e| e.to_string())?;
    let token = Some(next_link.to_string());
    let (segments, _) = split_url(next_link);
    let thread_id = segments.get(2).cloned().unwrap_or_default();
    let first_page_ok = match op {
        ListChatThreads => first_page(chat.list_chat_threads(Some(ListChatThreadsOptions {
            continuation_token: token,
            ..Default::default()
        }))),
        ListChatMessages => chat.get_chat_thread_client(&thread_id).and_then(|t| {
            first_page(t.list_messages(Some(ListMessagesOptions {
                continuation_token: token,
                ..Default::default()
            })))
        }),
        ListChatParticipants => chat.get_chat_thread_client(&thread_id).and_then(|t| {
            first_page(t.list_participants(Some(ListParticipantsOptions {
                continuation_token: token,
                ..Default::default()
            })))
        }),
        ListChatReadReceipts => chat.get_chat_thread_client(&thread_id).and_then(|t| {
            first_page(t.list_read_receipts(Some(ListReadReceiptsOptions {
                continuation_token: token,
                ..Default::default()
            })))
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

/// The differ reports lost, added and changed members, and compares timestamps as instants.
#[test]
fn diff_reports_every_kind_of_change() {
    use serde_json::json;
    let recorded = json!({"a": 1, "t": "2020-06-06T05:55:41.6460000Z", "n": null, "l": [1, 2], "o": {"x": "y"}});
    let same = json!({"a": 1, "t": "2020-06-06T05:55:41.646Z", "l": [1, 2], "o": {"x": "y"}});
    assert_eq!(
        diff(&recorded, &same, Nulls::AbsentEqualsNull),
        Vec::<String>::new()
    );
    assert_eq!(
        diff(&recorded, &same, Nulls::Significant).len(),
        1,
        "null vs absent in a merge patch"
    );
    let changed = json!({"t": "2020-06-06T05:55:42Z", "l": [1], "o": {"x": "z"}, "b": true});
    let found = diff(&recorded, &changed, Nulls::AbsentEqualsNull);
    for path in [
        "$.a lost",
        "$.t changed",
        "$.l has 1 items",
        "$.o.x changed",
        "$.b added",
    ] {
        assert!(
            found.iter().any(|d| d.starts_with(path)),
            "{path} missing from {found:?}"
        );
    }
}
