//! [`CommunicationIdentityClient`]: users and their access tokens.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::hmac;
use super::key_credential::{AzureKeyCredential, ConnectionString};
use super::models::{
    check_scopes, expires_in_minutes, to_python_json, AccessTokenWire, CommunicationTokenScope,
    CreateIdentityRequest, IdentityResult, IssueTokenRequest, TeamsUserExchangeRequest,
};
use crate::credential::AccessToken;
use crate::error::{Error, Result};
use crate::http::{
    encode_query_value, encode_segment, validate_id, Authorize, Endpoint, Method, Pipeline,
    Request, RetryClass,
};
use crate::models::CommunicationIdentifier;

/// The Identity API version sent by default: the newest stable one, `2026-09-23`, which adds
/// the Teams Extension operations. Older versions (`2023-10-01`, the one the official SDKs
/// send, and earlier) stay selectable through
/// [`CommunicationIdentityClientOptions::api_version`].
pub const DEFAULT_IDENTITY_API_VERSION: &str = "2026-09-23";

/// How a [`CommunicationIdentityClient`] talks to the service.
///
/// The connection settings (retry, timeouts, body limit, TLS roots) are the embedded
/// [`TransportOptions`](crate::TransportOptions). Creating a user is retried only when the
/// service provably did not act on it (429, 503, or no connection). Plain `http://` to hosts
/// other than loopback ones (`allow_insecure_http`) lets the signed requests be seen and
/// replayed on the network.
///
/// ```
/// use std::time::Duration;
/// use acs_chat::TransportOptions;
/// use acs_chat::identity::{CommunicationIdentityClient, CommunicationIdentityClientOptions};
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// let options = CommunicationIdentityClientOptions {
///     transport_options: TransportOptions { call_timeout: Duration::from_secs(10), ..Default::default() },
///     ..Default::default()
/// };
/// let client = CommunicationIdentityClient::from_connection_string_with_options(
///     &emu.connection_string(),
///     options,
/// )?;
/// # client.create_user()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunicationIdentityClientOptions {
    /// The `api-version` query parameter. Default: [`DEFAULT_IDENTITY_API_VERSION`].
    pub api_version: String,
    /// The settings of the client's own connection pool: retry, connect and call timeouts,
    /// the response body limit, `allow_insecure_http` and root certificates. Default:
    /// [`TransportOptions::default`](crate::TransportOptions::default). Must stay at its
    /// default when [`transport`](Self::transport) is set.
    pub transport_options: crate::TransportOptions,
    /// A connection pool shared with other clients (see [`Transport`](crate::Transport)).
    /// When set, it brings its own settings, and
    /// [`transport_options`](Self::transport_options) must stay at its default (else
    /// [`Error::InvalidArgument`] names `transport_options`). Default: `None`, a pool of the
    /// client's own.
    pub transport: Option<crate::Transport>,
}

impl Default for CommunicationIdentityClientOptions {
    fn default() -> Self {
        CommunicationIdentityClientOptions {
            api_version: DEFAULT_IDENTITY_API_VERSION.to_owned(),
            transport_options: crate::TransportOptions::default(),
            transport: None,
        }
    }
}

/// Creates and deletes users and issues, exchanges and revokes their access tokens, through
/// the ACS Identity API. Requests are signed with the resource's access key (HMAC-SHA256).
///
/// # Thread safety
///
/// `Clone + Send + Sync`; clones share one connection pool and one key, so build it once and
/// hand clones to any number of threads.
///
/// ```
/// use std::time::Duration;
/// use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope};
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// let client = CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
/// let (user, token) = client.create_user_and_token(
///     &[CommunicationTokenScope::Chat],
///     Some(Duration::from_secs(3600)),
/// )?;
/// println!("{} can chat until {}", user.raw_id(), token.expires_on);
/// client.revoke_tokens(&user)?;
/// client.delete_user(&user)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CommunicationIdentityClient {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    api_version: String,
    /// HMAC signing with the access key, or an Entra ID bearer token (`super::entra`).
    auth: Box<dyn Authorize + Send + Sync>,
    pipeline: Pipeline,
}

