//! The accept loop and the serving of one connection, generic over the byte stream so that a
//! TLS acceptor can hand its streams to the same code.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

use super::connection::{Activity, ConnectionLimits, Expired, OpenGuard, Watched};
use super::respond::respond;
use crate::cors::Cors;
use crate::state::AppState;

/// Where connections come from: a TCP listener, or a TLS acceptor over one
/// (`crate::tls::TlsListener`).
pub(crate) trait Acceptor: Send + 'static {
    /// One accepted connection, before any handshake.
    type Raw: Send + 'static;
    /// One connection's byte stream, ready for HTTP.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// The next connection.
    fn accept(&self) -> impl Future<Output = io::Result<Self::Raw>> + Send;

    /// Makes an accepted connection ready for HTTP (e.g. the TLS handshake). Runs on the
    /// connection's own task, so a slow client never holds up the accept loop.
    fn establish(
        &self,
        raw: Self::Raw,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send + 'static;
}

impl Acceptor for TcpListener {
    type Raw = TcpStream;
    type Stream = TcpStream;

    fn establish(
        &self,
        raw: TcpStream,
    ) -> impl Future<Output = io::Result<TcpStream>> + Send + 'static {
        std::future::ready(Ok(raw))
    }

    async fn accept(&self) -> io::Result<TcpStream> {
        let (stream, _) = TcpListener::accept(self).await?;
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("TCP_NODELAY not set: {e}");
        }
        Ok(stream)
    }
}

/// What every connection is served with.
#[derive(Clone)]
pub(crate) struct Serve {
    pub(crate) state: AppState,
    pub(crate) app: Router,
    pub(crate) limits: ConnectionLimits,
    /// Which browser origins may call.
    pub(crate) cors: Arc<Cors>,
    /// Connections open now.
    pub(crate) open: Arc<AtomicUsize>,
}

/// Accepts connections until `shutdown`, at most `max_connections` open at once, and serves
/// each on its own task.
pub(crate) async fn accept_loop<A: Acceptor>(
    listener: A,
    serve: Serve,
    mut shutdown: oneshot::Receiver<()>,
) {
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
                Ok(raw) => {
                    serve.state.0.connections.fetch_add(1, Ordering::Relaxed);
                    let serve = serve.clone();
                    let establish = listener.establish(raw);
                    tokio::spawn(async move {
                        let _slot = slot;
                        match establish.await {
                            Ok(stream) => serve_connection(stream, serve).await,
                            Err(e) => log::debug!("connection not established: {e}"),
                        }
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
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _open = OpenGuard::new(Arc::clone(&serve.open));
    let activity = Activity::new();
    let svc = TowerToHyperService::new(serve.app.clone());
    let state = serve.state.clone();
    let cors = Arc::clone(&serve.cors);
    let in_service = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        let cors = Arc::clone(&cors);
        let svc = svc.clone();
        let activity = Arc::clone(&in_service);
        async move {
            activity.request_started();
            let r = respond(&state, &cors, &svc, req).await;
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
