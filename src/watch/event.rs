//! [`ThreadEvent`]: what changed in a thread, and how a listed message is classified.

use chrono::{DateTime, Utc};

use super::cursor::{item_key, Position};
use crate::error::{Error, Result};
use crate::models::{
    ChatMessage, ChatMessageReadReceipt, ChatMessageType, ChatParticipant, ChatThreadInfo,
    CommunicationIdentifier,
};

/// One change in a thread, as a [`ThreadWatcher`](crate::ThreadWatcher) (or, inside an
/// [`InboxEvent`](crate::InboxEvent), an [`InboxWatcher`](crate::InboxWatcher)) hands it out.
///
/// Changes are coalesced between two polls: a message edited twice is one `MessageEdited`
/// with its latest content; a message sent and deleted is one `MessageDeleted` (never a
/// `MessageReceived` of empty content).
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
/// use acs_chat::ThreadEvent;
///
/// let (events, _cursor) = thread.changes_since(None)?;
/// for event in events {
///     match event {
///         ThreadEvent::MessageReceived(m) => println!("new: {:?}", m.content),
///         ThreadEvent::TopicUpdated { topic, .. } => println!("topic: {topic}"),
///         ThreadEvent::ParticipantsAdded { participants, .. } => println!("{} joined", participants.len()),
///         other => println!("{other:?}"),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum ThreadEvent {
    /// A `text` or `html` message created after the cursor (with its latest content, if it
    /// was edited since).
    MessageReceived(ChatMessage),
    /// A `text` or `html` message created before the cursor whose content or metadata changed.
    MessageEdited(ChatMessage),
    /// A message deleted after the cursor (its content is empty; `deleted_on` is set).
    MessageDeleted(ChatMessage),
    /// Participants joined (a `participantAdded` system message).
    ParticipantsAdded {
        /// Who joined.
        participants: Vec<ChatParticipant>,
        /// Who added them, when the service says.
        initiator: Option<CommunicationIdentifier>,
        /// When.
        created_on: DateTime<Utc>,
        /// The system message itself.
        message: ChatMessage,
    },
    /// Participants left or were removed (a `participantRemoved` system message).
    ParticipantsRemoved {
        /// Who left.
        participants: Vec<ChatParticipant>,
        /// Who removed them, when the service says.
        initiator: Option<CommunicationIdentifier>,
        /// When.
        created_on: DateTime<Utc>,
        /// The system message itself.
        message: ChatMessage,
    },
    /// The topic changed (a `topicUpdated` system message).
    TopicUpdated {
        /// The new topic.
        topic: String,
        /// Who changed it, when the service says.
        initiator: Option<CommunicationIdentifier>,
        /// When.
        created_on: DateTime<Utc>,
        /// The system message itself.
        message: ChatMessage,
    },
    /// A participant's read receipt moved (only with
    /// [`WatchOptions::include_read_receipts`](crate::WatchOptions::include_read_receipts)).
    ReadReceipt(ChatMessageReadReceipt),
    /// A message of a type this version of the crate does not know, kept as received.
    Other(ChatMessage),
    /// Inbox only: the user takes part in a thread the inbox did not know (joined, or created).
    /// Its events follow, from the thread's beginning.
    ThreadJoined(ChatThreadInfo),
    /// Inbox only: the user no longer takes part in the thread (removed, or left: the service
    /// answered 403). No more events come from it.
    ThreadLeft,
    /// Inbox only: the thread was deleted (the service answered 404, or listed it deleted).
    /// No more events come from it.
    ThreadDeleted,
}

impl ThreadEvent {
    /// The message this event is about, if it is about one.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// let (events, _) = thread.changes_since(None)?;
    /// assert!(events.iter().all(|e| e.message().is_some())); // creation's system messages
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn message(&self) -> Option<&ChatMessage> {
        match self {
            ThreadEvent::MessageReceived(m)
            | ThreadEvent::MessageEdited(m)
            | ThreadEvent::MessageDeleted(m)
            | ThreadEvent::Other(m)
            | ThreadEvent::ParticipantsAdded { message: m, .. }
            | ThreadEvent::ParticipantsRemoved { message: m, .. }
            | ThreadEvent::TopicUpdated { message: m, .. } => Some(m),
            _ => None,
        }
    }
}

/// A message's version as a number (the service sends epoch milliseconds as a string).
pub(crate) fn version_of(message: &ChatMessage) -> Result<i64> {
    message.version.trim().parse::<i64>().map_err(|_| {
        Error::UnexpectedResponse(format!(
            "message {} has a version that is not a number: {:?}",
            message.id,
            message.version.chars().take(40).collect::<String>()
        ))
    })
}

