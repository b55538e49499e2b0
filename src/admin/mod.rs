//! Operations surface: metrics, health and readiness, and the admin API.

pub mod api;
pub mod metrics;
