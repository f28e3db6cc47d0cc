//! HMAC-SHA256 request signing, as the Identity API expects it.
//!
//! Signing is a pure function of the request, the key and the clock, so it can be pinned by
//! known-answer tests and reused to sign requests this crate has no method for.
//!
//! The scheme (the one the official SDKs use):
//!
//! - `x-ms-date`: the time in RFC 1123 form, always `GMT` (`Thu, 26 Nov 2026 23:00:00 GMT`);
//! - `x-ms-content-sha256`: `base64(SHA-256(body))`, where a missing body counts as empty;
//! - string to sign: `METHOD "\n" path-and-query "\n" date ";" host ";" content-hash`, where
//!   `path-and-query` is the request target exactly as sent (still percent-encoded) and `host`
//!   includes the port when it is not the scheme's default;
//! - `Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<sig>`
//!   with `sig = base64(HMAC-SHA256(key, string-to-sign))`.

use crate::Secret;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use super::AzureKeyCredential;

/// The `Authorization` scheme prefix, including the fixed list of signed headers.
const AUTHORIZATION_PREFIX: &str =
    "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=";

/// The three headers that authenticate one request.
///
/// The signature is a [`Secret`] (`Debug` prints `Secret`): it is good for replaying the
/// request until the service's clock window closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    /// The `x-ms-date` header value.
    pub date: String,
    /// The `x-ms-content-sha256` header value.
    pub content_sha256: String,
    /// The `Authorization` header value.
    pub authorization: Secret,
}

