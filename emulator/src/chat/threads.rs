//! Thread operations: create, list, get, update, delete.

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::paging::{Cursor, PageParams};
use super::store::{lock, merge_metadata, Content, Participant, Thread};
use super::{created, no_content, render, Ctx};
use crate::auth::ChatAccess;
use crate::wire::{
    encode_thread_id_for_location, json_response, parse_identifier, parse_object, parse_string_map,
    parse_time, ApiError, ApiResult,
};

/// `19:` + 44 characters + `@thread.v2`, like the service's ids.
fn new_thread_id() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("19:{}1@thread.v2", URL_SAFE_NO_PAD.encode(&bytes))
}

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

/// The most participants one create-thread or add-participants request may carry (the
/// service's documented batch limit).
pub(crate) const MAX_PARTICIPANTS_PER_REQUEST: usize = 200;

/// Reads a request's `participants` array, refusing more than
/// [`MAX_PARTICIPANTS_PER_REQUEST`] before parsing any of them.
pub(crate) fn parse_participants(list: &[Value], ctx: &Ctx) -> Result<Vec<Participant>, ApiError> {
    if list.len() > MAX_PARTICIPANTS_PER_REQUEST {
        return Err(ApiError::bad_request(format!(
            "The number of participants in one request must not exceed \
             {MAX_PARTICIPANTS_PER_REQUEST}; this one has {}.",
            list.len()
        )));
    }
    list.iter().map(|p| parse_participant(p, ctx)).collect()
}

/// Splits `wanted` into participants to add and errors for users the resource never created,
/// each id once (the first occurrence wins), skipping ids in `present`. Linear: one hash
/// lookup per participant.
pub(crate) fn sort_participants(
    ctx: &Ctx,
    wanted: Vec<Participant>,
    present: &mut std::collections::HashSet<String>,
) -> (Vec<Participant>, Vec<Value>) {
    let mut seen_invalid = std::collections::HashSet::new();
    let mut members = Vec::new();
    let mut invalid = Vec::new();
    for p in wanted {
        if !ctx.state.user_exists(&p.id) {
            if seen_invalid.insert(p.id.clone()) {
                invalid.push(invalid_participant(&p.id));
            }
        } else if present.insert(p.id.clone()) {
            members.push(p);
        }
    }
    (members, invalid)
}

/// The error for a participant the resource never created.
pub(crate) fn invalid_participant(raw_id: &str) -> Value {
    json!({"target": raw_id, "code": "404", "message": "Not found"})
}

