//! Users and access tokens of one emulated Communication Services resource.
//!
//! A [`Directory`] knows the resource id, its access key, the users it created (and deleted), and
//! when each user's tokens were last revoked. It issues user access tokens and validates the
//! bearer tokens that chat calls carry.
//!
//! # Token format
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
//!
//! # Thread safety
//!
//! `Directory` is `Send + Sync`; share it behind an `Arc` between request handlers.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, TimeZone as _, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The longest token lifetime the directory will encode; longer requests are clamped to it.
const MAX_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A token scope, as the Identity API names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `chat`: full chat access.
    Chat,
    /// `voip`: calling.
    Voip,
    /// `chat.join`: chat without creating, deleting or updating threads.
    ChatJoin,
    /// `chat.join.limited`: like `chat.join`, and also without adding or removing participants.
    ChatJoinLimited,
    /// `voip.join`: join calls only.
    VoipJoin,
}

impl Scope {
    /// Every scope, in the order the service documents them.
    pub const ALL: [Scope; 5] = [
        Scope::Chat,
        Scope::Voip,
        Scope::ChatJoin,
        Scope::ChatJoinLimited,
        Scope::VoipJoin,
    ];

    /// The scope's wire name, e.g. `chat.join`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Chat => "chat",
            Scope::Voip => "voip",
            Scope::ChatJoin => "chat.join",
            Scope::ChatJoinLimited => "chat.join.limited",
            Scope::VoipJoin => "voip.join",
        }
    }

    /// Parses a wire name; `None` for a scope the service does not know. Names are matched
    /// exactly (the service's enum values are lowercase).
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a chat operation needs from the caller's token scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatAccess {
    /// Read threads and messages, send, edit and delete messages, receipts, typing: any chat scope.
    Participate,
    /// Add or remove participants: `chat` or `chat.join`.
    ManageParticipants,
    /// Create, update or delete threads: `chat` only.
    ManageThread,
}

/// The authenticated user behind a valid bearer token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user's raw id, e.g. `8:acs:<resourceGuid>_<uuid>`.
    pub user_id: String,
    /// The scopes the token was issued with.
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// Whether the token's scopes allow `access` (see [`ChatAccess`] for the rules).
    pub fn permits(&self, access: ChatAccess) -> bool {
        let has = |s: Scope| self.scopes.contains(&s);
        match access {
            ChatAccess::Participate => {
                has(Scope::Chat) || has(Scope::ChatJoin) || has(Scope::ChatJoinLimited)
            }
            ChatAccess::ManageParticipants => has(Scope::Chat) || has(Scope::ChatJoin),
            ChatAccess::ManageThread => has(Scope::Chat),
        }
    }
}

/// Why a request was not authenticated. Every variant maps to `401 Unauthorized` in the
/// service's error shape (see [`AuthError::into_response`](IntoResponse)); none carries the
/// token, key or signature it rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header, or not the expected scheme.
    MissingCredentials,
    /// The bearer token is not one of ours: wrong shape, bad encoding or bad claims.
    MalformedToken,
    /// The bearer token's signature does not match the resource key.
    BadSignature,
    /// The bearer token's `exp` has passed.
    Expired,
    /// The user's tokens were revoked after this token was issued.
    Revoked,
    /// The token's user was never created by this resource.
    UnknownUser,
    /// The token's user has been deleted.
    DeletedUser,
    /// A header the HMAC scheme needs is missing or not text.
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
    /// The HMAC signature does not match (wrong key, or the request was changed).
    SignatureMismatch,
}

impl AuthError {
    /// The HTTP status the service answers with: always 401.
    pub fn status(self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    /// The error code in the response body: always `Unauthorized`.
    pub fn code(self) -> &'static str {
        "Unauthorized"
    }

