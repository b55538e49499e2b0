//! Sinks: where the engine's decisions go. PagerDuty (Events API v2) and the pages file.

pub mod pagerduty;
pub mod pages_file;
