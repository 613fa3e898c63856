//! Prometheus metrics (requests by status, latency, the store's errors and reconnects) and
//! the request log.
//!
//! Labels are bounded on purpose: the route label is the matched route or `other`, the method
//! one of the standard methods or `other`, so a client cannot grow the registry by sending
//! random paths or methods.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::store::StoreMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: &'static str,
}

/// Every metric of the process and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
    pub store: StoreMetrics,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        let latency: Family<RouteLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from request received to response headers ready, by route",
            latency.clone(),
        );
        let store = StoreMetrics::default();
        registry.register(
            "store_errors",
            "Failed store operations, by kind (unreachable, timeout, server)",
            store.errors.clone(),
        );
        registry.register(
            "store_reconnects",
            "Store connections established after the first one",
            store.reconnects.clone(),
        );
        registry.register(
            "store_connected",
            "1 while the store connection is believed healthy",
            store.connected.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            store,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> Response {
        let mut body = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Buckets from 100 µs to about 3.3 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

fn route_label(path: Option<&MatchedPath>) -> &'static str {
    match path.map(MatchedPath::as_str) {
        Some("/") => "/",
        Some("/healthz") => "/healthz",
        Some("/readyz") => "/readyz",
        Some("/metrics") => "/metrics",
        _ => "other",
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware around every route: counts and times the response, and writes the request
/// log line (target `api::request`, one event with method, path, version, status and
/// latency). One event without a span: with tower-http's `TraceLayer` (a span plus an event
/// per request) logging cost 15–30% of the throughput in our runs on 2 cores.
/// `RUST_LOG=info,api::request=warn` turns the request lines off.
pub async fn observe(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let version = request.version();
    let uri = request.uri().clone();
    let route = route_label(request.extensions().get::<MatchedPath>());
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    metrics
        .latency
        .get_or_create(&RouteLabel { route })
        .observe(elapsed.as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method_label(&method),
            route,
            status,
        })
        .inc();
    tracing::info!(
        target: "api::request",
        method = %method,
        path = %uri.path(),
        version = ?version,
        status,
        latency_us = elapsed.as_micros() as u64,
    );
    response
}
