//! How event models meet the wire: each modeled field is decoded from its JSON value, and the
//! value it arrived as is kept beside the model, so that an event re-encodes exactly as
//! received (a time with its offset and digits, a `version` sent as a string, an identifier
//! with fields this crate does not model, a `null`), while a field the caller changed is
//! written in its canonical form.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize as _;
use serde_json::{Map, Value};

use crate::models::{time, ChatRetentionPolicy, CommunicationIdentifier};

/// A value that can be read from and written to one JSON field.
pub(crate) trait WireField: Sized + PartialEq {
    /// Reads the value; the error says what was expected, never what was found in full.
    fn decode(value: &Value) -> Result<Self, String>;
    /// Writes the canonical JSON form.
    fn encode(&self) -> Value;
}

/// Names the JSON type of a value, for error messages that do not echo the value.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(what: &str, found: &Value) -> String {
    format!("expected {what}, found {}", json_type(found))
}

impl WireField for String {
    fn decode(value: &Value) -> Result<Self, String> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| expected("a string", value))
    }
    fn encode(&self) -> Value {
        Value::String(self.clone())
    }
}

/// int64 fields (`version`, `sequenceId`): the spec says a number, some payloads send a decimal
/// string (`"1613783230064"`); both are read.
impl WireField for i64 {
    fn decode(value: &Value) -> Result<Self, String> {
        match value {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| "expected a 64-bit integer, found a number out of range".into()),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| "expected a 64-bit integer, found a non-numeric string".into()),
            other => Err(expected("a 64-bit integer", other)),
        }
    }
    fn encode(&self) -> Value {
        Value::from(*self)
    }
}

impl WireField for DateTime<Utc> {
    fn decode(value: &Value) -> Result<Self, String> {
        let text = value
            .as_str()
            .ok_or_else(|| expected("an RFC 3339 timestamp", value))?;
        time::parse(text).ok_or_else(|| "expected an RFC 3339 timestamp".into())
    }
    fn encode(&self) -> Value {
        Value::String(time::format(self))
    }
}

impl WireField for CommunicationIdentifier {
    fn decode(value: &Value) -> Result<Self, String> {
        if !value.is_object() {
            return Err(expected("a communication identifier object", value));
        }
        CommunicationIdentifier::deserialize(value).map_err(|e| e.to_string())
    }
    fn encode(&self) -> Value {
        Value::Object(self.to_model())
    }
}

impl WireField for HashMap<String, String> {
    fn decode(value: &Value) -> Result<Self, String> {
        let object = value
            .as_object()
            .ok_or_else(|| expected("an object of strings", value))?;
        object
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(format!("key `{k}`: {}", expected("a string", other))),
            })
            .collect()
    }
    fn encode(&self) -> Value {
        Value::Object(
            self.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }
}

impl WireField for Map<String, Value> {
    fn decode(value: &Value) -> Result<Self, String> {
        value
            .as_object()
            .cloned()
            .ok_or_else(|| expected("an object", value))
    }
    fn encode(&self) -> Value {
        Value::Object(self.clone())
    }
}

impl WireField for ChatRetentionPolicy {
    fn decode(value: &Value) -> Result<Self, String> {
        if !value.is_object() {
            return Err(expected("a retention policy object", value));
        }
        serde_json::from_value(value.clone()).map_err(|e| e.to_string())
    }
    fn encode(&self) -> Value {
        // A retention policy always encodes to an object; `Null` cannot happen.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl<T: WireField> WireField for Vec<T> {
    fn decode(value: &Value) -> Result<Self, String> {
        let items = value
            .as_array()
            .ok_or_else(|| expected("an array", value))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| T::decode(item).map_err(|e| format!("item {i}: {e}")))
            .collect()
    }
    fn encode(&self) -> Value {
        Value::Array(self.iter().map(T::encode).collect())
    }
}

/// The JSON values the modeled fields arrived as. A detail of the wire form, not of the
/// model: two values always compare equal, and `Debug` shows `..`.
#[derive(Clone, Default)]
pub(crate) struct Kept(Option<Arc<Map<String, Value>>>);

