//! Users and tokens: create a user, issue a token, refresh it, revoke it, delete the user.
//!
//! Run it offline against the bundled emulator (started in-process):
//!
//! ```console
//! cargo run --example identity
//! ```
//!
//! or against a real Azure Communication Services resource:
//!
//! ```console
//! ACS_CONNECTION_STRING="endpoint=https://<resource>.communication.azure.com/;accesskey=<key>" \
//!     cargo run --example identity
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope};
use acs_chat::{ChatClient, CommunicationTokenCredential, CommunicationTokenRefreshOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the emulator (if any) alive until the end of `main`.
    let (connection_string, _emulator) = match std::env::var("ACS_CONNECTION_STRING") {
        Ok(cs) => (cs, None),
        Err(_) => {
            let emu = acs_chat_emulator::Emulator::start()?;
            println!(
                "ACS_CONNECTION_STRING is not set: using an emulator at {}",
                emu.endpoint()
            );
            (emu.connection_string(), Some(emu))
        }
    };
    let endpoint = connection_string
        .split(';')
        .find_map(|part| part.trim().strip_prefix("endpoint="))
        .ok_or("the connection string has no endpoint")?
        .to_owned();

    let identity = CommunicationIdentityClient::from_connection_string(&connection_string)?;

    // 1. A user.
    let user = identity.create_user()?;
    println!("1. created user {}", user.raw_id());

    // 2. A token for it (chat only, one hour).
    let token = identity.get_token(
        &user,
        &[CommunicationTokenScope::Chat],
        Some(Duration::from_secs(3600)),
    )?;
    println!("2. issued a chat token; it expires at {}", token.expires_on);

    // 3. A credential that refreshes itself by asking the Identity API again. In an app, the
    //    refresher would call your own backend, which holds the access key.
    let refreshes = Arc::new(AtomicUsize::new(0));
    let refresher = {
        let (identity, user, refreshes) = (identity.clone(), user.clone(), Arc::clone(&refreshes));
        move || {
            refreshes.fetch_add(1, Ordering::SeqCst);
            // Any error type will do (`?` boxes it): it comes back as the credential error's source.
            Ok(identity.get_token(&user, &[CommunicationTokenScope::Chat], None)?)
        }
    };
    let credential =
        CommunicationTokenCredential::with_options(CommunicationTokenRefreshOptions {
            token: Some(token.token),
            token_refresher: Box::new(refresher),
            proactive_refresh: true,
        })?;
    let chat = ChatClient::new(&endpoint, credential.clone())?;
    let thread = chat.create_chat_thread("Identity example", None)?;
    println!(
        "3. chat works with the token (thread created; refresher called {} times)",
        refreshes.load(Ordering::SeqCst)
    );

    // 4. Revoke: the token stops working; the next chat call sees a 401, refreshes once and
    //    retries with the new token.
    identity.revoke_tokens(&user)?;
    println!("4. revoked the user's tokens");
    let thread_id = thread.chat_thread.id;
    let properties = chat.get_chat_thread(&thread_id)?;
    println!(
        "   the next chat call still works (topic {:?}): the refresher ran {} time(s); new token expires at {}",
        properties.topic,
        refreshes.load(Ordering::SeqCst),
        credential.get_token()?.expires_on
    );

    // 5. Delete the user: its tokens stop working and it gets no new ones.
    identity.delete_user(&user)?;
    println!("5. deleted the user");
    match chat.get_chat_thread(&thread_id) {
        Ok(_) => println!("   unexpected: the deleted user's token still works"),
        Err(e) => {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!("{why}: {s}");
                source = s.source();
            }
            println!("   the deleted user's chat call fails as it should: {why}");
        }
    }
    credential.dispose();
    Ok(())
}
