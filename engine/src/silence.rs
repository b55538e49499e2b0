//! Silences and maintenance windows: matchers with a time range, or a weekly schedule. A
//! matcher on `node` also matches alerts about pods and targets running on that node.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::matcher::Matcher;
use crate::model::{EventTime, Labels};

/// Days and hours of the week (UTC) a recurring window covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weekly {
    /// Monday = 0 .. Sunday = 6.
    pub days: [bool; 7],
    /// Minutes after midnight; `to` may be smaller than `from` (a window across midnight).
    pub from_minute: u16,
    pub to_minute: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Silence {
    pub id: Arc<str>,
    pub matchers: Vec<Matcher>,
    pub starts_at: EventTime,
    /// `None`: no end (recurring windows without an end date).
    pub ends_at: Option<EventTime>,
    pub weekly: Option<Weekly>,
    pub comment: Arc<str>,
    pub created_by: Arc<str>,
}

impl Silence {
    pub fn is_active(&self, time: EventTime) -> bool {
        if time < self.starts_at || self.ends_at.is_some_and(|end| time >= end) {
            return false;
        }
        let Some(weekly) = &self.weekly else {
            return true;
        };
        let minutes = time.as_millis().div_euclid(60_000);
        let minute_of_day = minutes.rem_euclid(24 * 60) as u16;
        // 1970-01-01 was a Thursday (day 3 counting from Monday = 0).
        let day = ((minutes.div_euclid(24 * 60) + 3).rem_euclid(7)) as usize;
        let previous_day = (day + 6) % 7;
        if weekly.from_minute <= weekly.to_minute {
            weekly.days[day] && (weekly.from_minute..weekly.to_minute).contains(&minute_of_day)
        } else {
            (weekly.days[day] && minute_of_day >= weekly.from_minute)
                || (weekly.days[previous_day] && minute_of_day < weekly.to_minute)
        }
    }

    /// Whether every matcher matches the alert's labels, where a `node` matcher also accepts
    /// the node the alert's pod or instance runs on.
    pub fn matches(&self, labels: &Labels, node: Option<&str>) -> bool {
        self.matchers.iter().all(|matcher| {
            matcher.matches(labels)
                || (matcher.name() == "node" && node.is_some_and(|node| matcher.matches_value(node)))
        })
    }

    /// Still of use at `time` (not ended).
    pub fn is_current(&self, time: EventTime) -> bool {
        self.ends_at.is_none_or(|end| time < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> EventTime {
        EventTime::parse_rfc3339(text).unwrap().unwrap()
    }

    #[test]
    fn weekly_windows_follow_the_calendar() {
        // Saturday and Sunday, 22:00 to 02:00 UTC.
        let mut days = [false; 7];
        days[5] = true;
        days[6] = true;
        let silence = Silence {
            id: Arc::from("w"),
            matchers: vec![],
            starts_at: EventTime::from_millis(0),
            ends_at: None,
            weekly: Some(Weekly { days, from_minute: 22 * 60, to_minute: 2 * 60 }),
            comment: Arc::from(""),
            created_by: Arc::from(""),
        };
        // 2026-11-07 is a Saturday.
        assert!(silence.is_active(at("2026-11-07T23:00:00Z")));
        assert!(
            silence.is_active(at("2026-11-08T01:59:00Z")),
            "Sunday early morning belongs to Saturday's window"
        );
        assert!(
            silence.is_active(at("2026-11-09T01:00:00Z")),
            "Monday early morning belongs to Sunday's window"
        );
        assert!(!silence.is_active(at("2026-11-09T02:00:00Z")));
        assert!(!silence.is_active(at("2026-11-07T21:59:00Z")));
        assert!(!silence.is_active(at("2026-11-06T23:00:00Z")), "Friday night is not in the window");
    }

    #[test]
    fn a_node_matcher_covers_what_runs_on_the_node() {
        let silence = Silence {
            id: Arc::from("m"),
            matchers: vec![Matcher::parse("node=\"n1\"").unwrap()],
            starts_at: EventTime::from_millis(0),
            ends_at: None,
            weekly: None,
            comment: Arc::from(""),
            created_by: Arc::from(""),
        };
        let pod_alert = Labels::from_pairs([("alertname", "KubePodNotReady"), ("pod", "web-1")]);
        assert!(silence.matches(&pod_alert, Some("n1")));
        assert!(!silence.matches(&pod_alert, Some("n2")));
        assert!(!silence.matches(&pod_alert, None));
        assert!(silence.matches(&Labels::from_pairs([("node", "n1")]), None));
    }
}
