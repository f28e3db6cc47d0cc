//! `ChatEventData`: one enum over every chat event's `data`, and the one table from the
//! `eventType` string to its model.

use serde_json::Value;

use super::models::*;

/// What an event says: its `data`, typed by its event type.
///
/// Per-user events (one copy per participant, except the one who acted) carry a `recipient`;
/// per-thread events arrive once per thread. Event types this version of the crate does not
/// know decode as [`ChatEventData::Unknown`] with their `data` kept as received, so new event
/// types never break a receiver.
///
/// ```
/// use acs_chat::events::{self, ChatEventData};
///
/// let body = br#"[{"id":"1","topic":"/subscriptions/s","subject":"thread/19:t@thread.v2/sender/8:acs:r_a",
///   "eventType":"Microsoft.Communication.ChatMessageDeletedInThread","eventTime":"2021-02-20T00:00:00Z",
///   "dataVersion":"1.0","data":{"threadId":"19:t@thread.v2","messageId":"1",
///   "senderCommunicationIdentifier":{"rawId":"8:acs:r_a"},"composeTime":"2021-02-20T00:00:00Z",
///   "type":"Text","version":2,"deleteTime":"2021-02-20T00:00:01Z"}}]"#;
/// let events = events::parse("application/json", body)?;
/// match &events[0].data {
///     ChatEventData::MessageDeletedInThread(d) => assert_eq!(d.message_id, "1"),
///     other => panic!("unexpected {other:?}"),
/// }
/// assert_eq!(events[0].data.thread_id(), Some("19:t@thread.v2"));
/// assert!(!events[0].data.is_per_user());
/// # Ok::<(), acs_chat::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum ChatEventData {
    /// `Microsoft.Communication.ChatMessageReceived` (per user).
    MessageReceived(ChatMessageReceivedData),
    /// `Microsoft.Communication.ChatMessageEdited` (per user).
    MessageEdited(ChatMessageEditedData),
    /// `Microsoft.Communication.ChatMessageDeleted` (per user).
    MessageDeleted(ChatMessageDeletedData),
    /// `Microsoft.Communication.ChatThreadCreatedWithUser` (per user).
    ThreadCreatedWithUser(ChatThreadCreatedWithUserData),
    /// `Microsoft.Communication.ChatThreadWithUserDeleted` (per user).
    ThreadWithUserDeleted(ChatThreadWithUserDeletedData),
    /// `Microsoft.Communication.ChatThreadPropertiesUpdatedPerUser` (per user).
    ThreadPropertiesUpdatedPerUser(ChatThreadPropertiesUpdatedPerUserData),
    /// `Microsoft.Communication.ChatParticipantAddedToThreadWithUser` (per user), also the
    /// obsolete `ChatMemberAddedToThreadWithUser`.
    ParticipantAddedToThreadWithUser(ChatParticipantAddedToThreadWithUserData),
    /// `Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser` (per user), also the
    /// obsolete `ChatMemberRemovedFromThreadWithUser`.
    ParticipantRemovedFromThreadWithUser(ChatParticipantRemovedFromThreadWithUserData),
    /// `Microsoft.Communication.ChatThreadCreated` (per thread).
    ThreadCreated(ChatThreadCreatedData),
    /// `Microsoft.Communication.ChatThreadDeleted` (per thread).
    ThreadDeleted(ChatThreadDeletedData),
    /// `Microsoft.Communication.ChatThreadParticipantAdded` (per thread), also the older
    /// `ChatParticipantAddedToThread`.
    ThreadParticipantAdded(ChatThreadParticipantAddedData),
    /// `Microsoft.Communication.ChatThreadParticipantRemoved` (per thread), also the older
    /// `ChatParticipantRemovedFromThread`.
    ThreadParticipantRemoved(ChatThreadParticipantRemovedData),
    /// `Microsoft.Communication.ChatMessageReceivedInThread` (per thread).
    MessageReceivedInThread(ChatMessageReceivedInThreadData),
    /// `Microsoft.Communication.ChatMessageEditedInThread` (per thread).
    MessageEditedInThread(ChatMessageEditedInThreadData),
    /// `Microsoft.Communication.ChatMessageDeletedInThread` (per thread).
    MessageDeletedInThread(ChatMessageDeletedInThreadData),
    /// `Microsoft.Communication.ChatThreadPropertiesUpdated` (per thread).
    ThreadPropertiesUpdated(ChatThreadPropertiesUpdatedData),
    /// `Microsoft.Communication.ChatTypingIndicatorReceivedInThread` (per thread).
    TypingIndicatorReceivedInThread(ChatTypingIndicatorReceivedInThreadData),
    /// `Microsoft.Communication.ChatAzureBotCommandReceivedInThread` (per thread).
    AzureBotCommandReceivedInThread(ChatAzureBotCommandReceivedInThreadData),
    /// `Microsoft.EventGrid.SubscriptionValidationEvent`: the validation handshake.
    SubscriptionValidation(SubscriptionValidationEventData),
    /// `Microsoft.EventGrid.SubscriptionDeletedEvent`.
    SubscriptionDeleted(SubscriptionDeletedEventData),
    /// An event type this version of the crate does not know; its `data` exactly as received
    /// (`None` when the event had no `data`). The type is the envelope's `event_type`.
    Unknown(Option<Value>),
}

