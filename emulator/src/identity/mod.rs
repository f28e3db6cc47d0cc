//! The Identity API routes: users, access tokens, revocation and the Teams token exchange.
//!
//! | route | success |
//! |---|---|
//! | `POST /identities` (optional body `{createTokenWithScopes, expiresInMinutes}`) | 201 `{"identity":{"id"}[, "accessToken":{"token","expiresOn"}]}` |
//! | `POST /identities/{id}/:issueAccessToken` (`{scopes, expiresInMinutes}`) | 200 `{"token","expiresOn"}` |
//! | `POST /identities/{id}/:revokeAccessTokens` | 204 |
//! | `DELETE /identities/{id}` | 204 |
//! | `POST /teamsUser/:exchangeAccessToken` (`{token, appId, userId}`) | 200 `{"token","expiresOn"}` |
//! | `/access/teamsExtension/...` (2025-06-30 and later): the Teams Extension exchange and assignments, see `teams_extension` | |
//!
//! Every request must carry a supported `api-version` (400 otherwise) and be signed with the
//! resource key as [`crate::hmac`] describes, or carry an Entra ID bearer token the state's
//! [`IdentityState::entra`] verifies ([`crate::auth::entra`]) (401 otherwise). Ids in paths
//! are percent-decoded; an id this resource did not create (or deleted) is a 404. Scopes are `chat`, `voip`,
//! `chat.join`, `chat.join.limited` and `voip.join`; `expiresInMinutes` must be 60–1440
//! (default 1440). Errors use the service's `{"error":{"code","message"}}` shape, and every
//! response echoes `x-ms-client-request-id`.
//!
//! Mount [`routes`] into the emulator's router with a state that implements [`IdentityState`].
//!
//! The users and their tokens are a [`Directory`] (`directory`), the tokens' format is in
//! `token`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{delete, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::{json, Map, Value};

use crate::auth::Scope;
use crate::hmac::HmacError;
use crate::wire::{check_api_version, json_response, no_content, parse_object, ApiError};

mod directory;
pub(crate) mod teams_extension;
mod token;

pub use directory::Directory;

/// Identity api-versions the emulator accepts: the stable ones (2023-10-01 is what the
/// official SDKs send).
pub const API_VERSIONS: [&str; 9] = [
    "2021-03-07",
    "2022-06-01",
    "2022-09-01",
    "2022-10-01",
    "2023-08-01",
    "2023-10-01",
    "2025-06-30",
    "2026-07-22",
    "2026-09-23",
];

/// Shortest token lifetime the Identity API issues, in minutes.
pub const MIN_EXPIRES_IN_MINUTES: i64 = 60;
/// Longest (and default) token lifetime the Identity API issues, in minutes.
pub const MAX_EXPIRES_IN_MINUTES: i64 = 1440;

/// Largest request body read, in bytes.
const MAX_BODY: usize = 1 << 20;

/// Lifetime of a token from a Teams exchange whose Entra ID token has no `exp`.
const TEAMS_DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Application state the identity routes can run on: anything that can lend the resource's
/// [`Directory`].
pub trait IdentityState: Clone + Send + Sync + 'static {
    /// The users and tokens of the emulated resource.
    fn directory(&self) -> &Directory;

    /// What verifies Entra ID bearer tokens; `None` (the default) accepts HMAC signatures only.
    fn entra(&self) -> Option<&crate::auth::entra::EntraIssuer> {
        None
    }
}

impl IdentityState for Arc<Directory> {
    fn directory(&self) -> &Directory {
        self
    }
}

/// The Identity API routes, to be merged into the emulator's router (see the
/// [module docs](self)). Methods a route does not have answer 405 in the service's error shape.
pub fn routes<S: IdentityState>() -> Router<S> {
    Router::new()
        .route(
            "/identities",
            post(create_identity::<S>).fallback(method_not_allowed),
        )
        .route(
            "/identities/{id}",
            delete(delete_identity::<S>).fallback(method_not_allowed),
        )
        .route(
            "/identities/{id}/{action}",
            post(identity_action::<S>).fallback(method_not_allowed),
        )
        .route(
            "/teamsUser/{action}",
            post(teams_action::<S>).fallback(method_not_allowed),
        )
        .merge(teams_extension::routes())
}

/// The 404 for an identity this resource did not create (or deleted).
fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The identity was not found in this resource.",
    )
}

impl From<HmacError> for ApiError {
    fn from(e: HmacError) -> ApiError {
        ApiError::unauthorized(e.message())
    }
}

/// A request that passed the api-version and HMAC checks.
struct Verified {
    body: Bytes,
}

