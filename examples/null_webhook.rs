//! The benchmark floor: the cheapest webhook on the same stack (same accept loop, rustls config,
//! TCP_NODELAY, hyper/axum, body limit). It parses the AdmissionReview (uid; the object is
//! scanned, not built) and answers "allowed", no patch. Not a product feature.
//!
//! cargo run --release --example null_webhook -- CERT_DIR 127.0.0.1:9443

use std::sync::Arc;

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use kafka_advertiser::admission::server::{serve, ServerOptions};
use kafka_advertiser::tls;
use tokio_util::sync::CancellationToken;

#[derive(serde::Deserialize)]
struct Review {
    #[serde(rename = "apiVersion")]
    api_version: String,
    request: Option<Request>,
}

#[derive(serde::Deserialize)]
struct Request {
    uid: String,
    // Parsed (validated) but not kept: the cheapest way to read the whole review.
    #[allow(dead_code)]
    object: Option<serde::de::IgnoredAny>,
}

async fn allow(body: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let review: Review = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let Some(req) = review.request else {
        return (axum::http::StatusCode::BAD_REQUEST, "no request").into_response();
    };
    axum::Json(serde_json::json!({
        "apiVersion": review.api_version, "kind": "AdmissionReview",
        "response": {"uid": req.uid, "allowed": true}
    }))
    .into_response()
}

// Same allocator as the product binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: null_webhook CERT_DIR LISTEN"));
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9443".into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let loaded = tls::load_dir(&dir, &provider).expect("certs");
    let config = tls::server_config(tls::CertResolver::new(loaded.key), None, provider).unwrap();
    let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
    let router =
        Router::new().route("/mutate", post(allow)).layer(axum::extract::DefaultBodyLimit::max(3 * 1024 * 1024));
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        s.cancel();
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    let s = stop.clone();
    tokio::spawn(async move {
        term.recv().await;
        s.cancel();
    });
    eprintln!("null webhook on {listen}");
    serve(listener, tokio_rustls::TlsAcceptor::from(Arc::new(config)), router, ServerOptions::default(), stop).await;
}
