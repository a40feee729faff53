//! Opening client connections: the [`Connector`] every Sluice client takes (HTTP, SSE,
//! long-poll, WebSocket), plain TCP, and the default TCP + TLS connector.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use h2::client::SendRequest;

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
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Opens a connection to `url`'s host and port, offering the ALPN protocols of
    /// [`ClientConfig::alpn`] when it runs TLS.
    fn connect(
        &self,
        url: &Url,
        config: &ClientConfig,
    ) -> impl Future<Output = Result<Self::Stream, ClientError>> + Send;

    /// Whether `stream` agreed on HTTP/2 (ALPN `h2`). Default: never.
    fn is_h2(stream: &Self::Stream) -> bool {
        let _ = stream;
        false
    }

    /// The HTTP/2 connections this connector keeps, one per origin, shared by every request
    /// of [`fetch_with`](crate::fetch_with) made with it (and its clones). Default: none.
    fn h2_pool(&self) -> Option<&H2Pool> {
        None
    }
}

/// Open HTTP/2 client connections by origin (`https://host:port`), each shared by every
/// request to it; a connection that has gone away is dropped on its next use.
#[derive(Default)]
pub struct H2Pool {
    conns: Mutex<HashMap<String, SendRequest<Bytes>>>,
}

impl std::fmt::Debug for H2Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Pool")
            .field("origins", &self.lock().len())
            .finish()
    }
}

impl H2Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SendRequest<Bytes>>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A sender ready for a new stream on the pooled connection to `origin`, if there is a
    /// live one (waits while the connection is at its stream limit).
    pub(crate) async fn ready(&self, origin: &str) -> Option<SendRequest<Bytes>> {
        let sender = self.lock().get(origin)?.clone();
        match sender.ready().await {
            Ok(s) => Some(s),
            Err(_) => {
                self.lock().remove(origin);
                None
            }
        }
    }

    pub(crate) fn insert(&self, origin: String, sender: SendRequest<Bytes>) {
        self.lock().insert(origin, sender);
    }

    /// Origins with a pooled connection.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is pooled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
///
/// HTTP/2 connections it opened are kept in its [`H2Pool`] (shared by clones), so requests
/// and SSE streams to one origin share one connection.
#[derive(Clone, Debug, Default)]
pub struct DefaultConnector {
    tls: crate::tls::ClientTls,
    pool: Arc<H2Pool>,
}

impl DefaultConnector {
    /// A connector that uses `tls` for `https://` and `wss://`.
    #[must_use]
    pub fn new(tls: crate::tls::ClientTls) -> Self {
        Self {
            tls,
            pool: Arc::default(),
        }
    }

    /// The pooled HTTP/2 connections.
    #[must_use]
    pub fn pool(&self) -> &H2Pool {
        &self.pool
    }

    /// The TLS settings.
    #[must_use]
    pub fn tls(&self) -> &crate::tls::ClientTls {
        &self.tls
    }
}

impl Connector for DefaultConnector {
    type Stream = ClientStream;

    fn is_h2(stream: &ClientStream) -> bool {
        stream.alpn_protocol() == Some(crate::tls::ALPN_H2)
    }

    fn h2_pool(&self) -> Option<&H2Pool> {
        Some(&self.pool)
    }

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
