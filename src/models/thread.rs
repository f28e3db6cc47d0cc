//! Chat threads: `ChatThreadProperties`, `ChatThreadInfo` (list items) and the create result.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::identifier::{CommunicationIdentifier, KeptIdentifier};
use super::participant::ChatParticipant;
use super::retention::ChatRetentionPolicy;
use super::wire::{wire_model, Id, Opt, OptTime, Plain, Time};
use crate::error::{ChatError, Error, Result};

/// A chat thread's properties, as `get_chat_thread` and `create_chat_thread` return them.
///
/// ```
/// use acs_chat::models::{ChatRetentionPolicy, ChatThreadProperties};
/// let t: ChatThreadProperties = serde_json::from_str(r#"{
///     "id": "19:abc@thread.v2", "topic": "Lunch", "createdOn": "2020-06-06T05:55:41.6460000Z",
///     "createdByCommunicationIdentifier": {"rawId": "8:acs:r_u", "communicationUser": {"id": "8:acs:r_u"}},
///     "retentionPolicy": {"kind": "none"}, "messagingPolicy": {"textOnlyChat": false}}"#)?;
/// assert_eq!(t.topic, "Lunch");
/// assert_eq!(t.retention_policy, Some(ChatRetentionPolicy::None));
/// assert!(t.additional_properties.contains_key("messagingPolicy"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct ChatThreadProperties {
    /// The thread id (`19:…@thread.v2`).
    pub id: String,
    /// The thread's topic.
    pub topic: String,
    /// When the thread was created.
    pub created_on: DateTime<Utc>,
    /// Who created the thread.
    pub created_by: CommunicationIdentifier,
    /// When the thread was deleted.
    pub deleted_on: Option<DateTime<Utc>>,
    /// Free-form string pairs about the thread (api-version 2025-03-15; up to 1 KB).
    pub metadata: Option<HashMap<String, String>>,
    /// When the service deletes the thread by itself (api-version 2025-03-15).
    pub retention_policy: Option<ChatRetentionPolicy>,
    /// Fields this version of the crate does not know (such as preview `messagingPolicy`),
    /// kept as received.
    pub additional_properties: Map<String, Value>,
    created_by_json: KeptIdentifier,
}

wire_model!(ChatThreadProperties, "a chat thread object", {
    id: Plain<String> = "id",
    topic: Plain<String> = "topic",
    created_on: Time = "createdOn",
    created_by + created_by_json: Id = "createdByCommunicationIdentifier",
    deleted_on: OptTime = "deletedOn",
    metadata: Opt<HashMap<String, String>> = "metadata",
    retention_policy: Opt<ChatRetentionPolicy> = "retentionPolicy",
});

/// A thread in the list `list_chat_threads` returns (the REST `ChatThreadItem`).
///
/// ```
/// use acs_chat::models::ChatThreadInfo;
/// let t: ChatThreadInfo = serde_json::from_str(
///     r#"{"id":"19:abc@thread.v2","topic":"Test","lastMessageReceivedOn":"2023-11-22T16:02:07Z"}"#,
/// )?;
/// assert!(t.last_message_received_on.is_some());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct ChatThreadInfo {
    /// The thread id.
    pub id: String,
    /// The thread's topic.
    pub topic: String,
    /// When the thread was deleted.
    pub deleted_on: Option<DateTime<Utc>>,
    /// When the last message arrived (sometimes absent).
    pub last_message_received_on: Option<DateTime<Utc>>,
    /// Fields this version of the crate does not know, kept as received.
    pub additional_properties: Map<String, Value>,
}

wire_model!(ChatThreadInfo, "a chat thread item object", {
    id: Plain<String> = "id",
    topic: Plain<String> = "topic",
    deleted_on: OptTime = "deletedOn",
    last_message_received_on: OptTime = "lastMessageReceivedOn",
});

/// What `create_chat_thread` returns: the new thread, and the participants the service
/// rejected, each with its error.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct CreateChatThreadResult {
    /// The thread that was created (or, for a repeated idempotency token, the original one).
    pub chat_thread: ChatThreadProperties,
    /// Each requested participant the service rejected, with the reason.
    pub errors: Vec<(ChatParticipant, ChatError)>,
}

