//! `WebhookHandler`: the Event Grid side of a webhook endpoint, without any HTTP server.
//!
//! The caller's server (any framework, or none) hands over each request's method, URL,
//! headers and body, and gets back the response to send and the events to act on. The
//! protocol it follows is Event Grid's (`DELIVERY.md` in the reference material): the
//! subscription validation handshake for the Event Grid schema, the CloudEvents webhook
//! abuse-protection handshake for CloudEvents, and notifications.

use std::fmt;

use sha2::{Digest, Sha256};

use super::data::ChatEventData;
use super::envelope::ChatEventEnvelope;
use super::parse::parse;
use crate::Secret;

/// A shared secret that Event Grid sends in the webhook URL's query string
/// (`https://bot.example/events?code=…`), as Microsoft's webhook guidance suggests.
///
/// `Debug` shows the parameter name only, never the value.
///
/// ```
/// use acs_chat::events::WebhookSecret;
/// let secret = WebhookSecret::new("code", "s3cr3t-value");
/// assert!(!format!("{secret:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, Debug)]
pub struct WebhookSecret {
    parameter: String,
    value: Secret,
}

impl WebhookSecret {
    /// The secret `value`, expected in the query parameter `parameter`.
    pub fn new(parameter: impl Into<String>, value: impl Into<String>) -> Self {
        WebhookSecret {
            parameter: parameter.into(),
            value: Secret::new(value),
        }
    }

    /// The query parameter's name.
    pub fn parameter(&self) -> &str {
        &self.parameter
    }
}

/// What a [`WebhookHandler`] checks and answers. Build it with `..Default::default()`.
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    /// The event subscription names to accept in the `aeg-subscription-name` header,
    /// compared case-insensitively (Event Grid may send them upper-cased). Empty accepts any
    /// (and a request without the header).
    pub subscription_names: Vec<String>,
    /// A secret required in the query string of every request (deliveries and handshakes).
    pub secret: Option<WebhookSecret>,
    /// Origins granted in the CloudEvents abuse-protection handshake (`WebHook-Request-Origin`),
    /// compared case-insensitively; `"*"` grants any. Default: `eventgrid.azure.net`, the
    /// origin Event Grid sends.
    pub allowed_origins: Vec<String>,
    /// The delivery rate (requests per minute) granted in the abuse-protection handshake;
    /// `None` grants any rate (`WebHook-Allowed-Rate: *`).
    pub allowed_rate: Option<u32>,
    /// Bodies larger than this are answered 413. Default 1 MiB plus 64 KiB: Event Grid's
    /// largest delivery is 1 MB.
    pub max_body_bytes: usize,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            subscription_names: Vec::new(),
            secret: None,
            allowed_origins: vec!["eventgrid.azure.net".to_owned()],
            allowed_rate: None,
            max_body_bytes: (1 << 20) + (64 << 10),
        }
    }
}

/// The HTTP response to send back for one request.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookResponse {
    /// The status code.
    pub status: u16,
    /// Headers to set, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty, the validation response, or a short plain-text reason).
    pub body: Vec<u8>,
}

impl WebhookResponse {
    fn new(status: u16) -> Self {
        WebhookResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn text(status: u16, reason: &str) -> Self {
        let mut r = Self::new(status);
        r.headers
            .push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
        r.body = reason.as_bytes().to_vec();
        r
    }

    /// The value of a response header (first match, name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request was refused.
#[non_exhaustive]
#[derive(Debug)]
pub enum WebhookRejection {
    /// Neither `POST` nor `OPTIONS` (405).
    MethodNotAllowed,
    /// The secret query parameter was missing or wrong (401: the sender did not authenticate;
    /// Event Grid does not retry a 401 from a webhook, so a misconfigured subscription
    /// dead-letters instead of retrying for a day).
    Unauthorized,
    /// `aeg-subscription-name` was missing or not one of the expected names (403: the sender
    /// may be genuine, but this endpoint does not serve that subscription; not retried).
    UnexpectedSubscription,
    /// The body exceeded [`WebhookOptions::max_body_bytes`] (413; not retried).
    BodyTooLarge,
    /// An abuse-protection request without `WebHook-Request-Origin` (400).
    MissingOrigin,
    /// An abuse-protection request from an origin not in
    /// [`WebhookOptions::allowed_origins`] (403, without consent headers).
    OriginNotAllowed,
    /// Not an event delivery: not decodable as events, no events, or a validation event
    /// mixed with others (400; Event Grid does not retry it).
    NotAnEventDelivery(crate::Error),
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MethodNotAllowed => f.write_str("only POST and OPTIONS are accepted"),
            Self::Unauthorized => f.write_str("missing or wrong secret"),
            Self::UnexpectedSubscription => f.write_str("unexpected event subscription"),
            Self::BodyTooLarge => f.write_str("the body is too large"),
            Self::MissingOrigin => f.write_str("missing WebHook-Request-Origin"),
            Self::OriginNotAllowed => f.write_str("origin not allowed"),
            Self::NotAnEventDelivery(e) => write!(f, "not an event delivery: {e}"),
        }
    }
}

