//! HTTPS accept loop: TCP_NODELAY, bounded TLS handshake, HTTP/2 + HTTP/1.1 by ALPN, a cap on
//! concurrent connections, and graceful shutdown (stop accepting, finish in-flight requests).
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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Time for a client to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for a client to send an HTTP/1.1 request's headers.
    pub header_read_timeout: Duration,
    /// Connections beyond this are closed right after accept.
    pub max_connections: usize,
    /// Longest wait for in-flight requests at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
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

/// Serve `router` over TLS on `listener` until `stop` fires, then drain.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    opts: ServerOptions,
    stop: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(opts.header_read_timeout).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(opts.max_connections));
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
        // Without it responses wait ~40 ms on delayed ACKs.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let service = service.clone();
        let watcher = graceful.watcher();
        let handshake_timeout = opts.handshake_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
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
