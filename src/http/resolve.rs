//! Host resolution without a lookup per request.
//!
//! ureq 3 resolves the host of *every* request, pooled connection or not, and when any
//! timeout applies (we always set one per call) it does so on a newly spawned thread. For an
//! IP-literal host (`127.0.0.1`, `[::1]`: the emulator, test networks) there is nothing to look
//! up, so [`LiteralFirst`] answers at once. A name is looked up by ureq's default resolver and
//! its addresses reused for [`NAME_TTL`]; ureq only uses them to open a new connection.
//! Measured in `benches/e2e.rs`: the lookup thread was most of a loopback request's
//! client-side cost.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a name's addresses are reused. Pooled connections already stay on their address
/// for up to ureq's idle age (15 s), so this adds no staleness of a new order.
pub(crate) const NAME_TTL: Duration = Duration::from_secs(15);

/// Names kept at most (a client talks to one host; this only bounds odd uses).
const MAX_NAMES: usize = 64;

/// IP literals are answered directly; names go to ureq's [`DefaultResolver`], cached briefly.
#[derive(Default)]
pub(crate) struct LiteralFirst {
    default: DefaultResolver,
    names: Mutex<NameCache>,
}

impl fmt::Debug for LiteralFirst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiteralFirst").finish_non_exhaustive()
    }
}

/// Recently resolved names: `scheme://authority` → (when, addresses).
#[derive(Default)]
pub(crate) struct NameCache {
    entries: HashMap<String, (Instant, ResolvedSocketAddrs)>,
}

impl NameCache {
    /// The addresses of `key` if they were resolved less than [`NAME_TTL`] before `now`.
    pub(crate) fn get(&self, key: &str, now: Instant) -> Option<ResolvedSocketAddrs> {
        let (at, addrs) = self.entries.get(key)?;
        (now.saturating_duration_since(*at) < NAME_TTL).then(|| addrs.clone())
    }

    /// Remembers `addrs` for `key` as resolved at `now`.
    pub(crate) fn put(&mut self, key: &str, now: Instant, addrs: ResolvedSocketAddrs) {
        if self.entries.len() >= MAX_NAMES && !self.entries.contains_key(key) {
            self.entries.clear();
        }
        self.entries.insert(key.to_string(), (now, addrs));
    }
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
        if let Some(addr) = literal_addr(uri) {
            let mut out = self.empty();
            out.push(addr);
            return Ok(out);
        }
        let key = match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => return self.default.resolve(uri, config, timeout),
        };
        // A poisoned lock only means another thread panicked mid-insert; the map is still a map.
        let cached = self
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key, Instant::now());
        if let Some(addrs) = cached {
            return Ok(addrs);
        }
        // Looked up outside the lock: a slow lookup must not hold up other threads' requests.
        let addrs = self.default.resolve(uri, config, timeout)?;
        self.names.lock().unwrap_or_else(|e| e.into_inner()).put(
            &key,
            Instant::now(),
            addrs.clone(),
        );
        Ok(addrs)
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

    fn addrs(list: &[&str]) -> ResolvedSocketAddrs {
        let mut out = LiteralFirst::default().empty();
        for a in list {
            out.push(a.parse().unwrap());
        }
        out
    }

    /// A resolved name is reused until NAME_TTL has passed, then looked up again.
    #[test]
    fn name_cache_expires_after_ttl() {
        let mut cache = NameCache::default();
        let t0 = Instant::now();
        let key = "https://contoso.communication.azure.com";
        assert!(cache.get(key, t0).is_none(), "an empty cache answered");
        cache.put(key, t0, addrs(&["10.0.0.1:443", "10.0.0.2:443"]));
        let hit = cache.get(key, t0 + NAME_TTL / 2).map(|a| a.len());
        assert_eq!(hit, Some(2), "within the TTL: seen {hit:?}");
        let stale = cache.get(key, t0 + NAME_TTL);
        assert!(stale.is_none(), "after the TTL the cache still answered");
        assert!(
            cache.get("https://other.example", t0).is_none(),
            "another name answered"
        );
    }

    /// The cache never grows past MAX_NAMES entries.
    #[test]
    fn name_cache_stays_bounded() {
        let mut cache = NameCache::default();
        let t0 = Instant::now();
        for i in 0..(MAX_NAMES * 3) {
            cache.put(
                &format!("https://host{i}.example"),
                t0,
                addrs(&["10.0.0.1:443"]),
            );
        }
        assert!(
            cache.entries.len() <= MAX_NAMES,
            "{} entries kept",
            cache.entries.len()
        );
    }
}
