#![doc = include_str!("../README.md")]
//!
//! # Layout
//!
//! - [`ChatClient`] and [`ChatThreadClient`] (`client/`): the chat operations; exactly-once
//!   sends with [`SendMessageOptions::idempotency_token`] in `client/exactly_once.rs`.
//! - [`Pager`] (`pager.rs`): lazy page-by-page iteration over list operations.
//! - [`ThreadWatcher`] and [`InboxWatcher`] (`watch/`): change feeds over one thread or all
//!   of a user's threads, resumable from a [`WatchCursor`].
//! - [`models`]: what the service sends and receives.
//! - [`CommunicationTokenCredential`] (`credential.rs`): user tokens and their refresh.
//! - [`identity`]: users and tokens, HMAC-signed with the resource's access key.
//!   Its Teams Extension operations (token exchange, access assignments) are in
//!   `identity/teams_extension.rs`.
//! - [`events`]: chat events from Event Grid webhooks: typed models, both envelopes, the
//!   webhook handshakes and deduplication.
//! - [`Error`] (`error.rs`): the one error type.
//! - [`Transport`] (`transport.rs`): one connection pool with its retry and timeout settings,
//!   shared by any number of users' clients ([`ChatClient::with_credential`]).
//! - [`Secret`] (`secret.rs`): text whose `Debug` never shows it.
//! - `http/`: the shared blocking transport (retries, timeouts, logging, and whether a failed
//!   request was written, for [`Error::may_have_taken_effect`]); private.
//!
//! # Thread safety
//!
//! [`ChatClient`], [`ChatThreadClient`], [`CommunicationTokenCredential`] and
//! [`identity::CommunicationIdentityClient`] are `Clone + Send + Sync`. Clones share one
//! connection pool and one credential, so the usual pattern is to build a client once and hand
//! clones to as many threads as you like. A service acting for many users shares one
//! [`Transport`] between all their clients (or switches users with
//! [`ChatClient::with_credential`]): 500 users on 8 threads then open 8 connections, not 500
//! pools (`tests/transport.rs`).
//!
//! # Logging
//!
//! The crate logs through [`log`](https://docs.rs/log): one DEBUG line per attempt (target
//! `acs_chat::http`: method, path, status, duration, request ids) and WARN for failed token
//! refreshes, never a token, key or message content. Below it, ureq-proto dumps every byte it
//! receives at TRACE, unredacted, and identity responses carry tokens; so the default feature
//! `no-wire-trace` compiles TRACE records out of the program (`log`'s `max_level_debug`,
//! which is one setting per build). If your program needs TRACE from other crates, or sets
//! another `log/max_level_*` feature (cargo then reports "multiple max_level_* features set"),
//! turn this crate's default features off and keep the `ureq_proto` target below TRACE in
//! your logger.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod client;
pub mod credential;
pub mod error;
pub mod events;
mod http;
pub mod identity;
pub mod models;
mod pager;
mod secret;
mod tls;
mod transport;
mod watch;

pub use client::{
    ChatClient, ChatClientOptions, ChatThreadClient, CreateChatThreadOptions,
    ListChatThreadsOptions, ListMessagesOptions, ListParticipantsOptions, ListReadReceiptsOptions,
    SendMessageOptions, TypingNotificationOptions, UpdateChatThreadOptions, UpdateMessageOptions,
    IDEMPOTENCY_METADATA_KEY,
};
pub use credential::{AccessToken, CommunicationTokenCredential, CommunicationTokenRefreshOptions};
pub use error::{ChatError, Error, Result, ServiceError};
pub use http::RetryOptions;
pub use models::{
    ChatAttachment, ChatMessage, ChatMessageContent, ChatMessageReadReceipt, ChatMessageType,
    ChatParticipant, ChatRetentionPolicy, ChatThreadInfo, ChatThreadProperties,
    CommunicationIdentifier, CreateChatThreadResult, SendChatMessageResult,
};
pub use pager::{Page, Pager, Pages};
pub use secret::Secret;
pub use transport::{Transport, TransportOptions};
pub use watch::{
    InboxEvent, InboxWatcher, ThreadEvent, ThreadWatcher, WatchCursor, WatchOptions, WatchStopper,
};
