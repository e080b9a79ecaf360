//! The kinds of object the controller writes, and where each is served. One table, so the generic
//! apply and delete, the caches and the plan agree on a kind's API. An optional kind's version is the
//! one discovery found served (the first of [`Kind::versions`]): Gateway API v1.5's experimental
//! channel serves TCPRoute only as `v1alpha2`, v1.6's standard channel only as `v1`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use kube::api::{ApiResource, GroupVersionKind};
use kube::Client;

pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
pub const GATEWAY_VERSION: &str = "v1";
pub const CERT_MANAGER_GROUP: &str = "cert-manager.io";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Service,
    ConfigMap,
    /// Only the StatefulSet's own annotations (its status, as kafka-advertiser reports it).
    StatefulSet,
    /// Only this StatefulSet's listeners on the user's Gateway (gateway-tcp).
    Gateway,
    /// gateway-tcp: a StatefulSet's own listeners, attached to the Gateway with its owner's consent.
    ListenerSet,
    TcpRoute,
    TlsRoute,
    Certificate,
}

impl Kind {
    /// The owned kinds of custom resources, each cached when its API is served.
    pub const DYNAMIC: [Kind; 4] = [Kind::ListenerSet, Kind::TcpRoute, Kind::TlsRoute, Kind::Certificate];
    pub const ROUTES: [Kind; 2] = [Kind::TcpRoute, Kind::TlsRoute];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Service => "Service",
            Kind::ConfigMap => "ConfigMap",
            Kind::StatefulSet => "StatefulSet",
            Kind::Gateway => "Gateway",
            Kind::ListenerSet => "ListenerSet",
            Kind::TcpRoute => "TCPRoute",
            Kind::TlsRoute => "TLSRoute",
            Kind::Certificate => "Certificate",
        }
    }

    fn group_plural(self) -> (&'static str, &'static str) {
        match self {
            Kind::Service => ("", "services"),
            Kind::ConfigMap => ("", "configmaps"),
            Kind::StatefulSet => ("apps", "statefulsets"),
            Kind::Gateway => (GATEWAY_GROUP, "gateways"),
            Kind::ListenerSet => (GATEWAY_GROUP, "listenersets"),
            Kind::TcpRoute => (GATEWAY_GROUP, "tcproutes"),
            Kind::TlsRoute => (GATEWAY_GROUP, "tlsroutes"),
            Kind::Certificate => (CERT_MANAGER_GROUP, "certificates"),
        }
    }

    /// The versions kafka-advertiser writes this kind as, preferred first (their fields are the same
    /// for what it writes).
    pub fn versions(self) -> &'static [&'static str] {
        match self {
            Kind::TcpRoute => &[GATEWAY_VERSION, "v1alpha2"],
            Kind::TlsRoute => &[GATEWAY_VERSION, "v1alpha3", "v1alpha2"],
            Kind::Gateway | Kind::ListenerSet => &[GATEWAY_VERSION],
            Kind::Service | Kind::ConfigMap | Kind::StatefulSet | Kind::Certificate => &["v1"],
        }
    }

    /// The version in use: the one discovery found served ([`discover`]), else the preferred one.
    pub fn version(self) -> &'static str {
        SERVED_VERSIONS.get().and_then(|m| m.get(&self).copied()).unwrap_or(self.versions()[0])
    }

    fn group_version_plural(self) -> (&'static str, &'static str, &'static str) {
        let (group, plural) = self.group_plural();
        (group, self.version(), plural)
    }

    /// The optional kinds: read or written only where their API is served.
    pub const OPTIONAL: [Kind; 5] =
        [Kind::Gateway, Kind::ListenerSet, Kind::TcpRoute, Kind::TlsRoute, Kind::Certificate];

    /// `group/version`, as discovery names it.
    pub fn group_version(self) -> String {
        let (group, version, _) = self.group_version_plural();
        if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        }
    }

    /// The modes or setting that need this kind (what `check` says is missing without an optional one).
    pub fn needed_by(self) -> &'static str {
        match self {
            Kind::Service | Kind::ConfigMap | Kind::StatefulSet => "every mode",
            Kind::Gateway => "gateway-tcp, gateway-tls",
            Kind::ListenerSet => "gateway-tcp (without manage-listeners)",
            Kind::TcpRoute => "gateway-tcp",
            Kind::TlsRoute => "gateway-tls",
            Kind::Certificate => "tls-issuer",
        }
    }

    pub fn group(self) -> &'static str {
        self.group_version_plural().0
    }

    pub fn plural(self) -> &'static str {
        self.group_version_plural().2
    }

    pub fn resource(self) -> ApiResource {
        let (group, version, plural) = self.group_version_plural();
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, self.name()), plural)
    }

    /// The Warning reason when the API refuses an apply of this kind.
    pub fn apply_failed(self) -> &'static str {
        match self {
            Kind::Service => "ServiceApplyFailed",
            Kind::ConfigMap => "ConfigMapApplyFailed",
            Kind::StatefulSet => "StatusApplyFailed",
            Kind::Gateway => "GatewayApplyFailed",
            Kind::ListenerSet => "ListenerSetApplyFailed",
            Kind::TcpRoute | Kind::TlsRoute => "RouteApplyFailed",
            Kind::Certificate => "CertificateApplyFailed",
        }
    }
}

