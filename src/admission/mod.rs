//! The admission webhook: HTTP handler (AdmissionReview ↔ decision) and the HTTPS server.

pub mod review;
pub mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::metrics::{Metrics, Outcome};
use crate::mutate::{AddressBook, Defaults};

/// Shared state of the admission handler.
#[derive(Clone)]
pub struct WebhookState {
    pub defaults: Arc<Defaults>,
    pub addresses: AddressBook,
    pub metrics: Arc<Metrics>,
    /// Largest accepted body, bytes (larger: 413, without buffering it).
    pub max_body: usize,
    /// Time allowed to receive a whole body (slow senders get 408).
    pub body_timeout: Duration,
}

pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: the webhook serves POST /mutate\n") })
        .with_state(state)
}

fn plain(code: StatusCode, msg: String) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], msg + "\n").into_response()
}

async fn mutate(State(s): State<WebhookState>, headers: HeaderMap, body: Body) -> Response {
    let start = Instant::now();
    let fail = |code: StatusCode, msg: String| {
        s.metrics.admission(Outcome::Error, start.elapsed().as_secs_f64());
        tracing::warn!(status = code.as_u16(), error = %msg, "admission request rejected");
        plain(code, msg)
    };
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")) {
        return fail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content-type must be application/json, got {ct:?}"),
        );
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > s.max_body as u64) {
        return fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body of {} bytes exceeds the limit of {} bytes", declared.unwrap_or(0), s.max_body),
        );
    }
    let bytes = match tokio::time::timeout(s.body_timeout, Limited::new(body, s.max_body).collect()).await {
        Err(_) => return fail(StatusCode::REQUEST_TIMEOUT, format!("body not received within {:?}", s.body_timeout)),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return fail(StatusCode::PAYLOAD_TOO_LARGE, format!("body exceeds the limit of {} bytes", s.max_body));
        }
        Ok(Err(e)) => return fail(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")),
        Ok(Ok(c)) => c.to_bytes(),
    };
    let decision = match review::review(&bytes, &s.defaults, &s.addresses) {
        Ok(d) => d,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let elapsed = start.elapsed();
    s.metrics.admission(decision.outcome, elapsed.as_secs_f64());
    tracing::info!(
        uid = %decision.uid,
        namespace = %decision.namespace,
        pod = %decision.name,
        decision = decision.outcome.as_str(),
        dry_run = decision.dry_run,
        duration_us = elapsed.as_micros() as u64,
        message = decision.message.as_deref().unwrap_or(""),
        "admission"
    );
    ([(header::CONTENT_TYPE, "application/json")], decision.body).into_response()
}
