//! Access classes: what the platform lets a tenant ask for. An `ExternalAccessClass`
//! (`kafka-advertiser.io/v1alpha1`, cluster-scoped) fixes settings in the same vocabulary as the
//! pod-template annotations, names the few a tenant may still set, and bounds the host names, IPs
//! and ports a StatefulSet's settings produce.
//!
//! One pure decision serves the webhook and the controller: [`effective`] (class + annotations +
//! the namespace's labels → the annotations to use, or a typed refusal), then [`Class::bounds`]
//! for every broker. With `--tenancy open` (the default) a StatefulSet that names no class, where no
//! default class exists, keeps the whole vocabulary; with `--tenancy classes` it is refused.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;

use crate::spec::settings::{host_hint, is_valid_host, Defaults, Settings};
use crate::spec::template::is_canonical_ip;

/// The pod-template annotation that names a class.
pub const ANN_CLASS: &str = "kafka-advertiser.io/class";
/// On a class: `"true"` makes it the default for StatefulSets that name none.
pub const ANN_DEFAULT_CLASS: &str = "kafka-advertiser.io/is-default-class";
pub const GROUP: &str = "kafka-advertiser.io";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "ExternalAccessClass";
pub const PLURAL: &str = "externalaccessclasses";
const PREFIX: &str = "kafka-advertiser.io/";

/// The settings vocabulary (annotation names without the prefix): the only keys a class may fix.
pub const SETTINGS: [&str; 35] = [
    "mode",
    "address",
    "port-base",
    "gateway",
    "gateway-listener",
    "bootstrap-hostname",
    "tls-issuer",
    "tls-mount-path",
    "hostname-template",
    "port",
    "node-port-base",
    "env",
    "listener",
    "internal-listener",
    "internal-port",
    "container",
    "anti-affinity",
    "topology-key",
    "service-name-template",
    "service-type",
    "address-type",
    "ip-family",
    "rack",
    "rack-label",
    "target-port",
    "external-traffic-policy",
    "load-balancer-source-ranges",
    "load-balancer-class",
    "service-annotations",
    "service-labels",
    "bootstrap",
    "bootstrap-port",
    "retain-services",
    "roll-on-change",
    "pending-timeout",
];

/// Settings that shape only the broker's own pod: always the tenant's (within the address checks).
pub const POD_SHAPE: [&str; 8] =
    ["container", "env", "listener", "internal-listener", "internal-port", "tls-mount-path", "rack", "rack-label"];

/// `--tenancy`: whether a StatefulSet may do without a class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Tenancy {
    /// No class named and no default class: the whole vocabulary (single-tenant clusters).
    #[default]
    Open,
    /// Every opted-in StatefulSet needs a class (named, or the one default).
    Classes,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PortRange {
    pub min: u16,
    pub max: u16,
}

/// `spec` of an `ExternalAccessClass`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClassSpec {
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    #[serde(default)]
    pub tenant_settings: Vec<String>,
    pub hostname_suffixes: Option<Vec<String>>,
    pub address_ranges: Option<Vec<String>>,
    pub port_range: Option<PortRange>,
    pub namespace_selector: Option<LabelSelector>,
    /// Most brokers per StatefulSet of this class (lowers `--max-brokers`, never raises it).
    pub max_brokers: Option<u32>,
}

/// One class, as the platform wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub name: String,
    pub default: bool,
    pub spec: ClassSpec,
    pub generation: Option<i64>,
    /// Why the class cannot be used (its spec does not parse): a StatefulSet it would apply to is
    /// refused (`ClassInvalid`) rather than judged without it.
    pub invalid: Option<String>,
}

