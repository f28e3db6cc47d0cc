//! Host resolution without a lookup per request for IP-literal hosts.
//!
//! ureq 3 resolves the host of *every* request, pooled connection or not, and when any
//! timeout applies (we always set one per call) it does so on a newly spawned thread. For an
//! IP-literal host (`127.0.0.1`, `[::1]`: the emulator, test networks) there is nothing to look
//! up, so [`LiteralFirst`] answers at once and leaves names to ureq's default resolver.
//! Measured in `benches/e2e.rs`: this is most of a loopback request's client-side cost.

use std::net::{IpAddr, SocketAddr};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// IP literals are answered directly; names go to ureq's [`DefaultResolver`].
#[derive(Debug, Default)]
pub(crate) struct LiteralFirst {
    default: DefaultResolver,
}

/// The socket address of a URI whose host is an IP literal, `None` for a name.
pub(crate) fn literal_addr(uri: &Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    let port = match authority.port_u16() {
        Some(port) => port,
        None => match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => 443,
            Some(s) if s.eq_ignore_ascii_case("http") => 80,
            _ => return None,
        },
    };
    Some(SocketAddr::new(ip, port))
}

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal_addr(uri) {
            Some(addr) => {
                let mut out = self.empty();
                out.push(addr);
                Ok(out)
            }
            None => self.default.resolve(uri, config, timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(uri: &str) -> Option<SocketAddr> {
        literal_addr(&uri.parse::<Uri>().expect("a valid URI"))
    }

    /// IP-literal hosts resolve to themselves, with the scheme's default port when none is given.
    #[test]
    fn literal_addr_reads_ip_hosts_and_ports() {
        let seen = addr("http://127.0.0.1:8080/chat/threads?api-version=1");
        assert_eq!(
            seen,
            Some("127.0.0.1:8080".parse().unwrap()),
            "seen {seen:?}"
        );
        let seen = addr("https://[::1]/x");
        assert_eq!(seen, Some("[::1]:443".parse().unwrap()), "seen {seen:?}");
        let seen = addr("http://10.1.2.3/");
        assert_eq!(seen, Some("10.1.2.3:80".parse().unwrap()), "seen {seen:?}");
    }

    /// Names are left to the default resolver.
    #[test]
    fn literal_addr_leaves_names_alone() {
        for uri in [
            "http://localhost:8080/",
            "https://contoso.communication.azure.com/",
        ] {
            assert_eq!(addr(uri), None, "{uri} was taken for an IP literal");
        }
    }
}