/// Runs `handler` on a verified request and finishes the response: errors in the service's
/// shape, `x-ms-client-request-id` echoed.
async fn respond<S, F>(state: &S, req: Request, handler: F) -> Response
where
    S: IdentityState,
    F: FnOnce(&Directory, Verified) -> Result<Response, ApiError>,
{
    let request_id = req.headers().get("x-ms-client-request-id").cloned();
    let result = match verify_request(state.directory(), state.entra(), req).await {
        Ok(verified) => handler(state.directory(), verified),
        Err(e) => Err(e),
    };
    let mut resp = result.unwrap_or_else(|e| e.into_response());
    if let Some(id) = request_id {
        resp.headers_mut().insert("x-ms-client-request-id", id);
    }
    resp
}

/// Checks `api-version`, reads the body and verifies the HMAC signature, or the Entra ID
/// bearer token when the request carries one (see [`crate::auth::entra`]).
async fn verify_request(
    directory: &Directory,
    entra: Option<&crate::auth::entra::EntraIssuer>,
    req: Request,
) -> Result<Verified, ApiError> {
    // The target as the client sent it, even when this router is nested.
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map(|o| &o.0)
        .unwrap_or(req.uri());
    check_api_version(api_version(uri.query()), &API_VERSIONS)?;
    if let Some(token) = bearer_token(req.headers()) {
        crate::auth::entra::check_bearer(entra, &token)?;
        let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| too_large())?;
        return Ok(Verified { body });
    }
    Ok(Verified {
        body: read_signed(directory, req, MAX_BODY).await?,
    })
}

/// The token of an `Authorization: Bearer <token>` header (scheme matched case-insensitively).
fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PayloadTooLarge",
        "The request body is too large.",
    )
}

/// Reads the body (at most `max_body` bytes, else 413) of a request signed with the
/// resource's access key and verifies its HMAC signature (identity routes and the
/// `/emulator` admin routes).
pub(crate) async fn read_signed(
    directory: &Directory,
    req: Request,
    max_body: usize,
) -> Result<Bytes, ApiError> {
    let (parts, body) = req.into_parts();
    // The target as the client sent it, even when the router is nested.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map(|o| &o.0)
        .unwrap_or(&parts.uri);
    let body = axum::body::to_bytes(body, max_body).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            "The request body is too large.",
        )
    })?;
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let authority_host;
    let headers: &HeaderMap = if parts.headers.contains_key(header::HOST) {
        &parts.headers
    } else {
        // HTTP/2 carries the host in the URI (`:authority`), not in a Host header.
        let mut with_host = parts.headers.clone();
        if let Some(value) = uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            with_host.insert(header::HOST, value);
        }
        authority_host = with_host;
        &authority_host
    };
    crate::hmac::verify(
        parts.method.as_str(),
        path_and_query,
        headers,
        &body,
        directory.key(),
        Utc::now(),
    )?;
    Ok(body)
}

/// The `api-version` of a query string (name matched case-insensitively).
fn api_version(query: Option<&str>) -> Option<&str> {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("api-version"))
        .map(|(_, value)| value)
}

/// Reads a scope list; `None` when absent or null.
fn scopes_field(body: &Map<String, Value>, name: &str) -> Result<Option<Vec<Scope>>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let text = item.as_str().ok_or_else(|| {
                    ApiError::bad_request(format!("'{name}' must be an array of strings."))
                })?;
                Scope::parse(text).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "'{}' is not a valid scope. Valid scopes: chat, voip, chat.join, chat.join.limited, voip.join.",
                        text.chars().take(40).collect::<String>()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ApiError::bad_request(format!("'{name}' must be an array."))),
    }
}

/// Reads `expiresInMinutes` (60–1440, default 1440) as a lifetime.
fn lifetime_field(body: &Map<String, Value>) -> Result<Duration, ApiError> {
    let minutes = match body.get("expiresInMinutes") {
        None | Some(Value::Null) => MAX_EXPIRES_IN_MINUTES,
        Some(value) => value
            .as_i64()
            .filter(|m| (MIN_EXPIRES_IN_MINUTES..=MAX_EXPIRES_IN_MINUTES).contains(m))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "'expiresInMinutes' must be an integer from {MIN_EXPIRES_IN_MINUTES} to {MAX_EXPIRES_IN_MINUTES}."
                ))
            })?,
    };
    // In range, so not negative.
    Ok(Duration::from_secs(minutes.unsigned_abs() * 60))
}

/// `expiresOn` as the service writes it: UTC with a `+00:00` offset and up to seven fractional
/// digits, trailing zeros trimmed.
pub fn format_expires_on(t: DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let ticks = t.timestamp_subsec_nanos() / 100;
    if ticks == 0 {
        return format!("{base}+00:00");
    }
    let fraction = format!("{ticks:07}");
    format!("{base}.{}+00:00", fraction.trim_end_matches('0'))
}

