//! Generated hostile requests: a seeded, deterministic generator sends raw HTTP/1.1 requests
//! built from the real routes with mutated paths, queries, headers and bodies. Every answer is
//! a well-formed HTTP response with an allowed status (never a 5xx: faults are off), every 4xx
//! body is the service's error shape, and afterwards the emulator still serves normal requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use acs_chat_emulator::hmac::{authorization_header, content_hash, sign, string_to_sign};
use acs_chat_emulator::Emulator;
use serde_json::{json, Value};

/// How many requests the generator sends at most.
const REQUESTS: usize = 2_000;
/// How many threads send them at once.
const SENDERS: usize = 4;
/// The generator stops early after this long (debug builds on a loaded machine), printing
/// how far it got; it is a budget, not an assertion.
const TIME_BUDGET: Duration = Duration::from_secs(15);
/// At least this many requests must have run for the test to mean anything.
const MIN_REQUESTS: usize = 200;
/// The generator's seed: a failure names the request number, which reproduces it.
const SEED: u64 = 0x5EED_0FA5_C5C4_A7E1;

/// xorshift64*: small, deterministic, good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What the generator knows about the emulator: real ids and credentials to mutate.
struct World {
    addr: String,
    key: Vec<u8>,
    token: String,
    other_token: String,
    /// Threads the caller takes part in, each with one of its messages (a hostile request
    /// may delete one; the others keep the generator reaching the handlers).
    threads: Vec<(String, String)>,
    /// A user in those threads (never the caller): identity requests may delete or revoke it.
    user: String,
}

/// One generated request.
struct Generated {
    method: String,
    target: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// Sent with `Transfer-Encoding: chunked` (in chunks of this many bytes) instead of
    /// `Content-Length`.
    chunked: Option<usize>,
    /// Not valid HTTP/1.1 framing for hyper (raw bytes outside the URI grammar, a header
    /// section over hyper's limit): hyper itself may answer 400/431 with an empty body or
    /// close the connection; the emulator's own error shape is not required then.
    framing_invalid: bool,
    /// A short description for assertion messages.
    what: String,
}

/// A parsed HTTP response.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-encodes every byte outside the unreserved set.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path segment standing for an id: real, encoded, or mutated.
fn id_segment(rng: &mut Rng, real: &str, mutate: bool, framing_invalid: &mut bool) -> Vec<u8> {
    if !mutate {
        return if rng.chance(10) {
            real.as_bytes().to_vec()
        } else {
            enc(real).into_bytes()
        };
    }
    match rng.below(22) {
        0..=5 => enc(real).into_bytes(),
        6 => real.as_bytes().to_vec(),
        7 => b"%zz".to_vec(),
        8 => b"%".to_vec(),
        9 => b"%E2%82".to_vec(),
        10 => b"%00".to_vec(),
        11 => format!("{}%00{}", enc(real), "x").into_bytes(),
        12 => "a".repeat(1 + rng.below(12_000)).into_bytes(),
        13 => b"..".to_vec(),
        14 => b"%2e%2e".to_vec(),
        15 => b".".to_vec(),
        16 => b"%2F%2F".to_vec(),
        17 => enc("19:héllo€😀@thread.v2").into_bytes(),
        18 => {
            *framing_invalid = true;
            "ünïcödé".as_bytes().to_vec()
        }
        19 => {
            *framing_invalid = true;
            b"a\0b".to_vec()
        }
        20 => format!("{}{}", enc(real), "%41".repeat(rng.below(3000))).into_bytes(),
        _ => Vec::new(),
    }
}

