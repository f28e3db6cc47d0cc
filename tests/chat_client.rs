//! `ChatClient` against the in-process emulator: every operation, paging with exact request
//! counts, error statuses, and the token never leaving the configured endpoint.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use acs_chat::{
    ChatClient, ChatClientOptions, ChatParticipant, CommunicationIdentifier,
    CommunicationTokenCredential, CreateChatThreadOptions, Error, ListChatThreadsOptions,
    RetryOptions, TransportOptions,
};
use acs_chat_emulator::Emulator;

#[allow(dead_code)] // this test crate uses only some of the shared helpers
mod common;

use common::{chat_client, chat_client_with, new_thread, serve};

/// Clients are Clone + Send + Sync (checked at compile time).
#[test]
fn clients_are_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<ChatClient>();
    assert_traits::<acs_chat::ChatThreadClient>();
    fn assert_send<T: Send>() {}
    assert_send::<acs_chat::Pager<acs_chat::ChatMessage>>();
}

/// Creating a thread returns it with its topic and creator; get returns the same thread.
#[test]
fn create_chat_thread_returns_thread() {
    let emu = Emulator::start().expect("emulator");
    let (user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    let created = chat.create_chat_thread("Lunch", None).expect("create");
    assert!(created.errors.is_empty(), "errors: {:?}", created.errors);
    let thread = created.chat_thread;
    assert_eq!(thread.topic, "Lunch");
    assert_eq!(thread.created_by.raw_id(), user);
    let got = chat.get_chat_thread(&thread.id).expect("get");
    assert_eq!(
        (got.id.as_str(), got.topic.as_str()),
        (thread.id.as_str(), "Lunch")
    );
}

/// The same idempotency token creates one thread, however often it is sent.
#[test]
fn create_chat_thread_is_idempotent_with_token() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    let options = CreateChatThreadOptions {
        idempotency_token: Some("fixed-token-1".into()),
        ..Default::default()
    };
    let a = chat
        .create_chat_thread("Once", Some(options.clone()))
        .expect("first");
    let b = chat
        .create_chat_thread("Once", Some(options))
        .expect("second");
    let (a, b) = (a.chat_thread.id, b.chat_thread.id);
    assert_eq!(a, b, "two threads for one idempotency token");
    let listed = chat.list_chat_threads(None).count();
    assert_eq!(listed, 1, "threads listed: {listed}");
}

/// Rejected participants come back paired with the participant that was sent.
#[test]
fn create_chat_thread_pairs_invalid_participants() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    let good = ChatParticipant::new(CommunicationIdentifier::communication_user(
        emu.create_user(),
    ))
    .with_display_name("Good");
    let bad = ChatParticipant::new(CommunicationIdentifier::communication_user(
        "8:acs:invalid-00000000-0000-0000-0000-000000000000",
    ))
    .with_display_name("Bad");
    let options = CreateChatThreadOptions {
        participants: vec![good, bad.clone()],
        metadata: Some([("k".to_string(), "v".to_string())].into()),
        retention_policy: Some(acs_chat::ChatRetentionPolicy::thread_creation_date(30)),
        ..Default::default()
    };
    let created = chat
        .create_chat_thread("Mixed", Some(options))
        .expect("create");
    assert_eq!(created.errors.len(), 1, "errors: {:?}", created.errors);
    assert_eq!(
        created.errors[0].0, bad,
        "paired with {:?}",
        created.errors[0].0
    );
    let thread = created.chat_thread;
    assert_eq!(
        thread.metadata.and_then(|m| m.get("k").cloned()).as_deref(),
        Some("v")
    );
    assert_eq!(
        thread.retention_policy,
        Some(acs_chat::ChatRetentionPolicy::thread_creation_date(30))
    );
}

/// Listing N threads at page size P makes exactly ceil(N/P) requests, lazily.
#[test]
fn list_chat_threads_makes_ceil_n_over_p_requests() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    for i in 0..7 {
        new_thread(&chat, &format!("t{i}"));
    }
    let before = emu.request_count();
    let options = ListChatThreadsOptions {
        results_per_page: Some(3),
        ..Default::default()
    };
    let mut pager = chat.list_chat_threads(Some(options));
    assert_eq!(emu.request_count(), before, "the pager sent before next()");
    let first = pager.next();
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
    assert_eq!(emu.request_count(), before + 1);
    let rest: Vec<_> = pager.collect::<Result<_, _>>().expect("all pages");
    assert_eq!(rest.len(), 6);
    let requests = emu.request_count() - before;
    assert_eq!(
        requests, 3,
        "7 threads at page size 3 took {requests} requests"
    );
}

