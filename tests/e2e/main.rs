//! End-to-end suite against the real control plane of `scripts/testenv.sh` (kube-apiserver, the
//! StatefulSet controller and garbage collector of kube-controller-manager, kube-scheduler, kwok
//! nodes, MetalLB's controller) with kafka-advertiser installed by `scripts/testenv.sh deploy`.
//!
//! ```sh
//! scripts/testenv.sh build && scripts/testenv.sh up && scripts/testenv.sh deploy
//! cargo test --locked --features e2e --test e2e
//! ```
//!
//! Without a running test environment every test fails (it never skips): a missing control plane is
//! a red suite, not a green one.

mod edge;
mod harness;
mod hints;
mod processes;

mod admission;
mod adopt;
mod attacks;
mod bounds;
mod chart;
mod check;
mod discovery;
mod gateway;
mod incluster;
mod kafka;
mod leader;
mod namespaced;
mod nodes;
mod pending;
mod readiness;
mod services;
mod tenancy;

pub use edge::*;
pub use harness::*;
pub use processes::*;
