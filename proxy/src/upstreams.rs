//! The upstream set as the configuration describes it, and the live handle that SIGHUP
//! replaces.
//!
//! [`build`] turns a [`Config`] into a [`Balancer`]: discovery, active checks, passive health
//! and the request-path settings, resolved and checked once before it is used. [`Live`] holds
//! the balancer in use; a reload ([`Live::reload`], on SIGHUP, as `nginx -s reload`) reads the
//! file again and, when it is valid, builds and checks a new balancer and swaps it in. Requests
//! take the current balancer when they start, so a request in flight finishes on the one it
//! started with and no connection is dropped. A bad file keeps the old configuration and logs
//! why. As after an nginx reload, passive-health state starts afresh.
//!
//! Invariant: settings that belong to sockets and threads (listeners, threads, pools,
//! connection limit, shutdown) are fixed at start-up; a reload that changes them logs that
//! they need a restart and keeps the running values.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora_http::RequestHeader;
use pingora_load_balancing::health_check::{
    HealthCheck, HealthObserve, HttpHealthCheck, TcpHealthCheck,
};
use pingora_load_balancing::Backend;
use tokio::sync::Notify;

use crate::balancer::{Balancer, Settings};
use crate::config::{CheckKind, Config, Overrides};
use crate::discovery;
use crate::limits::{Concurrency, Limits, RequestRate};
use crate::metrics;
use crate::passive::PassiveHealth;
use crate::selector::Selector;

/// Keeps the health gauge in step with active checks (passes also clear passive marks:
/// [`ReleasingCheck`]).
struct HealthWatch;

#[async_trait]
impl HealthObserve for HealthWatch {
    async fn observe(&self, target: &Backend, healthy: bool) {
        let label = target.addr.to_string();
        metrics::UPSTREAM_HEALTHY
            .with_label_values(&[&label])
            .set(i64::from(healthy));
        if healthy {
            tracing::info!(upstream = %label, "upstream healthy");
        } else {
            tracing::warn!(upstream = %label, "upstream unhealthy (active check)");
        }
    }
}

/// The configured check, plus: a pass clears the backend's passive marks and releases a
/// just-discovered backend's hold ([`PassiveHealth::checked`]). pingora reports only flips,
/// and a new backend starts healthy, so its first pass is no flip.
struct ReleasingCheck {
    check: Box<dyn HealthCheck + Send + Sync>,
    passive: Arc<PassiveHealth>,
}

#[async_trait]
impl HealthCheck for ReleasingCheck {
    async fn check(&self, target: &Backend) -> pingora_error::Result<()> {
        let result = self.check.check(target).await;
        if let Some(addr) = target.addr.as_inet() {
            self.passive.check_result(*addr, result.is_ok());
        }
        result?;
        if let Some(addr) = target.addr.as_inet() {
            if self.passive.checked(addr) {
                tracing::info!(upstream = %addr, "upstream passed its first check");
                metrics::UPSTREAM_HEALTHY
                    .with_label_values(&[&addr.to_string()])
                    .set(1);
            }
        }
        Ok(())
    }

    async fn health_status_change(&self, target: &Backend, healthy: bool) {
        self.check.health_status_change(target, healthy).await
    }

    fn health_threshold(&self, success: bool) -> usize {
        self.check.health_threshold(success)
    }
}

fn health_check(
    config: &Config,
    passive: Arc<PassiveHealth>,
) -> Box<dyn HealthCheck + Send + Sync> {
    let watch = Box::new(HealthWatch);
    let check: Box<dyn HealthCheck + Send + Sync> = match config.health_check {
        CheckKind::Tcp => {
            let mut hc = TcpHealthCheck::new();
            hc.consecutive_success = config.health_rise;
            hc.consecutive_failure = config.health_fall;
            hc.peer_template.options.connection_timeout = Some(config.health_timeout);
            hc.health_changed_callback = Some(watch);
            hc
        }
        CheckKind::Http => {
            let mut hc = HttpHealthCheck::new("localhost", false);
            let mut req = RequestHeader::build("GET", config.health_path.as_bytes(), None)
                .expect("validated path");
            let _ = req.append_header("Host", "localhost");
            let _ = req.append_header("User-Agent", "kvstack-proxy-healthcheck");
            hc.req = req;
            hc.consecutive_success = config.health_rise;
            hc.consecutive_failure = config.health_fall;
            hc.peer_template.options.connection_timeout = Some(config.health_timeout);
            hc.peer_template.options.read_timeout = Some(config.health_timeout);
            hc.health_changed_callback = Some(watch);
            Box::new(hc)
        }
    };
    Box::new(ReleasingCheck { check, passive })
}

