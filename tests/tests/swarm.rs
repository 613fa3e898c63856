//! The stack on a real single-node Docker Swarm, deployed by `cargo xtask swarm up` from
//! `cargo xtask stack-file` (dnsrr endpoints, the load balancer's port in host mode: no IPVS
//! needed). Each test makes the swarm, deploys under a unique name on a free port, and
//! removes the stack, its volume and the swarm when it ends (`e2e::swarm`).
//!
//! These tests run one at a time with the compose tests (`.config/nextest.toml`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use e2e::compose::{try_get, Visit};
use e2e::swarm::{docker, SwarmStack};

/// `visits` visits through the load balancer: strict alternation between two backends, the
/// counter up by one each time, the original's body bytes (checked by `Visit::parse`).
fn assert_alternates(stack: &SwarmStack, visits: usize) -> Vec<Visit> {
    let seen: Vec<Visit> = (0..visits).map(|_| stack.visit()).collect();
    let ids: BTreeSet<&str> = seen.iter().map(|v| v.container_id.as_str()).collect();
    assert_eq!(ids.len(), 2, "two backends answer: {seen:?}");
    for pair in seen.windows(2) {
        assert_ne!(pair[0].container_id, pair[1].container_id, "{seen:?}");
        assert_eq!(pair[1].total_visits, pair[0].total_visits + 1, "{seen:?}");
    }
    seen
}

/// Constant load through the load balancer from a few threads, until stopped: every answer's
/// backend and when it was first seen, and every failure.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    first_seen: Arc<Mutex<Vec<(String, Instant)>>>,
    workers: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, threads: usize) -> Load {
        let load = Load {
            stop: Arc::new(AtomicBool::new(false)),
            sent: Arc::new(AtomicU64::new(0)),
            failures: Arc::new(Mutex::new(Vec::new())),
            first_seen: Arc::new(Mutex::new(Vec::new())),
            workers: Vec::new(),
        };
        let workers = (0..threads)
            .map(|_| {
                let (stop, sent, failures, first_seen) = (
                    load.stop.clone(),
                    load.sent.clone(),
                    load.failures.clone(),
                    load.first_seen.clone(),
                );
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        sent.fetch_add(1, Ordering::Relaxed);
                        match try_get(port, "/") {
                            Ok(r) if r.status == 200 => {
                                let id = Visit::parse(&r.body).container_id;
                                let mut seen = first_seen.lock().unwrap();
                                if !seen.iter().any(|(s, _)| *s == id) {
                                    seen.push((id, Instant::now()));
                                }
                            }
                            other => failures.lock().unwrap().push(format!("{other:?}")),
                        }
                    }
                })
            })
            .collect();
        Load { workers, ..load }
    }

    /// When `id` first answered, if it has.
    fn seen_at(&self, id: &str) -> Option<Instant> {
        let seen = self.first_seen.lock().unwrap();
        seen.iter().find(|(s, _)| s == id).map(|(_, t)| *t)
    }

    /// Stops the threads; (requests sent, failures).
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            w.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.sent.load(Ordering::Relaxed), failures)
    }
}

/// Our three images on Swarm: strict alternation over backend1 and backend2, whose task
/// hostnames are the container ids the api reports.
#[test]
fn stack_alternates_on_swarm() {
    let Some(stack) = SwarmStack::deploy(&[], &[]) else {
        return;
    };
    eprintln!("swarm up -> first 200: {:?}", stack.took);
    let seen = assert_alternates(&stack, 20);
    let ids: BTreeSet<String> = seen.iter().map(|v| v.container_id.clone()).collect();
    let tasks: BTreeSet<String> = ["backend1", "backend2"]
        .iter()
        .flat_map(|s| stack.hostnames(s))
        .collect();
    assert_eq!(ids, tasks);
}

