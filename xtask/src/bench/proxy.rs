//! Part `proxy`: `wrk` through our proxy and through Debian's nginx with the equivalent
//! configuration (`configs/nginx.conf`'s shape), over the same two fast backends (one nginx
//! worker with two `return 200` servers), with 1 and 2 workers each: unconfined, and each
//! balancer confined to the same CPU quota ([`QUOTA`] of a core, a CPU cgroup) so that the
//! balancer, not wrk or the backends sharing the two cores, is the bottleneck.

use std::fmt::Write as _;

use anyhow::{bail, Result};

use super::plot::{self, Series};
use super::proc::{fast_backends, Balancer, CpuQuota};
use super::wrk::{self, Sample};
use super::{
    image, median, number, plan_steps, ratio, spread, spreads_overlap, step, table_rows, Plan,
};

const BALANCERS: [Balancer; 2] = [Balancer::Proxy, Balancer::Nginx];
const WORKERS: [usize; 2] = [1, 2];
/// The share of one core each balancer gets in the equal-quota table.
const QUOTA: f64 = 0.5;

/// One table row, as the reading needs it.
struct RowSummary {
    workers: usize,
    connections: u32,
    /// req/s (medians): proxy, nginx.
    rps: [f64; 2],
    /// proxy req/s over nginx req/s (medians).
    ratio: f64,
    /// CPU µs per request (medians): proxy, nginx.
    cpu: [f64; 2],
    /// p99 latency in ms (medians): proxy, nginx.
    p99: [f64; 2],
    /// The two req/s spreads overlap.
    overlap: bool,
}

/// The plot: req/s against connections, one curve per balancer and worker count.
fn draw(plan: &Plan, rows: &[RowSummary]) -> Result<()> {
    let mut curves: Vec<Series> = Vec::new();
    for workers in WORKERS {
        for (i, balancer) in BALANCERS.iter().enumerate() {
            let points = rows
                .iter()
                .filter(|r| r.workers == workers)
                .map(|r| (f64::from(r.connections), r.rps[i]))
                .collect();
            let plural = if workers > 1 { "s" } else { "" };
            curves.push(Series::new(
                format!("{} ({workers} worker{plural})", balancer.name()),
                points,
            ));
        }
    }
    plot::lines(
        &plan.plot_path("proxy-connections")?,
        "Load balancer throughput vs connections",
        "keep-alive connections",
        "requests per second (median)",
        &curves,
    )
}

/// Redraws the plot from the section's table (`cargo xtask bench --replot proxy`).
pub fn replot(plan: &Plan, section: &str) -> Result<()> {
    let rows: Vec<RowSummary> = table_rows(section, "## proxy vs nginx")
        .iter()
        .map(|c| {
            let (o, t) = (number(&c[2]), number(&c[3]));
            RowSummary {
                workers: number(&c[0]) as usize,
                connections: number(&c[1]) as u32,
                rps: [o, t],
                ratio: o / t,
                cpu: [number(&c[7]), number(&c[8])],
                p99: [f64::NAN; 2],
                overlap: false,
            }
        })
        .collect();
    if rows.is_empty() {
        bail!("no proxy table to replot");
    }
    draw(plan, &rows)
}

/// The equal-quota sentence of the reading, from that table's rows only.
fn quota_reading(rows: &[RowSummary]) -> String {
    let by = |a: &&RowSummary, b: &&RowSummary| a.ratio.total_cmp(&b.ratio);
    let (Some(worst), Some(best)) = (rows.iter().min_by(by), rows.iter().max_by(by)) else {
        return String::new();
    };
    let p99_no_worse = rows.iter().filter(|r| r.p99[0] <= r.p99[1]).count();
    format!(
        "**Reading:** confined to the same CPU quota ({QUOTA} of a core each), the proxy \
         serves {:.2}x to {:.2}x nginx's requests per second, with a p99 no worse than \
         nginx's on {p99_no_worse} of {} rows. ",
        worst.ratio,
        best.ratio,
        rows.len()
    )
}

