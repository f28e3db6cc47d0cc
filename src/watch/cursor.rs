//! [`WatchCursor`]: a saved position in a change feed.
//!
//! A thread's messages are listed by `version` (a per-message change stamp in epoch
//! milliseconds, re-stamped on every edit and delete), newest first. A position is the
//! highest version already handed out plus the ids handed out *at* that version (versions of
//! different messages can tie), so "after the position" is exact: a message is new when its
//! version is higher, or equal and its id is not in the list. The id list holds only the
//! messages that share the top version (plus, until the next poll, the messages that changed
//! while the last walk ran: see [`Position`]), so the cursor does not grow with the number of
//! events.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// A position in a change feed: just after the last event handed out.
///
/// Get one from [`ThreadWatcher::cursor`](crate::ThreadWatcher::cursor),
/// [`InboxWatcher::cursor`](crate::InboxWatcher::cursor) or
/// [`ChatThreadClient::changes_since`](crate::ChatThreadClient::changes_since); store it as
/// the short string [`Display`](fmt::Display) gives (or with serde, as a string) after your
/// handler has dealt with the events, and hand it back in
/// [`WatchOptions::resume_from`](crate::WatchOptions::resume_from) to hear every later change
/// exactly once. The text is opaque: parse it only with [`FromStr`].
///
/// A thread cursor is a few dozen characters whatever the number of events (a few more for
/// each message that changed during the last poll's walk); an inbox cursor holds one such
/// position per thread.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
/// use acs_chat::WatchCursor;
///
/// let (_history, cursor) = thread.changes_since(None)?;
/// let saved = cursor.to_string();
/// thread.send_message("after the save", None)?;
/// let restored: WatchCursor = saved.parse()?;
/// let (events, _next) = thread.changes_since(Some(&restored))?;
/// assert_eq!(events.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WatchCursor {
    pub(crate) kind: CursorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CursorKind {
    /// One thread's feed.
    Thread(FeedPosition),
    /// Every thread of an inbox, by thread id.
    Inbox(BTreeMap<String, FeedPosition>),
}

/// Where one thread's feed stands: its messages, and its read receipts when they are watched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FeedPosition {
    pub(crate) messages: Position,
    pub(crate) receipts: Option<Position>,
}

/// The highest stamp handed out and the keys of the items handed out at that stamp, plus the
/// items handed out *above* it (a message changed while a walk ran: handed out at its new
/// version, but the walk's position stays at the walk's top, lest it skip messages changed
/// meanwhile on pages already read). `ahead` holds only such items, and only until a walk
/// passes their stamps, so it stays as small as the changes during one walk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) stamp: i64,
    pub(crate) keys: Vec<String>,
    pub(crate) ahead: Vec<(String, i64)>,
}

impl Position {
    /// Whether an item at `stamp` with `key` comes after this position.
    pub(crate) fn is_before(&self, stamp: i64, key: &str) -> bool {
        if self.ahead.iter().any(|(k, s)| *s == stamp && k == key) {
            return false;
        }
        stamp > self.stamp || (stamp == self.stamp && !self.keys.iter().any(|k| k == key))
    }

    /// Records an item handed out above the position's stamp.
    pub(crate) fn add_ahead(&mut self, stamp: i64, key: String) {
        if !self.ahead.iter().any(|(k, s)| *s == stamp && *k == key) {
            self.ahead.push((key, stamp));
        }
    }

    /// Moves the position to just after the item at `stamp` with `key` (items are handed out
    /// in ascending stamp order).
    pub(crate) fn advance(&mut self, stamp: i64, key: String) {
        if stamp > self.stamp {
            self.stamp = stamp;
            self.keys.clear();
            self.keys.push(key);
        } else if stamp == self.stamp && !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }
}

/// The key an item is remembered by in a cursor: a message id as it is when it is a short
/// decimal (as the service's are), else a 64-bit FNV-1a hash of it, so any id fits the
/// cursor's text without escaping.
pub(crate) fn item_key(id: &str) -> String {
    if (1..=19).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) {
        return id.to_string();
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("h{hash:016x}")
}

impl WatchCursor {
    pub(crate) fn thread(position: FeedPosition) -> Self {
        WatchCursor {
            kind: CursorKind::Thread(position),
        }
    }

