//! An upgrade of kafka-advertiser under running brokers (issue 32, item 1): the previous release
//! (`tests/e2e/previous-release`, its binary and chart built by `scripts/testenv.sh previous`; the pod
//! runner runs that binary for pods of the image tagged with its version) is installed with its own
//! chart; it admits a 3-broker loadbalancer cluster of real Kafka brokers with a producer and a
//! consumer group (4 JVMs), and 1-broker shared-address and gateway-tcp StatefulSets (kwok runs
//! those), all with `roll-on-change`. Then `helm upgrade` to this checkout's chart while pods are
//! admitted. Asserted: the new release's controller has reconciled each StatefulSet, no broker pod
//! was replaced, no Service, ListenerSet or route was re-created, every advertised address is the
//! one it was, no admission failed; a broker recreated after the upgrade is given the address it had.
//! Then, under the same clients, the fault sequence of `kafka::faults` on the upgraded install (its
//! leader's pod killed with SIGKILL by the pod runner): one timeline, upgrade first, and no
//! acknowledged message lost across all of it (issue 32, item 5).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::DeleteParams;

use super::*;
use crate::kafka::faults::{assert_soak_held, epoch_ms, fault_sequence, timeline, Fault};
use crate::kafka::{brokers_ready, rolled_out, RealKafka, Soak, TempNamespace};

/// The previous release's version and its chart (`scripts/testenv.sh previous` built it).
fn previous_release() -> (String, String) {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/previous-release");
    let text = std::fs::read_to_string(&spec).unwrap();
    let line = text.lines().find(|l| !l.starts_with('#') && !l.trim().is_empty()).expect("a release line");
    let version = line.split_whitespace().next().unwrap().to_owned();
    let chart = testenv().dir.join(format!("releases/{version}/kafka-advertiser-{version}.tgz"));
    assert!(chart.exists(), "{} is missing: run scripts/testenv.sh previous first", chart.display());
    (version, chart.to_str().unwrap().to_owned())
}

/// Each running install pod's `/metrics` (the admin port on its pod IP), by component.
async fn install_metrics(component: &str) -> Vec<String> {
    let lp = ListParams::default().labels(&format!("app.kubernetes.io/component={component}"));
    let pods = Api::<Pod>::namespaced(client().await, NS).list(&lp).await.unwrap().items;
    let mut out = vec![];
    for p in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none() && ready_on_loopback(p)) {
        let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap();
        if let Ok(r) = reqwest::get(format!("http://{ip}:8080/metrics")).await {
            out.push(r.text().await.unwrap_or_default());
        }
    }
    out
}

/// Every replica of both Deployments runs release `version` (its image tag and, from the binary
/// itself, `kafka_advertiser_build_info`).
async fn install_runs(version: &str) {
    let want = format!("kafka_advertiser_build_info{{version=\"{version}\"}} 1");
    for component in ["webhook", "controller"] {
        let d = Api::<Deployment>::namespaced(client().await, NS)
            .get(&format!("kafka-advertiser-{component}"))
            .await
            .unwrap();
        let image = d.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap_or_default();
        assert!(image.ends_with(&format!(":{version}")), "{component} runs {image}, not {version}");
        let m = install_metrics(component).await;
        assert!(!m.is_empty() && m.iter().all(|t| t.contains(&want)), "{component} replicas are not {version}: {m:?}");
    }
}

/// What must not change across the upgrade: each object's UID and what it advertises.
#[derive(Debug, PartialEq)]
struct Snapshot {
    pods: BTreeMap<String, (String, Option<String>)>,
    services: BTreeMap<String, (String, Option<String>)>,
    gateway_objects: BTreeMap<String, (String, serde_json::Value)>,
    advertised: BTreeMap<String, Option<String>>,
}

async fn snapshot(c: &Client, ns: &str) -> Snapshot {
    let mut s = Snapshot {
        pods: BTreeMap::new(),
        services: BTreeMap::new(),
        gateway_objects: BTreeMap::new(),
        advertised: BTreeMap::new(),
    };
    for sts in ["kafka", "shared", "gw"] {
        for p in pods_of(c, ns, sts).await {
            let env = env_value(&p, "kafka", "KAFKA_ADVERTISED_LISTENERS");
            s.pods.insert(p.name_any(), (p.uid().unwrap(), env));
        }
        for (name, svc) in services_of(c, ns, sts).await {
            s.services.insert(name, (svc.uid().unwrap(), ingress_ip(&svc)));
        }
        let set = Api::<StatefulSet>::namespaced(c.clone(), ns).get(sts).await.unwrap();
        s.advertised.insert(sts.into(), set.annotations().get("kafka-advertiser.io/advertised").cloned());
    }
    for (kind, api) in [("ListenerSet", listener_sets(c, ns)), ("TCPRoute", routes(c, ns, "TCPRoute"))] {
        for o in api.list(&ListParams::default()).await.unwrap().items {
            s.gateway_objects.insert(format!("{kind}/{}", o.name_any()), (o.uid().unwrap(), o.data["spec"].clone()));
        }
    }
    s
}

