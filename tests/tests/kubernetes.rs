//! The Kubernetes manifests (`cargo xtask k8s`), checked offline: the files committed under
//! `deploy/kubernetes/` are exactly a fresh rendering, each passes schema validation for a
//! pinned Kubernetes version (kubernetes-validate, strict), and the objects have what the
//! stack needs (probes, the store's claim, the headless api Service, the env the binaries
//! read, non-root read-only pods).

use std::path::PathBuf;
use std::process::Command;

use e2e::reference::{require, KUBERNETES_VALIDATE};
use serde_norway::Value;

/// The Kubernetes version the schemas are checked against.
const KUBERNETES_VERSION: &str = "1.33.0";

const PROFILES: [&str; 4] = ["kvstack", "official-redis", "official-nginx", "official"];

fn committed(profile: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join(format!("deploy/kubernetes/{profile}.yaml"))
}

fn render(profile: &str) -> String {
    let out = Command::new(e2e::binary("xtask"))
        .args(["k8s", "--profile", profile])
        .output()
        .expect("run xtask k8s");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The objects of a rendering, by `kind/name`.
fn objects(profile: &str) -> Vec<(String, Value)> {
    let text = render(profile);
    text.split("\n---\n")
        .skip(1)
        .map(|doc| {
            let v: Value = serde_norway::from_str(doc).expect("a YAML object");
            let key = format!("{}/{}", s(&v["kind"]), s(&v["metadata"]["name"]));
            (key, v)
        })
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn find<'a>(objects: &'a [(String, Value)], key: &str) -> &'a Value {
    &objects
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| {
            panic!(
                "no {key} among {:?}",
                objects.iter().map(|o| &o.0).collect::<Vec<_>>()
            )
        })
        .1
}

fn container(object: &Value) -> &Value {
    &object["spec"]["template"]["spec"]["containers"][0]
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .and_then(|e| e["value"].as_str())
}

#[test]
fn committed_manifests_equal_a_fresh_rendering() {
    for profile in PROFILES {
        let path = committed(profile);
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (cargo xtask k8s --write)", path.display()));
        assert!(
            on_disk == render(profile),
            "{} differs from `cargo xtask k8s --profile {profile}`: run `cargo xtask k8s --write`",
            path.display()
        );
    }
}

#[test]
fn manifests_pass_strict_schema_validation() {
    if !require(&KUBERNETES_VALIDATE) {
        return;
    }
    let validator = KUBERNETES_VALIDATE.locate().expect("located");
    for profile in PROFILES {
        let out = Command::new(&validator)
            .args(["--kubernetes-version", KUBERNETES_VERSION, "--strict"])
            .arg(committed(profile))
            .output()
            .expect("run kubernetes-validate");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{profile}:\n{report}");
        assert!(!report.contains("INVALID"), "{profile}:\n{report}");
    }
}

/// Every pod: non-root, read-only root file system, no privilege escalation, probes,
/// resource requests and limits.
#[test]
fn every_pod_is_non_root_read_only_probed_and_bounded() {
    for profile in PROFILES {
        for (key, object) in objects(profile) {
            if !matches!(s(&object["kind"]), "Deployment" | "StatefulSet") {
                continue;
            }
            let pod = &object["spec"]["template"]["spec"];
            // Else the Service `redis` sets REDIS_PORT=tcp://…, which the api reads as a port.
            assert_eq!(
                pod["enableServiceLinks"],
                Value::Bool(false),
                "{profile} {key}"
            );
            assert_eq!(
                pod["securityContext"]["runAsNonRoot"],
                Value::Bool(true),
                "{profile} {key}"
            );
            let c = container(&object);
            let sc = &c["securityContext"];
            assert_eq!(
                sc["readOnlyRootFilesystem"],
                Value::Bool(true),
                "{profile} {key}"
            );
            assert_eq!(
                sc["allowPrivilegeEscalation"],
                Value::Bool(false),
                "{profile} {key}"
            );
            for probe in ["readinessProbe", "livenessProbe"] {
                assert!(c[probe].is_mapping(), "{profile} {key}: no {probe}");
            }
            for bound in ["requests", "limits"] {
                assert!(c["resources"][bound]["cpu"].is_string(), "{profile} {key}");
                assert!(
                    c["resources"][bound]["memory"].is_string(),
                    "{profile} {key}"
                );
            }
        }
    }
}