macro_rules! table {
    ($( $variant:ident : $model:ident = [$($name:literal),+] ),* $(,)?) => {
        impl ChatEventData {
            /// Decodes `data` for an event type; `Ok(None)` when the type is not known.
            pub(crate) fn decode_known(
                event_type: &str,
                data: Option<&Value>,
            ) -> Result<Option<Self>, String> {
                $(
                    if [$($name),+].contains(&event_type) {
                        let object = match data {
                            Some(Value::Object(object)) => object.clone(),
                            Some(other) => return Err(format!(
                                "`data` must be an object, found {}",
                                super::wire::json_type(other)
                            )),
                            None => return Err("missing field `data`".into()),
                        };
                        return $model::from_object(object).map(|d| Some(Self::$variant(d)));
                    }
                )*
                Ok(None)
            }

            /// The `data` as JSON, exactly as received for anything unchanged.
            pub(crate) fn to_value(&self) -> Option<Value> {
                match self {
                    $( Self::$variant(d) => Some(Value::Object(d.to_object())), )*
                    Self::Unknown(raw) => raw.clone(),
                }
            }

            /// The current event-type name of this data (the successor's name for an
            /// obsolete one); `None` for [`ChatEventData::Unknown`].
            pub fn event_type_name(&self) -> Option<&'static str> {
                match self {
                    $( Self::$variant(_) => Some([$($name),+][0]), )*
                    Self::Unknown(_) => None,
                }
            }
        }
    };
}

table! {
    MessageReceived: ChatMessageReceivedData = ["Microsoft.Communication.ChatMessageReceived"],
    MessageEdited: ChatMessageEditedData = ["Microsoft.Communication.ChatMessageEdited"],
    MessageDeleted: ChatMessageDeletedData = ["Microsoft.Communication.ChatMessageDeleted"],
    ThreadCreatedWithUser: ChatThreadCreatedWithUserData =
        ["Microsoft.Communication.ChatThreadCreatedWithUser"],
    ThreadWithUserDeleted: ChatThreadWithUserDeletedData =
        ["Microsoft.Communication.ChatThreadWithUserDeleted"],
    ThreadPropertiesUpdatedPerUser: ChatThreadPropertiesUpdatedPerUserData =
        ["Microsoft.Communication.ChatThreadPropertiesUpdatedPerUser"],
    ParticipantAddedToThreadWithUser: ChatParticipantAddedToThreadWithUserData = [
        "Microsoft.Communication.ChatParticipantAddedToThreadWithUser",
        "Microsoft.Communication.ChatMemberAddedToThreadWithUser"
    ],
    ParticipantRemovedFromThreadWithUser: ChatParticipantRemovedFromThreadWithUserData = [
        "Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser",
        "Microsoft.Communication.ChatMemberRemovedFromThreadWithUser"
    ],
    ThreadCreated: ChatThreadCreatedData = ["Microsoft.Communication.ChatThreadCreated"],
    ThreadDeleted: ChatThreadDeletedData = ["Microsoft.Communication.ChatThreadDeleted"],
    ThreadParticipantAdded: ChatThreadParticipantAddedData = [
        "Microsoft.Communication.ChatThreadParticipantAdded",
        "Microsoft.Communication.ChatParticipantAddedToThread"
    ],
    ThreadParticipantRemoved: ChatThreadParticipantRemovedData = [
        "Microsoft.Communication.ChatThreadParticipantRemoved",
        "Microsoft.Communication.ChatParticipantRemovedFromThread"
    ],
    MessageReceivedInThread: ChatMessageReceivedInThreadData =
        ["Microsoft.Communication.ChatMessageReceivedInThread"],
    MessageEditedInThread: ChatMessageEditedInThreadData =
        ["Microsoft.Communication.ChatMessageEditedInThread"],
    MessageDeletedInThread: ChatMessageDeletedInThreadData =
        ["Microsoft.Communication.ChatMessageDeletedInThread"],
    ThreadPropertiesUpdated: ChatThreadPropertiesUpdatedData =
        ["Microsoft.Communication.ChatThreadPropertiesUpdated"],
    TypingIndicatorReceivedInThread: ChatTypingIndicatorReceivedInThreadData =
        ["Microsoft.Communication.ChatTypingIndicatorReceivedInThread"],
    AzureBotCommandReceivedInThread: ChatAzureBotCommandReceivedInThreadData =
        ["Microsoft.Communication.ChatAzureBotCommandReceivedInThread"],
    SubscriptionValidation: SubscriptionValidationEventData =
        ["Microsoft.EventGrid.SubscriptionValidationEvent"],
    SubscriptionDeleted: SubscriptionDeletedEventData =
        ["Microsoft.EventGrid.SubscriptionDeletedEvent"],
}