/// A pager made from invalid options sends nothing and yields the InvalidArgument as its
/// first and only item, item by item and page by page.
#[test]
fn list_chat_threads_invalid_options_yield_only_error_without_request() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    new_thread(&chat, "t");
    let bad = [
        ListChatThreadsOptions {
            results_per_page: Some(0),
            ..Default::default()
        },
        ListChatThreadsOptions {
            results_per_page: Some(201),
            ..Default::default()
        },
        ListChatThreadsOptions {
            continuation_token: Some(" ".into()),
            ..Default::default()
        },
        ListChatThreadsOptions {
            continuation_token: Some("https://x/chat/threads/19:a@thread.v2/messages".into()),
            ..Default::default()
        },
    ];
    for options in bad {
        let before = emu.request_count();
        let items: Vec<_> = chat.list_chat_threads(Some(options.clone())).collect();
        let pages: Vec<_> = chat
            .list_chat_threads(Some(options.clone()))
            .by_page()
            .collect();
        let sent = emu.request_count() - before;
        assert_eq!(sent, 0, "{options:?}: {sent} requests sent");
        assert!(
            matches!(items.as_slice(), [Err(Error::InvalidArgument { .. })]),
            "{options:?}: items {items:?}"
        );
        assert!(
            matches!(pages.as_slice(), [Err(Error::InvalidArgument { .. })]),
            "{options:?}: pages {pages:?}"
        );
    }
}

/// A 201 whose body has no `chatThread` is an unexpected response, not a result.
#[test]
fn create_chat_thread_without_thread_in_response_is_unexpected_response() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let server = capture_server(|_| (201, r#"{"invalidParticipants":[]}"#.into(), vec![]));
    let options = ChatClientOptions {
        transport_options: TransportOptions {
            retry: RetryOptions::none(),
            ..Default::default()
        },
        ..Default::default()
    };
    let chat = chat_client_with(&server.base, &token, options);
    let result = chat.create_chat_thread("t", None);
    assert!(
        matches!(result, Err(Error::UnexpectedResponse(_))),
        "got {result:?}"
    );
    let seen = server.seen.lock().expect("lock").len();
    assert_eq!(seen, 1, "requests: {seen}");
}

/// After a 401 a refreshing credential is asked for a new token and the call succeeds on the
/// second request.
#[test]
fn unauthorized_call_refreshes_token_and_retries_once() {
    let emu = Arc::new(Emulator::start().expect("emulator"));
    let (user, good) = emu.user_with_token();
    // Same shape and expiry, but a signature the service rejects.
    let (head, _sig) = good.rsplit_once('.').expect("jwt");
    let forged = format!("{head}.AAAA");
    let refreshes = Arc::new(Mutex::new(0u32));
    let (emu2, refreshes2) = (Arc::clone(&emu), Arc::clone(&refreshes));
    let options = acs_chat::CommunicationTokenRefreshOptions {
        token: Some(forged),
        token_refresher: Box::new(move || {
            *refreshes2.lock().expect("lock") += 1;
            Ok(acs_chat::AccessToken::from_jwt(emu2.issue_token(
                &user,
                &["chat"],
                Duration::from_secs(3600),
            ))?)
        }),
        proactive_refresh: false,
    };
    let credential = CommunicationTokenCredential::with_options(options).expect("credential");
    let chat = ChatClient::new(&emu.endpoint(), credential).expect("client");
    let before = emu.request_count();
    let created = chat.create_chat_thread("after refresh", None);
    assert!(created.is_ok(), "{created:?}");
    assert_eq!(emu.request_count() - before, 2, "one 401, one success");
    assert_eq!(*refreshes.lock().expect("lock"), 1);
}

/// A bad token with no way to refresh is a 401 after exactly one request.
#[test]
fn bad_static_token_is_401_without_retry() {
    let emu = Emulator::start().expect("emulator");
    let (_user, good) = emu.user_with_token();
    let (head, _sig) = good.rsplit_once('.').expect("jwt");
    let chat = chat_client(&emu.endpoint(), &format!("{head}.AAAA"));
    let before = emu.request_count();
    let err = chat
        .create_chat_thread("nope", None)
        .expect_err("bad token");
    assert_eq!(err.status(), Some(401), "{err:?}");
    assert_eq!(emu.request_count() - before, 1);
}

/// by_page hands out continuation tokens that resume the walk in a new pager.
#[test]
fn list_chat_threads_resumes_from_continuation_token() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    for i in 0..5 {
        new_thread(&chat, &format!("t{i}"));
    }
    let options = ListChatThreadsOptions {
        results_per_page: Some(2),
        ..Default::default()
    };
    let first = chat
        .list_chat_threads(Some(options))
        .by_page()
        .next()
        .expect("a page")
        .expect("ok");
    assert_eq!(first.items.len(), 2);
    let token_text = first.continuation_token.clone().expect("more pages");
    let resumed = ListChatThreadsOptions {
        continuation_token: Some(token_text),
        ..Default::default()
    };
    let rest: Vec<_> = chat
        .list_chat_threads(Some(resumed))
        .collect::<Result<_, _>>()
        .expect("rest");
    assert_eq!(rest.len(), 3, "resumed walk: {rest:?}");
    let mut all: Vec<String> = first
        .items
        .iter()
        .chain(&rest)
        .map(|t| t.id.clone())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5, "ids: {all:?}");
}