/// A query string: api-version (real, wrong, missing, duplicated) and random list parameters.
fn query(rng: &mut Rng, identity: bool, mutate: bool) -> String {
    if !mutate {
        let version = if identity { "2023-10-01" } else { "2025-03-15" };
        return if rng.chance(20) {
            format!("api-version={version}&maxPageSize=2")
        } else {
            format!("api-version={version}")
        };
    }
    let versions = [
        "2025-03-15",
        "2024-03-07",
        "2023-11-07",
        "2021-09-07",
        "2023-10-01",
        "2022-10-01",
        "",
        "garbage",
        "%zz",
        "2025-03-15%00",
        "9999-99-99",
        "%E2%82",
    ];
    let mut parts: Vec<String> = Vec::new();
    match rng.below(10) {
        0 => {}
        1..=6 => {
            let v = if identity && rng.chance(70) {
                "2023-10-01"
            } else if rng.chance(60) {
                *rng.pick(&versions[..4])
            } else {
                *rng.pick(&versions)
            };
            parts.push(format!("api-version={v}"));
        }
        7 => parts.push(format!("API-VERSION={}", rng.pick(&versions))),
        8 => {
            parts.push(format!("api-version={}", rng.pick(&versions)));
            parts.push(format!("api-version={}", rng.pick(&versions)));
        }
        _ => parts.push("api-version".to_string()),
    }
    let values = [
        "-1",
        "0",
        "1",
        "200",
        "201",
        "99999999999999999999999",
        "abc",
        "%zz",
        "1e3",
        "",
        "%00",
    ];
    for _ in 0..rng.below(4) {
        let name = *rng.pick(&[
            "maxPageSize",
            "skip",
            "startTime",
            "syncState",
            "continuationToken",
            "%zz",
            "",
        ]);
        let value = match name {
            "startTime" => (*rng.pick(&[
                "2020-01-01T00%3A00%3A00Z",
                "%2B999999-01-01T00%3A00%3A00Z",
                "-99999-01-01T00:00:00Z",
                "yesterday",
                "",
            ]))
            .to_string(),
            "syncState" => match rng.below(4) {
                0 => "3e".repeat(rng.below(40)),
                1 => "zz".to_string(),
                2 => format!("3e{}", "ff".repeat(rng.below(40))),
                _ => "0".repeat(rng.below(5000)),
            },
            _ => (*rng.pick(&values)).to_string(),
        };
        parts.push(format!("{name}={value}"));
    }
    parts.join("&")
}

/// A valid request body for a route, to be mutated.
fn template(route: &str, w: &World) -> Value {
    let participant = json!({
        "communicationIdentifier": {"rawId": w.user, "communicationUser": {"id": w.user}},
        "displayName": "Bob",
        "shareHistoryTime": "2020-01-01T00:00:00Z",
        "metadata": {"k": "v"},
    });
    match route {
        "threads" => json!({
            "topic": "t",
            "participants": [participant],
            "metadata": {"k": "v"},
            "retentionPolicy": {"kind": "threadCreationDate", "deleteThreadAfterDays": 30},
        }),
        "thread" => json!({
            "topic": "t2",
            "metadata": {"k": "v"},
            "retentionPolicy": {"kind": "none"},
        }),
        "messages" => json!({
            "content": "hi",
            "senderDisplayName": "me",
            "type": "text",
            "metadata": {"k": "v"},
        }),
        "message" => json!({"content": "edit", "metadata": {"k": null}}),
        "add" => json!({"participants": [participant]}),
        "remove" => json!({"rawId": w.user, "communicationUser": {"id": w.user}}),
        "receipts" => json!({"chatMessageId": w.threads[0].1}),
        "typing" => json!({"senderDisplayName": "me"}),
        "identities" => json!({"createTokenWithScopes": ["chat"], "expiresInMinutes": 60}),
        "issue" => json!({"scopes": ["chat", "voip"], "expiresInMinutes": 60}),
        "teams" => json!({"token": "a.b.c", "appId": "app", "userId": "user"}),
        _ => json!({}),
    }
}

/// A value of a random type, sometimes huge or deeply nested.
fn random_value(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(0),
        4 => json!(i64::MAX),
        5 => json!(1.5e300),
        6 => json!(""),
        7 => json!("x".repeat(1 + rng.below(100_000))),
        8 => json!([]),
        9 => json!({}),
        10 => json!(["a", 1, null]),
        11 => json!({"nested": {"deeper": [1, {"k": "v"}]}}),
        12 => json!("\u{0}\u{1f}\u{202e}😀"),
        _ => {
            let mut v = json!("leaf");
            for _ in 0..rng.below(100) {
                v = json!([v]);
            }
            v
        }
    }
}

