use std::process::ExitCode;

use clap::Parser;

// glibc malloc showed up at ~15% of the server's profile under load (docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc v3's C API (libmimalloc-sys links it; its `extended` bindings need a crate we do not use).
extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}
/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (include/mimalloc.h).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() -> ExitCode {
    // Freed memory goes back to the OS at once (mimalloc keeps it ~10 ms by default): under a
    // flood of large reviews the peak RSS, not only what is retained, must stay under the memory
    // limit. Set here so the binary as shipped needs no variable; MIMALLOC_PURGE_DELAY still wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain option setter of the allocator, called before any thread starts.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    // One process-wide TLS provider, for the webhook server and the Kubernetes client alike.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    kafka_advertiser::run(kafka_advertiser::config::Cli::parse())
}