    /// A human-readable reason, safe to send to the client (contains no secret).
    pub fn message(self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "Request is not authorized: no valid Authorization header.",
            AuthError::MalformedToken => "Request is not authorized: the access token is malformed.",
            AuthError::BadSignature => "Request is not authorized: the access token signature is invalid.",
            AuthError::Expired => "Request is not authorized: the access token has expired.",
            AuthError::Revoked => "Request is not authorized: the access token has been revoked.",
            AuthError::UnknownUser => "Request is not authorized: the token's identity does not belong to this resource.",
            AuthError::DeletedUser => "Request is not authorized: the token's identity has been deleted.",
            AuthError::MissingHeader(_) => "Request is not authorized: a header required for HMAC authentication is missing.",
            AuthError::ContentHashMismatch => "Request is not authorized: x-ms-content-sha256 does not match the request body.",
            AuthError::InvalidDate => "Request is not authorized: the x-ms-date header is not an RFC 1123 date.",
            AuthError::DateOutOfRange => "Request is not authorized: the x-ms-date header is more than 15 minutes from the server time.",
            AuthError::MalformedAuthorization => "Request is not authorized: the Authorization header is not a valid HMAC-SHA256 header.",
            AuthError::SignatureMismatch => "Request is not authorized: the HMAC signature does not match.",
        }
    }

    /// The `{"error":{"code","message"}}` body the service sends.
    pub fn body(self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code(), "message": self.message() } })
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MissingHeader(name) => write!(f, "missing or non-text header {name}"),
            other => f.write_str(other.message()),
        }
    }
}

impl std::error::Error for AuthError {}

impl IntoResponse for AuthError {
    /// `401` with `{"error":{"code":"Unauthorized","message":…}}` and
    /// `Content-Type: application/json; charset=utf-8`.
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            body,
        )
            .into_response()
    }
}

#[derive(Default)]
struct UserRecord {
    /// Tokens whose `seq` is at most this value are revoked (0: none).
    revoked_through: u64,
    deleted: bool,
}

/// The users and tokens of one emulated resource. See the [module docs](self).
///
/// ```
/// use std::time::Duration;
/// use acs_chat_emulator::auth::{AuthError, Directory, Scope};
///
/// let dir = Directory::new(b"resource key".to_vec());
/// let user = dir.create_user();
/// let (token, _expires_on) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(3600));
/// assert_eq!(dir.validate_bearer(&token)?.user_id, user);
///
/// dir.revoke(&user);
/// assert_eq!(dir.validate_bearer(&token), Err(AuthError::Revoked));
/// let (fresh, _) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(3600));
/// assert!(dir.validate_bearer(&fresh).is_ok());
/// # Ok::<(), AuthError>(())
/// ```
pub struct Directory {
    resource_id: String,
    key: Vec<u8>,
    /// The `seq` of the last token issued.
    last_seq: crate::store::Sequence,
    users: Mutex<HashMap<String, UserRecord>>,
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("resource_id", &self.resource_id)
            .field("tokens_issued", &self.last_seq.current())
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claims {
    skypeid: String,
    scp: u32,
    csi: String,
    exp: i64,
    exp_ms: i64,
    rgn: String,
    acs_scope: String,
    resource_id: String,
    resource_location: String,
    iat: i64,
    seq: u64,
}

impl Directory {
    /// A directory for a new resource with a random resource id, signing with `key` (the
    /// decoded access key).
    pub fn new(key: Vec<u8>) -> Directory {
        Directory::with_resource_id(key, uuid::Uuid::new_v4().to_string())
    }

    /// A directory for the resource `resource_id` (a GUID), signing with `key`.
    pub fn with_resource_id(key: Vec<u8>, resource_id: String) -> Directory {
        Directory {
            resource_id,
            key,
            last_seq: crate::store::Sequence::default(),
            users: Mutex::new(HashMap::new()),
        }
    }

    /// The resource's id, the GUID inside every user id it creates.
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }

    /// The decoded access key. It is a secret: never log it.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserRecord>> {
        // A panic while holding the lock cannot leave a record half-written (every update is a
        // single field store), so a poisoned map is still consistent.
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a user, `8:acs:<resourceId>_<uuid>`, and returns its id.
    pub fn create_user(&self) -> String {
        let id = format!("8:acs:{}_{}", self.resource_id, uuid::Uuid::new_v4());
        self.users().insert(id.clone(), UserRecord::default());
        id
    }

