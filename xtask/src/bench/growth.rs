//! Part `growth`: what happens to each store as data grows.
//!
//! - Keyspace: load `key:<12 digits>` keys (8-byte values) up to each size, then measure
//!   random SETs and GETs over the whole keyspace (redis-benchmark `-r <size> -P 16`), the
//!   resident memory, and the time a restart takes to load everything back from disk.
//! - One collection (hash, list, set, sorted set) grown to each size: adding elements and
//!   reading random ones, ops/s against the collection's size.
//!
//! One round (the loads are long); kvstore and redis-server alternate at every size. After
//! each load the harness waits until the store's process is idle (`proc::wait_idle`), for
//! both stores: kvstore checkpoints a load into sled in the background, and measuring during
//! that would charge the load to the test that follows.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::kvstore::{redis_benchmark, supports};
use super::plot::{self, Series};
use super::proc::{rss, wait_idle, Proc, Store};
use super::{image, note, number, plan_steps, ratio, step, table_rows, Plan};

const STORES: [Store; 2] = [Store::Kvstore, Store::Redis];

/// The longest wait for a store to finish persisting a load before it is measured.
const SETTLE_LIMIT: Duration = Duration::from_secs(300);

/// Waits until the store has persisted what was just loaded (both stores, every time).
fn settle(server: &Proc, what: &str) {
    let waited = wait_idle(server.pid(), SETTLE_LIMIT);
    if waited >= SETTLE_LIMIT {
        note(&format!(
            "growth: {what} still busy after {SETTLE_LIMIT:?}; measured anyway"
        ));
    }
}

/// Sends `count` commands made by `command(i)` for i in `from..to` through
/// `redis-cli --pipe` (which streams them and checks every reply).
fn pipe(port: u16, from: u64, to: u64, command: impl Fn(u64) -> Vec<String>) -> Result<()> {
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("redis-cli --pipe")?;
    let mut stdin =
        std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().context("stdin")?);
    for i in from..to {
        let args = command(i);
        write!(stdin, "*{}\r\n", args.len())?;
        for a in args {
            write!(stdin, "${}\r\n{a}\r\n", a.len())?;
        }
    }
    drop(stdin);
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("errors: 0") {
        bail!("redis-cli --pipe failed: {text}");
    }
    Ok(())
}

/// Ops/s of one redis-benchmark test given as a command line.
fn ops(port: u16, requests: u64, random: u64, command: &[&str]) -> Result<f64> {
    let n = requests.to_string();
    let r = random.max(1).to_string();
    let mut args = vec!["-n", &n, "-P", "16", "-r", &r];
    args.extend_from_slice(command);
    let rows = redis_benchmark(port, &args)?;
    Ok(rows.values().next().map_or(f64::NAN, |r| r.rps))
}

/// Keyspace results of one store at one size.
#[derive(Default, Clone, Copy)]
struct KeyPoint {
    set: f64,
    get: f64,
    rss: f64,
    load_s: f64,
}

fn keyspace(plan: &Plan) -> Result<Vec<[KeyPoint; 2]>> {
    let mut results = vec![[KeyPoint::default(); 2]; plan.keyspace_sizes.len()];
    // One long-lived server per store, grown size by size, measured in alternation.
    let dirs: Vec<tempfile::TempDir> = STORES
        .iter()
        .map(|s| {
            tempfile::Builder::new()
                .prefix(&format!("kvbench-growth-{}-", s.name()))
                .tempdir()
        })
        .collect::<std::io::Result<_>>()?;
    let ports = [super::proc::free_port()?, super::proc::free_port()?];
    let mut servers: Vec<Option<Proc>> = STORES
        .iter()
        .zip(&dirs)
        .zip(ports)
        .map(|((s, d), p)| s.start_in("everysec", d.path(), p).map(Some))
        .collect::<Result<_>>()?;
    let mut loaded = 0u64;
    for (at, &size) in plan.keyspace_sizes.iter().enumerate() {
        for i in Plan::order(at, STORES.len()) {
            let store = STORES[i];
            step(&format!("growth: {} keys, {}", size, store.name()));
            let server = servers[i].as_mut().expect("running");
            pipe(server.port, loaded, size, |k| {
                vec![
                    "SET".into(),
                    format!("key:{k:012}"),
                    format!("value{:03}", k % 1000),
                ]
            })?;
            settle(server, store.name());
            let requests = (plan.requests * 4).min(size.max(10_000) * 4);
            let point = &mut results[at][i];
            point.rss = rss(server.pid())? as f64;
            point.set = ops(
                server.port,
                requests,
                size,
                &["SET", "key:__rand_int__", "value123"],
            )?;
            point.get = ops(server.port, requests, size, &["GET", "key:__rand_int__"])?;
            // Restart: a clean stop, then the time until PING answers PONG again.
            server.stop();
            let started = Instant::now();
            let again = store.start_in("everysec", dirs[i].path(), ports[i])?;
            point.load_s = started.elapsed().as_secs_f64();
            servers[i] = Some(again);
        }
        loaded = size;
    }
    Ok(results)
}