impl fmt::Debug for CommunicationIdentityClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommunicationIdentityClient")
            .field("endpoint", &self.inner.endpoint.base())
            .field("api_version", &self.inner.api_version)
            .finish_non_exhaustive()
    }
}

/// Signs every attempt afresh, so a retried request carries a current `x-ms-date`.
struct HmacSigner {
    credential: AzureKeyCredential,
}

impl Authorize for HmacSigner {
    fn authorize(&self, request: &mut Request, _deadline: Option<Instant>) -> Result<()> {
        let host = hmac::host_for_signing(&request.url)
            .ok_or_else(|| Error::invalid_argument("endpoint", "the URL has no host to sign"))?;
        let body = request.body.as_deref().unwrap_or_default();
        let signed = hmac::sign(
            &self.credential,
            request.method.as_str(),
            &host,
            request.path_and_query(),
            body,
            Utc::now(),
        );
        request.set_header("x-ms-date", signed.date);
        request.set_header("x-ms-content-sha256", signed.content_sha256);
        request.set_header("x-ms-return-client-request-id", "true");
        request.set_header("authorization", signed.authorization.expose());
        Ok(())
    }
}

impl CommunicationIdentityClient {
    /// A client for `endpoint=https://<resource>.communication.azure.com/;accesskey=<key>`.
    ///
    /// Fails with [`Error::InvalidConnectionString`] when the string is malformed, lacks a
    /// part or has a key that is not base64 (the error never contains the key), and with
    /// [`Error::InvalidArgument`] when the endpoint is not an `https://` URL (plain `http://`
    /// is accepted for loopback hosts, such as the emulator).
    ///
    /// ```
    /// use acs_chat::identity::CommunicationIdentityClient;
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// let client = CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// # client.create_user()?;
    /// let bad = CommunicationIdentityClient::from_connection_string("endpoint=https://x/;accesskey=%%%");
    /// assert!(matches!(bad, Err(acs_chat::Error::InvalidConnectionString(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_connection_string(connection_string: &str) -> Result<Self> {
        Self::from_connection_string_with_options(connection_string, Default::default())
    }

    /// [`from_connection_string`](Self::from_connection_string) with options.
    pub fn from_connection_string_with_options(
        connection_string: &str,
        options: CommunicationIdentityClientOptions,
    ) -> Result<Self> {
        let parsed = ConnectionString::parse(connection_string)?;
        Self::with_options(&parsed.endpoint, parsed.credential, options)
    }

    /// A client for `endpoint` (`https://<resource>.communication.azure.com`) signing with
    /// `credential`. Fails when the endpoint is not an absolute `https://` URL without a path
    /// (plain `http://` is accepted for loopback hosts).
    ///
    /// ```
    /// use acs_chat::identity::{AzureKeyCredential, CommunicationIdentityClient};
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// let key = AzureKeyCredential::new(emu.access_key())?;
    /// let client = CommunicationIdentityClient::new(&emu.endpoint(), key.clone())?;
    /// # client.create_user()?;
    /// // Plain http is refused for anything but loopback hosts.
    /// assert!(CommunicationIdentityClient::new("http://contoso.example", key).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(endpoint: &str, credential: AzureKeyCredential) -> Result<Self> {
        Self::with_options(endpoint, credential, Default::default())
    }

    /// [`new`](Self::new) with options.
    ///
    /// ```
    /// use acs_chat::identity::{AzureKeyCredential, CommunicationIdentityClient, CommunicationIdentityClientOptions};
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// let options = CommunicationIdentityClientOptions {
    ///     api_version: "2022-10-01".into(),
    ///     transport_options: acs_chat::TransportOptions {
    ///         retry: acs_chat::RetryOptions::none(),
    ///         ..Default::default()
    ///     },
    ///     ..Default::default()
    /// };
    /// let client = CommunicationIdentityClient::with_options(
    ///     &emu.endpoint(), AzureKeyCredential::new(emu.access_key())?, options)?;
    /// # client.create_user()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_options(
        endpoint: &str,
        credential: AzureKeyCredential,
        options: CommunicationIdentityClientOptions,
    ) -> Result<Self> {
        Self::with_authorizer(endpoint, Box::new(HmacSigner { credential }), options)
    }

    /// The constructor every other one ends in: `auth` adds credentials to each attempt.
    pub(super) fn with_authorizer(
        endpoint: &str,
        auth: Box<dyn Authorize + Send + Sync>,
        options: CommunicationIdentityClientOptions,
    ) -> Result<Self> {
        if options.api_version.trim().is_empty() {
            return Err(Error::invalid_argument("api_version", "must not be empty"));
        }
        let transport = crate::Transport::for_client(options.transport, options.transport_options)?;
        let endpoint = Endpoint::parse(endpoint, transport.options().allow_insecure_http)?;
        let pipeline = transport.pipeline;
        Ok(CommunicationIdentityClient {
            inner: Arc::new(Inner {
                endpoint,
                api_version: options.api_version,
                auth,
                pipeline,
            }),
        })
    }

    /// The resource endpoint this client calls (`https://<resource>.communication.azure.com`),
    /// which is also the chat endpoint of the same resource.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// assert_eq!(client.endpoint(), emu.endpoint());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn endpoint(&self) -> String {
        self.inner.endpoint.base()
    }

    /// Creates a user with no token.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// let user = client.create_user()?;
    /// assert!(user.raw_id().starts_with("8:acs:"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_user(&self) -> Result<CommunicationIdentifier> {
        // As the official SDK does: no body, but still `Content-Type: application/json`.
        let request = self
            .request(Method::POST, "/identities", RetryClass::OnlyIfNotProcessed)
            .with_header("content-type", "application/json");
        let result: IdentityResult = self.send(request)?.json()?;
        Ok(CommunicationIdentifier::communication_user(
            result.identity.id,
        ))
    }

    /// Creates a user and issues it a token for `scopes`. `expires_in` must be between 1 and
    /// 24 hours (whole minutes are sent); `None` lets the service choose (24 hours).
    ///
    /// ```
    /// use acs_chat::identity::CommunicationTokenScope;
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// let (user, token) = client.create_user_and_token(&[CommunicationTokenScope::Chat], None)?;
    /// let chat = acs_chat::CommunicationTokenCredential::new(token.token)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_user_and_token(
        &self,
        scopes: &[CommunicationTokenScope],
        expires_in: Option<Duration>,
    ) -> Result<(CommunicationIdentifier, AccessToken)> {
        check_scopes(scopes)?;
        let body = to_python_json(&CreateIdentityRequest {
            create_token_with_scopes: scopes,
            expires_in_minutes: expires_in_minutes(expires_in)?,
        })?;
        let request = self
            .request(Method::POST, "/identities", RetryClass::OnlyIfNotProcessed)
            .with_body("application/json", body);
        let response = self.send(request)?;
        let result: IdentityResult = response.json()?;
        let token = result.access_token.ok_or_else(|| {
            Error::credential("the service created the user but returned no access token")
        })?;
        Ok((
            CommunicationIdentifier::communication_user(result.identity.id),
            token.into(),
        ))
    }

    /// Issues `user` a new token for `scopes`. `expires_in` must be between 1 and 24 hours;
    /// `None` lets the service choose (24 hours). Earlier tokens stay valid.
    ///
    /// ```
    /// use std::time::Duration;
    /// use acs_chat::identity::CommunicationTokenScope;
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// let user = client.create_user()?;
    /// let token = client.get_token(&user, &[CommunicationTokenScope::Chat, CommunicationTokenScope::Voip],
    ///     Some(Duration::from_secs(2 * 3600)))?;
    /// assert!(token.expires_on > chrono::Utc::now());
    /// // Out-of-range lifetimes fail before anything is sent.
    /// assert!(client.get_token(&user, &[CommunicationTokenScope::Chat], Some(Duration::from_secs(60))).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_token(
        &self,
        user: &CommunicationIdentifier,
        scopes: &[CommunicationTokenScope],
        expires_in: Option<Duration>,
    ) -> Result<AccessToken> {
        check_scopes(scopes)?;
        let expires_in_minutes = expires_in_minutes(expires_in)?;
        let path = user_path(user, "/:issueAccessToken")?;
        let body = to_python_json(&IssueTokenRequest {
            scopes,
            expires_in_minutes,
        })?;
        let request = self
            .request(Method::POST, &path, RetryClass::SafeToRepeat)
            .with_body("application/json", body);
        let token: AccessTokenWire = self.send(request)?.json()?;
        Ok(token.into())
    }

    /// Revokes every token issued to `user` so far; tokens issued later work.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// # let user = client.create_user()?;
    /// client.revoke_tokens(&user)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn revoke_tokens(&self, user: &CommunicationIdentifier) -> Result<()> {
        let path = user_path(user, "/:revokeAccessTokens")?;
        let request = self
            .request(Method::POST, &path, RetryClass::SafeToRepeat)
            .with_header("content-type", "application/json");
        self.send(request).map(drop)
    }

    /// Deletes `user`; its tokens stop working.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// # let user = client.create_user()?;
    /// client.delete_user(&user)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_user(&self, user: &CommunicationIdentifier) -> Result<()> {
        let path = user_path(user, "")?;
        let request = self.request(Method::DELETE, &path, RetryClass::SafeToRepeat);
        self.send(request).map(drop)
    }

    /// Exchanges a Teams user's Entra ID access token for an ACS token. `client_id` must be the
    /// token's `appid` claim and `user_object_id` its `oid` claim.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let client = acs_chat::identity::CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
    /// # let entra_token = acs_chat_emulator::fixtures::unsigned_jwt(r#"{"appid":"app-id","oid":"user-object-id"}"#);
    /// // `entra_token` comes from signing the Teams user in with Entra ID (e.g. MSAL).
    /// let token = client.get_token_for_teams_user(&entra_token, "app-id", "user-object-id")?;
    /// assert!(token.expires_on > chrono::Utc::now());
    /// // The ids must match the token's claims.
    /// assert!(client.get_token_for_teams_user(&entra_token, "app-id", "someone-else").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_token_for_teams_user(
        &self,
        entra_token: &str,
        client_id: &str,
        user_object_id: &str,
    ) -> Result<AccessToken> {
        for (name, value) in [
            ("entra_token", entra_token),
            ("client_id", client_id),
            ("user_object_id", user_object_id),
        ] {
            if value.trim().is_empty() {
                return Err(Error::invalid_argument(name, "must not be empty"));
            }
        }
        let body = to_python_json(&TeamsUserExchangeRequest {
            token: entra_token,
            app_id: client_id,
            user_id: user_object_id,
        })?;
        let request = self
            .request(
                Method::POST,
                "/teamsUser/:exchangeAccessToken",
                RetryClass::SafeToRepeat,
            )
            .with_body("application/json", body);
        let token: AccessTokenWire = self.send(request)?.json()?;
        Ok(token.into())
    }

    /// The configured `api-version`.
    pub(super) fn api_version(&self) -> &str {
        &self.inner.api_version
    }

    /// A request for `path` (already encoded) with the client's `api-version`.
    pub(super) fn request(&self, method: Method, path: &str, retry: RetryClass) -> Request {
        let url = self.inner.endpoint.url(&format!(
            "{path}?api-version={}",
            encode_query_value(&self.inner.api_version)
        ));
        // Per request, so a transport shared with chat clients still names the identity SDK.
        Request::new(method, url, retry).with_header(
            "user-agent",
            concat!(
                "azsdk-rust-communication-identity/",
                env!("CARGO_PKG_VERSION")
            ),
        )
    }

    pub(super) fn send(&self, request: Request) -> Result<crate::http::Response> {
        self.inner.pipeline.send(request, self.inner.auth.as_ref())
    }
}

