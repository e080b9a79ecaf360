//! Per-StatefulSet settings, parsed from pod(-template) annotations on top of the global defaults.
//!
//! The webhook reads them from the pod, the controller from the StatefulSet's pod template: one parser.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub const ANN_MODE: &str = "kafka-advertiser.io/mode";
pub const ANN_ADDRESS: &str = "kafka-advertiser.io/address";
pub const ANN_PORT_BASE: &str = "kafka-advertiser.io/port-base";
pub const ANN_HOSTNAME_TEMPLATE: &str = "kafka-advertiser.io/hostname-template";
pub const ANN_PORT: &str = "kafka-advertiser.io/port";
pub const ANN_NODE_PORT_BASE: &str = "kafka-advertiser.io/node-port-base";
pub const ANN_ENV: &str = "kafka-advertiser.io/env";
pub const ANN_LISTENER: &str = "kafka-advertiser.io/listener";
pub const ANN_INTERNAL_LISTENER: &str = "kafka-advertiser.io/internal-listener";
pub const ANN_INTERNAL_PORT: &str = "kafka-advertiser.io/internal-port";
pub const ANN_CONTAINER: &str = "kafka-advertiser.io/container";
pub const ANN_ANTI_AFFINITY: &str = "kafka-advertiser.io/anti-affinity";
pub const ANN_TOPOLOGY_KEY: &str = "kafka-advertiser.io/topology-key";
pub const ANN_SERVICE_NAME_TEMPLATE: &str = "kafka-advertiser.io/service-name-template";
pub const ANN_RACK: &str = "kafka-advertiser.io/rack";
pub const ANN_RACK_LABEL: &str = "kafka-advertiser.io/rack-label";
pub const ANN_SERVICE_TYPE: &str = "kafka-advertiser.io/service-type";
pub const ANN_ADDRESS_TYPE: &str = "kafka-advertiser.io/address-type";
pub const ANN_IP_FAMILY: &str = "kafka-advertiser.io/ip-family";
pub const ANN_GATEWAY: &str = "kafka-advertiser.io/gateway";
pub const ANN_GATEWAY_LISTENER: &str = "kafka-advertiser.io/gateway-listener";
pub const ANN_TLS_ISSUER: &str = "kafka-advertiser.io/tls-issuer";
pub const ANN_TLS_MOUNT_PATH: &str = "kafka-advertiser.io/tls-mount-path";
pub const DEFAULT_TLS_MOUNT_PATH: &str = "/etc/kafka/tls";
/// The pod volume that carries a broker's certificate (Secret `<pod>-tls`).
pub const TLS_VOLUME: &str = "kafka-advertiser-tls";
/// The zone label the kube-apiserver copies from the node onto the pod at binding (≥ 1.35).
pub const DEFAULT_RACK_LABEL: &str = "topology.kubernetes.io/zone";

/// Env var injected in `nodeport` mode from the downward API (`status.hostIP`). It must not start
/// with `KAFKA_`: apache/kafka's and cp-kafka's entrypoints turn every `KAFKA_*` variable into a
/// broker property (`advertiser.host.ip=...`).
pub const HOST_IP_ENV: &str = "ADVERTISER_HOST_IP";
/// The name earlier releases injected; pods that carry it are still recognised (and fixed).
pub const LEGACY_HOST_IP_ENV: &str = "KAFKA_ADVERTISER_HOST_IP";
/// Env var injected in `pod-ip` mode from the downward API (`status.podIP`); not `KAFKA_*` either.
pub const POD_IP_ENV: &str = "ADVERTISER_POD_IP";

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("annotation {annotation}={value:?} is invalid: {reason}")]
    Invalid { annotation: &'static str, value: String, reason: String },
    #[error("annotation {annotation} is required in {mode} mode")]
    Missing { annotation: &'static str, mode: Mode },
}

pub(crate) fn invalid(annotation: &'static str, value: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid { annotation, value: value.to_owned(), reason: reason.into() }
}

/// How the external address of a broker is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Mode {
    /// One LoadBalancer Service per broker; its ingress address (learned by the controller).
    Loadbalancer,
    /// One address for all brokers; port = port-base + ordinal.
    SharedAddress,
    /// A DNS name per broker from a template.
    Hostname,
    /// The node's IP (downward API); port = node-port-base + ordinal.
    Nodeport,
    /// The pod's own IP (downward API), on flat or VPC-native networks; port = `port`.
    PodIp,
    /// One TCP listener per broker on a shared Gateway; its address, port = port-base + ordinal.
    GatewayTcp,
    /// One TLS-passthrough listener on a Gateway, a TLSRoute per broker by SNI hostname; port = `port`.
    GatewayTls,
}