fn token_json(token: &str, expires_on: DateTime<Utc>) -> Value {
    json!({ "token": token, "expiresOn": format_expires_on(expires_on) })
}

/// The service's 500 for a write the data directory refused (already logged at warn).
pub(super) fn storage_failed(e: std::io::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        e.to_string(),
    )
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::bad_request("The identity in the path is not valid."))
}

async fn create_identity<S: IdentityState>(State(state): State<S>, req: Request) -> Response {
    respond(&state, req, |dir, verified| {
        let body = parse_object(&verified.body, true)?;
        let scopes = scopes_field(&body, "createTokenWithScopes")?;
        let lifetime = lifetime_field(&body)?;
        let result = match scopes.filter(|s| !s.is_empty()) {
            Some(scopes) => {
                let (id, token, expires_on) = dir
                    .try_create_user_with_token(&scopes, lifetime)
                    .map_err(storage_failed)?;
                json!({ "identity": { "id": id }, "accessToken": token_json(&token, expires_on) })
            }
            None => json!({ "identity": { "id": dir.try_create_user().map_err(storage_failed)? } }),
        };
        Ok(json_response(StatusCode::CREATED, &result))
    })
    .await
}

async fn delete_identity<S: IdentityState>(
    State(state): State<S>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    respond(&state, req, |dir, _| {
        let id = path_id(path)?;
        if dir.try_delete_user(&id).map_err(storage_failed)? {
            Ok(no_content())
        } else {
            Err(not_found())
        }
    })
    .await
}

async fn identity_action<S: IdentityState>(
    State(state): State<S>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Response {
    respond(&state, req, |dir, verified| {
        let Path((id, action)) =
            path.map_err(|_| ApiError::bad_request("The identity in the path is not valid."))?;
        match action.as_str() {
            ":issueAccessToken" => {
                let body = parse_object(&verified.body, false)?;
                let scopes = scopes_field(&body, "scopes")?
                    .ok_or_else(|| ApiError::bad_request("'scopes' is required."))?;
                if scopes.is_empty() {
                    return Err(ApiError::bad_request(
                        "'scopes' must name at least one scope.",
                    ));
                }
                let lifetime = lifetime_field(&body)?;
                if !dir.user_exists(&id) {
                    return Err(not_found());
                }
                let (token, expires_on) = dir
                    .try_issue_token_at(&id, &scopes, lifetime, Utc::now())
                    .map_err(storage_failed)?;
                Ok(json_response(
                    StatusCode::OK,
                    &token_json(&token, expires_on),
                ))
            }
            ":revokeAccessTokens" => {
                if dir.try_revoke(&id).map_err(storage_failed)? {
                    Ok(no_content())
                } else {
                    Err(not_found())
                }
            }
            _ => Err(unknown_route()),
        }
    })
    .await
}

/// The object body of a `…/:exchangeAccessToken` call; any other action is an unknown route.
fn exchange_body(
    path: &Result<Path<String>, PathRejection>,
    body: &[u8],
) -> Result<Map<String, Value>, ApiError> {
    if !matches!(path, Ok(Path(action)) if action == ":exchangeAccessToken") {
        return Err(unknown_route());
    }
    parse_object(body, false)
}

/// The required, non-empty string member `name` of a request body.
fn required_text(body: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "'{name}' is required and must be a non-empty string."
            ))
        })
}

/// 401 for a token handed to an exchange that cannot be read as one.
fn token_not_valid() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Provided access token is not valid.",
    )
}

/// 401 for a token handed to an exchange after its `exp`.
fn token_expired() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Provided access token has expired.",
    )
}

async fn teams_action<S: IdentityState>(
    State(state): State<S>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    respond(&state, req, |dir, verified| {
        let body = exchange_body(&path, &verified.body)?;
        let field = |name: &str| required_text(&body, name);
        let (token, app_id, user_id) = (field("token")?, field("appId")?, field("userId")?);
        let claims = EntraClaims::parse(&token).ok_or_else(token_not_valid)?;
        let now = Utc::now();
        let lifetime = match claims.exp {
            Some(exp) if exp <= now => return Err(token_expired()),
            Some(exp) => (exp - now).to_std().unwrap_or(TEAMS_DEFAULT_LIFETIME),
            None => TEAMS_DEFAULT_LIFETIME,
        };
        if claims.app_id != app_id {
            return Err(ApiError::bad_request(
                "'appId' does not match the appid claim of the access token.",
            ));
        }
        if claims.object_id != user_id {
            return Err(ApiError::bad_request(
                "'userId' does not match the oid claim of the access token.",
            ));
        }
        let teams_user = format!("8:orgid:{}", claims.object_id);
        let lifetime = lifetime.min(Duration::from_secs(
            MAX_EXPIRES_IN_MINUTES.unsigned_abs() * 60,
        ));
        let (token, expires_on) = dir
            .try_register_user_with_token(&teams_user, &[Scope::Voip], lifetime)
            .map_err(storage_failed)?;
        Ok(json_response(
            StatusCode::OK,
            &token_json(&token, expires_on),
        ))
    })
    .await
}

