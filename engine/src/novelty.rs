//! What is new. Per alert kind (its name with the entity it is about: a service, a node, a
//! host), when it was first and last seen, in how many distinct hours, and how often at each
//! hour of the day; per name, on how many entities. Against that history an alert can be
//! surprising:
//!
//! - a kind never seen (its name nowhere, or the name elsewhere but never on this entity);
//! - a rare kind, seen in few hours of a long history: its novelty decays with every hour it
//!   shows up again, so the same background false positives every day fade within days;
//! - a burst: occurrences of a kind in a few minutes far above its own rate at that hour, and
//!   more than twice its largest burst before.
//!
//! Nothing is surprising before the history covers `warmup`: without a baseline everything
//! would be new. The score reads each surprise as its own explained feature.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use super::cow::{CowMap, Share};
use super::store::Fingerprint;
use crate::model::EventTime;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Surprises an incident keeps (the strongest stay).
const MAX_SURPRISES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoveltyConfig {
    pub enabled: bool,
    /// The history must cover this long before anything counts as new.
    pub warmup: Duration,
    /// Occurrences are counted in windows of this length for bursts.
    pub burst_window: Duration,
    /// A window holding this many times the kind's usual count at that hour is a burst...
    pub burst_factor: f64,
    /// ...if it holds at least this many occurrences.
    pub burst_min: u32,
    /// A kind seen in more distinct hours than this is familiar: no longer news.
    pub rare_hours: u32,
    /// Kinds the history keeps at most; when it is full, the least recently seen tenth goes.
    pub max_kinds: usize,
}

impl Default for NoveltyConfig {
    fn default() -> NoveltyConfig {
        NoveltyConfig {
            enabled: true,
            warmup: Duration::from_secs(24 * 3600),
            burst_window: Duration::from_secs(300),
            burst_factor: 10.0,
            burst_min: 20,
            rare_hours: 4,
            max_kinds: 200_000,
        }
    }
}

/// Why an alert is surprising.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Reason {
    /// No alert of this name was ever seen.
    NewName,
    /// The name was seen on `entities` other entities, never on this one.
    NewOnEntity { entities: u32 },
    /// Seen before, in `hours` distinct hours.
    Rare { hours: u32 },
    /// `count` occurrences in one window, where `expected` are usual at that hour.
    Burst { count: u32, expected: f32 },
}

/// One surprising alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Surprise {
    pub fingerprint: Fingerprint,
    pub name: Box<str>,
    pub entity: Box<str>,
    pub reason: Reason,
    /// How surprising, in [0, 1].
    pub value: f64,
}

impl Surprise {
    pub fn is_burst(&self) -> bool {
        matches!(self.reason, Reason::Burst { .. })
    }

    /// What the score's `why` says of it.
    pub fn describe(&self) -> String {
        let Surprise { name, entity, .. } = self;
        match self.reason {
            Reason::NewName => format!("{name} on {entity}: never seen before"),
            Reason::NewOnEntity { entities } => {
                format!("{name} on {entity}: seen on {entities} other entities, never on this one")
            }
            Reason::Rare { hours } => format!("{name} on {entity}: seen in only {hours} hours before"),
            Reason::Burst { count, expected } => {
                format!(
                    "{name} on {entity}: {count} occurrences in minutes, {expected:.1} usual at this hour"
                )
            }
        }
    }
}

/// The surprises of one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Surprises {
    pub list: Vec<Surprise>,
}

impl Surprises {
    pub fn add(&mut self, surprise: Surprise) {
        if let Some(same) = self.list.iter_mut().find(|known| {
            known.fingerprint == surprise.fingerprint && known.is_burst() == surprise.is_burst()
        }) {
            if surprise.value > same.value {
                *same = surprise;
            }
            return;
        }
        self.list.push(surprise);
        if self.list.len() > MAX_SURPRISES {
            // Keep the strongest; among equals the first.
            let weakest = self
                .list
                .iter()
                .enumerate()
                .min_by(|left, right| left.1.value.total_cmp(&right.1.value).then(right.0.cmp(&left.0)))
                .map(|(index, _)| index);
            if let Some(index) = weakest {
                self.list.remove(index);
            }
        }
    }

    pub fn contains(&self, fingerprint: Fingerprint) -> bool {
        self.list.iter().any(|surprise| surprise.fingerprint == fingerprint && !surprise.is_burst())
    }

