//! The security review's attacks (`../shared/reviews/security-multitenancy.md`), each tried as a
//! tenant: a ServiceAccount with only the built-in `edit` ClusterRole in `team-a`. The platform owns
//! a Gateway `infra/public` (an HTTPS listener on 443; `allowedListeners` for a label `team-a` lacks
//! and `team-b` has), a class `internet` and a ClusterIssuer. Before and after each attack the stored
//! objects of the platform's and both tenants' namespaces and the classes are snapshotted
//! (generation, labels, annotations, ownerReferences, spec, data; not status) and diffed: every
//! change must be an object the attacking StatefulSet owns, in its own namespace. The suite runs in
//! `classes` mode (the install redeployed with `--tenancy classes`); the attacks that do not depend
//! on a class (Gateway consent, no adoption, addresses, privacy) run again in `open` mode.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};

use crate::*;

const T: Duration = Duration::from_secs(90);

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The namespaced kinds the diff covers.
fn kinds() -> Vec<ApiResource> {
    let gw = "gateway.networking.k8s.io";
    vec![
        ar(gw, "v1", "Gateway", "gateways"),
        ar(gw, "v1", "ListenerSet", "listenersets"),
        ar(gw, "v1", "TCPRoute", "tcproutes"),
        ar(gw, "v1", "TLSRoute", "tlsroutes"),
        ar("cert-manager.io", "v1", "Certificate", "certificates"),
        ar("", "v1", "Service", "services"),
        ar("", "v1", "ConfigMap", "configmaps"),
        ar("", "v1", "Secret", "secrets"),
    ]
}

fn class_api(c: &Client) -> Api<DynamicObject> {
    Api::all_with(c.clone(), &ar("kafka-advertiser.io", "v1alpha1", "ExternalAccessClass", "externalaccessclasses"))
}

fn issuer_api(c: &Client) -> Api<DynamicObject> {
    Api::all_with(c.clone(), &ar("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers"))
}

/// What an attacker could change: everything but status.
fn stored(o: &DynamicObject) -> Value {
    let m = &o.metadata;
    json!({"generation": m.generation, "labels": m.labels, "annotations": m.annotations,
        "ownerReferences": m.owner_references, "spec": o.data.get("spec"), "data": o.data.get("data")})
}

/// Secrets cert-manager's controllers write for a Certificate (the next private key, owned by the
/// Certificate; the issued Secret, annotated with its name): cert-manager's work, done for whichever
/// Certificate exists, and any Certificate kafka-advertiser wrote shows in the diff itself.
fn cert_managers_own(kind: &str, o: &DynamicObject) -> bool {
    kind == "Secret"
        && (o.owner_references().iter().any(|r| r.kind == "Certificate")
            || o.annotations().contains_key("cert-manager.io/certificate-name"))
}

type Snapshot = BTreeMap<String, (Value, Vec<String>)>;

/// `kind namespace/name` → (what is stored, its owners' UIDs), for `namespaces` and the classes.
async fn snapshot(c: &Client, namespaces: &[&str]) -> Snapshot {
    let mut out = BTreeMap::new();
    for kind in kinds() {
        for ns in namespaces {
            let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &kind);
            for o in api.list(&ListParams::default()).await.unwrap().items {
                if cert_managers_own(&kind.kind, &o) {
                    continue;
                }
                let owners = o.owner_references().iter().map(|r| r.uid.clone()).collect();
                out.insert(format!("{} {ns}/{}", kind.kind, o.name_any()), (stored(&o), owners));
            }
        }
    }
    for o in class_api(c).list(&ListParams::default()).await.unwrap().items {
        out.insert(format!("ExternalAccessClass {}", o.name_any()), (stored(&o), vec![]));
    }
    out
}