impl CreateChatThreadResult {
    /// Pairs the service's `invalidParticipants` with the participants that were requested,
    /// by matching each error's `target` with a participant's raw id. An error whose target
    /// matches no requested participant is paired with a participant built from the target.
    ///
    /// A body without `chatThread` is [`Error::UnexpectedResponse`]: the service always
    /// names the thread it created.
    pub(crate) fn from_body(
        body: CreateChatThreadBody,
        requested: &[ChatParticipant],
    ) -> Result<Self> {
        let chat_thread = body.chat_thread.ok_or_else(|| {
            Error::UnexpectedResponse("the create-thread response has no chatThread".to_string())
        })?;
        Ok(CreateChatThreadResult {
            chat_thread,
            errors: pair_invalid_participants(
                body.invalid_participants.unwrap_or_default(),
                requested,
            ),
        })
    }
}

/// Pairs errors with the requested participants they name in `target` (see
/// [`CreateChatThreadResult`]); shared with add-participants.
pub(crate) fn pair_invalid_participants(
    errors: Vec<ChatError>,
    requested: &[ChatParticipant],
) -> Vec<(ChatParticipant, ChatError)> {
    errors
        .into_iter()
        .map(|error| {
            let target = error.target.clone().unwrap_or_default();
            let participant = requested
                .iter()
                .find(|p| {
                    p.identifier.raw_id() == target
                        || matches!(&p.identifier, CommunicationIdentifier::CommunicationUser { id } if *id == target)
                })
                .cloned()
                .unwrap_or_else(|| {
                    ChatParticipant::new(CommunicationIdentifier::from_raw_id(&target))
                });
            (participant, error)
        })
        .collect()
}

/// The create-thread response body: `{"chatThread": …, "invalidParticipants": […]}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateChatThreadBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) chat_thread: Option<ChatThreadProperties>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) invalid_participants: Option<Vec<ChatError>>,
}

/// The add-participants response body: `{"invalidParticipants": […]}` or `{}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AddChatParticipantsBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) invalid_participants: Option<Vec<ChatError>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A 2024 preview thread with messagingPolicy and metadata round-trips unchanged.
    #[test]
    fn thread_properties_round_trip_preview_fields() {
        let value = json!({
            "id": "19:vv9@thread.v2", "topic": "test topic", "createdOn": "2024-06-06T00:03:25Z",
            "createdByCommunicationIdentifier": {"rawId": "8:acs:r_u", "communicationUser": {"id": "8:acs:r_u"}},
            "metadata": {"threadType": "primary"},
            "retentionPolicy": {"kind": "threadCreationDate", "deleteThreadAfterDays": 90},
            "messagingPolicy": {"textOnlyChat": false}
        });
        let t: ChatThreadProperties = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(
            t.retention_policy,
            Some(ChatRetentionPolicy::thread_creation_date(90))
        );
        assert_eq!(serde_json::to_value(&t).unwrap(), value);
    }

    /// Invalid participants are paired with the requested participant their target names.
    #[test]
    fn pair_invalid_participants_matches_target() {
        let a = ChatParticipant::new(CommunicationIdentifier::from_raw_id("8:acs:r_a"))
            .with_display_name("A");
        let b = ChatParticipant::new(CommunicationIdentifier::from_raw_id("8:acs:r_b"));
        let body: CreateChatThreadBody = serde_json::from_value(json!({
            "chatThread": {
                "id": "19:t@thread.v2", "topic": "t", "createdOn": "2024-06-06T00:03:25Z",
                "createdByCommunicationIdentifier": {"rawId": "8:acs:r_u", "communicationUser": {"id": "8:acs:r_u"}}
            },
            "invalidParticipants": [
                {"target": "8:acs:r_a", "code": "403", "message": "Permissions check failed"},
                {"target": "8:acs:r_z", "code": "404", "message": "Not found"}
            ]
        }))
        .unwrap();
        let result = CreateChatThreadResult::from_body(body, &[a.clone(), b]).unwrap();
        assert_eq!(result.errors.len(), 2, "errors: {:?}", result.errors);
        assert_eq!(result.errors[0].0, a);
        assert_eq!(result.errors[0].1.code, "403");
        assert_eq!(result.errors[1].0.identifier.raw_id(), "8:acs:r_z");
        assert_eq!(result.chat_thread.id, "19:t@thread.v2");
    }

    /// A create-thread body without `chatThread` is an unexpected response, not a result.
    #[test]
    fn create_result_without_thread_is_unexpected_response() {
        let body: CreateChatThreadBody = serde_json::from_value(json!({
            "invalidParticipants": [{"target": "8:acs:r_a", "code": "403", "message": "no"}]
        }))
        .unwrap();
        let result = CreateChatThreadResult::from_body(body, &[]);
        assert!(
            matches!(result, Err(Error::UnexpectedResponse(_))),
            "got {result:?}"
        );
    }
}