/// The reading above the table, from the run's rows only.
fn reading(rows: &[RowSummary], rounds: usize) -> String {
    let by = |a: &&RowSummary, b: &&RowSummary| a.ratio.total_cmp(&b.ratio);
    let (Some(worst), Some(best)) = (rows.iter().min_by(by), rows.iter().max_by(by)) else {
        return "**Reading:** no row was measured.".to_string();
    };
    let at = |r: &RowSummary| {
        let plural = if r.workers > 1 { "s" } else { "" };
        format!(
            "{} worker{plural}, {} connections",
            r.workers, r.connections
        )
    };
    let mut text = format!(
        "Unconfined, the proxy reaches {:.2}x ({}) to {:.2}x ({}) nginx's throughput. ",
        worst.ratio,
        at(worst),
        best.ratio,
        at(best)
    );
    let cpu_lower = rows.iter().filter(|r| r.cpu[0] < r.cpu[1]).count();
    let cpu_ratios: Vec<f64> = rows.iter().map(|r| r.cpu[1] / r.cpu[0]).collect();
    let lo = cpu_ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = cpu_ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let _ = write!(
        text,
        "It uses less CPU per request than nginx on {cpu_lower} of {} rows (nginx's CPU per \
         request is {lo:.2}x–{hi:.2}x the proxy's). ",
        rows.len()
    );
    if rounds > 1 {
        let overlapping = rows.iter().filter(|r| r.overlap).count();
        let _ = write!(
            text,
            "On {overlapping} of {} rows the req/s spreads of the two overlap, so their order \
             there is within this machine's round-to-round noise; CPU µs/req is the steadier \
             comparison. ",
            rows.len()
        );
    }
    text.push_str(
        "Where the time per request goes (system calls, kernel share, user-space cost) was \
         measured by hand: see proxy/README.md.",
    );
    text
}

