//! The HTTP surface: `fn app(state) -> Router` builds every route.
//!
//! `GET /` is the original's only endpoint and answers with the original's bytes (see
//! [`crate::flask_json`]); the probes and metrics are additions for operators. `HEAD /` runs
//! the same handler and so, exactly like Flask, counts a visit; only the body is dropped.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::flask_json::{self, Value};
use crate::metrics::{self, Metrics};
use crate::store::{StoreError, VisitStore};

/// `database_status` when the counter was incremented.
pub const CONNECTED: &str = "Terhubung";
/// `database_status` when the store could not be used.
pub const DISCONNECTED: &str = "Terputus";
pub const MESSAGE: &str = "Halo dari Backend API!";
pub const INFO: &str = "Refresh halaman ini untuk melihat container_id berubah (Load Balancing)";

/// What every handler shares.
pub struct AppState<S> {
    /// `container_id` in every body.
    pub container_id: Arc<str>,
    pub store: Arc<S>,
    pub metrics: Arc<Metrics>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            container_id: self.container_id.clone(),
            store: self.store.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<S: VisitStore> AppState<S> {
    pub fn new(container_id: impl Into<Arc<str>>, store: S, metrics: Arc<Metrics>) -> Self {
        AppState {
            container_id: container_id.into(),
            store: Arc::new(store),
            metrics,
        }
    }
}

/// Every route of the service.
pub fn app<S: VisitStore>(state: AppState<S>) -> Router {
    Router::new()
        .route("/", get(visit::<S>).fallback(method_not_allowed))
        .route("/healthz", get(healthz).fallback(method_not_allowed))
        .route("/readyz", get(readyz::<S>).fallback(method_not_allowed))
        .route(
            "/metrics",
            get(render_metrics::<S>).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::observe,
        ))
        .with_state(state)
}

/// Errors a handler can answer with; each knows its status and body.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The visit could not be counted: 503 with the original's keys, `Terputus` and a reason.
    #[error("{source}")]
    StoreUnavailable {
        container_id: Arc<str>,
        source: StoreError,
    },
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::StoreUnavailable {
                container_id,
                source,
            } => {
                tracing::warn!(container_id = %container_id, error = %source, "visit not counted");
                let reason = source.to_string();
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &mut [
                        ("container_id", Value::Str(&container_id)),
                        ("database_status", Value::Str(DISCONNECTED)),
                        ("error", Value::Str(&reason)),
                        ("info", Value::Str(INFO)),
                        ("message", Value::Str(MESSAGE)),
                        ("total_visits", Value::Null),
                    ],
                )
            }
            AppError::NotFound => json(
                StatusCode::NOT_FOUND,
                &mut [("error", Value::Str("Not Found"))],
            ),
            AppError::MethodNotAllowed => json(
                StatusCode::METHOD_NOT_ALLOWED,
                &mut [("error", Value::Str("Method Not Allowed"))],
            ),
        }
    }
}

/// A Flask-encoded JSON response with Flask's `Content-Type`.
fn json(status: StatusCode, fields: &mut [(&str, Value<'_>)]) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        flask_json::object(fields),
    )
        .into_response()
}

/// `GET /`: count the visit, answer like the original.
async fn visit<S: VisitStore>(State(state): State<AppState<S>>) -> Result<Response, AppError> {
    let visits = state
        .store
        .incr_visits()
        .await
        .map_err(|source| AppError::StoreUnavailable {
            container_id: state.container_id.clone(),
            source,
        })?;
    Ok(json(
        StatusCode::OK,
        &mut [
            ("container_id", Value::Str(&state.container_id)),
            ("database_status", Value::Str(CONNECTED)),
            ("info", Value::Str(INFO)),
            ("message", Value::Str(MESSAGE)),
            ("total_visits", Value::Int(visits)),
        ],
    ))
}

/// Liveness: the process answers HTTP. Never touches the store, so a store outage does not
/// get healthy api containers restarted.
async fn healthz() -> Response {
    json(StatusCode::OK, &mut [("status", Value::Str("ok"))])
}

/// Readiness: the store answers `PING` (200), or not (503 with the reason).
async fn readyz<S: VisitStore>(State(state): State<AppState<S>>) -> Response {
    match state.store.ping().await {
        Ok(()) => json(StatusCode::OK, &mut [("status", Value::Str("ready"))]),
        Err(e) => {
            let reason = e.to_string();
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                &mut [
                    ("error", Value::Str(&reason)),
                    ("status", Value::Str("unavailable")),
                ],
            )
        }
    }
}

async fn render_metrics<S: VisitStore>(State(state): State<AppState<S>>) -> Response {
    state.metrics.render()
}

async fn not_found(_request: Request) -> AppError {
    AppError::NotFound
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
