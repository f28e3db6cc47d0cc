//! The in-process emulator over https: `EmulatorBuilder::tls`, `tls_pem`, `ca_pem`, and the
//! CA kept in a data directory (`ca_path`).

mod common;

use acs_chat_emulator::Emulator;
use common::TempDir;

/// An agent trusting only the certificates in `pem`.
fn agent_trusting(pem: &str) -> ureq::Agent {
    let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(pem.as_bytes())
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
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

/// A user created over https with a token from the emulator, then a thread listed: the
/// `Location`-style links the emulator hands out are https too.
#[test]
fn tls_emulator_serves_chat_and_links_over_https() {
    let emu = Emulator::builder().tls().start().expect("emulator");
    let ca = emu.ca_pem().expect("a CA");
    let agent = agent_trusting(&ca);
    let (_user, token) = emu.user_with_token();
    let resp = agent
        .post(format!(
            "{}/chat/threads?api-version=2024-03-07",
            emu.endpoint()
        ))
        .header("Authorization", format!("Bearer {token}"))
        .send_json(serde_json::json!({"topic": "over tls"}))
        .expect("create thread over https");
    assert_eq!(resp.status().as_u16(), 201);
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        location.starts_with(&format!("{}/chat/threads/", emu.endpoint())),
        "location: {location}"
    );
    assert!(emu.connection_string().starts_with("endpoint=https://"));
}

/// Another emulator's CA is not trusted: verification stays on.
#[test]
fn tls_emulator_refuses_client_trusting_other_ca() {
    let a = Emulator::builder().tls().start().expect("emulator a");
    let b = Emulator::builder().tls().start().expect("emulator b");
    let agent = agent_trusting(&b.ca_pem().expect("CA b"));
    let r = agent
        .get(format!(
            "{}/chat/threads?api-version=2024-03-07",
            a.endpoint()
        ))
        .call();
    assert!(r.is_err(), "trusted a certificate of another CA: {r:?}");
}

