//! The Teams Extension (Teams Phone) operations of identity api-version `2025-06-30` and later:
//! the token exchange and the per-user access assignments.
//!
//! | method | wire | success |
//! |---|---|---|
//! | [`exchange_teams_extension_token`](CommunicationIdentityClient::exchange_teams_extension_token) | `POST /access/teamsExtension/:exchangeAccessToken` | 200 |
//! | [`get_teams_extension_assignment`](CommunicationIdentityClient::get_teams_extension_assignment) | `GET /access/teamsExtension/tenants/{tenantId}/assignments/{objectId}` | 200 |
//! | [`create_or_update_teams_extension_assignment`](CommunicationIdentityClient::create_or_update_teams_extension_assignment) | `PUT` (same path) | 201 created, 200 replaced |
//! | [`delete_teams_extension_assignment`](CommunicationIdentityClient::delete_teams_extension_assignment) | `DELETE` (same path) | 204 |
//!
//! Retries: the assignment calls are idempotent (a repeated PUT sets the same values, a
//! repeated DELETE finds nothing more to remove), and the exchange creates no state (the same
//! Teams Phone token always maps to the same ACS identity), so all four are retried like reads.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::CommunicationIdentityClient;
use super::models::{to_python_json, IdentityResult};
use crate::credential::AccessToken;
use crate::error::{Error, Result};
use crate::http::{encode_segment, validate_id, Method, RetryClass};
use crate::models::CommunicationIdentifier;

/// The first identity api-version with the Teams Extension operations.
pub const TEAMS_EXTENSION_MIN_API_VERSION: &str = "2025-06-30";

/// Who a Teams Extension assignment is for (`TeamsExtensionPrincipalType`, an open enum).
///
/// ```
/// use acs_chat::identity::TeamsExtensionPrincipalType;
/// assert_eq!(TeamsExtensionPrincipalType::ResourceAccount.as_str(), "resourceAccount");
/// assert_eq!(
///     TeamsExtensionPrincipalType::from("group"),
///     TeamsExtensionPrincipalType::Unknown("group".into())
/// );
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TeamsExtensionPrincipalType {
    /// `resourceAccount`: a Teams resource account (e.g. a call queue's).
    ResourceAccount,
    /// `user`: a Teams user.
    User,
    /// A principal type this version of the crate does not know, as the service named it.
    Unknown(String),
}

impl TeamsExtensionPrincipalType {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ResourceAccount => "resourceAccount",
            Self::User => "user",
            Self::Unknown(s) => s,
        }
    }
}

impl From<&str> for TeamsExtensionPrincipalType {
    fn from(s: &str) -> Self {
        match s {
            "resourceAccount" => Self::ResourceAccount,
            "user" => Self::User,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for TeamsExtensionPrincipalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TeamsExtensionPrincipalType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TeamsExtensionPrincipalType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Self::from(String::deserialize(d)?.as_str()))
    }
}

/// The body of a create-or-update (`TeamsExtensionAssignmentCreateOrUpdateRequest`).
///
/// ```
/// use acs_chat::identity::{TeamsExtensionAssignmentRequest, TeamsExtensionPrincipalType};
/// let request = TeamsExtensionAssignmentRequest {
///     client_ids: Some(vec!["2c3e1e83-8fd7-4615-ad2b-b8c1229845ac".into()]),
///     ..TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::User)
/// };
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TeamsExtensionAssignmentRequest {
    /// `principalType` (required).
    #[serde(rename = "principalType")]
    pub principal_type: TeamsExtensionPrincipalType,
    /// `clientIds`: the Entra ID applications the assignment lets exchange tokens. `None`
    /// leaves the member out.
    #[serde(rename = "clientIds", skip_serializing_if = "Option::is_none")]
    pub client_ids: Option<Vec<String>>,
}

impl TeamsExtensionAssignmentRequest {
    /// A request for `principal_type` with no client ids.
    pub fn new(principal_type: TeamsExtensionPrincipalType) -> Self {
        TeamsExtensionAssignmentRequest {
            principal_type,
            client_ids: None,
        }
    }
}

