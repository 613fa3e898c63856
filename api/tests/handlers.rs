//! Handler tests: the router called in-process with `tower::ServiceExt::oneshot`, with a fake
//! store (or the real client pointed at a closed port), no HTTP socket.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use api::{app, AppState, Config, Metrics, Store, StoreError, VisitStore};
use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::response::Response;
use clap::Parser;
use tower::ServiceExt;

/// A counter in memory, or a store that always fails with the given error.
struct FakeStore {
    visits: AtomicI64,
    failure: Option<StoreError>,
}

impl VisitStore for FakeStore {
    async fn incr_visits(&self) -> Result<i64, StoreError> {
        match &self.failure {
            Some(e) => Err(e.clone()),
            None => Ok(self.visits.fetch_add(1, Ordering::SeqCst) + 1),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match &self.failure {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

fn state(container_id: &str, visits: i64) -> AppState<FakeStore> {
    AppState::new(
        container_id,
        FakeStore {
            visits: AtomicI64::new(visits),
            failure: None,
        },
        Arc::new(Metrics::new()),
    )
}

fn failing(error: StoreError) -> AppState<FakeStore> {
    AppState::new(
        "d6f53c5499a2",
        FakeStore {
            visits: AtomicI64::new(0),
            failure: Some(error),
        },
        Arc::new(Metrics::new()),
    )
}

async fn call<S: VisitStore>(state: AppState<S>, method: Method, uri: &str) -> Response {
    app(state)
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
}

async fn body(response: Response) -> String {
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The body as Flask builds it: `json.dumps(..., sort_keys=True, separators=(",", ":"))`
/// plus `"\n"`, written out by hand here.
fn flask_body(container_id: &str, visits: i64) -> String {
    format!(
        "{{\"container_id\":\"{container_id}\",\"database_status\":\"Terhubung\",\
         \"info\":\"Refresh halaman ini untuk melihat container_id berubah (Load Balancing)\",\
         \"message\":\"Halo dari Backend API!\",\"total_visits\":{visits}}}\n"
    )
}

#[tokio::test]
async fn get_root_answers_the_originals_bytes() {
    let response = call(state("d6f53c5499a2", 45), Method::GET, "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(response.headers()[header::CONTENT_LENGTH], "196");
    let body = body(response).await;
    assert_eq!(body, flask_body("d6f53c5499a2", 46));
    assert_eq!(body.len(), 196, "the issue's reference size");
}

#[tokio::test]
async fn every_get_counts_one_visit() {
    let state = state("c1", 0);
    for expected in 1..=3 {
        let response = call(state.clone(), Method::GET, "/").await;
        assert_eq!(body(response).await, flask_body("c1", expected));
    }
}

#[tokio::test]
async fn head_root_has_the_get_headers_and_no_body() {
    let state = state("d6f53c5499a2", 45);
    let response = call(state.clone(), Method::HEAD, "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(response.headers()[header::CONTENT_LENGTH], "196");
    assert_eq!(body(response).await, "");
    // Like Flask, HEAD runs the view: the visit was counted.
    let next = call(state, Method::GET, "/").await;
    assert_eq!(body(next).await, flask_body("d6f53c5499a2", 47));
}

#[tokio::test]
async fn store_failure_is_a_503_terputus_with_the_reason() {
    let response = call(
        failing(StoreError::Unreachable(
            "Connection refused (os error 111)".into(),
        )),
        Method::GET,
        "/",
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        body(response).await,
        "{\"container_id\":\"d6f53c5499a2\",\"database_status\":\"Terputus\",\
         \"error\":\"store unreachable: Connection refused (os error 111)\",\
         \"info\":\"Refresh halaman ini untuk melihat container_id berubah (Load Balancing)\",\
         \"message\":\"Halo dari Backend API!\",\"total_visits\":null}\n"
    );
}

#[tokio::test]
async fn store_error_reply_is_a_503_too() {
    let response = call(
        failing(StoreError::Server(
            "WRONGTYPE: Operation against a key holding the wrong kind of value".into(),
        )),
        Method::GET,
        "/",
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = body(response).await;
    assert!(body.contains("\"database_status\":\"Terputus\""), "{body}");
    assert!(
        body.contains("\"error\":\"store error: WRONGTYPE"),
        "{body}"
    );
}

#[tokio::test]
async fn unreachable_real_store_is_a_503_not_a_hang() {
    // A port nobody listens on: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }
    let config = Cli::parse_from([
        "api",
        "--redis-host",
        "127.0.0.1",
        "--redis-port",
        &port.to_string(),
    ])
    .config;
    let metrics = Arc::new(Metrics::new());
    let store = Store::new(&config, metrics.store.clone()).unwrap();
    let state = AppState::new("c1", store, metrics);
    let response = call(state.clone(), Method::GET, "/").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = body(response).await;
    assert!(text.contains("\"error\":\"store unreachable: "), "{text}");
    assert!(text.contains("\"total_visits\":null"), "{text}");
    let ready = call(state.clone(), Method::GET, "/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Within the back-off delay the same reason is repeated, not wrapped again.
    let reason = text
        .split("\"error\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(
        body(ready).await,
        format!("{{\"error\":\"{reason}\",\"status\":\"unavailable\"}}\n")
    );
    let metrics = body(call(state, Method::GET, "/metrics").await).await;
    assert!(
        metrics.contains("store_errors_total{kind=\"unreachable\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn container_id_is_escaped_like_python() {
    let response = call(state("büro\"1", 0), Method::GET, "/").await;
    let body = body(response).await;
    assert!(
        body.starts_with("{\"container_id\":\"b\\u00fcro\\\"1\","),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_path_is_a_404_json() {
    let response = call(state("c1", 0), Method::GET, "/nope").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(body(response).await, "{\"error\":\"Not Found\"}\n");
}

#[tokio::test]
async fn other_methods_on_root_are_405_with_allow() {
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let state = state("c1", 0);
        let response = call(state.clone(), method.clone(), "/").await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()[header::ALLOW], "GET,HEAD", "{method}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(body(response).await, "{\"error\":\"Method Not Allowed\"}\n");
        // Nothing was counted.
        let next = call(state, Method::GET, "/").await;
        assert_eq!(body(next).await, flask_body("c1", 1));
    }
}

#[tokio::test]
async fn healthz_does_not_need_the_store() {
    let response = call(failing(StoreError::Timeout(1000)), Method::GET, "/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, "{\"status\":\"ok\"}\n");
}

#[tokio::test]
async fn readyz_follows_the_store() {
    let ok = call(state("c1", 0), Method::GET, "/readyz").await;
    assert_eq!(ok.status(), StatusCode::OK);
    let down = call(failing(StoreError::Timeout(1000)), Method::GET, "/readyz").await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body(down).await,
        "{\"error\":\"store did not answer within 1000 ms\",\"status\":\"unavailable\"}\n"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_status() {
    let state = state("c1", 0);
    call(state.clone(), Method::GET, "/").await;
    call(state.clone(), Method::GET, "/").await;
    call(state.clone(), Method::GET, "/x").await;
    let response = call(state, Method::GET, "/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = body(response).await;
    for line in [
        "http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 2",
        "http_requests_total{method=\"GET\",route=\"other\",status=\"404\"} 1",
        "http_request_duration_seconds_count{route=\"/\"} 2",
        "store_reconnects_total 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}