/// Replaces one field (at any depth) of `v` with a random value, or deletes it.
fn mutate(rng: &mut Rng, v: &mut Value) {
    match v {
        Value::Object(map) if !map.is_empty() && rng.chance(80) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = rng.pick(&keys).clone();
            if rng.chance(50) {
                if let Some(inner) = map.get_mut(&key) {
                    mutate(rng, inner);
                    return;
                }
            }
            if rng.chance(15) {
                map.remove(&key);
            } else {
                map.insert(key, random_value(rng));
            }
        }
        Value::Array(items) if !items.is_empty() && rng.chance(70) => {
            let i = rng.below(items.len());
            mutate(rng, &mut items[i]);
        }
        other => *other = random_value(rng),
    }
}

/// A body: none, malformed bytes, or a route's model with wrong types.
fn body(rng: &mut Rng, route: &str, w: &World, hostile: bool) -> Vec<u8> {
    if !hostile {
        return template(route, w).to_string().into_bytes();
    }
    match rng.below(12) {
        0 => Vec::new(),
        1 => b"{".to_vec(),
        2 => b"{\"topic\": \"t\",}".to_vec(),
        3 => vec![0xff, 0xfe, 0x00, b'{'],
        4 => b"nul".to_vec(),
        5 => {
            let depth = 1 + rng.below(100_000);
            let mut b = "[".repeat(depth).into_bytes();
            if rng.chance(50) {
                b.extend("]".repeat(depth).bytes());
            }
            b
        }
        6 => template(route, w).to_string().into_bytes(),
        _ => {
            let mut v = template(route, w);
            for _ in 0..1 + rng.below(3) {
                mutate(rng, &mut v);
            }
            v.to_string().into_bytes()
        }
    }
}

/// A bearer token with its signature changed (same length, so only the HMAC check fails).
fn tampered(token: &str) -> String {
    let mut t = token.to_string();
    if let Some(last) = t.pop() {
        t.push(if last == 'A' { 'B' } else { 'A' });
    }
    t
}

