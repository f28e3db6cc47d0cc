#![doc = include_str!("../README.md")]
//!
//! # Layout
//!
//! - [`ChatClient`] and [`ChatThreadClient`] (`client/`): the chat operations.
//! - [`Pager`] (`pager.rs`): lazy page-by-page iteration over list operations.
//! - [`ThreadWatcher`] and [`InboxWatcher`] (`watch/`): change feeds over one thread or all
//!   of a user's threads, resumable from a [`WatchCursor`].
//! - [`models`]: what the service sends and receives.
//! - [`CommunicationTokenCredential`] (`credential.rs`): user tokens and their refresh.
//! - [`identity`]: users and tokens, HMAC-signed with the resource's access key.
//! - [`events`]: chat events from Event Grid webhooks: typed models, both envelopes, the
//!   webhook handshakes and deduplication.
//! - [`Error`] (`error.rs`): the one error type.
//! - `http/`: the shared blocking transport (retries, timeouts, logging); private.
//!
//! # Thread safety
//!
//! [`ChatClient`], [`ChatThreadClient`], [`CommunicationTokenCredential`] and
//! [`identity::CommunicationIdentityClient`] are `Clone + Send + Sync`. Clones share one
//! connection pool and one credential, so the usual pattern is to build a client once and hand
//! clones to as many threads as you like.
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
mod watch;

pub use client::{
    ChatClient, ChatClientOptions, ChatThreadClient, CreateChatThreadOptions,
    ListChatThreadsOptions, ListMessagesOptions, ListParticipantsOptions, ListReadReceiptsOptions,
    SendMessageOptions, TypingNotificationOptions, UpdateChatThreadOptions, UpdateMessageOptions,
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
pub use watch::{
    InboxEvent, InboxWatcher, ThreadEvent, ThreadWatcher, WatchCursor, WatchOptions, WatchStopper,
};
