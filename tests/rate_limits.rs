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

/// One loop's call: its index in, the call made (panicking on an error).
type Call<'a> = Box<dyn FnMut(usize) + 'a>;

/// The emulator's requests served while `f` ran.
fn requests_for(emu: &Emulator, f: impl FnOnce()) -> u64 {
    let before = emu.request_count();
    f();
    emu.request_count() - before
}

/// Every chat operation the service's table limits, called past its rate in a loop (the
/// 10 s window scaled to 500 ms): the SDK's retries take each through without an error, and
/// each loop needed more requests than calls (so it was throttled).
#[test]
fn chat_operations_ride_through_rate_limits_with_retries() {
    use acs_chat::{ChatParticipant, CommunicationIdentifier};
    let emu = Emulator::builder()
        .rate_limit_window(std::time::Duration::from_millis(500))
        .start()
        .expect("emulator");
    let (_user, token) = emu.user_with_token();
    let (other, other_token) = emu.user_with_token();
    let chat = ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(token).expect("credential"),
    )
    .expect("chat client");
    let other_chat = ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(other_token).expect("credential"),
    )
    .expect("chat client");
    let tid = chat
        .create_chat_thread("throttled", None)
        .expect("create thread")
        .chat_thread
        .id;
    let thread = chat.get_chat_thread_client(&tid).expect("thread");
    let mid = thread.send_message("read me", None).expect("send");
    let guest = CommunicationIdentifier::communication_user(emu.create_user());
    let mut created = Vec::new();
    // (operation, calls: past the per-10 s count, within any per-minute one)
    let loops: Vec<(&str, usize, Call<'_>)> = vec![
        (
            "update thread",
            11,
            Box::new(|i| {
                thread
                    .update_topic(&format!("topic {i}"))
                    .expect("update topic")
            }),
        ),
        (
            "typing",
            11,
            Box::new(|_| thread.send_typing_notification(None).expect("typing")),
        ),
        (
            "list read receipts",
            11,
            Box::new(|_| {
                for r in thread.list_read_receipts(None) {
                    r.expect("receipt page");
                }
            }),
        ),
        (
            "add/remove participants",
            25,
            Box::new(|i| {
                if i % 2 == 0 {
                    thread
                        .add_participant(&ChatParticipant::new(guest.clone()))
                        .expect("add")
                } else {
                    thread.remove_participant(&guest).expect("remove")
                }
            }),
        ),
        (
            "send read receipt",
            21,
            Box::new(|_| thread.send_read_receipt(&mid.id).expect("receipt")),
        ),
        (
            "list participants",
            21,
            Box::new(|_| {
                for p in thread.list_participants(None) {
                    p.expect("participant page");
                }
            }),
        ),
        (
            "create thread",
            21,
            Box::new(|i| {
                let opts = acs_chat::CreateChatThreadOptions {
                    participants: vec![ChatParticipant::new(
                        CommunicationIdentifier::communication_user(other.clone()),
                    )],
                    ..Default::default()
                };
                let t = chat
                    .create_chat_thread(&format!("made {i}"), Some(opts))
                    .expect("create")
                    .chat_thread
                    .id;
                created.push(t);
            }),
        ),
    ];
    for (name, calls, mut call) in loops {
        let requests = requests_for(&emu, || (0..calls).for_each(&mut call));
        assert!(
            requests > calls as u64,
            "{name}: {requests} requests for {calls} calls, never throttled"
        );
        println!("{name}: {calls} calls took {requests} requests (429s retried)");
    }
    let deletes = requests_for(&emu, || {
        for t in &created {
            other_chat.delete_chat_thread(t).expect("delete thread");
        }
    });
    assert!(
        deletes > created.len() as u64,
        "delete thread: {deletes} requests for {} deletes, never throttled",
        created.len()
    );
}

/// Past 1,000 identity creations in the (scaled) 30 s the emulator answers 429 with a wait
/// longer than the call's time, so the identity client gives up with that 429 at once.
#[test]
fn identity_creations_past_the_rate_answer_429() {
    use acs_chat::identity::CommunicationIdentityClient;
    let emu = Emulator::builder()
        .rate_limit_window(std::time::Duration::from_secs(3600))
        .start()
        .expect("emulator");
    let identity = CommunicationIdentityClient::from_connection_string(&emu.connection_string())
        .expect("identity client");
    for i in 0..1000 {
        identity
            .create_user()
            .unwrap_or_else(|e| panic!("creation {i} within the rate failed: {e}"));
    }
    let seen = identity.create_user();
    assert_eq!(
        seen.as_ref().err().and_then(|e| e.status()),
        Some(429),
        "the 1,001st creation: {seen:?}"
    );
}