/// A collection growth case: how to add element `i`, how to add random new elements, and
/// how to read a random existing one (redis-benchmark replaces `__rand_int__`).
struct Collection {
    name: &'static str,
    command: &'static str,
    add: fn(u64) -> Vec<String>,
    write: &'static [&'static str],
    /// The read command for a collection of `size` elements.
    read: fn(u64) -> Vec<String>,
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

const COLLECTIONS: [Collection; 4] = [
    Collection {
        name: "hash (HSET / HGET)",
        command: "hset",
        add: |i| {
            vec![
                "HSET".into(),
                "big".into(),
                format!("f:{i:012}"),
                "v".into(),
            ]
        },
        write: &["HSET", "big", "new:__rand_int__", "v"],
        read: |_| words(&["HGET", "big", "f:__rand_int__"]),
    },
    Collection {
        name: "list (RPUSH / LINDEX)",
        command: "rpush",
        add: |i| vec!["RPUSH".into(), "big".into(), format!("{i}")],
        write: &["RPUSH", "big", "v"],
        // `__rand_int__` is zero-padded, which an index does not accept: read the middle.
        read: |size| words(&["LINDEX", "big", &(size / 2).to_string()]),
    },
    Collection {
        name: "set (SADD / SISMEMBER)",
        command: "sadd",
        add: |i| vec!["SADD".into(), "big".into(), format!("m:{i:012}")],
        write: &["SADD", "big", "new:__rand_int__"],
        read: |_| words(&["SISMEMBER", "big", "m:__rand_int__"]),
    },
    Collection {
        name: "sorted set (ZADD / ZSCORE)",
        command: "zadd",
        add: |i| {
            vec![
                "ZADD".into(),
                "big".into(),
                format!("{i}"),
                format!("m:{i:012}"),
            ]
        },
        write: &["ZADD", "big", "__rand_int__", "new:__rand_int__"],
        read: |_| words(&["ZSCORE", "big", "m:__rand_int__"]),
    },
];

/// (write ops/s, read ops/s) per collection, size and store; `None` when kvstore lacks it.
type CollectionResults = Vec<Vec<[Option<(f64, f64)>; 2]>>;

fn collections(plan: &Plan) -> Result<CollectionResults> {
    let mut results = Vec::new();
    for c in &COLLECTIONS {
        let mut per_size = vec![[None; 2]; plan.collection_sizes.len()];
        let mut servers: Vec<Proc> = STORES
            .iter()
            .map(|s| s.start("everysec"))
            .collect::<Result<_>>()?;
        let usable: Vec<bool> = servers
            .iter()
            .map(|s| supports(s.port, c.command))
            .collect();
        let mut loaded = 0u64;
        for (at, &size) in plan.collection_sizes.iter().enumerate() {
            for i in Plan::order(at, STORES.len()) {
                step(&format!(
                    "growth: {} of {size}, {}",
                    c.name,
                    STORES[i].name()
                ));
                if !usable[i] {
                    continue;
                }
                let server = &mut servers[i];
                pipe(server.port, loaded, size, c.add)?;
                settle(server, STORES[i].name());
                let requests = plan.requests.min(100_000);
                // Writes add `requests` elements at most; reads hit the first `size` ones.
                let write = ops(server.port, requests, 1_000_000_000, c.write)?;
                let read_cmd = (c.read)(size);
                let read_args: Vec<&str> = read_cmd.iter().map(String::as_str).collect();
                let read = ops(server.port, requests, size, &read_args)?;
                per_size[at][i] = Some((write, read));
                // Take the written extras back out so the next size starts where it says.
                if c.command == "rpush" {
                    let _ = Command::new("redis-cli")
                        .args(["-p", &server.port.to_string(), "LTRIM", "big", "0"])
                        .arg((size - 1).to_string())
                        .output();
                }
            }
            loaded = size;
        }
        results.push(per_size);
    }
    Ok(results)
}

