//! `ChatThreadClient` against the in-process emulator: every operation, paging with exact
//! request counts, error statuses, and the exact requests on the wire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;

use acs_chat::{
    ChatClient, ChatMessage, ChatMessageType, ChatParticipant, ChatRetentionPolicy,
    ChatThreadClient, CommunicationIdentifier, Error, ListMessagesOptions, ListParticipantsOptions,
    ListReadReceiptsOptions, SendMessageOptions, TypingNotificationOptions,
    UpdateChatThreadOptions, UpdateMessageOptions,
};
use acs_chat_emulator::Emulator;

#[allow(dead_code)] // this test crate uses only some of the shared helpers
mod common;

use common::{chat_client, new_thread_client, serve};

struct Fixture {
    emu: Emulator,
    user: String,
    chat: ChatClient,
    thread: ChatThreadClient,
}

fn fixture() -> Fixture {
    let emu = Emulator::start().expect("emulator");
    let (user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    let thread = new_thread_client(&chat, "Topic");
    Fixture {
        emu,
        user,
        chat,
        thread,
    }
}

impl Fixture {
    /// A new user with an hour-long chat token, added to the fixture's thread: their id and a
    /// client for the thread signed as them.
    fn add_user(&self) -> (CommunicationIdentifier, ChatThreadClient) {
        let user = self.emu.create_user();
        let token = self
            .emu
            .issue_token(&user, &["chat"], std::time::Duration::from_secs(3600));
        let id = CommunicationIdentifier::communication_user(&user);
        self.thread
            .add_participant(&ChatParticipant::new(id.clone()))
            .expect("add participant");
        let thread = chat_client(&self.emu.endpoint(), &token)
            .get_chat_thread_client(self.thread.thread_id())
            .expect("thread client");
        (id, thread)
    }
}

fn user_messages(thread: &ChatThreadClient) -> Vec<ChatMessage> {
    thread
        .list_messages(None)
        .collect::<Result<Vec<_>, _>>()
        .expect("list")
        .into_iter()
        .filter(|m| {
            matches!(
                m.message_type,
                ChatMessageType::Text | ChatMessageType::Html
            )
        })
        .collect()
}

fn text(m: &ChatMessage) -> String {
    m.content
        .as_ref()
        .and_then(|c| c.message.clone())
        .unwrap_or_default()
}

/// get_properties returns the thread the client is bound to.
#[test]
fn get_properties_returns_thread() {
    let f = fixture();
    let props = f.thread.get_properties().expect("get");
    assert_eq!(props.id, f.thread.thread_id());
    assert_eq!(props.topic, "Topic");
    assert_eq!(props.created_by.raw_id(), f.user);
}

/// update_topic changes the topic and adds a topicUpdated system message.
#[test]
fn update_topic_changes_topic() {
    let f = fixture();
    f.thread.update_topic("Renamed").expect("update");
    assert_eq!(f.thread.get_properties().expect("get").topic, "Renamed");
    let topics: Vec<String> = f
        .thread
        .list_messages(None)
        .filter_map(|m| {
            let m = m.expect("message");
            (m.message_type == ChatMessageType::TopicUpdated)
                .then(|| m.content.and_then(|c| c.topic))
                .flatten()
        })
        .collect();
    assert!(
        topics.contains(&"Renamed".to_string()),
        "topic messages: {topics:?}"
    );
}

/// update_properties sets metadata and the retention policy, leaving the topic alone.
#[test]
fn update_properties_sets_metadata_and_retention() {
    let f = fixture();
    let options = UpdateChatThreadOptions {
        metadata: Some([("tier".to_string(), "gold".to_string())].into()),
        retention_policy: Some(ChatRetentionPolicy::thread_creation_date(60)),
        ..Default::default()
    };
    f.thread.update_properties(Some(options)).expect("update");
    let props = f.thread.get_properties().expect("get");
    assert_eq!(props.topic, "Topic");
    assert_eq!(
        props
            .metadata
            .as_ref()
            .and_then(|m| m.get("tier"))
            .map(String::as_str),
        Some("gold"),
        "{props:?}"
    );
    assert_eq!(
        props.retention_policy,
        Some(ChatRetentionPolicy::thread_creation_date(60))
    );
}

/// A sent message can be read back with its type, sender name and metadata.
#[test]
fn send_message_then_get_message_round_trips() {
    let f = fixture();
    let options = SendMessageOptions {
        chat_message_type: Some(ChatMessageType::Html),
        sender_display_name: Some("Alice".into()),
        metadata: Some(HashMap::from([("tag".to_string(), "x".to_string())])),
        idempotency_token: None,
    };
    let sent = f
        .thread
        .send_message("<p>hi</p>", Some(options))
        .expect("send");
    let m = f.thread.get_message(&sent.id).expect("get");
    assert_eq!(m.id, sent.id);
    assert_eq!(m.message_type, ChatMessageType::Html);
    assert_eq!(text(&m), "<p>hi</p>");
    assert_eq!(m.sender_display_name.as_deref(), Some("Alice"));
    assert_eq!(m.sender.as_ref().map(|s| s.raw_id()), Some(f.user.clone()));
    assert_eq!(
        m.metadata.and_then(|m| m.get("tag").cloned()).as_deref(),
        Some("x")
    );
}

/// Unicode, control characters and a large body are carried unchanged.
#[test]
fn send_message_keeps_unusual_content() {
    let f = fixture();
    let contents = [
        "ünïcödé 🎉 中文".to_string(),
        "line1\nline2\t\u{0}\u{7}end".to_string(),
        "x".repeat(20_000),
        "/?#..%2F".to_string(),
    ];
    for content in &contents {
        let id = f.thread.send_message(content, None).expect("send").id;
        assert_eq!(&text(&f.thread.get_message(&id).expect("get")), content);
    }
}

/// Only text and html can be sent; other types fail before any request.
#[test]
fn send_message_rejects_system_types() {
    let f = fixture();
    let before = f.emu.request_count();
    for kind in [
        ChatMessageType::TopicUpdated,
        ChatMessageType::ParticipantAdded,
        ChatMessageType::Unknown("poll".into()),
    ] {
        let options = SendMessageOptions {
            chat_message_type: Some(kind.clone()),
            ..Default::default()
        };
        let err = f
            .thread
            .send_message("x", Some(options))
            .expect_err("system type");
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{kind:?}: {err:?}"
        );
    }
    assert_eq!(f.emu.request_count(), before);
}

