//! Every event the emulator publishes decodes with `acs_chat::events` (both schemas), has
//! the fields the spec requires (the models' required fields), re-encodes without loss, and
//! matches what the chat API returns for the same message.

use acs_chat_emulator::test_webhook as webhook;

use std::collections::BTreeSet;
use std::time::Duration;

use acs_chat::events::{self, ChatEventData, ChatEventEnvelope};
use acs_chat::{
    ChatClient, ChatParticipant, CommunicationIdentifier, CommunicationTokenCredential,
    CreateChatThreadOptions, TypingNotificationOptions, UpdateMessageOptions,
};
use acs_chat_emulator::{Emulator, EventSchema, SubscriptionOptions};
use serde_json::Value;

fn client(emu: &Emulator) -> (CommunicationIdentifier, ChatClient) {
    let (user, token) = emu.user_with_token();
    let chat = ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(token).expect("token"),
    )
    .expect("client");
    (CommunicationIdentifier::from_raw_id(&user), chat)
}

/// Runs every chat operation once: (messages sent, as (id, sequenceId, version)).
fn every_operation(emu: &Emulator) -> (String, String, String) {
    let (_a, a) = client(emu);
    let (b_id, _b) = client(emu);
    let (c_id, _c) = client(emu);
    let tid = a
        .create_chat_thread(
            "all events",
            Some(CreateChatThreadOptions {
                participants: vec![ChatParticipant::new(b_id).with_display_name("Bee")],
                ..Default::default()
            }),
        )
        .expect("create")
        .chat_thread
        .id;
    let t = a.get_chat_thread_client(&tid).expect("thread client");
    t.update_topic("renamed").expect("topic");
    t.add_participant(&ChatParticipant::new(c_id.clone()).with_display_name("Cee"))
        .expect("add");
    let sent = t.send_message("hello", None).expect("send");
    let m = t.get_message(&sent.id).expect("get");
    t.update_message(
        &sent.id,
        Some(UpdateMessageOptions {
            content: Some("edited".into()),
            ..Default::default()
        }),
    )
    .expect("edit");
    t.send_typing_notification(Some(TypingNotificationOptions {
        sender_display_name: Some("Ay".into()),
    }))
    .expect("typing");
    t.delete_message(&sent.id).expect("delete");
    t.remove_participant(&c_id).expect("remove");
    a.delete_chat_thread(&tid).expect("delete thread");
    (m.id, m.sequence_id, m.version)
}

/// 17 types: the 8 per-user, the 8 per-thread, and the typing indicator.
const EXPECTED_TYPES: [&str; 17] = [
    "ChatMessageDeleted",
    "ChatMessageDeletedInThread",
    "ChatMessageEdited",
    "ChatMessageEditedInThread",
    "ChatMessageReceived",
    "ChatMessageReceivedInThread",
    "ChatParticipantAddedToThreadWithUser",
    "ChatParticipantRemovedFromThreadWithUser",
    "ChatThreadCreated",
    "ChatThreadCreatedWithUser",
    "ChatThreadDeleted",
    "ChatThreadParticipantAdded",
    "ChatThreadParticipantRemoved",
    "ChatThreadPropertiesUpdated",
    "ChatThreadPropertiesUpdatedPerUser",
    "ChatThreadWithUserDeleted",
    "ChatTypingIndicatorReceivedInThread",
];

fn drain(rx: &std::sync::mpsc::Receiver<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(v) = rx.recv_timeout(Duration::from_millis(300)) {
        out.push(v);
    }
    out
}

