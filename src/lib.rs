//! kafka-advertiser: a mutating admission webhook and controller that give Kafka brokers in a
//! plain StatefulSet externally reachable advertised listeners.
#![forbid(unsafe_code)]

pub mod mutate;
