//! The emulator's own routes, for tests and for people: `POST /emulator/reset` forgets every
//! user, token, thread and message (the access key stays), and `GET /emulator/state` shows
//! users, threads, participants and message counts as JSON (never keys, tokens or message
//! content), and `POST /emulator/entraToken` with `{"appId":"…"}` mints an Entra ID access
//! token for an app configured with `--entra-app`, answered as Entra's token endpoint does:
//! `{"token_type":"Bearer","expires_in":3600,"access_token":"…"}` (400 for an app id the
//! emulator was not configured with). All are signed with the access key exactly like identity
//! calls (HMAC-SHA256, see [`crate::hmac`]); no `api-version` is needed.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::state::AppState;
use crate::wire::{json_response, no_content, ApiError};

/// Largest body accepted (both routes take none).
const MAX_BODY: usize = 64 * 1024;

/// `/emulator/reset` and `/emulator/state`; other methods answer 405.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/emulator/reset", post(reset).fallback(method_not_allowed))
        .route("/emulator/state", get(state).fallback(method_not_allowed))
        .route(
            "/emulator/entraToken",
            post(entra_token).fallback(method_not_allowed),
        )
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The method is not allowed on this resource.",
    )
    .into_response()
}

/// Checks the request's HMAC signature against the resource key, as identity routes do.
async fn verify(state: &AppState, req: Request) -> Result<Bytes, ApiError> {
    crate::identity::read_signed(&state.0.directory, req, MAX_BODY).await
}

async fn reset(State(state): State<AppState>, req: Request) -> Response {
    match verify(&state, req).await {
        Ok(_) => match state.reset() {
            Ok(()) => {
                log::info!("emulator state reset");
                no_content()
            }
            Err(e) => ApiError::from(e).into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn state(State(state): State<AppState>, req: Request) -> Response {
    if let Err(e) = verify(&state, req).await {
        return e.into_response();
    }
    json_response(StatusCode::OK, &snapshot(&state))
}

async fn entra_token(State(state): State<AppState>, req: Request) -> Response {
    let body = match verify(&state, req).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let app_id = match crate::wire::parse_object(&body, false) {
        Ok(object) => match object.get("appId").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => return ApiError::bad_request("'appId' is required.").into_response(),
        },
        Err(e) => return e.into_response(),
    };
    if !state.0.entra.knows_app(&app_id) {
        return ApiError::bad_request(
            "The app id is not configured; start the emulator with --entra-app for it.",
        )
        .into_response();
    }
    let options = crate::auth::entra::EntraTokenOptions::new(app_id);
    let expires_in = (options.expires_on - options.issued_at).num_seconds();
    let token = state.0.entra.mint(&options);
    json_response(
        StatusCode::OK,
        &json!({"token_type": "Bearer", "expires_in": expires_in, "access_token": token}),
    )
}

/// What `/emulator/state` answers.
pub(crate) fn snapshot(state: &AppState) -> Value {
    let users: Vec<Value> = state
        .0
        .directory
        .user_ids()
        .into_iter()
        .map(|(id, deleted)| json!({"id": id, "deleted": deleted}))
        .collect();
    let threads = state.0.chat.summaries();
    let messages: usize = threads.iter().map(|t| t.messages).sum();
    let live = threads.iter().filter(|t| !t.deleted).count();
    let threads: Vec<Value> = threads
        .into_iter()
        .map(|t| {
            let participants: Vec<Value> = t
                .participants
                .into_iter()
                .map(|(id, name)| json!({"id": id, "displayName": name}))
                .collect();
            json!({
                "id": t.id,
                "topic": t.topic,
                "createdBy": t.created_by,
                "deleted": t.deleted,
                "participants": participants,
                "messageCount": t.messages,
                "userMessageCount": t.user_messages,
            })
        })
        .collect();
    json!({
        "resourceId": state.0.directory.resource_id(),
        "counts": {
            "users": users.len(),
            "threads": live,
            "deletedThreads": threads.len() - live,
            "messages": messages,
        },
        "users": users,
        "threads": threads,
    })
}
