use std::process::ExitCode;

use clap::Parser;

// glibc malloc showed up at ~15% of the server's profile under load (docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // One process-wide TLS provider, for the webhook server and the Kubernetes client alike.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    kafka_advertiser::run(kafka_advertiser::config::Cli::parse())
}
