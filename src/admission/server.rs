//! HTTPS accept loop: TCP_NODELAY, bounded TLS handshake, HTTP/2 + HTTP/1.1 by ALPN, caps on
//! concurrent connections (in all and per client address), a first-byte deadline and an idle
//! timeout (`conn`), and graceful shutdown (stop accepting, finish in-flight requests).
//!
//! Draining starts before the listener closes: for the shutdown delay every HTTP/1.1 response says
//! `Connection: close`. The API server calls webhooks over HTTP/1.1 keep-alive connections (its
//! webhook client forces `http/1.1`), and kube-proxy's conntrack keeps an open connection on the
//! replica it first picked, so without this the API server keeps sending to a terminating replica
//! until the drain closes the idle connection under a request it has just written: `EOF`, a failed
//! admission, not retried. Closed after one response, the next request dials the Service again and
//! reaches a ready replica.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Version};
use axum::middleware::Next;
use axum::Router;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::conn::{Activity, Counted, PerAddress, Watched};

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Time for a client to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for a client to send its first byte after the handshake, and each HTTP/1.1 request's headers.
    pub header_read_timeout: Duration,
    /// Connections beyond this are closed right after accept.
    pub max_connections: usize,
    /// Connections from one client address beyond this are closed right after accept.
    pub max_connections_per_address: usize,
    /// A connection with no request in progress for this long is closed.
    pub idle_timeout: Duration,
    /// Longest wait for in-flight requests at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_connections_per_address: 1024,
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(25),
        }
    }
}

/// While `draining()` holds, HTTP/1.x responses carry `Connection: close` (see the module doc).
/// HTTP/2 needs nothing: the drain's GOAWAY moves those clients without losing a stream.
pub fn close_connections_while<F>(router: Router, draining: F) -> Router
where
    F: Fn() -> bool + Clone + Send + Sync + 'static,
{
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let draining = draining.clone();
        async move {
            let http1 = req.version() <= Version::HTTP_11;
            let mut res = next.run(req).await;
            if http1 && draining() {
                res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            res
        }
    }))
}

/// HTTP/1.1 and HTTP/2 as the connection's ALPN chose (no protocol sniffing, which has no timer).
/// Buffers are small: an admission request's headers are a few hundred bytes, and what an HTTP/2
/// client may send ahead of the handler is its window, per connection.
struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new(opts: &ServerOptions) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(opts.header_read_timeout)
            .keep_alive(true)
            .max_buf_size(64 * 1024);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(256)
            .max_header_list_size(64 * 1024)
            .initial_stream_window_size(64 * 1024)
            .initial_connection_window_size(64 * 1024)
            .keep_alive_interval(Some(Duration::from_secs(30)));
        Self { http1, http2 }
    }
}

/// Serve `router` over TLS on `listener` until `stop` fires, then drain.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    opts: ServerOptions,
    stop: CancellationToken,
) {
    let protocols = Arc::new(Protocols::new(&opts));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(opts.max_connections));
    let per_address = PerAddress::new(opts.max_connections_per_address);
    let service = TowerToHyperService::new(router);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = opts.max_connections, "connection limit reached; closing new connection");
            continue;
        };
        let Some(slot) = per_address.take(peer.ip()) else {
            tracing::warn!(%peer, max = opts.max_connections_per_address, "connection limit for this address reached (--max-connections-per-address); closing new connection");
            continue;
        };
        // Without it responses wait ~40 ms on delayed ACKs.
        let _ = tcp.set_nodelay(true);
        let conn = Conn { acceptor: acceptor.clone(), protocols: protocols.clone(), opts: opts.clone() };
        let service = service.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _held = (permit, slot);
            conn.run(tcp, peer, service, watcher).await;
        });
    }
    // Refuse new connections from here on.
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(opts.shutdown_grace) => tracing::warn!(grace = ?opts.shutdown_grace, "grace period over; closing remaining connections"),
    }
}

/// One accepted connection's life: handshake, protocol by ALPN, requests until idle or drained.
struct Conn {
    acceptor: TlsAcceptor,
    protocols: Arc<Protocols>,
    opts: ServerOptions,
}

impl Conn {
    async fn run<S>(self, tcp: TcpStream, peer: SocketAddr, service: S, watcher: Watcher)
    where
        S: hyper::service::Service<
                axum::http::Request<hyper::body::Incoming>,
                Response = axum::http::Response<axum::body::Body>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let tls = match tokio::time::timeout(self.opts.handshake_timeout, self.acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
        };
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let activity = Activity::new();
        let io = TokioIo::new(Watched::new(tls, activity.clone()));
        let service = Counted::new(service, activity.clone());
        let expired = activity.expired(self.opts.header_read_timeout, self.opts.idle_timeout);
        let served = async {
            if h2 {
                watcher.watch(self.protocols.http2.serve_connection(io, service)).await
            } else {
                watcher.watch(self.protocols.http1.serve_connection(io, service)).await
            }
        };
        tokio::select! {
            r = served => if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            },
            () = expired => tracing::debug!(%peer, "connection unused past its deadline; closed"),
        }
    }
}