/// Invalid options of the thread's lists make pagers that send nothing and yield the
/// InvalidArgument as their first and only item.
#[test]
fn thread_lists_invalid_options_yield_only_error_without_request() {
    let f = fixture();
    let before = f.emu.request_count();
    let messages: Vec<_> = f
        .thread
        .list_messages(Some(ListMessagesOptions {
            results_per_page: Some(-1),
            ..Default::default()
        }))
        .collect();
    let receipts: Vec<_> = f
        .thread
        .list_read_receipts(Some(ListReadReceiptsOptions {
            skip: Some(-3),
            ..Default::default()
        }))
        .by_page()
        .collect();
    let participants: Vec<_> = f
        .thread
        .list_participants(Some(ListParticipantsOptions {
            continuation_token: Some("/chat/threads?api-version=2025-03-15".into()),
            ..Default::default()
        }))
        .collect();
    let sent = f.emu.request_count() - before;
    assert_eq!(sent, 0, "{sent} requests sent for rejected options");
    assert!(
        matches!(
            messages.as_slice(),
            [Err(Error::InvalidArgument {
                name: "results_per_page",
                ..
            })]
        ),
        "messages: {messages:?}"
    );
    assert!(
        matches!(
            receipts.as_slice(),
            [Err(Error::InvalidArgument { name: "skip", .. })]
        ),
        "receipts: {receipts:?}"
    );
    assert!(
        matches!(
            participants.as_slice(),
            [Err(Error::InvalidArgument {
                name: "continuation_token",
                ..
            })]
        ),
        "participants: {participants:?}"
    );
}

/// Listing N messages at page size P makes ceil(total/P) requests, newest first.
#[test]
fn list_messages_pages_with_exact_request_count() {
    let f = fixture();
    for i in 0..8 {
        f.thread.send_message(&format!("m{i}"), None).expect("send");
    }
    // 8 user messages plus the two system messages of thread creation.
    let before = f.emu.request_count();
    let options = ListMessagesOptions {
        results_per_page: Some(4),
        ..Default::default()
    };
    let all: Vec<ChatMessage> = f
        .thread
        .list_messages(Some(options))
        .collect::<Result<_, _>>()
        .expect("list");
    let requests = f.emu.request_count() - before;
    assert_eq!(all.len(), 10, "messages: {}", all.len());
    assert_eq!(
        requests, 3,
        "10 messages at page size 4 took {requests} requests"
    );
    let texts: Vec<String> = all
        .iter()
        .filter(|m| m.message_type == ChatMessageType::Text)
        .map(text)
        .collect();
    let want: Vec<String> = (0..8).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(texts, want);
}