/// A Teams Extension assignment as the service returns it (`TeamsExtensionAssignmentResponse`).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TeamsExtensionAssignment {
    /// `objectId`: the Entra ID object id of the principal.
    #[serde(rename = "objectId")]
    pub object_id: String,
    /// `tenantId`: the Entra ID tenant of the principal.
    #[serde(rename = "tenantId")]
    pub tenant_id: String,
    /// `principalType`.
    #[serde(rename = "principalType")]
    pub principal_type: TeamsExtensionPrincipalType,
    /// `clientIds`, when the service sent them.
    #[serde(rename = "clientIds", default)]
    pub client_ids: Option<Vec<String>>,
    /// Members this version of the crate does not know, kept as received. (A small model:
    /// `flatten`'s buffering costs nothing worth a hand-written visitor here.)
    #[serde(flatten)]
    pub additional_properties: Map<String, Value>,
}

/// The body of a Teams Extension token exchange (`TeamsExtensionExchangeTokenRequest`): the
/// spec defines it as a free-form JSON object, so its members are passed through as given.
///
/// ```
/// use acs_chat::identity::TeamsExtensionExchangeRequest;
/// let mut request = TeamsExtensionExchangeRequest::default();
/// request.properties.insert("token".into(), "<Teams Phone token>".into());
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct TeamsExtensionExchangeRequest {
    /// The members of the body. They usually carry a token: `Debug` prints only their names.
    pub properties: Map<String, Value>,
}