/// start_time filters threads by activity.
#[test]
fn list_chat_threads_honours_start_time() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    new_thread(&chat, "old");
    let future = chrono::Utc::now() + chrono::Duration::days(1);
    let options = ListChatThreadsOptions {
        start_time: Some(future),
        ..Default::default()
    };
    let listed = chat.list_chat_threads(Some(options)).count();
    assert_eq!(listed, 0, "threads after tomorrow: {listed}");
}

/// Deleting a thread makes it unreachable (404 or 403).
#[test]
fn delete_chat_thread_removes_thread() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    let id = new_thread(&chat, "gone");
    chat.delete_chat_thread(&id).expect("delete");
    let err = chat.get_chat_thread(&id).expect_err("deleted");
    assert!(matches!(err.status(), Some(404 | 403)), "{err:?}");
}

/// An unknown thread is a 404 service error with the service's code.
#[test]
fn get_chat_thread_unknown_is_404() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    let err = chat
        .get_chat_thread("19:00000000000000000000000000000000@thread.v2")
        .expect_err("unknown");
    assert_eq!(err.status(), Some(404), "{err:?}");
    let service = err.service_error().expect("service error");
    assert!(!service.code.is_empty(), "no code in {service:?}");
}

/// A non-participant gets 403.
#[test]
fn get_chat_thread_by_non_participant_is_403() {
    let emu = Emulator::start().expect("emulator");
    let (_alice, alice_token) = emu.user_with_token();
    let (_eve, eve_token) = emu.user_with_token();
    let id = new_thread(&chat_client(&emu.endpoint(), &alice_token), "private");
    let err = chat_client(&emu.endpoint(), &eve_token)
        .get_chat_thread(&id)
        .expect_err("not a participant");
    assert_eq!(err.status(), Some(403), "{err:?}");
}

/// A revoked token is answered 401 (and the static credential cannot refresh).
#[test]
fn revoked_token_is_401() {
    let emu = Emulator::start().expect("emulator");
    let (user, token) = emu.user_with_token();
    let chat = chat_client(&emu.endpoint(), &token);
    new_thread(&chat, "before");
    emu.revoke_tokens(&user);
    let err = chat.create_chat_thread("after", None).expect_err("revoked");
    assert_eq!(err.status(), Some(401), "{err:?}");
}

/// A token that expired is never sent: the credential refuses before any request.
#[test]
fn expired_token_is_refused_before_sending() {
    use base64::Engine as _;
    let emu = Emulator::start().expect("emulator");
    // A JWT-shaped token that expired a minute ago (the emulator cannot issue one in the
    // past, and waiting for one to expire would make the test sleep).
    let exp = chrono::Utc::now().timestamp() - 60;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!(r#"{{"exp":{exp},"skypeid":"acs:expired"}}"#));
    let token = format!("eyJhbGciOiJub25lIn0.{payload}.c2lnbmF0dXJl");
    let credential = CommunicationTokenCredential::new(token.clone());
    let Ok(credential) = credential else {
        // Rejecting an expired token at construction is just as good.
        return;
    };
    let chat = ChatClient::new(&emu.endpoint(), credential).expect("client");
    let before = emu.request_count();
    let err = chat.create_chat_thread("late", None).expect_err("expired");
    assert!(matches!(err, Error::Credential { .. }), "{err:?}");
    assert_eq!(emu.request_count(), before, "an expired token was sent");
    assert!(
        !format!("{err:?} {err}").contains(&token),
        "the token leaked into the error"
    );
}

/// An older api-version is sent when configured (the emulator accepts 2024-03-07).
#[test]
fn with_options_uses_configured_api_version() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let options = ChatClientOptions {
        api_version: "2024-03-07".into(),
        ..Default::default()
    };
    let chat = chat_client_with(&emu.endpoint(), &token, options);
    let id = new_thread(&chat, "old version");
    assert_eq!(chat.get_chat_thread(&id).expect("get").topic, "old version");
    let bad = ChatClientOptions {
        api_version: "1999-01-01".into(),
        transport_options: TransportOptions {
            retry: RetryOptions::none(),
            ..Default::default()
        },
        ..Default::default()
    };
    let chat = chat_client_with(&emu.endpoint(), &emu.user_with_token().1, bad);
    let err = chat.get_chat_thread(&id).expect_err("unknown version");
    assert_eq!(err.status(), Some(400), "{err:?}");
}

