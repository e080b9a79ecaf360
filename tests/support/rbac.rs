//! Who may do what in one rendered install (deploy/ through kustomize, the chart through helm): every
//! rule bound to each ServiceAccount, resolved through its bindings, checked against the code's
//! tables (`kafka_advertiser::controller::{RBAC, CLUSTER_RBAC, WEBHOOK_RBAC, LEASE_RBAC}`), both
//! ways: what the code uses is granted, and nothing else is.
#![allow(dead_code)]

use std::collections::BTreeSet;

use kafka_advertiser::controller::{
    Right, CLASS_STATUS_RBAC, CLUSTER_RBAC, GATEWAY_LISTENER_RBAC, LEASE_RBAC, RBAC, SETTINGS_RBAC,
    WEBHOOK_CLUSTER_RBAC, WEBHOOK_RBAC,
};
use serde_json::Value;

/// Verbs that change something (or grant the power to).
pub const WRITE_VERBS: &[&str] =
    &["create", "update", "patch", "delete", "deletecollection", "*", "escalate", "bind", "impersonate"];

/// One verb on one resource, granted cluster-wide (`scope` None) or in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Granted {
    pub scope: Option<String>,
    pub group: String,
    pub resource: String,
    pub verb: String,
    pub names: Vec<String>,
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str, ns: Option<&str>) -> Option<&'a Value> {
    objs.iter().find(|o| {
        o["kind"] == kind && o["metadata"]["name"] == name && ns.is_none_or(|n| o["metadata"]["namespace"] == n)
    })
}

/// Everything ServiceAccount `ns/sa` is granted by the bindings of this render.
pub fn rights(objs: &[Value], ns: &str, sa: &str) -> Vec<Granted> {
    let mut out = Vec::new();
    for b in objs.iter().filter(|o| o["kind"] == "ClusterRoleBinding" || o["kind"] == "RoleBinding") {
        let bound =
            b["subjects"].as_array().into_iter().flatten().any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"].as_str().unwrap_or(ns) == ns
            });
        if !bound {
            continue;
        }
        let scope = (b["kind"] == "RoleBinding").then(|| b["metadata"]["namespace"].as_str().unwrap().to_owned());
        let (kind, name) = (b["roleRef"]["kind"].as_str().unwrap(), b["roleRef"]["name"].as_str().unwrap());
        let role = find(objs, kind, name, if kind == "Role" { scope.as_deref() } else { None })
            .unwrap_or_else(|| panic!("{} {} binds missing {kind} {name}", b["kind"], b["metadata"]["name"]));
        for rule in role["rules"].as_array().into_iter().flatten() {
            for group in strs(&rule["apiGroups"]) {
                for resource in strs(&rule["resources"]) {
                    for verb in strs(&rule["verbs"]) {
                        let names = strs(&rule["resourceNames"]);
                        let resource = resource.clone();
                        out.push(Granted { scope: scope.clone(), group: group.clone(), resource, verb, names });
                    }
                }
            }
        }
    }
    out.sort();
    out
}

fn expand(rights: &[Right]) -> BTreeSet<(String, String, String)> {
    rights
        .iter()
        .flat_map(|(g, r, verbs)| verbs.iter().map(move |v| (g.to_string(), r.to_string(), v.to_string())))
        .collect()
}

fn triples(granted: &[&Granted]) -> BTreeSet<(String, String, String)> {
    granted.iter().map(|g| (g.group.clone(), g.resource.clone(), g.verb.clone())).collect()
}

/// The webhook's identity: exactly `WEBHOOK_RBAC`, in the watched namespaces (all: cluster-wide),
/// and not one write verb anywhere.
pub fn assert_webhook(objs: &[Value], ns: &str, sa: &str, watched: &[&str]) {
    let all = rights(objs, ns, sa);
    assert!(!all.is_empty(), "ServiceAccount {ns}/{sa} is granted nothing");
    for g in &all {
        assert!(
            !WRITE_VERBS.contains(&g.verb.as_str()),
            "the webhook's {ns}/{sa} may {} {}: {g:?}",
            g.verb,
            g.resource
        );
        assert!(g.resource != "secrets" && g.resource != "pods", "the webhook's {ns}/{sa} reads {}", g.resource);
    }
    let cluster_reads = expand(WEBHOOK_CLUSTER_RBAC);
    let scoped: Vec<Granted> = all
        .iter()
        .filter(|g| {
            g.scope.is_some() || !cluster_reads.contains(&(g.group.clone(), g.resource.clone(), g.verb.clone()))
        })
        .cloned()
        .collect();
    let cluster: Vec<&Granted> = all
        .iter()
        .filter(|g| g.scope.is_none() && cluster_reads.contains(&(g.group.clone(), g.resource.clone(), g.verb.clone())))
        .collect();
    assert_eq!(triples(&cluster), cluster_reads, "webhook {ns}/{sa}: cluster-wide reads");
    assert_scoped(&scoped, &expand(WEBHOOK_RBAC), watched, &format!("webhook {ns}/{sa}"));
}

