//! The shared blocking transport: one ureq 3 [`Agent`](ureq::Agent) (one connection pool) used
//! by the chat and identity clients.
//!
//! [`Pipeline::send`] makes one *call*: it authorizes every attempt afresh (so refreshed bearer
//! tokens and HMAC dates are current), stamps the standard headers, retries what is safe to
//! retry with backoff, never runs past the call's timeout, reads the body with a size limit,
//! and turns every non-success status into a typed [`Error`]. Redirects are not followed (a
//! 3xx is an [`Error::Redirect`]), so the `Authorization` header can never reach another host.

mod resolve;
mod retry;
mod sent;
mod url;
mod waiter;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ureq::unversioned::transport::Connector;

pub(crate) use retry::RetryClass;
pub use retry::RetryOptions;
pub(crate) use url::{
    decoded_path, encode_query_value, encode_segment, rebase_next_link, validate_id, Endpoint,
};
pub(crate) use waiter::{jitter, Waiter};

pub(crate) use ureq::http::Method;

use crate::error::{Error, Result, ServiceError};

/// Default connect timeout (TCP and TLS setup of one connection).
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default per-call timeout: the whole call, every attempt and wait included.
pub(crate) const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Default response body limit: 16 MiB.
pub(crate) const DEFAULT_MAX_RESPONSE_BODY: u64 = 16 * 1024 * 1024;
/// Idle connections kept alive per pool (and per host): one per concurrent caller thread,
/// up to this many.
const MAX_IDLE_CONNECTIONS: usize = 32;

/// Timeouts handed to ureq are capped here: it adds them to `Instant`s, which panics on
/// overflow (a caller may well configure `Duration::MAX` for "no limit").
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The `log` target of per-attempt request lines.
const LOG_TARGET: &str = "acs_chat::http";

/// How a [`Pipeline`] behaves.
#[derive(Clone, Debug)]
pub(crate) struct PipelineOptions {
    /// Retry policy.
    pub(crate) retry: RetryOptions,
    /// Connect timeout for each new connection.
    pub(crate) connect_timeout: Duration,
    /// Timeout of a whole call, all attempts and waits included.
    pub(crate) call_timeout: Duration,
    /// Largest accepted response body, in bytes.
    pub(crate) max_response_body: u64,
    /// The `User-Agent` header, e.g. `azsdk-rust-communication-chat/0.1.0`.
    pub(crate) user_agent: String,
    /// Root certificates trusted instead of the public ones; empty: the public ones.
    pub(crate) root_certificates: Vec<ureq::tls::Certificate<'static>>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            retry: RetryOptions::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_response_body: DEFAULT_MAX_RESPONSE_BODY,
            user_agent: format!(
                "azsdk-rust-communication-chat/{}",
                env!("CARGO_PKG_VERSION")
            ),
            root_certificates: Vec::new(),
        }
    }
}

/// Adds credentials to each attempt of a call.
pub(crate) trait Authorize {
    /// Sets the authorization headers of one attempt (called again for every retry). Waiting
    /// for credentials ends at `deadline` (the call's) with [`Error::Timeout`].
    fn authorize(&self, request: &mut Request, deadline: Option<Instant>) -> Result<()>;

    /// Called after a 401. Returns `true` when new credentials can be had, so the call is
    /// worth repeating once.
    fn on_unauthorized(&self) -> bool {
        false
    }
}

/// Sends requests without credentials.
#[cfg(test)]
pub(crate) struct NoAuth;

#[cfg(test)]
impl Authorize for NoAuth {
    fn authorize(&self, _request: &mut Request, _deadline: Option<Instant>) -> Result<()> {
        Ok(())
    }
}

/// One logical request, authorized afresh for every attempt.
#[derive(Clone)]
pub(crate) struct Request {
    /// The HTTP method.
    pub(crate) method: Method,
    /// The absolute URL (`https://host[:port]/path?query`).
    pub(crate) url: String,
    /// Headers besides the standard ones the pipeline adds.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, if any (POST/PATCH without one send `Content-Length: 0`).
    pub(crate) body: Option<Vec<u8>>,
    /// Which failures may be retried.
    pub(crate) retry: RetryClass,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values (Authorization) and the body (message content) never print.
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path())
            .field("headers", &names)
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .field("retry", &self.retry)
            .finish()
    }
}

