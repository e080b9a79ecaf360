//! One loadbalancer round trip with every client (every install pass runs it); and one on the oldest
//! and the newest Kafka the pod runner has jars for.

use super::*;

#[tokio::test]
async fn real_kafka_clients_reach_every_broker_through_its_load_balancer() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let env = testenv();
    let c = client().await;
    let ns = TempNamespace(namespace(&c, "e2e-kafka").await);
    let t0 = Instant::now();
    RealKafka::new("kafka", 3, "loadbalancer").create(&c, &ns.0).await;
    let addrs = converged(&c, &ns.0, "kafka", 3, 9094).await;
    let advertised = t0.elapsed();
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let ready = t0.elapsed();
    let mut want: Vec<String> = addrs.values().map(|ip| format!("{ip}:9094")).collect();
    want.sort();
    let hosts = hosts_file(&env.dir.join("kafka").join(&ns.0), &[]);
    let mut first = None;
    for client in ALL_CLIENTS {
        let rt = round_trip(client, &want[1], &format!("orders-{client}"), 3, 60, &hosts, None);
        assert_every_broker(&rt, client, &want);
        // The second Java and kafka-python are the versions they are named for.
        let version = rt.out["version"].as_str().unwrap_or_default();
        for (name, v) in [("java", "4.1."), ("java-3.9", "3.9."), ("kafka-python", "2.3."), ("kafka-python-3", "3.0.")]
        {
            assert!(client != name || version.starts_with(v), "{client} is version {version}, not {v}x: {}", rt.out);
        }
        first.get_or_insert(t0.elapsed());
        eprintln!("{client}: produced to and consumed from 3 brokers through {} in {:?}", want[1], rt.took);
    }
    eprintln!(
        "from create: every broker advertised its load balancer after {advertised:?}, all 3 ready after \
         {ready:?}, first outside round trip done after {:?}",
        first.unwrap()
    );
}

/// Brokers of images tagged 3.9.1 (KRaft) and 4.4.0 run those versions' jars (scripts/testenv.sh
/// caches them; the pod runner picks them by the tag: their logs say so), and the Java client (4.1)
/// and franz-go reach every broker through its load balancer.
#[tokio::test]
async fn brokers_of_the_oldest_and_newest_kafka_are_reached_through_their_load_balancers() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let env = testenv();
    let c = client().await;
    for tag in ["3.9.1", "4.4.0"] {
        let ns = TempNamespace(namespace(&c, &format!("e2e-kafka-{}", tag.replace('.', ""))).await);
        let kafka = RealKafka { tag: Some(tag.into()), ..RealKafka::new("kafka", 3, "loadbalancer") };
        kafka.create(&c, &ns.0).await;
        let addrs = converged(&c, &ns.0, "kafka", 3, 9094).await;
        brokers_ready(&c, &ns.0, "kafka", 3).await;
        // Each broker's log names the version it runs, as it finishes starting (after its port opens).
        let pods = env.dir.join("pods/pods");
        let prefix = format!("{}_kafka-", ns.0);
        wait_for(&format!("three brokers logging Kafka version {tag}"), Duration::from_secs(60), || async {
            let logs: Vec<String> = std::fs::read_dir(&pods)
                .ok()?
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| std::fs::read_to_string(e.path().join("container.log")).unwrap_or_default())
                .collect();
            for log in &logs {
                if let Some(v) = log.lines().find_map(|l| l.split("Kafka version: ").nth(1)) {
                    assert!(v.starts_with(tag), "a broker of apache/kafka:{tag} runs Kafka {v}");
                }
            }
            (logs.len() == 3 && logs.iter().all(|l| l.contains(&format!("Kafka version: {tag}")))).then_some(())
        })
        .await;
        let mut want: Vec<String> = addrs.values().map(|ip| format!("{ip}:9094")).collect();
        want.sort();
        clients_reach_with(&["java", "franz-go"], &env.dir.join("kafka").join(&ns.0), &want[0], &want, &[], None);
    }
}
