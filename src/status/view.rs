//! How `status` prints reports: the table (one line per StatefulSet, `kubectl get` style), the
//! detailed view of one, JSON and YAML. Pure functions of the reports.

use std::fmt::Write;

use serde_json::{json, Value};

use super::{Broker, Report, State};
use crate::config::StatusOutput;
use crate::spec::settings::Mode;

/// What an internal-only broker's line says.
const INTERNAL_ONLY: &str = "admitted without its external address (kafka-advertiser.io/pending-timeout passed): it \
     advertises only its internal listener until its address arrives, then it is restarted once";

/// What the STATE column says: Ready, or how many brokers wait, drift or have no pod.
pub fn state(r: &Report) -> String {
    if !r.opted_in {
        return "NotOptedIn".into();
    }
    if r.healthy() {
        return "Ready".into();
    }
    let count = |f: fn(&State) -> bool| r.brokers.iter().filter(|b| f(&b.state)).count();
    let parts = [
        ("Waiting", count(|s| matches!(s, State::Waiting(_)))),
        ("InternalOnly", count(|s| matches!(s, State::InternalOnly))),
        ("Drift", count(|s| matches!(s, State::Drift { .. }))),
        ("NoPod", count(|s| matches!(s, State::NoPod))),
    ];
    let text: Vec<String> = parts.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k}({n})")).collect();
    if text.is_empty() {
        "Waiting".into() // opted in, no brokers yet
    } else {
        text.join(",")
    }
}

/// `kubectl get`-style columns, padded to the widest cell.
pub fn table(reports: &[Report], all_namespaces: bool, wide: bool) -> String {
    let mut rows = vec![vec!["NAMESPACE", "NAME", "MODE", "ADVERTISING", "BOOTSTRAP", "STATE", "LATEST WARNING"]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>()];
    for r in reports {
        let ok = r.brokers.iter().filter(|b| b.state == State::Ok).count();
        rows.push(vec![
            r.namespace.clone(),
            r.name.clone(),
            r.mode.map_or("-", |m| m.as_str()).to_owned(),
            format!("{ok}/{}", r.brokers.len()),
            r.bootstrap.clone().unwrap_or_else(|| "-".into()),
            state(r),
            r.warnings.first().map_or("-".into(), |w| w.chars().take(100).collect()),
        ]);
    }
    let keep = |i: usize| (i > 0 || all_namespaces) && (i < 6 || wide);
    let widths: Vec<usize> = (0..7).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> =
            (0..7).filter(|&i| keep(i)).map(|i| format!("{:<w$}", row[i], w = widths[i])).collect();
        let _ = writeln!(out, "{}", cells.join("   ").trim_end());
    }
    out
}

fn broker_json(b: &Broker) -> Value {
    let (state, detail) = match &b.state {
        State::Ok => ("Ok", None),
        State::Waiting(why) => ("Waiting", Some(why.clone())),
        State::InternalOnly => ("InternalOnly", Some(INTERNAL_ONLY.to_owned())),
        State::Drift { now } => ("Drift", Some(format!("would now advertise {now}"))),
        State::NoPod => ("NoPod", None),
    };
    json!({"ordinal": b.ordinal, "pod": b.pod, "service": b.service, "address": b.address,
        "advertised": b.advertised, "state": state, "detail": detail})
}

/// A report as data (`-o json|yaml`).
pub fn to_json(r: &Report) -> Value {
    json!({
        "namespace": r.namespace, "name": r.name, "optedIn": r.opted_in, "hint": r.hint, "cost": r.cost,
        "mode": r.mode.map(|m| m.as_str()), "ready": r.healthy(), "state": state(r),
        "bootstrap": r.bootstrap, "brokers": r.brokers.iter().map(broker_json).collect::<Vec<_>>(),
        "warnings": r.warnings, "resolvedWarnings": r.resolved,
    })
}

/// The whole output: one StatefulSet in detail (or as data), several as a table (or a list).
pub fn output(reports: &[Report], one: bool, all_namespaces: bool, out: Option<StatusOutput>) -> String {
    let data = || {
        if one && reports.len() == 1 {
            to_json(&reports[0])
        } else {
            json!({"items": reports.iter().map(to_json).collect::<Vec<_>>()})
        }
    };
    match out {
        Some(StatusOutput::Json) => format!("{:#}\n", data()),
        Some(StatusOutput::Yaml) => serde_saphyr::to_string(&data()).unwrap_or_default(),
        _ if reports.is_empty() => "No opted-in StatefulSets found.\n".into(),
        Some(StatusOutput::Wide) => table(reports, all_namespaces, true),
        None if one => reports.iter().map(render).collect(),
        None => table(reports, all_namespaces, false),
    }
}

