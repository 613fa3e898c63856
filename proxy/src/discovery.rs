//! Upstream discovery: every configured name is resolved again every `resolve_interval`,
//! and every address it resolves to becomes a backend. This is what lets
//! `docker compose up --scale api=4` add backends without restarting the proxy.
//!
//! Resolution order per name: an IP literal is itself; then the optional hosts file
//! (`HOSTS_FILE`, `/etc/hosts` format, re-read every round — handy for static setups and the
//! tests); then the system resolver (`getaddrinfo`, which in a container asks Docker's
//! embedded DNS). A name that fails to resolve keeps its last good addresses, so a DNS hiccup
//! never empties the pool; health checks decide whether those addresses still serve.
//!
//! An address seen for the first time is held out of rotation until an active check passes
//! ([`PassiveHealth::hold_until_checked`]); one that stopped resolving is forgotten.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pingora_core::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora_error::{Error, ErrorType, Result};
use pingora_load_balancing::discovery::ServiceDiscovery;
use pingora_load_balancing::Backend;

use crate::config::Upstream;
use crate::metrics;
use crate::passive::PassiveHealth;

/// The configured upstreams and how to resolve them.
pub struct UpstreamSet {
    upstreams: Vec<Upstream>,
    hosts_file: Option<PathBuf>,
    last_good: Mutex<HashMap<String, Vec<IpAddr>>>,
    /// The addresses of the previous round, to tell which are new; `None` before the first.
    known: Mutex<Option<BTreeSet<SocketAddr>>>,
    passive: Arc<PassiveHealth>,
}

impl UpstreamSet {
    pub fn new(
        upstreams: Vec<Upstream>,
        hosts_file: Option<PathBuf>,
        passive: Arc<PassiveHealth>,
    ) -> Self {
        UpstreamSet {
            upstreams,
            hosts_file,
            last_good: Mutex::new(HashMap::new()),
            known: Mutex::new(None),
            passive,
        }
    }

    /// Holds the addresses seen for the first time until checked (those of the first round,
    /// the configured upstreams, are put on probation instead, as nginx tries them); forgets
    /// vanished ones.
    fn track(&self, now: BTreeSet<SocketAddr>) {
        let mut guard = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let Some(known) = guard.as_mut() else {
            for addr in &now {
                self.passive.probation(*addr);
                metrics::UPSTREAM_HEALTHY
                    .with_label_values(&[&addr.to_string()])
                    .set(0);
            }
            *guard = Some(now);
            return;
        };
        for addr in now.difference(known) {
            tracing::info!(upstream = %addr, "new upstream, in rotation once a check passes");
            self.passive.hold_until_checked(*addr);
            metrics::UPSTREAM_HEALTHY
                .with_label_values(&[&addr.to_string()])
                .set(0);
        }
        for addr in known.difference(&now) {
            tracing::info!(upstream = %addr, "upstream no longer resolves");
            self.passive.forget(addr);
            let _ = metrics::UPSTREAM_HEALTHY.remove_label_values(&[&addr.to_string()]);
        }
        *known = now;
    }

    async fn resolve(&self, up: &Upstream, hosts: &HashMap<String, Vec<IpAddr>>) -> Vec<IpAddr> {
        if let Ok(ip) = up.host.parse::<IpAddr>() {
            return vec![ip];
        }
        if let Some(ips) = hosts.get(&up.host.to_ascii_lowercase()) {
            return ips.clone();
        }
        match tokio::net::lookup_host((up.host.as_str(), up.port)).await {
            Ok(addrs) => {
                let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                ips.sort();
                ips.dedup();
                ips
            }
            Err(e) => {
                tracing::warn!(upstream = %up, "cannot resolve: {e}");
                Vec::new()
            }
        }
    }
}

