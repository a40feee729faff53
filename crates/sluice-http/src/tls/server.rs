//! Server TLS: a certificate that can be reloaded while serving, ALPN `h2` and `http/1.1`, and
//! a clear answer to plain HTTP sent to the TLS port.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::pem::{self, TlsError};
use super::{ALPN_H2, ALPN_HTTP11};

/// Most bytes read from a plain-HTTP client before closing on it (see [`ServerTls::accept`]).
const PLAIN_HTTP_DRAIN: usize = 64 * 1024;

/// The answer to plain HTTP on a TLS port (what nginx does too, instead of a hang or a reset).
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\
content-type: text/plain; charset=utf-8\r\ncontent-length: 59\r\n\r\n\
This port speaks HTTPS: use https:// (or wss://) instead.\n\n";

/// Why a TLS connection was not established.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsAcceptError {
    /// The client spoke plain HTTP to the TLS port; it was answered 400 and closed.
    #[error("plain HTTP on the TLS port (answered 400)")]
    PlainHttp,
    /// The handshake did not complete in time.
    #[error("TLS handshake timed out")]
    Timeout,
    /// The handshake failed (the client refused our certificate, spoke no TLS version we
    /// offer, or went away).
    #[error("TLS handshake failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The server's TLS configuration: a certificate chain and key (PEM), ALPN `h2` and
/// `http/1.1`, and [`ServerTls::reload`] to pick up a renewed certificate without dropping
/// connections (new handshakes use the new one; open connections keep theirs).
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    current: Arc<Resolver>,
    files: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.files)
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

fn certified_key(chain: &[u8], key: &[u8], paths: (&str, &str)) -> Result<CertifiedKey, TlsError> {
    let chain = pem::certs(chain, paths.0)?;
    let key = pem::key(key, paths.1)?;
    let signing = super::provider().key_provider.load_private_key(key)?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match()?;
    Ok(certified)
}

impl ServerTls {
    /// From a PEM certificate chain (leaf first) and its PEM private key.
    ///
    /// # Errors
    /// [`TlsError`]: no certificate, no key, or a key that does not match the certificate.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        Self::build(certified_key(chain, key, ("<certificate>", "<key>"))?, None)
    }

    /// From PEM files (`sluice serve --tls-cert FILE --tls-key FILE`).
    ///
    /// # Errors
    /// As [`ServerTls::from_pem`], and [`TlsError::Read`] naming the file.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsError> {
        let (cert, key) = (cert.as_ref().to_owned(), key.as_ref().to_owned());
        let ck = Self::load(&cert, &key)?;
        Self::build(ck, Some((cert, key)))
    }

    fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
        let (c, k) = (pem::read(cert)?, pem::read(key)?);
        certified_key(
            &c,
            &k,
            (&cert.display().to_string(), &key.display().to_string()),
        )
    }

    fn build(ck: CertifiedKey, files: Option<(PathBuf, PathBuf)>) -> Result<Self, TlsError> {
        let current = Arc::new(Resolver(RwLock::new(Arc::new(ck))));
        let mut config = rustls::ServerConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()];
        Ok(Self {
            config: Arc::new(config),
            current,
            files,
        })
    }

    /// Offers only `alpn` (in order of preference) instead of `h2, http/1.1`, e.g. only
    /// `http/1.1` for a server without HTTP/2.
    #[must_use]
    pub fn with_alpn(mut self, alpn: Vec<Vec<u8>>) -> Self {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn;
        self.config = Arc::new(config);
        self
    }

    /// Re-reads the certificate and key files; on any error the certificate in use is kept.
    /// Open connections are not touched. Without files (built by [`ServerTls::from_pem`]) it
    /// does nothing.
    ///
    /// # Errors
    /// As [`ServerTls::from_pem_files`].
    pub fn reload(&self) -> Result<(), TlsError> {
        let Some((cert, key)) = &self.files else {
            return Ok(());
        };
        let ck = Self::load(cert, key)?;
        *self
            .current
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(ck);
        Ok(())
    }

    /// Replaces the certificate with one from PEM bytes (for callers that keep their own).
    ///
    /// # Errors
    /// As [`ServerTls::from_pem`]; the certificate in use is kept on error.
    pub fn set_certificate_pem(&self, chain: &[u8], key: &[u8]) -> Result<(), TlsError> {
        let ck = certified_key(chain, key, ("<certificate>", "<key>"))?;
        *self
            .current
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(ck);
        Ok(())
    }

    /// The rustls config (for a caller that runs its own acceptor).
    #[must_use]
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.config)
    }

    /// Runs the TLS handshake on an accepted connection, within `timeout`. A connection whose
    /// first byte is not a TLS handshake record (plain HTTP) is answered 400 and closed.
    ///
    /// # Errors
    /// [`TlsAcceptError`].
    pub async fn accept(
        &self,
        mut tcp: TcpStream,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, TlsAcceptError> {
        let work = async {
            let mut first = [0u8; 1];
            if tcp.peek(&mut first).await? == 0 {
                return Err(TlsAcceptError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            // 0x16: a TLS handshake record (RFC 8446 §5.1), the only way a TLS client starts.
            if first[0] != 0x16 {
                let _ = tcp.write_all(PLAIN_HTTP_ANSWER).await;
                let _ = tcp.shutdown().await;
                // Read what the client sent (the request was only peeked at) until it closes,
                // briefly: a close with unread input would reset the connection and could
                // destroy the answer before the client read it.
                let drain = async {
                    let mut buf = [0u8; 1024];
                    let mut budget = PLAIN_HTTP_DRAIN;
                    while let Ok(n @ 1..) = tcp.read(&mut buf).await {
                        budget = match budget.checked_sub(n) {
                            Some(b) => b,
                            None => break,
                        };
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
                return Err(TlsAcceptError::PlainHttp);
            }
            Ok(tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
                .accept(tcp)
                .await?)
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| TlsAcceptError::Timeout)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_answer_length_is_right() {
        let text = std::str::from_utf8(PLAIN_HTTP_ANSWER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }
}