/// by_page pages hold at most the page size and chain through continuation tokens.
#[test]
fn list_messages_by_page_respects_page_size() {
    let f = fixture();
    for i in 0..5 {
        f.thread.send_message(&format!("m{i}"), None).expect("send");
    }
    let options = ListMessagesOptions {
        results_per_page: Some(3),
        ..Default::default()
    };
    let pages: Vec<_> = f
        .thread
        .list_messages(Some(options))
        .by_page()
        .collect::<Result<_, _>>()
        .expect("pages");
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    assert_eq!(sizes, [3, 3, 1], "page sizes");
    assert!(pages[..2].iter().all(|p| p.continuation_token.is_some()));
    assert!(pages[2].continuation_token.is_none());
}

/// start_time in the future lists nothing.
#[test]
fn list_messages_honours_start_time() {
    let f = fixture();
    f.thread.send_message("old", None).expect("send");
    let options = ListMessagesOptions {
        start_time: Some(chrono::Utc::now() + chrono::Duration::days(1)),
        ..Default::default()
    };
    let n = f.thread.list_messages(Some(options)).count();
    assert_eq!(n, 0, "messages after tomorrow: {n}");
}

/// update_message changes content and metadata and stamps edited_on.
#[test]
fn update_message_edits_content() {
    let f = fixture();
    let id = f.thread.send_message("draft", None).expect("send").id;
    let options = UpdateMessageOptions {
        content: Some("final".into()),
        metadata: Some(HashMap::from([("v".to_string(), "2".to_string())])),
    };
    f.thread.update_message(&id, Some(options)).expect("update");
    let m = f.thread.get_message(&id).expect("get");
    assert_eq!(text(&m), "final");
    assert!(m.edited_on.is_some(), "{m:?}");
    assert_eq!(
        m.metadata.and_then(|m| m.get("v").cloned()).as_deref(),
        Some("2")
    );
}

/// delete_message marks the message deleted.
#[test]
fn delete_message_marks_deleted() {
    let f = fixture();
    let id = f.thread.send_message("bye", None).expect("send").id;
    f.thread.delete_message(&id).expect("delete");
    let m = f.thread.get_message(&id).expect("get");
    assert!(m.deleted_on.is_some(), "{m:?}");
}

/// An unknown message id is a 404.
#[test]
fn get_message_unknown_is_404() {
    let f = fixture();
    let err = f.thread.get_message("1").expect_err("unknown");
    assert_eq!(err.status(), Some(404), "{err:?}");
    let err = f.thread.update_message("1", None).expect_err("unknown");
    assert_eq!(err.status(), Some(404), "{err:?}");
}

/// Read receipts are listed after being sent; page size and skip work.
#[test]
fn send_read_receipt_then_list_read_receipts() {
    let f = fixture();
    let (_bob, bob_thread) = f.add_user();
    let id = f.thread.send_message("read me", None).expect("send").id;
    f.thread.send_read_receipt(&id).expect("alice receipt");
    bob_thread.send_read_receipt(&id).expect("bob receipt");

    let before = f.emu.request_count();
    let options = ListReadReceiptsOptions {
        results_per_page: Some(1),
        ..Default::default()
    };
    let receipts: Vec<_> = f
        .thread
        .list_read_receipts(Some(options))
        .collect::<Result<_, _>>()
        .expect("list");
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    assert!(receipts.iter().all(|r| r.chat_message_id == id));
    let requests = f.emu.request_count() - before;
    assert!(
        (2..=3).contains(&requests),
        "2 receipts at page size 1 took {requests} requests"
    );
    let skipped = ListReadReceiptsOptions {
        skip: Some(1),
        ..Default::default()
    };
    let n = f.thread.list_read_receipts(Some(skipped)).count();
    assert_eq!(n, 1, "receipts after skipping one: {n}");
}

/// Typing notifications are accepted with and without a name.
#[test]
fn send_typing_notification_succeeds() {
    let f = fixture();
    f.thread.send_typing_notification(None).expect("anonymous");
    let options = TypingNotificationOptions {
        sender_display_name: Some("Alice".into()),
    };
    f.thread
        .send_typing_notification(Some(options))
        .expect("named");
}

