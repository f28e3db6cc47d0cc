//! Message operations: send, list, get, update, delete.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::paging::{Cursor, PageParams};
use super::store::{lock, merge_metadata, Content, Message, Thread};
use super::{created, no_content, render, Ctx};
use crate::wire::{
    encode_thread_id_for_location, json_response, parse_object, parse_string_map, ApiError,
    ApiResult,
};

/// Whether `user` may see `m` (its `shareHistoryTime` hides older messages).
fn visible(t: &Thread, user: &str, m: &Message) -> bool {
    t.participant(user)
        .is_some_and(|p| m.id >= p.share_history_ms)
}

/// The most bytes (UTF-8) of content and sender display name together one message may hold:
/// the service's "28 KB" message size. Metadata has its own 1 KB limit.
pub(crate) const MAX_MESSAGE_BYTES: usize = 28 * 1024;

/// The service's 400 for a message above [`MAX_MESSAGE_BYTES`].
fn check_message_size(content: &str, sender_display_name: &str) -> Result<(), ApiError> {
    if content.len() + sender_display_name.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::bad_request("Message size exceeded."));
    }
    Ok(())
}

/// POST …/messages
pub(crate) fn send(ctx: &Ctx, tid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    let body = parse_object(ctx.body, false)?;
    let content = match body.get("content") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(ApiError::bad_request("content is required.")),
    };
    let display = match body.get("senderDisplayName") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad_request("senderDisplayName must be a string.")),
    };
    check_message_size(&content, &display)?;
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
    let store = &ctx.state.0.chat;
    let id = {
        let mut t = lock(&handle);
        t.push(
            &store.clock,
            Content::User {
                html,
                message: content,
            },
            Some(ctx.caller.user_id.clone()),
            display,
            metadata,
        )
    };
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
    let handle = ctx.thread(tid)?;
    let store = &ctx.state.0.chat;
    let t = lock(&handle);
    let snapshot = params
        .cursor
        .as_ref()
        .map_or_else(|| store.clock.current(), |c| c.snapshot);
    // Upper bound (exclusive) of the keys still to serve.
    let bound = match &params.cursor {
        Some(c) => (c.key, c.tie.parse::<i64>().unwrap_or(i64::MAX)),
        None => (i64::MAX, i64::MAX),
    };
    let me = ctx.caller.user_id.as_str();
    let wanted = |m: &Message| visible(&t, me, m) && params.start_ms.map_or(true, |s| m.id >= s);
    // Messages changed after the snapshot but created before it: listed where they were.
    let mut moved: Vec<(i64, i64, usize)> = Vec::new();
    for (&(_, id), &idx) in t.by_version.range((snapshot.saturating_add(1), i64::MIN)..) {
        if id > snapshot {
            continue;
        }
        let Some(m) = t.messages.get(idx) else {
            continue;
        };
        if let Some(v) = m.version_at(snapshot) {
            if (v, id) < bound && wanted(m) {
                moved.push((v, id, idx));
            }
        }
    }
    moved.sort_unstable_by_key(|m| std::cmp::Reverse((m.0, m.1)));
    let upper = bound.min((snapshot, i64::MAX));
    let mut current = t
        .by_version
        .range(..upper)
        .rev()
        .filter(|(_, &idx)| t.messages.get(idx).is_some_and(&wanted))
        .map(|(&(v, id), &idx)| (v, id, idx))
        .peekable();
    let mut moved = moved.into_iter().peekable();
    let mut page: Vec<(i64, i64, usize)> = Vec::with_capacity(params.max + 1);
    while page.len() <= params.max {
        let next = match (current.peek(), moved.peek()) {
            (Some(a), Some(b)) => {
                if (a.0, a.1) > (b.0, b.1) {
                    current.next()
                } else {
                    moved.next()
                }
            }
            (Some(_), None) => current.next(),
            (None, Some(_)) => moved.next(),
            (None, None) => None,
        };
        match next {
            Some(x) => page.push(x),
            None => break,
        }
    }
    let more = page.len() > params.max;
    page.truncate(params.max);
    let mut body = Map::new();
    let value: Vec<Value> = page
        .iter()
        .filter_map(|&(_, _, idx)| t.messages.get(idx).map(|m| render::message(m, ctx.version)))
        .collect();
    if more {
        if let Some(&(v, id, _)) = page.last() {
            let cursor = Cursor {
                snapshot,
                key: v,
                tie: id.to_string(),
            };
            body.insert(
                "nextLink".into(),
                Value::from(format!(
                    "{}/chat/threads/{}/messages?{}",
                    ctx.base(),
                    t.id,
                    params.next_query_cursor(&cursor, ctx.version.as_str())
                )),
            );
        }
    }
    body.insert("value".into(), Value::Array(value));
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

