//! The intent of one StatefulSet, worked out once: opted in or not, the access class that applies
//! (its settings made effective, its bounds checked), the broker and Service-only settings, and the
//! ordinals it serves under the broker cap. `observe` computes it once per reconcile; `plan`,
//! `status`, `preview` and the Gateway watch read it. The webhook's twin for one pod is
//! [`pod_settings`].

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;

use super::class::{self, Class, ClassError, ClassSource, Owner, Tenancy};
use super::service::{service_settings, ServiceSettings, SERVICE_ONLY};
use super::settings::{Defaults, GatewayRef, Settings, SettingsError};
use super::template::render;
use crate::names::ENABLED_LABEL;

/// What one opted-in StatefulSet asks for, under its access class.
#[derive(Debug, Clone)]
pub struct Intent {
    /// The StatefulSet as read (its own metadata, selector and template; the template's annotations
    /// are the user's, not the class's: [`Intent::settings`] holds what they come to).
    pub sts: Arc<StatefulSet>,
    pub namespace: String,
    pub name: String,
    pub settings: Settings,
    pub service: ServiceSettings,
    /// The access class that applies, if any.
    pub class: Option<Arc<Class>>,
    /// The install's tenancy switch (`open` keeps the short internal certificate names).
    pub tenancy: Tenancy,
    /// First ordinal and count of the brokers served (at most the cap).
    pub start: u32,
    pub replicas: u32,
    /// `spec.replicas` as written, and the cap it was held to (`Defaults::broker_cap`).
    pub requested: u32,
    pub cap: u32,
}

/// Why a StatefulSet's intent cannot be worked out: its class refuses it, or a setting is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentError {
    #[error(transparent)]
    Class(#[from] ClassError),
    /// A broker setting: the webhook refuses the pods too.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A Service-only setting: only the Services are held back.
    #[error(transparent)]
    Service(SettingsError),
}

/// More replicas than a StatefulSet may have brokers (the `TooManyBrokers` Warning; `preview` refuses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "spec.replicas is {requested}, over the cap of {cap} brokers per StatefulSet: brokers {cap} and up get no \
     Service and their pods are refused; lower spec.replicas, or have the platform raise --max-brokers (or the \
     access class's maxBrokers)"
)]
pub struct TooManyBrokers {
    pub requested: u32,
    pub cap: u32,
}

impl Intent {
    pub fn ordinals(&self) -> Range<u32> {
        self.start..self.start.saturating_add(self.replicas)
    }

    /// Brokers beyond the cap: no object is made for them and their pods are denied.
    pub fn over_cap(&self) -> Option<TooManyBrokers> {
        (self.requested > self.cap).then_some(TooManyBrokers { requested: self.requested, cap: self.cap })
    }

    /// `namespace/name` of the Gateway its routes attach to (gateway modes only).
    pub fn gateway(&self) -> Option<String> {
        self.gateway_ref().map(|g| format!("{}/{}", g.namespace_or(&self.namespace), g.name))
    }

    /// The Gateway the settings name, in the gateway modes.
    pub fn gateway_ref(&self) -> Option<&GatewayRef> {
        self.settings.mode.routes().then_some(self.settings.gateway.as_ref()).flatten()
    }
}

/// Is this StatefulSet opted in (its pod template carries the label)?
pub fn opted_in(sts: &StatefulSet) -> bool {
    sts.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .and_then(|l| l.get(ENABLED_LABEL))
        .is_some_and(|v| v == "true")
}

/// The pod template's annotations as written.
pub fn template_annotations(sts: &StatefulSet) -> BTreeMap<String, String> {
    sts.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.annotations.clone()).unwrap_or_default()
}

