//! `cargo xtask k8s`: Kubernetes manifests for the same images, rendered from
//! docker-compose.yml as `stack-file` renders Swarm's, so the three cannot drift.
//!
//! Each compose service is classified by what it does, not by its name: the one that mounts
//! `redis_data` is the store (a StatefulSet with a `volumeClaimTemplate` for `/data` behind
//! a `redis` Service), the ones that read `REDIS_HOST` are the api (one Deployment with as many
//! replicas as compose has api services, behind a headless `backend` Service so the proxy
//! resolves every pod, and a PodDisruptionBudget), and the one that publishes `LB_PORT` is the
//! load balancer (a Deployment behind a `LoadBalancer` Service, 8080 → 80). Images, commands,
//! environment, probe timings, grace periods and replica counts come from the compose file;
//! `${VAR:-default}` takes its default (a rendering does not depend on the shell, so the
//! committed files under `deploy/kubernetes/` can be checked against a fresh one).
//!
//! Invariants: no pod gets Kubernetes' Docker-link variables (`enableServiceLinks: false`):
//! the Service `redis` would otherwise set `REDIS_PORT=tcp://…:6379` in the api's
//! environment, where the api reads `REDIS_PORT` as a port number. Every pod runs as a
//! non-root user with a read-only root file system and no capabilities (writable paths are
//! volumes); every container has probes and resource requests and limits; the output is
//! deterministic (mapping keys sorted).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value as Json};
use serde_norway::{Mapping, Value};

use crate::root;
use crate::stack::{compose_document, quote_yaml_1_1_booleans};

/// The profiles rendered to `deploy/kubernetes/<profile>.yaml`.
pub const PROFILES: [&str; 4] = ["kvstack", "official-redis", "official-nginx", "official"];

#[derive(Args)]
pub struct K8sArgs {
    /// Compose profile: kvstack (default), official-redis, official-nginx, official.
    #[arg(long, default_value = "kvstack", value_parser = PROFILES)]
    profile: String,
    /// Write every profile's rendering to deploy/kubernetes/<profile>.yaml instead of printing.
    #[arg(long)]
    write: bool,
    /// Validate every profile's rendering against the Kubernetes schemas (kubernetes-validate,
    /// strict, installed into a virtualenv under target/) instead of printing.
    #[arg(long)]
    validate: bool,
}

/// The Kubernetes version `--validate` checks against (as tests/tests/kubernetes.rs does).
pub const KUBERNETES_VERSION: &str = "1.33.0";

pub fn run(args: K8sArgs) -> Result<()> {
    if args.validate {
        crate::prereqs::ensure_python_packages()?;
        let dir = tempfile::tempdir()?;
        for profile in PROFILES {
            let path = dir.path().join(format!("{profile}.yaml"));
            std::fs::write(&path, render(profile)?)?;
            crate::sh(
                std::process::Command::new(
                    crate::prereqs::python_venv_bin().join("kubernetes-validate"),
                )
                .args([
                    "--kubernetes-version",
                    KUBERNETES_VERSION,
                    "--strict",
                    "--quiet",
                ])
                .arg(&path),
            )
            .with_context(|| format!("profile {profile}"))?;
            eprintln!("[xtask] {profile}: valid for Kubernetes {KUBERNETES_VERSION}");
        }
        return Ok(());
    }
    if args.write {
        for profile in PROFILES {
            let path = committed_path(profile);
            std::fs::create_dir_all(path.parent().expect("a folder"))?;
            std::fs::write(&path, render(profile)?)?;
            eprintln!("[xtask] wrote {}", path.display());
        }
        return Ok(());
    }
    print!("{}", render(&args.profile)?);
    Ok(())
}

/// Where the rendering of `profile` is committed.
pub fn committed_path(profile: &str) -> PathBuf {
    root().join(format!("deploy/kubernetes/{profile}.yaml"))
}

/// What a compose service is, judged by what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Store,
    Api,
    Proxy,
}

