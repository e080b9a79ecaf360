//! The platform recipes: each kustomize component (deploy/components/platform-{eks,gke,aks}) renders
//! its ExternalAccessClass beside the install, and a StatefulSet naming that class previews with the
//! platform's load balancer settings and no platform warning; shared-address is warned about where
//! it cannot work.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::cli::{run, stdout};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// deploy/ plus the component, rendered by `kubectl kustomize` as a user's overlay would.
fn overlay(component: &str) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("platform-{component}"));
    std::fs::create_dir_all(&dir).unwrap();
    let deploy = Path::new(ROOT).join("deploy");
    let up = "../".repeat(dir.strip_prefix(ROOT).unwrap().components().count());
    let rel = format!("{up}{}", deploy.strip_prefix(ROOT).unwrap().display());
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("resources: [{rel}]\ncomponents: [{rel}/components/{component}]\n"),
    )
    .unwrap();
    let out = Command::new("kubectl").args(["kustomize", dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&out.stdout))
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn each_platform_component_renders_its_class_and_previews_clean() {
    for (platform, class, annotation) in [
        ("eks", "eks-nlb", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip"),
        ("gke", "gke-lb", "cloud.google.com/l4-rbs: enabled"),
        ("aks", "aks-lb", "service.beta.kubernetes.io/azure-load-balancer-internal: false"),
    ] {
        let objs = overlay(&format!("platform-{platform}"));
        let classes: Vec<&Value> = objs.iter().filter(|v| v["kind"] == "ExternalAccessClass").collect();
        assert_eq!(classes.len(), 1, "{platform}");
        assert_eq!(classes[0]["metadata"]["name"], class);
        assert_eq!(classes[0]["metadata"]["labels"]["app.kubernetes.io/name"], "kafka-advertiser");
        assert!(objs.iter().any(|v| v["kind"] == "Deployment"), "{platform}: the install is still there");
        let class_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{class}.json"));
        std::fs::write(&class_file, serde_json::to_string(classes[0]).unwrap()).unwrap();
        let sts = std::fs::read_to_string(Path::new(ROOT).join("deploy/examples/kafka-kraft.yaml"))
            .unwrap()
            .replace("kafka-advertiser.io/mode: loadbalancer", &format!("kafka-advertiser.io/class: {class}"));
        let args = ["preview", "-", "--class", class_file.to_str().unwrap(), "--platform", platform, "--strict"];
        let o = run(&[&args[..], &["--address", "0=198.51.100.1,1=198.51.100.2,2=198.51.100.3"]].concat(), Some(&sts));
        let text = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{platform}: {text}{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            text.contains(&format!("ExternalAccessClass {class}")) && text.contains(annotation),
            "{platform}: {text}"
        );
        assert!(!text.contains("warning"), "{platform}: {text}");
    }
    // The same StatefulSet on EKS without the recipe: warned (a Classic Load Balancer otherwise).
    let o = run(&["preview", "--platform", "eks", "--strict"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("platform eks: on EKS, give the broker Services"));
}
