//! What operators ask for next, on the real control plane: the client-discovery ConfigMap, rack
//! awareness from the zone labels the API server copies onto bound pods, pod-ip mode, service-type
//! and per-broker Service templates.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::*;

const T: Duration = Duration::from_secs(90);

async fn discovery(c: &kube::Client, ns: &str, sts: &str) -> Option<BTreeMap<String, String>> {
    let cm: ConfigMap = Api::namespaced(c.clone(), ns).get_opt(&format!("{sts}-external-bootstrap")).await.ok()??;
    Some(cm.data.unwrap_or_default())
}

/// The value-from field path of env var `var` in the kafka container.
fn env_field(pod: &Pod, var: &str) -> Option<String> {
    let c = pod.spec.as_ref()?.containers.iter().find(|c| c.name == "kafka")?;
    let e = c.env.as_ref()?.iter().find(|e| e.name == var)?;
    Some(e.value_from.as_ref()?.field_ref.as_ref()?.field_path.clone())
}

fn env_names(pod: &Pod) -> Vec<String> {
    let c = pod.spec.as_ref().unwrap().containers.iter().find(|c| c.name == "kafka").unwrap();
    c.env.iter().flatten().map(|e| e.name.clone()).collect()
}

/// loadbalancer mode: the ConfigMap lists every broker's learned address, follows a scale-up, is put
/// back when deleted by hand, and goes away when the StatefulSet opts out.
#[tokio::test]
async fn discovery_configmap_follows_addresses_scale_and_opt_out() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-discovery").await;
    let sts = Broker::new("events", 2).create(&c, &ns).await;
    let addrs = converged(&c, &ns, "events", 2, 9094).await;
    let want = |addrs: &BTreeMap<u32, String>| {
        let mut m: BTreeMap<String, String> =
            addrs.iter().map(|(o, a)| (format!("broker.{o}"), format!("{a}:9094"))).collect();
        m.insert("bootstrap.servers".into(), addrs.values().map(|a| format!("{a}:9094")).collect::<Vec<_>>().join(","));
        m
    };
    let expected = want(&addrs);
    wait_for("the discovery ConfigMap lists both brokers", T, || async {
        (discovery(&c, &ns, "events").await? == expected).then_some(())
    })
    .await;
    let cm: ConfigMap = Api::namespaced(c.clone(), &ns).get("events-external-bootstrap").await.unwrap();
    let owner = &cm.owner_references()[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("StatefulSet", sts.uid().unwrap().as_str()));

    scale(&c, &ns, "events", 3).await;
    let three = converged(&c, &ns, "events", 3, 9094).await;
    let expected = want(&three);
    wait_for("the ConfigMap follows the scale-up", T, || async {
        (discovery(&c, &ns, "events").await? == expected).then_some(())
    })
    .await;

    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), &ns);
    cms.delete("events-external-bootstrap", &DeleteParams::default()).await.unwrap();
    wait_for("a deleted ConfigMap is put back", T, || async {
        (discovery(&c, &ns, "events").await? == expected).then_some(())
    })
    .await;

    // Opt out: remove the label from the template.
    let opt_out = json!({"spec": {"template": {"metadata": {"labels": {"kafka-advertiser.io/enabled": null}}}}});
    Api::<StatefulSet>::namespaced(c.clone(), &ns)
        .patch("events", &PatchParams::default(), &Patch::Merge(opt_out))
        .await
        .unwrap();
    wait_for("the ConfigMap is deleted on opt-out", T, || async {
        discovery(&c, &ns, "events").await.is_none().then_some(())
    })
    .await;
}

