//! The resource access key and the connection string that carries it.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;

use crate::error::{Error, Result};

/// The resource's access key, used to sign Identity API requests (HMAC-SHA256).
///
/// Only the decoded key bytes are kept. `Debug` never shows them, and no error this crate
/// returns contains them. Clones share the key, so [`update`](Self::update) rotates it for
/// every client built from any clone.
///
/// ```
/// use acs_chat::identity::{AzureKeyCredential, CommunicationIdentityClient};
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// let key = AzureKeyCredential::new(emu.access_key())?;
/// assert_eq!(format!("{key:?}"), "AzureKeyCredential { .. }");
/// let client = CommunicationIdentityClient::new(&emu.endpoint(), key)?;
/// let user = client.create_user()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AzureKeyCredential {
    key: Arc<RwLock<Arc<[u8]>>>,
}

impl fmt::Debug for AzureKeyCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureKeyCredential").finish_non_exhaustive()
    }
}

impl AzureKeyCredential {
    /// A credential for a base64-encoded access key (as the Azure portal shows it).
    ///
    /// Fails with [`Error::InvalidConnectionString`] when the key is empty or not base64; the
    /// error does not contain the key.
    ///
    /// ```
    /// use acs_chat::identity::AzureKeyCredential;
    /// assert!(AzureKeyCredential::new("c2VjcmV0").is_ok());
    /// let err = AzureKeyCredential::new("secret!").unwrap_err();
    /// assert!(!err.to_string().contains("secret!"));
    /// ```
    pub fn new(key: impl AsRef<str>) -> Result<Self> {
        Ok(AzureKeyCredential {
            key: Arc::new(RwLock::new(decode_key(key.as_ref())?)),
        })
    }

    /// Replaces the key (after a key rotation) for this credential and all its clones. The old
    /// key stays in place when the new one is rejected.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// use acs_chat::identity::{AzureKeyCredential, CommunicationIdentityClient};
    /// let key = AzureKeyCredential::new("b2xkLWtleQ==")?;
    /// let client = CommunicationIdentityClient::new(&emu.endpoint(), key.clone())?;
    /// assert_eq!(client.create_user().unwrap_err().status(), Some(401)); // wrong key
    /// key.update(emu.access_key())?;
    /// client.create_user()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update(&self, key: impl AsRef<str>) -> Result<()> {
        let decoded = decode_key(key.as_ref())?;
        *self.key.write().unwrap_or_else(PoisonError::into_inner) = decoded;
        Ok(())
    }

    /// Runs `f` with the decoded key bytes.
    pub(crate) fn with_key<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let key = Arc::clone(&self.key.read().unwrap_or_else(PoisonError::into_inner));
        f(&key)
    }
}

fn decode_key(key: &str) -> Result<Arc<[u8]>> {
    let key = key.trim();
    if key.is_empty() {
        return Err(Error::InvalidConnectionString(
            "the access key is empty".to_owned(),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| {
            Error::InvalidConnectionString("the access key is not valid base64".to_owned())
        })?;
    Ok(bytes.into())
}

/// The two parts of a connection string `endpoint=https://…/;accesskey=<base64>`.
pub(crate) struct ConnectionString {
    pub(crate) endpoint: String,
    pub(crate) credential: AzureKeyCredential,
}

impl ConnectionString {
    /// Parses `endpoint=…;accesskey=…` (names case-insensitive, in any order, empty segments
    /// and unknown names ignored). Errors name the problem but never echo any value, since a
    /// malformed string may have the key anywhere in it.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidConnectionString(why.to_owned());
        let mut endpoint = None;
        let mut access_key = None;
        for segment in text.split(';') {
            let segment = segment.trim();
            if segment.is_empty() {
                continue;
            }
            let Some((name, value)) = segment.split_once('=') else {
                return Err(bad(
                    "expected `name=value` segments separated by `;` (endpoint=…;accesskey=…)",
                ));
            };
            let slot = match name.trim().to_ascii_lowercase().as_str() {
                "endpoint" => &mut endpoint,
                "accesskey" => &mut access_key,
                _ => continue,
            };
            if slot.replace(value.trim()).is_some() {
                return Err(bad(&format!(
                    "`{}` appears more than once",
                    name.trim().to_ascii_lowercase()
                )));
            }
        }
        let endpoint = endpoint
            .filter(|e| !e.is_empty())
            .ok_or_else(|| bad("the `endpoint` part is missing or empty"))?;
        let access_key = access_key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| bad("the `accesskey` part is missing or empty"))?;
        Ok(ConnectionString {
            endpoint: endpoint.to_owned(),
            credential: AzureKeyCredential::new(access_key)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "c2VjcmV0LWtleS1ieXRlcw==";

    /// A well-formed connection string yields its endpoint and the decoded key.
    #[test]
    fn parse_connection_string_reads_both_parts() {
        let cs = ConnectionString::parse(&format!(
            " Endpoint=https://contoso.example/ ; AccessKey={KEY};"
        ))
        .expect("valid connection string");
        assert_eq!(cs.endpoint, "https://contoso.example/");
        cs.credential
            .with_key(|k| assert_eq!(k, b"secret-key-bytes", "decoded key {k:?}"));
    }

    /// Every malformed form is rejected with a message that never contains the key.
    #[test]
    fn parse_connection_string_rejects_bad_input_without_echoing_key() {
        let secret = "c2VjcmV0IQ==";
        let cases = [
            format!("endpoint=https://x/;accesskey={secret}!!"),
            format!("endpoint=https://x/;{secret}"),
            format!("accesskey={secret}"),
            "endpoint=https://x/".to_owned(),
            format!("endpoint=https://x/;accesskey={secret};accesskey={secret}"),
            format!("endpoint=;accesskey={secret}"),
            "endpoint=https://x/;accesskey=".to_owned(),
            String::new(),
            secret.to_owned(),
        ];
        for case in cases {
            let Err(err) = ConnectionString::parse(&case) else {
                panic!("accepted a malformed connection string");
            };
            let shown = format!("{err} {err:?}");
            assert!(
                matches!(err, Error::InvalidConnectionString(_)),
                "wrong variant: {shown}"
            );
            assert!(!shown.contains("c2VjcmV0"), "key echoed: {shown}");
        }
    }

    /// A rotated key replaces the old one for every clone; a bad rotation keeps the old key.
    #[test]
    fn update_key_rotates_for_clones() {
        let key = AzureKeyCredential::new(KEY).expect("valid key");
        let clone = key.clone();
        key.update("YWJj").expect("valid key");
        clone.with_key(|k| assert_eq!(k, b"abc", "key after rotation {k:?}"));
        assert!(key.update("not base64!").is_err());
        clone.with_key(|k| assert_eq!(k, b"abc", "key after a rejected rotation {k:?}"));
        assert_eq!(format!("{key:?}"), "AzureKeyCredential { .. }");
    }
}
