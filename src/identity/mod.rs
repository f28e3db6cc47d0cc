//! Users and tokens: the ACS Identity API, signed with the resource access key (HMAC-SHA256)
//! or authenticated with Entra ID.
//!
//! - [`CommunicationIdentityClient`]: create and delete users; issue, exchange and revoke
//!   their access tokens (api-version [`DEFAULT_IDENTITY_API_VERSION`] by default).
//! - [`AzureKeyCredential`]: the access key (its `Debug` hides it).
//! - [`TokenCredential`]: Entra ID tokens for
//!   [`with_token_credential`](CommunicationIdentityClient::with_token_credential), with the
//!   cache and refresh rules in [`entra`].
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
//!
//! # Entra ID
//!
//! Where the resource has key authentication disabled, authenticate with an Entra ID
//! [`TokenCredential`]; against the emulator, start it with an app id and let it mint tokens:
//!
//! ```
//! use std::sync::Arc;
//! use acs_chat::identity::{CommunicationIdentityClient, TokenCredential};
//! use acs_chat::AccessToken;
//! let emu = Arc::new(acs_chat_emulator::Emulator::builder().entra_app("my-app").start()?);
//! let e = Arc::clone(&emu);
//! let credential = move |_scopes: &[&str]| Ok(AccessToken::from_jwt(e.entra_token("my-app"))?);
//! let identity = CommunicationIdentityClient::with_token_credential(
//!     &emu.endpoint(), Arc::new(credential), Default::default())?;
//! let user = identity.create_user()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! To wrap the credential of [`azure_identity`](https://docs.rs/azure_identity), see the
//! [crate docs](crate#entra-id-for-identity).

mod client;
pub mod entra;
pub mod hmac;
mod key_credential;
mod models;
mod teams_extension;

pub use client::{
    CommunicationIdentityClient, CommunicationIdentityClientOptions, DEFAULT_IDENTITY_API_VERSION,
};
pub use entra::TokenCredential;
pub use key_credential::AzureKeyCredential;
pub use models::CommunicationTokenScope;
pub use teams_extension::{
    TeamsExtensionAssignment, TeamsExtensionAssignmentRequest, TeamsExtensionExchangeRequest,
    TeamsExtensionPrincipalType, TeamsExtensionTokenResult, TEAMS_EXTENSION_MIN_API_VERSION,
};
