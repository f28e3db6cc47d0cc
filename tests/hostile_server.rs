//! A hostile server: a loopback test server answers the SDK's requests with broken framing,
//! odd statuses, huge or malformed bodies, hostile `nextLink`s and redirects, stalls and
//! trickles. Every call ends with a typed `acs_chat::Error` (the expected variant where it is
//! determined), never a panic, within its call timeout plus slack, and no error text carries
//! the token. No emulator is involved: the server is a few threads in this file.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use acs_chat::identity::{
    AzureKeyCredential, CommunicationIdentityClient, CommunicationIdentityClientOptions,
    CommunicationTokenScope,
};
use acs_chat::{
    ChatClient, ChatClientOptions, ChatParticipant, CommunicationIdentifier,
    CommunicationTokenCredential, Error, ListChatThreadsOptions, RetryOptions, TransportOptions,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The call timeout of every client here.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Room for scheduling on a loaded 2-core machine: a bound check, not a performance target.
const SLACK: Duration = Duration::from_secs(5);
/// The response body limit of most clients here (the 10 MiB `nextLink` case raises it).
const BODY_LIMIT: u64 = 256 * 1024;
/// List walks stop after this many pages (a hostile server can serve pages forever).
const MAX_PAGES: usize = 3;
/// The token's signature part: distinctive, so a leak is easy to spot.
const SIGNATURE: &str = "hostileServerSecretSignature0123456789";
/// The identity client's access key: base64 of a distinctive text, so a leak is easy to spot.
const ACCESS_KEY: &str = "aG9zdGlsZS1zZXJ2ZXItYWNjZXNzLWtleS1zZWNyZXQ=";
/// A syntactically valid thread id for calls that name one.
const THREAD_ID: &str = "19:hostile@thread.v2";

/// A JWT-shaped token with a numeric `exp` an hour ahead.
fn token() -> String {
    let exp = chrono::Utc::now().timestamp() + 3600;
    format!(
        "{}.{}.{SIGNATURE}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#)),
    )
}

/// What the server does with one request.
#[derive(Clone)]
enum Act {
    /// Writes these bytes, then closes.
    Raw(Vec<u8>),
    /// Writes these bytes, then stays silent with the connection open until stopped.
    RawThenStall(Vec<u8>),
    /// Writes these bytes one at a time, `gap` apart, then closes.
    Trickle(Vec<u8>, Duration),
}

type Script = Arc<dyn Fn(usize) -> Act + Send + Sync>;

/// A loopback server answering request `n` (0-based, over all connections) with `script(n)`.
/// It reads one request per connection and closes after its answer.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// The request heads seen, in order (lossy text).
    heads: Arc<Mutex<Vec<String>>>,
    accept: Option<JoinHandle<()>>,
}

/// At most this many connections are served per server (a bound on threads).
const MAX_CONNECTIONS: usize = 64;
/// A stalled connection is given up after this long even if the server is not stopped.
const MAX_STALL: Duration = Duration::from_secs(20);

