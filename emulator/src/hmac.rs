//! HMAC-SHA256 request authentication, verified the way the Identity service does.
//!
//! A signed request carries
//! - `x-ms-content-sha256: base64(SHA-256(body))` (an absent body hashes as empty),
//! - `x-ms-date: <RFC 1123 date>` (or only a `Date` header),
//! - `Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<sig>`,
//!
//! where `sig = base64(HMAC-SHA256(key, VERB "\n" PATH_AND_QUERY "\n" <signed header values joined by ";">))`.
//! `PATH_AND_QUERY` is the request target as received, still percent-encoded. Clients disagree
//! about the host they sign (Python: with the port, Java: without), so both are accepted.
//!
//! Everything here is a pure function: the clock is a parameter.
//!
//! ```
//! use acs_chat_emulator::hmac::{authorization_header, content_hash, sign, string_to_sign, verify};
//! use axum::http::{HeaderMap, HeaderValue};
//!
//! let (key, body, date) = (b"key", br#"{"scopes":["chat"]}"#, "Thu, 26 Nov 2026 23:00:00 GMT");
//! let target = "/identities/8%3Aacs%3Ax/:issueAccessToken?api-version=2023-10-01";
//! let hash = content_hash(body);
//! let signature = sign(key, &string_to_sign("POST", target, date, "127.0.0.1:8080", &hash));
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
//! headers.insert("x-ms-date", HeaderValue::from_static(date));
//! headers.insert("x-ms-content-sha256", hash.parse()?);
//! headers.insert("authorization", authorization_header(&signature).parse()?);
//!
//! let now = chrono::DateTime::parse_from_rfc2822(date)?.to_utc();
//! assert!(verify("POST", target, &headers, body, key, now).is_ok());
//! assert!(verify("POST", target, &headers, b"{}", key, now).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How far, in seconds, a request's date may be from the server's clock, either way.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// The headers the service signs, in order, as `SignedHeaders` names them.
pub const SIGNED_HEADERS: &str = "x-ms-date;host;x-ms-content-sha256";

/// Why an HMAC-signed request was refused. Each is a `401 Unauthorized` for the service; none
/// carries the key, signature or body it rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HmacError {
    /// No `Authorization` header, or not the `HMAC-SHA256` scheme.
    MissingAuthorization,
    /// A header the scheme needs is missing or not text.
    MissingHeader(&'static str),
    /// `x-ms-content-sha256` is not the SHA-256 of the received body.
    ContentHashMismatch,
    /// The date header is not an RFC 1123 date.
    InvalidDate,
    /// The date header is too far from the server's clock.
    DateOutOfRange,
    /// The `Authorization` header is not `HMAC-SHA256 SignedHeaders=…&Signature=…` with the
    /// headers the service signs.
    MalformedAuthorization,
    /// The signature does not match (wrong key, or the request was changed).
    SignatureMismatch,
}

impl HmacError {
    /// A human-readable reason, safe to send to the client (contains no secret).
    pub fn message(self) -> &'static str {
        match self {
            HmacError::MissingAuthorization => "Request is not authorized: no valid Authorization header.",
            HmacError::MissingHeader(_) => "Request is not authorized: a header required for HMAC authentication is missing.",
            HmacError::ContentHashMismatch => "Request is not authorized: x-ms-content-sha256 does not match the request body.",
            HmacError::InvalidDate => "Request is not authorized: the x-ms-date header is not an RFC 1123 date.",
            HmacError::DateOutOfRange => "Request is not authorized: the x-ms-date header is more than 15 minutes from the server time.",
            HmacError::MalformedAuthorization => "Request is not authorized: the Authorization header is not a valid HMAC-SHA256 header.",
            HmacError::SignatureMismatch => "Request is not authorized: the HMAC signature does not match.",
        }
    }
}

impl std::fmt::Display for HmacError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HmacError::MissingHeader(name) => write!(f, "missing or non-text header {name}"),
            other => f.write_str(other.message()),
        }
    }
}

impl std::error::Error for HmacError {}

/// `base64(SHA-256(body))`, the value of `x-ms-content-sha256`.
pub fn content_hash(body: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(body))
}

