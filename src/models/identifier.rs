//! `CommunicationIdentifier`: who sent, joined or read something (ACS users, phone numbers,
//! Teams users and apps, Teams Phone extension users), with its raw-id string form and its
//! JSON form (`CommunicationIdentifierModel`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub(crate) use super::identifier_model::KeptIdentifier;
use super::identifier_model::{ModelParts, SubObject, SUB_OBJECTS};

const PHONE: &str = "4:";
const TEAMS_USER_ANONYMOUS: &str = "8:teamsvisitor:";
const TEAMS_USER_PUBLIC: &str = "8:orgid:";
const TEAMS_USER_DOD: &str = "8:dod:";
const TEAMS_USER_GCCH: &str = "8:gcch:";
const ACS_USER_PUBLIC: &str = "8:acs:";
const ACS_USER_DOD: &str = "8:dod-acs:";
const ACS_USER_GCCH: &str = "8:gcch-acs:";
const SPOOL_USER: &str = "8:spool:";
const TEAMS_APP_PUBLIC: &str = "28:orgid:";
const TEAMS_APP_DOD: &str = "28:dod:";
const TEAMS_APP_GCCH: &str = "28:gcch:";

/// The cloud a Teams user, Teams app or Teams Phone extension user belongs to.
///
/// ```
/// use acs_chat::models::CommunicationCloudEnvironment;
/// assert_eq!("gcch".parse::<CommunicationCloudEnvironment>().unwrap(), CommunicationCloudEnvironment::Gcch);
/// assert_eq!(CommunicationCloudEnvironment::default().to_string(), "public");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum CommunicationCloudEnvironment {
    /// The public cloud (`"public"`), the default.
    #[default]
    Public,
    /// The US Department of Defense cloud (`"dod"`).
    Dod,
    /// The US Government Community Cloud High (`"gcch"`).
    Gcch,
    /// A cloud this version of the crate does not know, as the service named it.
    Unknown(String),
}

impl CommunicationCloudEnvironment {
    /// The wire name: `"public"`, `"dod"`, `"gcch"` or the unknown name as received.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Public => "public",
            Self::Dod => "dod",
            Self::Gcch => "gcch",
            Self::Unknown(s) => s,
        }
    }
}

impl fmt::Display for CommunicationCloudEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CommunicationCloudEnvironment {
    type Err = std::convert::Infallible;

    /// Never fails: names other than `public`, `dod` and `gcch` become `Unknown`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "public" => Self::Public,
            "dod" => Self::Dod,
            "gcch" => Self::Gcch,
            other => Self::Unknown(other.to_owned()),
        })
    }
}

impl Serialize for CommunicationCloudEnvironment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CommunicationCloudEnvironment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().unwrap_or_default())
    }
}

