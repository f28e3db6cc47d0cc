//! Requests per second the emulator serves for get-message, at 1, 8 and 64 keep-alive
//! connections (one bare `ureq` agent per connection, no SDK).
//!
//! Run: `cargo run --release -p acs-chat-emulator --example throughput [SECONDS]`

use std::time::{Duration, Instant};

use acs_chat_emulator::Emulator;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let emu = Emulator::start()?;
    let (_user, token) = emu.user_with_token();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = emu.endpoint();
    let auth = format!("Bearer {token}");
    let mut created = agent
        .post(format!("{base}/chat/threads?api-version=2024-03-07"))
        .header("Authorization", &auth)
        .send_json(serde_json::json!({"topic": "throughput"}))?;
    let thread: serde_json::Value = created.body_mut().read_json()?;
    let tid = thread["chatThread"]["id"]
        .as_str()
        .ok_or("no thread id")?
        .to_string();
    let tid_enc = tid.replace(':', "%3A").replace('@', "%40");
    let mut sent = agent
        .post(format!(
            "{base}/chat/threads/{tid_enc}/messages?api-version=2024-03-07"
        ))
        .header("Authorization", &auth)
        .send_json(serde_json::json!({"content": "hello"}))?;
    let msg: serde_json::Value = sent.body_mut().read_json()?;
    let mid = msg["id"].as_str().ok_or("no message id")?.to_string();
    let url = format!("{base}/chat/threads/{tid_enc}/messages/{mid}?api-version=2024-03-07");
    for conns in [1usize, 8, 64] {
        let before = emu.connection_count();
        let start = Instant::now();
        let total: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..conns)
                .map(|_| {
                    let (url, auth) = (&url, &auth);
                    s.spawn(move || {
                        let agent: ureq::Agent = ureq::Agent::config_builder()
                            .http_status_as_error(false)
                            .build()
                            .into();
                        let mut n = 0u64;
                        while start.elapsed() < Duration::from_secs(secs) {
                            match agent.get(url).header("Authorization", auth).call() {
                                Ok(mut r) if r.status() == 200 => {
                                    let _ = r.body_mut().read_to_vec();
                                    n += 1;
                                }
                                _ => break,
                            }
                        }
                        n
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        let dt = start.elapsed().as_secs_f64();
        println!(
            "get_message {conns:>2} connections: {:>9.0} req/s ({total} requests, {} new TCP connections)",
            total as f64 / dt,
            emu.connection_count() - before
        );
    }
    Ok(())
}
