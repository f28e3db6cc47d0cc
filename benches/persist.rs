//! Send and get throughput with and without `--data-dir`, side by side in one run.
//!
//! ```text
//! cargo bench --bench persist            # PERSIST_ROUNDS=10 PERSIST_K=200
//! ```
//!
//! Two in-process emulators, one in memory and one with a data directory (SQLite, WAL,
//! `synchronous=NORMAL`, in the system's temp dir), each with a thread and an acs-chat
//! `ChatThreadClient`. Each round times K sends and K gets of one message on each emulator,
//! then 8 threads sending K/8 messages each, alternating which emulator goes first; the table
//! shows the median per operation over the rounds and the ratio data-dir ÷ memory (the
//! median of the per-round ratios). Timings are printed, never asserted; a wrong answer (a
//! failed call, a message missing after a restart on the data directory) fails the run.

use std::path::PathBuf;
use std::time::Instant;

use acs_chat::{ChatClient, ChatThreadClient, CommunicationTokenCredential};
use acs_chat_emulator::Emulator;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const SENDERS: usize = 8;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An emulator, its token and a client of a fresh thread on it.
struct Side {
    emu: Emulator,
    token: String,
    thread: ChatThreadClient,
    /// A message to get.
    probe: String,
}

fn side(data_dir: Option<&PathBuf>) -> Result<Side, BoxError> {
    let mut builder = Emulator::builder();
    if let Some(dir) = data_dir {
        builder = builder.data_dir(dir);
    }
    let emu = builder.start()?;
    let (_user, token) = emu.user_with_token();
    let chat = ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(token.clone())?,
    )?;
    let id = chat.create_chat_thread("bench", None)?.chat_thread.id;
    let thread = chat.get_chat_thread_client(&id)?;
    let probe = thread.send_message("probe", None)?.id;
    Ok(Side {
        emu,
        token,
        thread,
        probe,
    })
}

impl Side {
    fn send(&self, k: usize) -> Result<f64, BoxError> {
        let t0 = Instant::now();
        for i in 0..k {
            self.thread.send_message(&format!("m{i}"), None)?;
        }
        Ok(t0.elapsed().as_secs_f64() * 1e6 / k as f64)
    }

    fn get(&self, k: usize) -> Result<f64, BoxError> {
        let t0 = Instant::now();
        for _ in 0..k {
            self.thread.get_message(&self.probe)?;
        }
        Ok(t0.elapsed().as_secs_f64() * 1e6 / k as f64)
    }

    /// 8 threads, each with its own client, sending `k / 8` messages: µs per message overall.
    fn send_concurrently(&self, k: usize) -> Result<f64, BoxError> {
        let per = (k / SENDERS).max(1);
        let clients = (0..SENDERS)
            .map(|_| {
                let chat = ChatClient::new(
                    &self.emu.endpoint(),
                    CommunicationTokenCredential::new(self.token.clone())?,
                )?;
                Ok(chat.get_chat_thread_client(self.thread.thread_id())?)
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        let t0 = Instant::now();
        std::thread::scope(|s| {
            let handles: Vec<_> = clients
                .iter()
                .map(|c| {
                    s.spawn(move || -> Result<(), String> {
                        for i in 0..per {
                            c.send_message(&format!("c{i}"), None)
                                .map_err(|e| e.to_string())?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().map_err(|_| "a sender panicked".to_string())?)
        })?;
        Ok(t0.elapsed().as_secs_f64() * 1e6 / (per * SENDERS) as f64)
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// µs/op of each side and their ratio, per round.
#[derive(Default)]
struct Row {
    memory: Vec<f64>,
    disk: Vec<f64>,
    ratio: Vec<f64>,
}

impl Row {
    fn push(&mut self, memory: f64, disk: f64) {
        self.memory.push(memory);
        self.disk.push(disk);
        self.ratio.push(disk / memory);
    }

    fn print(self, label: &str) {
        let (m, d, r) = (median(self.memory), median(self.disk), median(self.ratio));
        println!(
            "| {label:<28} | {m:>8.1} | {:>8.0} | {d:>8.1} | {:>8.0} | {r:>6.2} |",
            1e6 / m,
            1e6 / d
        );
    }
}

fn main() -> Result<(), BoxError> {
    let rounds = env_usize("PERSIST_ROUNDS", 10).max(1);
    let k = env_usize("PERSIST_K", 200).max(SENDERS);
    let dir = std::env::temp_dir().join(format!("acs-persist-bench-{}", std::process::id()));
    let result = run(rounds, k, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(rounds: usize, k: usize, dir: &PathBuf) -> Result<(), BoxError> {
    let memory = side(None)?;
    let disk = side(Some(dir))?;
    // Warm connections and caches.
    memory.send(20)?;
    disk.send(20)?;
    let (mut send, mut get, mut conc) = (Row::default(), Row::default(), Row::default());
    for r in 0..rounds {
        let pair = |f: &dyn Fn(&Side) -> Result<f64, BoxError>| -> Result<(f64, f64), BoxError> {
            if r % 2 == 0 {
                let m = f(&memory)?;
                Ok((m, f(&disk)?))
            } else {
                let d = f(&disk)?;
                Ok((f(&memory)?, d))
            }
        };
        let (m, d) = pair(&|s| s.send(k))?;
        send.push(m, d);
        let (m, d) = pair(&|s| s.get(k))?;
        get.push(m, d);
        let (m, d) = pair(&|s| s.send_concurrently(k))?;
        conc.push(m, d);
    }
    println!("# persist: in memory vs --data-dir (SQLite WAL, synchronous=NORMAL), release build");
    println!("# {rounds} rounds of {k} operations per row and side; medians");
    println!(
        "| operation                    | mem µs   | mem /s   | disk µs  | disk /s  | ratio  |"
    );
    println!(
        "|------------------------------|----------|----------|----------|----------|--------|"
    );
    send.print("send_message, 1 thread");
    get.print("get_message, 1 thread");
    conc.print(&format!("send_message, {SENDERS} threads"));

    // What was acknowledged is there after a restart.
    let expected = disk.emu.message_count();
    let endpoint = disk.emu.endpoint();
    drop(disk);
    let again = Emulator::builder().data_dir(dir).start()?;
    let restored = again.message_count();
    if restored != expected {
        return Err(format!(
            "after a restart on the data dir: {restored} messages, {expected} before ({endpoint})"
        )
        .into());
    }
    println!("# restart on the data dir: {restored} messages restored");
    Ok(())
}
