//! Receiving chat events from Azure Event Grid: typed models of every ACS chat event, both
//! envelope schemas, a framework-agnostic webhook handler and a deduplicator.
//!
//! In production, server-side programs learn of new messages the way Microsoft recommends:
//! ACS publishes chat events to Event Grid, which POSTs them to the program's webhook. This
//! module covers the receiving end, with no HTTP server dependency:
//!
//! - [`parse`] decodes a delivery body (Event Grid schema or CloudEvents 1.0, one event or a
//!   batch) into [`ChatEventEnvelope`]s whose [`ChatEventData`] is typed per event type.
//! - [`WebhookHandler`] answers the subscription validation handshake and the CloudEvents
//!   abuse-protection handshake, checks the subscription name and a shared secret, and hands
//!   over the events of each delivery.
//! - [`Deduplicator`] drops redeliveries, since Event Grid delivers at least once.
//!
//! Every model keeps the fields it does not know in `additional_properties`, and re-encoding
//! a decoded event (`serde_json::to_value`) gives back the JSON it came from.
//!
//! ```
//! use acs_chat::events::{ChatEventData, Deduplicator, WebhookHandler, WebhookOptions, WebhookRequestKind};
//!
//! let handler = WebhookHandler::new(WebhookOptions::default());
//! let seen = Deduplicator::new(100_000);
//!
//! // What your HTTP server received (here: one chat message, Event Grid schema).
//! let body = br#"[{"id":"c1ab5a4e","topic":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/c",
//!   "subject":"thread/19:t@thread.v2/sender/8:acs:r_ann/recipient/8:acs:r_bot",
//!   "eventType":"Microsoft.Communication.ChatMessageReceived","eventTime":"2021-02-19T00:25:59.9436666Z",
//!   "dataVersion":"1.0","metadataVersion":"1","data":{"messageBody":"hello bot","messageId":"1613694358927",
//!   "senderCommunicationIdentifier":{"rawId":"8:acs:r_ann"},"recipientCommunicationIdentifier":{"rawId":"8:acs:r_bot"},
//!   "composeTime":"2021-02-19T00:25:58.927Z","type":"Text","version":1613694358927,"threadId":"19:t@thread.v2"}}]"#;
//! let headers = [("Content-Type", "application/json; charset=utf-8"), ("aeg-event-type", "Notification")];
//!
//! for _attempt in 0..2 {
//!     // Event Grid may deliver the same event twice; the second time it is skipped.
//!     let out = handler.handle("POST", "/api/events", headers, body);
//!     assert!(matches!(out.kind, WebhookRequestKind::Notification));
//!     for event in out.events.iter().filter(|e| seen.first_delivery(&e.id)) {
//!         if let ChatEventData::MessageReceived(m) = &event.data {
//!             println!("{} wrote {:?} in {}", m.sender, m.message_body, m.thread_id);
//!         }
//!     }
//!     assert_eq!(out.response.status, 200); // send out.response back
//! }
//!
//! // Creating the subscription: Event Grid validates the endpoint first.
//! let validation = br#"[{"id":"2d1781af","topic":"/subscriptions/x","subject":"",
//!   "data":{"validationCode":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
//!   "eventType":"Microsoft.EventGrid.SubscriptionValidationEvent",
//!   "eventTime":"2022-10-28T04:23:35.1981776Z","metadataVersion":"1","dataVersion":"1"}]"#;
//! let out = handler.handle("POST", "/api/events",
//!     [("Content-Type", "application/json"), ("aeg-event-type", "SubscriptionValidation")], validation);
//! assert_eq!(out.response.status, 200);
//! assert_eq!(out.response.body, br#"{"validationResponse":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}"#);
//!
//! // With the CloudEvents schema, Event Grid asks for consent with OPTIONS instead.
//! let out = handler.handle("OPTIONS", "/api/events", [("WebHook-Request-Origin", "eventgrid.azure.net")], b"");
//! assert_eq!(out.response.header("WebHook-Allowed-Origin"), Some("eventgrid.azure.net"));
//! ```

mod data;
mod dedup;
mod envelope;
mod models;
mod parse;
mod webhook;
pub(crate) mod wire;

pub use data::{ChatEventData, CHAT_EVENT_TYPES};
pub use dedup::Deduplicator;
pub use envelope::{ChatEventEnvelope, EventSchema};
pub use models::{
    ChatAzureBotCommandReceivedInThreadData, ChatEventParticipant, ChatMessageDeletedData,
    ChatMessageDeletedInThreadData, ChatMessageEditedData, ChatMessageEditedInThreadData,
    ChatMessageReceivedData, ChatMessageReceivedInThreadData,
    ChatParticipantAddedToThreadWithUserData, ChatParticipantRemovedFromThreadWithUserData,
    ChatThreadCreatedData, ChatThreadCreatedWithUserData, ChatThreadDeletedData,
    ChatThreadParticipantAddedData, ChatThreadParticipantRemovedData,
    ChatThreadPropertiesUpdatedData, ChatThreadPropertiesUpdatedPerUserData,
    ChatThreadWithUserDeletedData, ChatTypingIndicatorReceivedInThreadData,
    SubscriptionDeletedEventData, SubscriptionValidationEventData,
};
pub use parse::parse;
pub use webhook::{
    WebhookHandler, WebhookOptions, WebhookOutcome, WebhookRejection, WebhookRequestKind,
    WebhookResponse, WebhookSecret,
};