impl Class {
    /// A class from its object (JSON, as the API returns it).
    pub fn from_value(v: &serde_json::Value) -> Result<Class, serde_json::Error> {
        let name = v["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let default = v["metadata"]["annotations"][ANN_DEFAULT_CLASS].as_str().map(str::trim) == Some("true");
        let spec = ClassSpec::deserialize(v.get("spec").cloned().unwrap_or_default())?;
        if let Some(bad) = spec.address_ranges.iter().flatten().find(|r| parse_range(r).is_none()) {
            return Err(serde::de::Error::custom(format!(
                "addressRanges entry {bad:?} is not a CIDR (203.0.113.0/24) or an IP address"
            )));
        }
        if let Some(bad) = spec.hostname_suffixes.iter().flatten().find(|x| !valid_suffix(x)) {
            return Err(serde::de::Error::custom(format!(
                "hostnameSuffixes entry {bad:?} is not a DNS name (it may hold {{namespace}} and {{statefulset}})"
            )));
        }
        Ok(Class { name, default, spec, generation: v["metadata"]["generation"].as_i64(), invalid: None })
    }

    /// A class as the API stores it, valid or not. The CRD's schema checks shapes only (its rules
    /// compile on every Kubernetes release the install supports); the exact parse is here, and a
    /// class that fails it is kept, marked invalid, so that what it would bound fails closed.
    pub fn from_object(v: &serde_json::Value) -> Class {
        Class::from_value(v).unwrap_or_else(|e| Class {
            name: v["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
            default: v["metadata"]["annotations"][ANN_DEFAULT_CLASS].as_str().map(str::trim) == Some("true"),
            spec: ClassSpec::default(),
            generation: v["metadata"]["generation"].as_i64(),
            invalid: Some(e.to_string()),
        })
    }
}

/// The class's `Valid` status condition (`status.conditions`): `False` with reason `ClassInvalid` and
/// the parse error, or `True`. `now` is its lastTransitionTime (RFC 3339).
pub fn valid_condition(class: &Class, now: &str) -> serde_json::Value {
    let (status, reason, message) = match &class.invalid {
        Some(why) => ("False", "ClassInvalid", why.as_str()),
        None => ("True", "Valid", "the class parses; StatefulSets it applies to are judged by it"),
    };
    serde_json::json!({"type": "Valid", "status": status, "reason": reason, "message": message,
        "observedGeneration": class.generation, "lastTransitionTime": now})
}

impl Defaults {
    /// The brokers one StatefulSet may have under `class`: the lower of `--max-brokers` and the
    /// class's `maxBrokers`.
    pub fn broker_cap(&self, class: Option<&Class>) -> u32 {
        class.and_then(|c| c.spec.max_brokers).map_or(self.max_brokers, |m| m.min(self.max_brokers))
    }
}

/// What choosing a class needs from the cluster. Every address view is one (the webhook's and the
/// controller's view, offline maps); the defaults mean no class and no labels.
pub trait ClassSource {
    /// The platform's access classes and tenancy switch (`None`: open, no classes).
    fn classes(&self) -> Option<std::sync::Arc<Classes>> {
        None
    }
    /// A namespace's labels (access classes' namespaceSelector), when known.
    fn namespace_labels(&self, _namespace: &str) -> Option<std::sync::Arc<std::collections::BTreeMap<String, String>>> {
        None
    }
}

/// What the platform has: the tenancy switch and every class.
#[derive(Debug, Clone, Default)]
pub struct Classes {
    pub tenancy: Tenancy,
    pub classes: Vec<Arc<Class>>,
}

impl Classes {
    /// Whether classes decide anything for a pod template with these annotations: some exist, the
    /// mode requires one, or the template names one (a missing one is refused, never ignored).
    /// Otherwise (open, no class anywhere) the template's settings stand as written.
    pub fn in_play(&self, annotations: &Annotations) -> bool {
        !self.classes.is_empty()
            || self.tenancy == Tenancy::Classes
            || annotations.get(ANN_CLASS).is_some_and(|c| !c.trim().is_empty())
    }
}

/// Why a StatefulSet's settings are refused; [`ClassError::reason`] is the Event reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassError {
    #[error("ExternalAccessClass {class:?} (kafka-advertiser.io/class) does not exist: name one that does (kubectl get eac)")]
    NotFound { class: String },
    #[error(
        "{} ExternalAccessClasses are marked as the default ({}): the platform must keep one \
         (kafka-advertiser.io/is-default-class), or name one with kafka-advertiser.io/class",
        classes.len(), classes.join(", ")
    )]
    DefaultAmbiguous { classes: Vec<String> },
    #[error(
        "this install requires an ExternalAccessClass (--tenancy classes) and none is named or default: set \
         kafka-advertiser.io/class on the pod template (kubectl get eac)"
    )]
    Required,
    #[error(
        "ExternalAccessClass {class} does not admit namespace {namespace} (its namespaceSelector): name another class"
    )]
    NotPermitted { class: String, namespace: String },
    #[error(
        "{PREFIX}{setting} is fixed by ExternalAccessClass {class}: remove it from the pod template (a tenant may set \
         only {allowed})"
    )]
    SettingRefused { setting: String, class: String, allowed: String },
    #[error("port {port} is outside the ports ExternalAccessClass {class} allows ({min}-{max}): {source_of}")]
    PortOutOfRange { port: u32, class: String, min: u16, max: u16, source_of: String },
    #[error("{host} is not under the host names ExternalAccessClass {class} allows ({suffixes}): {source_of}")]
    HostNotAllowed { host: String, class: String, suffixes: String, source_of: String },
    #[error("{address} is outside the addresses ExternalAccessClass {class} allows ({ranges}): {source_of}")]
    AddressNotAllowed { address: String, class: String, ranges: String, source_of: String },
    #[error(
        "{host} is a DNS name and ExternalAccessClass {class} allows addresses only ({ranges}; it names no \
         hostnameSuffixes): {source_of}"
    )]
    NamesNotAllowed { host: String, class: String, ranges: String, source_of: String },
    #[error("{value:?} is not an address ExternalAccessClass {class} can bound: {hint}: {source_of}")]
    NotAnAddress { value: String, class: String, hint: String, source_of: String },
    #[error(
        "{key} in kafka-advertiser.io/service-annotations is refused by ExternalAccessClass {class}: {why}; \
         remove it, or have the platform set it in the class"
    )]
    ServiceAnnotationRefused { key: String, class: String, why: String },
    #[error(
        "the labels of namespace {namespace} are not known yet and ExternalAccessClass {class} selects namespaces \
         by label: retried when they are"
    )]
    NamespaceUnknown { class: String, namespace: String },
    #[error("ExternalAccessClass {class} is invalid: {why}; the platform must fix the class (kubectl get eac {class} -o yaml)")]
    Invalid { class: String, why: String },
}

