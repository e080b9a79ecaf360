//! Figures on the real control plane of `scripts/testenv.sh` (not assertions: it prints them).
//!
//! ```sh
//! scripts/testenv.sh build && scripts/testenv.sh up && scripts/testenv.sh deploy
//! cargo bench --features e2e --bench controlplane            # all
//! cargo bench --features e2e --bench controlplane -- create  # one: create | address | scale | memory | apiserver | quiet
//! ```
//!
//! - create: pod creation latency through the API server, webhook registered vs not (same run,
//!   alternating), 200 labelled bare pods at 10 and 50 concurrent clients: p50/p99 and ratio.
//! - address: time from a Service's load-balancer address appearing (MetalLB) to the waiting broker
//!   pod being created by the StatefulSet controller, per broker.
//! - scale: `replicas` 3 → 10, time until all 10 are admitted with their own addresses.
//! - memory: RSS of each `serve` replica after sync, with 5,000 unrelated pods, 200 unrelated
//!   StatefulSets and 20 opted-in ones.
//! - apiserver: the API server's own `apiserver_admission_webhook_admission_duration_seconds` for
//!   our webhook.
//! - quiet: 20 opted-in StatefulSets converged, then kafka-advertiser's requests over 5 minutes
//!   (`KAFKA_ADVERTISER_BENCH_QUIET_SECS`), from the API server's audit log (testenv logs only
//!   kafka-advertiser's ServiceAccounts); then the requests and time of a reconcile with nothing
//!   to change and of a scale-up by one broker.

#[path = "../tests/e2e/harness.rs"]
mod harness;
#[path = "../tests/e2e/processes.rs"]
mod processes;

