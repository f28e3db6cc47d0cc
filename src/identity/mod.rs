//! Users and tokens: the ACS Identity API, signed with the resource access key (HMAC-SHA256).
//!
//! - [`CommunicationIdentityClient`]: create and delete users; issue, exchange and revoke
//!   their access tokens (api-version [`DEFAULT_IDENTITY_API_VERSION`] by default).
//! - [`AzureKeyCredential`]: the access key (its `Debug` hides it).
//! - [`CommunicationTokenScope`]: what a token may be used for.
//! - [`hmac`]: the request signing itself, a pure function.
//! - Teams Extension (Teams Phone, api-version 2025-06-30 and later): the token exchange
//!   ([`CommunicationIdentityClient::exchange_teams_extension_token`]) and the access
//!   assignments (get, create or update, delete; [`TeamsExtensionAssignment`]).
//!
//! ```
//! use std::time::Duration;
//! use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope};
//! # let emu = acs_chat_emulator::Emulator::start()?;
//! let identity = CommunicationIdentityClient::from_connection_string(&emu.connection_string())?;
//! let user = identity.create_user()?;
//! let token = identity.get_token(&user, &[CommunicationTokenScope::Chat], Some(Duration::from_secs(3600)))?;
//! let credential = acs_chat::CommunicationTokenCredential::new(token.token)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
pub mod hmac;
mod key_credential;
mod models;
mod teams_extension;

pub use client::{
    CommunicationIdentityClient, CommunicationIdentityClientOptions, DEFAULT_IDENTITY_API_VERSION,
};
pub use key_credential::AzureKeyCredential;
pub use models::CommunicationTokenScope;
pub use teams_extension::{
    TeamsExtensionAssignment, TeamsExtensionAssignmentRequest, TeamsExtensionExchangeRequest,
    TeamsExtensionPrincipalType, TeamsExtensionTokenResult, TEAMS_EXTENSION_MIN_API_VERSION,
};
