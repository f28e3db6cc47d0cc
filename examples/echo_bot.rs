//! A bot that answers every new message in a thread exactly once, and survives a restart.
//!
//! Run it offline against the bundled emulator (started in this process):
//!
//! ```console
//! cargo run --example echo_bot
//! ```
//!
//! or against a real Azure Communication Services resource:
//!
//! ```console
//! ACS_CONNECTION_STRING="endpoint=https://<resource>.communication.azure.com/;accesskey=<key>" \
//!     cargo run --example echo_bot
//! ```
//!
//! It creates a customer and a bot user and a thread between them. The customer sends six
//! messages (and edits one) while the bot watches the thread and answers each new message with
//! `echo: <text>`, saving its cursor to a file after every answer. Half-way the bot "restarts":
//! it drops its watcher and starts a new one from the saved cursor, as a new process would.
//! At the end it checks that every customer message got exactly one answer, and exits.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope};
use acs_chat::{
    ChatClient, ChatMessage, ChatParticipant, ChatThreadClient, CommunicationIdentifier,
    CommunicationTokenCredential, CreateChatThreadOptions, SendMessageOptions, ThreadEvent,
    UpdateMessageOptions, WatchCursor, WatchOptions,
};

/// How many messages the customer sends.
const MESSAGES: usize = 6;
/// The bot gives up (and the example fails) if it has not answered everything by then.
const DEADLINE: Duration = Duration::from_secs(60);

fn main() -> Result<(), Box<dyn Error>> {
    // Offline by default; the emulator lives as long as `_emulator`.
    let (connection_string, _emulator) = match std::env::var("ACS_CONNECTION_STRING") {
        Ok(s) => (s, None),
        Err(_) => {
            let emulator = acs_chat_emulator::Emulator::start()?;
            (emulator.connection_string(), Some(emulator))
        }
    };
    let identity = CommunicationIdentityClient::from_connection_string(&connection_string)?;
    let (bot, bot_token) =
        identity.create_user_and_token(&[CommunicationTokenScope::Chat], None)?;
    let (customer, customer_token) =
        identity.create_user_and_token(&[CommunicationTokenScope::Chat], None)?;
    let endpoint = identity.endpoint();
    let bot_chat = ChatClient::new(
        &endpoint,
        CommunicationTokenCredential::new(bot_token.token)?,
    )?;
    let customer_chat = ChatClient::new(
        &endpoint,
        CommunicationTokenCredential::new(customer_token.token)?,
    )?;
    let thread_id = customer_chat
        .create_chat_thread(
            "Support",
            Some(CreateChatThreadOptions {
                participants: vec![ChatParticipant::new(bot.clone()).with_display_name("Bot")],
                ..Default::default()
            }),
        )?
        .chat_thread
        .id;
    println!("thread {thread_id}");
    let cursor_file = std::env::temp_dir().join(format!("echo_bot-{}.cursor", std::process::id()));
    let bot_thread = bot_chat.get_chat_thread_client(&thread_id)?;
    // The bot starts listening before the customer writes: a first cursor, saved.
    save(&cursor_file, &bot_thread.watch(None).cursor())?;

    // The customer, in another thread: six questions, one of them corrected.
    let customer_thread = customer_chat.get_chat_thread_client(&thread_id)?;
    let customer_side = std::thread::spawn(move || -> acs_chat::Result<()> {
        for n in 1..=MESSAGES {
            let sent = customer_thread.send_message(&format!("question {n}"), None)?;
            if n == 2 {
                let fix = UpdateMessageOptions {
                    content: Some("question 2 (corrected)".into()),
                    ..Default::default()
                };
                customer_thread.update_message(&sent.id, Some(fix))?;
            }
            std::thread::sleep(Duration::from_millis(150)); // a human typing
        }
        Ok(())
    });

    let deadline = Instant::now() + DEADLINE;
    let mut answered = run_bot(&bot_thread, &bot, &cursor_file, MESSAGES / 2, deadline)?;
    println!("-- bot restarts from {}", cursor_file.display());
    answered += run_bot(
        &bot_thread,
        &bot,
        &cursor_file,
        MESSAGES - answered,
        deadline,
    )?;
    customer_side
        .join()
        .map_err(|_| "customer thread panicked")??;
    let _ = std::fs::remove_file(&cursor_file);

    check_one_answer_each(&bot_thread, &bot)?;
    println!("answered {answered} messages, each exactly once");
    customer_chat.delete_chat_thread(&thread_id)?;
    for user in [&bot, &customer] {
        identity.delete_user(user)?;
    }
    Ok(())
}

