//! Apply: carry out a [`Plan`] against the API. One generic server-side apply and one generic
//! delete for every kind, one place for field managers, the leadership check before every write,
//! and the API's refusals turned into Events instead of errors.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, DynamicObject, EvictParams, Patch, PatchParams};
use kube::Api;

use super::context::{refused, Context, ReconcileError};
use super::gateway;
use super::kinds::Kind;
use super::plan::{Apply, Delete, Evict, Note, Plan, Release};
use crate::names::{listener_manager, FIELD_MANAGER, RELEASED_MANAGER};

/// What carrying out a plan gave.
#[derive(Debug, Default)]
pub struct Applied {
    /// Events of what was done (a Service created, deleted, a pod evicted) and of refusals that
    /// are reported every time (Services, ConfigMaps).
    pub events: Vec<Note>,
    /// Refusals reported with the plan's object problems (Gateway, routes, Certificates).
    pub problems: Vec<Note>,
    /// Objects the API refused (retried soon).
    pub refused: u32,
    pub evicted: bool,
}

/// Checked before every write: a replica that lost the Lease stops writing promptly.
pub fn still_leader(ctx: &Context) -> Result<(), ReconcileError> {
    if ctx.is_leader() {
        Ok(())
    } else {
        Err(ReconcileError::NotLeader)
    }
}

fn api(ctx: &Context, kind: Kind, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(ctx.shared.client.clone(), namespace, &kind.resource())
}

/// An object we are about to create exists already and someone else made it (no controller owner
/// reference with our StatefulSet's UID): never taken over, whatever its labels say. One of ours
/// the cache has not seen yet (made a moment ago) is not a conflict.
async fn taken(ctx: &Context, a: &Apply) -> Result<Option<Note>, ReconcileError> {
    let existing = match api(ctx, a.kind, &a.namespace).get_opt(&a.name).await {
        Ok(o) => o,
        // Unreadable: whose it is cannot be told, so it is not written (fail closed).
        Err(kube::Error::Api(s)) if refused(s.code) => {
            let note =
                format!("cannot read {} {} to check it is not someone else's: {}", a.kind.name(), a.name, s.message);
            return Ok(Some(Note::warning(a.kind.apply_failed(), note, None)));
        }
        Err(e) => return Err(e.into()),
    };
    let owner = &a.body["metadata"]["ownerReferences"][0];
    let ours =
        |o: &DynamicObject| {
            o.metadata.owner_references.iter().flatten().any(|r| {
                r.controller == Some(true) && owner["uid"].as_str().is_some_and(|u| !u.is_empty() && u == r.uid)
            })
        };
    Ok(existing.filter(|o| !ours(o)).map(|o| {
        let sts = owner["name"].as_str().unwrap_or_default();
        // Related to the object in question: one Event per object (Events are deduplicated by it).
        let related = k8s_openapi::api::core::v1::ObjectReference {
            api_version: o.types.as_ref().map(|t| t.api_version.clone()),
            kind: Some(a.kind.name().to_owned()),
            namespace: Some(a.namespace.clone()),
            name: Some(a.name.clone()),
            uid: o.metadata.uid.clone(),
            ..Default::default()
        };
        Note::warning(
            "OwnershipConflict",
            format!(
                "{} {} exists and was not made by kafka-advertiser for StatefulSet {sts} (no owner reference to it); \
                 leaving it alone: rename or delete it",
                a.kind.name(),
                a.name
            ),
            Some(related),
        )
    }))
}

/// Every write of the plan, in order: applies, deletes, then the eviction.
pub async fn apply(ctx: &Context, plan: &Plan) -> Result<Applied, ReconcileError> {
    let mut out = Applied::default();
    for a in &plan.apply {
        apply_one(ctx, a, &mut out).await?;
    }
    for d in &plan.delete {
        delete_one(ctx, d, &mut out).await?;
    }
    for r in &plan.release {
        release_one(ctx, r, &mut out).await?;
    }
    if let Some(e) = &plan.evict {
        evict(ctx, e, &mut out).await?;
    }
    Ok(out)
}

