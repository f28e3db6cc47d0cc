//! Thread operations: create, list, get, update, delete.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::paging::PageParams;
use super::{created, no_content, render, Ctx};
use crate::auth::ChatAccess;
use crate::store::{NewThread, Participant, ThreadPatch, ThreadProps};
use crate::wire::{
    encode_thread_id_for_location, json_response, parse_identifier, parse_object, parse_string_map,
    parse_time, ApiError, ApiResult,
};

/// Reads a `ChatRetentionPolicy` (`null` = none).
pub(crate) fn parse_retention(v: &Value) -> Result<Option<Value>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => match m.get("kind").and_then(Value::as_str) {
            Some("none") => Ok(None),
            Some("threadCreationDate") => {
                let days = m
                    .get("deleteThreadAfterDays")
                    .and_then(Value::as_i64)
                    .filter(|d| (1..=36_500).contains(d))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "retentionPolicy.deleteThreadAfterDays must be a positive integer.",
                        )
                    })?;
                Ok(Some(
                    json!({"kind": "threadCreationDate", "deleteThreadAfterDays": days}),
                ))
            }
            _ => Err(ApiError::bad_request(
                "retentionPolicy.kind must be 'threadCreationDate' or 'none'.",
            )),
        },
        _ => Err(ApiError::bad_request("retentionPolicy must be an object.")),
    }
}

/// Reads one `ChatParticipant` of a request.
pub(crate) fn parse_participant(v: &Value, ctx: &Ctx) -> Result<Participant, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("A participant must be an object."))?;
    let id = obj
        .get("communicationIdentifier")
        .and_then(parse_identifier)
        .ok_or_else(|| ApiError::bad_request("A participant needs a communicationIdentifier."))?;
    let display_name = match obj.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::bad_request("displayName must be a string.")),
    };
    let share_history_ms = match obj.get("shareHistoryTime") {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) => parse_time(s).ok_or_else(|| {
            ApiError::bad_request("shareHistoryTime must be an RFC 3339 date-time.")
        })?,
        Some(_) => return Err(ApiError::bad_request("shareHistoryTime must be a string.")),
    };
    let metadata = if ctx.version.has_thread_metadata() {
        parse_string_map(obj.get("metadata"), "Participant metadata")?
    } else {
        None
    };
    Ok(Participant {
        id,
        display_name,
        share_history_ms,
        metadata,
    })
}

/// Reads a request's `participants` array. The store refuses more than 200; counting first
/// here spares parsing a huge list that would be refused anyway.
pub(crate) fn parse_participants(list: &[Value], ctx: &Ctx) -> Result<Vec<Participant>, ApiError> {
    if list.len() > crate::store::MAX_PARTICIPANTS_PER_REQUEST {
        return Err(ApiError::bad_request(format!(
            "The number of participants in one request must not exceed \
             {}; this one has {}.",
            crate::store::MAX_PARTICIPANTS_PER_REQUEST,
            list.len()
        )));
    }
    list.iter().map(|p| parse_participant(p, ctx)).collect()
}

/// The error for a participant the resource never created.
pub(crate) fn invalid_participant(raw_id: &str) -> Value {
    json!({"target": raw_id, "code": "404", "message": "Not found"})
}

/// The `invalidParticipants` entries for raw ids the resource never created.
pub(crate) fn invalid_participants(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|id| invalid_participant(id)).collect())
}

fn create_result(t: &ThreadProps, invalid: &[String], ctx: &Ctx) -> ApiResult {
    let mut body = Map::new();
    body.insert("chatThread".into(), render::thread(t, ctx.version));
    if !invalid.is_empty() {
        body.insert("invalidParticipants".into(), invalid_participants(invalid));
    }
    let location = format!(
        "{}/chat/threads/{}",
        ctx.base(),
        encode_thread_id_for_location(&t.id)
    );
    Ok(created(&Value::Object(body), &location))
}

/// POST /chat/threads
pub(crate) fn create(ctx: &Ctx) -> ApiResult {
    if !ctx.caller.permits(ChatAccess::ManageThread) {
        return Err(ApiError::forbidden());
    }
    let body = parse_object(ctx.body, false)?;
    let topic = match body.get("topic") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(ApiError::bad_request("topic is required.")),
    };
    let participants = match body.get("participants") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => parse_participants(list, ctx)?,
        Some(_) => return Err(ApiError::bad_request("participants must be an array.")),
    };
    let (metadata, retention) = if ctx.version.has_thread_metadata() {
        let md = parse_string_map(body.get("metadata"), "Thread metadata")?;
        let rp = match body.get("retentionPolicy") {
            None => None,
            Some(v) => parse_retention(v)?,
        };
        (md, rp)
    } else {
        (None, None)
    };
    let key = ctx
        .headers
        .get("repeatability-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let new = NewThread {
        topic,
        participants,
        metadata,
        retention,
    };
    let done = ctx
        .store()
        .create_thread(&ctx.caller, new, key, &|id| ctx.state.user_exists(id))?;
    ctx.state.publish(&done.events);
    create_result(&done.thread, &done.invalid, ctx)
}

/// GET /chat/threads
pub(crate) fn list(ctx: &Ctx) -> ApiResult {
    let params = PageParams::parse(&ctx.query)?;
    let page = ctx
        .store()
        .list_threads(&ctx.caller.user_id, &params.listing());
    let value = page
        .items
        .iter()
        .map(|r| render::thread_item(&r.thread, r.last_activity_ms))
        .collect();
    let url = format!("{}/chat/threads", ctx.base());
    let body = params.snapshot_body(&url, page.snapshot, page.next, ctx.version, value);
    Ok(json_response(StatusCode::OK, &body))
}

/// GET /chat/threads/{id}
pub(crate) fn get(ctx: &Ctx, tid: &str) -> ApiResult {
    let t = ctx.store().get_thread(tid, &ctx.caller.user_id)?;
    Ok(json_response(
        StatusCode::OK,
        &render::thread(&t, ctx.version),
    ))
}

/// PATCH /chat/threads/{id} (merge-patch)
pub(crate) fn update(ctx: &Ctx, tid: &str) -> ApiResult {
    ctx.store()
        .authorize(tid, &ctx.caller, ChatAccess::ManageThread)?;
    let body = parse_object(ctx.body, true)?;
    let topic = match body.get("topic") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(_) => return Err(ApiError::bad_request("topic must be a non-empty string.")),
    };
    let v2025 = ctx.version.has_thread_metadata();
    let metadata = if v2025 {
        match body.get("metadata") {
            Some(Value::Null) => Some(None),
            other => parse_string_map(other, "Thread metadata")?.map(Some),
        }
    } else {
        None
    };
    let retention = match body.get("retentionPolicy") {
        Some(v) if v2025 => Some(parse_retention(v)?),
        _ => None,
    };
    let patch = ThreadPatch {
        topic,
        metadata,
        retention,
    };
    let events = ctx.store().update_thread(tid, &ctx.caller, patch)?;
    ctx.state.publish(&events);
    Ok(no_content())
}

/// DELETE /chat/threads/{id}
pub(crate) fn delete(ctx: &Ctx, tid: &str) -> ApiResult {
    let events = ctx.store().delete_thread(tid, &ctx.caller)?;
    ctx.state.publish(&events);
    Ok(no_content())
}
