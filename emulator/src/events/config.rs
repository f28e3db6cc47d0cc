//! What one event subscription is: where it delivers, which event types, in which schema,
//! and its retry policy (`../shared/eventgrid/DELIVERY.md` §5, §6).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The schema events are delivered in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventSchema {
    /// The Event Grid schema: a JSON array, `application/json`, the
    /// `SubscriptionValidationEvent` handshake.
    #[default]
    EventGrid,
    /// CloudEvents 1.0 structured mode, `application/cloudevents+json`, the `OPTIONS`
    /// abuse-protection handshake.
    CloudEvents,
}

impl FromStr for EventSchema {
    type Err = String;

    /// `eventgrid` or `cloudevents` (case-insensitive; `-` and `_` ignored).
    fn from_str(s: &str) -> Result<Self, String> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        match norm.as_str() {
            "eventgrid" | "eventgridschema" => Ok(EventSchema::EventGrid),
            "cloudevents" | "cloudeventschemav10" | "cloudeventsv10" => {
                Ok(EventSchema::CloudEvents)
            }
            _ => Err(format!(
                "unknown event schema {s:?}: expected eventgrid or cloudevents"
            )),
        }
    }
}

impl fmt::Display for EventSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventSchema::EventGrid => "eventgrid",
            EventSchema::CloudEvents => "cloudevents",
        })
    }
}

/// How an event subscription filters and delivers (see
/// [`Emulator::subscribe_events`](crate::Emulator::subscribe_events)). The defaults are Event
/// Grid's: every event type, the Event Grid schema, one event per request, 30 attempts, a
/// 24-hour time to live, a 30 s response limit, retries after 10 s, 30 s, 1 min, 5 min, …
///
/// ```
/// use std::time::Duration;
/// use acs_chat_emulator::{EventSchema, SubscriptionOptions};
/// let options = SubscriptionOptions::default()
///     .event_types(["Microsoft.Communication.ChatMessageReceived"])
///     .schema(EventSchema::CloudEvents)
///     .retry_scale(0.001)
///     .max_delivery_attempts(5)
///     .response_timeout(Duration::from_secs(2));
/// assert_eq!(options.max_events_per_batch_value(), 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionOptions {
    pub(crate) name: Option<String>,
    pub(crate) event_types: Vec<String>,
    pub(crate) schema: EventSchema,
    pub(crate) retry_scale: f64,
    pub(crate) max_delivery_attempts: u32,
    pub(crate) ttl: Duration,
    pub(crate) max_events_per_batch: usize,
    pub(crate) response_timeout: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) max_concurrent_deliveries: usize,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        SubscriptionOptions {
            name: None,
            event_types: Vec::new(),
            schema: EventSchema::EventGrid,
            retry_scale: 1.0,
            max_delivery_attempts: 30,
            ttl: Duration::from_secs(1440 * 60),
            max_events_per_batch: 1,
            response_timeout: Duration::from_secs(30),
            queue_capacity: 100_000,
            max_concurrent_deliveries: 64,
        }
    }
}

impl SubscriptionOptions {
    /// The subscription's name, sent as `aeg-subscription-name` (upper-cased, as Event Grid
    /// shows it). Default: `EMULATOR-SUBSCRIPTION-N`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Deliver only these event types (full names such as
    /// `Microsoft.Communication.ChatMessageReceived`, or the short `ChatMessageReceived`;
    /// compared case-insensitively). Empty (the default): every type.
    pub fn event_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.event_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// The delivery schema. Default: [`EventSchema::EventGrid`].
    pub fn schema(mut self, schema: EventSchema) -> Self {
        self.schema = schema;
        self
    }