/// add_participants reports only the rejected participant; list/remove follow.
#[test]
fn add_list_remove_participants() {
    let f = fixture();
    let bob = ChatParticipant::new(CommunicationIdentifier::communication_user(
        f.emu.create_user(),
    ))
    .with_display_name("Bob");
    let carol = ChatParticipant::new(CommunicationIdentifier::communication_user(
        f.emu.create_user(),
    ));
    let ghost = ChatParticipant::new(CommunicationIdentifier::communication_user(
        "8:acs:invalid-11111111-1111-1111-1111-111111111111",
    ))
    .with_display_name("Ghost");
    let failed = f
        .thread
        .add_participants(&[bob.clone(), ghost.clone(), carol.clone()])
        .expect("add");
    assert_eq!(failed.len(), 1, "failed: {failed:?}");
    assert_eq!(failed[0].0, ghost);
    assert!(!failed[0].1.code.is_empty() || !failed[0].1.message.is_empty());

    let before = f.emu.request_count();
    let options = ListParticipantsOptions {
        results_per_page: Some(2),
        ..Default::default()
    };
    let listed: Vec<ChatParticipant> = f
        .thread
        .list_participants(Some(options))
        .collect::<Result<_, _>>()
        .expect("list");
    assert_eq!(listed.len(), 3, "participants: {listed:?}");
    let requests = f.emu.request_count() - before;
    assert!(
        (2..=3).contains(&requests),
        "3 participants at page size 2 took {requests}"
    );
    let bob_listed = listed
        .iter()
        .find(|p| p.identifier == bob.identifier)
        .expect("bob listed");
    assert_eq!(bob_listed.display_name.as_deref(), Some("Bob"));

    let skip = ListParticipantsOptions {
        skip: Some(2),
        ..Default::default()
    };
    assert_eq!(f.thread.list_participants(Some(skip)).count(), 1);

    f.thread
        .remove_participant(&carol.identifier)
        .expect("remove");
    let left = f.thread.list_participants(None).count();
    assert_eq!(left, 2, "participants after removal: {left}");
}

/// add_participant fails with the service's reason when the participant is rejected.
#[test]
fn add_participant_rejected_is_error() {
    let f = fixture();
    let ghost = ChatParticipant::new(CommunicationIdentifier::communication_user(
        "8:acs:invalid-22222222-2222-2222-2222-222222222222",
    ));
    let err = f.thread.add_participant(&ghost).expect_err("rejected");
    assert!(matches!(err, Error::ParticipantRejected(_)), "{err:?}");
}

/// A removed participant can no longer read the thread (403).
#[test]
fn removed_participant_gets_403() {
    let f = fixture();
    let (bob_id, bob_thread) = f.add_user();
    bob_thread.get_properties().expect("bob can read");
    f.thread.remove_participant(&bob_id).expect("remove");
    let err = bob_thread.get_properties().expect_err("removed");
    assert_eq!(err.status(), Some(403), "{err:?}");
    let err = bob_thread
        .send_message("let me in", None)
        .expect_err("removed");
    assert_eq!(err.status(), Some(403), "{err:?}");
}

