//! `ChatMessage` and its content, type and send result.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::attachment::ChatAttachment;
use super::identifier::{CommunicationIdentifier, IdentifierJson, WireIdentifier};
use super::participant::ChatParticipant;
use super::time;

/// The type of a chat message. Users send `Text` or `Html`; the service adds system messages
/// of the other types.
///
/// ```
/// use acs_chat::ChatMessageType;
/// let t: ChatMessageType = "text".parse().unwrap();
/// assert_eq!(t, ChatMessageType::Text);
/// assert_eq!(ChatMessageType::TopicUpdated.to_string(), "topicUpdated");
/// assert_eq!("poll".parse::<ChatMessageType>().unwrap(), ChatMessageType::Unknown("poll".into()));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChatMessageType {
    /// Plain text (`"text"`), the default.
    #[default]
    Text,
    /// HTML (`"html"`).
    Html,
    /// The thread's topic changed (`"topicUpdated"`, system message).
    TopicUpdated,
    /// Participants joined (`"participantAdded"`, system message).
    ParticipantAdded,
    /// Participants left or were removed (`"participantRemoved"`, system message).
    ParticipantRemoved,
    /// A type this version of the crate does not know, as the service named it.
    Unknown(String),
}

impl ChatMessageType {
    /// The wire name (`"text"`, `"html"`, `"topicUpdated"`, …).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Text => "text",
            Self::Html => "html",
            Self::TopicUpdated => "topicUpdated",
            Self::ParticipantAdded => "participantAdded",
            Self::ParticipantRemoved => "participantRemoved",
            Self::Unknown(s) => s,
        }
    }
}

impl fmt::Display for ChatMessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChatMessageType {
    type Err = std::convert::Infallible;

    /// Never fails: names this crate does not know become `Unknown`. Matching is exact, as on
    /// the wire.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "text" => Self::Text,
            "html" => Self::Html,
            "topicUpdated" => Self::TopicUpdated,
            "participantAdded" => Self::ParticipantAdded,
            "participantRemoved" => Self::ParticipantRemoved,
            other => Self::Unknown(other.to_owned()),
        })
    }
}

impl From<&str> for ChatMessageType {
    fn from(s: &str) -> Self {
        let Ok(t) = s.parse();
        t
    }
}

impl Serialize for ChatMessageType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ChatMessageType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from(String::deserialize(d)?.as_str()))
    }
}

/// What a message carries: text for user messages, a topic or participants for system messages.
///
/// ```
/// use acs_chat::models::ChatMessageContent;
/// let c: ChatMessageContent = serde_json::from_str(
///     r#"{"topic":"Lunch","initiatorCommunicationIdentifier":{"rawId":"8:acs:r_u"}}"#,
/// )?;
/// assert_eq!(c.topic.as_deref(), Some("Lunch"));
/// assert_eq!(c.initiator.unwrap().raw_id(), "8:acs:r_u");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ContentWire", into = "ContentWire")]
pub struct ChatMessageContent {
    /// The text of a `text` or `html` message (empty once the message is deleted).
    pub message: Option<String>,
    /// The new topic, in a `topicUpdated` message.
    pub topic: Option<String>,
    /// Who joined or left, in a `participantAdded` or `participantRemoved` message.
    pub participants: Option<Vec<ChatParticipant>>,
    /// Images and files (Teams interop only).
    pub attachments: Option<Vec<ChatAttachment>>,
    /// Who caused a system message.
    pub initiator: Option<CommunicationIdentifier>,
    /// Fields this version of the crate does not know, kept as received.
    pub additional_properties: Map<String, Value>,
    wire_initiator: WireIdentifier,
}

impl fmt::Debug for ChatMessageContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatMessageContent")
            .field("message", &self.message)
            .field("topic", &self.topic)
            .field("participants", &self.participants)
            .field("attachments", &self.attachments)
            .field("initiator", &self.initiator)
            .field("additional_properties", &self.additional_properties)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContentWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    participants: Option<Vec<ChatParticipant>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attachments: Option<Vec<ChatAttachment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    initiator_communication_identifier: Option<IdentifierJson>,
    #[serde(flatten)]
    additional_properties: Map<String, Value>,
}

impl TryFrom<ContentWire> for ChatMessageContent {
    type Error = String;

    fn try_from(w: ContentWire) -> Result<Self, String> {
        let (initiator, wire_initiator) = decode_optional(w.initiator_communication_identifier)?;
        Ok(ChatMessageContent {
            message: w.message,
            topic: w.topic,
            participants: w.participants,
            attachments: w.attachments,
            initiator,
            additional_properties: w.additional_properties,
            wire_initiator,
        })
    }
}