/// Every object that differs between two snapshots (made, changed or gone) must be `owner`'s own in
/// `namespace`: nothing else was written, nothing deleted.
fn only_own_changes(before: &Snapshot, after: &Snapshot, namespace: &str, owner: &str) -> Vec<String> {
    let mut own = Vec::new();
    for key in before.keys().chain(after.keys()) {
        if before.get(key).map(|b| &b.0) == after.get(key).map(|a| &a.0) || own.contains(key) {
            continue;
        }
        let ours = after.get(key).is_some_and(|(_, owners)| owners.iter().any(|u| u == owner))
            && key.split(' ').nth(1).is_some_and(|k| k.starts_with(&format!("{namespace}/")));
        assert!(ours, "{key} changed:\n before {:?}\n after  {:?}", before.get(key), after.get(key));
        own.push(key.clone());
    }
    own
}

struct Platform {
    infra: String,
    team_a: String,
    team_b: String,
    class: String,
    issuer: String,
}

impl Platform {
    fn namespaces(&self) -> [&str; 3] {
        [&self.infra, &self.team_a, &self.team_b]
    }
}

async fn label(c: &Client, ns: &str, labels: Value) {
    let patch = json!({"metadata": {"labels": labels}});
    Api::<Namespace>::all(c.clone()).patch(ns, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
}

/// The platform: the namespaces, the shared Gateway (its controller played by testenv), a
/// ClusterIssuer and the class `internet` for both teams.
async fn platform(c: &Client, tag: &str) -> (Platform, ClusterObjects) {
    let infra = namespace(c, &format!("e2e-{tag}-infra")).await;
    let team_a = namespace(c, &format!("e2e-{tag}-team-a")).await;
    let team_b = namespace(c, &format!("e2e-{tag}-team-b")).await;
    let id = infra.rsplit('-').next().unwrap().to_owned();
    label(c, &team_a, json!({"e2e-tenant": id})).await;
    label(c, &team_b, json!({"e2e-tenant": id, "e2e-kafka-listeners": id})).await;
    let gw: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "public", "namespace": infra},
        "spec": {"gatewayClassName": "e2e",
            "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "www.example.com",
                "tls": {"mode": "Terminate", "certificateRefs": [{"name": "www"}]}}],
            "allowedListeners": {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"e2e-kafka-listeners": id}}}}},
    }))
    .unwrap();
    let gws = Api::<DynamicObject>::namespaced_with(c.clone(), &infra, &kinds()[0]);
    gws.create(&PostParams::default(), &gw).await.unwrap();
    testenv().script(&["gateway", &format!("{infra}/public"), "203.0.113.40"]);
    let issuer = format!("e2e-platform-ca-{id}");
    let ci: DynamicObject = serde_json::from_value(json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": {"name": issuer}, "spec": {"ca": {"secretName": "platform-ca"}}}))
    .unwrap();
    issuer_api(c).create(&PostParams::default(), &ci).await.unwrap();
    let class = format!("e2e-internet-{id}");
    let eac: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kafka-advertiser.io/v1alpha1", "kind": "ExternalAccessClass",
        "metadata": {"name": class},
        "spec": {
            "settings": {"mode": "gateway-tcp", "gateway": format!("{infra}/public"), "tls-issuer": format!("ClusterIssuer/{issuer}")},
            "tenantSettings": ["port-base", "anti-affinity", "hostname-template"],
            "hostnameSuffixes": ["kafka.example.com"],
            "portRange": {"min": 19000, "max": 19999},
            "namespaceSelector": {"matchLabels": {"e2e-tenant": id}},
        },
    }))
    .unwrap();
    class_api(c).create(&PostParams::default(), &eac).await.unwrap();
    let guard = ClusterObjects(vec![
        (ar("kafka-advertiser.io", "v1alpha1", "ExternalAccessClass", "externalaccessclasses"), class.clone()),
        (ar("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers"), issuer.clone()),
    ]);
    every_replica_read_classes(c, &[&class]).await;
    (Platform { infra, team_a, team_b, class, issuer }, guard)
}

