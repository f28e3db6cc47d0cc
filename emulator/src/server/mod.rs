//! The server: [`Emulator`] and [`EmulatorBuilder`], the accept loop, per-request fault
//! injection and the headers every response carries.
//!
//! The emulator runs its own tokio runtime on a background thread, so blocking callers (the
//! SDK, tests, the binary) need no runtime of their own. It accepts TCP connections itself
//! (rather than `axum::serve`) to count them, set `TCP_NODELAY`, and drop a connection on
//! purpose when a fault asks for it; each connection is served by hyper's HTTP/1.1 with
//! keep-alive, and every response is written from one buffer.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::sync::{oneshot, Semaphore};

mod connection;

use connection::{Activity, ConnectionLimits, Expired, OpenGuard, Watched};

use crate::faults::{Fault, FaultState, Faults};
use crate::state::AppState;
use crate::wire::{ApiError, SUPPORTED_VERSIONS};

/// A running emulator. Dropping it shuts the server down and joins its thread.
///
/// ```
/// let emu = acs_chat_emulator::Emulator::start()?;
/// assert!(emu.endpoint().starts_with("http://127.0.0.1:"));
/// let (user, token) = emu.user_with_token();
/// assert!(user.starts_with("8:acs:") && token.split('.').count() == 3);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Emulator {
    state: AppState,
    open: Arc<AtomicUsize>,
    endpoint: String,
    access_key: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The access key is a secret: never printed.
        f.debug_struct("Emulator")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Configures an [`Emulator`] before it starts.
///
/// ```
/// use acs_chat_emulator::{Emulator, Faults};
/// let emu = Emulator::builder()
///     .access_key("ZW11bGF0b3Itc2VjcmV0LWtleS0wMDAwMDAwMDAwMDA=")
///     .faults(Faults::default())
///     .start()?;
/// assert!(emu.connection_string().ends_with(";accesskey=ZW11bGF0b3Itc2VjcmV0LWtleS0wMDAwMDAwMDAwMDA="));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct EmulatorBuilder {
    port: u16,
    access_key: Option<String>,
    faults: Faults,
    limits: ConnectionLimits,
}

impl std::fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorBuilder")
            .field("port", &self.port)
            .field("faults", &self.faults)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl EmulatorBuilder {
    /// Port on 127.0.0.1 to listen on; 0 (the default) picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The resource's access key (base64, as in a connection string). Default: random.
    pub fn access_key(mut self, key: &str) -> Self {
        self.access_key = Some(key.to_string());
        self
    }

    /// Faults to inject from the first request on (see [`Faults`]).
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// How long a request head may take once its first byte has arrived; past it the
    /// connection is closed. Default: 30 s.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// How long a keep-alive connection may wait for its next request; past it the connection
    /// is closed. Default: 60 s.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// Connections open at once (at least 1). Past it the emulator stops accepting until one
    /// ends: new clients wait in the listen backlog rather than being reset. Default: 1,024;
    /// keep it below the process's open-file limit.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max.max(1);
        self
    }

    /// Binds the port and starts serving on a background thread.
    ///
    /// # Errors
    /// The port cannot be bound, the access key is not base64, or the runtime cannot start.
    pub fn start(self) -> io::Result<Emulator> {
        let access_key = match self.access_key {
            Some(k) => k,
            None => {
                let mut bytes = Vec::with_capacity(64);
                for _ in 0..4 {
                    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
                }
                STANDARD.encode(bytes)
            }
        };
        let key = STANDARD.decode(access_key.trim()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "the access key is not base64")
        })?;
        let listener = StdTcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let state = AppState::new(endpoint.clone(), &key, FaultState::new(self.faults));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("acs-chat-emulator")
            .enable_all()
            .build()?;
        let (tx, rx) = oneshot::channel();
        let app = crate::app(state.clone());
        let serve = Serve {
            state: state.clone(),
            app,
            limits: self.limits,
            open: Arc::new(AtomicUsize::new(0)),
        };
        let open = Arc::clone(&serve.open);
        let thread = std::thread::Builder::new()
            .name("acs-chat-emulator-accept".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, serve, rx));
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        log::debug!("emulator listening on {endpoint}");
        Ok(Emulator {
            state,
            open,
            endpoint,
            access_key,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Emulator {
    /// Starts an emulator on `127.0.0.1` with a free port and a random access key.
    ///
    /// # Errors
    /// No port can be bound or the runtime cannot start.
    pub fn start() -> io::Result<Emulator> {
        Emulator::builder().start()
    }

    /// A builder to set the port, the access key and faults.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// `endpoint=http://127.0.0.1:PORT/;accesskey=KEY`.
    pub fn connection_string(&self) -> String {
        format!("endpoint={}/;accesskey={}", self.endpoint, self.access_key)
    }

    /// The resource's access key (base64).
    pub fn access_key(&self) -> String {
        self.access_key.clone()
    }

    /// Creates a user in-process (no HTTP): `8:acs:<resource>_<uuid>`.
    pub fn create_user(&self) -> String {
        self.state.create_user()
    }

    /// Issues a token for `user_id` with `scopes` (e.g. `["chat"]`), valid for `expires_in`
    /// (any lifetime, so tests can use seconds).
    pub fn issue_token(&self, user_id: &str, scopes: &[&str], expires_in: Duration) -> String {
        self.state.issue_token(user_id, scopes, expires_in)
    }

    /// A new user and a 24-hour `chat` token for it.
    pub fn user_with_token(&self) -> (String, String) {
        let user = self.create_user();
        let token = self.issue_token(&user, &["chat"], Duration::from_secs(24 * 3600));
        (user, token)
    }

    /// Revokes every token issued to `user_id` so far.
    pub fn revoke_tokens(&self, user_id: &str) {
        self.state.revoke(user_id)
    }

    /// HTTP requests received so far, on every route, faulted ones included.
    pub fn request_count(&self) -> u64 {
        self.state.0.requests.load(Ordering::Relaxed)
    }

    /// TCP connections accepted so far.
    pub fn connection_count(&self) -> u64 {
        self.state.0.connections.load(Ordering::Relaxed)
    }

    /// Chat messages held in memory, system messages included, across every thread; a deleted
    /// thread's messages are freed at once and no longer count.
    pub fn message_count(&self) -> usize {
        self.state.0.chat.message_count()
    }

    /// TCP connections open now (accepted and not yet closed by either side).
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Replaces the fault configuration (and restarts its sequence and random generator).
    pub fn set_faults(&self, faults: Faults) {
        self.state.0.faults.set(faults)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("the emulator thread panicked");
            }
        }
    }
}

