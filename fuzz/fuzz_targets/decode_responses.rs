//! Feeds arbitrary bytes to every decoder that reads what a server sends: list pages,
//! messages, threads, error bodies, identifiers (JSON and raw ids) and user tokens. Nothing
//! may panic, and whatever decodes must re-encode and decode again to the same value.
#![no_main]

use acs_chat::models::{decode_error, decode_page};
use acs_chat::{
    AccessToken, ChatMessage, ChatMessageReadReceipt, ChatParticipant, ChatThreadInfo,
    ChatThreadProperties, CommunicationIdentifier, SendChatMessageResult,
};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Decodes one value; if it decodes, its encoding must decode back to an equal value.
fn stable<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(body: &[u8]) {
    let Ok(first) = serde_json::from_slice::<T>(body) else {
        return;
    };
    let encoded = serde_json::to_vec(&first).expect("a decoded model re-encodes");
    let second: T = serde_json::from_slice(&encoded).expect("a re-encoded model decodes");
    assert_eq!(first, second, "round trip changed the value");
}

/// Decodes a page as the pagers do, then checks each item is stable.
fn page<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(body: &[u8]) {
    if let Ok((items, _next)) = decode_page::<T>(body) {
        for item in items {
            let encoded = serde_json::to_vec(&item).expect("an item re-encodes");
            let again: T = serde_json::from_slice(&encoded).expect("a re-encoded item decodes");
            assert_eq!(item, again, "round trip changed a page item");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 12 {
        0 => page::<ChatMessage>(body),
        1 => page::<ChatThreadInfo>(body),
        2 => page::<ChatParticipant>(body),
        3 => page::<ChatMessageReadReceipt>(body),
        4 => stable::<ChatMessage>(body),
        5 => stable::<ChatThreadProperties>(body),
        6 => stable::<SendChatMessageResult>(body),
        7 => {
            let status = body.first().map_or(500, |b| 400 + u16::from(*b));
            let error = decode_error(status, body);
            assert_eq!(error.status, status);
            let _ = error.to_string();
        }
        8 => stable::<CommunicationIdentifier>(body),
        9 => {
            if let Ok(raw) = std::str::from_utf8(body) {
                let id = CommunicationIdentifier::from_raw_id(raw);
                assert_eq!(id.raw_id(), raw, "raw id did not round-trip: {id:?}");
            }
        }
        10 => {
            if let Ok(token) = std::str::from_utf8(body) {
                if let Ok(parsed) = AccessToken::from_jwt(token) {
                    assert!(!format!("{parsed:?}").contains(token) || token.is_empty());
                }
            }
        }
        _ => stable::<acs_chat::models::requests::UpdateChatThreadRequest>(body),
    }
});
