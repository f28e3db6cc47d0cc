//! Client options and the per-call options of every operation.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::models::{ChatMessageType, ChatParticipant, ChatRetentionPolicy};
use crate::transport::{Transport, TransportOptions};

/// The chat api-version sent by default.
pub(crate) const DEFAULT_API_VERSION: &str = "2025-03-15";

/// The largest page size accepted for `results_per_page` (the service's documented maximum).
pub(crate) const MAX_PAGE_SIZE: i32 = 200;

/// How a [`ChatClient`](crate::ChatClient) talks to the service.
///
/// Build with `..Default::default()` and change what you need; the connection settings
/// (retry, timeouts, body limit, TLS roots) are the embedded [`TransportOptions`]:
///
/// ```
/// use std::time::Duration;
/// use acs_chat::{ChatClientOptions, RetryOptions, TransportOptions};
///
/// let options = ChatClientOptions {
///     transport_options: TransportOptions {
///         call_timeout: Duration::from_secs(10),
///         retry: RetryOptions { max_retries: 5, ..Default::default() },
///         ..Default::default()
///     },
///     ..Default::default()
/// };
/// assert_eq!(options.api_version, "2025-03-15");
/// ```
///
/// # Retries
///
/// Operations that are safe to repeat (every `get_*` and `list_*`, updates, deletes, read
/// receipts, typing notifications, removing a participant, and creating a thread, whose
/// `repeatability-request-id` is kept across attempts so the service creates it once) are
/// retried after connection failures, cut-short bodies and the statuses 408, 429, 500, 502,
/// 503 and 504. `send_message`, `add_participants` and `add_participant` are retried only when
/// the request provably was not processed: after 429, 503, or a failure to connect. So a retry
/// never makes a message appear twice.
///
/// After a 401 the credential is asked for a fresh token and the call is repeated once.
///
/// # Timeouts
///
/// [`TransportOptions::call_timeout`] bounds a whole call: every attempt, every wait between
/// attempts and the reading of the response body. A stalled server cannot block a caller
/// past it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatClientOptions {
    /// The chat api-version sent with every request. Default: `"2025-03-15"`. Older stable
    /// versions (`"2024-03-07"`, `"2023-11-07"`, `"2021-09-07"`) lack some fields (thread
    /// metadata, retention policy, participant metadata).
    pub api_version: String,
    /// The settings of the client's own connection pool: retry, connect and call timeouts,
    /// the response body limit, `allow_insecure_http` and root certificates. Default:
    /// [`TransportOptions::default`]. Must stay at its default when
    /// [`transport`](Self::transport) is set.
    pub transport_options: TransportOptions,
    /// A connection pool shared with other clients (see [`Transport`]). When set, it brings
    /// its own settings, and [`transport_options`](Self::transport_options) must stay at its
    /// default (else [`Error::InvalidArgument`] names `transport_options`). Default: `None`,
    /// a pool of the client's own.
    pub transport: Option<Transport>,
}

impl Default for ChatClientOptions {
    fn default() -> Self {
        ChatClientOptions {
            api_version: DEFAULT_API_VERSION.to_string(),
            transport_options: TransportOptions::default(),
            transport: None,
        }
    }
}

impl ChatClientOptions {
    /// Checks the api-version.
    pub(crate) fn check_api_version(&self) -> Result<()> {
        let version_ok = !self.api_version.is_empty()
            && self
                .api_version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !version_ok {
            return Err(Error::invalid_argument(
                "api_version",
                "must be a version like 2025-03-15 (letters, digits, `-` and `.`)",
            ));
        }
        Ok(())
    }

    /// Checks the options and turns them into pipeline options.
    #[cfg(test)]
    pub(crate) fn to_pipeline_options(&self) -> Result<crate::http::PipelineOptions> {
        self.check_api_version()?;
        self.transport_options.to_pipeline_options()
    }
}

