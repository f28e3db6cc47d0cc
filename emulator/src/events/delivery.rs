//! One event subscription's delivery, as Event Grid does it (`DELIVERY.md` §2–§6): the
//! validation handshake first, then a tokio task that takes events off a bounded queue and
//! POSTs them (one per request by default) with the `aeg-*` headers, at most
//! `max_concurrent_deliveries` at once. Success is 200–204 only; 400, 401, 403 and 413 are
//! dead-lettered at once; anything else (a timeout, a socket error, another status) is retried
//! on the documented schedule until `max_delivery_attempts` or the time to live ends it.
//!
//! Delivery never blocks a chat request: publishing is a `try_send` onto the queue, and an
//! event that finds the queue full is dead-lettered (`QueueFull`) and counted, never waited for.
//! Ordering is not kept (as with Event Grid): retries run beside newer events.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::client::{self, Reply, SendError, Target};
use super::config::{retry_delay, EventSchema, SubscriptionOptions};
use super::envelope;
use super::{DeadLetteredEvent, SubscribeError};

/// Handshake tries before the subscription is refused (each retried 5 s later, scaled).
const HANDSHAKE_TRIES: u32 = 3;

/// The origin Event Grid announces in the CloudEvents abuse-protection handshake.
pub(crate) const REQUEST_ORIGIN: &str = "eventgrid.azure.net";

/// Counters every subscription adds to (see [`EventStats`](super::EventStats)).
#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) queued: AtomicU64,
    pub(crate) attempts: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) queue_full: AtomicU64,
}

/// The dead-letter list every subscription writes to, with a condvar for waiters.
pub(crate) type DeadLetters = Arc<(Mutex<Vec<DeadLetteredEvent>>, Condvar)>;

fn push_dead(dead: &DeadLetters, d: DeadLetteredEvent) {
    dead.0.lock().unwrap_or_else(|p| p.into_inner()).push(d);
    dead.1.notify_all();
}

/// An event waiting for delivery.
struct Queued {
    event: Value,
    published: DateTime<Utc>,
    published_at: Instant,
}

/// A validated subscription: its filter and the queue its worker reads.
pub(crate) struct Subscription {
    pub(crate) name: String,
    pub(crate) options: SubscriptionOptions,
    tx: mpsc::Sender<Queued>,
    dead: DeadLetters,
    counters: Arc<Counters>,
}

/// Everything one delivery needs, shared by the worker and its delivery tasks.
struct Route {
    name: String,
    target: Target,
    options: SubscriptionOptions,
    dead: DeadLetters,
    counters: Arc<Counters>,
}

impl Subscription {
    /// Validates `target` (the handshake of its schema) and starts the worker on `rt`.
    /// Blocks the calling thread until the handshake ends; must not be called on a runtime
    /// thread.
    pub(crate) fn start(
        rt: &Handle,
        name: String,
        target: Target,
        options: SubscriptionOptions,
        topic: &str,
        dead: DeadLetters,
        counters: Arc<Counters>,
    ) -> Result<Subscription, SubscribeError> {
        let route = Arc::new(Route {
            name: name.clone(),
            target,
            options: options.clone(),
            dead: Arc::clone(&dead),
            counters: Arc::clone(&counters),
        });
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let topic = topic.to_string();
        let r = Arc::clone(&route);
        rt.spawn(async move {
            let _ = done_tx.send(handshake(&r, &topic).await);
        });
        done_rx
            .recv()
            .map_err(|_| SubscribeError::Validation("the emulator shut down".into()))??;
        let (tx, rx) = mpsc::channel(options.queue_capacity);
        rt.spawn(worker(route, rx));
        Ok(Subscription {
            name,
            options,
            tx,
            dead,
            counters,
        })
    }

    /// Queues `event` without waiting; a full queue dead-letters it (`QueueFull`).
    pub(crate) fn enqueue(&self, event: Value) {
        let q = Queued {
            event,
            published: Utc::now(),
            published_at: Instant::now(),
        };
        match self.tx.try_send(q) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                let q = match e {
                    mpsc::error::TrySendError::Full(q) => q,
                    mpsc::error::TrySendError::Closed(q) => q,
                };
                self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "event subscription {}: queue full, event dead-lettered",
                    self.name
                );
                push_dead(
                    &self.dead,
                    DeadLetteredEvent {
                        subscription: self.name.clone(),
                        event: q.event,
                        dead_letter_reason: "QueueFull".into(),
                        delivery_attempts: 0,
                        last_delivery_outcome: "Full".into(),
                        last_http_status_code: None,
                        publish_time: q.published,
                        last_delivery_attempt_time: None,
                    },
                );
            }
        }
    }
}