/// pod-ip mode with rack awareness: brokers are admitted at once (no Service, no wait), advertise
/// their own IP through ADVERTISER_POD_IP, take their rack from the zone label kube-apiserver's
/// PodTopologyLabels admission copies from the node at binding, and the discovery ConfigMap lists
/// the pod IPs (kwok's, never contacted).
#[tokio::test]
async fn pod_ip_mode_with_rack_awareness() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-podip").await;
    Broker::new("ledger", 3)
        .annotate("kafka-advertiser.io/mode", "pod-ip")
        .annotate("kafka-advertiser.io/rack", "true")
        .annotate("kafka-advertiser.io/anti-affinity", "preferred")
        .create(&c, &ns)
        .await;
    let pods = wait_for("3 bound brokers with a pod IP and a zone label", T, || async {
        let pods = wait_pods(&c, &ns, "ledger", 3, T).await;
        pods.iter()
            .all(|p| {
                p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some()
                    && p.labels().contains_key("topology.kubernetes.io/zone")
            })
            .then_some(pods)
    })
    .await;
    let nodes: Api<Node> = Api::all(c.clone());
    let mut zones = std::collections::BTreeSet::new();
    for p in &pods {
        assert_eq!(
            env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS").as_deref(),
            Some(
                format!(
                    "INTERNAL://{}.ledger-headless.{ns}.svc.cluster.local:9092,EXTERNAL://$(ADVERTISER_POD_IP):9094",
                    p.name_any()
                )
                .as_str()
            )
        );
        let names = env_names(p);
        let helper = names.iter().position(|n| n == "ADVERTISER_POD_IP").expect("the helper var");
        assert!(helper < names.iter().position(|n| n == "KAFKA_ADVERTISED_LISTENERS").unwrap(), "{names:?}");
        assert_eq!(env_field(p, "ADVERTISER_POD_IP").as_deref(), Some("status.podIP"));
        assert_eq!(
            env_field(p, "KAFKA_BROKER_RACK").as_deref(),
            Some("metadata.labels['topology.kubernetes.io/zone']")
        );
        // The label the rack var reads is the zone of the node the pod was bound to.
        let node = nodes.get(p.spec.as_ref().unwrap().node_name.as_deref().unwrap()).await.unwrap();
        let zone = p.labels()["topology.kubernetes.io/zone"].clone();
        assert_eq!(Some(&zone), node.labels().get("topology.kubernetes.io/zone"), "{}", p.name_any());
        zones.insert(zone);
    }
    assert!(zones.len() >= 2, "three brokers preferring distinct nodes span both zones: {zones:?}");
    assert!(services_of(&c, &ns, "ledger").await.is_empty(), "pod-ip mode makes no Service");

    let ips: BTreeMap<u32, String> =
        pods.iter().map(|p| (ordinal_of(&p.name_any()), p.status.as_ref().unwrap().pod_ip.clone().unwrap())).collect();
    let bootstrap: Vec<String> = ips.values().map(|ip| format!("{ip}:9094")).collect();
    wait_for("the ConfigMap and the StatefulSet list the pod IPs", T, || async {
        let data = discovery(&c, &ns, "ledger").await?;
        let sts: StatefulSet = Api::namespaced(c.clone(), &ns).get("ledger").await.ok()?;
        (data.get("bootstrap.servers") == Some(&bootstrap.join(","))
            && data.get("broker.2") == Some(&bootstrap[2])
            && sts.annotations().get("kafka-advertiser.io/external-bootstrap") == Some(&bootstrap.join(",")))
        .then_some(())
    })
    .await;
}

/// hostname mode with service-type ClusterIP and per-broker Service templates; service-type None
/// makes no Service at all and the brokers are still admitted with their names.
#[tokio::test]
async fn service_type_and_per_broker_service_templates() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-svctype").await;
    Broker::new("orders", 2)
        .annotate("kafka-advertiser.io/mode", "hostname")
        .annotate("kafka-advertiser.io/hostname-template", "{pod}.{namespace}.kafka.example.com")
        .annotate("kafka-advertiser.io/service-type", "ClusterIP")
        .annotate(
            "kafka-advertiser.io/service-annotations",
            r#"{"proxy.example.com/route": "{statefulset}-{ordinal}"}"#,
        )
        .annotate("kafka-advertiser.io/service-labels", "broker: \"{pod}\"")
        .annotate("kafka-advertiser.io/anti-affinity", "none")
        .create(&c, &ns)
        .await;
    let svcs = wait_for("two ClusterIP broker Services", T, || async {
        let s = services_of(&c, &ns, "orders").await;
        (s.len() == 2).then_some(s)
    })
    .await;
    for (o, svc) in (0..2).zip(svcs.values()) {
        let spec = svc.spec.as_ref().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert!(spec.cluster_ip.as_deref().is_some_and(|ip| ip != "None"), "a real ClusterIP was allocated");
        assert_eq!(svc.annotations()["proxy.example.com/route"], format!("orders-{o}"));
        assert_eq!(svc.labels()["broker"], format!("orders-{o}"));
    }
    let pods = wait_pods(&c, &ns, "orders", 2, T).await;
    assert!(env_value(&pods[1], "kafka", "KAFKA_ADVERTISED_LISTENERS")
        .unwrap()
        .ends_with(&format!("EXTERNAL://orders-1.{ns}.kafka.example.com:9094")));

    Broker::new("audit", 2)
        .annotate("kafka-advertiser.io/mode", "hostname")
        .annotate("kafka-advertiser.io/hostname-template", "audit-{ordinal}.{namespace}.example.com")
        .annotate("kafka-advertiser.io/service-type", "None")
        .annotate("kafka-advertiser.io/anti-affinity", "none")
        .create(&c, &ns)
        .await;
    wait_pods(&c, &ns, "audit", 2, T).await;
    wait_for("the ConfigMap of a Service-less StatefulSet", T, || async {
        let data = discovery(&c, &ns, "audit").await?;
        (data.get("bootstrap.servers").map(String::as_str)
            == Some(format!("audit-0.{ns}.example.com:9094,audit-1.{ns}.example.com:9094").as_str()))
        .then_some(())
    })
    .await;
    assert!(services_of(&c, &ns, "audit").await.is_empty(), "service-type None makes no Service");
}