impl Server {
    fn start(script: Script) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (stop2, heads2) = (Arc::clone(&stop), Arc::clone(&heads));
        let accept = thread::spawn(move || {
            let count = AtomicUsize::new(0);
            let mut workers = Vec::new();
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if workers.len() >= MAX_CONNECTIONS {
                    continue; // dropped: the client sees a closed connection
                }
                let (stop, heads, script) =
                    (Arc::clone(&stop2), Arc::clone(&heads2), Arc::clone(&script));
                let n = count.fetch_add(1, Ordering::SeqCst);
                workers.push(thread::spawn(move || {
                    serve(stream, n, &*script, &stop, &heads);
                }));
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Server {
            addr,
            stop,
            heads,
            accept: Some(accept),
        }
    }

    /// A server that answers every request with `act`.
    fn always(act: Act) -> Server {
        Server::start(Arc::new(move |_| act.clone()))
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request (head up to 2 MiB, body by Content-Length up to 2 MiB).
fn read_request(stream: &mut TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if data.len() > 2 * 1024 * 1024 {
            return None;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
        .min(2 * 1024 * 1024);
    let mut have = data.len() - (end + 4);
    while have < length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        have += n;
    }
    Some(head)
}

fn serve(
    mut stream: TcpStream,
    n: usize,
    script: &(dyn Fn(usize) -> Act + Send + Sync),
    stop: &AtomicBool,
    heads: &Mutex<Vec<String>>,
) {
    let Some(head) = read_request(&mut stream) else {
        return;
    };
    if let Ok(mut h) = heads.lock() {
        h.push(head);
    }
    let stall = |stream: &TcpStream| {
        let started = Instant::now();
        while !stop.load(Ordering::SeqCst) && started.elapsed() < MAX_STALL {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
    };
    match script(n) {
        Act::Raw(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
        }
        Act::RawThenStall(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
            stall(&stream);
        }
        Act::Trickle(bytes, gap) => {
            let started = Instant::now();
            for b in bytes {
                if stop.load(Ordering::SeqCst)
                    || started.elapsed() > MAX_STALL
                    || stream.write_all(&[b]).is_err()
                {
                    break;
                }
                thread::sleep(gap);
            }
        }
    }
}

/// A complete response: status line text, extra header lines, body (with Content-Length and
/// `Connection: close`).
fn http(status: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n").into_bytes();
    for h in headers {
        out.extend(h.as_bytes());
        out.extend(b"\r\n");
    }
    out.extend(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .bytes(),
    );
    out.extend(body);
    out
}

/// A JSON response with `status` and `body`.
fn json(status: &str, body: &[u8]) -> Act {
    Act::Raw(http(
        status,
        &["Content-Type: application/json; charset=utf-8"],
        body,
    ))
}

/// Bytes as given (no framing added), then close.
fn raw(bytes: &[u8]) -> Act {
    Act::Raw(bytes.to_vec())
}

/// The operations a case can call.
#[derive(Clone, Copy, Debug)]
enum Op {
    GetThread,
    CreateThread,
    SendMessage,
    GetMessage,
    UpdateTopic,
    ListThreads,
    ListMessages,
    ListParticipants,
    ListReceipts,
    AddParticipant,
    CreateUser,
    CreateUserAndToken,
    GetToken,
}

impl Op {
    fn is_identity(self) -> bool {
        matches!(self, Op::CreateUser | Op::CreateUserAndToken | Op::GetToken)
    }

    fn is_list(self) -> bool {
        matches!(
            self,
            Op::ListThreads | Op::ListMessages | Op::ListParticipants | Op::ListReceipts
        )
    }
}

/// The clients of one case, all on the hostile server.
struct Clients {
    chat: ChatClient,
    identity: CommunicationIdentityClient,
}

impl Clients {
    fn new(server: &Server, token: &str, body_limit: u64) -> Clients {
        let credential = CommunicationTokenCredential::new(token).expect("token");
        let chat = ChatClient::with_options(&server.endpoint(), credential, options(body_limit))
            .expect("chat client");
        let identity_options = CommunicationIdentityClientOptions {
            transport_options: TransportOptions {
                call_timeout: CALL_TIMEOUT,
                connect_timeout: Duration::from_secs(1),
                retry: options(body_limit).transport_options.retry,
                ..Default::default()
            },
            ..Default::default()
        };
        let identity = CommunicationIdentityClient::with_options(
            &server.endpoint(),
            AzureKeyCredential::new(ACCESS_KEY).expect("access key"),
            identity_options,
        )
        .expect("identity client");
        Clients { chat, identity }
    }
}

fn call(op: Op, clients: &Clients) -> Result<(), Error> {
    let chat = &clients.chat;
    let thread = || chat.get_chat_thread_client(THREAD_ID);
    let user = || CommunicationIdentifier::communication_user("8:acs:hostile_user");
    match op {
        Op::GetThread => chat.get_chat_thread(THREAD_ID).map(drop),
        Op::CreateThread => chat.create_chat_thread("hostile", None).map(drop),
        Op::SendMessage => thread()?.send_message("hello", None).map(drop),
        Op::GetMessage => thread()?.get_message("1").map(drop),
        Op::UpdateTopic => thread()?.update_topic("t"),
        Op::ListThreads => {
            let options = ListChatThreadsOptions {
                results_per_page: Some(5),
                ..Default::default()
            };
            for page in chat
                .list_chat_threads(Some(options))
                .by_page()
                .take(MAX_PAGES)
            {
                page?;
            }
            Ok(())
        }
        Op::ListMessages => {
            for page in thread()?.list_messages(None).by_page().take(MAX_PAGES) {
                page?;
            }
            Ok(())
        }
        Op::ListParticipants => {
            for page in thread()?.list_participants(None).by_page().take(MAX_PAGES) {
                page?;
            }
            Ok(())
        }
        Op::ListReceipts => {
            for page in thread()?.list_read_receipts(None).by_page().take(MAX_PAGES) {
                page?;
            }
            Ok(())
        }
        Op::AddParticipant => thread()?.add_participant(&ChatParticipant::new(user())),
        Op::CreateUser => clients.identity.create_user().map(drop),
        Op::CreateUserAndToken => clients
            .identity
            .create_user_and_token(&[CommunicationTokenScope::Chat], None)
            .map(drop),
        Op::GetToken => clients
            .identity
            .get_token(&user(), &[CommunicationTokenScope::Chat], None)
            .map(drop),
    }
}

/// What a case must end with.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Service(u16),
    Redirect(u16),
    Decode(u16),
    Truncated,
    TooLarge,
    Transport,
    Timeout,
    Unexpected,
    Rejected,
    Credential,
    /// A body that promised more than it sent: cut short, or refused as over the limit.
    TruncatedOrTooLarge,
    /// Determined only by the HTTP client's reading of broken framing: any typed error.
    AnyError,
    /// The call must succeed: odd but valid data is accepted.
    Success,
    /// The call may succeed (e.g. a page whose hostile `nextLink` is neutralised).
    OkOrError,
}

impl Expect {
    fn accepts(self, result: &Result<(), Error>) -> bool {
        match (self, result) {
            (Expect::OkOrError, _) | (Expect::Success, Ok(())) => true,
            (_, Ok(())) => false,
            (Expect::AnyError, Err(_)) => true,
            (Expect::Service(s), Err(Error::Service(e))) => e.status == s,
            (Expect::Redirect(s), Err(Error::Redirect { status })) => *status == s,
            (Expect::Decode(s), Err(Error::Decode { status, .. })) => *status == s,
            (Expect::Truncated, Err(Error::TruncatedBody { .. })) => true,
            (Expect::TooLarge, Err(Error::BodyTooLarge { .. })) => true,
            (Expect::Transport, Err(Error::Transport { .. })) => true,
            (Expect::Timeout, Err(Error::Timeout { .. })) => true,
            (Expect::Unexpected, Err(Error::UnexpectedResponse(_))) => true,
            (Expect::Rejected, Err(Error::ParticipantRejected(_))) => true,
            (Expect::Credential, Err(Error::Credential { .. })) => true,
            (
                Expect::TruncatedOrTooLarge,
                Err(Error::TruncatedBody { .. } | Error::BodyTooLarge { .. }),
            ) => true,
            _ => false,
        }
    }
}

struct Case {
    name: String,
    op: Op,
    act: Act,
    expect: Expect,
    body_limit: u64,
}

fn case(name: impl Into<String>, op: Op, act: Act, expect: Expect) -> Case {
    Case {
        name: name.into(),
        op,
        act,
        expect,
        body_limit: BODY_LIMIT,
    }
}

fn options(body_limit: u64) -> ChatClientOptions {
    ChatClientOptions {
        transport_options: TransportOptions {
            call_timeout: CALL_TIMEOUT,
            connect_timeout: Duration::from_secs(1),
            max_response_body: body_limit,
            retry: RetryOptions {
                max_retries: 1,
                initial_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The error's Display, Debug and every source's Display and Debug.
fn error_texts(e: &Error) -> String {
    let mut text = format!("{e}\n{e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!("\n{s}\n{s:?}"));
        source = s.source();
    }
    text
}

/// Runs one case on a fresh server; returns what went wrong, if anything.
fn run(case: &Case) -> Option<String> {
    let server = Server::always(case.act.clone());
    let token = token();
    let clients = Clients::new(&server, &token, case.body_limit);
    let started = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(case.op, &clients)));
    let elapsed = started.elapsed();
    let name = &case.name;
    let Ok(result) = result else {
        return Some(format!("{name}: the call panicked"));
    };
    let mut problems = Vec::new();
    if !case.expect.accepts(&result) {
        problems.push(format!("expected {:?}, got {result:?}", case.expect));
    }
    let pages = if case.op.is_list() {
        MAX_PAGES as u32
    } else {
        1
    };
    if elapsed > (CALL_TIMEOUT + SLACK) * pages {
        problems.push(format!("took {elapsed:?}"));
    }
    if let Err(e) = &result {
        let text = error_texts(e);
        if text.contains(SIGNATURE) || text.contains(&token) || text.contains(ACCESS_KEY) {
            problems.push(format!("the error shows a secret: {text}"));
        }
    }
    let heads = server.heads();
    let sent = if case.op.is_identity() {
        "HMAC-SHA256".to_string()
    } else {
        format!("Bearer {token}")
    };
    if !heads.iter().any(|h| h.contains(&sent)) {
        problems.push(format!(
            "the server never saw the credential; heads: {heads:?}"
        ));
    }
    (!problems.is_empty()).then(|| format!("{name} ({:?}): {}", case.op, problems.join("; ")))
}

/// Runs `cases` on `workers` threads; panics listing every failed case.
fn run_all(cases: Vec<Case>, workers: usize) {
    let total = cases.len();
    let queue = Mutex::new(cases);
    let failures = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(case) = next else { break };
                if let Some(f) = run(&case) {
                    if let Ok(mut all) = failures.lock() {
                        all.push(f);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_default();
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The fast table: broken framing, statuses, bodies and headers.
fn table() -> Vec<Case> {
    use Expect::*;
    use Op::*;
    let big = vec![b'x'; BODY_LIMIT as usize + 1024];
    let deep = "[".repeat(100_000);
    let mut cases = vec![
        // Framing.
        case("not HTTP", GetThread, raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"), Transport),
        case("binary garbage", GetThread, raw(&[0u8, 0xff, 0xfe, 0x80].repeat(500)), Transport),
        case("close without answer", GetThread, raw(b""), Transport),
        case("200, no headers, EOF", GetThread, raw(b"HTTP/1.1 200 OK\r\n\r\n"), Decode(200)),
        case("status line, then EOF", GetThread, raw(b"HTTP/1.1 200 OK\r\n"), Transport),
        case("status 999", GetThread, json("999 Odd", b"{}"), Service(999)),
        case("status 0", GetThread, json("0 Zero", b"{}"), Transport),
        case("status 1000", GetThread, json("1000 Big", b"{}"), Transport),
        case("status not a number", GetThread, json("abc OK", b"{}"), Transport),
        case("status negative", GetThread, json("-200 OK", b"{}"), Transport),
        case("two-digit status", GetThread, json("20 OK", b"{}"), Transport),
        case("HTTP/9.9", GetThread, raw(b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\n{}"), Transport),
        case("header without colon", GetThread, raw(b"HTTP/1.1 200 OK\r\nGarbage\r\nContent-Length: 2\r\n\r\n{}"), Transport),
        case("NUL in a header value", GetThread, raw(b"HTTP/1.1 404 Not Found\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n"), Transport),
        case("1 MiB header", GetThread, Act::Raw(http("200 OK", &[&format!("X-Huge: {}", "h".repeat(1024 * 1024))], b"{}")), Transport),
        case("5,000 headers", GetThread, Act::Raw(http("200 OK", &(0..5000).map(|i| format!("X-H{i}: v")).collect::<Vec<_>>().iter().map(String::as_str).collect::<Vec<_>>(), b"{}")), Transport),
        case("Content-Length over the body, then close", GetThread, raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"id\":"), Truncated),
        case("Content-Length over the body, send", SendMessage, raw(b"HTTP/1.1 201 Created\r\nContent-Length: 1000\r\n\r\n{\"id\":"), Truncated),
        case("Content-Length not a number", GetThread, raw(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}"), Transport),
        case("Content-Length negative", GetThread, raw(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}"), Transport),
        case("Content-Length overflowing u64", GetThread, raw(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n{}"), Transport),
        case("Content-Length u64::MAX", GetThread, raw(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n{}"), TruncatedOrTooLarge),
        case("two Content-Lengths", GetThread, raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}"), Transport),
        case("Content-Length 2 GiB, no body", GetThread, raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2147483648\r\n\r\n"), TruncatedOrTooLarge),
        case("chunk size not hex", GetThread, raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"), Truncated),
        case("chunk size overflowing", GetThread, raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"), Truncated),
        case("chunks without the last chunk", GetThread, raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"), Truncated),
        // How these are read is up to the HTTP client (which framing wins); any typed error.
        case("chunked and Content-Length", GetThread, raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n2\r\n{}\r\n0\r\n\r\n"), AnyError),
        case("unknown transfer coding", GetThread, raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"), AnyError),
        case("gzip-labelled garbage", GetThread, Act::Raw(http("200 OK", &["Content-Encoding: gzip"], b"\x1f\x8b not gzip")), AnyError),
        // Size limit.
        case("body over the limit, Content-Length", GetThread, Act::Raw(http("200 OK", &[], &big)), TooLarge),
        case("body over the limit, until close", GetThread, Act::Raw([&b"HTTP/1.1 200 OK\r\n\r\n"[..], &big].concat()), TooLarge),
        case("body over the limit, chunked", GetThread, Act::Raw([format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n", big.len()).as_bytes(), &big, b"\r\n0\r\n\r\n"].concat()), TooLarge),
        case("error body over the limit", GetThread, Act::Raw(http("404 Not Found", &[], &big)), TooLarge),
        case("send answered over the limit", SendMessage, Act::Raw(http("201 Created", &[], &big)), TooLarge),
        // 2xx bodies that are not the model.
        case("200 empty body", GetThread, json("200 OK", b""), Decode(200)),
        case("200 null", GetThread, json("200 OK", b"null"), Decode(200)),
        case("200 []", GetThread, json("200 OK", b"[]"), Decode(200)),
        case("200 number", GetThread, json("200 OK", b"5"), Decode(200)),
        case("200 string", GetThread, json("200 OK", b"\"thread\""), Decode(200)),
        case("200 {}", GetThread, json("200 OK", b"{}"), Decode(200)),
        case("200 deep nesting", GetThread, json("200 OK", deep.as_bytes()), Decode(200)),
        case("200 invalid UTF-8 string", GetThread, json("200 OK", b"{\"id\":\"\xff\xfe\",\"topic\":\"t\"}"), Decode(200)),
        case("200 truncated JSON", GetThread, json("200 OK", b"{\"id\":"), Decode(200)),
        case("200 trailing garbage", GetThread, json("200 OK", b"{} x"), Decode(200)),
        case("200 huge number", GetThread, json("200 OK", b"{\"id\": 1e999}"), Decode(200)),
        case("204 for a read", GetThread, Act::Raw(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec()), Decode(204)),
        case("200 message with wrong types", GetMessage, json("200 OK", b"{\"id\":5,\"type\":[],\"sequenceId\":{},\"version\":null,\"createdOn\":\"never\"}"), Decode(200)),
        case("page value not an array", ListThreads, json("200 OK", b"{\"value\":5}"), Decode(200)),
        case("page value of numbers", ListThreads, json("200 OK", b"{\"value\":[1,2]}"), Decode(200)),
        case("page nextLink a number", ListThreads, json("200 OK", b"{\"value\":[],\"nextLink\":5}"), Decode(200)),
        case("page null", ListMessages, json("200 OK", b"null"), Decode(200)),
        case("page of wrong messages", ListMessages, json("200 OK", b"{\"value\":[{\"id\":[]}]}"), Decode(200)),
        case("page deep nesting", ListMessages, json("200 OK", deep.as_bytes()), Decode(200)),
        case("201 create without chatThread", CreateThread, json("201 Created", b"{}"), Unexpected),
        case("201 create with chatThread null", CreateThread, json("201 Created", b"{\"chatThread\":null}"), Unexpected),
        case("201 create with chatThread a number", CreateThread, json("201 Created", b"{\"chatThread\":5}"), Decode(201)),
        case("201 create with wrong invalidParticipants", CreateThread, json("201 Created", b"{\"chatThread\":{\"id\":\"19:a@thread.v2\",\"topic\":\"t\",\"createdOn\":\"2024-01-01T00:00:00Z\",\"createdByCommunicationIdentifier\":{\"rawId\":\"8:acs:x\"}},\"invalidParticipants\":\"x\"}"), Decode(201)),
        case("201 send without id", SendMessage, json("201 Created", b"{}"), Decode(201)),
        case("201 send with id null", SendMessage, json("201 Created", b"{\"id\":null}"), Decode(201)),
        case("201 send with invalid UTF-8", SendMessage, json("201 Created", b"{\"id\":\"\xc3\x28\"}"), Decode(201)),
        // 1xx and 3xx.
        case("100 Continue, then close", GetThread, raw(b"HTTP/1.1 100 Continue\r\n\r\n"), Transport),
        case("100 Continue, then 404", GetThread, raw(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), Service(404)),
        // An upgrade the client never asked for: up to the HTTP client, any typed error.
        case("101 Switching Protocols", GetThread, raw(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"), AnyError),
        case("103 Early Hints, then close", GetThread, raw(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"), Transport),
        case("199 with a body", SendMessage, json("199 Odd", b"{\"id\":\"1\"}"), Transport),
        case("300 without Location", GetThread, json("300 Multiple Choices", b"{}"), Redirect(300)),
        case("304 for a read", GetThread, Act::Raw(b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n".to_vec()), Redirect(304)),
        case("399", SendMessage, json("399 Odd", b"{}"), Redirect(399)),
        case("page of wrong participants", ListParticipants, json("200 OK", b"{\"value\":[{\"communicationIdentifier\":5}]}"), Decode(200)),
        case("page of participants with odd identifiers", ListParticipants, json("200 OK", "{\"value\":[{\"communicationIdentifier\":{\"rawId\":\"8:\u{e9}:\u{1F600}\"}},{\"communicationIdentifier\":{\"rawId\":\"4:\",\"phoneNumber\":{}}},{\"communicationIdentifier\":{\"kind\":\"microsoftTeamsUser\",\"microsoftTeamsUser\":{\"userId\":\"\u{e9}\",\"cloud\":\"mars\"}}}]}".as_bytes()), Success),
        case("page of participants with an empty identifier", ListParticipants, json("200 OK", b"{\"value\":[{\"communicationIdentifier\":{}}]}"), Decode(200)),
        case("page of wrong read receipts", ListReceipts, json("200 OK", b"{\"value\":[{\"chatMessageId\":1,\"readOn\":\"+999999-01-01T00:00:00Z\"}]}"), Decode(200)),
        case("read receipt dated year 10000", ListReceipts, json("200 OK", b"{\"value\":[{\"senderCommunicationIdentifier\":{\"rawId\":\"8:acs:x\"},\"chatMessageId\":\"1\",\"readOn\":\"9999-12-31T23:59:59-01:00\"}]}"), Decode(200)),
        case("add answered with a wrong invalidParticipants", AddParticipant, json("201 Created", b"{\"invalidParticipants\":{\"code\":5}}"), Decode(201)),
        case("add answered with an unknown invalid participant", AddParticipant, json("201 Created", "{\"invalidParticipants\":[{\"code\":\"\\u0000\",\"message\":\"\u{1F600}\",\"target\":\"8:\u{e9}\"}]}".as_bytes()), Rejected),
        case("add answered with deep nesting", AddParticipant, json("201 Created", deep.as_bytes()), Decode(201)),
        case("create user answered {}", CreateUser, json("201 Created", b"{}"), Decode(201)),
        case("create user answered null identity", CreateUser, json("201 Created", b"{\"identity\":null}"), Decode(201)),
        case("create user answered invalid UTF-8", CreateUser, json("201 Created", b"{\"identity\":{\"id\":\"\xff\"}}"), Decode(201)),
        case("user and token answered without a token", CreateUserAndToken, json("201 Created", b"{\"identity\":{\"id\":\"8:acs:x\"}}"), Credential),
        case("user and token answered with a wrong token", CreateUserAndToken, json("201 Created", b"{\"identity\":{\"id\":\"8:acs:x\"},\"accessToken\":{\"token\":[]}}"), Decode(201)),
        case("create user answered 409 with odd body", CreateUser, json("409 Conflict", b"{\"error\":[]}"), Service(409)),
        case("token answered without expiresOn", GetToken, json("200 OK", b"{\"token\":\"a.b.c\"}"), Decode(200)),
        case("token answered with expiresOn year 0", GetToken, json("200 OK", b"{\"token\":\"a.b.c\",\"expiresOn\":\"0000-01-01T00:00:00Z\"}"), Success),
        case("token answered with expiresOn garbage", GetToken, json("200 OK", b"{\"token\":\"a.b.c\",\"expiresOn\":\"+275760-09-13T00:00:00.000Z\"}"), Decode(200)),
        case("token answered with token a number", GetToken, json("200 OK", b"{\"token\":5,\"expiresOn\":\"2030-01-01T00:00:00Z\"}"), Decode(200)),
        case("token answered over the limit", GetToken, json("200 OK", &vec![b' '; 17 * 1024 * 1024]), TooLarge),
        case("token answered after a stall", GetToken, Act::RawThenStall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec()), Timeout),
        case("update answered 200 with garbage", UpdateTopic, json("200 OK", b"\xff garbage"), Success),
        case("update answered 500 with deep nesting", UpdateTopic, json("500 Internal Server Error", deep.as_bytes()), Service(500)),
        // Hostile retry hints: the call ends with the 429/503, never sleeps past its timeout.
        case("Retry-After huge", GetThread, Act::Raw(http("429 Too Many Requests", &["Retry-After: 99999999999999999999999999"], b"{}")), Service(429)),
        case("Retry-After negative", GetThread, Act::Raw(http("429 Too Many Requests", &["Retry-After: -5"], b"{}")), Service(429)),
        case("Retry-After NaN", SendMessage, Act::Raw(http("429 Too Many Requests", &["Retry-After: NaN"], b"{}")), Service(429)),
        case("Retry-After year 9999", GetThread, Act::Raw(http("503 Service Unavailable", &["Retry-After: Fri, 31 Dec 9999 23:59:59 GMT"], b"{}")), Service(503)),
        case("retry-after-ms 1e308", SendMessage, Act::Raw(http("503 Service Unavailable", &["retry-after-ms: 1e308"], b"{}")), Service(503)),
        case("x-ms-retry-after-ms inf", GetThread, Act::Raw(http("429 Too Many Requests", &["x-ms-retry-after-ms: inf"], b"{}")), Service(429)),
        // Odd request-id headers on an error.
        case("10 KiB MS-CV", GetThread, Act::Raw(http("404 Not Found", &[&format!("MS-CV: {}", "c".repeat(10 * 1024))], b"{}")), Service(404)),
        case("non-UTF-8 MS-CV", GetThread, Act::Raw(http("404 Not Found", &["MS-CV: \u{80}\u{ff}"], b"{}")), Service(404)),
    ];
    // Error statuses with every odd body.
    let odd_bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("null", b"null".to_vec()),
        ("[]", b"[]".to_vec()),
        ("number", b"5".to_vec()),
        ("string", b"\"x\"".to_vec()),
        ("deep nesting", deep.clone().into_bytes()),
        (
            "invalid UTF-8",
            b"{\"error\":{\"code\":\"\xff\",\"message\":\"\xfe\"}}".to_vec(),
        ),
        ("HTML", b"<html><body>Bad gateway</body></html>".to_vec()),
        ("error a number", b"{\"error\":5}".to_vec()),
        (
            "error fields wrong",
            b"{\"error\":{\"code\":7,\"message\":[],\"innerError\":\"x\",\"details\":5}}".to_vec(),
        ),
        ("200 KiB garbage", vec![b'g'; 200 * 1024]),
    ];
    for status in [
        "400 Bad Request",
        "401 Unauthorized",
        "403 Forbidden",
        "404 Not Found",
        "409 Conflict",
        "500 Internal Server Error",
        "503 Service Unavailable",
        "599 Odd",
    ] {
        let code: u16 = status[..3].parse().expect("status code");
        for (what, body) in &odd_bodies {
            let op = if code == 500 { SendMessage } else { GetThread };
            cases.push(case(
                format!("{status} with {what} body"),
                op,
                json(status, body),
                Service(code),
            ));
        }
    }
    cases
}

/// Every hostile response of the table ends its call with the expected typed error, quickly,
/// with no panic and no token in the error text.
#[test]
fn hostile_responses_give_typed_errors() {
    run_all(table(), 4);
}

/// A 10 MiB `nextLink` and one with control characters neither panic nor inject headers.
#[test]
fn hostile_next_links_give_typed_errors_or_pages() {
    let long = format!(
        "{{\"value\":[],\"nextLink\":\"http://127.0.0.1/chat/threads?x={}\"}}",
        "a".repeat(10 * 1024 * 1024)
    );
    let mut cases = vec![
        case(
            "10 MiB nextLink",
            Op::ListThreads,
            json("200 OK", long.as_bytes()),
            Expect::OkOrError,
        ),
        case(
            "nextLink with CR LF",
            Op::ListThreads,
            json(
                "200 OK",
                br#"{"value":[],"nextLink":"/chat/threads?a=1\r\nInjected: yes\r\n\r\nGET / HTTP/1.1"}"#,
            ),
            Expect::OkOrError,
        ),
        case(
            "nextLink with NUL and DEL",
            Op::ListMessages,
            json(
                "200 OK",
                br#"{"value":[],"nextLink":"/chat/threads/x/messages?a=\u0000\u007f\u001b[31m"}"#,
            ),
            Expect::OkOrError,
        ),
        case(
            "nextLink not a URL",
            Op::ListThreads,
            json("200 OK", br#"{"value":[],"nextLink":"::::%%%%\\\\"}"#),
            Expect::OkOrError,
        ),
    ];
    cases[0].body_limit = 16 * 1024 * 1024;
    let server_check = cases.len();
    run_all(cases, 2);
    // Header injection: a server given the CR LF link never sees the injected header.
    let server = Server::always(json(
        "200 OK",
        br#"{"value":[],"nextLink":"/chat/threads?a=1\r\nInjected: yes"}"#,
    ));
    let _ = call(
        Op::ListThreads,
        &Clients::new(&server, &token(), BODY_LIMIT),
    );
    let heads = server.heads();
    assert!(
        !heads.is_empty()
            && heads.iter().all(|h| !h
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("injected"))),
        "{server_check} cases; heads seen: {heads:?}"
    );
}

/// `nextLink`s and redirects that point at another host never send it anything.
#[test]
fn next_links_and_redirects_stay_on_endpoint() {
    let other = Server::always(json("200 OK", b"{\"value\":[]}"));
    let o = other.addr;
    let links = [
        format!("http://{o}/chat/threads?api-version=2025-03-15"),
        format!("HTTP://{o}/chat/threads"),
        format!("//{o}/chat/threads"),
        format!("http://{o}@{o}/chat/threads"),
        format!("http://user:pass@{o}/chat/threads"),
        format!("https://{o}/chat/threads"),
        format!("http:\\\\{o}\\chat\\threads"),
        format!("/\\{o}/chat/threads"),
    ];
    for link in &links {
        let body = serde_json::json!({"value": [], "nextLink": link}).to_string();
        // The first page points away; the rebased request gets a last, empty page.
        let first = json("200 OK", body.as_bytes());
        let last = json("200 OK", b"{\"value\":[]}");
        let server = Server::start(Arc::new(
            move |n| {
                if n == 0 {
                    first.clone()
                } else {
                    last.clone()
                }
            },
        ));
        let result = call(
            Op::ListThreads,
            &Clients::new(&server, &token(), BODY_LIMIT),
        );
        assert!(
            other.heads().is_empty(),
            "nextLink {link:?} reached the other host ({result:?}): {:?}",
            other.heads()
        );
        if let Err(e) = &result {
            assert!(
                !error_texts(e).contains(SIGNATURE),
                "nextLink {link:?}: the error shows the token: {e:?}"
            );
        }
    }
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "303 See Other",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let code: u16 = status[..3].parse().expect("status code");
        let location = format!("Location: http://{o}/chat/threads/x");
        let act = Act::Raw(http(status, &[&location], b""));
        for op in [Op::GetThread, Op::SendMessage, Op::ListThreads] {
            let server = Server::always(act.clone());
            let result = call(op, &Clients::new(&server, &token(), BODY_LIMIT));
            assert!(
                Expect::Redirect(code).accepts(&result),
                "{status} for {op:?}: {result:?}"
            );
            assert!(
                other.heads().is_empty(),
                "{status} for {op:?} reached the other host: {:?}",
                other.heads()
            );
        }
    }
}

/// Servers that stall (silent, after the headers, mid-body) or trickle a byte per 100 ms
/// cannot hold a call past its timeout.
#[test]
fn stalled_and_trickling_servers_end_within_call_timeout() {
    let full = http(
        "200 OK",
        &["Content-Type: application/json"],
        br#"{"id":"19:a@thread.v2","topic":"t","createdOn":"2024-01-01T00:00:00Z","createdByCommunicationIdentifier":{"rawId":"8:acs:x"}}"#,
    );
    let gap = Duration::from_millis(100);
    let mut cases = Vec::new();
    for op in [Op::GetThread, Op::SendMessage, Op::ListThreads] {
        cases.extend([
            case("silent", op, Act::RawThenStall(Vec::new()), Expect::Timeout),
            case(
                "headers, then stall",
                op,
                Act::RawThenStall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec()),
                Expect::Timeout,
            ),
            case(
                "half a status line, then stall",
                op,
                Act::RawThenStall(b"HTTP/1.1 20".to_vec()),
                Expect::Timeout,
            ),
            case(
                "half a body, then stall",
                op,
                Act::RawThenStall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":".to_vec(),
                ),
                Expect::Timeout,
            ),
            case(
                "chunked, then stall",
                op,
                Act::RawThenStall(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n".to_vec(),
                ),
                Expect::Timeout,
            ),
            case(
                "a byte per 100 ms",
                op,
                Act::Trickle(full.clone(), gap),
                Expect::Timeout,
            ),
        ]);
    }
    let n = cases.len();
    run_all(cases, n);
}

/// A server that never completes the TCP handshake (its accept queue is full, so the kernel drops
/// our SYNs) makes each attempt fail at the connect timeout; the call gives up with a typed error
/// after its retries, well before the call timeout, and every attempt was a connect attempt.
#[test]
fn unanswered_connect_ends_at_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    // Never accepted: fill the listen backlog (std asks for 128) until a connect no longer
    // completes; from then on the kernel leaves new handshakes unanswered.
    let mut held = Vec::new();
    let mut full = false;
    for _ in 0..1024 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => held.push(s),
            Err(_) => {
                full = true;
                break;
            }
        }
    }
    if !full {
        println!("SKIPPED: this kernel accepted 1024 connections without accept(); cannot stall a handshake here");
        return;
    }
    let connect_timeout = Duration::from_millis(300);
    let chat = ChatClient::with_options(
        &format!("http://{addr}"),
        CommunicationTokenCredential::new(token()).expect("token"),
        ChatClientOptions {
            transport_options: TransportOptions {
                call_timeout: Duration::from_secs(30),
                connect_timeout,
                retry: RetryOptions {
                    max_retries: 2,
                    initial_delay: Duration::from_millis(1),
                    max_delay: Duration::from_millis(5),
                },
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .expect("client");
    let started = Instant::now();
    let result = chat.get_chat_thread(THREAD_ID);
    let took = started.elapsed();
    let error = result.expect_err("a handshake that never completes cannot succeed");
    assert!(
        matches!(error, Error::Transport { .. } | Error::Timeout { .. }),
        "expected a transport or timeout error, saw {error:?}"
    );
    // Three attempts of 300 ms each, plus tiny backoffs: far below the 30 s call timeout.
    assert!(
        took >= connect_timeout && took < Duration::from_secs(10),
        "the call took {took:?} with a {connect_timeout:?} connect timeout"
    );
    assert!(
        !error_texts(&error).contains(SIGNATURE),
        "the token leaked into {error:?}"
    );
    drop(held);
}
