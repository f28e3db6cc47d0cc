//! The HTTP/1.1 client deliveries go out on: one plain-`http` request per TCP connection
//! (`Connection: close`), written and read with tokio directly. Webhooks the emulator targets
//! are local test servers, so `https` is refused up front rather than half-supported; a
//! hand-written client keeps the emulator free of a TLS stack and of hyper's client features.

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most response bytes read (head and body): a validation answer is tiny.
const MAX_RESPONSE: usize = 64 * 1024;

/// A parsed `http://host[:port]/path?query` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// `host:port`, what is dialled and sent as `Host`.
    pub(crate) authority: String,
    /// `/path?query`, at least `/`.
    pub(crate) path: String,
}

impl Target {
    /// Parses a webhook URL; only `http://` with a host is accepted.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "webhook URL scheme {scheme:?} is not supported: the emulator delivers to plain http:// endpoints only"
                ))
            }
            None => return Err(format!("webhook URL {url:?} has no http:// scheme")),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() || authority.contains(['@', ' ']) {
            return Err(format!("webhook URL {url:?} has no usable host"));
        }
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
        let authority = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Target { authority, path })
    }
}

/// What came back.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// Header names lower-cased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no status came back.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No complete response within the limit.
    TimedOut,
    /// The host name did not resolve.
    Resolution(String),
    /// Connecting, writing or reading failed, or the response was not HTTP.
    Socket(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::TimedOut => f.write_str("no response within the time limit"),
            SendError::Resolution(e) => write!(f, "host did not resolve: {e}"),
            SendError::Socket(e) => write!(f, "socket error: {e}"),
        }
    }
}

/// Sends one request and reads the response, all within `timeout`.
pub(crate) async fn send(
    target: &Target,
    method: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<Reply, SendError> {
    match tokio::time::timeout(timeout, exchange(target, method, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(SendError::TimedOut),
    }
}

async fn exchange(
    target: &Target,
    method: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<Reply, SendError> {
    let addrs: Vec<_> = tokio::net::lookup_host(target.authority.as_str())
        .await
        .map_err(|e| SendError::Resolution(e.to_string()))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| SendError::Resolution(format!("{} has no address", target.authority)))?;
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| SendError::Socket(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let mut req = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: acs-chat-emulator-eventgrid\r\nContent-Length: {}\r\n",
        target.path,
        target.authority,
        body.len()
    );
    for (name, value) in headers {
        req.push_str(name);
        req.push_str(": ");
        req.push_str(value);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    let mut buf = req.into_bytes();
    buf.extend_from_slice(body);
    stream
        .write_all(&buf)
        .await
        .map_err(|e| SendError::Socket(e.to_string()))?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            // A peer that answered and then reset still answered.
            Err(_) if head_end(&response).is_some() => 0,
            Err(e) => return Err(SendError::Socket(e.to_string())),
        };
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
        if response.len() > MAX_RESPONSE || complete(&response) {
            break;
        }
    }
    parse_reply(&response)
}

fn head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Whether `b` holds a head and as much body as its `Content-Length` says.
fn complete(b: &[u8]) -> bool {
    let Some(end) = head_end(b) else { return false };
    let head = String::from_utf8_lossy(&b[..end]);
    let len = head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    len.is_some_and(|n| b.len() >= end + n)
}

fn parse_reply(b: &[u8]) -> Result<Reply, SendError> {
    let end =
        head_end(b).ok_or_else(|| SendError::Socket("the response had no complete head".into()))?;
    let head = String::from_utf8_lossy(&b[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| SendError::Socket(format!("not an HTTP status line: {status_line:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: b[end..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports, paths and queries are kept; https and junk are refused with the reason.
    #[test]
    fn target_parse_accepts_http_only() {
        let t = Target::parse("http://127.0.0.1:8080/hook?code=1").expect("parsed");
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:8080", "/hook?code=1")
        );
        let t = Target::parse("http://localhost").expect("parsed");
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("localhost:80", "/")
        );
        let t = Target::parse("http://h:1?x=y").expect("parsed");
        assert_eq!(t.path, "/?x=y");
        let e = Target::parse("https://example.com/").unwrap_err();
        assert!(e.contains("plain http"), "{e}");
        assert!(Target::parse("example.com").is_err());
        assert!(Target::parse("http:///x").is_err());
    }

    /// A status line, headers and a Content-Length body are read.
    #[test]
    fn parse_reply_reads_status_headers_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nWebHook-Allowed-Origin: *\r\n\r\nok";
        assert!(complete(raw));
        let r = parse_reply(raw).expect("reply");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
        assert_eq!(r.header("webhook-allowed-origin"), Some("*"));
        assert!(parse_reply(b"garbage\r\n\r\n").is_err());
    }
}
