//! Token scopes and the Identity API's wire bodies.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::credential::AccessToken;
use crate::error::{Error, Result};

/// What a user access token may be used for.
///
/// ```
/// use acs_chat::identity::CommunicationTokenScope;
/// assert_eq!(CommunicationTokenScope::ChatJoinLimited.as_str(), "chat.join.limited");
/// assert_eq!("voip".parse::<CommunicationTokenScope>()?, CommunicationTokenScope::Voip);
/// # Ok::<(), acs_chat::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommunicationTokenScope {
    /// `chat`: full chat access.
    Chat,
    /// `voip`: calling.
    Voip,
    /// `chat.join`: chat without creating, deleting or updating threads.
    ChatJoin,
    /// `chat.join.limited`: like `chat.join`, and cannot add or remove participants either.
    ChatJoinLimited,
    /// `voip.join`: join calls only.
    VoipJoin,
}

impl CommunicationTokenScope {
    /// Every scope, in the order the service documents them.
    pub const ALL: [CommunicationTokenScope; 5] = [
        CommunicationTokenScope::Chat,
        CommunicationTokenScope::Voip,
        CommunicationTokenScope::ChatJoin,
        CommunicationTokenScope::ChatJoinLimited,
        CommunicationTokenScope::VoipJoin,
    ];

    /// The scope as the service spells it (`"chat"`, `"chat.join"` …).
    pub fn as_str(self) -> &'static str {
        match self {
            CommunicationTokenScope::Chat => "chat",
            CommunicationTokenScope::Voip => "voip",
            CommunicationTokenScope::ChatJoin => "chat.join",
            CommunicationTokenScope::ChatJoinLimited => "chat.join.limited",
            CommunicationTokenScope::VoipJoin => "voip.join",
        }
    }
}

impl fmt::Display for CommunicationTokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CommunicationTokenScope {
    type Err = Error;

    /// Parses the service spelling, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self> {
        CommunicationTokenScope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::invalid_argument(
                    "scope",
                    "expected one of chat, voip, chat.join, chat.join.limited, voip.join",
                )
            })
    }
}

impl Serialize for CommunicationTokenScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The shortest token lifetime the service issues.
pub(crate) const MIN_EXPIRES_IN: Duration = Duration::from_secs(60 * 60);
/// The longest token lifetime the service issues.
pub(crate) const MAX_EXPIRES_IN: Duration = Duration::from_secs(24 * 60 * 60);

/// Checks a requested token lifetime and turns it into whole minutes (rounding down), as the
/// service takes it. `None` lets the service choose (24 hours).
pub(crate) fn expires_in_minutes(expires_in: Option<Duration>) -> Result<Option<u32>> {
    let Some(d) = expires_in else {
        return Ok(None);
    };
    if !(MIN_EXPIRES_IN..=MAX_EXPIRES_IN).contains(&d) {
        return Err(Error::invalid_argument(
            "expires_in",
            format!("must be between 1 hour and 24 hours, got {d:?}"),
        ));
    }
    // At most 1440, so the conversion cannot fail.
    Ok(u32::try_from(d.as_secs() / 60).ok())
}

/// Checks a scope list: at least one scope.
pub(crate) fn check_scopes(scopes: &[CommunicationTokenScope]) -> Result<()> {
    if scopes.is_empty() {
        return Err(Error::invalid_argument(
            "scopes",
            "at least one scope is needed to issue a token",
        ));
    }
    Ok(())
}

/// `CommunicationIdentityCreateRequest`.
#[derive(Serialize)]
pub(crate) struct CreateIdentityRequest<'a> {
    #[serde(rename = "createTokenWithScopes")]
    pub(crate) create_token_with_scopes: &'a [CommunicationTokenScope],
    #[serde(rename = "expiresInMinutes", skip_serializing_if = "Option::is_none")]
    pub(crate) expires_in_minutes: Option<u32>,
}

/// `CommunicationIdentityAccessTokenRequest`.
#[derive(Serialize)]
pub(crate) struct IssueTokenRequest<'a> {
    pub(crate) scopes: &'a [CommunicationTokenScope],
    #[serde(rename = "expiresInMinutes", skip_serializing_if = "Option::is_none")]
    pub(crate) expires_in_minutes: Option<u32>,
}

/// `TeamsUserExchangeTokenRequest`.
#[derive(Serialize)]
pub(crate) struct TeamsUserExchangeRequest<'a> {
    pub(crate) token: &'a str,
    #[serde(rename = "appId")]
    pub(crate) app_id: &'a str,
    #[serde(rename = "userId")]
    pub(crate) user_id: &'a str,
}

