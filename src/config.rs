//! Command line: every flag also reads `KAFKA_ADVERTISER_<FLAG>`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::mutate::{Defaults, Mode};
use crate::output::Format;

mod offline;
pub use offline::*;

#[derive(Debug, Parser)]
#[command(
    name = "kafka-advertiser",
    version,
    about = "Give Kafka brokers in a plain StatefulSet externally reachable advertised listeners"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "KAFKA_ADVERTISER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `kafka_advertiser=debug`. Default: `info`
    /// for `serve`; `warn` for the other commands, whose output is their report.
    #[arg(long, global = true, env = "KAFKA_ADVERTISER_LOG_LEVEL", value_parser = log_filter)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// A log filter that `tracing`'s EnvFilter accepts: a typo is a usage error, not a silent `info`.
fn log_filter(s: &str) -> Result<String, String> {
    // EnvFilter reads a bare word as a target name (`debgu` = every level of a target `debgu`: the
    // process then logs nothing): here a bare word must be a level, and a target says its level.
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    if let Some(bad) =
        s.split(',').map(str::trim).find(|d| !d.contains('=') && !LEVELS.contains(&d.to_ascii_lowercase().as_str()))
    {
        return Err(format!(
            "{bad:?} is not a level (trace, debug, info, warn, error, off); a target takes one: {bad}=debug"
        ));
    }
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("{e} (EnvFilter syntax: a level such as info, or kafka_advertiser=debug,kube=warn)"))
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS admission webhook and (unless --standalone) the controller.
    Serve(Box<ServeArgs>),
    /// Mutate one AdmissionReview or Pod offline (JSON or YAML; FILE or - for stdin).
    Mutate(MutateArgs),
    /// Show, for each ordinal of a StatefulSet, the env value, affinity term and external Service.
    Preview(PreviewArgs),
    /// Make a local CA and a serving certificate for `serve` (development and tests).
    Certs(CertsArgs),
    /// Show each broker of a StatefulSet: pod, Service, learned address, what it advertises, drift,
    /// and the latest Warning Events (your kubeconfig; exit code 1 when a broker waits or drifts).
    /// Also a kubectl plugin when installed as `kubectl-kafka_advertiser`.
    Status(StatusArgs),
    /// Verify a live install: the CRD served, the webhook configuration's CA bundle verifies the
    /// serving certificate (and its expiry), a dry-run pod comes back mutated, a controller holds the
    /// Lease. Exit 0 when every check passes, 1 when one fails, 2 when the cluster cannot be read.
    Check(CheckArgs),
    /// This binary's version and the running install's (from the settings its controller publishes).
    Version(VersionArgs),
    /// A shell completion script: bash, zsh or fish.
    Completion(CompletionArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The install's namespace (its Lease and serving Secret). Default: the namespace of the Service
    /// behind the webhook configuration found by its label, else `kafka-advertiser`.
    #[arg(long, env = "KAFKA_ADVERTISER_CHECK_INSTALL_NAMESPACE")]
    pub install_namespace: Option<String>,
    /// Deprecated spelling of --install-namespace (kept for one release).
    #[arg(short = 'n', long = "namespace", env = "KAFKA_ADVERTISER_CHECK_NAMESPACE", hide = true)]
    pub namespace: Option<String>,
    /// The MutatingWebhookConfiguration's name. Default: the one labelled
    /// app.kubernetes.io/name=kafka-advertiser, else `kafka-advertiser`.
    #[arg(long, env = "KAFKA_ADVERTISER_CHECK_WEBHOOK")]
    pub webhook_configuration: Option<String>,
    /// The controller's Lease (serve --lease-name). Default: the labelled one of the install
    /// namespace, else `kafka-advertiser`.
    #[arg(long, env = "KAFKA_ADVERTISER_CHECK_LEASE")]
    pub lease: Option<String>,
    /// The serving certificate's Secret, read only when the webhook's endpoints cannot be reached
    /// from here (a laptop outside the cluster). Default: `<webhook Service>-tls`.
    #[arg(long, env = "KAFKA_ADVERTISER_CHECK_TLS_SECRET")]
    pub tls_secret: Option<String>,
    /// Do the dry-run pod create in this existing namespace instead of a scratch namespace made and
    /// deleted for it (then `create pods` there is all the check needs; the chart's `helm test` uses it).
    #[arg(long, env = "KAFKA_ADVERTISER_CHECK_DRY_RUN_NAMESPACE")]
    pub dry_run_namespace: Option<String>,
    /// Retry until every check passes or this long has passed (e.g. 2m); 0: check once.
    #[arg(long, env = "KAFKA_ADVERTISER_CHECK_WAIT", value_parser = parse_duration, default_value = "0s")]
    pub wait: Duration,
    /// Output format.
    #[arg(short = 'o', long, env = "KAFKA_ADVERTISER_CHECK_OUTPUT", value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, env = "KAFKA_ADVERTISER_CHECK_KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Kubeconfig context (default: its current one).
    #[arg(long, env = "KAFKA_ADVERTISER_CHECK_CONTEXT")]
    pub context: Option<String>,
}