impl PartialEq for Kept {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

/// Reads the modeled fields out of an object; what is left over is the model's
/// `additional_properties`.
pub(crate) struct Reader {
    rest: Map<String, Value>,
    kept: Map<String, Value>,
}

impl Reader {
    pub(crate) fn new(object: Map<String, Value>) -> Self {
        Reader {
            rest: object,
            kept: Map::new(),
        }
    }

    /// Whether the object has this field (before it is taken).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.rest.contains_key(key)
    }

    /// Takes a field that must be present and not `null`.
    pub(crate) fn required<T: WireField>(&mut self, key: &str) -> Result<T, String> {
        match self.optional(key)? {
            Some(value) => Ok(value),
            None if self.kept.contains_key(key) => Err(format!("field `{key}` is null")),
            None => Err(format!("missing field `{key}`")),
        }
    }

    /// Takes a field that may be absent or `null`.
    pub(crate) fn optional<T: WireField>(&mut self, key: &str) -> Result<Option<T>, String> {
        let Some(raw) = self.rest.remove(key) else {
            return Ok(None);
        };
        let value = if raw.is_null() {
            None
        } else {
            Some(T::decode(&raw).map_err(|e| format!("field `{key}`: {e}"))?)
        };
        self.kept.insert(key.to_owned(), raw);
        Ok(value)
    }

    /// Takes a field as raw JSON (absent is `None`, `null` is `Some(Null)`).
    pub(crate) fn raw(&mut self, key: &str) -> Option<Value> {
        self.rest.remove(key)
    }

    /// The fields nobody took, and the kept values of those that were.
    pub(crate) fn finish(self) -> (Map<String, Value>, Kept) {
        (self.rest, Kept(Some(Arc::new(self.kept))))
    }
}

/// Writes the modeled fields over the additional properties.
pub(crate) struct Writer<'a> {
    out: Map<String, Value>,
    kept: &'a Kept,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(additional: &Map<String, Value>, kept: &'a Kept) -> Self {
        Writer {
            out: additional.clone(),
            kept,
        }
    }

    fn kept_raw(&self, key: &str) -> Option<&Value> {
        self.kept.0.as_deref().and_then(|m| m.get(key))
    }

    /// Writes a required field: as received while unchanged, canonical otherwise.
    pub(crate) fn required<T: WireField>(&mut self, key: &str, value: &T) {
        if let Some(raw) = self.kept_raw(key) {
            if T::decode(raw).as_ref() == Ok(value) {
                self.out.insert(key.to_owned(), raw.clone());
                return;
            }
        }
        self.out.insert(key.to_owned(), value.encode());
    }

    /// Writes an optional field: as received (even `null`) while unchanged, canonical when
    /// set, left out when `None`.
    pub(crate) fn optional<T: WireField>(&mut self, key: &str, value: &Option<T>) {
        if let Some(raw) = self.kept_raw(key) {
            let was = if raw.is_null() {
                Ok(None)
            } else {
                T::decode(raw).map(Some)
            };
            if was.as_ref() == Ok(value) {
                self.out.insert(key.to_owned(), raw.clone());
                return;
            }
        }
        match value {
            Some(v) => {
                self.out.insert(key.to_owned(), v.encode());
            }
            None => {
                self.out.remove(key);
            }
        }
    }

    /// Writes a raw JSON field, or leaves it out.
    pub(crate) fn raw(&mut self, key: &str, value: Option<&Value>) {
        if let Some(v) = value {
            self.out.insert(key.to_owned(), v.clone());
        }
    }

    pub(crate) fn finish(self) -> Map<String, Value> {
        self.out
    }
}

