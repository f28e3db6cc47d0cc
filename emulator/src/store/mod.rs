//! The chat state behind one API, like mini-redis's `Db`: every read and mutation of threads,
//! participants, messages and read receipts goes through [`ChatStore`], and every mutation
//! returns the [`ChatEvent`]s it caused. Handlers parse a request, call one method and render
//! what it returns. With a data directory every mutation also writes what it changed to the
//! database (`crate::persist`) before it returns, while it still holds the thread's lock.
//!
//! Locking: one `RwLock` over the thread map (held only to find or insert a thread) and one
//! `Mutex` per thread (held for the duration of one operation, never across an await). A
//! poisoned lock is recovered, not propagated: one failed request must not stop the server.
//!
//! Access rules live here too: a thread is seen only by its participants, and a caller's
//! token scopes ([`ChatAccess`]) decide what it may change.

mod clock;
pub(crate) mod event;
mod inspect;
mod listing;
pub(crate) mod model;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde_json::{Map, Value};

use crate::auth::{Caller, ChatAccess};
use crate::persist::{self, Persist};
use crate::wire::metadata_fits;
pub(crate) use clock::{Clock, Sequence};
pub(crate) use event::{ChatEvent, EventKind, MessageSnapshot};
use listing::list_messages_in;
pub(crate) use listing::{Listing, Page, ThreadRow};
pub(crate) use model::{merge_metadata, Content, Message, Participant, Receipt, ThreadProps};
use model::{Checkpoint, Thread};

/// The most participants one create-thread or add-participants request may carry (the
/// service's documented batch limit).
pub(crate) const MAX_PARTICIPANTS_PER_REQUEST: usize = 200;

/// The most participants one thread may have (the service's documented size limit).
pub(crate) const MAX_PARTICIPANTS_PER_THREAD: usize = 250;

/// The most bytes (UTF-8) of content and sender display name together one message may hold:
/// the service's "28 KB" message size. Metadata has its own 1 KB limit.
pub(crate) const MAX_MESSAGE_BYTES: usize = 28 * 1024;

/// Locks a mutex, recovering from poisoning.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why the store refused an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StoreError {
    /// No such thread, or it was deleted.
    ThreadNotFound,
    /// No such message, or the caller may not see it.
    MessageNotFound,
    /// The caller is not a participant, lacks the scope, or does not own the message.
    Forbidden,
    /// What would be stored breaks a limit; the message says which.
    Invalid(String),
    /// The data directory's database refused the write; nothing was acknowledged.
    Storage(String),
}

/// A thread to create.
pub(crate) struct NewThread {
    pub(crate) topic: String,
    pub(crate) participants: Vec<Participant>,
    pub(crate) metadata: Option<Map<String, Value>>,
    pub(crate) retention: Option<Value>,
}

/// What creating a thread produced (or produced the first time, for a repeated request).
pub(crate) struct Created {
    pub(crate) thread: ThreadProps,
    /// Raw ids of requested participants the resource never created, each once.
    pub(crate) invalid: Vec<String>,
    pub(crate) events: Vec<ChatEvent>,
}

/// A merge-patch of a thread's properties.
#[derive(Default)]
pub(crate) struct ThreadPatch {
    pub(crate) topic: Option<String>,
    /// `Some(None)` clears the metadata; `Some(Some(patch))` merges.
    pub(crate) metadata: Option<Option<Map<String, Value>>>,
    /// `Some(None)` resets to `{"kind":"none"}`.
    pub(crate) retention: Option<Option<Value>>,
}

/// A user message to send.
pub(crate) struct NewMessage {
    pub(crate) html: bool,
    pub(crate) content: String,
    pub(crate) sender_display_name: String,
    pub(crate) metadata: Option<Map<String, Value>>,
}

/// A merge-patch of a message.
pub(crate) struct MessagePatch {
    pub(crate) content: Option<String>,
    pub(crate) metadata: Option<Map<String, Value>>,
}

/// (caller, `repeatability-request-id`).
type IdempotencyKey = (String, String);

/// Every thread, create-thread idempotency records, and the stamp clock.
#[derive(Default)]
pub(crate) struct ChatStore {
    threads: RwLock<HashMap<String, Arc<Mutex<Thread>>>>,
    /// (caller, repeatability-request-id) → (thread id, invalid participants of the original).
    idempotency: Mutex<HashMap<IdempotencyKey, (String, Vec<String>)>>,
    clock: Clock,
    /// With a data directory: where every mutation is written before it returns.
    persist: Option<Arc<Persist>>,
}

