//! The benchmark harness, end to end on its `--quick` configuration: every part runs, the
//! report has every section with real rows, and every plot is a PNG. No number is checked
//! against any other: a timing in a test would be a flaky test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The rows of the first markdown table after `heading` in `report`.
fn table_after<'a>(report: &'a str, heading: &str) -> Vec<&'a str> {
    let at = report
        .find(heading)
        .unwrap_or_else(|| panic!("no `{heading}` in the report:\n{report}"));
    report[at..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and alignment rows
        .collect()
}

/// Cells of a table row, trimmed.
fn cells(row: &str) -> Vec<&str> {
    row.trim_matches('|').split('|').map(str::trim).collect()
}

/// True when a cell starts with a positive number (ops/s, req/s, …).
fn positive(cell: &str) -> bool {
    cell.split_whitespace()
        .next()
        .and_then(|n| n.parse::<f64>().ok())
        .is_some_and(|n| n > 0.0)
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 2_000,
        "{} is not a drawn PNG ({} bytes)",
        path.display(),
        bytes.len()
    );
}

#[test]
fn quick_run_writes_every_section_and_plot() {
    use e2e::reference::{require, DOCKER, NGINX, REDIS_BENCHMARK, REDIS_SERVER, WRK};
    if ![&WRK, &NGINX, &REDIS_SERVER, &REDIS_BENCHMARK]
        .into_iter()
        .all(require)
    {
        return;
    }
    // Without an engine (and only under the opt-out) the report says the section was skipped.
    let docker = require(&DOCKER);
    let out = tempfile::tempdir().expect("tempdir");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "run", "--quiet", "-p", "xtask", "--", "bench", "--quick", "--out",
        ])
        .arg(out.path())
        .current_dir(workspace_root())
        .status()
        .expect("run cargo xtask bench");
    assert!(
        status.success(),
        "cargo xtask bench --quick failed: {status}"
    );

    let report = std::fs::read_to_string(out.path().join("BENCHMARKS.md")).expect("report");
    assert!(report.starts_with("# Benchmarks"), "{report}");
    assert!(
        report.contains("Fairness rules"),
        "the rules head the report"
    );
    for part in [
        "kvstore",
        "growth",
        "replication",
        "proxy",
        "api",
        "stack",
        "compose",
    ] {
        let open = format!("<!-- bench:{part} -->");
        let close = format!("<!-- /bench:{part} -->");
        let (a, b) = (report.find(&open), report.find(&close));
        assert!(
            matches!((a, b), (Some(a), Some(b)) if a < b),
            "section {part} missing:\n{report}"
        );
        let section = &report[a.unwrap()..b.unwrap()];
        assert!(
            section.contains("reproduce: `cargo xtask bench"),
            "{part}: no run line"
        );
        assert!(
            section.contains("cores ("),
            "{part}: no machine description"
        );
    }

    // Measured rows, with numbers on both sides of each comparison.
    let kv = table_after(&report, "### appendfsync everysec, pipeline 1");
    let set = kv
        .iter()
        .map(|r| cells(r))
        .find(|c| c[0] == "SET")
        .expect("a SET row");
    assert!(positive(set[1]) && positive(set[2]), "SET row: {set:?}");
    for row in table_after(&report, "## Growth") {
        let c = cells(row);
        assert!(positive(c[1]) && positive(c[2]), "growth row: {c:?}");
    }
    let replication = table_after(&report, "## Replication");
    assert_eq!(replication.len(), 2, "pipelines 1 and 16");
    for row in replication {
        let c = cells(row);
        assert!(positive(c[1]) && positive(c[2]), "replication row: {c:?}");
    }
    for heading in ["## proxy vs nginx", "### Equal CPU quota"] {
        let rows = table_after(&report, heading);
        assert!(!rows.is_empty(), "no table after {heading}");
        for row in rows {
            let c = cells(row);
            assert!(positive(c[2]) && positive(c[3]), "proxy row: {c:?}");
        }
    }
    for row in table_after(&report, "## api vs the original") {
        let c = cells(row);
        assert!(positive(c[2]), "api row: {c:?}");
    }
    let stack = table_after(&report, "## The whole stack on loopback");
    assert_eq!(stack.len(), 3, "three line-ups: {stack:?}");
    for row in stack {
        let c = cells(row);
        assert!(positive(c[1]), "stack row: {c:?}");
        assert_eq!(c[4], "0", "the stack answered every request: {c:?}");
    }
    if docker {
        let compose = table_after(&report, "## The compose stack");
        assert_eq!(compose.len(), 4, "four profiles: {compose:?}");
        for row in compose {
            // Direct to the balancer and through the published port.
            let c = cells(row);
            assert!(positive(c[2]) && positive(c[5]), "compose row: {row}");
        }
    }

    let plots = out.path().join("docs/bench");
    for name in [
        "kvstore-everysec-p1",
        "kvstore-everysec-p16",
        "kvstore-always-p1",
        "kvstore-always-p16",
        "growth-keyspace-ops",
        "growth-keyspace-rss",
        "growth-keyspace-load",
        "growth-collections",
        "proxy-connections",
        "stack-latency",
    ] {
        assert_png(&plots.join(format!("{name}.png")));
        assert!(
            report.contains(&format!("(docs/bench/{name}.png)")),
            "the report shows {name}.png"
        );
    }
}
