//! TLS: a development CA and server certificate made with `rcgen`, or the caller's own PEM
//! files, served with `rustls` (ring provider) through `tokio-rustls`.
//!
//! The generated CA lives as long as the emulator (a later data directory will keep it across
//! restarts); clients trust it through [`crate::Emulator::ca_pem`] or the binary's CA file,
//! never by turning verification off. The server certificate names `localhost`, `127.0.0.1`,
//! `::1` and the configured host.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use chrono::Datelike;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
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
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// A development CA and a server certificate for `names`, all PEM: `(ca, server cert, key)`.
fn generate(names: &[String]) -> io::Result<(String, String, String)> {
    let today = chrono::Utc::now();
    let (year, month, day) = (today.year(), today.month() as u8, today.day().min(28) as u8);
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
    let ca_key = KeyPair::generate().map_err(|e| tls_error("CA key", e))?;
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| tls_error("CA certificate", e))?;
    let issuer = Issuer::new(ca, ca_key);

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
    Ok((ca_cert.pem(), leaf_cert.pem(), leaf_key.serialize_pem()))
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

/// Builds the TLS material from `source` for a server reached as `host`.
pub(crate) fn material(source: &TlsSource, host: Option<&str>) -> io::Result<TlsMaterial> {
    let (ca_pem, cert_pem, key_pem) = match source {
        TlsSource::Generate => {
            let (ca, cert, key) = generate(&server_names(host))?;
            (Some(ca), cert.into_bytes(), key.into_bytes())
        }
        TlsSource::Pem { cert_chain, key } => (None, cert_chain.clone(), key.clone()),
    };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("the certificate PEM cannot be read: {e}")))?;
    if chain.is_empty() {
        return Err(invalid("the certificate PEM holds no CERTIFICATE"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| invalid(format!("the private key PEM cannot be read: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS versions", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(format!("the certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        config: Arc::new(config),
        ca_pem,
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
        let m = material(&TlsSource::Generate, Some("10.1.2.3")).expect("material");
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
        let err = material(&source, None).err().expect("an error");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(!format!("{source:?}").contains("c2VjcmV0"));
    }
}
