//! The kinds of object the controller writes, and where each is served. One table, so the generic
//! apply and delete, the caches and the plan agree on a kind's API.

use kube::api::{ApiResource, GroupVersionKind};

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

    fn group_version_plural(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Service => ("", "v1", "services"),
            Kind::ConfigMap => ("", "v1", "configmaps"),
            Kind::StatefulSet => ("apps", "v1", "statefulsets"),
            Kind::Gateway => (GATEWAY_GROUP, GATEWAY_VERSION, "gateways"),
            Kind::ListenerSet => (GATEWAY_GROUP, GATEWAY_VERSION, "listenersets"),
            Kind::TcpRoute => (GATEWAY_GROUP, GATEWAY_VERSION, "tcproutes"),
            Kind::TlsRoute => (GATEWAY_GROUP, GATEWAY_VERSION, "tlsroutes"),
            Kind::Certificate => (CERT_MANAGER_GROUP, "v1", "certificates"),
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
}