/// Settings shared by the webhook and the offline commands.
#[derive(Debug, Clone, Args)]
pub struct MutationArgs {
    /// Mode for pods without the kafka-advertiser.io/mode annotation.
    #[arg(long, env = "KAFKA_ADVERTISER_DEFAULT_MODE", value_enum, default_value_t = Mode::Loadbalancer)]
    pub default_mode: Mode,
    /// Cluster DNS domain used in internal listener names.
    #[arg(long, env = "KAFKA_ADVERTISER_CLUSTER_DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Most brokers per StatefulSet: ordinals at or beyond `ordinals.start` + this get no object and
    /// their pods are denied (an access class's `maxBrokers` may lower it).
    #[arg(long, env = "KAFKA_ADVERTISER_MAX_BROKERS", default_value_t = crate::spec::settings::DEFAULT_MAX_BROKERS,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_brokers: u32,
}

impl MutationArgs {
    pub fn defaults(&self) -> Defaults {
        Defaults { mode: self.default_mode, cluster_domain: self.cluster_domain.clone(), max_brokers: self.max_brokers }
    }
}

#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// Address of the HTTPS admission server.
    #[arg(long, env = "KAFKA_ADVERTISER_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Directory with tls.crt and tls.key (a cert-manager Secret volume); reloaded on change.
    #[arg(long, env = "KAFKA_ADVERTISER_TLS_CERT_DIR", default_value = "/etc/kafka-advertiser/tls")]
    pub tls_cert_dir: PathBuf,
    /// How often the cert directory is checked for a rotated pair.
    #[arg(long, env = "KAFKA_ADVERTISER_TLS_RELOAD_INTERVAL", value_parser = parse_duration, default_value = "10s")]
    pub tls_reload_interval: Duration,
    /// PEM CA bundle; when set, clients must present a certificate signed by it.
    #[arg(long, env = "KAFKA_ADVERTISER_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Largest admission request body, bytes (larger: 413).
    #[arg(long, env = "KAFKA_ADVERTISER_MAX_BODY_BYTES", default_value_t = 3 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Time for a client to finish the TLS handshake, then to send its first byte, then each
    /// request's headers.
    #[arg(long, env = "KAFKA_ADVERTISER_HEADER_READ_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub header_read_timeout: Duration,
    /// Time for a client to send a request body.
    #[arg(long, env = "KAFKA_ADVERTISER_BODY_READ_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub body_read_timeout: Duration,
    /// Most bytes of admission request bodies held at once, across all connections (each request
    /// reserves its declared length, or --max-body-bytes, before reading; over budget: wait, then 429).
    #[arg(long, env = "KAFKA_ADVERTISER_MAX_INFLIGHT_BYTES", default_value_t = 24 * 1024 * 1024)]
    pub max_inflight_bytes: usize,
    /// Most admission reviews in progress at once (more: wait, then 429).
    #[arg(long, env = "KAFKA_ADVERTISER_MAX_CONCURRENT_REVIEWS", default_value_t = 64)]
    pub max_concurrent_reviews: usize,
    /// How long a request waits for its share of those budgets before the 429.
    #[arg(long, env = "KAFKA_ADVERTISER_BUDGET_WAIT", value_parser = parse_duration, default_value = "1s")]
    pub budget_wait: Duration,
    /// Most JSON values (objects, arrays, strings, numbers, booleans, nulls) one admission review
    /// may hold; counted before anything is built. Over it: `allowed: false` naming the limit.
    #[arg(long, env = "KAFKA_ADVERTISER_MAX_REVIEW_NODES", default_value_t = crate::admission::limits::DEFAULT_MAX_NODES)]
    pub max_review_nodes: usize,
    /// Most concurrent TLS connections; more are closed on accept.
    #[arg(long, env = "KAFKA_ADVERTISER_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Most concurrent connections from one client address; more from it are closed on accept, so
    /// one address cannot take the slots other clients (the API server) need.
    #[arg(long, env = "KAFKA_ADVERTISER_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 1024)]
    pub max_connections_per_address: usize,
    /// A connection with no request in progress for this long is closed (HTTP/1.1 keep-alive and
    /// HTTP/2 alike; pings do not count as use).
    #[arg(long, env = "KAFKA_ADVERTISER_IDLE_TIMEOUT", value_parser = parse_duration, default_value = "60s")]
    pub idle_timeout: Duration,
    /// Longest wait for in-flight requests after SIGTERM.
    #[arg(long, env = "KAFKA_ADVERTISER_SHUTDOWN_GRACE", value_parser = parse_duration, default_value = "20s")]
    pub shutdown_grace: Duration,
    /// After SIGTERM, keep accepting for this long (with /readyz failing) before draining, so the
    /// endpoints stop routing to this replica before it closes its port (rolling updates, drains).
    #[arg(long, env = "KAFKA_ADVERTISER_SHUTDOWN_DELAY", value_parser = parse_duration, default_value = "5s")]
    pub shutdown_delay: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Address of the plain-HTTP admin server (/livez, /readyz, /metrics).
    #[arg(long, env = "KAFKA_ADVERTISER_ADMIN_LISTEN", default_value = "0.0.0.0:8080")]
    pub admin_listen: SocketAddr,
}

