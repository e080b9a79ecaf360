//! kafka-advertiser: a mutating admission webhook and controller that give Kafka brokers in a
//! plain StatefulSet externally reachable advertised listeners.
#![forbid(unsafe_code)]

pub mod admin;
pub mod admission;
pub mod check;
pub mod cluster_view;
pub mod config;
pub mod controller;
pub mod fuzzing;
pub mod install;
pub mod metrics;
pub mod mutate;
pub mod names;
pub mod offline;
pub mod output;
pub mod selftls;
pub mod spec;
pub mod status;
#[cfg(test)]
pub mod testing;
pub mod tls;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::Readiness;
use crate::admission::server::ServerOptions;
use crate::config::{Cli, Command, LogFormat, Role, ServeArgs};
use crate::metrics::Metrics;
use crate::mutate::ClusterView;
use crate::output::{Ended, Failure, Format};

fn init_logging(format: LogFormat, level: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Entry point of the binary (after the crypto provider is installed and args are parsed).
pub fn run(cli: Cli) -> ExitCode {
    let level = cli.log_level.clone().unwrap_or_else(|| {
        let serving = matches!(cli.command, Command::Serve(_));
        // The client commands say a failed request once, as their error: not also as kube's log.
        (if serving { "info" } else { "warn,kube_client::client::builder=off" }).to_owned()
    });
    init_logging(cli.log_format, &level);
    let (format, result) = match cli.command {
        Command::Serve(args) => {
            let served = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")
                .and_then(|rt| rt.block_on(serve(*args)));
            (
                Format::Text,
                served.map(|()| Ended::default()).map_err(|e| Failure::error("ServeFailed", format!("{e:#}"))),
            )
        }
        Command::Mutate(args) => match args.view() {
            Ok((show, format)) => (format, offline::mutate_cmd(&args, show, format)),
            Err(f) => (Format::Text, Err(f)),
        },
        Command::Preview(args) => match args.view() {
            Ok((show, format)) => (format, offline::preview_cmd(&args, show, format)),
            Err(f) => (Format::Text, Err(f)),
        },
        Command::Certs(args) => (args.output, offline::certs_cmd(&args)),
        Command::Status(args) => (args.format(), status_cmd(&args)),
        Command::Check(args) => (args.output, on_runtime(check::run(&args))),
        Command::Version(args) => (args.output, on_runtime(status::version::run(&args))),
        Command::Completion(args) => (Format::Text, Ok(Ended::ok(offline::completion(args.shell)))),
    };
    finish(format, result)
}

/// Print what a command ended with; under `-o json|yaml` an error is a document on stdout.
fn finish(format: Format, result: Result<Ended, Failure>) -> ExitCode {
    match result {
        Ok(ended) => {
            if let Err(e) = print_out(&ended.out) {
                eprintln!("error: {e:#}");
                return ExitCode::from(output::EXIT_ERROR);
            }
            if let Some(note) = ended.note {
                eprintln!("{note}");
            }
            ExitCode::from(ended.code)
        }
        Err(f) => {
            match output::error_document(format, &f) {
                Some(doc) => {
                    let _ = print_out(&doc);
                }
                None => eprintln!("error: {}", f.message),
            }
            ExitCode::from(f.code)
        }
    }
}

/// A client command's future on a one-thread runtime.
fn on_runtime(f: impl std::future::Future<Output = Result<Ended, Failure>>) -> Result<Ended, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error("RuntimeFailed", format!("cannot start the async runtime: {e}")))?
        .block_on(f)
}

/// Publish the controller's effective settings (for `status`); a failure is a warning, not fatal.
fn publish_settings(client: kube::Client, args: &ServeArgs) -> impl std::future::Future<Output = ()> + use<> {
    let tenancy =
        clap::ValueEnum::to_possible_value(&args.tenancy).map(|v| v.get_name().to_owned()).unwrap_or_default();
    let data = controller::published::data(&args.mutation.defaults(), &tenancy, &args.controller.namespaces);
    let (ns, name) = (args.controller.lease_namespace.clone(), args.controller.settings_configmap.clone());
    async move {
        match controller::published::publish(client, &ns, &name, data).await {
            Ok(written) => tracing::info!(namespace = %ns, name = %name, written, "settings published"),
            Err(e) => {
                tracing::warn!(namespace = %ns, name = %name, error = %e, "cannot publish the settings for `status`")
            }
        }
    }
}

