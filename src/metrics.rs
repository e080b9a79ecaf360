//! Prometheus metrics (text exposition on the admin port's `/metrics`).

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// What the webhook did with one admission request.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
#[repr(usize)]
pub enum AdmissionResult {
    /// Opted-in pod, patch returned.
    Patched,
    /// Opted-in pod that already had everything (re-invocation).
    Unchanged,
    /// Not ours: other kind, operation or an un-labelled pod.
    Skipped,
    /// Opted-in pod refused with a message.
    Denied,
    /// Transport-level failure (bad JSON, too large, ...): non-200.
    Error,
    /// Refused before reading: the in-flight byte or review budget is spent (429).
    Busy,
}

impl AdmissionResult {
    /// Every outcome, in declaration order (`as usize` indexes it).
    pub const ALL: [AdmissionResult; 6] = [
        AdmissionResult::Patched,
        AdmissionResult::Unchanged,
        AdmissionResult::Skipped,
        AdmissionResult::Denied,
        AdmissionResult::Error,
        AdmissionResult::Busy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionResult::Patched => "patched",
            AdmissionResult::Unchanged => "unchanged",
            AdmissionResult::Skipped => "skipped",
            AdmissionResult::Denied => "denied",
            AdmissionResult::Error => "error",
            AdmissionResult::Busy => "busy",
        }
    }
}

impl EncodeLabelValue for AdmissionResult {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionResultLabels {
    pub outcome: AdmissionResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
}

/// A per-StatefulSet series: one label set per opted-in StatefulSet the controller keeps, removed
/// when it leaves (so the series are as many as the opted-in StatefulSets, not the pods).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatefulSetLabels {
    pub namespace: String,
    pub statefulset: String,
}

/// One access class this replica has read (as many series as the cluster's classes, which only the
/// platform creates).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// What the controller knows of one StatefulSet, for its gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BrokerCounts {
    /// Brokers whose external address is not known yet.
    pub waiting: i64,
    /// Running brokers that advertise an address other than the one they would be given now.
    pub drifted: i64,
    /// External Services kafka-advertiser keeps for it.
    pub services: i64,
    /// 1 when it names no access class although classes exist (`--tenancy open`, no default).
    pub unclassed: i64,
}

/// The per-StatefulSet gauges.
#[derive(Clone, Default)]
pub struct PerStatefulSet {
    waiting: Family<StatefulSetLabels, Gauge>,
    drifted: Family<StatefulSetLabels, Gauge>,
    services: Family<StatefulSetLabels, Gauge>,
}

impl PerStatefulSet {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "statefulset_brokers_waiting_for_address",
            "Brokers of the StatefulSet whose external address is not known yet",
            self.waiting.clone(),
        );
        registry.register(
            "statefulset_brokers_drifted",
            "Running brokers of the StatefulSet that advertise an address other than the one they would get now",
            self.drifted.clone(),
        );
        registry.register(
            "statefulset_managed_services",
            "External Services kafka-advertiser keeps for the StatefulSet",
            self.services.clone(),
        );
    }

    pub fn set(&self, namespace: &str, statefulset: &str, c: BrokerCounts) {
        let l = StatefulSetLabels { namespace: namespace.to_owned(), statefulset: statefulset.to_owned() };
        self.waiting.get_or_create(&l).set(c.waiting);
        self.drifted.get_or_create(&l).set(c.drifted);
        self.services.get_or_create(&l).set(c.services);
    }

    pub fn remove(&self, namespace: &str, statefulset: &str) {
        let l = StatefulSetLabels { namespace: namespace.to_owned(), statefulset: statefulset.to_owned() };
        self.waiting.remove(&l);
        self.drifted.remove(&l);
        self.services.remove(&l);
    }
}

pub struct Metrics {
    registry: Registry,
    /// The five admission counters, resolved once (no family lookup per request).
    by_outcome: [Counter; AdmissionResult::ALL.len()],
    pub latency: Histogram,
    pub cert_not_after: Gauge,
    pub cert_reloads: Family<ResultLabels, Counter>,
    pub reconciles: Counter,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub managed_services: Gauge,
    pub brokers_waiting: Gauge,
    pub unclassed: Gauge,
    pub leader: Gauge,
    pub statefulsets: PerStatefulSet,
    classes: Family<ClassLabels, Gauge>,
    /// The classes `classes` has a series for (the family does not list its own).
    classes_named: std::sync::Mutex<std::collections::BTreeSet<String>>,
    denials: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kafka_advertiser");
        let requests = Family::<AdmissionResultLabels, Counter>::default();
        registry.register("admission_requests", "Admission requests by outcome", requests.clone());
        // 50 µs .. ~1.6 s
        let latency = Histogram::new((0..16).map(|i| 0.00005 * 2f64.powi(i)));
        registry.register("admission_duration_seconds", "Time to answer one admission request", latency.clone());
        let cert_not_after = Gauge::default();
        registry.register(
            "tls_cert_not_after_seconds",
            "notAfter of the serving certificate, Unix seconds",
            cert_not_after.clone(),
        );
        let cert_reloads = Family::<ResultLabels, Counter>::default();
        registry.register("tls_cert_reloads", "Serving certificate reloads by result", cert_reloads.clone());
        let reconciles = Counter::default();
        registry.register("reconciles", "StatefulSet reconciles", reconciles.clone());
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register("reconcile_errors", "Reconcile errors by kind", reconcile_errors.clone());
        let reconcile_duration = Histogram::new((0..14).map(|i| 0.001 * 2f64.powi(i)));
        registry.register("reconcile_duration_seconds", "Time of one reconcile", reconcile_duration.clone());
        let managed_services = Gauge::default();
        registry.register("managed_services", "External Services owned by kafka-advertiser", managed_services.clone());
        let brokers_waiting = Gauge::default();
        registry.register(
            "brokers_waiting_for_address",
            "Brokers whose external Service has no address yet",
            brokers_waiting.clone(),
        );
        let unclassed = Gauge::default();
        registry.register(
            "statefulsets_without_class",
            "Opted-in StatefulSets that name no access class although classes exist (--tenancy open, no default): \
             their settings are unbounded",
            unclassed.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register("build_info", "The running release: 1, labelled with its version", build_info.clone());
        build_info.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        let leader = Gauge::default();
        registry.register("leader", "1 while this replica holds the Lease and writes, else 0", leader.clone());
        let statefulsets = PerStatefulSet::default();
        statefulsets.register(&mut registry);
        let classes = Family::<ClassLabels, Gauge>::default();
        registry.register(
            "access_class_generation",
            "metadata.generation of each ExternalAccessClass as this replica last read it (no series: not read yet)",
            classes.clone(),
        );
        let denials = Family::<ReasonLabels, Counter>::default();
        registry.register("admission_denials", "Admission requests denied, by reason", denials.clone());
        // Every reason from the start, so a rate over a counter that just appeared is not lost.
        for reason in crate::mutate::DENIAL_REASONS {
            drop(denials.get_or_create(&ReasonLabels { reason }));
        }
        let by_outcome =
            AdmissionResult::ALL.map(|outcome| requests.get_or_create(&AdmissionResultLabels { outcome }).clone());
        Self {
            registry,
            by_outcome,
            latency,
            cert_not_after,
            cert_reloads,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            managed_services,
            brokers_waiting,
            unclassed,
            leader,
            statefulsets,
            classes,
            classes_named: Default::default(),
            denials,
        }
    }