/// One attack: `broker` created by `tenant` in `ns`; the refusal (`reason`, a note containing
/// `text`) is awaited; the stored objects are diffed. Returns the objects the attacker's own
/// StatefulSet was given (in its namespace, owned by it).
async fn attack(
    c: &Client,
    p: &Platform,
    tenant: &Client,
    ns: &str,
    broker: Broker,
    reason: &str,
    text: &str,
) -> Vec<String> {
    let before = snapshot(c, &p.namespaces()).await;
    let name = broker.name.clone();
    let sts: StatefulSet = broker.create(tenant, ns).await;
    // A reconcile publishes its Events after its writes (`reconcile_once`: apply, then report), so
    // everything the reconcile that refused wrote is stored once its Event is.
    wait_event(c, ns, &name, reason, text).await;
    let after = snapshot(c, &p.namespaces()).await;
    let own = only_own_changes(&before, &after, ns, sts.metadata.uid.as_deref().unwrap());
    assert!(pods_of(c, ns, &name).await.is_empty(), "{name}: a broker was admitted");
    own
}

/// No Event in `ns` names the other tenant's namespace, or the Gateway's own listener.
async fn nothing_private_leaked(c: &Client, ns: &str, other: &str) {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(c.clone(), ns);
    for e in events.list(&ListParams::default()).await.unwrap().items {
        let note = e.note.unwrap_or_default();
        assert!(!note.contains(other), "an Event in {ns} names {other}: {note}");
        assert!(!note.contains("listener https") && !note.contains("www.example.com"), "{note}");
    }
}

/// Redeploys the install with extra `serve` arguments; back to the default when dropped.
struct Redeployed;

impl Redeployed {
    fn with(args: &str) -> Redeployed {
        let env = testenv();
        env.script(&["undeploy"]);
        let guard = Redeployed;
        env.script_with(&["deploy"], &[("KAFKA_ADVERTISER_TESTENV_SERVE_ARGS", args)]);
        guard
    }
}

impl Drop for Redeployed {
    fn drop(&mut self) {
        let env = testenv();
        let _ = std::panic::catch_unwind(|| {
            env.script(&["undeploy"]);
            env.script(&["deploy"]);
        });
    }
}

/// Objects of the names a tenant's StatefulSet `sts` would take, made beforehand by someone else
/// in `ns`: a ConfigMap, a TCPRoute, a ListenerSet and a Certificate.
async fn squatted(c: &Client, ns: &str, sts: &str, p: &Platform) {
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": format!("{sts}-external-bootstrap"), "namespace": ns,
            "labels": {"app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/statefulset": sts}},
        "data": {"owner": "someone else"}}))
    .unwrap();
    Api::namespaced(c.clone(), ns).create(&PostParams::default(), &cm).await.unwrap();
    let ks = kinds();
    let make = |kind: &ApiResource, body: Value| {
        let api = Api::<DynamicObject>::namespaced_with(c.clone(), ns, kind);
        let obj: DynamicObject = serde_json::from_value(body).unwrap();
        async move { api.create(&PostParams::default(), &obj).await.unwrap() }
    };
    make(
        &ks[2],
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "TCPRoute",
        "metadata": {"name": format!("{sts}-0-external"), "namespace": ns},
        "spec": {"parentRefs": [{"name": "elsewhere"}], "rules": [{"backendRefs": [{"name": "db", "port": 5432}]}]}}),
    )
    .await;
    make(&ks[1], json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
        "metadata": {"name": format!("{sts}-external"), "namespace": ns},
        "spec": {"parentRef": {"name": "public", "namespace": p.infra}, "listeners": [{"name": "db", "port": 15432, "protocol": "TCP"}]}}))
    .await;
    make(&ks[4], json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": format!("{sts}-0-tls"), "namespace": ns},
        "spec": {"secretName": "db-tls", "dnsNames": ["db.example.com"], "issuerRef": {"kind": "ClusterIssuer", "name": p.issuer}}}))
    .await;
}