/// Signs one request.
///
/// - `method`: the HTTP verb (upper-cased before signing);
/// - `host`: the host as sent in the `Host` header, with the port when it is not the default
///   (see [`host_for_signing`]);
/// - `path_and_query`: the request target exactly as sent, e.g.
///   `/identities/8%3Aacs%3Aabc_123?api-version=2023-10-01`;
/// - `body`: the exact body bytes (empty when there is none);
/// - `now`: the time to put in `x-ms-date`.
///
/// ```
/// use acs_chat::identity::{hmac, AzureKeyCredential};
/// use chrono::TimeZone as _;
///
/// let key = AzureKeyCredential::new("ZW11bGF0b3Itc2VjcmV0LWtleS0wMDAwMDAwMDAwMDA=")?;
/// let now = chrono::Utc.with_ymd_and_hms(2026, 11, 26, 23, 0, 0).unwrap();
/// let signed = hmac::sign(&key, "DELETE", "localhost:8443",
///     "/identities/8%3Aacs%3Aabc_123?api-version=2023-10-01", b"", now);
/// assert_eq!(signed.date, "Thu, 26 Nov 2026 23:00:00 GMT");
/// assert_eq!(signed.content_sha256, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
/// assert!(signed.authorization.expose().ends_with("Signature=tOAJj04WxGUh84qC1Wvs79YnIAeuMFs1cxT+S4K3MO8="));
/// # Ok::<(), acs_chat::Error>(())
/// ```
pub fn sign(
    key: &AzureKeyCredential,
    method: &str,
    host: &str,
    path_and_query: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> SignedHeaders {
    let date = rfc1123(now);
    let content_sha256 = content_sha256(body);
    let to_sign = string_to_sign(method, host, path_and_query, &date, &content_sha256);
    let signature = key.with_key(|bytes| signature(bytes, &to_sign));
    SignedHeaders {
        date,
        content_sha256,
        authorization: Secret::new(format!("{AUTHORIZATION_PREFIX}{signature}")),
    }
}

/// `base64(SHA-256(body))`, the `x-ms-content-sha256` header value.
///
/// ```
/// use acs_chat::identity::hmac::content_sha256;
/// assert_eq!(content_sha256(b""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
/// ```
pub fn content_sha256(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
}

/// The time in RFC 1123 form with a two-digit day and `GMT`, as `x-ms-date` carries it.
///
/// ```
/// use chrono::TimeZone as _;
/// let t = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 8, 5, 0).unwrap();
/// assert_eq!(acs_chat::identity::hmac::rfc1123(t), "Tue, 01 Dec 2026 08:05:00 GMT");
/// ```
pub fn rfc1123(now: DateTime<Utc>) -> String {
    now.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The host to sign for an absolute URL: the authority without user info, lower-cased, with
/// the port only when it is not the scheme's default (80 for `http`, 443 for `https`).
///
/// Returns `None` when `url` is not an absolute `http`/`https` URL with a host.
///
/// ```
/// use acs_chat::identity::hmac::host_for_signing;
/// assert_eq!(host_for_signing("http://127.0.0.1:8443/identities").as_deref(), Some("127.0.0.1:8443"));
/// assert_eq!(host_for_signing("https://Contoso.example:443/").as_deref(), Some("contoso.example"));
/// ```
pub fn host_for_signing(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    // The port follows the last `:` unless that colon is inside an IPv6 literal.
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if host.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    Some(match port {
        Some(p) if !p.is_empty() && p != default_port => format!("{host}:{p}"),
        _ => host,
    })
}

fn string_to_sign(
    method: &str,
    host: &str,
    path_and_query: &str,
    date: &str,
    content_hash: &str,
) -> String {
    format!(
        "{}\n{}\n{};{};{}",
        method.to_ascii_uppercase(),
        path_and_query,
        date,
        host,
        content_hash
    )
}

fn signature(key: &[u8], to_sign: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

// The fixture lookup every suite uses (the emulator, a dev-dependency, has it).
#[cfg(test)]
use acs_chat_emulator::fixtures;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    /// The key of the HMAC worked example in `../shared/spec/SUMMARY.md` (section 9):
    /// `emulator-secret-key-000000000000`, base64-encoded.
    const SUMMARY_KEY: &str = "ZW11bGF0b3Itc2VjcmV0LWtleS0wMDAwMDAwMDAwMDA=";

    fn summary_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 23, 0, 0)
            .single()
            .expect("a valid date")
    }

    /// The POST worked example of `../shared/spec/SUMMARY.md` (section 9, HMAC) reproduces hash, string and signature.
    #[test]
    fn sign_post_matches_summary_example() {
        let key = AzureKeyCredential::new(SUMMARY_KEY).expect("valid base64");
        let body = br#"{"createTokenWithScopes": ["chat"]}"#;
        let signed = sign(
            &key,
            "POST",
            "contoso.communication.azure.com",
            "/identities?api-version=2023-10-01",
            body,
            summary_time(),
        );
        assert_eq!(signed.date, "Thu, 26 Nov 2026 23:00:00 GMT");
        assert_eq!(
            signed.content_sha256,
            "kWpGozyV35fifbpKdY8mbdG64VG0Pdq5upzo7YKAFM0="
        );
        assert_eq!(
            string_to_sign(
                "post",
                "contoso.communication.azure.com",
                "/identities?api-version=2023-10-01",
                &signed.date,
                &signed.content_sha256
            ),
            "POST\n/identities?api-version=2023-10-01\nThu, 26 Nov 2026 23:00:00 GMT;contoso.communication.azure.com;kWpGozyV35fifbpKdY8mbdG64VG0Pdq5upzo7YKAFM0="
        );
        assert_eq!(
            signed.authorization.expose(),
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=lff9u1DOGZFKrjn3AKoRc+3gBTNZdqjUTY/+MFKqS7g="
        );
    }

    /// `Debug` of signed headers shows the date and hash, never the signature.
    #[test]
    fn debug_signed_headers_hides_signature() {
        let key = AzureKeyCredential::new(SUMMARY_KEY).expect("valid base64");
        let signed = sign(&key, "GET", "h", "/", b"", summary_time());
        let debug = format!("{signed:?}");
        let (_, signature) = signed
            .authorization
            .expose()
            .split_once("Signature=")
            .expect("an HMAC authorization value");
        assert!(!debug.contains("Signature="), "signature in Debug: {debug}");
        assert!(!debug.contains(signature), "signature in Debug: {debug}");
        assert!(
            debug.contains(&signed.date),
            "date missing from Debug: {debug}"
        );
    }

    /// The DELETE worked example (empty body, host with port) reproduces its signature.
    #[test]
    fn sign_delete_with_port_matches_summary_example() {
        let key = AzureKeyCredential::new(SUMMARY_KEY).expect("valid base64");
        let signed = sign(
            &key,
            "DELETE",
            "localhost:8443",
            "/identities/8%3Aacs%3Aabc_123?api-version=2023-10-01",
            b"",
            summary_time(),
        );
        assert_eq!(
            signed.content_sha256,
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            signed.authorization.expose(),
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=tOAJj04WxGUh84qC1Wvs79YnIAeuMFs1cxT+S4K3MO8="
        );
    }

    /// Record 1 of the official Python SDK capture is reproduced byte for byte.
    #[test]
    fn sign_reproduces_official_sdk_record() {
        // The fake key used for that recording, as given in the conformance README.
        const KEY: &str = "7KrgI3OoLnDfgkL/isG7TxHIbmi6hBSkvnTICPTK6ijGRzd6pY/HqfnbE/Qnvufxypr3sK1XmNmna6TvOP4E2g==";
        let Some(path) = super::fixtures::file(
            "sign_reproduces_official_sdk_record",
            &super::fixtures::CONFORMANCE,
            "official-python-sdk-requests.jsonl",
        ) else {
            return;
        };
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} is not readable: {e}", path.display()));
        let first = text.lines().next().expect("the capture has a first record");
        let record: serde_json::Value = serde_json::from_str(first).expect("record 1 is JSON");
        let header = |name: &str| -> String {
            record["headers"]
                .as_array()
                .expect("headers is a list of pairs")
                .iter()
                .find(|pair| pair[0].as_str() == Some(name))
                .and_then(|pair| pair[1].as_str())
                .unwrap_or_else(|| panic!("record 1 has no {name} header"))
                .to_owned()
        };
        let date = header("x-ms-date");
        let now = DateTime::parse_from_rfc2822(&date)
            .expect("x-ms-date parses as RFC 1123")
            .with_timezone(&Utc);
        let body = record["body"].as_str().unwrap_or_default();
        let key = AzureKeyCredential::new(KEY).expect("valid base64");
        let signed = sign(
            &key,
            record["method"].as_str().expect("method"),
            &header("Host"),
            record["raw_target"].as_str().expect("raw_target"),
            body.as_bytes(),
            now,
        );
        assert_eq!(signed.date, date);
        assert_eq!(signed.content_sha256, header("x-ms-content-sha256"));
        assert_eq!(signed.authorization.expose(), header("Authorization"));
    }

    /// Single-digit days are zero-padded and the weekday/month are English abbreviations.
    #[test]
    fn rfc1123_pads_day_and_says_gmt() {
        let t = Utc
            .with_ymd_and_hms(2027, 1, 3, 4, 5, 6)
            .single()
            .expect("a valid date");
        assert_eq!(rfc1123(t), "Sun, 03 Jan 2027 04:05:06 GMT");
    }

    /// The signing host keeps non-default ports and drops default ones and user info.
    #[test]
    fn host_for_signing_keeps_only_non_default_ports() {
        let cases = [
            ("http://127.0.0.1:8443/identities", Some("127.0.0.1:8443")),
            ("http://localhost:80/", Some("localhost")),
            ("https://contoso.example:443", Some("contoso.example")),
            (
                "https://contoso.example:8080?x=1",
                Some("contoso.example:8080"),
            ),
            ("https://user:pw@Contoso.example/", Some("contoso.example")),
            ("http://[::1]:9000/a", Some("[::1]:9000")),
            ("http://[::1]/a", Some("[::1]")),
            ("ftp://x/", None),
            ("contoso.example", None),
            ("https:///path", None),
        ];
        for (url, want) in cases {
            assert_eq!(host_for_signing(url).as_deref(), want, "url {url}");
        }
    }
}
