//! Who the pod is: its name, ordinal and StatefulSet, its settings (under its access class), and
//! the broker container to edit; a controller-only KRaft node is left alone.

use super::*;

/// Whether the pod opted in (label `kafka-advertiser.io/enabled: "true"`).
pub fn opted_in(pod: &PodView) -> bool {
    pod.metadata.labels.as_ref().and_then(|l| l.get(ENABLED_LABEL)).is_some_and(|v| v == "true")
}

/// Ordinal: label `apps.kubernetes.io/pod-index`, else the `-<digits>` suffix of the name.
pub fn ordinal(labels: Option<&BTreeMap<String, String>>, name: &str) -> Result<Option<u32>, MutateError> {
    if let Some(v) = labels.and_then(|l| l.get(POD_INDEX_LABEL)) {
        return v.parse::<u32>().map(Some).map_err(|_| MutateError::BadPodIndex { value: v.clone() });
    }
    Ok(name_suffix(name).map(|(_, o)| o))
}

/// `kafka-12` → `("kafka", 12)`.
pub fn name_suffix(name: &str) -> Option<(&str, u32)> {
    let (prefix, digits) = name.rsplit_once('-')?;
    if prefix.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // StatefulSet ordinals have no leading zeros; "kafka-01" is not broker 1.
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok().map(|o| (prefix, o))
}

pub(super) fn statefulset_name(pod: &PodView, name: &str) -> Option<String> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "StatefulSet" && o.controller == Some(true))
        .map(|o| o.name.clone())
        .or_else(|| name_suffix(name).map(|(p, _)| p.to_owned()))
}

/// Service name of one broker (shared with the controller).
pub fn service_name(template: Option<&str>, statefulset: &str, ordinal: u32, namespace: &str) -> String {
    let t = template.unwrap_or(DEFAULT_SERVICE_NAME_TEMPLATE);
    crate::spec::template::render(t, ordinal, &format!("{statefulset}-{ordinal}"), namespace, statefulset)
}

pub(super) fn pick_container<'p>(
    containers: &'p [ContainerView],
    settings: &Settings,
) -> Result<(usize, &'p ContainerView, bool), MutateError> {
    if containers.is_empty() {
        return Err(MutateError::NoContainers);
    }
    match &settings.container {
        Some(want) => {
            containers.iter().position(|c| &c.name == want).map(|i| (i, &containers[i], false)).ok_or_else(|| {
                MutateError::ContainerNotFound {
                    name: want.clone(),
                    available: containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                }
            })
        }
        None => {
            // The container named kafka; else the one that configures Kafka (listener env vars, a Kafka
            // image), never a sidecar an injector put first; else the first, with a warning.
            let configures = |c: &ContainerView| {
                c.env.iter().flatten().any(|e| e.name.starts_with("KAFKA_") && e.name.ends_with("LISTENERS"))
            };
            let kafka_image = |c: &ContainerView| {
                c.image.as_deref().is_some_and(|i| {
                    let repo = i.rsplit('/').next().unwrap_or(i);
                    repo.starts_with("kafka") || repo.starts_with("cp-kafka") || repo.starts_with("cp-server")
                })
            };
            let found = containers
                .iter()
                .position(|c| c.name == "kafka")
                .or_else(|| containers.iter().position(configures))
                .or_else(|| containers.iter().position(kafka_image));
            Ok(match found {
                Some(i) => (i, &containers[i], false),
                None => (0, &containers[0], containers.len() > 1),
            })
        }
    }
}

pub(super) fn env_value<'c>(container: &'c ContainerView, name: &str) -> Option<&'c str> {
    env_value_parts(container, "", name)
}

/// The value of env var `{prefix}{suffix}`, without building the name (admission hot path).
pub(super) fn env_value_parts<'c>(container: &'c ContainerView, prefix: &str, suffix: &str) -> Option<&'c str> {
    container
        .env
        .as_ref()?
        .iter()
        .rev()
        .find(|e| e.name.strip_prefix(prefix) == Some(suffix))
        .and_then(|e| e.value.as_deref())
}

/// Which env var carries the advertised listeners for this container.
pub fn env_name(container: &ContainerView, settings: &Settings) -> String {
    if let Some(e) = &settings.env {
        return e.clone();
    }
    let defined = |n: &str| container.env.iter().flatten().any(|e| e.name == n);
    // KAFKA_ADVERTISED_LISTENERS first: apache/kafka and cp-kafka read it, and Bitnami's libkafka.sh
    // copies it over KAFKA_CFG_ADVERTISED_LISTENERS when set (kafka_create_alias_environment_variables).
    if defined(APACHE_ENV) {
        APACHE_ENV.into()
    } else if defined(BITNAMI_ENV) || is_bitnami(container) {
        BITNAMI_ENV.into()
    } else {
        APACHE_ENV.into()
    }
}