impl Mode {
    /// Whether brokers are reached through Gateway routes (gateway-tcp, gateway-tls).
    pub fn routes(self) -> bool {
        matches!(self, Mode::GatewayTcp | Mode::GatewayTls)
    }

    /// Whether a broker's external host is a name clients resolve or a load balancer's or shared
    /// address (a certificate names it), not a node's or pod's own IP.
    pub fn external_name(self) -> bool {
        !matches!(self, Mode::Nodeport | Mode::PodIp)
    }

    pub const ALL: [Mode; 7] = [
        Mode::Loadbalancer,
        Mode::SharedAddress,
        Mode::Hostname,
        Mode::Nodeport,
        Mode::PodIp,
        Mode::GatewayTcp,
        Mode::GatewayTls,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Loadbalancer => "loadbalancer",
            Mode::SharedAddress => "shared-address",
            Mode::Hostname => "hostname",
            Mode::Nodeport => "nodeport",
            Mode::PodIp => "pod-ip",
            Mode::GatewayTcp => "gateway-tcp",
            Mode::GatewayTls => "gateway-tls",
        }
    }

    /// Modes that route through a Gateway API Gateway.
    pub fn is_gateway(self) -> bool {
        matches!(self, Mode::GatewayTcp | Mode::GatewayTls)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s).ok_or(())
    }
}

/// The type of the per-broker Services (`None`: no Service; the user brings the NAT, proxy or route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    LoadBalancer,
    NodePort,
    ClusterIp,
    None,
}

impl ServiceType {
    /// The Service's `spec.type` (`None` has none: no Service is made).
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::NodePort => "NodePort",
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::None => "None",
        }
    }
}

/// Which ingress entry of a load balancer is advertised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressType {
    Ip,
    Hostname,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }
}

/// A Gateway named by `kafka-advertiser.io/gateway: [namespace/]name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRef {
    /// `None`: the StatefulSet's namespace.
    pub namespace: Option<String>,
    pub name: String,
}

impl GatewayRef {
    /// `[namespace/]name`, or `None` when that is not what `s` is.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (ns, name) = s.split_once('/').map_or((None, s), |(n, g)| (Some(n), g));
        (ns.is_none_or(is_dns_label) && !name.is_empty() && is_dns_subdomain(name))
            .then(|| GatewayRef { namespace: ns.map(str::to_owned), name: name.to_owned() })
    }

    pub fn namespace_or<'a>(&'a self, own: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(own)
    }
}

/// The cert-manager issuer named by `kafka-advertiser.io/tls-issuer: Issuer/NAME | ClusterIssuer/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerRef {
    pub kind: String,
    pub name: String,
}

/// A DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63): namespace and section names.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain (object names such as a Gateway's or an issuer's).
pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AntiAffinity {
    Required,
    Preferred,
    None,
}

/// Global defaults that come from flags rather than annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    pub mode: Mode,
    pub cluster_domain: String,
    /// Most brokers per StatefulSet (`--max-brokers`; an access class's `maxBrokers` may lower it).
    pub max_brokers: u32,
}

/// Default of `--max-brokers`.
pub const DEFAULT_MAX_BROKERS: u32 = 256;

