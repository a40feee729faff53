//! Reading PEM certificates and keys, with one-line errors that name the file.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS configuration could not be built: a file is missing or unreadable, holds no
/// certificate or key, or rustls refused the combination.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no PEM certificate.
    #[error("{path}: no PEM certificate found")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// The file holds no PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[error("{path}: no PEM private key found")]
    NoKey {
        /// The file.
        path: String,
    },
    /// A PEM section is malformed.
    #[error("{path}: invalid PEM: {reason}")]
    Pem {
        /// The file (or `"<memory>"`).
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the configuration (a key that does not match the certificate, an
    /// unsupported key type, a CA certificate that is not one).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// The platform's certificate store could not be loaded.
    #[error("platform certificate store: {0}")]
    NativeRoots(String),
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Every certificate of a PEM document (a chain: leaf first).
pub(crate) fn certs(pem: &[u8], path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key of a PEM document.
pub(crate) fn key(pem: &[u8], path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        e => TlsError::Pem {
            path: path.to_owned(),
            reason: e.to_string(),
        },
    })
}
