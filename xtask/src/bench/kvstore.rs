//! Part `kvstore`: redis-benchmark's default suite, plus bitmap, HyperLogLog and geo commands
//! as custom commands, against kvstore and Debian's redis-server,
//! 50 clients, pipeline 1 and 16, with `appendfsync everysec` and `always`.
//!
//! A test whose command kvstore does not implement yet is not run against it (an error reply
//! is fast, and would look like a result); its row says so.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::plot;
use super::proc::Store;
use super::{image, median, plan_steps, ratio, spread, step, Plan};

/// redis-benchmark's default tests, in its order, with the command each needs.
const SUITE: &[(&str, &str)] = &[
    ("PING_INLINE", "ping"),
    ("PING_MBULK", "ping"),
    ("SET", "set"),
    ("GET", "get"),
    ("INCR", "incr"),
    ("LPUSH", "lpush"),
    ("RPUSH", "rpush"),
    ("LPOP", "lpop"),
    ("RPOP", "rpop"),
    ("SADD", "sadd"),
    ("HSET", "hset"),
    ("SPOP", "spop"),
    ("ZADD", "zadd"),
    ("ZPOPMIN", "zpopmin"),
    ("LRANGE_100", "lrange"),
    ("LRANGE_300", "lrange"),
    ("LRANGE_500", "lrange"),
    ("LRANGE_600", "lrange"),
    ("MSET", "mset"),
];

/// Custom-command tests run after the default suite on the same server (so BITCOUNT, PFCOUNT
/// and GEOSEARCH read what SETBIT, PFADD and GEOADD wrote): the row name, then the command
/// with redis-benchmark's `__rand_int__` placeholders (`-r 100000`). The placeholder is a
/// zero-padded number, which no integer argument accepts: SETBIT varies its key, not its
/// offset. GEOSEARCH takes `COUNT 10 ANY` because those digits put every GEOADD point within
/// a metre of the others.
const CUSTOM: &[(&str, &[&str])] = &[
    (
        "SETBIT",
        &["SETBIT", "bench:bits:__rand_int__", "4095", "1"],
    ),
    ("BITCOUNT", &["BITCOUNT", "bench:bits:__rand_int__"]),
    ("PFADD", &["PFADD", "bench:hll", "__rand_int__"]),
    ("PFCOUNT", &["PFCOUNT", "bench:hll"]),
    (
        "GEOADD",
        &[
            "GEOADD",
            "bench:geo",
            "13.__rand_int__",
            "38.__rand_int__",
            "m:__rand_int__",
        ],
    ),
    (
        "GEOSEARCH",
        &[
            "GEOSEARCH",
            "bench:geo",
            "FROMLONLAT",
            "13",
            "38",
            "BYRADIUS",
            "5",
            "km",
            "COUNT",
            "10",
            "ANY",
        ],
    ),
];

/// One redis-benchmark result row.
#[derive(Clone, Copy)]
pub struct Row {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// True when the store on `port` knows `command` (COMMAND INFO answers a non-nil entry).
pub fn supports(port: u16, command: &str) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "COMMAND", "INFO", command])
        .output()
        .is_ok_and(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.lines().next().is_some_and(|l| l.trim() == command)
        })
}

/// Runs redis-benchmark (`-c 50`) with `args`; returns rows by test name (the first word of
/// redis-benchmark's name: `LRANGE_100`, `MSET`, …).
pub fn redis_benchmark(port: u16, args: &[&str]) -> Result<BTreeMap<String, Row>> {
    let out = Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-c", "50", "--csv"])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .context("cannot run redis-benchmark (apt-get install redis-tools)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split("\",\"").map(|f| f.trim_matches('"')).collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(name), Some(rps), Some(p50), Some(p99)) = (f.first(), num(1), num(4), num(6)) {
            let name = name.split_whitespace().next().unwrap_or(name).to_string();
            // The LPUSH that prepares LRANGE is not a test of its own.
            if line.contains("needed to benchmark") {
                continue;
            }
            rows.insert(
                name,
                Row {
                    rps,
                    p50_ms: p50,
                    p99_ms: p99,
                },
            );
        }
    }
    if rows.is_empty() {
        bail!("redis-benchmark printed no results: {text}");
    }
    Ok(rows)
}

