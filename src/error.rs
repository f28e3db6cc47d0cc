//! The one error type of this crate, and the service's error bodies.

use std::fmt;
use std::time::Duration;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a call.
///
/// Match on the variants you care about and keep a `_` arm: new variants may be added in a
/// minor release.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// use acs_chat::{ChatClient, CommunicationTokenCredential, Error};
///
/// let chat = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(token)?)?;
/// match chat.get_chat_thread("19:00000000000000000000000000000000@thread.v2") {
///     Err(Error::Service(e)) if e.status == 404 => println!("no such thread ({})", e.code),
///     Err(Error::InvalidArgument { name, reason }) => println!("bad {name}: {reason}"),
///     Err(other) => return Err(other.into()),
///     Ok(thread) => println!("found {}", thread.topic),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument was rejected before any request was sent.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The parameter (or option field) that was rejected.
        name: &'static str,
        /// Why it was rejected. Never contains a secret.
        reason: String,
    },

    /// The service answered with a non-success status.
    #[error("{0}")]
    Service(Box<ServiceError>),

    /// The request could not be sent or its response could not be read (DNS, TCP, TLS, I/O).
    ///
    /// The wrapped error comes from the HTTP client and is **not** part of this crate's stable
    /// API: print it, but do not depend on its type.
    #[error("transport error: {message}")]
    Transport {
        /// A description of what failed, never containing a secret.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// The call did not complete within its time limit.
    #[error("the call timed out after {after:?}")]
    Timeout {
        /// The call's time limit.
        after: Duration,
        /// Whether any attempt of the call had written its request before the time ran out
        /// (`false`, for example, when the deadline passed while waiting for a token refresh).
        sent: bool,
    },

    /// A success response whose body could not be decoded.
    #[error("could not decode the {status} response body")]
    Decode {
        /// The HTTP status of the response.
        status: u16,
        /// Why decoding failed.
        #[source]
        source: serde_json::Error,
    },

    /// The response body ended before it was complete (the connection closed or broke while
    /// it was being read).
    #[error("the {status} response body was cut short")]
    TruncatedBody {
        /// The HTTP status of the response.
        status: u16,
        /// What the HTTP client reported; not part of this crate's stable API.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The service answered with a redirect (3xx). Redirects are never followed, so that
    /// credentials are only ever sent to the configured endpoint.
    #[error("the service answered with a redirect ({status}), which is not followed")]
    Redirect {
        /// The HTTP status of the response.
        status: u16,
    },

    /// The service did not add the participant given to
    /// [`ChatThreadClient::add_participant`](crate::ChatThreadClient::add_participant); the
    /// service's reason is inside.
    #[error("the participant was not added: {}", participant_error_text(.0))]
    ParticipantRejected(Box<ChatError>),

    /// A success response that breaks the protocol in a way decoding alone cannot catch (for
    /// example a list whose pages keep pointing at more empty pages).
    #[error("unexpected response from the service: {0}")]
    UnexpectedResponse(String),

    /// The response body was larger than the configured limit.
    #[error("the response body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },

    /// A user token could not be used: malformed, expired with no way to refresh it, or the
    /// refresher failed.
    #[error("credential error: {message}")]
    Credential {
        /// What is wrong, never containing the token itself.
        message: String,
        /// The error the token refresher returned, if any (any error type: get yours back
        /// with `downcast_ref`). Shared by every caller that waited for that refresh.
        #[source]
        source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// A connection string or access key could not be used. The key is never echoed.
    #[error("invalid connection string: {0}")]
    InvalidConnectionString(String),

    /// An event delivery (an Event Grid or CloudEvents body given to
    /// [`events::parse`](crate::events::parse)) could not be decoded: not JSON, not an event,
    /// or a known event type whose `data` breaks its schema. Field values are never echoed.
    #[error("invalid event delivery: {reason}")]
    InvalidEvent {
        /// What is wrong, naming the event (by position and type) and the field.
        reason: String,
        /// The JSON syntax error, when the body was not JSON at all.
        #[source]
        source: Option<serde_json::Error>,
    },
}

/// Error statuses after which the request may still have been carried out.
fn status_leaves_outcome_open(status: u16) -> bool {
    matches!(status, 500 | 502 | 504)
}

fn participant_error_text(e: &ChatError) -> String {
    match (e.code.is_empty(), e.message.is_empty()) {
        (false, false) => format!("{} {}", e.code, e.message),
        (false, true) => e.code.clone(),
        (true, false) => e.message.clone(),
        (true, true) => "no reason given".to_string(),
    }
}

impl Error {
    /// The HTTP status of the response behind this error, when there was one (a service error,
    /// a redirect, or a body that could not be read or decoded).
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// let err = chat.get_chat_thread("19:missing@thread.v2").unwrap_err();
    /// assert_eq!(err.status(), Some(404));
    /// assert_eq!(chat.get_chat_thread("").unwrap_err().status(), None); // rejected locally
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Service(e) => Some(e.status),
            Error::Decode { status, .. }
            | Error::TruncatedBody { status, .. }
            | Error::Redirect { status } => Some(*status),
            _ => None,
        }
    }

    /// The service error, when the service answered with a non-success status.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// let err = chat.get_chat_thread("19:missing@thread.v2").unwrap_err();
    /// let service = err.service_error().expect("the service answered");
    /// println!("{} {}: {} (request {:?})", service.status, service.code, service.message, service.request_id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn service_error(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the request may have been processed although the call failed: `true` exactly
    /// when the request was sent and no response says what happened.
    ///
    /// - `true`: the connection closed or broke after the request was written, a success
    ///   (2xx) body was cut short ([`Error::TruncatedBody`]), could not be decoded
    ///   ([`Error::Decode`]), was too large or broke the protocol, the service answered 500, 502
    ///   or 504 (a failure that may come after the work was done), , and an
    ///   [`Error::Timeout`] of a call that had written a request.
    /// - `false`: the request was refused before sending (bad arguments, credentials, a
    ///   connection that never opened, a request never written, a timeout before any
    ///   request was written), or the service answered
    ///   that it did not act: any 4xx (408 and 429 included), 501, 503, 505, a redirect.
    ///
    /// When it is `false`, sending again cannot duplicate anything. When it is `true`, look
    /// before sending again, or let [`SendMessageOptions::idempotency_token`] do it for
    /// messages.
    ///
    /// [`SendMessageOptions::idempotency_token`]: crate::SendMessageOptions::idempotency_token
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// let err = chat.get_chat_thread("19:missing@thread.v2").unwrap_err();
    /// assert!(!err.may_have_taken_effect()); // a 404 says nothing happened
    /// # let credential = acs_chat::CommunicationTokenCredential::new(emu.user_with_token().1)?;
    /// let no_retries = acs_chat::ChatClientOptions {
    ///     transport_options: acs_chat::TransportOptions { retry: acs_chat::RetryOptions::none(), ..Default::default() },
    ///     ..Default::default()
    /// };
    /// let nobody_listens = acs_chat::ChatClient::with_options("http://127.0.0.1:9", credential, no_retries)?;
    /// let refused = nobody_listens.get_chat_thread("19:a@thread.v2").unwrap_err();
    /// assert!(!refused.may_have_taken_effect()); // the connection never opened
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn may_have_taken_effect(&self) -> bool {
        match self {
            Error::InvalidArgument { .. }
            | Error::Credential { .. }
            | Error::InvalidConnectionString(_)
            | Error::ParticipantRejected(_)
            | Error::InvalidEvent { .. }
            | Error::Redirect { .. } => false,
            Error::Service(e) => status_leaves_outcome_open(e.status),
            Error::Transport { source, .. } => source
                .as_deref()
                .is_some_and(|s| crate::http::sent_before_failing(s)),
            Error::TruncatedBody { status, .. } | Error::Decode { status, .. } => {
                (200..300).contains(status) || status_leaves_outcome_open(*status)
            }
            Error::Timeout { sent, .. } => *sent,
            Error::UnexpectedResponse(_) | Error::BodyTooLarge { .. } => true,
        }
    }

    /// Whether the crate's retry policy retries this failure (within one call) for an
    /// operation that is safe to repeat: the statuses 408, 429, 500, 502, 503 and 504, a
    /// connection that failed or broke, a success body cut short or not decodable. `false` for
    /// everything a repeat would not change (bad arguments, credentials, other statuses,
    /// redirects, an oversized body, TLS failures) and for [`Error::Timeout`] (the call's time
    /// is up). `send_message` and `add_participants` retry only such failures that also did
    /// not [take effect](Self::may_have_taken_effect).
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// let err = chat.get_chat_thread("19:missing@thread.v2").unwrap_err();
    /// assert!(!err.is_retryable()); // a 404 stays a 404
    /// # let credential = acs_chat::CommunicationTokenCredential::new(emu.user_with_token().1)?;
    /// let no_retries = acs_chat::ChatClientOptions {
    ///     transport_options: acs_chat::TransportOptions { retry: acs_chat::RetryOptions::none(), ..Default::default() },
    ///     ..Default::default()
    /// };
    /// let nobody_listens = acs_chat::ChatClient::with_options("http://127.0.0.1:9", credential, no_retries)?;
    /// assert!(nobody_listens.get_chat_thread("19:a@thread.v2").unwrap_err().is_retryable());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Service(e) => crate::http::RetryClass::SafeToRepeat.retries_status(e.status),
            Error::Transport { source, .. } => source
                .as_deref()
                .is_some_and(|s| crate::http::transient_failure(s)),
            Error::TruncatedBody { .. } => true,
            Error::Decode { status, .. } => (200..300).contains(status),
            _ => false,
        }
    }

    pub(crate) fn invalid_argument(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            name,
            reason: reason.into(),
        }
    }

    pub(crate) fn credential(message: impl Into<String>) -> Self {
        Error::Credential {
            message: message.into(),
            source: None,
        }
    }
}

