//! Desired state: a pure function from a StatefulSet's [`Intent`] to the external Services the
//! controller owns. Unit-tested on its own; `preview` prints it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::mutate::service_name;
use crate::names::*;
use crate::spec::class::ClassSource;
use crate::spec::service::ServiceSettings;
use crate::spec::settings::{
    invalid, AddressType, Defaults, HostSource, Mode, ServiceType, Settings, SettingsError, ANN_ADDRESS_TYPE,
    ANN_IP_FAMILY,
};
use crate::spec::Intent;

/// MetalLB IP sharing under both annotation generations. A value the user set under either name wins.
fn metallb_sharing(annotations: &mut BTreeMap<String, String>, default_key: String, ip: Option<&str>) {
    let mut pair = |new: &str, old: &str, default: Option<String>| {
        let Some(v) = annotations.get(new).or_else(|| annotations.get(old)).cloned().or(default) else {
            return;
        };
        annotations.entry(new.to_owned()).or_insert_with(|| v.clone());
        annotations.entry(old.to_owned()).or_insert(v);
    };
    pair(METALLB_SHARED_ANN, METALLB_LEGACY_SHARED_ANN, Some(default_key));
    pair(METALLB_IPS_ANN, METALLB_LEGACY_IPS_ANN, ip.map(str::to_owned));
}

/// The MetalLB sharing key of a StatefulSet's Services: derived from its UID, which no other tenant
/// can read, so nobody can put a Service on its IP by guessing the key. (Without a UID, offline:
/// `<namespace>-<name>`, the key of earlier releases.)
pub fn sharing_key(namespace: &str, name: &str, uid: Option<&str>) -> String {
    match uid.filter(|u| !u.is_empty()) {
        Some(u) => format!("kafka-advertiser-{:016x}", fnv1a(u.as_bytes())),
        None => format!("{namespace}-{name}"),
    }
}

/// The Services one StatefulSet's intent asks for; reads as the intent it was built from.
#[derive(Debug, Clone)]
pub struct Desired<'a> {
    pub intent: &'a Intent,
    /// One per ordinal, in ordinal order.
    pub services: Vec<(u32, Service)>,
    pub bootstrap: Option<Service>,
}

impl std::ops::Deref for Desired<'_> {
    type Target = Intent;

    fn deref(&self) -> &Intent {
        self.intent
    }
}

/// Replace `{ordinal}`, `{pod}`, `{namespace}` and `{statefulset}` in a Service annotation or label
/// value; every other `{`, as in a JSON value, is kept as written.
pub fn render_placeholders(value: &str, ordinal: u32, pod: &str, namespace: &str, statefulset: &str) -> String {
    if !value.contains('{') {
        return value.to_owned();
    }
    value
        .replace("{ordinal}", &ordinal.to_string())
        .replace("{pod}", pod)
        .replace("{namespace}", namespace)
        .replace("{statefulset}", statefulset)
}

pub fn owner_reference(sts: &StatefulSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        name: sts.metadata.name.clone().unwrap_or_default(),
        uid: sts.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether an object was made for this StatefulSet: it names it as its controller by UID. Labels
/// anyone can set are not enough; a name that matches is not enough (no adoption).
pub fn made_for(meta: &kube::api::ObjectMeta, sts: &StatefulSet) -> bool {
    let uid = sts.metadata.uid.as_deref().filter(|u| !u.is_empty());
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.kind == "StatefulSet" && uid == Some(o.uid.as_str()))
}

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

/// The Services of one StatefulSet's intent.
pub fn desired(intent: &Intent) -> Result<Desired<'_>, SettingsError> {
    let (settings, svc, sts) = (&intent.settings, &intent.service, &*intent.sts);
    if svc.bootstrap && settings.service_type == ServiceType::None {
        return Err(invalid(
            ANN_BOOTSTRAP,
            "true",
            "service-type None makes no Services, so there is no bootstrap Service either",
        ));
    }
    let b =
        ServiceBuilder { namespace: &intent.namespace, name: &intent.name, owner: owner_reference(sts), settings, svc };
    let ordinals = if settings.service_type == ServiceType::None { 0..0 } else { intent.ordinals() };
    let services = ordinals.map(|o| Ok((o, b.broker(o)?))).collect::<Result<Vec<_>, SettingsError>>()?;
    let bootstrap = if svc.bootstrap {
        check_bootstrap(sts, settings, svc, intent.start, intent.replicas)?;
        Some(b.bootstrap(sts))
    } else {
        None
    };
    Ok(Desired { intent, services, bootstrap })
}