fn role(service: &Mapping) -> Option<Role> {
    let mounts = strings(service.get("volumes"));
    let ports = strings(service.get("ports"));
    if mounts.iter().any(|m| m.starts_with("redis_data:")) {
        Some(Role::Store)
    } else if ports.iter().any(|p| p.contains("LB_PORT")) {
        Some(Role::Proxy)
    } else if env(service).iter().any(|(k, _)| k == "REDIS_HOST") {
        Some(Role::Api)
    } else {
        None
    }
}

/// The manifests for `profile`, as one multi-document YAML file.
pub fn render(profile: &str) -> Result<String> {
    let doc = compose_document(&[profile.to_string()])?;
    let services = doc
        .get("services")
        .and_then(Value::as_mapping)
        .context("docker-compose.yml has no services")?;
    let of = |wanted: Role| -> Vec<&Mapping> {
        services
            .values()
            .filter_map(Value::as_mapping)
            .filter(|s| role(s) == Some(wanted))
            .collect()
    };
    let (stores, apis, proxies) = (of(Role::Store), of(Role::Api), of(Role::Proxy));
    let ([store], [proxy], [api, ..]) = (&stores[..], &proxies[..], &apis[..]) else {
        bail!(
            "profile {profile}: expected one store, one load balancer and some api services, \
             found {}, {} and {}",
            stores.len(),
            proxies.len(),
            apis.len()
        );
    };
    let mut objects = vec![
        store_service(store)?,
        store_statefulset(store)?,
        api_service(api)?,
        api_deployment(api, apis.len())?,
        api_disruption_budget(),
    ];
    let nginx = image(proxy).contains("nginx");
    if nginx {
        objects.push(nginx_config_map()?);
    }
    objects.push(proxy_service(proxy)?);
    objects.push(proxy_deployment(proxy, nginx)?);
    let mut out = format!(
        "# Rendered by `cargo xtask k8s --profile {profile}` from docker-compose.yml: do not \
         edit.\n# Apply with `kubectl apply -f deploy/kubernetes/{profile}.yaml`.\n"
    );
    for object in objects {
        out.push_str("---\n");
        out.push_str(&quote_yaml_1_1_booleans(&serde_norway::to_string(
            &sorted(object),
        )?));
    }
    Ok(out)
}

const NAME: &str = "kvstack";

fn labels(component: &str) -> Json {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": component})
}

fn metadata(name: &str, component: &str) -> Json {
    json!({"name": name, "labels": labels(component)})
}

/// The user and group an image runs as (from its Dockerfile, or the official image's).
fn image_user(image: &str) -> (u32, u32) {
    if image.contains("nginx") && !image.starts_with("kvstack/") {
        (101, 101)
    } else if image.contains("kvstore") || image.contains("redis") {
        (999, 1000)
    } else {
        (10001, 10001)
    }
}

fn pod_security(image: &str) -> Json {
    let (user, group) = image_user(image);
    json!({
        "runAsNonRoot": true,
        "runAsUser": user,
        "runAsGroup": group,
        "fsGroup": group,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

fn container_security() -> Json {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
    })
}

fn resources(cpu: &str, memory: &str) -> Json {
    json!({
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": "1", "memory": "512Mi"},
    })
}

fn store_service(store: &Mapping) -> Result<Json> {
    let port = container_port(store)?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("redis", "store"),
        "spec": {
            "selector": labels("store"),
            "ports": [{"name": "redis", "port": port, "targetPort": port}],
        },
    }))
}

