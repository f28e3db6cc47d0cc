//! [`ChatThreadClient`]: everything inside one thread (messages, participants, receipts).

use std::fmt;
use std::sync::Arc;

use super::exactly_once;
use super::{
    ClientInner, ListMessagesOptions, ListParticipantsOptions, ListReadReceiptsOptions,
    SendMessageOptions, TypingNotificationOptions, UpdateChatThreadOptions, UpdateMessageOptions,
    JSON, MERGE_PATCH,
};
use crate::error::{ChatError, Error, Result};
use crate::http::{encode_segment, validate_id, Method, RetryClass};
use crate::models::requests::{
    AddChatParticipantsRequest, SendChatMessageRequest, SendReadReceiptRequest,
    SendTypingNotificationRequest, UpdateChatMessageRequest, UpdateChatThreadRequest,
};
use crate::models::{
    pair_invalid_participants, AddChatParticipantsBody, ChatMessage, ChatMessageReadReceipt,
    ChatMessageType, ChatParticipant, ChatThreadProperties, CommunicationIdentifier,
    SendChatMessageResult,
};
use crate::pager::Pager;
use crate::watch::{ThreadEvent, ThreadWatcher, WatchCursor, WatchOptions};

/// The operations inside one chat thread. Get one from
/// [`ChatClient::get_chat_thread_client`](crate::ChatClient::get_chat_thread_client).
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// use acs_chat::{ChatClient, CommunicationTokenCredential};
///
/// let chat = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(token)?)?;
/// let id = chat.create_chat_thread("Team", None)?.chat_thread.id;
/// let thread = chat.get_chat_thread_client(&id)?;
/// let sent = thread.send_message("Hello", None)?;
/// assert_eq!(thread.get_message(&sent.id)?.content.and_then(|c| c.message).as_deref(), Some("Hello"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Thread safety
///
/// `ChatThreadClient` is `Clone + Send + Sync` and shares its parent
/// [`ChatClient`](crate::ChatClient)'s connection pool, credential and options. Clones are
/// cheap; hand them to as many threads as you like.
///
/// # Errors
///
/// As for [`ChatClient`](crate::ChatClient): [`Error::InvalidArgument`] before any request for
/// unusable arguments, [`Error::Service`] for error statuses (403 when the caller is not a
/// participant, 404 for an unknown thread or message…), transport errors otherwise.
#[derive(Clone)]
pub struct ChatThreadClient {
    inner: Arc<ClientInner>,
    thread_id: String,
    /// `/chat/threads/{encoded id}`.
    thread_path: String,
}

impl fmt::Debug for ChatThreadClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatThreadClient")
            .field("thread_id", &self.thread_id)
            .field("endpoint", &self.inner.endpoint.base())
            .finish_non_exhaustive()
    }
}

impl ChatThreadClient {
    pub(crate) fn new(inner: Arc<ClientInner>, thread_id: &str) -> Result<Self> {
        validate_id("thread_id", thread_id)?;
        Ok(ChatThreadClient {
            inner,
            thread_id: thread_id.to_string(),
            thread_path: format!("/chat/threads/{}", encode_segment(thread_id)),
        })
    }

    /// The id of the thread this client works on.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// let thread = chat.get_chat_thread_client("19:abc@thread.v2")?;
    /// assert_eq!(thread.thread_id(), "19:abc@thread.v2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// The thread's path followed by the (already encoded) `suffix` parts, and the query.
    fn path(&self, suffix: &[&str], query: &[(&str, String)]) -> String {
        self.inner
            .path_and_query_of(&self.thread_path, suffix, query)
    }

