//! What a StatefulSet asks for, worked out once: its settings (one parser for both roles), the
//! access class that bounds them, the Service-only settings, and the [`Intent`] that holds all of it.
//! Both roles read it: the webhook per pod ([`pod_settings`]), the controller, `status` and
//! `preview` per StatefulSet ([`intent`]). Imports nothing above it.

pub mod claims;
pub mod class;
mod intent;
pub mod known;
pub mod mode;
pub mod pending;
pub mod platform;
pub mod service;
pub mod settings;
pub mod template;

pub use intent::*;