/// Options of [`ChatClient::create_chat_thread`](crate::ChatClient::create_chat_thread).
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// use acs_chat::{ChatParticipant, ChatRetentionPolicy, CommunicationIdentifier, CreateChatThreadOptions};
///
/// let options = CreateChatThreadOptions {
///     participants: vec![ChatParticipant::new(CommunicationIdentifier::communication_user(emu.create_user()))],
///     idempotency_token: Some("order-4711".into()),
///     retention_policy: Some(ChatRetentionPolicy::thread_creation_date(30)),
///     ..Default::default()
/// };
/// let first = chat.create_chat_thread("Order 4711", Some(options.clone()))?;
/// let again = chat.create_chat_thread("Order 4711", Some(options))?; // same token: same thread
/// assert_eq!(first.chat_thread.id, again.chat_thread.id);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreateChatThreadOptions {
    /// The thread's first participants (the creator is always added).
    pub participants: Vec<ChatParticipant>,
    /// Sent as `repeatability-request-id`: a repeat of the call with the same token returns the
    /// original thread instead of creating another one. A fresh UUID v4 when `None`; retries
    /// within one call always reuse the same token.
    pub idempotency_token: Option<String>,
    /// Free-form string pairs about the thread (api-version 2025-03-15; up to 1 KB).
    pub metadata: Option<HashMap<String, String>>,
    /// When the service deletes the thread (api-version 2025-03-15).
    pub retention_policy: Option<ChatRetentionPolicy>,
}

/// Options of [`ChatClient::list_chat_threads`](crate::ChatClient::list_chat_threads).
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// use acs_chat::ListChatThreadsOptions;
///
/// chat.create_chat_thread("Recent", None)?;
/// let since = chrono::Utc::now() - chrono::Duration::hours(1);
/// let options = ListChatThreadsOptions { results_per_page: Some(50), start_time: Some(since), ..Default::default() };
/// assert_eq!(chat.list_chat_threads(Some(options)).collect::<Result<Vec<_>, _>>()?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListChatThreadsOptions {
    /// Threads per page, 1 to 200 (the service's default is 10 when `None`).
    pub results_per_page: Option<i32>,
    /// Only threads with activity at or after this time.
    pub start_time: Option<DateTime<Utc>>,
    /// Resume a walk: a [`Page::continuation_token`](crate::Page::continuation_token) from an
    /// earlier walk of the same list. The token carries the page size and start time, so the
    /// other fields are ignored when it is set.
    pub continuation_token: Option<String>,
}

/// Options of [`ChatThreadClient::update_properties`](crate::ChatThreadClient::update_properties).
/// Fields left `None` are not changed.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
/// use acs_chat::{ChatRetentionPolicy, UpdateChatThreadOptions};
///
/// let options = UpdateChatThreadOptions {
///     topic: Some("Renamed".into()),
///     retention_policy: Some(ChatRetentionPolicy::thread_creation_date(90)),
///     ..Default::default()
/// };
/// thread.update_properties(Some(options))?;
/// assert_eq!(thread.get_properties()?.topic, "Renamed");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateChatThreadOptions {
    /// The new topic.
    pub topic: Option<String>,
    /// Metadata to merge into the thread's (api-version 2025-03-15).
    pub metadata: Option<HashMap<String, String>>,
    /// The new retention policy (api-version 2025-03-15).
    pub retention_policy: Option<ChatRetentionPolicy>,
}

