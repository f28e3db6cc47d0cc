//! User access tokens for chat calls.
//!
//! (Interim version: a static token whose `exp` is read from the JWT. Refreshing
//! credentials replace this in issue #4.)

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, TimeZone as _, Utc};

use crate::error::{Error, Result};

/// A user access token and the time it expires. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token text, sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working.
    pub expires_on: DateTime<Utc>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_on", &self.expires_on)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// Reads the `exp` claim of a JWT-shaped token without verifying its signature.
    pub fn from_jwt(token: impl Into<String>) -> Result<Self> {
        let token = token.into();
        let expires_on = jwt_expiry(&token)?;
        Ok(AccessToken { token, expires_on })
    }
}

fn jwt_expiry(token: &str) -> Result<DateTime<Utc>> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::credential("the token is not a JWT (expected three dot-separated parts)"));
    };
    let trimmed = payload.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|_| Error::credential("the token's payload is not base64"))?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| Error::credential("the token's payload is not JSON"))?;
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_f64())
        .ok_or_else(|| Error::credential("the token has no numeric `exp` claim"))?;
    Utc.timestamp_opt(exp.trunc() as i64, 0)
        .single()
        .ok_or_else(|| Error::credential("the token's `exp` claim is out of range"))
}

/// Holds the user access token that chat calls send. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct CommunicationTokenCredential {
    inner: Arc<AccessToken>,
}

impl fmt::Debug for CommunicationTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommunicationTokenCredential")
            .field("expires_on", &self.inner.expires_on)
            .finish_non_exhaustive()
    }
}

impl CommunicationTokenCredential {
    /// A credential for one static token. Fails when the token is not a JWT with a numeric `exp`.
    pub fn new(token: impl Into<String>) -> Result<Self> {
        Ok(CommunicationTokenCredential {
            inner: Arc::new(AccessToken::from_jwt(token)?),
        })
    }

    /// The token to send now. Fails, without sending anything, when it has expired.
    pub fn get_token(&self) -> Result<AccessToken> {
        if self.inner.expires_on <= Utc::now() {
            return Err(Error::credential(format!(
                "the static token expired at {}",
                self.inner.expires_on
            )));
        }
        Ok((*self.inner).clone())
    }

    /// Called by a client after the service rejected `token` with a 401. Returns `true` when a
    /// fresh token can be had, so the call is worth retrying once.
    pub(crate) fn invalidate(&self, _token: &AccessToken) -> bool {
        false
    }
}
