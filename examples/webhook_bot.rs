//! A bot that learns of new messages from Event Grid webhooks (the path Microsoft recommends
//! for server programs) and answers each one exactly once.
//!
//! Offline, against the bundled emulator (it publishes the same events Event Grid delivers,
//! with retries and duplicates):
//!
//! ```console
//! cargo run --example webhook_bot
//! ```
//!
//! It starts the emulator and a webhook on `127.0.0.1`, subscribes the webhook (the emulator
//! runs the validation handshake first, as Event Grid does), creates a customer, a bot and a
//! thread, and has the customer send five messages. The webhook answers each
//! `ChatMessageReceived` addressed to the bot with `re: <text>` through the SDK, skipping
//! redeliveries with a `Deduplicator` and its own messages. It checks that every message got
//! exactly one answer and exits.
//!
//! Behind a real Event Grid subscription (create one on the ACS resource for
//! `Microsoft.Communication.ChatMessageReceived`, with the webhook URL pointing at this
//! process; the handshake is answered for you):
//!
//! ```console
//! ACS_CONNECTION_STRING="endpoint=https://<resource>.communication.azure.com/;accesskey=<key>" \
//! WEBHOOK_LISTEN=0.0.0.0:8080 ACS_BOT_USER="8:acs:…" cargo run --example webhook_bot
//! ```
//!
//! The bot then serves until it is stopped (or `WEBHOOK_RUN_SECS` pass), answering in every
//! thread `ACS_BOT_USER` is a participant of. The HTTP server is std's `TcpListener` with a
//! small HTTP/1.1 reader: one connection per thread, enough for a sample and no extra
//! dependency; put a real server (and TLS: Event Grid only delivers to `https`) in front in
//! production.

use std::collections::HashMap;
use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use acs_chat::events::{
    ChatEventData, Deduplicator, WebhookHandler, WebhookOptions, WebhookResponse,
};
use acs_chat::identity::{CommunicationIdentityClient, CommunicationTokenScope};
use acs_chat::{
    ChatClient, ChatMessage, ChatParticipant, CommunicationIdentifier,
    CommunicationTokenCredential, CreateChatThreadOptions, SendMessageOptions,
};

/// Messages the customer sends offline.
const MESSAGES: usize = 5;
/// The offline run fails if the answers have not all come by then.
const DEADLINE: Duration = Duration::from_secs(60);
/// Largest request body read (Event Grid sends at most 1 MB).
const MAX_BODY: usize = (1 << 20) + (64 << 10);

/// An HTTP response to write: status, headers, body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn text(status: u16, text: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: text.as_bytes().to_vec(),
        }
    }
}

