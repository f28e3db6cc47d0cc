//! `ChatParticipant`: a member of a chat thread.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::identifier::{CommunicationIdentifier, KeptIdentifier};
use super::wire::{wire_model, Id, Opt, OptTime};

/// A member of a chat thread: who they are, the name others see, and from when they can read
/// the thread's history.
///
/// Build one with [`ChatParticipant::new`] and the `with_*` setters:
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// use acs_chat::{ChatParticipant, CommunicationIdentifier};
///
/// let bob = ChatParticipant::new(CommunicationIdentifier::communication_user(emu.create_user()))
///     .with_display_name("Bob")
///     .with_metadata([("role", "reviewer")]);
/// assert_eq!(bob.display_name.as_deref(), Some("Bob"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct ChatParticipant {
    /// Who the participant is.
    pub identifier: CommunicationIdentifier,
    /// The name shown to other participants.
    pub display_name: Option<String>,
    /// The participant can read messages sent from this time on. The service reports
    /// `1970-01-01T00:00:00Z` for "all history".
    pub share_history_time: Option<DateTime<Utc>>,
    /// Free-form string pairs about the participant (api-version 2025-03-15; up to 1 KB).
    /// `None` and an empty map are sent differently (absent and `{}`).
    pub metadata: Option<HashMap<String, String>>,
    /// Fields this version of the crate does not know, kept so that nothing the service sends
    /// is lost and sent back as they are.
    pub additional_properties: Map<String, Value>,
    identifier_json: KeptIdentifier,
}

wire_model!(ChatParticipant, "a chat participant object", {
    identifier + identifier_json: Id = "communicationIdentifier",
    display_name: Opt<String> = "displayName",
    share_history_time: OptTime = "shareHistoryTime",
    metadata: Opt<HashMap<String, String>> = "metadata",
});

impl ChatParticipant {
    /// A participant with just an identifier.
    pub fn new(identifier: CommunicationIdentifier) -> Self {
        ChatParticipant {
            identifier,
            display_name: None,
            share_history_time: None,
            metadata: None,
            additional_properties: Map::new(),
            identifier_json: KeptIdentifier::default(),
        }
    }

    /// Sets the name shown to other participants.
    pub fn with_display_name(mut self, display_name: impl Into<String>) -> Self {
        self.display_name = Some(display_name.into());
        self
    }

    /// Sets the time from which the participant can read the thread's history.
    ///
    /// ```
    /// use acs_chat::{ChatParticipant, CommunicationIdentifier};
    /// let p = ChatParticipant::new(CommunicationIdentifier::from_raw_id("8:acs:r_u"))
    ///     .with_share_history_time(chrono::DateTime::UNIX_EPOCH);
    /// assert!(p.share_history_time.is_some());
    /// ```
    pub fn with_share_history_time(mut self, time: DateTime<Utc>) -> Self {
        self.share_history_time = Some(time);
        self
    }

    /// Sets the participant's metadata.
    pub fn with_metadata<K, V>(mut self, metadata: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.metadata = Some(
            metadata
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A participant as the service sends it decodes and re-encodes unchanged, unknown fields included.
    #[test]
    fn participant_round_trips_service_json() {
        let value = json!({
            "communicationIdentifier": {"rawId": "8:acs:r_u", "communicationUser": {"id": "sanitized"}},
            "displayName": "",
            "shareHistoryTime": "1970-01-01T00:00:00Z",
            "metadata": {},
            "role": "presenter"
        });
        let p: ChatParticipant = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(
            p.identifier,
            CommunicationIdentifier::communication_user("sanitized")
        );
        assert_eq!(p.display_name.as_deref(), Some(""));
        assert_eq!(p.metadata, Some(HashMap::new()));
        assert_eq!(
            p.additional_properties.get("role"),
            Some(&json!("presenter"))
        );
        assert_eq!(serde_json::to_value(&p).unwrap(), value);
    }

    /// A new participant serialises with only what was set.
    #[test]
    fn participant_new_serializes_minimal_json() {
        let p = ChatParticipant::new(CommunicationIdentifier::from_raw_id("8:acs:r_u"))
            .with_display_name("Bob");
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"communicationIdentifier": {"rawId": "8:acs:r_u", "communicationUser": {"id": "8:acs:r_u"}}, "displayName": "Bob"})
        );
    }

    /// Changing a decoded participant's identifier sends the new identifier, not the kept JSON.
    #[test]
    fn participant_changed_identifier_is_reencoded() {
        let mut p: ChatParticipant = serde_json::from_value(
            json!({"communicationIdentifier": {"kind": "communicationUser", "rawId": "8:acs:a"}}),
        )
        .unwrap();
        p.identifier = CommunicationIdentifier::from_raw_id("8:acs:b");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v["communicationIdentifier"],
            json!({"rawId": "8:acs:b", "communicationUser": {"id": "8:acs:b"}})
        );
    }

    /// Debug shows the model's fields, and whether the identifier keeps JSON as received.
    #[test]
    fn participant_debug_shows_fields_and_kept_form() {
        let p = ChatParticipant::new(CommunicationIdentifier::from_raw_id("8:acs:r_u"))
            .with_display_name("Bob");
        let text = format!("{p:?}");
        assert!(
            text.starts_with("ChatParticipant { identifier: CommunicationUser"),
            "{text}"
        );
        assert!(text.contains("identifier_json: Canonical"), "{text}");
        let kept: ChatParticipant = serde_json::from_value(
            json!({"communicationIdentifier": {"kind": "communicationUser", "rawId": "8:acs:a"}}),
        )
        .unwrap();
        let text = format!("{kept:?}");
        assert!(
            text.contains("AsReceived") && text.contains("kind"),
            "{text}"
        );
        assert_ne!(
            kept,
            ChatParticipant::new(CommunicationIdentifier::from_raw_id("8:acs:a")),
            "a participant that arrived with `kind` writes different JSON"
        );
    }

    /// A participant without an identifier is a decode error.
    #[test]
    fn participant_without_identifier_is_rejected() {
        let r = serde_json::from_value::<ChatParticipant>(json!({"displayName": "x"}));
        assert!(r.is_err(), "decoded {r:?}");
    }
}
