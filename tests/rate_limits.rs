//! The SDK against the emulator's `--rate-limits`: its retries ride through the service's
//! documented throttling (429 with `Retry-After`/`retry-after-ms`).

use acs_chat::{ChatClient, CommunicationTokenCredential};
use acs_chat_emulator::Emulator;

/// A 1,000-message send loop on one thread (10 sends allowed per window; the window scaled
/// down from 10 s to 50 ms) completes without an error, and every message is stored once.
#[test]
fn send_loop_rides_through_rate_limits_with_retries() {
    let emu = Emulator::builder()
        .rate_limit_window(std::time::Duration::from_millis(50))
        .start()
        .expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(token).expect("credential"),
    )
    .expect("chat client");
    let thread_id = chat
        .create_chat_thread("throttled loop", None)
        .expect("create thread")
        .chat_thread
        .id;
    let thread = chat.get_chat_thread_client(&thread_id).expect("thread");
    let before = emu.request_count();
    for i in 0..1000 {
        thread
            .send_message(&format!("message {i}"), None)
            .unwrap_or_else(|e| panic!("send {i} failed through the rate limit: {e}"));
    }
    let requests = emu.request_count() - before;
    assert!(
        requests > 1000,
        "the limit never throttled: {requests} requests for 1,000 sends"
    );
    let state = emu.state();
    assert_eq!(
        state["threads"][0]["userMessageCount"], 1000,
        "each send stored exactly once: {}",
        state["threads"][0]
    );
    println!("1,000 sends took {requests} requests (429s retried)");
}
