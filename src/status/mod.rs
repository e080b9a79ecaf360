//! `kafka-advertiser status`: what each broker of the opted-in StatefulSets advertises, and why it
//! waits or drifts, read from the cluster with the user's kubeconfig. The report is a pure function of
//! the objects read ([`report`]), printed by [`view`]; the command only fetches them.

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

pub mod view;

use crate::config::StatusArgs;
use crate::controller::{addresses, desired};
use crate::mutate::settings::Mode;
use crate::mutate::{self, AddressBook, Defaults, RequestNames};
use crate::names::ANN_ADVERTISED;
use crate::names::{MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL, STATEFULSET_LABEL};

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot reach the cluster with your kubeconfig: {0}")]
    Config(String),
    #[error("StatefulSet {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

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
}

impl Report {
    /// Every broker runs and advertises what it would be given now.
    pub fn healthy(&self) -> bool {
        self.opted_in && self.brokers.iter().all(|b| b.state == State::Ok)
    }
}

/// Build the report from what was read. `services` are the StatefulSet's managed Services, `pods`
/// its pods, `events` the Events about it.
pub fn report(sts: &StatefulSet, services: &[Service], pods: &[Pod], events: &[Event], defaults: &Defaults) -> Report {
    let namespace = sts.namespace().unwrap_or_default();
    let name = sts.name_any();
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
    let mut out = Report {
        resolved: resolved.len(),
        namespace: namespace.clone(),
        name: name.clone(),
        opted_in: desired::opted_in(sts),
        mode: None,
        brokers: Vec::new(),
        bootstrap: None,
        warnings,
    };
    if !out.opted_in {
        return out;
    }
    let d = match desired::desired(sts, defaults) {
        Ok(d) => d,
        Err(e) => {
            out.brokers = ordinals(sts, defaults.max_brokers)
                .map(|o| Broker {
                    ordinal: o,
                    pod: None,
                    service: None,
                    address: None,
                    advertised: None,
                    state: State::Waiting(e.to_string()),
                })
                .collect();
            return out;
        }
    };
    out.mode = Some(d.settings.mode);
    // The webhook's view, as the controller would build it from these Services.
    let book = AddressBook::new();
    for svc in services {
        addresses::apply(&book, svc, false);
    }
    if let Some(sel) = sts.spec.as_ref().and_then(|s| s.selector.match_labels.clone()) {
        book.set_selector(&namespace, &name, Some(sel));
    }
    book.mark_synced();
    let lb: BTreeMap<u32, String> = services
        .iter()
        .filter_map(|s| {
            let (_, _, o) = addresses::broker_key(s)?;
            Some((o, addresses::ingress_address(s)?.to_owned()))
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
    let endpoints = desired::external_endpoints(&d, &desired::external_hosts(&d, &lb, &ips));
    out.bootstrap = desired::external_bootstrap(&d, &endpoints);
    for o in d.ordinals() {
        let svc = services.iter().find(|s| addresses::broker_key(s).is_some_and(|(_, _, so)| so == o));
        out.brokers.push(broker(sts, o, pod_of(o), svc, endpoints.get(&o).cloned(), defaults, &book));
    }
    out
}

/// One broker's line: its pod, Service, address, what it advertises and how that compares.
fn broker(
    sts: &StatefulSet,
    o: u32,
    pod: Option<&Pod>,
    svc: Option<&Service>,
    address: Option<String>,
    defaults: &Defaults,
    book: &AddressBook,
) -> Broker {
    let namespace = sts.namespace().unwrap_or_default();
    let template_pod = desired::pod_for(sts, o);
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
        service: svc
            .map(|s| format!("{} {}", s.name_any(), s.spec.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or(""))),
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

/// A refused pod create (`FailedCreate … Create Pod NAME …`) that a later create of that pod resolved.
fn resolved_by_a_later_pod(e: &Event, pods: &[Pod]) -> bool {
    let note = e.note.as_deref().unwrap_or_default();
    let Some(name) = (e.reason.as_deref() == Some("FailedCreate"))
        .then(|| note.split("Create Pod ").nth(1))
        .flatten()
        .and_then(|rest| rest.split_whitespace().next())
    else {
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

/// The report as the terminal shows it.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    if !r.opted_in {
        let _ = writeln!(
            out,
            "StatefulSet {}/{}: not opted in (its pod template lacks the label {}=\"true\")",
            r.namespace,
            r.name,
            crate::names::ENABLED_LABEL
        );
        return out;
    }
    let mode = r.mode.map_or("?", Mode::as_str);
    let _ = writeln!(out, "StatefulSet {}/{}: mode {mode}, {} brokers", r.namespace, r.name, r.brokers.len());
    for b in &r.brokers {
        let state = match &b.state {
            State::Ok => "ok".to_owned(),
            State::Waiting(why) => format!("WAITING: {why}"),
            State::Drift { now } => format!("DRIFT: would now advertise {now}"),
            State::NoPod => "NO POD".to_owned(),
        };
        let _ = writeln!(out, "\nbroker {}  {state}", b.ordinal);
        let _ = writeln!(out, "  pod         {}", b.pod.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "  service     {}", b.service.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "  address     {}", b.address.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "  advertises  {}", b.advertised.as_deref().unwrap_or("-"));
    }
    let _ = writeln!(out, "\nbootstrap   {}", r.bootstrap.as_deref().unwrap_or("- (not every address is known)"));
    if !r.warnings.is_empty() {
        let _ = writeln!(out, "\nlatest warnings on the StatefulSet:");
        for w in &r.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    if r.resolved > 0 {
        let _ = writeln!(out, "\n{} earlier warning(s) resolved: the pods they refused were created since", r.resolved);
    }
    out
}

/// Which StatefulSets a `status` run reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One, by name (reported even when it is not opted in).
    One { namespace: String, name: String },
    /// Every opted-in StatefulSet of a namespace.
    Namespace(String),
    /// Every opted-in StatefulSet.
    All,
}

impl Scope {
    fn namespace(&self) -> Option<&str> {
        match self {
            Scope::One { namespace, .. } | Scope::Namespace(namespace) => Some(namespace),
            Scope::All => None,
        }
    }

    fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        match self.namespace() {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
}

/// Read the StatefulSets in scope, their Services, pods and Events with the user's kubeconfig; report.
pub async fn reports(client: &Client, scope: &Scope, defaults: &Defaults) -> Result<Vec<Report>, StatusError> {
    let statefulsets: Vec<StatefulSet> = match scope {
        Scope::One { namespace, name } => vec![Api::<StatefulSet>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await?
            .ok_or_else(|| StatusError::NotFound { namespace: namespace.clone(), name: name.clone() })?],
        _ => scope
            .api::<StatefulSet>(client)
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(desired::opted_in)
            .collect(),
    };
    if statefulsets.is_empty() {
        return Ok(Vec::new());
    }
    let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY},{ROLE_LABEL}=broker");
    let services = scope.api::<Service>(client).list(&ListParams::default().labels(&selector)).await?.items;
    let pods = scope.api::<Pod>(client).list(&ListParams::default()).await?.items;
    let events =
        scope.api::<Event>(client).list(&ListParams::default().fields("regarding.kind=StatefulSet")).await?.items;
    let mut out: Vec<Report> = statefulsets
        .iter()
        .map(|sts| {
            let (ns, name, uid) = (sts.namespace(), sts.name_any(), sts.uid());
            let mine = |o: &Option<String>| o == &ns;
            let svcs: Vec<Service> = services
                .iter()
                .filter(|s| mine(&s.namespace()) && s.labels().get(STATEFULSET_LABEL) == Some(&name))
                .cloned()
                .collect();
            let owned: Vec<Pod> = pods
                .iter()
                .filter(|p| {
                    p.owner_references().iter().any(|o| o.kind == "StatefulSet" && Some(&o.uid) == uid.as_ref())
                })
                .cloned()
                .collect();
            let evs: Vec<Event> = events
                .iter()
                .filter(|e| mine(&e.namespace()) && e.regarding.as_ref().and_then(|r| r.name.as_ref()) == Some(&name))
                .cloned()
                .collect();
            report(sts, &svcs, &owned, &evs, defaults)
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(out)
}

/// The server's defaults: each flag given, else what the controller published, else the built-in one.
async fn server_defaults(client: &Client, args: &StatusArgs) -> Defaults {
    let published = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), &args.install_namespace)
        .get_opt(&args.settings_configmap)
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data)
        .and_then(|d| crate::controller::published::defaults_from(&d));
    let base = published.unwrap_or_default();
    Defaults {
        mode: args.default_mode.unwrap_or(base.mode),
        cluster_domain: args.cluster_domain.clone().unwrap_or(base.cluster_domain),
        max_brokers: base.max_brokers,
    }
}

/// How a `status` run ends: 0 every broker advertises its address, 1 some wait or drift, 2 an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    NotReady,
}

/// `kafka-advertiser status`: print, once or (--watch) on every change, or (--wait) until ready.
pub async fn run(args: &StatusArgs, print: impl Fn(&str)) -> Result<Verdict, StatusError> {
    let client = crate::check::user_client(args.kubeconfig.as_deref(), args.context.as_deref())
        .await
        .map_err(StatusError::Config)?;
    let ns = args.namespace.clone().unwrap_or_else(|| client.default_namespace().to_owned());
    let scope = match (&args.statefulset, args.all_namespaces) {
        (Some(name), _) => Scope::One { namespace: ns, name: name.clone() },
        (None, true) => Scope::All,
        (None, false) => Scope::Namespace(ns),
    };
    let defaults = server_defaults(&client, args).await;
    let deadline = std::time::Instant::now() + args.timeout;
    let mut last = String::new();
    loop {
        let reports = reports(&client, &scope, &defaults).await?;
        let ready = reports.iter().all(Report::healthy);
        let text = view::output(&reports, matches!(scope, Scope::One { .. }), args.all_namespaces, args.output);
        let done = !args.watch && (!args.wait || ready || std::time::Instant::now() >= deadline);
        if (args.watch && text != last) || done {
            print(&text);
        }
        if done {
            return Ok(if ready { Verdict::Ready } else { Verdict::NotReady });
        }
        last = text;
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn sts(replicas: i32) -> StatefulSet {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "orders", "namespace": "shop", "uid": "u1"},
            "spec": {"replicas": replicas, "serviceName": "orders-hs", "selector": {"matchLabels": {"app": "orders"}},
                "template": {"metadata": {"labels": {"app": "orders", "kafka-advertiser.io/enabled": "true"}},
                    "spec": {"containers": [{"name": "kafka", "image": "apache/kafka:4.1.1",
                        "env": [{"name": "KAFKA_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9094"}]}]}}}
        }))
        .unwrap()
    }

    fn service(o: u32, ip: Option<&str>) -> Service {
        let mut v = json!({"metadata": {"name": format!("orders-{o}-external"), "namespace": "shop", "labels": {
            "app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/statefulset": "orders",
            "kafka-advertiser.io/role": "broker", "kafka-advertiser.io/ordinal": o.to_string()},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "orders", "uid": "u1", "controller": true}]},
            "spec": {"type": "LoadBalancer"}});
        if let Some(ip) = ip {
            v["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
        }
        serde_json::from_value(v).unwrap()
    }

    fn pod(o: u32, advertised: Option<&str>) -> Pod {
        let mut p: Value = serde_json::to_value(desired::pod_for(&sts(3), o)).unwrap();
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "orders", "uid": "u1", "controller": true}]);
        if let Some(a) = advertised {
            p["metadata"]["annotations"] = json!({"kafka-advertiser.io/advertised": a});
        }
        p["status"] = json!({"phase": "Running"});
        p["spec"]["nodeName"] = json!("node-1");
        serde_json::from_value(p).unwrap()
    }

    fn adv(o: u32, ip: &str) -> String {
        format!("INTERNAL://orders-{o}.orders-hs.shop.svc.cluster.local:9092,EXTERNAL://{ip}:9094")
    }

    #[test]
    fn every_broker_ok_is_healthy_with_a_bootstrap() {
        let svcs = [service(0, Some("203.0.113.10")), service(1, Some("203.0.113.11"))];
        let pods = [pod(0, Some(&adv(0, "203.0.113.10"))), pod(1, Some(&adv(1, "203.0.113.11")))];
        let r = report(&sts(2), &svcs, &pods, &[], &Defaults::default());
        assert!(r.healthy(), "{r:?}");
        assert_eq!(r.bootstrap.as_deref(), Some("203.0.113.10:9094,203.0.113.11:9094"));
        assert_eq!(r.brokers[1].pod.as_deref(), Some("orders-1 (Running, node-1)"));
        assert_eq!(r.brokers[1].service.as_deref(), Some("orders-1-external LoadBalancer"));
        let text = render(&r);
        assert!(
            text.contains("broker 1  ok") && text.contains("bootstrap   203.0.113.10:9094,203.0.113.11:9094"),
            "{text}"
        );
    }

    #[test]
    fn waiting_drifting_and_missing_brokers_are_unhealthy() {
        let svcs = [service(0, Some("203.0.113.99")), service(1, None)];
        let pods = [pod(0, Some(&adv(0, "203.0.113.10")))];
        let warn: Event = serde_json::from_value(json!({"metadata": {"name": "e1"}, "type": "Warning",
            "reason": "ServiceApplyFailed", "note": "quota exceeded", "eventTime": "2026-11-25T01:00:00.000000Z"}))
        .unwrap();
        let normal: Event = serde_json::from_value(json!({"metadata": {"name": "e2"}, "type": "Normal",
            "reason": "ServiceCreated", "note": "created", "eventTime": "2026-11-25T02:00:00.000000Z"}))
        .unwrap();
        let r = report(&sts(3), &svcs, &pods, &[normal, warn], &Defaults::default());
        assert!(!r.healthy());
        assert_eq!(r.brokers[0].state, State::Drift { now: adv(0, "203.0.113.99") });
        assert!(
            matches!(&r.brokers[1].state, State::Waiting(w) if w.contains("orders-1-external")),
            "{:?}",
            r.brokers[1]
        );
        assert!(
            matches!(&r.brokers[2].state, State::Waiting(w) if w.contains("does not exist yet")),
            "{:?}",
            r.brokers[2]
        );
        assert_eq!(r.warnings, ["ServiceApplyFailed: quota exceeded"]);
        assert_eq!(r.bootstrap, None);
        let text = render(&r);
        assert!(text.contains("DRIFT: would now advertise") && text.contains("WAITING:"), "{text}");
    }

    #[test]
    fn a_statefulset_that_did_not_opt_in_says_so() {
        let mut s = sts(1);
        s.spec.as_mut().unwrap().template.metadata.as_mut().unwrap().labels.as_mut().unwrap().clear();
        let r = report(&s, &[], &[], &[], &Defaults::default());
        assert!(!r.healthy());
        assert!(render(&r).contains("not opted in"));
    }

    #[test]
    fn a_refused_create_that_a_later_create_resolved_is_not_a_current_warning() {
        let svcs = [service(0, Some("203.0.113.10"))];
        let mut p0 = pod(0, Some(&adv(0, "203.0.113.10")));
        p0.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-11-25T01:05:00Z".parse().unwrap()));
        let failed = |pod: &str, at: &str| -> Event {
            serde_json::from_value(json!({"metadata": {"name": format!("f-{pod}")}, "type": "Warning", "reason": "FailedCreate",
                "note": format!("Create Pod {pod} in StatefulSet orders failed error: ... has no status.loadBalancer.ingress yet"),
                "eventTime": at}))
            .unwrap()
        };
        let events =
            [failed("orders-0", "2026-11-25T01:00:00.000000Z"), failed("orders-1", "2026-11-25T01:00:00.000000Z")];
        let r = report(&sts(2), &svcs, &[p0], &events, &Defaults::default());
        assert_eq!(r.resolved, 1, "orders-0 was created after its refusal");
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("Create Pod orders-1"), "{:?}", r.warnings);
        assert!(render(&r).contains("1 earlier warning(s) resolved"));
    }
}
