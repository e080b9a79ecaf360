//! `kafka-advertiser status`: what each broker of the opted-in StatefulSets advertises, and why it
//! waits or drifts, read from the cluster with the user's kubeconfig. The report is a pure function of
//! the objects read ([`report`]), printed by [`view`]; the command only fetches them.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client, ResourceExt};

mod report;
pub mod version;
pub mod view;
mod watch;

pub use report::{report, Broker, Report, State};
pub use view::render;

use crate::config::StatusArgs;
use crate::controller::published::KEY_TENANCY;
use crate::mutate::Defaults;
use crate::names::{MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL, STATEFULSET_LABEL};
use crate::spec::class::{Class, ClassSource, Classes, Tenancy};

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot reach the cluster with your kubeconfig: {0}")]
    Config(String),
    #[error("StatefulSet {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
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

/// The access classes as the controller sees them: every ExternalAccessClass the user may list (none
/// when the CRD is not served or the list is refused), the tenancy switch the controller published,
/// and the labels of the namespaces in the report (when a class selects namespaces and the user may
/// read them).
#[derive(Debug, Clone, Default)]
pub struct Platform {
    pub classes: Option<Arc<Classes>>,
    pub namespace_labels: BTreeMap<String, Arc<BTreeMap<String, String>>>,
    /// Why the classes could not be read (the report says so: classes are then not applied).
    pub unreadable: Option<String>,
}

impl ClassSource for Platform {
    fn classes(&self) -> Option<Arc<Classes>> {
        self.classes.clone()
    }

    fn namespace_labels(&self, namespace: &str) -> Option<Arc<BTreeMap<String, String>>> {
        self.namespace_labels.get(namespace).cloned()
    }
}

async fn platform(client: &Client, tenancy: Tenancy, namespaces: &[String]) -> Platform {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &crate::controller::classes::resource());
    let (listed, unreadable) = match api.list(&ListParams::default()).await {
        Ok(l) => (l.items, None),
        // The CRD is not installed: no classes.
        Err(kube::Error::Api(s)) if s.code == 404 => (Vec::new(), None),
        Err(e) => {
            (Vec::new(), Some(format!("cannot list ExternalAccessClasses ({e}); access classes are not applied")))
        }
    };
    let classes: Vec<Arc<Class>> = (listed.iter())
        .filter_map(|o| Some(Class::from_object(&serde_json::to_value(o).ok()?)))
        .map(Arc::new)
        .collect();
    let mut namespace_labels = BTreeMap::new();
    if classes.iter().any(|c| c.spec.namespace_selector.is_some()) {
        for ns in namespaces {
            let read = Api::<Namespace>::all(client.clone()).get_opt(ns).await.ok().flatten();
            if let Some(n) = read {
                namespace_labels.insert(ns.clone(), Arc::new(n.metadata.labels.unwrap_or_default()));
            }
        }
    }
    let classes = unreadable.is_none().then(|| Arc::new(Classes { tenancy, classes }));
    Platform { classes, namespace_labels, unreadable }
}

/// Read the StatefulSets in scope, their Services, pods and Events and the access classes with the
/// user's kubeconfig; report.
pub async fn reports(
    client: &Client,
    scope: &Scope,
    defaults: &Defaults,
    tenancy: Tenancy,
) -> Result<Vec<Report>, StatusError> {
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
            .filter(crate::spec::opted_in)
            .collect(),
    };
    if statefulsets.is_empty() {
        return Ok(Vec::new());
    }
    let mut namespaces: Vec<String> = statefulsets.iter().filter_map(|s| s.namespace()).collect();
    namespaces.dedup();
    let platform = platform(client, tenancy, &namespaces).await;
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
            let mut r = report(sts, &svcs, &owned, &evs, defaults, &platform);
            r.warnings.extend(platform.unreadable.iter().map(|u| format!("status: {u}")));
            r
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(out)
}

/// The server's defaults (each flag given, else what the controller published, else the built-in
/// one) and its tenancy switch (as published, else open).
async fn server_defaults(client: &Client, args: &StatusArgs) -> (Defaults, Tenancy) {
    let published =
        crate::install::published(client, &args.install_namespace, args.settings_configmap.as_deref()).await;
    let tenancy = (published.get(KEY_TENANCY))
        .and_then(|t| <Tenancy as clap::ValueEnum>::from_str(t, false).ok())
        .unwrap_or_default();
    let base = crate::controller::published::defaults_from(&published).unwrap_or_default();
    let defaults = Defaults {
        mode: args.default_mode.unwrap_or(base.mode),
        cluster_domain: args.cluster_domain.clone().unwrap_or(base.cluster_domain),
        max_brokers: base.max_brokers,
    };
    (defaults, tenancy)
}

/// How a `status` run ends: 0 every broker advertises its address, 1 some wait or drift, 2 an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ready = 0,
    NotReady = 1,
}

impl StatusError {
    /// The command's error, with its reason.
    pub fn failure(&self) -> crate::output::Failure {
        let reason = match self {
            StatusError::Config(_) => "ClusterUnreachable",
            StatusError::NotFound { .. } => "NotFound",
            StatusError::Kube(kube::Error::Api(_)) => "ApiError",
            // Transport, TLS, auth plugin: the cluster was not reached.
            StatusError::Kube(_) => "ClusterUnreachable",
        };
        crate::output::Failure::error(reason, self.to_string())
    }
}

impl StatusArgs {
    /// `-o` as a format (`wide` and the default table are text).
    pub fn format(&self) -> crate::output::Format {
        match self.output {
            Some(crate::config::StatusOutput::Json) => crate::output::Format::Json,
            Some(crate::config::StatusOutput::Yaml) => crate::output::Format::Yaml,
            _ => crate::output::Format::Text,
        }
    }
}

/// `kafka-advertiser status`: print, once or (--watch) on every change, or (--wait) until ready.
pub async fn run(args: &StatusArgs, print: impl Fn(&str)) -> Result<Verdict, StatusError> {
    let client = crate::install::user_client(args.kubeconfig.as_deref(), args.context.as_deref())
        .await
        .map_err(StatusError::Config)?;
    let ns = args.namespace.clone().unwrap_or_else(|| client.default_namespace().to_owned());
    let scope = match (&args.statefulset, args.all_namespaces) {
        (Some(name), _) => Scope::One { namespace: ns, name: name.clone() },
        (None, true) => Scope::All,
        (None, false) => Scope::Namespace(ns),
    };
    let (defaults, tenancy) = server_defaults(&client, args).await;
    let deadline = tokio::time::Instant::now() + args.timeout;
    let mut changes = (args.watch || args.wait).then(|| watch::changes(&client, &scope));
    let mut last = String::new();
    loop {
        let reports = reports(&client, &scope, &defaults, tenancy).await?;
        let ready = reports.iter().all(Report::healthy);
        let text = view::output(&reports, matches!(scope, Scope::One { .. }), args.all_namespaces, args.output);
        let done = !args.watch && (!args.wait || ready || tokio::time::Instant::now() >= deadline);
        if (args.watch && text != last) || done {
            print(&text);
        }
        if done {
            return Ok(if ready { Verdict::Ready } else { Verdict::NotReady });
        }
        last = text;
        let Some(changes) = changes.as_mut() else { continue };
        let settle = std::time::Duration::from_millis(300);
        // --wait reads once more at its deadline; --watch waits for changes only.
        let more = match args.watch {
            true => watch::next(changes, settle).await,
            false => tokio::time::timeout_at(deadline, watch::next(changes, settle)).await.unwrap_or(true),
        };
        if !more {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    }
}