impl Default for Defaults {
    fn default() -> Self {
        Self { mode: Mode::Loadbalancer, cluster_domain: "cluster.local".into(), max_brokers: DEFAULT_MAX_BROKERS }
    }
}

/// A hostname template, validated at parse time so rendering cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(String);

pub const PLACEHOLDERS: [&str; 4] = ["ordinal", "pod", "namespace", "statefulset"];

impl Template {
    fn parse(annotation: &'static str, s: &str) -> Result<Self, SettingsError> {
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| invalid(annotation, s, "unclosed '{'"))?;
            let name = &after[..close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(invalid(
                    annotation,
                    s,
                    format!(
                        "unknown placeholder {{{name}}}; known: {{ordinal}}, {{pod}}, {{namespace}}, {{statefulset}}"
                    ),
                ));
            }
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(invalid(annotation, s, "unmatched '}'"));
        }
        if s.is_empty() {
            return Err(invalid(annotation, s, "must not be empty"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn render(&self, ordinal: u32, pod: &str, namespace: &str, statefulset: &str) -> String {
        render_unchecked(&self.0, ordinal, pod, namespace, statefulset)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Render a template; unknown placeholders render as the StatefulSet name (validated templates have none).
pub fn render_unchecked(template: &str, ordinal: u32, pod: &str, namespace: &str, statefulset: &str) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').unwrap_or(after.len());
        match &after[..close] {
            "ordinal" => {
                use fmt::Write;
                let _ = write!(out, "{ordinal}");
            }
            "pod" => out.push_str(pod),
            "namespace" => out.push_str(namespace),
            _ => out.push_str(statefulset),
        }
        rest = after.get(close + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// Settings of one StatefulSet's brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub address: Option<String>,
    pub port_base: u16,
    pub hostname_template: Option<Template>,
    pub service_name_template: Option<Template>,
    pub port: u16,
    pub node_port_base: u16,
    pub env: Option<String>,
    pub listener: String,
    /// `None` when the internal listener is disabled (`internal-listener: none`).
    pub internal_listener: Option<String>,
    pub internal_port: u16,
    pub container: Option<String>,
    pub anti_affinity: AntiAffinity,
    pub topology_key: String,
    pub cluster_domain: String,
    /// `rack: "true"`: the broker-rack env var from this pod label (downward API).
    pub rack_label: Option<String>,
    pub service_type: ServiceType,
    /// `None`: the first ingress entry, its IP if it has one, else its hostname.
    pub address_type: Option<AddressType>,
    pub ip_family: Option<IpFamily>,
    /// Gateway modes: the Gateway the brokers are reached through.
    pub gateway: Option<GatewayRef>,
    /// gateway-tls: the `sectionName` of the user's TLS passthrough listener.
    pub gateway_listener: Option<String>,
    /// A cert-manager Certificate per broker from this issuer, mounted at `tls_mount_path`.
    pub tls_issuer: Option<IssuerRef>,
    pub tls_mount_path: String,
}

fn port(annotations: &BTreeMap<String, String>, key: &'static str, default: u16) -> Result<u16, SettingsError> {
    match annotations.get(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u16>() {
            Ok(0) => Err(invalid(key, v, "must be a port number between 1 and 65535")),
            Ok(p) => Ok(p),
            Err(_) => Err(invalid(key, v, "must be a port number between 1 and 65535")),
        },
    }
}

fn listener_name(
    annotations: &BTreeMap<String, String>,
    key: &'static str,
    default: &str,
) -> Result<String, SettingsError> {
    let v = annotations.get(key).map(String::as_str).unwrap_or(default);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(invalid(key, v, "a Kafka listener name is letters, digits, '_' or '-'"));
    }
    Ok(v.to_owned())
}

pub(crate) fn is_valid_host(s: &str) -> bool {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A Kubernetes label key: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63 alphanumerics, `-`, `_`, `.`.
fn is_label_key(s: &str) -> bool {
    let (prefix, name) = s.rsplit_once('/').map_or((None, s), |(p, n)| (Some(p), n));
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    name_ok && prefix.is_none_or(|p| p.parse::<std::net::IpAddr>().is_err() && is_valid_host(p))
}

type Annotations = BTreeMap<String, String>;

/// An annotation's trimmed value.
fn get<'a>(a: &'a Annotations, key: &str) -> Option<&'a str> {
    a.get(key).map(|s| s.trim())
}

fn parse_mode(a: &Annotations, defaults: &Defaults) -> Result<Mode, SettingsError> {
    match a.get(ANN_MODE) {
        None => Ok(defaults.mode),
        Some(v) => v.trim().parse().map_err(|()| {
            invalid(
                ANN_MODE,
                v,
                "expected one of loadbalancer, shared-address, hostname, nodeport, pod-ip, gateway-tcp, gateway-tls",
            )
        }),
    }
}

fn parse_address(a: &Annotations) -> Result<Option<String>, SettingsError> {
    let Some(v) = get(a, ANN_ADDRESS).filter(|v| !v.is_empty()) else { return Ok(None) };
    let bare = v.trim_start_matches('[').trim_end_matches(']');
    if !is_valid_host(bare) {
        return Err(invalid(ANN_ADDRESS, v, "expected an IP address or a DNS name"));
    }
    if bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
        return Err(invalid(
            ANN_ADDRESS,
            v,
            "an unspecified address is where a broker listens, not where clients reach it",
        ));
    }
    Ok(Some(bare.to_owned()))
}

fn parse_templates(a: &Annotations, mode: Mode) -> Result<(Option<Template>, Option<Template>), SettingsError> {
    let hostname =
        a.get(ANN_HOSTNAME_TEMPLATE).map(|t| Template::parse(ANN_HOSTNAME_TEMPLATE, t.trim())).transpose()?;
    if let Some(t) = &hostname {
        // Every broker needs its own name, or clients are sent to the wrong broker.
        if !t.as_str().contains("{ordinal}") && !t.as_str().contains("{pod}") {
            return Err(invalid(
                ANN_HOSTNAME_TEMPLATE,
                t.as_str(),
                "must contain {ordinal} or {pod} so that every broker gets its own name",
            ));
        }
    }
    let service =
        a.get(ANN_SERVICE_NAME_TEMPLATE).map(|t| Template::parse(ANN_SERVICE_NAME_TEMPLATE, t.trim())).transpose()?;
    if matches!(mode, Mode::Hostname | Mode::GatewayTls) && hostname.is_none() {
        return Err(SettingsError::Missing { annotation: ANN_HOSTNAME_TEMPLATE, mode });
    }
    Ok((hostname, service))
}

fn parse_gateway(a: &Annotations, mode: Mode) -> Result<(Option<GatewayRef>, Option<String>), SettingsError> {
    let gateway = match get(a, ANN_GATEWAY).filter(|s| !s.is_empty()) {
        None if mode.is_gateway() => return Err(SettingsError::Missing { annotation: ANN_GATEWAY, mode }),
        None => None,
        Some(v) => Some(
            GatewayRef::parse(v).ok_or_else(|| invalid(ANN_GATEWAY, v, "expected [namespace/]name of a Gateway"))?,
        ),
    };
    let listener = match get(a, ANN_GATEWAY_LISTENER).filter(|s| !s.is_empty()) {
        None if mode == Mode::GatewayTls => {
            return Err(SettingsError::Missing { annotation: ANN_GATEWAY_LISTENER, mode })
        }
        None => None,
        Some(v) if is_dns_label(v) => Some(v.to_owned()),
        Some(v) => return Err(invalid(ANN_GATEWAY_LISTENER, v, "expected the name of a listener of the Gateway")),
    };
    Ok((gateway, listener))
}

fn parse_tls(a: &Annotations) -> Result<(Option<IssuerRef>, String), SettingsError> {
    let issuer = match get(a, ANN_TLS_ISSUER).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => match v.split_once('/') {
            Some((kind @ ("Issuer" | "ClusterIssuer"), name)) if is_dns_subdomain(name) && !name.is_empty() => {
                Some(IssuerRef { kind: kind.to_owned(), name: name.to_owned() })
            }
            _ => return Err(invalid(ANN_TLS_ISSUER, v, "expected Issuer/NAME or ClusterIssuer/NAME")),
        },
    };
    let mount_path = match get(a, ANN_TLS_MOUNT_PATH) {
        None => DEFAULT_TLS_MOUNT_PATH.to_owned(),
        Some(v) if v.starts_with('/') && v.len() > 1 && !v.contains(':') && !v.split('/').any(|p| p == "..") => {
            let path = v.trim_end_matches('/').to_owned();
            if let Some(system) = SYSTEM_PATHS.iter().find(|p| path == **p || path.starts_with(&format!("{p}/"))) {
                let why = format!("{system} holds the system's trust store or credentials: mount the certificates elsewhere, such as {DEFAULT_TLS_MOUNT_PATH}");
                return Err(invalid(ANN_TLS_MOUNT_PATH, v, why));
            }
            path
        }
        Some(v) => {
            return Err(invalid(ANN_TLS_MOUNT_PATH, v, "expected an absolute directory path such as /etc/kafka/tls"))
        }
    };
    Ok((issuer, mount_path))
}