/// `want` granted in every watched namespace (cluster-wide when none is named), and nothing more.
fn assert_scoped(granted: &[Granted], want: &BTreeSet<(String, String, String)>, watched: &[&str], who: &str) {
    if watched.is_empty() {
        let cluster: Vec<&Granted> = granted.iter().filter(|g| g.scope.is_none()).collect();
        assert_eq!(&triples(&cluster), want, "{who}: cluster-wide rights");
        return;
    }
    for ns in watched {
        let here: Vec<&Granted> = granted.iter().filter(|g| g.scope.as_deref() == Some(*ns)).collect();
        assert_eq!(&triples(&here), want, "{who}: rights in watched namespace {ns}");
    }
}

/// The controller's identity: `CLUSTER_RBAC` cluster-wide and read-only; `RBAC` in the watched
/// namespaces (cluster-wide when none is named); the Lease in its own namespace; Gateway patches
/// only for the Gateways named in `gateways` (`ns/name`), by `resourceNames`; nothing else.
pub fn assert_controller(objs: &[Value], ns: &str, sa: &str, watched: &[&str], gateways: &[&str]) {
    let who = format!("controller {ns}/{sa}");
    let (tls, all): (Vec<Granted>, Vec<Granted>) = rights(objs, ns, sa)
        .into_iter()
        .partition(|g| g.resource == "secrets" || g.resource == "mutatingwebhookconfigurations");
    assert_eq!(tls, self_tls_rights(objs, ns), "{who}: Secrets and the webhook configuration only for tls.source self");
    // The Lease and the published settings, in its own namespace.
    let lease = expand(&[LEASE_RBAC, SETTINGS_RBAC]);
    let gateway_patch = expand(&[GATEWAY_LISTENER_RBAC]);
    let cluster_reads = expand(CLUSTER_RBAC);
    let namespaced = expand(RBAC);
    let mut cluster: Vec<&Granted> = all.iter().filter(|g| g.scope.is_none()).collect();
    if watched.is_empty() {
        let (writes, reads): (Vec<&Granted>, Vec<&Granted>) =
            cluster.iter().partition(|g| namespaced.contains(&(g.group.clone(), g.resource.clone(), g.verb.clone())));
        assert_eq!(triples(&writes), namespaced, "{who}: cluster-wide rights of a cluster-wide install");
        cluster = reads;
    }
    let class_status = expand(&[CLASS_STATUS_RBAC]);
    let (status, cluster): (Vec<&Granted>, Vec<&Granted>) = cluster
        .into_iter()
        .partition(|g| class_status.contains(&(g.group.clone(), g.resource.clone(), g.verb.clone())));
    assert_eq!(triples(&status), class_status, "{who}: the classes' status, its one cluster-wide write");
    for g in &cluster {
        assert!(!WRITE_VERBS.contains(&g.verb.as_str()), "{who} may {} {} cluster-wide", g.verb, g.resource);
    }
    assert_eq!(triples(&cluster), cluster_reads, "{who}: cluster-wide reads");
    for w in watched {
        let here: Vec<&Granted> = all.iter().filter(|g| g.scope.as_deref() == Some(*w) && g.names.is_empty()).collect();
        let here_lease: BTreeSet<_> = if *w == ns { lease.clone() } else { BTreeSet::new() };
        let want: BTreeSet<_> = namespaced.union(&here_lease).cloned().collect();
        assert_eq!(triples(&here), want, "{who}: rights in watched namespace {w}");
    }
    let own: Vec<&Granted> = all.iter().filter(|g| g.scope.as_deref() == Some(ns) && g.names.is_empty()).collect();
    assert!(lease.is_subset(&triples(&own)), "{who}: the Lease in {ns}");
    // Everything else: in a namespace that is neither watched nor its own, or by resourceNames.
    for g in all.iter().filter(|g| g.scope.is_some()) {
        let s = g.scope.as_deref().unwrap();
        let t = (g.group.clone(), g.resource.clone(), g.verb.clone());
        if !g.names.is_empty() {
            assert!(gateway_patch.contains(&t), "{who}: {g:?} by resourceNames");
            for n in &g.names {
                assert!(gateways.contains(&format!("{s}/{n}").as_str()), "{who}: patch on Gateway {s}/{n}, not listed");
            }
            continue;
        }
        let ok = watched.contains(&s) && namespaced.contains(&t) || s == ns && lease.contains(&t);
        assert!(ok, "{who}: {} {}/{} in {s}", g.verb, g.group, g.resource);
    }
    for gw in gateways {
        let (gns, name) = gw.split_once('/').unwrap();
        let granted = all.iter().any(|g| {
            g.scope.as_deref() == Some(gns)
                && g.resource == "gateways"
                && g.verb == "patch"
                && g.names.contains(&name.to_owned())
        });
        assert!(granted, "{who}: no patch on listed Gateway {gw}");
    }
}

