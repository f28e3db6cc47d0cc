//! Serde for the response models without mirror structs or `#[serde(flatten)]`.
//!
//! [`wire_model!`](crate::models::wire::wire_model) writes a model's `Deserialize` as one map
//! visitor: each known key decodes straight into its field, every other member moves into
//! `additional_properties` as it is read. (`#[serde(flatten)]` buffered the whole object
//! into serde's private `Content` first and decoded every field from that copy.) The same
//! table writes `Serialize`: the known fields in order, then the kept members. An identifier
//! field is a pair of the public identifier and the [`KeptIdentifier`] it arrived with.
//!
//! Each field names a codec: [`Plain`] (required), [`Opt`] (absent or `null` is `None`, and
//! `None` is not written), [`Time`], [`OptTime`], [`Id`] and [`OptId`].

use std::borrow::Cow;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess};
use serde::ser::{self, SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::identifier::{CommunicationIdentifier, KeptIdentifier};
use super::time;

/// How a field's member is read.
pub(crate) trait Decode {
    /// What the model's field (or, for identifiers, field pair) holds.
    type Value;
    /// Reads the member's value.
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self::Value, D::Error>;
    /// The value when the member is absent; `None` when it is required.
    fn absent() -> Option<Self::Value>;
}

/// How a field is written.
pub(crate) trait Encode {
    /// The model's field.
    type Field;
    /// Whether the member is left out (an optional field that is `None`).
    fn skip(field: &Self::Field) -> bool;
    /// Writes the member's value.
    fn encode<S: Serializer>(field: &Self::Field, s: S) -> Result<S::Ok, S::Error>;
}

/// How an identifier field is written, with the JSON it was decoded from.
pub(crate) trait EncodeKept {
    /// The model's identifier field.
    type Field;
    /// Whether the member is left out.
    fn skip(field: &Self::Field) -> bool;
    /// Writes the identifier: as received while unchanged, else in its canonical form.
    fn encode<S: Serializer>(
        field: &Self::Field,
        kept: &KeptIdentifier,
        s: S,
    ) -> Result<S::Ok, S::Error>;
}

/// A required member decoded with `T`'s own serde.
pub(crate) struct Plain<T>(PhantomData<T>);
/// An optional member: absent or `null` is `None`, and `None` is not written.
pub(crate) struct Opt<T>(PhantomData<T>);
/// A required timestamp (see [`time`]).
pub(crate) struct Time;
/// An optional timestamp.
pub(crate) struct OptTime;
/// A required identifier, kept as received.
pub(crate) struct Id;
/// An optional identifier, kept as received.
pub(crate) struct OptId;

impl<T: for<'de> Deserialize<'de>> Decode for Plain<T> {
    type Value = T;
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        T::deserialize(d)
    }
    fn absent() -> Option<T> {
        None
    }
}

impl<T: Serialize> Encode for Plain<T> {
    type Field = T;
    fn skip(_: &T) -> bool {
        false
    }
    fn encode<S: Serializer>(field: &T, s: S) -> Result<S::Ok, S::Error> {
        field.serialize(s)
    }
}

impl<T: for<'de> Deserialize<'de>> Decode for Opt<T> {
    type Value = Option<T>;
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        Option::<T>::deserialize(d)
    }
    fn absent() -> Option<Option<T>> {
        Some(None)
    }
}

impl<T: Serialize> Encode for Opt<T> {
    type Field = Option<T>;
    fn skip(field: &Option<T>) -> bool {
        field.is_none()
    }
    fn encode<S: Serializer>(field: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        field.serialize(s)
    }
}

impl Decode for Time {
    type Value = DateTime<Utc>;
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        time::deserialize(d)
    }
    fn absent() -> Option<DateTime<Utc>> {
        None
    }
}

impl Encode for Time {
    type Field = DateTime<Utc>;
    fn skip(_: &DateTime<Utc>) -> bool {
        false
    }
    fn encode<S: Serializer>(field: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        time::serialize(field, s)
    }
}