impl Request {
    /// A request without a body.
    pub(crate) fn new(method: Method, url: String, retry: RetryClass) -> Self {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
            retry,
        }
    }

    /// Adds or replaces a header (names compare case-insensitively).
    pub(crate) fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .headers
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.headers.push((name.to_string(), value)),
        }
    }

    /// Builder form of [`Request::set_header`].
    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set_header(name, value);
        self
    }

    /// A header's value, if set.
    #[cfg_attr(not(test), allow(dead_code))] // read by tests (here and in identity).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets a body and its content type.
    pub(crate) fn with_body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.set_header("content-type", content_type);
        self.body = Some(body);
        self
    }

    /// Serialises `value` as the JSON body with the given content type.
    pub(crate) fn with_json<T: serde::Serialize + ?Sized>(
        self,
        content_type: &str,
        value: &T,
    ) -> Result<Self> {
        let body = serde_json::to_vec(value).map_err(|e| Error::Transport {
            message: "could not serialise the request body".to_string(),
            source: Some(Box::new(e)),
        })?;
        Ok(self.with_body(content_type, body))
    }

    /// The URL's path and query (`/chat/threads?api-version=…`), as HMAC signs it.
    pub(crate) fn path_and_query(&self) -> &str {
        let after_scheme = self.url.find("://").map_or(0, |i| i + 3);
        let rest = &self.url[after_scheme..];
        rest.find('/').map_or("/", |i| &rest[i..])
    }

    /// The path without the query (the query may carry continuation state; keep logs short).
    fn path(&self) -> &str {
        let pq = self.path_and_query();
        pq.split('?').next().unwrap_or(pq)
    }
}

/// A successful (2xx) response with its whole body.
#[derive(Debug)]
pub(crate) struct Response {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The response headers.
    pub(crate) headers: ureq::http::HeaderMap,
    /// The body (at most the configured limit).
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A header's value, when present and valid text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Decodes the body as JSON into `T`.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|source| Error::Decode {
            status: self.status,
            source,
        })
    }

    /// The service's id for this request (`MS-CV`, else `x-ms-request-id`), for support.
    pub(crate) fn request_id(&self) -> Option<String> {
        self.header("ms-cv")
            .or_else(|| self.header("x-ms-request-id"))
            .map(str::to_string)
    }

    /// The error for this non-2xx response to the request sent as `client_request_id`.
    fn into_error(self, client_request_id: &str) -> Error {
        if (300..400).contains(&self.status) {
            return Error::Redirect {
                status: self.status,
            };
        }
        let request_id = self.request_id();
        let mut error = ServiceError::from_response(self.status, request_id, &self.body);
        error.client_request_id = Some(client_request_id.to_string());
        Error::Service(Box::new(error))
    }
}

/// Why an attempt produced no usable response.
enum Failure {
    /// The request never left the client (name resolution or connect failed, or the
    /// connection failed before any request byte was written).
    NotSent(ureq::Error),
    /// The request was written, but no complete response came back.
    Lost(ureq::Error),
    /// Not worth retrying: a bad request or a TLS failure; `sent` when request bytes had
    /// been written (a response head too large to read).
    Fatal { source: ureq::Error, sent: bool },
    /// The response body ended early.
    Truncated { status: u16, source: ureq::Error },
    /// The body exceeded the limit.
    TooLarge,
    /// The call's time ran out; `sent` when request bytes had been written.
    TimedOut { sent: bool },
}

impl Failure {
    fn retryable(&self, class: RetryClass) -> bool {
        match self {
            Failure::NotSent(_) => class.retries_transport(true),
            Failure::Lost(_) | Failure::Truncated { .. } => class.retries_transport(false),
            Failure::Fatal { .. } | Failure::TooLarge | Failure::TimedOut { .. } => false,
        }
    }

    /// Whether this attempt wrote request bytes.
    fn was_sent(&self) -> bool {
        match self {
            Failure::NotSent(_) => false,
            Failure::Fatal { sent, .. } | Failure::TimedOut { sent } => *sent,
            Failure::Lost(_) | Failure::Truncated { .. } | Failure::TooLarge => true,
        }
    }

    fn describe(&self) -> String {
        match self {
            Failure::NotSent(e) => format!("could not connect: {e}"),
            Failure::Lost(e) => format!("no response: {e}"),
            Failure::Fatal { source, .. } => format!("request failed: {source}"),
            Failure::Truncated { status, .. } => format!("{status} with a cut-short body"),
            Failure::TooLarge => "body over the size limit".to_string(),
            Failure::TimedOut { .. } => "timed out".to_string(),
        }
    }