/// The payload of a JWT-shaped token (`header.payload.signature`, base64url with or without
/// padding) as a JSON object; the signature is not checked (the emulator has no Entra ID keys).
fn decode_jwt_claims(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let normalized: String = payload
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bytes = STANDARD_NO_PAD.decode(normalized).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The claims of a Teams user's Entra ID token that the exchange checks.
struct EntraClaims {
    app_id: String,
    object_id: String,
    exp: Option<DateTime<Utc>>,
}

impl EntraClaims {
    /// Decodes the payload of a JWT-shaped token (signature not checked: the emulator has no
    /// Entra ID keys). `None` unless it has string `appid` (or `azp`) and `oid` claims.
    fn parse(token: &str) -> Option<EntraClaims> {
        let claims = decode_jwt_claims(token)?;
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let exp = match claims.get("exp") {
            None => None,
            Some(v) => Some(Utc.timestamp_opt(v.as_i64()?, 0).single()?),
        };
        Some(EntraClaims {
            app_id: text("appid").or_else(|| text("azp"))?,
            object_id: text("oid")?,
            exp,
        })
    }
}

fn unknown_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The requested resource was not found.",
    )
}

async fn method_not_allowed(headers: HeaderMap) -> Response {
    let mut resp = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The HTTP method is not supported by this resource.",
    )
    .into_response();
    if let Some(id) = headers.get("x-ms-client-request-id") {
        resp.headers_mut()
            .insert("x-ms-client-request-id", id.clone());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expiresOn` has an offset and trimmed fractional digits, like the service's.
    #[test]
    fn format_expires_on_matches_service_shape() {
        let t = Utc.timestamp_opt(1_696_973_979, 324_458_400).unwrap();
        assert_eq!(format_expires_on(t), "2023-10-10T21:39:39.3244584+00:00");
        let t = Utc.timestamp_opt(1_696_973_979, 810_200_000).unwrap();
        assert_eq!(format_expires_on(t), "2023-10-10T21:39:39.8102+00:00");
        let t = Utc.timestamp_opt(1_696_973_979, 0).unwrap();
        assert_eq!(format_expires_on(t), "2023-10-10T21:39:39+00:00");
    }

    /// Only the listed api-versions pass; a missing one is its own error.
    #[test]
    fn check_api_version_accepts_known_versions() {
        for v in API_VERSIONS {
            let q = format!("api-version={v}");
            assert!(
                check_api_version(api_version(Some(&q)), &API_VERSIONS).is_ok(),
                "{v} refused"
            );
        }
        let seen = check_api_version(api_version(Some("api-version=2024-03-07")), &API_VERSIONS)
            .err()
            .map(|e| e.code);
        assert_eq!(seen, Some("UnsupportedApiVersion"));
        let seen = check_api_version(api_version(None), &API_VERSIONS)
            .err()
            .map(|e| e.code);
        assert_eq!(seen, Some("MissingApiVersionParameter"));
    }

    /// `expiresInMinutes` outside 60–1440 or not an integer is refused; absent means 1440.
    #[test]
    fn lifetime_field_enforces_range() {
        let body = |v: Value| {
            json!({ "expiresInMinutes": v })
                .as_object()
                .cloned()
                .unwrap()
        };
        assert_eq!(
            lifetime_field(&Map::new()).ok(),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            lifetime_field(&body(json!(60))).ok(),
            Some(Duration::from_secs(3600))
        );
        for bad in [json!(59), json!(1441), json!("60"), json!(60.5), json!(-1)] {
            assert!(
                lifetime_field(&body(bad.clone())).is_err(),
                "{bad} accepted"
            );
        }
    }

    /// Entra ID claims are read from base64url payloads with or without padding.
    #[test]
    fn entra_claims_parse_reads_appid_and_oid() {
        use base64::engine::general_purpose::URL_SAFE;
        let payload =
            URL_SAFE.encode(br#"{"appid":"app","oid":"obj","exp":4102444800,"x":"??>>"}"#);
        let claims = EntraClaims::parse(&format!("h.{payload}.s")).expect("claims parsed");
        assert_eq!(
            (claims.app_id.as_str(), claims.object_id.as_str()),
            ("app", "obj")
        );
        assert!(claims.exp.is_some(), "exp not read");
        assert!(EntraClaims::parse("not-a-jwt").is_none());
        let no_oid = URL_SAFE.encode(br#"{"appid":"app"}"#);
        assert!(EntraClaims::parse(&format!("h.{no_oid}.s")).is_none());
    }
}
