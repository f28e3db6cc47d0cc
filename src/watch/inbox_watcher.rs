//! [`InboxWatcher`]: every change in every thread of a user, as a blocking iterator.
//!
//! Each tick (every `poll_interval`, backing off to `max_poll_interval` while idle):
//! 1. read the first page of `list_chat_threads` (most recent activity first), and further
//!    pages only while every thread on a page changed; a thread whose
//!    `lastMessageReceivedOn` changed, or that is new, is *hot* for the next two seconds (or
//!    two poll intervals) — long enough to see a second message stamped in the same second;
//! 2. poll every hot thread's messages (one request each when nothing else changed);
//! 3. poll a share of the quiet threads, round robin, so that each is polled once per
//!    `sweep_interval` (edits and deletions do not move `lastMessageReceivedOn`);
//! 4. once per `sweep_interval`, read the whole thread list, to find threads joined and left.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::cursor::FeedPosition;
use super::feed::{Feed, Start};
use super::run::{self, Polled, Run};
use super::stopper::WatchStopper;
use super::{check_options, is_transient, ThreadEvent, WatchCursor, WatchOptions};
use crate::client::{ChatClient, ChatThreadClient, ListChatThreadsOptions};
use crate::error::{Error, Result};
use crate::models::ChatThreadInfo;

/// One change in one of the user's threads.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct InboxEvent {
    /// The thread it happened in.
    pub thread_id: String,
    /// What happened: any [`ThreadEvent`], including the inbox-only
    /// [`ThreadJoined`](ThreadEvent::ThreadJoined), [`ThreadLeft`](ThreadEvent::ThreadLeft)
    /// and [`ThreadDeleted`](ThreadEvent::ThreadDeleted).
    pub event: ThreadEvent,
}

/// Every change in every thread of the user, exactly once per thread and oldest first
/// within a thread: an `Iterator<Item = Result<InboxEvent>>` whose `next()` blocks until the
/// next change. Get one from [`ChatClient::watch`].
///
/// The watch finds active threads through `list_chat_threads` (`lastMessageReceivedOn`),
/// polls only those at `poll_interval`, and sweeps every thread once per `sweep_interval`
/// for edits and deletions (see [`WatchOptions`]). Threads the user joins (or creates) after
/// the start come with [`ThreadEvent::ThreadJoined`] and then their whole history; threads
/// the user leaves or that are deleted end with [`ThreadEvent::ThreadLeft`] or
/// [`ThreadEvent::ThreadDeleted`].
///
/// # Cost
///
/// With `N` threads, while idle: one request per tick (the first page of the thread list;
/// ticks back off to `max_poll_interval`, so 6 a minute by default), plus `N` message polls
/// and `ceil(N / 200)` list pages per `sweep_interval`, spread evenly. For 200 threads with
/// the defaults that is 6 + 100 + 0.5 ≈ 107 requests a minute, about 1.8 a second. Each
/// active thread adds one request per tick while it is hot. Starting "now" (no
/// `resume_from`, no `from_beginning`) costs one request per thread once, to read where each
/// thread stands.
///
/// Cursor, stopper and exactly-once promise are the [`ThreadWatcher`](crate::ThreadWatcher)'s;
/// the inbox cursor holds one thread position per thread.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// use std::time::Duration;
/// use acs_chat::{ThreadEvent, WatchOptions};
///
/// let options = WatchOptions { poll_interval: Duration::from_millis(50), ..Default::default() };
/// let mut inbox = chat.watch(Some(options));
/// let id = chat.create_chat_thread("New", None)?.chat_thread.id;
/// let first = inbox.next().expect("an event")?;
/// assert_eq!(first.thread_id, id);
/// assert!(matches!(first.event, ThreadEvent::ThreadJoined(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "watchers do nothing unless iterated"]
pub struct InboxWatcher {
    chat: ChatClient,
    options: WatchOptions,
    threads: BTreeMap<String, InboxThread>,
    /// Events fetched, not yet handed out; `true` marks the last event of a thread's poll.
    pending: VecDeque<(InboxEvent, bool)>,
    run: Run,
    /// Positions to resume from, consumed by the first full listing.
    resume: Option<BTreeMap<String, FeedPosition>>,
    started: bool,
    last_full_listing: Option<Instant>,
    last_tick: Option<Instant>,
    /// Threads still to sweep in this sweep period.
    sweep_queue: VecDeque<String>,
    /// Sweep polls owed but not yet made (fractions of a thread accumulate).
    sweep_credit: f64,
}

struct InboxThread {
    client: ChatThreadClient,
    feed: Feed,
    activity: Option<DateTime<Utc>>,
    hot_until: Option<Instant>,
    /// Whether its `ThreadJoined` (if any) was handed out, so the cursor may name it.
    announced: bool,
    /// Left or deleted: not polled, dropped when that event is handed out.
    gone: bool,
}

impl fmt::Debug for InboxWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxWatcher")
            .field("threads", &self.threads.len())
            .field("buffered", &self.pending.len())
            .field("ended", &self.run.ended)
            .finish_non_exhaustive()
    }
}