/// Options of [`ChatThreadClient::send_message`](crate::ChatThreadClient::send_message).
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
/// use acs_chat::{ChatMessageType, SendMessageOptions};
///
/// let options = SendMessageOptions {
///     chat_message_type: Some(ChatMessageType::Text),
///     sender_display_name: Some("Alice".into()),
///     metadata: Some([("priority".to_string(), "high".to_string())].into()),
///     idempotency_token: None,
/// };
/// let id = thread.send_message("Ship it", Some(options))?.id;
/// assert_eq!(thread.get_message(&id)?.sender_display_name.as_deref(), Some("Alice"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SendMessageOptions {
    /// `Text` (the default when `None`) or `Html`; other types cannot be sent.
    pub chat_message_type: Option<ChatMessageType>,
    /// The sender's name shown with the message.
    pub sender_display_name: Option<String>,
    /// Free-form string pairs stored with the message.
    pub metadata: Option<HashMap<String, String>>,
    /// Makes the send exactly-once: with a token (unique per message, e.g. a UUID v4; at most
    /// 256 bytes, no control characters), `send_message` retries every transient failure, and
    /// before each retry after a failure that [may have taken
    /// effect](crate::Error::may_have_taken_effect) it looks for a message carrying this token
    /// and returns that message's id instead of sending again. The token is stored in the
    /// message's `metadata` under [`IDEMPOTENCY_METADATA_KEY`](crate::IDEMPOTENCY_METADATA_KEY)
    /// (counting toward the service's metadata limit), so `metadata` must not use that key.
    /// Reuse the same token when you retry the same message yourself.
    pub idempotency_token: Option<String>,
}

/// Options of [`ChatThreadClient::list_messages`](crate::ChatThreadClient::list_messages).
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
/// use acs_chat::ListMessagesOptions;
///
/// thread.send_message("hello", None)?;
/// let options = ListMessagesOptions { results_per_page: Some(1), ..Default::default() };
/// let first_page = thread.list_messages(Some(options)).by_page().next().expect("a page")?;
/// assert_eq!(first_page.items.len(), 1);
/// assert!(first_page.continuation_token.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListMessagesOptions {
    /// Messages per page, 1 to 200 (the service's default is 10 when `None`).
    pub results_per_page: Option<i32>,
    /// Only messages created at or after this time.
    pub start_time: Option<DateTime<Utc>>,
    /// Resume a walk (see [`ListChatThreadsOptions::continuation_token`]).
    pub continuation_token: Option<String>,
}

/// Options of [`ChatThreadClient::update_message`](crate::ChatThreadClient::update_message).
/// Fields left `None` are not changed.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
/// use acs_chat::UpdateMessageOptions;
///
/// let id = thread.send_message("v1", None)?.id;
/// let options = UpdateMessageOptions {
///     content: Some("v2".into()),
///     metadata: Some([("edited".to_string(), "yes".to_string())].into()),
/// };
/// thread.update_message(&id, Some(options))?;
/// assert_eq!(thread.get_message(&id)?.content.and_then(|c| c.message).as_deref(), Some("v2"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateMessageOptions {
    /// The new content.
    pub content: Option<String>,
    /// Metadata to merge into the message's (an empty value removes a key).
    pub metadata: Option<HashMap<String, String>>,
}

/// Options of [`ChatThreadClient::list_read_receipts`](crate::ChatThreadClient::list_read_receipts).
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
/// use acs_chat::ListReadReceiptsOptions;
///
/// let id = thread.send_message("seen?", None)?.id;
/// thread.send_read_receipt(&id)?;
/// let options = ListReadReceiptsOptions { results_per_page: Some(10), skip: Some(0), ..Default::default() };
/// assert_eq!(thread.list_read_receipts(Some(options)).collect::<Result<Vec<_>, _>>()?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListReadReceiptsOptions {
    /// Receipts per page, 1 to 200.
    pub results_per_page: Option<i32>,
    /// How many receipts to skip from the start (0 or more).
    pub skip: Option<i32>,
    /// Resume a walk (see [`ListChatThreadsOptions::continuation_token`]).
    pub continuation_token: Option<String>,
}

/// Options of [`ChatThreadClient::send_typing_notification`](crate::ChatThreadClient::send_typing_notification).
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
/// use acs_chat::TypingNotificationOptions;
///
/// let options = TypingNotificationOptions { sender_display_name: Some("Alice".into()) };
/// thread.send_typing_notification(Some(options))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypingNotificationOptions {
    /// The name shown as typing.
    pub sender_display_name: Option<String>,
}

