//! `cargo xtask bench replication`: a master with one replica attached, kvstore with a
//! kvstore replica against redis-server with a redis-server replica: the master's `SET`
//! throughput (redis-benchmark, pipeline 1 and 16) and, measured meanwhile, how long a write
//! takes to be readable on the replica (a probe `SET` on the master every 10 ms, then `GET`
//! on the replica until it answers), median and p99.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::kvstore::redis_benchmark;
use super::proc::{Proc, Store};
use super::{median, plan_steps, ratio, spread, step, Plan};

/// Pipeline depths measured.
const PIPELINES: [u32; 2] = [1, 16];

/// One round's figures for one store: SET ops/s and the probes' delays in ms.
struct Sample {
    rps: f64,
    lags_ms: Vec<f64>,
}

pub fn run(plan: &Plan) -> Result<String> {
    let stores = [Store::Kvstore, Store::Redis];
    plan_steps((PIPELINES.len() * plan.rounds * stores.len()) as u64);
    let mut report = String::new();
    writeln!(report, "## Replication: a master with one replica\n")?;
    writeln!(
        report,
        "Each store as master with one replica of its own kind (kvstore → kvstore, \
         redis-server → redis-server), both `appendonly yes`, `appendfsync everysec`, fresh \
         for every round, the replica attached and synced before the load. Load: \
         `redis-benchmark -c 50 -n <N> -P <pipeline> -r 100000 SET` on the master (N = {} at \
         pipeline 1, {} at 16). Lag: meanwhile, every 10 ms a probe `SET` on the master, then \
         `GET` on the replica until it answers; the time from the `SET`'s reply to the \
         replica's answer, median and p99 over the run's probes. Median of {} rounds (spread \
         in brackets), order alternated every round.\n",
        plan.requests,
        plan.requests * 10,
        plan.rounds
    )?;
    writeln!(
        report,
        "| pipeline | kvstore SET ops/s | redis-server SET ops/s | ratio | kvstore lag p50 / p99 ms | redis-server lag p50 / p99 ms |\n\
         |---:|---:|---:|---:|---:|---:|"
    )?;
    for pipeline in PIPELINES {
        let requests = if pipeline == 1 {
            plan.requests
        } else {
            plan.requests * 10
        };
        let mut samples: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
        for round in 0..plan.rounds {
            for i in Plan::order(round, stores.len()) {
                let store = stores[i];
                step(&format!(
                    "replication: pipeline {pipeline}, round {}, {}",
                    round + 1,
                    store.name()
                ));
                samples[i].push(measure(store, pipeline, requests)?);
            }
        }
        let rps = |s: &[Sample]| s.iter().map(|s| s.rps).collect::<Vec<_>>();
        let lag = |s: &[Sample], q: f64| {
            let per_round: Vec<f64> = s.iter().map(|s| quantile(&s.lags_ms, q)).collect();
            median(&per_round)
        };
        let (ours, theirs) = (&samples[0], &samples[1]);
        let (o, t) = (median(&rps(ours)), median(&rps(theirs)));
        writeln!(
            report,
            "| {pipeline} | {o:.0} ({}) | {t:.0} ({}) | {} | {:.2} / {:.2} | {:.2} / {:.2} |",
            spread(&rps(ours), 0),
            spread(&rps(theirs), 0),
            ratio(o, t),
            lag(ours, 0.5),
            lag(ours, 0.99),
            lag(theirs, 0.5),
            lag(theirs, 0.99),
        )?;
    }
    Ok(report)
}

/// One round for `store`: a master and its replica, the load on the master, the probes.
fn measure(store: Store, pipeline: u32, requests: u64) -> Result<Sample> {
    let master = store.start("everysec")?;
    let port = master.port.to_string();
    let replica = store.start_with("everysec", &["--replicaof", "127.0.0.1", &port])?;
    wait_link_up(&replica)?;
    let (n, p, to) = (requests.to_string(), pipeline.to_string(), master.port);
    let load = std::thread::spawn(move || {
        redis_benchmark(
            to,
            &[
                "-n",
                &n,
                "-P",
                &p,
                "-r",
                "100000",
                "SET",
                "key:__rand_int__",
                "value",
            ],
        )
    });
    let mut to_master = connect(master.port)?;
    let mut to_replica = connect(replica.port)?;
    let mut lags_ms = Vec::new();
    let mut probe = 0u64;
    while !load.is_finished() {
        probe += 1;
        let key = format!("bench:probe:{probe}");
        redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .query::<()>(&mut to_master)?;
        let written = Instant::now();
        while redis::cmd("EXISTS")
            .arg(&key)
            .query::<i64>(&mut to_replica)?
            != 1
        {
            if written.elapsed() > Duration::from_secs(30) {
                bail!(
                    "{}: a write did not reach the replica in 30 s",
                    store.name()
                );
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        lags_ms.push(written.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(10));
    }
    let rows = load.join().expect("redis-benchmark thread")?;
    let rps = rows.values().next().context("no SET row")?.rps;
    drop((master, replica));
    Ok(Sample { rps, lags_ms })
}

/// Waits until the replica reports its link to the master up.
fn wait_link_up(replica: &Proc) -> Result<()> {
    let mut conn = connect(replica.port)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let info =
        |conn: &mut redis::Connection| redis::cmd("INFO").arg("replication").query::<String>(conn);
    while !info(&mut conn)?.contains("master_link_status:up") {
        if Instant::now() > deadline {
            bail!("the replica's link did not come up in 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The `q` quantile of a sample (nearest rank); NaN when empty.
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// A connection to the store on `port` (redis-rs, blocking), bounded by a read timeout.
fn connect(port: u16) -> Result<redis::Connection> {
    let conn = redis::Client::open(("127.0.0.1", port))?.get_connection()?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