    pub(crate) fn inbox(positions: BTreeMap<String, FeedPosition>) -> Self {
        WatchCursor {
            kind: CursorKind::Inbox(positions),
        }
    }

    /// The thread position, or an error naming `what` when this is an inbox cursor.
    pub(crate) fn into_thread(self, what: &'static str) -> Result<FeedPosition> {
        match self.kind {
            CursorKind::Thread(p) => Ok(p),
            CursorKind::Inbox(_) => Err(Error::invalid_argument(
                what,
                "is an inbox cursor (from ChatClient::watch), not a thread cursor",
            )),
        }
    }

    /// The inbox positions, or an error naming `what` when this is a thread cursor.
    pub(crate) fn into_inbox(self, what: &'static str) -> Result<BTreeMap<String, FeedPosition>> {
        match self.kind {
            CursorKind::Inbox(p) => Ok(p),
            CursorKind::Thread(_) => Err(Error::invalid_argument(
                what,
                "is a thread cursor (from ChatThreadClient::watch), not an inbox cursor",
            )),
        }
    }
}

const THREAD_PREFIX: &str = "t1:";
const INBOX_PREFIX: &str = "i1:";

fn write_position(out: &mut String, p: &FeedPosition) {
    fn one(out: &mut String, p: &Position) {
        out.push_str(&p.stamp.to_string());
        for k in &p.keys {
            out.push(',');
            out.push_str(k);
        }
        for (k, stamp) in &p.ahead {
            out.push('+');
            out.push_str(k);
            out.push('@');
            out.push_str(&stamp.to_string());
        }
    }
    one(out, &p.messages);
    if let Some(r) = &p.receipts {
        out.push('/');
        one(out, r);
    }
}

fn parse_position(s: &str) -> Option<FeedPosition> {
    fn key(k: &str) -> Option<String> {
        let digits = (1..=19).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_digit());
        let hashed =
            k.len() == 17 && k.starts_with('h') && k[1..].bytes().all(|b| b.is_ascii_hexdigit());
        (digits || hashed).then(|| k.to_string())
    }
    fn stamp(s: &str) -> Option<i64> {
        s.parse().ok().filter(|v| *v >= 0)
    }
    fn one(s: &str) -> Option<Position> {
        let mut sections = s.split('+');
        let mut parts = sections.next()?.split(',');
        let stamp_value = stamp(parts.next()?)?;
        let keys = parts.map(key).collect::<Option<Vec<_>>>()?;
        let ahead = sections
            .map(|a| {
                let (k, s) = a.split_once('@')?;
                Some((key(k)?, stamp(s)?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Position {
            stamp: stamp_value,
            keys,
            ahead,
        })
    }
    let (messages, receipts) = match s.split_once('/') {
        Some((m, r)) => (m, Some(r)),
        None => (s, None),
    };
    Some(FeedPosition {
        messages: one(messages)?,
        receipts: match receipts {
            Some(r) => Some(one(r)?),
            None => None,
        },
    })
}

/// Thread ids go into an inbox cursor with `%`, `|`, `=` and anything outside printable
/// ASCII percent-encoded.
fn escape_id(out: &mut String, id: &str) {
    for b in id.bytes() {
        if b.is_ascii_graphic() && !matches!(b, b'%' | b'|' | b'=') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn unescape_id(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|id| !id.is_empty())
}

impl fmt::Display for WatchCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        match &self.kind {
            CursorKind::Thread(p) => {
                out.push_str(THREAD_PREFIX);
                write_position(&mut out, p);
            }
            CursorKind::Inbox(threads) => {
                out.push_str(INBOX_PREFIX);
                for (n, (id, p)) in threads.iter().enumerate() {
                    if n > 0 {
                        out.push('|');
                    }
                    escape_id(&mut out, id);
                    out.push('=');
                    write_position(&mut out, p);
                }
            }
        }
        f.write_str(&out)
    }
}

impl fmt::Debug for WatchCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WatchCursor({self})")
    }
}

impl FromStr for WatchCursor {
    type Err = Error;

