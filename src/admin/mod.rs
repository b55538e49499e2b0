//! Operations surface: metrics, health and readiness, and the admin API.

pub mod api;
pub mod console;
pub mod metrics;
pub mod timeline;
