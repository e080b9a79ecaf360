//! The status report: a pure function of the objects `status` read (the StatefulSet, its Services,
//! pods and Events, the access classes), through the same intent the controller plans from.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;

use crate::controller::{address_feed, desired};
use crate::mutate::{self, ClusterView, Defaults, RequestNames};
use crate::names::ANN_ADVERTISED;
use crate::spec;
use crate::spec::class::ClassSource;
use crate::spec::settings::Mode;

/// One broker's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub ordinal: u32,
    /// `name (phase, node)`, or None when the pod does not exist.
    pub pod: Option<String>,
    /// `name type`, or None when there is none.
    pub service: Option<String>,
    /// The external `host:port` the controller knows for this broker.
    pub address: Option<String>,
    /// What the running pod advertises (its `advertised` annotation).
    pub advertised: Option<String>,
    pub state: State,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Ok,
    /// The webhook would refuse the pod now: why (no Service, no address, settings).
    Waiting(String),
    /// Admitted without its external address (`pending-timeout`): it advertises only its other
    /// listeners until the address arrives and it is restarted.
    InternalOnly,
    /// The pod advertises something other than what it would be given now.
    Drift {
        now: String,
    },
    /// No pod (yet): the StatefulSet controller has not created it, or it was refused.
    NoPod,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub namespace: String,
    pub name: String,
    pub opted_in: bool,
    pub mode: Option<Mode>,
    pub brokers: Vec<Broker>,
    pub bootstrap: Option<String>,
    /// The latest Warning Events on the StatefulSet that still stand: `reason: note`, newest first.
    pub warnings: Vec<String>,
    /// Earlier warnings a later success resolved (a pod created after its create was refused).
    pub resolved: usize,
    /// Why a StatefulSet that looks meant to opt in did not (the label in the wrong place or value).
    pub hint: Option<String>,
    /// What its objects cost: load balancers, node ports, Gateway listeners, routes, Certificates.
    pub cost: Option<String>,
}

impl Report {
    /// Every broker runs and advertises what it would be given now.
    pub fn healthy(&self) -> bool {
        self.opted_in && self.brokers.iter().all(|b| b.state == State::Ok)
    }
}

/// Build the report from what was read. `services` are the StatefulSet's managed Services, `pods`
/// its pods, `events` the Events about it, `classes` the platform's access classes (as the
/// controller reads the StatefulSet: its intent under its class).
pub fn report(
    sts: &StatefulSet,
    services: &[Service],
    pods: &[Pod],
    events: &[Event],
    defaults: &Defaults,
    classes: &dyn ClassSource,
) -> Report {
    let namespace = sts.namespace().unwrap_or_default();
    let name = sts.name_any();
    let (warnings, resolved) = standing_warnings(events, pods);
    let mut out = Report {
        resolved,
        namespace: namespace.clone(),
        name: name.clone(),
        opted_in: spec::opted_in(sts),
        mode: None,
        brokers: Vec::new(),
        bootstrap: None,
        warnings,
        hint: spec::known::opt_in_hint(sts),
        cost: None,
    };
    if !out.opted_in {
        return out;
    }
    let intent = match spec::intent(&Arc::new(sts.clone()), defaults, classes) {
        Ok(Some(intent)) => intent,
        Ok(None) => return out,
        Err(e) => {
            out.brokers = waiting(ordinals(sts, defaults.max_brokers), e.to_string());
            return out;
        }
    };
    let d = match desired::desired(&intent) {
        Ok(d) => d,
        Err(e) => {
            out.brokers = waiting(intent.ordinals(), e.to_string());
            return out;
        }
    };
    out.mode = Some(d.settings.mode);
    let gateway = crate::controller::gateway::gateway_plan(&d, sts, &Default::default());
    out.cost = Some(crate::controller::cost::cost(&d, gateway.as_ref()).to_string());
    let book = webhook_view(sts, services, classes, defaults.max_brokers);
    let lb: BTreeMap<u32, String> = services
        .iter()
        .filter_map(|s| {
            let (_, _, o) = address_feed::broker_key(s)?;
            Some((o, address_feed::ingress_address(s)?.to_owned()))
        })
        .collect();
    let pod_of = |o: u32| pods.iter().find(|p| p.name_any() == format!("{name}-{o}"));
    let ips: BTreeMap<u32, (Option<String>, Option<String>)> = d
        .ordinals()
        .filter_map(|o| {
            let st = pod_of(o)?.status.as_ref()?;
            Some((o, (st.host_ip.clone(), st.pod_ip.clone())))
        })
        .collect();
    let endpoints = crate::controller::discovery::external_endpoints(
        &d,
        &crate::controller::discovery::external_hosts(&d, &lb, &ips),
    );
    out.bootstrap = crate::controller::discovery::external_bootstrap(&d, &endpoints);
    for o in d.ordinals() {
        let svc = services.iter().find(|s| address_feed::broker_key(s).is_some_and(|(_, _, so)| so == o));
        let mut b = broker(sts, o, pod_of(o), svc, endpoints.get(&o).cloned(), defaults, &book);
        let without = |a: &str| d.settings.learns_address() && spec::pending::internal_only(a, &d.settings.listener);
        if b.state == State::Ok && b.advertised.as_deref().is_some_and(without) {
            b.state = State::InternalOnly;
        }
        out.brokers.push(b);
    }
    out
}