    /// The access classes as last read: `(name, metadata.generation)` each; the series of a class
    /// no longer there go.
    pub fn classes_read<'a>(&self, classes: impl IntoIterator<Item = (&'a str, i64)>) {
        let now: std::collections::BTreeMap<&str, i64> = classes.into_iter().collect();
        let mut named = self.classes_named.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        named.retain(|class| {
            let keep = now.contains_key(class.as_str());
            if !keep {
                self.classes.remove(&ClassLabels { class: class.clone() });
            }
            keep
        });
        for (class, generation) in now {
            named.insert(class.to_owned());
            self.classes.get_or_create(&ClassLabels { class: class.to_owned() }).set(generation);
        }
    }

    /// One denied admission, by its reason (one of `mutate::DENIAL_REASONS`).
    pub fn denied(&self, reason: &'static str) {
        self.denials.get_or_create(&ReasonLabels { reason }).inc();
    }

    pub fn admission(&self, outcome: AdmissionResult, seconds: f64) {
        debug_assert_eq!(AdmissionResult::ALL[outcome as usize], outcome);
        self.by_outcome[outcome as usize].inc();
        self.latency.observe(seconds);
    }

    pub fn cert_reloaded(&self, ok: bool, not_after: Option<i64>) {
        let result = if ok { "success" } else { "failure" };
        self.cert_reloads.get_or_create(&ResultLabels { result }).inc();
        if let Some(t) = not_after {
            self.cert_not_after.set(t);
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_statefulset_series_come_and_go_with_the_statefulset() {
        let m = Metrics::new();
        let c = BrokerCounts { waiting: 2, drifted: 1, services: 3, unclassed: 0 };
        m.statefulsets.set("team-a", "kafka", c);
        m.statefulsets.set("team-b", "kafka", BrokerCounts::default());
        let text = m.encode();
        let sts = r#"{namespace="team-a",statefulset="kafka"}"#;
        for line in [
            format!("kafka_advertiser_statefulset_brokers_waiting_for_address{sts} 2"),
            format!("kafka_advertiser_statefulset_brokers_drifted{sts} 1"),
            format!("kafka_advertiser_statefulset_managed_services{sts} 3"),
        ] {
            assert!(text.contains(&line), "{line} missing: {text}");
        }
        m.statefulsets.remove("team-a", "kafka");
        let text = m.encode();
        assert!(!text.contains("team-a") && text.contains("team-b"), "{text}");
    }

    #[test]
    fn each_class_read_has_its_generation_until_it_goes() {
        let m = Metrics::new();
        m.classes_read([("open", 1), ("dmz", 3)]);
        m.classes_read([("dmz", 4)]);
        let text = m.encode();
        assert!(text.contains(r#"kafka_advertiser_access_class_generation{class="dmz"} 4"#), "{text}");
        assert!(!text.contains(r#"class="open""#), "{text}");
    }

    #[test]
    fn denials_are_counted_by_reason_from_a_fixed_set() {
        let m = Metrics::new();
        m.denied("address_pending");
        let text = m.encode();
        assert!(text.contains(r#"kafka_advertiser_admission_denials_total{reason="address_pending"} 1"#), "{text}");
        for r in crate::mutate::DENIAL_REASONS {
            assert!(text.contains(&format!(r#"{{reason="{r}"}}"#)), "{r} not pre-registered: {text}");
        }
    }

    #[test]
    fn every_outcome_is_counted_under_its_own_label() {
        let m = Metrics::new();
        for o in AdmissionResult::ALL {
            m.admission(o, 0.001);
        }
        let text = m.encode();
        for o in AdmissionResult::ALL {
            assert!(text.contains(&format!("outcome=\"{}\"}} 1", o.as_str())), "{o:?}: {text}");
        }
    }
}