/// Whether `message` was created after `position` (the watch's cursor before this poll).
///
/// A message's id is its creation stamp, from the same clock as versions (the version equals
/// the id on creation). For an id that is not a number, the creation time is compared instead.
fn created_after(message: &ChatMessage, position: &Position) -> bool {
    match message.id.trim().parse::<i64>() {
        Ok(created) => position.is_before(created, &item_key(&message.id)),
        Err(_) => message.created_on.timestamp_millis() > position.stamp,
    }
}

/// The event a listed message that changed after `position` stands for.
pub(crate) fn classify(message: ChatMessage, position: &Position) -> ThreadEvent {
    let content = message.content.clone().unwrap_or_default();
    let created_on = message.created_on;
    match message.message_type {
        ChatMessageType::ParticipantAdded => ThreadEvent::ParticipantsAdded {
            participants: content.participants.unwrap_or_default(),
            initiator: content.initiator,
            created_on,
            message,
        },
        ChatMessageType::ParticipantRemoved => ThreadEvent::ParticipantsRemoved {
            participants: content.participants.unwrap_or_default(),
            initiator: content.initiator,
            created_on,
            message,
        },
        ChatMessageType::TopicUpdated => ThreadEvent::TopicUpdated {
            topic: content.topic.unwrap_or_default(),
            initiator: content.initiator,
            created_on,
            message,
        },
        _ if message.deleted_on.is_some() => ThreadEvent::MessageDeleted(message),
        ChatMessageType::Text | ChatMessageType::Html => {
            if created_after(&message, position) {
                ThreadEvent::MessageReceived(message)
            } else {
                ThreadEvent::MessageEdited(message)
            }
        }
        _ => ThreadEvent::Other(message),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A message as the service lists it.
    pub(crate) fn message(
        id: i64,
        version: i64,
        kind: &str,
        edited: bool,
        deleted: bool,
    ) -> ChatMessage {
        let mut json = serde_json::json!({
            "id": id.to_string(), "type": kind, "sequenceId": "1", "version": version.to_string(),
            "content": {"message": if deleted { "" } else { "hi" }},
            "createdOn": "2024-06-06T00:03:29Z",
        });
        if edited {
            json["editedOn"] = "2024-06-06T00:03:30Z".into();
        }
        if deleted {
            json["deletedOn"] = "2024-06-06T00:03:31Z".into();
        }
        serde_json::from_value(json).expect("valid message")
    }

    fn at(stamp: i64) -> Position {
        Position {
            stamp,
            keys: vec![stamp.to_string()],
            ahead: Vec::new(),
        }
    }

    /// Created after the cursor is Received even when edited since; before it, Edited.
    #[test]
    fn classify_compares_creation_with_cursor() {
        let p = at(100);
        let kind = |m| match classify(m, &p) {
            ThreadEvent::MessageReceived(_) => "received",
            ThreadEvent::MessageEdited(_) => "edited",
            ThreadEvent::MessageDeleted(_) => "deleted",
            _ => "other",
        };
        assert_eq!(kind(message(101, 105, "text", true, false)), "received");
        assert_eq!(kind(message(90, 105, "html", true, false)), "edited");
        assert_eq!(kind(message(101, 106, "text", false, true)), "deleted");
        assert_eq!(kind(message(90, 106, "text", true, true)), "deleted");
        assert_eq!(kind(message(100, 100, "text", false, false)), "edited"); // already seen id
        assert_eq!(kind(message(101, 101, "poll", false, false)), "other");
    }

    /// System messages become typed events with their participants, topic and initiator.
    #[test]
    fn classify_types_system_messages() {
        let json = serde_json::json!({
            "id": "5", "type": "topicUpdated", "sequenceId": "2", "version": "5",
            "content": {"topic": "new", "initiatorCommunicationIdentifier": {"rawId": "8:acs:r_u"}},
            "createdOn": "2024-06-06T00:03:29Z",
        });
        let m: ChatMessage = serde_json::from_value(json).expect("valid");
        match classify(m, &at(1)) {
            ThreadEvent::TopicUpdated {
                topic, initiator, ..
            } => {
                assert_eq!(topic, "new");
                assert_eq!(initiator.map(|i| i.raw_id()).as_deref(), Some("8:acs:r_u"));
            }
            other => panic!("expected TopicUpdated, got {other:?}"),
        }
    }

    /// A version that is not a number is a typed error.
    #[test]
    fn version_of_rejects_non_numbers() {
        let mut m = message(1, 1, "text", false, false);
        m.version = "abc".into();
        assert!(matches!(version_of(&m), Err(Error::UnexpectedResponse(_))));
    }
}