/// The versions discovery found, once per process (the first [`discover`] of the process sets them).
static SERVED_VERSIONS: OnceLock<BTreeMap<Kind, &'static str>> = OnceLock::new();

/// The optional kinds served, each at the first of its [`Kind::versions`] that is, from each group
/// version's resource names as discovery listed them (a group version absent: not served). The
/// controller's watches and `check` both read this one answer.
pub fn served(listed: &BTreeMap<String, Vec<String>>) -> Vec<(Kind, &'static str)> {
    Kind::OPTIONAL
        .into_iter()
        .filter_map(|k| {
            let (group, plural) = k.group_plural();
            let v = k
                .versions()
                .iter()
                .find(|v| listed.get(&format!("{group}/{v}")).is_some_and(|rs| rs.iter().any(|r| r == plural)))?;
            Some((k, *v))
        })
        .collect()
}

/// Discovery of every version the optional kinds may be served at, then [`served`]; the versions found
/// are the ones this process reads and writes from then on. A group version that cannot be listed
/// (not served, or not readable) counts as not served.
pub async fn discover(client: &Client) -> Vec<Kind> {
    let mut listed = BTreeMap::new();
    let gvs: BTreeSet<String> = Kind::OPTIONAL
        .into_iter()
        .flat_map(|k| k.versions().iter().map(move |v| format!("{}/{v}", k.group_plural().0)))
        .collect();
    for gv in gvs {
        if let Ok(r) = client.list_api_group_resources(&gv).await {
            listed.insert(gv, r.resources.into_iter().map(|r| r.name).collect());
        }
    }
    let found = served(&listed);
    let _ = SERVED_VERSIONS.set(found.iter().copied().collect());
    found.into_iter().map(|(k, _)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_names_its_api() {
        for k in [Kind::Service, Kind::ConfigMap, Kind::StatefulSet, Kind::Gateway].into_iter().chain(Kind::DYNAMIC) {
            let ar = k.resource();
            assert_eq!(ar.kind, k.name());
            assert_eq!(ar.plural, k.plural());
            assert_eq!(
                ar.api_version,
                if k.group().is_empty() { "v1".into() } else { format!("{}/{}", k.group(), ar.version) }
            );
        }
    }

    #[test]
    fn served_kinds_are_those_discovery_lists_at_the_first_version_we_write() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // Gateway API v1.5's standard channel: no TCPRoute at all.
        let standard = BTreeMap::from([(
            "gateway.networking.k8s.io/v1".to_owned(),
            list(&["gateways", "gateways/status", "listenersets", "tlsroutes"]),
        )]);
        assert_eq!(served(&standard), vec![(Kind::Gateway, "v1"), (Kind::ListenerSet, "v1"), (Kind::TlsRoute, "v1")]);
        // Its experimental channel: TCPRoute as v1alpha2 only; TLSRoute at v1 too (v1 preferred).
        let mut experimental = standard.clone();
        experimental.insert("gateway.networking.k8s.io/v1alpha2".to_owned(), list(&["tcproutes", "tlsroutes"]));
        let found = served(&experimental);
        assert!(found.contains(&(Kind::TcpRoute, "v1alpha2")) && found.contains(&(Kind::TlsRoute, "v1")), "{found:?}");
        assert!(served(&BTreeMap::new()).is_empty());
        let all = BTreeMap::from([
            ("gateway.networking.k8s.io/v1".to_owned(), list(&["gateways", "listenersets", "tcproutes", "tlsroutes"])),
            ("cert-manager.io/v1".to_owned(), list(&["certificates", "issuers"])),
        ]);
        assert_eq!(served(&all).into_iter().map(|(k, _)| k).collect::<Vec<_>>(), Kind::OPTIONAL.to_vec());
        assert!(served(&all).iter().all(|(_, v)| *v == "v1"));
    }
}