/// What a request was.
#[non_exhaustive]
#[derive(Debug)]
pub enum WebhookRequestKind {
    /// The Event Grid validation handshake, answered with the code. Its event is in
    /// [`WebhookOutcome::events`]; there is nothing else to do.
    Validation {
        /// The validation code echoed back.
        validation_code: String,
    },
    /// The CloudEvents abuse-protection handshake (`OPTIONS`), answered with consent.
    AbuseProtection {
        /// The origin consent was granted to.
        origin: String,
    },
    /// Events to handle, in [`WebhookOutcome::events`].
    Notification,
    /// Event Grid says the subscription was deleted (`aeg-event-type: SubscriptionDeletion`).
    SubscriptionDeletion,
    /// Refused; [`WebhookOutcome::response`] says so to the sender.
    Rejected(WebhookRejection),
}

/// The answer to one request: the response to send, and what to act on.
#[non_exhaustive]
#[derive(Debug)]
pub struct WebhookOutcome {
    /// What the request was.
    pub kind: WebhookRequestKind,
    /// The response to send. For notifications it is `200` with an empty body; send another
    /// status instead (a 5xx) when handling the events failed and Event Grid should retry.
    /// Event Grid waits 30 s for it, then counts the delivery as failed and retries, so queue
    /// slow work rather than doing it before answering.
    pub response: WebhookResponse,
    /// The decoded events (empty for handshakes and refusals).
    pub events: Vec<ChatEventEnvelope>,
}

impl WebhookOutcome {
    fn rejected(status: u16, why: WebhookRejection) -> Self {
        let mut response = WebhookResponse::text(status, &why.to_string());
        if matches!(why, WebhookRejection::MethodNotAllowed) {
            response
                .headers
                .push(("Allow".into(), "POST, OPTIONS".into()));
        }
        WebhookOutcome {
            kind: WebhookRequestKind::Rejected(why),
            response,
            events: Vec::new(),
        }
    }
}

