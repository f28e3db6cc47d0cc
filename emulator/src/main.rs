//! `acs-chat-emulator`: runs the emulator as a process.
//!
//! ```text
//! cargo run -p acs-chat-emulator -- [--host 127.0.0.1] [--port 8080] [--access-key KEY] …
//! ```
//!
//! `--help` lists every flag. Each `--event-webhook` becomes an Event Grid event subscription
//! (validated before the ready line; a webhook that does not validate stops the start);
//! `--event-types` and `--event-schema` apply to every one. Prints one JSON line
//! `{"endpoint":…,"connection_string":…}` on stdout when ready, logs to stderr, and stops
//! cleanly on SIGINT or SIGTERM.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use acs_chat_emulator::{Emulator, EventSchema, Fault, Faults, SubscriptionOptions};

/// What `--help` prints (on stdout, exit 0).
const USAGE: &str = "\
acs-chat-emulator: a local stand-in for the Azure Communication Services Chat and Identity API

usage: acs-chat-emulator [FLAGS]

  --host ADDR         address to listen on (default 127.0.0.1; 0.0.0.0 or :: for all)
  --port N            port to listen on (default 0: a free one)
  --access-key BASE64 the resource's access key (default: random)
  --cors-origin URL   browser origin allowed to call (repeatable; default: any)
  --entra-app ID      accept Entra ID bearer tokens of this app id on identity routes
                      (repeatable; mint them with POST /emulator/entraToken)
  --tls               serve https with a development CA made at start; its certificate
                      is written as PEM to a temporary file named in the ready line
                      (with --data-dir: kept in DIR/tls/ca.pem and reused on restart)
  --cert FILE --key FILE
                      serve https with your own certificate chain and key (PEM)
  --rate-limits       enforce the service's per-operation rates (429 + Retry-After)
  --fault-rate F      fraction 0..1 of requests to fault
  --faults LIST       429,500,503,close-before,close-after,truncate,malformed,delay:MS
                      (default with --fault-rate: 429,500,503)
  --fault-seed N      seed of the fault generator
  --latency-ms N      latency added to every request
  --log-level LEVEL   off, error, warn (default), info, debug, trace
  --data-dir DIR      keep users, tokens, threads and messages in DIR/emulator.sqlite3
                      across restarts, and --tls's CA and certificate in DIR/tls/
                      (default: in memory)
  --event-webhook URL publish chat events to this webhook as Event Grid does (repeatable;
                      validated before the ready line)
  --event-types LIST  only these event types (comma-separated; default: all)
  --event-schema S    eventgrid (default) or cloudevents
  -h, --help          print this help and exit
  -V, --version       print the version and exit

