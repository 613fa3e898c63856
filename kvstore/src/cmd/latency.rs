//! LATENCY LATEST | HISTORY | RESET | DOCTOR | GRAPH | HISTOGRAM | HELP (Redis's
//! `latency.c` and `sparkline.c`).
//!
//! Events are sampled by `observe::after_call` (`command`, `fast-command`) once
//! `latency-monitor-threshold` is set; HISTOGRAM reads the per-command histograms that
//! `latency-tracking` keeps.

use bytes::Bytes;

use super::args::{help, subcommand_syntax_error};
use super::{acl, flags, lookup, CommandSpec, Ctx};
use crate::protocol::Reply;
use crate::state::{LatencySeries, Shared};

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("latency", -2, flags![], acl![], latency_help).with_subcommands(LATENCY),
];

#[rustfmt::skip]
static LATENCY: &[CommandSpec] = &[
    CommandSpec::new("latency|doctor", 2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], latency_doctor),
    CommandSpec::new("latency|graph", 3, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], latency_graph),
    CommandSpec::new("latency|history", 3, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], latency_history),
    CommandSpec::new("latency|latest", 2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], latency_latest),
    CommandSpec::new("latency|reset", -2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], latency_reset),
    CommandSpec::new("latency|histogram", -2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], latency_histogram),
    CommandSpec::new("latency|help", 2, flags![LOADING, STALE], acl![], latency_help),
];

fn event<'e>(events: &'e [LatencySeries], name: &[u8]) -> Option<&'e LatencySeries> {
    events.iter().find(|s| s.event.as_bytes() == name)
}

/// LATENCY HISTORY event
fn latency_history(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let events = ctx.shared.introspection().latency_events();
    let samples = event(&events, &args[2]).map_or(Vec::new(), |s| {
        s.samples()
            .map(|(time, ms)| {
                Reply::Array(vec![Reply::Integer(time as i64), Reply::Integer(ms as i64)])
            })
            .collect()
    });
    Ok(Reply::Array(samples))
}

/// LATENCY LATEST
fn latency_latest(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let events = ctx.shared.introspection().latency_events();
    Ok(Reply::Array(
        events
            .iter()
            .map(|s| {
                let (time, ms) = s.latest();
                Reply::Array(vec![
                    Reply::bulk(s.event),
                    Reply::Integer(time as i64),
                    Reply::Integer(ms as i64),
                    Reply::Integer(s.max as i64),
                ])
            })
            .collect(),
    ))
}

/// LATENCY RESET [event ...]
fn latency_reset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let introspection = ctx.shared.introspection();
    let resets = if args.len() == 2 {
        introspection.latency_reset(None)
    } else {
        args[2..]
            .iter()
            .map(|e| introspection.latency_reset(Some(e)))
            .sum()
    };
    Ok(Reply::Integer(resets as i64))
}

/// LATENCY GRAPH event
fn latency_graph(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let events = ctx.shared.introspection().latency_events();
    let Some(series) = event(&events, &args[2]) else {
        return Err(Reply::error(super::args::sanitize(format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(super::args::c_str(&args[2]))
        ))));
    };
    Ok(Reply::Verbatim(graph(series).into()))
}

/// Redis's `latencyCommandGenSparkeline`.
fn graph(series: &LatencySeries) -> String {
    let now = crate::state::now_ms() / 1000;
    let mut samples = Vec::new();
    let (mut min, mut max) = (0, 0);
    for (time, ms) in series.samples() {
        if samples.is_empty() {
            (min, max) = (ms, ms);
        } else {
            max = max.max(ms);
            min = min.min(ms);
        }
        let elapsed = now.saturating_sub(time);
        let label = match elapsed {
            e if e < 60 => format!("{e}s"),
            e if e < 3600 => format!("{}m", e / 60),
            e if e < 86400 => format!("{}h", e / 3600),
            e => format!("{}d", e / 86400),
        };
        samples.push((ms as f64, label));
    }
    let mut out = format!(
        "{} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
        series.event,
        series.max,
        "-".repeat(80)
    );
    for (j, chunk) in samples.chunks(80).enumerate() {
        if j != 0 {
            out.push('\n');
        }
        sparkline(&mut out, &samples, chunk, 4);
    }
    out
}