#[tokio::test]
async fn attacks_as_a_tenant_in_classes_mode() {
    let _g = INSTALL.write().await;
    let _mode = Redeployed::with("--tenancy classes");
    let c = client().await;
    let (p, _objects) = platform(&c, "atk").await;
    let tenant = tenant_client(&c, &p.team_a).await;
    let ns = p.team_a.clone();
    let of = |name: &str| Broker::new(name, 1).annotate("kafka-advertiser.io/class", &p.class);

    // H1: listeners on another team's Gateway. Its owner did not consent: no address, and the
    // Gateway is left as it was (the diff), the ListenerSet stays in the tenant's namespace.
    let own = attack(
        &c,
        &p,
        &tenant,
        &ns,
        of("lis").annotate("kafka-advertiser.io/port-base", "19100"),
        "ListenersNotAllowed",
        "spec.allowedListeners",
    )
    .await;
    assert!(own.iter().any(|k| k == &format!("ListenerSet {ns}/lis-external")), "{own:?}");
    // M1: port 443 of the shared Gateway.
    let own = attack(
        &c,
        &p,
        &tenant,
        &ns,
        of("https").annotate("kafka-advertiser.io/port-base", "443"),
        "PortOutOfRange",
        "443",
    )
    .await;
    assert!(own.is_empty(), "a refused StatefulSet got {own:?}");
    // M2: a load balancer annotation (another tenant's MetalLB IP) the class does not hand out.
    let pool = of("pool")
        .annotate("kafka-advertiser.io/service-annotations", "{\"metallb.io/loadBalancerIPs\": \"127.0.2.9\"}");
    assert!(attack(&c, &p, &tenant, &ns, pool, "ClassSettingRefused", "kafka-advertiser.io/service-annotations")
        .await
        .is_empty());
    // M3: a SAN outside the class's host name suffixes.
    let san = of("san")
        .annotate("kafka-advertiser.io/port-base", "19300")
        .annotate("kafka-advertiser.io/hostname-template", "{pod}.evil.example.org");
    assert!(attack(&c, &p, &tenant, &ns, san, "AddressNotAllowed", "evil.example.org").await.is_empty());
    // M3: an arbitrary ClusterIssuer.
    let issuer = of("issuer").annotate("kafka-advertiser.io/tls-issuer", "ClusterIssuer/other");
    assert!(attack(&c, &p, &tenant, &ns, issuer, "ClassSettingRefused", "kafka-advertiser.io/tls-issuer")
        .await
        .is_empty());
    // M4: adopting existing objects of the names it would take: none is written or deleted.
    squatted(&c, &ns, "adopt", &p).await;
    attack(
        &c,
        &p,
        &tenant,
        &ns,
        of("adopt").annotate("kafka-advertiser.io/port-base", "19200"),
        "OwnershipConflict",
        "adopt-external-bootstrap",
    )
    .await;
    // M5: an address the kubelet would expand.
    let dollar = of("dollar").annotate("kafka-advertiser.io/address", "$(KAFKA_PASSWORD)");
    assert!(attack(&c, &p, &tenant, &ns, dollar, "ClassSettingRefused", "kafka-advertiser.io/address")
        .await
        .is_empty());
    nothing_private_leaked(&c, &ns, &p.team_b).await;

    // The legitimate path: team-b, which the Gateway admits, gets its ListenerSet accepted and its
    // brokers admitted with the Gateway's address, under the class's issuer.
    let tenant_b = tenant_client(&c, &p.team_b).await;
    Broker::new("kafka", 2)
        .annotate("kafka-advertiser.io/class", &p.class)
        .annotate("kafka-advertiser.io/port-base", "19500")
        .create(&tenant_b, &p.team_b)
        .await;
    let pods = wait_pods(&c, &p.team_b, "kafka", 2, T).await;
    for pod in &pods {
        let o = ordinal_of(&pod.name_any());
        let v = env_value(pod, "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
        assert!(v.ends_with(&format!("EXTERNAL://203.0.113.40:{}", 19500 + o)), "{v}");
    }
    let ls =
        Api::<DynamicObject>::namespaced_with(c.clone(), &p.team_b, &kinds()[1]).get("kafka-external").await.unwrap();
    let accepted = ls.data["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Accepted" && c["status"] == "True");
    assert!(accepted, "{:?}", ls.data["status"]);
    let certs = Api::<DynamicObject>::namespaced_with(c.clone(), &p.team_b, &kinds()[4]);
    let cert =
        wait_for("team-b's broker Certificate", T, || async { certs.get_opt("kafka-0-tls").await.ok().flatten() })
            .await;
    assert_eq!(cert.data["spec"]["issuerRef"]["name"], p.issuer.as_str());
    nothing_private_leaked(&c, &p.team_b, &p.team_a).await;
}

#[tokio::test]
async fn attacks_as_a_tenant_in_open_mode() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let (p, _objects) = platform(&c, "open").await;
    let tenant = tenant_client(&c, &p.team_a).await;
    let ns = p.team_a.clone();
    let tcp = |name: &str, base: &str| {
        Broker::new(name, 1)
            .annotate("kafka-advertiser.io/mode", "gateway-tcp")
            .annotate("kafka-advertiser.io/gateway", &format!("{}/public", p.infra))
            .annotate("kafka-advertiser.io/port-base", base)
    };
    // Gateway consent holds without a class.
    attack(&c, &p, &tenant, &ns, tcp("lis", "19100"), "ListenersNotAllowed", "spec.allowedListeners").await;
    // Port 443 of the Gateway's own listener: never written, an Event.
    let own = attack(&c, &p, &tenant, &ns, tcp("https", "443"), "GatewayPortInUse", "port 443").await;
    assert!(!own.iter().any(|k| k.starts_with("ListenerSet")), "{own:?}");
    // No adoption.
    squatted(&c, &ns, "adopt", &p).await;
    attack(&c, &p, &tenant, &ns, tcp("adopt", "19200"), "OwnershipConflict", "adopt-external-bootstrap").await;
    wait_event(&c, &ns, "adopt", "OwnershipConflict", "TCPRoute adopt-0-external").await;
    // An address the kubelet would expand: refused, naming the setting.
    let dollar = Broker::new("dollar", 1)
        .annotate("kafka-advertiser.io/mode", "shared-address")
        .annotate("kafka-advertiser.io/address", "$(KAFKA_PASSWORD)");
    assert!(attack(&c, &p, &tenant, &ns, dollar, "InvalidSettings", "kafka-advertiser.io/address").await.is_empty());
    nothing_private_leaked(&c, &ns, &p.team_b).await;

    // M5: a pod of a StatefulSet, made by hand with a container the template does not have (as another
    // webhook would inject), pointed at by `container`: refused; the webhook edits only the template's.
    let sts = Broker::new("side", 1)
        .annotate("kafka-advertiser.io/mode", "shared-address")
        .annotate("kafka-advertiser.io/address", "kafka.example.com")
        .create(&tenant, &ns)
        .await;
    wait_pods(&c, &ns, "side", 1, T).await;
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": "side-7", "namespace": ns,
            "labels": {"kafka-advertiser.io/enabled": "true", "app": "side"},
            "annotations": {"kafka-advertiser.io/mode": "shared-address", "kafka-advertiser.io/address": "kafka.example.com",
                "kafka-advertiser.io/container": "agent", "kafka-advertiser.io/env": "AGENT_LISTENERS"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "side",
                "uid": sts.metadata.uid, "controller": true}]},
        "spec": {"containers": [{"name": "kafka", "image": "apache/kafka:4.1.1"},
            {"name": "agent", "image": "example.com/agent", "env": [{"name": "AGENT_LISTENERS", "value": "enforce"}]}]},
    }))
    .unwrap();
    let err = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(tenant.clone(), &ns)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"agent\" is not in StatefulSet side's pod template"), "{err}");
}

mod adopt;
mod check_hook;
mod names;