/// The names of the Services the intent asks for (what [`desired`] builds, without building them).
pub fn service_names(intent: &Intent) -> Vec<String> {
    let template = intent.settings.service_name_template.as_ref().map(|t| t.as_str());
    let brokers = if intent.settings.service_type == ServiceType::None { 0..0 } else { intent.ordinals() };
    let brokers = brokers.map(|o| service_name(template, &intent.name, o, &intent.namespace));
    brokers.chain(intent.service.bootstrap.then(|| bootstrap_name(&intent.name))).collect()
}

fn bootstrap_name(statefulset: &str) -> String {
    format!("{statefulset}-bootstrap")
}

/// A bootstrap Service must select the brokers by labels and must not take a broker's port.
fn check_bootstrap(
    sts: &StatefulSet,
    settings: &Settings,
    svc: &ServiceSettings,
    start: u32,
    replicas: u32,
) -> Result<(), SettingsError> {
    // A Service selects by labels only: a StatefulSet selector with expressions (or none) would
    // give a bootstrap wider than the brokers, or with no endpoints.
    let sel = sts.spec.as_ref().map(|s| &s.selector);
    let expressions = sel.and_then(|s| s.match_expressions.as_ref()).is_some_and(|e| !e.is_empty());
    let labels = sel.and_then(|s| s.match_labels.as_ref()).is_some_and(|l| !l.is_empty());
    if expressions || !labels {
        return Err(invalid(
            ANN_BOOTSTRAP,
            "true",
            "the StatefulSet's selector must be matchLabels only (a Service cannot select by matchExpressions): \
             change the selector or remove the annotation",
        ));
    }
    if matches!(settings.mode, Mode::SharedAddress | Mode::GatewayTcp) {
        let first = u32::from(settings.port_base) + start;
        if (first..first + replicas).contains(&u32::from(svc.bootstrap_port)) {
            return Err(invalid(
                ANN_BOOTSTRAP_PORT,
                &svc.bootstrap_port.to_string(),
                format!(
                    "a broker holds this port on the shared address (brokers use {first}..{})",
                    first + replicas - 1
                ),
            ));
        }
    }
    Ok(())
}

/// Builds the Services of one StatefulSet from its settings.
struct ServiceBuilder<'a> {
    namespace: &'a str,
    name: &'a str,
    owner: OwnerReference,
    settings: &'a Settings,
    svc: &'a ServiceSettings,
}

