//! The wall clock, read at the edges only (the service's engine thread, expiries, timestamps of
//! records written): the engine takes time as a parameter and never reads it.

use std::time::Duration;

use noisegate_engine::model::EventTime;

/// An hour and a day, in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Now, in milliseconds since the epoch.
pub fn now() -> EventTime {
    EventTime::from_millis(jiff::Timestamp::now().as_millisecond())
}

/// When an instant of this process was, on the wall clock: the time a request arrived, for the
/// engine that applies it later.
pub fn at(instant: std::time::Instant) -> EventTime {
    let ago = i64::try_from(instant.elapsed().as_millis()).unwrap_or(i64::MAX);
    EventTime::from_millis(jiff::Timestamp::now().as_millisecond().saturating_sub(ago))
}

/// A duration that may be written in days (`90d`), as retentions are.
pub fn parse_days(text: &str) -> Result<Duration, String> {
    match text.strip_suffix('d').map(str::parse::<u64>) {
        Some(Ok(days)) => Ok(Duration::from_secs(days.saturating_mul(86_400))),
        _ => parse_duration(text),
    }
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = text.parse().map_err(|error: jiff::Error| {
        format!("invalid duration {text:?} (write e.g. 30s, 5m, 4h): {error}")
    })?;
    Duration::try_from(signed).map_err(|_| format!("negative duration {text:?}"))
}