impl ClassError {
    /// The Warning Event reason on the StatefulSet.
    pub fn reason(&self) -> &'static str {
        match self {
            ClassError::NotFound { .. } | ClassError::Required => "ClassNotFound",
            ClassError::DefaultAmbiguous { .. } => "DefaultClassAmbiguous",
            ClassError::NotPermitted { .. } | ClassError::NamespaceUnknown { .. } => "ClassNotPermitted",
            ClassError::SettingRefused { .. } => "ClassSettingRefused",
            ClassError::PortOutOfRange { .. } => "PortOutOfRange",
            ClassError::HostNotAllowed { .. }
            | ClassError::AddressNotAllowed { .. }
            | ClassError::NamesNotAllowed { .. }
            | ClassError::NotAnAddress { .. } => "AddressNotAllowed",
            ClassError::ServiceAnnotationRefused { .. } => "ClassSettingRefused",
            ClassError::Invalid { .. } => "ClassInvalid",
        }
    }
}

type Annotations = BTreeMap<String, String>;

/// The class that applies: the named one, else the one default, else none (`open`) or a refusal.
pub fn select<'c>(
    annotations: &Annotations,
    namespace: &str,
    namespace_labels: Option<&Annotations>,
    classes: &'c Classes,
) -> Result<Option<&'c Arc<Class>>, ClassError> {
    let class = match annotations.get(ANN_CLASS).map(|c| c.trim()).filter(|c| !c.is_empty()) {
        Some(name) => Some(
            classes.classes.iter().find(|c| c.name == name).ok_or(ClassError::NotFound { class: name.to_owned() })?,
        ),
        None => {
            let defaults: Vec<&Arc<Class>> = classes.classes.iter().filter(|c| c.default).collect();
            match (defaults.as_slice(), classes.tenancy) {
                ([one], _) => Some(*one),
                ([], Tenancy::Open) => None,
                ([], Tenancy::Classes) => return Err(ClassError::Required),
                (many, _) => {
                    let mut classes: Vec<String> = many.iter().map(|c| c.name.clone()).collect();
                    classes.sort();
                    return Err(ClassError::DefaultAmbiguous { classes });
                }
            }
        }
    };
    if let Some(why) = class.and_then(|c| c.invalid.as_ref()) {
        let name = class.map(|c| c.name.clone()).unwrap_or_default();
        return Err(ClassError::Invalid { class: name, why: why.clone() });
    }
    if let (Some(c), Some(selector)) = (class, class.and_then(|c| c.spec.namespace_selector.as_ref())) {
        // Unknown labels (a cache not filled yet) admit nothing: `NotIn` and `DoesNotExist` would pass.
        let labels = namespace_labels
            .ok_or_else(|| ClassError::NamespaceUnknown { class: c.name.clone(), namespace: namespace.to_owned() })?;
        if !selects(selector, labels) {
            return Err(ClassError::NotPermitted { class: c.name.clone(), namespace: namespace.to_owned() });
        }
    }
    Ok(class)
}

