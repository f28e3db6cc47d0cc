//! End-to-end benchmarks against the in-process emulator on loopback (issue #6, items 2–4 and 6).
//!
//! ```text
//! cargo bench --bench e2e                       # everything (about a minute, plus seeding)
//! cargo bench --bench e2e -- floor concurrency  # only some sections: floor, concurrency, paging, emulator, switch
//! E2E_PAGING_N=20000 cargo bench --bench e2e -- paging   # a smaller paging walk
//! ```
//!
//! Each section starts its own emulator. Sections:
//!
//! - `floor`: the same send / get / list-page requests sent by hand with a bare ureq 3 agent
//!   and `serde_json::Value` (same headers, one kept-alive connection), against acs-chat, in
//!   interleaved rounds. Reports acs-chat time ÷ floor time per operation.
//! - `concurrency`: one `ChatClient` shared by 1, 2, 4, 8 threads doing `get_message`:
//!   throughput, and how many TCP connections the emulator accepted meanwhile. More
//!   connections than threads means the pool is not reusing them: the harness fails.
//! - `paging`: walks 100,000 messages at page size 200: requests made (must be exactly the page
//!   count, from `Emulator::request_count`), items/s, and resident memory growth over the walk
//!   (`/proc/self/status`; must stay flat). The emulator shares this process, so the memory
//!   figure covers both sides.
//! - `emulator`: the emulator's own get-message requests/s at 1, 8 and 64 keep-alive
//!   connections, driven by minimal hand-written HTTP/1.1 clients on `std::net::TcpStream`.
//!
//! `instructions` (only when named) repeats a fixed workload of floor and acs-chat calls for
//! `valgrind --tool=callgrind` (see BENCHMARKS.md).
//!
//! Timings are printed, never asserted. What fails the run: wrong answers, a request count
//! that is not the page count, more connections than threads, memory growing with the walk.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use acs_chat::{ChatClient, ChatThreadClient, CommunicationTokenCredential, ListMessagesOptions};
use acs_chat_emulator::Emulator;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const API_VERSION: &str = "2025-03-15";
const USER_AGENT: &str = concat!("azsdk-rust-communication-chat/", env!("CARGO_PKG_VERSION"));

