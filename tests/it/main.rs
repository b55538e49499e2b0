//! Integration tests: the real service on real ports, real clients, a local fake PagerDuty.

mod actionability;
mod alertmanager;
mod amtool;
mod auth;
mod bad_input;
mod cli;
mod console;
mod durability;
mod engine;
mod fuzz_seeds;
mod inventory;
mod kafka;
mod learning;
mod opsgenie;
mod otlp;
mod overload;
mod pagerduty;
mod reload;
mod replay;
mod shutdown;
mod silences;
mod support;
mod tls;
mod traces;
mod workbench;
