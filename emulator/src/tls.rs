//! TLS: a development CA and server certificate made with `rcgen`, or the caller's own PEM
//! files, served with `rustls` (ring provider) through `tokio-rustls`.
//!
//! Without a data directory the generated CA lives as long as the emulator. With one, the CA
//! and the server certificate are kept in `DIR/tls/` (`ca.pem`, `ca.key`, `server.pem`,
//! `server.key`; the keys readable by their owner only) and reused on restart, so a CA a user
//! trusted stays valid. A kept server certificate is used only while it verifies against the
//! kept CA, now, for every name it must carry; otherwise (a new `--host`, expiry) a new one is
//! made from the kept CA. Clients trust the CA through [`crate::Emulator::ca_pem`] or its file,
//! never by turning verification off. The server certificate names `localhost`, `127.0.0.1`,
//! `::1` and the configured host.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Datelike;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::server::accept::Acceptor;

/// Where the server's certificate comes from.
#[derive(Clone)]
pub(crate) enum TlsSource {
    /// Make a development CA and a server certificate signed by it.
    Generate,
    /// The caller's certificate chain and private key, PEM.
    Pem {
        /// Leaf first, then intermediates.
        cert_chain: Vec<u8>,
        /// PKCS#8, PKCS#1 or SEC1.
        key: Vec<u8>,
    },
}

impl std::fmt::Debug for TlsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key is a secret: never printed.
        match self {
            TlsSource::Generate => f.write_str("Generate"),
            TlsSource::Pem { .. } => f.write_str("Pem { .. }"),
        }
    }
}

/// What serving https needs: the rustls configuration and, for a generated CA, its PEM.
pub(crate) struct TlsMaterial {
    pub(crate) config: Arc<rustls::ServerConfig>,
    /// The CA certificate clients should trust; `None` with the caller's own certificate.
    pub(crate) ca_pem: Option<String>,
    /// The file that keeps the CA certificate, with a data directory.
    pub(crate) ca_path: Option<PathBuf>,
}

/// The folder of the data directory that keeps the generated TLS material.
const KEPT_DIR: &str = "tls";
const CA_CERT_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca.key";
const SERVER_CERT_FILE: &str = "server.pem";
const SERVER_KEY_FILE: &str = "server.key";

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// The development CA's parameters. Issuing from a kept CA rebuilds them (its name, key
/// identifier method and usages are what signing needs), and the issued certificate is then
/// verified against the kept CA certificate, so a CA that no longer matches is noticed.
fn ca_params(year: i32) -> io::Result<CertificateParams> {
    let mut ca =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_error("CA parameters", e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "acs-chat-emulator development CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "acs-chat-emulator");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    ca.not_after = rcgen::date_time_ymd(year + 5, 1, 1);
    Ok(ca)
}

/// A new development CA, PEM: `(certificate, key)`.
fn generate_ca() -> io::Result<(String, String)> {
    let ca = ca_params(chrono::Utc::now().year())?;
    let ca_key = KeyPair::generate().map_err(|e| tls_error("CA key", e))?;
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| tls_error("CA certificate", e))?;
    Ok((ca_cert.pem(), ca_key.serialize_pem()))
}

/// A server certificate for `names` issued by the CA whose key is `ca_key_pem`, PEM:
/// `(certificate, key)`.
fn issue_server(names: &[String], ca_key_pem: &str) -> io::Result<(String, String)> {
    let today = chrono::Utc::now();
    let (year, month, day) = (today.year(), today.month() as u8, today.day().min(28) as u8);
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(|e| invalid(format!("the CA key: {e}")))?;
    let issuer = Issuer::new(ca_params(year)?, ca_key);
    let mut leaf =
        CertificateParams::new(names.to_vec()).map_err(|e| tls_error("server names", e))?;
    leaf.distinguished_name
        .push(DnType::CommonName, "acs-chat-emulator");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // A day back (clock skew) to about a year on: under the 398 days some clients insist on.
    leaf.not_before = rcgen::date_time_ymd(year, month, day) - time_day();
    leaf.not_after = rcgen::date_time_ymd(year + 1, month, day);
    let leaf_key = KeyPair::generate().map_err(|e| tls_error("server key", e))?;
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| tls_error("server certificate", e))?;
    Ok((leaf_cert.pem(), leaf_key.serialize_pem()))
}