/// One run of the bot: resumes from the saved cursor, answers up to `answers` new messages
/// from others, saving the cursor after each answer. Returns how many it answered.
fn run_bot(
    thread: &ChatThreadClient,
    me: &CommunicationIdentifier,
    cursor_file: &Path,
    answers: usize,
    deadline: Instant,
) -> Result<usize, Box<dyn Error>> {
    let options = WatchOptions {
        resume_from: Some(load(cursor_file)?),
        poll_interval: Duration::from_millis(100),
        max_poll_interval: Duration::from_secs(1),
        ..Default::default()
    };
    let mut watcher = thread.watch(Some(options));
    // Bounded: a watchdog stops the watch at the deadline.
    let stopper = watcher.stopper();
    let wait = deadline.saturating_duration_since(Instant::now());
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(wait);
        stopper.stop();
    });
    drop(watchdog); // detached: the process ends before it matters when all goes well
    let mut done = 0;
    while done < answers {
        let Some(event) = watcher.next() else {
            return Err(format!("deadline reached after {done} of {answers} answers").into());
        };
        match event? {
            ThreadEvent::MessageReceived(m) if m.sender.as_ref() != Some(me) => {
                let question = text(&m);
                let reply = SendMessageOptions {
                    sender_display_name: Some("Bot".into()),
                    metadata: Some([("inReplyTo".to_string(), m.id.clone())].into()),
                    ..Default::default()
                };
                thread.send_message(&format!("echo: {question}"), Some(reply))?;
                // Checkpoint after the side effect. A crash between the two would answer this
                // message again on restart; an idempotent send closes that window.
                save(cursor_file, &watcher.cursor())?;
                println!("answered {:?}", question);
                done += 1;
            }
            ThreadEvent::MessageEdited(m) => println!("(edited: {:?})", text(&m)),
            _ => {} // our own answers, system messages
        }
    }
    Ok(done)
}

/// Every customer message has exactly one answer carrying its id.
fn check_one_answer_each(
    thread: &ChatThreadClient,
    me: &CommunicationIdentifier,
) -> Result<(), Box<dyn Error>> {
    let messages: Vec<ChatMessage> = thread.list_messages(None).collect::<Result<_, _>>()?;
    let questions = messages
        .iter()
        .filter(|m| m.sender.is_some() && m.sender.as_ref() != Some(me));
    for q in questions {
        let answers = messages
            .iter()
            .filter(|m| m.metadata.as_ref().and_then(|md| md.get("inReplyTo")) == Some(&q.id))
            .count();
        if answers != 1 {
            return Err(format!("{:?} got {answers} answers", text(q)).into());
        }
    }
    Ok(())
}

fn text(m: &ChatMessage) -> String {
    m.content
        .as_ref()
        .and_then(|c| c.message.clone())
        .unwrap_or_default()
}

/// Writes the cursor atomically (a crash leaves the old one or the new one, never half).
fn save(path: &Path, cursor: &WatchCursor) -> std::io::Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&tmp, cursor.to_string())?;
    std::fs::rename(tmp, path)
}

fn load(path: &Path) -> Result<WatchCursor, Box<dyn Error>> {
    Ok(std::fs::read_to_string(path)?.trim().parse()?)
}