fn store_statefulset(store: &Mapping) -> Result<Json> {
    let image = image(store);
    let port = container_port(store)?;
    let probe = exec_probe(store)?;
    let mut container = json!({
        "name": "redis",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "redis", "containerPort": port}],
        "readinessProbe": probe,
        "livenessProbe": probe,
        "resources": resources("100m", "64Mi"),
        "securityContext": container_security(),
        "volumeMounts": [{"name": "redis-data", "mountPath": "/data"}],
    });
    if let Some(args) = command(store) {
        container["args"] = json!(args);
    }
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata("redis", "store"),
        "spec": {
            "serviceName": "redis",
            "replicas": replicas(store),
            "selector": {"matchLabels": labels("store")},
            "template": {
                "metadata": {"labels": labels("store")},
                "spec": {
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "terminationGracePeriodSeconds": grace(store)?,
                    "securityContext": pod_security(&image),
                    "containers": [container],
                },
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "redis-data", "labels": labels("store")},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }],
        },
    }))
}

fn api_service(api: &Mapping) -> Result<Json> {
    let port = container_port(api)?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("backend", "api"),
        "spec": {
            // Headless: `backend` resolves to every ready pod, which the proxy balances over.
            "clusterIP": "None",
            "selector": labels("api"),
            "ports": [{"name": "http", "port": port, "targetPort": port}],
        },
    }))
}

fn api_deployment(api: &Mapping, replicas: usize) -> Result<Json> {
    let image = image(api);
    let port = container_port(api)?;
    let timing = probe_timing(api)?;
    let http_probe = |path: &str| {
        let mut p = timing.clone();
        p["httpGet"] = json!({"path": path, "port": port});
        p
    };
    // `order: start-first`: a new pod is ready before an old one goes.
    let start_first = api
        .get("deploy")
        .and_then(|d| d.get("update_config"))
        .and_then(|u| u.get("order"))
        .and_then(Value::as_str)
        == Some("start-first");
    let strategy = if start_first {
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    } else {
        json!({"type": "RollingUpdate"})
    };
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata("backend", "api"),
        "spec": {
            "replicas": replicas,
            "strategy": strategy,
            "selector": {"matchLabels": labels("api")},
            "template": {
                "metadata": {"labels": labels("api")},
                "spec": {
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "terminationGracePeriodSeconds": grace(api)?,
                    "securityContext": pod_security(&image),
                    "containers": [{
                        "name": "api",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "env": env_list(env(api)),
                        "ports": [{"name": "http", "containerPort": port}],
                        "readinessProbe": http_probe("/readyz"),
                        "livenessProbe": http_probe("/healthz"),
                        "resources": resources("50m", "32Mi"),
                        "securityContext": container_security(),
                    }],
                },
            },
        },
    }))
}

fn api_disruption_budget() -> Json {
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata("backend", "api"),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": labels("api")}},
    })
}

/// configs/nginx.conf for a cluster: Kubernetes DNS in place of Docker's (nginx resolves
/// the resolver's name at start-up), and the headless `backend` Service in place of the
/// compose hosts backend1 and backend2 (`resolve` follows its pods).
fn nginx_config_map() -> Result<Json> {
    let conf = std::fs::read_to_string(root().join("configs/nginx.conf"))?;
    let mut out = String::new();
    let (mut resolver, mut upstream) = (false, false);
    for line in conf.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("resolver 127.0.0.11") {
            out.push_str(&format!(
                "{indent}{}\n",
                trimmed.replace("127.0.0.11", "kube-dns.kube-system.svc.cluster.local")
            ));
            resolver = true;
        } else if trimmed.starts_with("server backend1:5000") {
            out.push_str(&format!(
                "{indent}{}\n",
                trimmed.replace("backend1:5000", "backend:5000")
            ));
            upstream = true;
        } else if trimmed.starts_with("server backend2:5000") {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !(resolver && upstream) {
        bail!("configs/nginx.conf lost its `resolver 127.0.0.11` or `server backend1:5000` line");
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata("nginx-conf", "proxy"),
        "data": {"nginx.conf": out},
    }))
}

fn proxy_service(proxy: &Mapping) -> Result<Json> {
    let port = container_port(proxy)?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("nginx", "proxy"),
        "spec": {
            "type": "LoadBalancer",
            "selector": labels("proxy"),
            "ports": [{"name": "http", "port": 8080, "targetPort": port}],
        },
    }))
}

