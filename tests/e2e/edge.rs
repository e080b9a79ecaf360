//! The test cluster's edge: free node ports and load-balancer addresses (each handed to one test),
//! and the Gateway API objects tests write as a Gateway's owner would.
#![allow(dead_code)]

use k8s_openapi::api::core::v1::Service;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};

use crate::ingress_ip;

/// The first of `n` consecutive node ports no Service holds, from a range picked by the process id
/// (so concurrent runs and tests start apart).
pub async fn free_node_ports(client: &Client, n: i32) -> i32 {
    let svcs = Api::<Service>::all(client.clone()).list(&ListParams::default()).await.unwrap().items;
    let used: std::collections::BTreeSet<i32> = svcs
        .iter()
        .flat_map(|s| s.spec.iter().flat_map(|sp| sp.ports.iter().flatten().filter_map(|p| p.node_port)))
        .collect();
    let start = 31000 + (std::process::id() as i32 % 1200);
    (start..32700).chain(30100..start).find(|b| (*b..b + n).all(|p| !used.contains(&p))).expect("free node ports")
}

/// An address of the test pool that no Service holds or asks for (MetalLB hands out addresses from
/// the low end; this searches from the high end), so a test that requests one can run again on the
/// same control plane.
pub async fn free_pool_ip(client: &Client) -> String {
    // Tests of this process asking at once get different addresses: none has made its Service yet,
    // so the listing below cannot tell them apart (two shared-address tests once took one address, and
    // MetalLB gave it to one sharing key only).
    static HANDED: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let svcs = Api::<Service>::all(client.clone()).list(&ListParams::default()).await.unwrap().items;
    let used: std::collections::BTreeSet<String> = svcs
        .iter()
        .flat_map(|s| {
            let ingress = ingress_ip(s);
            let asked = s.annotations().iter().filter(|(k, _)| k.ends_with("/loadBalancerIPs")).map(|(_, v)| v.clone());
            ingress.into_iter().chain(asked).collect::<Vec<_>>()
        })
        .collect();
    let (first, last) = test_pool();
    let mut handed = HANDED.lock().unwrap();
    let ip = (first.max(last.saturating_sub(50))..=last)
        .rev()
        .map(|n| std::net::Ipv4Addr::from(n).to_string())
        .find(|ip| !used.contains(ip) && !handed.contains(ip))
        .expect("a free address in the test pool");
    handed.insert(ip.clone());
    ip
}

/// The first and last address of the test control plane's MetalLB pool
/// (`KAFKA_ADVERTISER_TESTENV_LB_POOL` from `scripts/testenv.sh env`).
fn test_pool() -> (u32, u32) {
    let pool = std::env::var("KAFKA_ADVERTISER_TESTENV_LB_POOL").unwrap_or_else(|_| "127.0.2.10-127.0.3.250".into());
    let parse = |s: &str| s.trim().parse::<std::net::Ipv4Addr>().map(u32::from).expect("an IPv4 range in the LB pool");
    let (first, last) = pool.split_once('-').expect("the LB pool is FIRST-LAST");
    (parse(first), parse(last))
}

/// Whether `ip` is in the test control plane's MetalLB pool.
pub fn in_test_pool(ip: &str) -> bool {
    let (first, last) = test_pool();
    ip.parse::<std::net::Ipv4Addr>().is_ok_and(|x| (first..=last).contains(&u32::from(x)))
}

/// The host of the `EXTERNAL` listener in an advertised-listeners value.
pub fn external_host(listeners: &str) -> Option<&str> {
    listeners
        .split(',')
        .find_map(|l| l.trim().strip_prefix("EXTERNAL://"))
        .and_then(|hp| hp.rsplit_once(':'))
        .map(|(h, _)| h)
}

pub fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)
}

pub fn gateways(c: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(c.clone(), ns, &resource("gateway.networking.k8s.io", "Gateway", "gateways"))
}

/// TCPRoutes at the version the control plane serves them (`v1alpha2` with Gateway API v1.5's
/// experimental channel), TLSRoutes at v1.
pub fn routes(c: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let plural = format!("{}s", kind.to_ascii_lowercase());
    let version = match kind {
        "TCPRoute" => {
            let v = crate::testenv().vars.get("KAFKA_ADVERTISER_TESTENV_TCPROUTE_VERSION");
            v.map(String::as_str).filter(|v| *v != "none").unwrap_or("v1")
        }
        _ => "v1",
    };
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", version, kind);
    Api::namespaced_with(c.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, &plural))
}

pub fn certificates(c: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(c.clone(), ns, &resource("cert-manager.io", "Certificate", "certificates"))
}

pub fn listener_sets(c: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(c.clone(), ns, &resource("gateway.networking.k8s.io", "ListenerSet", "listenersets"))
}

/// A Gateway as its owner writes it: `allowed` is its `spec.allowedListeners` (its consent to
/// ListenerSets), `annotations` its metadata's.
pub async fn create_gateway_with(
    c: &Client,
    ns: &str,
    name: &str,
    listeners: Value,
    allowed: Value,
    annotations: Value,
) {
    let gw: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"gatewayClassName": "e2e", "listeners": listeners, "allowedListeners": allowed},
    }))
    .unwrap();
    gateways(c, ns)
        .create(&PostParams::default(), &gw)
        .await
        .unwrap_or_else(|e| panic!("create Gateway {ns}/{name}: {e}"));
}

/// A Gateway that lets ListenerSets of its own namespace attach.
pub async fn create_gateway(c: &Client, ns: &str, name: &str, listeners: Value) {
    create_gateway_with(c, ns, name, listeners, json!({"namespaces": {"from": "Same"}}), json!({})).await;
}

/// A loopback address no Gateway holds, outside MetalLB's pool (127.0.4.0/24; the pool ends at
/// 127.0.3.250), from an offset picked by the process id; tests of this process asking at once get
/// different addresses (no Gateway has one yet).
pub async fn free_gateway_ip(c: &Client) -> String {
    let all: Api<DynamicObject> =
        Api::all_with(c.clone(), &resource("gateway.networking.k8s.io", "Gateway", "gateways"));
    let used: Vec<String> = all
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .flat_map(|g| g.data["status"]["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["value"].as_str().map(str::to_owned))
        .collect();
    static TAKEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let start = 10 + (std::process::id() + 7 * TAKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) % 200;
    (start..250)
        .chain(10..start)
        .map(|n| format!("127.0.4.{n}"))
        .find(|ip| !used.contains(ip) && !in_test_pool(ip))
        .expect("a free address")
}