impl From<WebhookResponse> for Reply {
    fn from(r: WebhookResponse) -> Reply {
        Reply {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

/// The bot: the webhook logic, independent of the HTTP server.
struct Bot {
    me: CommunicationIdentifier,
    chat: ChatClient,
    handler: WebhookHandler,
    seen: Deduplicator,
    /// Told the id of each message answered.
    answered: Mutex<Sender<String>>,
}

impl Bot {
    /// Answers one HTTP request (handshakes included) and acts on its events.
    fn handle(
        &self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Reply {
        let headers = headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let outcome = self.handler.handle(method, target, headers, body);
        for event in &outcome.events {
            // At-least-once delivery: act on each event id once.
            if !self.seen.first_delivery(&event.id) {
                continue;
            }
            let ChatEventData::MessageReceived(m) = &event.data else {
                continue;
            };
            // One event per recipient: act on ours, and never answer our own messages.
            if m.recipient != self.me || m.sender == self.me {
                continue;
            }
            let reply = SendMessageOptions {
                sender_display_name: Some("Bot".into()),
                metadata: Some([("inReplyTo".to_string(), m.message_id.clone())].into()),
                ..Default::default()
            };
            let sent = self
                .chat
                .get_chat_thread_client(&m.thread_id)
                .and_then(|t| t.send_message(&format!("re: {}", m.message_body), Some(reply)));
            match sent {
                Ok(_) => {
                    println!("answered {:?}", m.message_body);
                    let _ = self.answered.lock().map(|tx| tx.send(m.message_id.clone()));
                }
                Err(e) => {
                    // Let Event Grid redeliver: forget the id and answer 503.
                    eprintln!("could not answer {}: {e}", m.message_id);
                    self.seen.forget(&event.id);
                    return Reply::text(503, "reply failed; retry");
                }
            }
        }
        outcome.response.into()
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    match std::env::var("ACS_CONNECTION_STRING") {
        Ok(cs) => serve_real(&cs),
        Err(_) => run_offline(),
    }
}

/// Offline: emulator, webhook, subscription, five messages, five answers, check, exit.
fn run_offline() -> Result<(), Box<dyn Error>> {
    let emulator = acs_chat_emulator::Emulator::start()?;
    let identity =
        CommunicationIdentityClient::from_connection_string(&emulator.connection_string())?;
    let (bot_id, bot_token) =
        identity.create_user_and_token(&[CommunicationTokenScope::Chat], None)?;
    let (customer_id, customer_token) =
        identity.create_user_and_token(&[CommunicationTokenScope::Chat], None)?;
    let endpoint = identity.endpoint();
    let (tx, answers) = channel();
    let bot = Arc::new(Bot {
        me: bot_id.clone(),
        chat: ChatClient::new(
            &endpoint,
            CommunicationTokenCredential::new(bot_token.token)?,
        )?,
        handler: WebhookHandler::new(WebhookOptions {
            subscription_names: vec!["webhook-bot".into()],
            ..Default::default()
        }),
        seen: Deduplicator::new(100_000),
        answered: Mutex::new(tx),
    });
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/api/events", listener.local_addr()?);
    let server = Arc::clone(&bot);
    std::thread::spawn(move || serve(listener, server));
    let options = acs_chat_emulator::SubscriptionOptions::default()
        .name("webhook-bot")
        .event_types(["Microsoft.Communication.ChatMessageReceived"]);
    emulator.subscribe_events(&url, options)?;
    println!("webhook {url} validated");

    let customer = ChatClient::new(
        &endpoint,
        CommunicationTokenCredential::new(customer_token.token)?,
    )?;
    let thread_id = customer
        .create_chat_thread(
            "Support",
            Some(CreateChatThreadOptions {
                participants: vec![ChatParticipant::new(bot_id.clone()).with_display_name("Bot")],
                ..Default::default()
            }),
        )?
        .chat_thread
        .id;
    let thread = customer.get_chat_thread_client(&thread_id)?;
    for n in 1..=MESSAGES {
        thread.send_message(&format!("question {n}"), None)?;
    }
    let deadline = Instant::now() + DEADLINE;
    for got in 0..MESSAGES {
        let left = deadline.saturating_duration_since(Instant::now());
        answers
            .recv_timeout(left)
            .map_err(|_| format!("only {got} of {MESSAGES} answers before the deadline"))?;
    }
    // Every customer message has exactly one answer (none twice despite redeliveries).
    let messages: Vec<ChatMessage> = thread.list_messages(None).collect::<Result<_, _>>()?;
    let mut per_question: HashMap<String, usize> = HashMap::new();
    for m in messages
        .iter()
        .filter(|m| m.sender.as_ref() == Some(&bot_id))
    {
        if let Some(q) = m.metadata.as_ref().and_then(|md| md.get("inReplyTo")) {
            *per_question.entry(q.clone()).or_default() += 1;
        }
    }
    let questions: Vec<&ChatMessage> = messages
        .iter()
        .filter(|m| {
            m.sender.as_ref() == Some(&customer_id)
                && m.content
                    .as_ref()
                    .and_then(|c| c.message.as_ref())
                    .is_some_and(|t| t.starts_with("question"))
        })
        .collect();
    for q in &questions {
        let n = per_question.get(&q.id).copied().unwrap_or(0);
        if n != 1 {
            return Err(format!("message {} got {n} answers", q.id).into());
        }
    }
    let stats = emulator.event_stats();
    println!(
        "answered {} messages, each exactly once ({} deliveries, {} dead-lettered)",
        questions.len(),
        stats.attempts,
        stats.dead_lettered
    );
    Ok(())
}

/// Behind a real Event Grid subscription: serve on `WEBHOOK_LISTEN` as `ACS_BOT_USER`.
fn serve_real(connection_string: &str) -> Result<(), Box<dyn Error>> {
    let listen =
        std::env::var("WEBHOOK_LISTEN").map_err(|_| "set WEBHOOK_LISTEN, e.g. 0.0.0.0:8080")?;
    let user =
        std::env::var("ACS_BOT_USER").map_err(|_| "set ACS_BOT_USER to the bot's ACS user id")?;
    let identity = CommunicationIdentityClient::from_connection_string(connection_string)?;
    let me = CommunicationIdentifier::from_raw_id(&user);
    let token = identity.get_token(&me, &[CommunicationTokenScope::Chat], None)?;
    let (tx, answers) = channel();
    let bot = Arc::new(Bot {
        me,
        chat: ChatClient::new(
            &identity.endpoint(),
            CommunicationTokenCredential::new(token.token)?,
        )?,
        handler: WebhookHandler::new(WebhookOptions::default()),
        seen: Deduplicator::new(100_000),
        answered: Mutex::new(tx),
    });
    let listener = TcpListener::bind(&listen)?;
    println!("listening on {listen}; answering as {user}");
    std::thread::spawn(move || serve(listener, bot));
    let run_for = std::env::var("WEBHOOK_RUN_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    let end = run_for.map(|d| Instant::now() + d);
    loop {
        let wait = match end {
            Some(end) => end.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        if end.is_some() && wait.is_zero() {
            return Ok(());
        }
        match answers.recv_timeout(wait) {
            Ok(id) => println!("(answered message {id})"),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// Accepts connections forever, one thread each.
fn serve(listener: TcpListener, bot: Arc<Bot>) {
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                let bot = Arc::clone(&bot);
                std::thread::spawn(move || {
                    if let Err(e) = connection(s, &bot) {
                        eprintln!("webhook connection: {e}");
                    }
                });
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

/// Serves one keep-alive connection: read a request, answer it, until the peer closes.
fn connection(stream: TcpStream, bot: &Bot) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("/").to_string(),
        );
        let mut headers = Vec::new();
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_string(), v.trim().to_string());
                close |= k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close");
                headers.push((k, v));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let response = if len > MAX_BODY {
            close = true;
            Reply::text(413, "body too large")
        } else {
            let mut body = vec![0; len];
            reader.read_exact(&mut body)?;
            bot.handle(&method, &target, &headers, &body)
        };
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            response.status,
            response.body.len()
        );
        for (k, v) in &response.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        out.write_all(&response.body)?;
        out.flush()?;
        if close {
            return Ok(());
        }
    }
}
