//! The Kafka configuration checks: what a broker's env says about its listeners that Kafka would
//! refuse or clients would trip on, as warnings (the controller turns them into Events).

use super::*;

/// What Kafka refuses to start with (KafkaConfig, 3.x and 4.x): advertised names not in `listeners`, a
/// name missing from the protocol map, an inter-broker listener that is not advertised; and what
/// breaks replication quietly: an internal port other than the one the broker listens on.
pub(super) fn listener_checks(
    container: &ContainerView,
    prefix: &str,
    settings: &Settings,
    value: &str,
    warnings: &mut Vec<String>,
) {
    let c = &container.name;
    let ours: Vec<(&str, &'static str)> = settings
        .internal_listener
        .as_deref()
        .map(|i| (i, "kafka-advertiser.io/internal-listener"))
        .into_iter()
        .chain(std::iter::once((settings.listener.as_str(), "kafka-advertiser.io/listener")))
        .collect();
    // The names are built only for a warning.
    let listeners_var = format_args!("{prefix}LISTENERS");
    match env_value_parts(container, prefix, "LISTENERS") {
        None => warnings.push(format!(
            "kafka-advertiser: container {c:?} does not set {listeners_var}: apache/kafka and cp-kafka then derive \
             the listeners from the advertised ones (binding the external port) and Bitnami keeps its defaults; \
             set {listeners_var} with {}",
            ours.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" and ")
        )),
        Some(declared) => {
            let missing: Vec<String> = ours
                .iter()
                .filter(|(n, _)| !listeners::declares(declared, n))
                .map(|(n, a)| format!("{n} ({a})"))
                .collect();
            if !missing.is_empty() {
                warnings.push(format!(
                    "kafka-advertiser: {listeners_var} of container {c:?} does not declare the listener {}; Kafka \
                     refuses advertised listeners it does not listen on",
                    missing.join(" nor ")
                ));
            }
            undeclared_advertised(c, &listeners_var.to_string(), declared, value, &ours, warnings);
            if let Some(internal) = settings.internal_listener.as_deref() {
                let port = declared
                    .split(',')
                    .find(|e| listeners::entry_name(e).is_some_and(|n| n.eq_ignore_ascii_case(internal)))
                    .and_then(|e| e.rsplit(':').next())
                    .and_then(|p| p.trim().parse::<u16>().ok());
                if let Some(port) = port.filter(|p| *p != settings.internal_port) {
                    warnings.push(format!(
                        "kafka-advertiser: {listeners_var} of container {c:?} listens for {internal} on port {port} but \
                         {} is advertised to the other brokers: set kafka-advertiser.io/internal-port: \"{port}\"",
                        settings.internal_port
                    ));
                }
            }
        }
    }
    let map_var = format_args!("{prefix}LISTENER_SECURITY_PROTOCOL_MAP");
    if let Some(map) = env_value_parts(container, prefix, "LISTENER_SECURITY_PROTOCOL_MAP") {
        let missing: Vec<String> =
            ours.iter().filter(|(n, _)| !listeners::declares(map, n)).map(|(n, a)| format!("{n} ({a})")).collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "kafka-advertiser: {map_var} of container {c:?} does not declare the listener {}; Kafka refuses a \
                 listener without a security protocol: add it to the map (e.g. {}:PLAINTEXT, or SSL)",
                missing.join(" nor "),
                ours.iter().find(|(n, _)| !listeners::declares(map, n)).map_or("", |(n, _)| n)
            ));
        }
    }
    let ibl_var = format_args!("{prefix}INTER_BROKER_LISTENER_NAME");
    if let Some(ibl) =
        env_value_parts(container, prefix, "INTER_BROKER_LISTENER_NAME").map(str::trim).filter(|v| !v.is_empty())
    {
        if !value.split(',').any(|e| listeners::entry_name(e).is_some_and(|n| n.eq_ignore_ascii_case(ibl))) {
            warnings.push(format!(
                "kafka-advertiser: {ibl_var}={ibl} of container {c:?} is not among the advertised listeners {value}; \
                 Kafka refuses to start: name it in kafka-advertiser.io/internal-listener"
            ));
        }
    }
}