When ready it prints one JSON line on stdout:
  {\"endpoint\":\"http://127.0.0.1:PORT\",\"connection_string\":\"endpoint=...;accesskey=...\"}
(with --tls also \"ca_cert\":\"/path/to/ca.pem\")
and stops cleanly on SIGINT or SIGTERM.";

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

/// What the command line asks for.
enum Command {
    /// Serve with these arguments.
    Run(Box<Args>),
    /// Print this text on stdout and exit 0 (`--help`, `--version`).
    Print(String),
}

struct Args {
    host: Option<String>,
    cors_origins: Vec<String>,
    entra_apps: Vec<String>,
    tls: bool,
    rate_limits: bool,
    cert: Option<String>,
    key: Option<String>,
    port: u16,
    log_level: log::LevelFilter,
    access_key: Option<String>,
    faults: Faults,
    event_webhooks: Vec<String>,
    event_types: Vec<String>,
    event_schema: EventSchema,
    data_dir: Option<std::path::PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut out = Args {
        host: None,
        cors_origins: Vec::new(),
        entra_apps: Vec::new(),
        tls: false,
        rate_limits: false,
        cert: None,
        key: None,
        port: 0,
        log_level: log::LevelFilter::Warn,
        access_key: None,
        faults: Faults::default(),
        event_webhooks: Vec::new(),
        event_types: Vec::new(),
        event_schema: EventSchema::EventGrid,
        data_dir: None,
    };
    while let Some(flag) = args.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        // Flags without a value.
        match name.as_str() {
            "--help" | "-h" => return Ok(Command::Print(USAGE.to_string())),
            "--tls" => {
                out.tls = true;
                continue;
            }
            "--rate-limits" => {
                out.rate_limits = true;
                continue;
            }
            "--version" | "-V" => {
                return Ok(Command::Print(format!(
                    "acs-chat-emulator {}",
                    env!("CARGO_PKG_VERSION")
                )))
            }
            _ => {}
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{name} needs a value\n{USAGE}")),
        };
        let bad = |what: &str| format!("{name}: {what} expected, got '{value}'");
        match name.as_str() {
            "--host" => out.host = Some(value.clone()),
            "--cors-origin" => out.cors_origins.push(value.clone()),
            "--entra-app" => out.entra_apps.push(value.clone()),
            "--cert" => out.cert = Some(value.clone()),
            "--key" => out.key = Some(value.clone()),
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
            "--event-webhook" => out.event_webhooks.push(value.clone()),
            "--event-types" => {
                out.event_types = value
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "--event-schema" => out.event_schema = value.parse().map_err(|e: String| e)?,
            _ => return Err(format!("unknown flag {name}\n{USAGE}")),
        }
    }
    if out.cert.is_some() != out.key.is_some() {
        return Err(format!("--cert and --key go together\n{USAGE}"));
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
    Ok(Command::Run(Box::new(out)))
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

/// Writes the development CA to `<temp>/acs-chat-emulator-<port>-ca.pem`, replacing an older
/// one of a stopped emulator on the same port.
fn write_ca(emu: &Emulator, pem: &str) -> std::io::Result<std::path::PathBuf> {
    let port = emu.endpoint().rsplit(':').next().unwrap_or("0").to_string();
    let path = std::env::temp_dir().join(format!("acs-chat-emulator-{port}-ca.pem"));
    // A fresh file, never through a link someone else left at that name.
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    file.write_all(pem.as_bytes())?;
    Ok(path)
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
        Ok(Command::Run(a)) => a,
        Ok(Command::Print(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
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
    if let Some(h) = &args.host {
        builder = builder.host(h);
    }
    for app in &args.entra_apps {
        builder = builder.entra_app(app);
    }
    for origin in &args.cors_origins {
        builder = builder.cors_origin(origin);
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let read = |path: &str| {
            std::fs::read(path).map_err(|e| format!("acs-chat-emulator: cannot read {path}: {e}"))
        };
        match (read(cert), read(key)) {
            (Ok(c), Ok(k)) => builder = builder.tls_pem(c, k),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    } else if args.tls {
        builder = builder.tls();
    }
    builder = builder.rate_limits(args.rate_limits);
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
    // A CA kept in the data directory is named as it is (and stays); a fresh one goes to a
    // temporary file removed at exit.
    let kept_ca = emu.ca_path().map(std::path::Path::to_path_buf);
    let ca_file = match (&kept_ca, emu.ca_pem()) {
        (None, Some(pem)) => match write_ca(&emu, &pem) {
            Ok(path) => Some(path),
            Err(e) => {
                eprintln!("acs-chat-emulator: cannot write the CA certificate: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let ca_field = ca_file
        .as_ref()
        .or(kept_ca.as_ref())
        .map(|p| format!(",\"ca_cert\":{}", json_string(&p.to_string_lossy())))
        .unwrap_or_default();
    for url in &args.event_webhooks {
        let options = SubscriptionOptions::default()
            .event_types(args.event_types.clone())
            .schema(args.event_schema);
        match emu.subscribe_events(url, options) {
            Ok(name) => eprintln!("acs-chat-emulator: events to {url} (subscription {name})"),
            Err(e) => {
                eprintln!("acs-chat-emulator: --event-webhook {url}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let line = format!(
        "{{\"endpoint\":{},\"connection_string\":{}{ca_field}}}",
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
    if let Some(path) = ca_file {
        if let Err(e) = std::fs::remove_file(&path) {
            eprintln!("acs-chat-emulator: cannot remove {}: {e}", path.display());
        }
    }
    ExitCode::SUCCESS
}