#[path = "controlplane/breakdown.rs"]
mod breakdown;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use harness::*;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use processes::*;
use serde_json::json;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn create_pods(c: &Client, ns: &str, n: usize, concurrency: usize) -> Vec<f64> {
    let api: Api<Pod> = Api::namespaced(c.clone(), ns);
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {
                        "name": format!("kafka-{i}"),
                        "labels": {"kafka-advertiser.io/enabled": "true", "app": "bench"},
                        "annotations": {
                            "kafka-advertiser.io/mode": "hostname",
                            "kafka-advertiser.io/hostname-template": "{pod}.bench.example.test"
                        }
                    },
                    // No scheduler takes them: with the webhook they carry its anti-affinity
                    // and all but three would stay Pending, without it all 200 would be bound
                    // and run by kwok; that work, on the same two cores, would fall on one
                    // side only. Unscheduled, both sides are the create alone.
                    "spec": {"hostname": format!("kafka-{i}"), "subdomain": "kafka-headless",
                        "schedulerName": "bench-no-scheduler",
                        "containers": [{"name": "kafka", "image": "apache/kafka:4.1.1",
                        "env": [{"name": "KAFKA_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9094"}]}]}
                }))
                .unwrap();
                let t = Instant::now();
                api.create(&PostParams::default(), &pod).await.expect("create pod");
                ms(t.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

async fn bench_create(c: &Client) {
    let hooks: Api<MutatingWebhookConfiguration> = Api::all(c.clone());
    let mut saved = hooks.get("kafka-advertiser").await.expect("the webhook is installed (scripts/testenv.sh deploy)");
    // Recreated as it was: its name, labels (the install is found by them) and annotations (Helm's
    // ownership), without what the API server sets.
    saved.metadata = kube::api::ObjectMeta {
        name: saved.metadata.name.clone(),
        labels: saved.metadata.labels.clone(),
        annotations: saved.metadata.annotations.clone(),
        ..Default::default()
    };
    let original = saved.clone();
    // KAFKA_ADVERTISER_BENCH_WEBHOOK_URL: call the webhook at another URL in the rounds with it
    // (e.g. one replica's own port, without the forwarder), to weigh what sits between.
    if let Ok(url) = std::env::var("KAFKA_ADVERTISER_BENCH_WEBHOOK_URL") {
        for h in saved.webhooks.iter_mut().flatten() {
            h.client_config.url = Some(url.clone());
            h.client_config.service = None;
        }
        println!("create: the webhook is called at {url}");
    }
    // Warm-up (connections, caches).
    let ns = namespace(c, "bench-warm").await;
    create_pods(c, &ns, 20, 10).await;
    println!("create: 200 labelled bare pods per round, webhook registered vs not, rounds alternate; 3 runs");
    // Three runs; each alternates with and without the webhook at both concurrencies (the order
    // flips between runs, so neither side always goes first).
    let mut runs: Vec<BTreeMap<(usize, bool), Vec<f64>>> = Vec::new();
    let mut costs: BTreeMap<(usize, bool), Vec<breakdown::Cost>> = BTreeMap::new();
    for run in 0..3 {
        let mut rows = BTreeMap::new();
        for conc in [10usize, 50] {
            let order = if run % 2 == 0 { [true, false] } else { [false, true] };
            for with in order {
                set_webhook(&hooks, &saved, with).await;
                let side = if with { "on" } else { "off" };
                let ns = namespace(c, &format!("bench-create-{side}-{conc}-{run}")).await;
                let before = breakdown::read(c).await;
                rows.insert((conc, with), create_pods(c, &ns, 200, conc).await);
                costs.entry((conc, with)).or_default().push(breakdown::cost(&before, &breakdown::read(c).await));
                // Each round starts from the same cluster: its pods go before the next round.
                delete_namespace(c, &ns).await;
            }
        }
        runs.push(rows);
    }
    set_webhook(&hooks, &saved, false).await;
    set_webhook(&hooks, &original, true).await;
    for conc in [10usize, 50] {
        breakdown::print(conc, &costs[&(conc, true)], &costs[&(conc, false)]);
        // Per run: (p50 on, p99 on, p50 off, p99 off).
        let per_run: Vec<[f64; 4]> = runs
            .iter()
            .map(|r| {
                let (mut on, mut off) = (r[&(conc, true)].clone(), r[&(conc, false)].clone());
                [pct(&mut on, 50.0), pct(&mut on, 99.0), pct(&mut off, 50.0), pct(&mut off, 99.0)]
            })
            .collect();
        for (i, [p50on, p99on, p50off, p99off]) in per_run.iter().enumerate() {
            println!(
                "  {conc:>2} clients, run {}: with p50 {p50on:.1} p99 {p99on:.1} ms | without p50 {p50off:.1} p99 {p99off:.1} ms | ratio p50 {:.2}x p99 {:.2}x",
                i + 1,
                p50on / p50off,
                p99on / p99off
            );
        }
        let median = |k: usize| {
            let mut v: Vec<f64> = per_run.iter().map(|r| r[k]).collect();
            let spread = (pct(&mut v, 0.0), pct(&mut v, 100.0));
            (pct(&mut v, 50.0), spread)
        };
        let ratios = |a: usize, b: usize| {
            let mut v: Vec<f64> = per_run.iter().map(|r| r[a] / r[b]).collect();
            (pct(&mut v, 50.0), pct(&mut v, 0.0), pct(&mut v, 100.0))
        };
        let ((p50on, _), (p99on, _), (p50off, _), (p99off, _)) = (median(0), median(1), median(2), median(3));
        let (r50, r50lo, r50hi) = ratios(0, 2);
        let (r99, r99lo, r99hi) = ratios(1, 3);
        println!(
            "  {conc:>2} clients, median of 3: with p50 {p50on:.1} p99 {p99on:.1} ms | without p50 {p50off:.1} p99 {p99off:.1} ms | ratio p50 {r50:.2}x ({r50lo:.2}-{r50hi:.2}) p99 {r99:.2}x ({r99lo:.2}-{r99hi:.2})"
        );
    }
}

/// Delete a namespace and wait (up to 2 minutes) until it and its pods are gone.
async fn delete_namespace(c: &Client, ns: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.clone());
    let _ = api.delete(ns, &DeleteParams::default()).await;
    let t = Instant::now();
    while api.get_opt(ns).await.ok().flatten().is_some() && t.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Register (`on`) or remove the webhook configuration, then give the API server's webhook cache
/// time to see it.
async fn set_webhook(hooks: &Api<MutatingWebhookConfiguration>, saved: &MutatingWebhookConfiguration, on: bool) {
    let present = hooks.get_opt("kafka-advertiser").await.unwrap().is_some();
    match (on, present) {
        (true, false) => {
            hooks.create(&PostParams::default(), saved).await.unwrap();
        }
        (false, true) => {
            let _ = hooks.delete("kafka-advertiser", &DeleteParams::default()).await;
        }
        _ => return,
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// Per broker: when its Service got an address, and when its pod was created (admitted).
async fn bench_address(c: &Client) {
    let ns = namespace(c, "bench-address").await;
    let svc_times = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::<u32, Instant>::new()));
    let pod_times = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::<u32, Instant>::new()));
    let (s2, p2) = (svc_times.clone(), pod_times.clone());
    let svcs: Api<Service> = Api::namespaced(c.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns);
    let w1 = tokio::spawn(async move {
        let mut s = std::pin::pin!(watcher(svcs, watcher::Config::default()).applied_objects());
        while let Ok(Some(svc)) = s.try_next().await {
            if ingress_ip(&svc).is_some() {
                if let Some(o) = svc.labels().get("kafka-advertiser.io/ordinal").and_then(|o| o.parse().ok()) {
                    s2.lock().unwrap().entry(o).or_insert_with(Instant::now);
                }
            }
        }
    });
    let w2 = tokio::spawn(async move {
        let mut s = std::pin::pin!(watcher(pods, watcher::Config::default()).applied_objects());
        while let Ok(Some(p)) = s.try_next().await {
            p2.lock().unwrap().entry(ordinal_of(&p.name_any())).or_insert_with(Instant::now);
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n = 10;
    Broker::new("kafka", n).annotate("kafka-advertiser.io/mode", "loadbalancer").create(c, &ns).await;
    converged(c, &ns, "kafka", n as usize, 9094).await;
    w1.abort();
    w2.abort();
    let s = svc_times.lock().unwrap().clone();
    let p = pod_times.lock().unwrap().clone();
    let mut d: Vec<f64> = (0..n as u32).map(|o| ms(p[&o].saturating_duration_since(s[&o]))).collect();
    let max = d.iter().cloned().fold(0.0, f64::max);
    println!(
        "address: Service address -> broker pod created, {n} brokers: p50 {:.0} ms p99 {:.0} ms max {max:.0} ms",
        pct(&mut d, 50.0),
        pct(&mut d, 99.0)
    );
}

async fn bench_scale(c: &Client) {
    let ns = namespace(c, "bench-scale").await;
    Broker::new("kafka", 3).annotate("kafka-advertiser.io/mode", "loadbalancer").create(c, &ns).await;
    converged(c, &ns, "kafka", 3, 9094).await;
    let t = Instant::now();
    scale(c, &ns, "kafka", 10).await;
    converged(c, &ns, "kafka", 10, 9094).await;
    println!("scale: 3 -> 10 brokers, all admitted with their own addresses in {:.2} s", t.elapsed().as_secs_f64());
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

async fn bench_memory(c: &Client) {
    let env = testenv();
    let ns = namespace(c, "bench-scale-unrelated").await;
    let t = Instant::now();
    // 200 unrelated StatefulSets of 25 replicas: 5,000 unrelated pods.
    futures::stream::iter(0..200)
        .for_each_concurrent(20, |i| {
            let (c, ns) = (c.clone(), ns.clone());
            async move {
                Broker::new(&format!("app-{i}"), 25).not_opted_in().create(&c, &ns).await;
            }
        })
        .await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns);
    wait_for("5,000 unrelated pods", Duration::from_secs(900), || async {
        let n = pods.list_metadata(&Default::default()).await.ok()?.items.len();
        (n >= 5000).then_some(())
    })
    .await;
    let opted = namespace(c, "bench-scale-opted").await;
    for i in 0..20 {
        Broker::new(&format!("kafka-{i}"), 1)
            .annotate("kafka-advertiser.io/mode", "loadbalancer")
            .create(c, &opted)
            .await;
    }
    for i in 0..20 {
        converged(c, &opted, &format!("kafka-{i}"), 1, 9094).await;
    }
    println!("memory: cluster filled in {:.0} s", t.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(10)).await;
    for role in ["webhook", "controller"] {
        for r in 0..env.replicas() {
            let pid_file = env.pid_file(&format!("kafka-advertiser-{role}-{r}"));
            let pid: u32 = std::fs::read_to_string(pid_file).unwrap().trim().parse().unwrap();
            println!("  {role} replica {r}: RSS {:.1} MiB", rss_kib(pid) as f64 / 1024.0);
        }
    }
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(c.clone()).delete(&ns, &DeleteParams::default()).await;
}

/// Buckets (le, cumulative count) of the API server's histogram for our webhook's admit calls.
async fn webhook_histogram(c: &Client) -> Vec<(f64, f64)> {
    let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = c.request_text(req).await.expect("GET /metrics");
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for l in text.lines() {
        if !l.starts_with("apiserver_admission_webhook_admission_duration_seconds_bucket")
            || !l.contains("pods.kafka-advertiser.io")
            || !l.contains("type=\"admit\"")
        {
            continue;
        }
        let val: f64 = l.rsplit(' ').next().unwrap().parse().unwrap_or(0.0);
        let le = l.split("le=\"").nth(1).and_then(|s| s.split('"').next()).unwrap();
        let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
        match buckets.iter_mut().find(|b| b.0 == le) {
            Some(b) => b.1 += val,
            None => buckets.push((le, val)),
        }
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    buckets
}

fn describe(buckets: &[(f64, f64)]) -> String {
    let count = buckets.last().map(|b| b.1).unwrap_or(0.0);
    let p = |q: f64| buckets.iter().find(|(_, n)| *n >= q * count).map(|b| b.0).unwrap_or(f64::NAN);
    let within = |le: f64| buckets.iter().find(|b| (b.0 - le).abs() < 1e-9).map(|b| b.1).unwrap_or(0.0);
    format!(
        "{count} calls, p50 bucket le={} s, p99 bucket le={} s, {:.1}% within 5 ms, {:.1}% within 25 ms",
        p(0.5),
        p(0.99),
        100.0 * within(0.005) / count.max(1.0),
        100.0 * within(0.025) / count.max(1.0)
    )
}

async fn bench_apiserver(c: &Client) {
    println!(
        "apiserver: apiserver_admission_webhook_admission_duration_seconds{{name=pods.kafka-advertiser.io}}, all calls so far: {}",
        describe(&webhook_histogram(c).await)
    );
    // At light load (one client, pods created one after another): the webhook's own cost.
    let before = webhook_histogram(c).await;
    let ns = namespace(c, "bench-apiserver").await;
    create_pods(c, &ns, 200, 1).await;
    let after = webhook_histogram(c).await;
    let delta: Vec<(f64, f64)> =
        after.iter().map(|(le, n)| (*le, n - before.iter().find(|b| b.0 == *le).map(|b| b.1).unwrap_or(0.0))).collect();
    println!("  200 sequential creates: {}", describe(&delta));
}

/// kafka-advertiser's requests since `audit`'s mark: `verb resource` → count.
fn tally(audit: &Audit) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in audit.entries().iter().filter(|e| audit_is_ours(e)) {
        let verb = e["verb"].as_str().unwrap_or("?");
        let resource = e["objectRef"]["resource"].as_str().unwrap_or("?");
        let sub = e["objectRef"]["subresource"].as_str().map(|s| format!("/{s}")).unwrap_or_default();
        *out.entry(format!("{verb} {resource}{sub}")).or_insert(0) += 1;
    }
    out
}

fn is_write(key: &str) -> bool {
    ["create", "update", "patch", "delete", "apply"].iter().any(|v| key.starts_with(v)) && !key.ends_with("leases")
}

fn summary(t: &BTreeMap<String, u64>) -> String {
    let writes: u64 = t.iter().filter(|(k, _)| is_write(k)).map(|(_, n)| n).sum();
    let lists: u64 = t.iter().filter(|(k, _)| k.starts_with("list")).map(|(_, n)| n).sum();
    let gets: u64 = t.iter().filter(|(k, _)| k.starts_with("get") && !k.ends_with("leases")).map(|(_, n)| n).sum();
    let detail: Vec<String> = t.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    format!("writes {writes} (without Leases), lists {lists}, gets {gets} (without Leases) [{}]", detail.join(", "))
}

/// The leader's reconcile count and total time (`kafka_advertiser_reconcile_duration_seconds`).
async fn reconcile_clock() -> (f64, f64) {
    let mut total = (0.0, 0.0);
    for r in 0..testenv().replicas() {
        let Ok(text) = curl_text(&format!("{}/metrics", testenv().controller_admin_url(r))).await else { continue };
        for l in text.lines() {
            let value = |l: &str| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            if l.starts_with("kafka_advertiser_reconcile_duration_seconds_count") {
                total.0 += value(l);
            } else if l.starts_with("kafka_advertiser_reconcile_duration_seconds_sum") {
                total.1 += value(l);
            }
        }
    }
    total
}

async fn curl_text(url: &str) -> Result<String, std::io::Error> {
    let out = std::process::Command::new("curl").args(["-sf", url]).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn bench_quiet(c: &Client) {
    let ns = namespace(c, "bench-quiet").await;
    let n = 20;
    for i in 0..n {
        let b = Broker::new(&format!("kafka-{i}"), 1).annotate("kafka-advertiser.io/mode", "loadbalancer");
        b.create(c, &ns).await;
    }
    for i in 0..n {
        converged(c, &ns, &format!("kafka-{i}"), 1, 9094).await;
    }
    // Let the last addresses' Events and annotations land before counting.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let secs: u64 = std::env::var("KAFKA_ADVERTISER_BENCH_QUIET_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let audit = Audit::mark();
    let clock = reconcile_clock().await;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let t = tally(&audit);
    let after = reconcile_clock().await;
    println!("quiet: {n} converged StatefulSets, {secs} s: {}", summary(&t));
    println!("  reconciles in the window: {}", after.0 - clock.0);

    // A reconcile with nothing to change: a metadata change the plan does not act on.
    let audit = Audit::mark();
    let clock = reconcile_clock().await;
    let sts: Api<k8s_openapi::api::apps::v1::StatefulSet> = Api::namespaced(c.clone(), &ns);
    let touch =
        json!({"metadata": {"annotations": {"bench.kafka-advertiser.io/touch": format!("{:?}", Instant::now())}}});
    sts.patch("kafka-0", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&touch)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = reconcile_clock().await;
    println!(
        "reconcile, nothing to change: {} reconcile(s), {:.2} ms each; {}",
        after.0 - clock.0,
        (after.1 - clock.1) * 1000.0 / (after.0 - clock.0).max(1.0),
        summary(&tally(&audit))
    );

    // Scale-up by one broker, until it advertises its own address.
    let audit = Audit::mark();
    let clock = reconcile_clock().await;
    let t0 = Instant::now();
    scale(c, &ns, "kafka-1", 2).await;
    converged(c, &ns, "kafka-1", 2, 9094).await;
    let wall = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = reconcile_clock().await;
    println!(
        "scale-up by one broker: admitted with its address in {:.2} s; {} reconciles, {:.2} ms in reconciles; {}",
        wall.as_secs_f64(),
        after.0 - clock.0,
        (after.1 - clock.1) * 1000.0,
        summary(&tally(&audit))
    );
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(c.clone()).delete(&ns, &DeleteParams::default()).await;
}

#[tokio::main]
async fn main() {
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let c = client().await;
    if run("create") {
        bench_create(&c).await;
    }
    if run("address") {
        bench_address(&c).await;
    }
    if run("scale") {
        bench_scale(&c).await;
    }
    if run("apiserver") {
        bench_apiserver(&c).await;
    }
    if run("memory") {
        bench_memory(&c).await;
    }
    if run("quiet") {
        bench_quiet(&c).await;
    }
}