/// `tls_pem` serves a caller's own certificate (made by `openssl` with its own CA), which a
/// client trusting that CA accepts; `ca_pem` is then `None`.
#[test]
fn tls_pem_serves_callers_certificate() {
    let dir = std::env::temp_dir().join(format!("acs-emu-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let (ca, ca_key, csr, ext) = (
        dir.join("ca.pem"),
        dir.join("ca.key"),
        dir.join("leaf.csr"),
        dir.join("ext.cnf"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let p = |p: &std::path::Path| p.to_string_lossy().to_string();
    let steps: Vec<Vec<String>> = vec![
        [
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-subj", "/CN=test CA", "-keyout"],
        ]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .chain([p(&ca_key), "-out".into(), p(&ca)])
        .collect(),
        [&["req"][..], &ec, &["-subj", "/CN=localhost", "-keyout"]]
            .concat()
            .iter()
            .map(|s| s.to_string())
            .chain([p(&key), "-out".into(), p(&csr)])
            .collect(),
        ["x509", "-req", "-days", "2", "-CAcreateserial", "-in"]
            .iter()
            .map(|s| s.to_string())
            .chain([p(&csr), "-CA".into(), p(&ca), "-CAkey".into(), p(&ca_key)])
            .chain(["-extfile".into(), p(&ext), "-out".into(), p(&cert)])
            .collect(),
    ];
    for step in &steps {
        match std::process::Command::new("openssl").args(step).output() {
            Ok(o) if o.status.success() => {}
            other => {
                eprintln!("skipped: openssl cannot make a test certificate here: {other:?}");
                let _ = std::fs::remove_dir_all(&dir);
                return;
            }
        }
    }
    let ca_pem = std::fs::read_to_string(&ca).expect("ca");
    let cert_pem = std::fs::read_to_string(&cert).expect("cert");
    let key_pem = std::fs::read(&key).expect("key");
    let _ = std::fs::remove_dir_all(&dir);
    let emu = Emulator::builder()
        .tls_pem(cert_pem, key_pem)
        .start()
        .expect("emulator with own certificate");
    assert_eq!(
        emu.ca_pem(),
        None,
        "no generated CA with an own certificate"
    );
    let r = agent_trusting(&ca_pem)
        .get(format!(
            "{}/chat/threads?api-version=2024-03-07",
            emu.endpoint()
        ))
        .call()
        .expect("https with own certificate");
    assert_eq!(r.status().as_u16(), 401);
}

/// `tls_pem` with junk is refused with InvalidInput before binding.
#[test]
fn tls_pem_with_junk_is_invalid_input() {
    let err = Emulator::builder()
        .tls_pem("junk", "junk")
        .start()
        .map(|_| ())
        .expect_err("junk PEM must not start");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

/// Plain http has no CA.
#[test]
fn http_emulator_has_no_ca() {
    let emu = Emulator::start().expect("emulator");
    assert_eq!(emu.ca_pem(), None);
}

/// An emulator with a generated CA kept in `dir`, listening on `host` (default loopback).
fn start_kept(dir: &std::path::Path, host: Option<&str>) -> Emulator {
    let mut builder = Emulator::builder().tls().data_dir(dir);
    if let Some(h) = host {
        builder = builder.host(h);
    }
    builder.start().expect("emulator with tls and a data dir")
}

/// The status of an unauthenticated list at `endpoint` through `agent`, or the error.
fn list_status(agent: &ureq::Agent, endpoint: &str) -> Result<u16, ureq::Error> {
    agent
        .get(format!("{endpoint}/chat/threads?api-version=2024-03-07"))
        .call()
        .map(|r| r.status().as_u16())
}

/// With a data directory the CA survives a restart: the second run serves the same CA, keeps
/// it in `DIR/tls/ca.pem`, and a client that trusted the first run's CA connects to it.
#[test]
fn tls_data_dir_keeps_ca_across_restart() {
    let dir = TempDir::new("restart");
    let first = start_kept(&dir.0, None);
    let ca = first.ca_pem().expect("a CA");
    let trusting_first = agent_trusting(&ca);
    assert_eq!(
        list_status(&trusting_first, &first.endpoint()).ok(),
        Some(401)
    );
    drop(first);

    let second = start_kept(&dir.0, None);
    assert_eq!(
        second.ca_pem().as_deref(),
        Some(ca.as_str()),
        "another CA after a restart"
    );
    let path = second.ca_path().expect("the kept CA's file");
    assert_eq!(path, dir.0.join("tls").join("ca.pem"));
    assert_eq!(std::fs::read_to_string(path).expect("read the kept CA"), ca);
    let status = list_status(&trusting_first, &second.endpoint());
    assert_eq!(
        status.as_ref().ok(),
        Some(&401),
        "the first CA's client on the second run: {status:?}"
    );
}

/// A `host` the kept server certificate does not name gets a new one from the kept CA, which a
/// client trusting that CA accepts at the new address.
#[test]
fn tls_data_dir_new_host_uses_kept_ca() {
    let dir = TempDir::new("host");
    let first = start_kept(&dir.0, None);
    let ca = first.ca_pem().expect("a CA");
    drop(first);
    let server_pem = dir.0.join("tls").join("server.pem");
    let before = std::fs::read_to_string(&server_pem).expect("the kept server certificate");

    // 127.0.0.2 is loopback too on Linux, but not a name the first certificate carries.
    let other = start_kept(&dir.0, Some("127.0.0.2"));
    assert!(
        other.endpoint().starts_with("https://127.0.0.2:"),
        "{}",
        other.endpoint()
    );
    assert_eq!(
        other.ca_pem().as_deref(),
        Some(ca.as_str()),
        "the CA changed with the host"
    );
    let after = std::fs::read_to_string(&server_pem).expect("the kept server certificate");
    assert_ne!(
        after, before,
        "the server certificate was not remade for the new host"
    );
    let status = list_status(&agent_trusting(&ca), &other.endpoint());
    assert_eq!(
        status.as_ref().ok(),
        Some(&401),
        "the kept CA's client at 127.0.0.2: {status:?}"
    );
}

/// Without a data directory every start makes a fresh CA, kept nowhere.
#[test]
fn tls_without_data_dir_makes_fresh_ca() {
    let a = Emulator::builder().tls().start().expect("emulator a");
    let b = Emulator::builder().tls().start().expect("emulator b");
    assert_ne!(a.ca_pem(), b.ca_pem(), "two starts shared a CA");
    assert_eq!((a.ca_path(), b.ca_path()), (None, None));
}
