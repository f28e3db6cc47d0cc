//! Setup shared by the SDK's integration tests: chat clients and threads on an endpoint, and
//! the tests' own loopback HTTP servers (request reader included).
//!
//! Every integration test file is its own crate and uses only some of these helpers, so each
//! `mod common;` line carries `#[allow(dead_code)]`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use acs_chat::{ChatClient, ChatClientOptions, ChatThreadClient, CommunicationTokenCredential};
use acs_chat_emulator::{Fault, Faults};

/// The chaos runs' faults: `rate` 0.2 of requests fail in every way the emulator knows
/// (429, 500, 503, closed before or after processing, truncated or malformed bodies), plus a
/// `delay` of that length when given, drawn from `seed`.
pub fn chaos_faults(seed: u64, delay: Option<Duration>) -> Faults {
    let mut kinds = vec![
        Fault::TooManyRequests {
            retry_after: Duration::ZERO,
        },
        Fault::InternalError,
        Fault::ServiceUnavailable,
        Fault::CloseBeforeProcessing,
        Fault::CloseAfterProcessing,
        Fault::TruncatedBody,
        Fault::MalformedBody,
    ];
    kinds.extend(delay.map(Fault::Delay));
    Faults {
        rate: 0.2,
        kinds,
        seed,
        ..Faults::default()
    }
}

/// A chat client on `endpoint` that signs its requests with `token`.
pub fn chat_client(endpoint: &str, token: &str) -> ChatClient {
    chat_client_with(endpoint, token, ChatClientOptions::default())
}

/// A chat client on `endpoint` with `options`, signing its requests with `token`.
pub fn chat_client_with(endpoint: &str, token: &str, options: ChatClientOptions) -> ChatClient {
    ChatClient::with_options(
        endpoint,
        CommunicationTokenCredential::new(token).expect("token"),
        options,
    )
    .expect("client")
}

/// Creates a thread with `topic` and returns its id.
pub fn new_thread(chat: &ChatClient, topic: &str) -> String {
    chat.create_chat_thread(topic, None)
        .expect("create thread")
        .chat_thread
        .id
}

/// Creates a thread with `topic` and returns a client bound to it.
pub fn new_thread_client(chat: &ChatClient, topic: &str) -> ChatThreadClient {
    let id = new_thread(chat, topic);
    chat.get_chat_thread_client(&id).expect("thread client")
}

/// One HTTP/1.1 request as a test server read it.
#[derive(Clone, Debug)]
pub struct Request {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target (path and query) as sent.
    pub target: String,
    /// The header lines in order, names as sent, names and values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body, `Content-Length` bytes of it (at most 1 MiB).
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request from a connection: request line, headers up to the blank line, then the
/// body. `None` when the request line or the body cannot be read. A connection closed before
/// its request line still reads as a request (empty method and target), so a test sees that
/// its server was contacted.
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim().split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let len: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    request.body = vec![0; len.min(1 << 20)];
    reader.read_exact(&mut request.body).ok()?;
    Some(request)
}

/// Starts a loopback HTTP/1.1 server (one request per connection) that reads each request and
/// writes back the raw response `answer(connection_number, request)` returns. Returns the
/// server's base URL (`http://127.0.0.1:PORT`); the server lives as long as the test process.
pub fn serve(mut answer: impl FnMut(usize, Request) -> String + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let Some(request) = read_request(&mut reader) else {
                continue;
            };
            let _ = stream.write_all(answer(n, request).as_bytes());
        }
    });
    base
}

/// Fixture lookup (CI fails on a missing folder), from the emulator crate so both crates'
/// suites share one copy.
#[allow(unused_imports)] // not every test file reads fixtures
pub use acs_chat_emulator::fixtures;
