//! The on-call figures of a period, from its incident records and the team's schedule: how
//! many pages, how many were acted on, when they came (per shift, out of hours), how fast they
//! were acknowledged and resolved, what keeps paging for nothing, and the same for the period
//! before, for trends.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::record::{By, IncidentRecord};
use super::schedule::Schedule;
use crate::storage::IncidentStore;
use noisegate_engine::AlertCounts;

use crate::clock::{DAY_MS as DAY, HOUR_MS as HOUR};

/// What the report shows.
#[derive(Debug, Serialize, Deserialize)]
pub struct Figures {
    pub from: i64,
    pub to: i64,
    pub timezone: String,
    pub summary: Summary,
    /// The period before, of the same length.
    pub previous: Summary,
    /// Every shift of the period, with no page or some.
    pub shifts: Vec<Shift>,
    /// Pages per local day and tier.
    pub days: Vec<Day>,
    /// Pages per team (routing key) and per service, most first.
    pub teams: Vec<Count>,
    pub services: Vec<Count>,
    /// The alert kinds that paged most without anyone acting, with what would have kept them
    /// off the pager.
    pub noisy: Vec<Noisy>,
    /// The same alert kinds paged again and again.
    pub recurring: Vec<Count>,
    /// Whether any responder feedback (PagerDuty's webhook) is in the period.
    pub feedback: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub incidents: usize,
    pub pages: usize,
    pub pages_high: usize,
    pub pages_low: usize,
    /// Pages a responder acknowledged through PagerDuty.
    pub acted: usize,
    /// Pages no one acknowledged (the alerts resolved first, or nothing was done).
    pub never_acknowledged: usize,
    /// `acted / pages`.
    pub actionable: Option<f64>,
    pub out_of_hours: usize,
    /// Seconds from page to acknowledgement, and to resolution.
    pub mtta: Option<Spread>,
    pub mttr: Option<Spread>,
    pub worst_shift_pages: usize,
    /// Pages a plain Alertmanager-style route (the same routes, `group_by` and silences, and
    /// nothing else) would have sent for the same alerts: with every alert, and with critical
    /// alerts only (warnings sent to chat). `None` when the store has none for the period.
    pub without_noisegate: Option<u64>,
    pub without_noisegate_critical: Option<u64>,
    /// What happened to the alerts of the period's incidents, and how many episodes joined an
    /// incident another had opened.
    pub alerts: AlertCounts,
    pub grouped: u64,
}