/// Identifies a chat participant, message sender, reader or initiator.
///
/// Every identifier has a *raw id*, a string that encodes its kind and can be stored and turned
/// back into the identifier with [`CommunicationIdentifier::from_raw_id`]:
///
/// | kind | raw id |
/// |---|---|
/// | ACS user | `8:acs:<resource>_<user>` (also `8:dod-acs:`, `8:gcch-acs:`, `8:spool:`) |
/// | phone number | `4:+14255550123` |
/// | Teams user | `8:orgid:<aad oid>`, `8:dod:…`, `8:gcch:…`; anonymous `8:teamsvisitor:…` |
/// | Teams app | `28:orgid:<app id>`, `28:dod:…`, `28:gcch:…` |
/// | Teams Phone extension user | `8:acs:<resource>_<tenant>_<user>` (and the dod/gcch forms) |
/// | anything else | kept as [`CommunicationIdentifier::Unknown`] |
///
/// ```
/// use acs_chat::CommunicationIdentifier;
///
/// let user = CommunicationIdentifier::from_raw_id("8:acs:resource_user");
/// assert_eq!(user, CommunicationIdentifier::communication_user("8:acs:resource_user"));
/// assert_eq!(user.raw_id(), "8:acs:resource_user");
///
/// let bot = CommunicationIdentifier::from_raw_id("28:gcch:app-id");
/// assert!(matches!(bot, CommunicationIdentifier::MicrosoftTeamsApp { .. }));
/// assert_eq!(bot.to_string(), "28:gcch:app-id");
/// ```
///
/// On the wire it is a `CommunicationIdentifierModel`. Decoding accepts `kind`, `rawId` and the
/// typed sub-object in any combination (the sub-object wins when present); encoding writes
/// `rawId` plus the typed sub-object, as the official Python SDK does:
///
/// ```
/// use acs_chat::CommunicationIdentifier;
///
/// let id: CommunicationIdentifier = serde_json::from_str(r#"{"rawId":"4:+14255550123"}"#)?;
/// assert_eq!(
///     serde_json::to_string(&id)?,
///     r#"{"rawId":"4:+14255550123","phoneNumber":{"value":"+14255550123"}}"#
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CommunicationIdentifier {
    /// An Azure Communication Services user (`8:acs:…`).
    CommunicationUser {
        /// The user's id, which is also its raw id.
        id: String,
    },
    /// A phone number (`4:+…`).
    PhoneNumber {
        /// The number in E.164 form (`+14255550123`), or `anonymous`.
        value: String,
        /// Whether the caller's number is hidden.
        is_anonymous: bool,
        /// The asserted id, which tells apart several calls from the same number.
        asserted_id: Option<String>,
        /// The raw id, when it is not simply `4:` followed by `value`.
        raw_id: Option<String>,
    },
    /// A Microsoft Teams user (`8:orgid:…`, `8:dod:…`, `8:gcch:…`, `8:teamsvisitor:…`).
    MicrosoftTeamsUser {
        /// The Entra ID object id of the user, or the visitor id of an anonymous user.
        user_id: String,
        /// Whether this is an anonymous Teams meeting guest.
        is_anonymous: bool,
        /// The cloud the user belongs to.
        cloud: CommunicationCloudEnvironment,
    },
    /// A Microsoft Teams app or bot (`28:orgid:…`, `28:dod:…`, `28:gcch:…`).
    MicrosoftTeamsApp {
        /// The app's id.
        app_id: String,
        /// The cloud the app belongs to.
        cloud: CommunicationCloudEnvironment,
    },
    /// A Teams Phone user using an ACS resource (`8:acs:<resource>_<tenant>_<user>`).
    TeamsExtensionUser {
        /// The Entra ID object id of the user.
        user_id: String,
        /// The user's tenant id.
        tenant_id: String,
        /// The ACS resource id.
        resource_id: String,
        /// The cloud the user belongs to.
        cloud: CommunicationCloudEnvironment,
    },
    /// An identifier of a kind this version of the crate does not know.
    Unknown {
        /// The raw id, as received.
        id: String,
    },
}

