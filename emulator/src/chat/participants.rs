//! Participants, read receipts and typing notifications.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::paging::PageParams;
use super::store::{lock, Content, Receipt};
use super::threads::{parse_participants, sort_participants};
use super::{no_content, render, Ctx};
use crate::auth::ChatAccess;
use crate::wire::{
    empty_response, json_response, parse_identifier, parse_object, ApiError, ApiResult,
};

/// Offset paging over `items` (participants and read receipts page by `skip`, like the service).
fn offset_page(ctx: &Ctx, tid: &str, what: &str, items: Vec<Value>) -> ApiResult {
    let params = PageParams::parse(&ctx.query)?;
    let total = items.len();
    let start = params.skip.min(total);
    let end = start.saturating_add(params.max).min(total);
    let mut body = Map::new();
    if end < total {
        body.insert(
            "nextLink".into(),
            Value::from(format!(
                "{}/chat/threads/{tid}/{what}?{}",
                ctx.base(),
                params.next_query_skip(end, ctx.version.as_str())
            )),
        );
    }
    let page: Vec<Value> = items.into_iter().skip(start).take(end - start).collect();
    body.insert("value".into(), Value::Array(page));
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

/// GET …/participants
pub(crate) fn list(ctx: &Ctx, tid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    let (id, items) = {
        let t = lock(&handle);
        let items = t
            .participants
            .iter()
            .map(|p| render::participant(p, ctx.version))
            .collect();
        (t.id.clone(), items)
    };
    offset_page(ctx, &id, "participants", items)
}

/// POST …/participants/:add
pub(crate) fn add(ctx: &Ctx, tid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    if !ctx.caller.permits(ChatAccess::ManageParticipants) {
        return Err(ApiError::forbidden());
    }
    let body = parse_object(ctx.body, false)?;
    let list = match body.get("participants") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => {
            return Err(ApiError::bad_request(
                "participants is required and must not be empty.",
            ))
        }
    };
    let wanted = parse_participants(list, ctx)?;
    let store = &ctx.state.0.chat;
    let mut t = lock(&handle);
    // Adding someone already in the thread changes nothing.
    let mut present = t.participants.iter().map(|p| p.id.clone()).collect();
    let (added, invalid) = sort_participants(ctx, wanted, &mut present);
    t.participants.extend(added.iter().cloned());
    if !added.is_empty() {
        let initiator = ctx.caller.user_id.clone();
        t.push(
            &store.clock,
            Content::Members {
                added: true,
                participants: added,
                initiator,
            },
            None,
            String::new(),
            None,
        );
    }
    let body = if invalid.is_empty() {
        json!({})
    } else {
        json!({ "invalidParticipants": invalid })
    };
    Ok(json_response(StatusCode::CREATED, &body))
}

/// POST …/participants/:remove (body: the bare identifier)
pub(crate) fn remove(ctx: &Ctx, tid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    if !ctx.caller.permits(ChatAccess::ManageParticipants) {
        return Err(ApiError::forbidden());
    }
    let body = parse_object(ctx.body, false)?;
    let who = parse_identifier(&Value::Object(body))
        .ok_or_else(|| ApiError::bad_request("The body must be a communication identifier."))?;
    let store = &ctx.state.0.chat;
    let mut t = lock(&handle);
    // Removing someone who is not (or no longer) a participant succeeds and changes nothing,
    // so a retried remove is harmless.
    if let Some(pos) = t.participants.iter().position(|p| p.id == who) {
        let p = t.participants.remove(pos);
        let initiator = ctx.caller.user_id.clone();
        t.push(
            &store.clock,
            Content::Members {
                added: false,
                participants: vec![p],
                initiator,
            },
            None,
            String::new(),
            None,
        );
    }
    Ok(no_content())
}

/// POST …/readReceipts
pub(crate) fn send_receipt(ctx: &Ctx, tid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    let body = parse_object(ctx.body, false)?;
    let mid = match body.get("chatMessageId") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(ApiError::bad_request("chatMessageId is required.")),
    };
    let id: i64 = mid.parse().map_err(|_| ApiError::message_not_found())?;
    let store = &ctx.state.0.chat;
    let mut t = lock(&handle);
    if !t.by_id.contains_key(&id) {
        return Err(ApiError::message_not_found());
    }
    let now = store.clock.next();
    let me = &ctx.caller.user_id;
    // Only the latest receipt per user is kept.
    match t.receipts.iter_mut().find(|r| &r.user == me) {
        Some(r) => {
            r.message_id = id;
            r.read_ms = now;
        }
        None => t.receipts.push(Receipt {
            user: me.clone(),
            message_id: id,
            read_ms: now,
        }),
    }
    Ok(empty_response(StatusCode::OK))
}

/// GET …/readReceipts
pub(crate) fn list_receipts(ctx: &Ctx, tid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    let (id, items) = {
        let t = lock(&handle);
        let items = t
            .receipts
            .iter()
            .map(|r| render::receipt(r, ctx.version))
            .collect();
        (t.id.clone(), items)
    };
    offset_page(ctx, &id, "readReceipts", items)
}

/// POST …/typing (body optional)
pub(crate) fn typing(ctx: &Ctx, tid: &str) -> ApiResult {
    let _thread = ctx.thread(tid)?;
    let body = parse_object(ctx.body, true)?;
    match body.get("senderDisplayName") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => return Err(ApiError::bad_request("senderDisplayName must be a string.")),
    }
    Ok(empty_response(StatusCode::OK))
}