/// The annotations to use under `class`: its settings, then the tenant's own where it may set them
/// (`tenantSettings`, and the pod-shape keys). Any other setting the tenant wrote is refused,
/// unless it repeats the class's value.
pub fn effective(annotations: &Annotations, class: Option<&Class>) -> Result<Annotations, ClassError> {
    let Some(class) = class else { return Ok(annotations.clone()) };
    check(annotations, class)?;
    let mut out: Annotations =
        annotations.iter().filter(|(k, _)| setting(k).is_none()).map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, v) in &class.spec.settings {
        out.insert(format!("{PREFIX}{k}"), v.clone());
    }
    for (k, v) in annotations {
        if setting(k).is_some_and(|key| tenant_may_set(class, key)) {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(out)
}

/// Refuse any setting in `annotations` the class does not hand out (unless it repeats the class's
/// own value).
pub fn check(annotations: &Annotations, class: &Class) -> Result<(), ClassError> {
    for (k, v) in annotations {
        let Some(key) = setting(k) else { continue };
        if !tenant_may_set(class, key) && class.spec.settings.get(key).map(|c| c.trim()) != Some(v.trim()) {
            return Err(ClassError::SettingRefused {
                setting: key.to_owned(),
                class: class.name.clone(),
                allowed: allowed(class),
            });
        }
    }
    Ok(())
}

/// The vocabulary key of a `kafka-advertiser.io/…` annotation that is a setting.
fn setting(annotation: &str) -> Option<&str> {
    annotation.strip_prefix(PREFIX).filter(|k| SETTINGS.contains(k))
}

fn tenant_may_set(class: &Class, key: &str) -> bool {
    POD_SHAPE.contains(&key) || class.spec.tenant_settings.iter().any(|t| t == key)
}

fn allowed(class: &Class) -> String {
    let mut keys: Vec<&str> =
        POD_SHAPE.iter().copied().chain(class.spec.tenant_settings.iter().map(String::as_str)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.join(", ")
}

/// Whose names a bound is judged for: `{namespace}` and `{statefulset}` in `hostnameSuffixes` are
/// theirs.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub namespace: &'a str,
    pub statefulset: &'a str,
}

impl Class {
    /// Every port, host name and IP that broker `ordinal`'s settings produce, within the class's
    /// bounds. Learned addresses (a load balancer's, a Gateway's) are the platform's and not checked.
    pub fn bounds(
        &self,
        s: &Settings,
        ordinal: u32,
        rendered_host: Option<&str>,
        owner: Owner<'_>,
    ) -> Result<(), ClassError> {
        if let Ok(port) = s.external_port(ordinal) {
            self.port(u32::from(port), &format!("the external port of broker {ordinal}"))?;
        }
        if let Some(a) = s.address.as_deref() {
            self.host_or_ip(a, &format!("{PREFIX}address"), owner)?;
        }
        if let Some(h) = rendered_host {
            self.host_or_ip(h, &format!("{PREFIX}hostname-template for broker {ordinal}"), owner)?;
        }
        Ok(())
    }

    /// A port the settings produce (also the bootstrap port).
    pub fn port(&self, port: u32, source_of: &str) -> Result<(), ClassError> {
        match &self.spec.port_range {
            Some(r) if port < u32::from(r.min) || port > u32::from(r.max) => Err(ClassError::PortOutOfRange {
                port,
                class: self.name.clone(),
                min: r.min,
                max: r.max,
                source_of: source_of.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// An IP (its canonical spelling) within `addressRanges`, a DNS name (no wildcard, no name a
    /// resolver reads as a number) under `hostnameSuffixes` as they read for `owner`. Unset bounds
    /// nothing, except that a class with `addressRanges` and no `hostnameSuffixes` allows no name.
    pub fn host_or_ip(&self, host: &str, source_of: &str, owner: Owner<'_>) -> Result<(), ClassError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if !is_valid_host(bare) {
            return Err(ClassError::NotAnAddress {
                value: bare.to_owned(),
                class: self.name.clone(),
                hint: host_hint(bare),
                source_of: source_of.to_owned(),
            });
        }
        if let Ok(ip) = bare.parse::<IpAddr>() {
            let Some(ranges) = &self.spec.address_ranges else { return Ok(()) };
            if ranges.iter().any(|r| in_cidr(ip, r)) {
                return Ok(());
            }
            return Err(ClassError::AddressNotAllowed {
                address: bare.to_owned(),
                class: self.name.clone(),
                ranges: ranges.join(", "),
                source_of: source_of.to_owned(),
            });
        }
        let suffixes = match (&self.spec.hostname_suffixes, &self.spec.address_ranges) {
            (Some(s), _) => self.suffixes(s, owner),
            (None, Some(ranges)) => {
                return Err(ClassError::NamesNotAllowed {
                    host: bare.to_owned(),
                    class: self.name.clone(),
                    ranges: ranges.join(", "),
                    source_of: source_of.to_owned(),
                })
            }
            (None, None) => return Ok(()),
        };
        if suffixes.iter().any(|s| under(bare, s)) {
            return Ok(());
        }
        Err(ClassError::HostNotAllowed {
            host: bare.to_owned(),
            class: self.name.clone(),
            suffixes: suffixes.join(", "),
            source_of: source_of.to_owned(),
        })
    }

    /// `hostnameSuffixes` as they read for `owner`.
    fn suffixes(&self, suffixes: &[String], owner: Owner<'_>) -> Vec<String> {
        suffixes
            .iter()
            .map(|s| s.replace("{namespace}", owner.namespace).replace("{statefulset}", owner.statefulset))
            .collect()
    }
}

/// A `hostnameSuffixes` entry: a DNS name, where `{namespace}` and `{statefulset}` may stand for labels.
fn valid_suffix(s: &str) -> bool {
    let probe = s.trim().trim_matches('.').replace("{namespace}", "n").replace("{statefulset}", "s");
    !probe.is_empty() && is_valid_host(&probe) && probe.parse::<IpAddr>().is_err()
}

/// `name` is `suffix` or ends in `.suffix`, case-insensitively (label boundaries: `badexample.com`
/// is not under `example.com`).
pub fn under(name: &str, suffix: &str) -> bool {
    let (n, s) =
        (name.trim_end_matches('.').to_ascii_lowercase(), suffix.trim().trim_matches('.').to_ascii_lowercase());
    !s.is_empty() && (n == s || n.ends_with(&format!(".{s}")))
}

/// Whether `ip` is inside `cidr` (`a.b.c.d/n` or `x::/n`; a bare address is a /32 or /128).
pub fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    parse_range(cidr).is_some_and(|net| net.contains(&ip))
}

/// An `addressRanges` entry: a CIDR (`203.0.113.0/24`, `2001:db8::/32`) or one address, each in its
/// canonical spelling (as everywhere an address is read).
fn parse_range(range: &str) -> Option<ipnet::IpNet> {
    let range = range.trim();
    match range.parse::<ipnet::IpNet>() {
        Ok(net) => net.to_string().eq_ignore_ascii_case(range).then_some(net),
        Err(_) => range.parse::<IpAddr>().ok().filter(|ip| is_canonical_ip(range, *ip)).map(ipnet::IpNet::from),
    }
}

/// Does a label selector select these labels? kube's evaluator (`In`, `NotIn`, `Exists`,
/// `DoesNotExist`, `matchLabels`); a selector it cannot read (an unknown operator, `In` without
/// values) selects nothing.
pub fn selects(sel: &LabelSelector, labels: &Annotations) -> bool {
    use kube::core::{Selector, SelectorExt};
    Selector::try_from(sel.clone()).is_ok_and(|s| s.matches(labels))
}

/// A class's reach: (namespaces, StatefulSets) using it, per class name, from (namespace, class)
/// per StatefulSet.
pub fn usage<'a>(uses: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, (i64, i64)> {
    let mut namespaces: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (ns, class) in uses {
        namespaces.entry(class).or_default().insert(ns);
        out.entry(class.to_owned()).or_default().1 += 1;
    }
    for (class, n) in namespaces {
        if let Some(e) = out.get_mut(class) {
            e.0 = n.len() as i64;
        }
    }
    out
}

/// The host the hostname template renders for one broker (judged whatever the mode).
pub fn rendered_host(s: &Settings, ordinal: u32, pod: &str, namespace: &str, statefulset: &str) -> Option<String> {
    // Judged in every mode: a template is a tenant's setting whether or not its mode uses it.
    s.hostname_template.as_ref().map(|t| t.render(ordinal, pod, namespace, statefulset))
}

mod annotations;
#[cfg(test)]
mod tests;
