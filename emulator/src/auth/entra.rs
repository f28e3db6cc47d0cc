//! Entra ID (Azure AD) bearer tokens for the Identity API: the emulator plays both the
//! tenant that issues them and the resource that checks them.
//!
//! Real tenants sign with RS256 keys published at a JWKS endpoint; the emulator has no such
//! endpoint, so it signs with HS256 and a secret of its own, derived from the resource's access
//! key (HMAC-SHA256 of a fixed label). A data directory keeps the access key, so tokens minted
//! before a restart still verify after it, and no second secret has to be stored. Being
//! derived, the secret differs from the key that signs ACS user tokens: an Entra token is never
//! taken for a user token on chat routes, nor the other way round.
//!
//! A token verifies when it is `header.payload.signature` (base64url), its header says
//! `"alg":"HS256"`, the signature is the emulator's, `aud` is `https://communication.azure.com`
//! (with or without a trailing slash), `iss` is `https://sts.windows.net/{tenant}/` for the
//! emulator's tenant (its resource id), `nbf` ≤ now < `exp`, and `appid` is one of the app ids
//! the emulator was started with ([`EmulatorBuilder::entra_app`](crate::EmulatorBuilder::entra_app),
//! `--entra-app`). Times are compared without leeway, since issuer and checker share a clock.

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The audience Entra ID puts in tokens for the Communication Services data plane (scope
/// `https://communication.azure.com//.default`).
pub const ENTRA_AUDIENCE: &str = "https://communication.azure.com";

/// Lifetime of tokens from [`Emulator::entra_token`](crate::Emulator::entra_token), like a
/// typical Entra ID access token (Entra issues 60–90 minutes).
pub const ENTRA_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The label the signing secret is derived from the access key with.
const SECRET_LABEL: &[u8] = b"acs-chat-emulator/entra-signing-secret/v1";

type HmacSha256 = Hmac<Sha256>;

/// What a minted token says: [`Emulator::entra_token_with`](crate::Emulator::entra_token_with)
/// takes one, so tests can mint tokens that must be refused (another audience, expired, not yet
/// valid, another tenant).
///
/// ```
/// use acs_chat_emulator::auth::entra::EntraTokenOptions;
/// let options = EntraTokenOptions::new("my-app");
/// assert_eq!(options.audience, "https://communication.azure.com");
/// assert!(options.expires_on > options.not_before);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntraTokenOptions {
    /// The `appid` claim: the client application the token was issued to.
    pub app_id: String,
    /// The `aud` claim. Default: [`ENTRA_AUDIENCE`].
    pub audience: String,
    /// The tenant in `iss` and `tid`. Default (`None`): the emulator's tenant.
    pub tenant: Option<String>,
    /// The `iat` claim. Default: now.
    pub issued_at: DateTime<Utc>,
    /// The `nbf` claim. Default: now.
    pub not_before: DateTime<Utc>,
    /// The `exp` claim. Default: now + [`ENTRA_TOKEN_LIFETIME`].
    pub expires_on: DateTime<Utc>,
}

impl EntraTokenOptions {
    /// A valid token's claims for `app_id`, issued now for [`ENTRA_TOKEN_LIFETIME`].
    pub fn new(app_id: impl Into<String>) -> Self {
        let now = Utc::now();
        EntraTokenOptions {
            app_id: app_id.into(),
            audience: ENTRA_AUDIENCE.to_owned(),
            tenant: None,
            issued_at: now,
            not_before: now,
            expires_on: now + lifetime(ENTRA_TOKEN_LIFETIME),
        }
    }
}

fn lifetime(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

/// Why an Entra token was refused. Every reason is a 401 with code
/// `InvalidAuthenticationToken`; none carries the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntraError {
    /// Not three base64url parts of JSON, an algorithm other than HS256, or claims missing.
    Malformed,
    /// The signature is not the emulator's.
    BadSignature,
    /// `aud` is not `https://communication.azure.com`.
    WrongAudience,
    /// `iss` or `tid` names another tenant, or `iss` is not shaped like Entra's.
    WrongIssuer,
    /// `exp` has passed.
    Expired,
    /// `nbf` is still to come.
    NotYetValid,
    /// `appid` is not an app the emulator was configured with.
    UnknownApp,
}

impl EntraError {
    /// The message of the 401 body (contains no secret).
    pub fn message(self) -> &'static str {
        match self {
            EntraError::Malformed => "The access token is malformed.",
            EntraError::BadSignature => "The access token signature is invalid.",
            EntraError::WrongAudience => {
                "The access token audience is invalid: expected https://communication.azure.com."
            }
            EntraError::WrongIssuer => "The access token issuer is invalid for this tenant.",
            EntraError::Expired => "The access token has expired.",
            EntraError::NotYetValid => "The access token is not yet valid.",
            EntraError::UnknownApp => {
                "The access token's application is not authorized on this resource."
            }
        }
    }
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for EntraError {}

