//! `ChatMessageReadReceipt`: who read up to which message.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::identifier::{CommunicationIdentifier, KeptIdentifier};
use super::wire::{wire_model, Id, Plain, Time};

/// A read receipt: the latest message a participant has read, and when.
///
/// ```
/// use acs_chat::models::ChatMessageReadReceipt;
/// let r: ChatMessageReadReceipt = serde_json::from_str(r#"{
///     "senderCommunicationIdentifier": {"rawId": "8:acs:r_u", "communicationUser": {"id": "8:acs:r_u"}},
///     "chatMessageId": "1717632209847", "readOn": "2024-06-06T00:03:30Z"}"#)?;
/// assert_eq!(r.chat_message_id, "1717632209847");
/// assert_eq!(r.sender.raw_id(), "8:acs:r_u");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct ChatMessageReadReceipt {
    /// Who read the message.
    pub sender: CommunicationIdentifier,
    /// The id of the latest message they read.
    pub chat_message_id: String,
    /// When they read it.
    pub read_on: DateTime<Utc>,
    /// Fields this version of the crate does not know, kept as received.
    pub additional_properties: Map<String, Value>,
    sender_json: KeptIdentifier,
}

wire_model!(ChatMessageReadReceipt, "a read receipt object", {
    sender + sender_json: Id = "senderCommunicationIdentifier",
    chat_message_id: Plain<String> = "chatMessageId",
    read_on: Time = "readOn",
});
