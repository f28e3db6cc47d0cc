//! Chaos: 1,000 mixed operations through one client shared by 8 threads against an emulator
//! failing 20% of requests. Every call succeeds or returns a typed error, every message whose
//! send succeeded is listed exactly once, no call outlives its timeout, and no log line carries
//! a token or message content.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use acs_chat::{
    ChatClientOptions, ChatMessageType, ChatParticipant, ChatThreadClient, CommunicationIdentifier,
    Error, ListMessagesOptions, ListParticipantsOptions, RetryOptions, TransportOptions,
    TypingNotificationOptions, UpdateMessageOptions,
};
use acs_chat_emulator::{Emulator, Fault, Faults};

#[allow(dead_code)] // this test crate uses only some of the shared helpers
mod common;

use common::{chaos_faults, chat_client, chat_client_with, new_thread_client};

/// Captures every log line the SDK writes (targets `acs_chat` and `acs_chat::…`).
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let target = record.target();
        if target == "acs_chat" || target.starts_with("acs_chat::") {
            let line = format!("{} {} {}", record.level(), target, record.args());
            if let Ok(mut lines) = self.0.lock() {
                lines.push(line);
            }
        }
    }
    fn flush(&self) {}
}

fn logs() -> &'static Capture {
    static LOGGER: OnceLock<&'static Capture> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        // Fails only if another logger is set, which nothing else in this binary does.
        let _ = log::set_logger(capture);
        log::set_max_level(log::LevelFilter::Trace);
        capture
    })
}

const THREADS: usize = 8;
const OPS_PER_THREAD: usize = 125;
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Room for scheduling on a loaded 2-core machine: a bound check, not a performance target.
const SLACK: Duration = Duration::from_secs(3);
const SECRET_MARK: &str = "chaos-secret-content";

/// Outcome counts of one kind of operation.
#[derive(Default, Debug)]
struct Tally {
    ok: u32,
    errors: HashMap<String, u32>,
}

fn error_kind(e: &Error) -> Option<String> {
    match e {
        Error::Service(s) if matches!(s.status, 404 | 429 | 500 | 503) => {
            Some(format!("service {}", s.status))
        }
        Error::Transport { .. } => Some("transport".into()),
        Error::TruncatedBody { .. } => Some("truncated".into()),
        Error::Decode { .. } => Some("decode".into()),
        Error::Timeout { .. } => Some("timeout".into()),
        _ => None,
    }
}

struct Worker {
    thread: ChatThreadClient,
    emu: Arc<Emulator>,
    t: usize,
}

impl Worker {
    /// Runs operation `i`; returns its name, its result (unit or error) and a sent message
    /// (id, content) when it was a successful send.
    fn run(
        &self,
        i: usize,
        mine: &[String],
    ) -> (&'static str, Result<(), Error>, Option<(String, String)>) {
        let some_id = mine.last().cloned().unwrap_or_else(|| "1".to_string());
        let t = self.t;
        match (t * 131 + i * 7) % 10 {
            0..=3 => {
                let content = format!("chaos-{t}-{i} {SECRET_MARK}");
                match self.thread.send_message(&content, None) {
                    Ok(r) => ("send", Ok(()), Some((r.id, content))),
                    Err(e) => ("send", Err(e), None),
                }
            }
            4 => ("get", self.thread.get_message(&some_id).map(drop), None),
            5 => {
                let options = ListMessagesOptions {
                    results_per_page: Some(20),
                    ..Default::default()
                };
                let page = self
                    .thread
                    .list_messages(Some(options))
                    .by_page()
                    .next()
                    .transpose()
                    .map(drop);
                ("list", page, None)
            }
            6 => {
                let options = UpdateMessageOptions {
                    content: Some(format!("chaos-{t}-{i}-edit {SECRET_MARK}")),
                    ..Default::default()
                };
                (
                    "update",
                    self.thread.update_message(&some_id, Some(options)),
                    None,
                )
            }
            7 if i.is_multiple_of(2) => ("receipt", self.thread.send_read_receipt(&some_id), None),
            7 => (
                "list receipts",
                self.thread
                    .list_read_receipts(None)
                    .collect::<Result<Vec<_>, _>>()
                    .map(drop),
                None,
            ),
            8 => match i % 3 {
                0 => {
                    let p = ChatParticipant::new(CommunicationIdentifier::communication_user(
                        self.emu.create_user(),
                    ));
                    ("add participant", self.thread.add_participant(&p), None)
                }
                1 => {
                    let options = ListParticipantsOptions {
                        results_per_page: Some(5),
                        ..Default::default()
                    };
                    (
                        "list participants",
                        self.thread
                            .list_participants(Some(options))
                            .collect::<Result<Vec<_>, _>>()
                            .map(drop),
                        None,
                    )
                }
                _ => {
                    let stranger =
                        CommunicationIdentifier::communication_user(self.emu.create_user());
                    (
                        "remove participant",
                        self.thread.remove_participant(&stranger),
                        None,
                    )
                }
            },
            _ => match i % 3 {
                0 => {
                    let options = TypingNotificationOptions {
                        sender_display_name: Some(format!("worker {t}")),
                    };
                    (
                        "typing",
                        self.thread.send_typing_notification(Some(options)),
                        None,
                    )
                }
                1 => ("properties", self.thread.get_properties().map(drop), None),
                _ => ("delete", self.thread.delete_message(&some_id), None),
            },
        }
    }
}

