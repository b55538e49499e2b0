//! `noisegate test`: operator-written rule tests, like `promtool test rules`. A test file names
//! the config under test and lists cases: alerts with times, and the pages expected (or not).
//! Each case runs the engine alone on its own clock, from a fixed start, with the alerts sent
//! the way Prometheus sends them (re-sent every `resend`, with `endsAt` once they stop).
//!
//! ```yaml
//! config: ../configs/kube-prometheus.yaml   # relative to this file; omitted: the embedded default
//! topology: topology.json                    # optional inventory
//! tests:
//!   - name: a dead redis pages once, high urgency
//!     run_for: 30m
//!     alerts:
//!       - {at: 0s, labels: {alertname: RedisDown, service: redis-cart, severity: critical}}
//!       - {at: 1m, until: 5m, labels: {alertname: Watchdog, severity: none}}
//!     expect:
//!       pages:
//!         - {labels: {alertname: RedisDown}, urgency: high, summary_contains: redis}
//!       no_pages:
//!         - {labels: {alertname: Watchdog}}
//! ```
//!
//! Every page must be expected unless the case says `allow_other_pages: true`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{self, ConfigSource, Overrides, parse_duration};
use crate::sinks::page::page_summary;
use crate::sources::alertmanager;
use noisegate_engine::model::EventTime;
use noisegate_engine::{Engine, Notification, PageAction, Tier};