/// The application behind a verified Entra token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntraCaller {
    /// The `appid` claim.
    pub app_id: String,
    /// The `oid` claim: the app's service principal.
    pub object_id: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    appid: String,
    oid: String,
    tid: String,
    ver: String,
}

/// Mints and verifies the emulator's Entra tokens (see the [module docs](self)).
#[derive(Clone)]
pub struct EntraIssuer {
    secret: [u8; 32],
    tenant: String,
    apps: Vec<String>,
}

impl fmt::Debug for EntraIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signing secret is never printed.
        f.debug_struct("EntraIssuer")
            .field("tenant", &self.tenant)
            .field("apps", &self.apps)
            .finish_non_exhaustive()
    }
}

impl EntraIssuer {
    /// An issuer for tenant `tenant` whose secret derives from `access_key` (the decoded
    /// resource key), accepting tokens of `apps`.
    ///
    /// ```
    /// use acs_chat_emulator::auth::entra::{EntraError, EntraIssuer, EntraTokenOptions};
    /// let issuer = EntraIssuer::new(b"key", "tenant-1", vec!["my-app".into()]);
    /// let token = issuer.mint(&EntraTokenOptions::new("my-app"));
    /// assert_eq!(issuer.verify(&token, chrono::Utc::now())?.app_id, "my-app");
    /// let other = issuer.mint(&EntraTokenOptions::new("other-app"));
    /// assert_eq!(issuer.verify(&other, chrono::Utc::now()), Err(EntraError::UnknownApp));
    /// # Ok::<(), EntraError>(())
    /// ```
    pub fn new(access_key: &[u8], tenant: &str, apps: Vec<String>) -> EntraIssuer {
        let secret = mac(access_key, SECRET_LABEL).finalize().into_bytes().into();
        EntraIssuer {
            secret,
            tenant: tenant.to_owned(),
            apps,
        }
    }

    /// The tenant id in `iss` and `tid`.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Whether tokens of `app_id` are accepted.
    pub fn knows_app(&self, app_id: &str) -> bool {
        self.apps.iter().any(|a| a == app_id)
    }

    /// A signed token with `options`' claims (for any app id: verification decides).
    pub fn mint(&self, options: &EntraTokenOptions) -> String {
        let tenant = options.tenant.as_deref().unwrap_or(&self.tenant);
        let claims = Claims {
            aud: options.audience.clone(),
            iss: format!("https://sts.windows.net/{tenant}/"),
            iat: options.issued_at.timestamp(),
            nbf: options.not_before.timestamp(),
            exp: options.expires_on.timestamp(),
            appid: options.app_id.clone(),
            oid: self.object_id(&options.app_id),
            tid: tenant.to_owned(),
            ver: "1.0".to_owned(),
        };
        let header = Header {
            alg: "HS256".to_owned(),
            typ: "JWT".to_owned(),
        };
        let input = format!("{}.{}", segment(&header), segment(&claims));
        let signature =
            URL_SAFE_NO_PAD.encode(mac(&self.secret, input.as_bytes()).finalize().into_bytes());
        format!("{input}.{signature}")
    }

    /// The app behind `token` if it verifies at `now` (see the [module docs](self)).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<EntraCaller, EntraError> {
        let mut parts = token.split('.');
        let (Some(header_part), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(EntraError::Malformed);
        };
        let header: Header = decode(header_part)?;
        if header.alg != "HS256" {
            // Also refuses `none`: an unsigned token never gets as far as its claims.
            return Err(EntraError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| EntraError::Malformed)?;
        let input = &token[..header_part.len() + 1 + payload.len()];
        mac(&self.secret, input.as_bytes())
            .verify_slice(&signature)
            .map_err(|_| EntraError::BadSignature)?;
        let claims: Claims = decode(payload)?;
        if claims.aud.trim_end_matches('/') != ENTRA_AUDIENCE {
            return Err(EntraError::WrongAudience);
        }
        if claims.iss != format!("https://sts.windows.net/{}/", self.tenant)
            || claims.tid != self.tenant
        {
            return Err(EntraError::WrongIssuer);
        }
        let now = now.timestamp();
        if now >= claims.exp {
            return Err(EntraError::Expired);
        }
        if now < claims.nbf {
            return Err(EntraError::NotYetValid);
        }
        if !self.knows_app(&claims.appid) {
            return Err(EntraError::UnknownApp);
        }
        Ok(EntraCaller {
            app_id: claims.appid,
            object_id: claims.oid,
        })
    }

