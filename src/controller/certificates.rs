//! The cert-manager Certificates a StatefulSet owns, pure: one per broker when `tls-issuer` is set.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::DynamicObject;
use serde_json::json;

use super::desired::Desired;
use super::gateway::{labels, object};
use super::kinds::{Kind, CERT_MANAGER_GROUP};
use crate::mutate::tls_secret_name;
use crate::names::{MANAGED_BY, MANAGED_BY_LABEL, STATEFULSET_LABEL};
use crate::spec::class::Tenancy;
use crate::spec::settings::is_dns_label;

/// One cert-manager Certificate per broker (`<pod>-tls`), when `tls-issuer` is set: SANs are the
/// broker's internal names and its external host (`hosts`: a name or an IP). In the modes that learn
/// the address, a broker's Certificate waits for it, so the first one issued already names it.
pub fn certificates(d: &Desired, sts: &StatefulSet, hosts: &BTreeMap<u32, String>) -> Vec<(u32, DynamicObject)> {
    let Some(issuer) = d.settings.tls_issuer.as_ref() else {
        return Vec::new();
    };
    let (learns, external) = (d.settings.learns_address(), d.settings.mode.external_name());
    // A serviceName that is not a DNS label (stored before the API server checked it) names nothing.
    let headless = sts.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| is_dns_label(s));
    let ar = Kind::Certificate.resource();
    let mut out = Vec::new();
    for ordinal in d.ordinals() {
        let host = hosts.get(&ordinal).filter(|_| external);
        if learns && host.is_none() {
            continue;
        }
        let pod = format!("{}-{ordinal}", d.name);
        let mut dns = internal_names(d, &pod, headless.as_deref());
        let mut ips = Vec::new();
        if let Some(h) = host {
            let bare = h.trim_start_matches('[').trim_end_matches(']');
            if bare.parse::<std::net::IpAddr>().is_ok() {
                ips.push(bare.to_owned());
            } else if !dns.iter().any(|n| n == bare) {
                dns.push(bare.to_owned());
            }
        }
        let name = tls_secret_name(&pod);
        let mut spec = json!({
            "secretName": name,
            "issuerRef": {"group": CERT_MANAGER_GROUP, "kind": issuer.kind, "name": issuer.name},
            "dnsNames": dns,
            // Kafka reads PEM key stores (ssl.keystore.type=PEM) with PKCS#8 keys only.
            "privateKey": {"algorithm": "RSA", "size": 2048, "encoding": "PKCS8", "rotationPolicy": "Always"},
            "usages": ["server auth", "client auth", "digital signature", "key encipherment"],
            "secretTemplate": {"labels": {MANAGED_BY_LABEL: MANAGED_BY, STATEFULSET_LABEL: d.name}},
        });
        if !ips.is_empty() {
            spec["ipAddresses"] = json!(ips);
        }
        let mut cert = object(&ar, name, d, sts, labels(d, "certificate", Some(ordinal)));
        cert.data = json!({ "spec": spec });
        out.push((ordinal, cert));
    }
    out
}

/// A broker's internal names, namespace-qualified (`<pod>.<service>.<namespace>.svc[.<domain>]`):
/// a short form names a broker only relative to the client's namespace, so `kafka-0.team-b` is
/// another namespace's Service `kafka-0`. The short forms `<pod>.<service>` and `<pod>` are kept
/// only under `--tenancy open`, where a tenant may ask for any name anyway.
fn internal_names(d: &Desired, pod: &str, headless: Option<&str>) -> Vec<String> {
    let (ns, domain) = (&d.namespace, &d.settings.cluster_domain);
    let mut dns = Vec::new();
    if let Some(h) = headless {
        dns.extend([format!("{pod}.{h}.{ns}.svc.{domain}"), format!("{pod}.{h}.{ns}.svc"), format!("{pod}.{h}.{ns}")]);
        if d.tenancy == Tenancy::Open {
            dns.push(format!("{pod}.{h}"));
        }
    }
    if d.tenancy == Tenancy::Open {
        dns.push(pod.to_owned());
    }
    dns
}
