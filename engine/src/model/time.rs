use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in event time: milliseconds since the Unix epoch, UTC.
///
/// The engine never reads a clock: `serve` passes the wall-clock time a request arrived,
/// `replay` passes the time recorded in the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventTime(i64);

#[derive(Debug, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {value:?}: {reason}")]
pub struct TimeParseError {
    value: String,
    reason: String,
}

impl EventTime {
    pub const fn from_millis(millis: i64) -> EventTime {
        EventTime(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Converts OTLP's `time_unix_nano`; 0 means unset.
    pub fn from_unix_nanos(nanos: u64) -> Option<EventTime> {
        if nanos == 0 {
            return None;
        }
        i64::try_from(nanos / 1_000_000).ok().map(EventTime)
    }

    /// Parses RFC 3339. Go's zero time (`0001-01-01T00:00:00Z`, which Alertmanager sends for
    /// "no end") and anything before the Unix epoch read as unset.
    pub fn parse_rfc3339(value: &str) -> Result<Option<EventTime>, TimeParseError> {
        let timestamp: jiff::Timestamp = value.parse().map_err(|error: jiff::Error| TimeParseError {
            value: value.to_owned(),
            reason: error.to_string(),
        })?;
        let millis = timestamp.as_millisecond();
        Ok((millis > 0).then_some(EventTime(millis)))
    }

    pub fn saturating_add(self, duration: Duration) -> EventTime {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        EventTime(self.0.saturating_add(millis))
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: EventTime) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

impl fmt::Display for EventTime {
    /// RFC 3339 in UTC with the shortest exact fraction, e.g. `2026-11-02T00:00:10.3Z`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(timestamp) => write!(formatter, "{timestamp}"),
            Err(_) => write!(formatter, "{}ms", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        let time = EventTime::parse_rfc3339("2026-11-02T00:00:10.300000Z").unwrap().unwrap();
        assert_eq!(time.to_string(), "2026-11-02T00:00:10.3Z");
        let offset = EventTime::parse_rfc3339("2026-11-02T01:00:10+01:00").unwrap().unwrap();
        assert_eq!(offset.to_string(), "2026-11-02T00:00:10Z");
    }

    #[test]
    fn go_zero_time_is_unset() {
        assert_eq!(EventTime::parse_rfc3339("0001-01-01T00:00:00Z").unwrap(), None);
        assert!(EventTime::parse_rfc3339("yesterday").is_err());
    }
}