/// The handshake of the subscription's schema, tried up to [`HANDSHAKE_TRIES`] times.
async fn handshake(r: &Route, topic: &str) -> Result<(), SubscribeError> {
    let mut last = String::new();
    for attempt in 1..=HANDSHAKE_TRIES {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_secs(5).mul_f64(r.options.retry_scale)).await;
        }
        let outcome = match r.options.schema {
            EventSchema::EventGrid => validate_event_grid(r, topic).await,
            EventSchema::CloudEvents => validate_cloud_events(r).await,
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) => {
                log::debug!(
                    "event subscription {}: handshake try {attempt}: {e}",
                    r.name
                );
                last = e;
            }
        }
    }
    Err(SubscribeError::Validation(last))
}

async fn validate_event_grid(r: &Route, topic: &str) -> Result<(), String> {
    let code = uuid::Uuid::new_v4().to_string().to_ascii_uppercase();
    let url = format!(
        "https://emulator.invalid:553/eventsubscriptions/{}/validate?id={code}",
        r.name
    );
    let body = envelope::validation_event(topic, &code, &url, Utc::now().timestamp_millis());
    let headers = [
        (
            "Content-Type",
            "application/json; charset=utf-8".to_string(),
        ),
        ("aeg-event-type", "SubscriptionValidation".to_string()),
        ("aeg-subscription-name", r.name.clone()),
        ("aeg-delivery-count", "0".to_string()),
        ("aeg-metadata-version", "1".to_string()),
        ("aeg-data-version", "1".to_string()),
    ];
    let reply = client::send(
        &r.target,
        "POST",
        &headers,
        body.to_string().as_bytes(),
        r.options.response_timeout,
    )
    .await
    .map_err(|e| e.to_string())?;
    if reply.status != 200 {
        return Err(format!(
            "the validation answer was {} (only 200 with {{\"validationResponse\": code}} validates)",
            reply.status
        ));
    }
    let answer: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("the validation answer is not JSON: {e}"))?;
    match answer.get("validationResponse").and_then(Value::as_str) {
        Some(c) if c == code => Ok(()),
        Some(c) => Err(format!(
            "validationResponse {c:?} is not the validationCode sent"
        )),
        None => Err("the validation answer has no validationResponse".into()),
    }
}

async fn validate_cloud_events(r: &Route) -> Result<(), String> {
    let headers = [
        ("WebHook-Request-Origin", REQUEST_ORIGIN.to_string()),
        ("WebHook-Request-Rate", "120".to_string()),
    ];
    let reply = client::send(
        &r.target,
        "OPTIONS",
        &headers,
        &[],
        r.options.response_timeout,
    )
    .await
    .map_err(|e| e.to_string())?;
    match reply.header("webhook-allowed-origin") {
        Some(o) if o == "*" || o.eq_ignore_ascii_case(REQUEST_ORIGIN) => Ok(()),
        Some(o) => Err(format!(
            "WebHook-Allowed-Origin {o:?} does not grant {REQUEST_ORIGIN}"
        )),
        None => Err(format!(
            "the OPTIONS answer ({}) has no WebHook-Allowed-Origin: the status alone is not consent",
            reply.status
        )),
    }
}

/// Takes events off the queue (batches of up to `max_events_per_batch` of what is waiting)
/// and hands each batch to a delivery task.
async fn worker(r: Arc<Route>, mut rx: mpsc::Receiver<Queued>) {
    let permits = Arc::new(Semaphore::new(r.options.max_concurrent_deliveries));
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < r.options.max_events_per_batch {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        // Waiting here, not in the task, is what bounds the work: with every permit taken the
        // queue fills and publishing dead-letters the overflow.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        tokio::spawn(deliver(Arc::clone(&r), Arc::clone(&permits), permit, batch));
    }
}

/// What one attempt came to.
enum Outcome {
    Delivered,
    /// Dead-letter at once.
    Final {
        status: Option<u16>,
        outcome: &'static str,
    },
    /// Retry later.
    Retry {
        status: Option<u16>,
        outcome: &'static str,
    },
}