/// An error answered by the service: its HTTP status and the parsed error body.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServiceError {
    /// The HTTP status code.
    pub status: u16,
    /// The service's error code (`"NotFound"`, `"Forbidden"`, `"403"` …), empty when the body had none.
    pub code: String,
    /// The service's message, empty when the body had none.
    pub message: String,
    /// The element the error is about, if the service named one.
    pub target: Option<String>,
    /// Nested errors the service attached.
    pub details: Vec<ChatError>,
    /// The service's request id (`MS-CV` or `x-ms-request-id` header), for support requests.
    pub request_id: Option<String>,
    /// The `x-ms-client-request-id` this crate sent with the request (the same for every
    /// attempt of one call), for support requests.
    pub client_request_id: Option<String>,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the service answered {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(target) = &self.target {
            write!(f, " (target {target})")?;
        }
        // Last, so a support ticket that quotes the message carries both ids.
        match (&self.request_id, &self.client_request_id) {
            (Some(id), Some(client)) => write!(f, " [request id {id}, client request id {client}]"),
            (Some(id), None) => write!(f, " [request id {id}]"),
            (None, Some(client)) => write!(f, " [client request id {client}]"),
            (None, None) => Ok(()),
        }
    }
}

impl std::error::Error for ServiceError {}

/// One error in the service's `CommunicationError` shape, as used for per-participant
/// failures and error details.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ChatError {
    /// The error code.
    #[serde(default)]
    pub code: String,
    /// The error message.
    #[serde(default)]
    pub message: String,
    /// The element the error is about, such as a participant's raw id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Nested errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ChatError>,
    /// The inner error, if the service sent one.
    #[serde(
        default,
        rename = "innererror",
        skip_serializing_if = "Option::is_none"
    )]
    pub inner_error: Option<Box<ChatError>>,
    /// Fields the service sent that this version of the crate does not model, kept so that
    /// nothing the service says is lost.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub additional_properties: serde_json::Map<String, serde_json::Value>,
}

