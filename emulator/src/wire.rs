//! Wire helpers shared by every route: the service's error shape, JSON responses with the
//! service's headers, api-versions, timestamps, identifiers and percent-encoding.
//!
//! The emulator has its own wire types on purpose: it never shares code with the SDK, so a
//! wire-format mistake cannot hide on both sides at once.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{json, Map, Value};

/// `Content-Type` of every JSON body the service sends.
pub(crate) const JSON_UTF8: &str = "application/json; charset=utf-8";

/// The `api-supported-versions` header the real service sends (chat).
pub(crate) const SUPPORTED_VERSIONS: &str = "2021-09-07, 2023-11-07, 2024-03-07, 2025-03-15";

/// A chat api-version the emulator serves. Ordered oldest first, so `>=` compares versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Version {
    V2021_09_07,
    V2023_11_07,
    V2024_03_07,
    V2025_03_15,
}

impl Version {
    /// Parses the `api-version` query value.
    pub(crate) fn parse(s: &str) -> Option<Version> {
        match s {
            "2021-09-07" => Some(Version::V2021_09_07),
            "2023-11-07" => Some(Version::V2023_11_07),
            "2024-03-07" => Some(Version::V2024_03_07),
            "2025-03-15" => Some(Version::V2025_03_15),
            _ => None,
        }
    }

    /// The text form used in `nextLink`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Version::V2021_09_07 => "2021-09-07",
            Version::V2023_11_07 => "2023-11-07",
            Version::V2024_03_07 => "2024-03-07",
            Version::V2025_03_15 => "2025-03-15",
        }
    }

    /// Identifiers carry `kind` from 2023-11-07 on (Common 2022-07-13 and later).
    pub(crate) fn has_identifier_kind(self) -> bool {
        self >= Version::V2023_11_07
    }

    /// Message content carries `attachments` from 2023-11-07 on.
    pub(crate) fn has_attachments(self) -> bool {
        self >= Version::V2023_11_07
    }

    /// Thread metadata, retention policy and participant metadata exist from 2025-03-15 on.
    pub(crate) fn has_thread_metadata(self) -> bool {
        self >= Version::V2025_03_15
    }
}

/// An error answered in the service's shape: `{"error":{"code","message"[,"target"]}}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    pub(crate) fn forbidden() -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "User is not allowed to perform specified action.",
        )
    }

    pub(crate) fn thread_not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The specified thread id was not found.",
        )
    }

    pub(crate) fn message_not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The specified message id was not found.",
        )
    }

    /// The error as a response.
    pub(crate) fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = json_response(self.status, &body);
        resp.headers_mut()
            .insert("x-ms-error-response", HeaderValue::from_static("true"));
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> Response {
        ApiError::into_response(self)
    }
}

/// Result of a handler: a response, or an error in the service's shape.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// A JSON response: serialized into one buffer, with the service's `Content-Type`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    // Serializing a `Value` cannot fail (all keys are strings).
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    resp
}

/// A response without body and with `Content-Length: 0` (read receipt, typing).
pub(crate) fn empty_response(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    if status != StatusCode::NO_CONTENT {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    resp
}

/// Formats epoch milliseconds as the service does: whole seconds, UTC, `Z`.
pub(crate) fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    match Utc.timestamp_opt(secs, 0).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        None => "1970-01-01T00:00:00Z".to_string(),
    }
}

/// Formats epoch milliseconds with milliseconds, UTC, `Z` (for `startTime` in `nextLink`).
pub(crate) fn format_time_millis(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// Parses an RFC 3339 date-time (0–9 fractional digits, `Z` or an offset) to epoch ms.
/// A space where the offset sign should be is read as `+` (form decoding turns `+` into space).
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim_end();
    let fixed;
    let s = if s.len() > 6 && s.as_bytes()[s.len() - 6] == b' ' {
        fixed = format!("{}+{}", &s[..s.len() - 6], &s[s.len() - 5..]);
        fixed.as_str()
    } else {
        s
    };
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
}

/// Renders an ACS user id as a `CommunicationIdentifierModel` for `version`.
pub(crate) fn identifier(raw_id: &str, version: Version) -> Value {
    let mut m = Map::new();
    if version.has_identifier_kind() {
        m.insert("kind".into(), Value::from("communicationUser"));
    }
    m.insert("rawId".into(), Value::from(raw_id));
    m.insert("communicationUser".into(), json!({ "id": raw_id }));
    Value::Object(m)
}

/// Reads a `CommunicationIdentifierModel` from a request: the raw id, from `rawId` or from the
/// typed sub-object (requests may carry either or both).
pub(crate) fn parse_identifier(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    if let Some(raw) = obj.get("rawId").and_then(Value::as_str) {
        if !raw.is_empty() {
            return Some(raw.to_string());
        }
    }
    if let Some(id) = obj
        .get("communicationUser")
        .and_then(|u| u.get("id"))
        .and_then(Value::as_str)
    {
        return Some(id.to_string());
    }
    if let Some(p) = obj
        .get("phoneNumber")
        .and_then(|u| u.get("value"))
        .and_then(Value::as_str)
    {
        return Some(format!("4:{p}"));
    }
    if let Some(u) = obj
        .get("microsoftTeamsUser")
        .and_then(|u| u.get("userId"))
        .and_then(Value::as_str)
    {
        return Some(format!("8:orgid:{u}"));
    }
    if let Some(a) = obj
        .get("microsoftTeamsApp")
        .and_then(|u| u.get("appId"))
        .and_then(Value::as_str)
    {
        return Some(format!("28:orgid:{a}"));
    }
    None
}

