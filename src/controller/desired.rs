//! Desired state: a pure function from a StatefulSet's [`Intent`] to the external Services the
//! controller owns. Unit-tested on its own; `preview` prints it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::mutate::service_name;
use crate::names::*;
use crate::spec::service::ServiceSettings;
use crate::spec::settings::{
    invalid, AddressType, Mode, ServiceType, Settings, SettingsError, ANN_ADDRESS_TYPE, ANN_IP_FAMILY,
};
use crate::spec::template::render;
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
/// can read, so nobody can put a Service on its IP by guessing the key. Without a UID (offline, a
/// manifest not read from the cluster) a placeholder that says where the key comes from.
pub fn sharing_key(uid: Option<&str>) -> String {
    match uid.filter(|u| !u.is_empty()) {
        Some(u) => format!("kafka-advertiser-{:016x}", fnv1a(u.as_bytes())),
        None => OFFLINE_SHARING_KEY.to_owned(),
    }
}

/// What `preview` shows for the sharing key of a StatefulSet without a UID.
pub const OFFLINE_SHARING_KEY: &str = "kafka-advertiser-<uid-hash>";

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
        let mut annotations: BTreeMap<String, String> =
            (self.svc.annotations.iter()).map(|(k, v)| (k.clone(), render(v, ordinal, pod, namespace, name))).collect();
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
        metallb_sharing(annotations, sharing_key(Some(self.owner.uid.as_str())), ip);
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
        let user_labels =
            (self.svc.labels.iter()).map(|(k, v)| (k.clone(), render(v, ordinal, &pod, namespace, name))).collect();
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
                .map(|(k, v)| (k.clone(), render(v, 0, "", self.namespace, self.name)))
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

#[cfg(test)]
mod tests;
