//! Where a round of creates spends its time and CPU: the API server's own measure of its calls to
//! the webhook, the webhook's own measure of each review (their difference is the transport: the
//! API server's webhook client, TLS, the loopback relay), and the CPU seconds each process of the
//! test control plane used during the round (from `/proc/PID/stat`, the pids `scripts/testenv.sh`
//! records).

use std::collections::BTreeMap;

use kube::Client;

use crate::harness::testenv;

/// One reading of the counters a round is measured by.
#[derive(Clone, Default)]
pub struct Reading {
    /// The API server's calls to our webhook: (sum of seconds, count).
    apiserver: (f64, f64),
    /// The webhook replicas' own reviews: (sum of seconds, count).
    webhook: (f64, f64),
    /// CPU seconds (user + system) per process, by its testenv name ("bench" is this process).
    cpu: BTreeMap<String, f64>,
}

/// What one round cost (the difference of two readings).
#[derive(Clone, Default)]
pub struct Cost {
    /// Mean of the API server's webhook calls, ms (NaN without calls).
    pub apiserver_ms: f64,
    /// Mean of the webhook's own reviews, ms.
    pub webhook_ms: f64,
    pub calls: f64,
    pub cpu: BTreeMap<String, f64>,
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, seconds.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (u, s): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    Some((u + s) / clock_ticks())
}

fn cpu_by_process() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let pids = testenv().dir.join("pids");
    for e in std::fs::read_dir(pids).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = std::fs::read_to_string(e.path()).unwrap_or_default();
        if let Some(s) = cpu_seconds(pid.trim()) {
            out.insert(name, s);
        }
    }
    if let Some(s) = cpu_seconds("self") {
        out.insert("bench".into(), s);
    }
    out
}

/// (sum, count) of a histogram in a Prometheus text page, over the lines `keep` accepts.
fn sum_count(text: &str, metric: &str, keep: impl Fn(&str) -> bool) -> (f64, f64) {
    let (mut sum, mut count) = (0.0, 0.0);
    for l in text.lines().filter(|l| keep(l)) {
        let v: f64 = l.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        if l.starts_with(&format!("{metric}_sum")) {
            sum += v;
        } else if l.starts_with(&format!("{metric}_count")) {
            count += v;
        }
    }
    (sum, count)
}

pub async fn read(c: &Client) -> Reading {
    let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = c.request_text(req).await.unwrap_or_default();
    let apiserver = sum_count(&text, "apiserver_admission_webhook_admission_duration_seconds", |l| {
        l.contains("pods.kafka-advertiser.io") && l.contains("type=\"admit\"")
    });
    let env = testenv();
    let mut webhook = (0.0, 0.0);
    for r in 0..env.replicas() {
        let url = format!("{}/metrics", env.admin_url(r));
        let Ok(resp) = crate::curl_text(&url).await else { continue };
        let (s, n) = sum_count(&resp, "kafka_advertiser_admission_duration_seconds", |_| true);
        webhook = (webhook.0 + s, webhook.1 + n);
    }
    Reading { apiserver, webhook, cpu: cpu_by_process() }
}

pub fn cost(before: &Reading, after: &Reading) -> Cost {
    let mean = |a: (f64, f64), b: (f64, f64)| 1000.0 * (b.0 - a.0) / (b.1 - a.1);
    Cost {
        apiserver_ms: mean(before.apiserver, after.apiserver),
        webhook_ms: mean(before.webhook, after.webhook),
        calls: after.apiserver.1 - before.apiserver.1,
        cpu: after.cpu.iter().map(|(k, v)| (k.clone(), v - before.cpu.get(k).copied().unwrap_or(*v))).collect(),
    }
}

/// Print the breakdown of the rounds with and without the webhook at one concurrency.
pub fn print(conc: usize, with: &[Cost], without: &[Cost]) {
    let calls: f64 = with.iter().map(|c| c.calls).sum();
    let avg = |v: &[Cost], f: &dyn Fn(&Cost) -> f64| v.iter().map(f).sum::<f64>() / v.len().max(1) as f64;
    let (api, own) = (avg(with, &|c| c.apiserver_ms), avg(with, &|c| c.webhook_ms));
    println!(
        "  {conc:>2} clients, where a webhook call's time goes ({calls} calls): the API server waits {api:.2} ms on average, \
         the webhook works {own:.2} ms of it, transport and queueing {:.2} ms",
        api - own
    );
    let names: Vec<&String> = with.iter().chain(without).flat_map(|c| c.cpu.keys()).collect();
    let mut names: Vec<&String> = names.into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    names.sort_by(|a, b| {
        let s = |n: &String| avg(with, &|c| c.cpu.get(n).copied().unwrap_or(0.0));
        s(b).partial_cmp(&s(a)).unwrap()
    });
    let mut line = format!("  {conc:>2} clients, CPU seconds per round of 200 creates, with / without the webhook:");
    let (mut tw, mut to) = (0.0, 0.0);
    for n in names {
        let (w, o) = (
            avg(with, &|c| c.cpu.get(n).copied().unwrap_or(0.0)),
            avg(without, &|c| c.cpu.get(n).copied().unwrap_or(0.0)),
        );
        (tw, to) = (tw + w, to + o);
        if w >= 0.005 || o >= 0.005 {
            line.push_str(&format!(" {n} {w:.2}/{o:.2};"));
        }
    }
    println!("{line} total {tw:.2}/{to:.2}");
}
