//! The `data` of each chat event type, as the Event Grid spec (TypeSpec, newest) defines it.
//!
//! Required here means required by the spec *and* present in every published sample; where
//! the two disagree the field is optional and its doc says why. Every field not listed is kept
//! in `additional_properties`, and every model re-encodes exactly as it was received.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::wire::event_data;
use crate::models::{ChatRetentionPolicy, CommunicationIdentifier};

event_data! {
    /// A participant of a thread, as events carry it (`AcsChatThreadParticipantProperties`).
    pub struct ChatEventParticipant {
        /// The participant's display name.
        display_name: opt String = "displayName",
        /// Who the participant is.
        participant: req CommunicationIdentifier = "participantCommunicationIdentifier",
        /// The participant's metadata.
        metadata: opt HashMap<String, String> = "metadata",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatMessageReceived`: a message arrived, sent to one recipient
    /// (per user; the sender gets none).
    pub struct ChatMessageReceivedData {
        /// The user this copy of the event is for.
        recipient: req CommunicationIdentifier = "recipientCommunicationIdentifier",
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// The message id.
        message_id: req String = "messageId",
        /// Who sent the message.
        sender: req CommunicationIdentifier = "senderCommunicationIdentifier",
        /// The sender's display name.
        sender_display_name: opt String = "senderDisplayName",
        /// The message's position in the thread (newer payloads only).
        sequence_id: opt i64 = "sequenceId",
        /// When the message was composed.
        compose_time: req DateTime<Utc> = "composeTime",
        /// The message type (`"Text"`, `"Html"`, …).
        message_type: req String = "type",
        /// The message version (a number or, in some payloads, a decimal string).
        version: req i64 = "version",
        /// The message text.
        message_body: req String = "messageBody",
        /// The message's metadata.
        metadata: opt HashMap<String, String> = "metadata",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatMessageEdited`: a message was edited (per user).
    pub struct ChatMessageEditedData {
        /// The user this copy of the event is for.
        recipient: req CommunicationIdentifier = "recipientCommunicationIdentifier",
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// The message id.
        message_id: req String = "messageId",
        /// Who sent the message.
        sender: req CommunicationIdentifier = "senderCommunicationIdentifier",
        /// The sender's display name.
        sender_display_name: opt String = "senderDisplayName",
        /// The message's position in the thread (newer payloads only).
        sequence_id: opt i64 = "sequenceId",
        /// When the message was composed.
        compose_time: req DateTime<Utc> = "composeTime",
        /// The message type.
        message_type: req String = "type",
        /// The message version after the edit.
        version: req i64 = "version",
        /// The new message text.
        message_body: req String = "messageBody",
        /// The message's metadata.
        metadata: opt HashMap<String, String> = "metadata",
        /// When the message was edited.
        edit_time: req DateTime<Utc> = "editTime",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatMessageDeleted`: a message was deleted (per user).
    pub struct ChatMessageDeletedData {
        /// The user this copy of the event is for.
        recipient: req CommunicationIdentifier = "recipientCommunicationIdentifier",
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// The message id.
        message_id: req String = "messageId",
        /// Who sent the message.
        sender: req CommunicationIdentifier = "senderCommunicationIdentifier",
        /// The sender's display name.
        sender_display_name: opt String = "senderDisplayName",
        /// The message's position in the thread (newer payloads only).
        sequence_id: opt i64 = "sequenceId",
        /// When the message was composed.
        compose_time: req DateTime<Utc> = "composeTime",
        /// The message type.
        message_type: req String = "type",
        /// The message version after the deletion.
        version: req i64 = "version",
        /// When the message was deleted.
        delete_time: req DateTime<Utc> = "deleteTime",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatMessageReceivedInThread`: a message arrived (per thread).
    pub struct ChatMessageReceivedInThreadData {
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// The message id.
        message_id: req String = "messageId",
        /// Who sent the message.
        sender: req CommunicationIdentifier = "senderCommunicationIdentifier",
        /// The sender's display name.
        sender_display_name: opt String = "senderDisplayName",
        /// The message's position in the thread (newer payloads only).
        sequence_id: opt i64 = "sequenceId",
        /// When the message was composed.
        compose_time: req DateTime<Utc> = "composeTime",
        /// The message type.
        message_type: req String = "type",
        /// The message version (the samples send it as a decimal string).
        version: req i64 = "version",
        /// The message text.
        message_body: req String = "messageBody",
        /// The message's metadata.
        metadata: opt HashMap<String, String> = "metadata",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatMessageEditedInThread`: a message was edited (per thread).
    pub struct ChatMessageEditedInThreadData {
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// The message id.
        message_id: req String = "messageId",
        /// Who sent the message.
        sender: req CommunicationIdentifier = "senderCommunicationIdentifier",
        /// The sender's display name.
        sender_display_name: opt String = "senderDisplayName",
        /// The message's position in the thread (newer payloads only).
        sequence_id: opt i64 = "sequenceId",
        /// When the message was composed.
        compose_time: req DateTime<Utc> = "composeTime",
        /// The message type.
        message_type: req String = "type",
        /// The message version after the edit.
        version: req i64 = "version",
        /// The new message text.
        message_body: req String = "messageBody",
        /// The message's metadata.
        metadata: opt HashMap<String, String> = "metadata",
        /// When the message was edited.
        edit_time: req DateTime<Utc> = "editTime",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatMessageDeletedInThread`: a message was deleted (per thread).
    pub struct ChatMessageDeletedInThreadData {
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// The message id.
        message_id: req String = "messageId",
        /// Who sent the message.
        sender: req CommunicationIdentifier = "senderCommunicationIdentifier",
        /// The sender's display name.
        sender_display_name: opt String = "senderDisplayName",
        /// The message's position in the thread (newer payloads only).
        sequence_id: opt i64 = "sequenceId",
        /// When the message was composed.
        compose_time: req DateTime<Utc> = "composeTime",
        /// The message type.
        message_type: req String = "type",
        /// The message version after the deletion.
        version: req i64 = "version",
        /// When the message was deleted.
        delete_time: req DateTime<Utc> = "deleteTime",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatTypingIndicatorReceivedInThread`: someone is typing (per
    /// thread).
    ///
    /// The spec gives it the message fields (`messageId`, `type`, `messageBody`, …) as
    /// required, but its only sample carries just the sender, display name and ids, so all of
    /// those are optional here.
    pub struct ChatTypingIndicatorReceivedInThreadData {
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// Who is typing.
        sender: req CommunicationIdentifier = "senderCommunicationIdentifier",
        /// The typist's display name.
        sender_display_name: opt String = "senderDisplayName",
        /// The message id (required by the spec, absent from the sample).
        message_id: opt String = "messageId",
        /// The message's position in the thread.
        sequence_id: opt i64 = "sequenceId",
        /// When the notification was composed (absent from the sample).
        compose_time: opt DateTime<Utc> = "composeTime",
        /// The message type (required by the spec, absent from the sample).
        message_type: opt String = "type",
        /// The version (absent from the sample).
        version: opt i64 = "version",
        /// The body (required by the spec, absent from the sample).
        message_body: opt String = "messageBody",
        /// Metadata.
        metadata: opt HashMap<String, String> = "metadata",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatAzureBotCommandReceivedInThread`: a command for an Azure
    /// bot was posted in the thread (per thread).
    pub struct ChatAzureBotCommandReceivedInThreadData {
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// The message id.
        message_id: req String = "messageId",
        /// Who sent the command.
        sender: req CommunicationIdentifier = "senderCommunicationIdentifier",
        /// The sender's display name.
        sender_display_name: opt String = "senderDisplayName",
        /// The message's position in the thread (newer payloads only).
        sequence_id: opt i64 = "sequenceId",
        /// When the command was composed.
        compose_time: req DateTime<Utc> = "composeTime",
        /// The message type.
        message_type: req String = "type",
        /// The message version.
        version: req i64 = "version",
        /// The command text.
        message_body: req String = "messageBody",
        /// The message's metadata.
        metadata: opt HashMap<String, String> = "metadata",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatThreadCreatedWithUser`: a thread was created with this
    /// recipient in it (per user).
    pub struct ChatThreadCreatedWithUserData {
        /// The user this copy of the event is for.
        recipient: req CommunicationIdentifier = "recipientCommunicationIdentifier",
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// When the thread was created.
        create_time: req DateTime<Utc> = "createTime",
        /// The thread version.
        version: opt i64 = "version",
        /// Who created the thread.
        created_by: req CommunicationIdentifier = "createdByCommunicationIdentifier",
        /// The thread's properties (`{"topic": …}`).
        properties: req Map<String, Value> = "properties",
        /// The thread's metadata.
        metadata: opt HashMap<String, String> = "metadata",
        /// The participants at creation.
        participants: req Vec<ChatEventParticipant> = "participants",
        /// The thread's retention policy (newer payloads only).
        retention_policy: opt ChatRetentionPolicy = "retentionPolicy",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatThreadCreated`: a thread was created (per thread).
    pub struct ChatThreadCreatedData {
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// When the thread was created.
        create_time: req DateTime<Utc> = "createTime",
        /// The thread version.
        version: opt i64 = "version",
        /// Who created the thread.
        created_by: req CommunicationIdentifier = "createdByCommunicationIdentifier",
        /// The thread's properties (`{"topic": …}`).
        properties: req Map<String, Value> = "properties",
        /// The thread's metadata.
        metadata: opt HashMap<String, String> = "metadata",
        /// The participants at creation.
        participants: req Vec<ChatEventParticipant> = "participants",
        /// The thread's retention policy (newer payloads only).
        retention_policy: opt ChatRetentionPolicy = "retentionPolicy",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatThreadWithUserDeleted`: a thread this recipient was in
    /// was deleted (per user).
    pub struct ChatThreadWithUserDeletedData {
        /// The user this copy of the event is for.
        recipient: req CommunicationIdentifier = "recipientCommunicationIdentifier",
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// When the thread was created.
        create_time: req DateTime<Utc> = "createTime",
        /// The thread version.
        version: opt i64 = "version",
        /// Who deleted the thread.
        deleted_by: req CommunicationIdentifier = "deletedByCommunicationIdentifier",
        /// When the thread was deleted.
        delete_time: req DateTime<Utc> = "deleteTime",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatThreadDeleted`: a thread was deleted (per thread).
    pub struct ChatThreadDeletedData {
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// When the thread was created.
        create_time: req DateTime<Utc> = "createTime",
        /// The thread version.
        version: opt i64 = "version",
        /// Who deleted the thread.
        deleted_by: req CommunicationIdentifier = "deletedByCommunicationIdentifier",
        /// When the thread was deleted.
        delete_time: req DateTime<Utc> = "deleteTime",
        /// Why: `"deletedByUser"` or `"deletedByPolicy"` per the spec; an open string, since
        /// the spec's own sample sends `"deleteByThread"`.
        reason: opt String = "reason",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatThreadPropertiesUpdatedPerUser`: a thread's properties
    /// changed (per user).
    pub struct ChatThreadPropertiesUpdatedPerUserData {
        /// The user this copy of the event is for.
        recipient: req CommunicationIdentifier = "recipientCommunicationIdentifier",
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// When the thread was created.
        create_time: req DateTime<Utc> = "createTime",
        /// The thread version.
        version: opt i64 = "version",
        /// Who changed the properties.
        edited_by: req CommunicationIdentifier = "editedByCommunicationIdentifier",
        /// When they were changed.
        edit_time: req DateTime<Utc> = "editTime",
        /// The new properties (`{"topic": …}`).
        properties: req Map<String, Value> = "properties",
        /// The thread's metadata.
        metadata: opt HashMap<String, String> = "metadata",
        /// The thread's retention policy (newer payloads only).
        retention_policy: opt ChatRetentionPolicy = "retentionPolicy",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatThreadPropertiesUpdated`: a thread's properties changed
    /// (per thread).
    pub struct ChatThreadPropertiesUpdatedData {
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// When the thread was created.
        create_time: req DateTime<Utc> = "createTime",
        /// The thread version.
        version: opt i64 = "version",
        /// Who changed the properties.
        edited_by: req CommunicationIdentifier = "editedByCommunicationIdentifier",
        /// When they were changed.
        edit_time: req DateTime<Utc> = "editTime",
        /// The new properties (`{"topic": …}`).
        properties: req Map<String, Value> = "properties",
        /// The thread's metadata. Required by the spec, absent from the docs sample.
        metadata: opt HashMap<String, String> = "metadata",
        /// The thread's retention policy (newer payloads only).
        retention_policy: opt ChatRetentionPolicy = "retentionPolicy",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatParticipantAddedToThreadWithUser`: someone was added to a
    /// thread this recipient is in (per user). The obsolete 2020 name
    /// `ChatMemberAddedToThreadWithUser` decodes as this.
    pub struct ChatParticipantAddedToThreadWithUserData {
        /// The user this copy of the event is for.
        recipient: req CommunicationIdentifier = "recipientCommunicationIdentifier",
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// When the thread was created.
        create_time: req DateTime<Utc> = "createTime",
        /// The thread version.
        version: opt i64 = "version",
        /// When the participant was added.
        time: req DateTime<Utc> = "time",
        /// Who added them.
        added_by: req CommunicationIdentifier = "addedByCommunicationIdentifier",
        /// Who was added.
        participant_added: req ChatEventParticipant = "participantAdded",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser`: someone was removed
    /// from a thread this recipient is in (per user). The obsolete 2020 name
    /// `ChatMemberRemovedFromThreadWithUser` decodes as this.
    pub struct ChatParticipantRemovedFromThreadWithUserData {
        /// The user this copy of the event is for.
        recipient: req CommunicationIdentifier = "recipientCommunicationIdentifier",
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// When the thread was created.
        create_time: req DateTime<Utc> = "createTime",
        /// The thread version.
        version: opt i64 = "version",
        /// When the participant was removed.
        time: req DateTime<Utc> = "time",
        /// Who removed them.
        removed_by: req CommunicationIdentifier = "removedByCommunicationIdentifier",
        /// Who was removed.
        participant_removed: req ChatEventParticipant = "participantRemoved",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatThreadParticipantAdded`: someone was added to a thread
    /// (per thread). The older name `ChatParticipantAddedToThread` decodes as this.
    pub struct ChatThreadParticipantAddedData {
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// When the participant was added.
        time: req DateTime<Utc> = "time",
        /// Who added them.
        added_by: req CommunicationIdentifier = "addedByCommunicationIdentifier",
        /// Who was added.
        participant_added: req ChatEventParticipant = "participantAdded",
        /// The thread version.
        version: opt i64 = "version",
    }
}

event_data! {
    /// `Microsoft.Communication.ChatThreadParticipantRemoved`: someone was removed from a
    /// thread (per thread). The older name `ChatParticipantRemovedFromThread` decodes as this.
    pub struct ChatThreadParticipantRemovedData {
        /// The thread.
        thread_id: req String = "threadId",
        /// A correlation id.
        transaction_id: opt String = "transactionId",
        /// When the participant was removed.
        time: req DateTime<Utc> = "time",
        /// Who removed them.
        removed_by: req CommunicationIdentifier = "removedByCommunicationIdentifier",
        /// Who was removed.
        participant_removed: req ChatEventParticipant = "participantRemoved",
        /// The thread version.
        version: opt i64 = "version",
    }
}

event_data! {
    /// `Microsoft.EventGrid.SubscriptionValidationEvent`: Event Grid asks the endpoint to
    /// prove it wants the events (the validation handshake).
    pub struct SubscriptionValidationEventData {
        /// The code to echo back as `{"validationResponse": code}`.
        validation_code: req String = "validationCode",
        /// The URL to GET for the asynchronous (manual) handshake.
        validation_url: opt String = "validationUrl",
    }
}

event_data! {
    /// `Microsoft.EventGrid.SubscriptionDeletedEvent`: the subscription was deleted.
    pub struct SubscriptionDeletedEventData {
        /// The Azure resource id of the deleted subscription.
        event_subscription_id: opt String = "eventSubscriptionId",
    }
}
