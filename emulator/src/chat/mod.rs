//! The 16 chat operations: routing, api-version and auth checks, and the handlers.
//!
//! Routing is done by hand rather than with axum's path matching because thread ids arrive
//! both raw (`19:x@thread.v2`, Java) and percent-encoded (`19%3Ax%40thread.v2`, everyone
//! else), action segments start with a literal `:` (`/participants/:add`), and every miss
//! must answer in the service's error shape rather than axum's plain-text rejections.

pub(crate) mod messages;
pub(crate) mod paging;
pub(crate) mod participants;
pub(crate) mod render;
pub(crate) mod threads;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;

use crate::auth::Caller;
use crate::state::AppState;
use crate::store::{ChatStore, StoreError};
use crate::wire::{percent_decode, require_version, ApiError, ApiResult, Query, Version};

/// Largest request body accepted (the service's limit is of this order).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Everything a chat handler needs about its request.
pub(crate) struct Ctx<'a> {
    pub(crate) state: &'a AppState,
    pub(crate) version: Version,
    pub(crate) caller: Caller,
    pub(crate) query: Query,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

impl Ctx<'_> {
    /// The chat state.
    pub(crate) fn store(&self) -> &ChatStore {
        &self.state.0.chat
    }

    /// `{base}` of links the emulator hands out.
    pub(crate) fn base(&self) -> &str {
        &self.state.0.base_url
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::ThreadNotFound => ApiError::thread_not_found(),
            StoreError::MessageNotFound => ApiError::message_not_found(),
            StoreError::Forbidden => ApiError::forbidden(),
            StoreError::Invalid(message) => ApiError::bad_request(message),
            StoreError::Storage(message) => ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                message,
            ),
        }
    }
}

/// Which chat operation a request path names.
#[derive(Debug, PartialEq)]
enum Route {
    Threads,
    Thread(String),
    Messages(String),
    Message(String, String),
    Participants(String),
    AddParticipants(String),
    RemoveParticipant(String),
    ReadReceipts(String),
    Typing(String),
}

fn decode_segment(seg: &str) -> Option<String> {
    let s = percent_decode(seg, false)?;
    (!s.is_empty()).then_some(s)
}

fn parse_route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/chat/threads")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Threads);
    }
    let rest = rest.strip_prefix('/')?;
    let segs: Vec<&str> = rest.split('/').collect();
    let tid = decode_segment(segs[0])?;
    let action = |s: &str| percent_decode(s, false);
    match segs.len() {
        1 => Some(Route::Thread(tid)),
        2 => match segs[1] {
            "messages" => Some(Route::Messages(tid)),
            "participants" => Some(Route::Participants(tid)),
            "readReceipts" => Some(Route::ReadReceipts(tid)),
            "typing" => Some(Route::Typing(tid)),
            _ => None,
        },
        3 => match (segs[1], action(segs[2]).as_deref()) {
            ("messages", _) => Some(Route::Message(tid, decode_segment(segs[2])?)),
            ("participants", Some(":add")) => Some(Route::AddParticipants(tid)),
            ("participants", Some(":remove")) => Some(Route::RemoveParticipant(tid)),
            _ => None,
        },
        _ => None,
    }
}

fn route_not_found(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "RouteNotFound",
        format!(
            "The emulator has no operation at {method} {}.",
            path.chars().take(200).collect::<String>()
        ),
    )
}

fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("The method {method} is not allowed on this resource."),
    )
}

