//! One loadbalancer round trip with every client (every install pass runs it).

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
        first.get_or_insert(t0.elapsed());
        eprintln!("{client}: produced to and consumed from 3 brokers through {} in {:?}", want[1], rt.took);
    }
    eprintln!(
        "from create: every broker advertised its load balancer after {advertised:?}, all 3 ready after \
         {ready:?}, first outside round trip done after {:?}",
        first.unwrap()
    );
}
