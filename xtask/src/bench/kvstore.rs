//! Part `kvstore`: redis-benchmark's default suite, plus bitmap, HyperLogLog, geo, scripting
//! and stream commands as custom commands, against kvstore and Debian's redis-server,
//! 50 clients, pipeline 1 and 16, with `appendfsync everysec` and `always`.
//!
//! A test whose command kvstore does not implement yet is not run against it (an error reply
//! is fast, and would look like a result); its row says so.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::plot;
use super::proc::{self, Store};
use super::{
    image, median, number, plan_steps, ratio, spread, spreads_overlap, step, table_rows, Plan,
};

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
/// a metre of the others. EVALSHA runs [`SCRIPT`] (a rate limiter's INCR + EXPIRE) and
/// XREADGROUP reads, one entry per call, what XADD appended; [`SETUP`] prepares both.
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
    (
        "EVALSHA",
        &["EVALSHA", SCRIPT_SHA, "1", "bench:limit:__rand_int__"],
    ),
    ("XADD", &["XADD", "bench:stream", "*", "n", "__rand_int__"]),
    (
        "XREADGROUP",
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "worker",
            "COUNT",
            "1",
            "STREAMS",
            "bench:stream",
            ">",
        ],
    ),
];

/// The script EVALSHA runs, and its SHA1 (SCRIPT LOAD's answer, checked by [`setup`]).
const SCRIPT: &str =
    "local n = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], 60) return n";
const SCRIPT_SHA: &str = "e7fb793085a6712633dcedd18b7b1d3ea4eaef44";

/// Commands sent once to each fresh server before the custom rows, and the reply expected.
const SETUP: &[(&[&str], &str)] = &[
    (&["SCRIPT", "LOAD", SCRIPT], SCRIPT_SHA),
    (
        &[
            "XGROUP",
            "CREATE",
            "bench:stream",
            "workers",
            "$",
            "MKSTREAM",
        ],
        "OK",
    ),
];

/// Sends [`SETUP`] with redis-cli.
fn setup(port: u16) -> Result<()> {
    for (command, expected) in SETUP {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(*command)
            .output()
            .context("redis-cli")?;
        let reply = String::from_utf8_lossy(&out.stdout);
        if reply.trim() != *expected {
            bail!("{command:?} answered {reply:?}, not {expected:?}");
        }
    }
    Ok(())
}

/// One redis-benchmark result row.
#[derive(Clone, Copy)]
pub struct Row {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The server's CPU time per request in µs (user + system, from `/proc`), where the row
    /// ran alone in its redis-benchmark run (the custom rows).
    pub cpu_us: Option<f64>,
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
                    cpu_us: None,
                },
            );
        }
    }
    if rows.is_empty() {
        bail!("redis-benchmark printed no results: {text}");
    }
    Ok(rows)
}

/// The configurations measured: `appendfsync` policy and pipeline depth.
const CONFIGS: [(&str, u32); 4] = [
    ("everysec", 1),
    ("everysec", 16),
    ("always", 1),
    ("always", 16),
];

/// One configuration's bar plot (median ops/s per test, NaN for a test not run); returns the
/// plot's name.
fn draw(
    plan: &Plan,
    fsync: &str,
    pipeline: u32,
    ours: Vec<f64>,
    theirs: Vec<f64>,
) -> Result<String> {
    let name = format!("kvstore-{fsync}-p{pipeline}");
    plot::bars(
        &plan.plot_path(&name)?,
        &format!("redis-benchmark, appendfsync {fsync}, pipeline {pipeline}"),
        "requests per second (median)",
        &all_tests().map(str::to_string).collect::<Vec<_>>(),
        &[("kvstore", ours), ("redis-server", theirs)],
    )?;
    Ok(name)
}

/// Redraws the plots from the section's tables (`cargo xtask bench --replot kvstore`).
pub fn replot(plan: &Plan, section: &str) -> Result<()> {
    for (fsync, pipeline) in CONFIGS {
        let rows = table_rows(
            section,
            &format!("### appendfsync {fsync}, pipeline {pipeline}"),
        );
        if rows.is_empty() {
            bail!("no kvstore table for appendfsync {fsync}, pipeline {pipeline}");
        }
        let column = |i: usize| -> Vec<f64> {
            SUITE
                .iter()
                .map(|(test, _)| {
                    rows.iter()
                        .find(|c| c[0] == *test)
                        .map_or(f64::NAN, |c| number(&c[i]))
                })
                .collect()
        };
        draw(plan, fsync, pipeline, column(1), column(2))?;
    }
    Ok(())
}

