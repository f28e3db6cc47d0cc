//! Extra root certificates for https endpoints signed by a private CA (such as the
//! emulator's development CA): PEM text turned into ureq's TLS configuration.

use crate::error::{Error, Result};

/// Parses PEM texts into certificates; each text may hold several. `name` is the option's
/// name for the error. An empty list is fine (the public roots are used).
///
/// # Errors
/// [`Error::InvalidArgument`] when a text cannot be read as PEM or holds no certificate.
pub(crate) fn parse_root_certificates(
    name: &'static str,
    pems: &[String],
) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let mut certs = Vec::new();
    for (i, pem) in pems.iter().enumerate() {
        let before = certs.len();
        for item in ureq::tls::parse_pem(pem.as_bytes()) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(Error::invalid_argument(
                        name,
                        format!("entry {i} is not readable PEM: {e}"),
                    ))
                }
            }
        }
        if certs.len() == before {
            return Err(Error::invalid_argument(
                name,
                format!("entry {i} holds no PEM CERTIFICATE"),
            ));
        }
    }
    Ok(certs)
}

/// ureq's TLS configuration trusting only `certs`, or `None` for the default public roots.
pub(crate) fn config(certs: &[ureq::tls::Certificate<'static>]) -> Option<ureq::tls::TlsConfig> {
    (!certs.is_empty()).then(|| {
        ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(certs))
            .build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text without a certificate is a typed error naming the option and the entry.
    #[test]
    fn parse_root_certificates_rejects_text_without_certificate() {
        let err = parse_root_certificates("root_certificates", &["hello".into()])
            .expect_err("no certificate");
        let shown = err.to_string();
        assert!(
            shown.contains("root_certificates") && shown.contains("entry 0"),
            "{shown}"
        );
        assert!(parse_root_certificates("root_certificates", &[])
            .expect("empty list")
            .is_empty());
        assert!(config(&[]).is_none(), "no certificates: default roots");
    }
}
