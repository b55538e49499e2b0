//! The engine on configs of our own, through its public interface: correlation and muting
//! scenarios, scoring, and seeded storms on inventories of our own design.

use noisegate_engine::model::{Alert, Event, EventTime, Expiry, Labels, Severity};
use noisegate_engine::{Engine, Notification, Page};

mod builder;
mod novelty;
mod scenarios;
mod scoring;
mod storms;

/// Where every scenario's clock starts.
pub const T0: i64 = 1_800_000_000_000;

pub fn at(seconds: i64) -> EventTime {
    EventTime::from_millis(T0 + seconds * 1000)
}

/// An alert as Prometheus sends it: its severity from the `severity` label, firing from `starts`
/// with `endsAt` at `ends` (seconds after T0).
pub fn prometheus_alert(labels: Labels, starts: i64, ends: i64) -> Event {
    Event::Alert(Alert {
        severity: labels.get("severity").and_then(Severity::parse),
        labels,
        annotations: Labels::default(),
        starts_at: Some(at(starts)),
        ends_at: Some(at(ends)),
        resolved: false,
        expiry: Expiry::ResolveTimeout,
        generator_url: None,
        external_key: None,
    })
}

/// An engine from a YAML config (the scenarios' way to set it up).
pub fn engine_from(yaml: &str) -> Engine {
    match noisegate::config::parse(yaml, &|_| None) {
        Ok(config) => Engine::new(config.engine),
        Err(errors) => panic!("scenario config is invalid:\n{errors}"),
    }
}

/// The pages among notifications.
pub fn page_of(notification: Notification) -> Option<Page> {
    match notification {
        Notification::Page(page) => Some(page),
        Notification::Digest(_) | Notification::Decision(_) | Notification::Plain(_) => None,
    }
}

pub fn pages(out: &[Notification]) -> Vec<&Page> {
    out.iter()
        .filter_map(|notification| match notification {
            Notification::Page(page) => Some(page),
            _ => None,
        })
        .collect()
}