pub fn run(plan: &Plan) -> Result<String> {
    let stores = [Store::Kvstore, Store::Redis];
    let configs: Vec<(&str, u32)> = vec![
        ("everysec", 1),
        ("everysec", 16),
        ("always", 1),
        ("always", 16),
    ];
    plan_steps((configs.len() * plan.rounds * stores.len()) as u64);

    // Which tests kvstore can run.
    let probe = Store::Kvstore.start("everysec")?;
    let supported: Vec<&str> = SUITE
        .iter()
        .filter(|(_, cmd)| supports(probe.port, cmd))
        .map(|(t, _)| *t)
        .collect();
    let custom_supported: Vec<&str> = CUSTOM
        .iter()
        .filter(|(_, args)| supports(probe.port, &args[0].to_lowercase()))
        .map(|(t, _)| *t)
        .collect();
    drop(probe);

    let mut report = String::new();
    writeln!(report, "## kvstore vs redis-server\n")?;
    writeln!(
        report,
        "`redis-benchmark -c 50 -n <N> -P <pipeline> -t <suite>` (N = {} at pipeline 1, {} at \
         16), redis-benchmark's default suite, then SETBIT, BITCOUNT, PFADD, PFCOUNT, GEOADD and \
         GEOSEARCH as custom commands (`-r 100000`), against kvstore and Debian's redis-server, both \
         fresh for every run, both `appendonly yes` with the `appendfsync` of the row and the \
         default `io-threads 1`. Median of {} rounds (spread in brackets), order alternated \
         every round. Latencies are redis-benchmark's, in ms.\n",
        plan.requests,
        plan.requests * 10,
        plan.rounds
    )?;
    let mut summary = Vec::new();
    let mut tables = String::new();
    for (fsync, pipeline) in &configs {
        let requests = if *pipeline == 1 {
            plan.requests
        } else {
            plan.requests * 10
        };
        let mut samples: BTreeMap<(usize, String), Vec<Row>> = BTreeMap::new();
        for round in 0..plan.rounds {
            for i in Plan::order(round, stores.len()) {
                let store = stores[i];
                step(&format!(
                    "kvstore: appendfsync {fsync}, pipeline {pipeline}, round {}, {}",
                    round + 1,
                    store.name()
                ));
                let (tests, custom): (Vec<&str>, Vec<&str>) = match store {
                    Store::Kvstore => (supported.clone(), custom_supported.clone()),
                    Store::Redis => (
                        SUITE.iter().map(|(t, _)| *t).collect(),
                        CUSTOM.iter().map(|(t, _)| *t).collect(),
                    ),
                };
                if tests.is_empty() && custom.is_empty() {
                    continue;
                }
                let server = store.start(fsync)?;
                let n = requests.to_string();
                let p = pipeline.to_string();
                if !tests.is_empty() {
                    let tests = tests.join(",").to_lowercase();
                    for (test, row) in
                        redis_benchmark(server.port, &["-n", &n, "-P", &p, "-t", &tests])?
                    {
                        samples.entry((i, test)).or_default().push(row);
                    }
                }
                for (test, command) in CUSTOM.iter().filter(|(t, _)| custom.contains(t)) {
                    let mut args = vec!["-n", &n, "-P", &p, "-r", "100000"];
                    args.extend_from_slice(command);
                    for (_, row) in redis_benchmark(server.port, &args)? {
                        samples.entry((i, test.to_string())).or_default().push(row);
                    }
                }
            }
        }
        writeln!(
            tables,
            "\n### appendfsync {fsync}, pipeline {pipeline}\n\n\
             | test | kvstore ops/s | redis-server ops/s | ratio | kvstore p50 / p99 | redis-server p50 / p99 |\n\
             |---|---:|---:|---:|---:|---:|"
        )?;
        let mut ours_rps = Vec::new();
        let mut theirs_rps = Vec::new();
        for test in all_tests() {
            let get = |i: usize| samples.get(&(i, test.to_string()));
            let (Some(ours), Some(theirs)) = (get(0), get(1)) else {
                let theirs = get(1).map_or(f64::NAN, |s| median(&rps(s)));
                writeln!(
                    tables,
                    "| {test} | not implemented | {theirs:.0} | — | — | — |"
                )?;
                ours_rps.push(f64::NAN);
                theirs_rps.push(theirs);
                continue;
            };
            let (o, t) = (median(&rps(ours)), median(&rps(theirs)));
            let lat = |s: &[Row]| {
                format!(
                    "{:.3} / {:.3}",
                    median(&s.iter().map(|r| r.p50_ms).collect::<Vec<_>>()),
                    median(&s.iter().map(|r| r.p99_ms).collect::<Vec<_>>())
                )
            };
            writeln!(
                tables,
                "| {test} | {o:.0} ({}) | {t:.0} ({}) | {} | {} | {} |",
                spread(&rps(ours), 0),
                spread(&rps(theirs), 0),
                ratio(o, t),
                lat(ours),
                lat(theirs)
            )?;
            summary.push((format!("{test} ({fsync}, P{pipeline})"), o / t));
            ours_rps.push(o);
            theirs_rps.push(t);
        }
        let name = format!("kvstore-{fsync}-p{pipeline}");
        plot::bars(
            &plan.plot_path(&name)?,
            &format!("redis-benchmark, appendfsync {fsync}, pipeline {pipeline}"),
            "requests per second (median)",
            &all_tests().map(str::to_string).collect::<Vec<_>>(),
            &[("kvstore", ours_rps), ("redis-server", theirs_rps)],
        )?;
        writeln!(
            tables,
            "\n{}",
            image(
                &format!("ops/s, appendfsync {fsync}, pipeline {pipeline}"),
                &name
            )
        )?;
    }
    // The honest reading first, then the tables.
    let not_run = SUITE.len() + CUSTOM.len() - supported.len() - custom_supported.len();
    let at_least = summary.iter().filter(|(_, r)| *r >= 1.0).count();
    let worst = summary
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, r)| format!("{n} at {r:.2}x"))
        .unwrap_or_default();
    writeln!(
        report,
        "**Reading:** kvstore is at least as fast as redis-server on {at_least} of {} measured \
         rows; the slowest is {worst}. {}\n\
         At pipeline 1 both servers spend most of their time in system calls (one read and one \
         write per request; a profile of kvstore serving GETs shows 85% of its time in the \
         kernel), so ratios near 1.0 are the expected result; at pipeline 16 the per-command \
         cost shows. Under `appendfsync always`, the first client waiting for a sync leads \
         it on its own network thread after letting the other ready clients write (as \
         Redis's event loop fsyncs once per loop), so one fdatasync covers about 30 of the 50 \
         clients without threads waking each other (a separate commit thread had made these \
         writes 0.77x–0.88x). At pipeline 1 a server that runs out of work between requests \
         sleeps in epoll_wait and every client write must wake it, which holds back \
         redis-benchmark's single thread: kvstore used less CPU per request than redis-server \
         but slept 0.4 times per request against Redis's 0.06 (PING, GET and LRANGE were at \
         0.83x–0.96x on an Intel Xeon machine). After a wake-up kvstore now keeps polling its \
         sockets through tokio's reactor (zero-timeout epoll_wait) until 50 µs pass without a \
         command (`KVSTORE_BUSY_POLL_US`), so it stays awake while load lasts and sees each \
         request as it arrives. Measured by hand with fewer clients (GET, AMD EPYC): 1 client \
         1.5x-1.8x redis-server, 4 clients 1.15x-1.2x, 10 clients within the noise, for a \
         quarter to a third more CPU per request. Rows near 1.0 move either way from run to run (compare \
         the spreads); an earlier run on an AMD machine had the pipeline-16 rows of commands \
         that write nothing at 0.87x–0.96x, unexplained, which later runs did not show.",
        summary.len(),
        if not_run > 0 {
            format!("{not_run} of the {} tests use commands kvstore does not implement yet and were not run against it.", SUITE.len() + CUSTOM.len())
        } else {
            String::new()
        }
    )?;
    report.push_str(&tables);
    Ok(report)
}

/// Every row's name: the default suite's, then the custom commands'.
fn all_tests() -> impl Iterator<Item = &'static str> {
    SUITE
        .iter()
        .map(|(t, _)| *t)
        .chain(CUSTOM.iter().map(|(t, _)| *t))
}

fn rps(rows: &[Row]) -> Vec<f64> {
    rows.iter().map(|r| r.rps).collect()
}
