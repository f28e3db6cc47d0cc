//! `ChatMessage` and its content, type and send result.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::attachment::ChatAttachment;
use super::identifier::{CommunicationIdentifier, KeptIdentifier};
use super::participant::ChatParticipant;
use super::wire::{wire_model, Opt, OptId, OptTime, Plain, Time};

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
        /// Reads the name in place: only an unknown name is copied.
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = ChatMessageType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a chat message type name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ChatMessageType, E> {
                Ok(ChatMessageType::from(v))
            }
        }
        d.deserialize_str(Name)
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
#[derive(Clone, Debug, Default, PartialEq)]
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
    initiator_json: KeptIdentifier,
}

wire_model!(ChatMessageContent, "a chat message content object", {
    message: Opt<String> = "message",
    topic: Opt<String> = "topic",
    participants: Opt<Vec<ChatParticipant>> = "participants",
    attachments: Opt<Vec<ChatAttachment>> = "attachments",
    initiator + initiator_json: OptId = "initiatorCommunicationIdentifier",
});

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
#[derive(Clone, Debug, PartialEq)]
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
    sender_json: KeptIdentifier,
}

wire_model!(ChatMessage, "a chat message object", {
    id: Plain<String> = "id",
    message_type: Plain<ChatMessageType> = "type",
    sequence_id: Plain<String> = "sequenceId",
    version: Plain<String> = "version",
    content: Opt<ChatMessageContent> = "content",
    sender_display_name: Opt<String> = "senderDisplayName",
    created_on: Time = "createdOn",
    sender + sender_json: OptId = "senderCommunicationIdentifier",
    deleted_on: OptTime = "deletedOn",
    edited_on: OptTime = "editedOn",
    metadata: Opt<HashMap<String, String>> = "metadata",
});

/// The result of sending a message: the new message's id.
///
/// ```
/// use acs_chat::models::SendChatMessageResult;
/// let r: SendChatMessageResult = serde_json::from_str(r#"{"id":"1717632209847"}"#)?;
/// assert_eq!(r.id, "1717632209847");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendChatMessageResult {
    /// The id of the message that was created.
    pub id: String,
    /// Fields this version of the crate does not know, kept as received.
    pub additional_properties: Map<String, Value>,
}

wire_model!(SendChatMessageResult, "a send-message result object", {
    id: Plain<String> = "id",
});

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
