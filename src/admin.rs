//! Plain-HTTP admin server: `/livez`, `/readyz`, `/metrics`. Serves nothing that mutates.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;

/// What `/readyz` waits for.
#[derive(Debug, Default)]
pub struct Readiness {
    /// Serving certificate loaded (or no webhook in this process).
    pub certs: AtomicBool,
    /// Controller caches synced (or no controller in this process).
    pub caches: AtomicBool,
    /// SIGTERM received: not ready any more, while still serving for the shutdown delay.
    pub draining: AtomicBool,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.certs.load(Ordering::Acquire)
            && self.caches.load(Ordering::Acquire)
            && !self.draining.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct AdminState {
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
}

pub fn router(readiness: Arc<Readiness>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(AdminState { readiness, metrics })
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    let r = &s.readiness;
    if r.ready() {
        return (StatusCode::OK, "ok\n".to_owned());
    }
    let mut why = Vec::new();
    if r.draining.load(Ordering::Acquire) {
        why.push("shutting down");
    }
    if !r.certs.load(Ordering::Acquire) {
        why.push("serving certificate not loaded");
    }
    if !r.caches.load(Ordering::Acquire) {
        why.push("controller caches not synced");
    }
    (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", why.join(", ")))
}

async fn metrics_handler(State(s): State<AdminState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.encode())
}
