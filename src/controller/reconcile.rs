//! One reconcile of one StatefulSet, in four steps: observe (caches → [`Observed`]), plan (pure),
//! apply (server-side apply, only what is not in place), report (Events, what to remember).
//! Level-triggered and idempotent: a reconcile with nothing to change sends nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;

use super::apply::{apply, Applied};
use super::context::{Context, ReconcileError};
use super::observe::observe;
use super::plan::{plan, Plan, SOON};
use super::report::report;

/// The longest one reconcile may take. The client sets no read timeout (watches are long
/// requests), so an API call on a connection that stopped answering would hold one of the
/// Controller's slots for good; all of them, and nothing is reconciled any more. A large
/// StatefulSet's reconcile is a few dozen calls of milliseconds each.
pub const RECONCILE_TIMEOUT: Duration = Duration::from_secs(120);

/// Reconcile one StatefulSet.
pub async fn reconcile(sts: Arc<StatefulSet>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let start = Instant::now();
    let key = ObjectRef::from_obj(&*sts);
    let bounded = tokio::time::timeout(RECONCILE_TIMEOUT, reconcile_once(sts, &ctx));
    let r = match bounded.await.unwrap_or(Err(ReconcileError::Timeout(RECONCILE_TIMEOUT))) {
        Err(ReconcileError::NotLeader) => Ok(Action::await_change()),
        r => r,
    };
    let m = &ctx.shared.metrics;
    m.reconciles.inc();
    m.reconcile_duration.observe(start.elapsed().as_secs_f64());
    if r.is_ok() {
        ctx.state().failures.remove(&key);
    }
    r
}

async fn reconcile_once(sts: Arc<StatefulSet>, ctx: &Context) -> Result<Action, ReconcileError> {
    if !ctx.is_leader() {
        // Followers keep their caches warm and never write.
        return Ok(Action::await_change());
    }
    if !ctx.shared.readiness.caches.load(std::sync::atomic::Ordering::Acquire) {
        // The plan reads the caches: not before they hold a full list.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let observed = observe(ctx, sts).await?;
    let plan = plan(&observed, &ctx.shared.defaults, &ctx.shared.addresses);
    let outcome = apply(ctx, &plan).await?;
    report(ctx, &observed.sts, &plan, &outcome).await;
    Ok(next(&plan, &outcome))
}

/// When to look again: the plan's answer, sooner when the API refused something.
fn next(plan: &Plan, outcome: &Applied) -> Action {
    match plan.requeue {
        Some(d) if outcome.refused > 0 => Action::requeue(d.min(SOON)),
        Some(d) => Action::requeue(d),
        None => Action::await_change(),
    }
}

/// Errors requeue with exponential back-off per StatefulSet (1 s … 5 min).
pub fn error_policy(sts: Arc<StatefulSet>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.shared.metrics.reconcile_errors.get_or_create(&crate::metrics::ErrorLabels { kind: err.kind() }).inc();
    let key = ObjectRef::from_obj(&*sts);
    let mut st = ctx.state();
    let n = st.failures.entry(key).or_insert(0);
    *n = n.saturating_add(1);
    let delay = Duration::from_secs(1u64 << (*n - 1).min(8)).min(Duration::from_secs(300));
    tracing::warn!(statefulset = %sts.name_any(), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}
