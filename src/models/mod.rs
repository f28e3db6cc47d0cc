//! What the service sends and receives: threads, messages, participants, read receipts and
//! communication identifiers.
//!
//! Response models are `#[non_exhaustive]` and keep every field the service sends: fields this
//! version of the crate does not know land in `additional_properties` and are written back
//! unchanged, and an identifier decoded from the service re-encodes exactly as it arrived.
//! Request bodies live in [`requests`].
//!
//! All models are plain serde types, so payloads that reach you some other way (webhooks,
//! logs, recorded traffic) decode with `serde_json` directly; [`decode_page`] and
//! [`decode_error`] decode list pages and error bodies exactly as the clients do.

mod attachment;
mod identifier;
mod identifier_model;
mod message;
mod participant;
mod read_receipt;
pub mod requests;
mod retention;
mod thread;
pub(crate) mod time;
mod wire;

pub use attachment::{ChatAttachment, ChatAttachmentType};
pub use identifier::{CommunicationCloudEnvironment, CommunicationIdentifier};
pub use message::{ChatMessage, ChatMessageContent, ChatMessageType, SendChatMessageResult};
pub use participant::ChatParticipant;
pub use read_receipt::ChatMessageReadReceipt;
pub use retention::ChatRetentionPolicy;
pub use thread::{ChatThreadInfo, ChatThreadProperties, CreateChatThreadResult};

// The clients decode create/add responses through these.
pub(crate) use thread::{pair_invalid_participants, AddChatParticipantsBody, CreateChatThreadBody};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;

/// One page of a list response: `{"value": [...], "nextLink": "<absolute URL>"}`.
/// `nextLink` is absent (or, from some services, `null` or empty) on the last page.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageBody<T> {
    pub(crate) value: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) next_link: Option<String>,
}

/// Decodes one page of a list response, `{"value": [...], "nextLink": "..."}`, exactly as the
/// pagers do, into its items and its `nextLink` (`None` when absent or `null`).
///
/// `T` is the list's item: [`ChatThreadInfo`], [`ChatMessage`], [`ChatParticipant`] or
/// [`ChatMessageReadReceipt`].
///
/// ```
/// use acs_chat::models::{decode_page, ChatMessageReadReceipt};
/// let body = br#"{"value":[{"senderCommunicationIdentifier":{"rawId":"8:acs:r_u"},
///     "chatMessageId":"1","readOn":"2024-06-06T00:03:30Z"}],
///     "nextLink":"https://x/chat/threads/t/readReceipts?skip=1&maxPageSize=1&api-version=2025-03-15"}"#;
/// let (items, next) = decode_page::<ChatMessageReadReceipt>(body)?;
/// assert_eq!(items.len(), 1);
/// assert!(next.unwrap().contains("skip=1"));
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn decode_page<T: DeserializeOwned>(
    body: &[u8],
) -> Result<(Vec<T>, Option<String>), serde_json::Error> {
    // One UTF-8 check of the whole body, instead of one per string that `from_slice` makes
    // (a fifth of a message page's decoding). A body that is not UTF-8 goes through
    // `from_slice`, whose error says where.
    let page: PageBody<T> = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text)?,
        Err(_) => serde_json::from_slice(body)?,
    };
    Ok((page.value, page.next_link))
}

/// Parses an error response body exactly as the clients do. Every shape the service is known
/// to send is read (`{"error":…}`, `{"Error":…}`, `{"CommunicationError":…}`, PascalCase or
/// camelCase keys, a missing message); an empty or non-JSON body gives an error with an empty
/// code and message. Never fails.
///
/// ```
/// use acs_chat::models::decode_error;
/// let e = decode_error(404, br#"{"CommunicationError":{"Code":"NotFound","Message":"gone","Details":[]}}"#);
/// assert_eq!((e.status, e.code.as_str(), e.message.as_str()), (404, "NotFound", "gone"));
/// assert_eq!(decode_error(401, b"").code, "");
/// ```
pub fn decode_error(status: u16, body: &[u8]) -> ServiceError {
    ServiceError::from_response(status, None, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page without `value` is an error; `nextLink` absent or null is `None`.
    #[test]
    fn decode_page_handles_envelope_variants() {
        let (items, next) = decode_page::<ChatThreadInfo>(br#"{"value":[]}"#).unwrap();
        assert!(items.is_empty() && next.is_none());
        let (_, next) = decode_page::<ChatThreadInfo>(br#"{"value":[],"nextLink":null}"#).unwrap();
        assert!(next.is_none());
        for body in [
            &b"{}"[..],
            b"",
            b"[]",
            b"{\"value\":[],\"nextLink\":\"\xff\"}",
            br#"{"value":{}}"#,
            br#"{"value":[{"id":1}]}"#,
        ] {
            let r = decode_page::<ChatThreadInfo>(body);
            assert!(
                r.is_err(),
                "decoding {:?} gave {r:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