#[cfg(test)]
thread_local! {
    /// How many intents this thread worked out (a test counts them per reconcile).
    pub static WORKED_OUT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The intent of `sts` (`None`: not opted in). A class named that does not exist is refused in both
/// tenancy modes (no fallback to open); a setting on the StatefulSet's own metadata the class does
/// not hand out is refused too; every port, host name and IP its brokers and bootstrap produce must
/// be within the class.
pub fn intent(
    sts: &Arc<StatefulSet>,
    defaults: &Defaults,
    view: &(impl ClassSource + ?Sized),
) -> Result<Option<Intent>, IntentError> {
    #[cfg(test)]
    WORKED_OUT.with(|n| n.set(n.get() + 1));
    if !opted_in(sts) {
        return Ok(None);
    }
    let template = template_annotations(sts);
    let namespace = sts.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let classes = view.classes();
    let tenancy = classes.as_ref().map_or(Tenancy::Open, |c| c.tenancy);
    let class = match classes.filter(|c| c.in_play(&template)) {
        None => None,
        Some(classes) => {
            let labels = view.namespace_labels(&namespace);
            class::select(&template, &namespace, labels.as_deref(), &classes)?.cloned()
        }
    };
    let effective = match &class {
        None => template,
        Some(class) => {
            let own: BTreeMap<String, String> = (sts.metadata.annotations.iter().flatten())
                .filter(|(k, _)| SERVICE_ONLY.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            class::check(&own, class)?;
            class::effective(&template, Some(class))?
        }
    };
    let settings = Settings::from_annotations(&effective, defaults)?;
    let service = service_settings(sts, effective, &settings).map_err(IntentError::Service)?;
    let spec = sts.spec.as_ref();
    let start = spec.and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0) as u32;
    let requested = spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as u32;
    let cap = defaults.broker_cap(class.as_deref());
    let intent = Intent {
        sts: sts.clone(),
        name: sts.metadata.name.clone().unwrap_or_default(),
        namespace,
        settings,
        service,
        class,
        tenancy,
        start,
        // Nothing is built past the cap: a StatefulSet cannot make the controller allocate without bound.
        replicas: requested.min(cap),
        requested,
        cap,
    };
    rendered_names(&intent)?;
    if let Some(class) = &intent.class {
        class_bounds(&intent, class)?;
    }
    Ok(Some(intent))
}

/// Every name the hostname template renders is a host name (no wildcard, no number), before a
/// route, a DNS annotation or a Certificate carries it: the webhook refuses such a broker too.
fn rendered_names(i: &Intent) -> Result<(), SettingsError> {
    let Some(t) = &i.settings.hostname_template else { return Ok(()) };
    for ordinal in i.ordinals() {
        let host = t.render(ordinal, &format!("{}-{ordinal}", i.name), &i.namespace, &i.name);
        if !super::settings::is_valid_host(&host) {
            return Err(SettingsError::Invalid {
                annotation: super::settings::ANN_HOSTNAME_TEMPLATE,
                value: t.as_str().to_owned(),
                reason: format!("renders to {host:?} for broker {ordinal}, which is not a valid DNS name"),
            });
        }
    }
    Ok(())
}

/// Every port, host name and IP the StatefulSet's brokers and bootstrap produce, within the class;
/// a tenant's `service-annotations` too, for every key kafka-advertiser understands.
fn class_bounds(i: &Intent, class: &Class) -> Result<(), ClassError> {
    let owner = Owner { namespace: &i.namespace, statefulset: &i.name };
    for ordinal in i.ordinals() {
        let pod = format!("{}-{ordinal}", i.name);
        let host = class::rendered_host(&i.settings, ordinal, &pod, &i.namespace, &i.name);
        class.bounds(&i.settings, ordinal, host.as_deref(), owner)?;
        tenant_service_annotations(class, &i.service.annotations, ordinal, &pod, owner)?;
    }
    if i.service.bootstrap {
        class.port(u32::from(i.service.bootstrap_port), "kafka-advertiser.io/bootstrap-port")?;
    }
    if let Some(h) = i.service.bootstrap_hostname.as_deref() {
        class.host_or_ip(h, "kafka-advertiser.io/bootstrap-hostname", owner)?;
    }
    Ok(())
}

/// A tenant's `service-annotations` rendered for broker `ordinal`, within the class, where the class
/// hands the key out (a value the class fixes is the platform's): both roles judge them, the webhook
/// from the pod's copy of the template's annotations.
pub fn tenant_service_annotations(
    class: &Class,
    annotations: &BTreeMap<String, String>,
    ordinal: u32,
    pod: &str,
    owner: Owner<'_>,
) -> Result<(), ClassError> {
    if annotations.is_empty() || !class.spec.tenant_settings.iter().any(|t| t == "service-annotations") {
        return Ok(());
    }
    let rendered: BTreeMap<String, String> = (annotations.iter())
        .map(|(k, v)| (k.clone(), render(v, ordinal, pod, owner.namespace, owner.statefulset)))
        .collect();
    class.service_annotations(&rendered, owner, "kafka-advertiser.io/service-annotations")
}

/// One pod's settings under the access class that applies to it (none: its own annotations): the
/// webhook's twin of [`intent`], from the pod's annotations (copied from its template).
pub fn pod_settings(
    annotations: Option<&BTreeMap<String, String>>,
    namespace: &str,
    defaults: &Defaults,
    view: &(impl ClassSource + ?Sized),
) -> Result<(Settings, Option<Arc<Class>>), IntentError> {
    let empty = BTreeMap::new();
    let a = annotations.unwrap_or(&empty);
    let Some(classes) = view.classes().filter(|c| c.in_play(a)) else {
        return Ok((Settings::from_annotations(a, defaults)?, None));
    };
    let labels = view.namespace_labels(namespace);
    match class::select(a, namespace, labels.as_deref(), &classes)? {
        None => Ok((Settings::from_annotations(a, defaults)?, None)),
        Some(c) => Ok((Settings::from_annotations(&class::effective(a, Some(c))?, defaults)?, Some(c.clone()))),
    }
}
