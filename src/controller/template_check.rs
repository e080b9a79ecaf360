//! The template check, pure: the problems the webhook would report for a StatefulSet's brokers,
//! found on its pod template (the StatefulSet controller creates the pods, so admission warnings
//! reach nobody), as Event reasons and messages.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;

use super::desired::owner_reference;
use crate::names::{POD_INDEX_LABEL, POD_NAME_LABEL};
use crate::spec::class::ClassSource;
use crate::spec::known::UnknownAnnotation;
use crate::spec::settings::Defaults;
use crate::spec::Intent;

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

/// What the webhook would make of this StatefulSet's brokers, judged on its pod template (the
/// StatefulSet controller creates the pods, so admission warnings reach nobody).
#[derive(Debug, Default)]
pub struct TemplateVerdict {
    /// `(reason, message)` of each problem.
    pub problems: Vec<(&'static str, String)>,
    /// The webhook refuses the brokers whatever happens (`InvalidSettings`): retrying a create is no use.
    pub refused: bool,
}

/// Problems the webhook would report for this StatefulSet's brokers, found on its pod template.
/// Addresses are taken as known, so only the configuration is judged.
pub fn template_problems(intent: &Intent, defaults: &Defaults) -> TemplateVerdict {
    struct Known;
    impl ClassSource for Known {}
    impl crate::mutate::ClusterLookup for Known {
        fn address(&self, _: &str, _: &str, _: u32) -> Option<std::sync::Arc<str>> {
            Some(std::sync::Arc::from("192.0.2.1"))
        }
    }
    let pod = pod_for(&intent.sts, intent.start);
    let name = pod.metadata.name.clone().unwrap_or_default();
    let names = crate::mutate::RequestNames { name: &name, namespace: &intent.namespace };
    // The intent's settings (its class applied once, in `intent`), judged on the template's pod.
    let mut out = match crate::mutate::mutate_with(&pod, names, defaults, intent.settings.clone(), &Known) {
        Ok(Some(m)) => TemplateVerdict {
            problems: m
                .warnings
                .into_iter()
                .map(|w| (warning_reason(&w), w.trim_start_matches("kafka-advertiser: ").to_owned()))
                .collect(),
            refused: false,
        },
        Ok(None) => TemplateVerdict::default(),
        Err(e) => TemplateVerdict {
            problems: vec![("InvalidSettings", format!("broker pods will be refused: {e}"))],
            refused: true,
        },
    };
    out.problems
        .extend(unknown_annotations(&intent.sts).into_iter().map(|u| (UnknownAnnotation::REASON, u.to_string())));
    out
}

/// The `kafka-advertiser.io/*` keys of the StatefulSet (its metadata, its pod template's labels
/// and annotations) that kafka-advertiser does not know: a typo is otherwise ignored in silence.
pub fn unknown_annotations(sts: &StatefulSet) -> Vec<UnknownAnnotation> {
    let template = sts.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
    let maps = [
        sts.metadata.annotations.as_ref(),
        template.and_then(|m| m.annotations.as_ref()),
        template.and_then(|m| m.labels.as_ref()),
    ];
    crate::spec::known::unknown(maps.into_iter().flatten())
}