    /// Reads the thread's properties.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// assert_eq!(thread.get_properties()?.topic, "Topic");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_properties(&self) -> Result<ChatThreadProperties> {
        let request =
            self.inner
                .request(Method::GET, &self.path(&[], &[]), RetryClass::SafeToRepeat);
        self.inner.send_json(request)
    }

    /// Changes the thread's topic.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Old", None)?.chat_thread.id)?;
    /// thread.update_topic("New")?;
    /// assert_eq!(thread.get_properties()?.topic, "New");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_topic(&self, topic: &str) -> Result<()> {
        if topic.trim().is_empty() {
            return Err(Error::invalid_argument("topic", "must not be empty"));
        }
        self.update_properties(Some(UpdateChatThreadOptions {
            topic: Some(topic.to_string()),
            ..Default::default()
        }))
    }

    /// Changes the thread's topic, metadata or retention policy; fields left `None` stay as
    /// they are.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::UpdateChatThreadOptions;
    ///
    /// let metadata = [("project".to_string(), "apollo".to_string())].into();
    /// thread.update_properties(Some(UpdateChatThreadOptions { metadata: Some(metadata), ..Default::default() }))?;
    /// let props = thread.get_properties()?;
    /// assert_eq!(props.metadata.and_then(|m| m.get("project").cloned()).as_deref(), Some("apollo"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_properties(&self, options: Option<UpdateChatThreadOptions>) -> Result<()> {
        let options = options.unwrap_or_default();
        if options
            .topic
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(Error::invalid_argument("topic", "must not be empty"));
        }
        super::limits::check_metadata("metadata", options.metadata.as_ref())?;
        let body = UpdateChatThreadRequest {
            topic: options.topic,
            metadata: options.metadata,
            retention_policy: options.retention_policy.map(Some),
            ..Default::default()
        };
        let request = self
            .inner
            .request(
                Method::PATCH,
                &self.path(&[], &[]),
                RetryClass::SafeToRepeat,
            )
            .with_json(MERGE_PATCH, &body)?;
        self.inner.send(request).map(drop)
    }

    /// Sends a message and returns its id.
    ///
    /// Without [`SendMessageOptions::idempotency_token`], never retried in a way that could
    /// post the message twice: only a 429, a 503 or a request that never left the client
    /// (cases where the service provably did not take the message) are retried, and a failure
    /// that may have posted it says so through [`Error::may_have_taken_effect`]. With a token,
    /// every transient failure is retried and the message is posted exactly once: before a
    /// retry after an ambiguous failure, the thread's recent messages are searched for the
    /// token (newest first, from 5 minutes before the first attempt, at most 2,000 messages),
    /// and once more when retries or time run out; when the search cannot answer, the
    /// ambiguous error is returned rather than risk a duplicate.
    /// Content of any length is passed to the service, which enforces its own limits.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::SendMessageOptions;
    /// use acs_chat::models::ChatMessageType;
    ///
    /// let options = SendMessageOptions {
    ///     chat_message_type: Some(ChatMessageType::Html),
    ///     sender_display_name: Some("Alice".into()),
    ///     ..Default::default()
    /// };
    /// let sent = thread.send_message("<b>Hello</b>", Some(options))?;
    /// assert!(!sent.id.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_message(
        &self,
        content: &str,
        options: Option<SendMessageOptions>,
    ) -> Result<SendChatMessageResult> {
        let options = options.unwrap_or_default();
        let message_type = options.chat_message_type.unwrap_or(ChatMessageType::Text);
        if !matches!(message_type, ChatMessageType::Text | ChatMessageType::Html) {
            return Err(Error::invalid_argument(
                "chat_message_type",
                "only text and html messages can be sent",
            ));
        }
        super::limits::check_message(content, options.sender_display_name.as_deref())?;
        let mut metadata = options.metadata;
        if let Some(token) = &options.idempotency_token {
            exactly_once::check_token(token, metadata.as_ref())?;
            metadata.get_or_insert_with(Default::default).insert(
                exactly_once::IDEMPOTENCY_METADATA_KEY.to_string(),
                token.clone(),
            );
        }
        let body = SendChatMessageRequest {
            content: content.to_string(),
            sender_display_name: options.sender_display_name,
            message_type: Some(message_type),
            metadata,
            ..Default::default()
        };
        let Some(token) = options.idempotency_token else {
            let request = self
                .inner
                .request(
                    Method::POST,
                    &self.path(&["/messages"], &[]),
                    RetryClass::OnlyIfNotProcessed,
                )
                .with_json(JSON, &body)?;
            return self.inner.send_json(request);
        };
        // With a token every transient failure is retried: an ambiguous one only after
        // looking for the message it may have posted.
        let request = self
            .inner
            .request(
                Method::POST,
                &self.path(&["/messages"], &[]),
                RetryClass::SafeToRepeat,
            )
            .with_json(JSON, &body)?;
        let first_attempt = chrono::Utc::now();
        self.inner.send_json_recovering(request, |_, deadline| {
            exactly_once::find_sent(
                &self.inner,
                &self.thread_path,
                &token,
                first_attempt,
                deadline,
            )
        })
    }

    /// Reads one message.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// let id = thread.send_message("Hi", None)?.id;
    /// let message = thread.get_message(&id)?;
    /// assert_eq!(message.id, id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_message(&self, message_id: &str) -> Result<ChatMessage> {
        validate_id("message_id", message_id)?;
        let path = self.path(&["/messages/", &encode_segment(message_id)], &[]);
        let request = self
            .inner
            .request(Method::GET, &path, RetryClass::SafeToRepeat);
        self.inner.send_json(request)
    }

    /// Lists the thread's messages, system messages included, most recently changed first,
    /// one page at a time.
    ///
    /// Nothing is sent until the pager is first advanced. Invalid options send nothing at
    /// all: the pager's first and only item is [`Error::InvalidArgument`].
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::ListMessagesOptions;
    /// use acs_chat::models::ChatMessageType;
    ///
    /// thread.send_message("one", None)?;
    /// thread.send_message("two", None)?;
    /// let options = ListMessagesOptions { results_per_page: Some(10), ..Default::default() };
    /// let texts: Vec<String> = thread
    ///     .list_messages(Some(options))
    ///     .collect::<Result<Vec<_>, _>>()?
    ///     .into_iter()
    ///     .filter(|m| m.message_type == ChatMessageType::Text) // skip the system messages
    ///     .filter_map(|m| m.content.and_then(|c| c.message))
    ///     .collect();
    /// assert_eq!(texts, ["two", "one"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list_messages(&self, options: Option<ListMessagesOptions>) -> Pager<ChatMessage> {
        let options = options.unwrap_or_default();
        self.inner.time_pager(
            &format!("{}/messages", self.thread_path),
            options.results_per_page,
            options.start_time.as_ref(),
            options.continuation_token.as_deref(),
        )
    }

    /// Changes a message's content or metadata; fields left `None` stay as they are.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::UpdateMessageOptions;
    ///
    /// let id = thread.send_message("Helo", None)?.id;
    /// thread.update_message(&id, Some(UpdateMessageOptions { content: Some("Hello".into()), ..Default::default() }))?;
    /// let message = thread.get_message(&id)?;
    /// assert!(message.edited_on.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_message(
        &self,
        message_id: &str,
        options: Option<UpdateMessageOptions>,
    ) -> Result<()> {
        validate_id("message_id", message_id)?;
        let options = options.unwrap_or_default();
        if let Some(content) = &options.content {
            super::limits::check_message(content, None)?;
        }
        let body = UpdateChatMessageRequest {
            content: options.content,
            metadata: options.metadata,
            ..Default::default()
        };
        let path = self.path(&["/messages/", &encode_segment(message_id)], &[]);
        let request = self
            .inner
            .request(Method::PATCH, &path, RetryClass::SafeToRepeat)
            .with_json(MERGE_PATCH, &body)?;
        self.inner.send(request).map(drop)
    }

    /// Deletes a message (it stays listed, empty, with `deleted_on` set).
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// let id = thread.send_message("oops", None)?.id;
    /// thread.delete_message(&id)?;
    /// assert!(thread.get_message(&id)?.deleted_on.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_message(&self, message_id: &str) -> Result<()> {
        validate_id("message_id", message_id)?;
        let path = self.path(&["/messages/", &encode_segment(message_id)], &[]);
        let request = self
            .inner
            .request(Method::DELETE, &path, RetryClass::SafeToRepeat);
        self.inner.send(request).map(drop)
    }

    /// Marks the thread as read up to `message_id` for the caller.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// let id = thread.send_message("read me", None)?.id;
    /// thread.send_read_receipt(&id)?;
    /// let receipts = thread.list_read_receipts(None).collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(receipts[0].chat_message_id, id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_read_receipt(&self, message_id: &str) -> Result<()> {
        validate_id("message_id", message_id)?;
        let body = SendReadReceiptRequest {
            chat_message_id: message_id.to_string(),
            ..Default::default()
        };
        let request = self
            .inner
            .request(
                Method::POST,
                &self.path(&["/readReceipts"], &[]),
                RetryClass::SafeToRepeat,
            )
            .with_json(JSON, &body)?;
        self.inner.send(request).map(drop)
    }

    /// Lists the latest read receipt of each participant, one page at a time.
    ///
    /// Nothing is sent until the pager is first advanced. Invalid options send nothing at
    /// all: the pager's first and only item is [`Error::InvalidArgument`].
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::ListReadReceiptsOptions;
    ///
    /// let options = ListReadReceiptsOptions { results_per_page: Some(5), skip: Some(0), ..Default::default() };
    /// let receipts = thread.list_read_receipts(Some(options)).collect::<Result<Vec<_>, _>>()?;
    /// assert!(receipts.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list_read_receipts(
        &self,
        options: Option<ListReadReceiptsOptions>,
    ) -> Pager<ChatMessageReadReceipt> {
        let options = options.unwrap_or_default();
        self.inner.skip_pager(
            &format!("{}/readReceipts", self.thread_path),
            options.results_per_page,
            options.skip,
            options.continuation_token.as_deref(),
        )
    }

    /// Tells the other participants that the caller is typing.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::TypingNotificationOptions;
    ///
    /// thread.send_typing_notification(None)?;
    /// thread.send_typing_notification(Some(TypingNotificationOptions { sender_display_name: Some("Alice".into()) }))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_typing_notification(
        &self,
        options: Option<TypingNotificationOptions>,
    ) -> Result<()> {
        let options = options.unwrap_or_default();
        let body = SendTypingNotificationRequest {
            sender_display_name: options.sender_display_name,
            ..Default::default()
        };
        let request = self
            .inner
            .request(
                Method::POST,
                &self.path(&["/typing"], &[]),
                RetryClass::SafeToRepeat,
            )
            .with_json(JSON, &body)?;
        self.inner.send(request).map(drop)
    }

    /// Lists the thread's participants, one page at a time.
    ///
    /// Nothing is sent until the pager is first advanced. Invalid options send nothing at
    /// all: the pager's first and only item is [`Error::InvalidArgument`].
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// let participants = thread.list_participants(None).collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(participants.len(), 1);
    /// assert_eq!(participants[0].identifier.raw_id(), user);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list_participants(
        &self,
        options: Option<ListParticipantsOptions>,
    ) -> Pager<ChatParticipant> {
        let options = options.unwrap_or_default();
        self.inner.skip_pager(
            &format!("{}/participants", self.thread_path),
            options.results_per_page,
            options.skip,
            options.continuation_token.as_deref(),
        )
    }

    /// Adds participants. Returns those the service rejected, each paired with its error (an
    /// empty list when all were added). Adding someone already in the thread changes nothing.
    ///
    /// Retried only when the service provably did not process the request (429, 503, failed
    /// connection).
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::{ChatParticipant, CommunicationIdentifier};
    ///
    /// let bob = ChatParticipant::new(CommunicationIdentifier::communication_user(emu.create_user()));
    /// let ghost = ChatParticipant::new(CommunicationIdentifier::communication_user("8:acs:invalid-user"));
    /// let failed = thread.add_participants(&[bob, ghost.clone()])?;
    /// assert_eq!(failed.len(), 1);
    /// assert_eq!(failed[0].0, ghost);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_participants(
        &self,
        participants: &[ChatParticipant],
    ) -> Result<Vec<(ChatParticipant, ChatError)>> {
        if participants.is_empty() {
            return Err(Error::invalid_argument(
                "participants",
                "must name at least one participant",
            ));
        }
        super::options::check_participants(participants)?;
        let body = AddChatParticipantsRequest {
            participants: participants.to_vec(),
            ..Default::default()
        };
        let request = self
            .inner
            .request(
                Method::POST,
                &self.path(&["/participants/:add"], &[]),
                RetryClass::OnlyIfNotProcessed,
            )
            .with_json(JSON, &body)?;
        let response = self.inner.send(request)?;
        let body: AddChatParticipantsBody = if response.body.iter().all(u8::is_ascii_whitespace) {
            AddChatParticipantsBody::default()
        } else {
            response.json()?
        };
        Ok(pair_invalid_participants(
            body.invalid_participants.unwrap_or_default(),
            participants,
        ))
    }

    /// Adds one participant; an error when the service rejected them.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::{ChatParticipant, CommunicationIdentifier};
    ///
    /// let carol = ChatParticipant::new(CommunicationIdentifier::communication_user(emu.create_user()))
    ///     .with_display_name("Carol");
    /// thread.add_participant(&carol)?;
    /// assert_eq!(thread.list_participants(None).collect::<Result<Vec<_>, _>>()?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_participant(&self, participant: &ChatParticipant) -> Result<()> {
        let failed = self.add_participants(std::slice::from_ref(participant))?;
        match failed.into_iter().next() {
            None => Ok(()),
            Some((_, error)) => Err(Error::ParticipantRejected(Box::new(error))),
        }
    }

    /// Removes a participant from the thread.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::{ChatParticipant, CommunicationIdentifier};
    ///
    /// let dave = CommunicationIdentifier::communication_user(emu.create_user());
    /// thread.add_participant(&ChatParticipant::new(dave.clone()))?;
    /// thread.remove_participant(&dave)?;
    /// assert_eq!(thread.list_participants(None).collect::<Result<Vec<_>, _>>()?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_participant(&self, identifier: &CommunicationIdentifier) -> Result<()> {
        validate_id("identifier", &identifier.raw_id())?;
        let request = self
            .inner
            .request(
                Method::POST,
                &self.path(&["/participants/:remove"], &[]),
                RetryClass::SafeToRepeat,
            )
            .with_json(JSON, identifier)?;
        self.inner.send(request).map(drop)
    }

    /// Watches the thread: every message received, edited or deleted, every participant and
    /// topic change (and read receipts, if asked for) after now, a saved cursor, or the
    /// beginning, exactly once and oldest first. See [`ThreadWatcher`] and [`WatchOptions`].
    ///
    /// Starting *now* (no `resume_from`, no `from_beginning`) reads the thread's newest change
    /// during this call (one request), so that a change made after `watch` returns is
    /// delivered. Invalid options send nothing: the watcher's first item is the
    /// [`Error::InvalidArgument`].
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use std::time::Duration;
    /// use acs_chat::{ThreadEvent, WatchOptions};
    ///
    /// let options = WatchOptions { poll_interval: Duration::from_millis(50), ..Default::default() };
    /// let mut watcher = thread.watch(Some(options));
    /// let id = thread.send_message("hi", None)?.id;
    /// thread.delete_message(&id)?;
    /// // Sent and deleted between two polls: one MessageDeleted, or Received then Deleted.
    /// loop {
    ///     match watcher.next().expect("watching")? {
    ///         ThreadEvent::MessageDeleted(m) => { assert_eq!(m.id, id); break }
    ///         ThreadEvent::MessageReceived(m) => assert_eq!(m.id, id),
    ///         other => panic!("{other:?}"),
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch(&self, options: Option<WatchOptions>) -> ThreadWatcher {
        ThreadWatcher::new(self.clone(), options)
    }

    /// One poll of the thread's changes after `cursor` (`None`: from the beginning), and the
    /// cursor just after them: for scripts and scheduled jobs that keep the cursor between
    /// runs. Read receipts are not included. Costs one request when nothing changed (plus one
    /// per 200 changes).
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::ThreadEvent;
    ///
    /// let (history, cursor) = thread.changes_since(None)?;
    /// assert!(matches!(history.last(), Some(ThreadEvent::TopicUpdated { .. })));
    /// thread.send_message("one", None)?;
    /// let (events, cursor) = thread.changes_since(Some(&cursor))?;
    /// assert!(matches!(&events[..], [ThreadEvent::MessageReceived(_)]));
    /// assert!(thread.changes_since(Some(&cursor))?.0.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn changes_since(
        &self,
        cursor: Option<&WatchCursor>,
    ) -> Result<(Vec<ThreadEvent>, WatchCursor)> {
        crate::watch::changes_since(self, cursor)
    }
}
