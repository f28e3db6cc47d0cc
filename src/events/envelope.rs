//! `ChatEventEnvelope`: one event as Event Grid delivers it, in either of its two schemas.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::data::ChatEventData;
use super::wire::{Kept, Reader, Writer};

/// The envelope schema an event arrived in.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventSchema {
    /// The Event Grid schema (`eventType`, `eventTime`, `topic`, `dataVersion`).
    EventGrid,
    /// CloudEvents 1.0, structured mode (`type`, `time`, `source`, `specversion`).
    CloudEvents,
}

/// One event, with its envelope fields named the same whichever schema it came in.
///
/// | field | Event Grid | CloudEvents 1.0 |
/// |---|---|---|
/// | `id` | `id` | `id` |
/// | `topic` | `topic` | `source` |
/// | `subject` | `subject` | `subject` |
/// | `event_type` | `eventType` | `type` |
/// | `event_time` | `eventTime` | `time` |
/// | `data_version` | `dataVersion` | (none) |
/// | `metadata_version` | `metadataVersion` | (none) |
/// | `spec_version` | (none) | `specversion` |
///
/// Unknown envelope fields (CloudEvents extension attributes, `datacontenttype`,
/// `data_base64`, …) are kept in `additional_properties`. `Serialize` writes the event back in
/// the schema it came in, exactly as received for anything unchanged.
///
/// Decoding one event directly with serde picks the schema by its keys (`specversion` means
/// CloudEvents); [`parse`](super::parse) decodes whole deliveries.
///
/// ```
/// use acs_chat::events::{ChatEventEnvelope, EventSchema};
///
/// let json = serde_json::json!({"id":"e1","source":"/subscriptions/s","type":"Contoso.Custom",
///     "specversion":"1.0","data":{"x":1},"traceparent":"00-abc"});
/// let event: ChatEventEnvelope = serde_json::from_value(json.clone())?;
/// assert_eq!(event.schema, EventSchema::CloudEvents);
/// assert_eq!(event.topic.as_deref(), Some("/subscriptions/s"));
/// assert!(event.additional_properties.contains_key("traceparent"));
/// assert_eq!(serde_json::to_value(&event)?, json); // nothing lost
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct ChatEventEnvelope {
    /// The schema the event arrived in (and is written back in).
    pub schema: EventSchema,
    /// The event id, unique per event; redeliveries of the same event keep it (see
    /// [`Deduplicator`](super::Deduplicator)).
    pub id: String,
    /// The publishing resource: `topic` (Event Grid) or `source` (CloudEvents). For ACS this
    /// is `/subscriptions/…/providers/Microsoft.Communication/communicationServices/{name}`,
    /// in varying case: compare it case-insensitively.
    pub topic: Option<String>,
    /// What the event is about, such as `thread/{threadId}/sender/{rawId}/recipient/{rawId}`.
    pub subject: Option<String>,
    /// The event type as received, such as `Microsoft.Communication.ChatMessageReceived`
    /// (obsolete names stay as received here; `data` has the successor's model).
    pub event_type: String,
    /// When the event happened (required in the Event Grid schema, optional in CloudEvents).
    pub event_time: Option<DateTime<Utc>>,
    /// The schema version of `data` (Event Grid only; ACS sends `"1.0"`).
    pub data_version: Option<String>,
    /// The envelope's metadata version (Event Grid only; `"1"`).
    pub metadata_version: Option<String>,
    /// The CloudEvents spec version (`"1.0"`; CloudEvents only).
    pub spec_version: Option<String>,
    /// The typed `data`.
    pub data: ChatEventData,
    /// Envelope fields this version of the crate does not model, kept as received.
    pub additional_properties: Map<String, Value>,
    kept: Kept,
    /// The key `specversion` arrived under: several published samples write `specVersion`.
    spec_version_key: &'static str,
}

/// Envelope keys per schema: (id, topic, subject, type, time).
struct Keys {
    topic: &'static str,
    event_type: &'static str,
    time: &'static str,
}

