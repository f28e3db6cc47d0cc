//! The binary: one JSON ready line on stdout, serves requests, stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

/// `--port 0` starts, prints `{"endpoint","connection_string"}`, answers, and exits 0 on SIGTERM.
#[cfg(unix)]
#[test]
fn binary_prints_ready_line_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_acs-chat-emulator"))
        .args([
            "--port",
            "0",
            "--access-key",
            "ZW11bGF0b3Itc2VjcmV0LWtleS0wMDAwMDAwMDAwMDA=",
            "--latency-ms",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the emulator binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the ready line");
    let ready: Value = serde_json::from_str(&line).expect("ready line is JSON");
    let endpoint = ready["endpoint"].as_str().expect("endpoint").to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{ready}");
    assert_eq!(
        ready["connection_string"],
        format!("endpoint={endpoint}/;accesskey=ZW11bGF0b3Itc2VjcmV0LWtleS0wMDAwMDAwMDAwMDA=")
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .get(format!("{endpoint}/chat/threads?api-version=2024-03-07"))
        .call()
        .expect("request to the binary");
    assert_eq!(resp.status().as_u16(), 401, "unauthenticated list");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let exit = child.wait().expect("wait for the emulator");
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
}

/// Bad flags exit with status 2 and print usage, without starting.
#[test]
fn binary_rejects_unknown_flags() {
    for args in [
        &["--nope"][..],
        &["--port", "x"],
        &["--faults", "418"],
        &["--fault-rate", "2"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_acs-chat-emulator"))
            .args(args)
            .output()
            .expect("run the emulator binary");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed a ready line");
    }
}