/// The store: a StatefulSet whose claim template is mounted at /data, behind a Service named
/// `redis` (the name the api's REDIS_HOST gives).
#[test]
fn the_store_keeps_data_on_a_claim_behind_the_redis_service() {
    for (profile, image) in [
        ("kvstack", "kvstack/kvstore:latest"),
        ("official-redis", "redis:alpine"),
    ] {
        let objects = objects(profile);
        let store = find(&objects, "StatefulSet/redis");
        let claim = &store["spec"]["volumeClaimTemplates"][0];
        let c = container(store);
        assert_eq!(s(&c["image"]), image);
        let mount = &c["volumeMounts"][0];
        assert_eq!(s(&mount["name"]), s(&claim["metadata"]["name"]));
        assert_eq!(s(&mount["mountPath"]), "/data");
        assert_eq!(s(&claim["spec"]["accessModes"][0]), "ReadWriteOnce");
        let service = find(&objects, "Service/redis");
        assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(6379));
        let api = container(find(&objects, "Deployment/backend"));
        assert_eq!(env(api, "REDIS_HOST"), Some("redis"));
    }
}

/// The api: two replicas with /readyz readiness, a headless `backend` Service (every pod's
/// address, for the proxy), a PodDisruptionBudget, and updates that add before they remove.
#[test]
fn the_api_is_two_ready_checked_pods_behind_a_headless_service() {
    let objects = objects("kvstack");
    let api = find(&objects, "Deployment/backend");
    assert_eq!(api["spec"]["replicas"].as_u64(), Some(2));
    assert_eq!(
        api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"].as_u64(),
        Some(0)
    );
    let c = container(api);
    assert_eq!(s(&c["readinessProbe"]["httpGet"]["path"]), "/readyz");
    assert_eq!(s(&c["livenessProbe"]["httpGet"]["path"]), "/healthz");
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(5000));
    let service = find(&objects, "Service/backend");
    assert_eq!(s(&service["spec"]["clusterIP"]), "None");
    assert_eq!(
        service["spec"]["selector"],
        api["spec"]["selector"]["matchLabels"]
    );
    let pdb = find(&objects, "PodDisruptionBudget/backend");
    assert_eq!(pdb["spec"]["selector"], api["spec"]["selector"]);
}

/// The proxy: balances over the headless `backend` name, is ready by its admin port, and is
/// reached through a LoadBalancer Service on 8080 → 80.
#[test]
fn the_proxy_balances_the_backend_service_behind_a_load_balancer() {
    let objects = objects("kvstack");
    let proxy = find(&objects, "Deployment/nginx");
    let c = container(proxy);
    assert_eq!(s(&c["image"]), "kvstack/proxy:latest");
    assert_eq!(env(c, "UPSTREAMS"), Some("backend:5000"));
    assert_eq!(env(c, "HEALTH_PATH"), Some("/readyz"));
    assert_eq!(env(c, "ADMIN_LISTEN"), Some("0.0.0.0:9091"));
    assert_eq!(c["readinessProbe"]["httpGet"]["port"].as_u64(), Some(9091));
    let service = find(&objects, "Service/nginx");
    assert_eq!(s(&service["spec"]["type"]), "LoadBalancer");
    assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(8080));
    assert_eq!(service["spec"]["ports"][0]["targetPort"].as_u64(), Some(80));
}

/// The official-nginx profile: nginx:alpine reading configs/nginx.conf from a ConfigMap,
/// adapted to the cluster's DNS and the headless `backend` Service.
#[test]
fn official_nginx_reads_the_repository_config_from_a_config_map() {
    let objects = objects("official-nginx");
    let proxy = find(&objects, "Deployment/nginx");
    assert_eq!(s(&container(proxy)["image"]), "nginx:alpine");
    let conf = s(&find(&objects, "ConfigMap/nginx-conf")["data"]["nginx.conf"]);
    assert!(conf.contains("server backend:5000"), "{conf}");
    assert!(!conf.contains("server backend1"), "{conf}");
    assert!(
        conf.contains("resolver kube-dns.kube-system.svc.cluster.local"),
        "{conf}"
    );
    let mount = container(proxy)["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str() == Some("conf"))
        .expect("the config mounted");
    assert_eq!(s(&mount["mountPath"]), "/etc/nginx/nginx.conf");
}
