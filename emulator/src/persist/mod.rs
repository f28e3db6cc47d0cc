//! Persistence for `--data-dir`: one SQLite database, `emulator.sqlite3`, that anyone can open
//! with the `sqlite3` command-line tool.
//!
//! Memory stays the read path. Every mutation writes the rows it changed in one transaction
//! while it still holds its thread's lock, and returns only once that transaction committed, so
//! what the emulator acknowledged is in the database, and rows are written in the order the
//! mutations happened (sequenceIds stay contiguous). At start everything is loaded back.
//!
//! Durability: WAL journal with `synchronous=NORMAL`. A committed transaction is in the WAL
//! file when `COMMIT` returns, so it survives the process being killed (`kill -9`); only an
//! operating-system crash or power loss can lose the last transactions (never corrupt the
//! file). That is the trade an emulator wants: `synchronous=FULL` would fsync every send.
//!
//! Lock order: a thread's mutex (or the idempotency map, or the user map), then the
//! connection's mutex, never the other way round; the connection's mutex is held only for one
//! transaction.
//!
//! One emulator per directory: a second one on it is refused at start (`emulator.lock`).
//!
//! Tables (one JSON column holds what the emulator's model holds, so the schema does not
//! repeat every field):
//! - `meta(key, value)`: `access_key`, `resource_id`, `clock` (the last stamp handed out),
//!   `token_seq` (the last token issued).
//! - `users(id, revoked_through, deleted)`.
//! - `threads(id, props, participants, receipts)`.
//! - `messages(thread_id, sequence_id, id, body)`: one row per message, rewritten on edit and
//!   delete.
//! - `idempotency(caller, request_id, thread_id, invalid)`: create-thread repeatability ids.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::store::model::{Message, Thread};

pub(crate) mod write_faults;

/// The database's file name inside the data directory.
pub(crate) const FILE_NAME: &str = "emulator.sqlite3";

/// The file whose lock says an emulator is using the directory.
const LOCK_NAME: &str = "emulator.lock";

/// Takes the directory's lock, waiting a little for an emulator that is shutting down.
fn lock_dir(dir: &Path) -> io::Result<Connection> {
    let path = dir.join(LOCK_NAME);
    let lock = Connection::open(&path).map_err(|e| db_error(&path, e))?;
    lock.busy_timeout(std::time::Duration::from_secs(3))
        .and_then(|_| lock.execute_batch("BEGIN EXCLUSIVE"))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) => io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "another emulator is using the data directory {}",
                    dir.display()
                ),
            ),
            _ => db_error(&path, e),
        })?;
    Ok(lock)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    revoked_through INTEGER NOT NULL,
    deleted INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS threads (
    id TEXT PRIMARY KEY,
    props TEXT NOT NULL,
    participants TEXT NOT NULL,
    receipts TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    thread_id TEXT NOT NULL,
    sequence_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (thread_id, sequence_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
    caller TEXT NOT NULL,
    request_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    invalid TEXT NOT NULL,
    PRIMARY KEY (caller, request_id)
) WITHOUT ROWID;
";

/// A user as stored: (id, tokens revoked through this `seq`, deleted).
pub(crate) type UserRow = (String, u64, bool);

/// A create-thread idempotency record: ((caller, request id), (thread id, invalid ids)).
pub(crate) type IdempotencyRow = ((String, String), (String, Vec<String>));

/// The database of one data directory.
pub(crate) struct Persist {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Holds an exclusive transaction on `DIR/emulator.lock` for as long as this emulator
    /// runs, so a second one on the same directory is refused; the operating system releases
    /// it when the process ends, however it ends.
    _lock: Mutex<Connection>,
}

impl std::fmt::Debug for Persist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persist")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn db_error(path: &Path, e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("database {}: {e}", path.display()))
}

fn json_error(what: &str, e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what}: {e}"),
    )))
}

fn to_json<T: serde::Serialize>(what: &str, v: &T) -> rusqlite::Result<String> {
    serde_json::to_string(v).map_err(|e| json_error(what, e))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{what}: {e}"),
            )),
        )
    })
}

