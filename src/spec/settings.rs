//! Per-StatefulSet settings, parsed from pod(-template) annotations on top of the global defaults.
//!
//! The webhook reads them from the pod, the controller from the StatefulSet's pod template: one parser.

use std::collections::BTreeMap;

pub use super::mode::{AddressType, AntiAffinity, GatewayRef, IpFamily, IssuerRef, Mode, ServiceType};
pub(crate) use super::template::{is_dns_label, is_dns_subdomain, is_label_key, is_valid_host};
pub use super::template::{Template, PLACEHOLDERS};

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
/// How long a broker waits for its external address before it is admitted with only its internal
/// listener advertised (absent: it waits; `0s`: it never waits).
pub const ANN_PENDING_TIMEOUT: &str = "kafka-advertiser.io/pending-timeout";
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
    /// `pending-timeout`: admit a broker whose address is still pending after this long with only
    /// its internal listener advertised; `None`: it waits for its address.
    pub pending_timeout: Option<std::time::Duration>,
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

/// A template annotation's value, or why it is not one.
fn template(annotation: &'static str, value: &str) -> Result<Template, SettingsError> {
    Template::parse(value).map_err(|reason| invalid(annotation, value, reason))
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
        return Err(invalid(ANN_ADDRESS, v, host_hint(bare)));
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

/// Why `host` is neither an IP address in its canonical spelling nor a DNS name.
pub(crate) fn host_hint(host: &str) -> String {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => format!("write the address as {ip}: only the canonical spelling of an IP address is read"),
        Err(_) => "expected an IP address (as 198.51.100.7 or 2001:db8::1) or a DNS name whose last label is not a \
                   number (a resolver reads 3325256711 or 0xc6.0x33.0x64.7 as an IPv4 address)"
            .to_owned(),
    }
}

fn parse_templates(a: &Annotations, mode: Mode) -> Result<(Option<Template>, Option<Template>), SettingsError> {
    let hostname = a.get(ANN_HOSTNAME_TEMPLATE).map(|t| template(ANN_HOSTNAME_TEMPLATE, t.trim())).transpose()?;
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
        a.get(ANN_SERVICE_NAME_TEMPLATE).map(|t| template(ANN_SERVICE_NAME_TEMPLATE, t.trim())).transpose()?;
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
        Some(v) => mount_path(v)?,
    };
    Ok((issuer, mount_path))
}

/// `tls-mount-path`, cleaned as the container runtime cleans a mount path (empty and `.` segments
/// dropped: `//etc/./ssl/certs` lands on `/etc/ssl/certs`), then checked against the system paths.
fn mount_path(v: &str) -> Result<String, SettingsError> {
    let segments: Vec<&str> = v.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if !v.starts_with('/') || v.contains(':') || segments.is_empty() || segments.contains(&"..") {
        return Err(invalid(ANN_TLS_MOUNT_PATH, v, "expected an absolute directory path such as /etc/kafka/tls"));
    }
    let path = format!("/{}", segments.join("/"));
    if let Some(system) = SYSTEM_PATHS.iter().find(|p| path == **p || path.starts_with(&format!("{p}/"))) {
        let why = format!(
            "{path} is under {system}, which holds the system's trust store or credentials: mount the certificates \
             elsewhere, such as {DEFAULT_TLS_MOUNT_PATH}"
        );
        return Err(invalid(ANN_TLS_MOUNT_PATH, v, why));
    }
    Ok(path)
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

/// A duration as kubectl, client-go and Helm spell one (`10s`, `500ms`, `2m`, `1h30m`, `1.5h`), or plain
/// seconds. Parsed by jiff (already in the tree through k8s-openapi): a value too large for a
/// `Duration` or a negative one is a usage error, never a panic.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let invalid = || format!("invalid duration {s:?}: expected e.g. 10s, 500ms, 2m, 1h30m");
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let d: k8s_openapi::jiff::SignedDuration = s.parse().map_err(|_| invalid())?;
    std::time::Duration::try_from(d).map_err(|_| format!("invalid duration {s:?}: must not be negative"))
}

/// `pending-timeout`: a duration as kubectl spells one (`0s`, `90s`, `5m`, `1h30m`).
fn parse_pending_timeout(a: &Annotations) -> Result<Option<std::time::Duration>, SettingsError> {
    let Some(v) = get(a, ANN_PENDING_TIMEOUT) else { return Ok(None) };
    let d = parse_duration(v).map_err(|_| {
        invalid(ANN_PENDING_TIMEOUT, v, "expected a duration such as 0s, 90s, 5m or 1h30m (0s: never wait)")
    })?;
    // A week is longer than any load balancer takes; a longer value is a typo, and the deadline
    // must stay representable as a time.
    if d > std::time::Duration::from_secs(7 * 24 * 3600) {
        return Err(invalid(ANN_PENDING_TIMEOUT, v, "must be at most 168h; remove it to wait without a limit"));
    }
    Ok(Some(d))
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
            pending_timeout: parse_pending_timeout(a)?,
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
mod tests;