/// The proxy's admin listener: `/healthz` answers 200 while an upstream is usable.
const ADMIN_PORT: u16 = 9091;

fn proxy_deployment(proxy: &Mapping, nginx: bool) -> Result<Json> {
    let image = image(proxy);
    let port = container_port(proxy)?;
    let timing = probe_timing(proxy)?;
    let with = |mut p: Json, key: &str, value: Json| {
        p[key] = value;
        p
    };
    let mut volumes = vec![json!({"name": "tmp", "emptyDir": {}})];
    let mut mounts = vec![json!({"name": "tmp", "mountPath": "/tmp"})];
    let mut container = json!({
        "name": "proxy",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port}],
        "livenessProbe": with(timing.clone(), "tcpSocket", json!({"port": port})),
        "resources": resources("100m", "32Mi"),
        "securityContext": container_security(),
    });
    if nginx {
        volumes.push(json!({"name": "cache", "emptyDir": {}}));
        mounts.push(json!({"name": "cache", "mountPath": "/var/cache/nginx"}));
        volumes.push(json!({"name": "conf", "configMap": {"name": "nginx-conf"}}));
        mounts.push(json!({
            "name": "conf", "mountPath": "/etc/nginx/nginx.conf", "subPath": "nginx.conf",
            "readOnly": true,
        }));
        container["readinessProbe"] = with(timing, "tcpSocket", json!({"port": port}));
    } else {
        // Only the names Kubernetes resolves: the compose hosts backend1 and backend2 are
        // the pods of `backend` here.
        let mut vars = env(proxy);
        for (k, v) in vars.iter_mut() {
            if k == "UPSTREAMS" {
                *v = v
                    .split(',')
                    .filter(|u| u.trim().starts_with("backend:"))
                    .collect::<Vec<_>>()
                    .join(",");
            }
        }
        // The kubelet probes the pod's address, not loopback.
        vars.push(("ADMIN_LISTEN".into(), format!("0.0.0.0:{ADMIN_PORT}")));
        container["env"] = env_list(vars);
        container["ports"]
            .as_array_mut()
            .expect("ports")
            .push(json!({"name": "admin", "containerPort": ADMIN_PORT}));
        container["readinessProbe"] = with(
            timing,
            "httpGet",
            json!({"path": "/healthz", "port": ADMIN_PORT}),
        );
    }
    container["volumeMounts"] = json!(mounts);
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata("nginx", "proxy"),
        "spec": {
            "replicas": replicas(proxy),
            "selector": {"matchLabels": labels("proxy")},
            "template": {
                "metadata": {"labels": labels("proxy")},
                "spec": {
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "terminationGracePeriodSeconds": grace(proxy)?,
                    // Port 80 as a non-root user (a "safe" sysctl since Kubernetes 1.22).
                    "securityContext": with(
                        pod_security(&image),
                        "sysctls",
                        json!([{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]),
                    ),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }))
}

/// `${VAR:-default}` → `default`, `${VAR}` → empty: a rendering ignores the environment.
pub fn with_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + end];
        if let Some((_, default)) = inner.split_once(":-") {
            out.push_str(default);
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn image(service: &Mapping) -> String {
    with_defaults(service.get("image").and_then(Value::as_str).unwrap_or(""))
}

fn command(service: &Mapping) -> Option<Vec<String>> {
    let list = strings(service.get("command"));
    (!list.is_empty()).then(|| list.iter().map(|a| with_defaults(a)).collect())
}

fn env(service: &Mapping) -> Vec<(String, String)> {
    let Some(map) = service.get("environment").and_then(Value::as_mapping) else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((k.as_str()?.to_string(), with_defaults(&value)))
        })
        .collect()
}

fn env_list(vars: Vec<(String, String)>) -> Json {
    json!(vars
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect::<Vec<_>>())
}

