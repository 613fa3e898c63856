//! `cargo xtask bench [PART…]`: every part of the stack measured against its reference
//! program in the same run, written to BENCHMARKS.md with PNG plots under `docs/bench/`.
//!
//! Parts: `kvstore` (redis-benchmark's suite vs redis-server), `growth` (keyspace and
//! collection growth, RSS, load time), `replication` (a master with one replica: write
//! throughput and replication lag), `proxy` (wrk vs nginx), `api` (vs the original Flask
//! app), `stack` (the three-tier stack on loopback: ours, with nginx + redis-server, and the
//! original), `compose` (the compose profiles through port 8080's stand-in). Each part
//! replaces its own section of the report, between `<!-- bench:<part> -->` and
//! `<!-- /bench:<part> -->`, so parts can be re-run one at a time. The fairness rules every
//! part follows are written at the top of the report (`RULES`). No test asserts any number.

mod api;
mod compose;
mod growth;
mod kvstore;
mod plot;
mod proc;
mod proxy;
mod replication;
mod stack;
mod wrk;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::prereqs::{self, Docker};
use crate::{images, root};

/// Rounds per comparison unless `--rounds` says otherwise.
const DEFAULT_ROUNDS: usize = 3;

#[derive(Args)]
pub struct BenchArgs {
    /// Parts to run (default: all, in this order).
    #[arg(value_enum)]
    parts: Vec<Part>,
    /// A short run (one round, small loads, few sizes): checks the harness, not the speed.
    #[arg(long)]
    quick: bool,
    /// Rounds per comparison; each round changes which side goes first.
    #[arg(long, default_value_t = DEFAULT_ROUNDS)]
    rounds: usize,
    /// Seconds per wrk measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Directory receiving BENCHMARKS.md and docs/bench/*.png (default: the workspace root).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Measure nothing: redraw the plots of the parts from the tables already in
    /// BENCHMARKS.md (kvstore, growth, proxy; the other parts' plots need data the report
    /// does not keep).
    #[arg(long, conflicts_with = "quick")]
    replot: bool,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum Part {
    /// kvstore vs redis-server: redis-benchmark's default suite.
    Kvstore,
    /// kvstore vs redis-server as the keyspace and single collections grow.
    Growth,
    /// A master with one replica: write throughput and replication lag, vs redis-server.
    Replication,
    /// proxy vs nginx over the same two fast backends.
    Proxy,
    /// api vs the original Flask app on the same stores.
    Api,
    /// The whole stack on loopback: ours, with nginx + redis-server, and the original.
    Stack,
    /// The compose stack, default and official-image profiles (skipped without Docker).
    Compose,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Kvstore => "kvstore",
            Part::Growth => "growth",
            Part::Replication => "replication",
            Part::Proxy => "proxy",
            Part::Api => "api",
            Part::Stack => "stack",
            Part::Compose => "compose",
        }
    }
}

/// What one run measures: the sizes behind `--quick` and the full run.
pub struct Plan {
    pub quick: bool,
    pub rounds: usize,
    pub seconds: u64,
    /// Requests per redis-benchmark test at pipeline 1 (pipeline 16 sends 10x).
    pub requests: u64,
    /// Keyspace sizes for the growth curves.
    pub keyspace_sizes: Vec<u64>,
    /// Element counts for the single-collection growth curves.
    pub collection_sizes: Vec<u64>,
    /// Connection counts for the proxy comparison.
    pub connections: Vec<u32>,
    /// Where the report and plots go.
    pub out: PathBuf,
}

impl Plan {
    fn new(args: &BenchArgs) -> Plan {
        let out = args.out.clone().unwrap_or_else(root);
        if args.quick {
            Plan {
                quick: true,
                rounds: 1,
                seconds: 1,
                requests: 5_000,
                keyspace_sizes: vec![1_000, 10_000],
                collection_sizes: vec![10, 1_000],
                connections: vec![16, 64],
                out,
            }
        } else {
            Plan {
                quick: false,
                rounds: args.rounds.max(1),
                seconds: args.seconds.max(1),
                requests: 100_000,
                keyspace_sizes: vec![10_000, 100_000, 1_000_000, 10_000_000],
                collection_sizes: vec![10, 1_000, 100_000, 1_000_000],
                connections: vec![16, 64, 256],
                out,
            }
        }
    }

