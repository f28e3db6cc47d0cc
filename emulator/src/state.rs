//! The state one emulator instance shares between its routes: users and tokens, chat
//! threads, counters and the fault configuration.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;

use crate::auth::entra::EntraIssuer;
use crate::auth::{Caller, ChatAccess, Scope};
use crate::events::Publisher;
use crate::faults::FaultState;
use crate::identity::Directory;
use crate::ratelimit::RateLimiter;
use crate::store::ChatStore;
use crate::wire::ApiError;

/// Shared application state handed to every route (cheap to clone).
#[derive(Clone)]
pub(crate) struct AppState(pub(crate) Arc<Shared>);

/// What [`AppState`] points at.
pub(crate) struct Shared {
    /// `http://127.0.0.1:PORT`, no trailing slash: the base of `Location` and `nextLink`.
    pub(crate) base_url: String,
    /// Users, tokens and the resource key.
    pub(crate) directory: Directory,
    /// Chat threads and messages.
    pub(crate) chat: ChatStore,
    /// HTTP requests received (all routes).
    pub(crate) requests: AtomicU64,
    /// TCP connections accepted.
    pub(crate) connections: AtomicU64,
    /// Fault injection.
    pub(crate) faults: FaultState,
    /// `--rate-limits` (off unless configured).
    pub(crate) rate_limits: RateLimiter,
    /// The Event Grid publisher every mutation hands its events to.
    pub(crate) events: Publisher,
    /// Mints and verifies Entra ID tokens for the identity routes.
    pub(crate) entra: EntraIssuer,
}

impl crate::identity::IdentityState for AppState {
    fn directory(&self) -> &Directory {
        &self.0.directory
    }

    fn entra(&self) -> Option<&EntraIssuer> {
        Some(&self.0.entra)
    }
}

impl AppState {
    pub(crate) fn new(
        base_url: String,
        directory: Directory,
        entra: EntraIssuer,
        chat: ChatStore,
        faults: FaultState,
        events: impl FnOnce(&Directory) -> Publisher,
    ) -> AppState {
        let events = events(&directory);
        AppState(Arc::new(Shared {
            base_url,
            directory,
            chat,
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            faults,
            rate_limits: RateLimiter::default(),
            events,
            entra,
        }))
    }

    /// Authenticates a chat request from its `Authorization: Bearer` header.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = self
            .0
            .directory
            .validate_authorization(value)
            .map_err(|e| ApiError::unauthorized(e.message()))?;
        if !caller.permits(ChatAccess::Participate) {
            return Err(ApiError::unauthorized(
                "The access token does not grant the chat scope.",
            ));
        }
        Ok(caller)
    }

    /// Whether the resource created `user_id` (and has not deleted it).
    pub(crate) fn user_exists(&self, user_id: &str) -> bool {
        self.0.directory.user_exists(user_id)
    }

    pub(crate) fn create_user(&self) -> String {
        self.0.directory.create_user()
    }

    pub(crate) fn issue_token(&self, user: &str, scopes: &[&str], ttl: Duration) -> String {
        let scopes: Vec<Scope> = scopes.iter().filter_map(|s| Scope::parse(s)).collect();
        self.0.directory.issue_token(user, &scopes, ttl).0
    }

    pub(crate) fn revoke(&self, user: &str) {
        // Revoking an unknown user changes nothing, as with the service.
        let _ = self.0.directory.revoke(user);
    }

    /// Forgets every user, token, thread, message and idempotency record; the key and the
    /// counters stay.
    ///
    /// # Errors
    /// The data directory's database refused the write; nothing was forgotten then.
    pub(crate) fn reset(&self) -> Result<(), crate::store::StoreError> {
        self.0.chat.reset()?;
        self.0.directory.clear();
        self.0.rate_limits.clear();
        Ok(())
    }

    /// Publishes the events of one mutation (never waits for delivery).
    pub(crate) fn publish(&self, events: &[crate::store::ChatEvent]) {
        self.0.events.publish(events)
    }

    pub(crate) fn count_request(&self) {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
    }
}
