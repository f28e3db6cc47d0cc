//! Scopes and callers: what a token's scopes allow ([`ChatAccess`]), the authenticated
//! [`Caller`] behind a bearer token, and why a bearer token was refused ([`AuthError`]).
//! Users and tokens themselves live in [`crate::identity`]; Entra ID bearer tokens for the
//! identity routes in [`entra`].

use std::fmt;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub mod entra;

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
            AuthError::MissingCredentials => {
                "Request is not authorized: no valid Authorization header."
            }
            AuthError::MalformedToken => {
                "Request is not authorized: the access token is malformed."
            }
            AuthError::BadSignature => {
                "Request is not authorized: the access token signature is invalid."
            }
            AuthError::Expired => "Request is not authorized: the access token has expired.",
            AuthError::Revoked => "Request is not authorized: the access token has been revoked.",
            AuthError::UnknownUser => {
                "Request is not authorized: the token's identity does not belong to this resource."
            }
            AuthError::DeletedUser => {
                "Request is not authorized: the token's identity has been deleted."
            }
        }
    }

    /// The `{"error":{"code","message"}}` body the service sends.
    pub fn body(self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code(), "message": self.message() } })
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
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

#[cfg(test)]
mod tests {
    use super::*;

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
