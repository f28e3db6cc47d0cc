//! Request bodies, as the clients send them. Build them with struct literals and
//! `..Default::default()`; `additional_properties` lets you send fields newer than this crate.
//!
//! ```
//! use acs_chat::models::requests::SendChatMessageRequest;
//! use acs_chat::ChatMessageType;
//!
//! let body = SendChatMessageRequest {
//!     content: "hello".into(),
//!     message_type: Some(ChatMessageType::Text),
//!     ..Default::default()
//! };
//! assert_eq!(serde_json::to_string(&body)?, r#"{"content":"hello","type":"text"}"#);
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! The body of a remove-participant call is a bare
//! [`CommunicationIdentifier`](crate::CommunicationIdentifier).

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::message::ChatMessageType;
use super::participant::ChatParticipant;
use super::retention::ChatRetentionPolicy;

/// `POST /chat/threads`: create a thread.
///
/// ```
/// use acs_chat::models::requests::CreateChatThreadRequest;
/// use acs_chat::models::ChatRetentionPolicy;
/// let body = CreateChatThreadRequest {
///     topic: "Lunch".into(),
///     retention_policy: Some(ChatRetentionPolicy::thread_creation_date(30)),
///     ..Default::default()
/// };
/// let json = serde_json::to_value(&body)?;
/// assert_eq!(json["retentionPolicy"]["deleteThreadAfterDays"], 30);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateChatThreadRequest {
    /// The thread's topic (required by the service).
    pub topic: String,
    /// The initial participants. `None` sends no `participants` field; `Some(vec![])` sends `[]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<ChatParticipant>>,
    /// Free-form string pairs about the thread (api-version 2025-03-15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<HashMap<String, String>>,
    /// When the service deletes the thread by itself (api-version 2025-03-15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<ChatRetentionPolicy>,
    /// Extra fields to send, for service features newer than this crate.
    #[serde(flatten)]
    pub additional_properties: Map<String, Value>,
}

/// `PATCH /chat/threads/{id}` (JSON merge patch): change a thread's topic, metadata or
/// retention policy. Fields left `None` are not sent and stay as they are.
///
/// `retention_policy` tells "leave it" (`None`, not sent) from "reset it" (`Some(None)`, sent as
/// `null`, which the service turns into `{"kind":"none"}`):
///
/// ```
/// use acs_chat::models::requests::UpdateChatThreadRequest;
/// let reset = UpdateChatThreadRequest { retention_policy: Some(None), ..Default::default() };
/// assert_eq!(serde_json::to_string(&reset)?, r#"{"retentionPolicy":null}"#);
/// let topic = UpdateChatThreadRequest { topic: Some("New".into()), ..Default::default() };
/// assert_eq!(serde_json::to_string(&topic)?, r#"{"topic":"New"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateChatThreadRequest {
    /// The new topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Metadata to merge in; a key with an empty value removes that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<HashMap<String, String>>,
    /// `None`: unchanged; `Some(None)`: reset (sent as `null`); `Some(Some(p))`: set.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub retention_policy: Option<Option<ChatRetentionPolicy>>,
    /// Extra fields to send, for service features newer than this crate.
    #[serde(flatten)]
    pub additional_properties: Map<String, Value>,
}

/// Reads a field that is present (possibly `null`) as `Some(…)`; absence is the `default`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /chat/threads/{id}/messages`: send a message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendChatMessageRequest {
    /// The message text (required by the service).
    pub content: String,
    /// The name shown for the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_display_name: Option<String>,
    /// `Text` or `Html`; the service may treat a missing type as text.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub message_type: Option<ChatMessageType>,
    /// Free-form string pairs on the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<HashMap<String, String>>,
    /// Extra fields to send, for service features newer than this crate.
    #[serde(flatten)]
    pub additional_properties: Map<String, Value>,
}

/// `PATCH /chat/threads/{id}/messages/{messageId}` (JSON merge patch): edit a message.
///
/// ```
/// use acs_chat::models::requests::UpdateChatMessageRequest;
/// let body = UpdateChatMessageRequest { content: Some("fixed".into()), ..Default::default() };
/// assert_eq!(serde_json::to_string(&body)?, r#"{"content":"fixed"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateChatMessageRequest {
    /// The new text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Metadata to merge in; a key with an empty value removes that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<HashMap<String, String>>,
    /// Extra fields to send, for service features newer than this crate.
    #[serde(flatten)]
    pub additional_properties: Map<String, Value>,
}

/// `POST /chat/threads/{id}/participants/:add`: add participants.
///
/// ```
/// use acs_chat::models::requests::AddChatParticipantsRequest;
/// use acs_chat::{ChatParticipant, CommunicationIdentifier};
/// let body = AddChatParticipantsRequest {
///     participants: vec![ChatParticipant::new(CommunicationIdentifier::from_raw_id("8:acs:r_u"))],
///     ..Default::default()
/// };
/// let json = serde_json::to_value(&body)?;
/// assert_eq!(json["participants"][0]["communicationIdentifier"]["rawId"], "8:acs:r_u");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddChatParticipantsRequest {
    /// Who to add.
    pub participants: Vec<ChatParticipant>,
    /// Extra fields to send, for service features newer than this crate.
    #[serde(flatten)]
    pub additional_properties: Map<String, Value>,
}

/// `POST /chat/threads/{id}/readReceipts`: mark messages up to this one as read.
///
/// ```
/// use acs_chat::models::requests::SendReadReceiptRequest;
/// let body = SendReadReceiptRequest { chat_message_id: "1717632209847".into(), ..Default::default() };
/// assert_eq!(serde_json::to_string(&body)?, r#"{"chatMessageId":"1717632209847"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReadReceiptRequest {
    /// The id of the latest message read.
    pub chat_message_id: String,
    /// Extra fields to send, for service features newer than this crate.
    #[serde(flatten)]
    pub additional_properties: Map<String, Value>,
}

/// `POST /chat/threads/{id}/typing`: tell the others the user is typing. The body is `{}`
/// without a name.
///
/// ```
/// use acs_chat::models::requests::SendTypingNotificationRequest;
/// assert_eq!(serde_json::to_string(&SendTypingNotificationRequest::default())?, "{}");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendTypingNotificationRequest {
    /// The name shown to the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_display_name: Option<String>,
    /// Extra fields to send, for service features newer than this crate.
    #[serde(flatten)]
    pub additional_properties: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The merge-patch retention policy keeps absent, null and a value apart in both directions.
    #[test]
    fn update_thread_request_distinguishes_absent_and_null() {
        for (value, want) in [
            (json!({"topic": "t"}), None),
            (json!({"retentionPolicy": null}), Some(None)),
            (
                json!({"retentionPolicy": {"kind": "none"}}),
                Some(Some(ChatRetentionPolicy::None)),
            ),
        ] {
            let req: UpdateChatThreadRequest = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(req.retention_policy, want, "decoding {value}");
            assert_eq!(
                serde_json::to_value(&req).unwrap(),
                value,
                "re-encoding {req:?}"
            );
        }
    }

    /// Request fields newer than this crate round-trip through additional_properties.
    #[test]
    fn create_thread_request_keeps_extra_fields() {
        let value = json!({"topic": "t", "participants": [], "metadata": {}, "messagingPolicy": {"textOnlyChat": true}});
        let req: CreateChatThreadRequest = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(req.participants, Some(vec![]));
        assert_eq!(serde_json::to_value(&req).unwrap(), value);
    }
}