fn classify(result: &Result<Reply, SendError>) -> Outcome {
    match result {
        Ok(r) if (200..=204).contains(&r.status) => Outcome::Delivered,
        Ok(r) => {
            let status = Some(r.status);
            let outcome = match r.status {
                400 => "BadRequest",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                408 => "TimedOut",
                413 => "PayloadTooLarge",
                429 | 503 => "Busy",
                _ => "Aborted",
            };
            match r.status {
                400 | 401 | 403 | 413 => Outcome::Final { status, outcome },
                _ => Outcome::Retry { status, outcome },
            }
        }
        Err(SendError::TimedOut) => Outcome::Retry {
            status: None,
            outcome: "TimedOut",
        },
        Err(SendError::Resolution(_)) => Outcome::Retry {
            status: None,
            outcome: "ResolutionError",
        },
        Err(SendError::Socket(_)) => Outcome::Retry {
            status: None,
            outcome: "SocketError",
        },
    }
}

/// Delivers one batch with retries; ends delivered or dead-lettered.
async fn deliver(
    r: Arc<Route>,
    permits: Arc<Semaphore>,
    first_permit: OwnedSemaphorePermit,
    batch: Vec<Queued>,
) {
    let mut held = Some(first_permit);
    let events: Vec<Value> = batch.iter().map(|q| q.event.clone()).collect();
    let (body, content_type) = envelope::body(r.options.schema, &events);
    let data_version = events
        .first()
        .and_then(|e| e.get("dataVersion"))
        .and_then(Value::as_str)
        .unwrap_or("1.0")
        .to_string();
    let oldest = batch
        .iter()
        .map(|q| q.published_at)
        .min()
        .unwrap_or_else(Instant::now);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let mut headers = vec![
            ("Content-Type", content_type.to_string()),
            ("aeg-event-type", "Notification".to_string()),
            ("aeg-subscription-name", r.name.clone()),
            ("aeg-delivery-count", attempts.to_string()),
        ];
        match r.options.schema {
            EventSchema::EventGrid => {
                headers.push(("aeg-metadata-version", "1".to_string()));
                headers.push(("aeg-data-version", data_version.clone()));
            }
            EventSchema::CloudEvents => {
                headers.push(("aeg-metadata-version", "1.0".to_string()));
                headers.push(("Origin", REQUEST_ORIGIN.to_string()));
            }
        }
        if let Some(id) = events
            .first()
            .and_then(|e| e.get("id"))
            .and_then(Value::as_str)
        {
            headers.push(("aeg-output-event-id", id.to_string()));
        }
        let result = {
            // The first attempt uses the worker's permit; a retry takes a new one (none is
            // held while waiting for a retry).
            let _permit = match held.take() {
                Some(p) => p,
                None => match Arc::clone(&permits).acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            r.counters.attempts.fetch_add(1, Ordering::Relaxed);
            client::send(
                &r.target,
                "POST",
                &headers,
                &body,
                r.options.response_timeout,
            )
            .await
        };
        let attempt_time = Utc::now();
        let (status, outcome, reason) = match classify(&result) {
            Outcome::Delivered => {
                r.counters
                    .delivered
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                return;
            }
            Outcome::Final { status, outcome } => (status, outcome, "NonRetriableStatusCode"),
            Outcome::Retry { status, outcome } => {
                if attempts >= r.options.max_delivery_attempts {
                    (status, outcome, "MaxDeliveryAttemptsExceeded")
                } else {
                    let delay = retry_delay(attempts, status, r.options.retry_scale);
                    tokio::time::sleep(delay).await;
                    // The time to live is checked at the next scheduled attempt.
                    if oldest.elapsed() > r.options.ttl {
                        (status, outcome, "TimeToLiveExceeded")
                    } else {
                        r.counters.retried.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            }
        };
        if let Err(e) = &result {
            log::debug!("event subscription {}: delivery failed: {e}", r.name);
        }
        r.counters
            .dead_lettered
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for q in batch {
            push_dead(
                &r.dead,
                DeadLetteredEvent {
                    subscription: r.name.clone(),
                    event: q.event,
                    dead_letter_reason: reason.to_string(),
                    delivery_attempts: attempts,
                    last_delivery_outcome: outcome.to_string(),
                    last_http_status_code: status,
                    publish_time: q.published,
                    last_delivery_attempt_time: Some(attempt_time),
                },
            );
        }
        return;
    }
}
