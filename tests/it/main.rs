//! The always-on integration tests, one binary (each test binary links the whole crate: eleven
//! cost CI minutes and disk). `cargo test --test it [module::]`.

#[path = "../support/mod.rs"]
mod support;

mod address_view;
mod annotations;
mod cli;
mod cli_conventions;
mod compatibility;
mod deploy;
mod docs;
mod docs_agree;
mod fuzz_replay;
mod module_graph;
mod platforms;
mod properties;
mod reliability;
mod tls;
mod webhook;
