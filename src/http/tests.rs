//! Pipeline tests against a scripted raw-TCP server (no emulator needed).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// What the scripted server does with one request.
#[derive(Clone)]
enum Act {
    /// Answer with status, extra headers and body (`Connection: close`).
    Reply(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Send these raw bytes, then close.
    Raw(Vec<u8>),
    /// Close without answering.
    Close,
    /// Say nothing for this long, then close.
    Stall(Duration),
}

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Serves `script` in order, one action per request; after it runs out, answers 200 `{}`.
    fn start(script: Vec<Act>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let Some(request) = read_request(&stream) else {
                    continue;
                };
                seen2.lock().expect("lock").push(request);
                let act = script
                    .next()
                    .unwrap_or(Act::Reply(200, vec![], b"{}".to_vec()));
                serve(stream, act);
            }
        });
        Server { base, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

fn serve(mut stream: TcpStream, act: Act) {
    match act {
        Act::Reply(status, headers, body) => {
            let mut out = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let _ = stream.write_all(out.as_bytes());
            let _ = stream.write_all(&body);
        }
        Act::Raw(bytes) => {
            let _ = stream.write_all(&bytes);
        }
        Act::Close => {}
        Act::Stall(d) => thread::sleep(d),
    }
    let _ = stream.flush();
}

fn fast_options() -> PipelineOptions {
    PipelineOptions {
        retry: RetryOptions {
            max_retries: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        call_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

fn get(server: &Server, retry: RetryClass) -> Request {
    Request::new(
        Method::GET,
        format!("{}/x?api-version=1", server.base),
        retry,
    )
}

fn post(server: &Server, retry: RetryClass) -> Request {
    Request::new(
        Method::POST,
        format!("{}/x?api-version=1", server.base),
        retry,
    )
}

struct Bearer(&'static str);

impl Authorize for Bearer {
    fn authorize(&self, request: &mut Request, _deadline: Option<Instant>) -> Result<()> {
        request.set_header("authorization", format!("Bearer {}", self.0));
        Ok(())
    }
}

/// Counts authorizations and allows one refresh after a 401.
struct Refreshing {
    calls: Mutex<u32>,
}

impl Authorize for Refreshing {
    fn authorize(&self, request: &mut Request, _deadline: Option<Instant>) -> Result<()> {
        let mut n = self.calls.lock().expect("lock");
        *n += 1;
        request.set_header("authorization", format!("Bearer token-{n}"));
        Ok(())
    }
    fn on_unauthorized(&self) -> bool {
        true
    }
}

fn reply(status: u16) -> Act {
    Act::Reply(
        status,
        vec![],
        br#"{"error":{"code":"X","message":"m"}}"#.to_vec(),
    )
}

/// The standard headers are sent on every request.
#[test]
fn send_sets_standard_headers() {
    let server = Server::start(vec![]);
    let pipeline = Pipeline::new(fast_options());
    let response = pipeline
        .send(post(&server, RetryClass::SafeToRepeat), &Bearer("tok"))
        .expect("200");
    assert_eq!(response.status, 200);
    let seen = server.seen();
    let r = &seen[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/x?api-version=1")
    );
    let ua = r.header("user-agent").unwrap_or_default();
    assert!(
        ua.starts_with("azsdk-rust-communication-chat/"),
        "user-agent {ua}"
    );
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("authorization"), Some("Bearer tok"));
    assert_eq!(
        r.header("content-length"),
        Some("0"),
        "body-less POST: {:?}",
        r.headers
    );
    let id = r.header("x-ms-client-request-id").unwrap_or_default();
    assert!(
        uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4),
        "request id {id}"
    );
}

/// A JSON body and its content type are sent as given.
#[test]
fn send_sends_json_body() {
    let server = Server::start(vec![]);
    let pipeline = Pipeline::new(fast_options());
    let req = post(&server, RetryClass::OnlyIfNotProcessed)
        .with_json("application/json", &serde_json::json!({"content": "hi"}))
        .expect("serialise");
    pipeline.send(req, &NoAuth).expect("200");
    let seen = server.seen();
    assert_eq!(seen[0].body, br#"{"content":"hi"}"#.to_vec());
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
}

/// Transient statuses are retried for safe operations, keeping the client request id.
#[test]
fn send_retries_transient_statuses_for_safe_operations() {
    let server = Server::start(vec![reply(500), reply(502), reply(504)]);
    let pipeline = Pipeline::new(fast_options());
    let response = pipeline.send(get(&server, RetryClass::SafeToRepeat), &NoAuth);
    assert_eq!(
        response.as_ref().map(|r| r.status).ok(),
        Some(200),
        "{response:?}"
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 4, "attempts: {}", seen.len());
    let ids: Vec<_> = seen
        .iter()
        .map(|s| s.header("x-ms-client-request-id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "ids {ids:?}");
}

/// Retries stop after max_retries and the last error is returned with its body.
#[test]
fn send_gives_up_after_max_retries() {
    let server = Server::start(vec![reply(503); 10]);
    let pipeline = Pipeline::new(fast_options());
    let err = pipeline
        .send(get(&server, RetryClass::SafeToRepeat), &NoAuth)
        .expect_err("503 forever");
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(err.service_error().map(|e| e.code.as_str()), Some("X"));
    assert_eq!(server.seen().len(), 4);
}

/// A send-like operation is not retried after a 500 (it may have been processed).
#[test]
fn send_does_not_retry_unsafe_operation_after_500() {
    for status in [408, 500, 502, 504] {
        let server = Server::start(vec![reply(status)]);
        let pipeline = Pipeline::new(fast_options());
        let err = pipeline
            .send(post(&server, RetryClass::OnlyIfNotProcessed), &NoAuth)
            .expect_err("error status");
        assert_eq!(err.status(), Some(status));
        assert_eq!(server.seen().len(), 1, "status {status} was retried");
    }
}

/// A send-like operation is retried after 429 and 503 (not processed).
#[test]
fn send_retries_unsafe_operation_after_429_and_503() {
    let server = Server::start(vec![reply(429), reply(503)]);
    let pipeline = Pipeline::new(fast_options());
    let r = pipeline.send(post(&server, RetryClass::OnlyIfNotProcessed), &NoAuth);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(server.seen().len(), 3);
}

/// A connection closed without an answer is retried only for safe operations.
#[test]
fn send_retries_lost_connection_only_when_safe() {
    let server = Server::start(vec![Act::Close]);
    let pipeline = Pipeline::new(fast_options());
    let r = pipeline.send(get(&server, RetryClass::SafeToRepeat), &NoAuth);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(server.seen().len(), 2);

    let server = Server::start(vec![Act::Close]);
    let err = pipeline
        .send(post(&server, RetryClass::OnlyIfNotProcessed), &NoAuth)
        .expect_err("closed");
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(
        server.seen().len(),
        1,
        "a possibly processed send was retried"
    );
}

/// A refused connection is retried even for send-like operations, then reported.
#[test]
fn send_retries_connect_failures() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let pipeline = Pipeline::new(fast_options());
    let req = Request::new(
        Method::POST,
        format!("http://127.0.0.1:{port}/x"),
        RetryClass::OnlyIfNotProcessed,
    );
    let auth = Refreshing {
        calls: Mutex::new(0),
    };
    let err = pipeline.send(req, &auth).expect_err("nothing listens");
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(*auth.calls.lock().expect("lock"), 4, "attempts");
}

/// Retry-After is honoured (the wait asked for is at least waited).
#[test]
fn send_honours_retry_after_ms() {
    let server = Server::start(vec![Act::Reply(
        429,
        vec![("retry-after-ms", "300".to_string())],
        vec![],
    )]);
    let pipeline = Pipeline::new(fast_options());
    let started = Instant::now();
    pipeline
        .send(get(&server, RetryClass::SafeToRepeat), &NoAuth)
        .expect("second attempt succeeds");
    // A lower bound only: the retry may not come before the service's stated wait.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited {:?}",
        started.elapsed()
    );
}

/// A Retry-After longer than the call's remaining time ends the call with that error.
#[test]
fn send_does_not_wait_past_call_timeout() {
    let server = Server::start(vec![Act::Reply(
        429,
        vec![("Retry-After", "3600".to_string())],
        vec![],
    )]);
    let pipeline = Pipeline::new(PipelineOptions {
        call_timeout: Duration::from_secs(2),
        ..fast_options()
    });
    let err = pipeline
        .send(get(&server, RetryClass::SafeToRepeat), &NoAuth)
        .expect_err("429");
    assert_eq!(err.status(), Some(429));
    assert_eq!(server.seen().len(), 1);
}

/// After a 401 the credential is asked for a fresh token and the call repeated once.
#[test]
fn send_reauthorizes_once_after_401() {
    let server = Server::start(vec![reply(401), reply(401), reply(401)]);
    let pipeline = Pipeline::new(fast_options());
    let auth = Refreshing {
        calls: Mutex::new(0),
    };
    let err = pipeline
        .send(post(&server, RetryClass::OnlyIfNotProcessed), &auth)
        .expect_err("401");
    assert_eq!(err.status(), Some(401));
    let seen = server.seen();
    let tokens: Vec<_> = seen.iter().map(|s| s.header("authorization")).collect();
    assert_eq!(tokens, vec![Some("Bearer token-1"), Some("Bearer token-2")]);
}

/// Redirects are not followed; the other host never sees the request.
#[test]
fn send_does_not_follow_redirects() {
    let other = Server::start(vec![]);
    let server = Server::start(vec![Act::Reply(
        302,
        vec![("Location", format!("{}/stolen", other.base))],
        vec![],
    )]);
    let pipeline = Pipeline::new(fast_options());
    let err = pipeline
        .send(
            get(&server, RetryClass::SafeToRepeat),
            &Bearer("secret-token"),
        )
        .expect_err("302");
    assert!(matches!(err, Error::Redirect { status: 302 }), "{err:?}");
    assert!(other.seen().is_empty(), "the redirect target was contacted");
    assert!(!format!("{err:?} {err}").contains("secret-token"));
}

/// A body over the limit is a typed error.
#[test]
fn send_rejects_oversized_body() {
    let server = Server::start(vec![Act::Reply(200, vec![], vec![b'x'; 2048])]);
    let pipeline = Pipeline::new(PipelineOptions {
        max_response_body: 1024,
        ..fast_options()
    });
    let err = pipeline
        .send(get(&server, RetryClass::SafeToRepeat), &NoAuth)
        .expect_err("too large");
    assert!(
        matches!(err, Error::BodyTooLarge { limit: 1024 }),
        "{err:?}"
    );
}

/// A body exactly at the limit is accepted.
#[test]
fn send_accepts_body_at_limit() {
    let server = Server::start(vec![Act::Reply(200, vec![], vec![b'x'; 1024])]);
    let pipeline = Pipeline::new(PipelineOptions {
        max_response_body: 1024,
        ..fast_options()
    });
    let r = pipeline.send(get(&server, RetryClass::SafeToRepeat), &NoAuth);
    assert_eq!(r.map(|r| r.body.len()).ok(), Some(1024));
}

/// A body cut short is a typed error (after retries for a safe operation).
#[test]
fn send_reports_truncated_body() {
    let truncated =
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"value\":[".to_vec();
    let server = Server::start(vec![Act::Raw(truncated.clone()); 2]);
    let pipeline = Pipeline::new(PipelineOptions {
        retry: RetryOptions {
            max_retries: 1,
            ..fast_options().retry
        },
        ..fast_options()
    });
    let err = pipeline
        .send(get(&server, RetryClass::SafeToRepeat), &NoAuth)
        .expect_err("truncated");
    assert!(
        matches!(err, Error::TruncatedBody { status: 200, .. }),
        "{err:?}"
    );
    assert_eq!(server.seen().len(), 2);
}

/// A stalled server cannot hold a call past its timeout, and the timeout says the request
/// was sent (so it may have taken effect).
#[test]
fn send_times_out_on_stalled_server() {
    let server = Server::start(vec![Act::Stall(Duration::from_secs(30))]);
    let pipeline = Pipeline::new(PipelineOptions {
        call_timeout: Duration::from_millis(500),
        ..fast_options()
    });
    let started = Instant::now();
    let err = pipeline
        .send(get(&server, RetryClass::SafeToRepeat), &NoAuth)
        .expect_err("stalled");
    assert!(matches!(err, Error::Timeout { sent: true, .. }), "{err:?}");
    assert!(
        err.may_have_taken_effect(),
        "a sent request timed out: {err:?}"
    );
    // A bound check (the stall is 30 s), not a performance assertion.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?}",
        started.elapsed()
    );
}

/// Request Debug output hides header values and the body.
#[test]
fn request_debug_hides_secrets() {
    let req = Request::new(
        Method::POST,
        "https://h/x?q=1".into(),
        RetryClass::SafeToRepeat,
    )
    .with_header("authorization", "Bearer secret-token")
    .with_body("application/json", b"private content".to_vec());
    let text = format!("{req:?}");
    assert!(
        !text.contains("secret-token") && !text.contains("private content"),
        "{text}"
    );
    assert!(text.contains("authorization"), "{text}");
}

/// Path-and-query come from the URL, as HMAC signing needs them.
#[test]
fn request_exposes_path_and_query() {
    let req = Request::new(
        Method::GET,
        "http://127.0.0.1:8443/identities/8%3Aacs%3Ax?api-version=2023-10-01".into(),
        RetryClass::SafeToRepeat,
    );
    assert_eq!(
        req.path_and_query(),
        "/identities/8%3Aacs%3Ax?api-version=2023-10-01"
    );
    assert_eq!(req.path(), "/identities/8%3Aacs%3Ax");
}

/// A malformed 2xx body is retried for safe operations and returned for unsafe ones.
#[test]
fn send_and_retries_malformed_body_only_when_safe() {
    let decode = |r: Response| r.json::<serde_json::Value>();
    let server = Server::start(vec![Act::Reply(200, vec![], b"{not json".to_vec())]);
    let pipeline = Pipeline::new(fast_options());
    let value = pipeline.send_and(get(&server, RetryClass::SafeToRepeat), &NoAuth, decode);
    assert_eq!(value.ok(), Some(serde_json::json!({})));
    assert_eq!(server.seen().len(), 2);

    let server = Server::start(vec![Act::Reply(201, vec![], b"{not json".to_vec())]);
    let err = pipeline
        .send_and(
            post(&server, RetryClass::OnlyIfNotProcessed),
            &NoAuth,
            decode,
        )
        .expect_err("malformed");
    assert!(matches!(err, Error::Decode { status: 201, .. }), "{err:?}");
    assert_eq!(server.seen().len(), 1, "a processed send was retried");
}

/// Unbounded timeouts (Duration::MAX) work without overflowing.
#[test]
fn send_accepts_unbounded_timeouts() {
    let server = Server::start(vec![]);
    let pipeline = Pipeline::new(PipelineOptions {
        call_timeout: Duration::MAX,
        connect_timeout: Duration::MAX,
        ..fast_options()
    });
    let r = pipeline.send(get(&server, RetryClass::SafeToRepeat), &NoAuth);
    assert_eq!(r.map(|r| r.status).ok(), Some(200));
}

/// Client request ids are lower-case version-4 UUIDs and never repeat within the process.
#[test]
fn client_request_id_is_unique_v4() {
    let ids: Vec<String> = (0..20_000).map(|_| client_request_id()).collect();
    for id in ids.iter().take(100) {
        let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4, "version of {id}");
        assert_eq!(
            parsed.get_variant(),
            uuid::Variant::RFC4122,
            "variant of {id}"
        );
        assert_eq!(id, &parsed.hyphenated().to_string(), "form of {id}");
    }
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "repeated ids among {}",
        ids.len()
    );
}

/// Each way a send can fail answers `may_have_taken_effect` as documented: a request that was
/// written and got no usable answer says true; a refused connection, 4xx, 429 and 503 say
/// false.
#[test]
fn may_have_taken_effect_tells_sent_from_refused() {
    let pipeline = Pipeline::new(PipelineOptions {
        retry: RetryOptions::none(),
        ..fast_options()
    });
    let truncated =
        b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"id\":"
            .to_vec();
    let cases: Vec<(&str, Act, bool)> = vec![
        ("closed after the request", Act::Close, true),
        ("truncated 201 body", Act::Raw(truncated), true),
        ("500", reply(500), true),
        ("502", reply(502), true),
        ("400", reply(400), false),
        ("404", reply(404), false),
        ("408", reply(408), false),
        ("429", reply(429), false),
        ("503", reply(503), false),
    ];
    for (name, act, want) in cases {
        let server = Server::start(vec![act]);
        let err = pipeline
            .send(post(&server, RetryClass::OnlyIfNotProcessed), &NoAuth)
            .expect_err(name);
        assert_eq!(err.may_have_taken_effect(), want, "{name}: {err:?}");
    }
    let server = Server::start(vec![Act::Reply(201, vec![], b"{not json".to_vec())]);
    let err = pipeline
        .send_and(
            post(&server, RetryClass::OnlyIfNotProcessed),
            &NoAuth,
            |r: Response| r.json::<serde_json::Value>(),
        )
        .expect_err("malformed");
    assert!(err.may_have_taken_effect(), "malformed 201: {err:?}");

    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let refused = Request::new(
        Method::POST,
        format!("http://127.0.0.1:{port}/x"),
        RetryClass::OnlyIfNotProcessed,
    );
    let err = pipeline.send(refused, &NoAuth).expect_err("refused");
    assert!(!err.may_have_taken_effect(), "refused connect: {err:?}");
    let bad = Request::new(
        Method::POST,
        format!("{}/x", Server::start(vec![]).base),
        RetryClass::OnlyIfNotProcessed,
    )
    .with_header("x-bad", "a\r\nb");
    let err = pipeline.send(bad, &NoAuth).expect_err("bad header");
    assert!(!err.may_have_taken_effect(), "request never built: {err:?}");
}

/// `send_recovering` asks `recover` only after an ambiguous failure, before the retry; a found
/// effect ends the call without another attempt, and a failed look returns the ambiguous error.
#[test]
fn send_recovering_looks_before_retrying_ambiguous_failures() {
    let pipeline = Pipeline::new(fast_options());
    let decode = |r: Response| r.json::<serde_json::Value>();

    // 503 (not ambiguous): retried without a look.
    let server = Server::start(vec![reply(503)]);
    let mut looks = 0;
    let got = pipeline.send_recovering(
        post(&server, RetryClass::SafeToRepeat),
        &NoAuth,
        decode,
        None,
        |_, _| {
            looks += 1;
            Ok(None)
        },
    );
    assert!(got.is_ok(), "{got:?}");
    assert_eq!((looks, server.seen().len()), (0, 2), "(looks, requests)");

    // Closed after the request, the look finds it: no second attempt.
    let server = Server::start(vec![Act::Close]);
    let got = pipeline.send_recovering(
        post(&server, RetryClass::SafeToRepeat),
        &NoAuth,
        decode,
        None,
        |err, _| {
            assert!(err.may_have_taken_effect(), "{err:?}");
            Ok(Some(serde_json::json!({"found": true})))
        },
    );
    assert_eq!(got.ok(), Some(serde_json::json!({"found": true})));
    assert_eq!(server.seen().len(), 1, "requests after a found effect");

    // Closed after the request, the look finds nothing: retried.
    let server = Server::start(vec![Act::Close]);
    let got = pipeline.send_recovering(
        post(&server, RetryClass::SafeToRepeat),
        &NoAuth,
        decode,
        None,
        |_, _| Ok(None),
    );
    assert!(got.is_ok(), "{got:?}");
    assert_eq!(
        server.seen().len(),
        2,
        "requests after a look found nothing"
    );

    // Out of retries after an ambiguous failure: one last look still finds the effect.
    let no_retries = Pipeline::new(PipelineOptions {
        retry: RetryOptions::none(),
        ..fast_options()
    });
    let server = Server::start(vec![Act::Close]);
    let got = no_retries.send_recovering(
        post(&server, RetryClass::SafeToRepeat),
        &NoAuth,
        decode,
        None,
        |_, _| Ok(Some(serde_json::json!({"found": "last look"}))),
    );
    assert_eq!(got.ok(), Some(serde_json::json!({"found": "last look"})));
    assert_eq!(server.seen().len(), 1, "requests with no retries left");

    // The look fails: the ambiguous error comes back and nothing is repeated.
    let server = Server::start(vec![Act::Close]);
    let err = pipeline
        .send_recovering(
            post(&server, RetryClass::SafeToRepeat),
            &NoAuth,
            decode,
            None,
            |_, _| Err(Error::UnexpectedResponse("look failed".into())),
        )
        .expect_err("look failed");
    assert!(
        matches!(err, Error::Transport { .. }) && err.may_have_taken_effect(),
        "{err:?}"
    );
    assert_eq!(server.seen().len(), 1, "requests after a failed look");
}

/// `Error::is_retryable` answers what the pipeline did with the same failure: every status
/// it retried (for a safe operation) says `true`, every status it returned at once `false`,
/// and a lost connection is retryable while a malformed request is not.
#[test]
fn is_retryable_matches_what_the_pipeline_retried() {
    let no_retries = PipelineOptions {
        retry: RetryOptions::none(),
        ..fast_options()
    };
    for status in [
        400, 401, 403, 404, 408, 409, 412, 429, 500, 501, 502, 503, 504, 505,
    ] {
        // After its script the server answers 200: a retry turns the call into a success.
        let server = Server::start(vec![reply(status)]);
        let retried = Pipeline::new(PipelineOptions {
            retry: RetryOptions {
                max_retries: 1,
                ..fast_options().retry
            },
            ..fast_options()
        })
        .send(get(&server, RetryClass::SafeToRepeat), &NoAuth)
        .is_ok();
        let server = Server::start(vec![reply(status)]);
        let err = Pipeline::new(no_retries.clone())
            .send(get(&server, RetryClass::SafeToRepeat), &NoAuth)
            .expect_err("an error status");
        assert_eq!(
            err.is_retryable(),
            retried,
            "status {status}: is_retryable {}, the pipeline retried: {retried}",
            err.is_retryable()
        );
    }
    let server = Server::start(vec![Act::Close]);
    let err = Pipeline::new(no_retries.clone())
        .send(get(&server, RetryClass::SafeToRepeat), &NoAuth)
        .expect_err("closed");
    assert!(err.is_retryable(), "a lost connection: {err:?}");
    let bad = Request::new(
        Method::GET,
        "http://127.0.0.1:1/\u{7f}x".into(),
        RetryClass::SafeToRepeat,
    );
    let err = Pipeline::new(no_retries)
        .send(bad.with_header("x-bad", "a\nb"), &NoAuth)
        .expect_err("an invalid header value");
    assert!(!err.is_retryable(), "a malformed request: {err:?}");
}

/// A service error carries the service's request id and the client request id that was
/// sent, and its `Display` ends with both.
#[test]
fn service_error_names_request_and_client_request_ids() {
    let server = Server::start(vec![Act::Reply(
        404,
        vec![("MS-CV", "cv-1234.1".to_string())],
        br#"{"error":{"code":"NotFound","message":"nope"}}"#.to_vec(),
    )]);
    let err = Pipeline::new(fast_options())
        .send(get(&server, RetryClass::SafeToRepeat), &NoAuth)
        .expect_err("404");
    let sent = server.seen()[0]
        .header("x-ms-client-request-id")
        .map(str::to_string);
    let service = err.service_error().expect("a service error");
    assert_eq!(
        service.request_id.as_deref(),
        Some("cv-1234.1"),
        "{service:?}"
    );
    assert_eq!(service.client_request_id, sent, "{service:?}");
    let shown = err.to_string();
    let want = format!(
        "[request id cv-1234.1, client request id {}]",
        sent.unwrap_or_default()
    );
    assert!(shown.ends_with(&want), "Display: {shown}");
}