    /// Registers a user id that did not come from [`create_user`](Self::create_user), such as a
    /// Teams user (`8:orgid:<oid>`) after a token exchange. Existing records are left alone.
    pub fn register_user(&self, user_id: &str) {
        self.users().entry(user_id.to_owned()).or_default();
    }

    /// Whether `user_id` was created here and not deleted.
    pub fn user_exists(&self, user_id: &str) -> bool {
        self.users().get(user_id).is_some_and(|u| !u.deleted)
    }

    /// Revokes every token issued to `user_id` so far; tokens issued afterwards work. Returns
    /// `false` (and does nothing) when the user does not exist.
    pub fn revoke(&self, user_id: &str) -> bool {
        let mut users = self.users();
        match users.get_mut(user_id) {
            Some(user) if !user.deleted => {
                user.revoked_through = self.last_seq.current();
                true
            }
            _ => false,
        }
    }

    /// Deletes `user_id`: its tokens stop working and it can get no new ones. Returns `false`
    /// when the user does not exist (or was already deleted).
    pub fn delete_user(&self, user_id: &str) -> bool {
        let mut users = self.users();
        match users.get_mut(user_id) {
            Some(user) if !user.deleted => {
                user.deleted = true;
                true
            }
            _ => false,
        }
    }

    /// Issues a token for `user_id` with `scopes`, valid for `lifetime` from now (any lifetime;
    /// the Identity API limits its callers to 1–24 hours, this does not). Returns the token and
    /// its expiry, to the millisecond: validation fails from that instant on. The token's `exp`
    /// claim is the expiry rounded down to a whole second, so a client that reads `exp` never
    /// believes a token is valid when the emulator would refuse it (`Duration::ZERO` gives a
    /// token that is expired at once, for both).
    ///
    /// The token is signed whatever `user_id` is, but [`validate_bearer`](Self::validate_bearer)
    /// only accepts tokens of existing users.
    pub fn issue_token(
        &self,
        user_id: &str,
        scopes: &[Scope],
        lifetime: Duration,
    ) -> (String, DateTime<Utc>) {
        self.issue_token_at(user_id, scopes, lifetime, Utc::now())
    }

    /// [`issue_token`](Self::issue_token) with the clock passed in.
    pub fn issue_token_at(
        &self,
        user_id: &str,
        scopes: &[Scope],
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let lifetime =
            chrono::Duration::from_std(lifetime.min(MAX_LIFETIME)).unwrap_or(chrono::Duration::MAX);
        let expires_on = now
            .checked_add_signed(lifetime)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        // Millisecond precision: what the `expMs` claim holds and validation compares with.
        let exp_ms = expires_on.timestamp_millis();
        let expires_on = Utc
            .timestamp_millis_opt(exp_ms)
            .single()
            .unwrap_or(expires_on);
        let seq = self.last_seq.next();
        let scope_list: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        let claims = Claims {
            skypeid: user_id.strip_prefix("8:").unwrap_or(user_id).to_owned(),
            scp: 1792,
            csi: now.timestamp().to_string(),
            exp: expires_on.timestamp(),
            exp_ms,
            rgn: "emulator".to_owned(),
            acs_scope: scope_list.join(","),
            resource_id: self.resource_id.clone(),
            resource_location: "local".to_owned(),
            iat: now.timestamp(),
            seq,
        };
        let header = Header {
            alg: "HS256",
            typ: "JWT",
        };
        let signing_input = format!("{}.{}", encode_segment(&header), encode_segment(&claims));
        let signature =
            URL_SAFE_NO_PAD.encode(self.mac(signing_input.as_bytes()).finalize().into_bytes());
        (format!("{signing_input}.{signature}"), expires_on)
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(data);
        mac
    }