/// `status`: 0 ready, 1 a broker waits, drifts or has no pod, 2 an error (bad kubeconfig, not found).
fn status_cmd(args: &config::StatusArgs) -> Result<Ended, Failure> {
    let printed = std::cell::RefCell::new(false);
    let print = |s: &str| {
        *printed.borrow_mut() = true;
        let _ = print_out(s);
    };
    let verdict = on_runtime(async {
        status::run(args, print).await.map(|v| Ended { code: v as u8, ..Default::default() }).map_err(|e| e.failure())
    })?;
    match verdict.code {
        output::EXIT_OK => Ok(verdict),
        _ => Ok(Ended::not_ready(String::new(), "a broker waits, drifts or has no pod (see above)".into())),
    }
}

fn print_out(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes()).and_then(|()| out.flush()).context("cannot write to stdout")
}

/// On SIGTERM or SIGINT: fail readiness at once, keep serving for `delay` (the endpoints drop this
/// replica meanwhile), then stop. A second signal stops at once.
async fn shutdown_signal(stop: CancellationToken, readiness: Arc<Readiness>, delay: std::time::Duration) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!(delay = ?delay, "SIGTERM received; draining after the shutdown delay"),
        _ = int.recv() => tracing::info!(delay = ?delay, "SIGINT received; draining after the shutdown delay"),
        _ = stop.cancelled() => return,
    }
    readiness.draining.store(true, Ordering::Release);
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = term.recv() => tracing::info!("second signal: stopping now"),
        _ = int.recv() => tracing::info!("second signal: stopping now"),
        _ = stop.cancelled() => {}
    }
    stop.cancel();
}

/// The controller's own settings, from its command line.
fn controller_settings(serve: &ServeArgs) -> controller::ControllerConfig {
    let args = &serve.controller;
    let t = &args.self_tls;
    let self_tls = (!t.self_tls_secret.is_empty()).then(|| selftls::SelfTls {
        namespace: args.lease_namespace.clone(),
        serving_secret: t.self_tls_secret.clone(),
        ca_secret: t.self_tls_ca_secret.clone(),
        service: t.self_tls_service.clone(),
        cluster_domain: serve.mutation.cluster_domain.clone(),
        webhook_configuration: t.self_tls_webhook_configuration.clone(),
        lifetimes: selftls::Lifetimes { ca: t.self_tls_ca_validity, serving: t.self_tls_validity },
        interval: t.self_tls_interval,
    });
    controller::ControllerConfig {
        namespaces: args.namespaces.clone(),
        identity: args.identity.clone(),
        lease: controller::LeaseSettings {
            name: args.lease_name.clone(),
            namespace: args.lease_namespace.clone(),
            duration: args.lease_duration,
            renew_deadline: args.lease_renew_deadline,
        },
        self_tls,
        concurrency: args.max_concurrent_reconciles,
    }
}

