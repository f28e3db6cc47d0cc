//! The wire form of an identifier, `CommunicationIdentifierModel`, read in one pass: `rawId`,
//! `kind`, the typed sub-objects and any other member, without building a JSON map first
//! (a map per identifier was a third of a message page's decode time). What arrived is kept,
//! as a [`KeptIdentifier`], only when it is not what the identifier's own encoding writes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::identifier::CommunicationIdentifier;
use super::wire::Key;

/// The typed sub-objects, in the order they are tried when `kind` names none of them.
pub(crate) const SUB_OBJECTS: [&str; 5] = [
    "communicationUser",
    "phoneNumber",
    "microsoftTeamsUser",
    "microsoftTeamsApp",
    "teamsExtensionUser",
];

/// The members the typed sub-objects define.
const SUB_KEYS: [&str; 9] = [
    "id",
    "value",
    "isAnonymous",
    "assertedId",
    "userId",
    "appId",
    "cloud",
    "tenantId",
    "resourceId",
];

/// A typed sub-object (`{"id": …}`, `{"userId": …, "cloud": …}`): its known members by
/// position in `SUB_KEYS`, and any others.
#[derive(Default)]
pub(crate) struct SubObject {
    known: [Option<Value>; SUB_KEYS.len()],
    other: Map<String, Value>,
}

impl SubObject {
    /// The member `key`, known or not.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match SUB_KEYS.iter().position(|k| *k == key) {
            Some(at) => self.known[at].as_ref(),
            None => self.other.get(key),
        }
    }

    fn len(&self) -> usize {
        self.known.iter().flatten().count() + self.other.len()
    }

    fn into_map(self) -> Map<String, Value> {
        let mut map = self.other;
        for (key, value) in SUB_KEYS.iter().zip(self.known) {
            if let Some(value) = value {
                map.insert((*key).to_owned(), value);
            }
        }
        map
    }
}

struct SubVisitor;

impl SubVisitor {
    /// Reads the rest of a sub-object into `sub`, starting with the already-read `key`.
    fn rest<'de, A: MapAccess<'de>>(
        mut sub: Box<SubObject>,
        mut key: Option<Key<'de>>,
        mut map: A,
    ) -> Result<Box<SubObject>, A::Error> {
        while let Some(k) = key {
            let value: Value = map.next_value()?;
            match SUB_KEYS.iter().position(|known| *known == k.as_str()) {
                Some(at) => sub.known[at] = Some(value),
                None => {
                    sub.other.insert(k.into_string(), value);
                }
            }
            key = map.next_key::<Key<'de>>()?;
        }
        Ok(sub)
    }
}

impl<'de> Visitor<'de> for SubVisitor {
    type Value = Box<SubObject>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an identifier sub-object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Box<SubObject>, A::Error> {
        let first = map.next_key::<Key<'de>>()?;
        SubVisitor::rest(Box::default(), first, map)
    }
}

/// A member of the model: a string (borrowed from the input when it can be, so a `rawId` that
/// only confirms the sub-object costs no copy), an object (read as a sub-object, which keeps
/// every member), or any other JSON value, which decoding ignores and re-encoding keeps.
enum Member<'de> {
    Text(Cow<'de, str>),
    /// `{"id": "…"}` and nothing else, a communication user's sub-object (the common case),
    /// read without building a sub-object: the id borrowed from the input when it can be.
    IdOnly(Cow<'de, str>),
    // Boxed: a sub-object is ten times the size of the other variants, and the model holds
    // seven members.
    Object(Box<SubObject>),
    Other(Value),
}

impl Member<'_> {
    /// An `IdOnly` as the sub-object it stands for; any other member unchanged.
    fn expand(self) -> Self {
        match self {
            Member::IdOnly(_) => Member::Object(self.into_sub()),
            other => other,
        }
    }

    /// The sub-object of an `IdOnly` or an `Object`; an empty one for any other member.
    fn into_sub(self) -> Box<SubObject> {
        match self {
            Member::IdOnly(id) => {
                let mut sub = Box::<SubObject>::default();
                sub.known[0] = Some(Value::String(id.into_owned()));
                sub
            }
            Member::Object(sub) => sub,
            _ => Box::default(),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Member::Text(text) => Some(text),
            _ => None,
        }
    }

    fn into_value(self) -> Value {
        match self {
            Member::Text(text) => Value::String(text.into_owned()),
            Member::IdOnly(id) => Value::Object(Member::IdOnly(id).into_sub().into_map()),
            Member::Object(sub) => Value::Object((*sub).into_map()),
            Member::Other(value) => value,
        }
    }
}

