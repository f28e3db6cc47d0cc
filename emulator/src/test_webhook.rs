//! A loopback webhook for delivery tests: a std `TcpListener`, one thread per connection, a
//! tiny HTTP/1.1 reader, and a policy that decides each answer (a status, or hanging until the
//! sender gives up). Every request it reads is sent on a channel, in arrival order.
//! Not part of the emulator's API (hidden from its docs): shared by the emulator's tests and
//! the SDK's end-to-end tests, which have the emulator as a dev-dependency.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// One request the webhook read.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub method: String,
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When its last byte arrived.
    pub at: Instant,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the text when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Whether this is a handshake (Event Grid validation or CloudEvents OPTIONS).
    pub fn is_handshake(&self) -> bool {
        self.method == "OPTIONS" || self.header("aeg-event-type") == Some("SubscriptionValidation")
    }
}

/// How to answer one request.
pub enum Answer {
    /// Status, extra headers, body.
    Status(u16, Vec<(String, String)>, Vec<u8>),
    /// Never answer: read until the sender closes.
    Hang,
}

impl Answer {
    pub fn status(code: u16) -> Answer {
        Answer::Status(code, Vec::new(), Vec::new())
    }
}

/// The answer that completes either handshake, or `None` when `d` is not one.
pub fn handshake(d: &Delivery) -> Option<Answer> {
    if d.method == "OPTIONS" {
        let origin = d
            .header("webhook-request-origin")
            .unwrap_or("*")
            .to_string();
        return Some(Answer::Status(
            200,
            vec![
                ("WebHook-Allowed-Origin".into(), origin),
                ("WebHook-Allowed-Rate".into(), "*".into()),
                ("Allow".into(), "POST".into()),
            ],
            Vec::new(),
        ));
    }
    if d.header("aeg-event-type") == Some("SubscriptionValidation") {
        let v = d.json();
        let code = v[0]["data"]["validationCode"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let body = serde_json::json!({ "validationResponse": code }).to_string();
        return Some(Answer::Status(200, Vec::new(), body.into_bytes()));
    }
    None
}

/// A running webhook.
pub struct Hook {
    /// `http://127.0.0.1:PORT/api/events`.
    pub url: String,
    /// Every request read, in arrival order.
    pub rx: Receiver<Delivery>,
}

/// Starts a webhook answering each request with `policy`.
pub fn start(policy: impl Fn(&Delivery) -> Answer + Send + Sync + 'static) -> Hook {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook");
    let url = format!(
        "http://{}/api/events",
        listener.local_addr().expect("webhook address")
    );
    let (tx, rx) = channel();
    let policy = Arc::new(policy);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let policy = Arc::clone(&policy);
            let tx = tx.clone();
            std::thread::spawn(move || serve(stream, &*policy, &tx));
        }
    });
    Hook { url, rx }
}

fn serve(mut s: TcpStream, policy: &dyn Fn(&Delivery) -> Answer, tx: &Sender<Delivery>) {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let d = Delivery {
        method,
        path,
        headers,
        body: buf[head_end..head_end + len].to_vec(),
        at: Instant::now(),
    };
    let answer = policy(&d);
    let _ = tx.send(d);
    match answer {
        Answer::Status(code, headers, body) => {
            let mut out = format!(
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (n, v) in headers {
                out.push_str(&format!("{n}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&body);
            let _ = s.write_all(&bytes);
        }
        Answer::Hang => {
            // Until the sender's timeout closes the connection.
            while matches!(s.read(&mut chunk), Ok(n) if n > 0) {}
        }
    }
}