/// `kafka-advertiser serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let readiness = Arc::new(Readiness::default());
    let addresses = ClusterView::scoped(args.controller.namespaces.clone());
    addresses.set_tenancy(args.tenancy);
    let stop = CancellationToken::new();
    tokio::spawn(shutdown_signal(stop.clone(), readiness.clone(), args.server.shutdown_delay));

    // Load certificates before binding anything: a bad pair is a one-line start-up error.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let role = args.effective_role()?;
    let tls = if args.serves_webhook() { Some(bind_webhook(&args, &metrics, &provider).await?) } else { None };

    let admin_listener = TcpListener::bind(args.admin.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {} (--admin-listen)", args.admin.admin_listen))?;
    let admin = tokio::spawn({
        let router = admin::router(readiness.clone(), metrics.clone());
        let stop = stop.clone();
        async move { axum::serve(admin_listener, router).with_graceful_shutdown(stop.cancelled_owned()).await }
    });

    let defaults = Arc::new(args.mutation.defaults());
    let controller = if args.standalone {
        readiness.caches.store(true, Ordering::Release);
        None
    } else {
        let client = kube::Client::try_default().await.context(
            "cannot reach the Kubernetes API (in-cluster config or KUBECONFIG); use --standalone to serve without it",
        )?;
        let shared = controller::Shared {
            client,
            defaults: defaults.clone(),
            addresses: addresses.clone(),
            metrics: metrics.clone(),
            readiness: readiness.clone(),
        };
        let settings = controller_settings(&args);
        if role != Role::Webhook && !args.controller.settings_configmap.is_empty() {
            tokio::spawn(publish_settings(shared.client.clone(), &args));
        }
        Some(match role {
            // The webhook's identity reads; it never leads nor writes.
            Role::Webhook => tokio::spawn(controller::webhook_watches::run(shared, settings.namespaces, stop.clone())),
            Role::Controller | Role::All => tokio::spawn(controller::run(shared, settings, stop.clone())),
        })
    };

    match tls {
        None => {
            readiness.certs.store(true, Ordering::Release);
            stop.cancelled().await;
        }
        Some(webhook) => {
            let state = admission::WebhookState {
                defaults,
                addresses,
                metrics: metrics.clone(),
                max_body: args.server.max_body_bytes,
                body_timeout: args.server.body_read_timeout,
                budget: Arc::new(admission::budget::Budget::new(
                    args.server.max_inflight_bytes,
                    args.server.max_concurrent_reviews,
                    args.server.budget_wait,
                )),
                limits: admission::limits::Limits { max_nodes: args.server.max_review_nodes },
            };
            serve_webhook(&args, webhook, state, provider, &readiness, &stop).await;
        }
    }
    stop.cancel();
    if let Some(c) = controller {
        if let Err(e) = c.await {
            tracing::warn!(error = %e, "controller task failed");
        }
    }
    let _ = admin.await;
    tracing::info!("stopped");
    Ok(())
}

/// The webhook's serving certificate, TLS configuration and bound port.
struct Webhook {
    loaded: tls::Loaded,
    resolver: Arc<tls::CertResolver>,
    config: rustls::ServerConfig,
    listener: TcpListener,
}

async fn bind_webhook(
    args: &ServeArgs,
    metrics: &Metrics,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> anyhow::Result<Webhook> {
    let dir = &args.tls.tls_cert_dir;
    let loaded = tls::load_dir(dir, provider).context("cannot load the serving certificate")?;
    metrics.cert_not_after.set(loaded.not_after);
    let resolver = tls::CertResolver::new(loaded.key.clone());
    let config = tls::server_config(resolver.clone(), args.tls.client_ca.as_deref(), provider.clone())
        .context("cannot configure TLS")?;
    // Bind before the admin port answers, so /livez implies the webhook port accepts.
    let listener = TcpListener::bind(args.tls.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", args.tls.listen))?;
    Ok(Webhook { loaded, resolver, config, listener })
}

/// Serve admission reviews until `stop`, reloading the certificate when it changes.
async fn serve_webhook(
    args: &ServeArgs,
    w: Webhook,
    state: admission::WebhookState,
    provider: Arc<rustls::crypto::CryptoProvider>,
    readiness: &Arc<Readiness>,
    stop: &CancellationToken,
) {
    tokio::spawn(tls::watch(
        args.tls.tls_cert_dir.clone(),
        args.tls.tls_reload_interval,
        w.loaded.fingerprint,
        w.resolver,
        provider,
        state.metrics.clone(),
        stop.clone(),
    ));
    readiness.certs.store(true, Ordering::Release);
    tracing::info!(listen = %args.tls.listen, admin = %args.admin.admin_listen, standalone = args.standalone, role = ?args.effective_role().ok(), "serving");
    let opts = ServerOptions {
        handshake_timeout: args.server.header_read_timeout,
        header_read_timeout: args.server.header_read_timeout,
        max_connections: args.server.max_connections,
        max_connections_per_address: args.server.max_connections_per_address,
        idle_timeout: args.server.idle_timeout,
        shutdown_grace: args.server.shutdown_grace,
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(w.config));
    let draining = readiness.clone();
    let router = admission::server::close_connections_while(admission::router(state), move || {
        draining.draining.load(Ordering::Acquire)
    });
    admission::server::serve(w.listener, acceptor, router, opts, stop.clone()).await;
}