fn require(caller: &Caller, access: ChatAccess) -> Result<(), StoreError> {
    if caller.permits(access) {
        Ok(())
    } else {
        Err(StoreError::Forbidden)
    }
}

fn check_metadata(m: &Map<String, Value>, what: &str) -> Result<(), StoreError> {
    if metadata_fits(m) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} must not exceed 1 KB in total."
        )))
    }
}

fn check_message_size(content: &str, sender_display_name: &str) -> Result<(), StoreError> {
    if content.len() + sender_display_name.len() > MAX_MESSAGE_BYTES {
        return Err(StoreError::Invalid("Message size exceeded.".into()));
    }
    Ok(())
}

/// Index of message `mid` in `t`, if `user` may see it.
fn find(t: &Thread, user: &str, mid: &str) -> Result<usize, StoreError> {
    let id: i64 = mid.parse().map_err(|_| StoreError::MessageNotFound)?;
    let idx = *t.by_id.get(&id).ok_or(StoreError::MessageNotFound)?;
    match t.messages.get(idx) {
        Some(m) if t.visible(user, m) => Ok(idx),
        _ => Err(StoreError::MessageNotFound),
    }
}

/// The caller's own user message `mid`.
fn own_message(t: &Thread, user: &str, mid: &str) -> Result<usize, StoreError> {
    let idx = find(t, user, mid)?;
    match t.messages.get(idx) {
        Some(m) if m.sender.as_deref() == Some(user) => Ok(idx),
        Some(_) => Err(StoreError::Forbidden),
        None => Err(StoreError::MessageNotFound),
    }
}

/// `19:` + 44 characters + `@thread.v2`, like the service's ids.
fn new_thread_id() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("19:{}1@thread.v2", URL_SAFE_NO_PAD.encode(&bytes))
}

