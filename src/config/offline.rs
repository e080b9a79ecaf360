//! Flags of the commands that need no cluster (`mutate`, `preview`, `certs`, `completion`), and
//! `version`'s. `-o/--output` is the format everywhere ([`Format`]); what `mutate` and `preview`
//! print is `--show`. Their old `--output review|pod|report|pods` still works for one release.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{parse_address, MutationArgs};
use crate::output::{deprecated, Failure, Format};
pub use crate::spec::platform::Platform;

/// `-o/--output` of `mutate` and `preview`: a format, or (deprecated) what `--show` now chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Text,
    Json,
    Yaml,
    #[value(hide = true)]
    Review,
    #[value(hide = true)]
    Pod,
    #[value(hide = true)]
    Report,
    #[value(hide = true)]
    Pods,
}

impl OutputArg {
    fn format(self) -> Option<Format> {
        match self {
            OutputArg::Text => Some(Format::Text),
            OutputArg::Json => Some(Format::Json),
            OutputArg::Yaml => Some(Format::Yaml),
            _ => None,
        }
    }

    fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
    }
}

/// What `mutate` prints.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum MutateShow {
    /// The AdmissionReview response (JSON unless `-o yaml`).
    Review,
    /// The patched pod (YAML unless `-o json`).
    Pod,
}

/// What `preview` prints.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PreviewShow {
    /// Per broker: the env value, anti-affinity, Service, Gateway listener and Certificate (text, or
    /// one document with `-o json|yaml`).
    Report,
    /// The broker pods as the StatefulSet controller creates them and the webhook admits them (YAML
    /// documents with the webhook's warnings as comments, or a JSON list with `-o json`). A broker
    /// whose address is not known yet is an error: pass --address.
    Pods,
}

impl PreviewShow {
    /// What starts a line that is not part of the output's documents (a comment in YAML).
    pub fn note_prefix(self) -> &'static str {
        match self {
            PreviewShow::Report => "",
            PreviewShow::Pods => "# ",
        }
    }
}

/// The show and the format from `--show` and `-o`, taking a deprecated `-o <show>` with a warning.
fn resolve<S: ValueEnum + Copy>(
    show: Option<S>,
    output: Option<OutputArg>,
    old: fn(OutputArg) -> Option<S>,
    default: S,
) -> Result<(S, Format), Failure> {
    let Some(o) = output else { return Ok((show.unwrap_or(default), Format::Text)) };
    if let Some(f) = o.format() {
        return Ok((show.unwrap_or(default), f));
    }
    let name = o.name();
    let shown = old(o).ok_or_else(|| {
        Failure::error(
            "InvalidFlag",
            format!("--output {name} is not a format of this command: use text, json or yaml"),
        )
    })?;
    if show.is_some() {
        return Err(Failure::error("InvalidFlag", format!("--output {name} and --show conflict: use --show {name}")));
    }
    deprecated(&format!("--output {name}"), &format!("--show {name}"));
    Ok((shown, Format::Text))
}

