//! The Teams Extension (Teams Phone) routes of identity api-version 2025-06-30 and later.
//!
//! | route | success |
//! |---|---|
//! | `PUT /access/teamsExtension/tenants/{tenantId}/assignments/{objectId}` (`{principalType, clientIds?}`) | 201 created, 200 replaced: `{objectId, tenantId, principalType[, clientIds]}` |
//! | `GET` (same path) | 200 the assignment; 404 `NotFound` when there is none |
//! | `DELETE` (same path) | 204, also when there was none (a retried delete succeeds) |
//! | `POST /access/teamsExtension/:exchangeAccessToken` (free-form object) | 200 `{"identity":{"id"},"accessToken":{"token","expiresOn"}}` |
//!
//! The spec leaves the exchange body free-form. The emulator reads the Teams Phone token from
//! its `token` member and checks it the way `/teamsUser/:exchangeAccessToken` checks Entra ID
//! tokens: JWT-shaped (signature not checked), with string `tid` and `oid` claims, not past
//! its `exp` (401 otherwise). The user needs an assignment in that tenant (403 otherwise), and
//! when the assignment lists `clientIds`, the token's `appid` (or `azp`) must be one of them
//! (403). The identity is `8:acs:<resourceId>_<tid>_<oid>`, the same for every exchange of
//! that user; its `voip` token is accepted by the chat routes' authentication like any
//! other user token.
//!
//! Older api-versions do not have these routes: they answer 404 as unknown routes do.
//! Assignments live in the [`Directory`] and are persisted with it under `--data-dir`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{post, put};
use axum::Router;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{
    api_version, decode_jwt_claims, exchange_body, method_not_allowed, required_text, respond,
    token_expired, token_json, token_not_valid, unknown_route, Directory, IdentityState,
    MAX_EXPIRES_IN_MINUTES, TEAMS_DEFAULT_LIFETIME,
};
use crate::auth::Scope;
use crate::wire::{json_response, no_content, parse_object, ApiError};

/// The first identity api-version with the Teams Extension routes.
pub const MIN_API_VERSION: &str = "2025-06-30";

/// The metadata key the assignments are persisted under (as one JSON document).
pub(crate) const PERSIST_KEY: &str = "teams_extension_assignments";

/// One Teams Extension assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Assignment {
    pub(crate) principal_type: String,
    pub(crate) client_ids: Option<Vec<String>>,
}

/// Assignments by `(tenantId, objectId)`.
pub(crate) type Assignments = BTreeMap<(String, String), Assignment>;

/// The assignments as persisted: a list, since JSON objects need string keys.
pub(crate) fn to_persisted(all: &Assignments) -> String {
    let rows: Vec<(&String, &String, &Assignment)> =
        all.iter().map(|((t, o), a)| (t, o, a)).collect();
    // Plain strings and vectors: serialisation cannot fail.
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned())
}

/// Reads [`to_persisted`]'s text; `None` when it is not that shape.
pub(crate) fn from_persisted(text: &str) -> Option<Assignments> {
    let rows: Vec<(String, String, Assignment)> = serde_json::from_str(text).ok()?;
    Some(rows.into_iter().map(|(t, o, a)| ((t, o), a)).collect())
}

/// The Teams Extension routes, merged into the identity router.
pub(super) fn routes<S: IdentityState>() -> Router<S> {
    Router::new()
        .route(
            "/access/teamsExtension/{action}",
            post(exchange::<S>).fallback(method_not_allowed),
        )
        .route(
            "/access/teamsExtension/tenants/{tenant}/assignments/{object}",
            put(upsert::<S>)
                .get(get::<S>)
                .delete(remove::<S>)
                .fallback(method_not_allowed),
        )
}

/// 404 for api-versions that predate the routes (checked after the general version check).
fn check_version(req: &Request) -> Result<(), ApiError> {
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map(|o| &o.0)
        .unwrap_or(req.uri());
    match api_version(uri.query()) {
        Some(v) if v.get(..10).is_some_and(|d| d < MIN_API_VERSION) => Err(unknown_route()),
        _ => Ok(()),
    }
}

/// [`respond`] for the routes of this module: `handler` runs only when the api-version has them.
async fn gated<S, F>(state: &S, req: Request, handler: F) -> Response
where
    S: IdentityState,
    F: FnOnce(&Directory, super::Verified) -> Result<Response, ApiError>,
{
    let gate = check_version(&req);
    respond(state, req, |dir, verified| {
        gate?;
        handler(dir, verified)
    })
    .await
}

fn assignment_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The Teams Extension assignment was not found.",
    )
}

fn ids(path: Result<Path<(String, String)>, PathRejection>) -> Result<(String, String), ApiError> {
    let Path((tenant, object)) = path
        .map_err(|_| ApiError::bad_request("The tenant or object id in the path is not valid."))?;
    if tenant.trim().is_empty() || object.trim().is_empty() {
        return Err(ApiError::bad_request(
            "The tenant and object ids must not be empty.",
        ));
    }
    Ok((tenant, object))
}

fn assignment_json(tenant: &str, object: &str, a: &Assignment) -> Value {
    let mut body = json!({
        "objectId": object,
        "tenantId": tenant,
        "principalType": a.principal_type,
    });
    if let Some(client_ids) = &a.client_ids {
        body["clientIds"] = json!(client_ids);
    }
    body
}