impl fmt::Debug for TeamsExtensionExchangeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamsExtensionExchangeRequest")
            .field("members", &self.properties.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a Teams Extension exchange returns (`CommunicationIdentityAccessTokenResult`).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct TeamsExtensionTokenResult {
    /// The ACS identity of the Teams Phone user (`8:acs:<resource>_<tenant>_<object>`).
    pub identity: CommunicationIdentifier,
    /// Its access token, when the service issued one (the spec makes it optional).
    pub access_token: Option<AccessToken>,
}

impl CommunicationIdentityClient {
    /// Exchanges a Teams Phone token for an ACS identity and access token. The body is
    /// free-form in the spec; its members are sent as given. Needs api-version
    /// [`TEAMS_EXTENSION_MIN_API_VERSION`] or later (the default is).
    ///
    /// ```
    /// use acs_chat::identity::{TeamsExtensionAssignmentRequest, TeamsExtensionExchangeRequest,
    ///     TeamsExtensionPrincipalType};
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// let (tenant, object) = ("c70d068c-2f32-484d-9455-73070cd5aadd", "b27b64b9-39d2-44a3-869d-67700b74e805");
    /// # let teams_phone_token = acs_chat_emulator::fixtures::unsigned_jwt(
    /// #     &format!(r#"{{"tid":"{tenant}","oid":"{object}","appid":"app"}}"#));
    /// client.create_or_update_teams_extension_assignment(tenant, object,
    ///     &TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::User))?;
    /// let mut request = TeamsExtensionExchangeRequest::default();
    /// request.properties.insert("token".into(), teams_phone_token.into());
    /// let result = client.exchange_teams_extension_token(&request)?;
    /// assert!(result.identity.raw_id().ends_with(&format!("_{tenant}_{object}")));
    /// assert!(result.access_token.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exchange_teams_extension_token(
        &self,
        request: &TeamsExtensionExchangeRequest,
    ) -> Result<TeamsExtensionTokenResult> {
        self.require_teams_extension("exchange_teams_extension_token")?;
        let body = to_python_json(&request.properties)?;
        let request = self
            .request(
                Method::POST,
                "/access/teamsExtension/:exchangeAccessToken",
                RetryClass::SafeToRepeat,
            )
            .with_body("application/json", body);
        let result: IdentityResult = self.send(request)?.json()?;
        Ok(TeamsExtensionTokenResult {
            identity: CommunicationIdentifier::communication_user(result.identity.id),
            access_token: result.access_token.map(AccessToken::from),
        })
    }

    /// The Teams Extension assignment of `object_id` in `tenant_id`; a 404
    /// [`Error::Service`] when there is none.
    ///
    /// ```
    /// use acs_chat::identity::{TeamsExtensionAssignmentRequest, TeamsExtensionPrincipalType};
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// let (tenant, object) = ("c70d068c-2f32-484d-9455-73070cd5aadd", "b27b64b9-39d2-44a3-869d-67700b74e805");
    /// assert_eq!(client.get_teams_extension_assignment(tenant, object).unwrap_err().status(), Some(404));
    /// client.create_or_update_teams_extension_assignment(tenant, object,
    ///     &TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::ResourceAccount))?;
    /// let assignment = client.get_teams_extension_assignment(tenant, object)?;
    /// assert_eq!(assignment.principal_type, TeamsExtensionPrincipalType::ResourceAccount);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_teams_extension_assignment(
        &self,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<TeamsExtensionAssignment> {
        self.require_teams_extension("get_teams_extension_assignment")?;
        let path = assignment_path(tenant_id, object_id)?;
        let request = self.request(Method::GET, &path, RetryClass::SafeToRepeat);
        self.send(request)?.json()
    }

    /// Creates or replaces the Teams Extension assignment of `object_id` in `tenant_id`.
    /// Returns the assignment and whether it was created (201) rather than replaced (200).
    ///
    /// ```
    /// use acs_chat::identity::{TeamsExtensionAssignmentRequest, TeamsExtensionPrincipalType};
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// let request = TeamsExtensionAssignmentRequest {
    ///     client_ids: Some(vec!["2c3e1e83-8fd7-4615-ad2b-b8c1229845ac".into()]),
    ///     ..TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::User)
    /// };
    /// let (_, created) = client.create_or_update_teams_extension_assignment("tenant", "object", &request)?;
    /// assert!(created);
    /// let (assignment, created) = client.create_or_update_teams_extension_assignment("tenant", "object", &request)?;
    /// assert!(!created);
    /// assert_eq!(assignment.client_ids, request.client_ids);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_or_update_teams_extension_assignment(
        &self,
        tenant_id: &str,
        object_id: &str,
        assignment: &TeamsExtensionAssignmentRequest,
    ) -> Result<(TeamsExtensionAssignment, bool)> {
        self.require_teams_extension("create_or_update_teams_extension_assignment")?;
        if let TeamsExtensionPrincipalType::Unknown(name) = &assignment.principal_type {
            if name.trim().is_empty() {
                return Err(Error::invalid_argument(
                    "principal_type",
                    "must not be empty",
                ));
            }
        }
        if let Some(ids) = &assignment.client_ids {
            for id in ids {
                validate_id("client_ids", id)?;
            }
        }
        let path = assignment_path(tenant_id, object_id)?;
        let body = to_python_json(assignment)?;
        let request = self
            .request(Method::PUT, &path, RetryClass::SafeToRepeat)
            .with_body("application/json", body);
        let response = self.send(request)?;
        Ok((response.json()?, response.status == 201))
    }

    /// Removes the Teams Extension assignment of `object_id` in `tenant_id`.
    ///
    /// ```
    /// use acs_chat::identity::{TeamsExtensionAssignmentRequest, TeamsExtensionPrincipalType};
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// client.create_or_update_teams_extension_assignment("tenant", "object",
    ///     &TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::User))?;
    /// client.delete_teams_extension_assignment("tenant", "object")?;
    /// assert!(client.get_teams_extension_assignment("tenant", "object").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_teams_extension_assignment(
        &self,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<()> {
        self.require_teams_extension("delete_teams_extension_assignment")?;
        let path = assignment_path(tenant_id, object_id)?;
        let request = self.request(Method::DELETE, &path, RetryClass::SafeToRepeat);
        self.send(request)?;
        Ok(())
    }

    /// Fails before any request when the configured api-version predates the operations.
    fn require_teams_extension(&self, operation: &str) -> Result<()> {
        let version = self.api_version();
        if supports_teams_extension(version) {
            return Ok(());
        }
        Err(Error::invalid_argument(
            "api_version",
            format!(
                "{operation} needs identity api-version {TEAMS_EXTENSION_MIN_API_VERSION} or later; \
                 the client is configured with {version}"
            ),
        ))
    }
}