fn generate(rng: &mut Rng, w: &World) -> Generated {
    let mut framing_invalid = false;
    let routes = [
        ("threads", "/chat/threads"),
        ("thread", "/chat/threads/{t}"),
        ("messages", "/chat/threads/{t}/messages"),
        ("message", "/chat/threads/{t}/messages/{m}"),
        ("participants", "/chat/threads/{t}/participants"),
        ("add", "/chat/threads/{t}/participants/:add"),
        ("remove", "/chat/threads/{t}/participants/:remove"),
        ("receipts", "/chat/threads/{t}/readReceipts"),
        ("typing", "/chat/threads/{t}/typing"),
        ("identities", "/identities"),
        ("identity", "/identities/{u}"),
        ("issue", "/identities/{u}/:issueAccessToken"),
        ("revoke", "/identities/{u}/:revokeAccessTokens"),
        ("teams", "/teamsUser/:exchangeAccessToken"),
        ("root", "/"),
        ("chat", "/chat"),
    ];
    let (route, pattern) = *rng.pick(&routes);
    let identity = pattern.starts_with("/identities") || pattern.starts_with("/teamsUser");
    // Which parts of the request are hostile: one to all of path, query, method, auth,
    // headers and body; the rest stay valid so the hostile part reaches the handler.
    let mut hostile = [false; 6];
    for _ in 0..1 + rng.below(3) {
        hostile[rng.below(6)] = true;
    }
    let [m_path, m_query, m_method, m_auth, m_headers, m_body] = hostile;
    let (thread, message) = rng.pick(&w.threads).clone();
    let mut path: Vec<u8> = Vec::new();
    for piece in pattern.split('/').skip(1) {
        path.push(b'/');
        match piece {
            "{t}" => path.extend(id_segment(rng, &thread, m_path, &mut framing_invalid)),
            "{m}" => path.extend(id_segment(rng, &message, m_path, &mut framing_invalid)),
            "{u}" => path.extend(id_segment(rng, &w.user, m_path, &mut framing_invalid)),
            p if m_path && rng.chance(5) => path.extend(enc(p).bytes()),
            p if m_path && rng.chance(3) => path.extend(p.to_uppercase().bytes()),
            p => path.extend(p.bytes()),
        }
    }
    match if m_path { rng.below(20) } else { 99 } {
        0 => path.push(b'/'),
        1 => path.extend(b"//"),
        2 => path.extend(b"/.."),
        3 => path.extend(b"/extra"),
        _ => {}
    }
    let q = query(rng, identity, m_query);
    let mut target = path;
    if !q.is_empty() || rng.chance(10) {
        target.push(b'?');
        target.extend(q.bytes());
    }
    if rng.chance(1) {
        target.push(b'#');
        target.extend(b"frag");
    }

    let methods = [
        "GET", "GET", "POST", "POST", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "get",
        "TRACE", "FOO",
    ];
    let method = if m_method {
        rng.pick(&methods).to_string()
    } else {
        let fitting: &[&str] = match route {
            "threads" | "messages" | "receipts" => &["GET", "POST"],
            // Deleting one of the few threads is rare, so most requests find them.
            "thread" if rng.chance(97) => &["GET", "PATCH"],
            "thread" | "message" => &["GET", "PATCH", "DELETE"],
            "identity" => &["DELETE"],
            "participants" | "root" | "chat" => &["GET"],
            _ => &["POST"],
        };
        rng.pick(fitting).to_string()
    };
    let mut body = if method == "HEAD" || method == "DELETE" || (method == "GET" && rng.chance(80))
    {
        Vec::new()
    } else {
        body(rng, route, w, m_body)
    };
    if m_body && rng.chance(2) {
        // Over the emulator's 4 MiB request limit.
        body = format!("{{\"content\":\"{}\"}}", "x".repeat(4 * 1024 * 1024 + 10)).into_bytes();
    }
    let chunked = (m_headers && rng.chance(20)).then(|| 1 + rng.below(4096));

    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    let target_text = String::from_utf8_lossy(&target).into_owned();
    let auth_kind = if m_auth { rng.below(16) } else { 0 };
    let auth: Option<Vec<u8>> = match auth_kind {
        0..=6 if identity => {
            // A valid HMAC signature, so body and path mutations reach the handlers.
            let date = chrono::Utc::now()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string();
            let hash = content_hash(&body);
            let signature = sign(
                &w.key,
                &string_to_sign(&method, &target_text, &date, &w.addr, &hash),
            );
            headers.push(("x-ms-date".into(), date.into_bytes()));
            headers.push(("x-ms-content-sha256".into(), hash.into_bytes()));
            Some(authorization_header(&signature).into_bytes())
        }
        0..=8 => Some(format!("Bearer {}", w.token).into_bytes()),
        9 => None,
        10 => Some(b"Bearer".to_vec()),
        11 => Some(format!("Bearer {}", tampered(&w.token)).into_bytes()),
        12 => Some(format!("Bearer {}", w.other_token).into_bytes()),
        13 => Some(
            (*rng.pick(&[
                "Basic dXNlcjpwYXNz",
                "Bearer a.b.c",
                "Bearer ...",
                "Bearer eyJ.eyJ.sig",
                "bearer  ",
                "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=AAAA",
                "HMAC-SHA256 Signature=",
                "HMAC-SHA256",
            ]))
            .as_bytes()
            .to_vec(),
        ),
        14 => {
            headers.push((
                "x-ms-date".into(),
                b"Mon, 01 Jan 1900 00:00:00 GMT".to_vec(),
            ));
            headers.push(("x-ms-content-sha256".into(), b"not-a-hash".to_vec()));
            Some(
                b"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=%%%"
                    .to_vec(),
            )
        }
        _ => Some(format!("Bearer {}", "A".repeat(1 + rng.below(20_000))).into_bytes()),
    };
    if let Some(a) = auth {
        headers.push(("Authorization".into(), a));
    }
    if !body.is_empty() || rng.chance(50) {
        const TYPES: [&[u8]; 5] = [
            b"application/json",
            b"application/merge-patch+json",
            b"text/plain",
            b"application/json; charset=latin1",
            b"\x01garbage",
        ];
        let ctype: Vec<u8> = match (m_headers, method.as_str()) {
            (true, _) => rng.pick(&TYPES).to_vec(),
            (false, "PATCH") => TYPES[1].to_vec(),
            (false, _) => TYPES[0].to_vec(),
        };
        // A control character in a header value is invalid HTTP/1.1 (hyper answers it).
        framing_invalid |= ctype.iter().any(u8::is_ascii_control);
        headers.push(("Content-Type".into(), ctype));
    }
    if m_headers && rng.chance(30) {
        const IDS: [&[u8]; 4] = [b"abc", b"", b"\xff\xfe", b"x"];
        let id = rng.pick(&IDS).to_vec();
        headers.push(("repeatability-request-id".into(), id));
    }
    if m_headers && rng.chance(30) {
        headers.push((
            "x-ms-client-request-id".into(),
            b"\x80\x81not-utf8".to_vec(),
        ));
        headers.push(("x-ms-return-client-request-id".into(), b"true".to_vec()));
    }
    if m_headers && rng.chance(20) {
        // A big header; one over hyper's head limit makes the request invalid framing.
        let len = if rng.chance(20) {
            framing_invalid = true;
            600 * 1024
        } else {
            1 + rng.below(100 * 1024)
        };
        headers.push(("X-Huge".into(), vec![b'h'; len]));
    }
    if m_headers && rng.chance(5) {
        framing_invalid = true;
        for i in 0..200 {
            headers.push((format!("X-Many-{i}"), b"v".to_vec()));
        }
    }
    let what = format!(
        "{method} {} (headers {:?}, body {} bytes: {:?})",
        String::from_utf8_lossy(&target[..target.len().min(160)]),
        headers
            .iter()
            .take(8)
            .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(&v[..v.len().min(60)])))
            .collect::<Vec<_>>(),
        body.len(),
        String::from_utf8_lossy(&body[..body.len().min(80)]),
    );
    Generated {
        method,
        target,
        headers,
        body,
        chunked,
        framing_invalid,
        what,
    }
}

