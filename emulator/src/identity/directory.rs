//! Users of one emulated Communication Services resource, and their tokens.
//!
//! A [`Directory`] knows the resource id, its access key, the users it created (and deleted), and
//! when each user's tokens were last revoked. It issues user access tokens (see `token` for
//! their format) and validates the bearer tokens that chat calls carry.
//!
//! # Thread safety
//!
//! `Directory` is `Send + Sync`; share it behind an `Arc` between request handlers.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};

use super::teams_extension::{self, Assignment, Assignments};
use super::token::{self, Claims};
use crate::auth::{AuthError, Caller, Scope};
use crate::persist::{self, Persist};
use crate::store::Sequence;

/// The longest token lifetime the directory will encode; longer requests are clamped to it.
const MAX_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

#[derive(Clone, Copy, Default)]
struct UserRecord {
    /// Tokens whose `seq` is at most this value are revoked (0: none).
    revoked_through: u64,
    deleted: bool,
}

/// The users and tokens of one emulated resource: the resource id, its access key, the users
/// it created (and deleted), and when each user's tokens were last revoked.
///
/// Tokens are JWT-shaped and HMAC-SHA256-signed with the resource key; their payload reads the
/// same in standard and URL-safe base64 and carries a numeric `exp`. Revocation rejects every
/// token issued before it, even within the same millisecond. `Directory` is `Send + Sync`.
///
/// ```
/// use std::time::Duration;
/// use acs_chat_emulator::auth::{AuthError, Scope};
/// use acs_chat_emulator::identity::Directory;
///
/// let dir = Directory::new(b"resource key".to_vec());
/// let user = dir.create_user();
/// let (token, _expires_on) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(3600));
/// assert_eq!(dir.validate_bearer(&token)?.user_id, user);
///
/// dir.revoke(&user);
/// assert_eq!(dir.validate_bearer(&token), Err(AuthError::Revoked));
/// let (fresh, _) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(3600));
/// assert!(dir.validate_bearer(&fresh).is_ok());
/// # Ok::<(), AuthError>(())
/// ```
pub struct Directory {
    resource_id: String,
    key: Vec<u8>,
    /// The `seq` of the last token issued.
    last_seq: Sequence,
    users: Mutex<HashMap<String, UserRecord>>,
    /// Teams Extension assignments by `(tenantId, objectId)`.
    assignments: Mutex<Assignments>,
    /// With a data directory: where users, revocations and the issue counter are written.
    persist: Option<Arc<Persist>>,
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("resource_id", &self.resource_id)
            .field("tokens_issued", &self.last_seq.current())
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// A directory for a new resource with a random resource id, signing with `key` (the
    /// decoded access key).
    pub fn new(key: Vec<u8>) -> Directory {
        Directory::with_resource_id(key, uuid::Uuid::new_v4().to_string())
    }

    /// A directory for the resource `resource_id` (a GUID), signing with `key`.
    pub fn with_resource_id(key: Vec<u8>, resource_id: String) -> Directory {
        Directory {
            resource_id,
            key,
            last_seq: Sequence::default(),
            users: Mutex::new(HashMap::new()),
            assignments: Mutex::new(Assignments::new()),
            persist: None,
        }
    }

