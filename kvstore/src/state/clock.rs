//! The clock that times each command (INFO commandstats, SLOWLOG, LATENCY): the CPU's
//! time-stamp counter where Linux reports it invariant (`constant_tsc` and `nonstop_tsc`),
//! read in a few nanoseconds, else `Instant`. Redis has the same choice (its monotonic clock
//! over the TSC); a command's duration is measured on every call, so a `clock_gettime` per
//! command was a visible share of a pipelined GET's CPU time.
//!
//! The counter's rate is calibrated once against `Instant`, over two milliseconds, on first
//! use.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A point in time, comparable only with another `Tick`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tick(u64);

/// How ticks become nanoseconds.
#[derive(Debug)]
enum Source {
    /// The time-stamp counter, at this many nanoseconds per tick.
    Tsc(f64),
    /// Nanoseconds since this instant.
    Instant(Instant),
}

fn source() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| tsc_rate().map_or_else(|| Source::Instant(Instant::now()), Source::Tsc))
}

#[cfg(target_arch = "x86_64")]
fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no preconditions; it only reads the counter.
    unsafe { std::arch::x86_64::_rdtsc() }
}

#[cfg(target_arch = "x86_64")]
fn tsc_rate() -> Option<f64> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags"))?;
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    if !(has("constant_tsc") && has("nonstop_tsc")) {
        return None;
    }
    let (t0, c0) = (Instant::now(), rdtsc());
    std::thread::sleep(Duration::from_millis(2));
    let (t1, c1) = (Instant::now(), rdtsc());
    let ticks = c1.checked_sub(c0).filter(|&t| t > 0)?;
    Some(t1.duration_since(t0).as_nanos() as f64 / ticks as f64)
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc_rate() -> Option<f64> {
    None
}

/// Now.
pub(crate) fn tick() -> Tick {
    match source() {
        #[cfg(target_arch = "x86_64")]
        Source::Tsc(_) => Tick(rdtsc()),
        #[cfg(not(target_arch = "x86_64"))]
        Source::Tsc(_) => Tick(0),
        Source::Instant(base) => Tick(base.elapsed().as_nanos() as u64),
    }
}

impl Tick {
    /// Nanoseconds from `earlier` to `self` (0 if the clock went backwards).
    pub(crate) fn nanos_since(self, earlier: Tick) -> u64 {
        let delta = self.0.saturating_sub(earlier.0);
        match source() {
            Source::Tsc(rate) => (delta as f64 * rate) as u64,
            Source::Instant(_) => delta,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_measure_time() {
        let start = tick();
        std::thread::sleep(Duration::from_millis(20));
        let nanos = tick().nanos_since(start);
        assert!((15_000_000..2_000_000_000).contains(&nanos), "{nanos}");
    }
}
