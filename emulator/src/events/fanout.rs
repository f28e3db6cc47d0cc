//! What the service publishes for one domain event, and to whom: the thread-level event once,
//! and the user-level event once per participant except the actor
//! (`../shared/eventgrid/DELIVERY.md` §7 and §8). Each event comes out as an Event Grid schema
//! object; `envelope` turns it into a CloudEvent when a subscription asks for that schema.
//!
//! Data fields follow the spec (`AcsChat*EventData` in the TypeSpec) and keep the legacy
//! string ids the samples carry (`senderId`, `recipientId`, `createdBy`, …), so receivers
//! built on either decode them. Read receipts have no Event Grid type and publish nothing.

use serde_json::{json, Map, Value};

use crate::store::{ChatEvent, EventKind, MessageSnapshot, Participant, ThreadProps};
use crate::wire::{format_time_millis, identifier, Version};

/// The `Microsoft.Communication.` prefix of every ACS event type.
const PREFIX: &str = "Microsoft.Communication.";

/// Which events a domain event publishes, as Event Grid schema objects (`id`, `topic`,
/// `subject`, `data`, `eventType`, `dataVersion`, `metadataVersion`, `eventTime`), thread-level
/// first. One `transactionId` is shared by every event of one operation.
pub(crate) fn publish(e: &ChatEvent, topic: &str) -> Vec<Value> {
    let tx = transaction_id();
    let tid = e.thread_id.as_str();
    let actor = e.actor.as_str();
    let mut out = Vec::new();
    let mut thread_event = |name: &str, subject: String, data: Map<String, Value>| {
        out.push(envelope(
            name,
            topic,
            subject,
            e.time_ms,
            base(data, tid, &tx),
        ));
    };
    match &e.kind {
        EventKind::MessageReceived(m) => {
            thread_event(
                "ChatMessageReceivedInThread",
                format!("thread/{tid}/sender/{actor}"),
                message_data(m, actor, true),
            );
            for r in e.user_recipients() {
                out.push(per_user(
                    e,
                    "ChatMessageReceived",
                    "sender",
                    r,
                    topic,
                    &tx,
                    message_data(m, actor, true),
                ));
            }
        }
        EventKind::MessageEdited(m) => {
            let data = || {
                let mut d = message_data(m, actor, true);
                d.insert("editTime".into(), time(e.time_ms));
                d
            };
            thread_event(
                "ChatMessageEditedInThread",
                format!("thread/{tid}/sender/{actor}"),
                data(),
            );
            for r in e.user_recipients() {
                out.push(per_user(
                    e,
                    "ChatMessageEdited",
                    "sender",
                    r,
                    topic,
                    &tx,
                    data(),
                ));
            }
        }
        EventKind::MessageDeleted(m) => {
            let data = || {
                let mut d = message_data(m, actor, false);
                d.insert("deleteTime".into(), time(e.time_ms));
                d
            };
            thread_event(
                "ChatMessageDeletedInThread",
                format!("thread/{tid}/sender/{actor}"),
                data(),
            );
            for r in e.user_recipients() {
                out.push(per_user(
                    e,
                    "ChatMessageDeleted",
                    "sender",
                    r,
                    topic,
                    &tx,
                    data(),
                ));
            }
        }
        EventKind::ThreadCreated {
            properties,
            participants,
        } => {
            let data = || {
                let mut d = Map::new();
                d.insert("createdBy".into(), Value::from(actor));
                d.insert("createdByCommunicationIdentifier".into(), ident(actor));
                d.insert("createTime".into(), time(properties.created_ms));
                d.insert("version".into(), Value::from(e.version));
                insert_properties(&mut d, properties);
                d.insert(
                    "participants".into(),
                    participants.iter().map(participant).collect(),
                );
                d
            };
            thread_event(
                "ChatThreadCreated",
                format!("thread/{tid}/createdBy/{actor}"),
                data(),
            );
            for r in e.user_recipients() {
                out.push(per_user(
                    e,
                    "ChatThreadCreatedWithUser",
                    "createdBy",
                    r,
                    topic,
                    &tx,
                    data(),
                ));
            }
        }
        EventKind::ThreadDeleted => {
            let data = || {
                let mut d = Map::new();
                d.insert("deletedBy".into(), Value::from(actor));
                d.insert("deletedByCommunicationIdentifier".into(), ident(actor));
                d.insert("deleteTime".into(), time(e.time_ms));
                d.insert("createTime".into(), time(e.thread_created_ms));
                d.insert("version".into(), Value::from(e.version));
                d
            };
            thread_event(
                "ChatThreadDeleted",
                format!("thread/{tid}/deletedBy/{actor}"),
                data(),
            );
            for r in e.user_recipients() {
                out.push(per_user(
                    e,
                    "ChatThreadWithUserDeleted",
                    "deletedBy",
                    r,
                    topic,
                    &tx,
                    data(),
                ));
            }
        }
        EventKind::ThreadPropertiesUpdated { properties } => {
            let data = || {
                let mut d = Map::new();
                d.insert("editedBy".into(), Value::from(actor));
                d.insert("editedByCommunicationIdentifier".into(), ident(actor));
                d.insert("editTime".into(), time(e.time_ms));
                d.insert("createTime".into(), time(properties.created_ms));
                d.insert("version".into(), Value::from(e.version));
                insert_properties(&mut d, properties);
                d
            };
            thread_event(
                "ChatThreadPropertiesUpdated",
                format!("thread/{tid}/editedBy/{actor}"),
                data(),
            );
            for r in e.user_recipients() {
                out.push(per_user(
                    e,
                    "ChatThreadPropertiesUpdatedPerUser",
                    "editedBy",
                    r,
                    topic,
                    &tx,
                    data(),
                ));
            }
        }
        EventKind::ParticipantAdded { participant: p } => {
            let data = || member_data(e, "addedBy", "participantAdded", p);
            thread_event(
                "ChatThreadParticipantAdded",
                format!("thread/{tid}/participantadded/{}", p.id),
                data(),
            );
            for r in e.user_recipients() {
                let mut ev = per_user(
                    e,
                    "ChatParticipantAddedToThreadWithUser",
                    "participantAdded",
                    r,
                    topic,
                    &tx,
                    data(),
                );
                ev["subject"] = Value::from(format!(
                    "thread/{tid}/participantAdded/{}/recipient/{r}",
                    p.id
                ));
                out.push(ev);
            }
        }
        EventKind::ParticipantRemoved { participant: p } => {
            let data = || member_data(e, "removedBy", "participantRemoved", p);
            thread_event(
                "ChatThreadParticipantRemoved",
                format!("thread/{tid}/participantremoved/{}", p.id),
                data(),
            );
            for r in e.user_recipients() {
                let mut ev = per_user(
                    e,
                    "ChatParticipantRemovedFromThreadWithUser",
                    "participantRemoved",
                    r,
                    topic,
                    &tx,
                    data(),
                );
                ev["subject"] = Value::from(format!(
                    "thread/{tid}/participantRemoved/{}/recipient/{r}",
                    p.id
                ));
                out.push(ev);
            }
        }
        EventKind::Typing {
            sender_display_name,
        } => {
            let mut d = Map::new();
            d.insert("senderCommunicationIdentifier".into(), ident(actor));
            if let Some(name) = sender_display_name {
                d.insert("senderDisplayName".into(), Value::from(name.as_str()));
            }
            d.insert("version".into(), Value::from(e.version));
            thread_event(
                "ChatTypingIndicatorReceivedInThread",
                format!("thread/{tid}/sender/{actor}"),
                d,
            );
        }
        EventKind::ReadReceipt { .. } => {}
    }
    out
}