/// Options of [`ChatThreadClient::list_participants`](crate::ChatThreadClient::list_participants).
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
/// use acs_chat::ListParticipantsOptions;
///
/// let options = ListParticipantsOptions { results_per_page: Some(10), skip: Some(0), ..Default::default() };
/// assert_eq!(thread.list_participants(Some(options)).collect::<Result<Vec<_>, _>>()?.len(), 1); // just the creator
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParticipantsOptions {
    /// Participants per page, 1 to 200.
    pub results_per_page: Option<i32>,
    /// How many participants to skip from the start (0 or more).
    pub skip: Option<i32>,
    /// Resume a walk (see [`ListChatThreadsOptions::continuation_token`]).
    pub continuation_token: Option<String>,
}

/// Checks a page size: 1 to [`MAX_PAGE_SIZE`].
pub(crate) fn check_page_size(size: Option<i32>) -> Result<()> {
    match size {
        Some(n) if !(1..=MAX_PAGE_SIZE).contains(&n) => Err(Error::invalid_argument(
            "results_per_page",
            format!("must be between 1 and {MAX_PAGE_SIZE}, got {n}"),
        )),
        _ => Ok(()),
    }
}

/// Checks a skip count: 0 or more.
pub(crate) fn check_skip(skip: Option<i32>) -> Result<()> {
    match skip {
        Some(n) if n < 0 => Err(Error::invalid_argument(
            "skip",
            format!("must not be negative, got {n}"),
        )),
        _ => Ok(()),
    }
}

/// Checks every participant's raw id as an id the service can take (not empty or whitespace,
/// no control characters): the one check of `create_chat_thread` and `add_participants`.
pub(crate) fn check_participants(participants: &[ChatParticipant]) -> Result<()> {
    super::limits::check_participants(participants)?;
    for p in participants {
        crate::http::validate_id("participants", &p.identifier.raw_id())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The documented defaults are the real ones.
    #[test]
    fn chat_client_options_default_is_documented() {
        let o = ChatClientOptions::default();
        assert_eq!(o.api_version, "2025-03-15");
        let t = &o.transport_options;
        assert_eq!(t.connect_timeout, Duration::from_secs(10));
        assert_eq!(t.call_timeout, Duration::from_secs(60));
        assert_eq!(t.max_response_body, 16 * 1024 * 1024);
        assert!(!t.allow_insecure_http);
        assert!(t.root_certificates.is_empty());
        assert_eq!(t.retry, crate::RetryOptions::default());
        assert_eq!(o.transport, None);
    }

    /// Unusable options are rejected by name.
    #[test]
    fn to_pipeline_options_rejects_bad_values() {
        let cases: Vec<(ChatClientOptions, &str)> = vec![
            (
                ChatClientOptions {
                    api_version: String::new(),
                    ..Default::default()
                },
                "api_version",
            ),
            (
                ChatClientOptions {
                    api_version: "2025-03-15&x=1".into(),
                    ..Default::default()
                },
                "api_version",
            ),
            (
                ChatClientOptions {
                    transport_options: TransportOptions {
                        call_timeout: Duration::ZERO,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                "call_timeout",
            ),
            (
                ChatClientOptions {
                    transport_options: TransportOptions {
                        connect_timeout: Duration::ZERO,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                "connect_timeout",
            ),
            (
                ChatClientOptions {
                    transport_options: TransportOptions {
                        max_response_body: 0,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                "max_response_body",
            ),
        ];
        for (options, want) in cases {
            let got = options.to_pipeline_options();
            assert!(
                matches!(got, Err(Error::InvalidArgument { name, .. }) if name == want),
                "{options:?}: {got:?}"
            );
        }
    }

    /// Page sizes outside 1..=200 and negative skips are rejected.
    #[test]
    fn check_page_size_and_skip_bounds() {
        for n in [0, -1, 201, i32::MIN, i32::MAX] {
            assert!(check_page_size(Some(n)).is_err(), "page size {n} accepted");
        }
        for n in [1, 10, 200] {
            assert!(check_page_size(Some(n)).is_ok(), "page size {n} rejected");
        }
        assert!(check_page_size(None).is_ok());
        assert!(check_skip(Some(-1)).is_err());
        assert!(check_skip(Some(0)).is_ok());
    }
}
