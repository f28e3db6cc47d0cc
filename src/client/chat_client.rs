//! [`ChatClient`]: create, list, get and delete chat threads.

use std::fmt;
use std::sync::Arc;

use super::{
    ChatClientOptions, ChatThreadClient, ClientInner, CreateChatThreadOptions,
    ListChatThreadsOptions, JSON,
};
use crate::credential::CommunicationTokenCredential;
use crate::error::{Error, Result};
use crate::http::{encode_segment, validate_id, Method, RetryClass};
use crate::models::requests::CreateChatThreadRequest;
use crate::models::{
    ChatThreadInfo, ChatThreadProperties, CreateChatThreadBody, CreateChatThreadResult,
};
use crate::pager::Pager;
use crate::watch::{InboxWatcher, WatchOptions};

/// The entry point of chat: creates, lists, reads and deletes threads, and hands out a
/// [`ChatThreadClient`] per thread.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// use acs_chat::{ChatClient, CommunicationTokenCredential};
///
/// let chat = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(token)?)?;
/// let created = chat.create_chat_thread("Lunch plans", None)?;
/// let thread_id = created.chat_thread.id;
/// let thread = chat.get_chat_thread_client(&thread_id)?;
/// thread.send_message("Pizza?", None)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Thread safety
///
/// `ChatClient` is `Clone + Send + Sync`. A clone is cheap (an `Arc` inside) and shares the
/// connection pool, the credential and the options, so build one client and give clones to as
/// many threads as you need. Every call is blocking and independent; calls from several
/// threads run concurrently over the shared pool.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// use acs_chat::{ChatClient, CommunicationTokenCredential};
///
/// let chat = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(token)?)?;
/// let id = chat.create_chat_thread("Busy", None)?.chat_thread.id;
/// let workers: Vec<_> = (0..4)
///     .map(|n| {
///         let thread = chat.get_chat_thread_client(&id).expect("valid id");
///         std::thread::spawn(move || thread.send_message(&format!("from worker {n}"), None))
///     })
///     .collect();
/// for worker in workers {
///     worker.join().expect("no panic")?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Logging
///
/// Every attempt is logged with the [`log`](https://docs.rs/log) crate at debug level, target
/// `acs_chat::http`: method, path (no query), status or failure, duration, attempt number,
/// the `x-ms-client-request-id` (a UUID v4 per call, kept across its retries) and the
/// service's `MS-CV`. Tokens, keys and message content are never logged.
///
/// # Errors
///
/// Every call returns [`Error::InvalidArgument`] for arguments that cannot be right (empty ids,
/// page sizes outside 1..=200…) without sending anything, [`Error::Service`] with the parsed
/// error body for an error status (401 bad or expired token, 403 not a participant, 404 no
/// such thread…), and the transport errors described on [`Error`].
#[derive(Clone)]
pub struct ChatClient {
    inner: Arc<ClientInner>,
}

impl fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatClient")
            .field("endpoint", &self.inner.endpoint.base())
            .field("api_version", &self.inner.api_version)
            .finish_non_exhaustive()
    }
}

