//! The on-call report over a long history: 90 days at 10,000 incidents a day (900,000 incident
//! records, and what a plain route would have paged each hour), read from the store and turned
//! into the report's figures.
//!
//!     cargo bench --bench oncall

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use noisegate::oncall::figures::{figures, from_store};
use noisegate::oncall::record::{By, IncidentRecord};
use noisegate::oncall::schedule::Schedule;
use noisegate::storage::Storage;
use noisegate_engine::AlertCounts;

const DAYS: i64 = 90;
const PER_DAY: i64 = 10_000;
const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600_000;

/// An incident of our making: most paged, a third acknowledged, all resolved.
fn record(index: i64) -> IncidentRecord {
    let opened_at = START + index * DAY / PER_DAY;
    let paged = index % 4 != 0;
    IncidentRecord {
        dedup_key: format!("noisegate-{index:016x}").into(),
        opened_at,
        tier: if index % 3 == 0 { "page_low" } else { "page_high" }.into(),
        routing_key: format!("team-{}", index % 12).into(),
        kinds: vec![format!("Alert{}", index % 300).into()],
        services: vec![format!("service-{}", index % 150).into()],
        alerts: 3,
        paged_at: paged.then_some(opened_at + 30_000),
        escalated_at: None,
        acknowledged_at: (paged && index % 3 == 1).then_some(opened_at + 300_000),
        acknowledged_by: (paged && index % 3 == 1).then_some(By::PagerDuty),
        resolved_at: Some(opened_at + 1_800_000 + (index % 97) * 60_000),
        resolved_by: Some(By::Alerts),
        reopened: u32::from(index % 50 == 0),
        counts: AlertCounts {
            received: 40,
            alerts: 3,
            deduplicated: 37,
            settled: 1,
            ..AlertCounts::default()
        },
    }
}

fn schedule() -> Schedule {
    Schedule {
        timezone: jiff::tz::TimeZone::get("Europe/Berlin").expect("a known zone"),
        timezone_name: "Europe/Berlin".to_owned(),
        ..Schedule::default()
    }
}

fn report(c: &mut Criterion) {
    let records: Vec<IncidentRecord> = (0..DAYS * PER_DAY).map(record).collect();
    // A plain route pages about three times as often.
    let plain: Vec<(i64, u64, u64)> = (0..DAYS * 24)
        .map(|hour| (START + hour * DAY / 24, 3 * PER_DAY as u64 / 24, PER_DAY as u64 / 24))
        .collect();
    let schedule = schedule();
    // The last 45 days against the 45 before: every record is read.
    let (from, to) = (START + 45 * DAY, START + DAYS * DAY);
    let mut group = c.benchmark_group("oncall_report");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("figures_900k_records", |b| {
        b.iter(|| figures(&records, &plain, &schedule, from, to))
    });

    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        let mut storage = Storage::open(dir.path()).expect("a store");
        for chunk in records.chunks(10_000) {
            let values: Vec<(i64, Box<str>, Vec<u8>)> = chunk
                .iter()
                .map(|record| (record.opened_at, record.dedup_key.clone(), record.encode().expect("encodes")))
                .collect();
            storage.commit_with(&[], &[], &[], &values, &[]).expect("commits");
        }
        storage.commit_with(&[], &[], &[], &[], &plain).expect("commits");
    }
    let store = noisegate::storage::IncidentStore::open(dir.path()).expect("the store opens");
    group.bench_function("from_store_900k_records", |b| {
        b.iter(|| from_store(&store, &schedule, from, to).expect("reads"))
    });
    group.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