/// `kubectl kafka-advertiser status` (the release binary installed as a kubectl plugin, the user's
/// kubeconfig): exit 0 with every broker's address once all are served; exit 1 naming the wait when
/// a load balancer never assigns one.
#[tokio::test]
async fn status_command_as_a_kubectl_plugin() {
    let _g = INSTALL.read().await;
    let env = testenv();
    let c = client().await;
    let ns = namespace(&c, "e2e-status").await;
    Broker::new("metrics", 2).create(&c, &ns).await;
    let addrs = converged(&c, &ns, "metrics", 2, 9094).await;
    // A load-balancer class nobody serves: the broker waits for ever.
    Broker::new("stuck", 1)
        .annotate("kafka-advertiser.io/load-balancer-class", "example.com/nobody")
        .create(&c, &ns)
        .await;

    let plugins = tempfile::tempdir().unwrap();
    let plugin = plugins.path().join("kubectl-kafka_advertiser");
    std::fs::copy(env.product(), &plugin).unwrap();
    let path = format!("{}:{}", plugins.path().display(), std::env::var("PATH").unwrap_or_default());
    let status_args = |args: &[&str]| {
        let out = std::process::Command::new(env.tool("kubectl"))
            .args(["kafka-advertiser", "status"])
            .args(args)
            .env("PATH", &path)
            .env("KUBECONFIG", env.kubeconfig())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let status = |sts: &str| status_args(&["-n", &ns, sts]);
    let want: Vec<String> = addrs.values().map(|a| format!("{a}:9094")).collect();
    let (code, out, err) = wait_for("status reports both brokers ok", T, || async {
        let r = status("metrics");
        (r.0 == Some(0)).then_some(r)
    })
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&format!("bootstrap   {}", want.join(","))), "{out}");
    assert!(out.contains("broker 1  ok") && out.contains("service     metrics-1-external LoadBalancer"), "{out}");
    assert!(
        out.contains(&format!(
            "advertises  INTERNAL://metrics-1.metrics-headless.{ns}.svc.cluster.local:9092,EXTERNAL://{}:9094",
            addrs[&1]
        )),
        "{out}"
    );

    let (code, out, err) = wait_for("status reports the stuck broker", T, || async {
        let r = status("stuck");
        r.1.contains("has no status.loadBalancer.ingress yet").then_some(r)
    })
    .await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("broker 0  WAITING") && out.contains("stuck-0-external"), "{out}");
    assert!(err.contains("waits, drifts or has no pod"), "{err}");

    let (code, _, err) = status("absent");
    assert_eq!(code, Some(2), "an error is exit 2: {err}");
    assert!(err.contains(&format!("StatefulSet {ns}/absent not found")), "{err}");

    // The namespace as a table, kubectl-style: one line per opted-in StatefulSet, exit 1 (one waits).
    let (code, out, _) = status_args(&["-n", &ns]);
    assert_eq!(code, Some(1), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines.len() == 3, "{out}");
    assert!(lines[1].starts_with("metrics") && lines[1].contains("2/2") && lines[1].ends_with("Ready"), "{out}");
    assert!(lines[2].starts_with("stuck") && lines[2].ends_with("Waiting(1)"), "{out}");
    // Every namespace, as data: both StatefulSets of this namespace, among others.
    let (_, out, err) = status_args(&["-A", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let mine: Vec<&serde_json::Value> =
        v["items"].as_array().unwrap().iter().filter(|i| i["namespace"] == ns).collect();
    assert_eq!(mine.len(), 2, "{v:#}");
    assert_eq!(mine[0]["name"], "metrics");
    assert_eq!(mine[0]["ready"], true);
    assert_eq!(mine[0]["brokers"][1]["address"], format!("{}:9094", addrs[&1]));
    // --wait: ready at once for `metrics`; `stuck` gives up after the timeout with exit 1.
    let (code, out, _) = status_args(&["-n", &ns, "metrics", "--wait", "--timeout", "30s"]);
    assert_eq!(code, Some(0), "{out}");
    let t0 = std::time::Instant::now();
    let (code, _, err) = status_args(&["-n", &ns, "stuck", "--wait", "--timeout", "3s"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(t0.elapsed() >= Duration::from_secs(3), "--wait waited");
}

/// `status --watch` prints again when something in scope changes (a watch, not a timer): the load
/// balancer the test plays answers, and the new address shows.
#[tokio::test]
async fn status_watch_prints_again_on_a_change() {
    let _g = INSTALL.read().await;
    let env = testenv();
    let c = client().await;
    let ns = namespace(&c, "e2e-watch").await;
    Broker::new("stuck", 1)
        .annotate("kafka-advertiser.io/load-balancer-class", "example.com/nobody")
        .create(&c, &ns)
        .await;
    let mut child = std::process::Command::new(env.product())
        .args(["status", "-n", &ns, "stuck", "--watch", "--kubeconfig"])
        .arg(env.kubeconfig())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    let mut until = |want: &str| {
        let deadline = std::time::Instant::now() + T;
        while !seen.contains(want) && std::time::Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
        assert!(seen.contains(want), "--watch never printed {want:?}:\n{seen}");
    };
    until("WAITING");
    env.script(&["lb", &format!("{ns}/stuck-0-external"), "127.0.15.1"]);
    until("127.0.15.1");
    let _ = child.kill();
    let _ = child.wait();
}
/// A cloud load balancer that reports an IP and a hostname (played by `scripts/testenv.sh lb`):
/// `address-type: hostname` advertises the hostname, the default the first entry's IP; with
/// `ip-family: IPv4` the IPv4 entry of a dual-stack one.
#[tokio::test]
async fn address_type_picks_the_ingress_entry() {
    let _g = INSTALL.read().await;
    let env = testenv();
    let c = client().await;
    let ns = namespace(&c, "e2e-addrtype").await;
    let cases = [
        ("by-name", Some(("kafka-advertiser.io/address-type", "hostname"))),
        ("by-ip", None),
        ("by-family", Some(("kafka-advertiser.io/ip-family", "IPv4"))),
    ];
    for (name, choice) in cases {
        let mut b = Broker::new(name, 1).annotate("kafka-advertiser.io/load-balancer-class", "example.com/cloud");
        if let Some((k, v)) = choice {
            b = b.annotate(k, v);
        }
        b.create(&c, &ns).await;
    }
    for (name, _) in cases {
        wait_for(&format!("{name}-0-external"), T, || async {
            services_of(&c, &ns, name).await.contains_key(&format!("{name}-0-external")).then_some(())
        })
        .await;
        let svc = format!("{ns}/{name}-0-external");
        if name == "by-family" {
            // A dual-stack load balancer reporting its IPv6 address first.
            env.script(&["lb", &svc, "2001:db8::5", "127.0.2.6"]);
        } else {
            env.script(&["lb", &svc, "127.0.2.5", &format!("{name}-0.lb.example.com")]);
        }
    }
    let svcs = services_of(&c, &ns, "by-family").await;
    let spec = svcs["by-family-0-external"].spec.clone().unwrap();
    assert_eq!(spec.ip_families.as_deref(), Some(&["IPv4".to_owned()][..]));
    assert_eq!(spec.ip_family_policy.as_deref(), Some("PreferDualStack"));
    for (name, want) in [
        ("by-name", "EXTERNAL://by-name-0.lb.example.com:9094"),
        ("by-ip", "EXTERNAL://127.0.2.5:9094"),
        ("by-family", "EXTERNAL://127.0.2.6:9094"),
    ] {
        let pods = wait_for(&format!("{name}-0 admitted with {want}"), T, || async {
            let pods = pods_of(&c, &ns, name).await;
            pods.first()
                .and_then(|p| env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS"))
                .is_some_and(|v| v.ends_with(want))
                .then_some(pods)
        })
        .await;
        assert_eq!(pods.len(), 1);
    }
}

/// No adoption, tried as a tenant with only `edit` in its namespace: a ConfigMap it made beforehand
/// with the discovery name (and kafka-advertiser's labels) is neither overwritten nor, when the
/// StatefulSet goes, deleted; the StatefulSet gets an OwnershipConflict Warning.
#[tokio::test]
async fn a_configmap_with_the_discovery_name_is_not_taken_over() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-noadopt").await;
    let tenant = tenant_client(&c, &ns).await;
    let forged: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "kafka-external-bootstrap", "namespace": ns,
            "labels": {"app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/statefulset": "kafka"}},
        "data": {"bootstrap.servers": "mine.example.com:9094"},
    }))
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(tenant.clone(), &ns);
    let before = cms.create(&Default::default(), &forged).await.unwrap();
    Broker::new("kafka", 1).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&tenant, &ns).await;
    converged(&c, &ns, "kafka", 1, 9094).await;
    let ev = wait_event(&c, &ns, "kafka", "OwnershipConflict", "ConfigMap kafka-external-bootstrap exists").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    let after = cms.get("kafka-external-bootstrap").await.unwrap();
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version, "the tenant's ConfigMap was written");
    Api::<StatefulSet>::namespaced(tenant.clone(), &ns).delete("kafka", &DeleteParams::default()).await.unwrap();
    wait_for("the StatefulSet's Services gone", Duration::from_secs(90), || async {
        services_of(&c, &ns, "kafka").await.is_empty().then_some(())
    })
    .await;
    let still = cms.get("kafka-external-bootstrap").await.unwrap();
    assert_eq!(still.data, before.data);
}

