//! Where a broker's external host comes from: the settings, the hostname template, the node or
//! pod IP, or the address the controller learned for this broker's own Service.

use super::*;

/// The external host a broker advertises: borrowed from the settings, or the address view's.
pub(super) enum Host<'a> {
    Borrowed(&'a str),
    Shared(Arc<str>),
}

impl std::ops::Deref for Host<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Host::Borrowed(s) => s,
            Host::Shared(s) => s,
        }
    }
}

/// The broker's address from its own Service only: the name the controller gives it, owned by the
/// pod's StatefulSet (its controller owner reference's UID). A Service someone else labelled as
/// this broker's is not read.
pub(super) fn own_lookup(b: &Broker<'_>, addresses: &dyn ClusterLookup) -> Lookup {
    let service = broker_service(b);
    let owner = (b.pod.metadata.owner_references.iter().flatten())
        .find(|o| o.controller == Some(true) && o.kind == "StatefulSet" && o.name == b.statefulset)
        .map(|o| o.uid.as_str())
        .filter(|u| !u.is_empty());
    let expect = Expect { service: &service, owner, gateway: b.settings.mode == Mode::GatewayTcp };
    addresses.lookup_for(b.namespace, &b.statefulset, b.ordinal, &expect)
}

/// The external host of the broker, by mode.
pub(super) fn external_host<'a>(
    b: &'a Broker<'_>,
    port: u16,
    addresses: &dyn ClusterLookup,
    warnings: &mut Vec<String>,
) -> Result<Host<'a>, MutateError> {
    let s = &b.settings;
    Ok(match s.host_source() {
        HostSource::Set(a) => Host::Borrowed(a),
        // `address` is optional in shared-address mode: without it the broker waits for its Service's
        // address, as in loadbalancer mode (and `pending-timeout` applies alike).
        HostSource::Learned if s.mode == Mode::SharedAddress => {
            let a = learned_address(b, addresses)?;
            warnings.push(format!(
                "kafka-advertiser: shared-address mode without {ANN_ADDRESS}; advertising {a}, the address of \
                 Service {}",
                broker_service(b)
            ));
            Host::Shared(a)
        }
        HostSource::Learned => Host::Shared(learned_address(b, addresses)?),
        HostSource::Rendered => rendered_host(b)?.map_or(Host::Borrowed(""), |h| Host::Shared(Arc::from(h))),
        HostSource::NodeIp => {
            node_port_checks(b, port, addresses, warnings)?;
            Host::Borrowed(HOST_IP_REF)
        }
        HostSource::PodIp => Host::Borrowed(POD_IP_REF),
    })
}

/// The hostname template rendered for this broker; a TLSRoute routes by SNI, and SNI carries names only.
pub(super) fn rendered_host(b: &Broker<'_>) -> Result<Option<String>, MutateError> {
    let Some(t) = b.settings.hostname_template.as_ref() else { return Ok(None) };
    let host = t.render(b.ordinal, b.name, b.namespace, &b.statefulset);
    let ip = b.settings.mode == Mode::GatewayTls && host.parse::<std::net::IpAddr>().is_ok();
    if !settings::is_valid_host(&host) || ip {
        return Err(SettingsError::Invalid {
            annotation: settings::ANN_HOSTNAME_TEMPLATE,
            value: t.as_str().to_owned(),
            reason: format!("renders to {host:?} for broker {}, which is not a valid DNS name", b.ordinal),
        }
        .into());
    }
    Ok(Some(host))
}

/// Two StatefulSets on overlapping node-port ranges: this broker would advertise a port that routes
/// to the other StatefulSet's broker.
pub(super) fn node_port_checks(
    b: &Broker<'_>,
    port: u16,
    addresses: &dyn ClusterLookup,
    warnings: &mut Vec<String>,
) -> Result<(), MutateError> {
    if let Some((ons, osts, oo)) = addresses.node_port_owner(port) {
        if ons != b.namespace || osts != b.statefulset {
            let other = if ons == b.namespace {
                format!("broker {oo} of StatefulSet {ons}/{osts}")
            } else {
                "a broker of a StatefulSet in another namespace".to_owned()
            };
            return Err(MutateError::NodePortClash {
                port,
                statefulset: format!("{}/{}", b.namespace, b.statefulset),
                other,
            });
        }
    }
    if !(30000..=32767).contains(&port) {
        warnings.push(format!("kafka-advertiser: node port {port} is outside the default NodePort range 30000-32767"));
    }
    Ok(())
}

