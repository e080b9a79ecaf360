//! Test fixtures shared by the unit tests: a StatefulSet's desired objects straight from the
//! StatefulSet (its intent worked out and kept for the test's lifetime).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;

use crate::controller::desired::{self, Desired};
use crate::mutate::NoAddresses;
use crate::spec::class::ClassSource;
use crate::spec::settings::Defaults;
use crate::spec::{self, Intent, IntentError};

/// The intent of an opted-in StatefulSet under `view`'s classes, kept for the rest of the test.
pub fn intent_in(
    sts: &StatefulSet,
    defaults: &Defaults,
    view: &dyn ClassSource,
) -> Result<&'static Intent, IntentError> {
    let intent = spec::intent(&Arc::new(sts.clone()), defaults, view)?.expect("the fixture is opted in");
    Ok(Box::leak(Box::new(intent)))
}

/// The Services of an opted-in StatefulSet with no access class.
pub fn desired(sts: &StatefulSet, defaults: &Defaults) -> Result<Desired<'static>, IntentError> {
    desired_in(sts, defaults, &NoAddresses)
}

/// The Services of an opted-in StatefulSet under `view`'s classes.
pub fn desired_in(
    sts: &StatefulSet,
    defaults: &Defaults,
    view: &dyn ClassSource,
) -> Result<Desired<'static>, IntentError> {
    Ok(desired::desired(intent_in(sts, defaults, view)?)?)
}

/// A StatefulSet fixture, opted in: `app: <name>` selects its pods, one container `kafka`.
/// `StatefulSetFixture::new("events", "prod").replicas(3).annotations(json!({..})).build()`.
pub struct StatefulSetFixture(serde_json::Value);

impl StatefulSetFixture {
    pub fn new(name: &str, namespace: &str) -> Self {
        StatefulSetFixture(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": namespace, "uid": format!("{name}-uid")},
            "spec": {
                "replicas": 1, "serviceName": format!("{name}-hs"),
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name, crate::names::ENABLED_LABEL: "true"}},
                    "spec": {"containers": [{"name": "kafka", "image": "apache/kafka"}]}
                }
            }
        }))
    }

    pub fn uid(mut self, uid: &str) -> Self {
        self.0["metadata"]["uid"] = uid.into();
        self
    }

    /// `metadata.creationTimestamp` (RFC 3339).
    pub fn created(mut self, at: &str) -> Self {
        self.0["metadata"]["creationTimestamp"] = at.into();
        self
    }

    pub fn replicas(mut self, replicas: i32) -> Self {
        self.0["spec"]["replicas"] = replicas.into();
        self
    }

    /// `spec.ordinals.start`, when given.
    pub fn start(mut self, start: Option<i32>) -> Self {
        if let Some(s) = start {
            self.0["spec"]["ordinals"] = serde_json::json!({"start": s});
        }
        self
    }

    pub fn service_name(mut self, headless: &str) -> Self {
        self.0["spec"]["serviceName"] = headless.into();
        self
    }

    /// The pod template's annotations.
    pub fn annotations(mut self, annotations: serde_json::Value) -> Self {
        self.0["spec"]["template"]["metadata"]["annotations"] = annotations;
        self
    }

    /// The broker container (replacing the default one).
    pub fn container(mut self, container: serde_json::Value) -> Self {
        self.0["spec"]["template"]["spec"]["containers"] = serde_json::json!([container]);
        self
    }

    pub fn build(self) -> StatefulSet {
        serde_json::from_value(self.0).expect("a valid StatefulSet")
    }
}

/// The bytes of a review in `tests/fixtures/` (shared with the integration tests' `fixture`).
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A review in `tests/fixtures/`, parsed.
pub fn fixture(name: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture_bytes(name)).expect("a JSON fixture")
}

/// `events` in `namespace` (uid `uid-1`, the broker's port named `external` on 19094): the fixture the
/// desired-Services and Gateway tests share.
pub fn events_statefulset(
    replicas: i32,
    start: Option<i32>,
    namespace: &str,
    annotations: serde_json::Value,
) -> StatefulSet {
    StatefulSetFixture::new("events", namespace)
        .uid("uid-1")
        .replicas(replicas)
        .start(start)
        .annotations(annotations)
        .container(serde_json::json!({"name": "kafka", "image": "apache/kafka",
            "ports": [{"name": "external", "containerPort": 19094}]}))
        .build()
}
