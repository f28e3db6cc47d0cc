//! `ChatMessageReadReceipt`: who read up to which message.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::identifier::{CommunicationIdentifier, IdentifierJson, WireIdentifier};
use super::time;

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
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ReceiptWire", into = "ReceiptWire")]
pub struct ChatMessageReadReceipt {
    /// Who read the message.
    pub sender: CommunicationIdentifier,
    /// The id of the latest message they read.
    pub chat_message_id: String,
    /// When they read it.
    pub read_on: DateTime<Utc>,
    /// Fields this version of the crate does not know, kept as received.
    pub additional_properties: Map<String, Value>,
    wire_sender: WireIdentifier,
}

impl fmt::Debug for ChatMessageReadReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatMessageReadReceipt")
            .field("sender", &self.sender)
            .field("chat_message_id", &self.chat_message_id)
            .field("read_on", &self.read_on)
            .field("additional_properties", &self.additional_properties)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptWire {
    sender_communication_identifier: IdentifierJson,
    chat_message_id: String,
    #[serde(with = "time")]
    read_on: DateTime<Utc>,
    #[serde(flatten)]
    additional_properties: Map<String, Value>,
}

impl TryFrom<ReceiptWire> for ChatMessageReadReceipt {
    type Error = String;

    fn try_from(w: ReceiptWire) -> Result<Self, String> {
        let (sender, wire_sender) = WireIdentifier::decode(w.sender_communication_identifier)?;
        Ok(ChatMessageReadReceipt {
            sender,
            chat_message_id: w.chat_message_id,
            read_on: w.read_on,
            additional_properties: w.additional_properties,
            wire_sender,
        })
    }
}

impl From<ChatMessageReadReceipt> for ReceiptWire {
    fn from(r: ChatMessageReadReceipt) -> Self {
        ReceiptWire {
            sender_communication_identifier: r.wire_sender.encode(&r.sender),
            chat_message_id: r.chat_message_id,
            read_on: r.read_on,
            additional_properties: r.additional_properties,
        }
    }
}
