//! Operations surface: metrics, health and readiness.

pub mod metrics;
