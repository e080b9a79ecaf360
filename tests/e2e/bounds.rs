//! Bounded by construction, as a tenant with only `edit` in its namespace: what it can create does
//! not push the webhook or the controller past their memory limits, nothing restarts, another
//! namespace's broker still converges, and no broker advertises an address a forged Service names.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, PostParams};
use kube::Client;
use serde_json::json;

use crate::*;

/// deploy/ and the chart: `resources.limits.memory` of each role.
const WEBHOOK_LIMIT_KIB: u64 = 128 * 1024;
const CONTROLLER_LIMIT_KIB: u64 = 256 * 1024;

fn pid(name: &str) -> u32 {
    let f = testenv().pid_file(name);
    std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())).trim().parse().unwrap()
}

fn hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process is alive");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// `n` objects made by `make(i)`, 16 at a time, as `client`.
async fn create_many<K, F>(client: &Client, ns: &str, n: usize, make: F)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    F: Fn(usize) -> K,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let objects: Vec<K> = (0..n).map(make).collect();
    let results: Vec<_> = futures::stream::iter(objects.iter().map(|o| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), o).await }
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    for r in results {
        r.expect("the tenant may create it");
    }
}

#[tokio::test]
async fn a_tenant_cannot_grow_the_processes_or_redirect_a_broker() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "bounds").await;
    let other = namespace(&c, "bystander").await;
    let tenant = tenant_client(&c, &ns).await;
    let names: Vec<String> = (0..testenv().replicas())
        .flat_map(|i| [format!("kafka-advertiser-webhook-{i}"), format!("kafka-advertiser-controller-{i}")])
        .collect();
    let pids: Vec<u32> = names.iter().map(|n| pid(n)).collect();

    // A broker of the tenant's, admitted with its own Service's address.
    let victim = Broker::new("victim", 1).create(&tenant, &ns).await;
    let address = converged(&c, &ns, "victim", 1, 9094).await[&0].clone();

    // N2: 300 Services anyone may label as kafka-advertiser's, 200 KB of annotation each, and 100
    // StatefulSets of 1 MB (not opted in).
    let junk = "x".repeat(200_000);
    create_many(&tenant, &ns, 300, |i| -> Service {
        serde_json::from_value(json!({"metadata": {"name": format!("junk-{i}"),
            "labels": {"app.kubernetes.io/managed-by": "kafka-advertiser"}, "annotations": {"junk": junk}},
            "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}))
        .unwrap()
    })
    .await;
    let env = "y".repeat(1_000_000);
    create_many(&tenant, &ns, 100, |i| -> StatefulSet {
        let mut s = Broker::new(&format!("big-{i}"), 0).not_opted_in().build(&ns);
        let c = &mut s.spec.as_mut().unwrap().template.spec.as_mut().unwrap().containers[0];
        c.env.get_or_insert_with(Vec::new).push(serde_json::from_value(json!({"name": "BIG", "value": env})).unwrap());
        s
    })
    .await;

    // N6: a Service claiming the victim's broker 0 (its labels, a controller owner reference to its
    // UID), under another name, with a Gateway address the webhook used to take.
    let forged: Service = serde_json::from_value(json!({"metadata": {"name": "victim-0-elsewhere",
        "labels": {"app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/statefulset": "victim",
            "kafka-advertiser.io/ordinal": "0", "kafka-advertiser.io/role": "broker"},
        "annotations": {"kafka-advertiser.io/gateway-address": "192.0.2.66"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "victim",
            "uid": victim.metadata.uid, "controller": true}]},
        "spec": {"type": "ClusterIP", "ports": [{"port": 9094}]}}))
    .unwrap();
    Api::<Service>::namespaced(tenant.clone(), &ns).create(&PostParams::default(), &forged).await.unwrap();

    // N4: replicas 100000 (its pods cannot be scheduled, so OrderedReady stops at the first).
    let mut huge = Broker::new("huge", 100_000)
        .annotate("kafka-advertiser.io/mode", "shared-address")
        .annotate("kafka-advertiser.io/address", "kafka.example.com")
        .ordered()
        .build(&ns);
    huge.spec.as_mut().unwrap().template.spec.as_mut().unwrap().node_selector =
        Some([("e2e.kafka-advertiser.io/nowhere".to_owned(), "true".to_owned())].into());
    Api::<StatefulSet>::namespaced(tenant.clone(), &ns).create(&PostParams::default(), &huge).await.unwrap();
    wait_event(&c, &ns, "huge", "TooManyBrokers", "spec.replicas is 100000, over the cap of 256").await;
    assert!(services_of(&c, &ns, "huge").await.len() <= 256);
    claim_many_names(&c, &tenant, &ns).await;

    // The victim's broker, created again, advertises its own Service's address.
    let pods = Api::<Pod>::namespaced(c.clone(), &ns);
    let old = pods.get("victim-0").await.unwrap().metadata.uid;
    pods.delete("victim-0", &DeleteParams::default()).await.unwrap();
    let pod = wait_for("victim-0 created again and admitted", Duration::from_secs(90), || async {
        pods.get_opt("victim-0").await.ok().flatten().filter(|p| p.metadata.uid != old)
    })
    .await;
    // (`converged` counts the Services labelled as the victim's: the forged one is among them.)
    let advertised = env_value(&pod, "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap_or_default();
    assert!(advertised.ends_with(&format!("EXTERNAL://{address}:9094")), "{advertised}");
    assert!(!annotation(&pod, "kafka-advertiser.io/advertised").unwrap_or("").contains("192.0.2.66"));

    // Another namespace's broker converges meanwhile.
    Broker::new("bystander", 1).create(&c, &other).await;
    converged(&c, &other, "bystander", 1, 9094).await;

    // Nothing restarted; every process under its limit.
    for ((name, before), limit) in names.iter().zip(&pids).zip(names.iter().map(|n| {
        if n.contains("webhook") {
            WEBHOOK_LIMIT_KIB
        } else {
            CONTROLLER_LIMIT_KIB
        }
    })) {
        assert_eq!(pid(name), *before, "{name} was restarted");
        let hwm = hwm_kib(*before);
        eprintln!("{name}: VmHWM {} MiB (limit {} MiB)", hwm / 1024, limit / 1024);
        assert!(hwm < limit, "{name}: peak RSS {hwm} KiB over {limit} KiB");
    }
}

/// The host names a StatefulSet claims (both roles index them): at most the cap, whatever
/// `spec.replicas` says.
async fn claim_many_names(c: &Client, tenant: &Client, ns: &str) {
    let mut named = Broker::new("named", 100_000)
        .annotate("kafka-advertiser.io/mode", "hostname")
        .annotate("kafka-advertiser.io/hostname-template", "{pod}.{namespace}.claims.example.com")
        // No Service per broker: 256 load balancers would empty the test cluster's address pool.
        .annotate("kafka-advertiser.io/service-type", "None")
        .ordered()
        .build(ns);
    named.spec.as_mut().unwrap().template.spec.as_mut().unwrap().node_selector =
        Some([("e2e.kafka-advertiser.io/nowhere".to_owned(), "true".to_owned())].into());
    Api::<StatefulSet>::namespaced(tenant.clone(), ns).create(&PostParams::default(), &named).await.unwrap();
    wait_event(c, ns, "named", "TooManyBrokers", "spec.replicas is 100000").await;
}