/// One table: every worker count and connection count, both balancers, each confined to
/// `quota` of a core if given.
fn measure_table(
    plan: &Plan,
    ports: &[u16],
    quota: Option<f64>,
) -> Result<(String, Vec<RowSummary>)> {
    let mut table = String::from(
        "| workers | connections | proxy req/s | nginx req/s | ratio | proxy p50 / p99 ms | nginx p50 / p99 ms | proxy CPU µs/req | nginx CPU µs/req |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut rows = Vec::new();
    for workers in WORKERS {
        for &connections in &plan.connections {
            let mut samples: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
            for round in 0..plan.rounds {
                for i in Plan::order(round, 2) {
                    let balancer = BALANCERS[i];
                    step(&format!(
                        "proxy{}: {} workers, {connections} connections, round {}, {}",
                        if quota.is_some() { " (quota)" } else { "" },
                        workers,
                        round + 1,
                        balancer.name()
                    ));
                    let server = balancer.start(ports, workers)?;
                    let _group = match quota {
                        Some(share) => {
                            let group = CpuQuota::new(balancer.name(), share)?;
                            group.add(server.pid())?;
                            Some(group)
                        }
                        None => None,
                    };
                    samples[i].push(wrk::measure(
                        server.port,
                        connections,
                        plan.seconds,
                        &[server.pid()],
                    )?);
                }
            }
            let m = |i: usize, f: fn(&Sample) -> f64| {
                median(&samples[i].iter().map(f).collect::<Vec<_>>())
            };
            let rps = |i: usize| samples[i].iter().map(|s| s.rps).collect::<Vec<_>>();
            let (o, t) = (m(0, |s| s.rps), m(1, |s| s.rps));
            writeln!(
                table,
                "| {workers} | {connections} | {o:.0} ({}) | {t:.0} ({}) | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.1} | {:.1} |",
                spread(&rps(0), 0),
                spread(&rps(1), 0),
                ratio(o, t),
                m(0, |s| s.p50_ms),
                m(0, |s| s.p99_ms),
                m(1, |s| s.p50_ms),
                m(1, |s| s.p99_ms),
                m(0, |s| s.cpu_us),
                m(1, |s| s.cpu_us),
            )?;
            rows.push(RowSummary {
                workers,
                connections,
                rps: [o, t],
                ratio: o / t,
                cpu: [m(0, |s| s.cpu_us), m(1, |s| s.cpu_us)],
                p99: [m(0, |s| s.p99_ms), m(1, |s| s.p99_ms)],
                overlap: spreads_overlap(&rps(0), &rps(1)),
            });
        }
    }
    Ok((table, rows))
}

pub fn run(plan: &Plan) -> Result<String> {
    plan_steps((WORKERS.len() * plan.connections.len() * plan.rounds * 2 * 2) as u64);
    let (_backends, ports) = fast_backends(2)?;
    let mut report = String::new();
    writeln!(report, "## proxy vs nginx\n")?;
    writeln!(
        report,
        "`wrk -t2 -c<connections> -d{}s`, keep-alive, through each load balancer to the same two \
         backends (one nginx worker answering `return 200`). Both balancers: the same number of \
         workers, upstream keep-alive, access log off; nginx with configs/nginx.conf's \
         directives. Median of {} rounds (spread in brackets), order alternated every round. \
         **CPU µs/req**: CPU time of the balancer's processes per request — it depends much \
         less on the rest of the machine than req/s, which wrk, the balancer and the backends \
         share on these cores. The second table confines each balancer (all its processes \
         and threads) to the same CPU quota, {QUOTA} of a core (a CPU cgroup: \
         `cpu.cfs_quota_us`), so that the balancer is the bottleneck and wrk and the backends \
         have the rest.\n",
        plan.seconds, plan.rounds
    )?;
    let (table, rows) = measure_table(plan, &ports, None)?;
    let (quota_table, quota_rows) = measure_table(plan, &ports, Some(QUOTA))?;
    draw(plan, &rows)?;
    writeln!(
        report,
        "{}{}\n",
        quota_reading(&quota_rows),
        reading(&rows, plan.rounds)
    )?;
    report.push_str(&table);
    writeln!(
        report,
        "\n### Equal CPU quota: {QUOTA} of a core each\n\n{quota_table}"
    )?;
    writeln!(
        report,
        "{}",
        image("req/s vs connections", "proxy-connections")
    )?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::tests::numbers_in;

    fn row(workers: usize, connections: u32, rps: [f64; 2], cpu: [f64; 2]) -> RowSummary {
        RowSummary {
            workers,
            connections,
            rps,
            ratio: rps[0] / rps[1],
            cpu,
            p99: [1.0, 2.0],
            overlap: rps[0] < rps[1],
        }
    }

    #[test]
    fn quota_reading_numbers_come_from_the_run() {
        let rows = [
            row(1, 16, [50.0, 40.0], [10.0, 12.0]),
            row(2, 256, [45.0, 50.0], [14.0, 12.6]),
        ];
        let text = quota_reading(&rows);
        assert!(
            text.contains("serves 0.90x to 1.25x nginx's") && text.contains("on 2 of 2 rows"),
            "{text}"
        );
        let allowed = ["0.5", "0.90", "1.25", "2", "99"];
        for n in numbers_in(&text) {
            assert!(
                allowed.contains(&n.as_str()),
                "{n} is not from the run: {text}"
            );
        }
    }

    /// Every number in the reading is one of the run's: a hand measurement pasted into the
    /// generator would fail here.
    #[test]
    fn reading_numbers_come_from_the_run() {
        let rows = [
            row(1, 16, [50.0, 40.0], [10.0, 12.0]),
            row(2, 256, [45.0, 50.0], [14.0, 12.6]),
        ];
        let text = reading(&rows, 3);
        assert!(
            text.contains("0.90x (2 workers, 256 connections) to 1.25x (1 worker, 16 connections)"),
            "{text}"
        );
        assert!(
            text.contains("on 1 of 2 rows (nginx's CPU per request is 0.90x–1.20x"),
            "{text}"
        );
        assert!(text.contains("On 1 of 2 rows the req/s spreads"), "{text}");
        let allowed = ["0.90", "2", "256", "1.25", "1", "16", "1.20"];
        for n in numbers_in(&text) {
            assert!(
                allowed.contains(&n.as_str()),
                "{n} is not from the run: {text}"
            );
        }
    }
}
