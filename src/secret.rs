//! [`Secret`]: text that must never print.

use std::fmt;

/// A secret string (a signature, a webhook key): `Debug` prints `Secret`, never the text, and
/// there is no `Display`, so it cannot slip into a log line or an error message by accident.
/// Read it with [`expose`](Self::expose) where it is really needed.
///
/// ```
/// use acs_chat::Secret;
/// let secret = Secret::new("s3cr3t");
/// assert_eq!(format!("{secret:?}"), "Secret");
/// assert_eq!(secret.expose(), "s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret")
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Debug` of a secret, alone or inside a struct, never shows its text.
    #[test]
    fn debug_secret_hides_text() {
        #[derive(Debug)]
        #[allow(dead_code)] // read only through Debug, which is what the test checks.
        struct Holder {
            name: &'static str,
            key: Secret,
        }
        let holder = Holder {
            name: "n",
            key: Secret::new("hunter2-value"),
        };
        let debug = format!("{holder:?} {:#?}", holder.key);
        assert!(!debug.contains("hunter2"), "secret text in Debug: {debug}");
        assert!(debug.contains("key: Secret"), "what Debug showed: {debug}");
    }
}
