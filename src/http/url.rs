//! Endpoint validation, percent-encoding of ids and query values, and `nextLink` rebasing.
//!
//! These are pure functions so every rule can be pinned by a unit test; the chat and identity
//! clients build all their URLs through them.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// A validated service endpoint: scheme and authority only (`https://host[:port]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    https: bool,
    /// `host[:port]` with the host in lower case; IPv6 hosts keep their brackets.
    authority: String,
}

impl Endpoint {
    /// Parses and checks an endpoint.
    ///
    /// Accepted: an absolute `https://` URL (or `http://` to a loopback host, or to any host when
    /// `allow_insecure_http`), with no user info, query or fragment, and no path other than `/`.
    pub(crate) fn parse(input: &str, allow_insecure_http: bool) -> Result<Self> {
        let bad = |reason: &str| Error::invalid_argument("endpoint", reason.to_string());
        if input.is_empty() {
            return Err(bad("the endpoint is empty"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(
                "the endpoint contains whitespace or control characters",
            ));
        }
        let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(input, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(input, "http://") {
            (false, rest)
        } else {
            return Err(bad(
                "expected an absolute URL starting with https:// (e.g. https://<resource>.communication.azure.com)",
            ));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(bad("the endpoint must not contain user info"));
        }
        if tail.contains('?') {
            return Err(bad("the endpoint must not contain a query"));
        }
        if tail.contains('#') {
            return Err(bad("the endpoint must not contain a fragment"));
        }
        if !(tail.is_empty() || tail == "/") {
            return Err(bad("the endpoint must not contain a path"));
        }
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| bad("the endpoint's host or port is malformed"))?;
        let host = host.to_ascii_lowercase();
        if !https && !allow_insecure_http && !is_loopback_host(&host) {
            return Err(bad(
                "plain http:// is only allowed to a loopback host (127.0.0.0/8, ::1, localhost) unless the options allow insecure http",
            ));
        }
        let authority = match port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        Ok(Endpoint { https, authority })
    }

    /// `https://host[:port]`, with no trailing slash.
    pub(crate) fn base(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.authority
        )
    }

