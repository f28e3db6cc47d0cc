//! What the store holds: threads, their participants, messages and read receipts.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::clock::Clock;

/// A thread member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Participant {
    pub(crate) id: String,
    pub(crate) display_name: Option<String>,
    /// Epoch ms; 0 = the whole history.
    pub(crate) share_history_ms: i64,
    pub(crate) metadata: Option<Map<String, Value>>,
}

impl Participant {
    /// A participant with no display name, metadata or history limit.
    pub(crate) fn bare(id: &str) -> Participant {
        Participant {
            id: id.to_string(),
            display_name: None,
            share_history_ms: 0,
            metadata: None,
        }
    }
}

/// What a message holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Receipt {
    pub(crate) user: String,
    pub(crate) message_id: i64,
    pub(crate) read_ms: i64,
}

/// A thread's own properties (what `ChatThreadProperties` shows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ThreadProps {
    pub(crate) id: String,
    pub(crate) topic: String,
    pub(crate) created_ms: i64,
    pub(crate) created_by: String,
    pub(crate) deleted_ms: Option<i64>,
    pub(crate) metadata: Option<Map<String, Value>>,
    /// `None` = `{"kind":"none"}`; otherwise the policy object as stored.
    pub(crate) retention: Option<Value>,
}

/// One chat thread.
#[derive(Debug)]
pub(crate) struct Thread {
    pub(crate) props: ThreadProps,
    pub(crate) participants: Vec<Participant>,
    /// In `sequenceId` order (and so in id order).
    pub(crate) messages: Vec<Message>,
    pub(crate) by_id: HashMap<i64, usize>,
    /// (version, id) → index into `messages`: the listing order.
    pub(crate) by_version: BTreeMap<(i64, i64), usize>,
    pub(crate) receipts: Vec<Receipt>,
}

impl Thread {
    pub(crate) fn new(props: ThreadProps) -> Thread {
        Thread {
            props,
            participants: Vec::new(),
            messages: Vec::new(),
            by_id: HashMap::new(),
            by_version: BTreeMap::new(),
            receipts: Vec::new(),
        }
    }

    /// A thread as a persistent backend stored it: `messages` in `sequenceId` order.
    pub(crate) fn restore(
        props: ThreadProps,
        participants: Vec<Participant>,
        messages: Vec<Message>,
        receipts: Vec<Receipt>,
    ) -> Thread {
        let mut t = Thread::new(props);
        t.participants = participants;
        t.receipts = receipts;
        for (idx, m) in messages.iter().enumerate() {
            t.by_id.insert(m.id, idx);
            t.by_version.insert((m.version, m.id), idx);
        }
        t.messages = messages;
        t
    }

    /// The largest stamp the thread holds (creation, deletion, message versions, receipts).
    pub(crate) fn last_stamp(&self) -> i64 {
        let messages = self.messages.iter().map(|m| m.version.max(m.id));
        let receipts = self.receipts.iter().map(|r| r.read_ms);
        messages
            .chain(receipts)
            .chain(self.props.deleted_ms)
            .fold(self.props.created_ms, i64::max)
    }