impl Persist {
    /// Opens (creating it and the directory if needed) the database in `dir`.
    ///
    /// # Errors
    /// The directory cannot be created, or the file cannot be opened as this schema.
    pub(crate) fn open(dir: &Path) -> io::Result<Persist> {
        std::fs::create_dir_all(dir)?;
        let lock = lock_dir(dir)?;
        let path = dir.join(FILE_NAME);
        let conn = Connection::open(&path).map_err(|e| db_error(&path, e))?;
        // The file holds the access key: readable by its owner only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|_| conn.busy_timeout(std::time::Duration::from_secs(5)))
            .and_then(|_| conn.execute_batch(SCHEMA))
            .map_err(|e| db_error(&path, e))?;
        Ok(Persist {
            conn: Mutex::new(conn),
            path,
            _lock: Mutex::new(lock),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic inside a transaction rolls it back when the transaction drops, so the
        // connection is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one transaction and commits it; `what` names the mutation (ids only, never
    /// tokens or keys) for the log.
    ///
    /// # Errors
    /// Any statement or the commit failed (nothing of `f` is stored then, and the failure is
    /// logged at warn with `what`); the message names the database file.
    pub(crate) fn write(
        &self,
        what: &str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<(), String> {
        let mut conn = self.conn();
        let result = conn.transaction().and_then(|tx| {
            f(&tx)?;
            tx.commit()
        });
        result.map_err(|e| {
            let msg = format!("cannot write {}: {e}", self.path.display());
            log::warn!("{what} not applied: {msg}");
            msg
        })
    }

    /// A `meta` value.
    pub(crate) fn meta(&self, key: &str) -> io::Result<Option<String>> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| db_error(&self.path, e))
    }

    /// Every user row.
    pub(crate) fn load_users(&self) -> io::Result<Vec<UserRow>> {
        let conn = self.conn();
        let rows = (|| {
            let mut st = conn.prepare("SELECT id, revoked_through, deleted FROM users")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            })?;
            rows.map(|r| r.map(|(id, rev, del)| (id, rev.max(0) as u64, del)))
                .collect::<rusqlite::Result<Vec<_>>>()
        })();
        rows.map_err(|e| db_error(&self.path, e))
    }

    /// Every thread with its messages, and the create-thread idempotency records.
    pub(crate) fn load_chat(&self) -> io::Result<(Vec<Thread>, Vec<IdempotencyRow>)> {
        let conn = self.conn();
        let loaded = (|| {
            let mut messages: HashMap<String, Vec<Message>> = HashMap::new();
            let mut st = conn
                .prepare("SELECT thread_id, body FROM messages ORDER BY thread_id, sequence_id")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let tid: String = r.get(0)?;
                let m: Message = from_json("message", &r.get::<_, String>(1)?)?;
                messages.entry(tid).or_default().push(m);
            }
            let mut threads = Vec::new();
            let mut st = conn.prepare("SELECT id, props, participants, receipts FROM threads")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let tid: String = r.get(0)?;
                let props = from_json("thread", &r.get::<_, String>(1)?)?;
                let participants = from_json("participants", &r.get::<_, String>(2)?)?;
                let receipts = from_json("receipts", &r.get::<_, String>(3)?)?;
                let msgs = messages.remove(&tid).unwrap_or_default();
                threads.push(Thread::restore(props, participants, msgs, receipts));
            }
            let mut st =
                conn.prepare("SELECT caller, request_id, thread_id, invalid FROM idempotency")?;
            let mut rows = st.query([])?;
            let mut idem = Vec::new();
            while let Some(r) = rows.next()? {
                let invalid = from_json("idempotency", &r.get::<_, String>(3)?)?;
                idem.push(((r.get(0)?, r.get(1)?), (r.get(2)?, invalid)));
            }
            Ok::<_, rusqlite::Error>((threads, idem))
        })();
        loaded.map_err(|e| db_error(&self.path, e))
    }
}

/// Sets a `meta` value.
pub(crate) fn put_meta(tx: &Transaction<'_>, key: &str, value: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute(params![key, value])?;
    Ok(())
}

/// Raises a numeric `meta` value to `value` (never lowers it: writers under different locks
/// may commit out of order).
pub(crate) fn put_meta_max(tx: &Transaction<'_>, key: &str, value: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = \
         CASE WHEN CAST(excluded.value AS INTEGER) > CAST(value AS INTEGER) \
         THEN excluded.value ELSE value END",
    )?
    .execute(params![key, value.to_string()])?;
    Ok(())
}

/// Records the last stamp the clock handed out.
pub(crate) fn put_clock(tx: &Transaction<'_>, clock: i64) -> rusqlite::Result<()> {
    put_meta_max(tx, "clock", clock)
}

