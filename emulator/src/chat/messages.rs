//! Message operations: send, list, get, update, delete.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::paging::PageParams;
use super::{created, no_content, render, Ctx};
use crate::store::{MessagePatch, NewMessage};
use crate::wire::{
    encode_thread_id_for_location, json_response, parse_object, parse_string_map, ApiError,
    ApiResult,
};

/// POST …/messages
pub(crate) fn send(ctx: &Ctx, tid: &str) -> ApiResult {
    let me = &ctx.caller.user_id;
    ctx.store().get_thread(tid, me)?;
    let body = parse_object(ctx.body, false)?;
    let content = match body.get("content") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(ApiError::bad_request("content is required.")),
    };
    let sender_display_name = match body.get("senderDisplayName") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad_request("senderDisplayName must be a string.")),
    };
    let html = match body.get("type") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("text") => false,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("html") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "type must be 'text' or 'html' for messages sent by users.",
            ))
        }
    };
    let metadata = parse_string_map(body.get("metadata"), "Message metadata")?;
    let new = NewMessage {
        html,
        content,
        sender_display_name,
        metadata,
    };
    let (id, events) = ctx.store().send_message(tid, &ctx.caller, new)?;
    ctx.state.publish(&events);
    let location = format!(
        "{}/chat/threads/{}/messages/{id}",
        ctx.base(),
        encode_thread_id_for_location(tid)
    );
    Ok(created(&json!({"id": id.to_string()}), &location))
}

/// GET …/messages: newest `version` first, stable under concurrent writes (see `paging`).
pub(crate) fn list(ctx: &Ctx, tid: &str) -> ApiResult {
    let params = PageParams::parse(&ctx.query)?;
    let page = ctx
        .store()
        .list_messages(tid, &ctx.caller.user_id, &params.listing())?;
    let value = page
        .items
        .iter()
        .map(|m| render::message(m, ctx.version))
        .collect();
    let url = format!("{}/chat/threads/{tid}/messages", ctx.base());
    let body = params.snapshot_body(&url, page.snapshot, page.next, ctx.version, value);
    Ok(json_response(StatusCode::OK, &body))
}

/// GET …/messages/{id}
pub(crate) fn get(ctx: &Ctx, tid: &str, mid: &str) -> ApiResult {
    let m = ctx.store().get_message(tid, &ctx.caller.user_id, mid)?;
    Ok(json_response(
        StatusCode::OK,
        &render::message(&m, ctx.version),
    ))
}

/// PATCH …/messages/{id} (merge-patch)
pub(crate) fn update(ctx: &Ctx, tid: &str, mid: &str) -> ApiResult {
    ctx.store().get_thread(tid, &ctx.caller.user_id)?;
    let body = parse_object(ctx.body, true)?;
    let content = match body.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::bad_request("content must be a string.")),
    };
    let metadata = parse_string_map(body.get("metadata"), "Message metadata")?;
    let patch = MessagePatch { content, metadata };
    let events = ctx.store().update_message(tid, &ctx.caller, mid, patch)?;
    ctx.state.publish(&events);
    Ok(no_content())
}

/// DELETE …/messages/{id}
pub(crate) fn delete(ctx: &Ctx, tid: &str, mid: &str) -> ApiResult {
    let events = ctx.store().delete_message(tid, &ctx.caller, mid)?;
    ctx.state.publish(&events);
    Ok(no_content())
}
