//! The bad-input table: every hostile or mistaken input gives a typed error and no panic, and
//! inputs that are invalid client-side send no request at all (the emulator's request count
//! proves it).

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use acs_chat::identity::{AzureKeyCredential, CommunicationIdentityClient};
use acs_chat::{
    ChatClient, ChatClientOptions, ChatParticipant, ChatThreadClient, CommunicationIdentifier,
    CommunicationTokenCredential, CreateChatThreadOptions, Error, ListChatThreadsOptions,
    ListMessagesOptions, ListParticipantsOptions, ListReadReceiptsOptions, Pager, RetryOptions,
    TransportOptions,
};
use acs_chat_emulator::Emulator;

#[allow(dead_code)] // this test crate uses only some of the shared helpers
mod common;

use common::{chat_client, chat_client_with, new_thread_client, serve};

struct Ctx {
    emu: Emulator,
    chat: ChatClient,
    thread: ChatThreadClient,
}

fn ctx() -> Ctx {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let options = ChatClientOptions {
        transport_options: TransportOptions {
            retry: RetryOptions::none(),
            ..Default::default()
        },
        ..Default::default()
    };
    let chat = chat_client_with(&emu.endpoint(), &token, options);
    let thread = new_thread_client(&chat, "bad input");
    Ctx { emu, chat, thread }
}

/// What a case must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// `Error::InvalidArgument`, and no request reached the emulator.
    InvalidArgument,
    /// A typed error from the service (it was asked, and said no).
    ServiceError,
    /// The service accepted it or answered with a typed error; either is fine, no panic.
    Either,
}

type Case = (&'static str, Box<dyn Fn(&Ctx) -> Result<(), Error>>, Expect);

/// Drops a success value: the table only cares about the error.
fn ok<T>(_: T) {}

/// Walks a whole pager: its first error, which must also be its last item (a pager ends
/// after an error), or `Ok` when every item was fine.
fn walk<T>(mut pager: Pager<T>) -> Result<(), Error> {
    while let Some(item) = pager.next() {
        if let Err(e) = item {
            let after = pager.next().is_some();
            assert!(!after, "the pager yielded more after its error {e:?}");
            return Err(e);
        }
    }
    Ok(())
}

/// `n` participants with distinct (unknown) user ids.
fn participants(n: usize) -> Vec<ChatParticipant> {
    (0..n)
        .map(|i| {
            ChatParticipant::new(CommunicationIdentifier::communication_user(format!(
                "8:acs:limits_{i}"
            )))
        })
        .collect()
}

/// Metadata of exactly `bytes` bytes (keys and values).
fn metadata(bytes: usize) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([("k".to_string(), "v".repeat(bytes - 1))])
}

