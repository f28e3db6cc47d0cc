//! The server: [`Emulator`] and [`EmulatorBuilder`]. The accept loop is in `accept`, each
//! connection's limits in `connection`, and per-request fault injection with the headers every
//! response carries in `respond`.
//!
//! The emulator runs its own tokio runtime on a background thread, so blocking callers (the
//! SDK, tests, the binary) need no runtime of their own. It accepts TCP connections itself
//! (rather than `axum::serve`) to count them, set `TCP_NODELAY`, and drop a connection on
//! purpose when a fault asks for it; each connection is served by hyper's HTTP/1.1 with
//! keep-alive, and every response is written from one buffer.

use std::io;
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener as StdTcpListener, ToSocketAddrs,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tokio::sync::oneshot;

pub(crate) mod accept;
mod connection;
mod respond;

use accept::{accept_loop, Serve};
use connection::ConnectionLimits;

use crate::cors::Cors;
use crate::events::{
    DeadLetteredEvent, EventStats, Publisher, SubscribeError, SubscriptionOptions,
};
use crate::faults::{FaultState, Faults};
use crate::identity::Directory;
use crate::persist::{self, Persist};
use crate::state::AppState;
use crate::store::ChatStore;
use crate::tls::{TlsListener, TlsSource};

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
    ca_pem: Option<String>,
    ca_path: Option<PathBuf>,
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
    host: Option<String>,
    port: u16,
    access_key: Option<String>,
    faults: Faults,
    limits: ConnectionLimits,
    data_dir: Option<PathBuf>,
    cors: Cors,
    tls: Option<TlsSource>,
    rate_limits: Option<Duration>,
    event_topic: Option<String>,
    entra_apps: Vec<String>,
}

/// The `topic` of a resource named after the emulator, in a subscription whose id is the
/// resource's id.
fn default_topic(resource_id: &str) -> String {
    format!(
        "/subscriptions/{resource_id}/resourceGroups/acs-chat-emulator/providers/Microsoft.Communication/communicationServices/acs-chat-emulator"
    )
}

impl std::fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorBuilder")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("faults", &self.faults)
            .field("limits", &self.limits)
            .field("cors", &self.cors)
            .field("tls", &self.tls)
            .field("rate_limits", &self.rate_limits)
            .field("data_dir", &self.data_dir)
            .field("entra_apps", &self.entra_apps)
            .finish_non_exhaustive()
    }
}

impl EmulatorBuilder {
    /// Address to listen on: an IP address (`0.0.0.0` or `::` for every interface) or a host
    /// name that resolves to one. Default: `127.0.0.1`. The endpoint names the address, or
    /// loopback when it is unspecified (`0.0.0.0` → `127.0.0.1`, `::` → `[::1]`).
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    /// Port to listen on; 0 (the default) picks a free one.
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

    /// Allows browser calls from `origin` (`scheme://host[:port]`, or `*`); call once per
    /// origin. Without any call every origin is allowed. Preflights are answered without
    /// authentication either way; a disallowed origin's preflight gets 403.
    pub fn cors_origin(mut self, origin: &str) -> Self {
        self.cors
            .origins
            .get_or_insert_with(Vec::new)
            .push(origin.to_string());
        self
    }