/// A Bitnami image (`bitnami/kafka`, `bitnamilegacy/kafka`, a mirror of either): `KAFKA_CFG_*` rules.
pub(super) fn is_bitnami(container: &ContainerView) -> bool {
    container.image.as_deref().is_some_and(|i| i.contains("bitnami"))
}

/// The broker pod as the decision reads it: who it is, its settings, the container to edit.
pub(super) struct Broker<'a> {
    pub(super) pod: &'a PodView,
    pub(super) name: &'a str,
    pub(super) namespace: &'a str,
    pub(super) settings: Settings,
    /// The access class that applies, if any: it bounds what the settings produce.
    pub(super) class: Option<Arc<Class>>,
    pub(super) ordinal: u32,
    pub(super) statefulset: String,
    pub(super) spec: &'a pod::SpecView,
    pub(super) ci: usize,
    pub(super) container: &'a ContainerView,
}

/// Who the pod is (a name even before generateName gives one), its settings and its broker container.
pub(super) fn read_broker<'a>(
    pod: &'a PodView,
    names: RequestNames<'a>,
    defaults: &Defaults,
    addresses: &dyn ClusterLookup,
    given: Option<Settings>,
    warnings: &mut Vec<String>,
) -> Result<Broker<'a>, MutateError> {
    let meta = &pod.metadata;
    let name = meta.name.as_deref().filter(|n| !n.is_empty()).unwrap_or(names.name);
    let namespace = meta.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(names.namespace);
    let (settings, class) = match given {
        Some(settings) => (settings, None),
        None => crate::spec::pod_settings(meta.annotations.as_ref(), namespace, defaults, addresses)?,
    };
    let shown = || {
        if name.is_empty() {
            meta.generate_name.clone().map(|g| format!("{g}<generated>")).unwrap_or_default()
        } else {
            name.to_owned()
        }
    };
    let ordinal = ordinal(meta.labels.as_ref(), name)?.ok_or_else(|| MutateError::NoOrdinal { pod: shown() })?;
    let statefulset = statefulset_name(pod, name).ok_or_else(|| MutateError::NoStatefulSet { pod: shown() })?;
    if let Some(start) = addresses.ordinal_start(namespace, &statefulset) {
        let cap = defaults.broker_cap(class.as_deref());
        if ordinal.saturating_sub(start) >= cap {
            return Err(MutateError::TooManyBrokers { ordinal, start, cap });
        }
    }
    let spec = pod.spec.as_ref().ok_or(MutateError::NoContainers)?;
    let (ci, container, fell_back) = pick_container(&spec.containers, &settings)?;
    // Only a container of the StatefulSet's own template (when the view holds it), never a sidecar.
    if let Some(template) = addresses.template_containers(namespace, &statefulset) {
        if !template.contains(&container.name) {
            return Err(MutateError::ContainerNotInTemplate {
                name: container.name.clone(),
                statefulset,
                template: template.join(", "),
            });
        }
    }
    if fell_back {
        warnings.push(format!(
            "kafka-advertiser: no container named \"kafka\"; using the first container {:?} (set {ANN_CONTAINER})",
            container.name
        ));
    }
    Ok(Broker { pod, name, namespace, settings, class, ordinal, statefulset, spec, ci, container })
}

/// A KRaft controller-only node has no advertised listeners for clients: left as it is.
pub(super) fn controller_only(b: &Broker<'_>, warnings: &mut Vec<String>) -> Option<Mutation> {
    let roles = ["KAFKA_PROCESS_ROLES", "KAFKA_CFG_PROCESS_ROLES"].iter().find_map(|n| env_value(b.container, n))?;
    if roles.split(',').any(|r| r.trim() == "broker") {
        return None;
    }
    warnings.push(format!(
        "kafka-advertiser: container {:?} runs process.roles={roles} (no broker role): left unchanged; remove the \
         {ENABLED_LABEL} label from controller-only pods",
        b.container.name
    ));
    Some(Mutation {
        patch: Patch(Vec::new()),
        warnings: Vec::new(),
        advertised: String::new(),
        statefulset: b.statefulset.clone(),
        ordinal: b.ordinal,
        container: b.container.name.clone(),
        listeners_var: String::new(),
    })
}

pub(super) fn broker_service(b: &Broker<'_>) -> String {
    let template = b.settings.service_name_template.as_ref().map(|t| t.as_str());
    service_name(template, &b.statefulset, b.ordinal, b.namespace)
}