/// One day, in the date type `rcgen` uses.
fn time_day() -> std::time::Duration {
    Duration::from_secs(24 * 3600)
}

/// The names a generated server certificate carries: loopback by name and address, and
/// `host` when it is another name or a specific address.
fn server_names(host: Option<&str>) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(h) = host {
        let bare = h.trim_start_matches('[').trim_end_matches(']').to_string();
        let unspecified = bare == "0.0.0.0" || bare == "::";
        if !unspecified && !names.contains(&bare) {
            names.push(bare);
        }
    }
    names
}

/// Whether a client trusting only `ca_pem` accepts `cert_pem` (leaf first) now, as each of
/// `names`: the check a kept server certificate must pass to be reused.
fn verify_server(ca_pem: &str, cert_pem: &str, names: &[String]) -> Result<(), String> {
    // The trait lives in rustls' `danger` module because implementing it can weaken checks;
    // calling the standard WebPKI verifier through it weakens nothing.
    use rustls::client::danger::ServerCertVerifier as _;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let ca = ca.map_err(|e| format!("the CA PEM: {e}"))?;
        roots
            .add(ca)
            .map_err(|e| format!("the CA certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("the CA certificate: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the server certificate PEM: {e}"))?;
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or("the server certificate PEM holds no CERTIFICATE")?;
    let now = UnixTime::now();
    for name in names {
        let server_name = ServerName::try_from(name.as_str())
            .map_err(|e| format!("the name {name}: {e}"))?
            .to_owned();
        verifier
            .verify_server_cert(leaf, intermediates, &server_name, &[], now)
            .map_err(|e| format!("not valid for {name}: {e}"))?;
    }
    Ok(())
}

/// Reads `path`, `None` when it does not exist.
fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

/// Writes `text` to `path` through a temporary file and a rename, so a crash never leaves half
/// a certificate; `secret` files are readable by their owner only (on unix).
fn write_kept(path: &Path, text: &str, secret: bool) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let context = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let mut file = options.open(&tmp).map_err(context)?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(context)?;
    std::fs::rename(&tmp, path).map_err(context)
}

/// The CA and server certificate kept in `data_dir/tls/`, made (and written) when missing, and
/// a new server certificate from the kept CA when the kept one does not verify for `names`:
/// `(CA cert, server cert, server key)`, PEM.
fn kept(data_dir: &Path, names: &[String]) -> io::Result<(String, String, String)> {
    let dir = data_dir.join(KEPT_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let (ca_path, ca_key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
    let (server_path, server_key_path) = (dir.join(SERVER_CERT_FILE), dir.join(SERVER_KEY_FILE));
    let (ca, ca_key) = match (read_optional(&ca_path)?, read_optional(&ca_key_path)?) {
        (Some(ca), Some(key)) => (ca, key),
        (None, None) => {
            let (ca, key) = generate_ca()?;
            // The key first: a CA certificate on disk always has its key beside it.
            write_kept(&ca_key_path, &key, true)?;
            write_kept(&ca_path, &ca, false)?;
            log::info!("made a development CA, kept in {}", ca_path.display());
            (ca, key)
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} holds only one of {CA_CERT_FILE} and {CA_KEY_FILE} (remove the folder                      to make a new CA)",
                    dir.display()
                ),
            ))
        }
    };
    if let (Some(cert), Some(key)) = (
        read_optional(&server_path)?,
        read_optional(&server_key_path)?,
    ) {
        match verify_server(&ca, &cert, names) {
            Ok(()) if server_config(cert.as_bytes(), key.as_bytes()).is_ok() => {
                return Ok((ca, cert, key))
            }
            Ok(()) => log::info!("the kept server key does not fit its certificate"),
            Err(why) => log::info!("the kept server certificate is not used: {why}"),
        }
    }
    let (cert, key) = issue_server(names, &ca_key)?;
    verify_server(&ca, &cert, names).map_err(|why| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} and {CA_KEY_FILE} no longer make a usable CA ({why}); remove {} to make a                  new one",
                ca_path.display(),
                dir.display()
            ),
        )
    })?;
    write_kept(&server_key_path, &key, true)?;
    write_kept(&server_path, &cert, false)?;
    log::info!(
        "made a server certificate for {} from the kept CA",
        names.join(", ")
    );
    Ok((ca, cert, key))
}

