//! The real server on loopback: fixtures over HTTP/2 and HTTP/1.1, error statuses, admin port.

use std::time::Duration;

use crate::support::*;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

struct Setup {
    _tmp: tempfile::TempDir,
    server: Server,
    ca: std::path::PathBuf,
}

fn setup(extra: &[&str]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    make_certs(&certs, false);
    let server = Server::start(&certs, extra);
    Setup { ca: certs.join("ca.crt"), server, _tmp: tmp }
}

async fn post(c: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, reqwest::Version, Vec<u8>) {
    let r = c.post(url).header("content-type", "application/json").body(body).send().await.unwrap();
    let (s, v) = (r.status().as_u16(), r.version());
    (s, v, r.bytes().await.unwrap().to_vec())
}

fn env(pod: &Pod, container: &str, var: &str) -> Option<String> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == container)?
        .env
        .as_ref()?
        .iter()
        .rev()
        .find(|e| e.name == var)?
        .value
        .clone()
}

/// Send a review; if patched, apply the patch, check it is a Pod and that re-sending is a no-op.
async fn admit(c: &reqwest::Client, url: &str, mut review: Value) -> (Value, Option<Pod>) {
    review["request"]["uid"] = json!(format!("uid-{}", rand_suffix()));
    let (status, _, body) = post(c, url, serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let resp: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(resp["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(resp["kind"], "AdmissionReview");
    assert_eq!(resp["response"]["uid"], review["request"]["uid"]);
    assert!(resp["response"]["allowed"].is_boolean());
    let Some(patch) = patch_of(&resp) else {
        return (resp, None);
    };
    let mut obj = review["request"]["object"].clone();
    json_patch::patch(&mut obj, &patch).expect("patch applies to the request object");
    let pod: Pod = serde_json::from_value(obj.clone()).expect("patched object is a Pod");
    // Reinvocation (reinvocationPolicy: IfNeeded) on the patched pod: no patch.
    let mut again = review.clone();
    again["request"]["object"] = obj;
    let (_, _, body) = post(c, url, serde_json::to_vec(&again).unwrap()).await;
    let again: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(again.pointer("/response/allowed"), Some(&json!(true)));
    assert!(patch_of(&again).is_none(), "re-invocation produced a patch: {again}");
    (resp, Some(pod))
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn fixtures_over(http2: bool) {
    let s = setup(&[]);
    let c = client(&[&s.ca], http2);
    let url = s.server.url("/mutate");
    let want = if http2 { reqwest::Version::HTTP_2 } else { reqwest::Version::HTTP_11 };
    let (_, version, _) = post(&c, &url, serde_json::to_vec(&fixture("configmap-create")).unwrap()).await;
    assert_eq!(version, want);

    for name in FIXTURES {
        let (resp, pod) = admit(&c, &url, fixture(name)).await;
        let allowed = resp.pointer("/response/allowed") == Some(&json!(true));
        let message = resp.pointer("/response/status/message").and_then(Value::as_str).unwrap_or("");
        match name {
            "configmap-create" | "kafka-0-not-opted-in" | "kafka-0-update" => {
                assert!(allowed && pod.is_none(), "{name}: {resp}");
            }
            "kafka-0-kraft-bitnami-loadbalancer" => {
                // --standalone: no view of the Services, so the pod waits for its address.
                assert!(!allowed, "{name}");
                assert!(message.contains("kafka-0-external"), "{message}");
                assert_eq!(resp.pointer("/response/status/code"), Some(&json!(503)));
            }
            "kafka-0-dry-run" => {
                assert!(allowed, "{name}");
                let dry = fixture(name);
                // The same patch as the same request without dry-run.
                let mut wet = dry.clone();
                wet["request"]["dryRun"] = json!(false);
                let (wet_resp, _) = admit(&c, &url, wet).await;
                assert_eq!(patch_of(&resp), patch_of(&wet_resp));
                assert!(patch_of(&resp).is_some(), "a dry-run CREATE is mutated like any other");
            }
            "kafka-0-bad-port-base" => {
                assert!(!allowed);
                assert!(message.contains("kafka-advertiser.io/port-base") && message.contains("nine"), "{message}");
            }
            "kafka-client-generate-name-no-ordinal" => {
                assert!(!allowed);
                assert!(message.contains("no broker ordinal"), "{message}");
            }
            "kafka-1-seed-shared-address" => {
                let v = env(pod.as_ref().unwrap(), "kafka", "KAFKA_CFG_ADVERTISED_LISTENERS").unwrap();
                assert_eq!(v, "INTERNAL://kafka-1.kafka.streaming.svc.cluster.local:9092,EXTERNAL://198.51.100.7:9093");
            }
            "kafka-11-no-pod-index-label" => {
                let v = env(pod.as_ref().unwrap(), "kafka", "KAFKA_CFG_ADVERTISED_LISTENERS").unwrap();
                assert!(v.ends_with("EXTERNAL://kafka.example.net:9103"), "{v}");
            }
            "kafka-2-apache-hostname-existing-affinity" => {
                let pod = pod.unwrap();
                let v = env(&pod, "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
                assert_eq!(
                    v,
                    "INTERNAL://kafka-2.kafka-headless.streaming.svc.cluster.local:9092,EXTERNAL://broker-2.kafka.example.net:9094"
                );
                assert_eq!(env(&pod, "jmx-exporter", "KAFKA_ADVERTISED_LISTENERS").as_deref(), Some("must-not-change"));
                let init = &pod.spec.as_ref().unwrap().init_containers.as_ref().unwrap()[0];
                assert_eq!(init.env.as_ref().unwrap()[0].value.as_deref(), Some("must-not-change"));
                let aff = pod.spec.as_ref().unwrap().affinity.as_ref().unwrap();
                assert!(aff.node_affinity.is_some());
                let anti = aff.pod_anti_affinity.as_ref().unwrap();
                assert_eq!(anti.preferred_during_scheduling_ignored_during_execution.as_ref().unwrap().len(), 1);
                assert_eq!(anti.required_during_scheduling_ignored_during_execution.as_ref().unwrap().len(), 1);
            }
            "kafka-4-nodeport" => {
                let pod = pod.unwrap();
                let envs = pod.spec.as_ref().unwrap().containers[0].env.clone().unwrap();
                let h = envs.iter().position(|e| e.name == "ADVERTISER_HOST_IP").unwrap();
                let l = envs.iter().position(|e| e.name == "KAFKA_CFG_ADVERTISED_LISTENERS").unwrap();
                assert!(h < l);
                assert!(envs[l].value.as_deref().unwrap().ends_with("EXTERNAL://$(ADVERTISER_HOST_IP):31094"));
            }
            other => panic!("fixture {other} has no expectation"),
        }
    }
    let m = s.server.metrics();
    assert!(m.contains("kafka_advertiser_admission_requests_total{outcome=\"patched\"}"), "{m}");
    assert!(m.contains("kafka_advertiser_admission_requests_total{outcome=\"denied\"} 3"), "{m}");
    // The same three denials by reason: the load balancer's address pending, a bad annotation, ...
    let by_reason: u64 = m
        .lines()
        .filter(|l| l.starts_with("kafka_advertiser_admission_denials_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(by_reason, 3, "{m}");
    assert!(m.contains("kafka_advertiser_admission_denials_total{reason=\"address_pending\"} 1"), "{m}");
    assert!(m.contains("kafka_advertiser_admission_denials_total{reason=\"settings\"} "), "{m}");
}

#[tokio::test]
async fn fixtures_over_http2() {
    fixtures_over(true).await;
}

#[tokio::test]
async fn fixtures_over_http1() {
    fixtures_over(false).await;
}

#[tokio::test]
async fn default_mode_flag_and_cluster_domain() {
    let s = setup(&["--default-mode", "nodeport", "--cluster-domain", "corp.internal"]);
    let c = client(&[&s.ca], true);
    let mut review = fixture("kafka-0-kraft-bitnami-loadbalancer");
    review["request"]["object"]["metadata"]["annotations"] = json!({});
    let (_, pod) = admit(&c, &s.server.url("/mutate"), review).await;
    let v = env(&pod.unwrap(), "kafka", "KAFKA_CFG_ADVERTISED_LISTENERS").unwrap();
    assert_eq!(
        v,
        "INTERNAL://kafka-0.kafka-headless.streaming.svc.corp.internal:9092,EXTERNAL://$(ADVERTISER_HOST_IP):31090"
    );
}

#[tokio::test]
async fn transport_errors_get_clear_non_200_answers() {
    let s = setup(&["--max-body-bytes", "65536"]);
    let c = client(&[&s.ca], false);
    let url = s.server.url("/mutate");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();

    let (st, _, b) = post(&c, &url, b"{not json".to_vec()).await;
    assert_eq!(st, 400);
    assert!(text(&b).contains("malformed AdmissionReview"), "{}", text(&b));
    let (st, _, b) = post(&c, &url, br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec()).await;
    assert_eq!((st, text(&b).trim()), (400, "AdmissionReview has no request"));
    let (st, _, _) = post(&c, &url, Vec::new()).await;
    assert_eq!(st, 400);
    let (st, _, _) = post(&c, &url, b"{".to_vec()).await;
    assert_eq!(st, 400);
    let (st, _, _) = post(&c, &url, vec![0xff, 0xfe, b'{']).await;
    assert_eq!(st, 400);
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let (st, _, b) = post(&c, &url, deep.into_bytes()).await;
    assert_eq!(st, 400, "{}", text(&b));
    let (st, _, b) = post(&c, &url, vec![b' '; 65_537]).await;
    assert_eq!(st, 413, "{}", text(&b));
    // Wrong content type, method, path.
    let r = c.post(&url).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 415);
    assert_eq!(c.get(&url).send().await.unwrap().status().as_u16(), 405);
    assert_eq!(c.post(s.server.url("/validate")).send().await.unwrap().status().as_u16(), 404);
    // A chunked body (no content-length) over the limit is cut off, not buffered.
    let chunks = futures::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 4096])));
    let r = c
        .post(&url)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // The server still answers.
    let (resp, _) = admit(&c, &url, fixture("kafka-0-not-opted-in")).await;
    assert_eq!(resp.pointer("/response/allowed"), Some(&json!(true)));
    let m = s.server.metrics();
    assert!(m.contains("kafka_advertiser_admission_requests_total{outcome=\"error\"} 9"), "{m}");
}

#[tokio::test]
async fn default_body_limit_is_3_mib() {
    let s = setup(&[]);
    let c = client(&[&s.ca], true);
    let url = s.server.url("/mutate");
    let (st, _, _) = post(&c, &url, vec![b' '; 3 * 1024 * 1024 + 1]).await;
    assert_eq!(st, 413);
    // Just under the limit is read (and rejected as malformed JSON, not as too large).
    let (st, _, _) = post(&c, &url, vec![b' '; 3 * 1024 * 1024]).await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn admin_endpoints() {
    let s = setup(&[]);
    assert_eq!(admin_get(s.server.admin, "/livez").unwrap().0, 200);
    assert_eq!(admin_get(s.server.admin, "/readyz").unwrap().0, 200);
    let m = s.server.metrics();
    assert!(m.contains("kafka_advertiser_tls_cert_not_after_seconds"), "{m}");
    assert!(m.contains("kafka_advertiser_admission_duration_seconds"), "{m}");
    let build = format!("kafka_advertiser_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    assert!(m.contains(&build), "{m}");
    assert!(m.contains("kafka_advertiser_leader 0"), "a standalone replica never leads: {m}");
    assert_eq!(admin_get(s.server.admin, "/mutate").unwrap().0, 404);
}

#[tokio::test]
async fn json_logs_carry_uid_namespace_pod_and_decision() {
    let s = setup(&["--log-format", "json"]);
    let c = client(&[&s.ca], true);
    admit(&c, &s.server.url("/mutate"), fixture("kafka-1-seed-shared-address")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let line = s
        .server
        .log()
        .lines()
        .find(|l| l.contains("\"decision\":\"patched\""))
        .map(str::to_owned)
        .expect("admission log line");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["namespace"], "streaming");
    assert_eq!(v["pod"], "kafka-1");
    assert!(v["uid"].as_str().unwrap().starts_with("uid-"));
    assert!(v["duration_us"].is_u64());
}

/// A pod CREATE without an object is an admission answer (HTTP 200) whose message says who refused.
#[tokio::test]
async fn a_request_without_an_object_is_refused_with_our_prefix() {
    let s = setup(&[]);
    let c = client(&[&s.ca], true);
    let mut review = fixture("kafka-4-nodeport");
    review["request"].as_object_mut().unwrap().remove("object");
    let body = serde_json::to_vec(&review).unwrap();
    let (st, _, b) = post(&c, &s.server.url("/mutate"), body).await;
    assert_eq!(st, 200);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["response"]["allowed"], false);
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.starts_with("kafka-advertiser: ") && msg.contains("no object"), "{msg}");
}
