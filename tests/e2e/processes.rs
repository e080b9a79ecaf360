//! What tests stop and start (the deployed replicas, child processes), each put back when its guard
//! is dropped, also when the test fails; helm; and the API server's audit log.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{testenv, wait_for, TestEnv};

/// Stop a process the harness started (scripts/testenv.sh deploy), by its pid file, and wait for it.
pub async fn stop_process(env: &TestEnv, name: &str) {
    let pid: i32 = std::fs::read_to_string(env.pid_file(name)).unwrap().trim().parse().unwrap();
    let alive = Path::new(&format!("/proc/{pid}")).exists();
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success() || !alive, "kill {name} ({pid})");
    wait_for(&format!("{name} to exit"), Duration::from_secs(30), || async {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    })
    .await;
}

/// The deployed replicas of one role (`controller`, `webhook`), stopped; started again
/// (scripts/testenv.sh deploy restarts what is not running) when this is dropped, also when the
/// test fails.
pub struct ReplicasStopped;

impl ReplicasStopped {
    pub async fn stop(role: &str) -> ReplicasStopped {
        // The guard first: whatever happens below, dropping it starts them again.
        let guard = ReplicasStopped;
        let env = testenv();
        for r in 0..env.replicas() {
            stop_process(env, &format!("kafka-advertiser-{role}-{r}")).await;
        }
        guard
    }
}

impl Drop for ReplicasStopped {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testenv.sh");
        let out = std::process::Command::new("bash").arg(script).arg("deploy").output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("scripts/testenv.sh deploy failed after replicas were stopped: {out:?}");
        }
    }
}

/// A child process killed (and reaped) when dropped.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The API server's audit log from a point on (`scripts/testenv.sh up` writes one JSON line per
/// completed request of kafka-advertiser's ServiceAccounts, and per pod create of the StatefulSet
/// controller).
pub struct Audit {
    path: PathBuf,
    offset: u64,
}

impl Audit {
    pub fn mark() -> Audit {
        let path = testenv().dir.join("logs/audit.log");
        let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Audit { path, offset }
    }

    /// Every entry written since the mark, in order.
    pub fn entries(&self) -> Vec<Value> {
        use std::io::{Read, Seek};
        let mut f = std::fs::File::open(&self.path).expect("the audit log (scripts/testenv.sh up writes it)");
        f.seek(std::io::SeekFrom::Start(self.offset)).unwrap();
        let mut text = String::new();
        f.read_to_string(&mut text).unwrap();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

/// Whether an audit entry is a request of kafka-advertiser's own ServiceAccounts.
pub fn audit_is_ours(e: &Value) -> bool {
    // deploy/ and the testenv's installs use this namespace (NAMESPACE in scripts/testenv.sh).
    e["user"]["groups"].as_array().is_some_and(|g| g.iter().any(|g| g == "system:serviceaccounts:kafka-advertiser"))
}

/// When the API server completed an audited request (`stageTimestamp`).
pub fn audit_time(e: &Value) -> k8s_openapi::jiff::Timestamp {
    e["stageTimestamp"].as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("no stageTimestamp in {e}"))
}

/// Helm with `args`: whether it succeeded, and what it printed (stdout, then stderr).
pub fn helm(args: &[&str]) -> (bool, String) {
    let helm = testenv().var("KAFKA_ADVERTISER_TESTENV_HELM").to_owned();
    let out = std::process::Command::new(&helm).args(args).output().unwrap_or_else(|e| panic!("{helm}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Helm against the test control plane (its kubeconfig); the test fails when helm does.
pub fn helm_on_cluster(args: &[&str]) -> String {
    let kubeconfig = format!("--kubeconfig={}", testenv().kubeconfig().display());
    let all: Vec<&str> = args.iter().copied().chain([kubeconfig.as_str()]).collect();
    let (ok, out) = helm(&all);
    assert!(ok, "helm {args:?}: {out}");
    out
}

/// Wait until every replica of both roles that answers has read each access class in `names` at
/// its stored generation or later (the `kafka_advertiser_access_class_generation` series on its
/// /metrics), where a test would otherwise sleep for "every replica's class watch". A replica that
/// does not answer is left out: one a test stopped reads every class before it is ready again.
pub async fn every_replica_read_classes(c: &kube::Client, names: &[&str]) {
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
        c.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("kafka-advertiser.io", "v1alpha1", "ExternalAccessClass"),
            "externalaccessclasses",
        ),
    );
    let mut want = Vec::new();
    for name in names {
        let generation = api.get(name).await.unwrap().metadata.generation.unwrap_or_default();
        want.push((format!("kafka_advertiser_access_class_generation{{class=\"{name}\"}} "), generation));
    }
    let want = &want;
    wait_for(&format!("every replica to read the classes {names:?}"), Duration::from_secs(30), || async move {
        let (webhooks, controllers) = (scrape_replicas(false).await, scrape_replicas(true).await);
        // Not vacuous: at least one replica of each role answers (both are deployed).
        if webhooks.is_empty() || controllers.is_empty() {
            return None;
        }
        for text in webhooks.iter().chain(&controllers) {
            for (series, generation) in want {
                let read = text.lines().find_map(|l| l.strip_prefix(series.as_str())?.trim().parse::<i64>().ok());
                if read.is_none_or(|g| g < *generation) {
                    return None;
                }
            }
        }
        Some(())
    })
    .await;
}

/// The /metrics text of every answering host-process replica of one role (webhook or controller).
pub async fn scrape_replicas(controllers: bool) -> Vec<String> {
    let env = testenv();
    let mut out = vec![];
    for i in 0..env.replicas() {
        let base = if controllers { env.controller_admin_url(i) } else { env.admin_url(i) };
        if let Ok(r) = reqwest::get(format!("{base}/metrics")).await {
            out.push(r.text().await.unwrap_or_default());
        }
    }
    out
}
