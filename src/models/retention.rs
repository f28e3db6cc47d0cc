//! `ChatRetentionPolicy`: when the service deletes a thread on its own.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// When the service deletes a thread by itself (api-version 2025-03-15 and later).
///
/// On the wire it is an object with a `kind`:
/// `{"kind":"threadCreationDate","deleteThreadAfterDays":30}` or `{"kind":"none"}`.
///
/// ```
/// use acs_chat::models::ChatRetentionPolicy;
///
/// let policy = ChatRetentionPolicy::thread_creation_date(90);
/// assert_eq!(
///     serde_json::to_string(&policy)?,
///     r#"{"kind":"threadCreationDate","deleteThreadAfterDays":90}"#
/// );
/// let none: ChatRetentionPolicy = serde_json::from_str(r#"{"kind":"none"}"#)?;
/// assert_eq!(none, ChatRetentionPolicy::None);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatRetentionPolicy {
    /// Delete the thread a number of days after it was created (`"threadCreationDate"`).
    ThreadCreationDate {
        /// Days after creation; the service accepts 30 to 90.
        delete_thread_after_days: i32,
    },
    /// Keep the thread until someone deletes it (`"none"`).
    None,
    /// A policy this version of the crate does not know, kept exactly as received (the whole
    /// object, `kind` included) so that it can be sent back unchanged.
    Unknown(Map<String, Value>),
}

impl ChatRetentionPolicy {
    /// Delete the thread `days` days after it was created.
    pub fn thread_creation_date(days: i32) -> Self {
        Self::ThreadCreationDate {
            delete_thread_after_days: days,
        }
    }

    fn from_object(object: Map<String, Value>) -> Self {
        let only_keys = |keys: &[&str]| object.keys().all(|k| keys.contains(&k.as_str()));
        match object.get("kind").and_then(Value::as_str) {
            Some("none") if only_keys(&["kind"]) => Self::None,
            Some("threadCreationDate") if only_keys(&["kind", "deleteThreadAfterDays"]) => {
                let days = object
                    .get("deleteThreadAfterDays")
                    .and_then(Value::as_i64)
                    .and_then(|d| i32::try_from(d).ok());
                match days {
                    Some(days) => Self::thread_creation_date(days),
                    None => Self::Unknown(object),
                }
            }
            // Unknown kinds, or known kinds with fields we would drop, are kept verbatim.
            _ => Self::Unknown(object),
        }
    }

    fn to_object(&self) -> Map<String, Value> {
        let mut out = Map::new();
        match self {
            Self::ThreadCreationDate {
                delete_thread_after_days,
            } => {
                out.insert("kind".into(), "threadCreationDate".into());
                out.insert(
                    "deleteThreadAfterDays".into(),
                    (*delete_thread_after_days).into(),
                );
            }
            Self::None => {
                out.insert("kind".into(), "none".into());
            }
            Self::Unknown(object) => out.clone_from(object),
        }
        out
    }
}

impl Serialize for ChatRetentionPolicy {
    /// Writes `kind` first, as the service does.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let object = self.to_object();
        let mut map = s.serialize_map(Some(object.len()))?;
        if let Some(kind) = object.get("kind") {
            map.serialize_entry("kind", kind)?;
        }
        for (key, value) in object.iter().filter(|(k, _)| *k != "kind") {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ChatRetentionPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_object(Map::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Known kinds decode to their variants and encode back unchanged.
    #[test]
    fn retention_policy_round_trips_known_kinds() {
        for (value, want) in [
            (json!({"kind":"none"}), ChatRetentionPolicy::None),
            (
                json!({"kind":"threadCreationDate","deleteThreadAfterDays":30}),
                ChatRetentionPolicy::thread_creation_date(30),
            ),
        ] {
            let got: ChatRetentionPolicy = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(got, want, "decoding {value}");
            assert_eq!(serde_json::to_value(&got).unwrap(), value);
        }
    }

    /// Unknown kinds, extra fields and bad day counts are kept verbatim as `Unknown`.
    #[test]
    fn retention_policy_keeps_unknown_verbatim() {
        for value in [
            json!({"kind":"lastMessageDate","days":3}),
            json!({"kind":"none","extra":true}),
            json!({"kind":"threadCreationDate","deleteThreadAfterDays":"30"}),
            json!({"kind":"threadCreationDate","deleteThreadAfterDays":1e12}),
            json!({}),
        ] {
            let got: ChatRetentionPolicy = serde_json::from_value(value.clone()).unwrap();
            assert!(
                matches!(got, ChatRetentionPolicy::Unknown(_)),
                "decoding {value} gave {got:?}"
            );
            assert_eq!(serde_json::to_value(&got).unwrap(), value);
        }
    }
}
