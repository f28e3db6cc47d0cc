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
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tokio::sync::oneshot;

mod accept;
mod connection;
mod respond;

use accept::{accept_loop, Serve};
use connection::ConnectionLimits;

use crate::faults::{FaultState, Faults};
use crate::identity::Directory;
use crate::persist::{self, Persist};
use crate::state::AppState;
use crate::store::ChatStore;

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
    data_dir: Option<PathBuf>,
}

impl std::fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorBuilder")
            .field("port", &self.port)
            .field("faults", &self.faults)
            .field("limits", &self.limits)
            .field("data_dir", &self.data_dir)
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

    /// Binds the port and starts serving on a background thread.
    ///
    /// # Errors
    /// The port cannot be bound, the access key is not base64, the runtime cannot start, or
    /// the data directory cannot be opened or holds another access key.
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
        let listener = StdTcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let (directory, chat) = match db {
            Some(db) => {
                if stored.is_none() {
                    db.write(|tx| {
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
        let state = AppState::new(
            endpoint.clone(),
            directory,
            chat,
            FaultState::new(self.faults),
        );
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
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => accept_loop(listener, serve, rx).await,
                        Err(e) => log::error!("emulator cannot listen: {e}"),
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
