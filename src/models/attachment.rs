//! `ChatAttachment`: images and files on Teams-interop messages.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::wire::{wire_model, Opt, Plain};

/// What kind of attachment a [`ChatAttachment`] is.
///
/// ```
/// use acs_chat::models::ChatAttachmentType;
/// assert_eq!("image".parse::<ChatAttachmentType>().unwrap(), ChatAttachmentType::Image);
/// assert_eq!(ChatAttachmentType::Unknown("video".into()).to_string(), "video");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChatAttachmentType {
    /// An inline image (`"image"`).
    Image,
    /// A file (`"file"`).
    File,
    /// A type this version of the crate does not know, as the service named it.
    Unknown(String),
}

impl ChatAttachmentType {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Image => "image",
            Self::File => "file",
            Self::Unknown(s) => s,
        }
    }
}

impl fmt::Display for ChatAttachmentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChatAttachmentType {
    type Err = std::convert::Infallible;

    /// Never fails: unknown names become `Unknown`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "image" => Self::Image,
            "file" => Self::File,
            other => Self::Unknown(other.to_owned()),
        })
    }
}

impl Serialize for ChatAttachmentType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ChatAttachmentType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let Ok(t) = s.parse();
        Ok(t)
    }
}

/// An image or file attached to a message. Only messages from Teams interop carry them; ACS
/// users cannot create attachments through this API.
///
/// ```
/// use acs_chat::models::{ChatAttachment, ChatAttachmentType};
/// let a: ChatAttachment = serde_json::from_str(
///     r#"{"id":"0-a","attachmentType":"image","name":"image","url":"https://x/img"}"#,
/// )?;
/// assert_eq!(a.attachment_type, ChatAttachmentType::Image);
/// assert_eq!(a.url.as_deref(), Some("https://x/img"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct ChatAttachment {
    /// The attachment's id.
    pub id: String,
    /// Image or file.
    pub attachment_type: ChatAttachmentType,
    /// The file name (with extension), if given.
    pub name: Option<String>,
    /// Where to download the attachment.
    pub url: Option<String>,
    /// Where to download a preview (images only).
    pub preview_url: Option<String>,
    /// Fields this version of the crate does not know (such as the 2023-11-07 `extension`),
    /// kept so that nothing the service sends is lost.
    pub additional_properties: Map<String, Value>,
}

wire_model!(ChatAttachment, "a chat attachment object", {
    id: Plain<String> = "id",
    attachment_type: Plain<ChatAttachmentType> = "attachmentType",
    name: Opt<String> = "name",
    url: Opt<String> = "url",
    preview_url: Opt<String> = "previewUrl",
});
