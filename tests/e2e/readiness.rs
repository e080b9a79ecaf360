//! `/readyz` turns ready on every start (it once stayed 503 for good in one start out of two to five:
//! two tasks awaited kube-runtime's one-waker store readiness, and one was never woken).

use std::time::{Duration, Instant};

use crate::*;

#[tokio::test]
async fn readyz_turns_ready_on_every_start() {
    let _g = INSTALL.read().await;
    let env = testenv();
    let mut took = Vec::new();
    for i in 0..10 {
        let started = Instant::now();
        let replica = Scoped::start(env, "");
        let url = format!("http://127.0.0.1:{}/readyz", replica.admin);
        wait_for(&format!("/readyz 200 on start {i}"), Duration::from_secs(20), || async {
            let r = reqwest::get(&url).await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        took.push(started.elapsed());
        drop(replica);
    }
    eprintln!("ready after: {took:?}");
}