impl ChatClient {
    /// A client for the resource at `endpoint` (`https://<resource>.communication.azure.com`),
    /// calling as the user whose token `credential` holds, with default options.
    ///
    /// Fails with [`Error::InvalidArgument`] (and sends nothing) when the endpoint is not an
    /// absolute `https://` URL without path, query or fragment; plain `http://` is accepted
    /// only for loopback hosts unless [`TransportOptions::allow_insecure_http`](crate::TransportOptions::allow_insecure_http)
    /// is set in [`ChatClientOptions::transport_options`].
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// use acs_chat::{ChatClient, CommunicationTokenCredential, Error};
    ///
    /// let credential = CommunicationTokenCredential::new(token)?;
    /// let chat = ChatClient::new(&emu.endpoint(), credential.clone())?;
    /// let bad = ChatClient::new("http://contoso.example", credential);
    /// assert!(matches!(bad, Err(Error::InvalidArgument { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(endpoint: &str, credential: CommunicationTokenCredential) -> Result<Self> {
        Self::with_options(endpoint, credential, ChatClientOptions::default())
    }

    /// Like [`ChatClient::new`], with options (api-version, retries, timeouts, body limit).
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// use std::time::Duration;
    /// use acs_chat::{ChatClient, ChatClientOptions, CommunicationTokenCredential, TransportOptions};
    ///
    /// let options = ChatClientOptions {
    ///     api_version: "2024-03-07".into(),
    ///     transport_options: TransportOptions { call_timeout: Duration::from_secs(5), ..Default::default() },
    ///     ..Default::default()
    /// };
    /// let chat = ChatClient::with_options(&emu.endpoint(), CommunicationTokenCredential::new(token)?, options)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_options(
        endpoint: &str,
        credential: CommunicationTokenCredential,
        options: ChatClientOptions,
    ) -> Result<Self> {
        Ok(ChatClient {
            inner: Arc::new(ClientInner::new(endpoint, credential, options)?),
        })
    }

    /// The same client (endpoint, api-version, options, connection pool) calling as the user
    /// whose token `credential` holds. Cheap: no I/O, no new pool; a service acting for many
    /// users keeps one client and switches per request or per user (see
    /// [`Transport`](crate::Transport)).
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// use acs_chat::{ChatClient, CommunicationTokenCredential};
    /// let alice = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(emu.user_with_token().1)?)?;
    /// let bob = alice.with_credential(CommunicationTokenCredential::new(emu.user_with_token().1)?);
    /// let thread = bob.create_chat_thread("Bob's", None)?.chat_thread.id;
    /// assert_eq!(alice.get_chat_thread(&thread).unwrap_err().status(), Some(403)); // not Alice's
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_credential(&self, credential: CommunicationTokenCredential) -> ChatClient {
        ChatClient {
            inner: Arc::new(self.inner.with_credential(credential)),
        }
    }

    /// Creates a thread with `topic`; the caller becomes its first participant.
    ///
    /// The request carries a `repeatability-request-id` (the options' `idempotency_token`, or
    /// a fresh UUID v4) that stays the same across retries, so the service creates the thread
    /// once even when an attempt's answer is lost. Participants the service rejects are listed
    /// in [`CreateChatThreadResult::errors`], each with its error.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// use acs_chat::{
    ///     ChatClient, ChatParticipant, CommunicationIdentifier, CommunicationTokenCredential,
    ///     CreateChatThreadOptions,
    /// };
    ///
    /// let chat = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(token)?)?;
    /// let bob = ChatParticipant::new(CommunicationIdentifier::communication_user(emu.create_user()))
    ///     .with_display_name("Bob");
    /// let options = CreateChatThreadOptions { participants: vec![bob], ..Default::default() };
    /// let created = chat.create_chat_thread("Planning", Some(options))?;
    /// assert!(created.errors.is_empty());
    /// assert_eq!(created.chat_thread.topic, "Planning");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_chat_thread(
        &self,
        topic: &str,
        options: Option<CreateChatThreadOptions>,
    ) -> Result<CreateChatThreadResult> {
        let options = options.unwrap_or_default();
        if topic.trim().is_empty() {
            return Err(Error::invalid_argument("topic", "must not be empty"));
        }
        super::options::check_participants(&options.participants)?;
        super::limits::check_metadata("metadata", options.metadata.as_ref())?;
        let token = match options.idempotency_token {
            // It travels as a header value: visible ASCII only.
            Some(t)
                if t.trim().is_empty() || !t.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
            {
                return Err(Error::invalid_argument(
                    "idempotency_token",
                    "must be non-empty visible ASCII",
                ))
            }
            Some(t) => t,
            None => uuid::Uuid::new_v4().to_string(),
        };
        let body = CreateChatThreadRequest {
            topic: topic.to_string(),
            participants: Some(options.participants.clone()),
            metadata: options.metadata,
            retention_policy: options.retention_policy,
            ..Default::default()
        };
        let path = self.inner.path_and_query("/chat/threads", &[]);
        // Safe to repeat: the kept repeatability-request-id makes the service act once.
        let request = self
            .inner
            .request(Method::POST, &path, RetryClass::SafeToRepeat)
            .with_header("repeatability-request-id", token)
            .with_json(JSON, &body)?;
        let body: CreateChatThreadBody = self.inner.send_json(request)?;
        CreateChatThreadResult::from_body(body, &options.participants)
    }

    /// A client for one thread. Sends nothing; fails only for an unusable id (empty,
    /// whitespace, control characters, `.` or `..`).
    ///
    /// It returns a `Result` (where the official SDKs return the client directly) so that an
    /// id no request could carry is reported here, once, without I/O, instead of by every
    /// later call on a client that could never work. Whether the thread exists is only known
    /// to the service: that is checked by the first call that sends something.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// use acs_chat::{ChatClient, CommunicationTokenCredential};
    ///
    /// let chat = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(token)?)?;
    /// let before = emu.request_count();
    /// let thread = chat.get_chat_thread_client("19:abc@thread.v2")?;
    /// assert_eq!(thread.thread_id(), "19:abc@thread.v2");
    /// assert_eq!(emu.request_count(), before);
    /// assert!(chat.get_chat_thread_client(" ").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_chat_thread_client(&self, thread_id: &str) -> Result<ChatThreadClient> {
        ChatThreadClient::new(Arc::clone(&self.inner), thread_id)
    }

    /// Reads a thread's properties: topic, creator, creation time, metadata, retention policy.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// use acs_chat::{ChatClient, CommunicationTokenCredential};
    ///
    /// let chat = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(token)?)?;
    /// let id = chat.create_chat_thread("Topic", None)?.chat_thread.id;
    /// assert_eq!(chat.get_chat_thread(&id)?.topic, "Topic");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_chat_thread(&self, thread_id: &str) -> Result<ChatThreadProperties> {
        validate_id("thread_id", thread_id)?;
        let path = self
            .inner
            .path_and_query(&format!("/chat/threads/{}", encode_segment(thread_id)), &[]);
        let request = self
            .inner
            .request(Method::GET, &path, RetryClass::SafeToRepeat);
        self.inner.send_json(request)
    }

    /// Lists the threads the caller takes part in, most recent activity first, one page at a
    /// time (nothing is sent until the pager is first advanced).
    ///
    /// Invalid options (a page size outside 1..=200, an empty continuation token or one of
    /// another list) send nothing: the pager's first and only item is
    /// [`Error::InvalidArgument`].
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// use acs_chat::{ChatClient, CommunicationTokenCredential, ListChatThreadsOptions};
    ///
    /// let chat = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(token)?)?;
    /// for topic in ["a", "b", "c"] {
    ///     chat.create_chat_thread(topic, None)?;
    /// }
    /// let options = ListChatThreadsOptions { results_per_page: Some(2), ..Default::default() };
    /// let threads = chat.list_chat_threads(Some(options)).collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(threads.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list_chat_threads(
        &self,
        options: Option<ListChatThreadsOptions>,
    ) -> Pager<ChatThreadInfo> {
        let options = options.unwrap_or_default();
        self.inner.time_pager(
            "/chat/threads",
            options.results_per_page,
            options.start_time.as_ref(),
            options.continuation_token.as_deref(),
        )
    }

    /// Deletes a thread (for every participant).
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// use acs_chat::{ChatClient, CommunicationTokenCredential};
    ///
    /// let chat = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(token)?)?;
    /// let id = chat.create_chat_thread("Short-lived", None)?.chat_thread.id;
    /// chat.delete_chat_thread(&id)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_chat_thread(&self, thread_id: &str) -> Result<()> {
        validate_id("thread_id", thread_id)?;
        let path = self
            .inner
            .path_and_query(&format!("/chat/threads/{}", encode_segment(thread_id)), &[]);
        let request = self
            .inner
            .request(Method::DELETE, &path, RetryClass::SafeToRepeat);
        self.inner.send(request).map(drop)
    }

    /// Watches every thread the user takes part in: each thread's changes as
    /// [`ChatThreadClient::watch`] hands them out, plus threads joined, left and deleted. See
    /// [`InboxWatcher`] (including its request cost) and [`WatchOptions`].
    ///
    /// Reads the thread list during this call (and, starting *now*, where each thread
    /// stands: one request per thread), so that changes after `watch` returns are delivered.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// use std::time::Duration;
    /// use acs_chat::{ThreadEvent, WatchOptions};
    ///
    /// let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Old", None)?.chat_thread.id)?;
    /// let options = WatchOptions { poll_interval: Duration::from_millis(50), ..Default::default() };
    /// let mut inbox = chat.watch(Some(options));
    /// thread.send_message("hello", None)?;
    /// let event = inbox.next().expect("an event")?;
    /// assert_eq!(event.thread_id, thread.thread_id());
    /// assert!(matches!(event.event, ThreadEvent::MessageReceived(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch(&self, options: Option<WatchOptions>) -> InboxWatcher {
        InboxWatcher::new(self.clone(), options)
    }
}