fn cases() -> Vec<Case> {
    vec![
        // Ids: empty, whitespace, control characters, dot segments.
        (
            "empty thread id",
            Box::new(|c: &Ctx| c.chat.get_chat_thread("").map(ok)),
            Expect::InvalidArgument,
        ),
        (
            "whitespace thread id",
            Box::new(|c: &Ctx| c.chat.get_chat_thread(" \t ").map(ok)),
            Expect::InvalidArgument,
        ),
        (
            "empty thread id for client",
            Box::new(|c: &Ctx| c.chat.get_chat_thread_client("").map(ok)),
            Expect::InvalidArgument,
        ),
        (
            "newline thread id",
            Box::new(|c: &Ctx| c.chat.delete_chat_thread("19:a\n@thread.v2")),
            Expect::InvalidArgument,
        ),
        (
            "nul thread id",
            Box::new(|c: &Ctx| c.chat.get_chat_thread("a\u{0}b").map(ok)),
            Expect::InvalidArgument,
        ),
        (
            "dot-dot thread id",
            Box::new(|c: &Ctx| c.chat.get_chat_thread("..").map(ok)),
            Expect::InvalidArgument,
        ),
        (
            "dot thread id",
            Box::new(|c: &Ctx| c.chat.delete_chat_thread(".")),
            Expect::InvalidArgument,
        ),
        (
            "empty message id",
            Box::new(|c: &Ctx| c.thread.get_message("").map(ok)),
            Expect::InvalidArgument,
        ),
        (
            "whitespace message id",
            Box::new(|c: &Ctx| c.thread.delete_message("  ")),
            Expect::InvalidArgument,
        ),
        (
            "control message id",
            Box::new(|c: &Ctx| c.thread.update_message("1\r\n2", None)),
            Expect::InvalidArgument,
        ),
        (
            "dot-dot message id",
            Box::new(|c: &Ctx| c.thread.get_message("..").map(ok)),
            Expect::InvalidArgument,
        ),
        (
            "empty read receipt id",
            Box::new(|c: &Ctx| c.thread.send_read_receipt("")),
            Expect::InvalidArgument,
        ),
        (
            "empty participant id",
            Box::new(|c: &Ctx| {
                c.thread
                    .remove_participant(&CommunicationIdentifier::communication_user(""))
            }),
            Expect::InvalidArgument,
        ),
        (
            "control char participant id",
            Box::new(|c: &Ctx| {
                c.thread
                    .add_participants(&[ChatParticipant::new(
                        CommunicationIdentifier::communication_user("8:acs:\u{7}"),
                    )])
                    .map(ok)
            }),
            Expect::InvalidArgument,
        ),
        (
            "no participants",
            Box::new(|c: &Ctx| c.thread.add_participants(&[]).map(ok)),
            Expect::InvalidArgument,
        ),
        // Ids with path characters: encoded into one segment, so the service just doesn't know them.
        (
            "thread id with slash",
            Box::new(|c: &Ctx| c.chat.get_chat_thread("a/b").map(ok)),
            Expect::ServiceError,
        ),
        (
            "thread id with query",
            Box::new(|c: &Ctx| c.chat.get_chat_thread("a?api-version=x").map(ok)),
            Expect::ServiceError,
        ),
        (
            "thread id with fragment",
            Box::new(|c: &Ctx| c.chat.get_chat_thread("a#b").map(ok)),
            Expect::ServiceError,
        ),
        (
            "thread id with traversal",
            Box::new(|c: &Ctx| c.chat.get_chat_thread("../../identities").map(ok)),
            Expect::ServiceError,
        ),
        (
            "thread id with percent",
            Box::new(|c: &Ctx| c.chat.get_chat_thread("a%2Fb").map(ok)),
            Expect::ServiceError,
        ),
        (
            "unicode thread id",
            Box::new(|c: &Ctx| c.chat.get_chat_thread("19:ünï🎉@thread.v2").map(ok)),
            Expect::ServiceError,
        ),
        (
            "message id with slash",
            Box::new(|c: &Ctx| c.thread.get_message("1/../..").map(ok)),
            Expect::ServiceError,
        ),
        (
            "unicode message id",
            Box::new(|c: &Ctx| c.thread.delete_message("１２３")),
            Expect::ServiceError,
        ),
        // Contents: unusual but allowed, the service decides.
        (
            "huge message",
            Box::new(|c: &Ctx| c.thread.send_message(&"x".repeat(1 << 20), None).map(ok)),
            Expect::InvalidArgument,
        ),
        (
            "control chars in message",
            Box::new(|c: &Ctx| c.thread.send_message("\u{0}\u{1b}[31m", None).map(ok)),
            Expect::Either,
        ),
        (
            "empty message",
            Box::new(|c: &Ctx| c.thread.send_message("", None).map(ok)),
            Expect::Either,
        ),
        (
            "huge topic",
            Box::new(|c: &Ctx| c.thread.update_topic(&"t".repeat(100_000))),
            Expect::Either,
        ),
        (
            "empty topic",
            Box::new(|c: &Ctx| c.chat.create_chat_thread("", None).map(ok)),
            Expect::InvalidArgument,
        ),
        (
            "whitespace topic update",
            Box::new(|c: &Ctx| c.thread.update_topic("   ")),
            Expect::InvalidArgument,
        ),
        (
            "empty participant id at thread creation",
            Box::new(|c: &Ctx| {
                let o = CreateChatThreadOptions {
                    participants: vec![ChatParticipant::new(
                        CommunicationIdentifier::communication_user(""),
                    )],
                    ..Default::default()
                };
                c.chat.create_chat_thread("t", Some(o)).map(ok)
            }),
            Expect::InvalidArgument,
        ),
        (
            "CR/LF participant id at thread creation",
            Box::new(|c: &Ctx| {
                let o = CreateChatThreadOptions {
                    participants: vec![ChatParticipant::new(
                        CommunicationIdentifier::communication_user("8:acs:a\r\nx-injected: 1"),
                    )],
                    ..Default::default()
                };
                c.chat.create_chat_thread("t", Some(o)).map(ok)
            }),
            Expect::InvalidArgument,
        ),
        (
            "empty idempotency token",
            Box::new(|c: &Ctx| {
                let o = CreateChatThreadOptions {
                    idempotency_token: Some(String::new()),
                    ..Default::default()
                };
                c.chat.create_chat_thread("t", Some(o)).map(ok)
            }),
            Expect::InvalidArgument,
        ),
        (
            "unicode idempotency token",
            Box::new(|c: &Ctx| {
                let o = CreateChatThreadOptions {
                    idempotency_token: Some("tökén\u{1F600}".into()),
                    ..Default::default()
                };
                c.chat.create_chat_thread("t", Some(o)).map(ok)
            }),
            Expect::InvalidArgument,
        ),
        (
            "newline idempotency token",
            Box::new(|c: &Ctx| {
                let o = CreateChatThreadOptions {
                    idempotency_token: Some("a\r\nx-injected: 1".into()),
                    ..Default::default()
                };
                c.chat.create_chat_thread("t", Some(o)).map(ok)
            }),
            Expect::InvalidArgument,
        ),
        // Page sizes and skips.
        (
            "zero page size",
            Box::new(|c: &Ctx| {
                walk(c.chat.list_chat_threads(Some(ListChatThreadsOptions {
                    results_per_page: Some(0),
                    ..Default::default()
                })))
            }),
            Expect::InvalidArgument,
        ),
        (
            "negative page size",
            Box::new(|c: &Ctx| {
                walk(c.thread.list_messages(Some(ListMessagesOptions {
                    results_per_page: Some(-5),
                    ..Default::default()
                })))
            }),
            Expect::InvalidArgument,
        ),
        (
            "huge page size",
            Box::new(|c: &Ctx| {
                walk(c.thread.list_participants(Some(ListParticipantsOptions {
                    results_per_page: Some(i32::MAX),
                    ..Default::default()
                })))
            }),
            Expect::InvalidArgument,
        ),
        (
            "negative skip",
            Box::new(|c: &Ctx| {
                walk(c.thread.list_read_receipts(Some(ListReadReceiptsOptions {
                    skip: Some(-1),
                    ..Default::default()
                })))
            }),
            Expect::InvalidArgument,
        ),
        (
            "empty continuation token",
            Box::new(|c: &Ctx| {
                walk(c.chat.list_chat_threads(Some(ListChatThreadsOptions {
                    continuation_token: Some(String::new()),
                    ..Default::default()
                })))
            }),
            Expect::InvalidArgument,
        ),
        // Service limits (28 KB messages, 200 participants a request, 1 KB metadata).
        (
            "message over 28 KB",
            Box::new(|c: &Ctx| {
                c.thread
                    .send_message(&"x".repeat(28 * 1024 + 1), None)
                    .map(ok)
            }),
            Expect::InvalidArgument,
        ),
        (
            "message over 28 KB with its display name",
            Box::new(|c: &Ctx| {
                let options = acs_chat::SendMessageOptions {
                    sender_display_name: Some("Bo".into()),
                    ..Default::default()
                };
                c.thread
                    .send_message(&"x".repeat(28 * 1024 - 1), Some(options))
                    .map(ok)
            }),
            Expect::InvalidArgument,
        ),
        (
            "message edit over 28 KB",
            Box::new(|c: &Ctx| {
                let options = acs_chat::UpdateMessageOptions {
                    content: Some("é".repeat(14 * 1024 + 1)),
                    ..Default::default()
                };
                c.thread.update_message("1", Some(options))
            }),
            Expect::InvalidArgument,
        ),
        (
            "201 participants in one add",
            Box::new(|c: &Ctx| c.thread.add_participants(&participants(201)).map(ok)),
            Expect::InvalidArgument,
        ),
        (
            "201 participants in one create",
            Box::new(|c: &Ctx| {
                let options = CreateChatThreadOptions {
                    participants: participants(201),
                    ..Default::default()
                };
                c.chat.create_chat_thread("big", Some(options)).map(ok)
            }),
            Expect::InvalidArgument,
        ),
        (
            "thread metadata over 1 KB on create",
            Box::new(|c: &Ctx| {
                let options = CreateChatThreadOptions {
                    metadata: Some(metadata(1025)),
                    ..Default::default()
                };
                c.chat.create_chat_thread("meta", Some(options)).map(ok)
            }),
            Expect::InvalidArgument,
        ),
        (
            "thread metadata over 1 KB on update",
            Box::new(|c: &Ctx| {
                let options = acs_chat::UpdateChatThreadOptions {
                    metadata: Some(metadata(1025)),
                    ..Default::default()
                };
                c.thread.update_properties(Some(options))
            }),
            Expect::InvalidArgument,
        ),
        (
            "participant metadata over 1 KB",
            Box::new(|c: &Ctx| {
                let mut p = participants(1);
                p[0].metadata = Some(metadata(1025));
                c.thread.add_participants(&p).map(ok)
            }),
            Expect::InvalidArgument,
        ),
        (
            "continuation token of another list",
            Box::new(|c: &Ctx| {
                let token = "https://evil.example/identities?api-version=2023-10-01".to_string();
                walk(c.chat.list_chat_threads(Some(ListChatThreadsOptions {
                    continuation_token: Some(token),
                    ..Default::default()
                })))
            }),
            Expect::InvalidArgument,
        ),
    ]
}