/// What every connection is served with.
#[derive(Clone)]
struct Serve {
    state: AppState,
    app: Router,
    limits: ConnectionLimits,
    /// Connections open now.
    open: Arc<AtomicUsize>,
}

async fn accept_loop(listener: StdTcpListener, serve: Serve, mut shutdown: oneshot::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            log::error!("emulator cannot listen: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(serve.limits.max_connections));
    loop {
        // At the cap, wait for a connection to end before accepting another.
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    serve.state.0.connections.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = stream.set_nodelay(true) {
                        log::debug!("TCP_NODELAY not set: {e}");
                    }
                    let serve = serve.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        serve_connection(stream, serve).await;
                    });
                }
                Err(e) => {
                    // E.g. out of file descriptors: wait a little rather than spin.
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// Serves one connection over any byte stream until the client leaves, hyper ends it, or the
/// watchdog finds it idle or half-sent past its limits (then it is dropped, which closes it).
async fn serve_connection<S>(stream: S, serve: Serve)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let _open = OpenGuard::new(Arc::clone(&serve.open));
    let activity = Activity::new();
    let svc = TowerToHyperService::new(serve.app.clone());
    let state = serve.state.clone();
    let in_service = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        let svc = svc.clone();
        let activity = Arc::clone(&in_service);
        async move {
            activity.request_started();
            let r = respond(&state, &svc, req).await;
            activity.request_finished();
            r
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .writev(false)
        .serve_connection(
            TokioIo::new(Watched::new(stream, Arc::clone(&activity))),
            service,
        );
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                log::debug!("connection ended: {e}");
            }
        }
        why = activity.expired(serve.limits) => match why {
            Expired::HeaderRead => log::debug!("connection closed: request head not complete in time"),
            Expired::Idle => log::debug!("connection closed: idle"),
        },
    }
}

/// The error a connection-closing fault hands to hyper, which then drops the connection.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by fault injection")
    }
}

impl std::error::Error for Dropped {}

fn fault_error(status: StatusCode, code: &'static str, message: &str) -> Response<Body> {
    ApiError::new(status, code, message).into_response()
}