impl ServiceBuilder<'_> {
    /// The user's labels (rendered per broker), then ours, which win.
    fn labels(&self, role: &str, ordinal: Option<u32>, mut l: BTreeMap<String, String>) -> BTreeMap<String, String> {
        l.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        l.insert(STATEFULSET_LABEL.into(), self.name.to_owned());
        l.insert(ROLE_LABEL.into(), role.into());
        if let Some(o) = ordinal {
            l.insert(ORDINAL_LABEL.into(), o.to_string());
        }
        l
    }

    fn service(
        &self,
        svc_name: String,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
        selector: BTreeMap<String, String>,
        port: ServicePort,
    ) -> Service {
        let service_type = self.settings.service_type;
        let (is_lb, is_node_port) = (service_type == ServiceType::LoadBalancer, service_type == ServiceType::NodePort);
        let svc = self.svc;
        Service {
            metadata: ObjectMeta {
                name: Some(svc_name),
                namespace: Some(self.namespace.to_owned()),
                labels: Some(labels),
                annotations: Some(annotations).filter(|a| !a.is_empty()),
                owner_references: Some(vec![self.owner.clone()]),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some(service_type.as_str().into()),
                selector: Some(selector),
                ports: Some(vec![port]),
                // Only externally reachable Services take a traffic policy.
                external_traffic_policy: Some(svc.external_traffic_policy.clone()).filter(|_| is_lb || is_node_port),
                load_balancer_source_ranges: Some(svc.source_ranges.clone()).filter(|r| !r.is_empty() && is_lb),
                load_balancer_class: svc.lb_class.clone().filter(|_| is_lb),
                // The family the brokers advertise must be one the Service has.
                ip_families: self.settings.ip_family.map(|f| vec![f.as_str().to_owned()]),
                ip_family_policy: self.settings.ip_family.map(|_| "PreferDualStack".to_owned()),
                ..Default::default()
            }),
            status: None,
        }
    }

    /// The annotations of broker `ordinal`'s Service: the user's (rendered), the address choice
    /// (so the Service watch picks the right ingress), and the mode's own.
    fn broker_annotations(&self, ordinal: u32, pod: &str) -> BTreeMap<String, String> {
        let (settings, namespace, name) = (self.settings, self.namespace, self.name);
        let mut annotations: BTreeMap<String, String> = (self.svc.annotations.iter())
            .map(|(k, v)| (k.clone(), render_placeholders(v, ordinal, pod, namespace, name)))
            .collect();
        match settings.address_type {
            Some(AddressType::Ip) => drop(annotations.insert(ANN_ADDRESS_TYPE.into(), "ip".into())),
            Some(AddressType::Hostname) => drop(annotations.insert(ANN_ADDRESS_TYPE.into(), "hostname".into())),
            None => {}
        }
        if let Some(f) = settings.ip_family {
            annotations.insert(ANN_IP_FAMILY.into(), f.as_str().into());
        }
        match (settings.mode, &settings.hostname_template) {
            (Mode::Hostname, Some(t)) => {
                annotations.insert(EXTERNAL_DNS_ANN.into(), t.render(ordinal, pod, namespace, name));
            }
            (Mode::SharedAddress, _) => self.metallb(&mut annotations),
            _ => {}
        }
        annotations
    }

    fn metallb(&self, annotations: &mut BTreeMap<String, String>) {
        let ip = self.settings.address.as_deref().filter(|a| a.parse::<std::net::IpAddr>().is_ok());
        metallb_sharing(annotations, sharing_key(self.namespace, self.name, Some(self.owner.uid.as_str())), ip);
    }

    fn broker(&self, ordinal: u32) -> Result<Service, SettingsError> {
        let (settings, namespace, name) = (self.settings, self.namespace, self.name);
        let pod = format!("{name}-{ordinal}");
        let ext_port = settings.external_port(ordinal)?;
        // A node port per broker where the advertised port differs per broker; else the API picks one.
        let per_broker_port = matches!(settings.mode, Mode::Nodeport | Mode::SharedAddress);
        let port = ServicePort {
            name: Some("external".into()),
            protocol: Some("TCP".into()),
            port: i32::from(if settings.mode == Mode::Nodeport { settings.port } else { ext_port }),
            node_port: (settings.service_type == ServiceType::NodePort && per_broker_port)
                .then_some(i32::from(ext_port)),
            target_port: Some(self.svc.target_port.clone()),
            ..Default::default()
        };
        let selector = BTreeMap::from([(POD_NAME_LABEL.to_owned(), pod.clone())]);
        let svc_name =
            service_name(settings.service_name_template.as_ref().map(|t| t.as_str()), name, ordinal, namespace);
        let user_labels = (self.svc.labels.iter())
            .map(|(k, v)| (k.clone(), render_placeholders(v, ordinal, &pod, namespace, name)))
            .collect();
        let labels = self.labels("broker", Some(ordinal), user_labels);
        Ok(self.service(svc_name, labels, self.broker_annotations(ordinal, &pod), selector, port))
    }

    fn bootstrap(&self, sts: &StatefulSet) -> Service {
        let selector = (sts.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default())
            .into_iter()
            .filter(|(k, _)| k != POD_INDEX_LABEL && k != POD_NAME_LABEL)
            .collect();
        // Values that name one broker do not describe the bootstrap: those are left off it.
        let shared = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter()
                .filter(|(_, v)| !v.contains("{ordinal}") && !v.contains("{pod}"))
                .map(|(k, v)| (k.clone(), render_placeholders(v, 0, "", self.namespace, self.name)))
                .collect()
        };
        let mut annotations = shared(&self.svc.annotations);
        if self.settings.mode == Mode::SharedAddress {
            self.metallb(&mut annotations);
        }
        let port = ServicePort {
            name: Some("bootstrap".into()),
            protocol: Some("TCP".into()),
            port: i32::from(self.svc.bootstrap_port),
            target_port: Some(self.svc.target_port.clone()),
            ..Default::default()
        };
        let labels = self.labels("bootstrap", None, shared(&self.svc.labels));
        let mut b = self.service(bootstrap_name(self.name), labels, annotations, selector, port);
        // Through a node port, any node answers the bootstrap, not only the nodes running a broker.
        if let (ServiceType::NodePort, Some(spec)) = (self.settings.service_type, b.spec.as_mut()) {
            spec.external_traffic_policy = Some("Cluster".into());
        }
        b
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

