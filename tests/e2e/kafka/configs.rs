//! Every configuration kafka-advertiser admits, Apache Kafka accepts; where Kafka would refuse, the
//! webhook says so in plain words (item 6 of the real-Kafka issue): the table of
//! `tests/e2e/kafka/configs.yaml` through the release binary's `preview -o pods`, the pod runner's
//! `render-configs` (the kubelet's env, the image's rules) and `ValidateConfigs.java` (the image's
//! Java step, then `KafkaConfig`). No cluster and no broker: one JVM per Kafka version for the whole
//! table, on each version the pod runner has jars for (3.9, 4.0, 4.1, 4.4: issue 31); a case may be
//! limited to some versions (`versions`) or expect otherwise on one (`expect_on`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
struct Table {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    /// A manifest of this repository instead of the StatefulSet the fields below make.
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    image: String,
    #[serde(default = "two")]
    replicas: u32,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    env: Vec<Value>,
    #[serde(default)]
    addresses: String,
    expect: Expect,
    /// The Kafka minors ("3.9") this case is judged on; all when empty.
    #[serde(default)]
    versions: Vec<String>,
    /// What one Kafka minor does otherwise than `expect`.
    #[serde(default)]
    expect_on: BTreeMap<String, Expect>,
}

impl Case {
    fn on(&self, minor: &str) -> bool {
        self.versions.is_empty() || self.versions.iter().any(|v| v == minor)
    }

    fn expect(&self, minor: &str) -> &Expect {
        self.expect_on.get(minor).unwrap_or(&self.expect)
    }
}

/// Each Kafka minor the pod runner has jars for, with its jars: the default (4.1) and
/// `KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS_FOR`'s.
fn kafka_versions() -> Vec<(String, String)> {
    let env = testenv();
    let mut out = vec![("4.1".to_owned(), env.var("KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS").to_owned())];
    for e in env.var("KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS_FOR").split(',').filter(|e| !e.is_empty()) {
        let (minor, libs) = e.split_once('=').unwrap();
        out.push((minor.to_owned(), libs.to_owned()));
    }
    out.sort();
    out
}

fn two() -> u32 {
    2
}

#[derive(Deserialize, Debug)]
struct Expect {
    webhook: String,
    broker: Option<String>,
    says: Option<String>,
}

fn statefulset(c: &Case) -> Value {
    let labels = json!({"app.kubernetes.io/name": "kafka", "kafka-advertiser.io/enabled": "true"});
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "kafka", "namespace": "ns"},
        "spec": {
            "serviceName": "kafka-headless", "replicas": c.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "kafka"}},
            "template": {
                "metadata": {"labels": labels, "annotations": c.annotations},
                "spec": {"containers": [{"name": "kafka", "image": c.image, "env": c.env}]}
            }
        }
    })
}

/// What the webhook answered for one case: the denial, or each broker's pod and warnings.
enum Webhook {
    Denied(String),
    Admitted(Vec<(Value, Vec<String>)>),
}