/// The three StatefulSets, created while the previous release runs, converged with their addresses.
async fn brokers_of_the_previous_release(c: &Client, ns: &str) {
    let kafka = RealKafka::new("kafka", 3, "loadbalancer");
    let kafka = RealKafka {
        annotations: [kafka.annotations.clone(), vec![("kafka-advertiser.io/roll-on-change".into(), "true".into())]]
            .concat(),
        ..kafka
    };
    kafka.create(c, ns).await;
    let ip = free_pool_ip(c).await;
    Broker::new("shared", 1)
        .annotate("kafka-advertiser.io/mode", "shared-address")
        .annotate("kafka-advertiser.io/address", &ip)
        .annotate("kafka-advertiser.io/port-base", "29092")
        .annotate("kafka-advertiser.io/roll-on-change", "true")
        .create(c, ns)
        .await;
    create_gateway(c, ns, "edge", json!([{"name": "web", "port": 8443, "protocol": "TCP"}])).await;
    Broker::new("gw", 1)
        .annotate("kafka-advertiser.io/mode", "gateway-tcp")
        .annotate("kafka-advertiser.io/gateway", "edge")
        .annotate("kafka-advertiser.io/port-base", "19092")
        .annotate("kafka-advertiser.io/roll-on-change", "true")
        .create(c, ns)
        .await;
    testenv().script(&["gateway", &format!("{ns}/edge"), "203.0.113.9"]);
    wait_for("the gateway-tcp broker advertising the Gateway's address", Duration::from_secs(90), || async {
        let pods = pods_of(c, ns, "gw").await;
        let v = pods.first().and_then(|p| env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS"))?;
        v.ends_with("EXTERNAL://203.0.113.9:19092").then_some(())
    })
    .await;
    wait_for("the shared-address broker advertising its address", Duration::from_secs(90), || async {
        let pods = pods_of(c, ns, "shared").await;
        let v = pods.first().and_then(|p| env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS"))?;
        v.ends_with(&format!("EXTERNAL://{ip}:29092")).then_some(())
    })
    .await;
}

/// The new release's controller has reconciled StatefulSet `sts`: its gauge for it exists (a new
/// process has none until then) and every reconcile so far has finished.
async fn reconciled_by_the_new_release(ns: &str, sts: &str) {
    let series = format!("kafka_advertiser_statefulset_managed_services{{namespace=\"{ns}\",statefulset=\"{sts}\"}}");
    wait_for(&format!("the new controller reconciled {ns}/{sts}"), Duration::from_secs(120), || async {
        install_metrics("controller").await.iter().any(|m| m.contains(&series)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_upgrade_from_the_previous_release_rolls_no_broker_and_loses_nothing() {
    require_pods_install();
    let _g = INSTALL.write().await;
    let (previous, chart) = previous_release();
    let current = packaged_chart();
    let c = client().await;
    helm(&["upgrade", "kafka-advertiser", &chart, "--set-string", OPT_IN, "--wait", "--timeout", "5m"]);
    install_runs(&previous).await;

    let ns = TempNamespace(namespace(&c, "e2e-upgrade").await);
    brokers_of_the_previous_release(&c, &ns.0).await;
    let before_addr = converged(&c, &ns.0, "kafka", 3, 9094).await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let work = testenv().dir.join("kafka").join(&ns.0);
    let soak = Soak::start(&work, &format!("{}:9094", before_addr[&0]), "upgrade");
    soak.running().await;
    tokio::time::sleep(Duration::from_secs(5)).await; // a steady state before the upgrade
    let before = snapshot(&c, &ns.0).await;

    let (t, upgrade_at) = (Instant::now(), epoch_ms());
    let upgrade = current.clone();
    no_failed_admission_during(&format!("helm upgrade from release {previous}"), move || {
        helm(&["upgrade", "kafka-advertiser", &upgrade, "--set-string", OPT_IN, "--wait", "--timeout", "5m"]);
    })
    .await;
    let upgraded_in = t.elapsed();
    install_runs(env!("CARGO_PKG_VERSION")).await;
    for sts in ["kafka", "shared", "gw"] {
        reconciled_by_the_new_release(&ns.0, sts).await;
    }
    rolled_out(&c, &ns.0, "kafka", 3).await;
    let after = snapshot(&c, &ns.0).await;
    assert_eq!(after, before, "the upgrade replaced or changed what the previous release made");

    // A broker recreated by the new release's webhook gets the address it had.
    let shared0 = &before.pods["shared-0"];
    Api::<Pod>::namespaced(c.clone(), &ns.0).delete("shared-0", &DeleteParams::default()).await.unwrap();
    let recreated = wait_for("shared-0 recreated", Duration::from_secs(90), || async {
        let p = pods_of(&c, &ns.0, "shared").await.into_iter().next()?;
        (p.uid().as_ref() != Some(&shared0.0)).then_some(p)
    })
    .await;
    assert_eq!(env_value(&recreated, "kafka", "KAFKA_ADVERTISED_LISTENERS"), shared0.1);

    let upgrade = Fault {
        name: format!(
            "helm upgrade {previous} → {} (every install pod replaced; broker pods rolled: 0 of {})",
            env!("CARGO_PKG_VERSION"),
            before.pods.len()
        ),
        at: upgrade_at,
        took: upgraded_in,
    };

    // The faults, back to back with the upgrade, on the upgraded install.
    let mut faults = vec![upgrade];
    faults.extend(fault_sequence(&c, &ns.0).await);
    let result = soak.finish();
    eprintln!("upgrade and faults: {} | soak: {result}", timeline(&faults, &result).join("; "));
    assert_soak_held(&result);
    let after = converged(&c, &ns.0, "kafka", 3, 9094).await;
    assert_eq!(after, before_addr, "a broker changed its address across the upgrade and the faults");
}
