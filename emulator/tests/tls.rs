//! The in-process emulator over https: `EmulatorBuilder::tls`, `tls_pem` and `ca_pem`.

use acs_chat_emulator::Emulator;

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