impl CommunicationIdentifier {
    /// An ACS user, from the id the Identity API gave it (`8:acs:…`).
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// use acs_chat::CommunicationIdentifier;
    /// let user = CommunicationIdentifier::communication_user(emu.create_user());
    /// assert!(user.raw_id().starts_with("8:acs:"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn communication_user(id: impl Into<String>) -> Self {
        Self::CommunicationUser { id: id.into() }
    }

    /// A phone number in E.164 form (`+14255550123`).
    ///
    /// ```
    /// use acs_chat::CommunicationIdentifier;
    /// assert_eq!(CommunicationIdentifier::phone_number("+14255550123").raw_id(), "4:+14255550123");
    /// ```
    pub fn phone_number(value: impl Into<String>) -> Self {
        Self::PhoneNumber {
            value: value.into(),
            is_anonymous: false,
            asserted_id: None,
            raw_id: None,
        }
    }

    /// Turns a raw id back into the identifier it encodes. Never fails: a raw id of no known
    /// form becomes [`CommunicationIdentifier::Unknown`], and `raw_id()` of the result always
    /// gives back the same string.
    ///
    /// ```
    /// use acs_chat::models::{CommunicationCloudEnvironment, CommunicationIdentifier};
    /// assert_eq!(
    ///     CommunicationIdentifier::from_raw_id("8:dod:aad-oid"),
    ///     CommunicationIdentifier::MicrosoftTeamsUser {
    ///         user_id: "aad-oid".into(),
    ///         is_anonymous: false,
    ///         cloud: CommunicationCloudEnvironment::Dod,
    ///     }
    /// );
    /// for raw in ["8:acs:r_u", "4:+1555", "8:teamsvisitor:v", "28:orgid:a", "8:acs:r_t_u", "x"] {
    ///     assert_eq!(CommunicationIdentifier::from_raw_id(raw).raw_id(), raw);
    /// }
    /// ```
    pub fn from_raw_id(raw_id: &str) -> Self {
        if let Some(number) = raw_id.strip_prefix(PHONE) {
            let is_anonymous = number == "anonymous";
            let asserted_id = if is_anonymous {
                None
            } else {
                number
                    .rfind('_')
                    .map(|at| &number[at + 1..])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            return Self::PhoneNumber {
                value: number.to_owned(),
                is_anonymous,
                asserted_id,
                raw_id: None,
            };
        }
        let unknown = || Self::Unknown {
            id: raw_id.to_owned(),
        };
        let mut segments = raw_id.splitn(3, ':');
        let (Some(first), Some(second), Some(suffix)) =
            (segments.next(), segments.next(), segments.next())
        else {
            return unknown();
        };
        // The official SDKs only recognise exactly three `:`-separated segments.
        if suffix.contains(':') {
            return unknown();
        }
        let prefix_len = first.len() + second.len() + 2;
        let prefix = &raw_id[..prefix_len];
        let teams_user = |cloud| Self::MicrosoftTeamsUser {
            user_id: suffix.to_owned(),
            is_anonymous: false,
            cloud,
        };
        let teams_app = |cloud| Self::MicrosoftTeamsApp {
            app_id: suffix.to_owned(),
            cloud,
        };
        let acs = |cloud| {
            let parts: Vec<&str> = suffix.split('_').collect();
            match parts.as_slice() {
                [resource, tenant, user] => Self::TeamsExtensionUser {
                    user_id: (*user).to_owned(),
                    tenant_id: (*tenant).to_owned(),
                    resource_id: (*resource).to_owned(),
                    cloud,
                },
                _ => Self::communication_user(raw_id),
            }
        };
        match prefix {
            TEAMS_USER_ANONYMOUS => Self::MicrosoftTeamsUser {
                user_id: suffix.to_owned(),
                is_anonymous: true,
                cloud: CommunicationCloudEnvironment::Public,
            },
            TEAMS_USER_PUBLIC => teams_user(CommunicationCloudEnvironment::Public),
            TEAMS_USER_DOD => teams_user(CommunicationCloudEnvironment::Dod),
            TEAMS_USER_GCCH => teams_user(CommunicationCloudEnvironment::Gcch),
            ACS_USER_PUBLIC => acs(CommunicationCloudEnvironment::Public),
            ACS_USER_DOD => acs(CommunicationCloudEnvironment::Dod),
            ACS_USER_GCCH => acs(CommunicationCloudEnvironment::Gcch),
            SPOOL_USER => Self::communication_user(raw_id),
            TEAMS_APP_PUBLIC => teams_app(CommunicationCloudEnvironment::Public),
            TEAMS_APP_DOD => teams_app(CommunicationCloudEnvironment::Dod),
            TEAMS_APP_GCCH => teams_app(CommunicationCloudEnvironment::Gcch),
            // `28:dod-global:`, `28:gcch-global:` and other legacy bot prefixes stay Unknown, as
            // in the current official SDKs, so that their raw id survives unchanged.
            _ => unknown(),
        }
    }

    /// The raw id: the string form that [`CommunicationIdentifier::from_raw_id`] reads back.
    ///
    /// ```
    /// use acs_chat::models::{CommunicationCloudEnvironment, CommunicationIdentifier};
    /// let ext = CommunicationIdentifier::TeamsExtensionUser {
    ///     user_id: "u".into(),
    ///     tenant_id: "t".into(),
    ///     resource_id: "r".into(),
    ///     cloud: CommunicationCloudEnvironment::Gcch,
    /// };
    /// assert_eq!(ext.raw_id(), "8:gcch-acs:r_t_u");
    /// ```
    pub fn raw_id(&self) -> String {
        use CommunicationCloudEnvironment as Cloud;
        match self {
            Self::CommunicationUser { id } => id.clone(),
            Self::PhoneNumber { value, raw_id, .. } => match raw_id {
                Some(raw) => raw.clone(),
                None => format!("{PHONE}{value}"),
            },
            Self::MicrosoftTeamsUser {
                user_id,
                is_anonymous,
                cloud,
            } => {
                let prefix = match (is_anonymous, cloud) {
                    (true, _) => TEAMS_USER_ANONYMOUS,
                    (false, Cloud::Dod) => TEAMS_USER_DOD,
                    (false, Cloud::Gcch) => TEAMS_USER_GCCH,
                    (false, _) => TEAMS_USER_PUBLIC,
                };
                format!("{prefix}{user_id}")
            }
            Self::MicrosoftTeamsApp { app_id, cloud } => {
                let prefix = match cloud {
                    Cloud::Dod => TEAMS_APP_DOD,
                    Cloud::Gcch => TEAMS_APP_GCCH,
                    _ => TEAMS_APP_PUBLIC,
                };
                format!("{prefix}{app_id}")
            }
            Self::TeamsExtensionUser {
                user_id,
                tenant_id,
                resource_id,
                cloud,
            } => {
                let prefix = match cloud {
                    Cloud::Dod => ACS_USER_DOD,
                    Cloud::Gcch => ACS_USER_GCCH,
                    _ => ACS_USER_PUBLIC,
                };
                format!("{prefix}{resource_id}_{tenant_id}_{user_id}")
            }
            Self::Unknown { id } => id.clone(),
        }
    }

    /// The `kind` name the service uses for this identifier (`"communicationUser"`,
    /// `"phoneNumber"`, `"microsoftTeamsUser"`, `"microsoftTeamsApp"`, `"teamsExtensionUser"`
    /// or `"unknown"`).
    ///
    /// ```
    /// use acs_chat::CommunicationIdentifier;
    /// assert_eq!(CommunicationIdentifier::phone_number("+1555").kind(), "phoneNumber");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CommunicationUser { .. } => "communicationUser",
            Self::PhoneNumber { .. } => "phoneNumber",
            Self::MicrosoftTeamsUser { .. } => "microsoftTeamsUser",
            Self::MicrosoftTeamsApp { .. } => "microsoftTeamsApp",
            Self::TeamsExtensionUser { .. } => "teamsExtensionUser",
            Self::Unknown { .. } => "unknown",
        }
    }

    /// Reads a `CommunicationIdentifierModel` object.
    pub(crate) fn from_model(model: &ModelParts<'_>) -> Result<Self, String> {
        let raw_id = model.raw_id();
        let kind = model.kind();
        // The sub-object named by `kind` first, then the others in a fixed order.
        let order = kind
            .into_iter()
            .filter(|k| SUB_OBJECTS.contains(k))
            .chain(SUB_OBJECTS);
        for name in order {
            let Some(sub) = model.sub_object(name) else {
                continue;
            };
            if let Some(id) = Self::from_sub_object(name, sub, raw_id) {
                return Ok(id);
            }
        }
        match raw_id {
            Some(raw) => Ok(Self::from_raw_id(raw)),
            None => Err(
                "a communication identifier needs a `rawId` or a typed sub-object \
                         such as `communicationUser`"
                    .to_owned(),
            ),
        }
    }

    fn from_sub_object(name: &str, sub: &SubObject, raw_id: Option<&str>) -> Option<Self> {
        let text = |key: &str| sub.get(key).and_then(Value::as_str).map(str::to_owned);
        let flag = |key: &str| sub.get(key).and_then(Value::as_bool).unwrap_or(false);
        let cloud = || {
            text("cloud")
                .map(|c| c.parse().unwrap_or_default())
                .unwrap_or_default()
        };
        Some(match name {
            "communicationUser" => Self::CommunicationUser { id: text("id")? },
            "phoneNumber" => {
                let value = text("value")?;
                let raw_id = raw_id
                    .filter(|raw| raw.strip_prefix(PHONE) != Some(value.as_str()))
                    .map(str::to_owned);
                Self::PhoneNumber {
                    value,
                    is_anonymous: flag("isAnonymous"),
                    asserted_id: text("assertedId"),
                    raw_id,
                }
            }
            "microsoftTeamsUser" => Self::MicrosoftTeamsUser {
                user_id: text("userId")?,
                is_anonymous: flag("isAnonymous"),
                cloud: cloud(),
            },
            "microsoftTeamsApp" => Self::MicrosoftTeamsApp {
                app_id: text("appId")?,
                cloud: cloud(),
            },
            "teamsExtensionUser" => Self::TeamsExtensionUser {
                user_id: text("userId")?,
                tenant_id: text("tenantId")?,
                resource_id: text("resourceId")?,
                cloud: cloud(),
            },
            _ => return None,
        })
    }

    /// Writes the `CommunicationIdentifierModel` object: `rawId` plus the typed sub-object.
    pub(crate) fn to_model(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("rawId".into(), Value::String(self.raw_id()));
        let mut sub = Map::new();
        let name = match self {
            Self::CommunicationUser { id } => {
                sub.insert("id".into(), id.clone().into());
                "communicationUser"
            }
            Self::PhoneNumber {
                value,
                is_anonymous,
                asserted_id,
                ..
            } => {
                sub.insert("value".into(), value.clone().into());
                if *is_anonymous {
                    sub.insert("isAnonymous".into(), true.into());
                }
                if let Some(asserted) = asserted_id {
                    sub.insert("assertedId".into(), asserted.clone().into());
                }
                "phoneNumber"
            }
            Self::MicrosoftTeamsUser {
                user_id,
                is_anonymous,
                cloud,
            } => {
                sub.insert("userId".into(), user_id.clone().into());
                sub.insert("isAnonymous".into(), (*is_anonymous).into());
                sub.insert("cloud".into(), cloud.as_str().into());
                "microsoftTeamsUser"
            }
            Self::MicrosoftTeamsApp { app_id, cloud } => {
                sub.insert("appId".into(), app_id.clone().into());
                sub.insert("cloud".into(), cloud.as_str().into());
                "microsoftTeamsApp"
            }
            Self::TeamsExtensionUser {
                user_id,
                tenant_id,
                resource_id,
                cloud,
            } => {
                sub.insert("userId".into(), user_id.clone().into());
                sub.insert("tenantId".into(), tenant_id.clone().into());
                sub.insert("resourceId".into(), resource_id.clone().into());
                sub.insert("cloud".into(), cloud.as_str().into());
                "teamsExtensionUser"
            }
            Self::Unknown { .. } => return out,
        };
        out.insert(name.into(), Value::Object(sub));
        out
    }
}

