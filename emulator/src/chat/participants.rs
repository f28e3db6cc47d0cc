//! Participants, read receipts and typing notifications.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::paging::PageParams;
use super::threads::{invalid_participants, parse_participants};
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
    let items = ctx
        .store()
        .participants(tid, &ctx.caller.user_id)?
        .iter()
        .map(|p| render::participant(p, ctx.version))
        .collect();
    offset_page(ctx, tid, "participants", items)
}

/// POST …/participants/:add
pub(crate) fn add(ctx: &Ctx, tid: &str) -> ApiResult {
    ctx.store()
        .authorize(tid, &ctx.caller, ChatAccess::ManageParticipants)?;
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
    let (invalid, events) = ctx
        .store()
        .add_participants(tid, &ctx.caller, wanted, &|id| ctx.state.user_exists(id))?;
    ctx.state.publish(&events);
    let body = if invalid.is_empty() {
        json!({})
    } else {
        json!({ "invalidParticipants": invalid_participants(&invalid) })
    };
    Ok(json_response(StatusCode::CREATED, &body))
}

/// POST …/participants/:remove (body: the bare identifier)
pub(crate) fn remove(ctx: &Ctx, tid: &str) -> ApiResult {
    ctx.store()
        .authorize(tid, &ctx.caller, ChatAccess::ManageParticipants)?;
    let body = parse_object(ctx.body, false)?;
    let who = parse_identifier(&Value::Object(body))
        .ok_or_else(|| ApiError::bad_request("The body must be a communication identifier."))?;
    let events = ctx.store().remove_participant(tid, &ctx.caller, &who)?;
    ctx.state.publish(&events);
    Ok(no_content())
}

/// POST …/readReceipts
pub(crate) fn send_receipt(ctx: &Ctx, tid: &str) -> ApiResult {
    ctx.store().get_thread(tid, &ctx.caller.user_id)?;
    let body = parse_object(ctx.body, false)?;
    let mid = match body.get("chatMessageId") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(ApiError::bad_request("chatMessageId is required.")),
    };
    let events = ctx.store().send_read_receipt(tid, &ctx.caller, &mid)?;
    ctx.state.publish(&events);
    Ok(empty_response(StatusCode::OK))
}

/// GET …/readReceipts
pub(crate) fn list_receipts(ctx: &Ctx, tid: &str) -> ApiResult {
    let items = ctx
        .store()
        .read_receipts(tid, &ctx.caller.user_id)?
        .iter()
        .map(|r| render::receipt(r, ctx.version))
        .collect();
    offset_page(ctx, tid, "readReceipts", items)
}

/// POST …/typing (body optional)
pub(crate) fn typing(ctx: &Ctx, tid: &str) -> ApiResult {
    ctx.store().get_thread(tid, &ctx.caller.user_id)?;
    let body = parse_object(ctx.body, true)?;
    let name = match body.get("senderDisplayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::bad_request("senderDisplayName must be a string.")),
    };
    let events = ctx.store().typing(tid, &ctx.caller, name)?;
    ctx.state.publish(&events);
    Ok(empty_response(StatusCode::OK))
}
