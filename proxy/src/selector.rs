//! One upstream group (the primary servers, or the `backup` ones) under the configured
//! method: pingora-load-balancing's `LoadBalancer` with the matching selection algorithm —
//! weighted round robin (also the base of `least_conn`), FNV hashing for `ip_hash` and plain
//! `hash`, Ketama (nginx's consistent hashing, ported by pingora-ketama) for
//! `hash ... consistent`. The selection type is fixed per `LoadBalancer`, so the group is an
//! enum over the three.

use pingora_error::Result;
use pingora_load_balancing::discovery::ServiceDiscovery;
use pingora_load_balancing::health_check::HealthCheck;
use pingora_load_balancing::selection::{Consistent, FNVHash, RoundRobin};
use pingora_load_balancing::{Backend, Backends, LoadBalancer};

use crate::config::Method;

pub enum Selector {
    RoundRobin(LoadBalancer<RoundRobin>),
    Hash(LoadBalancer<FNVHash>),
    Consistent(LoadBalancer<Consistent>),
}

macro_rules! each {
    ($self:expr, $lb:ident => $e:expr) => {
        match $self {
            Selector::RoundRobin($lb) => $e,
            Selector::Hash($lb) => $e,
            Selector::Consistent($lb) => $e,
        }
    };
}

impl Selector {
    pub fn new(
        method: &Method,
        discovery: Box<dyn ServiceDiscovery + Send + Sync>,
        check: Box<dyn HealthCheck + Send + Sync>,
    ) -> Selector {
        let mut backends = Backends::new(discovery);
        backends.set_health_check(check);
        match method {
            Method::RoundRobin | Method::LeastConn => {
                Selector::RoundRobin(LoadBalancer::from_backends(backends))
            }
            Method::IpHash
            | Method::Hash {
                consistent: false, ..
            } => Selector::Hash(LoadBalancer::from_backends(backends)),
            Method::Hash {
                consistent: true, ..
            } => Selector::Consistent(LoadBalancer::from_backends(backends)),
        }
    }

    pub fn backends(&self) -> &Backends {
        each!(self, lb => lb.backends())
    }

    /// Resolves the names again and rebuilds the selection.
    pub async fn update(&self) -> Result<()> {
        each!(self, lb => lb.update().await)
    }

    /// The first backend for `key` that `accept` takes (given its active-check health).
    pub fn select_with<F>(&self, key: &[u8], accept: F) -> Option<Backend>
    where
        F: Fn(&Backend, bool) -> bool,
    {
        each!(self, lb => lb.select_with(key, 256, &accept))
    }

    /// True when every backend passes its active check.
    pub fn all_pass(&self) -> bool {
        let backends = self.backends();
        backends.get_backend().iter().all(|b| backends.ready(b))
    }
}
