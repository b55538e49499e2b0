//! Sinks: where the engine's decisions go. Pages go through the outbox to their destinations
//! (`delivery`, the same for every sink) in each sink's wire format: PagerDuty's Events API v2,
//! Opsgenie's Alert API; or to the pages file. Also the digest webhook and the decisions log.

pub mod dead_letters;
pub mod decisions;
pub mod delivery;
pub mod digest;
mod lane;
pub mod opsgenie;
pub mod page;
pub mod pagerduty;
pub mod pages_file;
pub mod sink;