/// 1,000 operations from 8 threads through one client against a 20%-faulty emulator.
#[test]
fn chaos_mixed_operations_lose_and_duplicate_nothing() {
    let logs = logs();
    let emu = Arc::new(Emulator::start().expect("emulator"));
    let (_user, token) = emu.user_with_token();
    let options = ChatClientOptions {
        transport_options: TransportOptions {
            call_timeout: CALL_TIMEOUT,
            connect_timeout: Duration::from_secs(2),
            retry: RetryOptions {
                max_retries: 3,
                initial_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(100),
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let chat = chat_client_with(&emu.endpoint(), &token, options);
    let thread = new_thread_client(&chat, "chaos");

    emu.set_faults(chaos_faults(20261127, Some(Duration::from_millis(100))));
    let requests_before = emu.request_count();

    let sent: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let tallies: Arc<Mutex<HashMap<&'static str, Tally>>> = Arc::new(Mutex::new(HashMap::new()));
    let problems: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let worker = Worker {
                thread: thread.clone(),
                emu: Arc::clone(&emu),
                t,
            };
            let (sent, tallies, problems) = (
                Arc::clone(&sent),
                Arc::clone(&tallies),
                Arc::clone(&problems),
            );
            thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..OPS_PER_THREAD {
                    let started = Instant::now();
                    let (name, result, message) = worker.run(i, &mine);
                    let took = started.elapsed();
                    if took > CALL_TIMEOUT + SLACK {
                        problems
                            .lock()
                            .expect("lock")
                            .push(format!("{name} took {took:?}"));
                    }
                    let mut tallies = tallies.lock().expect("lock");
                    let tally = tallies.entry(name).or_default();
                    match &result {
                        Ok(()) => tally.ok += 1,
                        Err(e) => match error_kind(e) {
                            Some(kind) => *tally.errors.entry(kind).or_default() += 1,
                            None => problems
                                .lock()
                                .expect("lock")
                                .push(format!("{name}: unexpected {e:?}")),
                        },
                    }
                    if let Some((id, content)) = message {
                        mine.push(id.clone());
                        sent.lock().expect("lock").push((id, content));
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a worker panicked");
    }
    let requests = emu.request_count() - requests_before;
    emu.set_faults(Faults::default());

    let tallies = tallies.lock().expect("lock");
    let total: u32 = tallies
        .values()
        .map(|t| t.ok + t.errors.values().sum::<u32>())
        .sum();
    println!("chaos: {total} operations, {requests} requests; {tallies:#?}");
    assert_eq!(total as usize, THREADS * OPS_PER_THREAD);
    let problems = problems.lock().expect("lock");
    assert!(problems.is_empty(), "problems:\n{}", problems.join("\n"));
    assert!(
        requests > total as u64,
        "no retries happened ({requests} requests for {total} operations): were faults on?"
    );

    // The final state, listed without faults.
    let listed: Vec<acs_chat::ChatMessage> = thread
        .list_messages(Some(ListMessagesOptions {
            results_per_page: Some(200),
            ..Default::default()
        }))
        .collect::<Result<_, _>>()
        .expect("final listing");
    let mut id_counts: HashMap<&str, u32> = HashMap::new();
    let mut marker_counts: HashMap<String, u32> = HashMap::new();
    for m in &listed {
        *id_counts.entry(m.id.as_str()).or_default() += 1;
        if m.message_type == ChatMessageType::Text {
            let text = m
                .content
                .as_ref()
                .and_then(|c| c.message.as_deref())
                .unwrap_or("");
            if let Some(marker) = text.split([' ']).next().filter(|w| w.starts_with("chaos-")) {
                let marker = marker.trim_end_matches("-edit").to_string();
                *marker_counts.entry(marker).or_default() += 1;
            }
        }
    }
    let sent = sent.lock().expect("lock");
    assert!(!sent.is_empty(), "no send succeeded");
    for (id, content) in sent.iter() {
        assert_eq!(
            id_counts.get(id.as_str()).copied().unwrap_or(0),
            1,
            "message {id} ({content}) listed a wrong number of times"
        );
    }
    let duplicated: Vec<_> = marker_counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "messages listed more than once: {duplicated:?}"
    );

    // Nothing secret in the SDK's logs.
    let lines = logs.0.lock().expect("lock").clone();
    assert!(
        lines.iter().any(|l| l.contains("attempt")),
        "the SDK logged no request lines ({} lines)",
        lines.len()
    );
    for line in &lines {
        assert!(!line.contains(&token), "token in log line: {line}");
        assert!(
            !line.contains(SECRET_MARK),
            "message content in log line: {line}"
        );
    }
}

/// A rejected token, failed calls and their errors never put the token in logs or errors.
#[test]
fn logs_and_errors_never_contain_token() {
    let logs = logs();
    let emu = Emulator::start().expect("emulator");
    let (_user, good) = emu.user_with_token();
    let (head, _) = good.rsplit_once('.').expect("jwt");
    let forged = format!("{head}.Zm9yZ2Vk");
    let chat = chat_client(&emu.endpoint(), &forged);
    let err = chat
        .create_chat_thread("x", None)
        .expect_err("forged token");
    assert_eq!(err.status(), Some(401), "{err:?}");
    let text = format!("{err:?} {err} {chat:?}");
    assert!(
        !text.contains(&forged) && !text.contains(head),
        "token in error: {text}"
    );
    let lines = logs.0.lock().expect("lock").clone();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("POST /chat/threads -> 401")),
        "the 401 was not logged: {lines:?}"
    );
    for line in &lines {
        assert!(!line.contains(head), "token in log line: {line}");
    }
}

/// Three retries, 1 ms apart at first and never more than 10 ms.
fn fast_retry() -> RetryOptions {
    RetryOptions {
        max_retries: 3,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
    }
}

/// A client and thread on a fresh emulator, with fast retries and a short call timeout.
fn fast_fixture(call_timeout: Duration) -> (Emulator, ChatThreadClient) {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let options = ChatClientOptions {
        transport_options: TransportOptions {
            call_timeout,
            retry: fast_retry(),
            ..Default::default()
        },
        ..Default::default()
    };
    let chat = chat_client_with(&emu.endpoint(), &token, options);
    let thread = new_thread_client(&chat, "faults");
    (emu, thread)
}

fn count_text(thread: &ChatThreadClient, content: &str) -> usize {
    thread
        .list_messages(None)
        .filter(|m| {
            m.as_ref().is_ok_and(|m| {
                m.content.as_ref().and_then(|c| c.message.as_deref()) == Some(content)
            })
        })
        .count()
}

/// Safe operations ride out 503/500/closed connections; the request count shows the retries.
#[test]
fn get_properties_retries_through_faults() {
    let (emu, thread) = fast_fixture(Duration::from_secs(10));
    emu.set_faults(Faults::sequence(vec![
        Some(Fault::ServiceUnavailable),
        Some(Fault::InternalError),
        Some(Fault::CloseAfterProcessing),
    ]));
    let before = emu.request_count();
    let props = thread.get_properties();
    assert!(props.is_ok(), "{props:?}");
    assert_eq!(emu.request_count() - before, 4, "three faults, one success");
}

/// A send answered 429 or 503 is retried (not processed) and lands exactly once.
#[test]
fn send_message_retries_when_not_processed() {
    for fault in [
        Fault::TooManyRequests {
            retry_after: Duration::ZERO,
        },
        Fault::ServiceUnavailable,
        Fault::CloseBeforeProcessing,
    ] {
        let (emu, thread) = fast_fixture(Duration::from_secs(10));
        emu.set_faults(Faults::sequence(vec![Some(fault.clone())]));
        let before = emu.request_count();
        let sent = thread.send_message("exactly once", None);
        let requests = emu.request_count() - before;
        emu.set_faults(Faults::default());
        match fault {
            // A closed connection cannot be told apart from one closed after processing.
            Fault::CloseBeforeProcessing => {
                assert!(
                    matches!(sent, Err(Error::Transport { .. })),
                    "{fault:?}: {sent:?}"
                );
                assert_eq!(
                    requests, 1,
                    "{fault:?}: retried a send that may have landed"
                );
                assert_eq!(count_text(&thread, "exactly once"), 0, "{fault:?}");
            }
            _ => {
                assert!(sent.is_ok(), "{fault:?}: {sent:?}");
                assert_eq!(requests, 2, "{fault:?}");
                assert_eq!(count_text(&thread, "exactly once"), 1, "{fault:?}");
            }
        }
    }
}

/// A send that may have been processed (500, connection closed after processing, cut-short or
/// malformed answer) is not retried: the message is never posted twice.
#[test]
fn send_message_is_not_retried_when_maybe_processed() {
    for fault in [
        Fault::InternalError,
        Fault::CloseAfterProcessing,
        Fault::TruncatedBody,
        Fault::MalformedBody,
    ] {
        let (emu, thread) = fast_fixture(Duration::from_secs(10));
        emu.set_faults(Faults::sequence(vec![Some(fault.clone())]));
        let before = emu.request_count();
        let sent = thread.send_message("at most once", None);
        let requests = emu.request_count() - before;
        emu.set_faults(Faults::default());
        assert!(sent.is_err(), "{fault:?}: {sent:?}");
        assert_eq!(
            requests, 1,
            "{fault:?}: a possibly processed send was retried"
        );
        assert!(
            count_text(&thread, "at most once") <= 1,
            "{fault:?}: posted twice"
        );
    }
}

/// A stalled service cannot hold a call past its timeout.
#[test]
fn delayed_service_call_ends_at_timeout() {
    let timeout = Duration::from_millis(800);
    let (emu, thread) = fast_fixture(timeout);
    emu.set_faults(Faults::sequence(vec![Some(Fault::Delay(
        Duration::from_secs(20),
    ))]));
    let started = Instant::now();
    let r = thread.get_properties();
    let took = started.elapsed();
    assert!(
        matches!(r, Err(Error::Timeout { after, .. }) if after == timeout),
        "{r:?}"
    );
    // A bound check against a 20 s stall, not a performance assertion.
    assert!(took < timeout + SLACK, "the call took {took:?}");
}

/// Creating a thread is retried after an answer was lost, and the kept
/// repeatability-request-id makes the service create it once.
#[test]
fn create_chat_thread_retry_creates_one_thread() {
    let emu = Emulator::start().expect("emulator");
    let (_user, token) = emu.user_with_token();
    let options = ChatClientOptions {
        transport_options: TransportOptions {
            retry: fast_retry(),
            ..Default::default()
        },
        ..Default::default()
    };
    let chat = chat_client_with(&emu.endpoint(), &token, options);
    emu.set_faults(Faults::sequence(vec![
        Some(Fault::CloseAfterProcessing),
        Some(Fault::TruncatedBody),
    ]));
    let before = emu.request_count();
    let created = chat.create_chat_thread("once", None);
    assert!(created.is_ok(), "{created:?}");
    assert_eq!(
        emu.request_count() - before,
        3,
        "two lost answers, one success"
    );
    emu.set_faults(Faults::default());
    let threads = chat.list_chat_threads(None).count();
    assert_eq!(threads, 1, "threads created: {threads}");
}