    /// How new the group's kinds are together: 1 - Π(1 - value) over distinct kinds (several
    /// rare kinds at once say more than one), bursts aside.
    pub fn newness(&self) -> f64 {
        1.0 - self
            .list
            .iter()
            .filter(|surprise| !surprise.is_burst())
            .fold(1.0, |rest, surprise| rest * (1.0 - surprise.value))
    }

    pub fn burst(&self) -> Option<&Surprise> {
        self.list.iter().filter(|surprise| surprise.is_burst()).max_by(|a, b| a.value.total_cmp(&b.value))
    }
}

/// One kind's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindSeen {
    pub name: Box<str>,
    pub entity: Box<str>,
    pub first: EventTime,
    pub last: EventTime,
    /// Distinct hours with an occurrence.
    pub hours: u32,
    /// Distinct days (UTC) with an occurrence.
    pub days: u32,
    /// Occurrences per hour of the day (UTC) over the history, up to the current window.
    pub by_hour: [u32; 24],
    /// The most occurrences a closed burst window held: a kind that comes in bursts is
    /// judged against its own bursts, not its mean.
    pub peak: u32,
    /// The current burst window: when it began and what it holds.
    window_start: EventTime,
    window_count: u32,
    /// The window's burst was reported.
    window_burst: bool,
}

impl KindSeen {
    fn new(name: &str, entity: &str, now: EventTime) -> KindSeen {
        KindSeen {
            name: name.into(),
            entity: entity.into(),
            first: now,
            last: now,
            hours: 0,
            days: 0,
            by_hour: [0; 24],
            peak: 0,
            window_start: now,
            window_count: 0,
            window_burst: false,
        }
    }

    /// Occurrences usual in one burst window at `now`: the kind's mean rate at that hour of
    /// the day, or over the whole day when that is more (a day or two of history says little
    /// about one hour of it).
    fn expected(&self, now: EventTime, window: Duration) -> f64 {
        let days = ((now.as_millis() - self.first.as_millis()) as f64 / DAY_MS as f64).max(1.0);
        let windows_per_hour = HOUR_MS as f64 / window.as_millis().max(1) as f64;
        let at_hour = f64::from(self.by_hour[hour_of_day(now)]) / days;
        let all_day = self.by_hour.iter().map(|count| f64::from(*count)).sum::<f64>() / days / 24.0;
        at_hour.max(all_day) / windows_per_hour
    }
}

fn hour_of_day(time: EventTime) -> usize {
    (time.as_millis().rem_euclid(DAY_MS) / HOUR_MS) as usize
}

/// The history novelty is judged against.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    /// When the history began.
    since: Option<EventTime>,
    kinds: CowMap<u64, KindSeen>,
    /// Per alert name, what is known of it.
    names: CowMap<u64, NameSeen>,
}

impl Share for Seen {
    fn share(&mut self) -> Seen {
        Seen { since: self.since, kinds: self.kinds.share(), names: self.names.share() }
    }
}

/// What the history knows of an alert name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NameSeen {
    /// Entities it was seen on.
    pub entities: u32,
    /// Its sender reports each occurrence with its own start while the alert fires (an IDS,
    /// a log-based alert): it reports events, not a condition, so how long it keeps firing
    /// says how often it occurs, not that something stays broken.
    pub events: bool,
}

fn kind_key(name: &str, entity: &str) -> u64 {
    xxh3_64_with_seed(entity.as_bytes(), xxh3_64(name.as_bytes()))
}

fn name_key(name: &str) -> u64 {
    xxh3_64(name.as_bytes())
}

impl Seen {
    pub fn kinds(&self) -> impl Iterator<Item = &KindSeen> {
        self.kinds.values()
    }