/// The string to sign: `VERB\nPATH_AND_QUERY\nDATE;HOST;CONTENT_HASH`, with the verb in
/// upper case.
pub fn string_to_sign(
    method: &str,
    path_and_query: &str,
    date: &str,
    host: &str,
    content_hash: &str,
) -> String {
    format!(
        "{}\n{path_and_query}\n{date};{host};{content_hash}",
        method.to_ascii_uppercase()
    )
}

/// `base64(HMAC-SHA256(key, string_to_sign))`.
pub fn sign(key: &[u8], string_to_sign: &str) -> String {
    STANDARD.encode(mac(key, string_to_sign).finalize().into_bytes())
}

fn mac(key: &[u8], message: &str) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message.as_bytes());
    mac
}

/// The `Authorization` header value for a signature.
pub fn authorization_header(signature: &str) -> String {
    format!("HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={signature}")
}

/// Verifies a request signed with `key` (the decoded access key).
///
/// `path_and_query` is the request target exactly as received (`/identities/8%3Aacs%3A…?api-version=…`),
/// `now` the server's clock. Checks, in order: the content hash against `body`, the shape of the
/// `Authorization` header, the date (RFC 1123, within [`MAX_CLOCK_SKEW_SECS`] of `now`), then
/// the signature (constant-time), with the `Host` header as received and without its port.
pub fn verify(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    key: &[u8],
    now: DateTime<Utc>,
) -> Result<(), HmacError> {
    let text = |name: &'static str| -> Option<&str> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let authorization = text("authorization").ok_or(HmacError::MissingAuthorization)?;
    let (signed_headers, signature) = parse_authorization(authorization)?;

    let sent_hash =
        text("x-ms-content-sha256").ok_or(HmacError::MissingHeader("x-ms-content-sha256"))?;
    if sent_hash != content_hash(body) {
        return Err(HmacError::ContentHashMismatch);
    }

    // The date header actually present (x-ms-date wins, as in the service's clients).
    let date = text("x-ms-date")
        .or_else(|| text("date"))
        .ok_or(HmacError::MissingHeader("x-ms-date"))?;
    let sent_at = DateTime::parse_from_rfc2822(date).map_err(|_| HmacError::InvalidDate)?;
    let skew = now.signed_duration_since(sent_at).num_seconds();
    if skew.abs() > MAX_CLOCK_SKEW_SECS {
        return Err(HmacError::DateOutOfRange);
    }

    let host = text("host").ok_or(HmacError::MissingHeader("host"))?;
    let mut hosts = vec![host];
    if let Some(bare) = strip_port(host) {
        hosts.push(bare);
    }

    for host in hosts {
        let values: Vec<&str> = signed_headers
            .iter()
            .map(|name| match *name {
                SignedHeader::Date => date,
                SignedHeader::Host => host,
                SignedHeader::ContentHash => sent_hash,
            })
            .collect();
        let message = format!(
            "{}\n{path_and_query}\n{}",
            method.to_ascii_uppercase(),
            values.join(";")
        );
        if mac(key, &message).verify_slice(&signature).is_ok() {
            return Ok(());
        }
    }
    Err(HmacError::SignatureMismatch)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SignedHeader {
    Date,
    Host,
    ContentHash,
}

/// Parses `HMAC-SHA256 SignedHeaders=a;b;c&Signature=<base64>`. The signed headers must be the
/// three the service uses (`date` may stand for `x-ms-date`), each once, in any order.
fn parse_authorization(value: &str) -> Result<(Vec<SignedHeader>, Vec<u8>), HmacError> {
    let (scheme, params) = value
        .split_once(' ')
        .ok_or(HmacError::MalformedAuthorization)?;
    if !scheme.eq_ignore_ascii_case("HMAC-SHA256") {
        return Err(HmacError::MissingAuthorization);
    }
    let mut signed = None;
    let mut signature = None;
    for param in params.trim().split('&') {
        let (name, value) = param
            .split_once('=')
            .ok_or(HmacError::MalformedAuthorization)?;
        if name.trim().eq_ignore_ascii_case("SignedHeaders") {
            signed = Some(value.trim());
        } else if name.trim().eq_ignore_ascii_case("Signature") {
            signature = Some(value.trim());
        } else {
            return Err(HmacError::MalformedAuthorization);
        }
    }
    let (Some(signed), Some(signature)) = (signed, signature) else {
        return Err(HmacError::MalformedAuthorization);
    };
    let mut names = Vec::with_capacity(3);
    for name in signed.split(';') {
        let header = match name.trim().to_ascii_lowercase().as_str() {
            "x-ms-date" | "date" => SignedHeader::Date,
            "host" => SignedHeader::Host,
            "x-ms-content-sha256" => SignedHeader::ContentHash,
            _ => return Err(HmacError::MalformedAuthorization),
        };
        if names.contains(&header) {
            return Err(HmacError::MalformedAuthorization);
        }
        names.push(header);
    }
    if names.len() != 3 {
        return Err(HmacError::MalformedAuthorization);
    }
    let signature = STANDARD
        .decode(signature)
        .map_err(|_| HmacError::SignatureMismatch)?;
    Ok((names, signature))
}

/// `host` without its `:port`, or `None` when it has none. Handles `[v6]:port`.
fn strip_port(host: &str) -> Option<&str> {
    let (name, port) = host.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if name.starts_with('[') {
        return name.ends_with(']').then_some(name);
    }
    // An unbracketed IPv6 address has more colons and no port.
    (!name.contains(':')).then_some(name)
}

// The fixture lookup every suite uses, so that a missing `../shared` fails under CI here too.
#[cfg(test)]
use crate::fixtures;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// The worked-example key of `../shared/spec/SUMMARY.md` (section 9, HMAC): base64 of `emulator-secret-key-000000000000`.
    const SUMMARY_KEY: &[u8] = b"emulator-secret-key-000000000000";

    fn at(date: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc2822(date)
            .expect("test date parses")
            .with_timezone(&Utc)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                *name,
                HeaderValue::from_str(value).expect("test header value"),
            );
        }
        map
    }

    fn signed(
        method: &str,
        target: &str,
        host: &str,
        signed_host: &str,
        body: &[u8],
        key: &[u8],
        date: &str,
    ) -> HeaderMap {
        let hash = content_hash(body);
        let sig = sign(
            key,
            &string_to_sign(method, target, date, signed_host, &hash),
        );
        headers(&[
            ("host", host),
            ("x-ms-date", date),
            ("x-ms-content-sha256", &hash),
            ("authorization", &authorization_header(&sig)),
        ])
    }

    /// The POST known-answer vector of `../shared/spec/SUMMARY.md` (section 9).
    #[test]
    fn sign_matches_summary_post_vector() {
        let body = br#"{"createTokenWithScopes": ["chat"]}"#;
        let hash = content_hash(body);
        assert_eq!(hash, "kWpGozyV35fifbpKdY8mbdG64VG0Pdq5upzo7YKAFM0=");
        let sts = string_to_sign(
            "POST",
            "/identities?api-version=2023-10-01",
            "Thu, 26 Nov 2026 23:00:00 GMT",
            "contoso.communication.azure.com",
            &hash,
        );
        assert_eq!(
            sign(SUMMARY_KEY, &sts),
            "lff9u1DOGZFKrjn3AKoRc+3gBTNZdqjUTY/+MFKqS7g="
        );
        let map = headers(&[
            ("host", "contoso.communication.azure.com"),
            ("x-ms-date", "Thu, 26 Nov 2026 23:00:00 GMT"),
            ("x-ms-content-sha256", &hash),
            (
                "authorization",
                "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=lff9u1DOGZFKrjn3AKoRc+3gBTNZdqjUTY/+MFKqS7g=",
            ),
        ]);
        let seen = verify(
            "POST",
            "/identities?api-version=2023-10-01",
            &map,
            body,
            SUMMARY_KEY,
            at("Thu, 26 Nov 2026 23:05:00 GMT"),
        );
        assert_eq!(seen, Ok(()));
    }

    /// The DELETE known-answer vector of `../shared/spec/SUMMARY.md` (section 9, host with port, empty body).
    #[test]
    fn sign_matches_summary_delete_vector() {
        let hash = content_hash(b"");
        assert_eq!(hash, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        let target = "/identities/8%3Aacs%3Aabc_123?api-version=2023-10-01";
        let date = "Thu, 26 Nov 2026 23:00:00 GMT";
        let sts = string_to_sign("DELETE", target, date, "localhost:8443", &hash);
        assert_eq!(
            sign(SUMMARY_KEY, &sts),
            "tOAJj04WxGUh84qC1Wvs79YnIAeuMFs1cxT+S4K3MO8="
        );
        let map = signed(
            "DELETE",
            target,
            "localhost:8443",
            "localhost:8443",
            b"",
            SUMMARY_KEY,
            date,
        );
        assert_eq!(
            verify("DELETE", target, &map, b"", SUMMARY_KEY, at(date)),
            Ok(())
        );
    }

    /// Record 1 of the official Python SDK capture verifies with the capture's key.
    #[test]
    fn verify_accepts_python_sdk_record_one() {
        let Some(dir) = super::fixtures::dir(
            "verify_accepts_python_sdk_record_one",
            &super::fixtures::CONFORMANCE,
        ) else {
            return;
        };
        let readme =
            std::fs::read_to_string(dir.join("README.md")).expect("conformance README readable");
        // The README gives the key as `key_b64 = "<base64>"`.
        let key_b64 = readme
            .split("key_b64 = \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("README names key_b64");
        let key = STANDARD.decode(key_b64).expect("README key is base64");
        let jsonl = std::fs::read_to_string(dir.join("official-python-sdk-requests.jsonl"))
            .expect("capture readable");
        let record: serde_json::Value =
            serde_json::from_str(jsonl.lines().next().expect("capture has a record"))
                .expect("record 1 is JSON");
        let mut map = HeaderMap::new();
        for pair in record["headers"].as_array().expect("headers array") {
            let name = pair[0].as_str().expect("header name");
            let value = pair[1].as_str().expect("header value");
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("header name valid"),
                HeaderValue::from_str(value).expect("header value valid"),
            );
        }
        let body = record["body"].as_str().unwrap_or("").as_bytes();
        let method = record["method"].as_str().expect("method");
        let target = record["raw_target"].as_str().expect("raw_target");
        let date = map["x-ms-date"].to_str().expect("x-ms-date").to_owned();
        assert_eq!(
            verify(method, target, &map, body, &key, at(&date)),
            Ok(()),
            "record 1 rejected"
        );
        let mut tampered = body.to_vec();
        tampered.push(b' ');
        assert_eq!(
            verify(method, target, &map, &tampered, &key, at(&date)),
            Err(HmacError::ContentHashMismatch)
        );
    }

    /// Host without its port (Java) is accepted as well as with it (Python).
    #[test]
    fn verify_accepts_host_with_or_without_port() {
        let date = "Thu, 26 Nov 2026 23:00:00 GMT";
        let target = "/identities?api-version=2023-10-01";
        for (sent, signed_as) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("127.0.0.1:8080", "127.0.0.1"),
            ("[::1]:8080", "[::1]"),
            ("example.com", "example.com"),
        ] {
            let map = signed("POST", target, sent, signed_as, b"{}", b"k", date);
            let seen = verify("POST", target, &map, b"{}", b"k", at(date));
            assert_eq!(seen, Ok(()), "Host {sent} signed as {signed_as}");
        }
        let map = signed(
            "POST",
            target,
            "127.0.0.1:8080",
            "127.0.0.1:9090",
            b"{}",
            b"k",
            date,
        );
        assert_eq!(
            verify("POST", target, &map, b"{}", b"k", at(date)),
            Err(HmacError::SignatureMismatch)
        );
    }

    /// A tampered body, path, method, wrong key or stale date are each rejected.
    #[test]
    fn verify_rejects_tampering() {
        let date = "Thu, 26 Nov 2026 23:00:00 GMT";
        let target = "/identities/8%3Aacs%3Ax/:issueAccessToken?api-version=2023-10-01";
        let body = br#"{"scopes":["chat"]}"#;
        let map = signed("POST", target, "h:1", "h:1", body, b"key", date);
        let now = at(date);
        assert_eq!(verify("POST", target, &map, body, b"key", now), Ok(()));
        assert_eq!(
            verify("post", target, &map, body, b"key", now),
            Ok(()),
            "verb case"
        );
        assert_eq!(
            verify("POST", target, &map, br#"{"scopes":["voip"]}"#, b"key", now),
            Err(HmacError::ContentHashMismatch)
        );
        assert_eq!(
            verify(
                "POST",
                "/identities/8:acs:x/:issueAccessToken?api-version=2023-10-01",
                &map,
                body,
                b"key",
                now
            ),
            Err(HmacError::SignatureMismatch),
            "decoded path must not verify"
        );
        assert_eq!(
            verify("PUT", target, &map, body, b"key", now),
            Err(HmacError::SignatureMismatch)
        );
        assert_eq!(
            verify("POST", target, &map, body, b"other", now),
            Err(HmacError::SignatureMismatch)
        );
        let late = now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS + 1);
        assert_eq!(
            verify("POST", target, &map, body, b"key", late),
            Err(HmacError::DateOutOfRange)
        );
        let early = now - chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS + 1);
        assert_eq!(
            verify("POST", target, &map, body, b"key", early),
            Err(HmacError::DateOutOfRange)
        );
        let edge = now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS);
        assert_eq!(
            verify("POST", target, &map, body, b"key", edge),
            Ok(()),
            "edge of the window"
        );
    }

    /// A `Date` header stands in for a missing `x-ms-date`.
    #[test]
    fn verify_accepts_date_header() {
        let date = "Thu, 26 Nov 2026 23:00:00 GMT";
        let mut map = signed("GET", "/x", "h", "h", b"", b"k", date);
        let value = map.remove("x-ms-date").expect("x-ms-date present");
        map.insert("date", value);
        assert_eq!(verify("GET", "/x", &map, b"", b"k", at(date)), Ok(()));
    }

    /// Missing or malformed headers give typed errors, never a panic.
    #[test]
    fn verify_rejects_malformed_headers() {
        let date = "Thu, 26 Nov 2026 23:00:00 GMT";
        let now = at(date);
        let good = signed("GET", "/x", "h", "h", b"", b"k", date);
        let with = |name: &'static str, value: Option<&str>| {
            let mut map = good.clone();
            map.remove(name);
            if let Some(value) = value {
                map.insert(name, HeaderValue::from_str(value).expect("test header"));
            }
            verify("GET", "/x", &map, b"", b"k", now)
        };
        assert_eq!(
            with("authorization", None),
            Err(HmacError::MissingAuthorization)
        );
        assert_eq!(
            with("authorization", Some("Bearer abc")),
            Err(HmacError::MissingAuthorization)
        );
        assert_eq!(
            with("authorization", Some("HMAC-SHA256")),
            Err(HmacError::MalformedAuthorization)
        );
        assert_eq!(
            with(
                "authorization",
                Some("HMAC-SHA256 SignedHeaders=host&Signature=AAAA")
            ),
            Err(HmacError::MalformedAuthorization)
        );
        assert_eq!(
            with(
                "authorization",
                Some("HMAC-SHA256 SignedHeaders=x-ms-date;host;host&Signature=AAAA")
            ),
            Err(HmacError::MalformedAuthorization)
        );
        assert_eq!(
            with(
                "authorization",
                Some("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=!!")
            ),
            Err(HmacError::SignatureMismatch)
        );
        assert_eq!(
            with("x-ms-content-sha256", None),
            Err(HmacError::MissingHeader("x-ms-content-sha256"))
        );
        assert_eq!(
            with("x-ms-date", None),
            Err(HmacError::MissingHeader("x-ms-date"))
        );
        assert_eq!(
            with("x-ms-date", Some("yesterday")),
            Err(HmacError::InvalidDate)
        );
        assert_eq!(with("host", None), Err(HmacError::MissingHeader("host")));
    }

    /// Ports are stripped only where there is one.
    #[test]
    fn strip_port_handles_ipv6_and_names() {
        assert_eq!(strip_port("a:1"), Some("a"));
        assert_eq!(strip_port("a"), None);
        assert_eq!(strip_port("[::1]:80"), Some("[::1]"));
        assert_eq!(strip_port("[::1]"), None);
        assert_eq!(strip_port("::1"), None);
        assert_eq!(strip_port("a:"), None);
        assert_eq!(strip_port("a:b"), None);
    }
}
