//! Leader election: every replica keeps the caches; only the holder of the Lease writes.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::context::ControllerConfig;
use crate::metrics::Metrics;
use crate::names::FIELD_MANAGER;

/// Hold the Lease while we can; publish whether we lead. Retries with back-off while the API is
/// unreachable (the watches keep the webhook's view meanwhile).
///
/// kube-lease-manager reports losing the Lease only when a renewal reads back another holder; while
/// the API is unreachable it retries and keeps reporting leadership. So the leader also confirms the
/// Lease itself: when the API has not shown it as the holder within the renew deadline, it steps
/// down (stops writing, drops the manager) before another replica can take the expired Lease.
pub async fn lead(
    client: Client,
    settings: ControllerConfig,
    leader: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let publish = |is_leader: bool| {
        metrics.leader.set(i64::from(is_leader));
        if publish_leadership(&leader, is_leader) {
            tracing::info!(leader = is_leader, identity = %settings.identity, "leadership changed");
        }
    };
    let mut delay = Duration::from_secs(1);
    loop {
        let stepped_down = match manager(&client, &settings).await {
            Ok(m) => hold(&client, &settings, m, &leader, &publish, &stop).await,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "leader election unavailable");
                true
            }
        };
        if stop.is_cancelled() {
            return;
        }
        if stepped_down {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        } else {
            delay = Duration::from_secs(1);
        }
    }
}

/// The Lease duration in whole seconds, and the renew deadline: renewals happen every
/// `duration - grace`, so the deadline leaves room for at least one.
fn timing(settings: &ControllerConfig) -> (u64, Duration) {
    let duration = settings.lease.duration.as_secs().max(2);
    let deadline = settings.lease.renew_deadline.min(Duration::from_secs(duration) * 2 / 3).max(Duration::from_secs(1));
    (duration, deadline)
}

async fn manager(
    client: &Client,
    settings: &ControllerConfig,
) -> Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError> {
    let (duration, _) = timing(settings);
    kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &settings.lease.name)
        .with_namespace(&settings.lease.namespace)
        .with_identity(&settings.identity)
        .with_duration(duration)
        .with_grace((duration / 3).max(1))
        // One field manager per replica: the server-side-apply conflict between managers is what
        // keeps two replicas from taking the Lease at once.
        .with_field_manager(format!("{FIELD_MANAGER}-lease-{}", settings.identity))
        .build()
        .await
}

/// Follow one Lease manager until it stops, we stop, or the API stops confirming us. Returns
/// whether we stepped down (then the caller backs off before trying again).
async fn hold(
    client: &Client,
    settings: &ControllerConfig,
    manager: kube_lease_manager::LeaseManager,
    leader: &watch::Sender<bool>,
    publish: &impl Fn(bool),
    stop: &CancellationToken,
) -> bool {
    let leases: Api<Lease> = Api::namespaced(client.clone(), &settings.lease.namespace);
    let (duration, deadline) = timing(settings);
    let (mut rx, task) = manager.watch().await;
    let mut confirm = tokio::time::interval(deadline / 4);
    confirm.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut holder = RenewDeadline::new(deadline);
    let mut stepped_down = false;
    loop {
        let is_leader = *rx.borrow_and_update();
        if is_leader && !*leader.borrow() {
            holder = RenewDeadline::new(deadline);
        }
        publish(is_leader);
        tokio::select! {
            _ = stop.cancelled() => break,
            r = rx.changed() => if r.is_err() { break },
            _ = confirm.tick(), if is_leader => {
                let seen = leases.get_opt(&settings.lease.name).await;
                let now = k8s_openapi::jiff::Timestamp::now();
                let held = seen.as_ref().map(|l| holds(l.as_ref(), &settings.identity, now));
                if held.as_ref().is_ok_and(|h| *h) {
                    label(&leases, seen.as_ref().ok().and_then(Option::as_ref)).await;
                }
                if !holder.observe(held.as_ref().ok().copied(), tokio::time::Instant::now()) {
                    tracing::warn!(
                        identity = %settings.identity,
                        deadline = ?deadline,
                        error = seen.err().map(|e| e.to_string()),
                        "the API has not confirmed this replica as the Lease holder in time: stepping down"
                    );
                    stepped_down = true;
                    break;
                }
            }
        }
    }
    // Stop writing at once; dropping the receiver makes the manager release the Lease (bounded:
    // the API may be what failed).
    publish(false);
    drop(rx);
    let _ = tokio::time::timeout(Duration::from_secs(duration), task).await;
    stepped_down
}