/// Sends `g` on a fresh connection (`Connection: close`) and reads the whole answer.
fn exchange(addr: &str, g: &Generated) -> Result<Answer, String> {
    let mut raw = Vec::with_capacity(g.body.len() + 512);
    raw.extend(g.method.as_bytes());
    raw.push(b' ');
    raw.extend(&g.target);
    raw.extend(b" HTTP/1.1\r\nHost: ");
    raw.extend(addr.as_bytes());
    raw.extend(b"\r\nConnection: close\r\n");
    for (k, v) in &g.headers {
        raw.extend(k.as_bytes());
        raw.extend(b": ");
        raw.extend(v);
        raw.extend(b"\r\n");
    }
    match g.chunked {
        None => {
            raw.extend(format!("Content-Length: {}\r\n\r\n", g.body.len()).bytes());
            raw.extend(&g.body);
        }
        Some(size) => {
            raw.extend(b"Transfer-Encoding: chunked\r\n\r\n");
            for chunk in g.body.chunks(size) {
                raw.extend(format!("{:x}\r\n", chunk.len()).bytes());
                raw.extend(chunk);
                raw.extend(b"\r\n");
            }
            raw.extend(b"0\r\n\r\n");
        }
    }
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| format!("timeout: {e}"))?;
    // The server may answer (and close) before reading a rejected request's whole body.
    let write_error = s.write_all(&raw).err();
    let mut out = Vec::new();
    let read_error = s.read_to_end(&mut out).err();
    if out.is_empty() {
        return Err(format!(
            "no answer (write error {write_error:?}, read error {read_error:?})"
        ));
    }
    parse_answer(&out, g.method == "HEAD")
}

