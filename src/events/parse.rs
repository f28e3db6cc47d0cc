//! `parse`: a delivery's body, by its `Content-Type`, into events.

use serde_json::Value;

use super::envelope::{ChatEventEnvelope, EventSchema};
use crate::error::{Error, Result};

/// How a body is to be read, from its media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// `application/json` (or no `Content-Type`): an Event Grid array; each event's schema is
    /// told by its keys, and a lone object is accepted too.
    Json,
    /// `application/cloudevents+json`: one CloudEvent.
    CloudEvent,
    /// `application/cloudevents-batch+json`: an array of CloudEvents.
    CloudEventBatch,
}

/// Reads the media type of a `Content-Type` value, ignoring parameters and case.
pub(crate) fn body_kind(content_type: &str) -> Result<BodyKind> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "" | "application/json" | "text/json" => Ok(BodyKind::Json),
        "application/cloudevents+json" => Ok(BodyKind::CloudEvent),
        "application/cloudevents-batch+json" => Ok(BodyKind::CloudEventBatch),
        _ => Err(invalid(format!(
            "unsupported content type (expected application/json, \
             application/cloudevents+json or application/cloudevents-batch+json), {} bytes long",
            content_type.len()
        ))),
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidEvent {
        reason,
        source: None,
    }
}

/// Decodes a webhook delivery's body into its events.
///
/// `content_type` is the request's `Content-Type` header:
///
/// - `application/json` (Event Grid schema): a JSON array of events, as Event Grid always
///   sends. A single event object is accepted too (as in the spec's samples), and an event
///   with `specversion` is read as a CloudEvent.
/// - `application/cloudevents+json`: one CloudEvent 1.0 in structured mode.
/// - `application/cloudevents-batch+json`: a JSON array of CloudEvents.
/// - an empty string (no header) is read like `application/json`.
///
/// Chat and Event Grid system events get their typed [`ChatEventData`](super::ChatEventData);
/// other event types are kept as [`ChatEventData::Unknown`](super::ChatEventData::Unknown).
/// Anything else is an [`Error::InvalidEvent`] naming the event and field: a body that is not
/// JSON, an array element that is not an object, a missing envelope field, or a known event
/// type whose data breaks its schema. An empty array gives no events.
///
/// ```
/// use acs_chat::events::{self, ChatEventData};
///
/// let body = br#"[{"id":"4c2b8d0e","topic":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/c",
///   "subject":"thread/19:t@thread.v2/sender/8:acs:r_a/recipient/8:acs:r_b",
///   "eventType":"Microsoft.Communication.ChatMessageReceived","eventTime":"2021-02-19T00:25:59.9436666Z",
///   "dataVersion":"1.0","metadataVersion":"1","data":{"messageBody":"hi","messageId":"1613694358927",
///   "senderCommunicationIdentifier":{"rawId":"8:acs:r_a","communicationUser":{"id":"8:acs:r_a"}},
///   "recipientCommunicationIdentifier":{"rawId":"8:acs:r_b","communicationUser":{"id":"8:acs:r_b"}},
///   "senderDisplayName":"Ann","composeTime":"2021-02-19T00:25:58.927Z","type":"Text","version":1613694358927,
///   "threadId":"19:t@thread.v2","senderId":"8:acs:r_a"}}]"#;
/// let events = events::parse("application/json; charset=utf-8", body)?;
/// let ChatEventData::MessageReceived(message) = &events[0].data else { panic!() };
/// assert_eq!((message.sender.raw_id().as_str(), message.message_body.as_str()), ("8:acs:r_a", "hi"));
/// // The legacy `senderId` is not modeled, but kept and written back:
/// assert!(message.additional_properties.contains_key("senderId"));
/// # Ok::<(), acs_chat::Error>(())
/// ```
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<ChatEventEnvelope>> {
    let kind = body_kind(content_type)?;
    let value: Value = serde_json::from_slice(body).map_err(|e| Error::InvalidEvent {
        reason: "the body is not JSON".into(),
        source: Some(e),
    })?;
    let (items, forced) = match (kind, value) {
        (BodyKind::CloudEvent, Value::Object(o)) => (vec![Value::Object(o)], true),
        (BodyKind::CloudEvent, other) => {
            return Err(invalid(format!(
                "a CloudEvents body must be one event object, found {}",
                super::wire::json_type(&other)
            )))
        }
        (BodyKind::CloudEventBatch, Value::Array(items)) => (items, true),
        (BodyKind::Json, Value::Array(items)) => (items, false),
        (BodyKind::Json, Value::Object(o)) => (vec![Value::Object(o)], false),
        (_, other) => {
            return Err(invalid(format!(
                "an event delivery must be a JSON array of events, found {}",
                super::wire::json_type(&other)
            )))
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(object) = item else {
                return Err(invalid(format!(
                    "event {i}: expected an object, found {}",
                    super::wire::json_type(&item)
                )));
            };
            let schema = if forced {
                EventSchema::CloudEvents
            } else {
                ChatEventEnvelope::detect(&object)
            };
            ChatEventEnvelope::from_object(object, schema)
                .map_err(|e| invalid(format!("event {i}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Media types are read case-insensitively and without their parameters.
    #[test]
    fn body_kind_reads_media_type() {
        let cases = [
            ("application/json; charset=utf-8", BodyKind::Json),
            ("", BodyKind::Json),
            (
                "Application/CloudEvents+JSON; charset=utf-8",
                BodyKind::CloudEvent,
            ),
            (
                "application/cloudevents-batch+json",
                BodyKind::CloudEventBatch,
            ),
        ];
        for (header, want) in cases {
            assert_eq!(
                body_kind(header).ok(),
                Some(want),
                "content type {header:?}"
            );
        }
        for bad in ["text/plain", "application/xml", "multipart/form-data"] {
            assert!(body_kind(bad).is_err(), "content type {bad:?} accepted");
        }
    }
}