/// Builds the balancer `config` describes; names are resolved and every backend checked once.
pub async fn build(config: &Config) -> Balancer {
    let passive = Arc::new(PassiveHealth::new(config.max_fails, config.fail_timeout));
    let group = |backup: bool| {
        let servers: Vec<_> = config
            .upstreams
            .iter()
            .filter(|u| u.backup == backup)
            .cloned()
            .collect();
        (!servers.is_empty()).then(|| {
            let discovery = Box::new(discovery::UpstreamSet::new(
                servers,
                config.hosts_file.clone(),
                passive.clone(),
            ));
            Selector::new(
                &config.method,
                discovery,
                health_check(config, passive.clone()),
            )
        })
    };
    let primary = group(false).expect("validated: some server is not a backup");
    let backup = group(true);
    for g in std::iter::once(&primary).chain(backup.as_ref()) {
        if let Err(e) = g.update().await {
            tracing::warn!(
                "upstream resolution: {e}; retrying every {:?}",
                config.resolve_interval
            );
        }
        g.backends().run_health_check(true).await;
        for b in g.backends().get_backend().iter() {
            tracing::info!(upstream = %b.addr, weight = b.weight, "upstream");
        }
    }
    Balancer {
        primary,
        backup,
        method: config.method.clone(),
        in_flight: Default::default(),
        turn: Default::default(),
        passive,
        settings: Settings::from_config(config),
        limits: Limits {
            req: config.limit_req_rate.map(|rate| {
                RequestRate::new(rate, config.limit_req_burst, config.limit_req_status)
            }),
            conn: config
                .limit_conn
                .map(|n| Concurrency::new(n, config.limit_conn_status)),
        },
        resolve_interval: config.resolve_interval,
        check_interval: config.health_interval,
    }
}

/// The balancer in use, and what a reload needs to make the next one.
pub struct Live {
    current: ArcSwap<Balancer>,
    /// Signalled after a reload swapped the balancer (the refresh task follows it).
    pub reloaded: Notify,
    path: Option<PathBuf>,
    over: Overrides,
    /// The configuration in use.
    running: Mutex<Config>,
}

impl Live {
    pub fn new(balancer: Balancer, config: Config, path: Option<PathBuf>, over: Overrides) -> Live {
        Live {
            current: ArcSwap::from_pointee(balancer),
            reloaded: Notify::new(),
            path,
            over,
            running: Mutex::new(config),
        }
    }

    /// The balancer a request starting now uses.
    pub fn balancer(&self) -> Arc<Balancer> {
        self.current.load_full()
    }

    /// Reads the configuration again and, if it is valid, switches to it.
    pub async fn reload(&self) {
        let mut next = match Config::load(self.path.as_deref(), self.over.clone()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("reload: {e}; keeping the running configuration");
                metrics::RELOADS.with_label_values(&["error"]).inc();
                return;
            }
        };
        {
            let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            keep_fixed(&running, &mut next);
        }
        tracing::info!("reload: new configuration {next:#?}");
        let balancer = build(&next).await;
        self.current.store(Arc::new(balancer));
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = next;
        self.reloaded.notify_waiters();
        metrics::RELOADS.with_label_values(&["ok"]).inc();
        tracing::info!("reload: done");
    }
}

#[async_trait]
impl crate::lifecycle::Reload for Live {
    async fn reload(&self) {
        Live::reload(self).await
    }
}

/// Restores in `next` the settings a reload cannot change, warning about each one that was.
fn keep_fixed(running: &Config, next: &mut Config) {
    macro_rules! fixed {
        ($($field:ident),*) => {$(
            if running.$field != next.$field {
                tracing::warn!(
                    "reload: {} changes need a restart; keeping {:?}",
                    stringify!($field),
                    running.$field
                );
                next.$field = running.$field.clone();
            }
        )*};
    }
    fixed!(
        listen,
        admin_listen,
        threads,
        work_stealing,
        max_connections,
        upstream_keepalive,
        upstream_idle_timeout,
        shutdown_grace_secs,
        shutdown_timeout_secs
    );
}