/// Give a Service back: its fields under [`RELEASED_MANAGER`] first (never forced), and only once
/// that took, nothing under our own manager. Were the first refused, dropping ours would strip the
/// Service of its type and ports, and with them its address: the second is not sent.
async fn release_one(ctx: &Context, r: &Release, out: &mut Applied) -> Result<(), ReconcileError> {
    let (api, pp) = (api(ctx, Kind::Service, &r.namespace), PatchParams::apply(RELEASED_MANAGER));
    still_leader(ctx)?;
    let nothing = serde_json::json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": r.name, "namespace": r.namespace}});
    let done = match api.patch(&r.name, &pp, &Patch::Apply(&r.keep)).await {
        Ok(_) => api.patch(&r.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&nothing)).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => out.events.push(r.done.clone()),
        Err(kube::Error::Api(s)) if refused(s.code) => {
            let note = format!("could not release Service {}: {}; it stays as it is, retried", r.name, s.message);
            let related = Some(super::plan::service_ref(&r.namespace, &r.name));
            out.events.push(Note { related, ..Note::warning(Kind::Service.apply_failed(), note, None) });
            out.refused += 1;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// One server-side apply: forced under [`FIELD_MANAGER`] for objects we own; never forced under a
/// StatefulSet's listener manager on a user's Gateway (a listener someone else holds is reported).
async fn apply_one(ctx: &Context, a: &Apply, out: &mut Applied) -> Result<(), ReconcileError> {
    let pp = match &a.manager {
        None => PatchParams::apply(FIELD_MANAGER).force(),
        Some(m) => PatchParams::apply(m),
    };
    still_leader(ctx)?;
    if a.fresh {
        if let Some(note) = taken(ctx, a).await? {
            out.events.push(note);
            out.refused += 1;
            return Ok(());
        }
    }
    let err = match api(ctx, a.kind, &a.namespace).patch(&a.name, &pp, &Patch::Apply(&a.body)).await {
        Ok(_) => {
            out.events.extend(a.done.clone());
            return Ok(());
        }
        Err(kube::Error::Api(s)) => s,
        Err(e) => return Err(e.into()),
    };
    let what = format!("{} {}", a.kind.name(), a.name);
    let note = match (a.kind, err.code) {
        // The Gateway went away between the read and the write: nothing of ours is on it.
        (Kind::Gateway, 404) => return Ok(()),
        (Kind::Gateway, 409) => Note::warning(
            "GatewayListenerConflict",
            format!(
                "a listener kafka-advertiser adds to Gateway {}/{} is already set by another field manager; rename \
                 that listener: {}",
                a.namespace, a.name, err.message
            ),
            None,
        ),
        (Kind::Gateway, 403) => Note::warning(
            Kind::Gateway.apply_failed(),
            format!(
                "kafka-advertiser may not add listeners to Gateway {}/{}: the platform grants that per Gateway (chart \
                 value controller.gateways, or a Role with resourceNames: [{}] and verb patch bound to the \
                 controller's ServiceAccount; README \"Security\"). The API said: {}",
                a.namespace, a.name, a.name, err.message
            ),
            None,
        ),
        (Kind::StatefulSet, _) => return Err(kube::Error::Api(err).into()),
        (_, code) if refused(code) => {
            // 404 on an apply: the kind is not served.
            let hint = if code == 404 && !a.kind.group().is_empty() {
                format!(" (is the {} API installed? its CRDs are needed)", a.kind.group())
            } else {
                String::new()
            };
            tracing::warn!(object = %what, code, message = %err.message, "refused by the API");
            Note::warning(a.kind.apply_failed(), format!("the API refused {what}: {}{hint}", err.message), None)
        }
        _ => return Err(kube::Error::Api(err).into()),
    };
    out.refused += 1;
    match a.kind {
        Kind::Service | Kind::ConfigMap => {
            let related = (a.kind == Kind::Service).then(|| super::plan::service_ref(&a.namespace, &a.name));
            out.events.push(Note { related, ..note });
        }
        _ => out.problems.push(note),
    }
    Ok(())
}

/// Delete an object; one already gone (the garbage collector, another replica) is not an error.
async fn delete_one(ctx: &Context, d: &Delete, out: &mut Applied) -> Result<(), ReconcileError> {
    still_leader(ctx)?;
    match api(ctx, d.kind, &d.namespace).delete(&d.name, &DeleteParams::default()).await {
        Ok(_) => out.events.extend(d.done.clone()),
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

async fn evict(ctx: &Context, e: &Evict, out: &mut Applied) -> Result<(), ReconcileError> {
    still_leader(ctx)?;
    let (pod, pods) = (e.pod.as_str(), Api::<Pod>::namespaced(ctx.shared.client.clone(), &e.namespace));
    match pods.evict(pod, &EvictParams::default()).await {
        Ok(_) => {
            out.evicted = true;
            out.events.push(e.done.clone());
        }
        // 429: a PodDisruptionBudget forbids it right now; try again later.
        Err(kube::Error::Api(s)) if s.code == 429 => {
            tracing::info!(pod, "eviction blocked by a PodDisruptionBudget; retrying later");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Remove a deleted StatefulSet's listeners from the Gateway it recorded (its routes and
/// Certificates go with it by owner reference; listeners are fields of the user's Gateway).
pub async fn release_listeners(
    client: &kube::Client,
    leader: &tokio::sync::watch::Receiver<bool>,
    gateway_ref: &str,
    namespace: &str,
    statefulset: &str,
) -> Result<(), kube::Error> {
    let Some((gw_ns, gw_name)) = gateway_ref.split_once('/') else {
        return Ok(());
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), gw_ns, &Kind::Gateway.resource());
    let manager = listener_manager(namespace, statefulset);
    let gw = match api.get_opt(gw_name).await {
        Ok(Some(gw)) => gw,
        Ok(None) => return Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(e),
    };
    // Nothing of this StatefulSet's on it (gateway-tls adds no listener): no write.
    if gateway::owned_listeners(&gw, &manager).is_empty() {
        return Ok(());
    }
    let body = gateway::listeners_patch(gw_ns, gw_name, &[]);
    // Fencing: a replica that lost the Lease since the StatefulSet went does not write.
    if !*leader.borrow() {
        return Ok(());
    }
    match api.patch(gw_name, &PatchParams::apply(&manager), &Patch::Apply(&body)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
