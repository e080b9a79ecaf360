//! Names both sides share: the labels and annotations kafka-advertiser reads or writes outside the
//! settings vocabulary (that lives with its parser in [`crate::spec::settings`]), the field
//! managers of its server-side applies, and the stable hash that names derive from. No logic but
//! the hash; every module may import this one, and it imports none of them.

/// Label on the pod template that opts a StatefulSet in.
pub const ENABLED_LABEL: &str = "kafka-advertiser.io/enabled";
/// The ordinal label the StatefulSet controller puts on each pod (Kubernetes ≥ 1.28).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The pod-name label the StatefulSet controller puts on each pod (a broker Service's selector).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// On everything the controller makes.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "kafka-advertiser";
/// On the install's own objects, made by the chart, kustomize or at runtime: how `check`, `status`
/// and `version` find the install whatever its release is called.
pub const INSTALL_NAME_LABEL: &str = "app.kubernetes.io/name";
pub const INSTALL_NAME: &str = "kafka-advertiser";
/// Which of the install's objects: [`COMPONENT_SETTINGS`], [`COMPONENT_LEASE`], [`COMPONENT_TLS`].
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
pub const COMPONENT_SETTINGS: &str = "settings";
pub const COMPONENT_LEASE: &str = "leader-election";
pub const COMPONENT_TLS: &str = "serving-certificate";
pub const COMPONENT_CA: &str = "certificate-authority";
pub const STATEFULSET_LABEL: &str = "kafka-advertiser.io/statefulset";
pub const ORDINAL_LABEL: &str = "kafka-advertiser.io/ordinal";
pub const ROLE_LABEL: &str = "kafka-advertiser.io/role";

/// Written by the webhook on a pod: the listener entries it advertised.
pub const ANN_ADVERTISED: &str = "kafka-advertiser.io/advertised";
/// On the objects the controller owns: a hash of the intent it last applied (see
/// `controller::fingerprint::in_place`: an object whose cache holds the same intent is not sent again).
pub const ANN_INTENT: &str = "kafka-advertiser.io/intent";

// Settings only the controller reads (Services, routes, certificates): pod template, or the
// StatefulSet's own metadata (see `SERVICE_ONLY` in `controller::desired`).
pub const ANN_TARGET_PORT: &str = "kafka-advertiser.io/target-port";
pub const ANN_EXTERNAL_TRAFFIC_POLICY: &str = "kafka-advertiser.io/external-traffic-policy";
pub const ANN_LB_SOURCE_RANGES: &str = "kafka-advertiser.io/load-balancer-source-ranges";
pub const ANN_LB_CLASS: &str = "kafka-advertiser.io/load-balancer-class";
pub const ANN_SERVICE_ANNOTATIONS: &str = "kafka-advertiser.io/service-annotations";
pub const ANN_SERVICE_LABELS: &str = "kafka-advertiser.io/service-labels";
pub const ANN_BOOTSTRAP: &str = "kafka-advertiser.io/bootstrap";
pub const ANN_BOOTSTRAP_PORT: &str = "kafka-advertiser.io/bootstrap-port";
pub const ANN_RETAIN: &str = "kafka-advertiser.io/retain-services";
pub const ANN_ROLL_ON_CHANGE: &str = "kafka-advertiser.io/roll-on-change";
/// gateway-tls: a TLSRoute with this hostname to the bootstrap Service (implies `bootstrap`).
pub const ANN_BOOTSTRAP_HOSTNAME: &str = "kafka-advertiser.io/bootstrap-hostname";

/// On a Service someone made by hand, set by whoever may write it: the StatefulSet of this name may
/// take it over as one of its broker Services, keeping its address (and, on opt-out, gives it back).
pub const ANN_ADOPT: &str = "kafka-advertiser.io/adopt";
/// On the StatefulSet's metadata, set by its owner: on opt-out its Services are released, not deleted.
pub const ANN_KEEP_SERVICES: &str = "kafka-advertiser.io/keep-services";
/// The field manager that holds a released Service's fields, so that dropping kafka-advertiser's
/// own leaves the Service (and its address) as it was.
pub const RELEASED_MANAGER: &str = "released-by-kafka-advertiser";