    pub(crate) fn participant(&self, user: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == user)
    }

    /// The ids of the participants now: who an event of this moment goes to.
    pub(crate) fn recipients(&self) -> Vec<String> {
        self.participants.iter().map(|p| p.id.clone()).collect()
    }

    /// Whether `user` may see `m` (its `shareHistoryTime` hides older messages).
    pub(crate) fn visible(&self, user: &str, m: &Message) -> bool {
        self.participant(user)
            .is_some_and(|p| m.id >= p.share_history_ms)
    }

    /// Appends a message stamped by `clock`; returns its index.
    pub(crate) fn push(
        &mut self,
        clock: &Clock,
        content: Content,
        sender: Option<String>,
        sender_display_name: String,
        metadata: Option<Map<String, Value>>,
    ) -> usize {
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
        idx
    }

    /// Takes back the last message pushed (its write failed, so it was never acknowledged).
    pub(crate) fn pop_last(&mut self) {
        if let Some(m) = self.messages.pop() {
            self.by_id.remove(&m.id);
            self.by_version.remove(&(m.version, m.id));
        }
    }

    /// Appends a system message (no sender).
    pub(crate) fn push_system(&mut self, clock: &Clock, content: Content) -> usize {
        self.push(clock, content, None, String::new(), None)
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
        self.props.metadata = None;
        self.props.retention = None;
        for p in &mut self.participants {
            p.metadata = None;
            p.display_name = None;
        }
    }

    /// What a mutation may change, taken before it changes anything, so a mutation whose
    /// write failed can be taken back with [`roll_back`](Self::roll_back). `touched` is the
    /// index of an existing message the mutation edits (its new messages are only appended).
    /// Copies the properties, participants and receipts (at most 250 each), never the
    /// message history.
    pub(crate) fn checkpoint(&self, touched: Option<usize>) -> Checkpoint {
        Checkpoint {
            props: self.props.clone(),
            participants: self.participants.clone(),
            receipts: self.receipts.clone(),
            len: self.messages.len(),
            touched: touched.and_then(|i| self.messages.get(i).map(|m| (i, m.clone()))),
        }
    }

    /// Puts the thread back as it was at `cp`: messages appended since are removed, the
    /// touched message gets its old version (and its place in the listing order) back.
    pub(crate) fn roll_back(&mut self, cp: Checkpoint) {
        while self.messages.len() > cp.len {
            self.pop_last();
        }
        if let Some((idx, old)) = cp.touched {
            if let Some(m) = self.messages.get_mut(idx) {
                self.by_version.remove(&(m.version, m.id));
                self.by_version.insert((old.version, old.id), idx);
                *m = old;
            }
        }
        self.props = cp.props;
        self.participants = cp.participants;
        self.receipts = cp.receipts;
    }

    /// Stamp of the newest message at or before `t` (the thread's activity as of `t`).
    pub(crate) fn activity_at(&self, t: i64) -> i64 {
        let n = self.messages.partition_point(|m| m.id <= t);
        match n.checked_sub(1) {
            Some(i) => self.messages[i].id,
            None => self.props.created_ms,
        }
    }

    /// Stamp of the newest message.
    pub(crate) fn last_activity(&self) -> i64 {
        self.messages.last().map_or(self.props.created_ms, |m| m.id)
    }
}

/// A thread's state before a mutation: see [`Thread::checkpoint`].
#[derive(Debug)]
pub(crate) struct Checkpoint {
    props: ThreadProps,
    participants: Vec<Participant>,
    receipts: Vec<Receipt>,
    len: usize,
    touched: Option<(usize, Message)>,
}

/// What a metadata patch would leave: each key in `patch` takes its value, except that an
/// empty string removes the key. A thread's and a message's metadata are patched the same way.
pub(crate) fn merge_metadata(
    metadata: Option<&Map<String, Value>>,
    patch: Map<String, Value>,
) -> Map<String, Value> {
    let mut merged = metadata.cloned().unwrap_or_default();
    for (k, v) in patch {
        if v.as_str().is_some_and(str::is_empty) {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    merged
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

    fn thread(clock: &Clock) -> Thread {
        Thread::new(ThreadProps {
            id: "19:t@thread.v2".into(),
            topic: "t".into(),
            created_ms: clock.next(),
            created_by: "u".into(),
            deleted_ms: None,
            metadata: None,
            retention: None,
        })
    }

    #[test]
    fn bump_keeps_version_history_and_index() {
        let clock = Clock::default();
        let mut t = thread(&clock);
        let idx = t.push(
            &clock,
            user_message("a"),
            Some("u".into()),
            String::new(),
            None,
        );
        let id = t.messages[idx].id;
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
        let mut t = thread(&clock);
        let created = t.props.created_ms;
        assert_eq!(t.activity_at(created), created);
        let a = t.push_system(&clock, user_message("a"));
        let b = t.push_system(&clock, user_message("b"));
        let (first, second) = (t.messages[a].id, t.messages[b].id);
        assert_eq!(t.activity_at(first), first);
        assert_eq!(t.activity_at(second), second);
        assert_eq!(t.last_activity(), second);
        assert_eq!(t.messages[1].sequence_id, 2);
    }

    /// A patch sets keys and removes those given an empty value.
    #[test]
    fn merge_metadata_sets_and_removes_keys() {
        let mut current = Map::new();
        current.insert("a".into(), Value::from("1"));
        current.insert("b".into(), Value::from("2"));
        let mut patch = Map::new();
        patch.insert("a".into(), Value::from(""));
        patch.insert("c".into(), Value::from("3"));
        let merged = merge_metadata(Some(&current), patch);
        assert_eq!(
            Value::Object(merged),
            serde_json::json!({"b": "2", "c": "3"})
        );
    }
}
