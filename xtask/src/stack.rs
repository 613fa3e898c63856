//! `cargo xtask up` / `down`: the compose stack, from a fresh clone, without a registry.
//!
//! `up` builds our images the offline way (`images::build`), then runs `docker compose up -d`
//! (or `docker-compose`, v1, where the v2 plugin is missing) and waits until the load balancer
//! answers 200, so "it started" means "it serves".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_norway::Value;

use crate::{images, prereqs, root, sh};

#[derive(Args)]
pub struct UpArgs {
    /// Compose profiles (default: `kvstack`, from .env): official-redis, official-nginx,
    /// official, scale, replicated (its Sentinels run `REDIS_IMAGE`).
    #[arg(long = "profile")]
    profiles: Vec<String>,
    /// Use the images already built instead of rebuilding them.
    #[arg(long)]
    no_build: bool,
    /// Only check what `up` needs on this machine (and say what to install); build nothing.
    #[arg(long)]
    check: bool,
    /// Extra `docker compose up` arguments (e.g. --scale backend=3).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// `docker compose` when the v2 plugin is there, else `docker-compose` (v1).
pub fn compose() -> Command {
    if prereqs::docker_succeeds(&["compose", "version"]) {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    } else {
        Command::new("docker-compose")
    }
}

pub fn up(args: UpArgs) -> Result<()> {
    let build: &[&[prereqs::Need]] = if args.no_build {
        &[]
    } else {
        &[prereqs::BUILD]
    };
    prereqs::ensure("up", build, prereqs::Docker::Compose, args.check)?;
    if args.check {
        return Ok(());
    }
    if !args.no_build {
        images::build(&images::CRATES, "latest")?;
    }
    let mut cmd = compose();
    for p in &args.profiles {
        cmd.args(["--profile", p]);
    }
    sh(cmd.args(["up", "-d", "--no-build"]).args(&args.args))?;
    let port: u16 = std::env::var("LB_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers_200(port) {
        if Instant::now() > deadline {
            bail!(
                "the load balancer on :{port} gave no 200 within 60 s; see `docker compose logs`"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("[xtask] the stack serves: curl http://localhost:{port}/");
    Ok(())
}

/// The services docker-compose.yml runs under `profiles` (default `kvstack`), with its YAML
/// merge keys resolved and its `x-` anchors gone: what the Swarm and Kubernetes renderings
/// both start from, so neither can drift from the compose file. `profiles` is removed from
/// each service; everything else is as written (variables stay `${…}`).
pub fn compose_document(profiles: &[String]) -> Result<Value> {
    let text = std::fs::read_to_string(root().join("docker-compose.yml"))?;
    let mut doc: Value = serde_norway::from_str(&text)?;
    // Merge keys nest (x-store merges x-service); each pass resolves one level.
    loop {
        let before = doc.clone();
        doc.apply_merge()?;
        if doc == before {
            break;
        }
    }
    let active: Vec<&str> = if profiles.is_empty() {
        vec!["kvstack"]
    } else {
        profiles.iter().map(String::as_str).collect()
    };
    let services = doc
        .get_mut("services")
        .and_then(Value::as_mapping_mut)
        .context("docker-compose.yml has no services")?;
    services.retain(|_, service| match service.get("profiles") {
        None => true,
        Some(list) => list
            .as_sequence()
            .into_iter()
            .flatten()
            .any(|p| p.as_str().is_some_and(|p| active.contains(&p))),
    });
    for service in services.values_mut().filter_map(Value::as_mapping_mut) {
        service.remove("profiles");
    }
    // The x- anchors served their purpose; no orchestrator has a use for them.
    if let Some(top) = doc.as_mapping_mut() {
        top.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
    }
    Ok(doc)
}

/// How Swarm gives clients a service's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EndpointMode {
    /// A name resolves to every task's address (no IPVS needed); only the load balancer's
    /// port is published, in `mode: host`.
    Dnsrr,
    /// A virtual IP per service and the routing mesh, ports as in docker-compose.yml: for
    /// clusters whose kernels have IPVS.
    Vip,
}

/// The node label that the store's placement constraint asks for: the `redis_data` volume is
/// local to a node, so the store must always come back on the node that holds it.
pub const STORE_NODE_LABEL: &str = "kvstack.store";

/// docker-compose.yml in the shape `docker stack deploy` accepts, for the given profiles
/// (default `kvstack`):
/// - Swarm knows neither profiles nor `depends_on` conditions: the services of other profiles
///   are dropped and each `depends_on` becomes a plain list (Swarm ignores it; health checks
///   and restarts do that job there). `build` and `restart` (compose-only) are dropped.
/// - `mynet` is an attachable overlay network.
/// - The service that mounts `redis_data` (the store) is placed on the node labelled
///   [`STORE_NODE_LABEL`]` == true`.
/// - Read-only bind mounts of files (nginx.conf) become Swarm configs, which reach every node.
/// - [`EndpointMode::Dnsrr`]: every service resolves by DNS round robin, and only the load
///   balancer's port (the one published as `LB_PORT`) is published, in `mode: host`; the
///   backends' and the store's host ports are dropped (host-mode ports would pin one task per
///   node and stall `start-first` updates). [`EndpointMode::Vip`] keeps the compose ports.
///
/// - Health checks run every [`SWARM_HEALTH_INTERVAL`].
///
/// Variables stay `${…}`: `docker stack deploy` substitutes them from the shell.
pub fn stack_file(profiles: &[String], mode: EndpointMode) -> Result<String> {
    let mut doc = compose_document(profiles)?;
    let mut configs = serde_norway::Mapping::new();
    let services = doc
        .get_mut("services")
        .and_then(Value::as_mapping_mut)
        .context("docker-compose.yml has no services")?;
    let names: Vec<Value> = services.keys().cloned().collect();
    for service in services.values_mut().filter_map(Value::as_mapping_mut) {
        service.remove("build");
        service.remove("restart");
        if let Some(deps) = service.get("depends_on").and_then(Value::as_mapping) {
            let list = deps.keys().filter(|k| names.contains(k)).cloned().collect();
            service.insert("depends_on".into(), Value::Sequence(list));
        }
        let mounts = volume_specs(service);
        if mounts.iter().any(|m| m.starts_with("redis_data:")) {
            let constraint = format!("node.labels.{STORE_NODE_LABEL} == true");
            deploy(service).insert(
                "placement".into(),
                serde_norway::from_str(&format!("constraints: [\"{constraint}\"]"))?,
            );
        }
        files_as_configs(service, &mut configs)?;
        if let Some(check) = service
            .get_mut("healthcheck")
            .and_then(Value::as_mapping_mut)
        {
            if check.contains_key("interval") {
                check.insert("interval".into(), SWARM_HEALTH_INTERVAL.into());
            }
        }
        if mode == EndpointMode::Dnsrr {
            deploy(service).insert("endpoint_mode".into(), "dnsrr".into());
            host_mode_load_balancer_port(service)?;
        }
    }
    let top = doc
        .as_mapping_mut()
        .context("docker-compose.yml is not a mapping")?;
    top.insert(
        "networks".into(),
        serde_norway::from_str("mynet: {driver: overlay, attachable: true}")?,
    );
    if !configs.is_empty() {
        top.insert("configs".into(), Value::Mapping(configs));
    }
    Ok(quote_yaml_1_1_booleans(&serde_norway::to_string(&doc)?))
}

/// Swarm puts a task behind its service's name (DNS and VIP) only once its health check has
/// passed, and Docker 20.10 runs the first check a whole `interval` after the start (it has no
/// `start_interval`): with compose's 10 s every scaled or updated replica would wait 10 s
/// before the load balancer could even resolve it. Checks every second make it resolvable
/// about a second after it listens; the probe is one exec of a static binary.
pub const SWARM_HEALTH_INTERVAL: &str = "1s";

/// Quotes the plain scalars that YAML 1.1 reads as booleans (`yes`, `no`, `on`, `off`, `y`,
/// `n`, any case). serde_norway writes YAML 1.2, where they are strings, but Kubernetes'
/// parser, PyYAML and older Docker clients read YAML 1.1: `--appendonly yes` would reach
/// them as `true`. Only whole values of sequence items and mapping entries are touched.
pub fn quote_yaml_1_1_booleans(yaml: &str) -> String {
    const WORDS: [&str; 6] = ["yes", "no", "on", "off", "y", "n"];
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        let value_at = if let Some(i) = line.rfind(": ") {
            i + 2
        } else if let Some(rest) = line.trim_start().strip_prefix("- ") {
            line.len() - rest.len()
        } else {
            line.len()
        };
        let value = &line[value_at..];
        if WORDS.iter().any(|w| value.eq_ignore_ascii_case(w)) {
            out.push_str(&line[..value_at]);
            out.push('\'');
            out.push_str(value);
            out.push('\'');
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// A service's `deploy` mapping, created if missing.
fn deploy(service: &mut serde_norway::Mapping) -> &mut serde_norway::Mapping {
    let entry = service
        .entry("deploy".into())
        .or_insert_with(|| Value::Mapping(Default::default()));
    if !entry.is_mapping() {
        *entry = Value::Mapping(Default::default());
    }
    entry.as_mapping_mut().expect("a mapping")
}

/// The short-syntax volume strings of a service.
fn volume_specs(service: &serde_norway::Mapping) -> Vec<String> {
    service
        .get("volumes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Turns `source:/path/file.conf:ro` bind mounts into Swarm configs named after the file
/// (`nginx_conf`), added to `configs`.
fn files_as_configs(
    service: &mut serde_norway::Mapping,
    configs: &mut serde_norway::Mapping,
) -> Result<()> {
    let mut kept = Vec::new();
    let mut used = Vec::new();
    for spec in volume_specs(service) {
        let Some(rest) = spec.strip_suffix(":ro") else {
            kept.push(Value::from(spec));
            continue;
        };
        let Some((source, target)) = rest.rsplit_once(':') else {
            kept.push(Value::from(spec));
            continue;
        };
        let bind = source.starts_with(['.', '/']) || source.starts_with("${");
        let file = target.rsplit('/').next().unwrap_or_default();
        if !bind || !file.contains('.') {
            kept.push(Value::from(spec));
            continue;
        }
        let name = file.replace(['.', '-'], "_");
        configs.insert(
            name.clone().into(),
            serde_norway::from_str(&format!("file: \"{source}\""))?,
        );
        used.push(serde_norway::from_str::<Value>(&format!(
            "{{source: {name}, target: \"{target}\"}}"
        ))?);
    }
    if service.contains_key("volumes") {
        if kept.is_empty() {
            service.remove("volumes");
        } else {
            service.insert("volumes".into(), Value::Sequence(kept));
        }
    }
    if !used.is_empty() {
        service.insert("configs".into(), Value::Sequence(used));
    }
    Ok(())
}

/// Keeps only the port published as `${LB_PORT…}`, in long syntax with `mode: host` (Swarm
/// has no host IP for it: it binds every address of the node).
fn host_mode_load_balancer_port(service: &mut serde_norway::Mapping) -> Result<()> {
    let Some(ports) = service.get("ports").and_then(Value::as_sequence) else {
        return Ok(());
    };
    let mut kept = Vec::new();
    for spec in ports.iter().filter_map(Value::as_str) {
        let (published, target) = split_port(spec)?;
        if published.contains("LB_PORT") {
            kept.push(serde_norway::from_str::<Value>(&format!(
                "{{target: {target}, published: \"{published}\", protocol: tcp, mode: host}}"
            ))?);
        }
    }
    if kept.is_empty() {
        service.remove("ports");
    } else {
        service.insert("ports".into(), Value::Sequence(kept));
    }
    Ok(())
}

/// `[ip:]published:target` → (published, target); the parts may be `${VAR:-default}`.
fn split_port(spec: &str) -> Result<(String, u16)> {
    let (left, target) = spec
        .rsplit_once(':')
        .with_context(|| format!("port {spec:?} has no container port"))?;
    let target: u16 = target
        .parse()
        .with_context(|| format!("port {spec:?}: container port"))?;
    let published = if left.ends_with('}') {
        &left[left.rfind("${").with_context(|| format!("port {spec:?}"))?..]
    } else {
        left.rsplit(':').next().unwrap_or(left)
    };
    Ok((published.to_string(), target))
}

pub fn down(args: &[String]) -> Result<()> {
    sh(compose().arg("down").args(args))
}

pub fn answers_200(port: u16) -> bool {
    let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    if conn
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(profiles: &[&str], mode: EndpointMode) -> Value {
        let profiles: Vec<String> = profiles.iter().map(|p| p.to_string()).collect();
        serde_norway::from_str(&stack_file(&profiles, mode).unwrap()).unwrap()
    }

    /// dnsrr: every service resolves by DNS round robin, only the load balancer publishes a
    /// port (host mode), the store is placed by its label, `mynet` is an overlay network.
    #[test]
    fn dnsrr_rendering_needs_no_ipvs() {
        let doc = render(&[], EndpointMode::Dnsrr);
        let services = doc["services"].as_mapping().unwrap();
        for (name, service) in services {
            assert_eq!(service["deploy"]["endpoint_mode"], "dnsrr", "{name:?}");
            assert!(service.get("build").is_none() && service.get("restart").is_none());
            let published = service.get("ports").is_some();
            assert_eq!(published, name == "nginx", "{name:?}");
        }
        let port = &doc["services"]["nginx"]["ports"][0];
        assert_eq!(port["mode"], "host");
        assert_eq!(port["published"], "${LB_PORT:-8080}");
        assert_eq!(port["target"].as_u64(), Some(80));
        assert_eq!(
            doc["services"]["redis"]["deploy"]["placement"]["constraints"][0],
            "node.labels.kvstack.store == true"
        );
        assert_eq!(doc["networks"]["mynet"]["driver"], "overlay");
    }

    #[test]
    fn vip_rendering_keeps_the_compose_ports() {
        let doc = render(&[], EndpointMode::Vip);
        let backend = &doc["services"]["backend1"];
        assert!(backend["deploy"].get("endpoint_mode").is_none());
        assert_eq!(
            backend["ports"][0],
            "${HOST_IP:-0.0.0.0}:${BACKEND1_PORT:-5001}:5000"
        );
    }

    #[test]
    fn nginx_conf_becomes_a_swarm_config() {
        let doc = render(&["official"], EndpointMode::Dnsrr);
        let nginx = &doc["services"]["nginx-official"];
        assert!(nginx.get("volumes").is_none());
        assert_eq!(nginx["configs"][0]["source"], "nginx_conf");
        assert_eq!(nginx["configs"][0]["target"], "/etc/nginx/nginx.conf");
        assert_eq!(
            doc["configs"]["nginx_conf"]["file"],
            "${NGINX_CONF:-./configs/nginx.conf}"
        );
        assert_eq!(
            doc["services"]["redis-official"]["deploy"]["endpoint_mode"],
            "dnsrr"
        );
    }

    #[test]
    fn ports_split_into_published_and_target() {
        assert_eq!(
            split_port("${HOST_IP:-0.0.0.0}:${LB_PORT:-8080}:80").unwrap(),
            ("${LB_PORT:-8080}".to_string(), 80)
        );
        assert_eq!(
            split_port("127.0.0.1:8080:80").unwrap(),
            ("8080".into(), 80)
        );
        assert_eq!(split_port("8080:80").unwrap(), ("8080".into(), 80));
    }
}