impl ChatEventData {
    /// Decodes `data` for any event type: known types into their model (an error when the
    /// data breaks the model), others into [`ChatEventData::Unknown`].
    pub(crate) fn decode(event_type: &str, data: Option<Value>) -> Result<Self, String> {
        match Self::decode_known(event_type, data.as_ref())? {
            Some(known) => Ok(known),
            None => Ok(Self::Unknown(data)),
        }
    }

    /// Whether this is a per-user event (one copy per recipient) rather than a per-thread one.
    pub fn is_per_user(&self) -> bool {
        self.recipient().is_some()
    }

    /// The user a per-user event is for; `None` for per-thread and other events.
    pub fn recipient(&self) -> Option<&crate::CommunicationIdentifier> {
        match self {
            Self::MessageReceived(d) => Some(&d.recipient),
            Self::MessageEdited(d) => Some(&d.recipient),
            Self::MessageDeleted(d) => Some(&d.recipient),
            Self::ThreadCreatedWithUser(d) => Some(&d.recipient),
            Self::ThreadWithUserDeleted(d) => Some(&d.recipient),
            Self::ThreadPropertiesUpdatedPerUser(d) => Some(&d.recipient),
            Self::ParticipantAddedToThreadWithUser(d) => Some(&d.recipient),
            Self::ParticipantRemovedFromThreadWithUser(d) => Some(&d.recipient),
            _ => None,
        }
    }

    /// The thread a chat event is about; `None` for system and unknown events.
    pub fn thread_id(&self) -> Option<&str> {
        Some(match self {
            Self::MessageReceived(d) => &d.thread_id,
            Self::MessageEdited(d) => &d.thread_id,
            Self::MessageDeleted(d) => &d.thread_id,
            Self::ThreadCreatedWithUser(d) => &d.thread_id,
            Self::ThreadWithUserDeleted(d) => &d.thread_id,
            Self::ThreadPropertiesUpdatedPerUser(d) => &d.thread_id,
            Self::ParticipantAddedToThreadWithUser(d) => &d.thread_id,
            Self::ParticipantRemovedFromThreadWithUser(d) => &d.thread_id,
            Self::ThreadCreated(d) => &d.thread_id,
            Self::ThreadDeleted(d) => &d.thread_id,
            Self::ThreadParticipantAdded(d) => &d.thread_id,
            Self::ThreadParticipantRemoved(d) => &d.thread_id,
            Self::MessageReceivedInThread(d) => &d.thread_id,
            Self::MessageEditedInThread(d) => &d.thread_id,
            Self::MessageDeletedInThread(d) => &d.thread_id,
            Self::ThreadPropertiesUpdated(d) => &d.thread_id,
            Self::TypingIndicatorReceivedInThread(d) => &d.thread_id,
            Self::AzureBotCommandReceivedInThread(d) => &d.thread_id,
            Self::SubscriptionValidation(_) | Self::SubscriptionDeleted(_) | Self::Unknown(_) => {
                return None
            }
        })
    }
}

/// Every chat event type this crate models, by its current name, per user first: for
/// subscription filters and tests.
pub const CHAT_EVENT_TYPES: [&str; 18] = [
    "Microsoft.Communication.ChatMessageReceived",
    "Microsoft.Communication.ChatMessageEdited",
    "Microsoft.Communication.ChatMessageDeleted",
    "Microsoft.Communication.ChatThreadCreatedWithUser",
    "Microsoft.Communication.ChatThreadWithUserDeleted",
    "Microsoft.Communication.ChatThreadPropertiesUpdatedPerUser",
    "Microsoft.Communication.ChatParticipantAddedToThreadWithUser",
    "Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser",
    "Microsoft.Communication.ChatThreadCreated",
    "Microsoft.Communication.ChatThreadDeleted",
    "Microsoft.Communication.ChatThreadParticipantAdded",
    "Microsoft.Communication.ChatThreadParticipantRemoved",
    "Microsoft.Communication.ChatMessageReceivedInThread",
    "Microsoft.Communication.ChatMessageEditedInThread",
    "Microsoft.Communication.ChatMessageDeletedInThread",
    "Microsoft.Communication.ChatThreadPropertiesUpdated",
    "Microsoft.Communication.ChatTypingIndicatorReceivedInThread",
    "Microsoft.Communication.ChatAzureBotCommandReceivedInThread",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed chat type is in the table under its own name and is an ACS type.
    #[test]
    fn chat_event_types_all_decode_as_known() {
        for name in CHAT_EVENT_TYPES {
            assert!(
                name.starts_with("Microsoft.Communication."),
                "{name} is not an ACS type"
            );
            let err = ChatEventData::decode_known(name, None).unwrap_err();
            assert_eq!(err, "missing field `data`", "decoding {name} without data");
        }
        assert_eq!(
            ChatEventData::decode("Microsoft.Communication.SomethingNew", None),
            Ok(ChatEventData::Unknown(None))
        );
    }
}