/// Answers Event Grid's webhook requests: validation handshakes, the CloudEvents
/// abuse-protection handshake, and event deliveries, with the checks set in
/// [`WebhookOptions`]. It does no I/O: feed it each request, send back
/// [`WebhookOutcome::response`], and handle [`WebhookOutcome::events`].
///
/// | request | answer |
/// |---|---|
/// | `POST`, one `SubscriptionValidationEvent` | `200 {"validationResponse": code}` |
/// | `OPTIONS` with an allowed `WebHook-Request-Origin` | `200`, `WebHook-Allowed-Origin`, `WebHook-Allowed-Rate`, `Allow: POST` |
/// | `POST` with events | `200`, events handed over |
/// | wrong or missing secret | `401` |
/// | unexpected `aeg-subscription-name`, origin not allowed | `403` |
/// | body over the limit | `413` |
/// | anything that is not an event delivery | `400` |
/// | other methods | `405` |
///
/// Event Grid does not retry 400, 401, 403 or 413, so a refusal ends that delivery.
/// It never panics, whatever the request.
///
/// ```
/// use acs_chat::events::{WebhookHandler, WebhookOptions, WebhookRequestKind, WebhookSecret};
///
/// let handler = WebhookHandler::new(WebhookOptions {
///     subscription_names: vec!["chat-bot".into()],
///     secret: Some(WebhookSecret::new("code", "s3cr3t")),
///     ..Default::default()
/// });
///
/// // Event Grid validates the endpoint when the subscription is created.
/// let validation = br#"[{"id":"2d1781af","topic":"/subscriptions/x","subject":"",
///   "data":{"validationCode":"512d38b6","validationUrl":"https://rp-eastus2.eventgrid.azure.net:553/v"},
///   "eventType":"Microsoft.EventGrid.SubscriptionValidationEvent",
///   "eventTime":"2022-10-28T04:23:35.1981776Z","metadataVersion":"1","dataVersion":"1"}]"#;
/// let headers = [
///     ("Content-Type", "application/json; charset=utf-8"),
///     ("aeg-event-type", "SubscriptionValidation"),
///     ("aeg-subscription-name", "CHAT-BOT"),
/// ];
/// let out = handler.handle("POST", "/events?code=s3cr3t", headers, validation);
/// assert!(matches!(out.kind, WebhookRequestKind::Validation { .. }));
/// assert_eq!(out.response.status, 200);
/// assert_eq!(out.response.body, br#"{"validationResponse":"512d38b6"}"#);
///
/// // The wrong secret is refused before the body is read.
/// let out = handler.handle("POST", "/events?code=guess", headers, validation);
/// assert_eq!(out.response.status, 401);
/// ```
///
/// # Thread safety
///
/// `Send + Sync` and immutable: share one between a server's threads.
#[derive(Clone, Debug)]
pub struct WebhookHandler {
    options: WebhookOptions,
    /// SHA-256 of the secret, so the comparison takes the same time whatever the guess.
    secret_digest: Option<[u8; 32]>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Compares two digests without an early exit.
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl WebhookHandler {
    /// A handler with these options.
    pub fn new(options: WebhookOptions) -> Self {
        let secret_digest = options
            .secret
            .as_ref()
            .map(|s| digest(s.value.expose().as_bytes()));
        WebhookHandler {
            options,
            secret_digest,
        }
    }

    /// The options it was built with.
    pub fn options(&self) -> &WebhookOptions {
        &self.options
    }

    /// Answers one request. `url` is the request target as received (`/path?query` or an
    /// absolute URL); `headers` are its headers, in any form that yields name/value pairs.
    pub fn handle<I, K, V>(
        &self,
        method: &str,
        url: &str,
        headers: I,
        body: &[u8],
    ) -> WebhookOutcome
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let headers: Vec<(K, V)> = headers.into_iter().collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.as_ref().trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_ref().trim())
        };
        let method = method.trim();
        let is_post = method.eq_ignore_ascii_case("POST");
        let is_options = method.eq_ignore_ascii_case("OPTIONS");
        if !is_post && !is_options {
            return WebhookOutcome::rejected(405, WebhookRejection::MethodNotAllowed);
        }
        if !self.secret_matches(url) {
            return WebhookOutcome::rejected(401, WebhookRejection::Unauthorized);
        }
        if is_options {
            return self.abuse_protection(
                header("WebHook-Request-Origin"),
                header("WebHook-Request-Rate"),
            );
        }
        if !self.options.subscription_names.is_empty() {
            let name = header("aeg-subscription-name").unwrap_or_default();
            if !self
                .options
                .subscription_names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
            {
                return WebhookOutcome::rejected(403, WebhookRejection::UnexpectedSubscription);
            }
        }
        if body.len() > self.options.max_body_bytes {
            return WebhookOutcome::rejected(413, WebhookRejection::BodyTooLarge);
        }
        let not_delivery = |reason: &str| {
            WebhookOutcome::rejected(
                400,
                WebhookRejection::NotAnEventDelivery(crate::Error::InvalidEvent {
                    reason: reason.to_owned(),
                    source: None,
                }),
            )
        };
        let events = match parse(header("Content-Type").unwrap_or_default(), body) {
            Ok(events) => events,
            Err(e) => {
                return WebhookOutcome::rejected(400, WebhookRejection::NotAnEventDelivery(e))
            }
        };
        if events.is_empty() {
            return not_delivery("no events");
        }
        let aeg_type = header("aeg-event-type").unwrap_or_default();
        let validation = events.iter().find_map(|e| match &e.data {
            ChatEventData::SubscriptionValidation(v) => Some(v.validation_code.clone()),
            _ => None,
        });
        match validation {
            Some(_) if events.len() > 1 => not_delivery("a validation event must arrive alone"),
            Some(code) => {
                let mut response = WebhookResponse::new(200);
                response
                    .headers
                    .push(("Content-Type".into(), "application/json".into()));
                response.body = serde_json::to_vec(&serde_json::json!({
                    "validationResponse": code
                }))
                .unwrap_or_default();
                // The handshake is not a chat event: `kind` carries its code, and `events`
                // stays empty, so a receiver's event loop never sees it.
                WebhookOutcome {
                    kind: WebhookRequestKind::Validation {
                        validation_code: code,
                    },
                    response,
                    events: Vec::new(),
                }
            }
            None if aeg_type.eq_ignore_ascii_case("SubscriptionValidation") => not_delivery(
                "aeg-event-type is SubscriptionValidation but no validation event came",
            ),
            None => {
                let deletion = aeg_type.eq_ignore_ascii_case("SubscriptionDeletion")
                    || events
                        .iter()
                        .all(|e| matches!(e.data, ChatEventData::SubscriptionDeleted(_)));
                WebhookOutcome {
                    kind: if deletion {
                        WebhookRequestKind::SubscriptionDeletion
                    } else {
                        WebhookRequestKind::Notification
                    },
                    response: WebhookResponse::new(200),
                    events,
                }
            }
        }
    }

    fn secret_matches(&self, url: &str) -> bool {
        let (Some(secret), Some(want)) = (&self.options.secret, &self.secret_digest) else {
            return true;
        };
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let query = query.split_once('#').map_or(query, |(q, _)| q);
        let mut found = false;
        // Every occurrence of the parameter is compared, so that a request with the right
        // value once and a wrong one again is still refused.
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if percent_decode(name) != secret.parameter.as_bytes() {
                continue;
            }
            if !digests_equal(&digest(&percent_decode(value)), want) {
                return false;
            }
            found = true;
        }
        found
    }

    fn abuse_protection(&self, origin: Option<&str>, rate: Option<&str>) -> WebhookOutcome {
        let Some(origin) = origin.filter(|o| !o.is_empty()) else {
            return WebhookOutcome::rejected(400, WebhookRejection::MissingOrigin);
        };
        let granted = self.options.allowed_origins.iter().find_map(|allowed| {
            if allowed == "*" {
                Some("*".to_owned())
            } else if allowed.eq_ignore_ascii_case(origin) {
                // Echo our own spelling, never the request's bytes, into a response header.
                Some(allowed.clone())
            } else {
                None
            }
        });
        let Some(granted) = granted else {
            return WebhookOutcome::rejected(403, WebhookRejection::OriginNotAllowed);
        };
        let requested = rate.and_then(|r| r.parse::<u32>().ok()).filter(|r| *r > 0);
        let allowed_rate = match (self.options.allowed_rate, requested) {
            (Some(limit), Some(asked)) => asked.min(limit).max(1).to_string(),
            (Some(limit), None) => limit.max(1).to_string(),
            (None, _) => "*".to_owned(),
        };
        let mut response = WebhookResponse::new(200);
        response
            .headers
            .push(("WebHook-Allowed-Origin".into(), granted.clone()));
        response
            .headers
            .push(("WebHook-Allowed-Rate".into(), allowed_rate));
        response.headers.push(("Allow".into(), "POST".into()));
        WebhookOutcome {
            kind: WebhookRequestKind::AbuseProtection { origin: granted },
            response,
            events: Vec::new(),
        }
    }
}

/// Decodes `%XX` escapes and `+` (a space, in a query string); malformed escapes stay as
/// they are.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Escapes decode; broken escapes are kept literally instead of failing.
    #[test]
    fn percent_decode_handles_escapes_and_garbage() {
        assert_eq!(percent_decode("a%20b+c"), b"a b c");
        assert_eq!(percent_decode("%2"), b"%2");
        assert_eq!(percent_decode("%zz%41"), b"%zzA");
        assert_eq!(percent_decode("%C3%A9"), "é".as_bytes());
    }

    /// The secret matches only when every occurrence of the parameter carries it.
    #[test]
    fn secret_matches_requires_every_occurrence() {
        let h = WebhookHandler::new(WebhookOptions {
            secret: Some(WebhookSecret::new("code", "a b&c")),
            ..Default::default()
        });
        assert!(h.secret_matches("/e?code=a%20b%26c"));
        assert!(h.secret_matches("https://x/e?x=1&code=a+b%26c#frag"));
        assert!(!h.secret_matches("/e?code=a%20b%26c&code=wrong"));
        assert!(!h.secret_matches("/e?other=a%20b%26c"));
        assert!(!h.secret_matches("/e"));
        assert!(!h.secret_matches("/e?code="));
    }
}
