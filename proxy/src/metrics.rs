//! Prometheus metrics served on the admin listener's `/metrics`.
//!
//! Registered once in the default registry (where pingora's own metrics live too). The hot
//! path only bumps pre-resolved counters: label values are looked up per request through
//! `with_label_values`, which is a hash lookup, never an allocation of a new series after the
//! first request per (upstream, status).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::LazyLock;

use prometheus::{
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge_vec,
    Histogram, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec,
};

/// Requests answered, by upstream address (`-` when none was reached) and status.
pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "proxy_requests_total",
        "Requests answered, by upstream and response status",
        &["upstream", "status"]
    )
    .expect("metric")
});

/// 1 while an upstream passes its active health check, 0 otherwise.
pub static UPSTREAM_HEALTHY: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "proxy_upstream_healthy",
        "1 while the upstream passes active health checks",
        &["upstream"]
    )
    .expect("metric")
});

/// Time from request start to the end of the response, by upstream.
pub static LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "proxy_request_duration_seconds",
        "Request duration as seen by the proxy",
        &["upstream"],
        vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    )
    .expect("metric")
});

/// Attempts that failed and were retried on another upstream.
pub static RETRIES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "proxy_upstream_retries_total",
        "Failed upstream attempts retried on another upstream"
    )
    .expect("metric")
});

/// Upstream attempts that failed (connect or I/O error), by upstream.
pub static UPSTREAM_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "proxy_upstream_failures_total",
        "Upstream attempts that failed, by upstream",
        &["upstream"]
    )
    .expect("metric")
});

/// Client connections refused because `max_connections` were open.
pub static CONNECTIONS_REFUSED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "proxy_connections_refused_total",
        "Client connections closed at accept because max_connections were open"
    )
    .expect("metric")
});

/// Configuration reloads (SIGHUP), by result (`ok`, `error`: the file was refused).
pub static RELOADS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "proxy_config_reloads_total",
        "Configuration reloads (SIGHUP), by result",
        &["result"]
    )
    .expect("metric")
});

/// Forces registration so `/metrics` lists every family before the first request.
pub fn init() {
    LazyLock::force(&REQUESTS);
    LazyLock::force(&UPSTREAM_HEALTHY);
    LazyLock::force(&LATENCY);
    LazyLock::force(&RETRIES);
    LazyLock::force(&UPSTREAM_FAILURES);
    LazyLock::force(&CONNECTIONS_REFUSED);
    LazyLock::force(&RELOADS);
}

/// The text exposition of every registered metric.
pub fn render() -> Vec<u8> {
    use prometheus::Encoder;
    let mut out = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    let _ = encoder.encode(&prometheus::gather(), &mut out);
    out
}

/// The series one request touches, resolved once per upstream and worker thread: the hot
/// path then does one thread-local lookup instead of formatting the address and hashing
/// label values into the shared registry twice per request.
#[derive(Clone)]
struct UpstreamSeries {
    label: String,
    ok: IntCounter,
    latency: Histogram,
}

thread_local! {
    /// A handful of upstreams: a linear scan beats hashing the address.
    static SERIES: RefCell<Vec<(Option<SocketAddr>, UpstreamSeries)>> = const { RefCell::new(Vec::new()) };
}

/// Counts one answered request: `upstream` (`None`: none was reached), status, duration.
pub fn observe_request(upstream: Option<SocketAddr>, status: u16, seconds: f64) {
    SERIES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let i = match cache.iter().position(|(addr, _)| *addr == upstream) {
            Some(i) => i,
            None => {
                let label = upstream.map_or_else(|| "-".to_string(), |a| a.to_string());
                let series = UpstreamSeries {
                    ok: REQUESTS.with_label_values(&[&label, "200"]),
                    latency: LATENCY.with_label_values(&[&label]),
                    label,
                };
                cache.push((upstream, series));
                cache.len() - 1
            }
        };
        let series = &cache[i].1;
        if status == 200 {
            series.ok.inc();
        } else {
            REQUESTS
                .with_label_values(&[&series.label, &status.to_string()])
                .inc();
        }
        series.latency.observe(seconds);
    });
}