/// Put the install's labels on the Lease we hold, once (`check` finds it by them); a failure is
/// logged and tried again on the next confirmation.
async fn label(leases: &Api<Lease>, lease: Option<&Lease>) {
    use crate::names::{COMPONENT_LABEL, COMPONENT_LEASE, INSTALL_NAME, INSTALL_NAME_LABEL};
    let Some(name) = lease.and_then(|l| l.metadata.name.as_deref()) else { return };
    let labels = lease.and_then(|l| l.metadata.labels.as_ref());
    if labels.and_then(|l| l.get(COMPONENT_LABEL)).map(String::as_str) == Some(COMPONENT_LEASE) {
        return;
    }
    let patch = serde_json::json!({"metadata": {"labels": {INSTALL_NAME_LABEL: INSTALL_NAME, COMPONENT_LABEL: COMPONENT_LEASE}}});
    let params = kube::api::PatchParams::default();
    if let Err(e) = leases.patch(name, &params, &kube::api::Patch::Merge(&patch)).await {
        tracing::warn!(lease = name, error = %e, "cannot label the Lease (check finds it by its labels)");
    }
}

/// Whether a Lease read from the API names `identity` as its holder and has not expired at `now`
/// (an expired Lease is anyone's to take, even if it still names us).
pub(super) fn holds(lease: Option<&Lease>, identity: &str, now: k8s_openapi::jiff::Timestamp) -> bool {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else { return false };
    let expires = spec
        .renew_time
        .as_ref()
        .zip(spec.lease_duration_seconds)
        .and_then(|(t, d)| t.0.checked_add(k8s_openapi::jiff::SignedDuration::from_secs(i64::from(d))).ok());
    spec.holder_identity.as_deref() == Some(identity) && expires.is_some_and(|e| e > now)
}

/// The leader's own view of its Lease: still leading while the API confirmed it as the holder
/// within the deadline; another holder ends it at once.
#[derive(Debug)]
pub(super) struct RenewDeadline {
    deadline: std::time::Duration,
    pub(super) confirmed: tokio::time::Instant,
}

impl RenewDeadline {
    pub(super) fn new(deadline: std::time::Duration) -> Self {
        Self { deadline, confirmed: tokio::time::Instant::now() }
    }

    /// Record one read of the Lease (`None`: the read failed). Returns whether to keep leading.
    pub(super) fn observe(&mut self, held: Option<bool>, now: tokio::time::Instant) -> bool {
        match held {
            Some(true) => {
                self.confirmed = now;
                true
            }
            Some(false) => false,
            None => now.duration_since(self.confirmed) < self.deadline,
        }
    }
}

/// Publish leadership; receivers are woken only when it changes. (The leader loop publishes on every
/// Lease confirmation: a wake-up each time would re-run every reconcile, as `became_leader` does.)
pub(super) fn publish_leadership(tx: &watch::Sender<bool>, is_leader: bool) -> bool {
    tx.send_if_modified(|v| std::mem::replace(v, is_leader) != is_leader)
}

/// A stream that yields each time `rx` turns true.
pub(super) fn became_leader(rx: watch::Receiver<bool>) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            rx.changed().await.ok()?;
            if *rx.borrow_and_update() {
                return Some(((), rx));
            }
        }
    })
}

#[cfg(test)]
mod tests;
