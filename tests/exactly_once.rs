//! Exactly-once sends (issue 11, part 3): `Error::may_have_taken_effect` and
//! `SendMessageOptions::idempotency_token` against the emulator's injected faults, including
//! connections closed after the message was stored and cut-short or malformed 201 bodies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use acs_chat::{
    ChatClientOptions, ChatMessageType, ChatThreadClient, Error, RetryOptions, SendMessageOptions,
    TransportOptions, IDEMPOTENCY_METADATA_KEY,
};
use acs_chat_emulator::{Emulator, Fault, Faults};

#[allow(dead_code)] // this test crate uses only some of the shared helpers
mod common;

use common::{chaos_faults, chat_client_with, new_thread_client};

const THREADS: usize = 8;
const SENDS: usize = 250;

fn options(max_retries: u32) -> ChatClientOptions {
    ChatClientOptions {
        transport_options: TransportOptions {
            retry: RetryOptions {
                max_retries,
                initial_delay: Duration::from_millis(2),
                max_delay: Duration::from_millis(20),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Every text message of `thread` by content, with its ids (faults must be off).
fn stored(thread: &ChatThreadClient) -> HashMap<String, Vec<String>> {
    let mut by_content: HashMap<String, Vec<String>> = HashMap::new();
    for m in thread.list_messages(None) {
        let m = m.expect("listing without faults");
        if m.message_type == ChatMessageType::Text {
            let text = m.content.and_then(|c| c.message).unwrap_or_default();
            by_content.entry(text).or_default().push(m.id);
        }
    }
    by_content
}

/// 8 threads × 250 sends with idempotency tokens, into two chat threads, at 20 % faults:
/// every send returns `Ok`, and every message is stored exactly once under the id returned.
#[test]
fn send_message_with_tokens_under_faults_stores_each_once() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    // Retries enough that 20 % faults (lookups included) cannot exhaust them in 2,000 sends.
    let chat = chat_client_with(&emu.endpoint(), &token, options(12));
    let threads = [
        new_thread_client(&chat, "exactly once A"),
        new_thread_client(&chat, "exactly once B"),
    ];
    emu.set_faults(chaos_faults(20261201, None));
    let before = emu.request_count();
    let started = Instant::now();
    let returned: Mutex<Vec<(usize, String, String)>> = Mutex::new(Vec::new());
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (thread, returned, failures) = (&threads[t % 2], &returned, &failures);
            s.spawn(move || {
                for i in 0..SENDS {
                    let content = format!("once {t}-{i}");
                    let options = SendMessageOptions {
                        idempotency_token: Some(uuid::Uuid::new_v4().to_string()),
                        ..Default::default()
                    };
                    match thread.send_message(&content, Some(options)) {
                        Ok(r) => returned.lock().expect("lock").push((t % 2, content, r.id)),
                        Err(e) => failures
                            .lock()
                            .expect("lock")
                            .push(format!("{content}: {e:?}")),
                    }
                }
            });
        }
    });
    let took = started.elapsed();
    let requests = emu.request_count() - before;
    emu.set_faults(Faults::default());
    let failures = failures.into_inner().expect("lock");
    let returned = returned.into_inner().expect("lock");
    let listed = [stored(&threads[0]), stored(&threads[1])];
    let mut wrong = Vec::new();
    for (chat_thread, content, id) in &returned {
        match listed[*chat_thread].get(content) {
            Some(ids) if ids.len() == 1 && ids[0] == *id => {}
            other => wrong.push(format!("{content}: returned {id}, stored {other:?}")),
        }
    }
    let stored_total: usize = listed.iter().flat_map(|l| l.values()).map(Vec::len).sum();
    println!(
        "with tokens: {} sends, {} Ok, {} errors, {} messages stored, {requests} requests in {took:?}",
        THREADS * SENDS,
        returned.len(),
        failures.len(),
        stored_total
    );
    assert!(
        failures.is_empty(),
        "sends failed: {:?}",
        &failures[..failures.len().min(5)]
    );
    assert!(
        wrong.is_empty(),
        "not stored once: {:?}",
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!(stored_total, THREADS * SENDS, "messages stored");
}

/// The same run without tokens: every `Ok` is stored exactly once, and every error that says
/// it did not take effect was not stored (an error that may have taken effect may or may not
/// have been).
#[test]
fn send_message_without_tokens_under_faults_reports_ambiguity_truthfully() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client_with(&emu.endpoint(), &token, options(3));
    let thread = new_thread_client(&chat, "at most once");
    emu.set_faults(chaos_faults(20261202, None));
    let outcomes: Mutex<Vec<(String, Result<String, Error>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (thread, outcomes) = (&thread, &outcomes);
            s.spawn(move || {
                for i in 0..SENDS {
                    let content = format!("plain {t}-{i}");
                    let r = thread.send_message(&content, None).map(|r| r.id);
                    outcomes.lock().expect("lock").push((content, r));
                }
            });
        }
    });
    emu.set_faults(Faults::default());
    let listed = stored(&thread);
    let outcomes = outcomes.into_inner().expect("lock");
    let (mut ok, mut ambiguous, mut ambiguous_stored, mut refused) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for (content, r) in &outcomes {
        let ids = listed.get(content).map(Vec::as_slice).unwrap_or(&[]);
        match r {
            Ok(id) => {
                ok += 1;
                if ids != [id.clone()] {
                    wrong.push(format!("{content}: Ok({id}) but stored {ids:?}"));
                }
            }
            Err(e) if e.may_have_taken_effect() => {
                ambiguous += 1;
                ambiguous_stored += usize::from(!ids.is_empty());
                if ids.len() > 1 {
                    wrong.push(format!("{content}: stored {} times", ids.len()));
                }
            }
            Err(e) => {
                refused += 1;
                if !ids.is_empty() {
                    wrong.push(format!(
                        "{content}: {e:?} says not taken effect, stored {ids:?}"
                    ));
                }
            }
        }
    }
    println!(
        "without tokens: {} sends, {ok} Ok, {ambiguous} may_have_taken_effect errors ({ambiguous_stored} of them stored), {refused} errors that did not take effect",
        outcomes.len()
    );
    assert!(
        wrong.is_empty(),
        "{} wrong: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(
        ambiguous > 0 && ok > 0,
        "the faults produced no ambiguity to check"
    );
}

