//! The streams the default connector and the server hand out: plain TCP or TLS (and, on the
//! server, an HTTP/2 stream carrying an RFC 8441 WebSocket), behind one type each so routers
//! and clients need no generics for the transport.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Forwards the tokio I/O traits of a stream enum to its variants.
macro_rules! forward_io {
    ($ty:ident, $inner:ident { $($variant:ident),* }) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match &mut self.get_mut().0 {
                    $( $inner::$variant(s) => Pin::new(s).poll_read(cx, buf), )*
                }
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match &mut self.get_mut().0 {
                    $( $inner::$variant(s) => Pin::new(s).poll_write(cx, buf), )*
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match &mut self.get_mut().0 {
                    $( $inner::$variant(s) => Pin::new(s).poll_write_vectored(cx, bufs), )*
                }
            }

            fn is_write_vectored(&self) -> bool {
                match &self.0 {
                    $( $inner::$variant(s) => s.is_write_vectored(), )*
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match &mut self.get_mut().0 {
                    $( $inner::$variant(s) => Pin::new(s).poll_flush(cx), )*
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match &mut self.get_mut().0 {
                    $( $inner::$variant(s) => Pin::new(s).poll_shutdown(cx), )*
                }
            }
        }
    };
}

/// A client connection from [`DefaultConnector`](crate::DefaultConnector): TCP, or TLS over
/// TCP.
#[derive(Debug)]
pub struct ClientStream(ClientInner);

#[derive(Debug)]
enum ClientInner {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

forward_io!(ClientStream, ClientInner { Tcp, Tls });

impl ClientStream {
    /// Whether the connection runs TLS.
    #[must_use]
    pub fn is_tls(&self) -> bool {
        matches!(self.0, ClientInner::Tls(_))
    }

    /// The ALPN protocol the server chose (`b"h2"`, `b"http/1.1"`), if any.
    #[must_use]
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match &self.0 {
            ClientInner::Tcp(_) => None,
            ClientInner::Tls(t) => t.get_ref().1.alpn_protocol(),
        }
    }

    /// The TCP stream underneath.
    #[must_use]
    pub fn tcp(&self) -> &TcpStream {
        match &self.0 {
            ClientInner::Tcp(t) => t,
            ClientInner::Tls(t) => t.get_ref().0,
        }
    }
}

impl From<TcpStream> for ClientStream {
    fn from(s: TcpStream) -> Self {
        Self(ClientInner::Tcp(s))
    }
}

impl From<tokio_rustls::client::TlsStream<TcpStream>> for ClientStream {
    fn from(s: tokio_rustls::client::TlsStream<TcpStream>) -> Self {
        Self(ClientInner::Tls(Box::new(s)))
    }
}

/// A server-side connection or stream handed to a router: TCP, TLS over TCP, or an HTTP/2
/// stream (a WebSocket over RFC 8441 extended CONNECT, after [`Request::upgrade`]).
///
/// [`Request::upgrade`]: crate::Request::upgrade
#[derive(Debug)]
pub struct ServerStream(ServerInner);

#[derive(Debug)]
enum ServerInner {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    H2(Box<crate::h2::H2Stream>),
}

forward_io!(ServerStream, ServerInner { Tcp, Tls, H2 });

impl ServerStream {
    /// Whether the connection runs TLS (an HTTP/2 stream reports `false`: ask its connection).
    #[must_use]
    pub fn is_tls(&self) -> bool {
        matches!(self.0, ServerInner::Tls(_))
    }

    /// Whether this is one stream of an HTTP/2 connection.
    #[must_use]
    pub fn is_h2_stream(&self) -> bool {
        matches!(self.0, ServerInner::H2(_))
    }

    /// The ALPN protocol agreed on a TLS connection.
    #[must_use]
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match &self.0 {
            ServerInner::Tls(t) => t.get_ref().1.alpn_protocol(),
            _ => None,
        }
    }
}

impl From<TcpStream> for ServerStream {
    fn from(s: TcpStream) -> Self {
        Self(ServerInner::Tcp(s))
    }
}

impl From<tokio_rustls::server::TlsStream<TcpStream>> for ServerStream {
    fn from(s: tokio_rustls::server::TlsStream<TcpStream>) -> Self {
        Self(ServerInner::Tls(Box::new(s)))
    }
}

impl From<crate::h2::H2Stream> for ServerStream {
    fn from(s: crate::h2::H2Stream) -> Self {
        Self(ServerInner::H2(Box::new(s)))
    }
}