/// Where every case's clock starts: 2026-01-01T00:00:00Z.
const START_MS: i64 = 1_767_225_600_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    config: Option<String>,
    topology: Option<String>,
    tests: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// How long the case runs (default: 1h).
    run_for: Option<String>,
    /// How often firing alerts are sent again (default: 1m, as Prometheus does).
    resend: Option<String>,
    #[serde(default)]
    alerts: Vec<TestAlert>,
    #[serde(default)]
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestAlert {
    at: String,
    /// When it stops firing; fires until the end when absent.
    until: Option<String>,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    pages: Vec<ExpectedPage>,
    #[serde(default)]
    no_pages: Vec<ExpectedPage>,
    #[serde(default)]
    allow_other_pages: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedPage {
    /// Labels one of the page's alerts has (a subset).
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// `high` or `low`.
    urgency: Option<String>,
    summary_contains: Option<String>,
}

/// A page a case produced: an incident's first trigger.
#[derive(Debug)]
struct Paged {
    at: Duration,
    urgency: &'static str,
    summary: String,
    alerts: Vec<BTreeMap<String, String>>,
}

/// What one file's cases came to.
pub struct Outcome {
    pub passed: usize,
    pub failed: usize,
    /// What to print: a line per case, and the differences of those that failed.
    pub text: String,
}

/// Runs every case of a test file.
pub fn run_file(path: &Path) -> Result<Outcome, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let deserializer = serde_yaml_ng::Deserializer::from_str(&text);
    let file: TestFile = serde_path_to_error::deserialize(deserializer)
        .map_err(|error| format!("{}: {error}", path.display()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let relative = |name: &str| -> PathBuf { base.join(name) };
    let source =
        file.config.as_deref().map_or(ConfigSource::Embedded, |name| ConfigSource::File(relative(name)));
    let overrides = Overrides { topology: file.topology.as_deref().map(relative), ..Overrides::default() };
    let config = config::load(&source, &overrides)
        .map_err(|errors| format!("{}: the config under test is invalid:\n{errors}", path.display()))?;
    let mut outcome = Outcome { passed: 0, failed: 0, text: String::new() };
    for (index, case) in file.tests.iter().enumerate() {
        let result = run_case(case, &config).and_then(|paged| check(&case.expect, &paged));
        match result {
            Ok(()) => {
                outcome.passed += 1;
                let _ = writeln!(outcome.text, "ok   {}: {}", path.display(), case.name);
            }
            Err(problems) => {
                outcome.failed += 1;
                let _ = writeln!(outcome.text, "FAIL {}: {} (tests[{index}])", path.display(), case.name);
                for line in problems.lines() {
                    let _ = writeln!(outcome.text, "     {line}");
                }
            }
        }
    }
    Ok(outcome)
}

fn duration(text: &str, what: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|error| format!("{what}: {error}"))
}

fn run_case(case: &Case, config: &config::Config) -> Result<Vec<Paged>, String> {
    let run_for = duration(case.run_for.as_deref().unwrap_or("1h"), "run_for")?;
    let resend = duration(case.resend.as_deref().unwrap_or("1m"), "resend")?;
    if resend.is_zero() {
        return Err("resend: must be greater than zero".to_owned());
    }
    let at = |offset: Duration| EventTime::from_millis(START_MS + offset.as_millis() as i64);
    // Every send, in time order: (when, which alert, last send with endsAt).
    let mut sends: Vec<(Duration, usize, bool)> = Vec::new();
    for (index, alert) in case.alerts.iter().enumerate() {
        let start = duration(&alert.at, &format!("alerts[{index}].at"))?;
        let until = match &alert.until {
            Some(until) => Some(duration(until, &format!("alerts[{index}].until"))?),
            None => None,
        };
        let end = until.unwrap_or(run_for).min(run_for);
        let mut time = start;
        while time < end {
            sends.push((time, index, false));
            time += resend;
        }
        if let Some(until) = until.filter(|until| *until <= run_for) {
            sends.push((until, index, true));
        }
    }
    sends.sort_by_key(|(time, index, _)| (*time, *index));

    let mut engine = Engine::new(config.engine.clone());
    let mut out = Vec::new();
    let mut paged: Vec<Paged> = Vec::new();
    let mut seen_keys: Vec<String> = Vec::new();
    let mut collect = |out: &mut Vec<Notification>, paged: &mut Vec<Paged>| {
        for notification in out.drain(..) {
            let Notification::Page(page) = notification else { continue };
            if page.action != PageAction::Trigger || seen_keys.contains(&page.dedup_key.to_string()) {
                continue;
            }
            seen_keys.push(page.dedup_key.to_string());
            paged.push(Paged {
                at: Duration::from_millis((page.at.as_millis() - START_MS).max(0) as u64),
                urgency: if page.incident.tier == Tier::PageHigh { "high" } else { "low" },
                summary: page_summary(&page),
                alerts: page
                    .incident
                    .alerts
                    .iter()
                    .map(|alert| {
                        alert.labels.iter().map(|(name, value)| (name.to_owned(), value.to_owned())).collect()
                    })
                    .collect(),
            });
        }
    };
    for (time, index, last) in sends {
        let alert = &case.alerts[index];
        let starts = at(duration(&alert.at, "at")?);
        let body = serde_json::json!([{
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": starts.to_string(),
            "endsAt": if last { at(time).to_string() } else { at(time + resend * 4).to_string() },
        }]);
        let decoded = alertmanager::decode_v2(&body.to_string(), &config.limits)
            .map_err(|error| format!("alerts[{index}]: {}", error.message))?;
        if let Some(rejection) = decoded.rejected.first() {
            return Err(format!("alerts[{index}]: {}", rejection.message));
        }
        engine.apply_batch(decoded.events, at(time), &mut out);
        collect(&mut out, &mut paged);
    }
    engine.advance(at(run_for), &mut out);
    collect(&mut out, &mut paged);
    Ok(paged)
}

fn matches(expected: &ExpectedPage, page: &Paged) -> bool {
    let labels = expected.labels.is_empty()
        || page
            .alerts
            .iter()
            .any(|alert| expected.labels.iter().all(|(name, value)| alert.get(name) == Some(value)));
    let urgency = expected.urgency.as_deref().is_none_or(|urgency| urgency == page.urgency);
    let summary = expected
        .summary_contains
        .as_deref()
        .is_none_or(|needle| page.summary.to_lowercase().contains(&needle.to_lowercase()));
    labels && urgency && summary
}

fn describe(expected: &ExpectedPage) -> String {
    let labels: Vec<String> =
        expected.labels.iter().map(|(name, value)| format!("{name}={value:?}")).collect();
    let mut text = format!("{{{}}}", labels.join(", "));
    if let Some(urgency) = &expected.urgency {
        let _ = write!(text, " urgency {urgency}");
    }
    if let Some(needle) = &expected.summary_contains {
        let _ = write!(text, " summary containing {needle:?}");
    }
    text
}

fn show(page: &Paged) -> String {
    format!("at {}s, {} urgency: {}", page.at.as_secs(), page.urgency, page.summary)
}

/// Compares what paged with what was expected; the differences, one per line.
fn check(expect: &Expect, paged: &[Paged]) -> Result<(), String> {
    let mut problems = String::new();
    let mut used = vec![false; paged.len()];
    for expected in &expect.pages {
        let found = paged.iter().enumerate().find(|(index, page)| !used[*index] && matches(expected, page));
        match found {
            Some((index, _)) => used[index] = true,
            None => {
                let _ = writeln!(problems, "- expected a page {}: not paged", describe(expected));
                // The near misses: same labels, something else differs.
                let near =
                    ExpectedPage { labels: expected.labels.clone(), urgency: None, summary_contains: None };
                for page in paged.iter().filter(|page| matches(&near, page)) {
                    let _ = writeln!(problems, "    closest: {}", show(page));
                }
            }
        }
    }
    for unwanted in &expect.no_pages {
        for page in paged.iter().filter(|page| matches(unwanted, page)) {
            let _ = writeln!(problems, "- expected no page {}: paged {}", describe(unwanted), show(page));
        }
    }
    if !expect.allow_other_pages {
        for (page, _) in paged.iter().zip(&used).filter(|(_, used)| !**used) {
            if !expect.no_pages.iter().any(|unwanted| matches(unwanted, page)) {
                let _ = writeln!(problems, "+ unexpected page {}", show(page));
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}