#[derive(Debug, Args)]
pub struct MutateArgs {
    /// AdmissionReview or Pod, JSON or YAML; `-` (the default) reads stdin.
    #[arg(default_value = "-")]
    pub file: String,
    /// What to print: the AdmissionReview response, or the patched pod.
    #[arg(long, env = "KAFKA_ADVERTISER_MUTATE_SHOW", value_enum)]
    pub show: Option<MutateShow>,
    /// Output format: text (the review as JSON, the pod as YAML), json or yaml.
    #[arg(short = 'o', long, env = "KAFKA_ADVERTISER_OUTPUT", value_enum)]
    pub output: Option<OutputArg>,
    /// Known broker address for the modes that learn it (loadbalancer, shared-address without an address, gateway-tcp): ORDINAL=HOST (repeatable).
    #[arg(long = "address", env = "KAFKA_ADVERTISER_ADDRESS", value_delimiter = ',', value_parser = parse_address)]
    pub addresses: Vec<(u32, String)>,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

impl MutateArgs {
    pub fn view(&self) -> Result<(MutateShow, Format), Failure> {
        let old = |o| match o {
            OutputArg::Review => Some(MutateShow::Review),
            OutputArg::Pod => Some(MutateShow::Pod),
            _ => None,
        };
        resolve(self.show, self.output, old, MutateShow::Review)
    }
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Manifests (YAML or JSON, several documents): every StatefulSet is previewed, and Services of
    /// the same file are judged for adoption; `-` for stdin. Without it, the shipped 3-broker KRaft
    /// example (deploy/examples/kafka-kraft.yaml), said on the first line.
    pub file: Option<String>,
    /// Known broker address for the modes that learn it (loadbalancer, shared-address without an address, gateway-tcp): ORDINAL=HOST (repeatable).
    #[arg(long = "address", env = "KAFKA_ADVERTISER_ADDRESS", value_delimiter = ',', value_parser = parse_address)]
    pub addresses: Vec<(u32, String)>,
    /// One address for every broker (gateway-tcp's Gateway address, or shared-address's load
    /// balancer), instead of --address for each ordinal; an --address still wins for its ordinal.
    #[arg(long, env = "KAFKA_ADVERTISER_PREVIEW_GATEWAY_ADDRESS")]
    pub gateway_address: Option<String>,
    /// The namespace of StatefulSets that name none (`helm template` output): as `kubectl apply -n`.
    #[arg(short = 'n', long, env = "KAFKA_ADVERTISER_PREVIEW_NAMESPACE")]
    pub namespace: Option<String>,
    /// ExternalAccessClass manifests (YAML or JSON, several documents allowed): the class the
    /// StatefulSet names, or the one marked default, applies as it would in the cluster (its
    /// namespaceSelector is not evaluated offline).
    #[arg(long = "class", env = "KAFKA_ADVERTISER_CLASS_FILE")]
    pub class: Option<String>,
    /// What to print: the per-broker report, or the broker pods as the webhook admits them.
    #[arg(long, env = "KAFKA_ADVERTISER_PREVIEW_SHOW", value_enum)]
    pub show: Option<PreviewShow>,
    /// Output format: text (the report; the pods as YAML), json or yaml.
    #[arg(short = 'o', long, env = "KAFKA_ADVERTISER_PREVIEW_OUTPUT", value_enum)]
    pub output: Option<OutputArg>,
    /// Warn when a mode cannot work on this platform (e.g. shared-address needs a load balancer that
    /// shares one IP across Services).
    #[arg(long, env = "KAFKA_ADVERTISER_PREVIEW_PLATFORM", value_enum, default_value_t = Platform::Generic)]
    pub platform: Platform,
    /// Exit 1 when anything is printed as a warning or a StatefulSet is skipped (for CI).
    #[arg(long, env = "KAFKA_ADVERTISER_PREVIEW_STRICT")]
    pub strict: bool,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

impl PreviewArgs {
    pub fn view(&self) -> Result<(PreviewShow, Format), Failure> {
        let old = |o| match o {
            OutputArg::Report => Some(PreviewShow::Report),
            OutputArg::Pods => Some(PreviewShow::Pods),
            _ => None,
        };
        resolve(self.show, self.output, old, PreviewShow::Report)
    }
}

#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Output directory (gets ca.crt, tls.crt, tls.key; keys with mode 0600).
    #[arg(long, env = "KAFKA_ADVERTISER_CERTS_OUT", default_value = "certs/dev")]
    pub out: PathBuf,
    /// DNS name or IP for the serving certificate (repeatable).
    #[arg(long = "host", env = "KAFKA_ADVERTISER_CERTS_HOST", value_delimiter = ',', default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
    pub hosts: Vec<String>,
    /// Also write a client certificate (client.crt, client.key) signed by the same CA.
    #[arg(long, env = "KAFKA_ADVERTISER_CERTS_CLIENT")]
    pub client: bool,
    /// Overwrite files that exist (without it, an existing file is an error and nothing is written).
    #[arg(long, env = "KAFKA_ADVERTISER_CERTS_FORCE")]
    pub force: bool,
    /// Output format of what was written.
    #[arg(short = 'o', long, env = "KAFKA_ADVERTISER_CERTS_OUTPUT", value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Only this binary's version (no cluster needed).
    #[arg(long, env = "KAFKA_ADVERTISER_VERSION_CLIENT")]
    pub client: bool,
    /// Output format.
    #[arg(short = 'o', long, env = "KAFKA_ADVERTISER_VERSION_OUTPUT", value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, env = "KAFKA_ADVERTISER_VERSION_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: its current one).
    #[arg(long, env = "KAFKA_ADVERTISER_VERSION_CONTEXT")]
    pub context: Option<String>,
    /// The install's namespace, where the controller publishes its settings (and version).
    #[arg(long, env = "KAFKA_ADVERTISER_VERSION_INSTALL_NAMESPACE", default_value = "kafka-advertiser")]
    pub install_namespace: String,
    /// The published settings' ConfigMap. Default: the labelled one, else `kafka-advertiser-settings`.
    #[arg(long, env = "KAFKA_ADVERTISER_VERSION_SETTINGS_CONFIGMAP")]
    pub settings_configmap: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete in; source the output, e.g. `source <(kafka-advertiser completion bash)`.
    #[arg(value_enum)]
    pub shell: Shell,
}