impl From<ChatMessageContent> for ContentWire {
    fn from(c: ChatMessageContent) -> Self {
        ContentWire {
            message: c.message,
            topic: c.topic,
            participants: c.participants,
            attachments: c.attachments,
            initiator_communication_identifier: c
                .initiator
                .as_ref()
                .map(|id| c.wire_initiator.encode(id)),
            additional_properties: c.additional_properties,
        }
    }
}

pub(crate) fn decode_optional(
    model: Option<IdentifierJson>,
) -> Result<(Option<CommunicationIdentifier>, WireIdentifier), String> {
    match model {
        Some(model) => {
            let (id, wire) = WireIdentifier::decode(model)?;
            Ok((Some(id), wire))
        }
        None => Ok((None, WireIdentifier::default())),
    }
}

/// A message in a chat thread, as the service returns it.
///
/// ```
/// use acs_chat::{ChatMessage, ChatMessageType};
///
/// let json = r#"{"id":"1717632209847","type":"text","sequenceId":"4","version":"1717632209847",
///     "content":{"message":"hello","attachments":[]},"senderDisplayName":"",
///     "createdOn":"2024-06-06T00:03:29Z",
///     "senderCommunicationIdentifier":{"rawId":"8:acs:r_u","communicationUser":{"id":"8:acs:r_u"}}}"#;
/// let message: ChatMessage = serde_json::from_str(json)?;
/// assert_eq!(message.message_type, ChatMessageType::Text);
/// assert_eq!(message.content.as_ref().and_then(|c| c.message.as_deref()), Some("hello"));
/// assert_eq!(message.sender.as_ref().map(|s| s.raw_id()).as_deref(), Some("8:acs:r_u"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MessageWire", into = "MessageWire")]
pub struct ChatMessage {
    /// The message id (a decimal string of epoch milliseconds).
    pub id: String,
    /// The type: user text or HTML, or a system message.
    pub message_type: ChatMessageType,
    /// The position of the message in the thread (a decimal string growing by one per message).
    pub sequence_id: String,
    /// The version; it changes when the message is edited or deleted.
    pub version: String,
    /// What the message carries.
    pub content: Option<ChatMessageContent>,
    /// The sender's display name (`""` when the sender set none; absent on system messages).
    pub sender_display_name: Option<String>,
    /// When the message was created.
    pub created_on: DateTime<Utc>,
    /// Who sent the message; `None` on system messages.
    pub sender: Option<CommunicationIdentifier>,
    /// When the message was deleted.
    pub deleted_on: Option<DateTime<Utc>>,
    /// When the message was last edited.
    pub edited_on: Option<DateTime<Utc>>,
    /// Free-form string pairs set by the sender.
    pub metadata: Option<HashMap<String, String>>,
    /// Fields this version of the crate does not know, kept as received.
    pub additional_properties: Map<String, Value>,
    wire_sender: WireIdentifier,
}

impl fmt::Debug for ChatMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatMessage")
            .field("id", &self.id)
            .field("message_type", &self.message_type)
            .field("sequence_id", &self.sequence_id)
            .field("version", &self.version)
            .field("content", &self.content)
            .field("sender_display_name", &self.sender_display_name)
            .field("created_on", &self.created_on)
            .field("sender", &self.sender)
            .field("deleted_on", &self.deleted_on)
            .field("edited_on", &self.edited_on)
            .field("metadata", &self.metadata)
            .field("additional_properties", &self.additional_properties)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageWire {
    id: String,
    #[serde(rename = "type")]
    message_type: ChatMessageType,
    sequence_id: String,
    version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<ChatMessageContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sender_display_name: Option<String>,
    #[serde(with = "time")]
    created_on: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sender_communication_identifier: Option<IdentifierJson>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::option"
    )]
    deleted_on: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::option"
    )]
    edited_on: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<HashMap<String, String>>,
    #[serde(flatten)]
    additional_properties: Map<String, Value>,
}

impl TryFrom<MessageWire> for ChatMessage {
    type Error = String;

    fn try_from(w: MessageWire) -> Result<Self, String> {
        let (sender, wire_sender) = decode_optional(w.sender_communication_identifier)?;
        Ok(ChatMessage {
            id: w.id,
            message_type: w.message_type,
            sequence_id: w.sequence_id,
            version: w.version,
            content: w.content,
            sender_display_name: w.sender_display_name,
            created_on: w.created_on,
            sender,
            deleted_on: w.deleted_on,
            edited_on: w.edited_on,
            metadata: w.metadata,
            additional_properties: w.additional_properties,
            wire_sender,
        })
    }
}

