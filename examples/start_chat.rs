//! The ACS Chat quickstart, every step, through acs-chat.
//!
//! Run it offline against the bundled emulator (started in this process):
//!
//! ```console
//! cargo run --example start_chat
//! ```
//!
//! or against a real Azure Communication Services resource:
//!
//! ```console
//! ACS_CONNECTION_STRING="endpoint=https://<resource>.communication.azure.com/;accesskey=<key>" \
//!     cargo run --example start_chat
//! ```
//!
//! It creates two users and a token with the identity client, then walks the chat quickstart:
//! threads (with and without an idempotency token), messages (text and html, display name,
//! metadata), edits, the topic, read receipts, typing, participants (one, many with a partial
//! failure, removal), deletes, and cleans up after itself. Each step prints what it returned.

use std::collections::HashMap;
use std::error::Error;
use std::time::Duration;

use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope};
use acs_chat::{
    ChatClient, ChatMessageType, ChatParticipant, CommunicationIdentifier,
    CommunicationTokenCredential, CreateChatThreadOptions, ListChatThreadsOptions,
    ListMessagesOptions, ListParticipantsOptions, ListReadReceiptsOptions, SendMessageOptions,
    TypingNotificationOptions, UpdateMessageOptions,
};

fn main() -> Result<(), Box<dyn Error>> {
    // With no connection string, run against an emulator in this process. It lives as long as
    // `_emulator`, i.e. until `main` returns.
    let (connection_string, _emulator) = match std::env::var("ACS_CONNECTION_STRING") {
        Ok(cs) if !cs.trim().is_empty() => {
            println!("Using the resource in ACS_CONNECTION_STRING");
            (cs, None)
        }
        _ => {
            let emulator = acs_chat_emulator::Emulator::start()?;
            println!("Started the emulator at {}", emulator.endpoint());
            (emulator.connection_string(), Some(emulator))
        }
    };

    // Users and a token, from the identity API (HMAC-signed with the access key).
    let identity = CommunicationIdentityClient::from_connection_string(&connection_string)?;
    let endpoint = identity.endpoint();
    let (alice, token) = identity.create_user_and_token(
        &[CommunicationTokenScope::Chat],
        Some(Duration::from_secs(24 * 3600)),
    )?;
    println!(
        "identity: created {} with a token expiring {}",
        alice.raw_id(),
        token.expires_on
    );
    let bob = identity.create_user()?;
    println!("identity: created {}", bob.raw_id());

    // The chat client: one connection pool, shared by every thread client made from it.
    let chat = ChatClient::new(&endpoint, CommunicationTokenCredential::new(token.token)?)?;

    // Create a thread with an idempotency token, then repeat it: same thread.
    let idempotency_token = uuid_like();
    let alice_participant = ChatParticipant::new(alice.clone()).with_display_name("Alice");
    let options = || CreateChatThreadOptions {
        participants: vec![alice_participant.clone()],
        idempotency_token: Some(idempotency_token.clone()),
        ..Default::default()
    };
    let created = chat.create_chat_thread("Quickstart", Some(options()))?;
    let thread_props = created.chat_thread;
    let thread_id = thread_props.id.clone();
    println!(
        "create_chat_thread: {} (topic {:?}, {} invalid participants)",
        thread_id,
        thread_props.topic,
        created.errors.len()
    );
    let repeated = chat.create_chat_thread("Quickstart", Some(options()))?;
    let repeated_id = repeated.chat_thread.id;
    println!(
        "create_chat_thread, same idempotency token: {repeated_id} (same thread: {})",
        repeated_id == thread_id
    );

    // And one without: a fresh idempotency token is generated for it.
    let other = chat.create_chat_thread("Scratch thread", None)?;
    let other_id = other.chat_thread.id;
    println!("create_chat_thread, no idempotency token: {other_id}");

    // A client bound to the thread (no request is sent).
    let thread = chat.get_chat_thread_client(&thread_id)?;
    println!("get_chat_thread_client: {}", thread.thread_id());

    let props = chat.get_chat_thread(&thread_id)?;
    println!(
        "get_chat_thread: topic {:?}, created {} by {}",
        props.topic,
        props.created_on,
        props.created_by.raw_id()
    );

    let listed: Vec<_> = chat
        .list_chat_threads(Some(ListChatThreadsOptions {
            results_per_page: Some(1),
            ..Default::default()
        }))
        .collect::<Result<_, _>>()?;
    println!(
        "list_chat_threads: {} threads ({})",
        listed.len(),
        listed
            .iter()
            .map(|t| t.topic.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Messages: text with a display name and metadata, then html.
    let text = thread.send_message(
        "Hello world!",
        Some(SendMessageOptions {
            chat_message_type: Some("text".parse::<ChatMessageType>()?),
            sender_display_name: Some("Alice".into()),
            metadata: Some(HashMap::from([(
                "tag".to_string(),
                "quickstart".to_string(),
            )])),
            ..Default::default()
        }),
    )?;
    println!("send_message (text): {}", text.id);
    let html = thread.send_message(
        "<p><b>Hello</b> in html</p>",
        Some(SendMessageOptions {
            chat_message_type: Some(ChatMessageType::Html),
            sender_display_name: Some("Alice".into()),
            ..Default::default()
        }),
    )?;
    println!("send_message (html): {}", html.id);

    let message = thread.get_message(&text.id)?;
    println!(
        "get_message: {} {} seq {} from {:?}: {:?}",
        message.id,
        message.message_type,
        message.sequence_id,
        message.sender_display_name,
        message.content.as_ref().and_then(|c| c.message.as_deref())
    );

    let mut pages = 0;
    let mut items = 0;
    for page in thread
        .list_messages(Some(ListMessagesOptions {
            results_per_page: Some(2),
            ..Default::default()
        }))
        .by_page()
    {
        let page = page?;
        pages += 1;
        for m in &page.items {
            items += 1;
            println!(
                "  list_messages: seq {} {} {}",
                m.sequence_id, m.message_type, m.id
            );
        }
    }
    println!("list_messages: {items} messages in {pages} pages of up to 2");

    thread.update_message(
        &text.id,
        Some(UpdateMessageOptions {
            content: Some("Hello world! (edited)".into()),
            metadata: Some(HashMap::from([("tag".to_string(), "edited".to_string())])),
        }),
    )?;
    let edited = thread.get_message(&text.id)?;
    println!(
        "update_message: {:?}, edited {:?}",
        edited.content.as_ref().and_then(|c| c.message.as_deref()),
        edited.edited_on
    );

    thread.update_topic("Quickstart (renamed)")?;
    println!("update_topic: {:?}", thread.get_properties()?.topic);

    // Read receipts and typing.
    thread.send_read_receipt(&text.id)?;
    println!("send_read_receipt: {}", text.id);
    for receipt in thread.list_read_receipts(Some(ListReadReceiptsOptions {
        results_per_page: Some(10),
        skip: Some(0),
        ..Default::default()
    })) {
        let receipt = receipt?;
        println!(
            "list_read_receipts: {} read {} at {}",
            receipt.sender.raw_id(),
            receipt.chat_message_id,
            receipt.read_on
        );
    }
    thread.send_typing_notification(Some(TypingNotificationOptions {
        sender_display_name: Some("Alice".into()),
    }))?;
    println!("send_typing_notification: sent");

    // Participants: one, then many with a partial failure, then a removal.
    thread.add_participant(&ChatParticipant::new(bob.clone()).with_display_name("Bob"))?;
    println!("add_participant: {}", bob.raw_id());
    let carol = identity.create_user()?;
    let nobody = CommunicationIdentifier::communication_user(format!(
        "8:acs:not-a-user-of-this-resource-{}",
        uuid_like()
    ));
    let failed = thread.add_participants(&[
        ChatParticipant::new(carol.clone()).with_display_name("Carol"),
        ChatParticipant::new(nobody).with_display_name("Nobody"),
    ])?;
    for (participant, error) in &failed {
        println!(
            "add_participants: rejected {} ({} {})",
            participant.identifier.raw_id(),
            error.code,
            error.message
        );
    }
    let names: Vec<String> = thread
        .list_participants(Some(ListParticipantsOptions {
            results_per_page: Some(10),
            ..Default::default()
        }))
        .map(|p| p.map(|p| p.display_name.unwrap_or_else(|| p.identifier.raw_id())))
        .collect::<Result<_, _>>()?;
    println!("list_participants: {}", names.join(", "));
    thread.remove_participant(&bob)?;
    println!(
        "remove_participant: {} (now {} participants)",
        bob.raw_id(),
        thread
            .list_participants(None)
            .collect::<Result<Vec<_>, _>>()?
            .len()
    );

    // Clean up.
    thread.delete_message(&html.id)?;
    println!("delete_message: {}", html.id);
    chat.delete_chat_thread(&other_id)?;
    chat.delete_chat_thread(&thread_id)?;
    println!("delete_chat_thread: {other_id}, {thread_id}");
    for user in [&bob, &carol, &alice] {
        identity.delete_user(user)?;
    }
    println!("identity: deleted the users; done");
    Ok(())
}

/// A random id for idempotency tokens and made-up user ids.
fn uuid_like() -> String {
    uuid::Uuid::new_v4().to_string()
}
