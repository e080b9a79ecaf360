//! Micro-benchmarks of the pure mutation and of the whole review (decode → mutate → encode).
//! `cargo bench --bench mutate`

use k8s_openapi::api::core::v1::Pod;
use kafka_advertiser::admission::review::review;
use kafka_advertiser::mutate::{mutate_view, ClusterView, Defaults, PodView, RequestNames};
use serde_json::{json, Value};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

fn fixture(name: &str) -> Value {
    let p = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A ~50 KB broker pod: many env vars, several containers, volumes, existing affinity.
fn large_review() -> Value {
    let mut r = fixture("kafka-2-apache-hostname-existing-affinity");
    let spec = r.pointer_mut("/request/object/spec").unwrap();
    let kafka = spec["containers"][0].clone();
    let env = spec["containers"][0]["env"].as_array_mut().unwrap();
    for i in 0..250 {
        env.insert(
            0,
            json!({"name": format!("KAFKA_CFG_SETTING_NUMBER_{i}"), "value": format!("value-{i}-{}", "x".repeat(40))}),
        );
    }
    for i in 0..4 {
        let mut c = kafka.clone();
        c["name"] = json!(format!("sidecar-{i}"));
        c["env"] =
            json!((0..40).map(|j| json!({"name": format!("S{i}_{j}"), "value": "y".repeat(30)})).collect::<Vec<_>>());
        spec["containers"].as_array_mut().unwrap().push(c);
    }
    spec["volumes"] = json!((0..40)
        .map(|i| json!({"name": format!("vol-{i}"), "configMap": {"name": format!("cm-{i}")}}))
        .collect::<Vec<_>>());
    let terms: Vec<Value> = (0..10)
        .map(|i| json!({"labelSelector": {"matchLabels": {"app": format!("other-{i}")}}, "topologyKey": "kubernetes.io/hostname"}))
        .collect();
    spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!(terms);
    r
}

struct Input {
    pod: PodView,
    body: Vec<u8>,
}

fn input(review: Value) -> Input {
    // The body must be a valid Pod too.
    let _: Pod = serde_json::from_value(review["request"]["object"].clone()).unwrap();
    let pod = serde_json::from_value(review["request"]["object"].clone()).unwrap();
    Input { pod, body: serde_json::to_vec(&review).unwrap() }
}

fn fixture_input() -> Input {
    input(fixture("kafka-1-seed-shared-address"))
}

fn book() -> ClusterView {
    let b = ClusterView::new();
    b.set("streaming", "kafka", 0, Some("203.0.113.10"));
    b
}

#[divan::bench]
fn mutate_fixture_pod(bencher: divan::Bencher) {
    let i = fixture_input();
    let (d, b) = (Defaults::default(), book());
    bencher
        .counter(divan::counter::BytesCount::new(i.body.len()))
        .bench(|| mutate_view(divan::black_box(&i.pod), RequestNames::default(), &d, &b).unwrap().unwrap());
}

#[divan::bench]
fn mutate_large_pod(bencher: divan::Bencher) {
    let i = input(large_review());
    let (d, b) = (Defaults::default(), book());
    bencher
        .counter(divan::counter::BytesCount::new(i.body.len()))
        .bench(|| mutate_view(divan::black_box(&i.pod), RequestNames::default(), &d, &b).unwrap().unwrap());
}

#[divan::bench]
fn review_fixture_bytes(bencher: divan::Bencher) {
    let i = fixture_input();
    let (d, b) = (Defaults::default(), book());
    bencher
        .counter(divan::counter::BytesCount::new(i.body.len()))
        .bench(|| review(divan::black_box(&i.body), &d, &b).unwrap());
}

#[divan::bench]
fn review_large_bytes(bencher: divan::Bencher) {
    let i = input(large_review());
    let (d, b) = (Defaults::default(), book());
    bencher
        .counter(divan::counter::BytesCount::new(i.body.len()))
        .bench(|| review(divan::black_box(&i.body), &d, &b).unwrap());
}

#[divan::bench]
fn review_not_opted_in(bencher: divan::Bencher) {
    let i = input(fixture("kafka-0-not-opted-in"));
    let (d, b) = (Defaults::default(), book());
    bencher.bench(|| review(divan::black_box(&i.body), &d, &b).unwrap());
}