    /// Checks a bearer token (without the `Bearer ` prefix) against the current time.
    pub fn validate_bearer(&self, token: &str) -> Result<Caller, AuthError> {
        self.validate_bearer_at(token, Utc::now())
    }

    /// Checks the value of an `Authorization` header: `Bearer <token>` (scheme case-insensitive).
    pub fn validate_authorization(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let value = authorization.ok_or(AuthError::MissingCredentials)?.trim();
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::MissingCredentials)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::MissingCredentials);
        }
        self.validate_bearer(token.trim())
    }

    /// [`validate_bearer`](Self::validate_bearer) with the clock passed in.
    pub fn validate_bearer_at(&self, token: &str, now: DateTime<Utc>) -> Result<Caller, AuthError> {
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
        self.mac(signing_input.as_bytes())
            .verify_slice(&signature)
            .map_err(|_| AuthError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(AuthError::MalformedToken)?;
        let scopes = if claims.acs_scope.is_empty() {
            Vec::new()
        } else {
            claims
                .acs_scope
                .split(',')
                .map(Scope::parse)
                .collect::<Option<Vec<_>>>()
                .ok_or(AuthError::MalformedToken)?
        };
        if now.timestamp_millis() >= claims.exp_ms {
            return Err(AuthError::Expired);
        }
        if claims.resource_id != self.resource_id {
            return Err(AuthError::UnknownUser);
        }
        let user_id = format!("8:{}", claims.skypeid);
        let users = self.users();
        let user = users.get(&user_id).ok_or(AuthError::UnknownUser)?;
        if user.deleted {
            return Err(AuthError::DeletedUser);
        }
        if claims.seq <= user.revoked_through {
            return Err(AuthError::Revoked);
        }
        Ok(Caller { user_id, scopes })
    }
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
    while text.len() % 3 != 0 {
        text.push(' ');
    }
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn directory() -> Directory {
        Directory::new(b"unit-test-key".to_vec())
    }

    fn payload_json(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).expect("token has a payload part");
        // Decode as Python's CommunicationTokenCredential does: standard alphabet, "==" added.
        let padded = format!("{payload}==");
        let trimmed = padded.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .unwrap_or_else(|e| panic!("payload {payload:?} is not standard base64: {e}"));
        serde_json::from_slice(&bytes).expect("payload is JSON")
    }

    /// Token segments decode with the standard alphabet and contain only letters and digits.
    #[test]
    fn issue_token_segments_alphanumeric() {
        let dir = directory();
        for weird in [
            "8:acs:x_y",
            "8:acs:>>>???~~~",
            "8:acs:ünïcødé-😀",
            "8:acs:a~b?c>d",
        ] {
            let (token, _) = dir.issue_token(weird, &Scope::ALL, Duration::from_secs(60));
            let parts: Vec<&str> = token.split('.').collect();
            assert_eq!(parts.len(), 3, "token parts: {parts:?}");
            for part in &parts[..2] {
                assert!(
                    part.bytes().all(|b| b.is_ascii_alphanumeric()),
                    "segment {part:?} of the token for {weird:?} has non-alphanumerics"
                );
                assert!(
                    STANDARD.decode(part).is_ok(),
                    "segment {part:?} is not standard base64"
                );
            }
            let claims = payload_json(&token);
            assert_eq!(
                claims["skypeid"],
                weird.trim_start_matches("8:"),
                "claims: {claims}"
            );
        }
    }

    /// The payload has a numeric `exp` at or after the returned expiry, and the scopes.
    #[test]
    fn issue_token_payload_has_numeric_exp() {
        let dir = directory();
        let user = dir.create_user();
        let now = Utc.timestamp_opt(1_800_000_000, 500_000_000).unwrap();
        let (token, expires_on) = dir.issue_token_at(
            &user,
            &[Scope::Chat, Scope::Voip],
            Duration::from_secs(3600),
            now,
        );
        let claims = payload_json(&token);
        assert_eq!(
            claims["exp"],
            serde_json::json!(1_800_003_600),
            "claims: {claims}"
        );
        assert_eq!(
            claims["expMs"],
            serde_json::json!(1_800_003_600_500_i64),
            "claims: {claims}"
        );
        assert_eq!(
            claims["iat"],
            serde_json::json!(1_800_000_000),
            "claims: {claims}"
        );
        assert_eq!(claims["acsScope"], "chat,voip", "claims: {claims}");
        assert_eq!(claims["resourceId"], dir.resource_id(), "claims: {claims}");
        assert_eq!(
            expires_on,
            now + chrono::Duration::seconds(3600),
            "expiry returned"
        );
    }

    /// A fresh token validates to its user and scopes.
    #[test]
    fn validate_bearer_accepts_fresh_token() {
        let dir = directory();
        let user = dir.create_user();
        let (token, _) = dir.issue_token(&user, &[Scope::ChatJoin], Duration::from_secs(60));
        let caller = dir.validate_bearer(&token);
        assert_eq!(
            caller,
            Ok(Caller {
                user_id: user.clone(),
                scopes: vec![Scope::ChatJoin]
            })
        );
        let header = format!("bearer {token}");
        assert!(
            dir.validate_authorization(Some(&header)).is_ok(),
            "lowercase scheme refused"
        );
    }

    /// A token is rejected from its `exp` on.
    #[test]
    fn validate_bearer_rejects_expired_token() {
        let dir = directory();
        let user = dir.create_user();
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let (token, _) = dir.issue_token_at(&user, &[Scope::Chat], Duration::from_secs(5), now);
        let seen = dir.validate_bearer_at(&token, now + chrono::Duration::seconds(4));
        assert!(seen.is_ok(), "4 s into a 5 s token: {seen:?}");
        let seen = dir.validate_bearer_at(&token, now + chrono::Duration::seconds(5));
        assert_eq!(seen, Err(AuthError::Expired));
        let (zero, expires_on) = dir.issue_token(&user, &[Scope::Chat], Duration::ZERO);
        assert_eq!(
            dir.validate_bearer_at(&zero, expires_on),
            Err(AuthError::Expired)
        );
        let exp = payload_json(&zero)["exp"].as_i64().expect("numeric exp");
        assert!(
            exp <= Utc::now().timestamp(),
            "zero-lifetime token has exp {exp} in the future"
        );
    }

    /// Revocation rejects earlier tokens and accepts ones issued right after it.
    #[test]
    fn revoke_rejects_only_earlier_tokens() {
        let dir = directory();
        let user = dir.create_user();
        let other = dir.create_user();
        let (old, _) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
        let (other_token, _) = dir.issue_token(&other, &[Scope::Chat], Duration::from_secs(60));
        assert!(
            dir.revoke(&user),
            "revoke of an existing user returned false"
        );
        let (new, _) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
        assert_eq!(dir.validate_bearer(&old), Err(AuthError::Revoked));
        assert!(
            dir.validate_bearer(&new).is_ok(),
            "token after revoke: {:?}",
            dir.validate_bearer(&new)
        );
        assert!(
            dir.validate_bearer(&other_token).is_ok(),
            "other user's token was revoked"
        );
        assert!(
            !dir.revoke("8:acs:nobody"),
            "revoke of an unknown user returned true"
        );
    }

    /// Deleted and unknown users' tokens are rejected.
    #[test]
    fn validate_bearer_rejects_deleted_and_unknown_users() {
        let dir = directory();
        let user = dir.create_user();
        let (token, _) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
        assert!(dir.delete_user(&user), "delete returned false");
        assert!(!dir.user_exists(&user), "deleted user still exists");
        assert!(!dir.delete_user(&user), "second delete returned true");
        assert_eq!(dir.validate_bearer(&token), Err(AuthError::DeletedUser));
        let stranger = format!("8:acs:{}_stranger", dir.resource_id());
        let (token, _) = dir.issue_token(&stranger, &[Scope::Chat], Duration::from_secs(60));
        assert_eq!(dir.validate_bearer(&token), Err(AuthError::UnknownUser));
    }

    /// Tampered tokens, other keys and garbage are rejected with typed errors.
    #[test]
    fn validate_bearer_rejects_forged_tokens() {
        let dir = directory();
        let user = dir.create_user();
        let (token, _) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
        let other =
            Directory::with_resource_id(b"other key".to_vec(), dir.resource_id().to_owned());
        let (foreign, _) = other.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
        assert_eq!(dir.validate_bearer(&foreign), Err(AuthError::BadSignature));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(br#"{"exp":99999999999}"#);
        assert_eq!(
            dir.validate_bearer(&parts.join(".")),
            Err(AuthError::BadSignature)
        );
        for garbage in [
            "",
            "a.b",
            "a.b.c.d",
            "x.y.!!!",
            "..",
            "\u{1F600}.\u{1F600}.\u{1F600}",
        ] {
            assert!(
                matches!(
                    dir.validate_bearer(garbage),
                    Err(AuthError::MalformedToken | AuthError::BadSignature)
                ),
                "{garbage:?} gave {:?}",
                dir.validate_bearer(garbage)
            );
        }
        assert_eq!(
            dir.validate_authorization(None),
            Err(AuthError::MissingCredentials)
        );
        assert_eq!(
            dir.validate_authorization(Some("Basic abc")),
            Err(AuthError::MissingCredentials)
        );
    }

    /// Scope rules follow chat, chat.join and chat.join.limited.
    #[test]
    fn caller_permits_follows_scope_rules() {
        let caller = |scopes: &[Scope]| Caller {
            user_id: "8:acs:x".into(),
            scopes: scopes.to_vec(),
        };
        let all = [
            ChatAccess::Participate,
            ChatAccess::ManageParticipants,
            ChatAccess::ManageThread,
        ];
        let table: [(&[Scope], [bool; 3]); 5] = [
            (&[Scope::Chat], [true, true, true]),
            (&[Scope::ChatJoin], [true, true, false]),
            (&[Scope::ChatJoinLimited], [true, false, false]),
            (&[Scope::Voip, Scope::VoipJoin], [false, false, false]),
            (&[], [false, false, false]),
        ];
        for (scopes, expected) in table {
            let seen: Vec<bool> = all.iter().map(|a| caller(scopes).permits(*a)).collect();
            assert_eq!(seen, expected, "scopes {scopes:?}");
        }
    }

    /// Debug output of the directory and errors carries no key.
    #[test]
    fn directory_debug_hides_key() {
        let dir = Directory::new(b"super-secret-key-material".to_vec());
        let text = format!("{dir:?}");
        assert!(
            !text.contains("super-secret"),
            "Debug shows the key: {text}"
        );
        assert!(
            text.contains(dir.resource_id()),
            "Debug lacks the resource id: {text}"
        );
    }

    /// Users, tokens and revocations from many threads at once stay consistent.
    #[test]
    fn directory_concurrent_use_stays_consistent() {
        let dir = std::sync::Arc::new(directory());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let dir = std::sync::Arc::clone(&dir);
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    for _ in 0..50 {
                        let user = dir.create_user();
                        let (old, _) =
                            dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
                        dir.revoke(&user);
                        let (new, _) =
                            dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
                        seen.push((
                            dir.validate_bearer(&old),
                            dir.validate_bearer(&new).map(|c| c.user_id == user),
                        ));
                    }
                    seen
                })
            })
            .collect();
        for handle in handles {
            for (old, new) in handle.join().expect("worker thread") {
                assert_eq!(old, Err(AuthError::Revoked), "token issued before revoke");
                assert_eq!(new, Ok(true), "token issued after revoke");
            }
        }
        assert_eq!(dir.last_seq.current(), 800, "tokens issued");
    }

    /// Scope names round-trip and unknown names are refused.
    #[test]
    fn scope_parse_round_trips() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("Chat"), None);
        assert_eq!(Scope::parse("admin"), None);
    }
}
