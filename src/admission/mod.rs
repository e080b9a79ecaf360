//! The admission webhook: HTTP handler (AdmissionReview ↔ decision) and the HTTPS server.

pub mod budget;
pub mod conn;
pub mod limits;
pub mod review;
pub mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tracing::field::Empty;

use self::limits::Measure;
use crate::metrics::{AdmissionResult, Metrics};
use crate::mutate::{ClusterView, Defaults};

/// Shared state of the admission handler.
#[derive(Clone)]
pub struct WebhookState {
    pub defaults: Arc<Defaults>,
    pub addresses: ClusterView,
    pub metrics: Arc<Metrics>,
    /// Largest accepted body, bytes (larger: 413, without buffering it).
    pub max_body: usize,
    /// Time allowed to receive a whole body (slow senders get 408).
    pub body_timeout: Duration,
    /// Bytes of bodies and reviews in progress at once, across every connection (over it: 429).
    pub budget: Arc<budget::Budget>,
    /// What one review may parse into (over it: `allowed: false` naming the limit).
    pub limits: limits::Limits,
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

async fn mutate(State(s): State<WebhookState>, req: axum::extract::Request) -> Response {
    let start = Instant::now();
    // Taken apart, not extracted piecewise: extracting a HeaderMap clones it.
    let (parts, body) = req.into_parts();
    let (version, headers) = (parts.version, &parts.headers);
    let fail = |code: StatusCode, msg: String| {
        s.metrics.admission(AdmissionResult::Error, start.elapsed().as_secs_f64());
        tracing::warn!(status = code.as_u16(), error = %msg, "admission request rejected");
        let mut r = plain(code, msg);
        // A body we did not read to the end leaves an HTTP/1.1 connection unusable: say so.
        if version == Version::HTTP_11 && matches!(code, StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT) {
            r.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        r
    };
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")) {
        return fail(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("content-type must be application/json, got {ct:?}"));
    }
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > (s.max_body as u64).saturating_mul(4).max(16 << 20)) {
        return fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body of {} bytes exceeds the limit of {} bytes", declared.unwrap_or(0), s.max_body),
        );
    }
    // The body's share of the memory budget, reserved before it is read and held until the answer.
    let want = declared.map_or(s.max_body, |n| usize::try_from(n).unwrap_or(usize::MAX).min(s.max_body));
    let _held = match s.budget.admit(want).await {
        Ok(h) => h,
        Err(e) => {
            // Read and drop the body (holding none of it) so an HTTP/1.1 client sees the answer
            // instead of a reset; HTTP/2 streams are simply answered.
            if version == Version::HTTP_11 {
                let _ = read_body(body, 0, Instant::now() + s.body_timeout).await;
            }
            return busy(&s.metrics, start, version, &e);
        }
    };
    let bytes = match read_body(body, s.max_body, Instant::now() + s.body_timeout).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return fail(StatusCode::PAYLOAD_TOO_LARGE, format!("body exceeds the limit of {} bytes", s.max_body));
        }
        Err(BodyError::Timeout) => {
            return fail(StatusCode::REQUEST_TIMEOUT, format!("body not received within {:?}", s.body_timeout));
        }
        Err(BodyError::Read(e)) => return fail(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")),
    };
    let span = tracing::info_span!("admission", uid = Empty, namespace = Empty, pod = Empty);
    let _entered = span.enter();
    // What the body parses into is counted before anything is built, and charged to the budget.
    let decided = match limits::measure(&bytes, s.limits) {
        Measure::Within(nodes) => match limits::parsed_bytes(nodes) {
            0 => review::decide(&bytes, &s.defaults, &s.addresses),
            charge => match s.budget.charge(charge).await {
                Ok(_parsed) => review::decide(&bytes, &s.defaults, &s.addresses),
                Err(e) => return busy(&s.metrics, start, version, &e),
            },
        },
        Measure::Over(over) => review::refuse(&bytes, &over),
        Measure::Malformed(e) => Err(review::ReviewError::Malformed(e)),
    };
    let decision = match decided {
        Ok(d) => d,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e.to_string()),
    };
    span.record("uid", decision.uid.as_str());
    span.record("namespace", decision.namespace.as_str());
    span.record("pod", decision.name.as_str());
    record(&s.metrics, &decision, start.elapsed());
    ([(header::CONTENT_TYPE, "application/json")], decision.body).into_response()
}

/// 429 with Retry-After: the budget is taken (`budget`); on HTTP/1.1 the connection closes.
fn busy(metrics: &Metrics, start: Instant, version: Version, e: &budget::Busy) -> Response {
    metrics.admission(AdmissionResult::Busy, start.elapsed().as_secs_f64());
    tracing::warn!(status = 429, error = %e, "admission request refused: busy");
    let mut r = plain(StatusCode::TOO_MANY_REQUESTS, e.to_string());
    r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    if version == Version::HTTP_11 {
        r.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    r
}

/// One decided admission: its metrics (the outcome, a denial's reason) and its log line.
fn record(metrics: &Metrics, decision: &review::Decision, elapsed: Duration) {
    metrics.admission(decision.outcome, elapsed.as_secs_f64());
    if let Some(reason) = decision.deny_reason {
        metrics.denied(reason);
    }
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
}

enum BodyError {
    TooLarge,
    Timeout,
    Read(axum::Error),
}

/// Read at most `max` bytes before `deadline`. Past the limit the rest is read and dropped (up to
/// a bound) so the client sees the 413 instead of a reset; nothing beyond `max` is kept.
async fn read_body(mut body: Body, max: usize, deadline: Instant) -> Result<Bytes, BodyError> {
    let drain_cap = max.saturating_mul(4).clamp(1 << 20, 16 << 20);
    let deadline = tokio::time::Instant::from_std(deadline);
    // Most bodies arrive in one frame: keep it as is, copy only when there are several.
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    let mut seen = 0usize;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyError::Read(e)),
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen > max {
            if seen > drain_cap {
                break;
            }
            first = None;
            buf = BytesMut::new();
            continue;
        }
        match first.take() {
            None if buf.is_empty() => first = Some(data),
            None => buf.extend_from_slice(&data),
            Some(f) => {
                buf.reserve(f.len() + data.len());
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&data);
            }
        }
    }
    if seen > max {
        return Err(BodyError::TooLarge);
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}
