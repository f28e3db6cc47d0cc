//! The emulator's Event Grid publisher: every chat mutation's domain events become the ACS
//! chat events the service publishes, delivered to webhook subscriptions and in-process
//! receivers.
//!
//! - `fanout`: what a domain event publishes and to whom (per-thread once, per-user to every
//!   participant but the actor), in the Event Grid schema.
//! - `envelope`: the Event Grid and CloudEvents bodies, and the validation event.
//! - `config`: [`SubscriptionOptions`], [`EventSchema`] and the retry schedule.
//! - `delivery`: one subscription's handshake, bounded queue, worker, retries and
//!   dead-lettering.
//! - `client`: the plain-`http` HTTP/1.1 client deliveries use.

mod client;
mod config;
mod delivery;
mod envelope;
mod fanout;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::runtime::Handle;

pub use config::{EventSchema, SubscriptionOptions};
use delivery::{Counters, DeadLetters, Subscription};

use crate::store::ChatEvent;

/// An event Event Grid gave up on, with the properties a dead-lettered copy carries.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DeadLetteredEvent {
    /// The subscription's name.
    pub subscription: String,
    /// The event, in the Event Grid schema (whatever the subscription's schema).
    pub event: Value,
    /// Why: `MaxDeliveryAttemptsExceeded`, `TimeToLiveExceeded`, `NonRetriableStatusCode`
    /// (400, 401, 403, 413), or `QueueFull` (the emulator's own: the subscription's queue had
    /// no room).
    pub dead_letter_reason: String,
    /// Attempts made.
    pub delivery_attempts: u32,
    /// The last attempt's outcome: `BadRequest`, `Unauthorized`, `Forbidden`, `NotFound`,
    /// `TimedOut`, `PayloadTooLarge`, `Busy` (429, 503), `Aborted` (another status),
    /// `SocketError`, `ResolutionError`, or `Full` (never attempted).
    pub last_delivery_outcome: String,
    /// The last attempt's HTTP status, if one came back.
    pub last_http_status_code: Option<u16>,
    /// When the event was published.
    pub publish_time: DateTime<Utc>,
    /// When the last attempt ended (`None` if none was made).
    pub last_delivery_attempt_time: Option<DateTime<Utc>>,
}

impl DeadLetteredEvent {
    /// The dead-lettered copy as Event Grid writes it: the event with `deadLetterReason`,
    /// `deliveryAttempts`, `lastDeliveryOutcome`, `lastHttpStatusCode`, `publishTime` and
    /// `lastDeliveryAttemptTime` added.
    pub fn to_json(&self) -> Value {
        let mut v = self.event.clone();
        if let Some(m) = v.as_object_mut() {
            m.insert("deadLetterReason".into(), json!(self.dead_letter_reason));
            m.insert("deliveryAttempts".into(), json!(self.delivery_attempts));
            m.insert(
                "lastDeliveryOutcome".into(),
                json!(self.last_delivery_outcome),
            );
            m.insert(
                "lastHttpStatusCode".into(),
                json!(self.last_http_status_code),
            );
            m.insert("publishTime".into(), json!(self.publish_time.to_rfc3339()));
            m.insert(
                "lastDeliveryAttemptTime".into(),
                json!(self.last_delivery_attempt_time.map(|t| t.to_rfc3339())),
            );
        }
        v
    }
}

/// Delivery counters, over every subscription (see
/// [`Emulator::event_stats`](crate::Emulator::event_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventStats {
    /// Events the fan-out produced (each counted once, whoever receives it).
    pub published: u64,
    /// Events queued for a subscription (one per subscription that accepts it).
    pub queued: u64,
    /// HTTP delivery attempts made.
    pub attempts: u64,
    /// Events delivered (a 200–204 answer).
    pub delivered: u64,
    /// Attempts that were retries.
    pub retried: u64,
    /// Events dead-lettered, for any reason.
    pub dead_lettered: u64,
    /// Of those, events that found their subscription's queue full.
    pub queue_full: u64,
}

/// Why [`Emulator::subscribe_events`](crate::Emulator::subscribe_events) refused a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The URL is not a plain `http://` URL with a host.
    InvalidUrl(String),
    /// The endpoint did not complete the validation handshake (why, in words).
    Validation(String),
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscribeError::InvalidUrl(e) => f.write_str(e),
            SubscribeError::Validation(e) => {
                write!(f, "the webhook did not validate the subscription: {e}")
            }
        }
    }
}

impl std::error::Error for SubscribeError {}

/// The publisher one emulator owns.
pub(crate) struct Publisher {
    topic: String,
    runtime: Handle,
    subscriptions: RwLock<Vec<Subscription>>,
    listeners: Mutex<Vec<mpsc::Sender<Value>>>,
    dead: DeadLetters,
    counters: Arc<Counters>,
}

impl Publisher {
    pub(crate) fn new(topic: String, runtime: Handle) -> Publisher {
        Publisher {
            topic,
            runtime,
            subscriptions: RwLock::new(Vec::new()),
            listeners: Mutex::new(Vec::new()),
            dead: Arc::default(),
            counters: Arc::default(),
        }
    }

    /// The `topic` of every event.
    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Publishes what `events` imply, without waiting for any delivery.
    pub(crate) fn publish(&self, events: &[ChatEvent]) {
        let subs = self.subscriptions.read().unwrap_or_else(|p| p.into_inner());
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        if subs.is_empty() && listeners.is_empty() {
            return;
        }
        for e in events {
            for v in fanout::publish(e, &self.topic) {
                self.counters.published.fetch_add(1, Ordering::Relaxed);
                listeners.retain(|l| l.send(v.clone()).is_ok());
                let ty = v["eventType"].as_str().unwrap_or_default();
                for s in subs.iter().filter(|s| s.options.accepts(ty)) {
                    s.enqueue(v.clone());
                }
            }
        }
    }

    /// Validates and adds a webhook subscription; returns its name.
    pub(crate) fn subscribe(
        &self,
        url: &str,
        options: SubscriptionOptions,
    ) -> Result<String, SubscribeError> {
        let target = client::Target::parse(url).map_err(SubscribeError::InvalidUrl)?;
        let n = self
            .subscriptions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        let name = options
            .name
            .clone()
            .unwrap_or_else(|| format!("EMULATOR-SUBSCRIPTION-{}", n + 1))
            .to_ascii_uppercase();
        let sub = Subscription::start(
            &self.runtime,
            name.clone(),
            target,
            options,
            &self.topic,
            Arc::clone(&self.dead),
            Arc::clone(&self.counters),
        )?;
        self.subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(sub);
        Ok(name)
    }

    /// A receiver of every event published from now on (Event Grid schema, one per event).
    pub(crate) fn listen(&self) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel();
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        rx
    }

    pub(crate) fn dead_lettered(&self) -> Vec<DeadLetteredEvent> {
        self.dead
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until at least `n` events are dead-lettered or `timeout` passes; returns the list.
    pub(crate) fn wait_dead_lettered(&self, n: usize, timeout: Duration) -> Vec<DeadLetteredEvent> {
        let (lock, cv) = &*self.dead;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cv
            .wait_timeout_while(guard, timeout, |v| v.len() < n)
            .unwrap_or_else(|p| p.into_inner());
        guard.clone()
    }

    pub(crate) fn stats(&self) -> EventStats {
        let c = &self.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        EventStats {
            published: get(&c.published),
            queued: get(&c.queued),
            attempts: get(&c.attempts),
            delivered: get(&c.delivered),
            retried: get(&c.retried),
            dead_lettered: get(&c.dead_lettered),
            queue_full: get(&c.queue_full),
        }
    }
}