    /// The call's error; `call_sent` when any attempt of the call wrote request bytes.
    fn into_error(self, options: &PipelineOptions, call_sent: bool) -> Error {
        match self {
            Failure::NotSent(e) => transport("could not connect to the service", e, false, true),
            Failure::Lost(e) => transport("the service did not answer completely", e, true, true),
            Failure::Fatal {
                source,
                sent: false,
            } => transport("the request could not be made", source, false, false),
            Failure::Fatal { source, sent: true } => {
                transport("the response could not be read", source, true, false)
            }
            Failure::Truncated { status, source } => Error::TruncatedBody {
                status,
                source: Box::new(source),
            },
            Failure::TooLarge => Error::BodyTooLarge {
                limit: options.max_response_body,
            },
            Failure::TimedOut { sent } => Error::Timeout {
                after: options.call_timeout,
                sent: sent || call_sent,
            },
        }
    }
}

/// The transport error of a failed attempt (see [`sent::AttemptFailed`]).
fn transport(message: &str, error: ureq::Error, sent: bool, transient: bool) -> Error {
    Error::Transport {
        message: message.to_string(),
        source: Some(Box::new(sent::AttemptFailed {
            error,
            sent,
            transient,
        })),
    }
}

/// The attempt behind a transport error's `source`, if it came from one.
fn attempt_of<'a>(
    source: &'a (dyn std::error::Error + 'static),
) -> Option<&'a sent::AttemptFailed> {
    source.downcast_ref::<sent::AttemptFailed>()
}

/// Whether `source` marks a request that was written before the transport failed.
pub(crate) fn sent_before_failing(source: &(dyn std::error::Error + 'static)) -> bool {
    attempt_of(source).is_some_and(|a| a.sent)
}

/// Whether `source` marks a transport failure that the retry policy retries.
pub(crate) fn transient_failure(source: &(dyn std::error::Error + 'static)) -> bool {
    attempt_of(source).is_some_and(|a| a.transient)
}

/// A fresh `x-ms-client-request-id`: a random (version 4) UUID in lower-case hyphenated form.
fn client_request_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// The state of one call across its attempts.
struct Call {
    client_request_id: String,
    /// The call's end: its own timeout or the caller's deadline, whichever is earlier.
    deadline: Option<Instant>,
    call_timeout: Duration,
    /// How many headers the request had before the first authorization.
    own_headers: Option<usize>,
    attempt: u32,
    retries: u32,
    reauthorized: bool,
    /// Whether any attempt wrote request bytes.
    sent: bool,
}

impl Call {
    fn start(options: &PipelineOptions, given: Option<Instant>) -> Call {
        let deadline = match (Instant::now().checked_add(options.call_timeout), given) {
            (Some(own), Some(given)) => Some(own.min(given)),
            (own, given) => own.or(given),
        };
        Call {
            client_request_id: client_request_id(),
            deadline,
            call_timeout: options.call_timeout,
            own_headers: None,
            attempt: 0,
            retries: 0,
            reauthorized: false,
            sent: false,
        }
    }

    /// The time left before the call's deadline.
    fn remaining(&self) -> Duration {
        match self.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::MAX,
        }
    }

    /// The call's [`Error::Timeout`], saying whether any attempt was sent.
    fn timeout(&self) -> Error {
        Error::Timeout {
            after: self.call_timeout,
            sent: self.sent,
        }
    }
}

/// What one attempt means for its call.
enum Outcome<T> {
    /// The call is over.
    Done(Result<T>),
    /// Fresh credentials can be had after a 401: repeat at once (not counted as a retry).
    Reauthorize,
    /// A retryable failure; `hint` is the wait the server asked for.
    Retry {
        error: Error,
        hint: Option<Duration>,
    },
}

/// The shared transport. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub(crate) struct Pipeline {
    inner: Arc<PipelineInner>,
}