/// The report as the terminal shows it.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    if !r.opted_in {
        let _ = writeln!(
            out,
            "StatefulSet {}/{}: not opted in (its pod template lacks the label {}=\"true\")",
            r.namespace,
            r.name,
            crate::names::ENABLED_LABEL
        );
        if let Some(h) = &r.hint {
            let _ = writeln!(out, "  hint: {h}");
        }
        return out;
    }
    let mode = r.mode.map_or("?", Mode::as_str);
    let _ = writeln!(out, "StatefulSet {}/{}: mode {mode}, {} brokers", r.namespace, r.name, r.brokers.len());
    if let Some(cost) = &r.cost {
        let _ = writeln!(out, "  costs       {cost}");
    }
    for b in &r.brokers {
        let state = match &b.state {
            State::Ok => "ok".to_owned(),
            State::Waiting(why) => format!("WAITING: {why}"),
            State::InternalOnly => format!("internal-only: {INTERNAL_ONLY}"),
            State::Drift { now } => format!("DRIFT: would now advertise {now}"),
            State::NoPod => "NO POD".to_owned(),
        };
        let _ = writeln!(out, "\nbroker {}  {state}", b.ordinal);
        let _ = writeln!(out, "  pod         {}", b.pod.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "  service     {}", b.service.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "  address     {}", b.address.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "  advertises  {}", b.advertised.as_deref().unwrap_or("-"));
    }
    let _ = writeln!(out, "\nbootstrap   {}", r.bootstrap.as_deref().unwrap_or("- (not every address is known)"));
    if !r.warnings.is_empty() {
        let _ = writeln!(out, "\nlatest warnings on the StatefulSet:");
        for w in &r.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    if r.resolved > 0 {
        let _ = writeln!(out, "\n{} earlier warning(s) resolved: the pods they refused were created since", r.resolved);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::settings::Mode;

    fn rep(ns: &str, name: &str, states: Vec<State>) -> Report {
        Report {
            namespace: ns.into(),
            name: name.into(),
            opted_in: true,
            mode: Some(Mode::Loadbalancer),
            brokers: states
                .into_iter()
                .enumerate()
                .map(|(i, state)| Broker {
                    ordinal: i as u32,
                    pod: Some(format!("{name}-{i} (Running, n1)")),
                    service: None,
                    address: Some(format!("10.0.0.{i}:9094")),
                    advertised: None,
                    state,
                })
                .collect(),
            bootstrap: Some("10.0.0.0:9094".into()),
            warnings: vec!["AddressPending: no ingress yet".into()],
            resolved: 0,
            hint: None,
            cost: None,
        }
    }

    #[test]
    fn state_counts_what_is_not_ready() {
        assert_eq!(state(&rep("a", "k", vec![State::Ok, State::Ok])), "Ready");
        let r = rep("a", "k", vec![State::Ok, State::Waiting("x".into()), State::NoPod, State::Waiting("y".into())]);
        assert_eq!(state(&r), "Waiting(2),NoPod(1)");
        assert_eq!(state(&Report { opted_in: false, ..rep("a", "k", vec![]) }), "NotOptedIn");
    }

    #[test]
    fn table_is_kubectl_shaped() {
        let reports = [rep("shop", "orders", vec![State::Ok, State::Ok]), rep("team-b", "kafka", vec![State::NoPod])];
        let t = table(&reports, false, false);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("NAME ") && lines[0].ends_with("STATE"), "{t}");
        assert!(lines[1].contains("orders") && lines[1].contains("2/2") && lines[1].ends_with("Ready"), "{t}");
        assert!(lines[2].contains("0/1") && lines[2].ends_with("NoPod(1)"), "{t}");
        // Columns line up.
        assert_eq!(lines[0].find("MODE"), lines[1].find("loadbalancer"), "{t}");
        let all = table(&reports, true, true);
        assert!(all.starts_with("NAMESPACE") && all.contains("LATEST WARNING") && all.contains("team-b"), "{all}");
        assert!(all.contains("AddressPending: no ingress yet"), "{all}");
    }

    #[test]
    fn outputs_for_one_and_many() {
        let one = [rep("shop", "orders", vec![State::Drift { now: "EXTERNAL://1.2.3.4:9094".into() }])];
        let v: Value = serde_json::from_str(&output(&one, true, false, Some(StatusOutput::Json))).unwrap();
        assert_eq!(v["name"], "orders");
        assert_eq!(v["ready"], false);
        assert_eq!(v["brokers"][0]["state"], "Drift");
        assert!(v["brokers"][0]["detail"].as_str().unwrap().contains("1.2.3.4"));
        let many: Value = serde_json::from_str(&output(&one, false, true, Some(StatusOutput::Json))).unwrap();
        assert_eq!(many["items"][0]["namespace"], "shop");
        let y = output(&one, true, false, Some(StatusOutput::Yaml));
        assert!(y.contains("name: orders"), "{y}");
        assert!(output(&one, true, false, None).contains("broker 0  DRIFT"));
        assert_eq!(output(&[], false, false, None), "No opted-in StatefulSets found.\n");
        assert_eq!(output(&[], false, false, Some(StatusOutput::Json)).trim(), "{\n  \"items\": []\n}");
    }
}