#[derive(Debug, Clone, Args)]
pub struct ControllerArgs {
    /// Namespaces to watch (repeatable); all namespaces when absent.
    #[arg(long = "namespace", env = "KAFKA_ADVERTISER_NAMESPACE", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Name of the Lease used for leader election.
    #[arg(long, env = "KAFKA_ADVERTISER_LEASE_NAME", default_value = "kafka-advertiser")]
    pub lease_name: String,
    /// Namespace of the Lease (usually the webhook's own, from the downward API).
    #[arg(long, env = "KAFKA_ADVERTISER_LEASE_NAMESPACE", default_value = "kafka-advertiser")]
    pub lease_namespace: String,
    /// This replica's identity in the Lease (the pod name; default: the host name and the process id).
    #[arg(long, env = "KAFKA_ADVERTISER_IDENTITY", default_value_t = default_identity())]
    pub identity: String,
    /// Lease duration; a new leader takes over this long after the old one stops renewing.
    #[arg(long, env = "KAFKA_ADVERTISER_LEASE_DURATION", value_parser = parse_duration, default_value = "15s")]
    pub lease_duration: Duration,
    /// The leader stops writing when the API has not confirmed it as the Lease holder for this long
    /// (shorter than the lease duration, so it stops before another replica can take over).
    #[arg(long, env = "KAFKA_ADVERTISER_LEASE_RENEW_DEADLINE", value_parser = parse_duration, default_value = "10s")]
    pub lease_renew_deadline: Duration,
    /// Reconciles in progress at once (per watched namespace): bounds the memory and API calls a
    /// burst of changes can take.
    #[arg(long, env = "KAFKA_ADVERTISER_MAX_CONCURRENT_RECONCILES", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reconciles: u16,
    /// ConfigMap (in the Lease's namespace) where the controller publishes its effective settings for
    /// `kafka-advertiser status`; empty: none.
    #[arg(long, env = "KAFKA_ADVERTISER_SETTINGS_CONFIGMAP", default_value = "kafka-advertiser-settings")]
    pub settings_configmap: String,
    #[command(flatten)]
    pub self_tls: SelfTlsArgs,
}