    /// Directory of the PNG plots, created on first use.
    pub fn plot_path(&self, name: &str) -> Result<PathBuf> {
        let dir = self.out.join("docs/bench");
        std::fs::create_dir_all(&dir)?;
        Ok(dir.join(format!("{name}.png")))
    }

    /// The order of `n` contenders in `round`: rotated every round and reversed every other
    /// one, so each goes first (and last) equally often.
    pub fn order(round: usize, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        order.rotate_left(round % n.max(1));
        if round % 2 == 1 {
            order.reverse();
        }
        order
    }
}

/// The fairness rules, at the top of the report.
const RULES: &str = "\
Fairness rules, followed by every section:

- **Same machine, same run.** Each comparison starts both sides on this machine in one run of \
`cargo xtask bench`; no number is compared with one from another run.
- **Alternating order.** Every round changes which side is measured first (rotated, then \
reversed), over several rounds; tables give the **median** and the spread (min–max) of the rounds.
- **Same settings.** Both stores run with `appendonly yes` and the same `appendfsync`; both \
proxies with the same number of workers, keep-alive to the upstreams and access logs off; the \
api and the original app talk to the same store.
- **Named load generators.** `redis-benchmark` (50 clients) and `wrk` (2 threads) run on the \
same cores as the servers — the report says so, and the ratio, not the absolute number, is the \
result. CPU time per request (from `/proc`) is given where it matters: it depends much less on \
the rest of the machine than throughput.
- **Warm-up.** Every wrk measurement follows a 1 s warm-up on the same connections' server; \
every store is measured fresh.
- **Nothing tuned for the benchmark.** Release builds (the same static binaries the images \
ship), default settings unless the row says otherwise.
";

pub fn run(args: BenchArgs) -> Result<()> {
    let plan = Plan::new(&args);
    let parts = if args.parts.is_empty() {
        Part::value_variants().to_vec()
    } else {
        args.parts.clone()
    };
    if args.replot {
        return replot(&plan, &parts);
    }
    let docker = if parts.contains(&Part::Compose) {
        Docker::Engine
    } else {
        Docker::No
    };
    prereqs::ensure("bench", &[prereqs::BUILD, prereqs::BENCH], docker, false)?;
    load_font()?;
    note("building the release binaries (static, as the images ship them)");
    images::build_binaries(&images::CRATES)?;
    let machine = machine();
    for part in parts {
        let started = std::time::Instant::now();
        let load_before = load_average();
        let body = match part {
            Part::Kvstore => kvstore::run(&plan)?,
            Part::Growth => growth::run(&plan)?,
            Part::Replication => replication::run(&plan)?,
            Part::Proxy => proxy::run(&plan)?,
            Part::Api => api::run(&plan)?,
            Part::Stack => stack::run(&plan)?,
            Part::Compose => compose::run(&plan)?,
        };
        let mut section = body.trim_end().to_string();
        write!(
            section,
            "\n\n<sub>Run {} · {} · {}{} · 1-minute load average {} before, {} after · {:.0} s · \
             reproduce: `cargo xtask bench {}{}`</sub>",
            utc_now(),
            machine,
            if plan.quick { "`--quick` · " } else { "" },
            format_args!("{} round(s)", plan.rounds),
            load_before,
            load_average(),
            started.elapsed().as_secs_f64(),
            part.name(),
            if plan.quick {
                " --quick".to_string()
            } else if plan.rounds != DEFAULT_ROUNDS {
                format!(" --rounds {}", plan.rounds)
            } else {
                String::new()
            }
        )?;
        write_section(&plan.out, part.name(), &section)?;
    }
    progress().finish_and_clear();
    Ok(())
}