/// A user-level event for `recipient`, subject `thread/{id}/{role}/{actor}/recipient/{raw}`.
fn per_user(
    e: &ChatEvent,
    name: &str,
    role: &str,
    recipient: &str,
    topic: &str,
    tx: &str,
    mut data: Map<String, Value>,
) -> Value {
    let tid = &e.thread_id;
    data.insert("recipientId".into(), Value::from(recipient));
    data.insert("recipientCommunicationIdentifier".into(), ident(recipient));
    let subject = format!("thread/{tid}/{role}/{}/recipient/{recipient}", e.actor);
    envelope(name, topic, subject, e.time_ms, base(data, tid, tx))
}

/// Adds `threadId` and `transactionId`, which every chat event carries.
fn base(mut data: Map<String, Value>, tid: &str, tx: &str) -> Map<String, Value> {
    data.insert("threadId".into(), Value::from(tid));
    data.insert("transactionId".into(), Value::from(tx));
    data
}

fn envelope(
    name: &str,
    topic: &str,
    subject: String,
    time_ms: i64,
    data: Map<String, Value>,
) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "topic": topic,
        "subject": subject,
        "data": Value::Object(data),
        "eventType": format!("{PREFIX}{name}"),
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": format_time_millis(time_ms),
    })
}

/// The fields of a message event; `with_body` false for deletions (no `messageBody`).
fn message_data(m: &MessageSnapshot, sender: &str, with_body: bool) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("messageId".into(), Value::from(m.id.to_string()));
    d.insert("senderId".into(), Value::from(sender));
    d.insert("senderCommunicationIdentifier".into(), ident(sender));
    d.insert(
        "senderDisplayName".into(),
        Value::from(m.sender_display_name.as_str()),
    );
    d.insert("composeTime".into(), time(m.compose_ms));
    d.insert(
        "type".into(),
        Value::from(if m.html { "Html" } else { "Text" }),
    );
    d.insert("version".into(), Value::from(m.version));
    d.insert("sequenceId".into(), Value::from(m.sequence_id));
    if with_body {
        d.insert("messageBody".into(), Value::from(m.body.as_str()));
        if let Some(meta) = &m.metadata {
            d.insert("metadata".into(), Value::Object(meta.clone()));
        }
    }
    d
}

