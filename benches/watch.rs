//! Change-feed benchmarks against the in-process emulator (issue #11).
//!
//! ```text
//! cargo bench --bench watch                  # everything (about half a minute)
//! cargo bench --bench watch -- drain live idle
//! ```
//!
//! - `drain`: a thread with 20,000 messages watched `from_beginning`: events/s a watcher
//!   hands out when it has a backlog (pages of 200), and the requests it took.
//! - `live`: 4 senders post 2,500 messages each while a watcher listens: events/s delivered,
//!   and the largest buffer the watcher held.
//! - `idle`: requests per idle minute for one thread and for an inbox of 200 threads, counted
//!   on the emulator with every interval scaled down 100× (a "minute" is 600 ms, default
//!   intervals become 10 ms / 100 ms / 1.2 s), next to the figure the poll schedule predicts.
//!
//! Timings are printed, never asserted. What fails the run: a wrong event count, or an idle
//! request count more than 25 % away from the schedule's figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use acs_chat::{ChatClient, CommunicationTokenCredential, ThreadEvent, WatchOptions};
use acs_chat_emulator::Emulator;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every interval divided by this in the `idle` section.
const SCALE: u32 = 100;

fn main() -> Result<(), BoxError> {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    println!("# watch benchmarks (release build, in-process emulator on 127.0.0.1)");
    println!(
        "# load average {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut failures = Vec::new();
    if run("drain") {
        drain(&mut failures)?;
    }
    if run("live") {
        live(&mut failures)?;
    }
    if run("idle") {
        idle(&mut failures)?;
    }
    if !failures.is_empty() {
        eprintln!("\nFAILED:");
        for f in &failures {
            eprintln!("  - {f}");
        }
        std::process::exit(1);
    }
    Ok(())
}

fn client(emu: &Emulator) -> Result<ChatClient, BoxError> {
    let (_user, token) = emu.user_with_token();
    Ok(ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(token)?,
    )?)
}

fn drain(failures: &mut Vec<String>) -> Result<(), BoxError> {
    const N: usize = 20_000;
    let emu = Emulator::start()?;
    let chat = client(&emu)?;
    let thread =
        chat.get_chat_thread_client(&chat.create_chat_thread("drain", None)?.chat_thread.id)?;
    for n in 0..N {
        thread.send_message(&format!("m{n}"), None)?;
    }
    let before = emu.request_count();
    let started = Instant::now();
    let watcher = thread.watch(Some(WatchOptions {
        from_beginning: true,
        ..Default::default()
    }));
    let mut events = 0usize;
    for event in watcher {
        if let ThreadEvent::MessageReceived(_) = event? {
            events += 1;
            if events == N {
                break;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let requests = emu.request_count() - before;
    println!(
        "drain: {events} events in {secs:.2} s = {:.0} events/s, {requests} requests (pages of 200)",
        events as f64 / secs
    );
    if events != N {
        failures.push(format!("drain: {events} events, want {N}"));
    }
    Ok(())
}

fn live(failures: &mut Vec<String>) -> Result<(), BoxError> {
    const SENDERS: usize = 4;
    const EACH: usize = 2_500;
    let emu = Emulator::start()?;
    let chat = client(&emu)?;
    let thread =
        chat.get_chat_thread_client(&chat.create_chat_thread("live", None)?.chat_thread.id)?;
    let mut watcher = thread.watch(Some(WatchOptions {
        poll_interval: Duration::from_millis(10),
        max_poll_interval: Duration::from_millis(100),
        ..Default::default()
    }));
    let started = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|w| {
            let thread = thread.clone();
            std::thread::spawn(move || -> acs_chat::Result<()> {
                for n in 0..EACH {
                    thread.send_message(&format!("{w}-{n}"), None)?;
                }
                Ok(())
            })
        })
        .collect();
    let (mut events, mut max_buffered) = (0usize, 0usize);
    while events < SENDERS * EACH {
        match watcher.next() {
            Some(Ok(ThreadEvent::MessageReceived(_))) => events += 1,
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => break,
        }
        max_buffered = max_buffered.max(watcher.buffered());
    }
    let secs = started.elapsed().as_secs_f64();
    for s in senders {
        s.join().map_err(|_| "sender panicked")??;
    }
    println!(
        "live: {events} events from {SENDERS} senders in {secs:.2} s = {:.0} events/s delivered, max buffered {max_buffered}",
        events as f64 / secs
    );
    if events != SENDERS * EACH {
        failures.push(format!("live: {events} events, want {}", SENDERS * EACH));
    }
    Ok(())
}

/// Idle requests per (scaled) minute the default schedule predicts: ticks at the back-off
/// ceiling, plus, for an inbox, every thread and the thread list once per sweep.
fn predicted_per_minute(threads: usize) -> f64 {
    let d = WatchOptions::default();
    let ticks = 60.0 / d.max_poll_interval.as_secs_f64();
    if threads == 0 {
        return ticks;
    }
    let sweeps = 60.0 / d.sweep_interval.as_secs_f64();
    ticks + sweeps * (threads as f64 + (threads as f64 / 200.0).ceil())
}

fn scaled_options() -> WatchOptions {
    let d = WatchOptions::default();
    WatchOptions {
        poll_interval: d.poll_interval / SCALE,
        max_poll_interval: d.max_poll_interval / SCALE,
        sweep_interval: d.sweep_interval / SCALE,
        ..d
    }
}

fn idle(failures: &mut Vec<String>) -> Result<(), BoxError> {
    let minute = Duration::from_secs(60) / SCALE;
    let minutes = 5;
    for threads in [1usize, 200] {
        let emu = Arc::new(Emulator::start()?);
        let chat = client(&emu)?;
        let mut ids = Vec::new();
        for n in 0..threads {
            ids.push(
                chat.create_chat_thread(&format!("t{n}"), None)?
                    .chat_thread
                    .id,
            );
        }
        let (stopper, handle, inbox) = if threads == 1 {
            let watcher = chat
                .get_chat_thread_client(&ids[0])?
                .watch(Some(scaled_options()));
            let stopper = watcher.stopper();
            let handle = std::thread::spawn(move || watcher.count());
            (stopper, handle, false)
        } else {
            let watcher = chat.watch(Some(scaled_options()));
            let stopper = watcher.stopper();
            let handle = std::thread::spawn(move || watcher.count());
            (stopper, handle, true)
        };
        // Warm up: reach the back-off ceiling and one full sweep.
        std::thread::sleep(minute * 3);
        let before = emu.request_count();
        std::thread::sleep(minute * minutes);
        let counted = (emu.request_count() - before) as f64 / minutes as f64;
        stopper.stop();
        let events = handle.join().map_err(|_| "watcher panicked")?;
        let predicted = predicted_per_minute(if inbox { threads } else { 0 });
        let what = if inbox {
            format!("inbox of {threads} threads")
        } else {
            "one thread".to_string()
        };
        println!(
            "idle: {what}: {counted:.1} requests per idle minute counted (scaled {SCALE}x), {predicted:.1} predicted; {events} events"
        );
        if (counted - predicted).abs() > predicted * 0.25 {
            failures.push(format!(
                "idle {what}: {counted:.1} requests/min, schedule says {predicted:.1}"
            ));
        }
    }
    Ok(())
}