/// Directories a broker certificate is never mounted over (trust stores, credentials, kernel files).
const SYSTEM_PATHS: [&str; 10] = [
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/var/run/secrets",
    "/run/secrets",
    "/etc/kubernetes",
    "/proc",
    "/sys",
    "/dev",
];

/// The internal and external listener names, and the listeners env var.
fn parse_listeners(a: &Annotations) -> Result<(Option<String>, String, Option<String>), SettingsError> {
    let internal = match get(a, ANN_INTERNAL_LISTENER) {
        Some(v) if v.eq_ignore_ascii_case("none") => None,
        _ => Some(listener_name(a, ANN_INTERNAL_LISTENER, "INTERNAL")?),
    };
    let listener = listener_name(a, ANN_LISTENER, "EXTERNAL")?;
    if internal.as_deref().is_some_and(|i| i.eq_ignore_ascii_case(&listener)) {
        return Err(invalid(ANN_LISTENER, &listener, "the external listener must differ from the internal one"));
    }
    let env = match get(a, ANN_ENV) {
        None => None,
        Some(v)
            if v.ends_with("LISTENERS")
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-') =>
        {
            Some(v.to_owned())
        }
        Some(v) => {
            return Err(invalid(
                ANN_ENV,
                v,
                "expected the name of the variable the image reads its advertised listeners from, ending in \
                 LISTENERS (KAFKA_ADVERTISED_LISTENERS, KAFKA_CFG_ADVERTISED_LISTENERS)",
            ))
        }
    };
    Ok((internal, listener, env))
}

