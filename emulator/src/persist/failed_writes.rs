//! Every mutation whose database write fails is answered with the error and leaves memory
//! as it was, and memory and disk agree after a restart. A failure is injected with triggers
//! that abort every insert, update and delete on every table.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::write_faults::{allow_writes, refuse_writes};
use super::{Persist, FILE_NAME};
use crate::auth::{AuthError, Caller, Scope};
use crate::identity::Directory;
use crate::store::{
    ChatStore, MessagePatch, NewMessage, NewThread, Participant, StoreError, ThreadPatch,
};

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        TempDir(std::env::temp_dir().join(format!("acs-failed-writes-{}", uuid::Uuid::new_v4())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn caller(id: &str) -> Caller {
    Caller {
        user_id: id.into(),
        scopes: vec![Scope::Chat],
    }
}

fn meta(k: &str, v: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(k.into(), Value::from(v));
    m
}

/// What each chat mutation case starts from: a thread of `a` and `b` with a message of `a`'s
/// and a read receipt of `b`'s.
struct Setup {
    tid: String,
    mid: String,
}

fn setup(store: &ChatStore) -> Setup {
    let new = NewThread {
        topic: "t".into(),
        participants: vec![Participant::bare("b")],
        metadata: Some(meta("k", "v")),
        retention: None,
    };
    let tid = store
        .create_thread(&caller("a"), new, Some("repeat-1".into()), &|_| true)
        .expect("create")
        .thread
        .id;
    let msg = NewMessage {
        html: false,
        content: "hello".into(),
        sender_display_name: "A".into(),
        metadata: None,
    };
    let (id, _) = store.send_message(&tid, &caller("a"), msg).expect("send");
    let mid = id.to_string();
    store
        .send_read_receipt(&tid, &caller("b"), &mid)
        .expect("receipt");
    Setup { tid, mid }
}

type ChatCase = (
    &'static str,
    fn(&ChatStore, &Setup) -> Result<(), StoreError>,
);

const CHAT_CASES: [ChatCase; 10] = [
    ("create thread", |s, _| {
        let new = NewThread {
            topic: "other".into(),
            participants: vec![Participant::bare("b")],
            metadata: None,
            retention: None,
        };
        s.create_thread(&caller("a"), new, Some("repeat-2".into()), &|_| true)
            .map(drop)
    }),
    ("update thread", |s, x| {
        let patch = ThreadPatch {
            topic: Some("renamed".into()),
            metadata: Some(Some(meta("k2", "v2"))),
            retention: Some(Some(
                json!({"kind": "threadCreationDate", "deleteThreadAfterDays": 40}),
            )),
        };
        s.update_thread(&x.tid, &caller("a"), patch).map(drop)
    }),
    ("delete thread", |s, x| {
        s.delete_thread(&x.tid, &caller("a")).map(drop)
    }),
    ("send message", |s, x| {
        let msg = NewMessage {
            html: false,
            content: "more".into(),
            sender_display_name: "A".into(),
            metadata: Some(meta("m", "1")),
        };
        s.send_message(&x.tid, &caller("a"), msg).map(drop)
    }),
    ("update message", |s, x| {
        let patch = MessagePatch {
            content: Some("edited".into()),
            metadata: Some(meta("m", "2")),
        };
        s.update_message(&x.tid, &caller("a"), &x.mid, patch)
            .map(drop)
    }),
    ("delete message", |s, x| {
        s.delete_message(&x.tid, &caller("a"), &x.mid).map(drop)
    }),
    ("add participants", |s, x| {
        let wanted = vec![Participant::bare("c"), Participant::bare("d")];
        s.add_participants(&x.tid, &caller("a"), wanted, &|_| true)
            .map(drop)
    }),
    ("remove participant", |s, x| {
        s.remove_participant(&x.tid, &caller("a"), "b").map(drop)
    }),
    ("send read receipt", |s, x| {
        s.send_read_receipt(&x.tid, &caller("a"), &x.mid).map(drop)
    }),
    ("reset", |s, _| s.reset()),
];

/// Each chat mutation with a failing write answers a storage error naming the database and
/// changes nothing in memory; once writes work it succeeds, and a restart loads what memory
/// holds.
#[test]
fn chat_mutations_with_failed_writes_change_nothing() {
    for (name, op) in CHAT_CASES {
        let dir = TempDir::new();
        let db = Arc::new(Persist::open(&dir.0).expect("open"));
        let store = ChatStore::open(Arc::clone(&db)).expect("load");
        let x = setup(&store);
        let before = store.dump();
        let refusing = refuse_writes(&dir.0);
        let seen = op(&store, &x);
        assert!(
            matches!(&seen, Err(StoreError::Storage(m)) if m.contains(FILE_NAME) && m.contains("injected")),
            "{name} with writes refused answered {seen:?}"
        );
        assert_eq!(
            store.dump(),
            before,
            "{name}: memory changed by a failed write"
        );
        allow_writes(&refusing);
        op(&store, &x).unwrap_or_else(|e| panic!("{name} once writes work: {e:?}"));
        let after = store.dump();
        assert_ne!(
            after, before,
            "{name} changed nothing even when it succeeded"
        );
        drop((store, db, refusing));
        let db = Arc::new(Persist::open(&dir.0).expect("reopen"));
        let reloaded = ChatStore::open(Arc::clone(&db)).expect("reload");
        assert_eq!(
            reloaded.dump(),
            after,
            "{name}: disk and memory disagree after a restart"
        );
    }
}

/// Users (id, deleted) and what validating each token gives.
type DirectoryView = (Vec<(String, bool)>, Vec<Result<String, AuthError>>);

/// What the directory cases see: users and whether each token validates.
fn directory_view(dir: &Directory, tokens: &[String]) -> DirectoryView {
    let valid = tokens
        .iter()
        .map(|t| dir.validate_bearer(t).map(|c| c.user_id))
        .collect();
    (dir.user_ids(), valid)
}

type DirCase = (&'static str, fn(&Directory, &str) -> std::io::Result<()>);

const HOUR: Duration = Duration::from_secs(3600);

const DIRECTORY_CASES: [DirCase; 7] = [
    ("create user", |d, _| d.try_create_user().map(drop)),
    ("create user with token", |d, _| {
        d.try_create_user_with_token(&[Scope::Chat], HOUR).map(drop)
    }),
    ("register user", |d, _| {
        d.try_register_user("8:orgid:teams-user")
    }),
    ("register user with token", |d, _| {
        d.try_register_user_with_token("8:orgid:teams-user", &[Scope::Voip], HOUR)
            .map(drop)
    }),
    ("issue token", |d, u| {
        d.try_issue_token_at(u, &[Scope::Chat], HOUR, chrono::Utc::now())
            .map(drop)
    }),
    ("revoke tokens", |d, u| d.try_revoke(u).map(drop)),
    ("delete user", |d, u| d.try_delete_user(u).map(drop)),
];

/// Each identity write that fails returns the error and changes no user, revocation or
/// token; the infallible forms refuse too (an id of no user, an expired token, `false`).
#[test]
fn identity_mutations_with_failed_writes_change_nothing() {
    for (name, op) in DIRECTORY_CASES {
        let dir = TempDir::new();
        let db = Arc::new(Persist::open(&dir.0).expect("open"));
        let key = b"failed-writes-key".to_vec();
        let users = Directory::open(key.clone(), "rid".into(), Arc::clone(&db)).expect("load");
        let user = users.try_create_user().expect("create");
        let (token, _) = users
            .try_issue_token_at(&user, &[Scope::Chat], HOUR, chrono::Utc::now())
            .expect("issue");
        let tokens = vec![token];
        let before = directory_view(&users, &tokens);
        let refusing = refuse_writes(&dir.0);
        let seen = op(&users, &user);
        assert!(
            matches!(&seen, Err(e) if e.to_string().contains("injected write failure")),
            "{name} with writes refused answered {seen:?}"
        );
        assert_eq!(
            directory_view(&users, &tokens),
            before,
            "{name}: memory changed by a failed write"
        );
        let phantom = users.create_user();
        assert!(
            !users.user_exists(&phantom),
            "create_user made {phantom} without storing it"
        );
        let (unstored, _) = users.issue_token(&user, &[Scope::Chat], HOUR);
        assert!(
            users.validate_bearer(&unstored).is_err(),
            "an unrecorded token validates"
        );
        assert!(
            !users.revoke(&user) && !users.delete_user(&user),
            "refused writes reported done"
        );
        assert_eq!(
            directory_view(&users, &tokens),
            before,
            "{name}: infallible forms changed memory"
        );
        allow_writes(&refusing);
        op(&users, &user).unwrap_or_else(|e| panic!("{name} once writes work: {e}"));
        let after = directory_view(&users, &tokens);
        drop((users, db, refusing));
        let db = Arc::new(Persist::open(&dir.0).expect("reopen"));
        let reloaded = Directory::open(key, "rid".into(), db).expect("reload");
        assert_eq!(
            directory_view(&reloaded, &tokens),
            after,
            "{name}: disk and memory disagree after a restart"
        );
    }
}

/// A Teams Extension assignment written while writes are refused is neither stored nor
/// visible, a refused delete keeps it, and after a restart disk and memory agree.
#[test]
fn assignment_writes_that_fail_change_nothing() {
    use crate::identity::teams_extension::Assignment;
    let dir = TempDir::new();
    let db = Arc::new(Persist::open(&dir.0).expect("open"));
    let key = b"failed-writes-key".to_vec();
    let users = Directory::open(key.clone(), "rid".into(), Arc::clone(&db)).expect("load");
    let kept = Assignment {
        principal_type: "user".into(),
        client_ids: None,
    };
    assert!(users
        .put_assignment("t", "kept", kept.clone())
        .expect("put"));
    let refusing = refuse_writes(&dir.0);
    let seen = users.put_assignment("t", "new", kept.clone());
    assert!(seen.is_err(), "a refused put answered {seen:?}");
    assert_eq!(
        users.assignment("t", "new"),
        None,
        "a refused put is visible"
    );
    let seen = users.delete_assignment("t", "kept");
    assert!(seen.is_err(), "a refused delete answered {seen:?}");
    assert_eq!(
        users.assignment("t", "kept"),
        Some(kept.clone()),
        "a refused delete removed the assignment"
    );
    allow_writes(&refusing);
    assert!(users.delete_assignment("t", "kept").expect("delete"));
    drop((users, db, refusing));
    let db = Arc::new(Persist::open(&dir.0).expect("reopen"));
    let reloaded = Directory::open(key, "rid".into(), db).expect("reload");
    assert_eq!(
        reloaded.assignment("t", "kept"),
        None,
        "deleted before the restart"
    );
    assert_eq!(
        reloaded.assignment("t", "new"),
        None,
        "refused before the restart"
    );
}
