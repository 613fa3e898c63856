//! The visit-counter service that replaces the original Flask backend.
//!
//! `config` (environment → [`Config`]) → `store` (the counter over RESP) → `app` (the router)
//! → served by `main`. The crate is also a library so handler tests can build the router
//! without a socket and without a store.

pub mod app;
pub mod config;
pub mod flask_json;
pub mod healthcheck;
pub mod metrics;
pub mod server;
pub mod store;

pub use app::{app, AppError, AppState};
pub use config::Config;
pub use metrics::Metrics;
pub use store::{Store, StoreError, VisitStore};