/// Parses one HTTP/1.1 response; the body is framed by Content-Length, chunks, or the close.
fn parse_answer(out: &[u8], head_request: bool) -> Result<Answer, String> {
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in {:?}", String::from_utf8_lossy(out)))?;
    // Header values may be obs-text (an echoed non-UTF-8 client request id): read lossily.
    let head = String::from_utf8_lossy(&out[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    if parts.next() != Some("HTTP/1.1") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| format!("bad status in {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &out[end + 4..];
    if head_request || status == 204 || status == 304 {
        return Ok(answer);
    }
    if let Some(len) = answer.header("content-length") {
        let len: usize = len.parse().map_err(|_| format!("bad length {len:?}"))?;
        if rest.len() != len {
            return Err(format!("body {} bytes, Content-Length {len}", rest.len()));
        }
        answer.body = rest.to_vec();
    } else if answer
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        let mut rest = rest;
        loop {
            let line_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("chunk size line missing")?;
            let size = std::str::from_utf8(&rest[..line_end])
                .ok()
                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                .ok_or("bad chunk size")?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            if rest.len() < size + 2 {
                return Err("chunk cut short".into());
            }
            answer.body.extend(&rest[..size]);
            rest = &rest[size + 2..];
        }
    } else {
        answer.body = rest.to_vec();
    }
    Ok(answer)
}

/// Statuses the emulator may answer hostile requests with.
const ALLOWED: &[u16] = &[
    200, 201, 204, 400, 401, 403, 404, 405, 409, 411, 413, 414, 415, 431,
];

/// Checks one answer; returns what is wrong with it.
fn check(g: &Generated, a: &Answer) -> Result<(), String> {
    if !ALLOWED.contains(&a.status) {
        return Err(format!("status {} not allowed", a.status));
    }
    let body_checked = g.method != "HEAD" && !(g.framing_invalid && a.body.is_empty());
    if (400..500).contains(&a.status) && body_checked {
        let v: Value = serde_json::from_slice(&a.body).map_err(|e| {
            format!(
                "{} error body is not JSON ({e}): {:?}",
                a.status,
                String::from_utf8_lossy(&a.body)
            )
        })?;
        if !v["error"]["code"].is_string() || !v["error"]["message"].is_string() {
            return Err(format!(
                "{} error body not in the service shape: {v}",
                a.status
            ));
        }
    }
    if (200..300).contains(&a.status) && body_checked && !a.body.is_empty() {
        serde_json::from_slice::<Value>(&a.body)
            .map_err(|e| format!("{} body is not JSON ({e})", a.status))?;
    }
    Ok(())
}

/// Sends a well-formed chat request with `token`; returns status and JSON body.
fn normal(addr: &str, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut headers = vec![(
        "Authorization".to_string(),
        format!("Bearer {token}").into_bytes(),
    )];
    if !body.is_empty() {
        headers.push(("Content-Type".into(), b"application/json".to_vec()));
    }
    let g = Generated {
        method: method.into(),
        target: format!("{path}?api-version=2025-03-15").into_bytes(),
        headers,
        body,
        chunked: None,
        framing_invalid: false,
        what: format!("{method} {path}"),
    };
    let a = exchange(addr, &g).unwrap_or_else(|e| panic!("{}: {e}", g.what));
    let v = if a.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&a.body).unwrap_or_else(|e| {
            panic!(
                "{}: body not JSON ({e}): {:?}",
                g.what,
                String::from_utf8_lossy(&a.body)
            )
        })
    };
    (a.status, v)
}

/// Creates a thread, sends a message and lists it back, asserting each step.
fn assert_serves_normally(
    addr: &str,
    token: &str,
    text: &str,
    member: Option<&str>,
) -> (String, String) {
    let participants: Vec<Value> = member
        .iter()
        .map(
            |id| json!({"communicationIdentifier": {"rawId": id, "communicationUser": {"id": id}}}),
        )
        .collect();
    let (status, created) = normal(
        addr,
        token,
        "POST",
        "/chat/threads",
        Some(json!({"topic": "normal", "participants": participants})),
    );
    assert_eq!(status, 201, "create thread: {created}");
    let tid = created["chatThread"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no thread id in {created}"))
        .to_string();
    let messages = format!("/chat/threads/{}/messages", enc(&tid));
    let (status, sent) = normal(
        addr,
        token,
        "POST",
        &messages,
        Some(json!({"content": text})),
    );
    assert_eq!(status, 201, "send: {sent}");
    let mid = sent["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no message id in {sent}"))
        .to_string();
    let (status, list) = normal(addr, token, "GET", &messages, None);
    assert_eq!(status, 200, "list: {list}");
    let found: Vec<&Value> = list["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no value array in {list}"))
        .iter()
        .filter(|m| m["id"] == mid.as_str())
        .collect();
    assert_eq!(found.len(), 1, "sent message {mid} listed once: {list}");
    assert_eq!(
        found[0]["content"]["message"], text,
        "listed message: {list}"
    );
    (tid, mid)
}

/// What one sender saw.
struct Outcome {
    sent: usize,
    closed_invalid: usize,
    statuses: std::collections::BTreeMap<u16, usize>,
    /// The first request whose answer was wrong, with why.
    failure: Option<String>,
}