/// The latest Warning Events that still stand (`reason: note`, newest first, at most 5), and how many
/// a later pod create resolved.
fn standing_warnings(events: &[Event], pods: &[Pod]) -> (Vec<String>, usize) {
    let (mut warnings, resolved): (Vec<&Event>, Vec<&Event>) = events
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .partition(|e| !resolved_by_a_later_pod(e, pods));
    warnings.sort_by_key(|e| std::cmp::Reverse(event_time(e)));
    let warnings = warnings
        .into_iter()
        .take(5)
        .map(|e| format!("{}: {}", e.reason.as_deref().unwrap_or(""), e.note.as_deref().unwrap_or("")))
        .collect();
    (warnings, resolved.len())
}

/// Every broker of `ordinals` waiting, for `why`.
fn waiting(ordinals: std::ops::Range<u32>, why: String) -> Vec<Broker> {
    (ordinals.map(|o| Broker {
        ordinal: o,
        pod: None,
        service: None,
        address: None,
        advertised: None,
        state: State::Waiting(why.clone()),
    }))
    .collect()
}

/// The webhook's view, as the controller would build it from these Services and the classes.
fn webhook_view(sts: &StatefulSet, services: &[Service], classes: &dyn ClassSource, max_brokers: u32) -> ClusterView {
    let (namespace, name) = (sts.namespace().unwrap_or_default(), sts.name_any());
    let book = ClusterView::new();
    if let Some(c) = classes.classes() {
        book.set_classes(c.classes.clone());
        book.set_tenancy(c.tenancy);
    }
    book.set_namespace_labels(&namespace, classes.namespace_labels(&namespace).map(|l| (*l).clone()));
    for svc in services {
        address_feed::apply(&book, svc, false);
    }
    if let Some(sel) = sts.spec.as_ref().and_then(|s| s.selector.match_labels.clone()) {
        book.set_selector(&namespace, &name, Some(sel));
    }
    let start = ordinals(sts, max_brokers).start;
    let since = sts.annotations().get(crate::names::ANN_PENDING_SINCE);
    book.set_pending_since(&namespace, &name, since.map(|v| spec::pending::parse_since(v, start, max_brokers)));
    book.mark_synced();
    book
}

/// One broker's line: its pod, Service, address, what it advertises and how that compares.
fn broker(
    sts: &StatefulSet,
    o: u32,
    pod: Option<&Pod>,
    svc: Option<&Service>,
    address: Option<String>,
    defaults: &Defaults,
    book: &ClusterView,
) -> Broker {
    let namespace = sts.namespace().unwrap_or_default();
    let template_pod = crate::controller::template_check::pod_for(sts, o);
    let names = RequestNames { name: "", namespace: &namespace };
    let now = mutate::mutate(pod.unwrap_or(&template_pod), names, defaults, book);
    let advertised = pod.and_then(|p| p.annotations().get(ANN_ADVERTISED).cloned());
    let state = match (&now, pod, &advertised) {
        (Err(e), _, _) => State::Waiting(e.to_string()),
        (_, None, _) => State::NoPod,
        (Ok(None), Some(_), _) => State::Waiting("the pod lacks the opt-in label (an old revision?)".into()),
        (Ok(Some(m)), Some(_), Some(a)) if !mutate::same_advertised(&m.advertised, a) => {
            State::Drift { now: m.advertised.clone() }
        }
        // Controller-only KRaft pods are left unchanged on purpose.
        (Ok(Some(m)), Some(_), None) if !m.advertised.is_empty() => {
            State::Waiting("the pod was created without kafka-advertiser (was the webhook bypassed?)".into())
        }
        _ => State::Ok,
    };
    Broker {
        ordinal: o,
        pod: pod.map(|p| {
            let st = p.status.as_ref();
            format!(
                "{} ({}{})",
                p.name_any(),
                st.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into()),
                p.spec.as_ref().and_then(|s| s.node_name.as_deref()).map(|n| format!(", {n}")).unwrap_or_default()
            )
        }),
        service: svc.map(|s| {
            let adopted = if s.annotations().contains_key(crate::names::ANN_ADOPT) { " (adopted)" } else { "" };
            format!("{} {}{adopted}", s.name_any(), s.spec.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or(""))
        }),
        address,
        advertised,
        state,
    }
}

/// The broker ordinals, at most `cap` of them (a StatefulSet cannot make `status` list without bound).
fn ordinals(sts: &StatefulSet, cap: u32) -> std::ops::Range<u32> {
    let spec = sts.spec.as_ref();
    let start = spec.and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0) as u32;
    let replicas = (spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as u32).min(cap);
    start..start.saturating_add(replicas)
}

/// The pod a StatefulSet controller's `FailedCreate` note names: `Create Pod NAME in StatefulSet …`
/// since Kubernetes 1.35 (the verb title-cased), `create Pod NAME …` before (lower-cased).
pub(super) fn failed_create_pod(note: &str) -> Option<&str> {
    const MARK: &str = "create pod ";
    // ASCII lower-casing keeps byte offsets: the name is read from the note as written.
    let at = note.to_ascii_lowercase().find(MARK)?;
    note[at + MARK.len()..].split_whitespace().next()
}

/// A refused pod create (`FailedCreate`, see [`failed_create_pod`]) that a later create of that pod resolved.
fn resolved_by_a_later_pod(e: &Event, pods: &[Pod]) -> bool {
    let note = e.note.as_deref().unwrap_or_default();
    let Some(name) = (e.reason.as_deref() == Some("FailedCreate")).then(|| failed_create_pod(note)).flatten() else {
        return false;
    };
    let when = event_time(e);
    pods.iter().any(|p| {
        p.metadata.name.as_deref() == Some(name)
            && p.metadata.creation_timestamp.as_ref().map(|t| t.0).zip(when).is_some_and(|(created, at)| created >= at)
    })
}

fn event_time(e: &Event) -> Option<k8s_openapi::jiff::Timestamp> {
    e.series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

#[cfg(test)]
mod tests;
