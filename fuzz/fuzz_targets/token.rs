//! Feeds arbitrary text to `AccessToken::from_jwt` and `CommunicationTokenCredential::new`,
//! as a JWT's payload and as a whole token, then asks the credential for its token. Nothing
//! may panic (a JWT whose `exp` sat near chrono's minimum once did), and whatever is accepted
//! can be sent as an `Authorization` header value.
#![no_main]

use acs_chat::{AccessToken, CommunicationTokenCredential, CommunicationTokenRefreshOptions};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

fn check(token: &str) {
    let parsed = AccessToken::from_jwt(token);
    if let Ok(credential) = CommunicationTokenCredential::new(token) {
        assert!(parsed.is_ok(), "the credential took what from_jwt refused");
        if let Ok(got) = credential.get_token() {
            assert_eq!(got.token, token, "the credential changed the token");
            assert!(
                got.token.len() <= acs_chat::credential::MAX_TOKEN_LEN
                    && got.token.bytes().all(|b| b.is_ascii_graphic()),
                "a token that cannot be a header value was accepted"
            );
        }
    }
    // The same token handed out by a refresher goes through the refresh path's arithmetic.
    if let Ok(token) = parsed {
        let refreshing = CommunicationTokenCredential::with_options(
            CommunicationTokenRefreshOptions::new(move || Ok(token.clone())),
        )
        .expect("no initial token to check");
        let _ = refreshing.get_token();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if selector % 2 == 0 {
        // The input as the claims: reaches the `exp` handling far more often.
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text.as_bytes());
        check(&format!("eyJhbGciOiJub25lIn0.{payload}.c2ln"));
    } else {
        check(&text);
    }
});