fn create_result(t: &Thread, invalid: &[Value], ctx: &Ctx) -> ApiResult {
    let mut body = Map::new();
    body.insert("chatThread".into(), render::thread(t, ctx.version));
    if !invalid.is_empty() {
        body.insert("invalidParticipants".into(), Value::Array(invalid.to_vec()));
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
    let wanted = match body.get("participants") {
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
    let store = &ctx.state.0.chat;
    let me = ctx.caller.user_id.clone();
    let key = ctx
        .headers
        .get("repeatability-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .map(|s| (me.clone(), s.to_string()));
    // Held across the creation so two concurrent requests with one id create one thread.
    let mut idem = lock(&store.idempotency);
    if let Some(k) = &key {
        if let Some((tid, invalid)) = idem.get(k) {
            if let Some(handle) = store.get(tid) {
                let t = lock(&handle);
                return create_result(&t, invalid, ctx);
            }
        }
    }
    let mut present = std::collections::HashSet::new();
    let (mut members, invalid) = sort_participants(ctx, wanted, &mut present);
    if !present.contains(&me) {
        members.insert(
            0,
            Participant {
                id: me.clone(),
                display_name: None,
                share_history_ms: 0,
                metadata: None,
            },
        );
    }
    let created_ms = store.clock.next();
    let mut thread = Thread::new(new_thread_id(), topic.clone(), created_ms, me.clone());
    thread.metadata = metadata;
    thread.retention = retention;
    thread.participants = members.clone();
    thread.push(
        &store.clock,
        Content::Members {
            added: true,
            participants: members,
            initiator: me.clone(),
        },
        None,
        String::new(),
        None,
    );
    thread.push(
        &store.clock,
        Content::Topic {
            topic,
            initiator: me,
        },
        None,
        String::new(),
        None,
    );
    let result = create_result(&thread, &invalid, ctx);
    if let Some(k) = key {
        idem.insert(k, (thread.id.clone(), invalid));
    }
    store.insert(thread);
    result
}

/// GET /chat/threads
pub(crate) fn list(ctx: &Ctx) -> ApiResult {
    let params = PageParams::parse(&ctx.query)?;
    let store = &ctx.state.0.chat;
    let snapshot = params
        .cursor
        .as_ref()
        .map_or_else(|| store.clock.current(), |c| c.snapshot);
    let me = &ctx.caller.user_id;
    let mut rows: Vec<(i64, String, Value)> = Vec::new();
    for handle in store.all() {
        let t = lock(&handle);
        if t.deleted_ms.is_some() || t.created_ms > snapshot || t.participant(me).is_none() {
            continue;
        }
        let key = t.activity_at(snapshot);
        if params.start_ms.is_some_and(|s| key < s) {
            continue;
        }
        if let Some(c) = &params.cursor {
            if (key, t.id.as_str()) >= (c.key, c.tie.as_str()) {
                continue;
            }
        }
        rows.push((key, t.id.clone(), render::thread_item(&t)));
    }
    rows.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    let more = rows.len() > params.max;
    rows.truncate(params.max);
    let mut body = Map::new();
    if more {
        if let Some((key, id, _)) = rows.last() {
            let cursor = Cursor {
                snapshot,
                key: *key,
                tie: id.clone(),
            };
            body.insert(
                "nextLink".into(),
                Value::from(format!(
                    "{}/chat/threads?{}",
                    ctx.base(),
                    params.next_query_cursor(&cursor, ctx.version.as_str())
                )),
            );
        }
    }
    body.insert(
        "value".into(),
        Value::Array(rows.into_iter().map(|r| r.2).collect()),
    );
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

/// GET /chat/threads/{id}
pub(crate) fn get(ctx: &Ctx, tid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    let t = lock(&handle);
    Ok(json_response(
        StatusCode::OK,
        &render::thread(&t, ctx.version),
    ))
}

/// PATCH /chat/threads/{id} (merge-patch)
pub(crate) fn update(ctx: &Ctx, tid: &str) -> ApiResult {
    let handle = ctx.thread(tid)?;
    if !ctx.caller.permits(ChatAccess::ManageThread) {
        return Err(ApiError::forbidden());
    }
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
    let store = &ctx.state.0.chat;
    let mut t = lock(&handle);
    // Checked before anything changes, so a refused patch leaves the thread as it was.
    let metadata = match metadata {
        None => None,
        Some(None) => Some(None),
        Some(Some(patch)) => Some(Some(merge_metadata(
            t.metadata.as_ref(),
            patch,
            "Thread metadata",
        )?)),
    };
    if let Some(md) = metadata {
        t.metadata = md;
    }
    if let Some(r) = retention {
        t.retention = r;
    }
    if let Some(topic) = topic {
        t.topic = topic.clone();
        let initiator = ctx.caller.user_id.clone();
        t.push(
            &store.clock,
            Content::Topic { topic, initiator },
            None,
            String::new(),
            None,
        );
    }
    Ok(no_content())
}

/// DELETE /chat/threads/{id}
pub(crate) fn delete(ctx: &Ctx, tid: &str) -> ApiResult {
    let store = &ctx.state.0.chat;
    let handle = store.get(tid).ok_or_else(ApiError::thread_not_found)?;
    let mut t = lock(&handle);
    // The same checks as for a live thread, so a deleted thread tells no one more than a live
    // one would.
    if t.participant(&ctx.caller.user_id).is_none() {
        return Err(ApiError::forbidden());
    }
    if !ctx.caller.permits(ChatAccess::ManageThread) {
        return Err(ApiError::forbidden());
    }
    if t.deleted_ms.is_some() {
        // A repeated delete (e.g. a retry) succeeds again.
        return Ok(no_content());
    }
    t.deleted_ms = Some(store.clock.next());
    t.free_contents();
    Ok(no_content())
}
