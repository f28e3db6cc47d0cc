#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - `server`: [`Emulator`] and [`EmulatorBuilder`]; `server::accept`, the accept loop, generic
//!   over the stream; `server::connection`, each connection's timeouts and the connection cap;
//!   `server::respond`, fault injection and the headers every response carries.
//! - `faults`: [`Faults`] and [`Fault`].
//! - `tls`: the development CA and server certificate (`rcgen`), https (`tokio-rustls`).
//! - `cors`: preflights and the CORS headers of responses, for browser apps.
//! - `admin`: `POST /emulator/reset` and `GET /emulator/state`, signed with the access key.
//! - [`auth`]: token scopes, the authenticated caller and why a bearer token is refused;
//!   [`auth::entra`], the Entra ID tokens identity routes accept.
//! - `admin`: also `POST /emulator/entraToken`, which mints an Entra ID token.
//! - [`hmac`]: HMAC-SHA256 request signing and its own error.
//! - [`identity`]: the Identity API routes, the user [`identity::Directory`] and token minting.
//! - `ratelimit`: `--rate-limits`, the service's per-operation rates (429 + `Retry-After`).
//! - `state`: the state every route shares (users and tokens, threads, counters).
//! - `chat`: the 16 chat operations as handlers (parse, call the store, render) and paging.
//! - `store`: the chat state behind one API (`ChatStore`); every mutation returns its domain
//!   events (`store::event`); `store::model` is what it holds, `store::listing` the snapshot
//!   listings, `store::clock` the seedable counters.
//! - `events`: the Event Grid publisher: the fan-out of each domain event to ACS chat events,
//!   their envelopes, webhook subscriptions ([`SubscriptionOptions`]) with the validation
//!   handshake, retries and dead-lettering ([`DeadLetteredEvent`]).
//! - `persist`: the `--data-dir` SQLite database every mutation writes through to.
//! - `wire`: the service's error shape, api-versions, timestamps, identifiers.
//!
//! The emulator never depends on the SDK crate: it has its own wire types, so a wire-format
//! mistake cannot hide on both sides at once.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod admin;
pub mod auth;
mod chat;
mod cors;
mod events;
mod faults;
#[doc(hidden)]
pub mod fixtures;
pub mod hmac;
pub mod identity;
mod persist;
mod ratelimit;
mod server;
mod state;
mod store;
#[doc(hidden)]
pub mod test_webhook;
mod tls;
mod wire;

pub use events::{DeadLetteredEvent, EventSchema, EventStats, SubscribeError, SubscriptionOptions};
pub use faults::{Fault, Faults};
pub use server::{Emulator, EmulatorBuilder};

/// The router every connection is served by.
fn app(state: state::AppState) -> axum::Router {
    let identity_rate =
        axum::middleware::from_fn_with_state(state.clone(), ratelimit::identity_rate);
    axum::Router::new()
        .merge(identity::routes::<state::AppState>().route_layer(identity_rate))
        .merge(admin::routes())
        .fallback(chat::dispatch)
        .with_state(state)
}