/// Self-managed webhook TLS (the chart's `tls.source: self`): the controller's leader keeps a CA, the
/// serving certificate the webhook mounts, and the webhook configuration's caBundle.
#[derive(Debug, Args, Clone)]
pub struct SelfTlsArgs {
    /// Secret (in the Lease's namespace) holding the webhook's serving certificate, which the
    /// controller creates and renews; empty: TLS is someone else's (cert-manager, or given).
    #[arg(long, env = "KAFKA_ADVERTISER_SELF_TLS_SECRET", default_value = "")]
    pub self_tls_secret: String,
    /// Secret (in the same namespace) holding the CA that signs it, read by the controller only.
    #[arg(long, env = "KAFKA_ADVERTISER_SELF_TLS_CA_SECRET", default_value = "kafka-advertiser-self-ca")]
    pub self_tls_ca_secret: String,
    /// The webhook's Service, whose DNS names the certificate carries.
    #[arg(long, env = "KAFKA_ADVERTISER_SELF_TLS_SERVICE", default_value = "kafka-advertiser")]
    pub self_tls_service: String,
    /// The MutatingWebhookConfiguration whose caBundle follows the CA.
    #[arg(long, env = "KAFKA_ADVERTISER_SELF_TLS_WEBHOOK_CONFIGURATION", default_value = "kafka-advertiser")]
    pub self_tls_webhook_configuration: String,
    /// Life of a serving certificate (renewed with a third left).
    #[arg(long, env = "KAFKA_ADVERTISER_SELF_TLS_VALIDITY", value_parser = parse_duration, default_value = "2160h")]
    pub self_tls_validity: Duration,
    /// Life of the CA (renewed with a third left; the old one stays trusted until it expires).
    #[arg(long, env = "KAFKA_ADVERTISER_SELF_TLS_CA_VALIDITY", value_parser = parse_duration, default_value = "87600h")]
    pub self_tls_ca_validity: Duration,
    /// How often the leader checks them.
    #[arg(long, env = "KAFKA_ADVERTISER_SELF_TLS_INTERVAL", value_parser = parse_duration, default_value = "1m")]
    pub self_tls_interval: Duration,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub mutation: MutationArgs,
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// What this process runs: `webhook` (the HTTPS admission webhook and its read-only address
    /// view; no writes, no Lease), `controller` (the writes, behind the Lease; no network-facing
    /// port but the admin one) or `all` (both, one identity: local runs and small installs).
    #[arg(long, env = "KAFKA_ADVERTISER_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// `open`: a StatefulSet that names no ExternalAccessClass (and no class is the default) may use
    /// every setting; `classes`: every opted-in StatefulSet needs a class.
    #[arg(long, env = "KAFKA_ADVERTISER_TENANCY", value_enum, default_value_t = crate::spec::class::Tenancy::Open)]
    pub tenancy: crate::spec::class::Tenancy,
    /// Serve the webhook only, with no Kubernetes API access (loadbalancer mode then denies).
    #[arg(long, env = "KAFKA_ADVERTISER_STANDALONE", conflicts_with = "controller_only")]
    pub standalone: bool,
    /// Former name of `--role controller`.
    #[arg(long, env = "KAFKA_ADVERTISER_CONTROLLER_ONLY", hide = true, conflicts_with = "role")]
    pub controller_only: bool,
}

/// The parts of `serve` one process runs.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Role {
    /// The admission webhook, with a read-only view of the broker Services.
    Webhook,
    /// The controller: Services, routes, listeners and Certificates, behind the Lease.
    Controller,
    /// Both in one process.
    All,
}

/// Why a combination of `serve` flags cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoleError {
    #[error("--standalone runs the webhook without API access; it cannot run --role controller (drop one of them)")]
    StandaloneController,
}