/// `--replot`: each part's plots drawn again from its section of the report.
fn replot(plan: &Plan, parts: &[Part]) -> Result<()> {
    load_font()?;
    let path = report_path(&plan.out);
    let report =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    for &part in parts {
        let (open, close) = (
            format!("<!-- bench:{} -->", part.name()),
            format!("<!-- /bench:{} -->", part.name()),
        );
        let section = match (report.find(&open), report.find(&close)) {
            (Some(a), Some(b)) if a < b => &report[a..b],
            _ => {
                note(&format!(
                    "{}: no section in {}",
                    part.name(),
                    path.display()
                ));
                continue;
            }
        };
        match part {
            Part::Kvstore => kvstore::replot(plan, section)?,
            Part::Growth => growth::replot(plan, section)?,
            Part::Proxy => proxy::replot(plan, section)?,
            Part::Api | Part::Stack | Part::Compose | Part::Replication => {
                note(&format!(
                    "{}: nothing to replot from the report",
                    part.name()
                ));
                continue;
            }
        }
        note(&format!("{}: plots redrawn", part.name()));
    }
    Ok(())
}

/// The report's path in `out`.
pub fn report_path(out: &Path) -> PathBuf {
    out.join("BENCHMARKS.md")
}

/// Replaces (or appends) the section of BENCHMARKS.md that belongs to `part`, and rewrites
/// the header (title and rules) above the first section.
fn write_section(out: &Path, part: &str, section: &str) -> Result<()> {
    let path = report_path(out);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let header = format!(
        "# Benchmarks\n\nGenerated by `cargo xtask bench` (all parts) or `cargo xtask bench \
         <part>` (one section); do not edit by hand. Plots are in `docs/bench/`.\n\n{RULES}"
    );
    let (open, close) = (
        format!("<!-- bench:{part} -->"),
        format!("<!-- /bench:{part} -->"),
    );
    // Everything from the first section on is kept; the header is regenerated.
    let body = old.find("<!-- bench:").map_or("", |i| &old[i..]);
    let section = format!("{open}\n{section}\n{close}");
    let body = match (body.find(&open), body.find(&close)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{section}{}", &body[..a], &body[b + close.len()..])
        }
        _ => format!("{}\n\n{section}\n", body.trim_end()),
    };
    std::fs::write(&path, format!("{header}\n{}\n", body.trim()))?;
    note(&format!("wrote the {part} section of {}", path.display()));
    Ok(())
}

/// The run's progress bar (hidden when stderr is not a terminal; `note` then prints lines).
fn progress() -> &'static ProgressBar {
    static BAR: OnceLock<ProgressBar> = OnceLock::new();
    BAR.get_or_init(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    })
}

/// Announces `n` more measurement steps.
pub fn plan_steps(n: u64) {
    progress().inc_length(n);
}

/// One measurement step starts.
pub fn step(msg: &str) {
    let bar = progress();
    bar.inc(1);
    bar.set_message(msg.to_string());
    if bar.is_hidden() {
        eprintln!(
            "[bench {}/{}] {msg}",
            bar.position(),
            bar.length().unwrap_or(0)
        );
    }
}

/// A line of information above the bar.
pub fn note(msg: &str) {
    let bar = progress();
    if bar.is_hidden() {
        eprintln!("[bench] {msg}");
    } else {
        bar.println(format!("[bench] {msg}"));
    }
}

/// Median of a non-empty sample.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `min–max` of a sample, for the spread column (empty with a single round).
pub fn spread(v: &[f64], decimals: usize) -> String {
    if v.len() < 2 {
        return "—".to_string();
    }
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{min:.decimals$}–{max:.decimals$}")
}