impl Decode for OptTime {
    type Value = Option<DateTime<Utc>>;
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self::Value, D::Error> {
        time::option::deserialize(d)
    }
    fn absent() -> Option<Self::Value> {
        Some(None)
    }
}

impl Encode for OptTime {
    type Field = Option<DateTime<Utc>>;
    fn skip(field: &Self::Field) -> bool {
        field.is_none()
    }
    fn encode<S: Serializer>(field: &Self::Field, s: S) -> Result<S::Ok, S::Error> {
        time::option::serialize(field, s)
    }
}

impl Decode for Id {
    type Value = (CommunicationIdentifier, KeptIdentifier);
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self::Value, D::Error> {
        KeptIdentifier::decode(d)
    }
    fn absent() -> Option<Self::Value> {
        None
    }
}

impl EncodeKept for Id {
    type Field = CommunicationIdentifier;
    fn skip(_: &CommunicationIdentifier) -> bool {
        false
    }
    fn encode<S: Serializer>(
        field: &CommunicationIdentifier,
        kept: &KeptIdentifier,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        kept.encode(field, s)
    }
}

impl Decode for OptId {
    type Value = (Option<CommunicationIdentifier>, KeptIdentifier);
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self::Value, D::Error> {
        struct Nullable;
        impl<'de> de::Visitor<'de> for Nullable {
            type Value = (Option<CommunicationIdentifier>, KeptIdentifier);
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a communication identifier or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok((None, KeptIdentifier::default()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok((None, KeptIdentifier::default()))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                KeptIdentifier::decode(d).map(|(id, kept)| (Some(id), kept))
            }
        }
        d.deserialize_option(Nullable)
    }
    fn absent() -> Option<Self::Value> {
        Some((None, KeptIdentifier::default()))
    }
}

impl EncodeKept for OptId {
    type Field = Option<CommunicationIdentifier>;
    fn skip(field: &Self::Field) -> bool {
        field.is_none()
    }
    fn encode<S: Serializer>(
        field: &Self::Field,
        kept: &KeptIdentifier,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match field {
            Some(id) => kept.encode(id, s),
            None => s.serialize_none(),
        }
    }
}

/// An object key, borrowed from the input when it can be (no allocation for known keys).
pub(crate) struct Key<'de>(Cow<'de, str>);

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Reads the value of the known member `key` into `slot`; a second `key` is an error.
pub(crate) fn fill<'de, C: Decode, A: MapAccess<'de>>(
    map: &mut A,
    slot: &mut Option<C::Value>,
    key: &'static str,
) -> Result<(), A::Error> {
    struct Seed<C>(PhantomData<C>);
    impl<'de, C: Decode> DeserializeSeed<'de> for Seed<C> {
        type Value = C::Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<C::Value, D::Error> {
            C::decode(d)
        }
    }
    if slot.is_some() {
        return Err(de::Error::duplicate_field(key));
    }
    *slot = Some(map.next_value_seed(Seed::<C>(PhantomData))?);
    Ok(())
}

/// The decoded value of `key`, its absent value, or a missing-field error.
pub(crate) fn finish<C: Decode, E: de::Error>(
    slot: Option<C::Value>,
    key: &'static str,
) -> Result<C::Value, E> {
    match slot {
        Some(value) => Ok(value),
        None => C::absent().ok_or_else(|| E::missing_field(key)),
    }
}

/// Moves an unknown member into the model's `additional_properties`.
pub(crate) fn keep<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: Key<'de>,
    additional_properties: &mut Map<String, Value>,
) -> Result<(), A::Error> {
    let value: Value = map.next_value()?;
    additional_properties.insert(key.into_string(), value);
    Ok(())
}

