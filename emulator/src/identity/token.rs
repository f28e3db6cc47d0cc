//! The user access tokens a [`Directory`](super::Directory) issues and checks.
//!
//! Tokens are JWT-shaped, `header.payload.signature`, like the service's. Clients only ever look
//! at the payload's numeric `exp` claim, but they decode it in different ways: the official Python
//! SDK uses *standard* base64 with padding appended, which silently drops `-` and `_`. So both the
//! header and the payload are serialised as pure ASCII JSON without `>`, `?` and `~` (escaped as
//! `\u003e` and so on) and padded with spaces to a multiple of three bytes: their base64url text
//! then consists of letters and digits only, and decodes the same way in either alphabet. The
//! signature is HMAC-SHA256 with the resource's access key over `header.payload`, in base64url.
//!
//! Besides the claims real tokens carry (`skypeid`, `scp`, `csi`, `exp`, `acsScope`,
//! `resourceId`, `iat`, …) each token has an `expMs` claim (the expiry in epoch milliseconds,
//! which validation uses) and a `seq` claim: the directory's issue counter. Revocation
//! records the counter, so a token issued right after a revocation works even within the same
//! millisecond, and every token issued before it is rejected.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::auth::AuthError;

type HmacSha256 = Hmac<Sha256>;

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Claims {
    pub(crate) skypeid: String,
    pub(crate) scp: u32,
    pub(crate) csi: String,
    pub(crate) exp: i64,
    pub(crate) exp_ms: i64,
    pub(crate) rgn: String,
    pub(crate) acs_scope: String,
    pub(crate) resource_id: String,
    pub(crate) resource_location: String,
    pub(crate) iat: i64,
    pub(crate) seq: u64,
}

/// `header.payload.signature` for `claims`, signed with `key`.
pub(crate) fn mint(key: &[u8], claims: &Claims) -> String {
    let header = Header {
        alg: "HS256",
        typ: "JWT",
    };
    let signing_input = format!("{}.{}", encode_segment(&header), encode_segment(claims));
    let signature =
        URL_SAFE_NO_PAD.encode(mac(key, signing_input.as_bytes()).finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// The claims of `token` if its signature is `key`'s; says nothing yet of expiry or user.
pub(crate) fn open(key: &[u8], token: &str) -> Result<Claims, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedToken);
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| AuthError::MalformedToken)?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    mac(key, signing_input.as_bytes())
        .verify_slice(&signature)
        .map_err(|_| AuthError::BadSignature)?;
    URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(AuthError::MalformedToken)
}

fn mac(key: &[u8], data: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac
}

/// Serialises `value` as a token segment whose base64url text has letters and digits only.
fn encode_segment<T: Serialize>(value: &T) -> String {
    // serde_json cannot fail on these plain structs; an empty object still keeps the token
    // well-formed if it ever did.
    let json = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    let mut text = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        // Only a byte in the third position of a 3-byte group can encode to `-` or `_`, and
        // among ASCII only `>`, `?`, `~` and DEL do; anything non-ASCII is escaped as well.
        // Escapes are legal in JSON strings, and these characters never occur outside one.
        if c.is_ascii() && !matches!(c, '>' | '?' | '~' | '\x7f') {
            text.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                text.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    // Pad to whole 3-byte groups so the encoding needs no `=` either.
    while !text.len().is_multiple_of(3) {
        text.push(' ');
    }
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}
