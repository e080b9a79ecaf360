//! The attacker's suite, against the release binary as shipped (`cargo build --release`; no
//! environment variables, default flags unless a test names one to save time): reviews that parse
//! into far more than their bytes, connections held idle or re-opened from one address while the
//! API server's reviews come from another, HTTP/2 stream floods. Each asserts the peak RSS (VmHWM)
//! under the Deployment's memory limit, the process alive, and valid reviews answered.
//! `cargo test --features release --test hostile` (CI runs it after the release build).

mod support;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// deploy/ and the chart: the webhook's `resources.limits.memory`.
const LIMIT_KIB: u64 = 128 * 1024;

fn release_bin() -> PathBuf {
    let p = std::env::var_os("KAFKA_ADVERTISER_RELEASE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/kafka-advertiser"));
    assert!(p.exists(), "{}: build the release binary first (cargo build --release --locked)", p.display());
    p
}

fn start(certs: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--standalone", "--log-level", "error"];
    args.extend_from_slice(extra);
    let s = Server::spawn_bin(&release_bin(), certs, &args, &[]);
    s.wait_ready();
    s
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is alive");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn tls_config(ca: &Path, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
    install_provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in kafka_advertiser::tls::parse_certs(ca, &std::fs::read(ca).unwrap()).unwrap() {
        roots.add(c).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(cfg)
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A TLS connection from the loopback address `from` (Linux routes all of 127/8 to lo).
async fn connect(from: &str, port: u16, cfg: &Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from.parse::<IpAddr>().unwrap(), 0))?;
    let tcp = sock.connect(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    tokio_rustls::TlsConnector::from(cfg.clone()).connect("localhost".try_into().unwrap(), tcp).await
}

/// POST one body over HTTP/1.1 from `from`; the status and the response body.
async fn post(from: &str, port: u16, cfg: &Arc<rustls::ClientConfig>, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut tls = connect(from, port, cfg).await?;
    let head = format!(
        "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await?;
    tls.write_all(body).await?;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.as_bytes().to_vec()).unwrap_or_default();
    Ok((code, body))
}

fn review(object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "attack", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "operation": "CREATE", "namespace": "ns", "name": "kafka-0", "object": object}
    }))
    .unwrap()
}

/// ~3 MiB reviews of the shapes that amplify: empty containers, one-key env entries (both past
/// their list caps), empty init containers (no cap of their own: the node limit), and the largest
/// review within every limit (16 containers of 600 env entries: 19,000+ values, decoded in full).
fn amplifying_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let labels = json!({"kafka-advertiser.io/enabled": "true", "apps.kubernetes.io/pod-index": "0"});
    let meta = json!({"name": "kafka-0", "labels": labels});
    let n = 1_000_000;
    let empties = |key: &str| {
        let mut s = review(json!({"metadata": meta, "spec": {key: []}}));
        let at = s.windows(3).position(|w| w == b"[]}").unwrap() + 1;
        let items = vec!["{}"; n].join(",");
        s.splice(at..at, items.into_bytes());
        s
    };
    let env: Vec<Value> = (0..235_000).map(|_| json!({"name": "A"})).collect();
    let within: Vec<Value> =
        (0..16).map(|i| json!({"name": format!("c{i}"), "env": vec![json!({"name": "A"}); 600]})).collect();
    vec![
        ("containers", empties("containers")),
        ("initContainers", empties("initContainers")),
        ("env", review(json!({"metadata": meta, "spec": {"containers": [{"name": "kafka", "env": env}]}}))),
        ("within", review(json!({"metadata": meta, "spec": {"containers": within}}))),
    ]
}

fn valid_review() -> Vec<u8> {
    serde_json::to_vec(&fixture("kafka-1-seed-shared-address")).unwrap()
}

fn assert_patched(code: u16, body: &[u8]) {
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(body));
    let v: Value = serde_json::from_slice(body).unwrap();
    assert!(v.pointer("/response/patch").is_some(), "{v}");
}