struct PipelineInner {
    agent: ureq::Agent,
    options: PipelineOptions,
    /// The wait between attempts; stopping it ends every waiting call at once.
    waiter: Waiter,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Pipeline {
    /// Two pipelines are equal when they share one connection pool.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Pipeline {}

impl Pipeline {
    /// A pipeline with its own connection pool.
    pub(crate) fn new(options: PipelineOptions) -> Self {
        let config = ureq::Agent::config_builder()
            // Every status comes back as a response, so error bodies are never lost.
            .http_status_as_error(false)
            // Never follow redirects: a 3xx is returned and becomes Error::Redirect, so no
            // Authorization header is ever sent anywhere but the configured endpoint.
            .max_redirects(0)
            .https_only(false)
            .user_agent(options.user_agent.as_str())
            .accept("application/json")
            .timeout_connect(Some(options.connect_timeout.min(MAX_TIMEOUT)))
            // Clients are shared by many threads: keep one idle connection per thread
            // instead of ureq's default 3 per host, past which every request of a 4th
            // concurrent thread opened a new connection (benches/e2e.rs, concurrency).
            .max_idle_connections(MAX_IDLE_CONNECTIONS)
            .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
            .tls_config(crate::tls::config(&options.root_certificates).unwrap_or_default())
            .build();
        // ureq's own resolver spawns a lookup thread per request once a timeout is set; see
        // `resolve.rs`.
        // The last link records whether an attempt wrote request bytes (`sent.rs`).
        let agent = ureq::Agent::with_parts(
            config,
            Connector::chain(
                ureq::unversioned::transport::DefaultConnector::new(),
                sent::RecordSends,
            ),
            resolve::LiteralFirst::default(),
        );
        Pipeline {
            inner: Arc::new(PipelineInner {
                agent,
                options,
                waiter: Waiter::default(),
            }),
        }
    }

    /// Makes one call: authorized attempts with retries, all within the call timeout.
    ///
    /// Returns the response for a 2xx status. A 3xx is [`Error::Redirect`], any other status
    /// [`Error::Service`] with the parsed error body. After a 401 the call is repeated once
    /// when `auth.on_unauthorized()` says fresh credentials can be had.
    pub(crate) fn send(&self, request: Request, auth: &dyn Authorize) -> Result<Response> {
        self.send_and(request, auth, Ok)
    }

    /// Like [`Pipeline::send`], and turns the 2xx response into `T` with `accept`. When
    /// `accept` fails with [`Error::Decode`] (a malformed body) and the request is safe to
    /// repeat, the attempt counts as failed and is retried like a cut-short body.
    pub(crate) fn send_and<T>(
        &self,
        request: Request,
        auth: &dyn Authorize,
        accept: impl Fn(Response) -> Result<T>,
    ) -> Result<T> {
        self.send_recovering(request, auth, accept, None, |_, _| Ok(None))
    }

    /// [`Pipeline::send_and`], ending no later than `deadline` (when earlier than the call's
    /// own timeout), and asking `recover` before every retry that follows a failure which
    /// [may have taken effect](Error::may_have_taken_effect): `Ok(Some(t))` ends the call with
    /// `t` (the effect was found), `Ok(None)` retries, and an error ends the call with the
    /// ambiguous failure (nothing is repeated that might act twice). `recover` gets the
    /// call's deadline.
    pub(crate) fn send_recovering<T>(
        &self,
        mut request: Request,
        auth: &dyn Authorize,
        accept: impl Fn(Response) -> Result<T>,
        deadline: Option<Instant>,
        mut recover: impl FnMut(&Error, Option<Instant>) -> Result<Option<T>>,
    ) -> Result<T> {
        let mut call = Call::start(&self.inner.options, deadline);
        request.set_header("x-ms-client-request-id", call.client_request_id.as_str());
        loop {
            let (error, hint) = match self.try_once(&mut call, &mut request, auth, &accept)? {
                Outcome::Done(result) => return result,
                Outcome::Reauthorize => continue,
                Outcome::Retry { error, hint } => (error, hint),
            };
            let Some(delay) = self.next_delay(&call, hint) else {
                // Out of retries or of time: one last look, so that an effect that did happen
                // is still reported as the success it was.
                if error.may_have_taken_effect() && !call.remaining().is_zero() {
                    if let Ok(Some(found)) = recover(&error, call.deadline) {
                        return Ok(found);
                    }
                }
                return Err(error);
            };
            call.retries += 1;
            log::debug!(
                target: LOG_TARGET,
                "{} {}: retry {} of {} in {} ms (x-ms-client-request-id {})",
                request.method,
                request.path(),
                call.retries,
                self.inner.options.retry.max_retries,
                delay.as_millis(),
                call.client_request_id,
            );
            if self.inner.waiter.wait_until(Instant::now() + delay) {
                return Err(error);
            }
            if error.may_have_taken_effect() {
                match recover(&error, call.deadline) {
                    Ok(Some(found)) => {
                        log::debug!(
                            target: LOG_TARGET,
                            "{} {}: the earlier attempt took effect; not repeated (x-ms-client-request-id {})",
                            request.method,
                            request.path(),
                            call.client_request_id,
                        );
                        return Ok(found);
                    }
                    Ok(None) => {}
                    Err(lookup) => {
                        log::debug!(
                            target: LOG_TARGET,
                            "{} {}: could not tell whether the earlier attempt took effect ({lookup}); not repeated",
                            request.method,
                            request.path(),
                        );
                        return Err(error);
                    }
                }
            }
        }
    }

    /// One authorized attempt of `call`, and what it means for the call. `Err` ends the call
    /// before sending (its time ran out, or the credential failed).
    fn try_once<T>(
        &self,
        call: &mut Call,
        request: &mut Request,
        auth: &dyn Authorize,
        accept: &impl Fn(Response) -> Result<T>,
    ) -> Result<Outcome<T>> {
        call.attempt += 1;
        if call.remaining().is_zero() {
            return Err(call.timeout());
        }
        // The request is authorized in place: headers the authorizer adds are dropped again
        // before the next attempt, ones it replaces are set anew.
        let own_headers = *call.own_headers.get_or_insert(request.headers.len());
        request.headers.truncate(own_headers);
        // Authorizing may wait for a token refresh: it gets the call's deadline, and the
        // attempt only the time that is left after it.
        auth.authorize(request, call.deadline)
            .map_err(|e| match e {
                Error::Timeout { .. } => call.timeout(),
                other => other,
            })?;
        let left = call.remaining();
        if left.is_zero() {
            return Err(call.timeout());
        }
        let attempt_started = Instant::now();
        let outcome = self.attempt(request, left.min(MAX_TIMEOUT));
        let elapsed = attempt_started.elapsed();
        Ok(match outcome {
            Ok(response) => {
                log::debug!(
                    target: LOG_TARGET,
                    "{} {} -> {} in {} ms (attempt {}, x-ms-client-request-id {}, MS-CV {})",
                    request.method,
                    request.path(),
                    response.status,
                    elapsed.as_millis(),
                    call.attempt,
                    call.client_request_id,
                    response.request_id().as_deref().unwrap_or("-"),
                );
                // A response came back: the request reached the service.
                call.sent = true;
                self.classify_response(call, request, auth, accept, response)
            }
            Err(failure) => {
                log::debug!(
                    target: LOG_TARGET,
                    "{} {} -> {} after {} ms (attempt {}, x-ms-client-request-id {})",
                    request.method,
                    request.path(),
                    failure.describe(),
                    elapsed.as_millis(),
                    call.attempt,
                    call.client_request_id,
                );
                call.sent |= failure.was_sent();
                if failure.retryable(request.retry) {
                    Outcome::Retry {
                        error: failure.into_error(&self.inner.options, call.sent),
                        hint: None,
                    }
                } else {
                    Outcome::Done(Err(failure.into_error(&self.inner.options, call.sent)))
                }
            }
        })
    }

    /// What a response means for the call: a result, a repeat with fresh credentials after a
    /// 401, or a retry (a retryable status, or a 2xx body that did not decode for a request
    /// that is safe to repeat).
    fn classify_response<T>(
        &self,
        call: &mut Call,
        request: &Request,
        auth: &dyn Authorize,
        accept: &impl Fn(Response) -> Result<T>,
        response: Response,
    ) -> Outcome<T> {
        if (200..300).contains(&response.status) {
            return match accept(response) {
                Err(e @ Error::Decode { .. }) if request.retry == RetryClass::SafeToRepeat => {
                    log::debug!(
                        target: LOG_TARGET,
                        "{} {}: the response body could not be decoded (attempt {})",
                        request.method,
                        request.path(),
                        call.attempt,
                    );
                    Outcome::Retry {
                        error: e,
                        hint: None,
                    }
                }
                other => Outcome::Done(other),
            };
        }
        if response.status == 401 && !call.reauthorized && auth.on_unauthorized() {
            call.reauthorized = true;
            return Outcome::Reauthorize;
        }
        let retryable = request.retry.retries_status(response.status);
        let hint =
            retry::server_delay(|name| response.header(name).map(str::to_string), Utc::now());
        let error = response.into_error(&call.client_request_id);
        if retryable {
            Outcome::Retry { error, hint }
        } else {
            Outcome::Done(Err(error))
        }
    }

    /// The wait before the next retry (the server's `hint`, else the backoff), or `None` when
    /// the call is out of retries or the wait would outlast its time.
    fn next_delay(&self, call: &Call, hint: Option<Duration>) -> Option<Duration> {
        let retry = &self.inner.options.retry;
        if call.retries >= retry.max_retries {
            return None;
        }
        let delay = hint.unwrap_or_else(|| retry.backoff(call.retries, jitter()));
        (delay < call.remaining()).then_some(delay)
    }

    /// One attempt, bounded by `budget`.
    fn attempt(&self, req: &Request, budget: Duration) -> std::result::Result<Response, Failure> {
        let agent = &self.inner.agent;
        let started = Instant::now();
        // Built field by field rather than through `http::request::Builder`, whose every
        // step moves the whole request head (benches/e2e.rs, `instructions`).
        let head = match request_head(req) {
            Ok(head) => head,
            Err(http_error) => {
                return Err(Failure::Fatal {
                    source: ureq::Error::Http(http_error),
                    sent: false,
                })
            }
        };
        let needs_body = matches!(req.method, Method::POST | Method::PUT | Method::PATCH);
        sent::reset();
        let run = |r: ureq::http::Request<_>| {
            let r = agent
                .configure_request(r)
                .timeout_global(Some(budget))
                .build();
            agent.run(r)
        };
        let result = match (&req.body, needs_body) {
            (Some(body), _) => run(ureq::http::Request::from_parts(head, body.as_slice())),
            (None, true) => run(ureq::http::Request::from_parts(head, &[][..])),
            (None, false) => {
                let r = ureq::http::Request::from_parts(head, ());
                let r = agent
                    .configure_request(r)
                    .timeout_global(Some(budget))
                    .build();
                agent.run(r)
            }
        };
        let response = match result {
            // Whatever failed, the call's time is up (ureq may name the connect timeout when
            // the call's budget was the shorter one).
            Err(_) if started.elapsed() >= budget => {
                return Err(Failure::TimedOut {
                    sent: sent::was_sent(),
                })
            }
            Err(e) => return Err(classify(e, sent::was_sent())),
            Ok(r) => r,
        };
        // Split, so the headers move into our `Response` instead of being copied.
        let (parts, mut body) = response.into_parts();
        let status = parts.status.as_u16();
        let limit = self.inner.options.max_response_body;
        match body.with_config().limit(limit).read_to_vec() {
            Ok(body) => Ok(Response {
                status,
                headers: parts.headers,
                body,
            }),
            Err(ureq::Error::BodyExceedsLimit(_)) => Err(Failure::TooLarge),
            // The head came back: the request was sent.
            Err(ureq::Error::Timeout(_)) => Err(Failure::TimedOut { sent: true }),
            Err(source) => Err(Failure::Truncated { status, source }),
        }
    }
}

/// The method, URL and headers of one attempt.
fn request_head(
    req: &Request,
) -> std::result::Result<ureq::http::request::Parts, ureq::http::Error> {
    use ureq::http::header::{HeaderName, HeaderValue};
    let (mut head, ()) = ureq::http::Request::new(()).into_parts();
    head.method = req.method.clone();
    head.uri = ureq::http::Uri::try_from(req.url.as_str())?;
    head.headers.reserve(req.headers.len());
    for (name, value) in &req.headers {
        head.headers.append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
    }
    Ok(head)
}

/// Sorts a ureq error by whether the request can have reached the server; `sent` says whether
/// any request byte was written.
fn classify(e: ureq::Error, sent: bool) -> Failure {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            Failure::NotSent(e)
        }
        ureq::Error::Timeout(_) => Failure::TimedOut { sent },
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => Failure::NotSent(e),
        ureq::Error::Io(ref io)
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused | ErrorKind::AddrNotAvailable
            ) =>
        {
            Failure::NotSent(e)
        }
        ureq::Error::Http(_)
        | ureq::Error::BadUri(_)
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::TlsRequired
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::LargeResponseHeader(_, _) => Failure::Fatal { source: e, sent },
        // Nothing was written: the server cannot have seen the request.
        _ if !sent => Failure::NotSent(e),
        _ => Failure::Lost(e),
    }
}

#[cfg(test)]
mod tests;