/// The user's own advertised entries (kept as they were) whose listener `listeners` does not declare:
/// Kafka refuses to start ("advertised.listeners listener names must be equal to or a subset of the
/// ones defined in listeners"). Values with `$(VAR)` references are not judged: the kubelet expands them.
fn undeclared_advertised(
    c: &str,
    listeners_var: &str,
    declared: &str,
    value: &str,
    ours: &[(&str, &'static str)],
    warnings: &mut Vec<String>,
) {
    if declared.contains("$(") {
        return;
    }
    let undeclared: Vec<&str> = value
        .split(',')
        .filter_map(listeners::entry_name)
        .filter(|n| !n.is_empty() && !n.contains("$(") && !ours.iter().any(|(o, _)| o.eq_ignore_ascii_case(n)))
        .filter(|n| !listeners::declares(declared, n))
        .collect();
    if !undeclared.is_empty() {
        warnings.push(format!(
            "kafka-advertiser: {listeners_var} of container {c:?} does not declare the listener {}, which its \
             advertised listeners name; Kafka refuses advertised listeners it does not listen on: remove it from \
             the advertised listeners or declare it in {listeners_var}",
            undeclared.join(" nor ")
        ));
    }
}

/// `KAFKA_*` variables apache/kafka's Java wrapper does not turn into server properties
/// (kafka.docker.KafkaDockerWrapper, as cp-kafka's `kafka.properties.template` excludes them).
pub(super) const NOT_SERVER_PROPERTIES: [&str; 11] = [
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
];

/// What else of the broker's config Kafka refuses to start with, read from the env: a listener name
/// declared twice; and, under the apache/kafka rules, a template whose only server property would be
/// the advertised listeners we add. That image applies its default config only when no `KAFKA_*`
/// variable sets a property (and cp-kafka has none), so the broker would start without
/// `process.roles` and `node.id`.
pub(super) fn config_checks(container: &ContainerView, prefix: &str, var: &str, warnings: &mut Vec<String>) {
    let c = &container.name;
    if let Some(declared) = env_value_parts(container, prefix, "LISTENERS") {
        // No allocation: a handful of names, compared pairwise (Kafka upper-cases them).
        let names = || declared.split(',').filter_map(listeners::entry_name);
        let twice = names().enumerate().find(|(i, n)| names().take(*i).any(|m| m.eq_ignore_ascii_case(n)));
        if let Some((_, twice)) = twice {
            let twice = twice.to_uppercase();
            warnings.push(format!(
                "kafka-advertiser: {prefix}LISTENERS of container {c:?} declares the listener {twice} twice; Kafka \
                 refuses to start: each listener must have a different name"
            ));
        }
    }
    if prefix != "KAFKA_" || is_bitnami(container) || container.env_from > 0 {
        return;
    }
    let property = |n: &str| n.starts_with("KAFKA_") && n != var && !NOT_SERVER_PROPERTIES.contains(&n);
    if !container.env.iter().flatten().any(|e| property(&e.name)) {
        warnings.push(format!(
            "kafka-advertiser: container {c:?} sets no KAFKA_* server setting besides the advertised listeners \
             kafka-advertiser adds: the apache/kafka image then skips its default config (it applies it only when \
             no KAFKA_* variable is set) and cp-kafka has none, so Kafka refuses to start without process.roles and \
             node.id; set KAFKA_PROCESS_ROLES, KAFKA_NODE_ID, KAFKA_LISTENERS and the controller settings (see \
             deploy/examples/kafka-apache.yaml)"
        ));
    }
}

/// What the listeners var's other sources would lose when the webhook sets it.
pub(super) fn env_warnings(b: &Broker<'_>, var: &str, warnings: &mut Vec<String>) {
    let container = b.container;
    let defined = |n: &str| container.env.iter().flatten().any(|e| e.name == n);
    if container.env_from > 0 && !defined(var) {
        warnings.push(format!(
            "kafka-advertiser: container {} takes env from envFrom; if a ConfigMap or Secret there sets {var} (or \
             KAFKA_ADVERTISED_LISTENERS / KAFKA_CFG_ADVERTISED_LISTENERS), the {var} env entry added here \
             overrides it and its other listeners are lost: set the listeners var in env instead",
            container.name
        ));
    }
    if container.env.iter().flatten().rev().find(|e| e.name == var).is_some_and(|e| e.value_from.is_some()) {
        warnings.push(format!(
            "kafka-advertiser: {var} of container {} came from valueFrom (a ConfigMap, Secret or field); it is \
             replaced by a value, and listeners set there other than ours are lost: set it as a value",
            container.name
        ));
    }
    if b.settings.env.is_none() && defined(APACHE_ENV) && defined(BITNAMI_ENV) {
        warnings.push(format!(
            "kafka-advertiser: container {} sets both {APACHE_ENV} and {BITNAMI_ENV}; {APACHE_ENV} is the one the \
             image uses (Bitnami copies it over {BITNAMI_ENV}), so it is the one set; remove {BITNAMI_ENV}",
            container.name
        ));
    }
}