/// Writes a user's row.
pub(crate) fn put_user(
    tx: &Transaction<'_>,
    id: &str,
    revoked_through: u64,
    deleted: bool,
) -> rusqlite::Result<()> {
    let revoked = i64::try_from(revoked_through).unwrap_or(i64::MAX);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO users (id, revoked_through, deleted) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id, revoked, deleted])?;
    Ok(())
}

/// Writes a thread's own row: properties, participants and read receipts.
pub(crate) fn put_thread(tx: &Transaction<'_>, t: &Thread) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO threads (id, props, participants, receipts) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        t.props.id,
        to_json("thread", &t.props)?,
        to_json("participants", &t.participants)?,
        to_json("receipts", &t.receipts)?,
    ])?;
    Ok(())
}

/// Writes one message's row (new, edited or deleted).
pub(crate) fn put_message(tx: &Transaction<'_>, tid: &str, m: &Message) -> rusqlite::Result<()> {
    let seq = i64::try_from(m.sequence_id).unwrap_or(i64::MAX);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO messages (thread_id, sequence_id, id, body) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![tid, seq, m.id, to_json("message", m)?])?;
    Ok(())
}

/// Removes every message of a thread (it was deleted).
pub(crate) fn delete_messages(tx: &Transaction<'_>, tid: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM messages WHERE thread_id = ?1")?
        .execute([tid])?;
    Ok(())
}

/// Removes every user, thread, message and idempotency record (a reset); the access key,
/// resource id and counters stay.
pub(crate) fn clear_all(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DELETE FROM users; DELETE FROM threads; DELETE FROM messages; DELETE FROM idempotency;",
    )
}

/// Records a create-thread repeatability id.
pub(crate) fn put_idempotency(
    tx: &Transaction<'_>,
    caller: &str,
    request_id: &str,
    thread_id: &str,
    invalid: &[String],
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO idempotency (caller, request_id, thread_id, invalid) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        caller,
        request_id,
        thread_id,
        to_json("idempotency", &invalid)?
    ])?;
    Ok(())
}

#[cfg(test)]
mod failed_writes;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Caller, Scope};
    use crate::store::{ChatStore, NewMessage, NewThread, StoreError};
    use std::sync::Arc;

    fn caller() -> Caller {
        Caller {
            user_id: "8:acs:u".into(),
            scopes: vec![Scope::Chat],
        }
    }

    fn message(text: &str) -> NewMessage {
        NewMessage {
            html: false,
            content: text.into(),
            sender_display_name: String::new(),
            metadata: None,
        }
    }

    /// A send whose write fails answers a storage error and leaves the thread as it was.
    #[test]
    fn send_message_with_failed_write_is_taken_back() {
        let dir = std::env::temp_dir().join(format!("acs-persist-unit-{}", uuid::Uuid::new_v4()));
        let db = Arc::new(Persist::open(&dir).expect("open"));
        let store = ChatStore::open(Arc::clone(&db)).expect("load");
        let new = NewThread {
            topic: "t".into(),
            participants: Vec::new(),
            metadata: None,
            retention: None,
        };
        let tid = store
            .create_thread(&caller(), new, None, &|_| true)
            .expect("create")
            .thread
            .id;
        store
            .send_message(&tid, &caller(), message("kept"))
            .expect("send");
        let other = Connection::open(dir.join(FILE_NAME)).expect("second connection");
        other
            .execute_batch("DROP TABLE messages")
            .expect("drop the table");
        let seen = store.send_message(&tid, &caller(), message("refused"));
        assert!(
            matches!(&seen, Err(StoreError::Storage(m)) if m.contains(FILE_NAME)),
            "send with no messages table: {seen:?}"
        );
        assert_eq!(store.message_count(), 3, "two system messages and one sent");
        // The next send takes the sequenceId the refused one did not keep.
        other.execute_batch(SCHEMA).expect("recreate the table");
        let (id, events) = store
            .send_message(&tid, &caller(), message("again"))
            .expect("send after the table is back");
        match &events[0].kind {
            crate::store::EventKind::MessageReceived(m) => {
                assert_eq!((m.id, m.sequence_id), (id, 4), "{m:?}")
            }
            other => panic!("kind: {other:?}"),
        }
        drop((store, db, other));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
