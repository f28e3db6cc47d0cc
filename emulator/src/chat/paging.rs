//! Paging: `maxPageSize`, `startTime`, `skip`, and opaque `syncState` continuations.
//!
//! Continuations are hex (letters and digits only, so no client re-encoding can damage them)
//! of a snapshot stamp plus the sort key of the last item served. Listing "as of the
//! snapshot" keeps a walk stable while others write: items created later are not in the
//! snapshot, and an item edited later keeps the position it had at the snapshot.

use serde_json::{Map, Value};

use crate::store::Listing;
use crate::wire::{encode_query_value, parse_time, ApiError, Query, Version};

/// Default page size when `maxPageSize` is absent.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 10;
/// Largest accepted `maxPageSize`.
pub(crate) const MAX_PAGE_SIZE: usize = 200;

/// Paging parameters of one list request.
pub(crate) struct PageParams {
    pub(crate) max: usize,
    /// Whether `maxPageSize` was given (it is echoed in `nextLink` either way).
    pub(crate) start_ms: Option<i64>,
    pub(crate) skip: usize,
    pub(crate) cursor: Option<Cursor>,
}

/// A decoded `syncState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Snapshot stamp: the walk lists the state as of this stamp.
    pub(crate) snapshot: i64,
    /// Sort key of the last item served.
    pub(crate) key: i64,
    /// Tie-breaker of the last item served (message id, or thread id).
    pub(crate) tie: String,
}

const CURSOR_TAG: u8 = 0x3e;

impl Cursor {
    /// Hex of: tag, snapshot (i64 LE), key (i64 LE), tie bytes.
    pub(crate) fn encode(&self) -> String {
        let mut bytes = vec![CURSOR_TAG];
        bytes.extend_from_slice(&self.snapshot.to_le_bytes());
        bytes.extend_from_slice(&self.key.to_le_bytes());
        bytes.extend_from_slice(self.tie.as_bytes());
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn decode(s: &str) -> Option<Cursor> {
        if !s.len().is_multiple_of(2) || s.len() < 34 || !s.is_ascii() {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect();
        let bytes = bytes?;
        if bytes[0] != CURSOR_TAG {
            return None;
        }
        let snapshot = i64::from_le_bytes(bytes[1..9].try_into().ok()?);
        let key = i64::from_le_bytes(bytes[9..17].try_into().ok()?);
        let tie = String::from_utf8(bytes[17..].to_vec()).ok()?;
        Some(Cursor { snapshot, key, tie })
    }
}

fn int_param(q: &Query, name: &str) -> Result<Option<i64>, ApiError> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            ApiError::bad_request(format!("The value '{}' is not valid for {name}.", clip(v)))
        }),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

impl PageParams {
    pub(crate) fn parse(q: &Query) -> Result<PageParams, ApiError> {
        let max = match int_param(q, "maxPageSize")? {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if n >= 1 && n <= MAX_PAGE_SIZE as i64 => n as usize,
            Some(n) => {
                return Err(ApiError::bad_request(format!(
                    "maxPageSize must be between 1 and {MAX_PAGE_SIZE}, got {n}."
                )))
            }
        };
        let skip = match int_param(q, "skip")? {
            None => 0,
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(n) => {
                return Err(ApiError::bad_request(format!(
                    "skip must not be negative, got {n}."
                )))
            }
        };
        let start_ms = match q.get("startTime") {
            None => None,
            Some("") => None,
            Some(s) => Some(parse_time(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "The value '{}' is not valid for startTime.",
                    clip(s)
                ))
            })?),
        };
        let cursor = match q.get("syncState") {
            None => None,
            Some(s) => Some(Cursor::decode(s).ok_or_else(|| {
                ApiError::bad_request("The syncState continuation token is not valid.")
            })?),
        };
        Ok(PageParams {
            max,
            start_ms,
            skip,
            cursor,
        })
    }

    /// The store listing these parameters ask for.
    pub(crate) fn listing(&self) -> Listing {
        Listing {
            snapshot: self.cursor.as_ref().map(|c| c.snapshot),
            after: self.cursor.as_ref().map(|c| (c.key, c.tie.clone())),
            start_ms: self.start_ms,
            max: self.max,
        }
    }

    /// The `{value[, nextLink]}` body of one page of a snapshot listing at `list_url` (absolute,
    /// no query): the link continues after `next` as of `snapshot`.
    pub(crate) fn snapshot_body(
        &self,
        list_url: &str,
        snapshot: i64,
        next: Option<(i64, String)>,
        version: Version,
        value: Vec<Value>,
    ) -> Value {
        let mut body = Map::new();
        if let Some((key, tie)) = next {
            let cursor = Cursor { snapshot, key, tie };
            let query = self.next_query_cursor(&cursor, version.as_str());
            body.insert(
                "nextLink".into(),
                Value::from(format!("{list_url}?{query}")),
            );
        }
        body.insert("value".into(), Value::Array(value));
        Value::Object(body)
    }

    /// Query of a `nextLink` that continues at `cursor`.
    pub(crate) fn next_query_cursor(&self, cursor: &Cursor, version: &str) -> String {
        let mut s = format!("syncState={}", cursor.encode());
        if let Some(ms) = self.start_ms {
            s.push_str("&startTime=");
            s.push_str(&encode_query_value(&crate::wire::format_time_millis(ms)));
        }
        s.push_str(&format!("&maxPageSize={}&api-version={version}", self.max));
        s
    }

    /// Query of a `nextLink` for offset paging.
    pub(crate) fn next_query_skip(&self, skip: usize, version: &str) -> String {
        format!("skip={skip}&maxPageSize={}&api-version={version}", self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_as_letters_and_digits() {
        let c = Cursor {
            snapshot: 1_717_632_209_847,
            key: -5,
            tie: "19:ab_-@thread.v2".into(),
        };
        let s = c.encode();
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()), "{s}");
        assert_eq!(Cursor::decode(&s), Some(c));
    }

    #[test]
    fn cursor_decode_rejects_garbage() {
        assert_eq!(Cursor::decode("zz"), None);
        assert_eq!(Cursor::decode(""), None);
        assert_eq!(Cursor::decode(&"00".repeat(20)), None);
        assert_eq!(Cursor::decode("é3e00000000000000000000000000000000"), None);
    }
}