impl ChatStore {
    /// A store that writes through to `db`, holding everything `db` holds; the clock resumes
    /// after the largest stamp stored.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(crate) fn open(db: Arc<Persist>) -> std::io::Result<ChatStore> {
        let (threads, idem) = db.load_chat()?;
        let stored_clock = db
            .meta("clock")?
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let last = threads
            .iter()
            .map(Thread::last_stamp)
            .fold(stored_clock, i64::max);
        let threads = threads
            .into_iter()
            .map(|t| (t.props.id.clone(), Arc::new(Mutex::new(t))))
            .collect();
        Ok(ChatStore {
            threads: RwLock::new(threads),
            idempotency: Mutex::new(idem.into_iter().collect()),
            clock: Clock::seeded(last),
            persist: Some(db),
        })
    }

    /// Writes what `f` writes, and the clock, in one transaction (nothing without a data
    /// directory). Called with the changed thread's lock held, so writes keep its order.
    fn save(
        &self,
        what: &str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        match &self.persist {
            None => Ok(()),
            Some(db) => db
                .write(what, |tx| {
                    f(tx)?;
                    persist::put_clock(tx, self.clock.current())
                })
                .map_err(StoreError::Storage),
        }
    }

    /// Writes thread `t`'s own row and its messages from index `from` on; when the write
    /// fails, puts `t` back as it was at `cp`, so memory never runs ahead of the database.
    fn commit_thread(
        &self,
        what: &str,
        t: &mut Thread,
        cp: Checkpoint,
        from: usize,
    ) -> Result<(), StoreError> {
        let saved = self.save_thread(what, t, from);
        if saved.is_err() {
            t.roll_back(cp);
        }
        saved
    }

    /// Writes message `idx` of `t`; when the write fails, puts `t` back as it was at `cp`.
    fn commit_message(
        &self,
        what: &str,
        t: &mut Thread,
        cp: Checkpoint,
        idx: usize,
    ) -> Result<(), StoreError> {
        let saved = self.save_message(what, t, idx);
        if saved.is_err() {
            t.roll_back(cp);
        }
        saved
    }

    /// Writes thread `t`'s own row and its messages from index `from` on.
    fn save_thread(&self, what: &str, t: &Thread, from: usize) -> Result<(), StoreError> {
        self.save(what, |tx| {
            persist::put_thread(tx, t)?;
            t.messages
                .iter()
                .skip(from)
                .try_for_each(|m| persist::put_message(tx, &t.props.id, m))
        })
    }

    /// Writes message `idx` of `t`.
    fn save_message(&self, what: &str, t: &Thread, idx: usize) -> Result<(), StoreError> {
        match t.messages.get(idx) {
            Some(m) => self.save(what, |tx| persist::put_message(tx, &t.props.id, m)),
            None => Ok(()),
        }
    }

    fn get(&self, id: &str) -> Option<Arc<Mutex<Thread>>> {
        self.threads
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn all(&self) -> Vec<Arc<Mutex<Thread>>> {
        self.threads
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Runs `f` on thread `tid` if it exists, is not deleted and `user` takes part in it.
    fn with_member<R>(
        &self,
        tid: &str,
        user: &str,
        f: impl FnOnce(&mut Thread) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let handle = self.get(tid).ok_or(StoreError::ThreadNotFound)?;
        let mut t = lock(&handle);
        if t.props.deleted_ms.is_some() {
            return Err(StoreError::ThreadNotFound);
        }
        if t.participant(user).is_none() {
            return Err(StoreError::Forbidden);
        }
        f(&mut t)
    }

    /// Checks, before a request body is read, that thread `tid` is live, the caller takes part
    /// in it and its scopes allow `access`: the order the service answers in.
    pub(crate) fn authorize(
        &self,
        tid: &str,
        caller: &Caller,
        access: ChatAccess,
    ) -> Result<(), StoreError> {
        self.with_member(tid, &caller.user_id, |_| require(caller, access))
    }

    /// Messages held in memory, in every thread (deleted threads hold none).
    pub(crate) fn message_count(&self) -> usize {
        self.all().iter().map(|t| lock(t).messages.len()).sum()
    }

    /// Creates a thread with the caller and every requested participant `user_exists` knows;
    /// the others are reported. With an idempotency `key` the caller used before, returns the
    /// thread that request created, unchanged, and no events.
    pub(crate) fn create_thread(
        &self,
        caller: &Caller,
        new: NewThread,
        key: Option<String>,
        user_exists: &dyn Fn(&str) -> bool,
    ) -> Result<Created, StoreError> {
        require(caller, ChatAccess::ManageThread)?;
        if new.participants.len() > MAX_PARTICIPANTS_PER_REQUEST {
            return Err(too_many_participants(new.participants.len()));
        }
        let me = caller.user_id.clone();
        let key = key.map(|k| (me.clone(), k));
        // Held across the creation so two concurrent requests with one key create one thread.
        let mut idem = lock(&self.idempotency);
        if let Some((tid, invalid)) = key.as_ref().and_then(|k| idem.get(k)) {
            if let Some(handle) = self.get(tid) {
                return Ok(Created {
                    thread: lock(&handle).props.clone(),
                    invalid: invalid.clone(),
                    events: Vec::new(),
                });
            }
        }
        let mut present = HashSet::new();
        let (mut members, invalid) = sort_participants(new.participants, &mut present, user_exists);
        if !present.contains(&me) {
            members.insert(0, Participant::bare(&me));
        }
        let created_ms = self.clock.next();
        let mut t = Thread::new(ThreadProps {
            id: new_thread_id(),
            topic: new.topic.clone(),
            created_ms,
            created_by: me.clone(),
            deleted_ms: None,
            metadata: new.metadata,
            retention: new.retention,
        });
        t.participants = members.clone();
        t.push_system(
            &self.clock,
            Content::Members {
                added: true,
                participants: members.clone(),
                initiator: me.clone(),
            },
        );
        t.push_system(
            &self.clock,
            Content::Topic {
                topic: new.topic,
                initiator: me.clone(),
            },
        );
        let event = ChatEvent::in_thread(
            &t,
            EventKind::ThreadCreated {
                properties: t.props.clone(),
                participants: members,
            },
            &me,
            created_ms,
        );
        let props = t.props.clone();
        self.save(&format!("create thread {}", props.id), |tx| {
            persist::put_thread(tx, &t)?;
            for m in &t.messages {
                persist::put_message(tx, &props.id, m)?;
            }
            match &key {
                Some((caller, request)) => {
                    persist::put_idempotency(tx, caller, request, &props.id, &invalid)
                }
                None => Ok(()),
            }
        })?;
        if let Some(k) = key {
            idem.insert(k, (props.id.clone(), invalid.clone()));
        }
        self.threads
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(props.id.clone(), Arc::new(Mutex::new(t)));
        Ok(Created {
            thread: props,
            invalid,
            events: vec![event],
        })
    }

    /// The threads `user` takes part in, most recently active first, as of the listing's
    /// snapshot.
    pub(crate) fn list_threads(&self, user: &str, q: &Listing) -> Page<ThreadRow> {
        let snapshot = q.snapshot.unwrap_or_else(|| self.clock.current());
        let mut rows: Vec<(i64, ThreadRow)> = Vec::new();
        for handle in self.all() {
            let t = lock(&handle);
            if t.props.deleted_ms.is_some()
                || t.props.created_ms > snapshot
                || t.participant(user).is_none()
            {
                continue;
            }
            let key = t.activity_at(snapshot);
            if q.start_ms.is_some_and(|s| key < s) {
                continue;
            }
            if let Some((k, tie)) = &q.after {
                if (key, t.props.id.as_str()) >= (*k, tie.as_str()) {
                    continue;
                }
            }
            rows.push((
                key,
                ThreadRow {
                    thread: t.props.clone(),
                    last_activity_ms: t.last_activity(),
                },
            ));
        }
        rows.sort_by(|a, b| (b.0, &b.1.thread.id).cmp(&(a.0, &a.1.thread.id)));
        let more = rows.len() > q.max;
        rows.truncate(q.max);
        let next = if more {
            rows.last().map(|(k, r)| (*k, r.thread.id.clone()))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(|r| r.1).collect(),
            snapshot,
            next,
        }
    }

    /// Thread `tid`'s properties.
    pub(crate) fn get_thread(&self, tid: &str, user: &str) -> Result<ThreadProps, StoreError> {
        self.with_member(tid, user, |t| Ok(t.props.clone()))
    }

    /// Applies `patch` (nothing changes when any part is refused); a new topic also posts a
    /// `topicUpdated` message.
    pub(crate) fn update_thread(
        &self,
        tid: &str,
        caller: &Caller,
        patch: ThreadPatch,
    ) -> Result<Vec<ChatEvent>, StoreError> {
        let me = &caller.user_id;
        self.with_member(tid, me, |t| {
            require(caller, ChatAccess::ManageThread)?;
            let cp = t.checkpoint(None);
            let metadata = match patch.metadata {
                None => None,
                Some(None) => Some(None),
                Some(Some(p)) => {
                    let merged = merge_metadata(t.props.metadata.as_ref(), p);
                    check_metadata(&merged, "Thread metadata")?;
                    Some(Some(merged))
                }
            };
            let changed = metadata.is_some() || patch.retention.is_some() || patch.topic.is_some();
            if let Some(md) = metadata {
                t.props.metadata = md;
            }
            if let Some(r) = patch.retention {
                t.props.retention = r;
            }
            let first_new = t.messages.len();
            if let Some(topic) = patch.topic {
                t.props.topic = topic.clone();
                t.push_system(
                    &self.clock,
                    Content::Topic {
                        topic,
                        initiator: me.clone(),
                    },
                );
            }
            if !changed {
                return Ok(Vec::new());
            }
            let stamp = self.clock.next();
            self.commit_thread(&format!("update thread {tid}"), t, cp, first_new)?;
            let kind = EventKind::ThreadPropertiesUpdated {
                properties: t.props.clone(),
            };
            Ok(vec![ChatEvent::in_thread(t, kind, me, stamp)])
        })
    }

    /// Deletes thread `tid` and frees its contents. The participant and scope checks come
    /// first, for a deleted thread as for a live one; deleting it again succeeds and changes
    /// nothing.
    pub(crate) fn delete_thread(
        &self,
        tid: &str,
        caller: &Caller,
    ) -> Result<Vec<ChatEvent>, StoreError> {
        let handle = self.get(tid).ok_or(StoreError::ThreadNotFound)?;
        let mut t = lock(&handle);
        if t.participant(&caller.user_id).is_none() {
            return Err(StoreError::Forbidden);
        }
        require(caller, ChatAccess::ManageThread)?;
        if t.props.deleted_ms.is_some() {
            return Ok(Vec::new());
        }
        let stamp = self.clock.next();
        // Written first, applied after: the deleted thread is built aside (without copying
        // the messages), so a failed write leaves the live thread untouched.
        let mut gone = Thread::new(ThreadProps {
            deleted_ms: Some(stamp),
            ..t.props.clone()
        });
        gone.participants = t.participants.clone();
        gone.free_contents();
        self.save(&format!("delete thread {tid}"), |tx| {
            persist::put_thread(tx, &gone)?;
            persist::delete_messages(tx, &gone.props.id)
        })?;
        *t = gone;
        let event = ChatEvent::in_thread(&t, EventKind::ThreadDeleted, &caller.user_id, stamp);
        Ok(vec![event])
    }

    /// Posts a user message; returns its id.
    pub(crate) fn send_message(
        &self,
        tid: &str,
        caller: &Caller,
        new: NewMessage,
    ) -> Result<(i64, Vec<ChatEvent>), StoreError> {
        let me = &caller.user_id;
        check_message_size(&new.content, &new.sender_display_name)?;
        self.with_member(tid, me, |t| {
            let idx = t.push(
                &self.clock,
                Content::User {
                    html: new.html,
                    message: new.content,
                },
                Some(me.clone()),
                new.sender_display_name,
                new.metadata,
            );
            if let Err(e) = self.save_message(&format!("send message to {tid}"), t, idx) {
                t.pop_last();
                return Err(e);
            }
            let m = &t.messages[idx];
            let (id, snapshot) = (m.id, MessageSnapshot::of(m));
            let event = ChatEvent::in_thread(t, EventKind::MessageReceived(snapshot), me, id);
            Ok((id, vec![event]))
        })
    }

    /// Messages `user` may see, newest `version` first, as of the listing's snapshot: a
    /// message changed after the snapshot is listed where it was then.
    pub(crate) fn list_messages(
        &self,
        tid: &str,
        user: &str,
        q: &Listing,
    ) -> Result<Page<Message>, StoreError> {
        self.with_member(tid, user, |t| {
            let snapshot = q.snapshot.unwrap_or_else(|| self.clock.current());
            Ok(list_messages_in(t, user, q, snapshot))
        })
    }

    /// Message `mid`, if `user` may see it.
    pub(crate) fn get_message(
        &self,
        tid: &str,
        user: &str,
        mid: &str,
    ) -> Result<Message, StoreError> {
        self.with_member(tid, user, |t| {
            let idx = find(t, user, mid)?;
            t.messages
                .get(idx)
                .cloned()
                .ok_or(StoreError::MessageNotFound)
        })
    }

    /// Edits the caller's own message (nothing changes when any part is refused).
    pub(crate) fn update_message(
        &self,
        tid: &str,
        caller: &Caller,
        mid: &str,
        patch: MessagePatch,
    ) -> Result<Vec<ChatEvent>, StoreError> {
        let me = &caller.user_id;
        self.with_member(tid, me, |t| {
            let idx = own_message(t, me, mid)?;
            let m = t.messages.get(idx).ok_or(StoreError::MessageNotFound)?;
            if m.deleted_ms.is_some() {
                return Err(StoreError::MessageNotFound);
            }
            if let Some(c) = &patch.content {
                check_message_size(c, &m.sender_display_name)?;
            }
            if patch.content.is_none() && patch.metadata.is_none() {
                return Ok(Vec::new());
            }
            let metadata = match patch.metadata {
                Some(p) => {
                    let merged = merge_metadata(m.metadata.as_ref(), p);
                    check_metadata(&merged, "Message metadata")?;
                    Some(merged)
                }
                None => None,
            };
            let cp = t.checkpoint(Some(idx));
            let stamp = t.bump(&self.clock, idx);
            let m = t.messages.get_mut(idx).ok_or(StoreError::MessageNotFound)?;
            if let (Some(c), Content::User { message, .. }) = (patch.content, &mut m.content) {
                *message = c;
            }
            if let Some(md) = metadata {
                m.metadata = Some(md);
            }
            m.edited_ms = Some(stamp);
            self.commit_message(&format!("update message {mid} in {tid}"), t, cp, idx)?;
            Ok(message_event(t, idx, EventKind::MessageEdited, me, stamp))
        })
    }

    /// Deletes the caller's own message; deleting it again succeeds and changes nothing.
    pub(crate) fn delete_message(
        &self,
        tid: &str,
        caller: &Caller,
        mid: &str,
    ) -> Result<Vec<ChatEvent>, StoreError> {
        let me = &caller.user_id;
        self.with_member(tid, me, |t| {
            let idx = own_message(t, me, mid)?;
            if t.messages.get(idx).is_some_and(|m| m.deleted_ms.is_some()) {
                return Ok(Vec::new());
            }
            let cp = t.checkpoint(Some(idx));
            let stamp = t.bump(&self.clock, idx);
            let m = t.messages.get_mut(idx).ok_or(StoreError::MessageNotFound)?;
            m.deleted_ms = Some(stamp);
            self.commit_message(&format!("delete message {mid} in {tid}"), t, cp, idx)?;
            Ok(message_event(t, idx, EventKind::MessageDeleted, me, stamp))
        })
    }

    /// The thread's participants, in the order they joined.
    pub(crate) fn participants(
        &self,
        tid: &str,
        user: &str,
    ) -> Result<Vec<Participant>, StoreError> {
        self.with_member(tid, user, |t| Ok(t.participants.clone()))
    }

    /// Adds every participant `user_exists` knows and the thread does not have yet; returns
    /// the raw ids of the unknown ones, each once.
    pub(crate) fn add_participants(
        &self,
        tid: &str,
        caller: &Caller,
        wanted: Vec<Participant>,
        user_exists: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<String>, Vec<ChatEvent>), StoreError> {
        let me = &caller.user_id;
        if wanted.len() > MAX_PARTICIPANTS_PER_REQUEST {
            return Err(too_many_participants(wanted.len()));
        }
        self.with_member(tid, me, |t| {
            require(caller, ChatAccess::ManageParticipants)?;
            // Adding someone already in the thread changes nothing.
            let mut present = t.participants.iter().map(|p| p.id.clone()).collect();
            let (added, invalid) = sort_participants(wanted, &mut present, user_exists);
            if added.is_empty() {
                return Ok((invalid, Vec::new()));
            }
            if t.participants.len() + added.len() > MAX_PARTICIPANTS_PER_THREAD {
                return Err(StoreError::Invalid(format!(
                    "A chat thread can have at most {MAX_PARTICIPANTS_PER_THREAD} participants; \
                     it has {} and {} would be added.",
                    t.participants.len(),
                    added.len()
                )));
            }
            let cp = t.checkpoint(None);
            t.participants.extend(added.iter().cloned());
            let idx = t.push_system(
                &self.clock,
                Content::Members {
                    added: true,
                    participants: added.clone(),
                    initiator: me.clone(),
                },
            );
            let stamp = t.messages[idx].id;
            self.commit_thread(&format!("add participants to {tid}"), t, cp, idx)?;
            let events = added
                .into_iter()
                .map(|participant| {
                    ChatEvent::in_thread(t, EventKind::ParticipantAdded { participant }, me, stamp)
                })
                .collect();
            Ok((invalid, events))
        })
    }

    /// Removes participant `who`; removing someone who is not (or no longer) a participant
    /// succeeds and changes nothing, so a retried remove is harmless.
    pub(crate) fn remove_participant(
        &self,
        tid: &str,
        caller: &Caller,
        who: &str,
    ) -> Result<Vec<ChatEvent>, StoreError> {
        let me = &caller.user_id;
        self.with_member(tid, me, |t| {
            require(caller, ChatAccess::ManageParticipants)?;
            let Some(pos) = t.participants.iter().position(|p| p.id == who) else {
                return Ok(Vec::new());
            };
            let mut recipients = t.recipients();
            let cp = t.checkpoint(None);
            let participant = t.participants.remove(pos);
            let idx = t.push_system(
                &self.clock,
                Content::Members {
                    added: false,
                    participants: vec![participant.clone()],
                    initiator: me.clone(),
                },
            );
            let stamp = t.messages[idx].id;
            self.commit_thread(&format!("remove participant from {tid}"), t, cp, idx)?;
            let mut event =
                ChatEvent::in_thread(t, EventKind::ParticipantRemoved { participant }, me, stamp);
            // The one removed hears of it too.
            std::mem::swap(&mut event.recipients, &mut recipients);
            Ok(vec![event])
        })
    }

    /// Records that the caller read up to message `mid` (only the latest receipt per user is
    /// kept).
    pub(crate) fn send_read_receipt(
        &self,
        tid: &str,
        caller: &Caller,
        mid: &str,
    ) -> Result<Vec<ChatEvent>, StoreError> {
        let me = &caller.user_id;
        self.with_member(tid, me, |t| {
            let id: i64 = mid.parse().map_err(|_| StoreError::MessageNotFound)?;
            if !t.by_id.contains_key(&id) {
                return Err(StoreError::MessageNotFound);
            }
            let now = self.clock.next();
            let cp = t.checkpoint(None);
            match t.receipts.iter_mut().find(|r| &r.user == me) {
                Some(r) => {
                    r.message_id = id;
                    r.read_ms = now;
                }
                None => t.receipts.push(Receipt {
                    user: me.clone(),
                    message_id: id,
                    read_ms: now,
                }),
            }
            let from = t.messages.len();
            self.commit_thread(&format!("send read receipt in {tid}"), t, cp, from)?;
            let kind = EventKind::ReadReceipt { message_id: id };
            Ok(vec![ChatEvent::in_thread(t, kind, me, now)])
        })
    }

    /// The thread's read receipts, one per user.
    pub(crate) fn read_receipts(&self, tid: &str, user: &str) -> Result<Vec<Receipt>, StoreError> {
        self.with_member(tid, user, |t| Ok(t.receipts.clone()))
    }

    /// A typing notification from the caller (nothing is stored).
    pub(crate) fn typing(
        &self,
        tid: &str,
        caller: &Caller,
        sender_display_name: Option<String>,
    ) -> Result<Vec<ChatEvent>, StoreError> {
        let me = &caller.user_id;
        self.with_member(tid, me, |t| {
            let kind = EventKind::Typing {
                sender_display_name,
            };
            let now = chrono::Utc::now().timestamp_millis();
            let mut event = ChatEvent::in_thread(t, kind, me, now);
            // Typing changes no state, so it has no version of its own.
            event.version = t.last_activity();
            Ok(vec![event])
        })
    }
}

/// The event for message `idx` of `t` as it is now.
fn message_event(
    t: &Thread,
    idx: usize,
    kind: fn(MessageSnapshot) -> EventKind,
    actor: &str,
    stamp: i64,
) -> Vec<ChatEvent> {
    t.messages.get(idx).map_or_else(Vec::new, |m| {
        vec![ChatEvent::in_thread(
            t,
            kind(MessageSnapshot::of(m)),
            actor,
            stamp,
        )]
    })
}

fn too_many_participants(n: usize) -> StoreError {
    StoreError::Invalid(format!(
        "The number of participants in one request must not exceed \
         {MAX_PARTICIPANTS_PER_REQUEST}; this one has {n}."
    ))
}

/// Splits `wanted` into participants to add and raw ids the resource never created, each id
/// once (the first occurrence wins), skipping ids in `present`. Linear: one hash lookup per
/// participant.
fn sort_participants(
    wanted: Vec<Participant>,
    present: &mut HashSet<String>,
    user_exists: &dyn Fn(&str) -> bool,
) -> (Vec<Participant>, Vec<String>) {
    let mut seen_invalid = HashSet::new();
    let mut members = Vec::new();
    let mut invalid = Vec::new();
    for p in wanted {
        if !user_exists(&p.id) {
            if seen_invalid.insert(p.id.clone()) {
                invalid.push(p.id);
            }
        } else if present.insert(p.id.clone()) {
            members.push(p);
        }
    }
    (members, invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;

    fn caller(id: &str) -> Caller {
        Caller {
            user_id: id.to_string(),
            scopes: vec![Scope::Chat],
        }
    }

    fn known(_: &str) -> bool {
        true
    }

    /// A store with a thread created by `a` with `b` and `c`; returns the thread id.
    fn thread_of_three(store: &ChatStore) -> String {
        let new = NewThread {
            topic: "t".into(),
            participants: vec![Participant::bare("b"), Participant::bare("c")],
            metadata: None,
            retention: None,
        };
        let created = store
            .create_thread(&caller("a"), new, None, &known)
            .expect("create");
        assert_eq!(created.events.len(), 1, "create events");
        let e = &created.events[0];
        assert!(
            matches!(&e.kind, EventKind::ThreadCreated { participants, .. } if participants.len() == 3),
            "{e:?}"
        );
        assert_eq!(e.recipients, ["a", "b", "c"]);
        created.thread.id
    }

    /// A sent message is one event whose user-level recipients are all but the sender.
    #[test]
    fn send_message_event_fans_out_to_everyone_but_sender() {
        let store = ChatStore::default();
        let tid = thread_of_three(&store);
        let new = NewMessage {
            html: false,
            content: "hi".into(),
            sender_display_name: "B".into(),
            metadata: None,
        };
        let (id, events) = store.send_message(&tid, &caller("b"), new).expect("send");
        let [e] = events.as_slice() else {
            panic!("one event expected: {events:?}")
        };
        assert_eq!(
            (e.thread_id.as_str(), e.actor.as_str()),
            (tid.as_str(), "b")
        );
        assert_eq!(e.user_recipients().collect::<Vec<_>>(), ["a", "c"]);
        match &e.kind {
            EventKind::MessageReceived(m) => {
                assert_eq!((m.id, m.body.as_str(), m.sequence_id), (id, "hi", 3));
                assert_eq!(m.compose_ms, e.time_ms);
            }
            other => panic!("kind: {other:?}"),
        }
    }

    /// Edit and delete events carry the new version and content; a repeated delete has none.
    #[test]
    fn edit_and_delete_events_carry_new_versions_and_repeat_deletes_none() {
        let store = ChatStore::default();
        let tid = thread_of_three(&store);
        let new = NewMessage {
            html: true,
            content: "<b>x</b>".into(),
            sender_display_name: String::new(),
            metadata: None,
        };
        let (id, _) = store.send_message(&tid, &caller("a"), new).expect("send");
        let mid = id.to_string();
        let patch = MessagePatch {
            content: Some("<i>y</i>".into()),
            metadata: None,
        };
        let edited = store
            .update_message(&tid, &caller("a"), &mid, patch)
            .expect("edit");
        let deleted = store
            .delete_message(&tid, &caller("a"), &mid)
            .expect("delete");
        let again = store
            .delete_message(&tid, &caller("a"), &mid)
            .expect("delete again");
        match (&edited[0].kind, &deleted[0].kind) {
            (EventKind::MessageEdited(e), EventKind::MessageDeleted(d)) => {
                assert!(e.html && e.body == "<i>y</i>" && e.version > id, "{e:?}");
                assert!(d.body.is_empty() && d.version > e.version, "{d:?}");
            }
            other => panic!("kinds: {other:?}"),
        }
        assert!(
            again.is_empty(),
            "a repeated delete changed something: {again:?}"
        );
    }

    /// One event per participant added (not for one already there); a removal reaches the removed.
    #[test]
    fn participant_events_reach_the_removed_and_one_per_added() {
        let store = ChatStore::default();
        let tid = thread_of_three(&store);
        let wanted = vec![
            Participant::bare("d"),
            Participant::bare("e"),
            Participant::bare("b"),
        ];
        let (invalid, added) = store
            .add_participants(&tid, &caller("a"), wanted, &known)
            .expect("add");
        assert!(invalid.is_empty());
        let ids: Vec<_> = added
            .iter()
            .map(|e| match &e.kind {
                EventKind::ParticipantAdded { participant } => participant.id.as_str(),
                other => panic!("kind: {other:?}"),
            })
            .collect();
        assert_eq!(ids, ["d", "e"], "b was already there");
        let removed = store
            .remove_participant(&tid, &caller("a"), "c")
            .expect("remove");
        assert_eq!(removed[0].recipients, ["a", "b", "c", "d", "e"]);
        assert!(store
            .remove_participant(&tid, &caller("a"), "c")
            .expect("remove again")
            .is_empty());
    }

    /// Update, receipt, typing and delete each give their event; a deleted thread holds no messages.
    #[test]
    fn thread_events_for_update_delete_receipt_and_typing() {
        let store = ChatStore::default();
        let tid = thread_of_three(&store);
        let patch = ThreadPatch {
            topic: Some("new".into()),
            ..ThreadPatch::default()
        };
        let updated = store
            .update_thread(&tid, &caller("a"), patch)
            .expect("update");
        assert!(
            matches!(&updated[0].kind, EventKind::ThreadPropertiesUpdated { properties } if properties.topic == "new"),
            "{updated:?}"
        );
        let first = store
            .list_messages(
                &tid,
                "c",
                &Listing {
                    snapshot: None,
                    after: None,
                    start_ms: None,
                    max: 1,
                },
            )
            .expect("list");
        let mid = first.items[0].id.to_string();
        let read = store
            .send_read_receipt(&tid, &caller("c"), &mid)
            .expect("receipt");
        assert!(
            matches!(read[0].kind, EventKind::ReadReceipt { .. }),
            "{read:?}"
        );
        let typing = store
            .typing(&tid, &caller("b"), Some("B".into()))
            .expect("typing");
        assert_eq!(typing[0].user_recipients().collect::<Vec<_>>(), ["a", "c"]);
        let deleted = store.delete_thread(&tid, &caller("a")).expect("delete");
        assert_eq!(deleted[0].kind, EventKind::ThreadDeleted);
        assert_eq!(deleted[0].recipients, ["a", "b", "c"]);
        assert_eq!(
            store.message_count(),
            0,
            "a deleted thread holds no messages"
        );
    }

    /// Refused calls return their error and store nothing.
    #[test]
    fn refused_mutations_return_errors_and_change_nothing() {
        let store = ChatStore::default();
        let tid = thread_of_three(&store);
        assert_eq!(
            store.get_thread(&tid, "stranger").err(),
            Some(StoreError::Forbidden)
        );
        let join = Caller {
            user_id: "b".into(),
            scopes: vec![Scope::ChatJoin],
        };
        assert_eq!(
            store.delete_thread(&tid, &join).err(),
            Some(StoreError::Forbidden)
        );
        let big = NewMessage {
            html: false,
            content: "x".repeat(MAX_MESSAGE_BYTES + 1),
            sender_display_name: String::new(),
            metadata: None,
        };
        assert_eq!(
            store.send_message(&tid, &caller("a"), big).err(),
            Some(StoreError::Invalid("Message size exceeded.".into()))
        );
        assert_eq!(store.message_count(), 2, "only the two system messages");
    }
}
