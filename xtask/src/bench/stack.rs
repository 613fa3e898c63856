//! Part `stack`: the whole three-tier stack as loopback processes — a load balancer, two
//! application instances, one store — in three line-ups: ours (proxy → 2× api → kvstore),
//! ours with the official programs swapped in (nginx → 2× api → redis-server), and the
//! original (nginx → 2× Flask → redis-server).

use std::fmt::Write as _;

use anyhow::Result;

use super::api::{flask_python, start_app, App};
use super::plot::{self, Series};
use super::proc::{Balancer, Store};
use super::wrk::{self, Sample, PERCENTILES};
use super::{image, median, plan_steps, ratio, spread, step, Plan};

struct Lineup {
    name: &'static str,
    balancer: Balancer,
    app: App,
    store: Store,
}

const LINEUPS: [Lineup; 3] = [
    Lineup {
        name: "kvstack: proxy → 2× api → kvstore",
        balancer: Balancer::Proxy,
        app: App::Api,
        store: Store::Kvstore,
    },
    Lineup {
        name: "nginx → 2× api → redis-server",
        balancer: Balancer::Nginx,
        app: App::Api,
        store: Store::Redis,
    },
    Lineup {
        name: "original: nginx → 2× Flask → redis-server",
        balancer: Balancer::Nginx,
        app: App::Flask,
        store: Store::Redis,
    },
];

pub fn run(plan: &Plan) -> Result<String> {
    plan_steps((plan.rounds * LINEUPS.len()) as u64);
    let python = flask_python()?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let connections = 50;
    let mut samples: Vec<Vec<Sample>> = LINEUPS.iter().map(|_| Vec::new()).collect();
    for round in 0..plan.rounds {
        for i in Plan::order(round, LINEUPS.len()) {
            let l = &LINEUPS[i];
            step(&format!("stack: round {}, {}", round + 1, l.name));
            let store = l.store.start("everysec")?;
            let apps = [
                start_app(l.app, store.port, &python, "backend1")?,
                start_app(l.app, store.port, &python, "backend2")?,
            ];
            let balancer = l.balancer.start(&[apps[0].port, apps[1].port], workers)?;
            let pids = [balancer.pid(), apps[0].pid(), apps[1].pid(), store.pid()];
            samples[i].push(wrk::measure(
                balancer.port,
                connections,
                plan.seconds,
                &pids,
            )?);
        }
    }
    let m = |i: usize, f: fn(&Sample) -> f64| median(&samples[i].iter().map(f).collect::<Vec<_>>());
    let original = LINEUPS.len() - 1;
    let mut report = String::new();
    writeln!(report, "## The whole stack on loopback\n")?;
    writeln!(
        report,
        "`wrk -t2 -c{connections} -d{}s` on `GET /` of the load balancer, which spreads over two \
         application processes sharing one store — the compose stack's shape, as plain \
         processes on this machine. Load balancers with {workers} workers (the number of \
         cores, nginx's `auto`), access logs off; stores `appendonly yes`, `appendfsync \
         everysec`; the api with its default request log. Median of {} rounds (spread in \
         brackets), order changed every round. **CPU µs/req**: CPU time of all four \
         processes per request.\n",
        plan.seconds, plan.rounds
    )?;
    writeln!(
        report,
        "**Reading:** our stack serves {:.0}x the original's requests per second with {:.0}x \
         less CPU per request; with nginx and redis-server swapped in it serves {}.\n",
        m(0, |s| s.rps) / m(original, |s| s.rps),
        m(original, |s| s.cpu_us) / m(0, |s| s.cpu_us),
        match m(0, |s| s.rps) / m(1, |s| s.rps) {
            r if r >= 1.0 => format!("{r:.2}x less than ours"),
            r => format!("{:.2}x more than ours", 1.0 / r),
        }
    )?;
    writeln!(
        report,
        "| line-up | req/s | p50 ms | p99 ms | errors | req/s vs original | CPU µs/req | vs nginx + redis-server |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for (i, l) in LINEUPS.iter().enumerate() {
        let rps: Vec<f64> = samples[i].iter().map(|s| s.rps).collect();
        writeln!(
            report,
            "| {} | {:.0} ({}) | {:.2} | {:.2} | {} | {} | {:.1} | {} |",
            l.name,
            m(i, |s| s.rps),
            spread(&rps, 0),
            m(i, |s| s.p50_ms),
            m(i, |s| s.p99_ms),
            samples[i].iter().map(|s| s.errors).sum::<u64>(),
            ratio(m(i, |s| s.rps), m(original, |s| s.rps)),
            m(i, |s| s.cpu_us),
            ratio(m(i, |s| s.rps), m(1, |s| s.rps)),
        )?;
    }
    // The latency distribution: the median over rounds at each percentile.
    let curves: Vec<Series> = LINEUPS
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let points = PERCENTILES
                .iter()
                .map(|&p| {
                    let at: Vec<f64> = samples[i]
                        .iter()
                        .filter_map(|s| s.latency.iter().find(|(q, _)| *q == p).map(|x| x.1))
                        .collect();
                    (p, median(&at))
                })
                .collect();
            Series::new(l.name, points)
        })
        .collect();
    plot::latency(
        &plan.plot_path("stack-latency")?,
        "Whole stack on loopback: latency distribution",
        &curves,
    )?;
    writeln!(
        report,
        "\n{}",
        image("latency distribution", "stack-latency")
    )?;
    Ok(report)
}
