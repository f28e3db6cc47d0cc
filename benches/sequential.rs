//! acs-chat's side of the comparison with the official Python SDK: the same sequential
//! `send_message`, `get_message` and list-messages walk that
//! `../shared/conformance/python_sdk_flow.py --bench N` times, printed in the same format.
//!
//! ```text
//! cargo bench --bench sequential -- --n 1000 --page-size 100     # in-process emulator
//! ACS_ENDPOINT=http://127.0.0.1:PORT ACS_CONNECTION_STRING="endpoint=…;accesskey=…" \
//!     cargo bench --bench sequential -- --n 1000 --page-size 100 --api-version 2024-03-07
//! ```
//!
//! With `ACS_ENDPOINT` and `ACS_CONNECTION_STRING` set it runs against that server (user and
//! token made with our identity client, as the Python script makes them with its own);
//! otherwise it starts the emulator in-process. `bench/compare_python.sh` runs both sides
//! against one emulator binary and prints the ratios.

use std::time::{Duration, Instant};

use acs_chat::identity::{
    AzureKeyCredential, CommunicationIdentityClient, CommunicationTokenScope,
};
use acs_chat::{
    ChatClient, ChatClientOptions, CommunicationTokenCredential, ListMessagesOptions, RetryOptions,
    TransportOptions,
};

type BoxError = Box<dyn std::error::Error>;

struct Args {
    n: usize,
    page_size: i32,
    warmup: usize,
    api_version: Option<String>,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        n: 1000,
        page_size: 100,
        warmup: 5,
        api_version: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--n" => args.n = value("--n")?.parse()?,
            "--page-size" => args.page_size = value("--page-size")?.parse()?,
            "--warmup" => args.warmup = value("--warmup")?.parse()?,
            "--api-version" => args.api_version = Some(value("--api-version")?),
            // `cargo bench` passes `--bench`; criterion-style filters are not used here.
            _ => {}
        }
    }
    if args.n == 0 {
        return Err("--n must be at least 1".into());
    }
    Ok(args)
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64) as usize).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs `op` `count` times, printing the Python script's line format.
fn timed(
    label: &str,
    count: usize,
    mut op: impl FnMut(usize) -> Result<(), BoxError>,
) -> Result<f64, BoxError> {
    let mut lat = Vec::with_capacity(count);
    let t0 = Instant::now();
    for i in 0..count {
        let s = Instant::now();
        op(i)?;
        lat.push(s.elapsed());
    }
    let dt = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    println!(
        "bench {label:<13} {count:6} ops in {dt:8.3} s -> {:9.1} ops/s  (p50 {:.2} ms, p99 {:.2} ms)",
        count as f64 / dt,
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
    Ok(dt)
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    // Held for the whole run when we start our own.
    let mut _local = None;
    let (endpoint, token) = match (
        std::env::var("ACS_ENDPOINT"),
        std::env::var("ACS_CONNECTION_STRING"),
    ) {
        (Ok(endpoint), Ok(conn)) => {
            let key = conn
                .split(';')
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case("accesskey"))
                .map(|(_, v)| v.to_string())
                .ok_or("ACS_CONNECTION_STRING has no accesskey")?;
            let identity = CommunicationIdentityClient::new(
                endpoint.trim_end_matches('/'),
                AzureKeyCredential::new(key)?,
            )?;
            let (_user, token) =
                identity.create_user_and_token(&[CommunicationTokenScope::Chat], None)?;
            (endpoint.trim_end_matches('/').to_string(), token.token)
        }
        _ => {
            let emu = acs_chat_emulator::Emulator::start()?;
            let (_user, token) = emu.user_with_token();
            let endpoint = emu.endpoint();
            _local = Some(emu);
            (endpoint, token)
        }
    };

    // As the Python run: no retries (ACS_RETRY_TOTAL=0), so a failure shows instead of hiding.
    let mut options = ChatClientOptions {
        transport_options: TransportOptions {
            retry: RetryOptions::none(),
            ..Default::default()
        },
        ..Default::default()
    };
    if let Some(v) = &args.api_version {
        options.api_version = v.clone();
    }
    let chat = ChatClient::with_options(
        &endpoint,
        CommunicationTokenCredential::new(token)?,
        options,
    )?;
    let created = chat.create_chat_thread("bench acs-chat", None)?;
    let tid = created.chat_thread.id;
    let tc = chat.get_chat_thread_client(&tid)?;
    for _ in 0..args.warmup {
        tc.get_properties()?;
    }

    let mut ids = Vec::with_capacity(args.n);
    timed("send_message", args.n, |i| {
        ids.push(tc.send_message(&format!("bench message {i}"), None)?.id);
        Ok(())
    })?;
    timed("get_message", args.n, |i| {
        tc.get_message(&ids[i % ids.len()])?;
        Ok(())
    })?;

    // list: walk pages until n messages seen, as the Python script does.
    let t0 = Instant::now();
    let (mut items, mut pages) = (0usize, 0usize);
    let options = ListMessagesOptions {
        results_per_page: Some(args.page_size),
        ..Default::default()
    };
    for page in tc.list_messages(Some(options)).by_page() {
        let page = page?;
        pages += 1;
        items += page.items.len();
        if items >= args.n {
            break;
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "bench {:<13} {items:6} items in {dt:8.3} s -> {:9.1} items/s ({pages} pages of <={}, {:.1} pages/s)",
        "list_messages",
        items as f64 / dt,
        args.page_size,
        pages as f64 / dt
    );
    chat.delete_chat_thread(&tid)?;
    Ok(())
}