/// The container port of the service's first published port (`[ip:]host:container`).
fn container_port(service: &Mapping) -> Result<u16> {
    let spec = strings(service.get("ports"))
        .into_iter()
        .next()
        .context("a service without ports")?;
    let target = spec.rsplit(':').next().unwrap_or_default();
    target
        .parse()
        .with_context(|| format!("container port of {spec:?}"))
}

fn replicas(service: &Mapping) -> u64 {
    service
        .get("deploy")
        .and_then(|d| d.get("replicas"))
        .and_then(Value::as_u64)
        .unwrap_or(1)
}

/// Compose durations as whole seconds (`10s`, `1m30s`).
fn seconds(value: Option<&Value>, default: u64) -> Result<u64> {
    let Some(text) = value.and_then(Value::as_str) else {
        return Ok(default);
    };
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = number
                    .parse()
                    .with_context(|| format!("duration {text:?}"))?;
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                number.clear();
            }
            _ => bail!("duration {text:?}: only h, m and s are understood"),
        }
    }
    if !number.is_empty() {
        bail!("duration {text:?} lacks a unit");
    }
    Ok(total)
}

fn grace(service: &Mapping) -> Result<u64> {
    seconds(service.get("stop_grace_period"), 10)
}

/// Period, timeout and failure threshold of the compose health check.
fn probe_timing(service: &Mapping) -> Result<Json> {
    let check = service.get("healthcheck");
    let field = |name: &str| check.and_then(|c| c.get(name));
    Ok(json!({
        "periodSeconds": seconds(field("interval"), 10)?,
        "timeoutSeconds": seconds(field("timeout"), 3)?,
        "failureThreshold": field("retries").and_then(Value::as_u64).unwrap_or(3),
    }))
}

/// The compose health check (`["CMD", program, args…]`) as an exec probe.
fn exec_probe(service: &Mapping) -> Result<Json> {
    let test = strings(service.get("healthcheck").and_then(|c| c.get("test")));
    let Some(("CMD", command)) = test.split_first().map(|(a, b)| (a.as_str(), b)) else {
        bail!("health check {test:?}: expected [\"CMD\", program, args…]");
    };
    let mut probe = probe_timing(service)?;
    probe["exec"] = json!({"command": command});
    Ok(probe)
}

/// A JSON value as YAML with every mapping's keys sorted, whatever serde_json's map order.
fn sorted(value: Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => serde_norway::to_value(n).expect("a number"),
        Json::String(s) => Value::String(s),
        Json::Array(items) => Value::Sequence(items.into_iter().map(sorted).collect()),
        Json::Object(map) => {
            let mut entries: Vec<(String, Json)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Mapping(
                entries
                    .into_iter()
                    .map(|(k, v)| (Value::String(k), sorted(v)))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_replace_variables() {
        assert_eq!(
            with_defaults("kvstack/api:${KVSTACK_TAG:-latest}"),
            "kvstack/api:latest"
        );
        assert_eq!(with_defaults("${A}x${B:-y}"), "xy");
        assert_eq!(with_defaults("plain"), "plain");
    }

    #[test]
    fn durations_are_whole_seconds() {
        let v = |s: &str| Value::String(s.into());
        assert_eq!(seconds(Some(&v("10s")), 0).unwrap(), 10);
        assert_eq!(seconds(Some(&v("1m30s")), 0).unwrap(), 90);
        assert_eq!(seconds(None, 7).unwrap(), 7);
        assert!(seconds(Some(&v("10")), 0).is_err());
    }

    #[test]
    fn yaml_1_1_booleans_are_quoted() {
        let text = "args:\n- --appendonly\n- yes\nkey: no\nflag: true\nx: noon\n";
        assert_eq!(
            quote_yaml_1_1_booleans(text),
            "args:\n- --appendonly\n- 'yes'\nkey: 'no'\nflag: true\nx: noon\n"
        );
    }

    #[test]
    fn every_profile_renders() {
        for profile in PROFILES {
            let text = render(profile).unwrap();
            assert!(text.contains("kind: StatefulSet"), "{profile}");
        }
    }
}