/// The address the controller learned (a load balancer's or the Gateway's), or why there is none yet.
pub(super) fn learned_address(b: &Broker<'_>, addresses: &dyn ClusterLookup) -> Result<Arc<str>, MutateError> {
    // Names are allocated only for a denial: the admitted path allocates nothing here.
    let namespace = || b.namespace.to_owned();
    let reason = match own_lookup(b, addresses) {
        // Learned addresses come from objects others write (a load balancer's status, a Gateway's):
        // only an IP or a DNS name reaches the env, where the kubelet would expand `$(VAR)`.
        Lookup::Address(a) if settings::is_valid_host(&a) => return Ok(a),
        Lookup::Address(a) => {
            let source_of = match (&b.settings.gateway, b.settings.mode) {
                (Some(g), Mode::GatewayTcp) => {
                    format!("Gateway {}/{} (status.addresses)", g.namespace_or(b.namespace), g.name)
                }
                _ => format!("Service {}/{} (status.loadBalancer.ingress)", b.namespace, broker_service(b)),
            };
            return Err(MutateError::InvalidAddress { value: a.to_string(), source_of });
        }
        Lookup::NoAddress => match &b.settings.gateway {
            Some(g) if b.settings.mode == Mode::GatewayTcp => {
                Pending::NoGatewayAddress { namespace: g.namespace_or(b.namespace).to_owned(), name: g.name.clone() }
            }
            _ => Pending::NoAddress { namespace: namespace(), service: broker_service(b) },
        },
        Lookup::NoService => Pending::NoService {
            namespace: namespace(),
            service: broker_service(b),
            statefulset: b.statefulset.clone(),
        },
        Lookup::NotSynced => Pending::NotSynced { namespace: namespace(), service: broker_service(b) },
        Lookup::NotWatched { watched } => Pending::NotWatched { namespace: namespace(), watched },
    };
    Err(MutateError::AddressPending {
        namespace: namespace(),
        statefulset: b.statefulset.clone(),
        ordinal: b.ordinal,
        reason,
    })
}

/// `<hostname>.<subdomain>.<namespace>.svc.<cluster domain>`, when an internal listener is advertised.
pub(super) fn internal_host(b: &Broker<'_>) -> Result<Option<String>, MutateError> {
    if b.settings.internal_listener.is_none() {
        return Ok(None);
    }
    let hostname = b.spec.hostname.as_deref().filter(|h| !h.is_empty()).unwrap_or(b.name);
    let subdomain = (b.spec.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| MutateError::NoSubdomain { pod: b.name.to_owned() })?;
    Ok(Some(format!("{hostname}.{subdomain}.{}.svc.{}", b.namespace, b.settings.cluster_domain)))
}

/// Whether a broker whose address is pending has waited its `pending-timeout` (since the time the
/// controller recorded; `0s`: at once). Only a pending address counts: a webhook that has not read
/// the cluster yet, or a namespace it does not watch, still refuses.
pub(super) fn waited_enough(e: &MutateError, b: &Broker<'_>, addresses: &dyn ClusterLookup) -> bool {
    let pending = match e {
        MutateError::AddressPending { reason, .. } => {
            matches!(reason, Pending::NoAddress { .. } | Pending::NoService { .. } | Pending::NoGatewayAddress { .. })
        }
        // shared-address without `address` learns it from its Service, as loadbalancer mode does.
        MutateError::Settings(SettingsError::Missing { annotation: ANN_ADDRESS, .. }) => {
            b.settings.host_source() == HostSource::Learned && addresses.synced()
        }
        _ => false,
    };
    if !pending {
        return false;
    }
    let since = || addresses.pending_since(b.namespace, &b.statefulset, b.ordinal);
    let timeout = b.settings.pending_timeout;
    timeout.is_some_and(|t| t.is_zero()) || crate::spec::pending::expired(timeout, since(), addresses.now())
}

/// A broker admitted without its external address advertises only its other listeners: refused when
/// it could not start that way (its inter-broker listener is the external one, or nothing is left).
pub(super) fn internal_only_checks(
    b: &Broker<'_>,
    var: &str,
    value: &str,
    warnings: &mut Vec<String>,
) -> Result<(), MutateError> {
    let external = b.settings.listener.as_str();
    let why = if value.trim().is_empty() {
        Some(format!(
            "no other listener would be advertised ({} is none): advertise the internal listener, or remove {}",
            settings::ANN_INTERNAL_LISTENER,
            settings::ANN_PENDING_TIMEOUT
        ))
    } else {
        inter_broker_listener(b.container, var).filter(|l| l.eq_ignore_ascii_case(external)).map(|l| {
            format!(
                "its inter-broker listener is {l}, the external one, and the brokers could not reach each other: \
                 set inter.broker.listener.name to the internal listener, or remove {}",
                settings::ANN_PENDING_TIMEOUT
            )
        })
    };
    if let Some(why) = why {
        return Err(MutateError::AddressPending {
            namespace: b.namespace.to_owned(),
            statefulset: b.statefulset.clone(),
            ordinal: b.ordinal,
            reason: Pending::NotWithoutAddress { service: broker_service(b), why },
        });
    }
    warnings.push(format!(
        "kafka-advertiser: broker {} is admitted without its external address ({} passed): it advertises only {value} \
         until its address arrives; then the controller restarts it once",
        b.ordinal,
        settings::ANN_PENDING_TIMEOUT
    ));
    Ok(())
}

/// The listener the brokers replicate over, as Kafka picks it: `inter.broker.listener.name`, else
/// the listener named as `security.inter.broker.protocol` (default PLAINTEXT). `None`: a custom
/// listeners variable, whose image's other settings cannot be told.
fn inter_broker_listener<'c>(container: &'c ContainerView, var: &str) -> Option<&'c str> {
    let prefix = var.strip_suffix("ADVERTISED_LISTENERS")?;
    let set = |suffix| env_value_parts(container, prefix, suffix).map(str::trim).filter(|v| !v.is_empty());
    Some(set("INTER_BROKER_LISTENER_NAME").or_else(|| set("SECURITY_INTER_BROKER_PROTOCOL")).unwrap_or("PLAINTEXT"))
}
