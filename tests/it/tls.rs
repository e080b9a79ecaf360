//! TLS behaviour of the real server: rotation through the `..data` symlink, refused bad pairs,
//! start-up errors, client authentication, and graceful shutdown with requests in flight.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::Value;

async fn admit_ok(c: &reqwest::Client, url: &str) -> Result<(), String> {
    let body = serde_json::to_vec(&fixture("kafka-1-seed-shared-address")).unwrap();
    let r =
        c.post(url).header("content-type", "application/json").body(body).send().await.map_err(|e| format!("{e:?}"))?;
    if r.status() != 200 {
        return Err(format!("status {}", r.status()));
    }
    let v: Value = r.json().await.map_err(|e| e.to_string())?;
    if v.pointer("/response/patch").is_none() {
        return Err(format!("no patch: {v}"));
    }
    Ok(())
}

/// Wait until a fresh connection trusting only `ca` is accepted.
async fn wait_trusted(ca: &Path, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if admit_ok(&client(&[ca], true), url).await.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "server never presented the certificate of {}", ca.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_loses_no_request() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    make_certs(&a, false);
    make_certs(&b, false);
    let mut vol = SecretVolume::new(&tmp.path().join("secret"), &a);
    let server = Server::start(&vol.dir, &["--tls-reload-interval", "100ms"]);
    let url = server.url("/mutate");
    let (ca_a, ca_b) = (a.join("ca.crt"), b.join("ca.crt"));

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for fresh in [false, true] {
        let (stop, ok, failed, url, ca_a, ca_b) =
            (stop.clone(), ok.clone(), failed.clone(), url.clone(), ca_a.clone(), ca_b.clone());
        load.push(tokio::spawn(async move {
            let reused = client(&[&ca_a, &ca_b], true);
            while !stop.load(Ordering::Relaxed) {
                let c = if fresh {
                    client(&[&ca_a, &ca_b], !ok.load(Ordering::Relaxed).is_multiple_of(2))
                } else {
                    reused.clone()
                };
                match admit_ok(&c, &url).await {
                    Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("request failed: {e}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    vol.swap_to(&b);
    wait_trusted(&ca_b, &url).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    vol.swap_to(&a);
    wait_trusted(&ca_a, &url).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(failed, 0, "{failed} requests failed during rotation");
    assert!(ok > 20, "only {ok} requests made it");
    let m = server.metrics();
    assert!(m.contains("kafka_advertiser_tls_cert_reloads_total{result=\"success\"} 2"), "{m}");
}

#[tokio::test]
async fn broken_pair_is_refused_and_old_cert_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, c) = (tmp.path().join("a"), tmp.path().join("c"));
    make_certs(&a, false);
    make_certs(&c, false);
    let mut vol = SecretVolume::new(&tmp.path().join("secret"), &a);
    let server = Server::start(&vol.dir, &["--tls-reload-interval", "100ms"]);
    let url = server.url("/mutate");
    let ca_a = a.join("ca.crt");

    // Key does not match the certificate.
    let bad = tmp.path().join("mismatch");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(c.join("tls.crt"), bad.join("tls.crt")).unwrap();
    std::fs::copy(a.join("tls.key"), bad.join("tls.key")).unwrap();
    vol.swap_to(&bad);
    let wait_failures = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = server.metrics();
            if m.contains(&format!("kafka_advertiser_tls_cert_reloads_total{{result=\"failure\"}} {n}")) {
                return;
            }
            assert!(Instant::now() < deadline, "reload failure {n} not counted: {m}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_failures(1);
    admit_ok(&client(&[&ca_a], true), &url).await.expect("old cert still serves");
    assert!(server.log().contains("refusing new certificate pair"), "{}", server.log());
    assert!(server.log().contains("does not match"), "{}", server.log());

    // Truncated PEM.
    let trunc = tmp.path().join("trunc");
    std::fs::create_dir_all(&trunc).unwrap();
    let pem = std::fs::read(a.join("tls.crt")).unwrap();
    std::fs::write(trunc.join("tls.crt"), &pem[..pem.len() / 2]).unwrap();
    std::fs::copy(a.join("tls.key"), trunc.join("tls.key")).unwrap();
    vol.swap_to(&trunc);
    wait_failures(2);
    admit_ok(&client(&[&ca_a], false), &url).await.expect("old cert still serves");
}

fn start_fails(dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(["serve", "--standalone", "--tls-cert-dir"])
        .arg(dir)
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--admin-listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "server started with bad certs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_owned()
}

#[test]
fn bad_certs_at_start_exit_non_zero_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    make_certs(&good, false);

    let missing = tmp.path().join("missing");
    assert!(start_fails(&missing).contains(&missing.join("tls.crt").display().to_string()));

    let unreadable = tmp.path().join("unreadable");
    std::fs::create_dir_all(unreadable.join("tls.crt")).unwrap(); // a directory where the file should be
    std::fs::copy(good.join("tls.key"), unreadable.join("tls.key")).unwrap();
    assert!(start_fails(&unreadable).contains("tls.crt"));

    let garbage = tmp.path().join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("tls.crt"), "not a certificate").unwrap();
    std::fs::copy(good.join("tls.key"), garbage.join("tls.key")).unwrap();
    let e = start_fails(&garbage);
    assert!(e.contains("tls.crt") && e.contains("no PEM certificate"), "{e}");

    let badkey = tmp.path().join("badkey");
    std::fs::create_dir_all(&badkey).unwrap();
    std::fs::copy(good.join("tls.crt"), badkey.join("tls.crt")).unwrap();
    std::fs::write(badkey.join("tls.key"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
    assert!(start_fails(&badkey).contains("tls.key"));

    let other = tmp.path().join("other");
    make_certs(&other, false);
    let mismatch = tmp.path().join("mismatch");
    std::fs::create_dir_all(&mismatch).unwrap();
    std::fs::copy(good.join("tls.crt"), mismatch.join("tls.crt")).unwrap();
    std::fs::copy(other.join("tls.key"), mismatch.join("tls.key")).unwrap();
    assert!(start_fails(&mismatch).contains("does not match"));
}

#[tokio::test]
async fn client_certificates_when_client_ca_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, other) = (tmp.path().join("a"), tmp.path().join("other"));
    make_certs(&a, true);
    make_certs(&other, true);
    let ca = a.join("ca.crt");
    let server = Server::start(&a, &["--client-ca", ca.to_str().unwrap()]);
    let url = server.url("/mutate");
    let with_identity = |dir: &Path| {
        install_provider();
        let mut pem = std::fs::read(dir.join("client.crt")).unwrap();
        pem.extend(std::fs::read(dir.join("client.key")).unwrap());
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
            .identity(reqwest::Identity::from_pem(&pem).unwrap())
            .build()
            .unwrap()
    };
    admit_ok(&with_identity(&a), &url).await.expect("a client cert from the trusted CA is accepted");
    assert!(admit_ok(&with_identity(&other), &url).await.is_err(), "a client cert from another CA is refused");
    assert!(admit_ok(&client(&[&ca], true), &url).await.is_err(), "no client cert is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    make_certs(&certs, false);
    let mut server = Server::start(&certs, &["--shutdown-grace", "10s", "--shutdown-delay", "0s"]);
    let url = server.url("/mutate");
    let body = serde_json::to_vec(&fixture("kafka-1-seed-shared-address")).unwrap();
    let half = body.len() / 2;

    // Several requests whose bodies are half sent when SIGTERM arrives.
    let mut inflight = Vec::new();
    let mut senders = Vec::new();
    for http2 in [true, false, true, false] {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
        tx.unbounded_send(Ok(body[..half].to_vec())).unwrap();
        senders.push(tx);
        let c = client(&[&certs.join("ca.crt")], http2);
        let url = url.clone();
        inflight.push(tokio::spawn(async move {
            let r = c
                .post(&url)
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(rx))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.sigterm();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New connections are refused while the old ones drain.
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err(), "listener still open after SIGTERM");
    for tx in senders {
        tx.unbounded_send(Ok(body[half..].to_vec())).unwrap();
        drop(tx);
    }
    for t in inflight {
        let (status, v) = t.await.unwrap();
        assert_eq!(status, 200);
        assert!(v.pointer("/response/patch").is_some(), "{v}");
    }
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
}

/// During the shutdown delay the replica is not ready but still answers, new connections included,
/// and tells kept-alive HTTP/1.1 connections to close (they would otherwise stay on it), so a rolling
/// update loses no request; then it drains and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_serving_for_the_shutdown_delay_with_readyz_failing() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    make_certs(&certs, false);
    let mut server = Server::start(&certs, &["--shutdown-delay", "3s"]);
    server.wait_ready();
    let body = serde_json::to_vec(&fixture("kafka-1-seed-shared-address")).unwrap();
    let connection = |r: &reqwest::Response| r.headers().get("connection").map(|v| v.to_str().unwrap().to_string());
    // Serving: HTTP/1.1 connections are kept alive.
    let keep = client(&[&certs.join("ca.crt")], false);
    let r = keep.post(server.url("/mutate")).header("content-type", "application/json").body(body.clone());
    let r = r.send().await.unwrap();
    assert_eq!((r.status().as_u16(), connection(&r)), (200, None));
    server.sigterm();
    let (code, readyz) = loop {
        let r = admin_get(server.admin, "/readyz").unwrap();
        if r.0 != 200 {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(code, 503);
    assert!(readyz.contains("shutting down"), "{readyz}");
    // The kept-alive connection is answered and told to close, so the client's next request dials the
    // Service again instead of staying on this terminating replica.
    let r = keep.post(server.url("/mutate")).header("content-type", "application/json").body(body.clone());
    let r = r.send().await.unwrap();
    let got = (r.status().as_u16(), connection(&r));
    assert_eq!(got, (200, Some("close".to_string())), "{:?}", r.text().await);
    // Requests on fresh connections (a new client each, HTTP/1.1 and HTTP/2) throughout most of the
    // delay: none is refused.
    let until = std::time::Instant::now() + Duration::from_millis(2000);
    let mut answered = 0;
    while std::time::Instant::now() < until {
        let c = client(&[&certs.join("ca.crt")], answered % 2 == 0);
        let r = c
            .post(server.url("/mutate"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {answered} during the shutdown delay failed: {e}"));
        assert_eq!(r.status().as_u16(), 200);
        answered += 1;
    }
    assert!(answered > 1);
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_served_with_alpn() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    make_certs(&certs, false);
    let server = Server::start(&certs, &[]);
    install_provider();
    for (version, alpn) in [(&rustls::version::TLS12, "h2"), (&rustls::version::TLS13, "http/1.1")] {
        let mut roots = rustls::RootCertStore::empty();
        let ca = certs.join("ca.crt");
        for c in kafka_advertiser::tls::parse_certs(&ca, &std::fs::read(&ca).unwrap()).unwrap() {
            roots.add(c).unwrap();
        }
        let mut cfg = rustls::ClientConfig::builder_with_protocol_versions(&[version])
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![alpn.as_bytes().to_vec()];
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        let (_, conn) = tls.get_ref();
        assert_eq!(conn.protocol_version(), Some(version.version));
        assert_eq!(conn.alpn_protocol(), Some(alpn.as_bytes()));
    }
}