/// Redis's `sparklineRenderRange` with `SPARKLINE_FILL`: `rows` rows of `_o#|` bars scaled
/// between the whole sequence's min and max, then the labels written downwards.
fn sparkline(out: &mut String, all: &[(f64, String)], part: &[(f64, String)], rows: i64) {
    const FILL: &[u8] = b"_o#";
    let charset_len = FILL.len() as i64;
    let min = all.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let max = all.iter().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
    let mut relmax = max - min;
    if relmax == 0.0 {
        relmax = 1.0;
    }
    let steps = charset_len * rows;
    let labels = all.iter().any(|s| !s.1.is_empty());
    let mut row = 0i64;
    loop {
        let mut again = false;
        let mut chars = vec![b' '; part.len()];
        for (j, (value, label)) in part.iter().enumerate() {
            let relval = value - min;
            let mut step = (((relval * steps as f64) as i64) as f64 / relmax) as i64;
            step = step.clamp(0, steps - 1);
            if row < rows {
                let charidx = step - (rows - row - 1) * charset_len;
                again = true;
                if (0..charset_len).contains(&charidx) {
                    chars[j] = FILL[charidx as usize];
                } else if charidx >= charset_len {
                    chars[j] = b'|';
                }
            } else {
                if labels && row - rows < 1 {
                    again = true;
                    break;
                }
                let label_char = (row - rows - 1) as usize;
                if label.len() > label_char {
                    again = true;
                    chars[j] = label.as_bytes()[label_char];
                }
            }
        }
        if !again {
            break;
        }
        row += 1;
        out.push_str(&String::from_utf8_lossy(&chars));
        out.push('\n');
    }
}

/// LATENCY DOCTOR (Redis's `createLatencyReport`, for the events kvstore records).
fn latency_doctor(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Verbatim(doctor(ctx.shared).into()))
}

fn doctor(shared: &Shared) -> String {
    let introspection = shared.introspection();
    let events = introspection.latency_events();
    let threshold = introspection.latency_threshold_ms();
    if events.is_empty() && threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_owned();
    }
    let slower_than: i64 = (shared.config().value("slowlog-log-slower-than"))
        .parse()
        .unwrap_or(10000);
    let now = crate::state::now_ms() / 1000;
    let mut report = String::new();
    let (mut advices, mut slowlog_enabled, mut slowlog_tuning) = (0, false, false);
    let (mut slowlog_inspect, mut scheduler, mut large_objects) = (false, false, false);
    for (i, series) in events.iter().enumerate() {
        if i == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let samples: Vec<(u64, u64)> = series.samples().collect();
        let n = samples.len() as u64;
        let sum: u64 = samples.iter().map(|s| s.1).sum();
        let avg = sum.checked_div(n).unwrap_or(0);
        let deviation: u64 = samples.iter().map(|s| s.1.abs_diff(avg)).sum();
        let mad = deviation.checked_div(n).unwrap_or(0);
        let period = match samples.iter().map(|s| s.0).min() {
            Some(oldest) => now.saturating_sub(oldest).max(1),
            None => 0,
        };
        report.push_str(&format!(
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            i + 1,
            series.event,
            n,
            avg,
            mad,
            period as f64 / n as f64,
            series.max
        ));
        if series.event == "command" {
            if slower_than < 0 {
                slowlog_enabled = true;
                advices += 1;
            } else if slower_than / 1000 > threshold as i64 {
                slowlog_tuning = true;
                advices += 1;
            }
            slowlog_inspect = true;
            large_objects = true;
            advices += 2;
        }
        if series.event == "fast-command" {
            scheduler = true;
            advices += 1;
        }
        report.push('\n');
    }
    if events.is_empty() && advices == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if advices == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        report.push_str("\nI have a few advices for you:\n\n");
        if slowlog_enabled {
            report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", threshold * 1000));
        }
        if slowlog_tuning {
            report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold * 1000));
        }
        if slowlog_inspect {
            report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if scheduler {
            report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if large_objects {
            report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
    }
    report
}

/// LATENCY HISTOGRAM [command ...]
fn latency_histogram(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let shared = ctx.shared;
    let mut out = Vec::new();
    let mut add = |spec: &'static CommandSpec| {
        let stat = super::observe::stat(shared, spec);
        if let Some(h) = stat.and_then(|s| s.histogram()) {
            let buckets = h
                .cumulative_usec()
                .into_iter()
                .map(|(usec, count)| (Reply::Integer(usec as i64), Reply::Integer(count as i64)))
                .collect();
            out.push((
                Reply::bulk(spec.name),
                Reply::Map(vec![
                    (Reply::bulk("calls"), Reply::Integer(h.total() as i64)),
                    (Reply::bulk("histogram_usec"), Reply::Map(buckets)),
                ]),
            ));
        }
    };
    if args.len() == 2 {
        for spec in super::table() {
            add(spec);
            spec.subcommands.iter().for_each(&mut add);
        }
    } else {
        for name in &args[2..] {
            // Redis looks names up as `container|sub` too.
            let spec = match name.iter().position(|&b| b == b'|') {
                Some(bar) => lookup(&name[..bar]).and_then(|c| {
                    let sub = &name[bar + 1..];
                    c.subcommands
                        .iter()
                        .find(|s| s.name.as_bytes()[c.name.len() + 1..].eq_ignore_ascii_case(sub))
                }),
                None => lookup(name),
            };
            if let Some(spec) = spec {
                add(spec);
                spec.subcommands.iter().for_each(&mut add);
            }
        }
    }
    Ok(Reply::Map(out))
}

/// LATENCY HELP
fn latency_help(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() > 2 {
        return Err(subcommand_syntax_error(args));
    }
    Ok(help(
        &args[0],
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    ))
}
