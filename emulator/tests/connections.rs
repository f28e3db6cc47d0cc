//! Connection limits, with raw TCP: half-sent requests and idle keep-alive connections are
//! closed after their timeouts, and past the connection cap new clients wait rather than fail.
//!
//! Reads carry a timeout only as a bound (so a regression fails instead of hanging); what is
//! asserted is whether the server closed the connection, never how long it took.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use acs_chat_emulator::Emulator;

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// What a blocking read on a connection saw.
#[derive(Debug, PartialEq)]
enum Seen {
    /// The server closed the connection (end of stream or reset).
    Closed,
    /// Nothing within the read timeout: the connection is still open.
    Open,
    /// Bytes of a response.
    Data(String),
}

fn read_once(s: &mut TcpStream, bound: Duration) -> Seen {
    s.set_read_timeout(Some(bound)).expect("read timeout");
    let mut buf = [0u8; 4096];
    match s.read(&mut buf) {
        Ok(0) => Seen::Closed,
        Ok(n) => Seen::Data(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Seen::Open,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) =>
        {
            Seen::Closed
        }
        Err(e) => panic!("read failed: {e}"),
    }
}

fn connect(emu: &Emulator) -> TcpStream {
    let addr = emu.endpoint().trim_start_matches("http://").to_string();
    TcpStream::connect(addr).expect("connect")
}

/// A complete request the emulator answers without auth (an unknown route: 404).
const FULL_REQUEST: &[u8] = b"GET /nothing HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// A request head that never ends.
const HALF_REQUEST: &[u8] = b"GET /chat/threads?api-version=2024-03-07 HTTP/1.1\r\nHost: l";

/// Waits (bounded) for a condition on the emulator, polling a gauge; returns whether it held.
fn eventually(mut cond: impl FnMut() -> bool, bound: Duration) -> bool {
    let until = Instant::now() + bound;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        // Polling a counter the emulator updates from its own threads: nothing to wait on.
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A request head that stops half-way is closed after the header-read timeout.
#[test]
fn half_sent_request_is_closed_after_header_timeout() {
    let emu = Emulator::builder()
        .header_read_timeout(HEADER_TIMEOUT)
        .idle_timeout(Duration::from_secs(60))
        .start()
        .expect("emulator");
    let mut s = connect(&emu);
    s.write_all(HALF_REQUEST).expect("write");
    assert_eq!(read_once(&mut s, Duration::from_secs(20)), Seen::Closed);
}

/// An idle keep-alive connection outlives the header-read timeout, serves a second request,
/// and is closed after the idle timeout.
#[test]
fn idle_connection_outlives_header_timeout_and_closes_after_idle_timeout() {
    let emu = Emulator::builder()
        .header_read_timeout(HEADER_TIMEOUT)
        .idle_timeout(Duration::from_secs(3))
        .start()
        .expect("emulator");
    let mut s = connect(&emu);
    s.write_all(FULL_REQUEST).expect("write");
    let first = read_once(&mut s, Duration::from_secs(20));
    assert!(
        matches!(&first, Seen::Data(d) if d.starts_with("HTTP/1.1 404")),
        "first reply: {first:?}"
    );
    // Idle for longer than the header timeout: still open.
    assert_eq!(read_once(&mut s, HEADER_TIMEOUT * 3), Seen::Open);
    s.write_all(FULL_REQUEST).expect("write again");
    let second = read_once(&mut s, Duration::from_secs(20));
    assert!(
        matches!(&second, Seen::Data(d) if d.starts_with("HTTP/1.1 404")),
        "second reply on the same connection: {second:?}"
    );
    assert_eq!(read_once(&mut s, Duration::from_secs(20)), Seen::Closed);
    assert!(
        eventually(|| emu.open_connections() == 0, Duration::from_secs(10)),
        "open connections: {}",
        emu.open_connections()
    );
}

/// Past the connection cap a new client is not accepted (and not reset): it is served as
/// soon as an open connection ends.
#[test]
fn connection_past_cap_waits_until_a_slot_frees() {
    let emu = Emulator::builder()
        .max_connections(2)
        .idle_timeout(Duration::from_secs(60))
        .start()
        .expect("emulator");
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(&emu);
            s.write_all(FULL_REQUEST).expect("write");
            let r = read_once(&mut s, Duration::from_secs(20));
            assert!(matches!(r, Seen::Data(_)), "reply within the cap: {r:?}");
            s
        })
        .collect();
    assert_eq!(emu.open_connections(), 2);
    let mut third = connect(&emu);
    third.write_all(FULL_REQUEST).expect("write");
    assert_eq!(
        read_once(&mut third, Duration::from_millis(500)),
        Seen::Open,
        "a third connection was served past the cap of 2"
    );
    drop(held.pop());
    let r = read_once(&mut third, Duration::from_secs(20));
    assert!(
        matches!(&r, Seen::Data(d) if d.starts_with("HTTP/1.1 404")),
        "third connection after a slot freed: {r:?}"
    );
}

/// The probe: 3,000 half-sent requests, then a wait past the header-read timeout;
/// prints the open connections at the peak and after, and checks that none is left open.
#[test]
fn many_half_sent_requests_are_all_closed() {
    const N: usize = 3_000;
    let header_timeout = Duration::from_secs(2);
    let emu = Emulator::builder()
        .header_read_timeout(header_timeout)
        .max_connections(4_096)
        .start()
        .expect("emulator");
    let started = Instant::now();
    let mut clients = Vec::with_capacity(N);
    let mut peak = 0;
    for _ in 0..N {
        let mut s = connect(&emu);
        s.write_all(HALF_REQUEST).expect("write");
        clients.push(s);
        peak = peak.max(emu.open_connections());
    }
    let sent_in = started.elapsed();
    let waited = Instant::now();
    let closed = eventually(|| emu.open_connections() == 0, Duration::from_secs(60));
    println!(
        "{N} half-sent requests (sent in {sent_in:?}, header timeout {header_timeout:?}): \
         peak {peak} open, {} open {:?} after the last was sent",
        emu.open_connections(),
        waited.elapsed()
    );
    assert!(closed, "{} connections still open", emu.open_connections());
    let mut still_open = 0;
    for s in &mut clients {
        if read_once(s, Duration::from_millis(1)) == Seen::Open {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "client sockets the server did not close");
    assert_eq!(emu.connection_count(), N as u64, "connections accepted");
}