/// `properties` (the topic), `metadata` and `retentionPolicy` of a thread.
fn insert_properties(d: &mut Map<String, Value>, p: &ThreadProps) {
    d.insert("properties".into(), json!({ "topic": p.topic }));
    d.insert(
        "metadata".into(),
        Value::Object(p.metadata.clone().unwrap_or_default()),
    );
    if let Some(r) = &p.retention {
        d.insert("retentionPolicy".into(), r.clone());
    }
}

/// `time`, who did it, the participant and the thread's create time of a membership event.
fn member_data(e: &ChatEvent, by: &str, field: &str, p: &Participant) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("time".into(), time(e.time_ms));
    d.insert(format!("{by}CommunicationIdentifier"), ident(&e.actor));
    d.insert(field.into(), participant(p));
    d.insert("createTime".into(), time(e.thread_created_ms));
    d.insert("version".into(), Value::from(e.version));
    d
}

/// A `AcsChatThreadParticipant`: display name, identifier, metadata.
fn participant(p: &Participant) -> Value {
    let mut m = Map::new();
    if let Some(name) = &p.display_name {
        m.insert("displayName".into(), Value::from(name.as_str()));
    }
    m.insert("participantCommunicationIdentifier".into(), ident(&p.id));
    if let Some(meta) = &p.metadata {
        m.insert("metadata".into(), Value::Object(meta.clone()));
    }
    Value::Object(m)
}

/// A `CommunicationIdentifierModel` (`rawId` + `communicationUser`), as the samples show it.
fn ident(raw: &str) -> Value {
    // The 2021 shape: no `kind`, as in every sample.
    identifier(raw, Version::V2021_09_07)
}

fn time(ms: i64) -> Value {
    Value::from(format_time_millis(ms))
}

/// A correlation id shaped like the service's (`base64.1.1.1.1.digits.1`).
fn transaction_id() -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let u = uuid::Uuid::new_v4();
    let b = u.as_bytes();
    let digits = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    format!(
        "{}.1.1.1.1.{digits}.1",
        STANDARD.encode(&b[..16]).trim_end_matches('=')
    )
}