    /// Serves `https://` with a development CA made at start and a server certificate it
    /// signs for `localhost`, `127.0.0.1`, `::1` and the [`host`](Self::host); clients trust
    /// [`Emulator::ca_pem`]. With a [`data_dir`](Self::data_dir) both are kept in `DIR/tls/`
    /// and reused on restart ([`Emulator::ca_path`]); a new server certificate is made from the
    /// kept CA when the kept one lacks a name (another host) or has expired.
    ///
    /// ```
    /// let emu = acs_chat_emulator::Emulator::builder().tls().start()?;
    /// assert!(emu.endpoint().starts_with("https://127.0.0.1:"));
    /// assert!(emu.ca_pem().expect("a CA").starts_with("-----BEGIN CERTIFICATE-----"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn tls(mut self) -> Self {
        self.tls = Some(TlsSource::Generate);
        self
    }

    /// Serves `https://` with your own certificate chain (PEM, leaf first) and private key
    /// (PEM: PKCS#8, PKCS#1 or SEC1). [`Emulator::ca_pem`] is then `None`.
    pub fn tls_pem(mut self, cert_chain: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.tls = Some(TlsSource::Pem {
            cert_chain: cert_chain.into(),
            key: key.into(),
        });
        self
    }

    /// Enforces the service's documented per-operation rates (every chat and identity rate
    /// of its service-limits page, for example 10 sends per 10 s and 30 per minute per thread,
    /// 50 list-messages per 10 s per user and thread; the emulator's README has the table),
    /// answering 429 with `Retry-After` and `retry-after-ms`. Default: off.
    pub fn rate_limits(mut self, on: bool) -> Self {
        self.rate_limits = on.then_some(crate::ratelimit::SERVICE_WINDOW);
        self
    }

    /// Turns the rate limits on with a window other than the service's 10 s (the counts stay;
    /// a minute becomes six windows, 30 s three), so a test of a throttled loop runs quickly:
    /// `Duration::from_millis(100)` allows 10 sends per 100 ms and 30 per 600 ms per thread.
    pub fn rate_limit_window(mut self, window: Duration) -> Self {
        self.rate_limits = Some(window);
        self
    }

    /// The `topic` every published event carries (`source` in CloudEvents): the resource id,
    /// `/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Communication/communicationServices/{name}`.
    /// Default: a resource `acs-chat-emulator` in group `acs-chat-emulator`, in a subscription
    /// whose id is the emulated resource's id.
    pub fn event_topic(mut self, topic: &str) -> Self {
        self.event_topic = Some(topic.to_string());
        self
    }

    /// Keeps the resource in `dir` (created if missing): users, tokens and revocations,
    /// threads, participants, messages, read receipts, create-thread repeatability ids and the
    /// access key survive a restart on the same directory. Every change is committed to
    /// `dir/emulator.sqlite3` (SQLite, WAL) before its response is sent, so a killed process
    /// loses nothing it acknowledged. Default: none, everything in memory.
    ///
    /// The first start on a directory stores the access key (the one given, or a random one);
    /// later starts use it, and refuse a different [`access_key`](Self::access_key).
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("acs-doc-{}", std::process::id()));
    /// let first = acs_chat_emulator::Emulator::builder().data_dir(&dir).start()?;
    /// let (key, user) = (first.access_key(), first.create_user());
    /// drop(first);
    /// let again = acs_chat_emulator::Emulator::builder().data_dir(&dir).start()?;
    /// assert_eq!(again.access_key(), key);
    /// assert!(again.user_exists(&user));
    /// # drop(again);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Accepts Entra ID bearer tokens of `app_id` on the identity routes, besides HMAC
    /// signatures (call again for more apps). Mint them with [`Emulator::entra_token`]; see
    /// [`auth::entra`](crate::auth::entra) for what is checked.
    ///
    /// ```
    /// let emu = acs_chat_emulator::Emulator::builder().entra_app("my-app").start()?;
    /// assert_eq!(emu.entra_token("my-app").split('.').count(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn entra_app(mut self, app_id: &str) -> Self {
        if !self.entra_apps.iter().any(|a| a == app_id) {
            self.entra_apps.push(app_id.to_owned());
        }
        self
    }

    /// Binds the port and starts serving on a background thread.
    ///
    /// # Errors
    /// The port cannot be bound, the access key is not base64, the TLS certificate or key
    /// cannot be used (`InvalidInput`), the runtime cannot start, or the data directory
    /// cannot be opened or holds another access key.
    pub fn start(self) -> io::Result<Emulator> {
        let db = match &self.data_dir {
            Some(dir) => Some(Arc::new(Persist::open(dir)?)),
            None => None,
        };
        let stored = match &db {
            Some(db) => db.meta("access_key")?.zip(db.meta("resource_id")?),
            None => None,
        };
        if let (Some((stored_key, _)), Some(given)) = (&stored, &self.access_key) {
            if stored_key.trim() != given.trim() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the data directory holds another access key (leave the access key out to \
                     use the stored one)",
                ));
            }
        }
        let resource_id = stored
            .as_ref()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), |(_, r)| r.clone());
        let access_key = match stored.as_ref().map(|(k, _)| k.clone()).or(self.access_key) {
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
        let tls = match &self.tls {
            Some(source) => Some(crate::tls::material(
                source,
                self.host.as_deref(),
                self.data_dir.as_deref(),
            )?),
            None => None,
        };
        let bind = bind_address(self.host.as_deref(), self.port)?;
        let listener = StdTcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://{}", endpoint_authority(local));
        let ca_pem = tls.as_ref().and_then(|t| t.ca_pem.clone());
        let ca_path = tls.as_ref().and_then(|t| t.ca_path.clone());
        let handshake_timeout = self.limits.header_read_timeout;
        let (directory, chat) = match db {
            Some(db) => {
                if stored.is_none() {
                    db.write("store the access key", |tx| {
                        persist::put_meta(tx, "access_key", &access_key)?;
                        persist::put_meta(tx, "resource_id", &resource_id)
                    })
                    .map_err(io::Error::other)?;
                }
                let directory = Directory::open(key, resource_id, Arc::clone(&db))?;
                (directory, ChatStore::open(db)?)
            }
            None => (
                Directory::with_resource_id(key, resource_id),
                ChatStore::default(),
            ),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("acs-chat-emulator")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let topic = self.event_topic;
        let entra = crate::auth::entra::EntraIssuer::new(
            directory.key(),
            directory.resource_id(),
            self.entra_apps,
        );
        let state = AppState::new(
            endpoint.clone(),
            directory,
            entra,
            chat,
            FaultState::new(self.faults),
            |dir| {
                let topic = topic.unwrap_or_else(|| default_topic(dir.resource_id()));
                Publisher::new(topic, handle)
            },
        );
        state.0.rate_limits.configure(self.rate_limits);
        let (tx, rx) = oneshot::channel();
        let app = crate::app(state.clone());
        let serve = Serve {
            state: state.clone(),
            app,
            limits: self.limits,
            cors: Arc::new(self.cors),
            open: Arc::new(AtomicUsize::new(0)),
        };
        let open = Arc::clone(&serve.open);
        let thread = std::thread::Builder::new()
            .name("acs-chat-emulator-accept".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let tcp = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            log::error!("emulator cannot listen: {e}");
                            return;
                        }
                    };
                    match tls {
                        None => accept_loop(tcp, serve, rx).await,
                        Some(tls) => {
                            let listener = TlsListener {
                                tcp,
                                acceptor: tokio_rustls::TlsAcceptor::from(tls.config),
                                handshake_timeout,
                            };
                            accept_loop(listener, serve, rx).await
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        log::debug!("emulator listening on {endpoint}");
        Ok(Emulator {
            state,
            open,
            endpoint,
            access_key,
            ca_pem,
            ca_path,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

/// Where to bind: `host` (default `127.0.0.1`) resolved, with `port`.
fn bind_address(host: Option<&str>, port: u16) -> io::Result<SocketAddr> {
    let Some(host) = host else {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (bare, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the host '{bare}' resolves to no address"),
        )
    })
}

/// `ip:port` as a URL's authority, loopback for an unspecified address.
fn endpoint_authority(local: SocketAddr) -> String {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port()).to_string()
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

    /// `http://127.0.0.1:PORT` (the host as [`EmulatorBuilder::host`] says), without a
    /// trailing slash.
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

    /// With [`EmulatorBuilder::tls`], the development CA certificate (PEM) that clients
    /// should trust; `None` over http or with your own certificate.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// With [`EmulatorBuilder::tls`] and a [`data_dir`](EmulatorBuilder::data_dir), the file
    /// that keeps the CA certificate (`DIR/tls/ca.pem`): the CA and the server certificate are
    /// kept there and reused on restart, so a CA clients trust stays valid. `None` otherwise.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("acs-doc-ca-{}", std::process::id()));
    /// let first = acs_chat_emulator::Emulator::builder().tls().data_dir(&dir).start()?;
    /// let ca = first.ca_pem();
    /// assert_eq!(std::fs::read_to_string(first.ca_path().expect("kept"))?, ca.clone().unwrap());
    /// drop(first);
    /// let again = acs_chat_emulator::Emulator::builder().tls().data_dir(&dir).start()?;
    /// assert_eq!(again.ca_pem(), ca, "the same CA after a restart");
    /// # drop(again);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
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

    /// An Entra ID access token for `app_id`, as a service principal would get for scope
    /// `https://communication.azure.com//.default`: valid from now for
    /// [`ENTRA_TOKEN_LIFETIME`](crate::auth::entra::ENTRA_TOKEN_LIFETIME) (one hour). It is
    /// minted for any app id, but the identity routes accept it only when the app was
    /// configured with [`EmulatorBuilder::entra_app`] (else 401).
    ///
    /// ```
    /// let emu = acs_chat_emulator::Emulator::builder().entra_app("my-app").start()?;
    /// let token = emu.entra_token("my-app");
    /// # assert!(!token.is_empty());
    /// // Send it as `Authorization: Bearer <token>` to /identities...
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn entra_token(&self, app_id: &str) -> String {
        self.entra_token_with(&crate::auth::entra::EntraTokenOptions::new(app_id))
    }

    /// An Entra ID token with the claims of `options`, e.g. expired or for another audience,
    /// to test how a client copes with tokens the service refuses.
    ///
    /// ```
    /// use acs_chat_emulator::auth::entra::EntraTokenOptions;
    /// let emu = acs_chat_emulator::Emulator::builder().entra_app("my-app").start()?;
    /// let mut options = EntraTokenOptions::new("my-app");
    /// options.expires_on = chrono::Utc::now() - chrono::TimeDelta::minutes(1);
    /// let expired = emu.entra_token_with(&options);
    /// # assert!(!expired.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn entra_token_with(&self, options: &crate::auth::entra::EntraTokenOptions) -> String {
        self.state.0.entra.mint(options)
    }

    /// A new user and a 24-hour `chat` token for it.
    pub fn user_with_token(&self) -> (String, String) {
        let user = self.create_user();
        let token = self.issue_token(&user, &["chat"], Duration::from_secs(24 * 3600));
        (user, token)
    }

    /// Whether the resource created `user_id` and has not deleted it.
    pub fn user_exists(&self, user_id: &str) -> bool {
        self.state.user_exists(user_id)
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

    /// Forgets every user, token, thread, message and idempotency record, as
    /// `POST /emulator/reset` does; the access key, CA and counters stay.
    ///
    /// # Errors
    /// With a data directory: its database refused the write (nothing was forgotten then).
    pub fn reset(&self) -> io::Result<()> {
        self.state.reset().map_err(|e| match e {
            crate::store::StoreError::Storage(m) => io::Error::other(m),
            other => io::Error::other(format!("{other:?}")),
        })
    }

    /// What `GET /emulator/state` answers: `counts`, `users` (ids, deleted or not) and
    /// `threads` (id, topic, participants, message counts); never keys, tokens or content.
    ///
    /// ```
    /// let emu = acs_chat_emulator::Emulator::start()?;
    /// let user = emu.create_user();
    /// assert_eq!(emu.state()["counts"]["users"], 1);
    /// assert_eq!(emu.state()["users"][0]["id"], user.as_str());
    /// emu.reset()?;
    /// assert_eq!(emu.state()["counts"]["users"], 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn state(&self) -> serde_json::Value {
        crate::admin::snapshot(&self.state)
    }

    /// Subscribes the webhook at `url` (plain `http://`) to this resource's chat events, as an
    /// Event Grid event subscription would: the validation handshake of the options' schema
    /// runs first (this call blocks until it ends, so the webhook must already answer), then
    /// every event that passes the filter is delivered from a background task, with Event
    /// Grid's headers, retries and dead-lettering (see [`SubscriptionOptions`]). Chat
    /// requests never wait for a delivery. Returns the subscription's name (the
    /// `aeg-subscription-name` header).
    ///
    /// ```no_run
    /// use acs_chat_emulator::{Emulator, SubscriptionOptions};
    /// let emu = Emulator::start()?;
    /// let name = emu.subscribe_events(
    ///     "http://127.0.0.1:7071/api/events",
    ///     SubscriptionOptions::default().event_types(["ChatMessageReceived"]),
    /// )?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The URL is not `http://host[:port][/path]` ([`SubscribeError::InvalidUrl`]), or the
    /// endpoint did not validate within 3 tries ([`SubscribeError::Validation`], saying why).
    ///
    /// It blocks the calling thread: from async code, call it in `spawn_blocking`.
    pub fn subscribe_events(
        &self,
        url: &str,
        options: SubscriptionOptions,
    ) -> Result<String, SubscribeError> {
        self.state.0.events.subscribe(url, options)
    }

    /// A receiver of every chat event published from now on, in the Event Grid schema (one
    /// JSON object per event, exactly as webhooks get them, unfiltered): for tests with no
    /// HTTP server. Events queue until read; drop the receiver to stop them.
    ///
    /// ```
    /// let emu = acs_chat_emulator::Emulator::start()?;
    /// let events = emu.events();
    /// assert!(events.try_recv().is_err(), "nothing happened yet");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn events(&self) -> std::sync::mpsc::Receiver<serde_json::Value> {
        self.state.0.events.listen()
    }

    /// Every event a subscription gave up on so far, oldest first.
    pub fn dead_lettered(&self) -> Vec<DeadLetteredEvent> {
        self.state.0.events.dead_lettered()
    }

    /// Waits until at least `n` events have been dead-lettered in all, or `timeout` passes,
    /// and returns the list then (check its length).
    pub fn wait_dead_lettered(&self, n: usize, timeout: Duration) -> Vec<DeadLetteredEvent> {
        self.state.0.events.wait_dead_lettered(n, timeout)
    }

    /// Publishing and delivery counters across every subscription.
    pub fn event_stats(&self) -> EventStats {
        self.state.0.events.stats()
    }

    /// The `topic` every event carries.
    pub fn event_topic(&self) -> String {
        self.state.0.events.topic().to_string()
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
}