/// Every case of the table gives the expected typed error, without a panic, and client-side
/// rejections send nothing.
#[test]
fn bad_input_table_gives_typed_errors() {
    let c = ctx();
    let mut failures = Vec::new();
    for (name, case, expect) in cases() {
        let before = c.emu.request_count();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&c)));
        let sent = c.emu.request_count() - before;
        let Ok(result) = outcome else {
            failures.push(format!("{name}: panicked"));
            continue;
        };
        let fine = match (expect, &result) {
            (Expect::InvalidArgument, Err(Error::InvalidArgument { .. })) => sent == 0,
            (Expect::ServiceError, Err(Error::Service(_))) => sent >= 1,
            (Expect::Either, Ok(())) | (Expect::Either, Err(Error::Service(_))) => true,
            _ => false,
        };
        if !fine {
            failures.push(format!(
                "{name}: expected {expect:?}, got {result:?} after {sent} requests"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "cases that failed:\n{}",
        failures.join("\n")
    );
}

/// Exactly at each limit the request is sent, and the emulator (which enforces the same
/// 28 KB rule) accepts it: the client's limits are the service's, not stricter.
#[test]
fn requests_at_service_limits_are_sent_and_accepted() {
    let c = ctx();
    let options = acs_chat::SendMessageOptions {
        sender_display_name: Some("Bo".into()),
        ..Default::default()
    };
    let before = c.emu.request_count();
    let sent = c
        .thread
        .send_message(&"x".repeat(28 * 1024 - 2), Some(options));
    assert!(sent.is_ok(), "a 28 KB message: {sent:?}");
    let options = CreateChatThreadOptions {
        participants: participants(200),
        metadata: Some(metadata(1024)),
        ..Default::default()
    };
    let created = c.chat.create_chat_thread("at the limits", Some(options));
    assert!(
        created.is_ok(),
        "200 participants and 1 KB metadata: {created:?}"
    );
    assert_eq!(c.emu.request_count() - before, 2, "requests sent");
}

/// Endpoints that are not absolute http(s) URLs without a path are rejected at construction.
#[test]
fn bad_endpoints_are_invalid_arguments() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let credential = CommunicationTokenCredential::new(token).expect("token");
    let port = emu.endpoint().rsplit(':').next().unwrap_or("1").to_string();
    let cases = [
        String::new(),
        "   ".into(),
        format!("127.0.0.1:{port}"),
        "contoso.communication.azure.com".into(),
        format!("ftp://127.0.0.1:{port}"),
        format!("{}/chat", emu.endpoint()),
        format!("{}/?api-version=1", emu.endpoint()),
        format!("{}#x", emu.endpoint()),
        format!("http://user:pass@127.0.0.1:{port}"),
        "http://contoso.communication.azure.com".into(),
        "http://10.1.2.3:8080".into(),
        "https://".into(),
        "https://exa mple.com".into(),
        "https://example.com:notaport".into(),
        "https://.".into(),
        "https://a..b".into(),
        "https://-host-".into(),
        "https://host-.example".into(),
        "https://999.999.999.999".into(),
        "https://1.2.3".into(),
        "https://example.com.".into(),
        format!("https://{}.example", "a".repeat(64)),
        "https://[::1".into(),
    ];
    for endpoint in &cases {
        let identity = CommunicationIdentityClient::new(
            endpoint,
            AzureKeyCredential::new(emu.access_key()).expect("key"),
        );
        assert!(
            matches!(
                identity,
                Err(Error::InvalidArgument {
                    name: "endpoint",
                    ..
                })
            ),
            "identity endpoint {endpoint:?} gave {identity:?}"
        );
        let r = ChatClient::new(endpoint, credential.clone());
        assert!(
            matches!(
                r,
                Err(Error::InvalidArgument {
                    name: "endpoint",
                    ..
                })
            ),
            "endpoint {endpoint:?} gave {r:?}"
        );
    }
    let insecure = ChatClientOptions {
        transport_options: TransportOptions {
            allow_insecure_http: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let r = ChatClient::with_options("http://10.1.2.3:8080", credential, insecure);
    assert!(r.is_ok(), "allow_insecure_http still refused: {r:?}");
    assert_eq!(emu.request_count(), 0, "constructing clients sent requests");
}

/// Malformed tokens are refused when the credential is built; the token text is never echoed.
#[test]
fn malformed_tokens_are_credential_errors() {
    let secret_like = "not-a-jwt-but-secret-ish";
    for token in [
        "",
        secret_like,
        "a.b",
        "a.!!!.c",
        "a.eyJub3QiOiJleHAifQ.c",  // {"not":"exp"}
        "a.eyJleHAiOiJzb29uIn0.c", // {"exp":"soon"}
        "a.W10.c",                 // []
    ] {
        let r = CommunicationTokenCredential::new(token);
        match r {
            Err(e @ Error::Credential { .. }) => {
                let text = format!("{e:?} {e}");
                assert!(
                    token.len() < 4 || !text.contains(token),
                    "token echoed: {text}"
                );
            }
            other => panic!("token {token:?} gave {other:?}"),
        }
    }
}

/// A JWT-shaped token that expires in an hour, followed by `tail` in its signature part.
fn jwt_with_tail(tail: &str) -> String {
    use base64::Engine as _;
    let exp = chrono::Utc::now().timestamp() + 3600;
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#));
    format!("eyJhbGciOiJub25lIn0.{payload}.c2ln{tail}")
}

/// Tokens that cannot be header values (CR/LF, non-ASCII, space, 1 MiB) are credential
/// errors when the credential is built, and when a refresher returns one, the call fails with
/// a credential error before any request (issue 9, item 3).
#[test]
fn unsendable_tokens_are_credential_errors_before_any_request() {
    let emu = Emulator::start().expect("emulator");
    let tails = [
        "\r\nx-injected: 1".to_string(),
        "\n".to_string(),
        "é".to_string(),
        " x".to_string(),
        "\u{7f}".to_string(),
        "A".repeat(1 << 20),
    ];
    for tail in &tails {
        let token = jwt_with_tail(tail);
        let shown = tail.escape_debug().take(20).collect::<String>();
        match CommunicationTokenCredential::new(token.clone()) {
            Err(e @ Error::Credential { .. }) => {
                assert!(!format!("{e:?}").contains(&token), "token echoed: {e:?}");
            }
            other => panic!("token ending {shown:?} gave {other:?}"),
        }
        let returned = token.clone();
        let refreshing = CommunicationTokenCredential::with_options(
            acs_chat::CommunicationTokenRefreshOptions::new(move || {
                Ok(acs_chat::AccessToken::from_jwt(returned.clone())?)
            }),
        )
        .expect("no initial token");
        let chat = ChatClient::new(&emu.endpoint(), refreshing).expect("client");
        let before = emu.request_count();
        let r = chat.get_chat_thread("19:a@thread.v2");
        assert!(
            matches!(r, Err(Error::Credential { .. })),
            "refresher token ending {shown:?} gave {r:?}"
        );
        assert_eq!(emu.request_count(), before, "a request was sent with it");
    }
    // The limit itself is a valid length.
    let at_limit = jwt_with_tail("");
    let pad = acs_chat::credential::MAX_TOKEN_LEN - at_limit.len();
    assert!(
        CommunicationTokenCredential::new(jwt_with_tail(&"A".repeat(pad))).is_ok(),
        "a token of exactly MAX_TOKEN_LEN bytes was refused"
    );
}

/// An expired token fails before anything is sent.
#[test]
fn expired_token_sends_nothing() {
    let emu = Emulator::start().expect("emulator");
    let user = emu.create_user();
    let token = emu.issue_token(&user, &["chat"], Duration::from_secs(1));
    thread::sleep(Duration::from_millis(2100));
    let Ok(credential) = CommunicationTokenCredential::new(token) else {
        return; // refusing it at construction is equally fine
    };
    let chat = ChatClient::new(&emu.endpoint(), credential).expect("client");
    let before = emu.request_count();
    let r = chat.list_chat_threads(None).next();
    assert!(matches!(r, Some(Err(Error::Credential { .. }))), "{r:?}");
    assert_eq!(emu.request_count(), before);
}

/// Ids with path characters reach the service as exactly one encoded segment.
#[test]
fn hostile_ids_stay_one_path_segment() {
    let targets = Arc::new(Mutex::new(Vec::new()));
    let targets2 = Arc::clone(&targets);
    let base = serve(move |_, request| {
        targets2.lock().expect("lock").push(request.target);
        let body = r#"{"error":{"code":"NotFound","message":"no"}}"#;
        format!(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    });
    let emu = Emulator::start().expect("emulator");
    let chat = chat_client(&base, &emu.user_with_token().1);
    let ids = ["a/b", "a?x=1", "a#f", "../../identities", "a%2F..", "ü /"];
    for id in ids {
        let err = chat.get_chat_thread(id).expect_err("404");
        assert_eq!(err.status(), Some(404), "{id}: {err:?}");
    }
    let targets = targets.lock().expect("lock").clone();
    assert_eq!(targets.len(), ids.len(), "{targets:?}");
    for (id, target) in ids.iter().zip(&targets) {
        let path = target.split('?').next().unwrap_or("");
        let segments: Vec<&str> = path.split('/').collect();
        assert_eq!(segments.len(), 4, "id {id:?} became path {path}");
        assert_eq!(
            segments[..3],
            ["", "chat", "threads"],
            "id {id:?} became path {path}"
        );
        assert!(
            !segments[3].contains(['/', '?', '#']) && segments[3] != "..",
            "segment {}",
            segments[3]
        );
        assert!(
            target.ends_with("?api-version=2025-03-15"),
            "query of {target}"
        );
    }
}