/// Index of message `mid` in `t`, if the caller may see it.
fn find(t: &Thread, me: &str, mid: &str) -> Result<usize, ApiError> {
    let id: i64 = mid.parse().map_err(|_| ApiError::message_not_found())?;
    let idx = *t.by_id.get(&id).ok_or_else(ApiError::message_not_found)?;
    match t.messages.get(idx) {
        Some(m) if visible(t, me, m) => Ok(idx),
        _ => Err(ApiError::message_not_found()),
    }
}

/// GET …/messages/{id}
pub(crate) fn get(ctx: &Ctx, tid: &str, mid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    let t = lock(&handle);
    let idx = find(&t, &ctx.caller.user_id, mid)?;
    let m = t
        .messages
        .get(idx)
        .ok_or_else(ApiError::message_not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &render::message(m, ctx.version),
    ))
}

/// The caller's own, not deleted, user message `mid`.
fn own_message(t: &Thread, ctx: &Ctx, mid: &str) -> Result<usize, ApiError> {
    let idx = find(t, &ctx.caller.user_id, mid)?;
    let m = t
        .messages
        .get(idx)
        .ok_or_else(ApiError::message_not_found)?;
    if m.sender.as_deref() != Some(ctx.caller.user_id.as_str()) {
        return Err(ApiError::forbidden());
    }
    Ok(idx)
}

/// PATCH …/messages/{id} (merge-patch)
pub(crate) fn update(ctx: &Ctx, tid: &str, mid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    let body = parse_object(ctx.body, true)?;
    let content = match body.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::bad_request("content must be a string.")),
    };
    let metadata = parse_string_map(body.get("metadata"), "Message metadata")?;
    let store = &ctx.state.0.chat;
    let mut t = lock(&handle);
    let idx = own_message(&t, ctx, mid)?;
    if t.messages.get(idx).is_some_and(|m| m.deleted_ms.is_some()) {
        return Err(ApiError::message_not_found());
    }
    if let (Some(c), Some(m)) = (&content, t.messages.get(idx)) {
        check_message_size(c, &m.sender_display_name)?;
    }
    if content.is_none() && metadata.is_none() {
        return Ok(no_content());
    }
    // Checked before the message changes, so a refused patch leaves it as it was.
    let metadata = match metadata {
        Some(patch) => {
            let current = t.messages.get(idx).and_then(|m| m.metadata.as_ref());
            Some(merge_metadata(current, patch, "Message metadata")?)
        }
        None => None,
    };
    let stamp = t.bump(&store.clock, idx);
    if let Some(m) = t.messages.get_mut(idx) {
        if let (Some(c), Content::User { message, .. }) = (content, &mut m.content) {
            *message = c;
        }
        if let Some(md) = metadata {
            m.metadata = Some(md);
        }
        m.edited_ms = Some(stamp);
    }
    Ok(no_content())
}

/// DELETE …/messages/{id}
pub(crate) fn delete(ctx: &Ctx, tid: &str, mid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    let store = &ctx.state.0.chat;
    let mut t = lock(&handle);
    let idx = own_message(&t, ctx, mid)?;
    if t.messages.get(idx).is_some_and(|m| m.deleted_ms.is_some()) {
        // A repeated delete (e.g. a retry) succeeds again and changes nothing.
        return Ok(no_content());
    }
    let stamp = t.bump(&store.clock, idx);
    if let Some(m) = t.messages.get_mut(idx) {
        m.deleted_ms = Some(stamp);
    }
    Ok(no_content())
}
