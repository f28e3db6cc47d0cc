//! The binary: one JSON ready line on stdout, serves requests, stops on SIGTERM.

mod common;

use std::process::Command;

/// `--port 0` starts, prints `{"endpoint","connection_string"}`, answers, and exits 0 on SIGTERM.
#[cfg(unix)]
#[test]
fn binary_prints_ready_line_and_stops_on_sigterm() {
    let (mut child, ready) = common::start_binary(&[
        "--port",
        "0",
        "--access-key",
        "ZW11bGF0b3Itc2VjcmV0LWtleS0wMDAwMDAwMDAwMDA=",
        "--latency-ms",
        "1",
    ]);
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

/// `--help` and `-h` print the usage (every flag) on stdout and exit 0; `--version` and `-V`
/// print the package version.
#[test]
fn binary_help_and_version_print_to_stdout_and_exit_zero() {
    for flag in ["--help", "-h"] {
        let out = Command::new(env!("CARGO_BIN_EXE_acs-chat-emulator"))
            .arg(flag)
            .output()
            .expect("run the emulator binary");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{flag}: {out:?}");
        for named in ["--host", "--port", "--access-key", "--faults", "--version"] {
            assert!(text.contains(named), "{flag} does not list {named}: {text}");
        }
        assert!(out.stderr.is_empty(), "{flag} wrote to stderr: {out:?}");
    }
    for flag in ["--version", "-V"] {
        let out = Command::new(env!("CARGO_BIN_EXE_acs-chat-emulator"))
            .arg(flag)
            .output()
            .expect("run the emulator binary");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{flag}: {out:?}");
        assert_eq!(
            text.trim(),
            format!("acs-chat-emulator {}", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
}

/// `--host 0.0.0.0` listens on every interface; the endpoint names loopback, which answers.
#[test]
fn binary_host_flag_binds_given_address() {
    let (mut child, ready) = common::start_binary(&["--host", "0.0.0.0"]);
    let endpoint = ready["endpoint"].as_str().expect("endpoint").to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{ready}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .get(format!("{endpoint}/chat/threads?api-version=2024-03-07"))
        .call()
        .expect("request to the binary");
    assert_eq!(resp.status().as_u16(), 401, "unauthenticated list");
    child.kill().expect("stop the emulator");
    let _ = child.wait();
    let out = Command::new(env!("CARGO_BIN_EXE_acs-chat-emulator"))
        .args(["--host", "no-such-host.invalid"])
        .output()
        .expect("run the emulator binary");
    assert_eq!(out.status.code(), Some(1), "unresolvable host: {out:?}");
    assert!(
        out.stdout.is_empty(),
        "unresolvable host printed a ready line"
    );
}

/// An agent that trusts only the PEM certificates in `ca_pem`.
fn agent_trusting(ca_pem: &[u8]) -> ureq::Agent {
    let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(ca_pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert!(!certs.is_empty(), "no certificate in the CA file");
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::from(certs))
                .build(),
        )
        .build()
        .into()
}

/// `--tls` serves https with a CA whose PEM path is in the ready line; a client trusting
/// only that CA gets through (by address and by `localhost`), one trusting the public roots
/// does not, and the file is removed on SIGTERM.
#[cfg(unix)]
#[test]
fn binary_tls_serves_https_with_ca_in_ready_line() {
    let (mut child, ready) = common::start_binary(&["--tls"]);
    let endpoint = ready["endpoint"].as_str().expect("endpoint").to_string();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{ready}");
    let ca_path = ready["ca_cert"]
        .as_str()
        .expect("ca_cert in the ready line");
    let ca = std::fs::read(ca_path).expect("read the CA file");
    let trusting = agent_trusting(&ca);
    let port = endpoint.rsplit(':').next().expect("port");
    for base in [endpoint.clone(), format!("https://localhost:{port}")] {
        let resp = trusting
            .get(format!("{base}/chat/threads?api-version=2024-03-07"))
            .call()
            .unwrap_or_else(|e| panic!("https request to {base}: {e}"));
        assert_eq!(resp.status().as_u16(), 401, "{base}: unauthenticated list");
    }
    let public_roots: ureq::Agent = ureq::Agent::config_builder().build().into();
    let refused = public_roots
        .get(format!("{endpoint}/chat/threads?api-version=2024-03-07"))
        .call();
    assert!(
        refused.is_err(),
        "a client without the CA must not trust the emulator: {refused:?}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let exit = child.wait().expect("wait for the emulator");
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
    assert!(
        !std::path::Path::new(ca_path).exists(),
        "the CA file outlived the emulator: {ca_path}"
    );
}

/// `--tls --data-dir DIR` names the kept `DIR/tls/ca.pem` in the ready line, leaves it in
/// place on SIGTERM, and a second run on DIR serves the same CA to a client trusting that file.
#[cfg(unix)]
#[test]
fn binary_tls_data_dir_keeps_ca_file() {
    let dir = std::env::temp_dir().join(format!("acs-binary-tls-{}", uuid::Uuid::new_v4()));
    let dir_arg = dir.to_str().expect("a UTF-8 temp path").to_string();
    let kept = dir.join("tls").join("ca.pem");
    let mut first_ca = None;
    for run in ["first", "second"] {
        let (mut child, ready) = common::start_binary(&["--tls", "--data-dir", &dir_arg]);
        assert_eq!(
            ready["ca_cert"].as_str(),
            kept.to_str(),
            "{run} run's ready line: {ready}"
        );
        let ca = std::fs::read(&kept).expect("read the kept CA");
        let trusted = first_ca.get_or_insert_with(|| ca.clone());
        assert_eq!(&ca, trusted, "{run} run: another CA");
        let endpoint = ready["endpoint"].as_str().expect("endpoint");
        let resp = agent_trusting(trusted)
            .get(format!("{endpoint}/chat/threads?api-version=2024-03-07"))
            .call()
            .unwrap_or_else(|e| panic!("{run} run over https with the first CA: {e}"));
        assert_eq!(
            resp.status().as_u16(),
            401,
            "{run} run: unauthenticated list"
        );
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("send SIGTERM");
        assert!(status.success());
        let exit = child.wait().expect("wait for the emulator");
        assert!(
            exit.success(),
            "{run} run's exit status after SIGTERM: {exit:?}"
        );
        assert!(kept.exists(), "the kept CA was removed at exit");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--cert`/`--key` serve your own certificate; one without the other is a usage error, an
/// unreadable or unusable file a start failure.
#[test]
fn binary_cert_and_key_flags_are_checked() {
    let out = Command::new(env!("CARGO_BIN_EXE_acs-chat-emulator"))
        .args(["--cert", "x.pem"])
        .output()
        .expect("run the emulator binary");
    assert_eq!(out.status.code(), Some(2), "--cert alone: {out:?}");
    let dir = std::env::temp_dir();
    let junk = dir.join(format!("acs-emu-junk-{}.pem", std::process::id()));
    std::fs::write(&junk, "not a certificate").expect("write junk");
    let junk = junk.to_string_lossy().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_acs-chat-emulator"))
        .args(["--cert", &junk, "--key", &junk])
        .output()
        .expect("run the emulator binary");
    let _ = std::fs::remove_file(&junk);
    assert_eq!(out.status.code(), Some(1), "junk PEM: {out:?}");
    assert!(out.stdout.is_empty(), "junk PEM printed a ready line");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate"), "stderr: {err}");
}