/// Clones of a thread client work from many threads at once.
#[test]
fn thread_client_clones_work_concurrently() {
    let f = fixture();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let thread = f.thread.clone();
            thread::spawn(move || {
                for i in 0..5 {
                    thread
                        .send_message(&format!("t{t}-{i}"), None)
                        .expect("send");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    assert_eq!(user_messages(&f.thread).len(), 20);
    drop(f.chat);
}

/// What one request looked like on the wire.
#[derive(Clone, Debug)]
struct Wire {
    method: String,
    target: String,
    content_type: Option<String>,
    body: String,
}

/// A server that records requests and answers each with the given status and body.
fn recorder(status: u16, body: &'static str) -> (String, Arc<Mutex<Vec<Wire>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let base = serve(move |_, request| {
        seen2.lock().expect("lock").push(Wire {
            content_type: request.header("content-type").map(str::to_owned),
            body: String::from_utf8_lossy(&request.body).into_owned(),
            method: request.method,
            target: request.target,
        });
        format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    });
    (base, seen)
}

fn recorded_thread(base: &str) -> ChatThreadClient {
    let emu = Emulator::start().expect("emulator");
    let token = emu.user_with_token().1;
    chat_client(base, &token)
        .get_chat_thread_client("19:abc@thread.v2")
        .expect("thread client")
}

/// Write operations send the same method, path, content type and JSON as the official SDK.
#[test]
fn write_operations_send_official_wire_format() {
    let (base, seen) = recorder(204, "");
    let thread = recorded_thread(&base);
    let t = "/chat/threads/19%3Aabc%40thread.v2";
    let v = "api-version=2025-03-15";
    let _ = thread.update_topic("New");
    let _ = thread.update_message(
        "17",
        Some(UpdateMessageOptions {
            content: Some("c".into()),
            metadata: None,
        }),
    );
    let _ = thread.delete_message("17");
    let _ = thread.send_read_receipt("17");
    let _ = thread.send_typing_notification(None);
    let _ = thread.send_typing_notification(Some(TypingNotificationOptions {
        sender_display_name: Some("A".into()),
    }));
    let _ = thread.remove_participant(&CommunicationIdentifier::communication_user("8:acs:r_u"));
    let _ = thread.send_message(
        "hi",
        Some(SendMessageOptions {
            sender_display_name: Some("A".into()),
            ..Default::default()
        }),
    );
    let json = Some("application/json");
    let patch = Some("application/merge-patch+json");
    let want: Vec<(&str, String, Option<&str>, serde_json::Value)> = vec![
        (
            "PATCH",
            format!("{t}?{v}"),
            patch,
            serde_json::json!({"topic": "New"}),
        ),
        (
            "PATCH",
            format!("{t}/messages/17?{v}"),
            patch,
            serde_json::json!({"content": "c"}),
        ),
        (
            "DELETE",
            format!("{t}/messages/17?{v}"),
            None,
            serde_json::Value::Null,
        ),
        (
            "POST",
            format!("{t}/readReceipts?{v}"),
            json,
            serde_json::json!({"chatMessageId": "17"}),
        ),
        (
            "POST",
            format!("{t}/typing?{v}"),
            json,
            serde_json::json!({}),
        ),
        (
            "POST",
            format!("{t}/typing?{v}"),
            json,
            serde_json::json!({"senderDisplayName": "A"}),
        ),
        (
            "POST",
            format!("{t}/participants/:remove?{v}"),
            json,
            serde_json::json!({"rawId": "8:acs:r_u", "communicationUser": {"id": "8:acs:r_u"}}),
        ),
        (
            "POST",
            format!("{t}/messages?{v}"),
            json,
            serde_json::json!({"content": "hi", "senderDisplayName": "A", "type": "text"}),
        ),
    ];
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), want.len(), "requests: {seen:#?}");
    for (got, (method, target, content_type, body)) in seen.iter().zip(&want) {
        let got_body: serde_json::Value = if got.body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&got.body).expect("JSON body")
        };
        assert_eq!(
            (
                got.method.as_str(),
                got.target.as_str(),
                got.content_type.as_deref(),
                &got_body
            ),
            (*method, target.as_str(), *content_type, body),
            "request {got:?}"
        );
    }
}

/// A list request carries the query parameters in the official order.
#[test]
fn list_operations_send_official_query() {
    let (base, seen) = recorder(200, r#"{"value":[]}"#);
    let thread = recorded_thread(&base);
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-26T23:28:53.471Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let _ = thread
        .list_messages(Some(ListMessagesOptions {
            results_per_page: Some(2),
            start_time: Some(start),
            ..Default::default()
        }))
        .count();
    let _ = thread
        .list_participants(Some(ListParticipantsOptions {
            results_per_page: Some(10),
            skip: Some(0),
            ..Default::default()
        }))
        .count();
    let _ = thread.list_read_receipts(None).count();
    let targets: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|w| w.target.clone())
        .collect();
    assert_eq!(
        targets,
        [
            "/chat/threads/19%3Aabc%40thread.v2/messages?maxPageSize=2&startTime=2026-11-26T23%3A28%3A53.471Z&api-version=2025-03-15",
            "/chat/threads/19%3Aabc%40thread.v2/participants?maxPageSize=10&skip=0&api-version=2025-03-15",
            "/chat/threads/19%3Aabc%40thread.v2/readReceipts?api-version=2025-03-15",
        ]
    );
}

/// A 201 add-participants answer with an empty body means nobody was rejected.
#[test]
fn add_participants_accepts_empty_success_body() {
    let (base, _seen) = recorder(201, "");
    let thread = recorded_thread(&base);
    let p = ChatParticipant::new(CommunicationIdentifier::communication_user("8:acs:r_u"));
    assert_eq!(thread.add_participants(&[p]).expect("added").len(), 0);
}
