//! The two envelopes on the wire: the Event Grid schema (always a JSON array) and CloudEvents
//! 1.0 structured mode (one object per request; an array, `application/cloudevents-batch+json`,
//! when batching is on). Events are built in the Event Grid schema; the CloudEvents form maps
//! `topic`→`source`, `eventType`→`type`, `eventTime`→`time`, drops `dataVersion` and
//! `metadataVersion` and adds `specversion` (`DELIVERY.md` §7).

use serde_json::{json, Value};

use super::config::EventSchema;

/// An Event Grid schema event as a CloudEvent.
pub(crate) fn to_cloud_event(e: &Value) -> Value {
    json!({
        "id": e["id"],
        "source": e["topic"],
        "subject": e["subject"],
        "type": e["eventType"],
        "time": e["eventTime"],
        "data": e["data"],
        "specversion": "1.0",
        "datacontenttype": "application/json",
    })
}

/// The body and `Content-Type` of one delivery of `events` (at least one).
pub(crate) fn body(schema: EventSchema, events: &[Value]) -> (Vec<u8>, &'static str) {
    match schema {
        EventSchema::EventGrid => (
            Value::Array(events.to_vec()).to_string().into_bytes(),
            "application/json; charset=utf-8",
        ),
        EventSchema::CloudEvents if events.len() == 1 => (
            to_cloud_event(&events[0]).to_string().into_bytes(),
            "application/cloudevents+json; charset=utf-8",
        ),
        EventSchema::CloudEvents => (
            Value::Array(events.iter().map(to_cloud_event).collect())
                .to_string()
                .into_bytes(),
            "application/cloudevents-batch+json; charset=utf-8",
        ),
    }
}

/// The `Microsoft.EventGrid.SubscriptionValidationEvent` sent before the first event, as in
/// `samples/eventgrid-system/SubscriptionValidationEvent.docs.json`.
pub(crate) fn validation_event(topic: &str, code: &str, url: &str, now_ms: i64) -> Value {
    json!([{
        "id": uuid::Uuid::new_v4().to_string(),
        "topic": topic,
        "subject": "",
        "data": { "validationCode": code, "validationUrl": url },
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": crate::wire::format_time_millis(now_ms),
        "metadataVersion": "1",
        "dataVersion": "1",
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CloudEvents form keeps id, subject, data and renames the rest.
    #[test]
    fn to_cloud_event_maps_fields() {
        let eg = json!({"id":"a","topic":"/t","subject":"s","data":{"x":1},
            "eventType":"T","eventTime":"2021-01-01T00:00:00.000Z","dataVersion":"1.0","metadataVersion":"1"});
        let ce = to_cloud_event(&eg);
        assert_eq!(ce["source"], "/t", "{ce}");
        assert_eq!(ce["type"], "T", "{ce}");
        assert_eq!(ce["specversion"], "1.0", "{ce}");
        assert!(ce.get("dataVersion").is_none(), "{ce}");
        let (b, ct) = body(EventSchema::EventGrid, &[eg]);
        assert!(
            b.starts_with(b"[") && ct.starts_with("application/json"),
            "{ct}"
        );
    }
}