/// The keyspace plots: ops/s, RSS and load time against the number of keys.
fn draw_keyspace(plan: &Plan, sizes: &[u64], keys: &[[KeyPoint; 2]]) -> Result<()> {
    let sizes: Vec<f64> = sizes.iter().map(|&s| s as f64).collect();
    let series = |f: fn(&KeyPoint) -> f64| -> Vec<Series> {
        STORES
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Series::new(
                    s.name(),
                    sizes
                        .iter()
                        .zip(keys)
                        .map(|(x, k)| (*x, f(&k[i])))
                        .collect(),
                )
            })
            .collect()
    };
    let mut throughput = series(|k| k.set);
    for s in &mut throughput {
        s.name = format!("{} SET", s.name);
    }
    for mut s in series(|k| k.get) {
        s.name = format!("{} GET", s.name);
        throughput.push(s);
    }
    plot::lines(
        &plan.plot_path("growth-keyspace-ops")?,
        "Random SET / GET over the whole keyspace (pipeline 16)",
        "keys",
        "ops/s",
        &throughput,
    )?;
    plot::lines(
        &plan.plot_path("growth-keyspace-rss")?,
        "Resident memory vs keys",
        "keys",
        "RSS (MiB)",
        &series(|k| k.rss / 1048576.0),
    )?;
    plot::lines(
        &plan.plot_path("growth-keyspace-load")?,
        "Start-up time (load from disk) vs keys",
        "keys",
        "seconds",
        &series(|k| k.load_s),
    )
}

/// The collections plot: write ops/s against the collection's size, per store and type.
fn draw_collections(plan: &Plan, sizes: &[u64], cols: &CollectionResults) -> Result<()> {
    let mut plotted = Vec::new();
    for (c, per_size) in COLLECTIONS.iter().zip(cols) {
        for (i, store) in STORES.iter().enumerate() {
            let points: Vec<(f64, f64)> = sizes
                .iter()
                .zip(per_size)
                .filter_map(|(&s, v)| v[i].map(|(w, _)| (s as f64, w)))
                .collect();
            if !points.is_empty() {
                let short = c.name.split(' ').next().unwrap_or(c.name);
                plotted.push(Series::new(format!("{} {short}", store.name()), points));
            }
        }
    }
    plot::lines(
        &plan.plot_path("growth-collections")?,
        "Write ops/s vs collection size (pipeline 16)",
        "elements in the collection",
        "write ops/s",
        &plotted,
    )
}

/// Redraws the plots from the section's tables (`cargo xtask bench --replot growth`).
pub fn replot(plan: &Plan, section: &str) -> Result<()> {
    let rows = table_rows(section, "## Growth");
    if rows.is_empty() {
        bail!("no growth keyspace table to replot");
    }
    let sizes: Vec<u64> = rows.iter().map(|c| number(&c[0]) as u64).collect();
    let keys: Vec<[KeyPoint; 2]> = rows
        .iter()
        .map(|c| {
            let point = |set: usize, get: usize, rss: usize, load: usize| KeyPoint {
                set: number(&c[set]),
                get: number(&c[get]),
                // The table gives MiB.
                rss: number(&c[rss]) * 1048576.0,
                load_s: number(&c[load]),
            };
            [point(1, 4, 7, 11), point(2, 5, 8, 12)]
        })
        .collect();
    draw_keyspace(plan, &sizes, &keys)?;

    let rows = table_rows(section, "### One collection growing");
    let mut sizes: Vec<u64> = rows.iter().map(|c| number(&c[1]) as u64).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let cols: CollectionResults = COLLECTIONS
        .iter()
        .map(|c| {
            sizes
                .iter()
                .map(|&size| {
                    let row = rows
                        .iter()
                        .find(|r| r[0] == c.name && number(&r[1]) as u64 == size);
                    let cell = |w: usize, r: usize| {
                        let row = row?;
                        let v = (number(&row[w]), number(&row[r]));
                        (v.0.is_finite() && v.1.is_finite()).then_some(v)
                    };
                    [cell(2, 5), cell(3, 6)]
                })
                .collect()
        })
        .collect();
    draw_collections(plan, &sizes, &cols)
}