/// Percent-decodes `s`; `plus_as_space` for query values. `None` if the result is not UTF-8
/// or an escape is broken.
pub(crate) fn percent_decode(s: &str, plus_as_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).and_then(|c| (*c as char).to_digit(16))?;
                let lo = b.get(i + 2).and_then(|c| (*c as char).to_digit(16))?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes a query value: everything but unreserved characters.
pub(crate) fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes a thread id for a `Location` header as the service does: `:` only, literal `@`.
pub(crate) fn encode_thread_id_for_location(id: &str) -> String {
    id.replace(':', "%3A")
}

/// Parsed query string: decoded `(name, value)` pairs in order.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query; a pair that does not decode is an error.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = percent_decode(k, true)
                .ok_or_else(|| ApiError::bad_request("The query string is not valid."))?;
            let v = percent_decode(v, true)
                .ok_or_else(|| ApiError::bad_request("The query string is not valid."))?;
            pairs.push((k, v));
        }
        Ok(Query(pairs))
    }

    /// First value of `name` (case-insensitive, as ASP.NET binds query parameters).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Checks the `api-version` query parameter.
pub(crate) fn require_version(q: &Query) -> Result<Version, ApiError> {
    let v = check_api_version(q.get("api-version"), &CHAT_VERSIONS)?;
    // Every listed version parses.
    Version::parse(v).ok_or_else(|| unsupported_version(v, &CHAT_VERSIONS))
}

/// The chat api-versions served, as listed in `api-supported-versions`.
const CHAT_VERSIONS: [&str; 4] = ["2021-09-07", "2023-11-07", "2024-03-07", "2025-03-15"];

/// Checks an `api-version` query value against the versions a route serves: the service's
/// 400 `MissingApiVersionParameter` or `UnsupportedApiVersion`, both listing what is served.
pub(crate) fn check_api_version<'a>(
    given: Option<&'a str>,
    supported: &[&str],
) -> Result<&'a str, ApiError> {
    match given {
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            format!(
                "The api-version query parameter is required. Supported versions: {}.",
                supported.join(", ")
            ),
        )),
        Some(v) if supported.contains(&v) => Ok(v),
        Some(v) => Err(unsupported_version(v, supported)),
    }
}

fn unsupported_version(v: &str, supported: &[&str]) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "UnsupportedApiVersion",
        format!(
            "The api-version '{}' is not supported. Supported versions: {}.",
            v.chars().take(40).collect::<String>(),
            supported.join(", ")
        ),
    )
}

/// A 204 No Content.
pub(crate) fn no_content() -> Response {
    empty_response(StatusCode::NO_CONTENT)
}

/// Parses a JSON request body into an object; an empty body counts as `{}` when `allow_empty`.
pub(crate) fn parse_object(body: &[u8], allow_empty: bool) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        if allow_empty {
            return Ok(Map::new());
        }
        return Err(ApiError::bad_request("The request body is required."));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "The request body is not valid JSON: {e}"
        ))),
    }
}

/// The most bytes (keys and values, UTF-8) a metadata map may hold, as the service documents:
/// "all pairs together up to 1 KB". Checked on each request and on what a merge would store.
pub(crate) const MAX_METADATA_BYTES: usize = 1024;

/// Whether a metadata map holds at most [`MAX_METADATA_BYTES`] of keys and values.
pub(crate) fn metadata_fits(m: &Map<String, Value>) -> bool {
    let size: usize = m
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    size <= MAX_METADATA_BYTES
}

/// Reads an optional string→string map (metadata). `null` counts as absent.
pub(crate) fn parse_string_map(
    v: Option<&Value>,
    what: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            if m.values().any(|v| !v.is_string()) {
                return Err(ApiError::bad_request(format!(
                    "{what} values must be strings."
                )));
            }
            if !metadata_fits(m) {
                return Err(ApiError::bad_request(format!(
                    "{what} must not exceed 1 KB in total."
                )));
            }
            Ok(Some(m.clone()))
        }
        Some(_) => Err(ApiError::bad_request(format!("{what} must be an object."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_time_uses_whole_seconds_and_z() {
        assert_eq!(format_time(1_717_632_209_847), "2024-06-06T00:03:29Z");
    }

    #[test]
    fn parse_time_accepts_fractions_offsets_and_form_space() {
        assert_eq!(parse_time("2024-06-06T00:03:29Z"), Some(1_717_632_209_000));
        assert_eq!(
            parse_time("2024-06-06T00:03:29.847Z"),
            Some(1_717_632_209_847)
        );
        assert_eq!(
            parse_time("2024-06-06T00:03:29.8470000+00:00"),
            Some(1_717_632_209_847)
        );
        assert_eq!(
            parse_time("2024-06-06T00:03:29 00:00"),
            Some(1_717_632_209_000)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn percent_decode_rejects_broken_escapes() {
        assert_eq!(
            percent_decode("19%3Aab%40thread.v2", false).as_deref(),
            Some("19:ab@thread.v2")
        );
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%FF", false), None);
        assert_eq!(percent_decode("a+b", true).as_deref(), Some("a b"));
    }

    #[test]
    fn identifier_has_kind_only_from_2023_11_07() {
        assert!(identifier("8:acs:x", Version::V2021_09_07)
            .get("kind")
            .is_none());
        assert_eq!(
            identifier("8:acs:x", Version::V2024_03_07)["kind"],
            "communicationUser"
        );
    }
}