pub fn run(plan: &Plan) -> Result<String> {
    let stores = [Store::Kvstore, Store::Redis];
    let configs = CONFIGS;
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
         16), redis-benchmark's default suite, then {} as custom commands (`-r 100000`; EVALSHA \
         runs `{SCRIPT}`, XREADGROUP reads one entry per call as a consumer of the group \
         `workers`), against kvstore and Debian's redis-server, both \
         fresh for every run, both `appendonly yes` with the `appendfsync` of the row and the \
         default `io-threads 1`. Median of {} rounds (spread in brackets), order alternated \
         every round. Latencies are redis-benchmark's, in ms. The last column is the server's \
         CPU time per request (user + system, from `/proc`) over a custom row's own \
         redis-benchmark run, a measure the load generator, sharing the machine's cores, \
         does not cap; the suite's rows share one run and have none.\n",
        plan.requests,
        plan.requests * 10,
        CUSTOM
            .iter()
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
            .join(", "),
        plan.rounds
    )?;
    let mut summary = Vec::new();
    // kvstore's server CPU per request over redis-server's, for the rows that measure it.
    let mut cpu_summary = Vec::new();
    // Lowest and highest ratio per configuration, and rows whose spreads overlap.
    let mut ranges = Vec::new();
    let mut overlapping = 0;
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
                if !custom.is_empty() {
                    setup(server.port)?;
                }
                for (test, command) in CUSTOM.iter().filter(|(t, _)| custom.contains(t)) {
                    let mut args = vec!["-n", &n, "-P", &p, "-r", "100000"];
                    args.extend_from_slice(command);
                    let cpu = proc::cpu_seconds(&[server.pid()]);
                    let rows = redis_benchmark(server.port, &args)?;
                    let cpu = proc::cpu_seconds(&[server.pid()]) - cpu;
                    for (_, mut row) in rows {
                        row.cpu_us = Some(cpu * 1e6 / requests as f64);
                        samples.entry((i, test.to_string())).or_default().push(row);
                    }
                }
            }
        }
        writeln!(
            tables,
            "\n### appendfsync {fsync}, pipeline {pipeline}\n\n\
             | test | kvstore ops/s | redis-server ops/s | ratio | kvstore p50 / p99 | redis-server p50 / p99 | server CPU µs/request, kvstore / redis-server |\n\
             |---|---:|---:|---:|---:|---:|---:|"
        )?;
        let mut ours_rps = Vec::new();
        let mut theirs_rps = Vec::new();
        for test in all_tests() {
            let get = |i: usize| samples.get(&(i, test.to_string()));
            let (Some(ours), Some(theirs)) = (get(0), get(1)) else {
                let theirs = get(1).map_or(f64::NAN, |s| median(&rps(s)));
                writeln!(
                    tables,
                    "| {test} | not implemented | {theirs:.0} | — | — | — | — |"
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
            let cpu = match (cpu_us(ours), cpu_us(theirs)) {
                (Some(a), Some(b)) => {
                    cpu_summary.push((format!("{test} ({fsync}, P{pipeline})"), a / b));
                    format!("{a:.2} / {b:.2}")
                }
                _ => "—".to_string(),
            };
            writeln!(
                tables,
                "| {test} | {o:.0} ({}) | {t:.0} ({}) | {} | {} | {} | {cpu} |",
                spread(&rps(ours), 0),
                spread(&rps(theirs), 0),
                ratio(o, t),
                lat(ours),
                lat(theirs)
            )?;
            summary.push((format!("{test} ({fsync}, P{pipeline})"), o / t));
            overlapping += usize::from(spreads_overlap(&rps(ours), &rps(theirs)));
            ours_rps.push(o);
            theirs_rps.push(t);
        }
        let measured: Vec<f64> = ours_rps
            .iter()
            .zip(&theirs_rps)
            .map(|(o, t)| o / t)
            .filter(|r| r.is_finite())
            .collect();
        if !measured.is_empty() {
            ranges.push((
                format!("{fsync} P{pipeline}"),
                measured.iter().copied().fold(f64::INFINITY, f64::min),
                measured.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ));
        }
        let name = draw(plan, fsync, *pipeline, ours_rps, theirs_rps)?;
        writeln!(
            tables,
            "\n{}",
            image(
                &format!("ops/s, appendfsync {fsync}, pipeline {pipeline}"),
                &name
            )
        )?;
    }
    // The reading first, then the tables; every number in it comes from this run.
    writeln!(
        report,
        "{}",
        reading(
            &summary,
            &cpu_summary,
            &ranges,
            overlapping,
            plan.rounds,
            SUITE.len() + CUSTOM.len() - supported.len() - custom_supported.len()
        )
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

/// The reading above the tables, from the run's ratios only: `summary` is (row name,
/// kvstore / redis-server) per measured row, `cpu` (row name, kvstore's server CPU per
/// request / redis-server's) per row that measured it, `ranges` the lowest and highest ratio
/// per configuration, `overlapping` the rows whose two spreads overlap.
fn reading(
    summary: &[(String, f64)],
    cpu: &[(String, f64)],
    ranges: &[(String, f64, f64)],
    overlapping: usize,
    rounds: usize,
    not_run: usize,
) -> String {
    let mut text = String::from("**Reading:** ");
    let at_least = summary.iter().filter(|(_, r)| *r >= 1.0).count();
    let by = |a: &&(String, f64), b: &&(String, f64)| a.1.total_cmp(&b.1);
    if let (Some(worst), Some(best)) = (summary.iter().min_by(by), summary.iter().max_by(by)) {
        let _ = write!(
            text,
            "kvstore is at least as fast as redis-server on {at_least} of {} measured rows; \
             the slowest is {} at {:.2}x, the fastest {} at {:.2}x. ",
            summary.len(),
            worst.0,
            worst.1,
            best.0,
            best.1
        );
    }
    let per_config: Vec<String> = ranges
        .iter()
        .map(|(name, lo, hi)| format!("{name} {lo:.2}x–{hi:.2}x"))
        .collect();
    if !per_config.is_empty() {
        let _ = write!(text, "Ratios by configuration: {}. ", per_config.join(", "));
    }
    if let Some(dearest) = cpu.iter().max_by(by) {
        let cheaper = cpu.iter().filter(|(_, r)| *r <= 1.0).count();
        let slower_but_cheaper: Vec<&str> = cpu
            .iter()
            .filter(|(name, r)| {
                *r <= 1.0 && summary.iter().any(|(n, speed)| n == name && *speed < 1.0)
            })
            .map(|(name, _)| name.as_str())
            .collect();
        let _ = write!(
            text,
            "Server CPU per request (custom rows, each run alone): kvstore spends at most \
             redis-server's on {cheaper} of {} rows; the dearest is {} at {:.2}x. ",
            cpu.len(),
            dearest.0,
            dearest.1
        );
        if !slower_but_cheaper.is_empty() {
            let _ = write!(
                text,
                "Slower but spending no more CPU per request (the load generator, sharing \
                 the two cores, set those rates): {}. ",
                slower_but_cheaper.join(", ")
            );
        }
    }
    if rounds > 1 {
        let _ = write!(
            text,
            "On {overlapping} of {} rows the two servers' spreads overlap: those rows can \
             change order from run to run. ",
            summary.len()
        );
    }
    if not_run > 0 {
        let _ = write!(
            text,
            "{not_run} of the suite's {} tests use commands kvstore does not implement yet \
             and were not run against it. ",
            SUITE.len()
        );
    }
    text.push_str(
        "What the pipeline-1 and `appendfsync always` rows depend on (time in the kernel, \
         syncs shared by waiting clients, busy polling) was measured by hand: see \
         kvstore/README.md.",
    );
    text
}

fn rps(rows: &[Row]) -> Vec<f64> {
    rows.iter().map(|r| r.rps).collect()
}

/// The median server CPU per request of rows that measured it.
fn cpu_us(rows: &[Row]) -> Option<f64> {
    let cpu: Option<Vec<f64>> = rows.iter().map(|r| r.cpu_us).collect();
    cpu.filter(|c| !c.is_empty()).map(|c| median(&c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::tests::numbers_in;

    /// The reading states the run's figures and nothing measured elsewhere: every number in
    /// it is one of the inputs (counts, ratios, names).
    #[test]
    fn reading_numbers_come_from_the_run() {
        let summary = vec![
            ("SET (everysec, P1)".to_string(), 1.21),
            ("GET (everysec, P1)".to_string(), 0.93),
            ("SET (always, P16)".to_string(), 1.76),
        ];
        let ranges = vec![
            ("everysec P1".to_string(), 0.93, 1.21),
            ("always P16".to_string(), 1.76, 1.76),
        ];
        let cpu = vec![
            ("GET (everysec, P1)".to_string(), 0.87),
            ("SET (always, P16)".to_string(), 1.12),
        ];
        let text = reading(&summary, &cpu, &ranges, 1, 5, 2);
        assert!(text.contains("on 2 of 3 measured rows"), "{text}");
        assert!(
            text.contains("the slowest is GET (everysec, P1) at 0.93x"),
            "{text}"
        );
        assert!(
            text.contains("the fastest SET (always, P16) at 1.76x"),
            "{text}"
        );
        assert!(text.contains("everysec P1 0.93x–1.21x"), "{text}");
        assert!(text.contains("On 1 of 3 rows"), "{text}");
        assert!(text.contains("2 of the suite's 19 tests"), "{text}");
        assert!(text.contains("on 1 of 2 rows"), "{text}");
        assert!(
            text.contains("the dearest is SET (always, P16) at 1.12x"),
            "{text}"
        );
        assert!(
            text.contains("set those rates): GET (everysec, P1)."),
            "{text}"
        );
        let allowed = ["2", "3", "0.93", "1.21", "1.76", "1", "16", "19", "1.12"];
        for n in numbers_in(&text) {
            assert!(
                allowed.contains(&n.as_str()),
                "{n} is not from the run: {text}"
            );
        }
    }

    #[test]
    fn one_round_has_no_spreads_to_compare() {
        let summary = vec![("SET (everysec, P1)".to_string(), 1.0)];
        let text = reading(&summary, &[], &[], 0, 1, 0);
        assert!(!text.contains("spreads"), "{text}");
    }
}