impl InboxWatcher {
    pub(crate) fn new(chat: ChatClient, options: Option<WatchOptions>) -> InboxWatcher {
        let options = options.unwrap_or_default();
        let mut deferred = check_options(&options).err();
        let resume = match options.resume_from.clone() {
            Some(c) => match c.into_inbox("resume_from") {
                Ok(p) => Some(p),
                Err(e) => {
                    deferred.get_or_insert(e);
                    None
                }
            },
            None => None,
        };
        let mut watcher = InboxWatcher {
            run: Run::new(&options, deferred),
            chat,
            options,
            threads: BTreeMap::new(),
            pending: VecDeque::new(),
            resume,
            started: false,
            last_full_listing: None,
            last_tick: None,
            sweep_queue: VecDeque::new(),
            sweep_credit: 0.0,
        };
        // As for a thread watch, "now" is the moment of this call.
        watcher.start();
        watcher
    }

    /// The position just after the last event handed out, for every thread: pass it to
    /// [`WatchOptions::resume_from`] of [`ChatClient::watch`] to resume there.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// let inbox = chat.watch(None);
    /// let saved: String = inbox.cursor().to_string();
    /// assert!(saved.parse::<acs_chat::WatchCursor>().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cursor(&self) -> WatchCursor {
        let mut positions: BTreeMap<String, FeedPosition> = self.resume.clone().unwrap_or_default();
        for (id, t) in &self.threads {
            if let (true, Some(p)) = (t.announced, t.feed.delivered()) {
                positions.insert(id.clone(), p.clone());
            }
        }
        WatchCursor::inbox(positions)
    }

    /// A handle that ends this watch from any thread: see [`WatchStopper`].
    pub fn stopper(&self) -> WatchStopper {
        self.run.stopper.clone()
    }

    /// How many events were fetched and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// Adds a thread found in a listing; `joined` when it is new since the watch started.
    fn add(&mut self, info: &ChatThreadInfo, start: Start, joined: bool) -> Result<()> {
        let client = self.chat.get_chat_thread_client(&info.id)?;
        self.threads.insert(
            info.id.clone(),
            InboxThread {
                client,
                feed: Feed::new(start),
                activity: info.last_message_received_on,
                hot_until: None,
                announced: !joined,
                gone: false,
            },
        );
        if joined {
            self.pending.push_back((
                InboxEvent {
                    thread_id: info.id.clone(),
                    event: ThreadEvent::ThreadJoined(info.clone()),
                },
                false,
            ));
        }
        Ok(())
    }

    fn hot_window(&self) -> Duration {
        (self.options.poll_interval * 2).max(Duration::from_secs(2))
    }

    /// Reads thread-list pages: all of them (`full`), or while every thread on a page changed.
    /// Returns the ids listed, and marks changed threads hot.
    fn read_list(&mut self, full: bool) -> Result<(HashSet<String>, Vec<ChatThreadInfo>)> {
        let options = ListChatThreadsOptions {
            results_per_page: Some(self.options.page_size()),
            ..Default::default()
        };
        let hot_until = Instant::now() + self.hot_window();
        let mut listed = HashSet::new();
        let mut found = Vec::new();
        for page in self.chat.list_chat_threads(Some(options)).by_page() {
            let page = page?;
            let mut all_changed = true;
            for info in page.items {
                if !listed.insert(info.id.clone()) {
                    continue;
                }
                match self.threads.get_mut(&info.id) {
                    Some(t) if t.activity == info.last_message_received_on => {
                        all_changed = false;
                    }
                    Some(t) => {
                        t.activity = info.last_message_received_on;
                        t.hot_until = Some(hot_until);
                    }
                    None => found.push(info),
                }
            }
            if !full && !all_changed {
                break;
            }
        }
        Ok((listed, found))
    }

    /// One round: listing, then the polls it calls for. Events go to `pending`.
    fn tick(&mut self) -> Result<()> {
        let now = Instant::now();
        let full = !self.started
            || self
                .last_full_listing
                .is_none_or(|t| now.duration_since(t) >= self.options.sweep_interval);
        let (listed, found) = self.read_list(full)?;
        let mut probe: Vec<String> = Vec::new();
        let first = !self.started;
        let hot_window = self.hot_window();
        for info in &found {
            let (start, joined) = if first {
                match self.resume.as_mut().map(|r| r.remove(&info.id)) {
                    Some(Some(p)) => (Start::At(p), false),
                    Some(None) => (Start::Beginning, true),
                    None if self.options.from_beginning => (Start::Beginning, false),
                    None => (Start::Now, false),
                }
            } else {
                (Start::Beginning, true)
            };
            self.add(info, start, joined)?;
            if first {
                // Known at the start: one poll now (to read where it stands, or catch up).
                probe.push(info.id.clone());
            } else if let Some(t) = self.threads.get_mut(&info.id) {
                // Joined since: likely busy.
                t.hot_until = Some(now + hot_window);
            }
        }
        if full {
            self.last_full_listing = Some(now);
            // Threads the list no longer shows: left or deleted, which a poll tells apart.
            probe.extend(
                self.threads
                    .iter()
                    .filter(|(id, t)| !t.gone && !listed.contains(*id))
                    .map(|(id, _)| id.clone()),
            );
            if first {
                // Saved threads the list does not show: poll once, to report how they ended.
                if let Some(rest) = self.resume.take() {
                    for (id, p) in rest {
                        if let Ok(client) = self.chat.get_chat_thread_client(&id) {
                            self.threads.insert(
                                id.clone(),
                                InboxThread {
                                    client,
                                    feed: Feed::new(Start::At(p)),
                                    activity: None,
                                    hot_until: None,
                                    announced: true,
                                    gone: false,
                                },
                            );
                            probe.push(id);
                        }
                    }
                }
            }
            self.sweep_queue = self.threads.keys().cloned().collect();
        }
        self.started = true;
        // The share of quiet threads owed since the last tick.
        let elapsed = self
            .last_tick
            .map_or(Duration::ZERO, |t| now.duration_since(t));
        self.last_tick = Some(now);
        let n = self.threads.len() as f64;
        self.sweep_credit += n * elapsed.as_secs_f64() / self.options.sweep_interval.as_secs_f64();
        let mut to_poll: Vec<String> = self
            .threads
            .iter()
            // Hot, or still to learn where it stands (its first poll failed).
            .filter(|(_, t)| t.hot_until.is_some_and(|h| now < h) || t.feed.delivered().is_none())
            .map(|(id, _)| id.clone())
            .collect();
        to_poll.extend(probe);
        while self.sweep_credit >= 1.0 {
            match self.sweep_queue.pop_front() {
                Some(id) => {
                    to_poll.push(id);
                    self.sweep_credit -= 1.0;
                }
                None => {
                    self.sweep_credit = 0.0;
                    break;
                }
            }
        }
        let mut seen = HashSet::new();
        to_poll.retain(|id| seen.insert(id.clone()));
        let mut failure: Option<Error> = None;
        let mut busy = !self.pending.is_empty();
        for id in to_poll {
            match self.poll_thread(&id, now) {
                Ok(found_events) => busy |= found_events,
                Err(e) if is_transient(&e) => failure = Some(e),
                Err(e) => return Err(e),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => {
                self.run.schedule.succeeded(busy);
                Ok(())
            }
        }
    }

    /// Polls one thread; a 403 or 404 becomes its last event. True when it had events.
    fn poll_thread(&mut self, id: &str, now: Instant) -> Result<bool> {
        let page_size = self.options.page_size();
        let receipts = self.options.include_read_receipts;
        let interval = self.options.read_receipt_interval;
        let Some(t) = self.threads.get_mut(id) else {
            return Ok(false);
        };
        if t.gone {
            return Ok(false);
        }
        let receipts_until = (receipts && t.feed.receipts_due(now)).then(|| now + interval);
        match t.feed.poll(&t.client, page_size, receipts_until) {
            Ok(events) => {
                if events.is_empty() {
                    t.feed.batch_done();
                    return Ok(false);
                }
                let last = events.len() - 1;
                for (n, event) in events.into_iter().enumerate() {
                    self.pending.push_back((
                        InboxEvent {
                            thread_id: id.to_string(),
                            event,
                        },
                        n == last,
                    ));
                }
                Ok(true)
            }
            Err(e) if matches!(e.status(), Some(403 | 404)) => {
                t.gone = true;
                let event = if e.status() == Some(404) {
                    ThreadEvent::ThreadDeleted
                } else {
                    ThreadEvent::ThreadLeft
                };
                self.pending.push_back((
                    InboxEvent {
                        thread_id: id.to_string(),
                        event,
                    },
                    false,
                ));
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    fn handed_out(&mut self, event: &InboxEvent, last: bool) {
        match &event.event {
            ThreadEvent::ThreadLeft | ThreadEvent::ThreadDeleted => {
                self.threads.remove(&event.thread_id);
            }
            ThreadEvent::ThreadJoined(_) => {
                if let Some(t) = self.threads.get_mut(&event.thread_id) {
                    t.announced = true;
                }
            }
            other => {
                if let Some(t) = self.threads.get_mut(&event.thread_id) {
                    t.feed.handed_out(other);
                    if last {
                        t.feed.batch_done();
                    }
                }
            }
        }
    }
}

impl Polled for InboxWatcher {
    type Event = InboxEvent;
    const WHAT: &'static str = "inbox";

    fn run(&mut self) -> &mut Run {
        &mut self.run
    }

    fn take(&mut self) -> Option<InboxEvent> {
        let (event, last) = self.pending.pop_front()?;
        self.handed_out(&event, last);
        Some(event)
    }

    fn drop_pending(&mut self) {
        self.pending.clear();
        for t in self.threads.values_mut() {
            t.feed.batch_dropped();
        }
    }

    fn poll_once(&mut self) -> Result<()> {
        self.tick()
    }
}

impl Iterator for InboxWatcher {
    type Item = Result<InboxEvent>;

    /// Blocks until the next change and returns it; `None` once stopped or after the error
    /// that ended the watch.
    fn next(&mut self) -> Option<Self::Item> {
        run::next(self)
    }
}
