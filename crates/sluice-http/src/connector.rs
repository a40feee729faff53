//! Opening client connections: the [`Connector`] every Sluice client takes (HTTP, SSE,
//! long-poll, WebSocket), plain TCP, and the default TCP + TLS connector.

use std::future::Future;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::client::{ClientConfig, ClientError};
use crate::stream::ClientStream;
use crate::url::Url;

/// Opens a connection for a URL. [`DefaultConnector`] does TCP and TLS; implement it for
/// anything else (a proxy, a Unix socket, an in-memory pipe in tests).
pub trait Connector: Send + Sync {
    /// The stream it opens.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send;
    /// Opens a connection to `url`'s host and port, offering the ALPN protocols of
    /// [`ClientConfig::alpn`] when it runs TLS.
    fn connect(
        &self,
        url: &Url,
        config: &ClientConfig,
    ) -> impl Future<Output = Result<Self::Stream, ClientError>> + Send;
}

/// Plain TCP for `http://` and `ws://` URLs; refuses `https://` and `wss://`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    type Stream = TcpStream;
    fn connect(
        &self,
        url: &Url,
        config: &ClientConfig,
    ) -> impl Future<Output = Result<TcpStream, ClientError>> + Send {
        let (url, config) = (url.clone(), config.clone());
        async move {
            if url.is_secure() {
                return Err(ClientError::UnsupportedScheme(url.scheme().to_string()));
            }
            connect(url, config).await
        }
    }
}

/// Opens a TCP connection to a URL's host and port (whatever its scheme), with
/// [`ClientConfig::connect_timeout`] and `TCP_NODELAY` per [`ClientConfig::nodelay`].
///
/// # Errors
/// I/O errors, [`ClientError::Timeout`].
pub async fn connect(url: Url, config: ClientConfig) -> Result<TcpStream, ClientError> {
    let addr = (url.host_for_connect().to_string(), url.port());
    let stream = timeout(config.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ClientError::Timeout)?
        .map_err(|e| ClientError::Connect {
            authority: url.authority(),
            source: e,
        })?;
    if config.nodelay {
        stream.set_nodelay(true)?;
    }
    Ok(stream)
}

/// TCP for `http://`/`ws://`, TCP + TLS (rustls) for `https://`/`wss://`: SNI from the URL's
/// host, ALPN from [`ClientConfig::alpn`], trust from its [`ClientTls`](crate::ClientTls)
/// (`webpki-roots` by default; a custom CA, the platform store or a client certificate by
/// [`DefaultConnector::new`]). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct DefaultConnector {
    tls: crate::tls::ClientTls,
}

impl DefaultConnector {
    /// A connector that uses `tls` for `https://` and `wss://`.
    #[must_use]
    pub fn new(tls: crate::tls::ClientTls) -> Self {
        Self { tls }
    }

    /// The TLS settings.
    #[must_use]
    pub fn tls(&self) -> &crate::tls::ClientTls {
        &self.tls
    }
}

impl Connector for DefaultConnector {
    type Stream = ClientStream;
    fn connect(
        &self,
        url: &Url,
        config: &ClientConfig,
    ) -> impl Future<Output = Result<ClientStream, ClientError>> + Send {
        let (url, config, tls) = (url.clone(), config.clone(), self.tls.clone());
        async move {
            let tcp = connect(url.clone(), config.clone()).await?;
            if !url.is_secure() {
                return Ok(ClientStream::from(tcp));
            }
            let handshake = tls.connect(url.host(), tcp, &config.alpn);
            match timeout(config.connect_timeout, handshake).await {
                Err(_) => Err(ClientError::Timeout),
                Ok(Ok(s)) => Ok(ClientStream::from(s)),
                Ok(Err(e)) => Err(ClientError::tls(&url, e)),
            }
        }
    }
}