impl ServeArgs {
    /// The role this process runs (`--controller-only` is `--role controller`).
    pub fn effective_role(&self) -> Result<Role, RoleError> {
        let role = if self.controller_only { Role::Controller } else { self.role };
        match (role, self.standalone) {
            (Role::Controller, true) => Err(RoleError::StandaloneController),
            (r, _) => Ok(r),
        }
    }

    /// Whether this process serves the HTTPS webhook.
    pub fn serves_webhook(&self) -> bool {
        self.effective_role().is_ok_and(|r| r != Role::Controller)
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One StatefulSet, in detail (default: every opted-in StatefulSet of the namespace, as a table).
    pub statefulset: Option<String>,
    /// The namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, env = "KAFKA_ADVERTISER_STATUS_NAMESPACE")]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long, env = "KAFKA_ADVERTISER_STATUS_ALL_NAMESPACES", conflicts_with_all = ["namespace", "statefulset"])]
    pub all_namespaces: bool,
    /// Output: wide (the table with each StatefulSet's latest warning), json or yaml.
    #[arg(short = 'o', long, env = "KAFKA_ADVERTISER_STATUS_OUTPUT", value_enum)]
    pub output: Option<StatusOutput>,
    /// Print again on every change, until interrupted.
    #[arg(short = 'w', long, env = "KAFKA_ADVERTISER_STATUS_WATCH", conflicts_with = "wait")]
    pub watch: bool,
    /// Wait until every broker advertises its address (like `kubectl rollout status`), up to --timeout.
    #[arg(long, env = "KAFKA_ADVERTISER_STATUS_WAIT")]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, env = "KAFKA_ADVERTISER_STATUS_TIMEOUT", value_parser = parse_duration, default_value = "5m")]
    pub timeout: Duration,
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, env = "KAFKA_ADVERTISER_STATUS_KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Kubeconfig context (default: its current one).
    #[arg(long, env = "KAFKA_ADVERTISER_STATUS_CONTEXT")]
    pub context: Option<String>,
    /// The install's namespace, where the controller publishes its settings.
    #[arg(long, env = "KAFKA_ADVERTISER_STATUS_INSTALL_NAMESPACE", default_value = "kafka-advertiser")]
    pub install_namespace: String,
    /// The published settings' ConfigMap. Default: the one labelled
    /// app.kubernetes.io/component=settings in the install namespace, else `kafka-advertiser-settings`.
    #[arg(long, env = "KAFKA_ADVERTISER_STATUS_SETTINGS_CONFIGMAP")]
    pub settings_configmap: Option<String>,
    /// The server's default mode; overrides what its controller publishes (read when this is unset).
    #[arg(long, env = "KAFKA_ADVERTISER_DEFAULT_MODE", value_enum)]
    pub default_mode: Option<Mode>,
    /// The server's cluster DNS domain; overrides what its controller publishes (read when this is unset).
    #[arg(long, env = "KAFKA_ADVERTISER_CLUSTER_DOMAIN")]
    pub cluster_domain: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusOutput {
    Wide,
    Json,
    Yaml,
}

/// The host name (a pod's name in a Deployment) plus the process id: two replicas on one host (or
/// with `hostNetwork`) still get distinct Lease identities.
fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kafka-advertiser".to_owned());
    format!("{host}-{}", std::process::id())
}

pub use crate::spec::settings::parse_duration;

/// `3=203.0.113.10`
pub fn parse_address(s: &str) -> Result<(u32, String), String> {
    let (o, h) = s.split_once('=').ok_or_else(|| format!("expected ORDINAL=HOST, got {s:?}"))?;
    let o = o.trim().parse().map_err(|_| format!("ordinal in {s:?} is not a non-negative integer"))?;
    let h = h.trim();
    if h.is_empty() {
        return Err(format!("host in {s:?} is empty"));
    }
    Ok((o, h.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("1d").is_err());
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2160h").unwrap(), Duration::from_secs(2160 * 3600));
        // Too large for a Duration, or negative: an error, never a panic.
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_address("3=1.2.3.4").unwrap(), (3, "1.2.3.4".into()));
        assert!(parse_address("x=1").is_err());
        assert!(parse_address("1=").is_err());
        assert!(parse_address("1").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