impl ServiceError {
    /// Parses an error response. Every body shape the service is known to send is read:
    /// `{"error":…}`, `{"Error":…}`, `{"CommunicationError":…}` with camelCase or PascalCase
    /// keys, a bare error object, a missing message and an empty or non-JSON body.
    pub(crate) fn from_response(status: u16, request_id: Option<String>, body: &[u8]) -> Self {
        let mut out = ServiceError {
            status,
            request_id,
            ..Default::default()
        };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return out;
        };
        let Some(obj) = value.as_object() else {
            return out;
        };
        let inner = ["error", "Error", "CommunicationError", "communicationError"]
            .iter()
            .find_map(|k| obj.get(*k))
            .and_then(|v| v.as_object())
            .unwrap_or(obj);
        if let Some(e) = chat_error_from_value(inner) {
            out.code = e.code;
            out.message = e.message;
            out.target = e.target;
            out.details = e.details;
        }
        out
    }
}

/// Reads a `CommunicationError` object whose keys may be camelCase or PascalCase.
fn chat_error_from_value(obj: &serde_json::Map<String, serde_json::Value>) -> Option<ChatError> {
    let get = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let text = |name: &str| match get(name) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let code = text("code");
    let message = text("message");
    if code.is_none() && message.is_none() {
        return None;
    }
    let details = match get("details") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|d| d.as_object().and_then(chat_error_from_value))
            .collect(),
        _ => Vec::new(),
    };
    let inner_error = get("innererror")
        .and_then(|v| v.as_object())
        .and_then(chat_error_from_value)
        .map(Box::new);
    Some(ChatError {
        code: code.unwrap_or_default(),
        message: message.unwrap_or_default(),
        target: text("target"),
        details,
        inner_error,
        additional_properties: serde_json::Map::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every known error-body shape yields the code and message.
    #[test]
    fn from_response_reads_every_known_shape() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"{"error":{"code":"NotFound","message":"nope"}}"#, "NotFound", "nope"),
            (
                "{\r\n  \"Error\": {\r\n    \"Code\": \"NotFound\",\r\n    \"Message\": \"The specified thread id was not found.\",\r\n    \"Details\": []\r\n  }\r\n}",
                "NotFound",
                "The specified thread id was not found.",
            ),
            (r#"{"CommunicationError":{"Code":"Forbidden","Details":[]}}"#, "Forbidden", ""),
            (r#"{"code":"Unauthorized","message":"m"}"#, "Unauthorized", "m"),
            ("", "", ""),
            ("<html>bad gateway</html>", "", ""),
            ("[1,2]", "", ""),
        ];
        for (body, code, message) in cases {
            let e = ServiceError::from_response(404, None, body.as_bytes());
            assert_eq!(
                (e.code.as_str(), e.message.as_str()),
                (*code, *message),
                "body {body}"
            );
            assert_eq!(e.status, 404);
        }
    }

    /// A per-participant error keeps fields this crate does not model through a round trip.
    #[test]
    fn chat_error_round_trips_unknown_fields() {
        let json = serde_json::json!({"code":"403","message":"Permissions check failed","target":"8:acs:x","retryable":false});
        let e: ChatError = serde_json::from_value(json.clone()).expect("decodes");
        assert_eq!(
            e.additional_properties.get("retryable"),
            Some(&serde_json::json!(false))
        );
        assert_eq!(
            serde_json::to_value(&e).expect("encodes"),
            json,
            "seen {e:?}"
        );
    }

    /// Details and targets survive parsing.
    #[test]
    fn from_response_keeps_target_and_details() {
        let body = r#"{"error":{"code":"BadRequest","message":"m","target":"8:acs:x","details":[{"code":"c","message":"d"}]}}"#;
        let e = ServiceError::from_response(400, Some("cv".into()), body.as_bytes());
        assert_eq!(e.target.as_deref(), Some("8:acs:x"));
        assert_eq!(e.details.len(), 1, "details: {:?}", e.details);
        assert_eq!(e.request_id.as_deref(), Some("cv"));
        assert_eq!(
            Error::Service(Box::new(e)).to_string(),
            "the service answered 400 BadRequest: m (target 8:acs:x) [request id cv]"
        );
    }
}