fn main() -> Result<(), BoxError> {
    // `cargo bench` passes `--bench`; anything else not starting with `-` selects sections.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    println!("# e2e benchmarks (release build, in-process emulator on 127.0.0.1)");
    println!("# machine: {}", machine());
    let mut failures = Vec::new();
    if run("floor") {
        floor()?;
    }
    if run("concurrency") {
        concurrency(&mut failures)?;
    }
    if run("paging") {
        paging(&mut failures)?;
    }
    if run("emulator") {
        emulator_rps(&mut failures)?;
    }
    if run("switch") {
        user_switch()?;
    }
    // Only when named: a fixed workload to count instructions under valgrind (BENCHMARKS.md).
    if wanted.iter().any(|w| w == "instructions") {
        instructions()?;
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

/// `nproc`, CPU model, memory and the load average (other work on the machine skews results).
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let mem_kib = proc_status_kib("/proc/meminfo", "MemTotal:").unwrap_or(0);
    format!(
        "{cpus} CPUs ({model}), {:.1} GiB RAM, load average {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        load()
    )
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A `Key:   123 kB` line of a /proc file, in KiB.
fn proc_status_kib(file: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A started emulator, a user's token, and a client with a fresh thread.
struct Setup {
    emu: Emulator,
    token: String,
    thread: ChatThreadClient,
}

fn setup() -> Result<Setup, BoxError> {
    let emu = Emulator::start()?;
    let (_user, token) = emu.user_with_token();
    let chat = ChatClient::new(
        &emu.endpoint(),
        CommunicationTokenCredential::new(token.clone())?,
    )?;
    let created = chat.create_chat_thread("bench", None)?;
    let id = created.chat_thread.id;
    let thread = chat.get_chat_thread_client(&id)?;
    // The thread client shares `chat`'s connection pool and credential.
    Ok(Setup { emu, token, thread })
}

impl Setup {
    /// A client for the same thread through a new `ChatClient` (its own, empty connection
    /// pool) on `endpoint`.
    fn new_thread_client(&self, endpoint: &str) -> Result<ChatThreadClient, BoxError> {
        let chat = ChatClient::new(
            endpoint,
            CommunicationTokenCredential::new(self.token.clone())?,
        )?;
        Ok(chat.get_chat_thread_client(self.thread.thread_id())?)
    }
}

/// A thread id as one path segment, as the SDK and the official SDKs encode it.
fn encode_thread_id(id: &str) -> String {
    id.replace('%', "%25")
        .replace(':', "%3A")
        .replace('@', "%40")
        .replace('/', "%2F")
}

// ---------------------------------------------------------------------------------------------
// (a) the floor: bare ureq + serde_json::Value

/// The same requests the SDK makes, by hand: one ureq agent (its own connection pool), the
/// same headers (User-Agent, Accept, Content-Type, x-ms-client-request-id, Authorization),
/// bodies built and responses parsed with `serde_json::Value`.
struct Floor {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

/// Answers `http://IP:PORT` without a lookup (the bench only uses IP literals with it).
#[derive(Debug, Default)]
struct LiteralResolver(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let literal = uri.authority().and_then(|a| {
            Some(std::net::SocketAddr::new(
                a.host().parse().ok()?,
                a.port_u16()?,
            ))
        });
        match literal {
            Some(addr) => {
                let mut out = self.empty();
                out.push(addr);
                Ok(out)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

impl Floor {
    /// `timeout`: an optional global timeout on the agent (the SDK sets one per call; ureq 3
    /// then resolves the host on a new thread for every request, see BENCHMARKS.md).
    /// `literal_resolver`: answer IP-literal hosts without a lookup, as the SDK does.
    fn new(
        endpoint: &str,
        token: &str,
        thread_id: &str,
        timeout: Option<Duration>,
        literal_resolver: bool,
    ) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .accept("application/json")
            .timeout_global(timeout)
            .build();
        let agent = if literal_resolver {
            ureq::Agent::with_parts(
                config,
                ureq::unversioned::transport::DefaultConnector::new(),
                LiteralResolver::default(),
            )
        } else {
            ureq::Agent::new_with_config(config)
        };
        Floor {
            agent,
            base: format!("{endpoint}/chat/threads/{}", encode_thread_id(thread_id)),
            auth: format!("Bearer {token}"),
        }
    }

    fn read_json(
        mut response: ureq::http::Response<ureq::Body>,
        want: u16,
    ) -> Result<serde_json::Value, BoxError> {
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec()?;
        if status != want {
            return Err(format!(
                "floor: status {status}, body {}",
                String::from_utf8_lossy(&body)
            )
            .into());
        }
        Ok(serde_json::from_slice(&body)?)
    }

    fn send(&self, content: &str) -> Result<String, BoxError> {
        let body = serde_json::to_vec(&serde_json::json!({ "content": content, "type": "text" }))?;
        let response = self
            .agent
            .post(&format!("{}/messages?api-version={API_VERSION}", self.base))
            .header("content-type", "application/json")
            .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string())
            .header("authorization", &self.auth)
            .send(&body[..])?;
        let v = Self::read_json(response, 201)?;
        v.get("id")
            .and_then(|id| id.as_str())
            .map(str::to_string)
            .ok_or_else(|| "floor: no id in the send response".into())
    }

    fn get(&self, id: &str) -> Result<serde_json::Value, BoxError> {
        let response = self
            .agent
            .get(&format!(
                "{}/messages/{id}?api-version={API_VERSION}",
                self.base
            ))
            .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string())
            .header("authorization", &self.auth)
            .call()?;
        Self::read_json(response, 200)
    }

    fn list_page(&self, size: usize) -> Result<usize, BoxError> {
        let response = self
            .agent
            .get(&format!(
                "{}/messages?maxPageSize={size}&api-version={API_VERSION}",
                self.base
            ))
            .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string())
            .header("authorization", &self.auth)
            .call()?;
        let v = Self::read_json(response, 200)?;
        Ok(v.get("value")
            .and_then(|v| v.as_array())
            .map_or(0, Vec::len))
    }
}

/// Median of a non-empty list.
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Runs `floor_op` and `sdk_op` `k` times each per round, alternating which goes first, and
/// prints µs/op for each side (median over rounds) and their ratio.
fn compare(
    label: &str,
    rounds: usize,
    k: usize,
    mut floor_op: impl FnMut(usize) -> Result<(), BoxError>,
    mut sdk_op: impl FnMut(usize) -> Result<(), BoxError>,
) -> Result<f64, BoxError> {
    // One unmeasured round each to warm connections and caches.
    for i in 0..k.min(20) {
        floor_op(i)?;
        sdk_op(i)?;
    }
    let (mut f_us, mut s_us, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let time = |op: &mut dyn FnMut(usize) -> Result<(), BoxError>| -> Result<f64, BoxError> {
            let t0 = Instant::now();
            for i in 0..k {
                op(r * k + i)?;
            }
            Ok(t0.elapsed().as_secs_f64() * 1e6 / k as f64)
        };
        let (f, s) = if r % 2 == 0 {
            let f = time(&mut floor_op)?;
            (f, time(&mut sdk_op)?)
        } else {
            let s = time(&mut sdk_op)?;
            (time(&mut floor_op)?, s)
        };
        f_us.push(f);
        s_us.push(s);
        ratios.push(s / f);
    }
    let (f, s, ratio) = (median(f_us), median(s_us), median(ratios));
    println!(
        "| {label:<22} | {f:>9.1} | {s:>9.1} | {ratio:>6.3} | {:>9.0} | {:>9.0} |",
        1e6 / f,
        1e6 / s
    );
    Ok(ratio)
}

/// The cost of acting for many users over one pool: a call on one client vs the same call
/// after `with_credential` switched to another of 100 users (a new `ChatClient` per call).
fn user_switch() -> Result<(), BoxError> {
    println!("\n## (e) user switch: `with_credential` + call vs the same call on one client");
    let emu = Emulator::start()?;
    let users: Vec<(String, String)> = (0..100).map(|_| emu.user_with_token()).collect();
    let credentials = users
        .iter()
        .map(|(_, token)| CommunicationTokenCredential::new(token.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let first = ChatClient::new(&emu.endpoint(), credentials[0].clone())?;
    let id = first.create_chat_thread("switch", None)?.chat_thread.id;
    // Every user is a participant of the thread, so each switched client may read it.
    let participants: Vec<_> = users
        .iter()
        .skip(1)
        .map(|(user, _)| {
            acs_chat::ChatParticipant::new(acs_chat::CommunicationIdentifier::communication_user(
                user.clone(),
            ))
        })
        .collect();
    let failed = first
        .get_chat_thread_client(&id)?
        .add_participants(&participants)?;
    if !failed.is_empty() {
        return Err(format!("{} participants were rejected", failed.len()).into());
    }
    let rounds = env_usize("E2E_ROUNDS", 15);
    println!("| operation              | one µs    | switch µs | ratio  | one/s     | switch/s  |");
    println!("|------------------------|-----------|-----------|--------|-----------|-----------|");
    compare(
        "get_chat_thread",
        rounds,
        300,
        |_| first.get_chat_thread(&id).map(drop).map_err(Into::into),
        |i| {
            first
                .with_credential(credentials[i % credentials.len()].clone())
                .get_chat_thread(&id)
                .map(drop)
                .map_err(Into::into)
        },
    )?;
    let n = 100_000;
    let t0 = Instant::now();
    for i in 0..n {
        std::hint::black_box(first.with_credential(credentials[i % credentials.len()].clone()));
    }
    println!(
        "with_credential alone: {:.0} ns per switch ({n} switches)",
        t0.elapsed().as_secs_f64() * 1e9 / n as f64
    );
    Ok(())
}

/// Wrong answers on either side end the run with an error; timings are only printed.
fn floor() -> Result<(), BoxError> {
    println!(
        "\n## (a) acs-chat vs the floor (bare ureq 3 + serde_json::Value), interleaved rounds"
    );
    let s = setup()?;
    let floor = Floor::new(
        &s.emu.endpoint(),
        &s.token,
        s.thread.thread_id(),
        None,
        false,
    );
    // A full first page for the list comparison.
    let mut ids = Vec::new();
    for i in 0..250 {
        ids.push(s.thread.send_message(&format!("seed {i}"), None)?.id);
    }
    let rounds = env_usize("E2E_ROUNDS", 15);
    println!(
        "rounds: {rounds} (median over rounds; each round runs both sides, order alternating)"
    );
    println!("| operation              | floor µs  | sdk µs    | ratio  | floor/s   | sdk/s     |");
    println!("|------------------------|-----------|-----------|--------|-----------|-----------|");
    compare(
        "send_message",
        rounds,
        200,
        |i| floor.send(&format!("floor message {i}")).map(drop),
        |i| {
            s.thread
                .send_message(&format!("sdk message {i}"), None)
                .map(drop)
                .map_err(Into::into)
        },
    )?;
    compare(
        "get_message",
        rounds,
        300,
        |i| floor.get(&ids[i % ids.len()]).map(drop),
        |i| {
            s.thread
                .get_message(&ids[i % ids.len()])
                .map(drop)
                .map_err(Into::into)
        },
    )?;
    compare(
        "list page (200 items)",
        rounds,
        20,
        |_| {
            let n = floor.list_page(200)?;
            if n != 200 {
                return Err(format!("floor page had {n} items").into());
            }
            Ok(())
        },
        |_| {
            let options = ListMessagesOptions {
                results_per_page: Some(200),
                ..Default::default()
            };
            let page = s
                .thread
                .list_messages(Some(options))
                .by_page()
                .next()
                .ok_or("no first page")??;
            if page.items.len() != 200 {
                return Err(format!("sdk page had {} items", page.items.len()).into());
            }
            Ok(())
        },
    )?;
    // Why the SDK's send/get sit above the floor: the same bare requests with a ureq global
    // timeout set (as the SDK sets one per call) against the bare requests without one.
    println!(
        "\nDiagnosis: bare ureq with a 60 s global timeout (\"sdk\" column) vs without (\"floor\")"
    );
    let timed_floor = Floor::new(
        &s.emu.endpoint(),
        &s.token,
        s.thread.thread_id(),
        Some(Duration::from_secs(60)),
        false,
    );
    compare(
        "get_message +timeout",
        rounds,
        300,
        |i| floor.get(&ids[i % ids.len()]).map(drop),
        |i| timed_floor.get(&ids[i % ids.len()]).map(drop),
    )?;
    // ... and with the lookup thread avoided as the SDK does: what is left is ureq's own cost
    // of a timed request (timers, socket timeouts set per read and write).
    let timed_literal = Floor::new(
        &s.emu.endpoint(),
        &s.token,
        s.thread.thread_id(),
        Some(Duration::from_secs(60)),
        true,
    );
    compare(
        "get +timeout +literal",
        rounds,
        300,
        |i| floor.get(&ids[i % ids.len()]).map(drop),
        |i| timed_literal.get(&ids[i % ids.len()]).map(drop),
    )?;
    compare(
        "send +timeout +literal",
        rounds,
        200,
        |i| floor.send(&format!("floor message {i}")).map(drop),
        |i| timed_literal.send(&format!("timed message {i}")).map(drop),
    )?;
    // The same comparison with the endpoint given by name (`localhost`): names still go
    // through ureq's resolver, which looks them up on a new thread for every request.
    println!("\nBy name: endpoint http://localhost:PORT for both sides");
    let by_name = s.emu.endpoint().replace("127.0.0.1", "localhost");
    let floor_name = Floor::new(&by_name, &s.token, s.thread.thread_id(), None, false);
    let sdk_name = s.new_thread_client(&by_name)?;
    compare(
        "get_message @localhost",
        rounds,
        300,
        |i| floor_name.get(&ids[i % ids.len()]).map(drop),
        |i| {
            sdk_name
                .get_message(&ids[i % ids.len()])
                .map(drop)
                .map_err(Into::into)
        },
    )?;
    Ok(())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The same number of floor and acs-chat `get_message` and `send_message` calls, one after the
/// other, for `valgrind --tool=callgrind`: the inclusive instruction counts of `Floor::get` /
/// `Floor::send` and `ChatThreadClient::get_message` / `send_message` are the client-side CPU
/// work per call, free of scheduling noise (kernel time is not counted).
fn instructions() -> Result<(), BoxError> {
    let n = env_usize("E2E_INSTR_N", 1000);
    println!("\n## instructions: {n} gets and {n} sends per side (run under callgrind)");
    let s = setup()?;
    let floor = Floor::new(
        &s.emu.endpoint(),
        &s.token,
        s.thread.thread_id(),
        None,
        false,
    );
    let id = s.thread.send_message("instructions", None)?.id;
    for i in 0..n {
        floor.get(&id)?;
        floor.send(&format!("floor message {i}"))?;
    }
    for i in 0..n {
        s.thread.get_message(&id)?;
        s.thread.send_message(&format!("sdk message {i}"), None)?;
    }
    Ok(())
}

/// How long each row of the throughput tables ((b) and (d)) runs.
const ROW_TIME: Duration = Duration::from_secs(3);

/// Runs `workers` threads for [`ROW_TIME`]: each prepares its step with `prepare`, then, once
/// every worker is ready, repeats the step until the time is up. Returns the steps completed
/// and the seconds measured; a worker's error (a failed prepare included) is the run's error.
fn run_workers<P, S>(workers: usize, prepare: P) -> Result<(u64, f64), BoxError>
where
    P: Fn() -> Result<S, String> + Send + Sync + 'static,
    S: FnMut() -> Result<(), String>,
{
    let prepare = Arc::new(prepare);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(workers + 1));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (prepare, stop, done, barrier) =
                (prepare.clone(), stop.clone(), done.clone(), barrier.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let step = prepare();
                // Wait for the start even when preparing failed, so the others are not stuck.
                barrier.wait();
                let mut step = step?;
                while !stop.load(Ordering::Relaxed) {
                    step()?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    std::thread::sleep(ROW_TIME);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().map_err(|_| "a worker panicked")??;
    }
    Ok((done.load(Ordering::Relaxed), t0.elapsed().as_secs_f64()))
}

// ---------------------------------------------------------------------------------------------
// (b) one ChatClient shared by 1, 2, 4, 8 threads

fn concurrency(failures: &mut Vec<String>) -> Result<(), BoxError> {
    println!(
        "\n## (b) one ChatClient shared by N threads, get_message for {} s each",
        ROW_TIME.as_secs()
    );
    let s = setup()?;
    let id = s.thread.send_message("shared", None)?.id;
    println!("| threads | requests | req/s     | new TCP connections |");
    println!("|---------|----------|-----------|---------------------|");
    for threads in [1usize, 2, 4, 8] {
        // A fresh client per row, so its pool starts empty and every connection it opens
        // is counted.
        let thread = s.new_thread_client(&s.emu.endpoint())?;
        let before = s.emu.connection_count();
        let message_id = id.clone();
        let (n, dt) = run_workers(threads, move || {
            let (thread, id) = (thread.clone(), message_id.clone());
            Ok(move || thread.get_message(&id).map(drop).map_err(|e| e.to_string()))
        })?;
        let conns = s.emu.connection_count() - before;
        println!(
            "| {threads:>7} | {n:>8} | {:>9.0} | {conns:>19} |",
            n as f64 / dt
        );
        if conns > threads as u64 {
            failures.push(format!(
                "concurrency: {threads} threads sharing one ChatClient opened {conns} connections \
                 (more than one per thread: the pool drops connections and reconnects)"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (c) paging 100,000 messages at page size 200

fn paging(failures: &mut Vec<String>) -> Result<(), BoxError> {
    let n = env_usize("E2E_PAGING_N", 100_000);
    const PAGE: usize = 200;
    println!("\n## (c) paging {n} messages at page size {PAGE}");
    let s = setup()?;
    // Seeding: concurrent sends through the SDK (one shared client, 4 threads); honest HTTP,
    // just parallel.
    let t0 = Instant::now();
    let seeders = 4;
    let handles: Vec<_> = (0..seeders)
        .map(|w| {
            let thread = s.thread.clone();
            std::thread::spawn(move || -> Result<(), String> {
                for i in (w..n).step_by(seeders) {
                    thread
                        .send_message(
                            &format!("paging message {i}: some ordinary chat text"),
                            None,
                        )
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "a seeder panicked")??;
    }
    println!(
        "seeded {n} messages in {:.1} s with {seeders} threads ({:.0} sends/s)",
        t0.elapsed().as_secs_f64(),
        n as f64 / t0.elapsed().as_secs_f64()
    );

    let rss_before = proc_status_kib("/proc/self/status", "VmRSS:").unwrap_or(0);
    // Reset the peak (VmHWM) to the current RSS, so the peak below is the walk's own.
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let requests_before = s.emu.request_count();
    let options = ListMessagesOptions {
        results_per_page: Some(PAGE as i32),
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut items = 0usize;
    let mut rss_peak = rss_before;
    for message in s.thread.list_messages(Some(options)) {
        let message = message?;
        std::hint::black_box(&message);
        items += 1;
        if items.is_multiple_of(PAGE) {
            rss_peak = rss_peak.max(proc_status_kib("/proc/self/status", "VmRSS:").unwrap_or(0));
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    let requests = s.emu.request_count() - requests_before;
    let hwm = proc_status_kib("/proc/self/status", "VmHWM:").unwrap_or(0);
    let peak = if hwm_reset {
        rss_peak.max(hwm)
    } else {
        rss_peak
    };
    let growth_kib = peak.saturating_sub(rss_before);
    let pages = items.div_ceil(PAGE);
    println!("| items  | requests | ceil(items/{PAGE}) | items/s   | RSS before  | peak growth |");
    println!("|--------|----------|------------------|-----------|-------------|-------------|");
    println!(
        "| {items:>6} | {requests:>8} | {pages:>16} | {:>9.0} | {:>7.1} MiB | {:>7.2} MiB |",
        items as f64 / dt,
        rss_before as f64 / 1024.0,
        growth_kib as f64 / 1024.0
    );
    println!(
        "(peak from {}; the emulator shares this process and holds the {n} messages)",
        if hwm_reset {
            "VmHWM reset via /proc/self/clear_refs, and VmRSS sampled every page"
        } else {
            "VmRSS sampled every page (could not reset VmHWM)"
        }
    );
    // For contrast: the same list collected into one Vec (what "one page at a time" avoids).
    let rss_before_all = proc_status_kib("/proc/self/status", "VmRSS:").unwrap_or(0);
    let options = ListMessagesOptions {
        results_per_page: Some(PAGE as i32),
        ..Default::default()
    };
    let all = s
        .thread
        .list_messages(Some(options))
        .collect::<Result<Vec<_>, _>>()?;
    let rss_all = proc_status_kib("/proc/self/status", "VmRSS:").unwrap_or(0);
    println!(
        "(for contrast, collecting all {} messages into a Vec grows RSS by {:.1} MiB)",
        all.len(),
        rss_all.saturating_sub(rss_before_all) as f64 / 1024.0
    );
    drop(all);
    if items < n {
        failures.push(format!("paging: walked {items} items, {n} were sent"));
    }
    if requests as usize != pages {
        failures.push(format!(
            "paging: {requests} requests for {items} items at page size {PAGE} (expected {pages})"
        ));
    }
    // One page of 200 decoded messages is well under a MiB; 100,000 held at once would be
    // tens of MiB. 16 MiB leaves room for allocator noise in a multi-threaded process.
    if growth_kib > 16 * 1024 {
        failures.push(format!(
            "paging: resident memory grew by {:.1} MiB over the walk (expected flat)",
            growth_kib as f64 / 1024.0
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (d) the emulator's own throughput

/// One keep-alive HTTP/1.1 connection that sends a fixed GET and reads each response whole.
struct RawClient {
    reader: BufReader<TcpStream>,
    request: Vec<u8>,
    line: String,
    body: Vec<u8>,
}

impl RawClient {
    fn connect(addr: &str, request: Vec<u8>) -> Result<Self, BoxError> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(RawClient {
            reader: BufReader::with_capacity(16 * 1024, stream),
            request,
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// Sends the request and reads the response; returns its status.
    fn roundtrip(&mut self) -> Result<u16, BoxError> {
        self.reader.get_mut().write_all(&self.request)?;
        self.line.clear();
        self.reader.read_line(&mut self.line)?;
        let status: u16 = self
            .line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {:?}", self.line))?;
        let mut length = None;
        loop {
            self.line.clear();
            if self.reader.read_line(&mut self.line)? == 0 {
                return Err("connection closed in the headers".into());
            }
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                }
            }
        }
        let length = length.ok_or("no content-length (chunked replies are not expected)")?;
        self.body.resize(length, 0);
        self.reader.read_exact(&mut self.body)?;
        Ok(status)
    }
}

fn emulator_rps(failures: &mut Vec<String>) -> Result<(), BoxError> {
    println!("\n## (d) the emulator itself: get-message requests/s over keep-alive connections");
    let s = setup()?;
    let id = s.thread.send_message("emulator throughput", None)?.id;
    let endpoint = s.emu.endpoint();
    let addr = endpoint.trim_start_matches("http://").to_string();
    let request = format!(
        "GET /chat/threads/{}/messages/{id}?api-version={API_VERSION} HTTP/1.1\r\n\
         Host: {addr}\r\nAccept: application/json\r\nAuthorization: Bearer {}\r\n\r\n",
        encode_thread_id(s.thread.thread_id()),
        s.token
    )
    .into_bytes();
    println!("| connections | requests | req/s     | new TCP connections |");
    println!("|-------------|----------|-----------|---------------------|");
    for conns in [1usize, 8, 64] {
        let before = s.emu.connection_count();
        let (addr, request) = (addr.clone(), request.clone());
        let (n, dt) = run_workers(conns, move || {
            let mut client =
                RawClient::connect(&addr, request.clone()).map_err(|e| e.to_string())?;
            Ok(move || -> Result<(), String> {
                let status = client.roundtrip().map_err(|e| e.to_string())?;
                if status != 200 {
                    return Err(format!("get-message answered {status}"));
                }
                Ok(())
            })
        })?;
        let opened = s.emu.connection_count() - before;
        println!(
            "| {conns:>11} | {n:>8} | {:>9.0} | {opened:>19} |",
            n as f64 / dt
        );
        if opened != conns as u64 {
            failures.push(format!(
                "emulator: {conns} keep-alive clients made {opened} connections (keep-alive broken?)"
            ));
        }
    }
    println!("(load average after: {})", load());
    Ok(())
}
