//! One `Transport` shared by many users' clients: one connection pool, however many clients.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use acs_chat::identity::{CommunicationIdentityClient, CommunicationIdentityClientOptions};
use acs_chat::{
    ChatClient, ChatClientOptions, CommunicationTokenCredential, Error, Transport, TransportOptions,
};
use acs_chat_emulator::Emulator;

/// The idle connections one pool keeps (`src/http/mod.rs`, `MAX_IDLE_CONNECTIONS`): a shared
/// transport never needs more connections than that.
const POOL_SIZE: u64 = 32;

/// 500 users' clients on one transport, driven by 8 busy threads, open no more connections
/// than one pool holds (counted by the emulator), and every user acts as itself.
#[test]
fn shared_transport_500_users_open_one_pool_of_connections() {
    let emu = Arc::new(Emulator::start().expect("emulator"));
    let transport = Transport::new(TransportOptions::default()).expect("transport");
    let tokens: Vec<String> = (0..500).map(|_| emu.user_with_token().1).collect();
    let before = emu.connection_count();
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for worker in 0..8 {
            let (tokens, transport, emu, done) = (&tokens, &transport, &emu, &done);
            s.spawn(move || {
                for (i, token) in tokens.iter().enumerate().skip(worker).step_by(8) {
                    let credential =
                        CommunicationTokenCredential::new(token.clone()).expect("token");
                    let options = ChatClientOptions {
                        transport: Some(transport.clone()),
                        ..Default::default()
                    };
                    let chat = ChatClient::with_options(&emu.endpoint(), credential, options)
                        .expect("client");
                    let id = chat
                        .create_chat_thread(&format!("user {i}"), None)
                        .expect("create")
                        .chat_thread
                        .id;
                    let topic = chat.get_chat_thread(&id).expect("get").topic;
                    assert_eq!(topic, format!("user {i}"), "user {i} read another's thread");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let opened = emu.connection_count() - before;
    println!("500 users, 1000 calls on 8 threads over one transport: {opened} connections");
    assert_eq!(done.load(Ordering::Relaxed), 500, "users served");
    assert!(
        opened <= POOL_SIZE,
        "{opened} connections for one shared pool of {POOL_SIZE}"
    );
}

/// `with_credential` keeps the pool: switching users opens no connection, and each switched
/// client calls as its own user.
#[test]
fn with_credential_switches_user_and_keeps_connection() {
    let emu = Emulator::start().expect("emulator");
    let first = CommunicationTokenCredential::new(emu.user_with_token().1).expect("token");
    let chat = ChatClient::new(&emu.endpoint(), first).expect("client");
    let mine = chat
        .create_chat_thread("first user's", None)
        .expect("create")
        .chat_thread
        .id;
    let before = emu.connection_count();
    for n in 0..20 {
        let other = CommunicationTokenCredential::new(emu.user_with_token().1).expect("token");
        let switched = chat.with_credential(other);
        let err = switched
            .get_chat_thread(&mine)
            .expect_err("not a participant");
        assert_eq!(
            err.status(),
            Some(403),
            "user {n} read the first user's thread: {err:?}"
        );
        switched
            .create_chat_thread("own", None)
            .expect("create as the new user");
    }
    let opened = emu.connection_count() - before;
    assert!(
        opened <= 1,
        "{opened} new connections for 20 sequential user switches"
    );
}

/// Chat and identity clients share one transport: the identity client's signed calls and
/// the chat client's bearer calls go over one connection.
#[test]
fn identity_and_chat_clients_share_one_transport() {
    let emu = Emulator::start().expect("emulator");
    let transport = Transport::new(TransportOptions::default()).expect("transport");
    let identity = CommunicationIdentityClient::from_connection_string_with_options(
        &emu.connection_string(),
        CommunicationIdentityClientOptions {
            transport: Some(transport.clone()),
            ..Default::default()
        },
    )
    .expect("identity client");
    let before = emu.connection_count();
    let (_user, token) = identity
        .create_user_and_token(&[acs_chat::identity::CommunicationTokenScope::Chat], None)
        .expect("user and token");
    let options = ChatClientOptions {
        transport: Some(transport),
        ..Default::default()
    };
    let credential = CommunicationTokenCredential::new(token.token).expect("token");
    let chat = ChatClient::with_options(&emu.endpoint(), credential, options).expect("chat");
    chat.create_chat_thread("shared", None).expect("create");
    let opened = emu.connection_count() - before;
    assert_eq!(
        opened, 1,
        "identity then chat over one pool opened {opened} connections"
    );
}

/// A shared transport brings its settings: setting them on the client too is refused by
/// name, before any request.
#[test]
fn transport_with_client_settings_is_invalid_argument() {
    let emu = Emulator::start().expect("emulator");
    let transport = Transport::new(TransportOptions::default()).expect("transport");
    let options = ChatClientOptions {
        transport_options: TransportOptions {
            call_timeout: std::time::Duration::from_secs(1),
            ..Default::default()
        },
        transport: Some(transport),
        ..Default::default()
    };
    let credential = CommunicationTokenCredential::new(emu.user_with_token().1).expect("token");
    let r = ChatClient::with_options(&emu.endpoint(), credential, options);
    assert!(
        matches!(
            r,
            Err(Error::InvalidArgument {
                name: "transport_options",
                ..
            })
        ),
        "{r:?}"
    );
}

/// The identity client follows the same rule: settings on both a shared transport and the
/// client are refused by name, before any request.
#[test]
fn identity_transport_with_client_settings_is_invalid_argument() {
    let emu = Emulator::start().expect("emulator");
    let options = CommunicationIdentityClientOptions {
        transport_options: TransportOptions {
            allow_insecure_http: true,
            ..Default::default()
        },
        transport: Some(Transport::new(TransportOptions::default()).expect("transport")),
        ..Default::default()
    };
    let before = emu.request_count();
    let r = CommunicationIdentityClient::from_connection_string_with_options(
        &emu.connection_string(),
        options,
    );
    assert!(
        matches!(
            r,
            Err(Error::InvalidArgument {
                name: "transport_options",
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(emu.request_count(), before, "a request was sent");
}

/// The identity client's embedded options carry the body limit the chat client has: a
/// response past it is `BodyTooLarge`, not an allocation.
#[test]
fn identity_max_response_body_is_enforced() {
    let emu = Emulator::start().expect("emulator");
    let options = CommunicationIdentityClientOptions {
        transport_options: TransportOptions {
            max_response_body: 16,
            retry: acs_chat::RetryOptions::none(),
            ..Default::default()
        },
        ..Default::default()
    };
    let identity = CommunicationIdentityClient::from_connection_string_with_options(
        &emu.connection_string(),
        options,
    )
    .expect("client");
    let r = identity.create_user();
    assert!(
        matches!(r, Err(Error::BodyTooLarge { limit: 16 })),
        "create_user with a 16-byte body limit gave {r:?}"
    );
}
