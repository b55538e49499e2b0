//! The wall clock, read at the edges only (the service's engine thread, expiries, timestamps of
//! records written): the engine takes time as a parameter and never reads it.

use noisegate_engine::model::EventTime;

/// Now, in milliseconds since the epoch.
pub fn now() -> EventTime {
    EventTime::from_millis(jiff::Timestamp::now().as_millisecond())
}
