//! The values settings take: the mode (and the rules every reader matches on), the Service shapes,
//! the Gateway and issuer references, anti-affinity.

use std::fmt;
use std::str::FromStr;

use super::template::{is_dns_label, is_dns_subdomain};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AntiAffinity {
    Required,
    Preferred,
    None,
}
