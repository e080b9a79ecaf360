//! Report: the Events of a reconcile and what the controller remembers from it (addresses seen,
//! gauges, the problem sets last published, an eviction's time). Problems are published when their
//! set changes, not on every reconcile; what was done is published as it happens.

use std::time::Instant;

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::runtime::events::Event;
use kube::runtime::reflector::ObjectRef;
use kube::Resource;

use super::apply::Applied;
use super::context::Context;
use super::plan::{Note, Plan, ProblemSet};
use crate::metrics::BrokerCounts;

/// Publish one Event (on the StatefulSet unless the note names another object).
async fn publish(ctx: &Context, sts: &StatefulSet, n: &Note) {
    let ev = Event {
        type_: n.type_,
        reason: n.reason.into(),
        note: Some(n.note.clone()),
        action: n.action.into(),
        secondary: n.related.clone(),
    };
    let regarding = n.regarding.clone().unwrap_or_else(|| sts.object_ref(&()));
    if let Err(e) = ctx.recorder.publish(&ev, &regarding).await {
        tracing::warn!(error = %e, reason = n.reason, "cannot publish event");
    }
}

/// Remember what this reconcile learned, then publish its Events.
pub async fn report(ctx: &Context, sts: &StatefulSet, plan: &Plan, outcome: &Applied) {
    let key = ObjectRef::from_obj(sts);
    let mut fresh = Vec::new();
    // What stays published for a StatefulSet that is forgotten (a hint to one that did not opt in).
    let mut standing = Vec::new();
    {
        let mut st = ctx.state();
        for (set, notes) in &plan.problems {
            let mut notes = notes.clone();
            if *set == ProblemSet::Objects {
                notes.extend(outcome.problems.iter().cloned());
            }
            let seen: Vec<String> = notes.iter().map(|n| format!("{}: {}", n.reason, n.note)).collect();
            if !seen.is_empty() {
                standing.push((set.as_str(), seen.clone()));
            }
            if st.published.insert((key.clone(), set.as_str()), seen.clone()) != Some(seen) {
                fresh.extend(notes);
            }
        }
        if plan.forget {
            drop(st);
            ctx.forget(&key);
            let mut st = ctx.state();
            st.published.extend(standing.into_iter().map(|(set, seen)| ((key.clone(), set), seen)));
        } else {
            st.seen.insert(key.clone(), plan.status.addresses.clone());
            let s = &plan.status;
            st.counts.insert(
                key.clone(),
                BrokerCounts {
                    waiting: s.waiting,
                    drifted: s.drifted,
                    services: s.managed,
                    unclassed: i64::from(s.unclassed),
                },
            );
            match &plan.status.class {
                Some(c) => st.classes.insert(key.clone(), c.clone()),
                None => st.classes.remove(&key),
            };
            match plan.status.stuck {
                Some(s) => st.stuck.insert(key.clone(), s),
                None => st.stuck.remove(&key),
            };
            if outcome.evicted {
                st.evicted.insert(key.clone(), Instant::now());
            }
            ctx.publish_gauges(&st, Some(&key));
        }
    }
    for n in plan.events.iter().chain(&outcome.events).chain(&fresh) {
        publish(ctx, sts, n).await;
    }
}