fn webhook(c: &Case, dir: &Path, i: usize) -> Webhook {
    let file = match &c.file {
        Some(f) => Path::new(env!("CARGO_MANIFEST_DIR")).join(f),
        None => dir.join(format!("statefulset-{i}.json")),
    };
    if c.file.is_none() {
        std::fs::write(&file, statefulset(c).to_string()).unwrap();
    }
    let mut cmd = Command::new(testenv().product());
    cmd.args(["preview", "--show", "pods"]).arg(&file);
    if !c.addresses.is_empty() {
        cmd.args(["--address", &c.addresses]);
    }
    let out = cmd.output().unwrap();
    if !out.status.success() {
        return Webhook::Denied(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut docs: Vec<(String, Vec<String>)> = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        match line.strip_prefix("# warning: ") {
            _ if line == "---" => docs.push(Default::default()),
            // Before the first pod: what preview says of StatefulSets it leaves alone.
            _ if docs.is_empty() => {}
            Some(w) => docs.last_mut().unwrap().1.push(w.to_owned()),
            None => docs.last_mut().unwrap().0.push_str(&format!("{line}\n")),
        }
    }
    Webhook::Admitted(docs.into_iter().map(|(y, w)| (serde_saphyr::from_str(&y).unwrap(), w)).collect())
}

/// The verdict of the Kafka whose jars are in `libs` on each pod, in order: `None` when it starts,
/// else its error.
fn broker(pods: &[Value], dir: &Path, libs: &str) -> Vec<Option<String>> {
    let env = testenv();
    std::fs::write(dir.join("pods.json"), Value::from(pods.to_vec()).to_string()).unwrap();
    let cases = dir.join("cases");
    let _ = std::fs::remove_dir_all(&cases);
    let out = Command::new(env.var("KAFKA_ADVERTISER_TESTENV_PODRUNNER"))
        .arg("render-configs")
        .arg(dir.join("pods.json"))
        .arg(&cases)
        .output()
        .unwrap();
    assert!(out.status.success(), "podrunner render-configs: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("java")
        .args(["-Xmx256m", "-XX:TieredStopAtLevel=1"])
        .arg(format!("-Dlog4j2.configurationFile={}", kafka_dir().join("client-log4j2.yaml").display()))
        .arg("-cp")
        .arg(format!("{libs}/*"))
        .arg(kafka_dir().join("ValidateConfigs.java"))
        .arg(&cases)
        .output()
        .unwrap();
    assert!(out.status.success(), "ValidateConfigs: {}", String::from_utf8_lossy(&out.stderr));
    let mut verdicts: BTreeMap<usize, Option<String>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let case = v["case"].as_str().unwrap().parse().unwrap();
        verdicts.insert(case, (v["ok"] != true).then(|| v["error"].as_str().unwrap_or("").to_owned()));
    }
    assert_eq!(verdicts.len(), pods.len(), "one verdict per pod");
    verdicts.into_values().collect()
}

/// Whether a warning tells the user Kafka will not start.
fn says_kafka_refuses(w: &str) -> bool {
    w.contains("Kafka refuses")
}

#[test]
fn every_configuration_the_webhook_admits_kafka_accepts() {
    // The table shares env entries through anchors: many aliases to few anchors is its design,
    // not an alias bomb, so that heuristic is off for this file of ours.
    let options = serde_saphyr::options! { budget: serde_saphyr::budget! { enforce_alias_anchor_ratio: false } };
    let text = std::fs::read_to_string(kafka_dir().join("configs.yaml")).unwrap();
    let table: Table = serde_saphyr::from_str_with_options(&text, options).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let answers: Vec<Webhook> = table.cases.iter().enumerate().map(|(i, c)| webhook(c, dir.path(), i)).collect();
    let versions = kafka_versions();
    assert!(versions.len() >= 4, "Kafka 3.9, 4.0, 4.1 and 4.4 jars (scripts/testenv.sh build): {versions:?}");
    let mut wrong = Vec::new();
    for (minor, libs) in &versions {
        let cases: Vec<(&Case, &Webhook)> = table.cases.iter().zip(&answers).filter(|(c, _)| c.on(minor)).collect();
        wrong.extend(judge(&cases, minor, libs, dir.path()));
    }
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
}

/// Each case's webhook answer against one Kafka version's verdicts: what is wrong.
fn judge(cases: &[(&Case, &Webhook)], minor: &str, libs: &str, dir: &Path) -> Vec<String> {
    let mut pods = Vec::new();
    for (_, a) in cases {
        if let Webhook::Admitted(p) = a {
            pods.extend(p.iter().map(|(pod, _)| pod.clone()));
        }
    }
    let mut verdicts = broker(&pods, dir, libs).into_iter();
    let mut wrong = Vec::new();
    for &(c, answer) in cases {
        let (webhook, broker, said) = match answer {
            Webhook::Denied(msg) => ("denies", None, msg.clone()),
            Webhook::Admitted(p) => {
                let refusals: Vec<String> = p.iter().filter_map(|_| verdicts.next().unwrap()).collect();
                let warnings: Vec<String> = p.iter().flat_map(|(_, w)| w.clone()).collect();
                let flagged = warnings.iter().any(|w| says_kafka_refuses(w));
                if flagged == refusals.is_empty() {
                    wrong.push(format!(
                        "{} (Kafka {minor}): Kafka {} but the webhook {}: {refusals:?} {warnings:?}",
                        c.name,
                        if refusals.is_empty() { "accepts" } else { "refuses" },
                        if flagged { "says it refuses" } else { "says nothing" }
                    ));
                }
                ("admits", Some(if refusals.is_empty() { "accepts" } else { "refuses" }), warnings.join(" | "))
            }
        };
        eprintln!("config {minor} {:<50} webhook {webhook:<7} broker {:<8} {said}", c.name, broker.unwrap_or("-"));
        let expect = c.expect(minor);
        if webhook != expect.webhook || broker != expect.broker.as_deref() {
            wrong.push(format!(
                "{} (Kafka {minor}): webhook {webhook}, broker {broker:?}; the table expects {expect:?}",
                c.name
            ));
        }
        if let Some(phrase) = &expect.says {
            if !said.contains(phrase.as_str()) {
                wrong.push(format!(
                    "{} (Kafka {minor}): expected the webhook to say {phrase:?}, it said {said:?}",
                    c.name
                ));
            }
        }
    }
    wrong
}