/// Each request's target and Authorization header, in arrival order.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct Capture {
    base: String,
    seen: Seen,
}

/// A tiny HTTP server that answers every request with `reply(request_number)` and records
/// each request's target and Authorization header.
fn capture_server(
    reply: impl Fn(usize) -> (u16, String, Vec<(String, String)>) + Send + 'static,
) -> Capture {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let base = serve(move |n, request| {
        let auth = request.header("authorization").map(str::to_owned);
        seen2.lock().expect("lock").push((request.target, auth));
        let (status, body, headers) = reply(n);
        let mut out = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&body);
        out
    });
    Capture { base, seen }
}

/// A nextLink naming another host is rebased on the client's endpoint: the other host never
/// sees a request, let alone the token.
#[test]
fn list_chat_threads_never_sends_token_to_next_link_host() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let evil = capture_server(|_| (200, r#"{"value":[]}"#.into(), vec![]));
    let evil_base = evil.base.clone();
    let ours = capture_server(move |n| {
        let body = if n == 0 {
            format!(
                r#"{{"value":[{{"id":"19:a@thread.v2","topic":"a"}}],"nextLink":"{evil_base}/chat/threads?syncState=abc&maxPageSize=1&api-version=2025-03-15"}}"#
            )
        } else {
            r#"{"value":[{"id":"19:b@thread.v2","topic":"b"}]}"#.to_string()
        };
        (200, body, vec![])
    });
    let chat = chat_client(&ours.base, &token);
    let ids: Vec<String> = chat
        .list_chat_threads(None)
        .map(|t| t.map(|t| t.id))
        .collect::<Result<_, _>>()
        .expect("both pages");
    assert_eq!(ids, ["19:a@thread.v2", "19:b@thread.v2"]);
    assert!(
        evil.seen.lock().expect("lock").is_empty(),
        "the nextLink host was contacted"
    );
    let seen = ours.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "requests: {seen:?}");
    assert_eq!(
        seen[1].0,
        "/chat/threads?syncState=abc&maxPageSize=1&api-version=2025-03-15"
    );
    assert_eq!(
        seen[1].1.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
}

/// A redirect is not followed, so the token never reaches the redirect target.
#[test]
fn redirect_is_not_followed_with_token() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let evil = capture_server(|_| (200, "{}".into(), vec![]));
    let location = format!("{}/steal", evil.base);
    let ours = capture_server(move |_| {
        (
            307,
            String::new(),
            vec![("Location".into(), location.clone())],
        )
    });
    let chat = chat_client(&ours.base, &token);
    let err = chat
        .get_chat_thread("19:a@thread.v2")
        .expect_err("redirect");
    assert!(matches!(err, Error::Redirect { status: 307 }), "{err:?}");
    assert!(
        evil.seen.lock().expect("lock").is_empty(),
        "the redirect was followed"
    );
    assert!(!format!("{err:?} {err}").contains(&token));
}

/// Debug output of clients, credentials and errors never shows the token.
#[test]
fn debug_output_never_contains_token() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let credential = CommunicationTokenCredential::new(token.clone()).expect("token");
    let chat = ChatClient::new(&emu.endpoint(), credential.clone()).expect("client");
    let thread = chat
        .get_chat_thread_client("19:x@thread.v2")
        .expect("thread client");
    let err = thread.get_properties().expect_err("no such thread");
    let pager = chat.list_chat_threads(None);
    let text = format!("{chat:?} {thread:?} {credential:?} {err:?} {err} {pager:?}");
    assert!(!text.contains(&token), "token in debug output: {text}");
}

/// A response larger than max_response_body is a typed error, not an allocation.
#[test]
fn oversized_response_is_body_too_large() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let credential = CommunicationTokenCredential::new(token).expect("token");
    let small = ChatClientOptions {
        transport_options: TransportOptions {
            max_response_body: 64,
            ..Default::default()
        },
        ..Default::default()
    };
    let chat = ChatClient::with_options(&emu.endpoint(), credential, small).expect("client");
    let err = chat
        .create_chat_thread(
            "a topic long enough to need more than sixty-four bytes",
            None,
        )
        .expect_err("too large");
    assert!(matches!(err, Error::BodyTooLarge { limit: 64 }), "{err:?}");
}