const EVENT_GRID: Keys = Keys {
    topic: "topic",
    event_type: "eventType",
    time: "eventTime",
};

const CLOUD_EVENTS: Keys = Keys {
    topic: "source",
    event_type: "type",
    time: "time",
};

fn keys(schema: EventSchema) -> &'static Keys {
    match schema {
        EventSchema::EventGrid => &EVENT_GRID,
        EventSchema::CloudEvents => &CLOUD_EVENTS,
    }
}

impl ChatEventEnvelope {
    /// Which schema an event object is in, by its keys: `specversion` (or the `specVersion`
    /// some samples use) means CloudEvents.
    pub(crate) fn detect(object: &Map<String, Value>) -> EventSchema {
        if object.contains_key("specversion") || object.contains_key("specVersion") {
            EventSchema::CloudEvents
        } else {
            EventSchema::EventGrid
        }
    }

    /// Decodes one event object in the given schema.
    pub(crate) fn from_object(
        object: Map<String, Value>,
        schema: EventSchema,
    ) -> Result<Self, String> {
        let k = keys(schema);
        let mut r = Reader::new(object);
        let id: String = r.required("id")?;
        let event_type: String = r.required(k.event_type)?;
        let in_event = |e: String| format!("{event_type}: {e}");
        let (topic, subject, event_time, data_version, metadata_version, spec_version, key) =
            match schema {
                EventSchema::EventGrid => (
                    r.optional("topic").map_err(in_event)?,
                    Some(r.required("subject").map_err(in_event)?),
                    Some(r.required("eventTime").map_err(in_event)?),
                    // Required by the spec, but Event Grid stamps a missing one as "", so a
                    // publisher may leave it out.
                    r.optional("dataVersion").map_err(in_event)?,
                    r.optional("metadataVersion").map_err(in_event)?,
                    None,
                    "specversion",
                ),
                EventSchema::CloudEvents => {
                    let key = if !r.has("specversion") && r.has("specVersion") {
                        "specVersion"
                    } else {
                        "specversion"
                    };
                    let spec_version: String = r.required(key).map_err(in_event)?;
                    if !spec_version.starts_with("1.") {
                        return Err(in_event(format!(
                            "unsupported CloudEvents `specversion` (only 1.x is read), length {}",
                            spec_version.len()
                        )));
                    }
                    (
                        Some(r.required("source").map_err(in_event)?),
                        r.optional("subject").map_err(in_event)?,
                        r.optional("time").map_err(in_event)?,
                        None,
                        None,
                        Some(spec_version),
                        key,
                    )
                }
            };
        let data = r.raw("data");
        let data = ChatEventData::decode(&event_type, data).map_err(in_event)?;
        let (additional_properties, kept) = r.finish();
        Ok(ChatEventEnvelope {
            schema,
            id,
            topic,
            subject,
            event_type,
            event_time,
            data_version,
            metadata_version,
            spec_version,
            data,
            additional_properties,
            kept,
            spec_version_key: key,
        })
    }

    /// Writes the event back in its schema.
    pub(crate) fn to_object(&self) -> Map<String, Value> {
        let k = keys(self.schema);
        let mut w = Writer::new(&self.additional_properties, &self.kept);
        w.required("id", &self.id);
        w.optional(k.topic, &self.topic);
        w.optional("subject", &self.subject);
        w.required(k.event_type, &self.event_type);
        w.optional(k.time, &self.event_time);
        if self.schema == EventSchema::EventGrid {
            w.optional("dataVersion", &self.data_version);
            w.optional("metadataVersion", &self.metadata_version);
        } else {
            w.optional(self.spec_version_key, &self.spec_version);
        }
        w.raw("data", self.data.to_value().as_ref());
        w.finish()
    }
}

impl Serialize for ChatEventEnvelope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_object().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ChatEventEnvelope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let object = Map::<String, Value>::deserialize(d)?;
        let schema = Self::detect(&object);
        Self::from_object(object, schema).map_err(serde::de::Error::custom)
    }
}
