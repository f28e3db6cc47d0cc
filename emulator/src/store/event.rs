//! The domain events each store mutation returns: what happened, to which thread, by whom,
//! and who was in the thread at that moment.
//!
//! One [`ChatEvent`] carries everything an Event Grid publisher needs for every ACS chat event
//! type (`../shared/eventgrid/docs/communication-services-chat-events.md`), so it can produce
//! them from the event alone:
//!
//! | kind | thread-level event (once) | user-level event (per recipient but the actor) |
//! |---|---|---|
//! | `MessageReceived` | `ChatMessageReceivedInThread` | `ChatMessageReceived` |
//! | `MessageEdited` | `ChatMessageEditedInThread` | `ChatMessageEdited` |
//! | `MessageDeleted` | `ChatMessageDeletedInThread` | `ChatMessageDeleted` |
//! | `ThreadCreated` | `ChatThreadCreated` | `ChatThreadCreatedWithUser` |
//! | `ThreadDeleted` | `ChatThreadDeleted` | `ChatThreadWithUserDeleted` |
//! | `ThreadPropertiesUpdated` | `ChatThreadPropertiesUpdated` | `ChatThreadPropertiesUpdatedPerUser` |
//! | `ParticipantAdded` | `ChatThreadParticipantAdded` | `ChatParticipantAddedToThreadWithUser` |
//! | `ParticipantRemoved` | `ChatThreadParticipantRemoved` | `ChatParticipantRemovedFromThreadWithUser` |
//!
//! Read receipts and typing notifications have no Event Grid type; they are events too, for a
//! change feed or real-time delivery; typing becomes `ChatTypingIndicatorReceivedInThread`.
//! The Event Grid publisher (`crate::events`) turns each into envelopes.

use serde_json::{Map, Value};

use super::model::{Message, Participant, Thread, ThreadProps};

/// One thing that happened in a thread.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ChatEvent {
    pub(crate) thread_id: String,
    pub(crate) kind: EventKind,
    /// Who did it: the sender, editor, initiator or deleter (raw id).
    pub(crate) actor: String,
    /// The participants when it happened, the actor included; for a removal, those who
    /// remain plus the one removed (they learn of their own removal).
    pub(crate) recipients: Vec<String>,
    /// When it happened (epoch ms): compose, edit, delete, create or update time.
    pub(crate) time_ms: i64,
    /// The thread's version after the event: the stamp of the change (epoch ms), as the
    /// service's thread-level events carry.
    pub(crate) version: i64,
    /// When the thread was created (epoch ms): the `createTime` of thread and participant
    /// events.
    pub(crate) thread_created_ms: i64,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum EventKind {
    /// A user message was sent.
    MessageReceived(MessageSnapshot),
    /// A user message's content or metadata changed.
    MessageEdited(MessageSnapshot),
    /// A user message was deleted.
    MessageDeleted(MessageSnapshot),
    /// The thread was created with these properties and participants.
    ThreadCreated {
        properties: ThreadProps,
        participants: Vec<Participant>,
    },
    /// The thread was deleted.
    ThreadDeleted,
    /// Topic, metadata or retention policy changed; the properties as they are now.
    ThreadPropertiesUpdated { properties: ThreadProps },
    /// One participant joined (one event per participant of an add request).
    ParticipantAdded { participant: Participant },
    /// One participant left or was removed.
    ParticipantRemoved { participant: Participant },
    /// The actor read up to this message.
    ReadReceipt { message_id: i64 },
    /// The actor is typing.
    Typing { sender_display_name: Option<String> },
}

/// A user message as an event shows it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MessageSnapshot {
    pub(crate) id: i64,
    pub(crate) sequence_id: u64,
    pub(crate) version: i64,
    /// `text` (false) or `html` (true).
    pub(crate) html: bool,
    /// The content (empty once deleted).
    pub(crate) body: String,
    pub(crate) sender_display_name: String,
    pub(crate) metadata: Option<Map<String, Value>>,
    /// When the message was sent (its id).
    pub(crate) compose_ms: i64,
}

impl MessageSnapshot {
    pub(crate) fn of(m: &Message) -> MessageSnapshot {
        let (html, body) = match &m.content {
            super::model::Content::User { html, message } if m.deleted_ms.is_none() => {
                (*html, message.clone())
            }
            super::model::Content::User { html, .. } => (*html, String::new()),
            _ => (false, String::new()),
        };
        MessageSnapshot {
            id: m.id,
            sequence_id: m.sequence_id,
            version: m.version,
            html,
            body,
            sender_display_name: m.sender_display_name.clone(),
            metadata: m.metadata.clone(),
            compose_ms: m.id,
        }
    }
}

impl ChatEvent {
    /// An event in `t` now, to its current participants.
    pub(crate) fn in_thread(t: &Thread, kind: EventKind, actor: &str, stamp: i64) -> ChatEvent {
        ChatEvent {
            thread_id: t.props.id.clone(),
            kind,
            actor: actor.to_string(),
            recipients: t.recipients(),
            time_ms: stamp,
            version: stamp,
            thread_created_ms: t.props.created_ms,
        }
    }

    /// Who gets the user-level event: every recipient except the actor.
    pub(crate) fn user_recipients(&self) -> impl Iterator<Item = &str> {
        self.recipients
            .iter()
            .map(String::as_str)
            .filter(move |r| *r != self.actor)
    }
}
