//! The emulator's own routes, for tests and for people: `POST /emulator/reset` forgets every
//! user, token, thread and message (the access key stays), and `GET /emulator/state` shows
//! users, threads, participants and message counts as JSON (never keys, tokens or message
//! content). Both are signed with the access key exactly like identity calls (HMAC-SHA256,
//! see [`crate::hmac`]); no `api-version` is needed.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
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
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The method is not allowed on this resource.",
    )
    .into_response()
}

/// Checks the request's HMAC signature against the resource key.
async fn verify(state: &AppState, req: Request) -> Result<Bytes, ApiError> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            "The request body is too large.",
        )
    })?;
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut headers: HeaderMap = parts.headers.clone();
    if !headers.contains_key(header::HOST) {
        if let Some(v) = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            headers.insert(header::HOST, v);
        }
    }
    crate::hmac::verify(
        parts.method.as_str(),
        path_and_query,
        &headers,
        &body,
        state.0.directory.key(),
        Utc::now(),
    )?;
    Ok(body)
}

async fn reset(State(state): State<AppState>, req: Request) -> Response {
    match verify(&state, req).await {
        Ok(_) => {
            state.reset();
            log::info!("emulator state reset");
            no_content()
        }
        Err(e) => e.into_response(),
    }
}

async fn state(State(state): State<AppState>, req: Request) -> Response {
    if let Err(e) = verify(&state, req).await {
        return e.into_response();
    }
    json_response(StatusCode::OK, &snapshot(&state))
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
