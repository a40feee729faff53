//! Client TLS: trust anchors, a custom CA, client certificates, SNI and ALPN.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;

use super::pem::{self, TlsError};

/// How a client verifies servers and (optionally) proves who it is; cheap to clone (shared).
///
/// [`ClientTls::default`] trusts the Mozilla root program as shipped by `webpki-roots`: no
/// platform store or file is needed, so `https://` and `wss://` work on any machine.
/// `ClientTls::native_roots` (feature `native-roots`) uses the platform's store instead;
/// [`ClientTls::add_ca_pem_file`] adds a private CA (curl's `--cacert`).
///
/// ```
/// let tls = sluice_http::ClientTls::default();
/// let connector = sluice_http::DefaultConnector::new(tls);
/// # drop(connector);
/// ```
#[derive(Clone)]
pub struct ClientTls {
    roots: RootCertStore,
    client_auth: Option<Arc<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>>,
    /// The built configs, one per ALPN list asked for (usually two: `h2, http/1.1` for
    /// HTTP clients and `http/1.1` for WebSocket).
    built: Arc<Mutex<Vec<Built>>>,
}

/// A config built for one ALPN list.
type Built = (Vec<Vec<u8>>, Arc<rustls::ClientConfig>);

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &self.roots.len())
            .field("client_auth", &self.client_auth.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ClientTls {
    /// Trust anchors from `webpki-roots`.
    fn default() -> Self {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::with_roots(roots)
    }
}

impl ClientTls {
    fn with_roots(roots: RootCertStore) -> Self {
        Self {
            roots,
            client_auth: None,
            built: Arc::default(),
        }
    }

    /// No trust anchors at all: only the CAs added with [`ClientTls::add_ca_pem`] /
    /// [`ClientTls::add_ca_pem_file`] are trusted.
    #[must_use]
    pub fn empty() -> Self {
        Self::with_roots(RootCertStore::empty())
    }

    /// Trust anchors from the platform's store (`rustls-native-certs`: the system bundle on
    /// Linux, the keychain on macOS, the Windows store).
    ///
    /// # Errors
    /// [`TlsError::NativeRoots`] when no certificate could be loaded.
    #[cfg(feature = "native-roots")]
    pub fn native_roots() -> Result<Self, TlsError> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map_or_else(|| "no certificates found".to_owned(), ToString::to_string);
            return Err(TlsError::NativeRoots(why));
        }
        Ok(Self::with_roots(roots))
    }

    /// Also trusts every CA certificate in `pem`.
    ///
    /// # Errors
    /// [`TlsError`] when `pem` holds no certificate or one that is not a usable trust anchor.
    pub fn add_ca_pem(self, pem: &[u8]) -> Result<Self, TlsError> {
        self.add_ca(pem, "<memory>")
    }

    /// Also trusts every CA certificate in the PEM file at `path` (curl's `--cacert`).
    ///
    /// # Errors
    /// As [`ClientTls::add_ca_pem`], and [`TlsError::Read`].
    pub fn add_ca_pem_file(self, path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let path = path.as_ref();
        self.add_ca(&pem::read(path)?, &path.display().to_string())
    }

    fn add_ca(mut self, pem: &[u8], path: &str) -> Result<Self, TlsError> {
        for cert in pem::certs(pem, path)? {
            self.roots.add(cert)?;
        }
        self.built = Arc::default();
        Ok(self)
    }

    /// Presents a client certificate (chain, leaf first) with its private key, both PEM.
    ///
    /// # Errors
    /// [`TlsError`] when either is missing or rustls refuses the pair.
    pub fn client_auth_pem(mut self, chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        let chain = pem::certs(chain, "<client certificate>")?;
        let key = pem::key(key, "<client key>")?;
        self.client_auth = Some(Arc::new((chain, key)));
        self.built = Arc::default();
        // Check the pair now, not at the first connection.
        self.config(&[])?;
        Ok(self)
    }

    /// [`ClientTls::client_auth_pem`] from files.
    ///
    /// # Errors
    /// As [`ClientTls::client_auth_pem`], and [`TlsError::Read`].
    pub fn client_auth_pem_files(
        self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let (chain, key) = (chain.as_ref(), key.as_ref());
        let (c, k) = (pem::read(chain)?, pem::read(key)?);
        self.client_auth_pem(&c, &k).map_err(|e| match e {
            TlsError::NoCertificate { .. } => TlsError::NoCertificate {
                path: chain.display().to_string(),
            },
            TlsError::NoKey { .. } => TlsError::NoKey {
                path: key.display().to_string(),
            },
            e => e,
        })
    }

    /// The rustls config offering `alpn` (in order of preference), built once per list.
    ///
    /// # Errors
    /// [`TlsError::Rustls`] if rustls refuses the client certificate.
    pub fn config(&self, alpn: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, c)) = built.iter().find(|(a, _)| a == alpn) {
            return Ok(Arc::clone(c));
        }
        let builder = rustls::ClientConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(self.roots.clone());
        let mut config = match &self.client_auth {
            Some(pair) => builder.with_client_auth_cert(pair.0.clone(), pair.1.clone_key())?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.to_vec();
        let config = Arc::new(config);
        built.push((alpn.to_vec(), Arc::clone(&config)));
        Ok(config)
    }

    /// Runs the TLS handshake on `io` for `host` (the name checked against the certificate
    /// and sent as SNI; an IP address is checked against the certificate's IP SANs and sends
    /// no SNI), offering `alpn`.
    ///
    /// # Errors
    /// An invalid host name, or the handshake failed (`io::ErrorKind::InvalidData` wrapping
    /// the rustls error for an untrusted or mismatched certificate).
    pub async fn connect<IO>(
        &self,
        host: &str,
        io: IO,
        alpn: &[Vec<u8>],
    ) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned()).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{host}: {e}"))
        })?;
        let config = self.config(alpn).map_err(std::io::Error::other)?;
        tokio_rustls::TlsConnector::from(config)
            .connect(name, io)
            .await
    }
}