/// `CommunicationIdentityAccessTokenResult`.
#[derive(Deserialize)]
pub(crate) struct IdentityResult {
    pub(crate) identity: IdentityWire,
    #[serde(rename = "accessToken", default)]
    pub(crate) access_token: Option<AccessTokenWire>,
}

/// `CommunicationIdentity`.
#[derive(Deserialize)]
pub(crate) struct IdentityWire {
    pub(crate) id: String,
}

/// `CommunicationIdentityAccessToken`. Not `Debug`: it holds the token.
#[derive(Deserialize)]
pub(crate) struct AccessTokenWire {
    pub(crate) token: String,
    #[serde(rename = "expiresOn", deserialize_with = "deserialize_time")]
    pub(crate) expires_on: DateTime<Utc>,
}

/// Reads an RFC 3339 timestamp with any number of fractional digits and `Z` or an offset.
fn deserialize_time<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| serde::de::Error::custom("`expiresOn` is not an RFC 3339 timestamp"))
}

impl From<AccessTokenWire> for AccessToken {
    fn from(wire: AccessTokenWire) -> Self {
        AccessToken {
            token: wire.token,
            expires_on: wire.expires_on,
        }
    }
}

/// Serialises a body the way the official Python SDK does (`json.dumps` defaults: `", "` and
/// `": "` separators), so our requests are byte-for-byte those of the reference client.
pub(crate) fn to_python_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value
        .serialize(&mut ser)
        .map_err(|e| Error::invalid_argument("body", format!("could not serialise: {e}")))?;
    Ok(out)
}

/// A `serde_json` formatter with Python's default separators.
struct PythonFormatter;

/// Python's item separator, `", "`, written before every array item and object key but the
/// first.
fn python_item_separator<W: ?Sized + std::io::Write>(
    writer: &mut W,
    first: bool,
) -> std::io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        python_item_separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        python_item_separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CommunicationTokenScope as S;

    /// Request bodies are byte-identical to what the official Python SDK sends.
    #[test]
    fn serialize_requests_matches_python_sdk_bytes() {
        let create = CreateIdentityRequest {
            create_token_with_scopes: &[S::Chat],
            expires_in_minutes: Some(1440),
        };
        let body = to_python_json(&create).expect("serialisable");
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"{"createTokenWithScopes": ["chat"], "expiresInMinutes": 1440}"#
        );
        let issue = IssueTokenRequest {
            scopes: &[S::Chat],
            expires_in_minutes: Some(60),
        };
        let body = to_python_json(&issue).expect("serialisable");
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"{"scopes": ["chat"], "expiresInMinutes": 60}"#
        );
        let all = CreateIdentityRequest {
            create_token_with_scopes: &S::ALL,
            expires_in_minutes: None,
        };
        let body = to_python_json(&all).expect("serialisable");
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"{"createTokenWithScopes": ["chat", "voip", "chat.join", "chat.join.limited", "voip.join"]}"#
        );
        let teams = TeamsUserExchangeRequest {
            token: "t",
            app_id: "a",
            user_id: "u",
        };
        let body = to_python_json(&teams).expect("serialisable");
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"{"token": "t", "appId": "a", "userId": "u"}"#
        );
    }

    /// Lifetimes outside 1 h..24 h are rejected; inside, they become whole minutes.
    #[test]
    fn expires_in_minutes_checks_range() {
        let cases = [
            (None, Some(None)),
            (Some(Duration::from_secs(3600)), Some(Some(60))),
            (Some(Duration::from_secs(86_400)), Some(Some(1440))),
            (Some(Duration::from_secs(5430)), Some(Some(90))),
            (Some(Duration::from_secs(3599)), None),
            (Some(Duration::from_secs(86_401)), None),
            (Some(Duration::ZERO), None),
        ];
        for (input, want) in cases {
            let got = expires_in_minutes(input).ok();
            assert_eq!(got, want, "expires_in {input:?}");
        }
    }

    /// Scope names parse back from their wire spelling.
    #[test]
    fn parse_scope_round_trips() {
        for scope in S::ALL {
            assert_eq!(scope.as_str().parse::<S>().ok(), Some(scope), "{scope}");
        }
        assert!("chat.admin".parse::<S>().is_err());
    }

    /// The service's `expiresOn` with seven fractional digits and an offset is read.
    #[test]
    fn deserialize_token_reads_offset_timestamp() {
        let wire: AccessTokenWire = serde_json::from_str(
            r#"{"token":"t","expiresOn":"2023-10-10T21:39:39.3244584+00:00"}"#,
        )
        .expect("valid token body");
        let token = AccessToken::from(wire);
        assert_eq!(
            token.expires_on.to_rfc3339(),
            "2023-10-10T21:39:39.324458400+00:00"
        );
    }
}