    /// Parses the text [`Display`](fmt::Display) wrote; anything else is
    /// [`Error::InvalidArgument`].
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid_argument("cursor", "is not a watch cursor written by this SDK");
        if let Some(rest) = s.strip_prefix(THREAD_PREFIX) {
            return parse_position(rest)
                .map(WatchCursor::thread)
                .ok_or_else(bad);
        }
        let rest = s.strip_prefix(INBOX_PREFIX).ok_or_else(bad)?;
        let mut threads = BTreeMap::new();
        if !rest.is_empty() {
            for entry in rest.split('|') {
                let (id, p) = entry.split_once('=').ok_or_else(bad)?;
                let id = unescape_id(id).ok_or_else(bad)?;
                let p = parse_position(p).ok_or_else(bad)?;
                if threads.insert(id, p).is_some() {
                    return Err(bad());
                }
            }
        }
        Ok(WatchCursor::inbox(threads))
    }
}

impl Serialize for WatchCursor {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WatchCursor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(stamp: i64, keys: &[&str]) -> Position {
        Position {
            stamp,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            ahead: Vec::new(),
        }
    }

    /// Thread and inbox cursors survive Display → FromStr and serde unchanged.
    #[test]
    fn cursor_round_trips_through_text_and_serde() {
        let thread = WatchCursor::thread(FeedPosition {
            messages: Position {
                ahead: vec![("1717632209001".into(), 1717632209999)],
                ..pos(1717632209847, &["1717632209847", "1717632209846"])
            },
            receipts: Some(pos(1717632210000, &[&item_key("8:acs:x|1")])),
        });
        let mut threads = BTreeMap::new();
        threads.insert("19:a|b=c%d@thread.v2".to_string(), FeedPosition::default());
        threads.insert(
            "19:é@thread.v2".to_string(),
            FeedPosition {
                messages: pos(5, &["5"]),
                receipts: None,
            },
        );
        let inbox = WatchCursor::inbox(threads);
        for c in [thread, inbox, WatchCursor::inbox(BTreeMap::new())] {
            let text = c.to_string();
            assert_eq!(text.parse::<WatchCursor>().expect("parses"), c, "{text}");
            let json = serde_json::to_string(&c).expect("serializes");
            assert_eq!(
                serde_json::from_str::<WatchCursor>(&json).expect("deserializes"),
                c,
                "{json}"
            );
        }
    }

    /// A typical thread cursor is short.
    #[test]
    fn thread_cursor_is_short() {
        let c = WatchCursor::thread(FeedPosition {
            messages: pos(1717632209847, &["1717632209847"]),
            receipts: None,
        });
        let text = c.to_string();
        assert!(text.len() <= 40, "{text} ({} chars)", text.len());
        assert_eq!(format!("{c:?}"), format!("WatchCursor({text})"));
    }

    /// Text that no cursor produces is a typed error, never a panic.
    #[test]
    fn cursor_parse_rejects_garbage() {
        for bad in [
            "",
            "t1:",
            "t1:x",
            "t1:-1",
            "t1:5,",
            "t1:5,abc",
            "t2:5",
            "i1:=5",
            "i1:a",
            "i1:a=5|a=5",
            "i1:%zz=5",
            "i1:%c3=5",
            "t1:5/",
        ] {
            let r = bad.parse::<WatchCursor>();
            assert!(
                matches!(r, Err(Error::InvalidArgument { name: "cursor", .. })),
                "{bad:?} gave {r:?}"
            );
        }
    }

    /// After the position means a higher stamp, or the same stamp and a key not yet seen.
    #[test]
    fn position_orders_ties_by_seen_keys() {
        let mut p = pos(10, &["10"]);
        assert!(!p.is_before(9, "9") && !p.is_before(10, "10"));
        assert!(p.is_before(10, "11") && p.is_before(11, "1"));
        p.advance(10, "11".into());
        assert!(!p.is_before(10, "11"));
        p.advance(12, "3".into());
        assert_eq!(p, pos(12, &["3"]));
        p.add_ahead(20, "7".into());
        assert!(!p.is_before(20, "7"), "handed out ahead");
        assert!(p.is_before(21, "7"), "changed again since");
    }

    /// Short decimal ids are kept; anything else becomes a fixed-size hash.
    #[test]
    fn item_key_keeps_decimal_ids_and_hashes_others() {
        assert_eq!(item_key("1717632209847"), "1717632209847");
        let h = item_key("not|decimal");
        assert_eq!(h.len(), 17, "{h}");
        assert_ne!(h, item_key("not|decimal2"));
        assert_eq!(item_key(&"9".repeat(30)).len(), 17);
    }
}