/// Reads a create-or-update body: `principalType` (`resourceAccount` or `user`, required) and
/// `clientIds` (array of non-empty strings, optional).
fn parse_assignment(body: &Map<String, Value>) -> Result<Assignment, ApiError> {
    let principal_type = match body.get("principalType") {
        Some(Value::String(s)) if s == "resourceAccount" || s == "user" => s.clone(),
        Some(Value::String(_)) => {
            return Err(ApiError::bad_request(
                "'principalType' must be 'resourceAccount' or 'user'.",
            ))
        }
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request("'principalType' is required."))
        }
        Some(_) => return Err(ApiError::bad_request("'principalType' must be a string.")),
    };
    let client_ids = match body.get("clientIds") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .filter(|s| !s.trim().is_empty())
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            ApiError::bad_request(
                                "'clientIds' must be an array of non-empty strings.",
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(ApiError::bad_request("'clientIds' must be an array.")),
    };
    Ok(Assignment {
        principal_type,
        client_ids,
    })
}

async fn upsert<S: IdentityState>(
    State(state): State<S>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Response {
    gated(&state, req, |dir, verified| {
        let (tenant, object) = ids(path)?;
        let assignment = parse_assignment(&parse_object(&verified.body, false)?)?;
        let created = dir
            .put_assignment(&tenant, &object, assignment.clone())
            .map_err(super::storage_failed)?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(json_response(
            status,
            &assignment_json(&tenant, &object, &assignment),
        ))
    })
    .await
}

async fn get<S: IdentityState>(
    State(state): State<S>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Response {
    gated(&state, req, |dir, _| {
        let (tenant, object) = ids(path)?;
        let assignment = dir
            .assignment(&tenant, &object)
            .ok_or_else(assignment_not_found)?;
        Ok(json_response(
            StatusCode::OK,
            &assignment_json(&tenant, &object, &assignment),
        ))
    })
    .await
}

async fn remove<S: IdentityState>(
    State(state): State<S>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Response {
    gated(&state, req, |dir, _| {
        let (tenant, object) = ids(path)?;
        dir.delete_assignment(&tenant, &object)
            .map_err(super::storage_failed)?;
        Ok(no_content())
    })
    .await
}

async fn exchange<S: IdentityState>(
    State(state): State<S>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    gated(&state, req, |dir, verified| {
        let body = exchange_body(&path, &verified.body)?;
        exchange_token(dir, &required_text(&body, "token")?)
    })
    .await
}

fn exchange_token(dir: &Directory, token: &str) -> Result<Response, ApiError> {
    let invalid = token_not_valid;
    let claims = decode_jwt_claims(token).ok_or_else(invalid)?;
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (tenant, object) = (
        text("tid").ok_or_else(invalid)?,
        text("oid").ok_or_else(invalid)?,
    );
    let now = Utc::now();
    let lifetime = match claims.get("exp") {
        None => TEAMS_DEFAULT_LIFETIME,
        Some(exp) => {
            let exp = exp.as_i64().ok_or_else(invalid)?;
            let left = exp.saturating_sub(now.timestamp());
            if left <= 0 {
                return Err(token_expired());
            }
            Duration::from_secs(left.unsigned_abs())
        }
    };
    let forbidden = |message: &str| ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message);
    let assignment = dir
        .assignment(&tenant, &object)
        .ok_or_else(|| forbidden("The user has no Teams Extension assignment in this resource."))?;
    if let Some(allowed) = &assignment.client_ids {
        let app = text("appid").or_else(|| text("azp"));
        if !app.is_some_and(|app| allowed.contains(&app)) {
            return Err(forbidden(
                "The token's application is not among the assignment's clientIds.",
            ));
        }
    }
    let user = format!("8:acs:{}_{tenant}_{object}", dir.resource_id());
    dir.register_user(&user);
    let lifetime = lifetime.min(Duration::from_secs(
        MAX_EXPIRES_IN_MINUTES.unsigned_abs() * 60,
    ));
    let (token, expires_on) = dir.issue_token(&user, &[Scope::Voip], lifetime);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "identity": { "id": user }, "accessToken": token_json(&token, expires_on) }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Assignments survive the persisted form; other text is refused.
    #[test]
    fn persisted_assignments_round_trip() {
        let mut all = Assignments::new();
        all.insert(
            ("t".into(), "o".into()),
            Assignment {
                principal_type: "user".into(),
                client_ids: Some(vec!["app".into()]),
            },
        );
        assert_eq!(from_persisted(&to_persisted(&all)), Some(all));
        assert_eq!(from_persisted("{}"), None);
    }

    /// Only the two principal types and string client ids are accepted.
    #[test]
    fn parse_assignment_checks_members() {
        let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
        let ok = parse_assignment(&obj(json!({"principalType":"user","clientIds":["a"]})));
        assert_eq!(
            ok.ok(),
            Some(Assignment {
                principal_type: "user".into(),
                client_ids: Some(vec!["a".into()])
            })
        );
        for bad in [
            json!({}),
            json!({"principalType":"group"}),
            json!({"principalType":1}),
            json!({"principalType":"user","clientIds":"a"}),
            json!({"principalType":"user","clientIds":[""]}),
        ] {
            assert!(
                parse_assignment(&obj(bad.clone())).is_err(),
                "{bad} accepted"
            );
        }
    }
}