impl fmt::Display for CommunicationIdentifier {
    /// Shows the raw id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw_id())
    }
}

impl FromStr for CommunicationIdentifier {
    type Err = std::convert::Infallible;

    /// Same as [`CommunicationIdentifier::from_raw_id`]; never fails.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from_raw_id(s))
    }
}

impl Serialize for CommunicationIdentifier {
    /// Writes `rawId` first, then the typed sub-object, as the Python SDK does.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let model = self.to_model();
        let mut map = s.serialize_map(Some(model.len()))?;
        if let Some(raw) = model.get("rawId") {
            map.serialize_entry("rawId", raw)?;
        }
        for (key, value) in model.iter().filter(|(k, _)| *k != "rawId") {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for CommunicationIdentifier {
    /// Reads a `CommunicationIdentifierModel`. On its own an identifier keeps nothing of the
    /// JSON it came from (a model's identifier field does; see the response models).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        KeptIdentifier::decode(d).map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CommunicationCloudEnvironment as Cloud;

    fn user(id: &str) -> CommunicationIdentifier {
        CommunicationIdentifier::communication_user(id)
    }

    /// Every known raw-id prefix decodes to its kind and encodes back to the same string.
    #[test]
    fn from_raw_id_round_trips_every_prefix() {
        let teams_user = |id: &str, anon, cloud| CommunicationIdentifier::MicrosoftTeamsUser {
            user_id: id.into(),
            is_anonymous: anon,
            cloud,
        };
        let app = |id: &str, cloud| CommunicationIdentifier::MicrosoftTeamsApp {
            app_id: id.into(),
            cloud,
        };
        let ext = |cloud| CommunicationIdentifier::TeamsExtensionUser {
            user_id: "u".into(),
            tenant_id: "t".into(),
            resource_id: "r".into(),
            cloud,
        };
        let unknown = |id: &str| CommunicationIdentifier::Unknown { id: id.into() };
        let phone =
            |value: &str, anon, asserted: Option<&str>| CommunicationIdentifier::PhoneNumber {
                value: value.into(),
                is_anonymous: anon,
                asserted_id: asserted.map(Into::into),
                raw_id: None,
            };
        let table = vec![
            ("8:acs:res_usr", user("8:acs:res_usr")),
            ("8:dod-acs:res_usr", user("8:dod-acs:res_usr")),
            ("8:gcch-acs:res_usr", user("8:gcch-acs:res_usr")),
            ("8:spool:res_usr", user("8:spool:res_usr")),
            ("8:acs:res", user("8:acs:res")),
            ("8:acs:", user("8:acs:")),
            ("8:acs:r_t_u", ext(Cloud::Public)),
            ("8:dod-acs:r_t_u", ext(Cloud::Dod)),
            ("8:gcch-acs:r_t_u", ext(Cloud::Gcch)),
            ("4:+14255550123", phone("+14255550123", false, None)),
            (
                "4:+14255550123_asserted",
                phone("+14255550123_asserted", false, Some("asserted")),
            ),
            ("4:anonymous", phone("anonymous", true, None)),
            ("4:", phone("", false, None)),
            ("8:orgid:oid", teams_user("oid", false, Cloud::Public)),
            ("8:dod:oid", teams_user("oid", false, Cloud::Dod)),
            ("8:gcch:oid", teams_user("oid", false, Cloud::Gcch)),
            ("8:teamsvisitor:vid", teams_user("vid", true, Cloud::Public)),
            ("28:orgid:app", app("app", Cloud::Public)),
            ("28:dod:app", app("app", Cloud::Dod)),
            ("28:gcch:app", app("app", Cloud::Gcch)),
            ("28:dod-global:app", unknown("28:dod-global:app")),
            ("28:gcch-global:app", unknown("28:gcch-global:app")),
            ("8:orgid:a:b", unknown("8:orgid:a:b")),
            ("48:unknown:x", unknown("48:unknown:x")),
            ("plain", unknown("plain")),
            ("", unknown("")),
            ("8540c0de_0e59", unknown("8540c0de_0e59")),
        ];
        for (raw, want) in table {
            let got = CommunicationIdentifier::from_raw_id(raw);
            assert_eq!(got, want, "from_raw_id({raw:?})");
            assert_eq!(got.raw_id(), raw, "raw_id() of {got:?}");
            assert_eq!(got.to_string(), raw, "Display of {got:?}");
        }
    }

    /// JSON with only a rawId, only a sub-object, both, or a kind, all decode.
    #[test]
    fn deserialize_accepts_every_combination() {
        let raw = "8:acs:r_u";
        let cases = [
            format!(r#"{{"rawId":"{raw}"}}"#),
            format!(r#"{{"communicationUser":{{"id":"{raw}"}}}}"#),
            format!(r#"{{"rawId":"{raw}","communicationUser":{{"id":"{raw}"}}}}"#),
            format!(
                r#"{{"kind":"communicationUser","rawId":"{raw}","communicationUser":{{"id":"{raw}"}}}}"#
            ),
            format!(r#"{{"kind":"communicationUser","rawId":"{raw}"}}"#),
            format!(r#"{{"rawId":"{raw}","communicationUser":{{}}}}"#),
        ];
        for json in cases {
            let id: CommunicationIdentifier = serde_json::from_str(&json).unwrap();
            assert_eq!(id, user(raw), "decoding {json}");
        }
        let teams: CommunicationIdentifier = serde_json::from_str(
            r#"{"kind":"microsoftTeamsUser","rawId":"8:gcch:o","microsoftTeamsUser":{"userId":"o","cloud":"gcch"}}"#,
        )
        .unwrap();
        assert_eq!(teams.raw_id(), "8:gcch:o");
        let ext: CommunicationIdentifier = serde_json::from_str(
            r#"{"teamsExtensionUser":{"userId":"u","tenantId":"t","resourceId":"r","cloud":"dod"}}"#,
        )
        .unwrap();
        assert_eq!(ext.raw_id(), "8:dod-acs:r_t_u");
        let phone: CommunicationIdentifier = serde_json::from_str(
            r#"{"rawId":"4:+1555_x","phoneNumber":{"value":"+1555","assertedId":"x"}}"#,
        )
        .unwrap();
        assert_eq!(
            phone.raw_id(),
            "4:+1555_x",
            "a phone rawId that is not 4:+value is kept"
        );
    }

    /// Objects with nothing to identify anyone are a decode error, not a panic.
    #[test]
    fn deserialize_rejects_empty_identifiers() {
        for json in [
            "{}",
            r#"{"kind":"communicationUser"}"#,
            r#"{"communicationUser":{}}"#,
            "[]",
            "7",
        ] {
            let result = serde_json::from_str::<CommunicationIdentifier>(json);
            assert!(result.is_err(), "decoding {json} gave {result:?}");
        }
    }

    /// Serialisation writes rawId plus the typed sub-object and no kind, like the Python SDK.
    #[test]
    fn serialize_writes_raw_id_and_sub_object() {
        let json = serde_json::to_value(user("8:acs:r_u")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"rawId":"8:acs:r_u","communicationUser":{"id":"8:acs:r_u"}})
        );
        let json = serde_json::to_value(CommunicationIdentifier::from_raw_id("28:dod:a")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"rawId":"28:dod:a","microsoftTeamsApp":{"appId":"a","cloud":"dod"}})
        );
        let json = serde_json::to_value(CommunicationIdentifier::from_raw_id("zz")).unwrap();
        assert_eq!(json, serde_json::json!({"rawId":"zz"}));
        for raw in [
            "8:acs:r_t_u",
            "4:+1_a",
            "8:teamsvisitor:v",
            "8:gcch:o",
            "x:y",
        ] {
            let id = CommunicationIdentifier::from_raw_id(raw);
            let back: CommunicationIdentifier =
                serde_json::from_value(serde_json::to_value(&id).unwrap()).unwrap();
            assert_eq!(back, id, "JSON round trip of {raw}");
        }
    }

    /// The kept wire form is used only while the identifier is unchanged, and canonical JSON
    /// keeps nothing.
    #[test]
    fn kept_identifier_keeps_json_until_changed() {
        let encode = |kept: &KeptIdentifier, id: &CommunicationIdentifier| {
            kept.encode(id, serde_json::value::Serializer).unwrap()
        };
        let json = serde_json::json!({"rawId":"8:acs:real","communicationUser":{"id":"sanitized"},"kind":"communicationUser"});
        let (id, kept) = KeptIdentifier::decode(json.clone()).unwrap();
        assert_eq!(id, user("sanitized"));
        assert_eq!(encode(&kept, &id), json);
        assert!(format!("{kept:?}").starts_with("AsReceived"), "{kept:?}");
        let other = user("8:acs:other");
        assert_eq!(encode(&kept, &other), serde_json::to_value(&other).unwrap());
        // A `kind` that only names the kind is a flag, written for whatever identifier is there.
        for with_kind in [
            serde_json::json!({"rawId":"8:acs:u","kind":"communicationUser","communicationUser":{"id":"8:acs:u"}}),
            serde_json::json!({"rawId":"28:dod:a","kind":"microsoftTeamsApp","microsoftTeamsApp":{"appId":"a","cloud":"dod"}}),
        ] {
            let (id, kept) = KeptIdentifier::decode(with_kind.clone()).unwrap();
            assert_eq!(
                format!("{kept:?}"),
                "CanonicalWithKind",
                "decoding {with_kind}"
            );
            assert_eq!(encode(&kept, &id), with_kind);
            let phone = CommunicationIdentifier::phone_number("+1555");
            assert_eq!(
                encode(&kept, &phone),
                serde_json::json!({"rawId":"4:+1555","kind":"phoneNumber","phoneNumber":{"value":"+1555"}})
            );
        }
        for canonical in [
            serde_json::json!({"rawId":"8:acs:r_u","communicationUser":{"id":"8:acs:r_u"}}),
            serde_json::json!({"rawId":"28:dod:a","microsoftTeamsApp":{"appId":"a","cloud":"dod"}}),
        ] {
            let (id, kept) = KeptIdentifier::decode(canonical.clone()).unwrap();
            assert_eq!(kept, KeptIdentifier::default(), "decoding {canonical}");
            assert_eq!(encode(&kept, &id), canonical);
        }
    }

    /// Sub-objects read from text, where `{"id": "…"}` takes the short path: every other
    /// shape around it still decodes as before and re-encodes exactly as received.
    #[test]
    fn sub_objects_read_from_text_keep_every_shape() {
        let decode = |json: &str| {
            KeptIdentifier::decode(&mut serde_json::Deserializer::from_str(json)).unwrap()
        };
        let cases = [
            (
                r#"{"rawId":"8:acs:u","communicationUser":{"id":"8:acs:u"}}"#,
                "8:acs:u",
                true,
            ),
            (
                r#"{"communicationUser":{"id":"8:acs:u"},"rawId":"8:acs:u"}"#,
                "8:acs:u",
                true,
            ),
            (
                r#"{"rawId":"8:acs:u","communicationUser":{"id":"8:acs:\u0075"}}"#,
                "8:acs:u",
                true,
            ),
            (
                r#"{"rawId":"8:acs:u","communicationUser":{"id":"8:acs:u","x":1}}"#,
                "8:acs:u",
                false,
            ),
            (
                r#"{"rawId":"8:acs:u","communicationUser":{"x":[1],"id":"8:acs:u"}}"#,
                "8:acs:u",
                false,
            ),
            (
                r#"{"rawId":"8:acs:u","communicationUser":{"id":7}}"#,
                "8:acs:u",
                false,
            ),
            (
                r#"{"rawId":"8:acs:o","communicationUser":{"id":"8:acs:u"}}"#,
                "8:acs:u",
                false,
            ),
            (
                r#"{"phoneNumber":{"id":"x"},"communicationUser":{"id":"8:acs:u"}}"#,
                "8:acs:u",
                false,
            ),
            (
                r#"{"communicationUser":{"id":"8:acs:u"}}"#,
                "8:acs:u",
                false,
            ),
        ];
        for (json, raw_id, canonical) in cases {
            let (id, kept) = decode(json);
            assert_eq!(id, user(raw_id), "decoding {json}");
            assert_eq!(
                kept == KeptIdentifier::default(),
                canonical,
                "{json}: {kept:?}"
            );
            let written = kept.encode(&id, serde_json::value::Serializer).unwrap();
            let expected: Value = if canonical {
                serde_json::to_value(&id).unwrap()
            } else {
                serde_json::from_str(json).unwrap()
            };
            assert_eq!(written, expected, "re-encoding {json}");
        }
    }
}