/// On the StatefulSet's metadata: set when the last missing address arrives (nudges a retry).
pub const ANN_ADDRESSES_READY: &str = "kafka-advertiser.io/addresses-ready";
/// On the StatefulSet's metadata: every broker's external `host:port`, comma-separated, once all are known.
pub const ANN_EXTERNAL_BOOTSTRAP: &str = "kafka-advertiser.io/external-bootstrap";
/// On the StatefulSet's metadata: the Gateway its listeners and routes were last applied to, so they
/// are released when the StatefulSet moves to another Gateway, another mode or opts out.
pub const ANN_ROUTED_THROUGH: &str = "kafka-advertiser.io/routed-through";
/// On the StatefulSet's metadata: it has broker Certificates (removed when `tls-issuer` goes).
pub const ANN_CERTIFICATES: &str = "kafka-advertiser.io/certificates";
/// On the StatefulSet's metadata, with `pending-timeout`: since when each broker still without an
/// address has waited for it (`{"<ordinal>": "<RFC 3339 time>"}`); the webhook reads it.
pub const ANN_PENDING_SINCE: &str = "kafka-advertiser.io/pending-since";
/// On the StatefulSet's metadata: when the controller last asked the StatefulSet controller to create
/// brokers it had not made although nothing held them back (creates refused while the webhook was
/// unreachable); each new value makes it try at once.
pub const ANN_CREATE_RETRY: &str = "kafka-advertiser.io/create-retry";
/// Every annotation the controller writes on a StatefulSet's own metadata.
pub const STATEFULSET_ANNOTATIONS: [&str; 6] = [
    ANN_ADDRESSES_READY,
    ANN_EXTERNAL_BOOTSTRAP,
    ANN_ROUTED_THROUGH,
    ANN_CERTIFICATES,
    ANN_PENDING_SINCE,
    ANN_CREATE_RETRY,
];
/// On the per-broker Services of `gateway-tcp` mode: the Gateway's address, as the controller learned
/// it (the webhook's address view reads it like a load balancer's ingress).
pub const ANN_GATEWAY_ADDRESS: &str = "kafka-advertiser.io/gateway-address";

/// On a Gateway, set by its owner: gateway-tcp may write its listeners into the Gateway itself
/// (implementations without ListenerSet support), for the namespaces its `allowedListeners` admits,
/// on ports no other listener uses. Without it, listeners go into a ListenerSet.
pub const ANN_MANAGE_LISTENERS: &str = "kafka-advertiser.io/manage-listeners";

/// Annotations of other projects the controller writes on Services.
pub const EXTERNAL_DNS_ANN: &str = "external-dns.alpha.kubernetes.io/hostname";
pub const METALLB_SHARED_ANN: &str = "metallb.io/allow-shared-ip";
pub const METALLB_IPS_ANN: &str = "metallb.io/loadBalancerIPs";
/// The same two under the prefix MetalLB read before 0.14.9 (still read by newer releases).
pub const METALLB_LEGACY_SHARED_ANN: &str = "metallb.universe.tf/allow-shared-ip";
pub const METALLB_LEGACY_IPS_ANN: &str = "metallb.universe.tf/loadBalancerIPs";

/// Field manager of every server-side apply of objects the controller owns (forced: they are ours).
pub const FIELD_MANAGER: &str = "kafka-advertiser";

/// The field manager of one StatefulSet's listeners on a shared Gateway. Each StatefulSet applies
/// only its own listeners, so each needs its own manager: with one, applying StatefulSet A's set
/// would remove B's. (At most 128 characters: long names are hashed.)
pub fn listener_manager(namespace: &str, statefulset: &str) -> String {
    let m = format!("{LISTENER_MANAGER_PREFIX}{namespace}/{statefulset}");
    if m.len() <= 128 {
        return m;
    }
    format!("{LISTENER_MANAGER_PREFIX}{:016x}", fnv1a(format!("{namespace}/{statefulset}").as_bytes()))
}

/// `kafka-advertiser/<namespace>/<statefulset>`: see [`listener_manager`].
pub const LISTENER_MANAGER_PREFIX: &str = "kafka-advertiser/";

/// The StatefulSet whose listeners a field manager holds, when the name says it (a hashed one does not).
pub fn listener_manager_owner(manager: &str) -> Option<(&str, &str)> {
    manager.strip_prefix(LISTENER_MANAGER_PREFIX)?.split_once('/')
}

/// 64-bit FNV-1a: stable across builds and replicas (unlike the std hasher).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_managers_name_their_statefulset_until_too_long() {
        assert_eq!(listener_manager("ns", "kafka"), "kafka-advertiser/ns/kafka");
        assert_eq!(listener_manager_owner("kafka-advertiser/ns/kafka"), Some(("ns", "kafka")));
        let long = listener_manager("n".repeat(63).as_str(), "s".repeat(63).as_str());
        assert!(long.len() <= 128 && listener_manager_owner(&long).is_none(), "{long}");
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