/// Parses `/etc/hosts` format: `IP name [alias...]`, `#` comments.
pub fn parse_hosts(text: &str) -> HashMap<String, Vec<IpAddr>> {
    let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        for name in words {
            let ips = map.entry(name.to_ascii_lowercase()).or_default();
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    map
}

#[async_trait]
impl ServiceDiscovery for UpstreamSet {
    async fn discover(&self) -> Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let hosts = match &self.hosts_file {
            // A small local file: a blocking read in the background task is fine.
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => parse_hosts(&text),
                Err(e) => {
                    tracing::warn!("cannot read hosts file {}: {e}", path.display());
                    HashMap::new()
                }
            },
            None => HashMap::new(),
        };
        let mut backends = BTreeSet::new();
        for up in &self.upstreams {
            let mut ips = self.resolve(up, &hosts).await;
            {
                let mut last = self.last_good.lock().unwrap_or_else(|p| p.into_inner());
                if ips.is_empty() {
                    ips = last.get(&up.host).cloned().unwrap_or_default();
                } else {
                    last.insert(up.host.clone(), ips.clone());
                }
            }
            for ip in ips {
                if up.max_fails.is_some() || up.fail_timeout.is_some() {
                    let (max_fails, fail_timeout) = self.passive.defaults();
                    self.passive.set_limits(
                        SocketAddr::new(ip, up.port),
                        up.max_fails.unwrap_or(max_fails),
                        up.fail_timeout.unwrap_or(fail_timeout),
                    );
                }
                backends.insert(Backend {
                    addr: PSocketAddr::Inet(SocketAddr::new(ip, up.port)),
                    weight: up.weight,
                    ext: Default::default(),
                });
            }
        }
        if backends.is_empty() {
            return Error::e_explain(
                ErrorType::InternalError,
                "no upstream name resolved to any address",
            );
        }
        self.track(
            backends
                .iter()
                .filter_map(|b| b.addr.as_inet().copied())
                .collect(),
        );
        Ok((backends, HashMap::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_format() {
        let m = parse_hosts("# c\n127.0.0.1 a b\n127.0.0.2 A # two\n\nbad line\n");
        assert_eq!(
            m["a"],
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "127.0.0.2".parse().unwrap()
            ]
        );
        assert_eq!(m["b"].len(), 1);
        assert!(!m.contains_key("line"));
    }

    #[tokio::test]
    async fn every_address_becomes_a_backend() {
        let dir = std::env::temp_dir().join(format!("proxy-hosts-{}", std::process::id()));
        let passive = Arc::new(PassiveHealth::new(1, std::time::Duration::from_secs(10)));
        let set = UpstreamSet::new(
            vec![
                Upstream {
                    host: "api".into(),
                    port: 5000,
                    weight: 1,
                    ..Upstream::default()
                },
                Upstream {
                    host: "127.0.0.9".into(),
                    port: 80,
                    weight: 2,
                    ..Upstream::default()
                },
            ],
            Some(dir.clone()),
            passive.clone(),
        );
        std::fs::write(&dir, "127.0.0.5 api\n").unwrap();
        let (b, _) = set.discover().await.unwrap();
        assert_eq!(b.len(), 2);
        let first: SocketAddr = "127.0.0.5:5000".parse().unwrap();
        assert!(passive.usable(&first, false), "configured: on probation");
        std::fs::write(&dir, "127.0.0.5 api\n127.0.0.6 api\n").unwrap();
        let (b, _) = set.discover().await.unwrap();
        let addrs: Vec<String> = b.iter().map(|b| b.addr.to_string()).collect();
        assert_eq!(addrs.len(), 3, "{addrs:?}");
        // An address discovered later waits for a passing check.
        let second: SocketAddr = "127.0.0.6:5000".parse().unwrap();
        assert!(passive.is_down(&second));
        assert!(passive.checked(&second));
        assert!(!passive.is_down(&second));
        // The name disappears from the file: its last good addresses stay.
        std::fs::write(&dir, "").unwrap();
        let set2 = set;
        let (b2, _) = set2.discover().await.unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(b2.len(), 3);
    }
}