    /// The absolute URL of `path_and_query`, which must start with `/`.
    pub(crate) fn url(&self, path_and_query: &str) -> String {
        debug_assert!(path_and_query.starts_with('/'));
        format!("{}{}", self.base(), path_and_query)
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Splits `host[:port]` and checks both parts. Returns `None` when malformed.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let close = rest.find(']')?;
        let inner = &rest[..close];
        inner.parse::<Ipv6Addr>().ok()?;
        let after = &rest[close + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (&authority[..close + 2], port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    if !host.starts_with('[') && !is_host_name_or_ipv4(host) {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u16 = p.parse().ok()?;
            if n == 0 {
                return None;
            }
            Some(n)
        }
    };
    Some((host, port))
}

/// A DNS host name (RFC 1123: dot-separated labels of 1 to 63 letters, digits and hyphens,
/// not starting or ending with a hyphen, at most 253 bytes, the last label not all digits) or
/// a dotted-quad IPv4 address. A name whose labels are all digits must be a valid IPv4 address,
/// so `999.999.999.999` and `1.2.3` are refused rather than looked up as names.
fn is_host_name_or_ipv4(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    if labels
        .iter()
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return host.parse::<Ipv4Addr>().is_ok();
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    host.len() <= 253
        && labels.iter().all(|l| label_ok(l))
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

/// True for `localhost`, 127.0.0.0/8 and `[::1]`.
fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks an id that becomes one path segment: not empty or only whitespace, no control
/// characters, and not `.` or `..` (which a server could treat as a path step).
pub(crate) fn validate_id(name: &'static str, id: &str) -> Result<()> {
    if id.trim().is_empty() {
        return Err(Error::invalid_argument(
            name,
            "must not be empty or whitespace",
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(Error::invalid_argument(
            name,
            "must not contain control characters",
        ));
    }
    if id == "." || id == ".." {
        return Err(Error::invalid_argument(name, "must not be `.` or `..`"));
    }
    Ok(())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn encode_where(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            // Writing into a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Percent-encodes `id` as ONE path segment: every byte outside the unreserved set is encoded,
/// so `/`, `?`, `#` and `%` can never change the path. Call [`validate_id`] first.
pub(crate) fn encode_segment(id: &str) -> String {
    encode_where(id, is_unreserved)
}

/// Percent-encodes a query parameter value (everything outside the unreserved set).
pub(crate) fn encode_query_value(value: &str) -> String {
    encode_where(value, is_unreserved)
}

/// Bytes that may appear verbatim in a path we send (RFC 3986 `pchar` plus `/` and `%`).
fn is_path_safe(b: u8) -> bool {
    is_unreserved(b) || b"!$&'()*+,;=:@/%".contains(&b)
}

/// Bytes that may appear verbatim in a query we send.
fn is_query_safe(b: u8) -> bool {
    is_path_safe(b) || b == b'?'
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are). Used to compare paths that
/// encode the same id differently (`19%3Aabc` and `19:abc`).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Turns a service `nextLink` into the path-and-query the client requests next, or `None`
/// when the link is absent or empty (the end of the list).
///
/// Only the link's path and query are kept; the caller joins them to its own endpoint, so a
/// link naming another host never receives the token. `api-version` is replaced by the
/// client's (in place, or appended when the link has none). Characters that may not appear
/// in a request target are percent-encoded; everything else is kept exactly as sent.
pub(crate) fn rebase_next_link(link: Option<&str>, api_version: &str) -> Option<String> {
    let link = link?.trim();
    if link.is_empty() {
        return None;
    }
    // Drop any fragment.
    let link = link.split('#').next().unwrap_or("");
    // Drop scheme and authority of an absolute link.
    let rest = match link.find("://") {
        Some(i)
            if link[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            let after = &link[i + 3..];
            match after.find(['/', '?']) {
                Some(j) => &after[j..],
                None => "",
            }
        }
        _ => link,
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let mut out = String::with_capacity(rest.len() + 32);
    if !path.starts_with('/') {
        out.push('/');
    }
    out.push_str(&encode_where(path, is_path_safe));
    out.push('?');
    let mut replaced = false;
    let mut first = true;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let key = pair.split('=').next().unwrap_or("");
        let encoded = if key.eq_ignore_ascii_case("api-version") {
            if replaced {
                continue;
            }
            replaced = true;
            format!("api-version={}", encode_query_value(api_version))
        } else {
            encode_where(pair, is_query_safe)
        };
        if !first {
            out.push('&');
        }
        first = false;
        out.push_str(&encoded);
    }
    if !replaced {
        if !first {
            out.push('&');
        }
        out.push_str("api-version=");
        out.push_str(&encode_query_value(api_version));
    }
    Some(out)
}

/// The path part of a path-and-query, percent-decoded, for comparing list paths.
pub(crate) fn decoded_path(path_and_query: &str) -> String {
    percent_decode(path_and_query.split('?').next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Well-formed endpoints parse, keep their port and drop a trailing slash.
    #[test]
    fn parse_endpoint_accepts_absolute_urls() {
        let cases = [
            (
                "https://contoso.communication.azure.com",
                "https://contoso.communication.azure.com",
            ),
            (
                "https://contoso.communication.azure.com/",
                "https://contoso.communication.azure.com",
            ),
            (
                "HTTPS://Contoso.Example:8443/",
                "https://contoso.example:8443",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.5.6.7:1/", "http://127.5.6.7:1"),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://[::1]:9000/", "http://[::1]:9000"),
            ("https://[2001:db8::1]", "https://[2001:db8::1]"),
            ("https://1.2.3.4:443", "https://1.2.3.4:443"),
            (
                "https://xn--bcher-kva.example",
                "https://xn--bcher-kva.example",
            ),
            ("https://a-b.c1.example", "https://a-b.c1.example"),
            ("https://localhost", "https://localhost"),
        ];
        for (input, base) in cases {
            let e = Endpoint::parse(input, false);
            assert_eq!(
                e.as_ref().map(Endpoint::base).ok().as_deref(),
                Some(base),
                "input {input}: {e:?}"
            );
        }
    }

    /// Malformed endpoints are rejected as invalid arguments.
    #[test]
    fn parse_endpoint_rejects_malformed() {
        let cases = [
            "",
            "contoso.communication.azure.com",
            "ftp://contoso.example",
            "https://",
            "https:///path",
            "https://contoso.example/chat",
            "https://contoso.example/chat/",
            "https://contoso.example?x=1",
            "https://contoso.example/?x=1",
            "https://contoso.example#frag",
            "https://user:pw@contoso.example",
            "https://contoso.example:",
            "https://contoso.example:0",
            "https://contoso.example:99999",
            "https://contoso.example:8a",
            "https://con toso.example",
            " https://contoso.example",
            "https://contoso.example\n",
            "https://[::1",
            "https://[zz]",
            "https://exa%41mple.com",
            "https://.",
            "https://.example.com",
            "https://example.com.",
            "https://a..b",
            "https://-host-",
            "https://host-.example",
            "https://-host.example",
            "https://ho_st.example",
            "https://999.999.999.999",
            "https://256.1.1.1",
            "https://1.2.3",
            "https://1.2.3.4.5",
            "https://01.2.3.4",
            "https://example.123",
            "https://[1.2.3.4]",
            "https://[::1]x",
        ];
        for input in cases {
            let e = Endpoint::parse(input, true);
            assert!(
                matches!(
                    e,
                    Err(Error::InvalidArgument {
                        name: "endpoint",
                        ..
                    })
                ),
                "input {input:?} gave {e:?}"
            );
        }
    }

    /// Plain http is refused to anything but loopback unless allowed.
    #[test]
    fn parse_endpoint_refuses_http_to_remote_hosts() {
        for input in [
            "http://contoso.example",
            "http://10.0.0.1:80",
            "http://[2001:db8::1]",
            "http://128.0.0.1",
            "http://localhost.evil.com",
        ] {
            let e = Endpoint::parse(input, false);
            assert!(
                matches!(e, Err(Error::InvalidArgument { .. })),
                "input {input} gave {e:?}"
            );
            assert!(
                Endpoint::parse(input, true).is_ok(),
                "input {input} with allow_insecure_http"
            );
        }
    }

    /// The base keeps the port and URLs are built on it.
    #[test]
    fn endpoint_url_keeps_port() {
        let e = Endpoint::parse("http://127.0.0.1:8443/", false).expect("valid");
        assert_eq!(
            e.url("/chat/threads?api-version=1"),
            "http://127.0.0.1:8443/chat/threads?api-version=1"
        );
    }

    /// Ids are encoded as one segment, like the Python SDK does.
    #[test]
    fn encode_segment_encodes_everything_outside_unreserved() {
        assert_eq!(encode_segment("19:abc@thread.v2"), "19%3Aabc%40thread.v2");
        assert_eq!(encode_segment("8:acs:R_U"), "8%3Aacs%3AR_U");
        assert_eq!(
            encode_segment("a/../b?c#d%e f"),
            "a%2F..%2Fb%3Fc%23d%25e%20f"
        );
        assert_eq!(encode_segment("ü"), "%C3%BC");
        assert_eq!(encode_segment("a-b.c_d~"), "a-b.c_d~");
    }

    /// Empty, whitespace, control-character and dot-only ids are rejected.
    #[test]
    fn validate_id_rejects_unusable_ids() {
        for id in ["", " ", "\t\n", "a\u{0}b", "a\u{7f}", ".", "..", "x\r\ny"] {
            assert!(
                validate_id("thread_id", id).is_err(),
                "id {id:?} was accepted"
            );
        }
        for id in ["19:abc@thread.v2", "a/b", "...", "ü", "a b", "1"] {
            assert!(
                validate_id("thread_id", id).is_ok(),
                "id {id:?} was rejected"
            );
        }
    }

    /// The host of a nextLink is dropped, the path and query are kept, api-version replaced.
    #[test]
    fn rebase_next_link_keeps_path_and_query_only() {
        let got = rebase_next_link(
            Some("https://evil.example:444/chat/threads/19:x@thread.v2/participants?skip=2&maxPageSize=2&api-version=2025-03-15"),
            "2024-03-07",
        );
        assert_eq!(
            got.as_deref(),
            Some("/chat/threads/19:x@thread.v2/participants?skip=2&maxPageSize=2&api-version=2024-03-07")
        );
    }

    /// The Python SDK's recorded follow-up request is reproduced exactly.
    #[test]
    fn rebase_next_link_matches_python_capture() {
        let got = rebase_next_link(
            Some("https://127.0.0.1:8443/chat/threads/19%3A...%40thread.v2/messages?syncState=b2ZmOjI&startTime=2026-11-26T23%3A28%3A53.471799Z&maxPageSize=2&api-version=2024-03-07"),
            "2024-03-07",
        );
        assert_eq!(
            got.as_deref(),
            Some("/chat/threads/19%3A...%40thread.v2/messages?syncState=b2ZmOjI&startTime=2026-11-26T23%3A28%3A53.471799Z&maxPageSize=2&api-version=2024-03-07")
        );
    }

    /// A link without api-version gets one; an absent or empty link ends the list.
    #[test]
    fn rebase_next_link_handles_missing_parts() {
        assert_eq!(rebase_next_link(None, "v"), None);
        assert_eq!(rebase_next_link(Some(""), "v"), None);
        assert_eq!(rebase_next_link(Some("   "), "v"), None);
        assert_eq!(
            rebase_next_link(Some("/chat/threads?skip=1"), "v").as_deref(),
            Some("/chat/threads?skip=1&api-version=v")
        );
        assert_eq!(
            rebase_next_link(Some("https://h/chat/threads"), "v").as_deref(),
            Some("/chat/threads?api-version=v")
        );
        assert_eq!(
            rebase_next_link(Some("chat/threads?a=b#frag"), "v").as_deref(),
            Some("/chat/threads?a=b&api-version=v")
        );
        assert_eq!(
            rebase_next_link(Some("https://h"), "v").as_deref(),
            Some("/?api-version=v")
        );
        assert_eq!(
            rebase_next_link(Some("/x?API-Version=old&api-version=old2&k=v"), "new").as_deref(),
            Some("/x?api-version=new&k=v")
        );
    }

    /// Characters that may not appear in a request target are encoded.
    #[test]
    fn rebase_next_link_encodes_unsafe_characters() {
        let got = rebase_next_link(Some("https://h/a b/c?x=1 2&y=\"q\"&z=ü"), "v");
        assert_eq!(
            got.as_deref(),
            Some("/a%20b/c?x=1%202&y=%22q%22&z=%C3%BC&api-version=v")
        );
    }

    /// Percent-decoding tolerates invalid escapes.
    #[test]
    fn percent_decode_handles_bad_escapes() {
        assert_eq!(percent_decode("19%3Aabc%40thread.v2"), "19:abc@thread.v2");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(decoded_path("/a%2Fb?x=%20"), "/a/b");
    }

    /// Random strings of URL-ish and multi-byte characters never panic any helper, and the
    /// helpers' promises hold for all of them.
    #[test]
    fn url_helpers_never_panic_on_random_input() {
        let alphabet: Vec<char> = "ab:/?#@[]%.-_~ =&\\\"'<>\u{0}\n\tüé中🎉1234567890HTTPShttps"
            .chars()
            .collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let mut text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if next() % 3 == 0 {
                text.insert_str(
                    0,
                    ["https://", "http://", "HTTP://h", "/chat/"][(next() % 4) as usize],
                );
            }
            let _ = Endpoint::parse(&text, next() % 2 == 0);
            let encoded = encode_segment(&text);
            assert!(
                encoded.bytes().all(|b| is_unreserved(b) || b == b'%'),
                "{encoded}"
            );
            assert_eq!(percent_decode(&encoded), text);
            if validate_id("id", &text).is_ok() {
                assert!(!encoded.is_empty() && encoded != "." && encoded != "..");
            }
            if let Some(rebased) = rebase_next_link(Some(&text), "v") {
                assert!(rebased.starts_with('/'), "{text:?} -> {rebased}");
                assert!(
                    rebased.is_ascii() && !rebased.contains([' ', '#', '\n']),
                    "{text:?} -> {rebased}"
                );
                assert!(
                    rebased.ends_with("api-version=v") || rebased.contains("api-version=v&"),
                    "{rebased}"
                );
            }
        }
    }
}
