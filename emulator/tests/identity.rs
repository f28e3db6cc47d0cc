//! Wire-level tests of the Identity API routes: raw HTTP/1.1 over a `TcpStream`, requests signed
//! here with HMAC-SHA256 (independently of the emulator's own `hmac` module), statuses, headers
//! and JSON shapes checked.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use acs_chat_emulator::auth::AuthError;
use acs_chat_emulator::identity::Directory;
use acs_chat_emulator::{identity, Emulator};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;

use common::enc;

const KEY: &[u8] = b"identity-wire-test-key-0123456789";

/// A server on 127.0.0.1 with the known key: either the identity routes alone on their own
/// tokio runtime (with the directory at hand), or the whole in-process emulator.
struct Server {
    addr: SocketAddr,
    directory: Option<Arc<Directory>>,
    _guard: Guard,
}

enum Guard {
    Own(#[allow(dead_code)] tokio::sync::oneshot::Sender<()>), // dropped to shut down
    Emulator(#[allow(dead_code)] Emulator),                    // dropped to shut down
}

impl Server {
    fn start() -> Server {
        let directory = Arc::new(Directory::new(KEY.to_vec()));
        let app = identity::routes().with_state(Arc::clone(&directory));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Server {
            addr,
            directory: Some(directory),
            _guard: Guard::Own(tx),
        }
    }

    /// The full emulator, identity and chat routes together.
    fn emulator() -> Server {
        let emu = Emulator::builder()
            .access_key(&STANDARD.encode(KEY))
            .start()
            .expect("emulator starts");
        let endpoint = emu.endpoint();
        let addr = endpoint
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("endpoint {endpoint:?} is not http://IP:PORT"));
        Server {
            addr,
            directory: None,
            _guard: Guard::Emulator(emu),
        }
    }

    fn dir(&self) -> &Directory {
        self.directory
            .as_deref()
            .expect("test uses Server::start(), which keeps the directory")
    }

    fn emu(&self) -> &Emulator {
        match &self._guard {
            Guard::Emulator(emu) => emu,
            Guard::Own(_) => panic!("test uses Server::emulator()"),
        }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("<no error.code>")
            .to_owned()
    }
}

/// Sends one request on a fresh connection and reads the whole response.
fn send_raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Resp {
    let mut stream = TcpStream::connect(addr).expect("connect to the emulator");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// What to sign and send; fields can be tampered with between signing and sending.
struct Signed {
    method: String,
    target: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

fn rfc1123(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Signs like the official Python SDK: `VERB\nTARGET\nDATE;HOST;HASH`, key-HMAC-SHA256, base64.
fn sign(method: &str, target: &str, host: &str, body: &[u8], key: &[u8], date: &str) -> Signed {
    let hash = STANDARD.encode(Sha256::digest(body));
    let to_sign = format!("{method}\n{target}\n{date};{host};{hash}");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(to_sign.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    Signed {
        method: method.to_owned(),
        target: target.to_owned(),
        body: body.to_vec(),
        headers: vec![
            ("x-ms-date", date.to_owned()),
            ("x-ms-content-sha256", hash),
            (
                "Authorization",
                format!(
                    "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"
                ),
            ),
        ],
    }
}

impl Server {
    /// Sends `signed` with `Host` as the real address.
    fn send(&self, signed: &Signed) -> Resp {
        let mut headers = vec![
            ("Host", self.host()),
            ("Content-Type", "application/json".to_owned()),
            (
                "x-ms-client-request-id",
                "d75a9460-e9f1-11f1-9fea-02fc00000001".to_owned(),
            ),
        ];
        headers.extend(signed.headers.iter().cloned());
        send_raw(
            self.addr,
            &signed.method,
            &signed.target,
            &headers,
            &signed.body,
        )
    }

    /// Signs (host with port, now) and sends.
    fn call(&self, method: &str, target: &str, body: &[u8]) -> Resp {
        let date = rfc1123(chrono::Utc::now());
        self.send(&sign(method, target, &self.host(), body, KEY, &date))
    }

    fn create_user(&self) -> String {
        let resp = self.call("POST", "/identities?api-version=2023-10-01", b"");
        assert_eq!(resp.status, 201, "create user: {resp:?}");
        resp.json()["identity"]["id"]
            .as_str()
            .expect("identity.id is a string")
            .to_owned()
    }

    fn issue(&self, user: &str, body: &str) -> Resp {
        let target = format!(
            "/identities/{}/:issueAccessToken?api-version=2023-10-01",
            enc(user)
        );
        self.call("POST", &target, body.as_bytes())
    }
}

/// Decodes a token's payload the way Python's CommunicationTokenCredential does: the standard
/// alphabet with padding appended (non-alphabet characters would be dropped, so none may occur).
fn token_payload(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(
        parts.len(),
        3,
        "token is not header.payload.signature: {} parts",
        parts.len()
    );
    assert!(
        parts[1].bytes().all(|b| b.is_ascii_alphanumeric()),
        "payload encoding has non-alphanumerics: {}",
        parts[1]
    );
    let padded = format!("{}{}", parts[1], "=".repeat((4 - parts[1].len() % 4) % 4));
    let bytes = STANDARD
        .decode(padded)
        .unwrap_or_else(|e| panic!("payload is not standard base64: {e}"));
    serde_json::from_slice(&bytes).expect("payload is JSON")
}

fn parse_expires_on(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("expiresOn is not a string: {v}"));
    assert!(
        text.ends_with("+00:00"),
        "expiresOn lacks the +00:00 offset: {text}"
    );
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("expiresOn {text:?} is not RFC 3339: {e}"))
        .with_timezone(&chrono::Utc)
}

/// A body-less create answers 201 with only the identity, the service's headers and the echoed request id.
#[test]
fn create_identity_without_body_returns_identity_only() {
    let server = Server::start();
    let resp = server.call("POST", "/identities?api-version=2023-10-01", b"");
    assert_eq!(resp.status, 201, "{resp:?}");
    assert_eq!(
        resp.header("content-type"),
        Some("application/json; charset=utf-8"),
        "{resp:?}"
    );
    assert_eq!(
        resp.header("x-ms-client-request-id"),
        Some("d75a9460-e9f1-11f1-9fea-02fc00000001"),
        "request id not echoed: {resp:?}"
    );
    let body = resp.json();
    let id = body["identity"]["id"].as_str().unwrap_or_default();
    let prefix = format!("8:acs:{}_", server.dir().resource_id());
    assert!(id.starts_with(&prefix), "id {id:?} lacks {prefix:?}");
    assert!(
        body.get("accessToken").is_none(),
        "unrequested token: {body}"
    );
}

/// Create with scopes returns a token whose payload decodes with standard base64 and has a numeric exp.
#[test]
fn create_identity_with_scopes_returns_decodable_token() {
    let server = Server::start();
    let body = br#"{"createTokenWithScopes": ["chat", "voip"], "expiresInMinutes": 60}"#;
    let before = chrono::Utc::now();
    let resp = server.call("POST", "/identities?api-version=2023-10-01", body);
    assert_eq!(resp.status, 201, "{resp:?}");
    let json = resp.json();
    let token = json["accessToken"]["token"]
        .as_str()
        .expect("accessToken.token");
    let expires_on = parse_expires_on(&json["accessToken"]["expiresOn"]);
    let claims = token_payload(token);
    let exp = claims["exp"]
        .as_i64()
        .unwrap_or_else(|| panic!("exp not an integer: {claims}"));
    assert_eq!(
        exp,
        expires_on.timestamp(),
        "exp is not expiresOn {expires_on} rounded down"
    );
    let lifetime = expires_on - before;
    assert!(
        lifetime >= chrono::Duration::minutes(60) - chrono::Duration::seconds(5)
            && lifetime <= chrono::Duration::minutes(60) + chrono::Duration::seconds(60),
        "lifetime {lifetime} for expiresInMinutes 60"
    );
    assert_eq!(claims["acsScope"], "chat,voip", "claims {claims}");
    let caller = server
        .dir()
        .validate_bearer(token)
        .expect("issued token validates");
    assert_eq!(
        Some(caller.user_id.as_str()),
        json["identity"]["id"].as_str()
    );
}

/// Bad scopes, lifetimes and bodies are 400s in the service's error shape.
#[test]
fn create_identity_rejects_bad_bodies() {
    let server = Server::start();
    for body in [
        r#"{"createTokenWithScopes": ["admin"]}"#,
        r#"{"createTokenWithScopes": "chat"}"#,
        r#"{"createTokenWithScopes": ["chat"], "expiresInMinutes": 59}"#,
        r#"{"createTokenWithScopes": ["chat"], "expiresInMinutes": 1441}"#,
        r#"{"expiresInMinutes": "60"}"#,
        r#"["chat"]"#,
        r#"{"createTokenWithScopes": "#,
    ] {
        let resp = server.call(
            "POST",
            "/identities?api-version=2023-10-01",
            body.as_bytes(),
        );
        assert_eq!(resp.status, 400, "body {body}: {resp:?}");
        assert_eq!(resp.error_code(), "BadRequest", "body {body}");
        assert!(
            resp.json()["error"]["message"].is_string(),
            "body {body}: no message"
        );
    }
}

/// Issue-token on a percent-encoded id answers 200 with a working token; unknown ids are 404.
#[test]
fn issue_access_token_returns_token_and_404_for_unknown() {
    let server = Server::start();
    let user = server.create_user();
    let resp = server.issue(
        &user,
        r#"{"scopes": ["chat.join"], "expiresInMinutes": 1440}"#,
    );
    assert_eq!(resp.status, 200, "{resp:?}");
    let json = resp.json();
    let token = json["token"].as_str().expect("token");
    parse_expires_on(&json["expiresOn"]);
    let caller = server
        .dir()
        .validate_bearer(token)
        .expect("token validates");
    assert_eq!(caller.user_id, user);
    // The raw (unencoded) id works too.
    let raw = format!("/identities/{user}/:issueAccessToken?api-version=2023-10-01");
    let resp = server.call("POST", &raw, br#"{"scopes":["chat"]}"#);
    assert_eq!(resp.status, 200, "raw id: {resp:?}");

    let stranger = format!("8:acs:{}_nobody", server.dir().resource_id());
    let resp = server.issue(&stranger, r#"{"scopes": ["chat"]}"#);
    assert_eq!(
        (resp.status, resp.error_code()),
        (404, "NotFound".into()),
        "{resp:?}"
    );
    for body in [
        "",
        r#"{}"#,
        r#"{"scopes": []}"#,
        r#"{"scopes": ["chat"], "expiresInMinutes": 30}"#,
    ] {
        let resp = server.issue(&user, body);
        assert_eq!(resp.status, 400, "body {body:?}: {resp:?}");
    }
}

/// Revoking rejects earlier tokens and keeps later ones valid; revoking an unknown id is 404.
#[test]
fn revoke_access_tokens_rejects_earlier_tokens() {
    let server = Server::start();
    let user = server.create_user();
    let old = server.issue(&user, r#"{"scopes": ["chat"]}"#).json()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let target = format!(
        "/identities/{}/:revokeAccessTokens?api-version=2023-10-01",
        enc(&user)
    );
    let resp = server.call("POST", &target, b"");
    assert_eq!(resp.status, 204, "{resp:?}");
    assert!(resp.body.is_empty(), "204 with a body: {resp:?}");
    let new = server.issue(&user, r#"{"scopes": ["chat"]}"#).json()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        server.dir().validate_bearer(&old).err(),
        Some(AuthError::Revoked)
    );
    assert!(
        server.dir().validate_bearer(&new).is_ok(),
        "token issued right after revoke refused"
    );
    let other = format!(
        "/identities/{}/:revokeAccessTokens?api-version=2023-10-01",
        enc("8:acs:x_y")
    );
    assert_eq!(server.call("POST", &other, b"").status, 404);
}

/// Deleting answers 204, then the user's tokens fail and the id is 404 everywhere.
#[test]
fn delete_identity_invalidates_user() {
    let server = Server::start();
    let user = server.create_user();
    let token = server.issue(&user, r#"{"scopes": ["chat"]}"#).json()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let target = format!("/identities/{}?api-version=2023-10-01", enc(&user));
    let resp = server.call("DELETE", &target, b"");
    assert_eq!(resp.status, 204, "{resp:?}");
    assert_eq!(
        server.dir().validate_bearer(&token).err(),
        Some(AuthError::DeletedUser)
    );
    assert_eq!(
        server.call("DELETE", &target, b"").status,
        404,
        "second delete"
    );
    assert_eq!(
        server.issue(&user, r#"{"scopes": ["chat"]}"#).status,
        404,
        "token for deleted user"
    );
}

fn entra_token(claims: &str) -> String {
    common::fixtures::unsigned_jwt(claims)
}

/// The Teams exchange checks appid/oid against the body and returns a token for 8:orgid:<oid>.
#[test]
fn exchange_teams_token_checks_claims() {
    let server = Server::start();
    let target = "/teamsUser/:exchangeAccessToken?api-version=2023-10-01";
    let exp = chrono::Utc::now().timestamp() + 3000;
    let entra = entra_token(&format!(r#"{{"appid":"app-1","oid":"obj-1","exp":{exp}}}"#));
    let body = serde_json::json!({"token": entra, "appId": "app-1", "userId": "obj-1"}).to_string();
    let resp = server.call("POST", target, body.as_bytes());
    assert_eq!(resp.status, 200, "{resp:?}");
    let json = resp.json();
    let expires_on = parse_expires_on(&json["expiresOn"]);
    assert!(
        (expires_on.timestamp() - exp).abs() <= 1,
        "expiresOn {expires_on} vs Entra exp {exp}"
    );
    let caller = server
        .dir()
        .validate_bearer(json["token"].as_str().expect("token"))
        .expect("exchanged token validates");
    assert_eq!(caller.user_id, "8:orgid:obj-1");

    let wrong_app =
        serde_json::json!({"token": entra, "appId": "app-2", "userId": "obj-1"}).to_string();
    assert_eq!(
        server.call("POST", target, wrong_app.as_bytes()).status,
        400,
        "wrong appId"
    );
    let wrong_user =
        serde_json::json!({"token": entra, "appId": "app-1", "userId": "obj-2"}).to_string();
    assert_eq!(
        server.call("POST", target, wrong_user.as_bytes()).status,
        400,
        "wrong userId"
    );
    let not_jwt =
        serde_json::json!({"token": "opaque", "appId": "app-1", "userId": "obj-1"}).to_string();
    let resp = server.call("POST", target, not_jwt.as_bytes());
    assert_eq!(
        (resp.status, resp.error_code()),
        (401, "Unauthorized".into()),
        "{resp:?}"
    );
    let missing = r#"{"token": "a.b.c"}"#;
    assert_eq!(
        server.call("POST", target, missing.as_bytes()).status,
        400,
        "missing fields"
    );
}

/// Wrong key, tampered body/path/method, stale or future dates and missing auth are all 401 Unauthorized.
#[test]
fn hmac_failures_return_401() {
    let server = Server::start();
    let target = "/identities?api-version=2023-10-01";
    let body = br#"{"createTokenWithScopes": ["chat"]}"#;
    let now = chrono::Utc::now();
    let date = rfc1123(now);
    let host = server.host();

    let mut cases: Vec<(&str, Signed)> = Vec::new();
    cases.push((
        "wrong key",
        sign("POST", target, &host, body, b"another-key", &date),
    ));
    let mut s = sign("POST", target, &host, body, KEY, &date);
    s.body = br#"{"createTokenWithScopes": ["voip"]}"#.to_vec();
    cases.push(("tampered body", s));
    let mut s = sign("POST", target, &host, body, KEY, &date);
    s.target = "/identities?api-version=2022-10-01".into();
    cases.push(("tampered query", s));
    let user = server.create_user();
    let signed_path = format!("/identities/{}?api-version=2023-10-01", enc(&user));
    let mut s = sign("DELETE", &signed_path, &host, b"", KEY, &date);
    s.target = format!(
        "/identities/{}?api-version=2023-10-01",
        enc(&server.create_user())
    );
    cases.push(("tampered path", s));
    let mut s = sign("POST", target, &host, body, KEY, &date);
    s.method = "DELETE".into();
    s.target = format!("/identities/{}?api-version=2023-10-01", enc(&user));
    cases.push(("tampered method", s));
    let stale = rfc1123(now - chrono::Duration::minutes(20));
    cases.push(("stale date", sign("POST", target, &host, body, KEY, &stale)));
    let future = rfc1123(now + chrono::Duration::minutes(20));
    cases.push((
        "future date",
        sign("POST", target, &host, body, KEY, &future),
    ));
    cases.push((
        "other host",
        sign("POST", target, "127.0.0.1:1", body, KEY, &date),
    ));
    let mut s = sign("POST", target, &host, body, KEY, &date);
    s.headers.retain(|(n, _)| *n != "Authorization");
    cases.push(("no Authorization", s));
    let mut s = sign("POST", target, &host, body, KEY, &date);
    s.headers.retain(|(n, _)| *n != "x-ms-content-sha256");
    cases.push(("no content hash", s));

    for (name, signed) in &cases {
        let resp = server.send(signed);
        assert_eq!(resp.status, 401, "{name}: {resp:?}");
        assert_eq!(resp.error_code(), "Unauthorized", "{name}");
        assert_eq!(
            resp.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{name}"
        );
    }
    assert!(
        server.dir().user_exists(&user),
        "a rejected DELETE deleted the user"
    );
}

/// The host is accepted as signed with its port (Python) and without it (Java).
#[test]
fn hmac_accepts_host_with_and_without_port() {
    let server = Server::start();
    let target = "/identities?api-version=2023-10-01";
    let date = rfc1123(chrono::Utc::now());
    for host in [server.host(), server.addr.ip().to_string()] {
        let resp = server.send(&sign("POST", target, &host, b"", KEY, &date));
        assert_eq!(resp.status, 201, "signed host {host}: {resp:?}");
    }
}

/// A Java-style request that carries only `Date` (no `x-ms-date`) is accepted.
#[test]
fn hmac_accepts_date_header_instead_of_x_ms_date() {
    let server = Server::start();
    let date = rfc1123(chrono::Utc::now());
    let mut signed = sign(
        "POST",
        "/identities?api-version=2023-10-01",
        &server.host(),
        b"",
        KEY,
        &date,
    );
    for (name, _) in signed.headers.iter_mut() {
        if *name == "x-ms-date" {
            *name = "Date";
        }
    }
    let resp = server.send(&signed);
    assert_eq!(resp.status, 201, "{resp:?}");
}

/// Missing or unknown api-versions are 400; every stable identity version is accepted.
#[test]
fn api_version_is_checked() {
    let server = Server::start();
    for (target, status) in [
        ("/identities", 400),
        ("/identities?api-version=2024-03-07", 400),
        ("/identities?api-version=2021-03-07", 201),
        ("/identities?api-version=2022-06-01", 201),
        ("/identities?api-version=2022-10-01", 201),
        ("/identities?api-version=2025-06-30", 201),
        ("/identities?api-version=2026-09-23", 201),
    ] {
        let resp = server.call("POST", target, b"");
        assert_eq!(resp.status, status, "{target}: {resp:?}");
    }
}

/// Unknown actions are 404 and unsupported methods 405, both in the service's error shape.
#[test]
fn unknown_routes_answer_in_error_shape() {
    let server = Server::start();
    let user = server.create_user();
    let target = format!(
        "/identities/{}/:frobnicate?api-version=2023-10-01",
        enc(&user)
    );
    let resp = server.call("POST", &target, b"");
    assert_eq!(
        (resp.status, resp.error_code()),
        (404, "NotFound".into()),
        "{resp:?}"
    );
    let target = format!("/identities/{}?api-version=2023-10-01", enc(&user));
    let resp = server.call("GET", &target, b"");
    assert_eq!(resp.status, 405, "{resp:?}");
    assert_eq!(resp.error_code(), "MethodNotAllowed");
    assert!(
        resp.header("x-ms-client-request-id").is_some(),
        "405 lacks the echoed request id: {resp:?}"
    );
}

impl Server {
    /// `GET /chat/threads` with a bearer token: the cheapest authenticated chat call.
    fn list_threads(&self, token: &str) -> Resp {
        let headers = [
            ("Host", self.host()),
            ("Authorization", format!("Bearer {token}")),
        ];
        send_raw(
            self.addr,
            "GET",
            "/chat/threads?api-version=2024-03-07",
            &headers,
            b"",
        )
    }

    fn token_for(&self, user: &str) -> String {
        let resp = self.issue(user, r#"{"scopes": ["chat"]}"#);
        assert_eq!(resp.status, 200, "issue token: {resp:?}");
        resp.json()["token"].as_str().expect("token").to_owned()
    }
}

/// Chat calls refuse a token once its user's tokens are revoked or the user is deleted (via the Identity API).
#[test]
fn chat_call_rejects_revoked_and_deleted_users_tokens() {
    let server = Server::emulator();
    let user = server.create_user();
    let old = server.token_for(&user);
    let resp = server.list_threads(&old);
    assert_eq!(resp.status, 200, "fresh token: {resp:?}");

    let revoke = format!(
        "/identities/{}/:revokeAccessTokens?api-version=2023-10-01",
        enc(&user)
    );
    assert_eq!(server.call("POST", &revoke, b"").status, 204, "revoke");
    let resp = server.list_threads(&old);
    assert_eq!(
        (resp.status, resp.error_code()),
        (401, "Unauthorized".into()),
        "revoked token: {resp:?}"
    );
    let new = server.token_for(&user);
    let resp = server.list_threads(&new);
    assert_eq!(
        resp.status, 200,
        "token issued right after revoke: {resp:?}"
    );

    let delete = format!("/identities/{}?api-version=2023-10-01", enc(&user));
    assert_eq!(server.call("DELETE", &delete, b"").status, 204, "delete");
    let resp = server.list_threads(&new);
    assert_eq!(
        (resp.status, resp.error_code()),
        (401, "Unauthorized".into()),
        "deleted user's token: {resp:?}"
    );
}

/// Chat calls refuse expired, forged and voip-only tokens, and accept in-process ones.
#[test]
fn chat_call_rejects_expired_forged_and_voip_tokens() {
    let server = Server::emulator();
    let emu = server.emu();
    let user = emu.create_user();
    let good = emu.issue_token(&user, &["chat"], Duration::from_secs(3600));
    assert_eq!(server.list_threads(&good).status, 200, "in-process token");
    let expired = emu.issue_token(&user, &["chat"], Duration::ZERO);
    let resp = server.list_threads(&expired);
    assert_eq!(
        (resp.status, resp.error_code()),
        (401, "Unauthorized".into()),
        "expired: {resp:?}"
    );
    let voip = emu.issue_token(&user, &["voip"], Duration::from_secs(3600));
    assert_eq!(server.list_threads(&voip).status, 401, "voip-only token");
    let other = Directory::new(b"some other key".to_vec());
    let (forged, _) = other.issue_token(
        &user,
        &[acs_chat_emulator::auth::Scope::Chat],
        Duration::from_secs(3600),
    );
    assert_eq!(
        server.list_threads(&forged).status,
        401,
        "token signed with another key"
    );
    let mut tampered: Vec<char> = good.chars().collect();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    assert_eq!(
        server.list_threads(&tampered).status,
        401,
        "tampered signature"
    );
    assert_eq!(server.list_threads("").status, 401, "empty token");
}

/// The emulator's mounted identity routes verify HMAC with the host with or without its port.
#[test]
fn emulator_identity_routes_accept_python_and_java_hosts() {
    let server = Server::emulator();
    let date = rfc1123(chrono::Utc::now());
    for host in [server.host(), server.addr.ip().to_string()] {
        let resp = server.send(&sign(
            "POST",
            "/identities?api-version=2023-10-01",
            &host,
            b"",
            KEY,
            &date,
        ));
        assert_eq!(resp.status, 201, "signed host {host}: {resp:?}");
    }
    let resp = server.send(&sign(
        "POST",
        "/identities?api-version=2023-10-01",
        &server.host(),
        b"",
        b"wrong",
        &date,
    ));
    assert_eq!(
        (resp.status, resp.error_code()),
        (401, "Unauthorized".into()),
        "{resp:?}"
    );
}

/// Malformed ids in paths and odd bodies get 4xx answers in the service's error shape, never a crash.
#[test]
fn malformed_input_answers_in_error_shape() {
    let server = Server::start();
    let cases: [(&str, String, &[u8]); 7] = [
        (
            "DELETE",
            "/identities/%FF%FE?api-version=2023-10-01".into(),
            b"",
        ),
        (
            "DELETE",
            "/identities/%ZZ?api-version=2023-10-01".into(),
            b"",
        ),
        (
            "POST",
            "/identities/%C3%28/:issueAccessToken?api-version=2023-10-01".into(),
            br#"{"scopes":["chat"]}"#,
        ),
        (
            "POST",
            "/identities?api-version=2023-10-01".into(),
            b"\xff\xfe\x00",
        ),
        (
            "POST",
            "/identities?api-version=2023-10-01".into(),
            br#"{"createTokenWithScopes":[null]}"#,
        ),
        (
            "POST",
            "/identities?api-version=2023-10-01".into(),
            br#"{"expiresInMinutes":1e400}"#,
        ),
        (
            "POST",
            "/teamsUser/:exchangeAccessToken?api-version=2023-10-01".into(),
            br#"{"token":"a.%%%.c","appId":"x","userId":"y"}"#,
        ),
    ];
    for (method, target, body) in cases {
        let resp = server.call(method, &target, body);
        assert!(
            (400..500).contains(&resp.status),
            "{method} {target} {:?}: {resp:?}",
            String::from_utf8_lossy(body)
        );
        assert!(
            resp.json()["error"]["code"].is_string(),
            "{method} {target}: no error code in {resp:?}"
        );
    }
    // The server still answers normally afterwards.
    assert_eq!(
        server
            .call("POST", "/identities?api-version=2023-10-01", b"")
            .status,
        201
    );
}

/// `/access/teamsExtension/tenants/{tenant}/assignments/{object}` at `version`.
fn assignment_target(tenant: &str, object: &str, version: &str) -> String {
    format!(
        "/access/teamsExtension/tenants/{}/assignments/{}?api-version={version}",
        enc(tenant),
        enc(object)
    )
}

const TENANT: &str = "c70d068c-2f32-484d-9455-73070cd5aadd";
const OBJECT: &str = "b27b64b9-39d2-44a3-869d-67700b74e805";
const EXCHANGE: &str = "/access/teamsExtension/:exchangeAccessToken?api-version=2026-09-23";

/// PUT answers 201 then 200 with the assignment, GET reads it, DELETE is 204 (also when
/// repeated), and a missing assignment is a 404 in the service's error shape.
#[test]
fn teams_extension_assignment_status_codes_and_shapes() {
    let server = Server::start();
    let target = assignment_target(TENANT, OBJECT, "2026-09-23");
    let resp = server.call("PUT", &target, br#"{"principalType":"resourceAccount"}"#);
    assert_eq!(resp.status, 201, "first put: {resp:?}");
    assert_eq!(
        resp.json(),
        serde_json::json!({"objectId": OBJECT, "tenantId": TENANT, "principalType": "resourceAccount"}),
        "created body"
    );
    assert_eq!(
        resp.header("x-ms-client-request-id"),
        Some("d75a9460-e9f1-11f1-9fea-02fc00000001"),
        "request id echoed"
    );
    let resp = server.call(
        "PUT",
        &target,
        br#"{"principalType":"user","clientIds":["app-1"]}"#,
    );
    assert_eq!(resp.status, 200, "second put: {resp:?}");
    let resp = server.call("GET", &target, b"");
    assert_eq!(resp.status, 200, "get: {resp:?}");
    assert_eq!(
        resp.json(),
        serde_json::json!({"objectId": OBJECT, "tenantId": TENANT, "principalType": "user", "clientIds": ["app-1"]}),
        "replaced body"
    );
    let resp = server.call("DELETE", &target, b"");
    assert_eq!((resp.status, resp.body.len()), (204, 0), "delete: {resp:?}");
    let resp = server.call("GET", &target, b"");
    assert_eq!(resp.status, 404, "get after delete: {resp:?}");
    assert_eq!(resp.error_code(), "NotFound", "404 body: {resp:?}");
    assert!(
        resp.json()["error"]["message"].is_string(),
        "404 has a message: {resp:?}"
    );
    let resp = server.call("DELETE", &target, b"");
    assert_eq!(resp.status, 204, "repeated delete: {resp:?}");

    for bad in [
        &b""[..],
        b"[]",
        b"{}",
        br#"{"principalType":"group"}"#,
        br#"{"principalType":"user","clientIds":[1]}"#,
    ] {
        let resp = server.call("PUT", &target, bad);
        assert_eq!(
            (resp.status, resp.error_code()),
            (400, "BadRequest".to_owned()),
            "put {:?}: {resp:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let resp = server.call("POST", &target, b"{}");
    assert_eq!(resp.status, 405, "post on an assignment: {resp:?}");
}

/// Older api-versions do not have the Teams Extension routes (404); unknown ones get the
/// usual api-version error.
#[test]
fn teams_extension_routes_need_2025_06_30_or_later() {
    let server = Server::start();
    for version in ["2025-06-30", "2026-07-22", "2026-09-23"] {
        let resp = server.call("GET", &assignment_target("t", "o", version), b"");
        assert_eq!(resp.status, 404, "{version}: {resp:?}");
        assert!(
            resp.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("assignment")),
            "{version} reached the route: {resp:?}"
        );
    }
    for version in ["2023-10-01", "2021-03-07"] {
        let resp = server.call("GET", &assignment_target("t", "o", version), b"");
        assert_eq!(resp.status, 404, "{version}: {resp:?}");
        assert!(
            !resp.json()["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("assignment"),
            "{version} has the route: {resp:?}"
        );
        let resp = server.call(
            "POST",
            &format!("/access/teamsExtension/:exchangeAccessToken?api-version={version}"),
            b"{}",
        );
        assert_eq!(resp.status, 404, "exchange at {version}: {resp:?}");
    }
    let resp = server.call("GET", &assignment_target("t", "o", "2099-01-01"), b"");
    assert_eq!(
        (resp.status, resp.error_code()),
        (400, "UnsupportedApiVersion".to_owned()),
        "{resp:?}"
    );
}

/// The exchange reads the Teams Phone token from `token`, needs the user's assignment (and
/// the token's app among its clientIds), and issues a token the directory accepts.
#[test]
fn teams_extension_exchange_checks_token_and_assignment() {
    let server = Server::start();
    let good = entra_token(&format!(
        r#"{{"tid":"{TENANT}","oid":"{OBJECT}","appid":"app-1","exp":4102444800}}"#
    ));
    let body = |token: &str| serde_json::json!({ "token": token }).to_string();
    for (bad, status) in [
        (String::new(), 400),
        ("{}".to_owned(), 400),
        (r#"{"token":""}"#.to_owned(), 400),
        (body("not-a-jwt"), 401),
        (body(&entra_token(r#"{"oid":"o"}"#)), 401),
        (body(&entra_token(r#"{"tid":"t","oid":"o","exp":1}"#)), 401),
        (body(&good), 403),
    ] {
        let resp = server.call("POST", EXCHANGE, bad.as_bytes());
        assert_eq!(resp.status, status, "exchange {bad:?}: {resp:?}");
        assert!(
            resp.json()["error"]["code"].is_string(),
            "error shape: {resp:?}"
        );
    }
    let put = server.call(
        "PUT",
        &assignment_target(TENANT, OBJECT, "2026-09-23"),
        br#"{"principalType":"user","clientIds":["app-1"]}"#,
    );
    assert_eq!(put.status, 201, "assign: {put:?}");
    let resp = server.call("POST", EXCHANGE, body(&good).as_bytes());
    assert_eq!(resp.status, 200, "exchange: {resp:?}");
    let json = resp.json();
    let id = json["identity"]["id"].as_str().expect("identity.id");
    assert_eq!(
        id,
        format!("8:acs:{}_{TENANT}_{OBJECT}", server.dir().resource_id()),
        "identity"
    );
    let token = json["accessToken"]["token"]
        .as_str()
        .expect("accessToken.token");
    parse_expires_on(&json["accessToken"]["expiresOn"]);
    let caller = server.dir().validate_bearer(token).expect("token accepted");
    assert_eq!(caller.user_id, id, "token's user");
    let other_app = entra_token(&format!(
        r#"{{"tid":"{TENANT}","oid":"{OBJECT}","appid":"x"}}"#
    ));
    let resp = server.call("POST", EXCHANGE, body(&other_app).as_bytes());
    assert_eq!(resp.status, 403, "app not assigned: {resp:?}");
}

/// Assignments survive a restart on the same `--data-dir`.
#[test]
fn teams_extension_assignments_persist_with_data_dir() {
    let dir = std::env::temp_dir().join(format!("acs-teams-ext-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let start = || {
        let emu = Emulator::builder()
            .access_key(&STANDARD.encode(KEY))
            .data_dir(&dir)
            .start()
            .expect("emulator on the data dir");
        let addr = emu
            .endpoint()
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .expect("http://IP:PORT");
        Server {
            addr,
            directory: None,
            _guard: Guard::Emulator(emu),
        }
    };
    let target = assignment_target(TENANT, OBJECT, "2026-09-23");
    {
        let server = start();
        let resp = server.call(
            "PUT",
            &target,
            br#"{"principalType":"user","clientIds":["a"]}"#,
        );
        assert_eq!(resp.status, 201, "put: {resp:?}");
        let gone = assignment_target(TENANT, "gone", "2026-09-23");
        assert_eq!(
            server
                .call("PUT", &gone, br#"{"principalType":"user"}"#)
                .status,
            201
        );
        assert_eq!(server.call("DELETE", &gone, b"").status, 204);
    }
    let server = start();
    let resp = server.call("GET", &target, b"");
    assert_eq!(resp.status, 200, "after restart: {resp:?}");
    assert_eq!(
        resp.json()["clientIds"],
        serde_json::json!(["a"]),
        "{resp:?}"
    );
    let resp = server.call("GET", &assignment_target(TENANT, "gone", "2026-09-23"), b"");
    assert_eq!(resp.status, 404, "deleted one after restart: {resp:?}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every 2026-09-23 identity example replayed against the emulator: the example's request
/// (with the state it presumes set up first, and ids of this resource where the example's
/// belong to another) answers the example's status with a body of the example's shape.
/// An operation without a replay here fails, so no example goes uncovered.
#[test]
fn identity_2026_examples_replay_through_emulator() {
    const SUITE: &str = "identity_2026_examples_replay_through_emulator";
    let Some(spec) = common::fixtures::dir(SUITE, &common::fixtures::SPEC) else {
        return;
    };
    let folder = spec.join("identity-examples/2026-09-23");
    let files = common::fixtures::json_files(&folder);
    /// The keys of a JSON value, recursively: its shape without the values.
    fn shape(v: &Value) -> Value {
        match v {
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), shape(v))).collect(),
            Value::Array(a) => a.iter().map(shape).collect(),
            _ => Value::Null,
        }
    }
    for file in &files {
        let server = Server::start();
        let example: Value =
            serde_json::from_slice(&std::fs::read(file).expect("read example")).expect("JSON");
        let op = example["operationId"].as_str().expect("operationId");
        let p = &example["parameters"];
        let version = p["api-version"].as_str().expect("api-version");
        let text = |name: &str| p[name].as_str().unwrap_or_default().to_owned();
        let (status, want) = example["responses"]
            .as_object()
            .and_then(|r| r.iter().next())
            .map(|(s, r)| (s.parse::<u16>().expect("status"), r.get("body").cloned()))
            .expect("a response");
        let (method, target, body) = match op {
            "IdentityOperations_Delete" | "IdentityOperations_RevokeAccessTokens" => {
                // The example's user belongs to another resource: use one of this resource's.
                let user = server.create_user();
                let suffix = if op.ends_with("Delete") {
                    ""
                } else {
                    "/:revokeAccessTokens"
                };
                let method = if op.ends_with("Delete") {
                    "DELETE"
                } else {
                    "POST"
                };
                let target = format!("/identities/{}{suffix}?api-version={version}", enc(&user));
                (method, target, Vec::new())
            }
            "TeamsExtensionOperations_GetAssignment"
            | "TeamsExtensionOperations_DeleteAssignment" => {
                let target = assignment_target(&text("tenantId"), &text("objectId"), version);
                // Both presume the assignment exists (the delete's 204 would hide a miss).
                let principal = want
                    .as_ref()
                    .map_or(Value::from("user"), |w| w["principalType"].clone());
                let setup = serde_json::json!({ "principalType": principal });
                let put = server.call("PUT", &target, setup.to_string().as_bytes());
                assert_eq!(put.status, 201, "{op} setup: {put:?}");
                let method = if op.ends_with("GetAssignment") {
                    "GET"
                } else {
                    "DELETE"
                };
                (method, target, Vec::new())
            }
            "TeamsExtensionOperations_ExchangeToken" => {
                // The identity `8:acs:<resource>_<tenant>_<object>` names the user; the
                // free-form body gets the Teams Phone token the emulator reads.
                let id = want.as_ref().expect("body")["identity"]["id"]
                    .as_str()
                    .expect("id");
                let parts: Vec<&str> = id.rsplitn(3, '_').collect();
                let (object, tenant) = (parts[0], parts[1]);
                let put = server.call(
                    "PUT",
                    &assignment_target(tenant, object, version),
                    br#"{"principalType":"user"}"#,
                );
                assert_eq!(put.status, 201, "{op} setup: {put:?}");
                let mut body = p["body"].as_object().cloned().expect("object body");
                body.insert(
                    "token".into(),
                    entra_token(&format!(r#"{{"tid":"{tenant}","oid":"{object}"}}"#)).into(),
                );
                let target =
                    format!("/access/teamsExtension/:exchangeAccessToken?api-version={version}");
                ("POST", target, Value::Object(body).to_string().into_bytes())
            }
            "TeamsUserOperations_ExchangeTeamsUserAccessToken" => {
                // The example's token is a placeholder; one with its appId and userId claims.
                let b = &p["body"];
                let mut body = b.as_object().cloned().expect("object body");
                body.insert(
                    "token".into(),
                    entra_token(&format!(
                        r#"{{"appid":{},"oid":{}}}"#,
                        b["appId"], b["userId"]
                    ))
                    .into(),
                );
                let target = format!("/teamsUser/:exchangeAccessToken?api-version={version}");
                ("POST", target, Value::Object(body).to_string().into_bytes())
            }
            other => panic!("{}: no replay for operation {other}", file.display()),
        };
        let resp = server.call(method, &target, &body);
        assert_eq!(resp.status, status, "{op}: {resp:?}");
        if op == "TeamsExtensionOperations_DeleteAssignment" {
            let after = server.call("GET", &target, b"");
            assert_eq!(after.status, 404, "{op}: assignment still there: {after:?}");
        }
        match &want {
            Some(want) => {
                let got = resp.json();
                assert_eq!(shape(&got), shape(want), "{op}: body shape {got}");
                if op == "TeamsExtensionOperations_GetAssignment" {
                    assert_eq!(&got, want, "{op}: body");
                }
                if op == "TeamsExtensionOperations_ExchangeToken" {
                    let id = want["identity"]["id"].as_str().unwrap_or_default();
                    let tail = id.split_once('_').map_or("", |(_, t)| t);
                    let expect = format!("8:acs:{}_{tail}", server.dir().resource_id());
                    assert_eq!(got["identity"]["id"], expect.as_str(), "{op}: identity");
                }
            }
            None => assert!(resp.body.is_empty(), "{op}: body {resp:?}"),
        }
    }
    common::fixtures::report_replayed(SUITE, &files);
}