/// Anti-affinity, its topology key, and the rack label (when `rack` is on).
fn parse_placement(a: &Annotations) -> Result<(AntiAffinity, String, Option<String>), SettingsError> {
    let anti_affinity = match get(a, ANN_ANTI_AFFINITY) {
        None | Some("required") => AntiAffinity::Required,
        Some("preferred") => AntiAffinity::Preferred,
        Some("none") => AntiAffinity::None,
        Some(v) => return Err(invalid(ANN_ANTI_AFFINITY, v, "expected required, preferred or none")),
    };
    let topology_key = match get(a, ANN_TOPOLOGY_KEY) {
        None => "kubernetes.io/hostname".to_owned(),
        Some("") => return Err(invalid(ANN_TOPOLOGY_KEY, "", "must not be empty")),
        Some(v) => v.to_owned(),
    };
    let rack = match get(a, ANN_RACK) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => return Err(invalid(ANN_RACK, v, "expected \"true\" or \"false\"")),
    };
    let rack_label = match get(a, ANN_RACK_LABEL) {
        None => DEFAULT_RACK_LABEL.to_owned(),
        Some(v) if is_label_key(v) => v.to_owned(),
        Some(v) => return Err(invalid(ANN_RACK_LABEL, v, "expected a label key such as topology.kubernetes.io/zone")),
    };
    Ok((anti_affinity, topology_key, rack.then_some(rack_label)))
}