    /// A stable GUID-shaped object id for the service principal of `app_id`.
    fn object_id(&self, app_id: &str) -> String {
        let digest = Sha256::new()
            .chain_update(self.tenant.as_bytes())
            .chain_update([0])
            .chain_update(app_id.as_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

/// The 401 an identity route answers for a bearer token it cannot accept. No recording shows a
/// refused Entra token on the Identity API, so this is the shape Azure's data planes use for
/// one: `{"error":{"code":"InvalidAuthenticationToken","message":…}}`.
pub(crate) fn check_bearer(
    issuer: Option<&EntraIssuer>,
    token: &str,
) -> Result<EntraCaller, crate::wire::ApiError> {
    let refuse = |message: &str| {
        crate::wire::ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    };
    let issuer = issuer.ok_or_else(|| refuse("Entra ID tokens are not accepted here."))?;
    issuer.verify(token, Utc::now()).map_err(|e| {
        log::debug!("identity request refused: {e}");
        refuse(e.message())
    })
}

fn mac(key: &[u8], data: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac
}

fn segment<T: Serialize>(value: &T) -> String {
    // Plain structs of strings and integers always serialise.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

fn decode<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, EntraError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(EntraError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> EntraIssuer {
        EntraIssuer::new(b"unit-test-key", "tenant-a", vec!["app-1".into()])
    }

    /// A token minted for a configured app verifies and names the app.
    #[test]
    fn verify_accepts_minted_token() {
        let issuer = issuer();
        let token = issuer.mint(&EntraTokenOptions::new("app-1"));
        let caller = issuer.verify(&token, Utc::now()).expect("valid token");
        assert_eq!(caller.app_id, "app-1");
        assert_eq!(caller.object_id.len(), 36, "oid {:?}", caller.object_id);
    }

    /// The same access key gives the same secret (restarts), another key a different one.
    #[test]
    fn secret_derives_from_access_key() {
        let token = issuer().mint(&EntraTokenOptions::new("app-1"));
        assert!(issuer().verify(&token, Utc::now()).is_ok());
        let other = EntraIssuer::new(b"other key", "tenant-a", vec!["app-1".into()]);
        assert_eq!(
            other.verify(&token, Utc::now()),
            Err(EntraError::BadSignature)
        );
    }

    /// The signing secret and the derivation key never show in Debug.
    #[test]
    fn debug_hides_secret() {
        let issuer = issuer();
        let text = format!("{issuer:?}");
        assert!(!text.contains("unit-test-key"), "{text}");
        assert!(!text.contains(&format!("{:?}", issuer.secret)), "{text}");
    }

    /// Each claim that is wrong gives its own reason.
    #[test]
    fn verify_rejects_each_bad_claim() {
        let issuer = issuer();
        let now = Utc::now();
        let hour = chrono::TimeDelta::hours(1);
        let with = |f: &dyn Fn(&mut EntraTokenOptions)| {
            let mut o = EntraTokenOptions::new("app-1");
            f(&mut o);
            issuer.verify(&issuer.mint(&o), now)
        };
        assert_eq!(
            with(&|o| o.audience = "https://graph.microsoft.com".into()),
            Err(EntraError::WrongAudience)
        );
        assert!(with(&|o| o.audience = "https://communication.azure.com/".into()).is_ok());
        assert_eq!(
            with(&|o| o.tenant = Some("tenant-b".into())),
            Err(EntraError::WrongIssuer)
        );
        assert_eq!(
            with(&|o| o.expires_on = now - hour),
            Err(EntraError::Expired)
        );
        assert_eq!(
            with(&|o| o.not_before = now + hour),
            Err(EntraError::NotYetValid)
        );
        assert_eq!(
            with(&|o| o.app_id = "app-2".into()),
            Err(EntraError::UnknownApp)
        );
    }

    /// Garbage, `alg: none` and tampered payloads are refused without a panic.
    #[test]
    fn verify_rejects_malformed_and_tampered() {
        let issuer = issuer();
        let now = Utc::now();
        for garbage in ["", ".", "..", "a.b.c", "a.b.c.d", "é.é.é", "%%%.%%%.%%%"] {
            assert_eq!(
                issuer.verify(garbage, now),
                Err(EntraError::Malformed),
                "{garbage:?}"
            );
        }
        let token = issuer.mint(&EntraTokenOptions::new("app-1"));
        let (rest, sig) = token.rsplit_once('.').expect("three parts");
        let (_, payload) = rest.split_once('.').expect("three parts");
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            issuer.verify(&format!("{none}.{payload}."), now),
            Err(EntraError::Malformed)
        );
        let forged = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("b64"))
                .expect("utf8")
                .replace("app-1", "app-9"),
        );
        let header = rest.split('.').next().expect("header");
        assert_eq!(
            issuer.verify(&format!("{header}.{forged}.{sig}"), now),
            Err(EntraError::BadSignature)
        );
    }
}