/// `/identities/{id}{suffix}` for an ACS user, with the id encoded as one path segment.
fn user_path(user: &CommunicationIdentifier, suffix: &str) -> Result<String> {
    let CommunicationIdentifier::CommunicationUser { id } = user else {
        return Err(Error::invalid_argument(
            "user",
            format!(
                "expected a communication user (8:acs:…), got a {} identifier",
                user.kind()
            ),
        ));
    };
    validate_id("user", id)?;
    Ok(format!("/identities/{}{suffix}", encode_segment(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// User ids are encoded as one segment; other identifier kinds are refused.
    #[test]
    fn user_path_encodes_id_and_rejects_other_kinds() {
        let user = CommunicationIdentifier::communication_user("8:acs:r_u/../x");
        assert_eq!(
            user_path(&user, "/:issueAccessToken").expect("a user"),
            "/identities/8%3Aacs%3Ar_u%2F..%2Fx/:issueAccessToken"
        );
        let phone = CommunicationIdentifier::phone_number("+14255550123");
        let err = user_path(&phone, "").expect_err("not a user");
        assert!(
            matches!(err, Error::InvalidArgument { name: "user", .. }),
            "{err:?}"
        );
        let empty = CommunicationIdentifier::communication_user(" ");
        assert!(user_path(&empty, "").is_err(), "an empty id is refused");
    }

    /// Bad options and endpoints fail at construction.
    #[test]
    fn with_options_rejects_bad_endpoint_and_version() {
        let key = AzureKeyCredential::new("a2V5").expect("valid key");
        assert!(CommunicationIdentityClient::new("http://contoso.example", key.clone()).is_err());
        assert!(CommunicationIdentityClient::new("contoso.example", key.clone()).is_err());
        let options = CommunicationIdentityClientOptions {
            api_version: String::new(),
            ..Default::default()
        };
        assert!(CommunicationIdentityClient::with_options(
            "https://x.example",
            key.clone(),
            options
        )
        .is_err());
        let client = CommunicationIdentityClient::new("https://x.example/", key).expect("valid");
        assert_eq!(
            format!("{client:?}"),
            r#"CommunicationIdentityClient { endpoint: "https://x.example", api_version: "2026-09-23", .. }"#
        );
    }

    /// Identity requests name the identity SDK in `User-Agent` themselves, so a transport
    /// shared with chat clients (whose pool sends the chat SDK's) does not mislabel them.
    #[test]
    fn request_sets_identity_user_agent() {
        let client = CommunicationIdentityClient::new(
            "https://contoso.example",
            AzureKeyCredential::new("a2V5").expect("valid key"),
        )
        .expect("client");
        let request = client.request(Method::GET, "/identities/x", RetryClass::SafeToRepeat);
        let ua = request.header("user-agent").unwrap_or_default();
        assert!(
            ua.starts_with("azsdk-rust-communication-identity/"),
            "user-agent {ua:?}"
        );
    }

    /// Each attempt gets the HMAC headers for its exact target and body.
    #[test]
    fn authorize_request_sets_hmac_headers() {
        let signer = HmacSigner {
            credential: AzureKeyCredential::new("a2V5").expect("valid key"),
        };
        let mut request = Request::new(
            Method::POST,
            "http://127.0.0.1:8443/identities?api-version=2023-10-01".to_owned(),
            RetryClass::SafeToRepeat,
        )
        .with_body("application/json", b"{}".to_vec());
        signer.authorize(&mut request, None).expect("signed");
        let date = request.header("x-ms-date").expect("date").to_owned();
        let now = chrono::DateTime::parse_from_rfc2822(&date)
            .expect("RFC 1123 date")
            .with_timezone(&Utc);
        let want = hmac::sign(
            &signer.credential,
            "POST",
            "127.0.0.1:8443",
            "/identities?api-version=2023-10-01",
            b"{}",
            now,
        );
        assert_eq!(
            request.header("authorization"),
            Some(want.authorization.expose())
        );
        assert_eq!(
            request.header("x-ms-content-sha256"),
            Some(want.content_sha256.as_str())
        );
    }
}