impl<'de> Deserialize<'de> for Member<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AnyVisitor;
        impl<'de> Visitor<'de> for AnyVisitor {
            type Value = Member<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a communication identifier member")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Member<'de>, A::Error> {
                let first = map.next_key::<Key<'de>>()?;
                if first.as_ref().map(Key::as_str) != Some(SUB_KEYS[0]) {
                    return SubVisitor::rest(Box::default(), first, map).map(Member::Object);
                }
                let id: Member<'de> = map.next_value()?;
                match (id, map.next_key::<Key<'de>>()?) {
                    (Member::Text(id), None) => Ok(Member::IdOnly(id)),
                    (id, next) => {
                        let mut sub = Box::<SubObject>::default();
                        sub.known[0] = Some(id.into_value());
                        SubVisitor::rest(sub, next, map).map(Member::Object)
                    }
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Member<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(item);
                }
                Ok(Member::Other(Value::Array(items)))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Member<'de>, E> {
                Ok(Member::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Member<'de>, E> {
                Ok(Member::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Member<'de>, E> {
                Ok(Member::Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Member<'de>, E> {
                Ok(Member::Other(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Member<'de>, E> {
                Ok(Member::Other(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Member<'de>, E> {
                Ok(Member::Other(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Member<'de>, E> {
                Ok(Member::Other(v.into()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Member<'de>, E> {
                Ok(Member::Other(Value::Null))
            }
        }
        d.deserialize_any(AnyVisitor)
    }
}

/// One `CommunicationIdentifierModel` object as received.
#[derive(Default)]
pub(crate) struct ModelParts<'de> {
    raw_id: Option<Member<'de>>,
    kind: Option<Member<'de>>,
    subs: [Option<Member<'de>>; SUB_OBJECTS.len()],
    other: Map<String, Value>,
}

impl<'de> ModelParts<'de> {
    /// `rawId`, when it is a string.
    pub(crate) fn raw_id(&self) -> Option<&str> {
        self.raw_id.as_ref().and_then(Member::as_str)
    }

    /// `kind`, when it is a string.
    pub(crate) fn kind(&self) -> Option<&str> {
        self.kind.as_ref().and_then(Member::as_str)
    }

    /// The sub-object `name`, when present and an object.
    pub(crate) fn sub_object(&self, name: &str) -> Option<&SubObject> {
        let at = SUB_OBJECTS.iter().position(|s| *s == name)?;
        match &self.subs[at] {
            Some(Member::Object(sub)) => Some(sub),
            _ => None,
        }
    }

    /// `{"rawId": u, "communicationUser": {"id": u}}`, the common case, with or without
    /// `"kind": "communicationUser"`, taken apart without copying (and whether `kind` was
    /// there); `None`, with nothing taken, for anything else.
    fn take_canonical_user(&mut self) -> Option<(CommunicationIdentifier, bool)> {
        let with_kind = self.kind.is_some();
        let only_user = (!with_kind || self.kind() == Some(SUB_OBJECTS[0]))
            && self.other.is_empty()
            && self.subs[1..].iter().all(Option::is_none);
        let raw = self.raw_id.as_ref().and_then(Member::as_str)?;
        let confirms = match &self.subs[0] {
            Some(Member::IdOnly(id)) => id == raw,
            Some(Member::Object(sub)) => {
                sub.len() == 1 && sub.get("id").and_then(Value::as_str) == Some(raw)
            }
            _ => false,
        };
        if !(only_user && confirms) {
            return None;
        }
        let id = match self.subs[0].take()? {
            Member::IdOnly(id) => id.into_owned(),
            Member::Object(mut sub) => match sub.known[0].take() {
                Some(Value::String(id)) => id,
                _ => return None,
            },
            _ => return None,
        };
        Some((CommunicationIdentifier::CommunicationUser { id }, with_kind))
    }

    /// Turns every `IdOnly` member into the sub-object it stands for, so that
    /// [`sub_object`](Self::sub_object) finds it.
    fn expand(&mut self) {
        for sub in &mut self.subs {
            *sub = sub.take().map(Member::expand);
        }
    }

    /// The object as received.
    fn into_map(self) -> Map<String, Value> {
        let mut map = self.other;
        if let Some(raw) = self.raw_id {
            map.insert("rawId".into(), raw.into_value());
        }
        if let Some(kind) = self.kind {
            map.insert("kind".into(), kind.into_value());
        }
        for (name, sub) in SUB_OBJECTS.iter().zip(self.subs) {
            if let Some(sub) = sub {
                map.insert((*name).to_owned(), sub.into_value());
            }
        }
        map
    }
}

impl<'de> Deserialize<'de> for ModelParts<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PartsVisitor;
        impl<'de> Visitor<'de> for PartsVisitor {
            type Value = ModelParts<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a communication identifier object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModelParts<'de>, A::Error> {
                let mut parts = ModelParts::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match key.as_str() {
                        "rawId" => parts.raw_id = Some(map.next_value()?),
                        "kind" => parts.kind = Some(map.next_value()?),
                        name => match SUB_OBJECTS.iter().position(|s| *s == name) {
                            Some(at) => parts.subs[at] = Some(map.next_value()?),
                            None => {
                                let value: Value = map.next_value()?;
                                parts.other.insert(key.into_string(), value);
                            }
                        },
                    }
                }
                Ok(parts)
            }
        }
        d.deserialize_map(PartsVisitor)
    }
}

/// The JSON an identifier field arrived as, kept beside the decoded identifier when it is not
/// what the identifier's own encoding writes (members newer than this crate, a `rawId` other
/// than the one derived from the typed sub-object), so that a model decoded from the service
/// re-encodes with nothing lost or changed. A `kind` that only names the identifier's kind
/// (the emulator sends one from 2023-11-07) is kept as a flag, not as JSON, and written for
/// whatever identifier the field holds. Kept JSON is used only while the identifier still
/// equals the one decoded from it.
///
/// It takes part in the model's `PartialEq` (two models are equal only if they would write
/// the same JSON), and it is `Canonical` for identifiers built in code or received in
/// canonical form, so those compare equal to each other.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct KeptIdentifier(Kept);

#[derive(Clone, Default, PartialEq)]
enum Kept {
    /// Written as the identifier's canonical form.
    #[default]
    Canonical,
    /// The canonical form plus `kind`.
    WithKind,
    /// Exactly this JSON, while the field still holds this identifier.
    AsReceived(Box<(CommunicationIdentifier, Map<String, Value>)>),
}

impl KeptIdentifier {
    /// Decodes an identifier, keeping its JSON when that is not the canonical form.
    pub(crate) fn decode<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<(CommunicationIdentifier, KeptIdentifier), D::Error> {
        let mut parts = ModelParts::deserialize(d)?;
        match parts.take_canonical_user() {
            Some((id, false)) => return Ok((id, KeptIdentifier(Kept::Canonical))),
            Some((id, true)) => return Ok((id, KeptIdentifier(Kept::WithKind))),
            None => parts.expand(),
        }
        let id = CommunicationIdentifier::from_model(&parts).map_err(de::Error::custom)?;
        let model = parts.into_map();
        let mut canonical = id.to_model();
        if model == canonical {
            return Ok((id, KeptIdentifier(Kept::Canonical)));
        }
        canonical.insert("kind".into(), id.kind().into());
        if model == canonical {
            return Ok((id, KeptIdentifier(Kept::WithKind)));
        }
        Ok((
            id.clone(),
            KeptIdentifier(Kept::AsReceived(Box::new((id, model)))),
        ))
    }

    /// Writes `current`: as received while it is the identifier decoded, canonical otherwise.
    pub(crate) fn encode<S: Serializer>(
        &self,
        current: &CommunicationIdentifier,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Kept::AsReceived(kept) if &kept.0 == current => kept.1.serialize(s),
            Kept::WithKind => {
                let mut model = current.to_model();
                model.insert("kind".into(), current.kind().into());
                model.serialize(s)
            }
            _ => current.serialize(s),
        }
    }
}

impl fmt::Debug for KeptIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kept::Canonical => f.write_str("Canonical"),
            Kept::WithKind => f.write_str("CanonicalWithKind"),
            Kept::AsReceived(kept) => f.debug_tuple("AsReceived").field(&kept.1).finish(),
        }
    }
}