    /// Whether alerts of `name` are reported as events (see `NameSeen::events`).
    pub fn reports_events(&self, name: &str) -> bool {
        self.names.get(&name_key(name)).is_some_and(|seen| seen.events)
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// One occurrence of `name` on `entity` at `now`: a new episode (`episode`) or the
    /// same alert occurring again. Returns what is surprising about it, judged before it
    /// joins the history.
    pub fn observe(
        &mut self,
        config: &NoveltyConfig,
        fingerprint: Fingerprint,
        name: &str,
        entity: &str,
        episode: bool,
        now: EventTime,
    ) -> Option<Surprise> {
        if !config.enabled {
            return None;
        }
        let since = *self.since.get_or_insert(now);
        let warm = now.since(since) >= config.warmup;
        let key = kind_key(name, entity);
        let name_key = name_key(name);
        let surprise =
            |reason, value| Surprise { fingerprint, name: name.into(), entity: entity.into(), reason, value };
        if !episode {
            if let Some(seen) = self.names.get_mut(&name_key) {
                seen.events = true;
            }
        }
        let Some(kind) = self.kinds.get_mut(&key) else {
            let seen = self.names.get_or_default(name_key);
            let reason = if seen.entities == 0 {
                Reason::NewName
            } else {
                Reason::NewOnEntity { entities: seen.entities }
            };
            seen.entities = seen.entities.saturating_add(1);
            let mut kind = KindSeen::new(name, entity, now);
            kind.hours = 1;
            kind.days = 1;
            kind.window_count = 1;
            if self.kinds.len() >= config.max_kinds {
                self.forget_oldest(config.max_kinds / 10 + 1);
            }
            self.kinds.insert(key, kind);
            // A name seen on many entities is less news on one more.
            let value = match reason {
                Reason::NewOnEntity { entities } => 0.6 / f64::from(entities).sqrt(),
                _ => 1.0,
            };
            return warm.then(|| surprise(reason, value));
        };
        // Judged against the history before this occurrence: seen in few hours, and not on
        // most days of the history (what recurs daily is routine, however briefly).
        let history_days = (now.as_millis() - since.as_millis()) as f64 / DAY_MS as f64;
        let recurring = f64::from(kind.days) * 2.0 >= history_days;
        let new_hour = kind.last.as_millis() / HOUR_MS != now.as_millis() / HOUR_MS;
        let rare = (warm && episode && new_hour && !recurring)
            .then_some(kind.hours)
            .filter(|hours| *hours <= config.rare_hours)
            .map(|hours| (Reason::Rare { hours }, 0.25f64.powi(hours as i32)));
        if new_hour {
            kind.hours = kind.hours.saturating_add(1);
        }
        if kind.last.as_millis().div_euclid(DAY_MS) != now.as_millis().div_euclid(DAY_MS) {
            kind.days = kind.days.saturating_add(1);
        }
        kind.last = kind.last.max(now);
        if now.since(kind.window_start) >= config.burst_window {
            // The window closes into the baseline, which never holds the window it judges.
            let hour = hour_of_day(kind.window_start);
            kind.by_hour[hour] = kind.by_hour[hour].saturating_add(kind.window_count);
            kind.peak = kind.peak.max(kind.window_count);
            kind.window_start = now;
            kind.window_count = 0;
            kind.window_burst = false;
        }
        kind.window_count = kind.window_count.saturating_add(1);
        let mature = now.since(kind.first) >= config.warmup;
        let above_peak = kind.window_count > kind.peak.saturating_mul(2);
        if mature && !kind.window_burst && kind.window_count >= config.burst_min && above_peak {
            let expected = kind.expected(now, config.burst_window);
            if f64::from(kind.window_count) >= config.burst_factor * expected.max(1.0) {
                kind.window_burst = true;
                let ratio = f64::from(kind.window_count) / expected.max(1.0);
                let value = (ratio / (2.0 * config.burst_factor)).min(1.0);
                let reason = Reason::Burst { count: kind.window_count, expected: expected as f32 };
                return Some(surprise(reason, value));
            }
        }
        rare.map(|(reason, value)| surprise(reason, value))
    }

    /// Adds a seeded kind (the history file); what is already known stays.
    pub fn seed(&mut self, kind: KindSeen) {
        let key = kind_key(&kind.name, &kind.entity);
        if self.kinds.contains_key(&key) {
            return;
        }
        let seen = self.names.get_or_default(name_key(&kind.name));
        seen.entities = seen.entities.saturating_add(1);
        self.since = Some(self.since.map_or(kind.first, |since| since.min(kind.first)));
        self.kinds.insert(key, kind);
    }

    /// Forgets the `count` least recently seen kinds, in one pass (a full history forgets a
    /// tenth at a time, not one kind per new one).
    fn forget_oldest(&mut self, count: usize) {
        let mut ages: Vec<(EventTime, u64)> =
            self.kinds.iter().map(|(key, kind)| (kind.last, *key)).collect();
        let count = count.min(ages.len());
        if count == 0 {
            return;
        }
        ages.select_nth_unstable(count - 1);
        for (_, key) in &ages[..count] {
            if let Some(kind) = self.kinds.remove(key) {
                if let Some(seen) = self.names.get_mut(&name_key(&kind.name)) {
                    seen.entities = seen.entities.saturating_sub(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    fn at(minutes: i64) -> EventTime {
        EventTime::from_millis(minutes * MINUTE)
    }

    fn config() -> NoveltyConfig {
        NoveltyConfig { warmup: Duration::from_secs(24 * 3600), ..NoveltyConfig::default() }
    }

    #[test]
    fn nothing_is_new_before_the_warmup() {
        let mut seen = Seen::default();
        let config = config();
        assert_eq!(seen.observe(&config, 1, "Disk", "db-1", true, at(0)), None);
        assert_eq!(seen.observe(&config, 2, "Cpu", "db-1", true, at(23 * 60)), None);
        let new = seen.observe(&config, 3, "Oom", "db-1", true, at(25 * 60)).unwrap();
        assert_eq!(new.reason, Reason::NewName);
        assert_eq!(new.value, 1.0);
        let elsewhere = seen.observe(&config, 4, "Disk", "web-1", true, at(25 * 60)).unwrap();
        assert_eq!(elsewhere.reason, Reason::NewOnEntity { entities: 1 });
        assert!(elsewhere.describe().contains("never on this one"), "{}", elsewhere.describe());
    }

    #[test]
    fn daily_background_fades() {
        let mut seen = Seen::default();
        let config = config();
        seen.observe(&config, 9, "Other", "x", true, at(0));
        let mut values = Vec::new();
        for day in 1..=8 {
            let surprise = seen.observe(&config, 1, "Fp", "db-1", true, at(day * 24 * 60 + 3 * 60));
            values.push(surprise.map_or(0.0, |surprise| surprise.value));
        }
        // New the first day, then rarer and rarer, then background.
        assert_eq!(values[0], 1.0);
        assert!(values.windows(2).all(|pair| pair[1] < pair[0] || pair[1] == 0.0), "{values:?}");
        assert_eq!(*values.last().unwrap(), 0.0, "{values:?}");
        // Occurrences within the hour it was already seen are not news.
        assert_eq!(seen.observe(&config, 1, "Fp", "db-1", true, at(8 * 24 * 60 + 3 * 60 + 5)), None);
    }

    #[test]
    fn a_burst_above_the_kinds_rate_at_that_hour() {
        let mut seen = Seen::default();
        let config = config();
        // Two a minute, every minute, for two days: 10 in a five-minute window is usual.
        let mut bursts = 0;
        for minute in 0..2 * 24 * 60 {
            for _ in 0..2 {
                bursts += usize::from(seen.observe(&config, 1, "Auth", "mail", false, at(minute)).is_some());
            }
        }
        assert_eq!(bursts, 0);
        let mut found = None;
        for _ in 0..150 {
            found = found.or(seen.observe(&config, 1, "Auth", "mail", false, at(2 * 24 * 60 + 1)));
        }
        let burst = found.expect("a burst");
        assert!(matches!(burst.reason, Reason::Burst { count: 100.., .. }), "{burst:?}");
        assert!(burst.describe().contains("usual at this hour"));
    }

    #[test]
    fn a_full_history_forgets_the_least_recently_seen_tenth() {
        let mut seen = Seen::default();
        let config = NoveltyConfig { max_kinds: 10, ..config() };
        for minute in 0..10 {
            seen.observe(&config, 1, "Disk", &format!("host-{minute}"), true, at(minute));
        }
        seen.observe(&config, 1, "Disk", "host-new", true, at(20));
        let mut entities: Vec<&str> = seen.kinds().map(|kind| &*kind.entity).collect();
        entities.sort_unstable();
        assert_eq!(entities.len(), 9, "two forgotten, one added: {entities:?}");
        assert!(!entities.contains(&"host-0") && !entities.contains(&"host-1"), "{entities:?}");
        assert!(entities.contains(&"host-new"));
        assert_eq!(seen.names.get(&name_key("Disk")).map(|name| name.entities), Some(9));
    }

    #[test]
    fn the_strongest_surprises_stay_and_newness_adds_up() {
        let mut surprises = Surprises::default();
        let one = |fingerprint, value| Surprise {
            fingerprint,
            name: "A".into(),
            entity: "e".into(),
            reason: Reason::Rare { hours: 1 },
            value,
        };
        surprises.add(one(1, 0.5));
        surprises.add(one(2, 0.5));
        assert!((surprises.newness() - 0.75).abs() < 1e-9);
        for fingerprint in 10..40 {
            surprises.add(one(fingerprint, 0.1));
        }
        assert_eq!(surprises.list.len(), MAX_SURPRISES);
        assert!(surprises.contains(1) && surprises.contains(2));
    }
}