    /// Multiplies every retry delay (10 s, 30 s, 1 min, …) and the handshake's 5 s retry:
    /// `0.001` turns 10 s into 10 ms, so retry tests take seconds. Default 1; negative or
    /// non-finite values count as 0.
    pub fn retry_scale(mut self, scale: f64) -> Self {
        self.retry_scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            0.0
        };
        self
    }

    /// Attempts per event, 1–30 (clamped). Default 30.
    pub fn max_delivery_attempts(mut self, n: u32) -> Self {
        self.max_delivery_attempts = n.clamp(1, 30);
        self
    }

    /// How long an event may wait for a successful delivery, checked before each retry
    /// (Event Grid's `eventTimeToLiveInMinutes`; not scaled). Default 1,440 min.
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Events per request, 1–5,000 (clamped); more than 1 turns output batching on (all or
    /// none). Default 1.
    pub fn max_events_per_batch(mut self, n: usize) -> Self {
        self.max_events_per_batch = n.clamp(1, 5000);
        self
    }

    /// The events-per-request setting.
    pub fn max_events_per_batch_value(&self) -> usize {
        self.max_events_per_batch
    }

    /// How long a delivery may take before it counts as timed out and is retried. Default
    /// 30 s, Event Grid's limit; lower it to test a hanging webhook quickly.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Events waiting for delivery at most (at least 1). A chat request never waits for
    /// delivery: when the queue is full, the new event is dead-lettered at once with the
    /// reason `QueueFull` (and counted). Default 100,000.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }

    /// Requests in flight to the endpoint at once (at least 1). Default 64.
    pub fn max_concurrent_deliveries(mut self, n: usize) -> Self {
        self.max_concurrent_deliveries = n.max(1);
        self
    }

    /// Whether events of `event_type` pass the filter.
    pub(crate) fn accepts(&self, event_type: &str) -> bool {
        self.event_types.is_empty()
            || self.event_types.iter().any(|t| {
                t.eq_ignore_ascii_case(event_type)
                    || event_type
                        .strip_prefix("Microsoft.Communication.")
                        .is_some_and(|short| t.eq_ignore_ascii_case(short))
            })
    }
}

/// The documented retry schedule: 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h,
/// then every 12 h. `failures` is how many attempts have failed so far (1 after the first).
pub(crate) fn retry_delay(failures: u32, status: Option<u16>, scale: f64) -> Duration {
    const SCHEDULE: [u64; 9] = [10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600];
    let i = failures.saturating_sub(1) as usize;
    let base = SCHEDULE.get(i).copied().unwrap_or(12 * 3600);
    // Per-code minimums of the delivery-and-retry table.
    let floor = match status {
        Some(408) => 120,
        Some(503) => 30,
        _ => 0,
    };
    Duration::from_secs(base.max(floor)).mul_f64(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schedule is Event Grid's, with the 408/503 minimums, and scales.
    #[test]
    fn retry_delay_follows_documented_schedule() {
        let secs: Vec<u64> = (1..=11)
            .map(|n| retry_delay(n, Some(500), 1.0).as_secs())
            .collect();
        assert_eq!(
            secs,
            [10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 43200],
            "schedule seen"
        );
        assert_eq!(retry_delay(1, Some(503), 1.0).as_secs(), 30);
        assert_eq!(retry_delay(1, Some(408), 1.0).as_secs(), 120);
        assert_eq!(retry_delay(1, None, 0.001), Duration::from_millis(10));
    }

    /// Short and full type names both filter; an empty filter passes all.
    #[test]
    fn accepts_filters_by_short_or_full_name() {
        let all = SubscriptionOptions::default();
        assert!(all.accepts("Microsoft.Communication.ChatThreadCreated"));
        let some = SubscriptionOptions::default().event_types(["chatmessagereceived"]);
        assert!(some.accepts("Microsoft.Communication.ChatMessageReceived"));
        assert!(!some.accepts("Microsoft.Communication.ChatMessageReceivedInThread"));
    }

    /// Both schema spellings parse; anything else is a clear error.
    #[test]
    fn schema_parses_names_and_rejects_others() {
        assert_eq!("eventgrid".parse(), Ok(EventSchema::EventGrid));
        assert_eq!("CloudEvents".parse(), Ok(EventSchema::CloudEvents));
        let err = "xml".parse::<EventSchema>().unwrap_err();
        assert!(err.contains("xml"), "{err}");
    }
}
