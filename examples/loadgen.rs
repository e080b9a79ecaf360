//! Load generator for the admission server: HTTP/2 or HTTP/1.1 over TLS, fixed rate (with
//! coordinated-omission correction: latency is measured from each request's intended send time)
//! or saturation. Prints one JSON line.
//!
//! cargo run --release --example loadgen -- --url https://127.0.0.1:8443/mutate --ca certs/ca.crt \
//!     --h2 --connections 4 --rate 2000 --duration 10

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};

struct Args {
    url: String,
    ca: String,
    h2: bool,
    connections: usize,
    streams: usize,
    rate: f64,
    duration: Duration,
    fixtures: Vec<String>,
}

fn parse() -> Args {
    let mut a = Args {
        url: String::new(),
        ca: String::new(),
        h2: true,
        connections: 4,
        streams: 1,
        rate: 0.0,
        duration: Duration::from_secs(10),
        fixtures: vec![
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kafka-1-seed-shared-address.json").into(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kafka-2-apache-hostname-existing-affinity.json")
                .into(),
        ],
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().expect("flag value");
        match k.as_str() {
            "--url" => a.url = v(),
            "--ca" => a.ca = v(),
            "--h2" => a.h2 = true,
            "--h1" => a.h2 = false,
            "--connections" => a.connections = v().parse().unwrap(),
            "--streams" => a.streams = v().parse().unwrap(),
            "--rate" => a.rate = v().parse().unwrap(),
            "--duration" => a.duration = Duration::from_secs_f64(v().parse().unwrap()),
            "--fixture" => a.fixtures.push(v()),
            "--only-fixture" => a.fixtures = vec![v()],
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// Request bodies with a fresh uid each: the uid is rewritten in place (same length), no re-serialisation.
struct Bodies {
    templates: Vec<(Vec<u8>, usize)>,
    counter: AtomicU64,
}

impl Bodies {
    fn new(files: &[String]) -> Self {
        let templates = files
            .iter()
            .map(|f| {
                // The fixture bytes as they are (kube-apiserver's field order, object last): only
                // the uid's 36 characters are rewritten per request.
                let b = std::fs::read(f).unwrap();
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                let uid = v["request"]["uid"].as_str().unwrap();
                assert_eq!(uid.len(), 36, "fixture uid must be a 36-character UUID");
                let at = b.windows(36).position(|w| w == uid.as_bytes()).unwrap();
                (b, at)
            })
            .collect();
        Bodies { templates, counter: AtomicU64::new(0) }
    }
    fn next(&self) -> Bytes {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let (t, at) = &self.templates[(n as usize) % self.templates.len()];
        let mut b = t.clone();
        let hex = format!("{n:012x}");
        b[at + 24..at + 36].copy_from_slice(hex.as_bytes());
        Bytes::from(b)
    }
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

async fn connect(a: &Args, cfg: Arc<rustls::ClientConfig>) -> Sender {
    let uri: hyper::Uri = a.url.parse().unwrap();
    let host = uri.host().unwrap().to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await.unwrap();
    let io = TokioIo::new(tls);
    if a.h2 {
        let (s, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.unwrap();
        tokio::spawn(conn);
        Sender::H2(s)
    } else {
        let (s, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        Sender::H1(s)
    }
}

async fn send(s: &mut Sender, url: &str, body: Bytes) -> bool {
    let req = Request::post(url).header("content-type", "application/json").body(Full::new(body)).unwrap();
    let resp = match s {
        Sender::H1(s) => {
            if s.ready().await.is_err() {
                return false;
            }
            s.send_request(req).await
        }
        Sender::H2(s) => {
            if s.ready().await.is_err() {
                return false;
            }
            s.send_request(req).await
        }
    };
    match resp {
        Ok(r) => {
            let ok = r.status() == 200;
            ok && r.into_body().collect().await.is_ok()
        }
        Err(_) => false,
    }
}

impl Sender {
    fn clone_h2(&self) -> Option<Sender> {
        match self {
            Sender::H2(s) => Some(Sender::H2(s.clone())),
            Sender::H1(_) => None,
        }
    }
}

// Same allocator as the product binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let a = Arc::new(parse());
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&a.ca).unwrap();
    for c in kafka_advertiser::tls::parse_certs(a.ca.as_ref(), &pem).unwrap() {
        roots.add(c).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    cfg.alpn_protocols = vec![if a.h2 { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
    let cfg = Arc::new(cfg);
    let bodies = Arc::new(Bodies::new(&a.fixtures));
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap()));
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));

    // Warm-up: open connections (handshakes are not measured).
    let mut senders = Vec::new();
    for _ in 0..a.connections {
        senders.push(connect(&a, cfg.clone()).await);
    }
    let start = Instant::now();
    let end = start + a.duration;
    let mut tasks = Vec::new();
    for s in senders {
        // One worker per stream; h1 connections carry one stream.
        let mut workers = vec![s];
        for _ in 1..a.streams {
            if let Some(c) = workers[0].clone_h2() {
                workers.push(c);
            }
        }
        let per_worker = if a.rate > 0.0 { a.rate / (a.connections * workers.len()) as f64 } else { 0.0 };
        for (wi, mut w) in workers.into_iter().enumerate() {
            let (a, bodies, hist, errors, done) =
                (a.clone(), bodies.clone(), hist.clone(), errors.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                let interval = if per_worker > 0.0 { Some(Duration::from_secs_f64(1.0 / per_worker)) } else { None };
                // Stagger workers so a fixed rate is spread evenly.
                let mut intended = start + interval.map_or(Duration::ZERO, |i| i.mul_f64(wi as f64 / 16.0));
                let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let mut prev_done = start;
                while Instant::now() < end && intended < end {
                    if interval.is_some() {
                        tokio::time::sleep_until(intended.into()).await;
                    }
                    // Coordinated-omission correction: when the previous response came back after
                    // this request's intended send time, the wait is the server's fault and counts
                    // from the intended time. When we were idle, the only delay is the timer's own
                    // (~1 ms granularity) and the clock starts at the actual send.
                    let now = Instant::now();
                    let t0 = if interval.is_some() && prev_done > intended { intended } else { now };
                    let ok = send(&mut w, &a.url, bodies.next()).await;
                    prev_done = Instant::now();
                    let us = prev_done.duration_since(t0).as_micros() as u64;
                    if ok {
                        local.saturating_record(us.max(1));
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(i) = interval {
                        intended += i;
                    }
                }
                hist.lock().unwrap().add(&local).unwrap();
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let h = hist.lock().unwrap();
    println!(
        "{}",
        serde_json::json!({
            "protocol": if a.h2 { "h2" } else { "http/1.1" },
            "connections": a.connections, "streams": a.streams, "target_rate": a.rate,
            "requests": done.load(Ordering::Relaxed), "errors": errors.load(Ordering::Relaxed),
            "rps": (done.load(Ordering::Relaxed) as f64 / elapsed).round(),
            "p50_us": h.value_at_quantile(0.50), "p99_us": h.value_at_quantile(0.99),
            "p999_us": h.value_at_quantile(0.999), "max_us": h.max(),
        })
    );
}
