//! Sinks: where the engine's decisions go. PagerDuty (Events API v2), the pages file, the
//! digest webhook and the decisions log.

pub mod decisions;
pub mod digest;
pub mod pagerduty;
pub mod pages_file;