/// One connection closed after the message was stored: with a token the send returns the
/// stored message's id and nothing is stored twice; without one, the error says it may have
/// taken effect (and it did).
#[test]
fn send_message_close_after_processing_is_found_not_repeated() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client_with(&emu.endpoint(), &token, options(3));
    let thread = new_thread_client(&chat, "close after");
    for fault in [
        Fault::CloseAfterProcessing,
        Fault::TruncatedBody,
        Fault::MalformedBody,
    ] {
        emu.set_faults(Faults::sequence(vec![Some(fault.clone())]));
        let content = format!("with token {fault:?}");
        let options = SendMessageOptions {
            idempotency_token: Some(format!("token-{fault:?}")),
            ..Default::default()
        };
        let sent = thread
            .send_message(&content, Some(options))
            .unwrap_or_else(|e| panic!("{fault:?}: {e:?}"));
        let ids = stored(&thread).remove(&content).unwrap_or_default();
        assert_eq!(ids, vec![sent.id.clone()], "{fault:?}: stored ids");
        let message = thread.get_message(&sent.id).expect("stored message");
        assert_eq!(
            message
                .metadata
                .as_ref()
                .and_then(|m| m.get(IDEMPOTENCY_METADATA_KEY))
                .map(String::as_str),
            Some(format!("token-{fault:?}").as_str()),
            "{fault:?}: the token is in the metadata"
        );

        emu.set_faults(Faults::sequence(vec![Some(fault.clone())]));
        let content = format!("without token {fault:?}");
        let err = thread
            .send_message(&content, None)
            .expect_err("an ambiguous failure, not retried");
        assert!(err.may_have_taken_effect(), "{fault:?}: {err:?}");
        assert_eq!(
            stored(&thread).get(&content).map(Vec::len),
            Some(1),
            "{fault:?}: stored once, not retried"
        );
    }
    // Closed before processing: nothing stored; with a token the retry stores it once.
    emu.set_faults(Faults::sequence(vec![Some(Fault::CloseBeforeProcessing)]));
    let options = SendMessageOptions {
        idempotency_token: Some("token-before".into()),
        ..Default::default()
    };
    thread
        .send_message("before", Some(options))
        .expect("retried after the look found nothing");
    assert_eq!(stored(&thread).get("before").map(Vec::len), Some(1));
}

/// A token that cannot be used, or metadata that uses the reserved key, is an
/// `InvalidArgument` before any request.
#[test]
fn send_message_bad_idempotency_token_sends_nothing() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let chat = chat_client_with(&emu.endpoint(), &token, options(3));
    let thread = new_thread_client(&chat, "bad tokens");
    let cases = [
        SendMessageOptions {
            idempotency_token: Some(String::new()),
            ..Default::default()
        },
        SendMessageOptions {
            idempotency_token: Some("a\r\nb".into()),
            ..Default::default()
        },
        SendMessageOptions {
            idempotency_token: Some("x".repeat(257)),
            ..Default::default()
        },
        SendMessageOptions {
            idempotency_token: Some("ok".into()),
            metadata: Some(HashMap::from([(
                IDEMPOTENCY_METADATA_KEY.to_string(),
                "mine".to_string(),
            )])),
            ..Default::default()
        },
    ];
    for options in cases {
        let before = emu.request_count();
        let shown = format!("{options:?}");
        let r = thread.send_message("x", Some(options));
        assert!(
            matches!(r, Err(Error::InvalidArgument { .. })),
            "{shown}: {r:?}"
        );
        assert_eq!(emu.request_count(), before, "{shown}: a request was sent");
    }
}
