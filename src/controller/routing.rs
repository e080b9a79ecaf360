//! The I/O half of the gateway modes and broker certificates: reads the user's Gateway, applies this
//! StatefulSet's listeners, routes and Certificates (server-side apply), removes the ones no longer
//! wanted. What to write comes from [`super::gateway`]; problems go back as `(reason, message)` for
//! Warning Events on the StatefulSet.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

use super::desired::{Desired, MANAGED_BY, MANAGED_BY_LABEL, ORDINAL_LABEL, STATEFULSET_LABEL};
use super::gateway::{self, GatewayPlan};
use super::reconcile::{apply_params, delete_if_present, refused, still_leader, Context, ReconcileError};

pub type Problems = Vec<(&'static str, String)>;

/// What the controller saw of the user's Gateway.
pub struct Observed {
    pub address: Option<String>,
    pub exists: bool,
}

fn gateways(ctx: &Context, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(ctx.shared.client.clone(), namespace, &gateway::gateway_resource())
}

/// Read the Gateway: its address and what is wrong with it for this StatefulSet.
pub async fn observe(
    ctx: &Context,
    d: &Desired,
    plan: &GatewayPlan,
    problems: &mut Problems,
) -> Result<Observed, ReconcileError> {
    let gw = match gateways(ctx, &plan.namespace).get_opt(&plan.name).await {
        Ok(gw) => gw,
        Err(kube::Error::Api(s)) if refused(s.code) => {
            problems.push(("GatewayUnreadable", format!("cannot read Gateway {}: {}", plan.gateway(), s.message)));
            return Ok(Observed { address: None, exists: false });
        }
        Err(e) => return Err(e.into()),
    };
    let Some(gw) = gw else {
        problems.push((
            "GatewayNotFound",
            format!(
                "Gateway {} does not exist ({}): create it, or install the Gateway API CRDs if they are missing",
                plan.gateway(),
                crate::mutate::settings::ANN_GATEWAY
            ),
        ));
        return Ok(Observed { address: None, exists: false });
    };
    // A namespace selector on the user's listener is judged against the namespace's labels.
    let selector = gw.data["spec"]["listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|l| l["allowedRoutes"]["namespaces"]["from"] == "Selector");
    let labels: Option<BTreeMap<String, String>> = if selector && plan.namespace != d.namespace {
        Api::<Namespace>::all(ctx.shared.client.clone())
            .get_opt(&d.namespace)
            .await
            .ok()
            .flatten()
            .map(|n| n.metadata.labels.unwrap_or_default())
    } else {
        None
    };
    problems.extend(gateway::gateway_problems(&gw, d, labels.as_ref()));
    sweep(ctx, &gw, plan, d).await?;
    Ok(Observed { address: gateway::gateway_address(&gw), exists: true })
}

/// Release the listeners of StatefulSets that are gone: one deleted while no replica led missed the
/// release its Delete event triggers. Their field managers (`kafka-advertiser/<namespace>/<name>`) on the
/// Gateway say whose they were.
async fn sweep(ctx: &Context, gw: &DynamicObject, plan: &GatewayPlan, d: &Desired) -> Result<(), ReconcileError> {
    let own = gateway::listener_manager(&d.namespace, &d.name);
    let mut seen = std::collections::BTreeSet::new();
    for m in gw.metadata.managed_fields.iter().flatten() {
        let Some(manager) = m.manager.as_deref().filter(|m| *m != own && seen.insert(m.to_owned())) else {
            continue;
        };
        // A hashed (over-long) manager name cannot be traced back: left alone.
        let Some((ns, sts)) = manager.strip_prefix("kafka-advertiser/").and_then(|r| r.split_once('/')) else {
            continue;
        };
        match Api::<StatefulSet>::namespaced(ctx.shared.client.clone(), ns).get_opt(sts).await {
            Ok(None) => {
                still_leader(ctx)?;
                tracing::info!(gateway = %plan.gateway(), namespace = ns, statefulset = sts, "releasing the listeners of a deleted StatefulSet");
                release_listeners(&ctx.shared.client, &plan.gateway(), ns, sts).await?;
            }
            Ok(Some(_)) => {}
            // Not ours to read (a namespace-scoped install): its own install releases them.
            Err(e) => tracing::debug!(error = %e, namespace = ns, statefulset = sts, "cannot check a listener owner"),
        }
    }
    Ok(())
}

/// Apply this StatefulSet's listeners to the Gateway under its own field manager, never forcing: a
/// listener of the same name owned by someone else is reported, not taken.
pub async fn apply_listeners(
    ctx: &Context,
    d: &Desired,
    plan: &GatewayPlan,
    problems: &mut Problems,
) -> Result<(), ReconcileError> {
    if d.settings.mode != crate::mutate::Mode::GatewayTcp {
        return Ok(());
    }
    let pp = PatchParams::apply(&gateway::listener_manager(&d.namespace, &d.name));
    still_leader(ctx)?;
    match gateways(ctx, &plan.namespace).patch(&plan.name, &pp, &Patch::Apply(&plan.listeners_patch())).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            problems.push((
                "GatewayListenerConflict",
                format!(
                    "a listener kafka-advertiser adds to Gateway {} is already set by another field manager; \
                     rename that listener: {}",
                    plan.gateway(),
                    s.message
                ),
            ));
            Ok(())
        }
        Err(kube::Error::Api(s)) if refused(s.code) => {
            problems.push((
                "GatewayApplyFailed",
                format!("the API refused this StatefulSet's listeners on Gateway {}: {}", plan.gateway(), s.message),
            ));
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Remove this StatefulSet's listeners from a Gateway (the one it no longer uses, or after it is gone).
pub async fn release_listeners(
    client: &kube::Client,
    gateway_ref: &str,
    namespace: &str,
    statefulset: &str,
) -> Result<(), kube::Error> {
    let Some((gw_ns, gw_name)) = gateway_ref.split_once('/') else {
        return Ok(());
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), gw_ns, &gateway::gateway_resource());
    // Applying no listeners under this StatefulSet's manager drops the ones it owned; a Gateway
    // that is gone (or an API without Gateways) has nothing to release.
    let manager = gateway::listener_manager(namespace, statefulset);
    let gw = match api.get_opt(gw_name).await {
        Ok(Some(gw)) => gw,
        Ok(None) => return Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(e),
    };
    // Nothing of this StatefulSet's on it (gateway-tls adds no listener): no write.
    if !gw.metadata.managed_fields.iter().flatten().any(|m| m.manager.as_deref() == Some(manager.as_str())) {
        return Ok(());
    }
    let pp = PatchParams::apply(&manager);
    let body = gateway::listeners_patch(gw_ns, gw_name, &[]);
    match api.patch(gw_name, &pp, &Patch::Apply(&body)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Keep exactly `wanted` of one kind for this StatefulSet: apply each, delete the others — a
/// scaled-away broker's only once its pod is gone (it keeps its route and certificate while it shuts
/// down). `keep_in_range`: an unwanted object of a broker in range is kept (a Certificate whose
/// address is briefly unknown). Returns the applied objects (with their status) and whether a broker is still draining.
pub async fn sync(
    ctx: &Context,
    d: &Desired,
    ar: &ApiResource,
    wanted: &[(Option<u32>, DynamicObject)],
    keep_in_range: bool,
    problems: &mut Problems,
) -> Result<(Vec<DynamicObject>, bool), ReconcileError> {
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.shared.client.clone(), &d.namespace, ar);
    let kind = ar.kind.as_str();
    let mut applied = Vec::new();
    let mut failed = false;
    for (_, obj) in wanted {
        let name = obj.name_any();
        still_leader(ctx)?;
        match api.patch(&name, &apply_params(), &Patch::Apply(obj)).await {
            Ok(o) => applied.push(o),
            Err(kube::Error::Api(s)) if refused(s.code) => {
                failed = true;
                // 404 on an apply: the kind is not served.
                let hint = if s.code == 404 {
                    format!(" (is the {} API installed? its CRDs are needed)", ar.group)
                } else {
                    String::new()
                };
                problems.push((apply_failed(kind), format!("the API refused {kind} {name}: {}{hint}", s.message)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let existing = match list(ctx, &d.namespace, &d.name, ar).await {
        Ok(l) => l,
        Err(e) if failed => {
            tracing::debug!(error = %e, kind, "cannot list after a refused apply");
            return Ok((applied, false));
        }
        Err(e) => return Err(e),
    };
    let mut draining = false;
    for obj in existing {
        let name = obj.name_any();
        if wanted.iter().any(|(_, w)| w.metadata.name.as_deref() == Some(name.as_str())) {
            continue;
        }
        if let Some(o) = obj.labels().get(ORDINAL_LABEL).and_then(|o| o.parse::<u32>().ok()) {
            if d.ordinals().contains(&o) && keep_in_range {
                continue;
            }
            if !d.ordinals().contains(&o) && pod_exists(ctx, d, o) {
                draining = true;
                continue;
            }
        }
        still_leader(ctx)?;
        delete_if_present(&api, &name).await?;
    }
    Ok((applied, draining))
}

fn apply_failed(kind: &str) -> &'static str {
    match kind {
        "Certificate" => "CertificateApplyFailed",
        _ => "RouteApplyFailed",
    }
}

fn pod_exists(ctx: &Context, d: &Desired, ordinal: u32) -> bool {
    let pod = format!("{}-{ordinal}", d.name);
    ctx.pods.state().iter().any(|p| {
        p.metadata.namespace.as_deref() == Some(d.namespace.as_str())
            && p.metadata.name.as_deref() == Some(pod.as_str())
    })
}

async fn list(
    ctx: &Context,
    namespace: &str,
    statefulset: &str,
    ar: &ApiResource,
) -> Result<Vec<DynamicObject>, ReconcileError> {
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.shared.client.clone(), namespace, ar);
    let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY},{STATEFULSET_LABEL}={statefulset}");
    match api.list(&ListParams::default().labels(&selector)).await {
        Ok(l) => Ok(l.items),
        // The kind is not served (its CRDs are not installed): there is nothing of it to keep.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Remove every object of one kind this StatefulSet has (a mode, Gateway or issuer it left).
pub async fn remove_all(
    ctx: &Context,
    namespace: &str,
    statefulset: &str,
    ar: &ApiResource,
) -> Result<(), ReconcileError> {
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.shared.client.clone(), namespace, ar);
    for obj in list(ctx, namespace, statefulset, ar).await? {
        still_leader(ctx)?;
        delete_if_present(&api, &obj.name_any()).await?;
    }
    Ok(())
}

/// What the StatefulSet records about where its gateway objects and certificates are.
pub fn recorded(sts: &StatefulSet) -> (Option<String>, bool) {
    let a = sts.annotations();
    (a.get(gateway::ANN_ROUTED_THROUGH).cloned(), a.get(gateway::ANN_CERTIFICATES).is_some_and(|v| v == "true"))
}

/// Release what this StatefulSet had through a Gateway or an issuer it no longer uses: listeners on
/// the Gateway it recorded, routes of a kind it no longer wants, Certificates without an issuer.
pub async fn release_unused(
    ctx: &Context,
    sts: &StatefulSet,
    plan: Option<&GatewayPlan>,
    route_kind: Option<&str>,
    certificates: bool,
) -> Result<(), ReconcileError> {
    let (Some(ns), Some(name)) = (sts.metadata.namespace.as_deref(), sts.metadata.name.as_deref()) else {
        return Ok(());
    };
    let (routed, certified) = recorded(sts);
    if let Some(old) = &routed {
        // Another Gateway, or the same one without listeners of ours any more (gateway-tcp → gateway-tls).
        if plan.is_none_or(|p| &p.gateway() != old || p.listeners.is_empty()) {
            still_leader(ctx)?;
            release_listeners(&ctx.shared.client, old, ns, name).await?;
        }
        for kind in gateway::ROUTE_KINDS {
            if route_kind != Some(kind) {
                remove_all(ctx, ns, name, &gateway::route_resource(kind)).await?;
            }
        }
    }
    if certified && !certificates {
        remove_all(ctx, ns, name, &gateway::certificate_resource()).await?;
    }
    Ok(())
}
