//! What clients are told, pure: each broker's external host and `host:port`, the bootstrap list,
//! and the client-discovery ConfigMap that carries them.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::desired::{owner_reference, Desired};
use crate::names::{MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL, STATEFULSET_LABEL};
use crate::spec::settings::HostSource;

/// Name of the client-discovery ConfigMap of a StatefulSet.
pub fn discovery_name(statefulset: &str) -> String {
    format!("{statefulset}-external-bootstrap")
}

/// The client-discovery ConfigMap: `bootstrap.servers` (every known broker's external `host:port`,
/// in ordinal order) and `broker.<N>`, next to the StatefulSet and owned by it. Written even while no
/// address is known yet, so a pod that mounts it can start.
pub fn discovery_configmap(sts: &StatefulSet, endpoints: &BTreeMap<u32, String>) -> ConfigMap {
    let name = sts.metadata.name.clone().unwrap_or_default();
    let mut data = BTreeMap::from([(
        "bootstrap.servers".to_owned(),
        endpoints.values().map(String::as_str).collect::<Vec<_>>().join(","),
    )]);
    data.extend(endpoints.iter().map(|(o, e)| (format!("broker.{o}"), e.clone())));
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(discovery_name(&name)),
            namespace: sts.metadata.namespace.clone(),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                (STATEFULSET_LABEL.to_owned(), name),
                (ROLE_LABEL.to_owned(), "discovery".to_owned()),
            ])),
            owner_references: Some(vec![owner_reference(sts)]),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// The external host of each broker whose address is known: a load balancer's (or Gateway's)
/// learned address, the shared or set address, the rendered name, or, from the pod itself, its
/// node's IP (nodeport) or its own IP (pod-ip).
pub fn external_hosts(
    d: &Desired,
    lb: &BTreeMap<u32, String>,
    pods: &BTreeMap<u32, (Option<String>, Option<String>)>,
) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for ordinal in d.ordinals() {
        let pod = format!("{}-{ordinal}", d.name);
        let host = match d.settings.host_source() {
            HostSource::Learned => lb.get(&ordinal).cloned(),
            HostSource::Set(a) => Some(a.to_owned()),
            HostSource::Rendered => {
                d.settings.hostname_template.as_ref().map(|t| t.render(ordinal, &pod, &d.namespace, &d.name))
            }
            HostSource::NodeIp => pods.get(&ordinal).and_then(|(node, _)| node.clone()),
            HostSource::PodIp => pods.get(&ordinal).and_then(|(_, ip)| ip.clone()),
        };
        if let Some(h) = host.filter(|h| !h.is_empty()) {
            out.insert(ordinal, h);
        }
    }
    out
}

/// The external `host:port` of each broker whose address is known, in ordinal order (IPv6 bracketed).
pub fn external_endpoints(d: &Desired, hosts: &BTreeMap<u32, String>) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for (&ordinal, host) in hosts {
        let Ok(port) = d.settings.external_port(ordinal) else {
            continue;
        };
        let endpoint = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        out.insert(ordinal, endpoint);
    }
    out
}

/// Every broker's `host:port`, comma-separated in ordinal order, once every one is known.
pub fn external_bootstrap(d: &Desired, endpoints: &BTreeMap<u32, String>) -> Option<String> {
    let all = d.replicas > 0 && d.ordinals().all(|o| endpoints.contains_key(&o));
    all.then(|| endpoints.values().cloned().collect::<Vec<_>>().join(","))
}

#[cfg(test)]
pub(crate) mod tests;