fn parse_service_type(a: &Annotations, mode: Mode, address: Option<&str>) -> Result<ServiceType, SettingsError> {
    let service_type = match get(a, ANN_SERVICE_TYPE) {
        None => match mode {
            Mode::Nodeport => ServiceType::NodePort,
            Mode::PodIp => ServiceType::None,
            Mode::GatewayTcp | Mode::GatewayTls => ServiceType::ClusterIp,
            _ => ServiceType::LoadBalancer,
        },
        Some("LoadBalancer") => ServiceType::LoadBalancer,
        Some("NodePort") => ServiceType::NodePort,
        Some("ClusterIP") => ServiceType::ClusterIp,
        Some("None") => ServiceType::None,
        Some(v) => return Err(invalid(ANN_SERVICE_TYPE, v, "expected LoadBalancer, NodePort, ClusterIP or None")),
    };
    // The address must come from somewhere: a load balancer's ingress needs a LoadBalancer
    // Service, a node port a NodePort one; shared-address without `address` learns it too.
    let needs = match mode {
        Mode::Loadbalancer => Some(ServiceType::LoadBalancer),
        Mode::Nodeport => Some(ServiceType::NodePort),
        Mode::SharedAddress if address.is_none() => Some(ServiceType::LoadBalancer),
        _ => None,
    };
    if mode.is_gateway() && service_type == ServiceType::None {
        return Err(invalid(
            ANN_SERVICE_TYPE,
            "None",
            format!("{mode} mode routes each broker through its own Service: remove {ANN_SERVICE_TYPE}"),
        ));
    }
    if let Some(needed) = needs.filter(|n| *n != service_type) {
        return Err(invalid(
            ANN_SERVICE_TYPE,
            service_type.as_str(),
            format!(
                "{mode} mode{} learns the address from a {} Service: use another mode (hostname, or shared-address \
                 with {ANN_ADDRESS}) to bring your own address",
                if mode == Mode::SharedAddress { " without an address" } else { "" },
                needed.as_str()
            ),
        ));
    }
    Ok(service_type)
}

fn parse_address_choice(a: &Annotations) -> Result<(Option<AddressType>, Option<IpFamily>), SettingsError> {
    let address_type = match get(a, ANN_ADDRESS_TYPE) {
        None => None,
        Some("ip") => Some(AddressType::Ip),
        Some("hostname") => Some(AddressType::Hostname),
        Some(v) => return Err(invalid(ANN_ADDRESS_TYPE, v, "expected ip or hostname")),
    };
    let ip_family = match get(a, ANN_IP_FAMILY) {
        None => None,
        Some("IPv4") => Some(IpFamily::V4),
        Some("IPv6") => Some(IpFamily::V6),
        Some(v) => return Err(invalid(ANN_IP_FAMILY, v, "expected IPv4 or IPv6")),
    };
    if address_type == Some(AddressType::Hostname) && ip_family.is_some() {
        return Err(invalid(
            ANN_IP_FAMILY,
            ip_family.map_or("", IpFamily::as_str),
            format!("picks an IP, but {ANN_ADDRESS_TYPE} is hostname: remove one"),
        ));
    }
    Ok((address_type, ip_family))
}