/// The pod the StatefulSet controller would create for `ordinal` (for `preview`).
pub fn pod_for(sts: &StatefulSet, ordinal: u32) -> Pod {
    let name = sts.metadata.name.clone().unwrap_or_default();
    let pod_name = format!("{name}-{ordinal}");
    let spec = sts.spec.clone().unwrap_or_default();
    let mut meta = spec.template.metadata.clone().unwrap_or_default();
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), pod_name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    meta.name = Some(pod_name.clone());
    meta.namespace = Some(sts.metadata.namespace.clone().unwrap_or_else(|| "default".into()));
    meta.owner_references = Some(vec![owner_reference(sts)]);
    let mut pod_spec = spec.template.spec.unwrap_or_default();
    pod_spec.hostname = Some(pod_name);
    pod_spec.subdomain = spec.service_name.filter(|s| !s.is_empty());
    Pod { metadata: meta, spec: Some(pod_spec), status: None }
}

/// One Event reason per kind of warning (an Event series is keyed by its reason, not its text).
pub fn warning_reason(warning: &str) -> &'static str {
    const REASONS: [(&str, &str); 13] = [
        ("sets no KAFKA_* server setting", "NoServerSettings"),
        ("twice; Kafka refuses", "DuplicateListenerName"),
        ("came from valueFrom", "ListenersFromValueFrom"),
        ("PROTOCOL_MAP of container", "ListenerNotInProtocolMap"),
        ("does not declare the listener", "ListenerNotDeclared"),
        ("does not set", "ListenersNotSet"),
        ("listens for", "InternalPortMismatch"),
        ("INTER_BROKER_LISTENER_NAME", "InterBrokerListenerNotAdvertised"),
        ("sets both", "BothListenerVariablesSet"),
        ("envFrom", "ListenersFromEnvFrom"),
        ("no container named", "BrokerContainerGuessed"),
        ("process.roles", "ControllerOnlyPod"),
        ("NodePort range", "NodePortOutOfRange"),
    ];
    REASONS.iter().find(|(k, _)| warning.contains(k)).map_or("ConfigurationWarning", |(_, r)| r)
}