/// Sends stream `k` of `seed` (its share of [`REQUESTS`]) until done, the time budget is
/// spent, or an answer is wrong.
fn send_stream(addr: &str, world: &World, seed: u64, k: u64, started: Instant) -> Outcome {
    let mut rng = Rng::new(seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut out = Outcome {
        sent: 0,
        closed_invalid: 0,
        statuses: Default::default(),
        failure: None,
    };
    for i in 0..REQUESTS / SENDERS {
        if started.elapsed() > TIME_BUDGET {
            break;
        }
        let g = generate(&mut rng, world);
        out.sent += 1;
        let what = || format!("request #{i} of stream {k} (seed {seed}) {}", g.what);
        match exchange(addr, &g) {
            Ok(a) => {
                if let Err(why) = check(&g, &a) {
                    out.failure = Some(format!("{}: {why}", what()));
                    break;
                }
                *out.statuses.entry(a.status).or_default() += 1;
            }
            // hyper may drop a connection whose request is not valid HTTP/1.1.
            Err(_) if g.framing_invalid => out.closed_invalid += 1,
            Err(e) => {
                out.failure = Some(format!("{}: {e}", what()));
                break;
            }
        }
    }
    out
}

/// Thousands of generated hostile requests get well-formed answers with allowed statuses and
/// service-shaped errors, and the emulator serves normally afterwards.
#[test]
fn generated_hostile_requests_get_well_formed_answers() {
    let emu = Emulator::start().expect("emulator starts");
    let addr = emu.endpoint().trim_start_matches("http://").to_string();
    let (_, token) = emu.user_with_token();
    let (_, other_token) = emu.user_with_token();
    let user = emu.create_user();
    let threads: Vec<(String, String)> = (0..8)
        .map(|i| assert_serves_normally(&addr, &token, &format!("before {i}"), Some(&user)))
        .collect();
    let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, emu.access_key())
        .expect("access key is base64");
    let world = World {
        addr: addr.clone(),
        key,
        token: token.clone(),
        other_token,
        threads,
        user,
    };
    // Another seed explores other requests: HOSTILE_REQUESTS_SEED=<u64>.
    let seed = std::env::var("HOSTILE_REQUESTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    // Four senders at once, each with its own stream of the seed, so handlers also race
    // each other on shared state (a poisoned lock or a deadlock shows as a failed request).
    let started = Instant::now();
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let senders: Vec<_> = (0..SENDERS as u64)
            .map(|k| {
                let world = &world;
                let addr = addr.as_str();
                s.spawn(move || send_stream(addr, world, seed, k, started))
            })
            .collect();
        senders
            .into_iter()
            .map(|h| h.join().expect("a sender thread panicked"))
            .collect()
    });
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let (mut sent, mut closed_invalid) = (0, 0);
    for o in &outcomes {
        if let Some(failure) = &o.failure {
            panic!("{failure}");
        }
        sent += o.sent;
        closed_invalid += o.closed_invalid;
        for (status, n) in &o.statuses {
            *statuses.entry(*status).or_default() += n;
        }
    }
    println!(
        "{sent} hostile requests (seed {seed}) in {:?}: statuses {statuses:?}, {closed_invalid} invalid-framing requests closed without an answer",
        started.elapsed()
    );
    assert!(
        sent >= MIN_REQUESTS,
        "only {sent} requests ran within the budget"
    );
    assert!(
        statuses.keys().any(|s| *s < 300) && statuses.keys().any(|s| *s >= 400),
        "the generator should reach handlers and errors alike: {statuses:?}"
    );
    // No panic took down a worker or poisoned state: a fresh user is served normally, and so
    // is the user whose token the hostile requests carried.
    let (_, fresh) = emu.user_with_token();
    assert_serves_normally(&addr, &fresh, "after, fresh user", None);
    assert_serves_normally(&addr, &token, "after, same user", None);
}

/// The generator is deterministic: one seed gives one sequence of requests.
#[test]
fn request_generator_is_deterministic() {
    let world = World {
        addr: "127.0.0.1:1".into(),
        key: b"key".to_vec(),
        token: "a.b.c".into(),
        other_token: "d.e.f".into(),
        threads: vec![("19:x@thread.v2".into(), "1".into())],
        user: "8:acs:x".into(),
    };
    let run = |seed| {
        let mut rng = Rng::new(seed);
        (0..50)
            .map(|_| {
                let g = generate(&mut rng, &world);
                (g.method, g.target, g.body)
            })
            .collect::<Vec<_>>()
    };
    assert!(run(SEED) == run(SEED), "same seed, different requests");
    assert!(run(SEED) != run(SEED + 1), "different seeds, same requests");
}