#[cfg(test)]
thread_local! {
    /// How many times this thread parsed settings (a test counts them per reconcile).
    pub static PARSED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Where a broker's external host comes from: the one rule every reader matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSource<'a> {
    /// A load balancer's or Gateway's address, learned by the controller.
    Learned,
    /// The address the settings give (shared-address, gateway-tcp).
    Set(&'a str),
    /// The hostname template, rendered per broker (hostname, gateway-tls).
    Rendered,
    /// The node's IP, from the pod (nodeport).
    NodeIp,
    /// The pod's own IP (pod-ip).
    PodIp,
}

impl Settings {
    /// Where the brokers' external host comes from.
    pub fn host_source(&self) -> HostSource<'_> {
        match (self.mode, self.address.as_deref()) {
            (Mode::SharedAddress | Mode::GatewayTcp, Some(a)) => HostSource::Set(a),
            (Mode::Loadbalancer | Mode::SharedAddress | Mode::GatewayTcp, _) => HostSource::Learned,
            (Mode::Hostname | Mode::GatewayTls, _) => HostSource::Rendered,
            (Mode::Nodeport, _) => HostSource::NodeIp,
            (Mode::PodIp, _) => HostSource::PodIp,
        }
    }

    /// Whether the controller learns the address (a broker waits for it).
    pub fn learns_address(&self) -> bool {
        self.host_source() == HostSource::Learned
    }

    /// Parse settings from annotations. Unknown `kafka-advertiser.io/` keys are ignored here (the
    /// controller has its own); every value we read is validated and a bad one names its key.
    pub fn from_annotations(annotations: &Annotations, defaults: &Defaults) -> Result<Self, SettingsError> {
        #[cfg(test)]
        PARSED.with(|n| n.set(n.get() + 1));
        let a = annotations;
        let mode = parse_mode(a, defaults)?;
        let address = parse_address(a)?;
        let (hostname_template, service_name_template) = parse_templates(a, mode)?;
        let (gateway, gateway_listener) = parse_gateway(a, mode)?;
        let (tls_issuer, tls_mount_path) = parse_tls(a)?;
        let (internal_listener, listener, env) = parse_listeners(a)?;
        let (anti_affinity, topology_key, rack_label) = parse_placement(a)?;
        let service_type = parse_service_type(a, mode, address.as_deref())?;
        let (address_type, ip_family) = parse_address_choice(a)?;
        Ok(Self {
            gateway,
            gateway_listener,
            tls_issuer,
            tls_mount_path,
            rack_label,
            service_type,
            address_type,
            ip_family,
            mode,
            address,
            port_base: port(a, ANN_PORT_BASE, 9092)?,
            hostname_template,
            service_name_template,
            port: port(a, ANN_PORT, 9094)?,
            node_port_base: port(a, ANN_NODE_PORT_BASE, 31090)?,
            env,
            listener,
            internal_listener,
            internal_port: port(a, ANN_INTERNAL_PORT, 9092)?,
            container: a.get(ANN_CONTAINER).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
            anti_affinity,
            topology_key,
            cluster_domain: defaults.cluster_domain.clone(),
        })
    }

    /// The external port of a broker in the modes where it depends on the ordinal.
    pub fn external_port(&self, ordinal: u32) -> Result<u16, SettingsError> {
        let (base, key) = match self.mode {
            Mode::SharedAddress | Mode::GatewayTcp => (self.port_base, ANN_PORT_BASE),
            Mode::Nodeport => (self.node_port_base, ANN_NODE_PORT_BASE),
            Mode::Hostname | Mode::Loadbalancer | Mode::PodIp | Mode::GatewayTls => return Ok(self.port),
        };
        u32::from(base)
            .checked_add(ordinal)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| invalid(key, &base.to_string(), format!("{base} + ordinal {ordinal} exceeds port 65535")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn hostname_template_must_distinguish_brokers() {
        let d = Defaults::default();
        for t in ["kafka.example.com", "{statefulset}.{namespace}.example.com"] {
            let e = Settings::from_annotations(&ann(&[(ANN_MODE, "hostname"), (ANN_HOSTNAME_TEMPLATE, t)]), &d)
                .unwrap_err()
                .to_string();
            assert!(e.contains(ANN_HOSTNAME_TEMPLATE) && e.contains("{ordinal} or {pod}"), "{e}");
        }
        for t in ["b-{ordinal}.example.com", "{pod}.kafka.example.com"] {
            assert!(Settings::from_annotations(&ann(&[(ANN_MODE, "hostname"), (ANN_HOSTNAME_TEMPLATE, t)]), &d).is_ok());
        }
    }

    #[test]
    fn unspecified_address_is_refused() {
        for a in ["0.0.0.0", "::", "[::]"] {
            let e = Settings::from_annotations(
                &ann(&[(ANN_MODE, "shared-address"), (ANN_ADDRESS, a)]),
                &Defaults::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(ANN_ADDRESS) && e.contains("unspecified"), "{e}");
        }
    }

    #[test]
    fn port_base_plus_a_huge_ordinal_is_an_error_naming_both() {
        let s = Settings::from_annotations(
            &ann(&[(ANN_MODE, "shared-address"), (ANN_ADDRESS, "192.0.2.1"), (ANN_PORT_BASE, "65000")]),
            &Defaults::default(),
        )
        .unwrap();
        assert_eq!(s.external_port(535), Ok(65535));
        for ordinal in [536, u32::MAX - 1, u32::MAX] {
            let e = s.external_port(ordinal).unwrap_err().to_string();
            assert!(e.contains(ANN_PORT_BASE) && e.contains(&format!("ordinal {ordinal}")), "{e}");
        }
    }

    #[test]
    fn defaults_apply_without_annotations() {
        let s = Settings::from_annotations(&BTreeMap::new(), &Defaults::default()).unwrap();
        assert_eq!(s.mode, Mode::Loadbalancer);
        assert_eq!((s.port_base, s.port, s.node_port_base, s.internal_port), (9092, 9094, 31090, 9092));
        assert_eq!(s.listener, "EXTERNAL");
        assert_eq!(s.internal_listener.as_deref(), Some("INTERNAL"));
        assert_eq!(s.anti_affinity, AntiAffinity::Required);
        assert_eq!(s.topology_key, "kubernetes.io/hostname");
    }

    #[test]
    fn bad_values_name_the_annotation() {
        for (k, v) in [
            (ANN_PORT_BASE, "nine"),
            (ANN_PORT, "70000"),
            (ANN_NODE_PORT_BASE, "0"),
            (ANN_MODE, "ingress"),
            (ANN_ANTI_AFFINITY, "sometimes"),
            (ANN_LISTENER, "EXT://"),
            (ANN_HOSTNAME_TEMPLATE, "b-{idx}.example.com"),
            (ANN_ADDRESS, "not a host"),
        ] {
            let err = Settings::from_annotations(&ann(&[(k, v)]), &Defaults::default()).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(k) && msg.contains(v), "{msg}");
        }
    }

    #[test]
    fn hostname_mode_requires_template() {
        let err = Settings::from_annotations(&ann(&[(ANN_MODE, "hostname")]), &Defaults::default()).unwrap_err();
        assert!(err.to_string().contains(ANN_HOSTNAME_TEMPLATE));
    }

    #[test]
    fn template_renders_every_placeholder() {
        let t = Template::parse(ANN_HOSTNAME_TEMPLATE, "{statefulset}-{ordinal}.{namespace}.x/{pod}").unwrap();
        assert_eq!(t.render(12, "k-12", "ns", "k"), "k-12.ns.x/k-12");
    }

    #[test]
    fn external_port_overflow_is_an_error() {
        let s = Settings::from_annotations(
            &ann(&[(ANN_MODE, "shared-address"), (ANN_PORT_BASE, "65530")]),
            &Defaults::default(),
        )
        .unwrap();
        assert_eq!(s.external_port(5).unwrap(), 65535);
        assert!(s.external_port(6).unwrap_err().to_string().contains(ANN_PORT_BASE));
    }
}
