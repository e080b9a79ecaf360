//! The host names a StatefulSet claims: every DNS name that tells its brokers apart (each broker's
//! rendered hostname template in hostname and gateway-tls modes, routed by name and named in its
//! Certificate) and its bootstrap's host name. Claims are first come, first
//! served across the whole cluster: the oldest StatefulSet (by creationTimestamp, then
//! namespace/name) holds a name, and a newcomer asking for it is refused with
//! `HostnameConflict` (the controller's Event and the webhook's denial say the same).

use super::settings::{HostSource, Settings};
use super::Intent;

/// Who claims: ordered oldest first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Claimant {
    /// creationTimestamp (no timestamp, as offline: the newest).
    pub created: k8s_openapi::jiff::Timestamp,
    pub namespace: String,
    pub name: String,
}

impl Claimant {
    pub fn of(intent: &Intent) -> Claimant {
        let created =
            intent.sts.metadata.creation_timestamp.as_ref().map_or(k8s_openapi::jiff::Timestamp::MAX, |t| t.0);
        Claimant { created, namespace: intent.namespace.clone(), name: intent.name.clone() }
    }

    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.namespace == namespace && self.name == name
    }
}

/// A host name as it is compared: lowercase, without the root's trailing dot.
pub fn key(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The name broker `ordinal` is told apart by: its rendered hostname template, where the mode
/// advertises it (hostname, gateway-tls: a DNS record and an SNI route per broker). An `address`
/// shared by brokers told apart by port (shared-address, gateway-tcp) is a shared entry point, not
/// claimed: the ports are, and the class's bounds judge the name.
pub fn broker_names(s: &Settings, ordinal: u32, pod: &str, namespace: &str, statefulset: &str) -> Vec<String> {
    if !matches!(s.host_source(), HostSource::Rendered) {
        return Vec::new();
    }
    let template = s.hostname_template.as_ref().map(|t| t.render(ordinal, pod, namespace, statefulset));
    template.into_iter().filter(|h| h.parse::<std::net::IpAddr>().is_err()).map(|h| key(&h)).collect()
}

/// Every DNS name the StatefulSet claims: each broker's and the bootstrap's (at most the broker cap
/// plus two, each at most 253 bytes).
pub fn names(i: &Intent) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ordinal in i.ordinals() {
        let pod = format!("{}-{ordinal}", i.name);
        out.extend(broker_names(&i.settings, ordinal, &pod, &i.namespace, &i.name));
    }
    out.extend(i.service.bootstrap_hostname.as_deref().map(key));
    out.sort_unstable();
    out.dedup();
    out
}

/// Why a StatefulSet may not have a name: another one holds it. The message names the host name,
/// never the other tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "host name {host} is already advertised or held by another StatefulSet (the oldest claim keeps it): choose \
     another (kafka-advertiser.io/hostname-template or kafka-advertiser.io/bootstrap-hostname)"
)]
pub struct HostnameConflict {
    pub host: String,
}

impl HostnameConflict {
    pub const REASON: &'static str = "HostnameConflict";
}
