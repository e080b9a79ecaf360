//! Gateway API desired state and verdicts, pure: from a StatefulSet's [`Desired`] (and what the
//! controller learned) to the Gateway listeners and routes it owns ([`build`]), and what the
//! Gateway's spec, a ListenerSet's and a route's status say ([`status`]). The reconciler only adapts
//! this to the API.
//!
//! [`Desired`]: super::desired::Desired

mod build;
mod status;

pub use build::*;
pub use status::*;

#[cfg(test)]
mod tests;
