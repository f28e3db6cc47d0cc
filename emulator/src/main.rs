//! `acs-chat-emulator`: runs the emulator as a process.
//!
//! ```text
//! cargo run -p acs-chat-emulator -- --port 8080 [--access-key KEY]
//!     [--fault-rate 0.2 --faults 429,500,503,close-before,close-after,truncate,malformed,delay:MS]
//!     [--fault-seed N] [--latency-ms N] [--log-level warn|info|debug] [--data-dir DIR]
//! ```
//!
//! Prints one JSON line `{"endpoint":…,"connection_string":…}` on stdout when ready, logs to
//! stderr, and stops cleanly on SIGINT or SIGTERM.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use acs_chat_emulator::{Emulator, Fault, Faults};

const USAGE: &str = "usage: acs-chat-emulator [--port N] [--access-key BASE64] \
[--fault-rate F --faults 429,500,503,close-before,close-after,truncate,malformed,delay:MS] \
[--fault-seed N] [--latency-ms N] [--log-level warn|info|debug] [--data-dir DIR]";

/// Writes `log` records to stderr (the emulator logs requests at `debug`, problems at `warn`).
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("acs-chat-emulator: {} {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

struct Args {
    port: u16,
    log_level: log::LevelFilter,
    access_key: Option<String>,
    faults: Faults,
    data_dir: Option<std::path::PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut out = Args {
        port: 0,
        log_level: log::LevelFilter::Warn,
        access_key: None,
        faults: Faults::default(),
        data_dir: None,
    };
    while let Some(flag) = args.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        if name == "--help" || name == "-h" {
            return Err(USAGE.to_string());
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{name} needs a value\n{USAGE}")),
        };
        let bad = |what: &str| format!("{name}: {what} expected, got '{value}'");
        match name.as_str() {
            "--port" => out.port = value.parse().map_err(|_| bad("a port number"))?,
            "--access-key" => out.access_key = Some(value.clone()),
            "--data-dir" => out.data_dir = Some(value.clone().into()),
            "--log-level" => {
                out.log_level = value
                    .parse()
                    .map_err(|_| bad("off, error, warn, info, debug or trace"))?
            }
            "--fault-rate" => {
                let r: f64 = value.parse().map_err(|_| bad("a number in 0..1"))?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(bad("a number in 0..1"));
                }
                out.faults.rate = r;
            }
            "--faults" => {
                out.faults.kinds = value
                    .split(',')
                    .map(|k| {
                        Fault::parse(k).ok_or_else(|| format!("--faults: unknown fault '{k}'"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--fault-seed" => out.faults.seed = value.parse().map_err(|_| bad("an integer"))?,
            "--latency-ms" => {
                out.faults.latency =
                    Duration::from_millis(value.parse().map_err(|_| bad("milliseconds"))?)
            }
            _ => return Err(format!("unknown flag {name}\n{USAGE}")),
        }
    }
    if out.faults.rate > 0.0 && out.faults.kinds.is_empty() {
        out.faults.kinds = vec![
            Fault::TooManyRequests {
                retry_after: Duration::from_secs(1),
            },
            Fault::InternalError,
            Fault::ServiceUnavailable,
        ];
    }
    Ok(out)
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                eprintln!("acs-chat-emulator: cannot watch SIGTERM ({e}); stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(args.log_level);
    }
    let mut builder = Emulator::builder()
        .port(args.port)
        .faults(args.faults.clone());
    if let Some(k) = &args.access_key {
        builder = builder.access_key(k);
    }
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    let emu = match builder.start() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("acs-chat-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let line = format!(
        "{{\"endpoint\":{},\"connection_string\":{}}}",
        json_string(&emu.endpoint()),
        json_string(&emu.connection_string())
    );
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|_| stdout.flush())
        .is_err()
    {
        eprintln!("acs-chat-emulator: cannot write the ready line");
    }
    drop(stdout);
    eprintln!(
        "acs-chat-emulator: listening on {} (faults: {:?})",
        emu.endpoint(),
        args.faults
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("acs-chat-emulator: cannot wait for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(wait_for_signal());
    eprintln!(
        "acs-chat-emulator: stopping after {} requests on {} connections",
        emu.request_count(),
        emu.connection_count()
    );
    drop(emu);
    ExitCode::SUCCESS
}