async fn respond(
    state: &AppState,
    svc: &TowerToHyperService<Router>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    state.count_request();
    let decision = state.0.faults.decide();
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    let echo_id = client_request_id(req.uri().path(), req.headers());
    let chat = req.uri().path().starts_with("/chat");
    // Method and path only: never headers (tokens) or bodies (message content).
    let what = if log::log_enabled!(log::Level::Debug) {
        format!("{} {}", req.method(), req.uri().path())
    } else {
        String::new()
    };
    let early = match &decision.fault {
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(*d).await;
            None
        }
        Some(Fault::CloseBeforeProcessing) => {
            log::debug!("{what} -> connection closed before processing (fault)");
            return Err(Dropped);
        }
        Some(Fault::TooManyRequests { retry_after }) => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Rate limit exceeded.",
            );
            let ms = retry_after.as_millis();
            e.retry_after = Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0));
            let mut r = e.into_response();
            if let Ok(v) = HeaderValue::from_str(&ms.to_string()) {
                r.headers_mut().insert("retry-after-ms", v);
            }
            Some(r)
        }
        Some(Fault::InternalError) => Some(fault_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The server encountered an internal error (injected fault).",
        )),
        Some(Fault::ServiceUnavailable) => Some(fault_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The server is currently unable to handle the request.",
        )),
        _ => None,
    };
    let resp = match early {
        Some(r) => r,
        None => match svc.call(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        },
    };
    let (mut parts, body) = resp.into_parts();
    // Responses are small and in memory: collect them so each goes out in one write.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            log::warn!("response body failed: {e}");
            return Err(Dropped);
        }
    };
    let body = match &decision.fault {
        Some(Fault::CloseAfterProcessing) => {
            log::debug!("{what} -> connection closed after processing (fault)");
            return Err(Dropped);
        }
        Some(Fault::TruncatedBody) => {
            let full = if bytes.is_empty() {
                axum::body::Bytes::from_static(
                    br#"{"error":{"code":"Truncated","message":"injected truncated body"}}"#,
                )
            } else {
                bytes
            };
            if parts.status == StatusCode::NO_CONTENT {
                parts.status = StatusCode::OK;
            }
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::wire::JSON_UTF8),
            );
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
            // Less than Content-Length promises: hyper sends it and then closes the connection.
            Body::new(PartialBody::new(full.slice(..full.len() / 2)))
        }
        Some(Fault::MalformedBody) => {
            if parts.status == StatusCode::NO_CONTENT {
                parts.status = StatusCode::OK;
            }
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::wire::JSON_UTF8),
            );
            parts.headers.remove(header::CONTENT_LENGTH);
            Body::from(&b"{\"value\": [{\"id\": \"1\", \"content\": <not json>"[..])
        }
        _ => Body::from(bytes),
    };
    add_common_headers(&mut parts.headers, chat, echo_id);
    log::debug!(
        "{what} -> {} (fault: {:?})",
        parts.status.as_u16(),
        decision.fault
    );
    Ok(Response::from_parts(parts, body))
}

/// A body of unknown length (so hyper trusts the `Content-Length` header set by hand) that
/// sends its part, pauses so hyper flushes it, then fails so hyper closes the connection:
/// what a truncated-body fault sends.
struct PartialBody {
    part: Option<axum::body::Bytes>,
    pause: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl PartialBody {
    fn new(part: axum::body::Bytes) -> PartialBody {
        PartialBody {
            part: Some(part),
            pause: Box::pin(tokio::time::sleep(Duration::from_millis(20))),
        }
    }
}

impl hyper::body::Body for PartialBody {
    type Data = axum::body::Bytes;
    type Error = Dropped;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future as _;
        let this = self.get_mut();
        if let Some(part) = this.part.take() {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(part))));
        }
        match this.pause.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Some(Err(Dropped))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// The `x-ms-client-request-id` to echo: identity always echoes it, chat only on request.
fn client_request_id(path: &str, headers: &HeaderMap) -> Option<HeaderValue> {
    let id = headers.get("x-ms-client-request-id")?;
    let asked = headers
        .get("x-ms-return-client-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    (asked || path.starts_with("/identities") || path.starts_with("/teamsUser")).then(|| id.clone())
}

fn add_common_headers(h: &mut HeaderMap, chat: bool, echo_id: Option<HeaderValue>) {
    if let Ok(v) = HeaderValue::from_str(&ms_cv()) {
        h.insert("ms-cv", v);
    }
    if chat {
        h.insert(
            "api-supported-versions",
            HeaderValue::from_static(SUPPORTED_VERSIONS),
        );
    }
    if let Some(id) = echo_id {
        h.insert("x-ms-client-request-id", id);
    }
}

/// A correlation vector like the service's: 22 base64 characters and `.0`. Random enough to
/// tell requests apart, without a system call per request.
fn ms_cv() -> String {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut rng = crate::faults::XorShift::new(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    let mut s = STANDARD_NO_PAD.encode(bytes);
    s.push_str(".0");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Emulator>();
        check::<EmulatorBuilder>();
    }

    #[test]
    fn debug_hides_access_key() {
        let emu = Emulator::builder()
            .access_key("c2VjcmV0LWtleS12YWx1ZQ==")
            .start()
            .expect("emulator");
        let shown = format!("{emu:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        let b = format!(
            "{:?}",
            Emulator::builder().access_key("c2VjcmV0LWtleS12YWx1ZQ==")
        );
        assert!(!b.contains("c2VjcmV0"), "{b}");
    }

    #[test]
    fn builder_rejects_non_base64_key() {
        let err = Emulator::builder().access_key("not base64!").start();
        assert_eq!(
            err.map(|_| ()).map_err(|e| e.kind()),
            Err(io::ErrorKind::InvalidInput)
        );
    }

    #[test]
    fn ms_cv_has_service_shape() {
        let a = ms_cv();
        assert_eq!(a.len(), 24, "{a}");
        assert!(a.ends_with(".0"));
        assert_ne!(a, ms_cv());
    }
}