/// Checks one decoded event against its raw JSON and the message the API returned.
fn check(env: &ChatEventEnvelope, raw: &Value, msg: &(String, String, String)) {
    assert!(
        !matches!(env.data, ChatEventData::Unknown { .. }),
        "not decoded as a chat event: {raw}"
    );
    assert!(!env.id.is_empty() && env.subject.is_some(), "{raw}");
    assert!(env.event_time.is_some(), "{raw}");
    let tid = env.data.thread_id().expect("threadId").to_string();
    assert!(
        env.subject
            .as_deref()
            .unwrap()
            .starts_with(&format!("thread/{tid}/")),
        "subject {:?} of {raw}",
        env.subject
    );
    assert_eq!(
        env.data.is_per_user(),
        env.data.recipient().is_some(),
        "per-user events and only they carry a recipient: {raw}"
    );
    let per_user_subject = env.subject.as_deref().unwrap().contains("/recipient/");
    assert_eq!(env.data.is_per_user(), per_user_subject, "subject of {raw}");
    if let ChatEventData::MessageReceived(m) = &env.data {
        assert_eq!(m.message_id, msg.0);
        assert_eq!(
            m.sequence_id.map(|s| s.to_string()),
            Some(msg.1.clone()),
            "sequenceId"
        );
        assert_eq!(m.version.to_string(), msg.2, "version");
        assert_eq!(m.message_body, "hello");
    }
    if let ChatEventData::MessageReceivedInThread(m) = &env.data {
        assert_eq!(
            m.sequence_id.map(|s| s.to_string()),
            Some(msg.1.clone()),
            "sequenceId"
        );
        assert_eq!(m.version.to_string(), msg.2, "version");
    }
}

/// Every event type the emulator emits decodes, in the Event Grid schema, without loss.
#[test]
fn emulator_events_decode_with_sdk_models_event_grid() {
    let emu = Emulator::start().expect("emulator");
    let rx = emu.events();
    let msg = every_operation(&emu);
    let raw = drain(&rx);
    let mut seen = BTreeSet::new();
    for v in &raw {
        let body = Value::Array(vec![v.clone()]).to_string();
        let decoded = events::parse("application/json; charset=utf-8", body.as_bytes())
            .unwrap_or_else(|e| panic!("{e}: {v}"));
        assert_eq!(decoded.len(), 1);
        let env = &decoded[0];
        check(env, v, &msg);
        assert_eq!(env.data_version.as_deref(), Some("1.0"));
        assert_eq!(env.metadata_version.as_deref(), Some("1"));
        assert_eq!(
            serde_json::to_value(env).expect("encode"),
            *v,
            "re-encoding loses nothing"
        );
        seen.insert(
            env.event_type
                .trim_start_matches("Microsoft.Communication.")
                .to_string(),
        );
    }
    let expected: BTreeSet<String> = EXPECTED_TYPES.iter().map(|s| s.to_string()).collect();
    assert_eq!(seen, expected, "event types emitted");
}

/// The same events delivered to a CloudEvents webhook decode too.
#[test]
fn emulator_events_decode_with_sdk_models_cloud_events() {
    let emu = Emulator::start().expect("emulator");
    let hook =
        webhook::start(|d| webhook::handshake(d).unwrap_or_else(|| webhook::Answer::status(200)));
    emu.subscribe_events(
        &hook.url,
        SubscriptionOptions::default().schema(EventSchema::CloudEvents),
    )
    .expect("subscribed");
    let rx = emu.events();
    let msg = every_operation(&emu);
    let n = drain(&rx).len();
    let mut seen = BTreeSet::new();
    let mut got = 0;
    while got < n {
        let d = hook
            .rx
            .recv_timeout(Duration::from_secs(20))
            .expect("delivery");
        if d.is_handshake() {
            continue;
        }
        got += 1;
        let ct = d.header("content-type").expect("content type").to_string();
        let decoded = events::parse(&ct, &d.body).expect("decodes");
        let raw: Value = serde_json::from_slice(&d.body).expect("json");
        check(&decoded[0], &raw, &msg);
        assert_eq!(decoded[0].spec_version.as_deref(), Some("1.0"));
        seen.insert(decoded[0].event_type.clone());
    }
    assert_eq!(seen.len(), EXPECTED_TYPES.len(), "{seen:?}");
}
