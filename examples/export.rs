//! Exports every thread and message of a user to JSON lines, resumably.
//!
//! Run it offline against the bundled emulator (started in this process, with a few threads
//! made up for the occasion):
//!
//! ```console
//! cargo run --example export -- /tmp/chat.jsonl
//! ```
//!
//! or against a real Azure Communication Services resource (a new user, so the export holds
//! the demo threads this example creates):
//!
//! ```console
//! ACS_CONNECTION_STRING="endpoint=https://<resource>.communication.azure.com/;accesskey=<key>" \
//!     cargo run --example export -- /tmp/chat.jsonl
//! ```
//!
//! Each line is `{"kind":"thread",...}` (a thread as listed) followed by its messages,
//! `{"kind":"message","threadId":...,"message":{...}}`, newest change first. Progress goes to
//! stderr. After every page the example records, in `<output>.state`, the threads finished,
//! the continuation token of the thread in progress and the output's length: a run that is
//! interrupted and started again truncates the half-written tail and continues where the last
//! checkpoint was, so no line is lost or written twice. Offline, the example interrupts
//! itself once half-way and resumes, then checks the file.

use std::collections::{BTreeSet, HashSet};
use std::error::Error;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope};
use acs_chat::{ChatClient, ChatThreadInfo, CommunicationTokenCredential, ListMessagesOptions};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What a run has done, saved after every page.
#[derive(Default, Serialize, Deserialize)]
struct State {
    /// Threads written completely.
    done: BTreeSet<String>,
    /// The thread being written and the token of its next page.
    current: Option<(String, String)>,
    /// The output's length at this checkpoint.
    bytes: u64,
}

/// Why a run stopped before the end (the offline demo's interruption).
struct Interrupted;

fn main() -> Result<(), Box<dyn Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("export-{}.jsonl", std::process::id()))
        });
    let (connection_string, emulator) = match std::env::var("ACS_CONNECTION_STRING") {
        Ok(s) => (s, None),
        Err(_) => {
            let emulator = acs_chat_emulator::Emulator::start()?;
            (emulator.connection_string(), Some(emulator))
        }
    };
    let identity = CommunicationIdentityClient::from_connection_string(&connection_string)?;
    let (user, token) = identity.create_user_and_token(&[CommunicationTokenScope::Chat], None)?;
    let chat = ChatClient::new(
        &identity.endpoint(),
        CommunicationTokenCredential::new(token.token)?,
    )?;
    let mut expected = 0;
    let mut created = Vec::new();
    for (t, count) in [("Orders", 25), ("Returns", 7), ("Empty", 0)] {
        let thread =
            chat.get_chat_thread_client(&chat.create_chat_thread(t, None)?.chat_thread.id)?;
        created.push(thread.thread_id().to_string());
        for n in 0..count {
            thread.send_message(&format!("{t} #{n}"), None)?;
        }
        expected += count + 2; // plus the creation's two system messages
    }
    let state_file = PathBuf::from(format!("{}.state", out.display()));
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&state_file);

    // Offline: interrupt after 2 pages, as a crash would, then run again.
    let interrupt = emulator.is_some().then_some(3);
    if export(&chat, &out, &state_file, interrupt)?.is_err() {
        eprintln!("-- interrupted; running again");
        if export(&chat, &out, &state_file, None)?.is_err() {
            return Err("second run interrupted".into());
        }
    }
    let (threads, messages) = check(&out)?;
    eprintln!("{} : {threads} threads, {messages} messages", out.display());
    if (threads, messages) != (3, expected) {
        return Err(format!("expected 3 threads and {expected} messages").into());
    }
    let _ = std::fs::remove_file(&state_file);
    for id in created {
        chat.delete_chat_thread(&id)?;
    }
    identity.delete_user(&user)?;
    Ok(())
}

/// One run: resumes from `state_file`, writes what is left. `Err(Interrupted)` when it
/// stopped after `interrupt_after` pages.
fn export(
    chat: &ChatClient,
    out: &Path,
    state_file: &Path,
    interrupt_after: Option<usize>,
) -> Result<Result<(), Interrupted>, Box<dyn Error>> {
    let mut state: State = match std::fs::read_to_string(state_file) {
        Ok(s) => serde_json::from_str(&s)?,
        Err(_) => State::default(),
    };
    // Drop anything written after the last checkpoint.
    let file = OpenOptions::new().create(true).append(true).open(out)?;
    file.set_len(state.bytes)?;
    let mut writer = BufWriter::new(file);
    let threads: Vec<ChatThreadInfo> = chat.list_chat_threads(None).collect::<Result<_, _>>()?;
    let total = threads.len();
    let mut pages = 0;
    for (n, info) in threads.iter().enumerate() {
        if state.done.contains(&info.id) {
            continue;
        }
        let token = match &state.current {
            Some((id, token)) if *id == info.id => Some(token.clone()),
            _ => {
                writeln!(
                    writer,
                    "{}",
                    json!({"kind": "thread", "id": info.id, "topic": info.topic,
                    "lastMessageReceivedOn": info.last_message_received_on})
                )?;
                None
            }
        };
        let thread = chat.get_chat_thread_client(&info.id)?;
        let options = ListMessagesOptions {
            results_per_page: Some(10),
            continuation_token: token,
            ..Default::default()
        };
        for page in thread.list_messages(Some(options)).by_page() {
            let page = page?;
            for message in &page.items {
                writeln!(
                    writer,
                    "{}",
                    json!({"kind": "message", "threadId": info.id, "message": message})
                )?;
            }
            state.current = page.continuation_token.map(|t| (info.id.clone(), t));
            if state.current.is_none() {
                state.done.insert(info.id.clone());
            }
            checkpoint(&mut writer, &mut state, state_file)?;
            pages += 1;
            eprintln!(
                "thread {}/{total} {:?}: {} messages written (page {pages})",
                n + 1,
                info.topic,
                page.items.len()
            );
            if interrupt_after == Some(pages) {
                // As a crash mid-write would: half a line after the checkpoint.
                write!(writer, "{{\"kind\":\"mess")?;
                writer.flush()?;
                return Ok(Err(Interrupted));
            }
        }
        if !state.done.contains(&info.id) {
            // A thread with no messages at all has no pages.
            state.done.insert(info.id.clone());
            checkpoint(&mut writer, &mut state, state_file)?;
        }
    }
    Ok(Ok(()))
}

/// Flushes the output, then records the state with the output's length (atomically).
fn checkpoint(
    writer: &mut BufWriter<File>,
    state: &mut State,
    state_file: &Path,
) -> Result<(), Box<dyn Error>> {
    writer.flush()?;
    writer.get_ref().sync_data()?;
    state.bytes = writer.get_ref().metadata()?.len();
    let tmp = PathBuf::from(format!("{}.tmp", state_file.display()));
    std::fs::write(&tmp, serde_json::to_vec(state)?)?;
    std::fs::rename(tmp, state_file)?;
    Ok(())
}

/// Counts the threads and messages in the export, failing on a duplicate line.
fn check(out: &Path) -> Result<(usize, usize), Box<dyn Error>> {
    let mut seen = HashSet::new();
    let (mut threads, mut messages) = (0, 0);
    for line in std::fs::read_to_string(out)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let key = match v["kind"].as_str() {
            Some("thread") => {
                threads += 1;
                format!("t {}", v["id"])
            }
            _ => {
                messages += 1;
                format!("m {} {}", v["threadId"], v["message"]["id"])
            }
        };
        if !seen.insert(key.clone()) {
            return Err(format!("written twice: {key}").into());
        }
    }
    Ok((threads, messages))
}