/// Whether `version` (`YYYY-MM-DD`, optionally `-preview`) has the Teams Extension operations.
/// Dates compare as text; anything not starting with a date is refused.
fn supports_teams_extension(version: &str) -> bool {
    let date = version.get(..10).unwrap_or("");
    let is_date = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    is_date && date >= TEAMS_EXTENSION_MIN_API_VERSION
}

/// `/access/teamsExtension/tenants/{tenantId}/assignments/{objectId}`, each id one encoded
/// segment. The spec gives the ids no format (they are Entra ID GUIDs in practice), so only
/// what can never be valid is refused: empty ids and control characters.
fn assignment_path(tenant_id: &str, object_id: &str) -> Result<String> {
    validate_id("tenant_id", tenant_id)?;
    validate_id("object_id", object_id)?;
    Ok(format!(
        "/access/teamsExtension/tenants/{}/assignments/{}",
        encode_segment(tenant_id),
        encode_segment(object_id)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Versions from 2025-06-30 on pass the gate; older and malformed ones do not.
    #[test]
    fn supports_teams_extension_compares_dates() {
        for v in [
            "2025-06-30",
            "2026-07-22",
            "2026-09-23",
            "2027-01-01-preview",
        ] {
            assert!(supports_teams_extension(v), "{v} refused");
        }
        for v in [
            "2023-10-01",
            "2025-06-29",
            "2025-03-02-preview",
            "latest",
            "",
            "2025",
        ] {
            assert!(!supports_teams_extension(v), "{v} accepted");
        }
    }

    /// Ids are encoded as single segments; empty ones are refused by name.
    #[test]
    fn assignment_path_encodes_ids() {
        assert_eq!(
            assignment_path("t/../x", "o b").expect("valid ids"),
            "/access/teamsExtension/tenants/t%2F..%2Fx/assignments/o%20b"
        );
        let err = assignment_path(" ", "o").expect_err("empty tenant");
        assert!(
            matches!(
                err,
                Error::InvalidArgument {
                    name: "tenant_id",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = assignment_path("t", "\n").expect_err("control character");
        assert!(
            matches!(
                err,
                Error::InvalidArgument {
                    name: "object_id",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    /// Unknown principal types and members survive a read; the request omits absent ids.
    #[test]
    fn assignment_models_keep_unknown_values() {
        let body = r#"{"objectId":"o","tenantId":"t","principalType":"group","extra":1}"#;
        let seen: TeamsExtensionAssignment = serde_json::from_str(body).expect("decodes");
        assert_eq!(
            seen.principal_type,
            TeamsExtensionPrincipalType::Unknown("group".into())
        );
        assert_eq!(
            seen.additional_properties.get("extra"),
            Some(&Value::from(1))
        );
        assert_eq!(seen.client_ids, None);
        let missing = serde_json::from_str::<TeamsExtensionAssignment>(r#"{"objectId":"o"}"#);
        assert!(missing.is_err(), "required members missing: {missing:?}");
        let request = TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::User);
        assert_eq!(
            serde_json::to_string(&request).expect("encodes"),
            r#"{"principalType":"user"}"#
        );
    }

    /// The exchange body's `Debug` shows member names, never their values.
    #[test]
    fn exchange_request_debug_hides_values() {
        let mut request = TeamsExtensionExchangeRequest::default();
        request
            .properties
            .insert("token".into(), "secret-token-text".into());
        let text = format!("{request:?}");
        assert!(!text.contains("secret-token-text"), "Debug shows: {text}");
        assert!(
            text.contains("token"),
            "Debug lacks the member name: {text}"
        );
    }
}