/// A median and 90th percentile, in seconds, of `count` values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub p90: f64,
    pub count: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Shift {
    pub start: i64,
    /// Its start in the team's zone (`2026-03-29 09:00 CEST`).
    pub label: String,
    pub hours: f64,
    pub pages: usize,
    pub out_of_hours: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Day {
    pub day: String,
    pub page_high: usize,
    pub page_low: usize,
    pub digest: usize,
    /// Pages a plain route would have sent that day.
    pub without_noisegate: u64,
    /// Median seconds from page to acknowledgement and to resolution, of that day's pages.
    pub mtta_median: Option<f64>,
    pub mttr_median: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Count {
    pub name: String,
    pub pages: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Noisy {
    pub kind: String,
    pub pages: usize,
    /// Pages of it that were noise: nobody acted on them (with feedback), or they were over
    /// too soon or flapped (without).
    pub never_acted: usize,
    /// Resolved by its alerts within ten minutes, before anyone acknowledged it.
    pub resolved_unacknowledged: usize,
    /// Paged again after it had resolved.
    pub flapping: usize,
    /// The config change that would have kept these pages off the pager.
    pub suggestion: String,
}

/// The figures of `from..to`, read from the store (the period before too). Blocking.
pub fn from_store(store: &IncidentStore, schedule: &Schedule, from: i64, to: i64) -> Result<Figures, String> {
    let length = to - from;
    // An incident paged in the period may have opened a while before it.
    let values = store
        .read(from.saturating_sub(length).saturating_sub(7 * DAY), to)
        .map_err(|error| format!("cannot read the incident records: {error}"))?;
    let records: Vec<IncidentRecord> =
        values.iter().filter_map(|value| IncidentRecord::decode(value).ok()).collect();
    let plain = store
        .read_plain(from.saturating_sub(length), to)
        .map_err(|error| format!("cannot read the plain-route pages: {error}"))?;
    Ok(figures(&records, &plain, schedule, from, to))
}

/// The period `from..to` (milliseconds) of times given as `instant` reads them; by default
/// the 7 days up to now.
pub fn period(from: Option<&str>, to: Option<&str>, now: i64) -> Result<(i64, i64), String> {
    let to = to.map_or(Ok(now), |text| instant(text, now).map_err(|message| format!("to: {message}")))?;
    let from = from
        .map_or(Ok(to - 7 * DAY), |text| instant(text, now).map_err(|message| format!("from: {message}")))?;
    if from >= to {
        return Err("from must be before to".to_owned());
    }
    Ok((from, to))
}

/// A time given as RFC 3339 (`2026-03-01T00:00:00Z`), or as a duration back from `now` (`7d`,
/// `12h`), in milliseconds.
fn instant(text: &str, now: i64) -> Result<i64, String> {
    if let Ok(time) = text.parse::<jiff::Timestamp>() {
        return Ok(time.as_millisecond());
    }
    let back = crate::clock::parse_days(text)
        .map_err(|_| format!("not a time {text:?} (write 2026-03-01T00:00:00Z, or 7d back from now)"))?;
    Ok(now.saturating_sub(i64::try_from(back.as_millis()).unwrap_or(i64::MAX)))
}

/// The figures of `from..to` (milliseconds), from the records of `from - (to - from)..to` and
/// the plain-route pages per hour (`(hour, every alert, critical only)`) of the same span.
pub fn figures(
    records: &[IncidentRecord],
    plain: &[(i64, u64, u64)],
    schedule: &Schedule,
    from: i64,
    to: i64,
) -> Figures {
    let length = (to - from).max(0);
    let current: Vec<&IncidentRecord> = in_period(records, from, to);
    let before: Vec<&IncidentRecord> = in_period(records, from - length, from);
    let before_shifts = shifts(&before, schedule, from - length, from);
    let previous = summarize(&before, &before_shifts, plain, schedule, from - length, from);
    let shifts = shifts(&current, schedule, from, to);
    let summary = summarize(&current, &shifts, plain, schedule, from, to);
    let paged: Vec<&IncidentRecord> =
        current.iter().copied().filter(|record| record.paged_at.is_some()).collect();
    let feedback = has_feedback(&current);
    Figures {
        from,
        to,
        timezone: schedule.timezone_name.clone(),
        summary,
        previous,
        shifts,
        days: days(&current, plain, schedule, from, to),
        teams: counts(paged.iter().map(|record| Cow::Borrowed(&*record.routing_key))),
        services: counts(
            paged.iter().flat_map(|record| record.services.iter().map(|name| Cow::Borrowed(&**name))),
        ),
        noisy: noisy(&paged, feedback),
        recurring: counts(paged.iter().map(|record| match &record.kinds[..] {
            [kind] => Cow::Borrowed(&**kind),
            kinds => {
                let mut kinds: Vec<&str> = kinds.iter().map(|kind| &**kind).collect();
                kinds.sort_unstable();
                Cow::Owned(kinds.join(", "))
            }
        }))
        .into_iter()
        .filter(|count| count.pages >= 2)
        .collect(),
        feedback,
    }
}

/// The records of incidents that paged in the period, or opened in it without paging.
fn in_period(records: &[IncidentRecord], from: i64, to: i64) -> Vec<&IncidentRecord> {
    records
        .iter()
        .filter(|record| {
            let at = record.paged_at.unwrap_or(record.opened_at);
            from <= at && at < to
        })
        .collect()
}

/// Whether a responder said anything (through PagerDuty's webhook) about any of the records.
fn has_feedback(records: &[&IncidentRecord]) -> bool {
    records.iter().any(|record| {
        record.acknowledged_by == Some(By::PagerDuty) || record.resolved_by == Some(By::PagerDuty)
    })
}

/// Seconds from a page to a later moment.
fn seconds_after(paged: i64, end: i64) -> f64 {
    (end - paged).max(0) as f64 / 1000.0
}

/// The headline figures of the incidents of `from..to`, with its shifts and plain-route pages.
fn summarize(
    records: &[&IncidentRecord],
    shifts: &[Shift],
    plain: &[(i64, u64, u64)],
    schedule: &Schedule,
    from: i64,
    to: i64,
) -> Summary {
    let paged: Vec<&IncidentRecord> =
        records.iter().copied().filter(|record| record.paged_at.is_some()).collect();
    let acted = paged.iter().filter(|record| record.acted()).count();
    // Without responder feedback, whether anyone acted is unknown, not "nobody".
    let feedback = has_feedback(records);
    let seconds = |end: fn(&IncidentRecord) -> Option<i64>| -> Vec<f64> {
        paged.iter().filter_map(|record| Some(seconds_after(record.paged_at?, end(record)?))).collect()
    };
    let (without_noisegate, without_noisegate_critical) = plain_pages(plain, from, to);
    Summary {
        incidents: records.len(),
        pages: paged.len(),
        pages_high: paged.iter().filter(|record| &*record.tier == "page_high").count(),
        pages_low: paged.iter().filter(|record| &*record.tier == "page_low").count(),
        acted,
        never_acknowledged: paged.iter().filter(|record| record.acknowledged_at.is_none()).count(),
        actionable: (feedback && !paged.is_empty()).then(|| acted as f64 / paged.len() as f64),
        out_of_hours: paged
            .iter()
            .filter(|record| record.paged_at.is_some_and(|at| schedule.out_of_hours(at)))
            .count(),
        mtta: spread(seconds(|record| record.acknowledged_at)),
        mttr: spread(seconds(|record| record.resolved_at)),
        worst_shift_pages: shifts.iter().map(|shift| shift.pages).max().unwrap_or(0),
        without_noisegate,
        without_noisegate_critical,
        alerts: records.iter().fold(AlertCounts::default(), |mut sum, record| {
            sum.add(&record.counts);
            sum
        }),
        grouped: records.iter().map(|record| record.counts.grouped()).sum(),
    }
}

/// The plain-route pages of the hours in `from..to`, if the store has any hour of it.
fn plain_pages(plain: &[(i64, u64, u64)], from: i64, to: i64) -> (Option<u64>, Option<u64>) {
    let hours: Vec<_> = plain.iter().filter(|(hour, _, _)| from <= *hour && *hour < to).collect();
    if hours.is_empty() {
        return (None, None);
    }
    (Some(hours.iter().map(|hour| hour.1).sum()), Some(hours.iter().map(|hour| hour.2).sum()))
}

/// Median and 90th percentile (nearest rank).
fn spread(mut values: Vec<f64>) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = |quantile: f64| {
        let index = ((quantile * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
        values[index]
    };
    let middle = values.len() / 2;
    let median =
        if values.len() % 2 == 1 { values[middle] } else { (values[middle - 1] + values[middle]) / 2.0 };
    Some(Spread { median, p90: rank(0.9), count: values.len() })
}

/// Every shift that overlaps `from..to`, with the pages that came in it.
fn shifts(records: &[&IncidentRecord], schedule: &Schedule, from: i64, to: i64) -> Vec<Shift> {
    // Past the next handover from any moment of a shift (shifts last 23 to 25 hours, or a week
    // give or take one).
    let step = if schedule.handover_day.is_some() { 7 * DAY } else { DAY } + 2 * HOUR;
    let mut starts = Vec::new();
    let mut start = schedule.shift_start(from);
    while start < to && starts.len() < 100_000 {
        starts.push(start);
        let next = schedule.shift_start(start + step);
        if next <= start {
            break;
        }
        start = next;
    }
    let mut shifts: Vec<Shift> = starts
        .iter()
        .enumerate()
        .map(|(index, &start)| {
            let end = starts.get(index + 1).copied().unwrap_or_else(|| schedule.shift_start(start + step));
            Shift {
                start,
                label: schedule.local(start),
                hours: (end - start) as f64 / HOUR as f64,
                pages: 0,
                out_of_hours: 0,
            }
        })
        .collect();
    // The shift a page came in: the last that started before it (no time zone arithmetic per
    // page).
    for record in records {
        let Some(paged_at) = record.paged_at else { continue };
        let Some(index) = starts.partition_point(|start| *start <= paged_at).checked_sub(1) else { continue };
        shifts[index].pages += 1;
        shifts[index].out_of_hours += usize::from(schedule.out_of_hours(paged_at));
    }
    shifts
}

/// Pages per local day of `from..to` and tier: the days with any, in order.
fn days(
    records: &[&IncidentRecord],
    plain: &[(i64, u64, u64)],
    schedule: &Schedule,
    from: i64,
    to: i64,
) -> Vec<Day> {
    let starts = schedule.day_starts(from, to);
    let mut days: Vec<Day> =
        starts.iter().map(|&start| Day { day: schedule.day(start), ..Day::default() }).collect();
    // Per day: seconds to acknowledge, and to resolve.
    let mut times: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); days.len()];
    for record in records {
        let at = record.paged_at.unwrap_or(record.opened_at);
        let Some(index) = starts.partition_point(|start| *start <= at).checked_sub(1) else { continue };
        if let Some(paged) = record.paged_at {
            times[index].0.extend(record.acknowledged_at.map(|end| seconds_after(paged, end)));
            times[index].1.extend(record.resolved_at.map(|end| seconds_after(paged, end)));
        }
        let day = &mut days[index];
        match (&*record.tier, record.paged_at.is_some()) {
            ("page_high", true) => day.page_high += 1,
            ("page_low", true) => day.page_low += 1,
            ("digest", _) => day.digest += 1,
            _ => {}
        }
    }
    for &(hour, all, _) in plain.iter().filter(|(hour, _, _)| from <= *hour && *hour < to) {
        let Some(index) = starts.partition_point(|start| *start <= hour).checked_sub(1) else { continue };
        days[index].without_noisegate += all;
    }
    for (day, (acknowledged, resolved)) in days.iter_mut().zip(times) {
        day.mtta_median = spread(acknowledged).map(|spread| spread.median);
        day.mttr_median = spread(resolved).map(|spread| spread.median);
    }
    days.retain(|day| day.page_high + day.page_low + day.digest > 0 || day.without_noisegate > 0);
    days
}

/// How often each name comes, most first (then by name); the first 20.
fn counts<'a>(names: impl Iterator<Item = Cow<'a, str>>) -> Vec<Count> {
    let mut counts: HashMap<Cow<'a, str>, usize> = HashMap::new();
    for name in names.filter(|name| !name.is_empty()) {
        *counts.entry(name).or_default() += 1;
    }
    let mut counts: Vec<Count> =
        counts.into_iter().map(|(name, pages)| Count { name: name.into_owned(), pages }).collect();
    counts.sort_by(|left, right| right.pages.cmp(&left.pages).then_with(|| left.name.cmp(&right.name)));
    counts.truncate(20);
    counts
}

/// A page resolved by its alerts this soon, unacknowledged, was over before anyone could act.
const BLIP: i64 = 10 * 60_000;

/// The kinds whose pages were noise: with responder feedback, pages nobody acted on; without
/// it (a replay, or no webhook), only what is noise by itself: pages over within `BLIP`
/// unacknowledged, and flapping ones (a real outage nobody could acknowledge is no noise).
fn noisy(paged: &[&IncidentRecord], feedback: bool) -> Vec<Noisy> {
    let mut kinds: BTreeMap<&str, Noisy> = BTreeMap::new();
    for record in paged {
        let blip = record.resolved_by == Some(By::Alerts)
            && record.acknowledged_at.is_none()
            && record
                .paged_at
                .zip(record.resolved_at)
                .is_some_and(|(paged, resolved)| resolved - paged <= BLIP);
        let flapping = record.reopened > 0;
        let noise = if feedback { !record.acted() } else { blip || flapping };
        for kind in &record.kinds {
            let noisy = kinds.entry(kind).or_insert_with(|| Noisy {
                kind: kind.to_string(),
                pages: 0,
                never_acted: 0,
                resolved_unacknowledged: 0,
                flapping: 0,
                suggestion: String::new(),
            });
            noisy.pages += 1;
            noisy.never_acted += usize::from(noise);
            noisy.resolved_unacknowledged += usize::from(blip);
            noisy.flapping += usize::from(flapping);
        }
    }
    let mut noisy: Vec<Noisy> = kinds.into_values().filter(|noisy| noisy.never_acted > 0).collect();
    for kind in &mut noisy {
        kind.suggestion = suggestion(kind);
    }
    noisy.sort_by(|left, right| {
        right.never_acted.cmp(&left.never_acted).then_with(|| left.kind.cmp(&right.kind))
    });
    noisy.truncate(20);
    noisy
}

/// What would have kept a kind's pages off the pager, from how they ended.
fn suggestion(kind: &Noisy) -> String {
    let name = &kind.kind;
    // Of its noisy pages, what most of them did.
    if kind.flapping * 2 >= kind.never_acted {
        format!(
            "{name} flaps: a longer settle time (scoring.settle) or a `for:` on its rule would page it once it holds"
        )
    } else if kind.resolved_unacknowledged * 2 >= kind.never_acted {
        format!(
            "{name} resolves on its own within minutes, before anyone looks: a settle time, or a catalog class of noise, would send it to the digest"
        )
    } else {
        format!(
            "nobody acted on {name}: a silence while it is known, an inhibition by its cause, or its own catalog class"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn at(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    fn paged(key: &str, paged_at: i64, ack_after: Option<i64>, resolve_after: i64) -> IncidentRecord {
        IncidentRecord {
            dedup_key: key.into(),
            opened_at: paged_at - 10_000,
            tier: "page_high".into(),
            routing_key: "db-team".into(),
            kinds: vec!["DiskFull".into()],
            services: vec!["postgres".into()],
            alerts: 1,
            paged_at: Some(paged_at),
            escalated_at: None,
            acknowledged_at: ack_after.map(|after| paged_at + after),
            acknowledged_by: ack_after.map(|_| By::PagerDuty),
            resolved_at: Some(paged_at + resolve_after),
            resolved_by: Some(By::Alerts),
            reopened: 0,
            counts: AlertCounts { received: 10, alerts: 2, deduplicated: 8, ..AlertCounts::default() },
        }
    }

    #[test]
    fn figures_of_a_week_with_a_daylight_saving_change() {
        let schedule = Schedule {
            timezone: TimeZone::get("Europe/Berlin").unwrap(),
            timezone_name: "Europe/Berlin".to_owned(),
            ..Schedule::default()
        };
        let records = vec![
            // Friday 2026-03-27 10:00 CET: in hours; acknowledged after 2 min, resolved after 30.
            paged("a", at("2026-03-27T09:00:00Z"), Some(120_000), 1_800_000),
            // Sunday 2026-03-29 08:30 CEST (06:30 UTC): out of hours, in Saturday's 23-hour shift.
            paged("b", at("2026-03-29T06:30:00Z"), Some(600_000), 3_600_000),
            // Monday 2026-03-30 09:30 CEST: never acknowledged, resolved on its own in 5 min.
            paged("c", at("2026-03-30T07:30:00Z"), None, 300_000),
            // The week before: one page.
            paged("old", at("2026-03-20T09:00:00Z"), None, 60_000),
        ];
        let from = at("2026-03-27T08:00:00Z");
        let to = at("2026-04-03T07:00:00Z");
        // A plain route would have paged 9 times in the period (4 with critical alerts only),
        // 2 the week before.
        let plain = [
            (at("2026-03-20T09:00:00Z"), 2, 1),
            (at("2026-03-27T09:00:00Z"), 5, 3),
            (at("2026-03-30T07:00:00Z"), 4, 1),
        ];
        let figures = figures(&records, &plain, &schedule, from, to);
        let summary = &figures.summary;
        assert_eq!((summary.pages, summary.acted, summary.never_acknowledged), (3, 2, 1));
        assert_eq!(summary.out_of_hours, 1);
        assert_eq!(summary.actionable, Some(2.0 / 3.0));
        assert_eq!(summary.mtta, Some(Spread { median: 360.0, p90: 600.0, count: 2 }));
        assert_eq!(summary.mttr, Some(Spread { median: 1800.0, p90: 3600.0, count: 3 }));
        assert_eq!(figures.previous.pages, 1);
        assert_eq!((summary.without_noisegate, summary.without_noisegate_critical), (Some(9), Some(4)));
        assert_eq!(figures.previous.without_noisegate, Some(2));
        assert_eq!((summary.alerts.received, summary.alerts.deduplicated, summary.grouped), (30, 24, 3));

        // Seven daily shifts, from 09:00 local each day; Saturday's is 23 hours long.
        let labels: Vec<&str> = figures.shifts.iter().map(|shift| shift.label.as_str()).collect();
        assert_eq!(labels[0], "2026-03-27 09:00 CET");
        assert_eq!(labels[2], "2026-03-29 09:00 CEST");
        assert_eq!(figures.shifts.len(), 7);
        assert_eq!(figures.shifts[1].hours, 23.0);
        let pages: Vec<usize> = figures.shifts.iter().map(|shift| shift.pages).collect();
        assert_eq!(pages, vec![1, 1, 0, 1, 0, 0, 0]);
        assert_eq!(figures.shifts[1].out_of_hours, 1);
        assert_eq!(summary.worst_shift_pages, 1);

        assert_eq!(figures.teams[0].name, "db-team");
        assert_eq!(figures.recurring[0].pages, 3);
        assert_eq!(figures.noisy[0].kind, "DiskFull");
        assert_eq!(figures.noisy[0].never_acted, 1);
        assert!(figures.feedback);
        let days: Vec<&str> = figures.days.iter().map(|day| day.day.as_str()).collect();
        assert_eq!(days, ["2026-03-27", "2026-03-29", "2026-03-30"]);
        let without: Vec<u64> = figures.days.iter().map(|day| day.without_noisegate).collect();
        assert_eq!(without, [5, 0, 4]);
        let mtta: Vec<Option<f64>> = figures.days.iter().map(|day| day.mtta_median).collect();
        assert_eq!(mtta, [Some(120.0), Some(600.0), None]);
        assert_eq!(figures.days[2].mttr_median, Some(300.0));
    }

    #[test]
    fn spreads_are_nearest_rank() {
        assert_eq!(spread(Vec::new()), None);
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(spread(values), Some(Spread { median: 5.5, p90: 9.0, count: 10 }));
    }
}