/// `docker service scale <stack>_backend=4` under load: the proxy re-resolves the dnsrr name,
/// all four replicas answer, and no request fails during the change.
#[test]
fn scaled_api_service_joins_without_failed_requests() {
    let Some(stack) = SwarmStack::deploy(&["kvstack", "scale"], &[]) else {
        return;
    };
    let load = Load::start(stack.lb_port, 4);
    let started = Instant::now();
    docker(&[
        "service",
        "scale",
        &format!("{}=4", stack.service("backend")),
    ]);
    let converged = started.elapsed();
    let replicas = stack.hostnames("backend");
    assert_eq!(replicas.len(), 4, "{replicas:?}\n{}", stack.logs());
    let deadline = Instant::now() + Duration::from_secs(60);
    while replicas.iter().any(|h| load.seen_at(h).is_none()) {
        assert!(
            Instant::now() < deadline,
            "not every replica of backend answered: {replicas:?}\n{}",
            stack.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let all_served = replicas
        .iter()
        .filter_map(|h| load.seen_at(h))
        .max()
        .expect("four replicas")
        - started;
    let (sent, failures) = load.finish();
    eprintln!(
        "scale backend 1 -> 4: {sent} requests sent, {} failed; `docker service scale` \
         converged after {converged:?}, all four replicas served {all_served:?} after the \
         command started",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

/// `docker service update --force` of the api service (order: start-first) under constant
/// load: the replica is replaced, and no request fails.
#[test]
fn rolling_update_of_the_api_service_fails_no_request() {
    let Some(stack) = SwarmStack::deploy(&["kvstack", "scale"], &[]) else {
        return;
    };
    let before = stack.hostnames("backend");
    let load = Load::start(stack.lb_port, 4);
    let started = Instant::now();
    docker(&[
        "service",
        "update",
        "--force",
        "--quiet",
        &stack.service("backend"),
    ]);
    let updated = started.elapsed();
    let after = stack.hostnames("backend");
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(!before.contains(&after[0]), "{before:?} -> {after:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while load.seen_at(&after[0]).is_none() {
        assert!(
            Instant::now() < deadline,
            "the new replica {} never answered\n{}",
            after[0],
            stack.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let new_served = load.seen_at(&after[0]).expect("seen") - started;
    let (sent, failures) = load.finish();
    eprintln!(
        "rolling update of backend: {sent} requests sent, {} failed; the update converged \
         after {updated:?}, the new replica served {new_served:?} after the command started",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

/// `docker kill` of the store's task: Swarm starts a new one on the same node, with the
/// `redis_data` volume, and the count goes on (appendfsync always: nothing acknowledged is
/// lost).
#[test]
fn killed_store_task_is_restarted_with_its_count() {
    let Some(stack) = SwarmStack::deploy(&[], &[("REDIS_APPENDFSYNC", "always")]) else {
        return;
    };
    let acknowledged = assert_alternates(&stack, 10).last().unwrap().total_visits;
    let [store] = &stack.containers("redis")[..] else {
        panic!("one store task\n{}", stack.logs());
    };
    docker(&["kill", store]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = stack.containers("redis");
        if now.len() == 1 && now[0] != *store {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Swarm did not restart the store\n{}",
            stack.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let first = stack.wait_for_200(Duration::from_secs(60));
    assert_eq!(first.total_visits, acknowledged + 1);
}

/// A profile that swaps in an official image (here its stand-in) deploys and alternates.
fn profile_alternates(profile: &str) {
    let Some(stack) = SwarmStack::deploy(&[profile], &[]) else {
        return;
    };
    eprintln!("{profile}: swarm up -> first 200: {:?}", stack.took);
    assert_alternates(&stack, 20);
}

#[test]
fn official_redis_rendering_on_swarm() {
    profile_alternates("official-redis");
}

#[test]
fn official_nginx_rendering_on_swarm() {
    profile_alternates("official-nginx");
}

#[test]
fn official_rendering_on_swarm() {
    profile_alternates("official");
}