/// `status` takes the server's defaults from the ConfigMap the controller publishes in its namespace
/// (`kafka-advertiser-settings`), not from flags: a cluster domain published differently makes the
/// same brokers drift in its eyes, until a flag says otherwise.
#[tokio::test]
async fn status_reads_the_servers_published_settings() {
    let _g = INSTALL.write().await;
    let env = testenv();
    let c = client().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "kafka-advertiser");
    let published = wait_for("the controller's published settings", T, || async {
        cms.get_opt("kafka-advertiser-settings").await.ok().flatten()
    })
    .await;
    let data = published.data.clone().unwrap_or_default();
    assert_eq!(data.get("defaultMode").map(String::as_str), Some("loadbalancer"), "{data:?}");
    assert_eq!(data.get("clusterDomain").map(String::as_str), Some("cluster.local"), "{data:?}");
    let ns = namespace(&c, "e2e-settings").await;
    Broker::new("kafka", 1).create(&c, &ns).await;
    converged(&c, &ns, "kafka", 1, 9094).await;
    let status = |extra: &[&str]| {
        let out = std::process::Command::new(env.product())
            .args(["status", "-n", &ns, "kafka"])
            .args(extra)
            .env("KUBECONFIG", env.kubeconfig())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert_eq!(status(&[]).0, Some(0));

    // Published differently (as a server started with another --cluster-domain would): drift.
    let restore = data.clone();
    let patch = |d: &std::collections::BTreeMap<String, String>| {
        let body = serde_json::json!({"data": d});
        let cms = cms.clone();
        async move { cms.patch("kafka-advertiser-settings", &PatchParams::default(), &Patch::Merge(&body)).await.unwrap() }
    };
    let mut other = data.clone();
    other.insert("clusterDomain".into(), "corp.example".into());
    patch(&other).await;
    let (code, out) = status(&[]);
    let (flagged, flagged_out) = status(&["--cluster-domain", "cluster.local"]);
    patch(&restore).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("DRIFT") && out.contains("svc.corp.example"), "{out}");
    assert_eq!(flagged, Some(0), "a flag overrides what is published: {flagged_out}");
    let (code, out) = status(&[]);
    assert_eq!(code, Some(0), "restored: {out}");
}