/// Declares an event `data` model: a public struct with the listed fields (`req` for
/// required, `opt` for optional), `additional_properties` for everything else, serde that
/// re-encodes exactly as received, and [`WireField`] so it can nest in other models.
macro_rules! event_data {
    (@ty req $ty:ty) => { $ty };
    (@ty opt $ty:ty) => { Option<$ty> };
    (@read req $r:ident $key:literal) => { $r.required($key)? };
    (@read opt $r:ident $key:literal) => { $r.optional($key)? };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident $ty:ty = $key:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[non_exhaustive]
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: event_data!(@ty $kind $ty), )*
            /// Fields this version of the crate does not model (such as the legacy
            /// `senderId`/`recipientId` strings), kept and written back as received.
            pub additional_properties: serde_json::Map<String, serde_json::Value>,
            kept: $crate::events::wire::Kept,
        }

        impl $name {
            pub(crate) fn from_object(
                object: serde_json::Map<String, serde_json::Value>,
            ) -> Result<Self, String> {
                let mut r = $crate::events::wire::Reader::new(object);
                $( let $field = event_data!(@read $kind r $key); )*
                let (additional_properties, kept) = r.finish();
                Ok($name { $( $field, )* additional_properties, kept })
            }

            pub(crate) fn to_object(&self) -> serde_json::Map<String, serde_json::Value> {
                let mut w = $crate::events::wire::Writer::new(&self.additional_properties, &self.kept);
                $( event_data!(@write $kind w $key &self.$field); )*
                w.finish()
            }
        }

        impl $crate::events::wire::WireField for $name {
            fn decode(value: &serde_json::Value) -> Result<Self, String> {
                match value {
                    serde_json::Value::Object(object) => Self::from_object(object.clone()),
                    other => Err(format!(
                        "expected an object, found {}",
                        $crate::events::wire::json_type(other)
                    )),
                }
            }
            fn encode(&self) -> serde_json::Value {
                serde_json::Value::Object(self.to_object())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.to_object().serialize(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let object = <serde_json::Map<String, serde_json::Value>>::deserialize(d)?;
                Self::from_object(object).map_err(serde::de::Error::custom)
            }
        }
    };
    (@write req $w:ident $key:literal $value:expr) => { $w.required($key, $value) };
    (@write opt $w:ident $key:literal $value:expr) => { $w.optional($key, $value) };
}

pub(crate) use event_data;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `version` reads both as a number and as a decimal string; other shapes are errors.
    #[test]
    fn decode_i64_accepts_number_and_string() {
        assert_eq!(i64::decode(&json!(1613783230064_i64)), Ok(1613783230064));
        assert_eq!(i64::decode(&json!("1613783230064")), Ok(1613783230064));
        for bad in [json!("12a"), json!(1.5), json!(true), json!(u64::MAX)] {
            assert!(
                i64::decode(&bad).is_err(),
                "decoding {bad} as i64 succeeded"
            );
        }
    }

    /// A field kept as received is written back as received while unchanged, canonically
    /// once changed.
    #[test]
    fn writer_keeps_unchanged_field_text() {
        let mut r = Reader::new(
            json!({"t": "2021-02-20T00:00:39.947+00:00", "v": "7"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let t: DateTime<Utc> = r.required("t").unwrap();
        let v: Option<i64> = r.optional("v").unwrap();
        let (rest, kept) = r.finish();
        assert!(rest.is_empty(), "left over: {rest:?}");

        let mut w = Writer::new(&rest, &kept);
        w.required("t", &t);
        w.optional("v", &v);
        assert_eq!(
            Value::Object(w.finish()),
            json!({"t": "2021-02-20T00:00:39.947+00:00", "v": "7"})
        );

        let mut w = Writer::new(&rest, &kept);
        w.required("t", &(t + chrono::Duration::seconds(1)));
        w.optional("v", &Some(8_i64));
        assert_eq!(
            Value::Object(w.finish()),
            json!({"t": "2021-02-20T00:00:40.9470000Z", "v": 8})
        );
    }

    /// Required fields report missing, null and wrong-typed values by name, without the value.
    #[test]
    fn reader_errors_name_the_field() {
        let object = json!({"n": null, "s": "secret text"});
        let mut r = Reader::new(object.as_object().unwrap().clone());
        assert_eq!(
            r.required::<String>("absent").unwrap_err(),
            "missing field `absent`"
        );
        assert_eq!(r.required::<String>("n").unwrap_err(), "field `n` is null");
        let err = r.required::<i64>("s").unwrap_err();
        assert!(
            err.contains("`s`") && !err.contains("secret"),
            "error was {err:?}"
        );
    }
}
