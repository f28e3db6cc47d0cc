//! [`ThreadWatcher`]: every change in one thread, as a blocking iterator.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use super::feed::{Feed, Start};
use super::run::{self, Polled, Run};
use super::stopper::WatchStopper;
use super::{check_options, ThreadEvent, WatchCursor, WatchOptions};
use crate::client::ChatThreadClient;
use crate::error::Result;

/// Every change in one thread after a position, exactly once, oldest first: an
/// `Iterator<Item = Result<ThreadEvent>>` whose `next()` blocks until the next change.
/// Get one from [`ChatThreadClient::watch`].
///
/// It polls `list_messages` and stops each walk at its cursor: an idle poll is one request,
/// and any number of changes between two polls are all delivered. Polls back off while the
/// thread is idle (from `poll_interval` up to `max_poll_interval`, see [`WatchOptions`]).
/// Transient failures are retried with back-off ([`WatchOptions::retry`]); an error that
/// cannot get better (403: the user is no longer a participant, 404: the thread was deleted,
/// 401, or `retry.max_retries` failed polls in a row) is handed out once, and the watch ends.
///
/// Save [`cursor`](Self::cursor) after handling an event and pass it back in
/// [`WatchOptions::resume_from`] to resume, in this process or another, without missing or
/// repeating an event. Memory does not grow with the number of events: the cursor holds one
/// version and the ids at it (and the messages that changed during the last walk), and the
/// buffer holds one poll's changes.
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
/// thread.send_message("hello", None)?;
/// match watcher.next() {
///     Some(Ok(ThreadEvent::MessageReceived(m))) => {
///         assert_eq!(m.content.and_then(|c| c.message).as_deref(), Some("hello"))
///     }
///     other => panic!("{other:?}"),
/// }
/// let saved = watcher.cursor().to_string(); // persist this to resume later
/// # let _ = saved;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "watchers do nothing unless iterated"]
pub struct ThreadWatcher {
    thread: ChatThreadClient,
    page_size: i32,
    include_read_receipts: bool,
    read_receipt_interval: std::time::Duration,
    feed: Feed,
    pending: VecDeque<ThreadEvent>,
    run: Run,
}

impl fmt::Debug for ThreadWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadWatcher")
            .field("thread_id", &self.thread.thread_id())
            .field("cursor", &self.feed.delivered())
            .field("buffered", &self.pending.len())
            .field("ended", &self.run.ended)
            .finish_non_exhaustive()
    }
}

impl ThreadWatcher {
    pub(crate) fn new(thread: ChatThreadClient, options: Option<WatchOptions>) -> ThreadWatcher {
        let options = options.unwrap_or_default();
        let mut deferred = check_options(&options).err();
        let start = match options.resume_from.clone() {
            Some(cursor) => match cursor.into_thread("resume_from") {
                Ok(p) => Start::At(p),
                Err(e) => {
                    deferred.get_or_insert(e);
                    Start::Beginning
                }
            },
            None if options.from_beginning => Start::Beginning,
            None => Start::Now,
        };
        let now = matches!(start, Start::Now);
        let mut watcher = ThreadWatcher {
            page_size: options.page_size(),
            include_read_receipts: options.include_read_receipts,
            read_receipt_interval: options.read_receipt_interval,
            feed: Feed::new(start),
            pending: VecDeque::new(),
            run: Run::new(&options, deferred),
            thread,
        };
        // "Now" is the moment of this call: read the thread's newest change at once. If that
        // fails, the first `next()` tries again (and "now" is then that moment).
        if now {
            watcher.start();
        }
        watcher
    }

    /// The position just after the last event handed out: save it (as text or with serde) and
    /// pass it to [`WatchOptions::resume_from`] to resume there.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::WatchOptions;
    ///
    /// let watcher = thread.watch(None);
    /// let saved = watcher.cursor();
    /// thread.send_message("while we were away", None)?;
    /// let mut resumed = thread.watch(Some(WatchOptions { resume_from: Some(saved), ..Default::default() }));
    /// assert!(matches!(resumed.next(), Some(Ok(acs_chat::ThreadEvent::MessageReceived(_)))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cursor(&self) -> WatchCursor {
        WatchCursor::thread(self.feed.delivered().cloned().unwrap_or_default())
    }

    /// A handle that ends this watch from any thread: see [`WatchStopper`].
    pub fn stopper(&self) -> WatchStopper {
        self.run.stopper.clone()
    }

    /// How many events were fetched and not yet handed out (at most one poll's changes).
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// let mut watcher = thread.watch(Some(acs_chat::WatchOptions { from_beginning: true, ..Default::default() }));
    /// watcher.next(); // one poll: the thread's two creation messages
    /// assert_eq!(watcher.buffered(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    fn poll(&mut self) -> Result<()> {
        let now = Instant::now();
        let receipts = (self.include_read_receipts && self.feed.receipts_due(now))
            .then(|| now + self.read_receipt_interval);
        let events = self.feed.poll(&self.thread, self.page_size, receipts)?;
        self.run.schedule.succeeded(!events.is_empty());
        if events.is_empty() {
            self.feed.batch_done();
        }
        self.pending.extend(events);
        Ok(())
    }
}

impl Polled for ThreadWatcher {
    type Event = ThreadEvent;
    const WHAT: &'static str = "thread";

    fn run(&mut self) -> &mut Run {
        &mut self.run
    }

    fn take(&mut self) -> Option<ThreadEvent> {
        let event = self.pending.pop_front()?;
        self.feed.handed_out(&event);
        if self.pending.is_empty() {
            self.feed.batch_done();
        }
        Some(event)
    }

    fn drop_pending(&mut self) {
        self.pending.clear();
        self.feed.batch_dropped();
    }

    fn poll_once(&mut self) -> Result<()> {
        self.poll()
    }
}

impl Iterator for ThreadWatcher {
    type Item = Result<ThreadEvent>;

    /// Blocks until the next change and returns it; `None` once stopped or after the error
    /// that ended the watch.
    fn next(&mut self) -> Option<Self::Item> {
        run::next(self)
    }
}

/// One poll of `thread` after `cursor` (`None`: from the beginning).
pub(crate) fn changes_since(
    thread: &ChatThreadClient,
    cursor: Option<&WatchCursor>,
) -> Result<(Vec<ThreadEvent>, WatchCursor)> {
    let start = match cursor {
        Some(c) => Start::At(c.clone().into_thread("cursor")?),
        None => Start::Beginning,
    };
    let mut feed = Feed::new(start);
    let events = feed.poll(thread, super::options::DEFAULT_WATCH_PAGE_SIZE, None)?;
    for event in &events {
        feed.handed_out(event);
    }
    feed.batch_done();
    let end = feed.delivered().cloned().unwrap_or_default();
    Ok((events, WatchCursor::thread(end)))
}