/// Problems the webhook would report for this StatefulSet's brokers, found on its pod template (the
/// StatefulSet controller creates the pods, so admission warnings reach nobody): `(reason, message)`.
/// Addresses are taken as known, so only the configuration is judged.
pub fn template_problems(intent: &Intent, defaults: &Defaults) -> Vec<(&'static str, String)> {
    struct Known;
    impl ClassSource for Known {}
    impl crate::mutate::AddressLookup for Known {
        fn address(&self, _: &str, _: &str, _: u32) -> Option<std::sync::Arc<str>> {
            Some(std::sync::Arc::from("192.0.2.1"))
        }
    }
    let pod = pod_for(&intent.sts, intent.start);
    let name = pod.metadata.name.clone().unwrap_or_default();
    let names = crate::mutate::RequestNames { name: &name, namespace: &intent.namespace };
    // The intent's settings (its class applied once, in `intent`), judged on the template's pod.
    match crate::mutate::mutate_with(&pod, names, defaults, intent.settings.clone(), &Known) {
        Ok(Some(m)) => m
            .warnings
            .into_iter()
            .map(|w| (warning_reason(&w), w.trim_start_matches("kafka-advertiser: ").to_owned()))
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => vec![("InvalidSettings", format!("broker pods will be refused: {e}"))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::desired;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use serde_json::{json, Value};

    fn sts(replicas: i32, start: Option<i32>, annotations: Value) -> StatefulSet {
        let mut v = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "events", "namespace": "prod", "uid": "uid-1"},
            "spec": {
                "replicas": replicas, "serviceName": "events-hs",
                "selector": {"matchLabels": {"app": "events"}},
                "template": {
                    "metadata": {"labels": {"app": "events", ENABLED_LABEL: "true"}, "annotations": annotations},
                    "spec": {"containers": [{"name": "kafka", "image": "apache/kafka", "ports": [{"name": "external", "containerPort": 19094}]}]}
                }
            }
        });
        if let Some(s) = start {
            v["spec"]["ordinals"] = json!({"start": s});
        }
        serde_json::from_value(v).unwrap()
    }

    fn spec(s: &Service) -> &ServiceSpec {
        s.spec.as_ref().unwrap()
    }

    #[test]
    fn service_only_settings_on_the_statefulset_win_over_the_template() {
        let mut st = sts(2, None, json!({"kafka-advertiser.io/external-traffic-policy": "Local"}));
        st.metadata.annotations = Some(BTreeMap::from([
            ("kafka-advertiser.io/external-traffic-policy".to_owned(), "Cluster".to_owned()),
            ("kafka-advertiser.io/service-annotations".to_owned(), "team: streaming".to_owned()),
            ("kafka-advertiser.io/bootstrap".to_owned(), "true".to_owned()),
            // Not a Service-only setting: the pod template decides it (the webhook reads only the pod).
            ("kafka-advertiser.io/port".to_owned(), "9999".to_owned()),
        ]));
        let d = desired(&st, &Defaults::default()).unwrap();
        let svc = &d.services[0].1;
        assert_eq!(spec(svc).external_traffic_policy.as_deref(), Some("Cluster"));
        assert_eq!(svc.metadata.annotations.as_ref().unwrap()["team"], "streaming");
        assert!(d.bootstrap.is_some());
        assert_eq!(spec(svc).ports.as_ref().unwrap()[0].port, 9094, "port comes from the template only");
    }

    #[test]
    fn loadbalancer_mode_one_service_per_ordinal_from_start() {
        let d = desired(&sts(3, Some(4), json!({})), &Defaults::default()).unwrap();
        assert_eq!(d.ordinals(), 4..7);
        let names: Vec<_> = d.services.iter().map(|(o, s)| (*o, s.metadata.name.clone().unwrap())).collect();
        assert_eq!(
            names,
            [(4, "events-4-external".into()), (5, "events-5-external".into()), (6, "events-6-external".into())]
        );
        let (_, s) = &d.services[1];
        let sp = spec(s);
        assert_eq!(sp.type_.as_deref(), Some("LoadBalancer"));
        assert_eq!(sp.external_traffic_policy.as_deref(), Some("Local"));
        assert_eq!(sp.selector.as_ref().unwrap()[POD_NAME_LABEL], "events-5");
        let p = &sp.ports.as_ref().unwrap()[0];
        assert_eq!((p.port, p.target_port.clone()), (9094, Some(IntOrString::Int(19094))));
        let l = s.metadata.labels.as_ref().unwrap();
        assert_eq!(
            (l[MANAGED_BY_LABEL].as_str(), l[STATEFULSET_LABEL].as_str(), l[ORDINAL_LABEL].as_str()),
            (MANAGED_BY, "events", "5")
        );
        let o = &s.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (o.kind.as_str(), o.name.as_str(), o.uid.as_str(), o.controller),
            ("StatefulSet", "events", "uid-1", Some(true))
        );
        assert!(d.bootstrap.is_none());
    }

    #[test]
    fn shared_address_mode_ports_and_metallb() {
        let d = desired(
            &sts(
                3,
                None,
                json!({"kafka-advertiser.io/mode": "shared-address", "kafka-advertiser.io/address": "192.0.2.9",
                "kafka-advertiser.io/port-base": "30000", "kafka-advertiser.io/external-traffic-policy": "Local"}),
            ),
            &Defaults::default(),
        )
        .unwrap();
        for (o, s) in &d.services {
            let sp = spec(s);
            assert_eq!(sp.ports.as_ref().unwrap()[0].port, 30000 + *o as i32);
            assert_eq!(sp.external_traffic_policy.as_deref(), Some("Cluster"), "shared IP needs Cluster");
            let a = s.metadata.annotations.as_ref().unwrap();
            // The key comes from the StatefulSet's UID: another tenant cannot guess it.
            let key =
                sharing_key("prod", "events", s.metadata.owner_references.as_ref().unwrap()[0].uid.as_str().into());
            assert!(key.starts_with("kafka-advertiser-") && !key.contains("events"), "{key}");
            assert_eq!(a[METALLB_SHARED_ANN], key);
            assert_eq!(a[METALLB_IPS_ANN], "192.0.2.9");
            // MetalLB before 0.14.9 reads only the old prefix: both generations, same values.
            assert_eq!(a[METALLB_LEGACY_SHARED_ANN], key);
            assert_eq!(a[METALLB_LEGACY_IPS_ANN], "192.0.2.9");
        }
    }

    /// The bootstrap Service on a shared address sits below the brokers' ports, on the same IP; a
    /// port a broker holds is refused naming the annotation.
    #[test]
    fn shared_address_bootstrap_takes_a_port_of_its_own_on_the_same_ip() {
        let ann = json!({"kafka-advertiser.io/mode": "shared-address", "kafka-advertiser.io/address": "192.0.2.9",
            "kafka-advertiser.io/port-base": "30000", "kafka-advertiser.io/bootstrap": "true"});
        let d = desired(&sts(3, Some(2), ann.clone()), &Defaults::default()).unwrap();
        let b = d.bootstrap.as_ref().unwrap();
        assert_eq!(spec(b).ports.as_ref().unwrap()[0].port, 29999);
        assert_eq!(b.metadata.annotations.as_ref().unwrap()[METALLB_IPS_ANN], "192.0.2.9");
        let key = &d.services[0].1.metadata.annotations.as_ref().unwrap()[METALLB_SHARED_ANN];
        assert_eq!(&b.metadata.annotations.as_ref().unwrap()[METALLB_SHARED_ANN], key, "one key for all");
        let mut clash = ann.clone();
        clash["kafka-advertiser.io/bootstrap-port"] = json!("30003");
        let e = desired(&sts(3, Some(2), clash.clone()), &Defaults::default()).unwrap_err().to_string();
        assert!(e.contains(ANN_BOOTSTRAP_PORT) && e.contains("30002..30004"), "{e}");
        clash["kafka-advertiser.io/bootstrap-port"] = json!("30005");
        assert!(desired(&sts(3, Some(2), clash), &Defaults::default()).is_ok());
    }

    /// A Service cannot select by expressions: a bootstrap over such a StatefulSet is refused, not
    /// silently wider than the brokers.
    #[test]
    fn bootstrap_needs_a_label_only_selector() {
        let mut st = sts(3, None, json!({"kafka-advertiser.io/bootstrap": "true"}));
        st.spec.as_mut().unwrap().selector.match_expressions =
            Some(vec![serde_json::from_value(json!({"key": "role", "operator": "In", "values": ["broker"]})).unwrap()]);
        let e = desired(&st, &Defaults::default()).unwrap_err().to_string();
        assert!(e.contains(ANN_BOOTSTRAP) && e.contains("matchExpressions"), "{e}");
        st.spec.as_mut().unwrap().selector.match_expressions = None;
        let b = desired(&st, &Defaults::default()).unwrap().bootstrap.unwrap();
        assert_eq!(spec(&b).selector.as_ref().unwrap(), &BTreeMap::from([("app".to_owned(), "events".to_owned())]));
    }

    #[test]
    fn nodeport_bootstrap_is_answered_by_every_node() {
        let d = desired(
            &sts(2, None, json!({"kafka-advertiser.io/mode": "nodeport", "kafka-advertiser.io/bootstrap": "true"})),
            &Defaults::default(),
        )
        .unwrap();
        assert_eq!(spec(&d.services[0].1).external_traffic_policy.as_deref(), Some("Local"));
        assert_eq!(spec(d.bootstrap.as_ref().unwrap()).external_traffic_policy.as_deref(), Some("Cluster"));
    }

    /// service-type chooses the Services' type; None makes none; ClusterIP carries no external fields.
    #[test]
    fn service_type_shapes_or_removes_the_services() {
        let ann = |t: &str| {
            json!({"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": "b{ordinal}.example.com",
                "kafka-advertiser.io/service-type": t, "kafka-advertiser.io/load-balancer-source-ranges": "10.0.0.0/8"})
        };
        let d = desired(&sts(2, None, ann("ClusterIP")), &Defaults::default()).unwrap();
        let sp = spec(&d.services[0].1);
        assert_eq!(sp.type_.as_deref(), Some("ClusterIP"));
        assert!(sp.external_traffic_policy.is_none() && sp.load_balancer_source_ranges.is_none());
        let d = desired(&sts(2, None, ann("None")), &Defaults::default()).unwrap();
        assert!(d.services.is_empty());
        let d = desired(&sts(2, None, ann("NodePort")), &Defaults::default()).unwrap();
        assert_eq!(spec(&d.services[1].1).type_.as_deref(), Some("NodePort"));
        assert_eq!(spec(&d.services[1].1).ports.as_ref().unwrap()[0].node_port, None, "the API picks it");
        // pod-ip makes no Service unless asked.
        let d = desired(&sts(2, None, json!({"kafka-advertiser.io/mode": "pod-ip"})), &Defaults::default()).unwrap();
        assert!(d.services.is_empty());
        // The address must come from somewhere.
        let e = desired(
            &sts(
                1,
                None,
                json!({"kafka-advertiser.io/mode": "loadbalancer", "kafka-advertiser.io/service-type": "None"}),
            ),
            &Defaults::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("kafka-advertiser.io/service-type") && e.contains("LoadBalancer Service"), "{e}");
        let e = desired(&sts(1, None, json!({"kafka-advertiser.io/service-type": "Ingress"})), &Defaults::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected LoadBalancer, NodePort, ClusterIP or None"), "{e}");
    }

    /// Per-broker values in service-annotations and service-labels; JSON braces stay as written;
    /// the bootstrap gets only the values that do not name one broker.
    #[test]
    fn service_annotation_and_label_values_are_rendered_per_broker() {
        let d = desired(
            &sts(
                2,
                Some(3),
                json!({"kafka-advertiser.io/bootstrap": "true",
                    "kafka-advertiser.io/service-annotations": "{\"lb.example.com/ip-name\": \"{statefulset}-{ordinal}-ip\", \"lb.example.com/json\": \"{\\\"a\\\": 1}\", \"team\": \"{namespace}\"}",
                    "kafka-advertiser.io/service-labels": "broker: \"{pod}\""}),
            ),
            &Defaults::default(),
        )
        .unwrap();
        let (o, s4) = &d.services[1];
        assert_eq!(*o, 4);
        let a = s4.metadata.annotations.as_ref().unwrap();
        assert_eq!(a["lb.example.com/ip-name"], "events-4-ip");
        assert_eq!(a["lb.example.com/json"], "{\"a\": 1}");
        assert_eq!(a["team"], "prod");
        assert_eq!(s4.metadata.labels.as_ref().unwrap()["broker"], "events-4");
        assert_eq!(s4.metadata.labels.as_ref().unwrap()[ORDINAL_LABEL], "4", "our labels are kept");
        let b = d.bootstrap.as_ref().unwrap();
        let ba = b.metadata.annotations.as_ref().unwrap();
        assert_eq!(ba["team"], "prod");
        assert!(
            !ba.contains_key("lb.example.com/ip-name") && !b.metadata.labels.as_ref().unwrap().contains_key("broker")
        );
    }

    /// address-type and ip-family travel on the Service (the Service watch reads them), and an IP
    /// family is one the Service has.
    #[test]
    fn address_choice_is_carried_by_the_services() {
        let d = desired(&sts(1, None, json!({"kafka-advertiser.io/ip-family": "IPv6"})), &Defaults::default()).unwrap();
        let s = &d.services[0].1;
        assert_eq!(s.metadata.annotations.as_ref().unwrap()[ANN_IP_FAMILY], "IPv6");
        assert_eq!(spec(s).ip_families.as_deref(), Some(&["IPv6".to_owned()][..]));
        assert_eq!(spec(s).ip_family_policy.as_deref(), Some("PreferDualStack"));
        let d = desired(&sts(1, None, json!({"kafka-advertiser.io/address-type": "hostname"})), &Defaults::default())
            .unwrap();
        assert_eq!(d.services[0].1.metadata.annotations.as_ref().unwrap()[ANN_ADDRESS_TYPE], "hostname");
        assert!(spec(&d.services[0].1).ip_families.is_none());
        let e = desired(
            &sts(
                1,
                None,
                json!({"kafka-advertiser.io/address-type": "hostname", "kafka-advertiser.io/ip-family": "IPv4"}),
            ),
            &Defaults::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(ANN_IP_FAMILY), "{e}");
    }

    #[test]
    fn hostname_mode_sets_external_dns() {
        let d = desired(
            &sts(2, None, json!({"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": "{statefulset}-{ordinal}.{namespace}.example.org"})),
            &Defaults::default(),
        )
        .unwrap();
        assert_eq!(
            d.services[1].1.metadata.annotations.as_ref().unwrap()[EXTERNAL_DNS_ANN],
            "events-1.prod.example.org"
        );
    }

    #[test]
    fn nodeport_mode_uses_node_ports() {
        let d = desired(
            &sts(
                2,
                Some(1),
                json!({"kafka-advertiser.io/mode": "nodeport", "kafka-advertiser.io/node-port-base": "32100",
                "kafka-advertiser.io/load-balancer-source-ranges": "10.0.0.0/8"}),
            ),
            &Defaults::default(),
        )
        .unwrap();
        let sp = spec(&d.services[1].1);
        assert_eq!(sp.type_.as_deref(), Some("NodePort"));
        assert_eq!(sp.ports.as_ref().unwrap()[0].node_port, Some(32102));
        assert!(sp.load_balancer_source_ranges.is_none(), "not meaningful for NodePort");
    }

    #[test]
    fn annotations_pass_through_in_yaml_and_json() {
        for (form, value) in [
            ("yaml", "service.beta.kubernetes.io/aws-load-balancer-type: nlb\nteam: data\n"),
            ("json", r#"{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb", "team": "data"}"#),
        ] {
            let d = desired(
                &sts(
                    1,
                    None,
                    json!({
                    ANN_SERVICE_ANNOTATIONS: value, ANN_SERVICE_LABELS: "tier: edge",
                    ANN_LB_SOURCE_RANGES: "203.0.113.0/24, 198.51.100.0/24", ANN_LB_CLASS: "example.com/lb",
                    ANN_TARGET_PORT: "ext", ANN_BOOTSTRAP: "true", ANN_BOOTSTRAP_PORT: "9999"}),
                ),
                &Defaults::default(),
            )
            .unwrap();
            let s = &d.services[0].1;
            let a = s.metadata.annotations.as_ref().unwrap();
            assert_eq!(a["service.beta.kubernetes.io/aws-load-balancer-type"], "nlb", "{form}");
            assert_eq!(a["team"], "data");
            assert_eq!(s.metadata.labels.as_ref().unwrap()["tier"], "edge");
            let sp = spec(s);
            assert_eq!(
                sp.load_balancer_source_ranges.as_deref(),
                Some(&["203.0.113.0/24".to_owned(), "198.51.100.0/24".to_owned()][..])
            );
            assert_eq!(sp.load_balancer_class.as_deref(), Some("example.com/lb"));
            assert_eq!(sp.ports.as_ref().unwrap()[0].target_port, Some(IntOrString::String("ext".into())));
            let b = d.bootstrap.as_ref().unwrap();
            assert_eq!(b.metadata.name.as_deref(), Some("events-bootstrap"));
            assert_eq!(spec(b).selector.as_ref().unwrap(), &BTreeMap::from([("app".to_owned(), "events".to_owned())]));
            assert_eq!(spec(b).ports.as_ref().unwrap()[0].port, 9999);
        }
    }

    #[test]
    fn scale_is_the_replica_count() {
        assert_eq!(desired(&sts(0, None, json!({})), &Defaults::default()).unwrap().services.len(), 0);
        assert_eq!(desired(&sts(5, None, json!({})), &Defaults::default()).unwrap().services.len(), 5);
    }

    #[test]
    fn bad_controller_annotations_name_the_key() {
        for (k, v) in [
            (ANN_SERVICE_ANNOTATIONS, "[not, a, map]"),
            (ANN_EXTERNAL_TRAFFIC_POLICY, "Sometimes"),
            (ANN_BOOTSTRAP, "yes"),
            (ANN_TARGET_PORT, "70000"),
            (ANN_RETAIN, "maybe"),
        ] {
            let e = desired(&sts(1, None, json!({ k: v })), &Defaults::default()).unwrap_err().to_string();
            assert!(e.contains(k), "{e}");
        }
    }

    #[test]
    fn service_name_template_override() {
        let d = desired(
            &sts(1, None, json!({"kafka-advertiser.io/service-name-template": "ext-{statefulset}-{ordinal}"})),
            &Defaults::default(),
        )
        .unwrap();
        assert_eq!(d.services[0].1.metadata.name.as_deref(), Some("ext-events-0"));
    }
}