impl From<ChatMessage> for MessageWire {
    fn from(m: ChatMessage) -> Self {
        MessageWire {
            sender_communication_identifier: m.sender.as_ref().map(|id| m.wire_sender.encode(id)),
            id: m.id,
            message_type: m.message_type,
            sequence_id: m.sequence_id,
            version: m.version,
            content: m.content,
            sender_display_name: m.sender_display_name,
            created_on: m.created_on,
            deleted_on: m.deleted_on,
            edited_on: m.edited_on,
            metadata: m.metadata,
            additional_properties: m.additional_properties,
        }
    }
}

/// The result of sending a message: the new message's id.
///
/// ```
/// use acs_chat::models::SendChatMessageResult;
/// let r: SendChatMessageResult = serde_json::from_str(r#"{"id":"1717632209847"}"#)?;
/// assert_eq!(r.id, "1717632209847");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendChatMessageResult {
    /// The id of the message that was created.
    pub id: String,
    /// Fields this version of the crate does not know, kept as received.
    #[serde(flatten)]
    pub additional_properties: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every known message type parses from and prints as its wire name; others are Unknown.
    #[test]
    fn message_type_parses_wire_names() {
        for t in [
            ChatMessageType::Text,
            ChatMessageType::Html,
            ChatMessageType::TopicUpdated,
            ChatMessageType::ParticipantAdded,
            ChatMessageType::ParticipantRemoved,
            ChatMessageType::Unknown("poll".into()),
        ] {
            let parsed: ChatMessageType = t.to_string().parse().unwrap();
            assert_eq!(parsed, t, "parsing {t}");
            assert_eq!(serde_json::to_value(&t).unwrap(), json!(t.as_str()));
        }
        assert_eq!(
            ChatMessageType::from("Text"),
            ChatMessageType::Unknown("Text".into())
        );
        assert_eq!(format!("{:?}", ChatMessageType::Html), "Html");
    }

    /// A system message with participants and an initiator round-trips unchanged.
    #[test]
    fn system_message_round_trips() {
        let value = json!({
            "id": "1717632206359", "type": "participantAdded", "sequenceId": "1", "version": "1717632206359",
            "content": {
                "participants": [{"communicationIdentifier": {"rawId": "8:acs:r_a", "communicationUser": {"id": "8:acs:r_a"}},
                                  "displayName": "user4", "shareHistoryTime": "1970-01-01T00:00:00Z"}],
                "initiatorCommunicationIdentifier": {"rawId": "8:acs:r_b", "communicationUser": {"id": "8:acs:r_b"}}
            },
            "createdOn": "2024-06-06T00:03:26Z"
        });
        let m: ChatMessage = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(m.message_type, ChatMessageType::ParticipantAdded);
        assert!(m.sender.is_none(), "system message sender: {:?}", m.sender);
        let content = m.content.clone().unwrap();
        assert_eq!(content.participants.as_ref().map(Vec::len), Some(1));
        assert_eq!(
            content.initiator.map(|i| i.raw_id()).as_deref(),
            Some("8:acs:r_b")
        );
        assert_eq!(serde_json::to_value(&m).unwrap(), value);
    }

    /// Unknown fields on a message and its content survive a round trip.
    #[test]
    fn message_keeps_unknown_fields() {
        let value = json!({
            "id": "1", "type": "richText/media", "sequenceId": "3", "version": "2",
            "content": {"message": "", "attachments": [], "reactions": {"like": 2}},
            "senderDisplayName": "", "createdOn": "2024-06-06T00:03:29Z",
            "editedOn": "2024-06-06T00:04:29Z", "deletedOn": "2024-06-06T00:05:29Z",
            "metadata": {}, "policyViolation": {"state": "none"}
        });
        let m: ChatMessage = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(
            m.message_type,
            ChatMessageType::Unknown("richText/media".into())
        );
        assert_eq!(
            m.additional_properties.get("policyViolation"),
            Some(&json!({"state": "none"}))
        );
        assert_eq!(serde_json::to_value(&m).unwrap(), value);
    }

    /// Messages missing required fields or with bad timestamps are decode errors.
    #[test]
    fn message_rejects_incomplete_json() {
        for value in [
            json!({"type": "text", "sequenceId": "1", "version": "1", "createdOn": "2024-06-06T00:03:29Z"}),
            json!({"id": "1", "type": "text", "sequenceId": "1", "version": "1", "createdOn": "soon"}),
            json!({"id": "1", "type": 5, "sequenceId": "1", "version": "1", "createdOn": "2024-06-06T00:03:29Z"}),
        ] {
            let r = serde_json::from_value::<ChatMessage>(value.clone());
            assert!(r.is_err(), "decoding {value} gave {r:?}");
        }
    }
}