    /// The directory `db` holds (its users, revocations and token counter), signing with
    /// `key`, writing every change back to `db` before it returns.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(crate) fn open(
        key: Vec<u8>,
        resource_id: String,
        db: Arc<Persist>,
    ) -> std::io::Result<Directory> {
        let users = db
            .load_users()?
            .into_iter()
            .map(|(id, revoked_through, deleted)| {
                let record = UserRecord {
                    revoked_through,
                    deleted,
                };
                (id, record)
            })
            .collect::<HashMap<_, _>>();
        // Never below a revocation, even if the counter's row were older.
        let revoked = users.values().map(|u| u.revoked_through).max().unwrap_or(0);
        let stored = db
            .meta("token_seq")?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let assignments = match db.meta(teams_extension::PERSIST_KEY)? {
            None => Assignments::new(),
            Some(text) => teams_extension::from_persisted(&text).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the stored Teams Extension assignments are not readable",
                )
            })?,
        };
        Ok(Directory {
            resource_id,
            key,
            last_seq: Sequence::seeded(stored.max(revoked)),
            users: Mutex::new(users),
            assignments: Mutex::new(assignments),
            persist: Some(db),
        })
    }

    /// Writes what one identity call changes, in one transaction, before memory changes:
    /// `user`'s record (inserted into `users` once written) and the issue counter `seq`.
    /// Nothing is written without a data directory. When the write fails nothing changes,
    /// the failure is logged at warn with `what` (ids, never tokens or keys), and returned.
    fn apply(
        &self,
        what: &str,
        users: &mut HashMap<String, UserRecord>,
        user: Option<(&str, UserRecord)>,
        seq: Option<u64>,
    ) -> std::io::Result<()> {
        if let Some(db) = &self.persist {
            db.write(what, |tx| {
                if let Some((id, u)) = user {
                    persist::put_user(tx, id, u.revoked_through, u.deleted)?;
                }
                match seq {
                    // Before the token exists: a later revocation must cover it after a
                    // restart.
                    Some(seq) => persist::put_meta_max(
                        tx,
                        "token_seq",
                        i64::try_from(seq).unwrap_or(i64::MAX),
                    ),
                    None => Ok(()),
                }
            })
            .map_err(std::io::Error::other)?;
        }
        if let Some((id, u)) = user {
            users.insert(id.to_owned(), u);
        }
        Ok(())
    }

    /// The resource's id, the GUID inside every user id it creates.
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }

    /// The decoded access key. It is a secret: never log it.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserRecord>> {
        // A panic while holding the lock cannot leave a record half-written (every update is a
        // single field store), so a poisoned map is still consistent.
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every user (so every token issued so far stops working: its user is unknown)
    /// and every Teams Extension assignment. The resource id, key and token counter stay.
    pub fn clear(&self) {
        self.users().clear();
        self.assignments().clear();
    }

    /// Every user id the directory knows, sorted, with whether it was deleted. Never tokens.
    pub fn user_ids(&self) -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = self
            .users()
            .iter()
            .map(|(id, u)| (id.clone(), u.deleted))
            .collect();
        out.sort();
        out
    }

    /// Creates a user, `8:acs:<resourceId>_<uuid>`, and returns its id.
    ///
    /// With a data directory whose database refuses the write, nothing is created (the
    /// failure is logged at warn) and the id returned names no user:
    /// [`try_create_user`](Self::try_create_user) returns the error instead.
    pub fn create_user(&self) -> String {
        self.try_create_user()
            .unwrap_or_else(|_| format!("8:acs:{}_{}", self.resource_id, uuid::Uuid::nil()))
    }

    /// Creates a user and returns its id, or the data directory's write error (then nothing
    /// is created).
    ///
    /// # Errors
    /// The data directory's database refused the write.
    pub fn try_create_user(&self) -> std::io::Result<String> {
        let id = format!("8:acs:{}_{}", self.resource_id, uuid::Uuid::new_v4());
        let mut users = self.users();
        let record = UserRecord::default();
        self.apply(
            &format!("create user {id}"),
            &mut users,
            Some((&id, record)),
            None,
        )?;
        Ok(id)
    }

    /// Creates a user and issues it a token in one step: both or neither are stored. Returns
    /// the user id, the token and its expiry (see [`issue_token`](Self::issue_token)).
    ///
    /// # Errors
    /// The data directory's database refused the write; no user or token exists then.
    pub fn try_create_user_with_token(
        &self,
        scopes: &[Scope],
        lifetime: Duration,
    ) -> std::io::Result<(String, String, DateTime<Utc>)> {
        let id = format!("8:acs:{}_{}", self.resource_id, uuid::Uuid::new_v4());
        let mut users = self.users();
        let seq = self.last_seq.next();
        let record = UserRecord::default();
        let what = format!("create user {id} with a token");
        self.apply(&what, &mut users, Some((&id, record)), Some(seq))?;
        drop(users);
        let (token, expires_on) = self.mint(&id, scopes, lifetime, Utc::now(), seq);
        Ok((id, token, expires_on))
    }

    /// Registers a user id that did not come from [`create_user`](Self::create_user), such as a
    /// Teams user (`8:orgid:<oid>`) after a token exchange. Existing records are left alone.
    /// With a data directory whose database refuses the write nothing is registered (logged
    /// at warn); [`try_register_user`](Self::try_register_user) returns the error.
    pub fn register_user(&self, user_id: &str) {
        let _logged = self.try_register_user(user_id);
    }

    /// [`register_user`](Self::register_user), returning the data directory's write error.
    ///
    /// # Errors
    /// The data directory's database refused the write; nothing is registered then.
    pub fn try_register_user(&self, user_id: &str) -> std::io::Result<()> {
        let mut users = self.users();
        if users.contains_key(user_id) {
            return Ok(());
        }
        let what = format!("register user {user_id}");
        self.apply(
            &what,
            &mut users,
            Some((user_id, UserRecord::default())),
            None,
        )
    }

    /// Registers `user_id` (as [`register_user`](Self::register_user)) and issues it a token,
    /// in one step: both or neither are stored.
    ///
    /// # Errors
    /// The data directory's database refused the write; nothing changed then.
    pub fn try_register_user_with_token(
        &self,
        user_id: &str,
        scopes: &[Scope],
        lifetime: Duration,
    ) -> std::io::Result<(String, DateTime<Utc>)> {
        let mut users = self.users();
        let new = (!users.contains_key(user_id)).then(|| (user_id, UserRecord::default()));
        let seq = self.last_seq.next();
        let what = format!("register user {user_id} with a token");
        self.apply(&what, &mut users, new, Some(seq))?;
        drop(users);
        Ok(self.mint(user_id, scopes, lifetime, Utc::now(), seq))
    }

    fn assignments(&self) -> std::sync::MutexGuard<'_, Assignments> {
        // Every update is one map insert or removal, so a poisoned map is still consistent.
        self.assignments.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `next`, every assignment after a change, then makes it the map in memory: a
    /// write the data directory refuses (logged at warn by `write`) changes nothing.
    fn save_assignments(
        &self,
        what: &str,
        all: &mut Assignments,
        next: Assignments,
    ) -> std::io::Result<()> {
        if let Some(db) = &self.persist {
            let text = teams_extension::to_persisted(&next);
            db.write(what, |tx| {
                persist::put_meta(tx, teams_extension::PERSIST_KEY, &text)
            })
            .map_err(std::io::Error::other)?;
        }
        *all = next;
        Ok(())
    }

    /// The Teams Extension assignment of `object_id` in `tenant_id`.
    pub(crate) fn assignment(&self, tenant_id: &str, object_id: &str) -> Option<Assignment> {
        self.assignments()
            .get(&(tenant_id.to_owned(), object_id.to_owned()))
            .cloned()
    }

    /// Creates or replaces an assignment; `true` when it was created.
    ///
    /// # Errors
    /// The data directory's database refused the write; nothing changed then.
    pub(crate) fn put_assignment(
        &self,
        tenant_id: &str,
        object_id: &str,
        assignment: Assignment,
    ) -> std::io::Result<bool> {
        let mut all = self.assignments();
        let mut next = all.clone();
        let created = next
            .insert((tenant_id.to_owned(), object_id.to_owned()), assignment)
            .is_none();
        let what = format!("put the assignment of {object_id} in tenant {tenant_id}");
        self.save_assignments(&what, &mut all, next)?;
        Ok(created)
    }

    /// Removes an assignment; `true` when there was one.
    ///
    /// # Errors
    /// The data directory's database refused the write; nothing changed then.
    pub(crate) fn delete_assignment(
        &self,
        tenant_id: &str,
        object_id: &str,
    ) -> std::io::Result<bool> {
        let mut all = self.assignments();
        let key = (tenant_id.to_owned(), object_id.to_owned());
        if !all.contains_key(&key) {
            return Ok(false);
        }
        let mut next = all.clone();
        next.remove(&key);
        let what = format!("delete the assignment of {object_id} in tenant {tenant_id}");
        self.save_assignments(&what, &mut all, next)?;
        Ok(true)
    }

    /// Whether `user_id` was created here and not deleted.
    pub fn user_exists(&self, user_id: &str) -> bool {
        self.users().get(user_id).is_some_and(|u| !u.deleted)
    }

    /// Revokes every token issued to `user_id` so far; tokens issued afterwards work. Returns
    /// `false` (and does nothing) when the user does not exist, or when a data directory's
    /// database refuses the write (logged at warn; [`try_revoke`](Self::try_revoke) returns
    /// the error).
    pub fn revoke(&self, user_id: &str) -> bool {
        self.try_revoke(user_id).unwrap_or(false)
    }

    /// [`revoke`](Self::revoke), returning the data directory's write error.
    ///
    /// # Errors
    /// The data directory's database refused the write; nothing is revoked then.
    pub fn try_revoke(&self, user_id: &str) -> std::io::Result<bool> {
        let mut users = self.users();
        match users.get(user_id).copied() {
            Some(user) if !user.deleted => {
                let record = UserRecord {
                    revoked_through: self.last_seq.current(),
                    ..user
                };
                let what = format!("revoke the tokens of {user_id}");
                self.apply(&what, &mut users, Some((user_id, record)), None)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Deletes `user_id`: its tokens stop working and it can get no new ones. Returns `false`
    /// when the user does not exist (or was already deleted), or when a data directory's
    /// database refuses the write (logged at warn; [`try_delete_user`](Self::try_delete_user)
    /// returns the error).
    pub fn delete_user(&self, user_id: &str) -> bool {
        self.try_delete_user(user_id).unwrap_or(false)
    }

    /// [`delete_user`](Self::delete_user), returning the data directory's write error.
    ///
    /// # Errors
    /// The data directory's database refused the write; nothing is deleted then.
    pub fn try_delete_user(&self, user_id: &str) -> std::io::Result<bool> {
        let mut users = self.users();
        match users.get(user_id).copied() {
            Some(user) if !user.deleted => {
                let record = UserRecord {
                    deleted: true,
                    ..user
                };
                let what = format!("delete user {user_id}");
                self.apply(&what, &mut users, Some((user_id, record)), None)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Issues a token for `user_id` with `scopes`, valid for `lifetime` from now (any lifetime;
    /// the Identity API limits its callers to 1–24 hours, this does not). Returns the token and
    /// its expiry, to the millisecond: validation fails from that instant on. The token's `exp`
    /// claim is the expiry rounded down to a whole second, so a client that reads `exp` never
    /// believes a token is valid when the emulator would refuse it (`Duration::ZERO` gives a
    /// token that is expired at once, for both).
    ///
    /// The token is signed whatever `user_id` is, but [`validate_bearer`](Self::validate_bearer)
    /// only accepts tokens of existing users.
    pub fn issue_token(
        &self,
        user_id: &str,
        scopes: &[Scope],
        lifetime: Duration,
    ) -> (String, DateTime<Utc>) {
        self.issue_token_at(user_id, scopes, lifetime, Utc::now())
    }

    /// [`issue_token`](Self::issue_token) with the clock passed in.
    ///
    /// With a data directory whose database refuses to record the issue counter, the token
    /// returned is already expired (the failure is logged at warn), so no token the emulator
    /// did not record works: [`try_issue_token_at`](Self::try_issue_token_at) returns the
    /// error instead.
    pub fn issue_token_at(
        &self,
        user_id: &str,
        scopes: &[Scope],
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        self.try_issue_token_at(user_id, scopes, lifetime, now)
            .unwrap_or_else(|_| self.mint(user_id, scopes, Duration::ZERO, now, 0))
    }

    /// [`issue_token_at`](Self::issue_token_at), returning the data directory's write error.
    ///
    /// # Errors
    /// The data directory's database refused to record the issue counter; no token is issued.
    pub fn try_issue_token_at(
        &self,
        user_id: &str,
        scopes: &[Scope],
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> std::io::Result<(String, DateTime<Utc>)> {
        let seq = self.last_seq.next();
        let mut users = HashMap::new();
        self.apply(
            &format!("issue a token to {user_id}"),
            &mut users,
            None,
            Some(seq),
        )?;
        Ok(self.mint(user_id, scopes, lifetime, now, seq))
    }

    /// Signs a token with issue number `seq`.
    fn mint(
        &self,
        user_id: &str,
        scopes: &[Scope],
        lifetime: Duration,
        now: DateTime<Utc>,
        seq: u64,
    ) -> (String, DateTime<Utc>) {
        let lifetime =
            chrono::Duration::from_std(lifetime.min(MAX_LIFETIME)).unwrap_or(chrono::Duration::MAX);
        let expires_on = now
            .checked_add_signed(lifetime)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        // Millisecond precision: what the `expMs` claim holds and validation compares with.
        let exp_ms = expires_on.timestamp_millis();
        let expires_on = Utc
            .timestamp_millis_opt(exp_ms)
            .single()
            .unwrap_or(expires_on);
        let scope_list: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        let claims = Claims {
            skypeid: user_id.strip_prefix("8:").unwrap_or(user_id).to_owned(),
            scp: 1792,
            csi: now.timestamp().to_string(),
            exp: expires_on.timestamp(),
            exp_ms,
            rgn: "emulator".to_owned(),
            acs_scope: scope_list.join(","),
            resource_id: self.resource_id.clone(),
            resource_location: "local".to_owned(),
            iat: now.timestamp(),
            seq,
        };
        (token::mint(&self.key, &claims), expires_on)
    }

    /// Checks a bearer token (without the `Bearer ` prefix) against the current time.
    pub fn validate_bearer(&self, token: &str) -> Result<Caller, AuthError> {
        self.validate_bearer_at(token, Utc::now())
    }

    /// Checks the value of an `Authorization` header: `Bearer <token>` (scheme case-insensitive).
    pub fn validate_authorization(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let value = authorization.ok_or(AuthError::MissingCredentials)?.trim();
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::MissingCredentials)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::MissingCredentials);
        }
        self.validate_bearer(token.trim())
    }

    /// [`validate_bearer`](Self::validate_bearer) with the clock passed in.
    pub fn validate_bearer_at(&self, token: &str, now: DateTime<Utc>) -> Result<Caller, AuthError> {
        let claims = token::open(&self.key, token)?;
        let scopes = if claims.acs_scope.is_empty() {
            Vec::new()
        } else {
            claims
                .acs_scope
                .split(',')
                .map(Scope::parse)
                .collect::<Option<Vec<_>>>()
                .ok_or(AuthError::MalformedToken)?
        };
        if now.timestamp_millis() >= claims.exp_ms {
            return Err(AuthError::Expired);
        }
        if claims.resource_id != self.resource_id {
            return Err(AuthError::UnknownUser);
        }
        let user_id = format!("8:{}", claims.skypeid);
        let users = self.users();
        let user = users.get(&user_id).ok_or(AuthError::UnknownUser)?;
        if user.deleted {
            return Err(AuthError::DeletedUser);
        }
        if claims.seq <= user.revoked_through {
            return Err(AuthError::Revoked);
        }
        Ok(Caller { user_id, scopes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    fn directory() -> Directory {
        Directory::new(b"unit-test-key".to_vec())
    }

    fn payload_json(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).expect("token has a payload part");
        // Decode as Python's CommunicationTokenCredential does: standard alphabet, "==" added.
        let padded = format!("{payload}==");
        let trimmed = padded.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .unwrap_or_else(|e| panic!("payload {payload:?} is not standard base64: {e}"));
        serde_json::from_slice(&bytes).expect("payload is JSON")
    }

    /// Token segments decode with the standard alphabet and contain only letters and digits.
    #[test]
    fn issue_token_segments_alphanumeric() {
        let dir = directory();
        for weird in [
            "8:acs:x_y",
            "8:acs:>>>???~~~",
            "8:acs:ünïcødé-😀",
            "8:acs:a~b?c>d",
        ] {
            let (token, _) = dir.issue_token(weird, &Scope::ALL, Duration::from_secs(60));
            let parts: Vec<&str> = token.split('.').collect();
            assert_eq!(parts.len(), 3, "token parts: {parts:?}");
            for part in &parts[..2] {
                assert!(
                    part.bytes().all(|b| b.is_ascii_alphanumeric()),
                    "segment {part:?} of the token for {weird:?} has non-alphanumerics"
                );
                assert!(
                    STANDARD.decode(part).is_ok(),
                    "segment {part:?} is not standard base64"
                );
            }
            let claims = payload_json(&token);
            assert_eq!(
                claims["skypeid"],
                weird.trim_start_matches("8:"),
                "claims: {claims}"
            );
        }
    }

    /// The payload has a numeric `exp` at or after the returned expiry, and the scopes.
    #[test]
    fn issue_token_payload_has_numeric_exp() {
        let dir = directory();
        let user = dir.create_user();
        let now = Utc.timestamp_opt(1_800_000_000, 500_000_000).unwrap();
        let (token, expires_on) = dir.issue_token_at(
            &user,
            &[Scope::Chat, Scope::Voip],
            Duration::from_secs(3600),
            now,
        );
        let claims = payload_json(&token);
        assert_eq!(
            claims["exp"],
            serde_json::json!(1_800_003_600),
            "claims: {claims}"
        );
        assert_eq!(
            claims["expMs"],
            serde_json::json!(1_800_003_600_500_i64),
            "claims: {claims}"
        );
        assert_eq!(
            claims["iat"],
            serde_json::json!(1_800_000_000),
            "claims: {claims}"
        );
        assert_eq!(claims["acsScope"], "chat,voip", "claims: {claims}");
        assert_eq!(claims["resourceId"], dir.resource_id(), "claims: {claims}");
        assert_eq!(
            expires_on,
            now + chrono::Duration::seconds(3600),
            "expiry returned"
        );
    }

    /// A fresh token validates to its user and scopes.
    #[test]
    fn validate_bearer_accepts_fresh_token() {
        let dir = directory();
        let user = dir.create_user();
        let (token, _) = dir.issue_token(&user, &[Scope::ChatJoin], Duration::from_secs(60));
        let caller = dir.validate_bearer(&token);
        assert_eq!(
            caller,
            Ok(Caller {
                user_id: user.clone(),
                scopes: vec![Scope::ChatJoin]
            })
        );
        let header = format!("bearer {token}");
        assert!(
            dir.validate_authorization(Some(&header)).is_ok(),
            "lowercase scheme refused"
        );
    }

    /// A token is rejected from its `exp` on.
    #[test]
    fn validate_bearer_rejects_expired_token() {
        let dir = directory();
        let user = dir.create_user();
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let (token, _) = dir.issue_token_at(&user, &[Scope::Chat], Duration::from_secs(5), now);
        let seen = dir.validate_bearer_at(&token, now + chrono::Duration::seconds(4));
        assert!(seen.is_ok(), "4 s into a 5 s token: {seen:?}");
        let seen = dir.validate_bearer_at(&token, now + chrono::Duration::seconds(5));
        assert_eq!(seen, Err(AuthError::Expired));
        let (zero, expires_on) = dir.issue_token(&user, &[Scope::Chat], Duration::ZERO);
        assert_eq!(
            dir.validate_bearer_at(&zero, expires_on),
            Err(AuthError::Expired)
        );
        let exp = payload_json(&zero)["exp"].as_i64().expect("numeric exp");
        assert!(
            exp <= Utc::now().timestamp(),
            "zero-lifetime token has exp {exp} in the future"
        );
    }

    /// Revocation rejects earlier tokens and accepts ones issued right after it.
    #[test]
    fn revoke_rejects_only_earlier_tokens() {
        let dir = directory();
        let user = dir.create_user();
        let other = dir.create_user();
        let (old, _) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
        let (other_token, _) = dir.issue_token(&other, &[Scope::Chat], Duration::from_secs(60));
        assert!(
            dir.revoke(&user),
            "revoke of an existing user returned false"
        );
        let (new, _) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
        assert_eq!(dir.validate_bearer(&old), Err(AuthError::Revoked));
        assert!(
            dir.validate_bearer(&new).is_ok(),
            "token after revoke: {:?}",
            dir.validate_bearer(&new)
        );
        assert!(
            dir.validate_bearer(&other_token).is_ok(),
            "other user's token was revoked"
        );
        assert!(
            !dir.revoke("8:acs:nobody"),
            "revoke of an unknown user returned true"
        );
    }

    /// Deleted and unknown users' tokens are rejected.
    #[test]
    fn validate_bearer_rejects_deleted_and_unknown_users() {
        let dir = directory();
        let user = dir.create_user();
        let (token, _) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
        assert!(dir.delete_user(&user), "delete returned false");
        assert!(!dir.user_exists(&user), "deleted user still exists");
        assert!(!dir.delete_user(&user), "second delete returned true");
        assert_eq!(dir.validate_bearer(&token), Err(AuthError::DeletedUser));
        let stranger = format!("8:acs:{}_stranger", dir.resource_id());
        let (token, _) = dir.issue_token(&stranger, &[Scope::Chat], Duration::from_secs(60));
        assert_eq!(dir.validate_bearer(&token), Err(AuthError::UnknownUser));
    }

    /// Tampered tokens, other keys and garbage are rejected with typed errors.
    #[test]
    fn validate_bearer_rejects_forged_tokens() {
        let dir = directory();
        let user = dir.create_user();
        let (token, _) = dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
        let other =
            Directory::with_resource_id(b"other key".to_vec(), dir.resource_id().to_owned());
        let (foreign, _) = other.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
        assert_eq!(dir.validate_bearer(&foreign), Err(AuthError::BadSignature));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(br#"{"exp":99999999999}"#);
        assert_eq!(
            dir.validate_bearer(&parts.join(".")),
            Err(AuthError::BadSignature)
        );
        for garbage in [
            "",
            "a.b",
            "a.b.c.d",
            "x.y.!!!",
            "..",
            "\u{1F600}.\u{1F600}.\u{1F600}",
        ] {
            assert!(
                matches!(
                    dir.validate_bearer(garbage),
                    Err(AuthError::MalformedToken | AuthError::BadSignature)
                ),
                "{garbage:?} gave {:?}",
                dir.validate_bearer(garbage)
            );
        }
        assert_eq!(
            dir.validate_authorization(None),
            Err(AuthError::MissingCredentials)
        );
        assert_eq!(
            dir.validate_authorization(Some("Basic abc")),
            Err(AuthError::MissingCredentials)
        );
    }

    /// Debug output of the directory and errors carries no key.
    #[test]
    fn directory_debug_hides_key() {
        let dir = Directory::new(b"super-secret-key-material".to_vec());
        let text = format!("{dir:?}");
        assert!(
            !text.contains("super-secret"),
            "Debug shows the key: {text}"
        );
        assert!(
            text.contains(dir.resource_id()),
            "Debug lacks the resource id: {text}"
        );
    }

    /// Users, tokens and revocations from many threads at once stay consistent.
    #[test]
    fn directory_concurrent_use_stays_consistent() {
        let dir = std::sync::Arc::new(directory());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let dir = std::sync::Arc::clone(&dir);
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    for _ in 0..50 {
                        let user = dir.create_user();
                        let (old, _) =
                            dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
                        dir.revoke(&user);
                        let (new, _) =
                            dir.issue_token(&user, &[Scope::Chat], Duration::from_secs(60));
                        seen.push((
                            dir.validate_bearer(&old),
                            dir.validate_bearer(&new).map(|c| c.user_id == user),
                        ));
                    }
                    seen
                })
            })
            .collect();
        for handle in handles {
            for (old, new) in handle.join().expect("worker thread") {
                assert_eq!(old, Err(AuthError::Revoked), "token issued before revoke");
                assert_eq!(new, Ok(true), "token issued after revoke");
            }
        }
        assert_eq!(dir.last_seq.current(), 800, "tokens issued");
    }
}
