//! Silent mistakes made loud, on the real API server: a `kafka-advertiser.io/*` key kafka-advertiser
//! does not know is a Warning naming the nearest known one, and the opt-in label on the StatefulSet's
//! own metadata is a Warning saying where it goes (and `status` says so too).

use kube::api::PostParams;
use kube::Api;

use crate::*;

#[tokio::test]
async fn typos_and_a_misplaced_opt_in_are_events_on_the_statefulset() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-hints").await;
    Broker::new("typo", 1)
        .annotate("kafka-advertiser.io/mode", "pod-ip")
        .annotate("kafka-advertiser.io/portbase", "9200")
        .create(&c, &ns)
        .await;
    wait_event(&c, &ns, "typo", "UnknownAnnotation", "did you mean kafka-advertiser.io/port-base?").await;

    let mut sts = Broker::new("misplaced", 1).not_opted_in().build(&ns);
    sts.metadata.labels = Some([("kafka-advertiser.io/enabled".to_owned(), "true".to_owned())].into());
    Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(c.clone(), &ns)
        .create(&PostParams::default(), &sts)
        .await
        .unwrap();
    wait_event(&c, &ns, "misplaced", "OptInIgnored", "put it on the pod template").await;
    let env = testenv();
    let out = std::process::Command::new(env.product())
        .args(["status", "-n", &ns, "misplaced"])
        .env("KUBECONFIG", env.kubeconfig())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("hint: the label kafka-advertiser.io/enabled is on the StatefulSet's own metadata"),
        "{text}"
    );
}