/// A rustls server configuration for a PEM certificate chain and key.
fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<rustls::ServerConfig> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("the certificate PEM cannot be read: {e}")))?;
    if chain.is_empty() {
        return Err(invalid("the certificate PEM holds no CERTIFICATE"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| invalid(format!("the private key PEM cannot be read: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS versions", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(format!("the certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Builds the TLS material from `source` for a server reached as `host`; a generated CA and
/// server certificate are kept in (and reused from) `data_dir` when there is one.
pub(crate) fn material(
    source: &TlsSource,
    host: Option<&str>,
    data_dir: Option<&Path>,
) -> io::Result<TlsMaterial> {
    let names = server_names(host);
    let (ca_pem, ca_path, cert_pem, key_pem) = match (source, data_dir) {
        (TlsSource::Generate, Some(dir)) => {
            let (ca, cert, key) = kept(dir, &names)?;
            let path = dir.join(KEPT_DIR).join(CA_CERT_FILE);
            (Some(ca), Some(path), cert.into_bytes(), key.into_bytes())
        }
        (TlsSource::Generate, None) => {
            let (ca, ca_key) = generate_ca()?;
            let (cert, key) = issue_server(&names, &ca_key)?;
            (Some(ca), None, cert.into_bytes(), key.into_bytes())
        }
        (TlsSource::Pem { cert_chain, key }, _) => (None, None, cert_chain.clone(), key.clone()),
    };
    Ok(TlsMaterial {
        config: Arc::new(server_config(&cert_pem, &key_pem)?),
        ca_pem,
        ca_path,
    })
}

/// A TCP listener whose connections are TLS handshaken (in their own task) before serving.
pub(crate) struct TlsListener {
    pub(crate) tcp: TcpListener,
    pub(crate) acceptor: TlsAcceptor,
    /// How long a handshake may take (the header-read timeout).
    pub(crate) handshake_timeout: Duration,
}

impl Acceptor for TlsListener {
    type Raw = TcpStream;
    type Stream = TlsStream<TcpStream>;

    async fn accept(&self) -> io::Result<TcpStream> {
        <TcpListener as Acceptor>::accept(&self.tcp).await
    }

    fn establish(
        &self,
        raw: TcpStream,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send + 'static {
        let acceptor = self.acceptor.clone();
        let limit = self.handshake_timeout;
        async move {
            match tokio::time::timeout(limit, acceptor.accept(raw)).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake not complete in time",
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generated certificate loads into a server configuration and names the host.
    #[test]
    fn generated_material_loads_and_names_host() {
        let m = material(&TlsSource::Generate, Some("10.1.2.3"), None).expect("material");
        let ca = m.ca_pem.expect("a generated CA");
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
        assert_eq!(
            server_names(Some("0.0.0.0")),
            ["localhost", "127.0.0.1", "::1"],
            "an unspecified address is not a name"
        );
        assert_eq!(server_names(Some("10.1.2.3")).last().unwrap(), "10.1.2.3");
    }

    /// Garbage PEM is a clear InvalidInput error, and Debug never shows the key.
    #[test]
    fn bad_pem_is_invalid_input_and_key_is_hidden() {
        let source = TlsSource::Pem {
            cert_chain: b"not pem".to_vec(),
            key: b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n".to_vec(),
        };
        let err = material(&source, None, None).err().expect("an error");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(!format!("{source:?}").contains("c2VjcmV0"));
    }

    /// A fresh directory under the system's temp dir, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("acs-tls-{tag}-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("create a temp dir");
            Scratch(dir)
        }

        fn read(&self, file: &str) -> String {
            std::fs::read_to_string(self.0.join(KEPT_DIR).join(file)).expect("a kept file")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A second start on the same data directory serves the kept CA and server certificate.
    #[test]
    fn kept_material_reused_on_same_dir() {
        let dir = Scratch::new("reuse");
        let first = material(&TlsSource::Generate, None, Some(&dir.0)).expect("first");
        let (ca, server) = (dir.read(CA_CERT_FILE), dir.read(SERVER_CERT_FILE));
        assert_eq!(
            first.ca_pem.as_deref(),
            Some(ca.as_str()),
            "the kept CA is the served one"
        );
        let again = material(&TlsSource::Generate, None, Some(&dir.0)).expect("again");
        assert_eq!(
            again.ca_pem.as_deref(),
            Some(ca.as_str()),
            "another CA after a restart"
        );
        assert_eq!(
            dir.read(SERVER_CERT_FILE),
            server,
            "the server certificate was remade"
        );
        assert_eq!(again.ca_path, Some(dir.0.join(KEPT_DIR).join(CA_CERT_FILE)));
    }

    /// A host the kept server certificate lacks gets a new one from the kept CA; that one
    /// still names loopback, so a later start without the host keeps it.
    #[test]
    fn kept_ca_issues_new_server_cert_for_new_host() {
        let dir = Scratch::new("host");
        material(&TlsSource::Generate, None, Some(&dir.0)).expect("first");
        let (ca, server) = (dir.read(CA_CERT_FILE), dir.read(SERVER_CERT_FILE));
        assert!(
            verify_server(&ca, &server, &["10.9.8.7".to_string()]).is_err(),
            "the first server certificate already names 10.9.8.7"
        );
        let with_host =
            material(&TlsSource::Generate, Some("10.9.8.7"), Some(&dir.0)).expect("host");
        assert_eq!(
            with_host.ca_pem.as_deref(),
            Some(ca.as_str()),
            "the CA changed"
        );
        let reissued = dir.read(SERVER_CERT_FILE);
        assert_ne!(
            reissued, server,
            "no new server certificate for the new host"
        );
        verify_server(&ca, &reissued, &server_names(Some("10.9.8.7")))
            .unwrap_or_else(|why| panic!("the new server certificate does not verify: {why}"));
        material(&TlsSource::Generate, None, Some(&dir.0)).expect("without the host");
        assert_eq!(
            dir.read(SERVER_CERT_FILE),
            reissued,
            "remade though it covers loopback"
        );
    }

    /// Only half a CA on disk is a clear InvalidData error, never a silently new CA.
    #[test]
    fn half_kept_ca_is_invalid_data() {
        let dir = Scratch::new("half");
        material(&TlsSource::Generate, None, Some(&dir.0)).expect("first");
        std::fs::remove_file(dir.0.join(KEPT_DIR).join(CA_KEY_FILE)).expect("remove the key");
        let err = material(&TlsSource::Generate, None, Some(&dir.0))
            .err()
            .expect("an error");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains(CA_KEY_FILE), "{err}");
    }

    /// A CA key that no longer fits the kept CA certificate cannot issue a server certificate
    /// clients would accept: InvalidData, and no certificate written.
    #[test]
    fn mismatched_ca_key_is_invalid_data() {
        let dir = Scratch::new("mismatch");
        material(&TlsSource::Generate, None, Some(&dir.0)).expect("first");
        let kept = dir.0.join(KEPT_DIR);
        let (_, other_key) = generate_ca().expect("another CA");
        std::fs::write(kept.join(CA_KEY_FILE), other_key).expect("replace the key");
        std::fs::remove_file(kept.join(SERVER_CERT_FILE)).expect("remove the server cert");
        let err = material(&TlsSource::Generate, None, Some(&dir.0))
            .err()
            .expect("an error");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(
            !kept.join(SERVER_CERT_FILE).exists(),
            "wrote a server certificate that fails"
        );
    }

    /// The kept private keys are readable by their owner only.
    #[cfg(unix)]
    #[test]
    fn kept_keys_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new("mode");
        material(&TlsSource::Generate, None, Some(&dir.0)).expect("material");
        for file in [CA_KEY_FILE, SERVER_KEY_FILE] {
            let meta = std::fs::metadata(dir.0.join(KEPT_DIR).join(file)).expect("a kept key");
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o600,
                "{file}: {:o}",
                meta.permissions().mode()
            );
        }
    }
}
