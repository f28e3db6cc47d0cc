//! JSON shapes of chat resources, per api-version.

use serde_json::{json, Map, Value};

use crate::store::{Content, Message, Participant, Receipt, ThreadProps};
use crate::wire::{format_time, identifier, Version};

/// `ChatThreadProperties`.
pub(crate) fn thread(t: &ThreadProps, v: Version) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(t.id.as_str()));
    m.insert("topic".into(), Value::from(t.topic.as_str()));
    m.insert("createdOn".into(), Value::from(format_time(t.created_ms)));
    m.insert(
        "createdByCommunicationIdentifier".into(),
        identifier(&t.created_by, v),
    );
    if let Some(d) = t.deleted_ms {
        m.insert("deletedOn".into(), Value::from(format_time(d)));
    }
    if v.has_thread_metadata() {
        if let Some(md) = &t.metadata {
            m.insert("metadata".into(), Value::Object(md.clone()));
        }
        m.insert(
            "retentionPolicy".into(),
            t.retention
                .clone()
                .unwrap_or_else(|| json!({"kind": "none"})),
        );
    }
    Value::Object(m)
}

/// `ChatThreadItem`.
pub(crate) fn thread_item(t: &ThreadProps, last_activity_ms: i64) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(t.id.as_str()));
    m.insert("topic".into(), Value::from(t.topic.as_str()));
    if let Some(d) = t.deleted_ms {
        m.insert("deletedOn".into(), Value::from(format_time(d)));
    }
    m.insert(
        "lastMessageReceivedOn".into(),
        Value::from(format_time(last_activity_ms)),
    );
    Value::Object(m)
}

/// `ChatParticipant`.
pub(crate) fn participant(p: &Participant, v: Version) -> Value {
    let mut m = Map::new();
    m.insert("communicationIdentifier".into(), identifier(&p.id, v));
    if let Some(n) = &p.display_name {
        m.insert("displayName".into(), Value::from(n.as_str()));
    }
    m.insert(
        "shareHistoryTime".into(),
        Value::from(format_time(p.share_history_ms)),
    );
    if v.has_thread_metadata() {
        if let Some(md) = &p.metadata {
            m.insert("metadata".into(), Value::Object(md.clone()));
        }
    }
    Value::Object(m)
}

/// `ChatMessage`.
pub(crate) fn message(msg: &Message, v: Version) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(msg.id.to_string()));
    let kind = match &msg.content {
        Content::User { html: false, .. } => "text",
        Content::User { html: true, .. } => "html",
        Content::Topic { .. } => "topicUpdated",
        Content::Members { added: true, .. } => "participantAdded",
        Content::Members { added: false, .. } => "participantRemoved",
    };
    m.insert("type".into(), Value::from(kind));
    m.insert(
        "sequenceId".into(),
        Value::from(msg.sequence_id.to_string()),
    );
    m.insert("version".into(), Value::from(msg.version.to_string()));
    let mut c = Map::new();
    match &msg.content {
        Content::User { message, .. } => {
            let text = if msg.deleted_ms.is_some() {
                ""
            } else {
                message.as_str()
            };
            c.insert("message".into(), Value::from(text));
            if v.has_attachments() {
                c.insert("attachments".into(), Value::Array(Vec::new()));
            }
        }
        Content::Topic { topic, initiator } => {
            c.insert("topic".into(), Value::from(topic.as_str()));
            c.insert(
                "initiatorCommunicationIdentifier".into(),
                identifier(initiator, v),
            );
        }
        Content::Members {
            participants,
            initiator,
            ..
        } => {
            c.insert(
                "participants".into(),
                Value::Array(participants.iter().map(|p| participant(p, v)).collect()),
            );
            c.insert(
                "initiatorCommunicationIdentifier".into(),
                identifier(initiator, v),
            );
        }
    }
    m.insert("content".into(), Value::Object(c));
    if let Some(sender) = &msg.sender {
        m.insert(
            "senderDisplayName".into(),
            Value::from(msg.sender_display_name.as_str()),
        );
        m.insert("createdOn".into(), Value::from(format_time(msg.id)));
        m.insert(
            "senderCommunicationIdentifier".into(),
            identifier(sender, v),
        );
    } else {
        m.insert("createdOn".into(), Value::from(format_time(msg.id)));
    }
    if let Some(d) = msg.deleted_ms {
        m.insert("deletedOn".into(), Value::from(format_time(d)));
    }
    if let Some(e) = msg.edited_ms {
        m.insert("editedOn".into(), Value::from(format_time(e)));
    }
    if let Some(md) = &msg.metadata {
        if !md.is_empty() {
            m.insert("metadata".into(), Value::Object(md.clone()));
        }
    }
    Value::Object(m)
}

/// `ChatMessageReadReceipt`.
pub(crate) fn receipt(r: &Receipt, v: Version) -> Value {
    json!({
        "senderCommunicationIdentifier": identifier(&r.user, v),
        "chatMessageId": r.message_id.to_string(),
        "readOn": format_time(r.read_ms),
    })
}
