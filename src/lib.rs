//! noisegate: an alert-noise reducer between alert sources and PagerDuty.
//!
//! Data flows one way: `sources` decode requests into `model` events, the `engine` turns them
//! into pages, `sinks` deliver the pages. `service` runs it live, `cli` holds the subcommands.
//! See ARCHITECTURE.md for the map.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod diff;
pub mod inbox;
pub mod ingest;
pub mod json;
pub mod kafka;
pub mod metrics;
pub mod oncall;
pub mod reload;
pub mod replay;
pub mod report;
pub mod ruletest;
pub mod secret;
pub mod service;
pub mod sinks;
pub mod sources;
pub mod storage;
pub mod tls;