/// Writes one known field (unless its codec skips it).
pub(crate) fn field<M: SerializeMap, C: Encode>(
    map: &mut M,
    key: &'static str,
    field: &C::Field,
) -> Result<(), M::Error> {
    struct With<'a, C: Encode>(&'a C::Field);
    impl<C: Encode> Serialize for With<'_, C> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            C::encode(self.0, s)
        }
    }
    if C::skip(field) {
        return Ok(());
    }
    map.serialize_entry(key, &With::<C>(field))
}

/// Writes one identifier field with the JSON it was decoded from.
pub(crate) fn identifier<M: SerializeMap, C: EncodeKept>(
    map: &mut M,
    key: &'static str,
    field: &C::Field,
    kept: &KeptIdentifier,
) -> Result<(), M::Error> {
    struct With<'a, C: EncodeKept>(&'a C::Field, &'a KeptIdentifier);
    impl<C: EncodeKept> Serialize for With<'_, C> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            C::encode(self.0, self.1, s)
        }
    }
    if C::skip(field) {
        return Ok(());
    }
    map.serialize_entry(key, &With::<C>(field, kept))
}

/// Writes the kept unknown members. One whose key is also a field's key is an error rather
/// than a JSON object with the key twice.
pub(crate) fn additional<M: SerializeMap>(
    map: &mut M,
    model: &'static str,
    known: &[&str],
    additional_properties: &Map<String, Value>,
) -> Result<(), M::Error> {
    for (key, value) in additional_properties {
        if known.contains(&key.as_str()) {
            return Err(ser::Error::custom(format_args!(
                "{model}.additional_properties has `{key}`, which {model} writes from its own field"
            )));
        }
        map.serialize_entry(key, value)?;
    }
    Ok(())
}

/// Writes `Deserialize` and `Serialize` for a model from its table of fields:
/// `field: Codec = "jsonKey"`, or `field + kept_field: Id = "jsonKey"` for an identifier. The
/// model's other field is `additional_properties: Map<String, Value>`.
macro_rules! wire_model {
    ($model:ident, $expecting:literal, {
        $( $field:ident $(+ $kept:ident)? : $codec:ty = $key:literal ),+ $(,)?
    }) => {
        impl<'de> serde::Deserialize<'de> for $model {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use $crate::models::wire::{self, Decode};
                struct ModelVisitor;
                impl<'de> serde::de::Visitor<'de> for ModelVisitor {
                    type Value = $model;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$model, A::Error> {
                        $( let mut $field: Option<<$codec as Decode>::Value> = None; )+
                        let mut additional_properties = serde_json::Map::new();
                        while let Some(key) = map.next_key::<wire::Key<'de>>()? {
                            match key.as_str() {
                                $( $key => wire::fill::<$codec, A>(&mut map, &mut $field, $key)?, )+
                                _ => wire::keep(&mut map, key, &mut additional_properties)?,
                            }
                        }
                        $(
                            let $field = wire::finish::<$codec, A::Error>($field, $key)?;
                            $( let ($field, $kept) = $field; )?
                        )+
                        Ok($model { $( $field, $( $kept, )? )+ additional_properties })
                    }
                }
                d.deserialize_map(ModelVisitor)
            }
        }

        impl serde::Serialize for $model {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap as _;
                let mut map = s.serialize_map(None)?;
                $( $crate::models::wire::wire_model!(@field map, self, $codec, $key, $field $(, $kept)?); )+
                $crate::models::wire::additional(
                    &mut map,
                    stringify!($model),
                    &[$($key),+],
                    &self.additional_properties,
                )?;
                map.end()
            }
        }
    };
    (@field $map:ident, $self:ident, $codec:ty, $key:literal, $field:ident) => {
        $crate::models::wire::field::<_, $codec>(&mut $map, $key, &$self.$field)?
    };
    (@field $map:ident, $self:ident, $codec:ty, $key:literal, $field:ident, $kept:ident) => {
        $crate::models::wire::identifier::<_, $codec>(&mut $map, $key, &$self.$field, &$self.$kept)?
    };
}

pub(crate) use wire_model;
