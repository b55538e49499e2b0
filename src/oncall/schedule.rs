//! What "a shift" and "out of hours" mean to the team: a time zone, when shifts hand over
//! (daily, or weekly on one day), and business hours. Read in the team's zone, so that a
//! daylight-saving change moves nothing: the 09:00 handover stays at 09:00 local time, and
//! the shift across the change is an hour shorter or longer.

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

/// The team's on-call schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub timezone: TimeZone,
    /// Its name as configured (`Europe/Berlin`), for reports.
    pub timezone_name: String,
    /// When a shift hands over to the next, local time.
    pub handover: Time,
    /// Weekly handovers on this day; `None`: every day.
    pub handover_day: Option<Weekday>,
    /// Business days, Monday first.
    pub business_days: [bool; 7],
    pub business_from: Time,
    pub business_to: Time,
}

impl Default for Schedule {
    /// UTC, daily handovers at 09:00, business hours Monday to Friday 09:00–18:00.
    fn default() -> Schedule {
        Schedule {
            timezone: TimeZone::UTC,
            timezone_name: "UTC".to_owned(),
            handover: Time::constant(9, 0, 0, 0),
            handover_day: None,
            business_days: [true, true, true, true, true, false, false],
            business_from: Time::constant(9, 0, 0, 0),
            business_to: Time::constant(18, 0, 0, 0),
        }
    }
}

impl Schedule {
    /// `at` (milliseconds since the epoch) in the team's zone.
    fn zoned(&self, at: i64) -> Option<ZonedDateTime> {
        Timestamp::from_millisecond(at).ok().map(|instant| instant.to_zoned_datetime(self.timezone.clone()))
    }

    /// When the shift that `at` falls in began (milliseconds since the epoch).
    pub fn shift_start(&self, at: i64) -> i64 {
        let Some(local) = self.zoned(at) else { return at };
        let instant = local.timestamp();
        let mut day = local.date();
        for _ in 0..8 {
            let starts = day.to_datetime(self.handover).to_zoned_datetime(self.timezone.clone());
            if let Ok(starts) = starts {
                let on_day = self.handover_day.is_none_or(|handover_day| day.weekday() == handover_day);
                if on_day && starts.timestamp() <= instant {
                    return starts.timestamp().as_millisecond();
                }
            }
            match day.yesterday() {
                Ok(yesterday) => day = yesterday,
                Err(_) => break,
            }
        }
        at
    }

    /// Whether `at` is outside business hours, in the team's zone.
    pub fn out_of_hours(&self, at: i64) -> bool {
        let Some(local) = self.zoned(at) else { return false };
        let day = local.weekday().to_monday_zero_offset() as usize;
        let time = local.time();
        !(self.business_days[day] && self.business_from <= time && time < self.business_to)
    }

    /// `at` in the team's zone, as `2026-03-29 09:00 CEST`.
    pub fn local(&self, at: i64) -> String {
        self.zoned(at).map_or_else(|| at.to_string(), |local| local.strftime("%Y-%m-%d %H:%M %Z").to_string())
    }

    /// The local midnights of the days `from..to` overlaps, the first at or before `from`.
    pub fn day_starts(&self, from: i64, to: i64) -> Vec<i64> {
        let Some(local) = self.zoned(from) else { return Vec::new() };
        let mut day = local.date();
        let mut starts = Vec::new();
        while starts.len() < 100_000 {
            let Ok(start) =
                day.to_zoned_datetime(self.timezone.clone()).map(|start| start.timestamp().as_millisecond())
            else {
                break;
            };
            if start >= to {
                break;
            }
            starts.push(start);
            match day.tomorrow() {
                Ok(tomorrow) => day = tomorrow,
                Err(_) => break,
            }
        }
        starts
    }

    /// The local date of `at`, as `2026-03-29`.
    pub fn day(&self, at: i64) -> String {
        self.zoned(at).map_or_else(|| at.to_string(), |local| local.date().to_string())
    }
}

