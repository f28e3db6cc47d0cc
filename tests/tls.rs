//! The SDK over https: the chat and identity clients trust the emulator's development CA
//! through `root_certificates`, with verification on.

use std::time::Duration;

use acs_chat::identity::{
    CommunicationIdentityClient, CommunicationIdentityClientOptions, CommunicationTokenScope,
};
use acs_chat::{
    ChatClient, ChatClientOptions, ChatParticipant, CommunicationTokenCredential, Error,
    SendMessageOptions, TransportOptions, UpdateMessageOptions,
};
use acs_chat_emulator::Emulator;

/// The quickstart over https: create users and a token (identity), create a thread, add a
/// participant, send, get, edit, list and delete messages, read receipt, typing, topic,
/// participants, delete the thread.
#[test]
fn quickstart_runs_over_https_with_emulator_ca() {
    let emu = Emulator::builder()
        .tls()
        .start()
        .expect("emulator over https");
    assert!(emu.endpoint().starts_with("https://"), "{}", emu.endpoint());
    let ca = emu.ca_pem().expect("a development CA");
    let identity = CommunicationIdentityClient::from_connection_string_with_options(
        &emu.connection_string(),
        CommunicationIdentityClientOptions {
            transport_options: TransportOptions {
                root_certificates: vec![ca.clone()],
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .expect("identity client");
    let (alice, token) = identity
        .create_user_and_token(
            &[CommunicationTokenScope::Chat],
            Some(Duration::from_secs(3600)),
        )
        .expect("create user and token over https");
    let bob = identity.create_user().expect("create user over https");
    let chat = ChatClient::with_options(
        &identity.endpoint(),
        CommunicationTokenCredential::new(token.token).expect("credential"),
        ChatClientOptions {
            transport_options: TransportOptions {
                root_certificates: vec![ca],
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .expect("chat client");
    let created = chat
        .create_chat_thread("over https", None)
        .expect("create thread over https");
    let thread = chat
        .get_chat_thread_client(&created.chat_thread.id)
        .expect("thread client");
    let rejected = thread
        .add_participants(&[ChatParticipant::new(bob.clone()).with_display_name("Bob")])
        .expect("add participant");
    assert!(rejected.is_empty(), "rejected: {rejected:?}");
    let sent = thread
        .send_message(
            "hello over tls",
            Some(SendMessageOptions {
                sender_display_name: Some("Alice".into()),
                ..Default::default()
            }),
        )
        .expect("send over https");
    let got = thread.get_message(&sent.id).expect("get message");
    assert_eq!(
        got.content.as_ref().and_then(|c| c.message.as_deref()),
        Some("hello over tls")
    );
    thread
        .update_message(
            &sent.id,
            Some(UpdateMessageOptions {
                content: Some("edited".into()),
                ..Default::default()
            }),
        )
        .expect("edit message");
    thread.send_read_receipt(&sent.id).expect("read receipt");
    thread.send_typing_notification(None).expect("typing");
    thread.update_topic("renamed").expect("update topic");
    let messages: Vec<_> = thread
        .list_messages(None)
        .collect::<Result<_, _>>()
        .expect("list messages (nextLink over https)");
    assert!(
        messages.iter().any(|m| m.id == sent.id),
        "sent message not listed: {} messages",
        messages.len()
    );
    let participants: Vec<_> = thread
        .list_participants(None)
        .collect::<Result<_, _>>()
        .expect("list participants");
    assert_eq!(participants.len(), 2, "{participants:?}");
    thread.delete_message(&sent.id).expect("delete message");
    thread.remove_participant(&bob).expect("remove participant");
    chat.delete_chat_thread(thread.thread_id())
        .expect("delete thread");
    identity.delete_user(&alice).expect("delete user");
}

/// Without the CA the same https endpoint is refused (a transport error, no request
/// reaches the emulator's handlers); junk in `root_certificates` is a typed error before
/// any request.
#[test]
fn https_without_ca_is_refused_and_junk_ca_is_invalid_argument() {
    let emu = Emulator::builder()
        .tls()
        .start()
        .expect("emulator over https");
    let (_user, token) = emu.user_with_token();
    let plain = ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(token.clone()).expect("credential"),
    )
    .expect("chat client");
    let err = plain
        .create_chat_thread("untrusted", None)
        .expect_err("an untrusted certificate must fail");
    assert!(
        !matches!(err, Error::Service(_)),
        "expected a transport error, got {err:?}"
    );
    let junk = ChatClient::with_options(
        &emu.endpoint(),
        CommunicationTokenCredential::new(token).expect("credential"),
        ChatClientOptions {
            transport_options: TransportOptions {
                root_certificates: vec!["not a certificate".into()],
                ..Default::default()
            },
            ..Default::default()
        },
    );
    assert!(
        matches!(
            junk,
            Err(Error::InvalidArgument {
                name: "root_certificates",
                ..
            })
        ),
        "{junk:?}"
    );
    let junk = CommunicationIdentityClient::from_connection_string_with_options(
        &emu.connection_string(),
        CommunicationIdentityClientOptions {
            transport_options: TransportOptions {
                root_certificates: vec![String::new()],
                ..Default::default()
            },
            ..Default::default()
        },
    );
    assert!(
        matches!(
            junk,
            Err(Error::InvalidArgument {
                name: "root_certificates",
                ..
            })
        ),
        "{:?}",
        junk.err()
    );
}
