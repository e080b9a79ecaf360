//! What a StatefulSet costs in the cluster and at the cloud: load balancers, node ports, Gateway
//! listeners and routes, Certificates. Pure: the desired objects → a count `preview` and `status`
//! print, so a `replicas: 30` typo or the optional bootstrap Service is seen before it is billed.

use std::fmt;

use super::desired::Desired;
use super::gateway::GatewayPlan;
use crate::spec::settings::Mode;

/// The objects one StatefulSet's intent makes that cost something.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cost {
    /// LoadBalancer Services (each one a cloud load balancer, unless they share an address).
    pub load_balancers: usize,
    /// Of those, the bootstrap Service's.
    pub bootstrap_load_balancer: bool,
    /// All of them on one shared address (shared-address mode).
    pub shared: bool,
    /// Node ports held (NodePort Services, and LoadBalancer ones, which allocate one per port).
    pub node_ports: usize,
    pub gateway_listeners: usize,
    pub routes: usize,
    pub certificates: usize,
}

/// Count what `d` (and its Gateway plan) makes.
pub fn cost(d: &Desired, gateway: Option<&GatewayPlan>) -> Cost {
    let services = d.services.iter().map(|(_, s)| s).chain(d.bootstrap.iter());
    let mut c = Cost { shared: d.settings.mode == Mode::SharedAddress, ..Cost::default() };
    for svc in services {
        let spec = svc.spec.as_ref();
        let ports = spec.and_then(|s| s.ports.as_ref()).map_or(0, Vec::len);
        match spec.and_then(|s| s.type_.as_deref()) {
            Some("LoadBalancer") => {
                c.load_balancers += 1;
                c.node_ports += ports;
            }
            Some("NodePort") => c.node_ports += ports,
            _ => {}
        }
    }
    let bootstrap = d.bootstrap.as_ref().and_then(|b| b.spec.as_ref()).and_then(|s| s.type_.as_deref());
    c.bootstrap_load_balancer = bootstrap == Some("LoadBalancer");
    if let Some(g) = gateway {
        c.gateway_listeners = g.listeners.len();
        c.routes = g.routes.len();
    }
    if d.settings.tls_issuer.is_some() {
        c.certificates = d.ordinals().len();
    }
    c
}

impl fmt::Display for Cost {
    /// `4 load balancers (one is the bootstrap Service's), 4 node ports, 0 Gateway listeners, …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(f, "{}", plural(self.load_balancers, "load balancer", "load balancers"))?;
        if self.shared && self.load_balancers > 0 {
            write!(f, " (sharing one address)")?;
        } else if self.bootstrap_load_balancer {
            write!(f, " (one is the bootstrap Service's: kafka-advertiser.io/bootstrap)")?;
        }
        write!(
            f,
            ", {}, {}, {}, {}",
            plural(self.node_ports, "node port", "node ports"),
            plural(self.gateway_listeners, "Gateway listener", "Gateway listeners"),
            plural(self.routes, "route", "routes"),
            plural(self.certificates, "Certificate", "Certificates")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cost_of(replicas: i32, annotations: serde_json::Value) -> Cost {
        let sts = crate::controller::tests::statefulset(replicas, annotations);
        let d = crate::testing::desired(&sts, &Default::default()).unwrap();
        cost(&d, None)
    }

    #[test]
    fn the_bill_is_counted_per_mode() {
        let c = cost_of(3, json!({"kafka-advertiser.io/bootstrap": "true"}));
        assert_eq!((c.load_balancers, c.node_ports, c.bootstrap_load_balancer), (4, 4, true));
        assert_eq!(
            c.to_string(),
            "4 load balancers (one is the bootstrap Service's: kafka-advertiser.io/bootstrap), 4 node ports, 0 Gateway \
             listeners, 0 routes, 0 Certificates"
        );
        let c = cost_of(3, json!({"kafka-advertiser.io/mode": "nodeport"}));
        assert_eq!((c.load_balancers, c.node_ports), (0, 3));
        let c = cost_of(2, json!({"kafka-advertiser.io/mode": "pod-ip"}));
        assert_eq!(c, Cost::default());
        let c = cost_of(
            2,
            json!({"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template":
            "b{ordinal}.example.com", "kafka-advertiser.io/tls-issuer": "Issuer/ca"}),
        );
        assert_eq!((c.load_balancers, c.certificates), (2, 2));
        let c = cost_of(
            3,
            json!({"kafka-advertiser.io/mode": "shared-address", "kafka-advertiser.io/address": "203.0.113.5"}),
        );
        assert!(c.to_string().starts_with("3 load balancers (sharing one address)"), "{c}");
    }
}
