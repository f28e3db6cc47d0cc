//! In-memory chat data: threads, participants, messages, read receipts, and the clock that
//! stamps ids and versions.
//!
//! Locking: one `RwLock` over the thread map (held only to find or insert a thread) and one
//! `Mutex` per thread (held for the duration of one operation, never across an await). A
//! poisoned lock is recovered, not propagated: one failed request must not stop the server.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde_json::{Map, Value};

/// Locks a mutex, recovering from poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hands out epoch-millisecond stamps that are unique and strictly increasing: message ids
/// and versions come from here, so ids never collide even at thousands of sends a second.
#[derive(Debug, Default)]
pub(crate) struct Clock(AtomicI64);

impl Clock {
    pub(crate) fn next(&self) -> i64 {
        let now = chrono::Utc::now().timestamp_millis();
        let mut last = self.0.load(Ordering::Acquire);
        loop {
            let next = now.max(last + 1);
            match self
                .0
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// The last stamp handed out: everything that exists now has a stamp at or below it.
    pub(crate) fn current(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }
}

/// (caller, `repeatability-request-id`).
pub(crate) type IdempotencyKey = (String, String);
/// What a create-thread request produced: thread id and its invalid participants.
pub(crate) type Created = (String, Vec<Value>);

/// Every thread, plus create-thread idempotency records.
#[derive(Default)]
pub(crate) struct ChatStore {
    pub(crate) threads: RwLock<HashMap<String, Arc<Mutex<Thread>>>>,
    /// (caller, repeatability-request-id) → (thread id, invalid participants of the original).
    pub(crate) idempotency: Mutex<HashMap<IdempotencyKey, Created>>,
    pub(crate) clock: Clock,
}

impl ChatStore {
    /// The thread with `id`, deleted or not.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Mutex<Thread>>> {
        self.threads
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub(crate) fn insert(&self, thread: Thread) {
        let id = thread.id.clone();
        self.threads
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, Arc::new(Mutex::new(thread)));
    }

    /// Messages held in memory, in every thread (deleted threads hold none).
    pub(crate) fn message_count(&self) -> usize {
        self.all().iter().map(|t| lock(t).messages.len()).sum()
    }

    /// A snapshot of all thread handles (for listing).
    pub(crate) fn all(&self) -> Vec<Arc<Mutex<Thread>>> {
        self.threads
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// A thread member.
#[derive(Clone, Debug)]
pub(crate) struct Participant {
    pub(crate) id: String,
    pub(crate) display_name: Option<String>,
    /// Epoch ms; 0 = the whole history.
    pub(crate) share_history_ms: i64,
    pub(crate) metadata: Option<Map<String, Value>>,
}

/// What a message holds.
#[derive(Clone, Debug)]
pub(crate) enum Content {
    /// `text` or `html` user message.
    User { html: bool, message: String },
    /// `topicUpdated`.
    Topic { topic: String, initiator: String },
    /// `participantAdded` (`added`) or `participantRemoved`.
    Members {
        added: bool,
        participants: Vec<Participant>,
        initiator: String,
    },
}

/// One chat message (user or system).
#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub(crate) id: i64,
    pub(crate) sequence_id: u64,
    pub(crate) version: i64,
    /// Every version the message had, oldest first (the current one last).
    pub(crate) versions: Vec<i64>,
    pub(crate) content: Content,
    pub(crate) sender: Option<String>,
    pub(crate) sender_display_name: String,
    pub(crate) edited_ms: Option<i64>,
    pub(crate) deleted_ms: Option<i64>,
    pub(crate) metadata: Option<Map<String, Value>>,
}

impl Message {
    /// The version the message had at stamp `t` (`None` if it did not exist yet).
    pub(crate) fn version_at(&self, t: i64) -> Option<i64> {
        let n = self.versions.partition_point(|v| *v <= t);
        n.checked_sub(1).map(|i| self.versions[i])
    }
}

/// A read receipt: the latest message a user has read.
#[derive(Clone, Debug)]
pub(crate) struct Receipt {
    pub(crate) user: String,
    pub(crate) message_id: i64,
    pub(crate) read_ms: i64,
}

/// What a metadata patch would leave: each key in `patch` takes its value, except that an
/// empty string removes the key. A thread's and a message's metadata are patched the same way,
/// and the 1 KB limit holds for the merged result, since that is what is stored.
pub(crate) fn merge_metadata(
    metadata: Option<&Map<String, Value>>,
    patch: Map<String, Value>,
    what: &str,
) -> Result<Map<String, Value>, crate::wire::ApiError> {
    let mut merged = metadata.cloned().unwrap_or_default();
    for (k, v) in patch {
        if v.as_str().is_some_and(str::is_empty) {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    crate::wire::check_metadata_size(&merged, what)?;
    Ok(merged)
}

/// One chat thread.
#[derive(Debug)]
pub(crate) struct Thread {
    pub(crate) id: String,
    pub(crate) topic: String,
    pub(crate) created_ms: i64,
    pub(crate) created_by: String,
    pub(crate) deleted_ms: Option<i64>,
    pub(crate) metadata: Option<Map<String, Value>>,
    /// `None` = `{"kind":"none"}`; otherwise the policy object as stored.
    pub(crate) retention: Option<Value>,
    pub(crate) participants: Vec<Participant>,
    /// In `sequenceId` order (and so in id order).
    pub(crate) messages: Vec<Message>,
    pub(crate) by_id: HashMap<i64, usize>,
    /// (version, id) → index into `messages`: the listing order.
    pub(crate) by_version: BTreeMap<(i64, i64), usize>,
    pub(crate) receipts: Vec<Receipt>,
}

impl Thread {
    pub(crate) fn new(id: String, topic: String, created_ms: i64, created_by: String) -> Thread {
        Thread {
            id,
            topic,
            created_ms,
            created_by,
            deleted_ms: None,
            metadata: None,
            retention: None,
            participants: Vec::new(),
            messages: Vec::new(),
            by_id: HashMap::new(),
            by_version: BTreeMap::new(),
            receipts: Vec::new(),
        }
    }

    pub(crate) fn participant(&self, user: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == user)
    }

    /// Appends a message stamped by `clock`; returns its id.
    pub(crate) fn push(
        &mut self,
        clock: &Clock,
        content: Content,
        sender: Option<String>,
        sender_display_name: String,
        metadata: Option<Map<String, Value>>,
    ) -> i64 {
        let id = clock.next();
        let idx = self.messages.len();
        self.messages.push(Message {
            id,
            sequence_id: idx as u64 + 1,
            version: id,
            versions: vec![id],
            content,
            sender,
            sender_display_name,
            edited_ms: None,
            deleted_ms: None,
            metadata,
        });
        self.by_id.insert(id, idx);
        self.by_version.insert((id, id), idx);
        id
    }

    /// Gives message `idx` a new version (edit or delete); returns the stamp.
    pub(crate) fn bump(&mut self, clock: &Clock, idx: usize) -> i64 {
        let stamp = clock.next();
        if let Some(m) = self.messages.get_mut(idx) {
            self.by_version.remove(&(m.version, m.id));
            m.version = stamp;
            m.versions.push(stamp);
            self.by_version.insert((stamp, m.id), idx);
        }
        stamp
    }

    /// Frees what a deleted thread no longer needs: its messages, receipts and metadata. The
    /// participants stay (a repeated delete is checked against them, as for a live thread).
    pub(crate) fn free_contents(&mut self) {
        self.messages = Vec::new();
        self.by_id = HashMap::new();
        self.by_version = BTreeMap::new();
        self.receipts = Vec::new();
        self.metadata = None;
        self.retention = None;
        for p in &mut self.participants {
            p.metadata = None;
            p.display_name = None;
        }
    }

    /// Stamp of the newest message at or before `t` (the thread's activity as of `t`).
    pub(crate) fn activity_at(&self, t: i64) -> i64 {
        let n = self.messages.partition_point(|m| m.id <= t);
        match n.checked_sub(1) {
            Some(i) => self.messages[i].id,
            None => self.created_ms,
        }
    }

    /// Stamp of the newest message.
    pub(crate) fn last_activity(&self) -> i64 {
        self.messages.last().map_or(self.created_ms, |m| m.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_message(text: &str) -> Content {
        Content::User {
            html: false,
            message: text.into(),
        }
    }

    #[test]
    fn clock_is_strictly_increasing_across_threads() {
        let clock = Arc::new(Clock::default());
        let stamps: Vec<i64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let c = Arc::clone(&clock);
                    s.spawn(move || (0..1000).map(|_| c.next()).collect::<Vec<_>>())
                })
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let unique: std::collections::HashSet<_> = stamps.iter().collect();
        assert_eq!(unique.len(), 4000, "duplicate stamps");
        assert_eq!(clock.current(), *stamps.iter().max().unwrap_or(&0));
    }

    #[test]
    fn bump_keeps_version_history_and_index() {
        let clock = Clock::default();
        let mut t = Thread::new(
            "19:t@thread.v2".into(),
            "t".into(),
            clock.next(),
            "u".into(),
        );
        let id = t.push(
            &clock,
            user_message("a"),
            Some("u".into()),
            String::new(),
            None,
        );
        let snapshot = clock.current();
        let v2 = t.bump(&clock, 0);
        let m = &t.messages[0];
        assert_eq!(m.versions, vec![id, v2]);
        assert_eq!(m.version_at(snapshot), Some(id));
        assert_eq!(m.version_at(v2), Some(v2));
        assert_eq!(m.version_at(id - 1), None);
        assert_eq!(
            t.by_version.keys().copied().collect::<Vec<_>>(),
            vec![(v2, id)]
        );
    }

    #[test]
    fn activity_at_ignores_later_messages() {
        let clock = Clock::default();
        let created = clock.next();
        let mut t = Thread::new("19:t@thread.v2".into(), "t".into(), created, "u".into());
        assert_eq!(t.activity_at(created), created);
        let first = t.push(&clock, user_message("a"), None, String::new(), None);
        let second = t.push(&clock, user_message("b"), None, String::new(), None);
        assert_eq!(t.activity_at(first), first);
        assert_eq!(t.activity_at(second), second);
        assert_eq!(t.last_activity(), second);
        assert_eq!(t.messages[1].sequence_id, 2);
    }
}