/// At the largest size: the range of kvstore's write and read rates as a fraction of
/// redis-server's over the collections both stores ran ("" when none did).
fn largest_sizes(cols: &CollectionResults) -> String {
    // (write, read) ratios of kvstore over redis-server, per collection.
    let ratios: Vec<(f64, f64)> = cols
        .iter()
        .filter_map(|per_size| {
            let [o, t] = per_size.last()?;
            let (o, t) = ((*o)?, (*t)?);
            Some((o.0 / t.0, o.1 / t.1))
        })
        .collect();
    if ratios.is_empty() {
        return String::new();
    }
    let range = |v: Vec<f64>| {
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let (wl, wh) = range(ratios.iter().map(|r| r.0).collect());
    let (rl, rh) = range(ratios.iter().map(|r| r.1).collect());
    format!(
        "At that size kvstore writes at {wl:.2}x–{wh:.2}x and reads at {rl:.2}x–{rh:.2}x \
         redis-server's rate. "
    )
}

pub fn run(plan: &Plan) -> Result<String> {
    plan_steps(
        (plan.keyspace_sizes.len() * 2 + COLLECTIONS.len() * plan.collection_sizes.len() * 2)
            as u64,
    );
    let keys = keyspace(plan)?;
    note("growth: keyspace done; collections next");
    let cols = collections(plan)?;

    let mut report = String::new();
    writeln!(report, "## Growth: keyspace and collections\n")?;
    writeln!(
        report,
        "Keys `key:<12 digits>` with 8-byte values are loaded through `redis-cli --pipe` up to \
         each size; once the store's process is idle, `redis-benchmark -P 16 -r <size>` sets \
         and gets random existing keys; \
         RSS is read from `/proc`; **load** is the time from starting the store again on the \
         same directory (after a clean stop) until it answers PING. Both stores `appendonly yes`, \
         `appendfsync everysec`. One round; the order alternates at every size.\n"
    )?;
    if let (Some(&smallest), Some([first_o, first_t]), Some(&largest), Some([o, t])) = (
        plan.keyspace_sizes.first(),
        keys.first(),
        plan.keyspace_sizes.last(),
        keys.last(),
    ) {
        writeln!(
            report,
            "**Reading:** at {largest} keys kvstore runs random SETs at {} and GETs at {} of \
             redis-server's rate, holds {:.0} bytes per key against redis-server's {:.0} \
             ({:.0} against {:.0} at {smallest} keys), and takes {:.2} s against {:.2} s to \
             load them back. What makes up kvstore's footprint per key was measured by hand: \
             see kvstore/README.md.\n",
            ratio(o.set, t.set),
            ratio(o.get, t.get),
            o.rss / largest as f64,
            t.rss / largest as f64,
            first_o.rss / smallest as f64,
            first_t.rss / smallest as f64,
            o.load_s,
            t.load_s
        )?;
    }
    writeln!(
        report,
        "| keys | kvstore SET/s | redis SET/s | ratio | kvstore GET/s | redis GET/s | ratio | kvstore RSS | redis RSS | kvstore B/key | redis B/key | kvstore load | redis load |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for (at, &size) in plan.keyspace_sizes.iter().enumerate() {
        let [o, t] = keys[at];
        let mib = |b: f64| format!("{:.0} MiB", b / 1048576.0);
        writeln!(
            report,
            "| {size} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {} | {} | {} | {:.0} | {:.0} | {:.2} s | {:.2} s |",
            o.set,
            t.set,
            ratio(o.set, t.set),
            o.get,
            t.get,
            ratio(o.get, t.get),
            mib(o.rss),
            mib(t.rss),
            o.rss / size as f64,
            t.rss / size as f64,
            o.load_s,
            t.load_s
        )?;
    }
    draw_keyspace(plan, &plan.keyspace_sizes, &keys)?;
    writeln!(
        report,
        "\n{} {} {}",
        image("ops/s vs keys", "growth-keyspace-ops"),
        image("RSS vs keys", "growth-keyspace-rss"),
        image("load time vs keys", "growth-keyspace-load")
    )?;

    writeln!(
        report,
        "\n### One collection growing\n\nOne key grown through `redis-cli --pipe` to each size; \
         once the store's process is idle (both stores; kvstore checkpoints the load into sled \
         in the background), `redis-benchmark -P 16` adds new elements (write) and reads random existing ones \
         (read; for the list, `LINDEX` of the middle element: random indexes are not \
         expressible in redis-benchmark). A flat curve means that a write costs the same whatever the collection's size.\n"
    )?;
    // Flatness: write ops/s at the largest size over the smallest, per collection and store.
    let flat: Vec<String> = COLLECTIONS
        .iter()
        .zip(&cols)
        .filter_map(|(c, per_size)| {
            let (first, last) = (per_size.first()?, per_size.last()?);
            let keep = |i: usize| Some(last[i]?.0 / first[i]?.0);
            let short = c.name.split(' ').next().unwrap_or(c.name);
            Some(format!(
                "{short} {:.2} (redis-server {:.2})",
                keep(0)?,
                keep(1)?
            ))
        })
        .collect();
    if let (Some(first), Some(last)) = (plan.collection_sizes.first(), plan.collection_sizes.last())
    {
        writeln!(
            report,
            "**Reading:** write throughput at {last} elements as a fraction of the throughput at \
             {first}: {}. {}A write's disk cost does not grow with the collection: a large \
             hash, set or sorted set is stored in hash buckets and a long list in chunks, and a \
             checkpoint rewrites only those holding changes (kvstore/README.md has what was \
             measured by hand).\n",
            flat.join(", "),
            largest_sizes(&cols)
        )?;
    }
    writeln!(
        report,
        "| collection | elements | kvstore write/s | redis write/s | ratio | kvstore read/s | redis read/s | ratio |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for (c, per_size) in COLLECTIONS.iter().zip(&cols) {
        for (at, &size) in plan.collection_sizes.iter().enumerate() {
            let cell = |i: usize, f: fn((f64, f64)) -> f64| {
                per_size[at][i].map_or("not implemented".to_string(), |v| format!("{:.0}", f(v)))
            };
            let r = |f: fn((f64, f64)) -> f64| match (per_size[at][0], per_size[at][1]) {
                (Some(a), Some(b)) => ratio(f(a), f(b)),
                _ => "—".into(),
            };
            writeln!(
                report,
                "| {} | {size} | {} | {} | {} | {} | {} | {} |",
                c.name,
                cell(0, |v| v.0),
                cell(1, |v| v.0),
                r(|v| v.0),
                cell(0, |v| v.1),
                cell(1, |v| v.1),
                r(|v| v.1)
            )?;
        }
    }
    draw_collections(plan, &plan.collection_sizes, &cols)?;
    writeln!(
        report,
        "\n{}",
        image("write ops/s vs collection size", "growth-collections")
    )?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_size_ranges_skip_collections_one_store_lacks() {
        let cols: CollectionResults = vec![
            vec![
                [Some((1.0, 1.0)); 2],
                [Some((30.0, 8.0)), Some((20.0, 10.0))],
            ],
            vec![
                [Some((1.0, 1.0)); 2],
                [Some((10.0, 20.0)), Some((10.0, 10.0))],
            ],
            vec![[None, Some((1.0, 1.0))], [None, Some((5.0, 5.0))]],
        ];
        assert_eq!(
            largest_sizes(&cols),
            "At that size kvstore writes at 1.00x–1.50x and reads at 0.80x–2.00x redis-server's rate. "
        );
        assert_eq!(largest_sizes(&vec![vec![[None, None]]]), "");
    }
}