/// The Deployments' roles and identities: the webhook Deployment runs `--role=webhook` as the
/// webhook's ServiceAccount, the controller's `--role=controller` as its own, and every Service
/// selects webhook pods only.
pub fn assert_deployments(objs: &[Value], webhook_sa: &str, controller_sa: &str) {
    let deps: Vec<&Value> = objs.iter().filter(|o| o["kind"] == "Deployment").collect();
    assert_eq!(deps.len(), 2, "a webhook and a controller Deployment");
    let role_of = |d: &Value| -> String {
        strs(&d["spec"]["template"]["spec"]["containers"][0]["args"])
            .iter()
            .find_map(|a| a.strip_prefix("--role=").map(str::to_owned))
            .unwrap_or_else(|| panic!("Deployment {} has no --role", d["metadata"]["name"]))
    };
    for d in &deps {
        let sa = d["spec"]["template"]["spec"]["serviceAccountName"].as_str().unwrap();
        let component = d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"].as_str().unwrap();
        match role_of(d).as_str() {
            "webhook" => assert_eq!((sa, component), (webhook_sa, "webhook")),
            "controller" => assert_eq!((sa, component), (controller_sa, "controller")),
            r => panic!("Deployment {} runs --role={r}", d["metadata"]["name"]),
        }
    }
    for s in objs.iter().filter(|o| o["kind"] == "Service") {
        assert_eq!(
            s["spec"]["selector"]["app.kubernetes.io/component"], "webhook",
            "Service {}",
            s["metadata"]["name"]
        );
    }
}

/// The rights self-managed TLS needs, from the controller Deployment's `--self-tls-*` arguments (none
/// without them): get and patch of the two Secrets by name and create of Secrets, in its namespace;
/// get and patch of its webhook configuration by name.
fn self_tls_rights(objs: &[Value], ns: &str) -> Vec<Granted> {
    use kafka_advertiser::selftls::{SECRETS_CREATE_RBAC, SECRETS_RBAC, WEBHOOK_CA_RBAC};
    let args: Vec<String> = objs
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .flat_map(|d| strs(&d["spec"]["template"]["spec"]["containers"][0]["args"]))
        .collect();
    let arg = |flag: &str| args.iter().find_map(|a| a.strip_prefix(&format!("--{flag}=")).map(str::to_owned));
    let Some(secret) = arg("self-tls-secret") else { return Vec::new() };
    let ca = arg("self-tls-ca-secret").unwrap_or_else(|| "kafka-advertiser-self-ca".into());
    let mwc = arg("self-tls-webhook-configuration").unwrap_or_else(|| "kafka-advertiser".into());
    let grant = |scope: Option<&str>, (group, resource, verbs): Right, names: &[String]| -> Vec<Granted> {
        verbs
            .iter()
            .map(|v| Granted {
                scope: scope.map(str::to_owned),
                group: group.to_owned(),
                resource: resource.to_owned(),
                verb: (*v).to_owned(),
                names: names.to_vec(),
            })
            .collect()
    };
    let mut out: Vec<Granted> = grant(Some(ns), SECRETS_RBAC, &[secret, ca]);
    out.extend(grant(Some(ns), SECRETS_CREATE_RBAC, &[]));
    out.extend(grant(None, WEBHOOK_CA_RBAC, &[mwc]));
    out.sort();
    out
}