/// Fallback handler: every chat route, and the explicit error for anything unknown.
pub(crate) async fn dispatch(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let Some(route) = parse_route(&path) else {
        return route_not_found(&parts.method, &path).into_response();
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "The request body is too large or could not be read.",
            )
            .into_response()
        }
    };
    match handle(
        &state,
        &parts.method,
        parts.uri.query(),
        &parts.headers,
        &body,
        route,
    ) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn handle(
    state: &AppState,
    method: &Method,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    route: Route,
) -> ApiResult {
    let query = Query::parse(raw_query)?;
    let version = require_version(&query)?;
    let caller = state.authenticate(headers)?;
    if let Some(throttled) = rate_limited(state, &route, method, &caller.user_id) {
        return Ok(throttled);
    }
    let ctx = Ctx {
        state,
        version,
        caller,
        query,
        headers,
        body,
    };
    let m = method.clone();
    match (route, m) {
        (Route::Threads, Method::POST) => threads::create(&ctx),
        (Route::Threads, Method::GET) => threads::list(&ctx),
        (Route::Thread(t), Method::GET) => threads::get(&ctx, &t),
        (Route::Thread(t), Method::PATCH) => threads::update(&ctx, &t),
        (Route::Thread(t), Method::DELETE) => threads::delete(&ctx, &t),
        (Route::Messages(t), Method::POST) => messages::send(&ctx, &t),
        (Route::Messages(t), Method::GET) => messages::list(&ctx, &t),
        (Route::Message(t, id), Method::GET) => messages::get(&ctx, &t, &id),
        (Route::Message(t, id), Method::PATCH) => messages::update(&ctx, &t, &id),
        (Route::Message(t, id), Method::DELETE) => messages::delete(&ctx, &t, &id),
        (Route::Participants(t), Method::GET) => participants::list(&ctx, &t),
        (Route::AddParticipants(t), Method::POST) => participants::add(&ctx, &t),
        (Route::RemoveParticipant(t), Method::POST) => participants::remove(&ctx, &t),
        (Route::ReadReceipts(t), Method::POST) => participants::send_receipt(&ctx, &t),
        (Route::ReadReceipts(t), Method::GET) => participants::list_receipts(&ctx, &t),
        (Route::Typing(t), Method::POST) => participants::typing(&ctx, &t),
        (_, m) => Err(method_not_allowed(&m)),
    }
}

/// The 429 of `--rate-limits` when this request is past its operation's rate.
fn rate_limited(state: &AppState, route: &Route, method: &Method, user: &str) -> Option<Response> {
    use crate::ratelimit::Op;
    let (op, thread) = match (route, method) {
        (Route::Threads, &Method::POST) => (Op::CreateThread, ""),
        (Route::Threads, &Method::GET) => (Op::GetThreads, ""),
        (Route::Thread(_), &Method::GET) => (Op::GetThreads, ""),
        (Route::Thread(t), &Method::PATCH) => (Op::UpdateThread, t.as_str()),
        (Route::Thread(_), &Method::DELETE) => (Op::DeleteThread, ""),
        (Route::Messages(t), &Method::POST) => (Op::SendMessage, t.as_str()),
        (Route::Messages(t), &Method::GET) => (Op::ListMessages, t.as_str()),
        (Route::Message(t, _), &Method::GET) => (Op::GetMessage, t.as_str()),
        (Route::Message(t, _), &Method::PATCH | &Method::DELETE) => (Op::SendMessage, t.as_str()),
        (Route::Participants(t), &Method::GET) => (Op::ListParticipants, t.as_str()),
        (Route::AddParticipants(t) | Route::RemoveParticipant(t), &Method::POST) => {
            (Op::Participants, t.as_str())
        }
        (Route::ReadReceipts(t), &Method::POST) => (Op::SendReadReceipt, t.as_str()),
        (Route::ReadReceipts(t), &Method::GET) => (Op::ListReadReceipts, t.as_str()),
        (Route::Typing(t), &Method::POST) => (Op::Typing, t.as_str()),
        _ => return None,
    };
    state.0.rate_limits.check(op, thread, user)
}

/// A 201 with a `Location` header.
pub(crate) fn created(body: &serde_json::Value, location: &str) -> Response {
    let mut resp = crate::wire::json_response(StatusCode::CREATED, body);
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    resp
}

pub(crate) use crate::wire::no_content;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_route_accepts_raw_and_encoded_thread_ids() {
        let raw = parse_route("/chat/threads/19:ab@thread.v2/messages");
        let enc = parse_route("/chat/threads/19%3Aab%40thread.v2/messages");
        assert_eq!(raw, Some(Route::Messages("19:ab@thread.v2".into())));
        assert_eq!(raw, enc);
        assert_eq!(
            parse_route("/chat/threads/19%3Aab%40thread.v2/participants/:add"),
            Some(Route::AddParticipants("19:ab@thread.v2".into()))
        );
    }

    #[test]
    fn parse_route_rejects_unknown_paths() {
        for p in [
            "/",
            "/chat",
            "/chat/threadsx",
            "/chat/threads//messages",
            "/chat/threads/x/nope",
            "/chat/threads/x/messages/1/extra",
            "/chat/threads/x/participants/:nope",
            "/chat/threads/%zz",
        ] {
            assert_eq!(parse_route(p), None, "{p}");
        }
    }
}