/// The cells (trimmed) of each row of the first markdown table after `heading` in `text`,
/// without the header and alignment rows; empty when there is none.
pub fn table_rows(text: &str, heading: &str) -> Vec<Vec<String>> {
    let Some(at) = text.find(heading) else {
        return Vec::new();
    };
    text[at..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            row.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The number a table cell starts with (`65408 (62123–68900)` → 65408, `28.40 s` → 28.4);
/// NaN when it starts with none (`not implemented`, `—`).
pub fn number(cell: &str) -> f64 {
    cell.split_whitespace()
        .next()
        .and_then(|n| n.trim_end_matches('x').parse().ok())
        .unwrap_or(f64::NAN)
}

/// True when two samples' ranges (min–max) overlap: the difference between their medians is
/// within the round-to-round noise. False for an empty sample.
pub fn spreads_overlap(a: &[f64], b: &[f64]) -> bool {
    let range = |v: &[f64]| {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (min, max)
    };
    let ((a_min, a_max), (b_min, b_max)) = (range(a), range(b));
    a_min <= b_max && b_min <= a_max
}

/// The 1-minute load average, as text (`?` where /proc is missing).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

fn utc_now() -> String {
    command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default()
}

/// The first line a command prints (stdout, else stderr), if it runs.
pub fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// Cores, CPU model, memory, kernel and the versions of every program measured or measuring.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1048576.0);
    let version = |program: &str, args: &[&str]| {
        command_line(program, args).unwrap_or_else(|| format!("{program}: not installed"))
    };
    format!(
        "{} cores ({model}), {mem_gib:.0} GiB, Linux {} · {} · {} · {} · {} · {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        version("uname", &["-r"]),
        version("redis-server", &["--version"])
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        version("/usr/sbin/nginx", &["-v"]),
        version("wrk", &["-v"])
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
        version("redis-benchmark", &["--version"]),
        version("rustc", &["--version"]),
    )
}

/// The plots' font: DejaVu Sans from Debian's fonts-dejavu-core, a prerequisite of `bench`
/// (plotters draws text with ab_glyph from the TTF bytes; no fontconfig).
fn load_font() -> Result<()> {
    const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let bytes = std::fs::read(FONT).with_context(|| format!("{FONT} (fonts-dejavu-core)"))?;
    plotters::style::register_font(
        "sans-serif",
        plotters::style::FontStyle::Normal,
        Box::leak(bytes.into_boxed_slice()),
    )
    .map_err(|_| anyhow::anyhow!("{FONT} is not a usable font"))
}

/// Formats a ratio the way every table does.
pub fn ratio(ours: f64, theirs: f64) -> String {
    if ours.is_finite() && theirs.is_finite() && theirs > 0.0 {
        format!("{:.2}x", ours / theirs)
    } else {
        "—".to_string()
    }
}

/// Markdown for an image in docs/bench/.
pub fn image(alt: &str, name: &str) -> String {
    format!("![{alt}](docs/bench/{name}.png)")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every number written in `text` (runs of digits, with a decimal point inside).
    pub fn numbers_in(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut current = String::new();
        for c in text.chars().chain([' ']) {
            if c.is_ascii_digit() || (c == '.' && !current.is_empty()) {
                current.push(c);
            } else if !current.is_empty() {
                found.push(current.trim_end_matches('.').to_string());
                current.clear();
            }
        }
        found
    }

    #[test]
    fn spreads_overlap_when_ranges_meet() {
        assert!(spreads_overlap(&[1.0, 3.0], &[2.0, 5.0]));
        assert!(spreads_overlap(&[1.0, 2.0], &[2.0, 5.0]));
        assert!(!spreads_overlap(&[1.0, 1.9], &[2.0, 5.0]));
        assert!(!spreads_overlap(&[], &[2.0]));
    }

    #[test]
    fn table_rows_and_numbers_read_the_report_back() {
        let section = "## proxy vs nginx\n\ntext | not a row\n\n| a | b |\n|---|---|\n\
                       | 1 | 65408 (62123–68900) |\n| 2 | not implemented |\n\nafter\n";
        let rows = table_rows(section, "## proxy vs nginx");
        assert_eq!(rows.len(), 2);
        assert_eq!(number(&rows[0][1]), 65408.0);
        assert_eq!(number("28.40 s"), 28.4);
        assert_eq!(number("1.25x"), 1.25);
        assert!(number(&rows[1][1]).is_nan());
        assert!(table_rows(section, "## nothing").is_empty());
    }
}