/// Valid reviews from 127.0.0.1 every 50 ms until `stop`; their latencies (each must be patched).
fn valid_reviews(
    port: u16,
    cfg: Arc<rustls::ClientConfig>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Duration>> {
    tokio::spawn(async move {
        let body = valid_review();
        let mut took = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            let (code, out) = post("127.0.0.1", port, &cfg, &body).await.expect("a valid review is answered");
            assert_patched(code, &out);
            took.push(t.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        took
    })
}

fn p99(mut v: Vec<Duration>) -> Duration {
    assert!(!v.is_empty(), "no valid review was sent");
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplifying_reviews_are_refused_by_name_and_stay_under_the_memory_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    make_certs(&certs, false);
    let server = start(&certs, &[]);
    let pid = server.child.as_ref().unwrap().id();
    let cfg = tls_config(&certs.join("ca.crt"), b"http/1.1");
    let bodies = Arc::new(amplifying_bodies());
    for (shape, b) in bodies.iter() {
        assert!(b.len() <= 3 << 20, "{shape}: {} bytes", b.len());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let valid = valid_reviews(server.port, cfg.clone(), stop.clone());
    // 8 attackers at once, each cycling through the shapes for 8 s.
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut attackers = Vec::new();
    for i in 0..8 {
        let (cfg, bodies, answers) = (cfg.clone(), bodies.clone(), answers.clone());
        let port = server.port;
        attackers.push(tokio::spawn(async move {
            let end = Instant::now() + Duration::from_secs(8);
            let mut k = i;
            while Instant::now() < end {
                let (shape, body) = &bodies[k % bodies.len()];
                if let Ok((code, out)) = post("127.0.0.2", port, &cfg, body).await {
                    answers.lock().unwrap().push((*shape, code, String::from_utf8_lossy(&out).into_owned()));
                }
                k += 1;
            }
        }));
    }
    for a in attackers {
        a.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let took = valid.await.unwrap();
    let hwm = status_kib(pid, "VmHWM:");
    eprintln!("VmHWM {hwm} KiB; valid reviews: {} p99 {:?}", took.len(), p99(took.clone()));
    assert!(hwm < LIMIT_KIB, "peak RSS {hwm} KiB over the {LIMIT_KIB} KiB limit");
    let answers = answers.lock().unwrap();
    for shape in ["containers", "initContainers", "env"] {
        let mine: Vec<_> = answers.iter().filter(|a| a.0 == shape).collect();
        assert!(!mine.is_empty(), "{shape}: no answer");
        for (_, code, body) in mine {
            // A refusal is an answered review (200, allowed: false, the limit named), or a 429 when busy.
            if *code == 429 {
                continue;
            }
            assert_eq!(*code, 200, "{shape}: {body}");
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v.pointer("/response/allowed"), Some(&json!(false)), "{shape}: {v}");
            assert_eq!(v.pointer("/response/uid"), Some(&json!("attack")));
            let msg = v.pointer("/response/status/message").unwrap().as_str().unwrap();
            let named =
                if shape == "initContainers" { "--max-review-nodes 20000" } else { "entries (the webhook's limit is" };
            assert!(msg.contains(named), "{shape}: {msg}");
        }
    }
    assert!(answers.iter().any(|a| a.0 == "within" && a.1 == 200), "a review within the limits is decided");
    assert_eq!(admin_get(server.admin, "/livez").unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_the_connections_another_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    make_certs(&certs, false);
    let server = start(&certs, &[]);
    let pid = server.child.as_ref().unwrap().id();
    let cfg = tls_config(&certs.join("ca.crt"), b"http/1.1");
    // More connections than --max-connections (4096), from 127.0.0.2, held open and silent.
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4200 {
        let (cfg, held, refused) = (cfg.clone(), held.clone(), refused.clone());
        let port = server.port;
        set.spawn(async move {
            match connect("127.0.0.2", port, &cfg).await {
                Ok(c) => held.lock().await.push(c),
                Err(_) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        if set.len() >= 64 {
            set.join_next().await;
        }
    }
    while set.join_next().await.is_some() {}
    let opened = held.lock().await.len();
    eprintln!("from one address: {opened} held, {} refused", refused.load(Ordering::Relaxed));
    assert!(opened <= 1024, "{opened} connections from one address (--max-connections-per-address 1024)");
    assert!(opened >= 1000, "only {opened} of the first 1024 were accepted");
    // Another address (the API server's) is served, while the attacker keeps re-opening.
    let stop = Arc::new(AtomicBool::new(false));
    let reopen = {
        let (cfg, stop) = (cfg.clone(), stop.clone());
        let port = server.port;
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = connect("127.0.0.2", port, &cfg).await;
            }
        })
    };
    let valid = valid_reviews(server.port, cfg.clone(), stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The silent ones are closed once their first byte is overdue (--header-read-timeout 10s).
    let t = Instant::now();
    let mut conns = std::mem::take(&mut *held.lock().await);
    let mut closed = 0;
    for c in &mut conns {
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_secs(15), c.read(&mut b)).await {
            closed += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    reopen.await.unwrap();
    let took = valid.await.unwrap();
    eprintln!(
        "silent connections closed after {:?}; valid reviews {} p99 {:?}",
        t.elapsed(),
        took.len(),
        p99(took.clone())
    );
    assert_eq!(closed, conns.len(), "every silent connection is closed by the server");
    let hwm = status_kib(pid, "VmHWM:");
    assert!(hwm < LIMIT_KIB, "peak RSS {hwm} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_close_and_stream_floods_stay_bounded() {
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::{Bytes, Frame};
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    make_certs(&certs, false);
    let server = start(&certs, &["--idle-timeout", "3s"]);
    let pid = server.child.as_ref().unwrap().id();
    let h2 = tls_config(&certs.join("ca.crt"), b"h2");
    let h1 = tls_config(&certs.join("ca.crt"), b"http/1.1");

    // An HTTP/2 connection used once, then idle: closed by the server after --idle-timeout.
    let tls = connect("127.0.0.2", server.port, &h2).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let req = hyper::Request::post("https://localhost/mutate")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from(valid_review())))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let used = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("the idle HTTP/2 connection is closed")
        .unwrap()
        .ok();
    let idle = used.elapsed();
    assert!(idle >= Duration::from_millis(2900) && idle < Duration::from_secs(6), "closed after {idle:?}");

    // 8 connections × 256 streams, each sending 64 KiB of a body it never finishes.
    type Chunks = futures::stream::BoxStream<'static, Result<Frame<Bytes>, std::convert::Infallible>>;
    let mut flood = Vec::new();
    for _ in 0..8 {
        let tls = connect("127.0.0.2", server.port, &h2).await.unwrap();
        let (send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .unwrap();
        flood.push(tokio::spawn(conn));
        for _ in 0..256 {
            let mut send = send.clone();
            flood.push(tokio::spawn(async move {
                use futures::StreamExt;
                let end = Instant::now() + Duration::from_secs(11);
                while Instant::now() < end {
                    let chunks: Chunks = futures::stream::iter([Ok(Frame::data(Bytes::from(vec![b' '; 64 * 1024])))])
                        .chain(futures::stream::pending())
                        .boxed();
                    let req = hyper::Request::post("https://localhost/mutate")
                        .header("content-type", "application/json")
                        .body(StreamBody::new(chunks))
                        .unwrap();
                    match send.send_request(req).await {
                        Ok(r) => drop(r.into_body().collect().await),
                        Err(_) => break,
                    }
                }
                Ok::<(), hyper::Error>(())
            }));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let valid = valid_reviews(server.port, h1, stop.clone());
    tokio::time::sleep(Duration::from_secs(12)).await;
    stop.store(true, Ordering::Relaxed);
    let took = valid.await.unwrap();
    let hwm = status_kib(pid, "VmHWM:");
    eprintln!("stream flood: VmHWM {hwm} KiB; valid reviews {} p99 {:?}", took.len(), p99(took.clone()));
    assert!(hwm < LIMIT_KIB, "peak RSS {hwm} KiB");
    for f in flood {
        f.abort();
    }
    assert_eq!(admin_get(server.admin, "/livez").unwrap().0, 200);
}

/// A stand-in API server (plain HTTP on loopback) serving what a tenant with `edit` can create: 300
/// Services labelled `managed-by: kafka-advertiser` with a 200 KB annotation each, and 100
/// StatefulSets (not opted in) with a 1 MB env value each. LISTs are paged as the client asks
/// (`limit`, `continue`); watches hang.
async fn hostile_api() -> (u16, tokio::task::JoinHandle<()>) {
    use http_body_util::StreamBody;
    use hyper::body::{Bytes, Frame};
    let junk = "x".repeat(200_000);
    let services: Vec<Value> = (0..300)
        .map(|i| {
            json!({"metadata": {"name": format!("junk-{i}"), "namespace": "tenant", "resourceVersion": "1",
                "uid": format!("svc-{i}"),
                "labels": {"app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/role": "broker",
                           "kafka-advertiser.io/statefulset": "kafka", "kafka-advertiser.io/ordinal": i.to_string()},
                "annotations": {"junk": junk}},
             "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}})
        })
        .collect();
    let env = "y".repeat(1 << 20);
    let statefulsets: Vec<Value> = (0..100)
        .map(|i| {
            json!({"metadata": {"name": format!("big-{i}"), "namespace": "tenant", "resourceVersion": "1", "uid": format!("sts-{i}")},
             "spec": {"replicas": 0, "serviceName": "h", "selector": {"matchLabels": {"app": "big"}},
                "template": {"metadata": {"labels": {"app": "big"}},
                    "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "E", "value": env}]}]}}}})
        })
        .collect();
    let lists = Arc::new((services, statefulsets));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let lists = lists.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let lists = lists.clone();
                    async move {
                        type Chunks =
                            futures::stream::BoxStream<'static, Result<Frame<Bytes>, std::convert::Infallible>>;
                        let q = req.uri().query().unwrap_or("").to_owned();
                        let path = req.uri().path().to_owned();
                        let ok = |v: Value| {
                            let body: Chunks =
                                Box::pin(futures::stream::iter([Ok(Frame::data(Bytes::from(v.to_string())))]));
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(StreamBody::new(body))
                        };
                        if q.contains("watch=") {
                            let body: Chunks = Box::pin(futures::stream::pending());
                            return hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(StreamBody::new(body));
                        }
                        let param = |k: &str| {
                            q.split('&')
                                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                                .and_then(|v| v.parse::<usize>().ok())
                        };
                        let (items, kind, api_version) = match path.as_str() {
                            "/api/v1/services" | "/api/v1/namespaces/tenant/services" => {
                                (&lists.0, "ServiceList", "v1")
                            }
                            p if p.ends_with("/statefulsets") => (&lists.1, "StatefulSetList", "apps/v1"),
                            p if p.ends_with("/namespaces") => {
                                return ok(json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                                    "metadata": {"resourceVersion": "1"}, "items": []}));
                            }
                            p if p.ends_with("/externalaccessclasses") => {
                                return ok(
                                    json!({"apiVersion": "kafka-advertiser.io/v1alpha1", "kind": "ExternalAccessClassList",
                                    "metadata": {"resourceVersion": "1"}, "items": []}),
                                );
                            }
                            _ => {
                                return ok(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound"}))
                                    .map(|mut r| {
                                        *r.status_mut() = hyper::StatusCode::NOT_FOUND;
                                        r
                                    });
                            }
                        };
                        let from = param("continue").unwrap_or(0);
                        let limit = param("limit").unwrap_or(usize::MAX);
                        let to = from.saturating_add(limit).min(items.len());
                        let next = if to < items.len() { to.to_string() } else { String::new() };
                        ok(json!({"apiVersion": api_version, "kind": kind,
                            "metadata": {"resourceVersion": "1", "continue": next}, "items": items[from..to]}))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(tcp);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
            });
        }
    });
    (port, task)
}

/// N2: what a tenant with `edit` can create does not push the webhook role past its limit, on its
/// first list (peak) or after it (retained), and nothing of it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_labelled_services_and_large_statefulsets_stay_out_of_the_webhooks_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    make_certs(&certs, false);
    let (api, _task) = hostile_api().await;
    let kubeconfig = tmp.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{api}\n\
             users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n\
             current-context: c\n"
        ),
    )
    .unwrap();
    let server = Server::spawn_bin(
        &release_bin(),
        &certs,
        &["--role", "webhook", "--log-level", "error"],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    let pid = server.child.as_ref().unwrap().id();
    // Ready: every watch has listed everything once.
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin_get(server.admin, "/readyz").map(|r| r.0).ok() != Some(200) {
        assert!(Instant::now() < deadline, "the view never synced; log:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (hwm, rss) = (status_kib(pid, "VmHWM:"), status_kib(pid, "VmRSS:"));
    eprintln!("webhook role after listing 300 x 200 KB Services and 100 x 1 MB StatefulSets: VmHWM {hwm} KiB, VmRSS {rss} KiB");
    assert!(hwm < LIMIT_KIB, "peak RSS {hwm} KiB");
    assert!(rss < LIMIT_KIB * 3 / 4, "retained {rss} KiB: the tenant's objects are kept");
    // The junk Services are no brokers' addresses: a review for one is still answered.
    let cfg = tls_config(&certs.join("ca.crt"), b"http/1.1");
    let (code, _) = post("127.0.0.1", server.port, &cfg, &valid_review()).await.unwrap();
    assert_eq!(code, 200);
}