/// A weekday by its English name or its first three letters.
pub fn weekday(name: &str) -> Option<Weekday> {
    let name = name.to_ascii_lowercase();
    [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ]
    .into_iter()
    .find(|(full, _)| *full == name || (name.len() == 3 && full.starts_with(&name)))
    .map(|(_, day)| day)
}

/// A local time written `HH:MM`.
pub fn time_of_day(text: &str) -> Option<Time> {
    let (hours, minutes) = text.split_once(':')?;
    let (hours, minutes): (i8, i8) = (hours.parse().ok()?, minutes.parse().ok()?);
    Time::new(hours, minutes, 0, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn berlin() -> Schedule {
        Schedule {
            timezone: TimeZone::get("Europe/Berlin").unwrap(),
            timezone_name: "Europe/Berlin".to_owned(),
            ..Schedule::default()
        }
    }

    #[test]
    fn daily_shifts_hand_over_at_local_time_across_daylight_saving_changes() {
        let schedule = berlin();
        // Before the spring change (CET, UTC+1): 09:00 local is 08:00 UTC.
        assert_eq!(schedule.shift_start(at("2026-03-28T10:00:00Z")), at("2026-03-28T08:00:00Z"));
        // 07:59 UTC on the 28th is 08:59 local: still the shift of the 27th.
        assert_eq!(schedule.shift_start(at("2026-03-28T07:59:00Z")), at("2026-03-27T08:00:00Z"));
        // After it (CEST, UTC+2): 09:00 local is 07:00 UTC; the shift across the change is 23 h.
        assert_eq!(schedule.shift_start(at("2026-03-29T07:30:00Z")), at("2026-03-29T07:00:00Z"));
        assert_eq!(schedule.shift_start(at("2026-03-29T06:59:00Z")), at("2026-03-28T08:00:00Z"));
        // The autumn change: back to 08:00 UTC.
        assert_eq!(schedule.shift_start(at("2026-10-25T08:30:00Z")), at("2026-10-25T08:00:00Z"));
        assert_eq!(schedule.shift_start(at("2026-10-25T07:30:00Z")), at("2026-10-24T07:00:00Z"));
        assert_eq!(schedule.local(at("2026-03-29T07:00:00Z")), "2026-03-29 09:00 CEST");
    }

    #[test]
    fn weekly_shifts_hand_over_on_their_day() {
        let schedule = Schedule { handover_day: Some(Weekday::Monday), ..berlin() };
        // Wednesday 2026-04-01: the shift began on Monday 2026-03-30 at 09:00 CEST.
        assert_eq!(schedule.shift_start(at("2026-04-01T12:00:00Z")), at("2026-03-30T07:00:00Z"));
        // Monday 08:00 local: still the week before's, which began in CET.
        assert_eq!(schedule.shift_start(at("2026-03-30T06:00:00Z")), at("2026-03-23T08:00:00Z"));
    }

    #[test]
    fn out_of_hours_is_read_in_the_team_s_zone() {
        let schedule = berlin();
        // Friday 2026-03-27 17:30 CET is in hours, 18:00 is not; Saturday never is.
        assert!(!schedule.out_of_hours(at("2026-03-27T16:30:00Z")));
        assert!(schedule.out_of_hours(at("2026-03-27T17:00:00Z")));
        assert!(schedule.out_of_hours(at("2026-03-28T12:00:00Z")));
        // Monday 2026-03-30 08:30 CEST (06:30 UTC) is before hours; 07:30 UTC is 09:30 CEST.
        assert!(schedule.out_of_hours(at("2026-03-30T06:30:00Z")));
        assert!(!schedule.out_of_hours(at("2026-03-30T07:30:00Z")));
    }

    #[test]
    fn days_and_times_are_read_as_written() {
        assert_eq!(weekday("Mon"), Some(Weekday::Monday));
        assert_eq!(weekday("sunday"), Some(Weekday::Sunday));
        assert_eq!(weekday("mo"), None);
        assert_eq!(time_of_day("09:30"), Some(Time::constant(9, 30, 0, 0)));
        assert_eq!(time_of_day("25:00"), None);
        assert_eq!(time_of_day("9"), None);
    }
}
