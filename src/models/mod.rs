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

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess};

use crate::error::ServiceError;

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
    let page = PageSeed::<T> {
        capacity: (body.len() / MIN_ITEM_BYTES).min(MAX_RESERVED_ITEMS),
        item: PhantomData,
    };
    match std::str::from_utf8(body) {
        Ok(text) => page.read(serde_json::Deserializer::from_str(text)),
        Err(_) => page.read(serde_json::Deserializer::from_slice(body)),
    }
}

/// Fewer bytes than any list item the service sends takes (a read receipt, the smallest,
/// is ~150), so a page holds at most `body.len() / MIN_ITEM_BYTES` items.
const MIN_ITEM_BYTES: usize = 128;

/// The most items reserved up front: the service's largest page (`maxPageSize` 200). A longer
/// page still decodes; its `Vec` grows past this.
const MAX_RESERVED_ITEMS: usize = 200;

/// One page of a list response, `{"value": [...], "nextLink": "<absolute URL>"}`, read into a
/// `Vec` with room for `capacity` items made up front: growing it by doubling moved every
/// 560-byte message up to eight times (a tenth of a message page's decoding). Other members
/// are ignored; `nextLink` absent or `null` is `None`.
struct PageSeed<T> {
    capacity: usize,
    item: PhantomData<T>,
}

impl<T: DeserializeOwned> PageSeed<T> {
    /// Reads the page and checks that nothing but whitespace follows it.
    fn read<'de, R: serde_json::de::Read<'de>>(
        self,
        mut json: serde_json::Deserializer<R>,
    ) -> Result<(Vec<T>, Option<String>), serde_json::Error> {
        let page = self.deserialize(&mut json)?;
        json.end()?;
        Ok(page)
    }
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for PageSeed<T> {
    type Value = (Vec<T>, Option<String>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> de::Visitor<'de> for PageSeed<T> {
    type Value = (Vec<T>, Option<String>);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list page object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut value, mut next_link) = (None, None);
        while let Some(key) = map.next_key::<wire::Key<'de>>()? {
            match key.as_str() {
                "value" if value.is_some() => return Err(de::Error::duplicate_field("value")),
                "value" => {
                    value = Some(map.next_value_seed(Items::<T>(self.capacity, PhantomData))?)
                }
                "nextLink" if next_link.is_some() => {
                    return Err(de::Error::duplicate_field("nextLink"))
                }
                "nextLink" => next_link = Some(map.next_value::<Option<String>>()?),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let value = value.ok_or_else(|| de::Error::missing_field("value"))?;
        Ok((value, next_link.flatten()))
    }
}

/// The page's `value` array, read into a `Vec` of the given capacity.
struct Items<T>(usize, PhantomData<T>);

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Items<T> {
    type Value = Vec<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: DeserializeOwned> de::Visitor<'de> for Items<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of list items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::with_capacity(self.0);
        while let Some(item) = seq.next_element::<T>()? {
            items.push(item);
        }
        Ok(items)
    }
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
        let (_, next) =
            decode_page::<ChatThreadInfo>(br#"{"odata":{"x":[1]},"value":[],"nextLink":"n"} "#)
                .unwrap();
        assert_eq!(
            next.as_deref(),
            Some("n"),
            "other envelope members are skipped"
        );
        for body in [
            &b"{}"[..],
            b"",
            b"[]",
            b"{\"value\":[],\"nextLink\":\"\xff\"}",
            br#"{"value":{}}"#,
            br#"{"value":[{"id":1}]}"#,
            br#"{"value":[],"value":[]}"#,
            br#"{"value":[],"nextLink":"a","nextLink":"b"}"#,
            br#"{"value":[]} trailing"#,
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
