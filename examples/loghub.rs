//! Log template quality on the Loghub 2k samples: group accuracy (GA) per system, the share of
//! lines whose template groups exactly the lines their ground-truth template groups.
//!
//!   cargo run --release --example loghub [LOGHUB_2K_DIR]
//!
//! LOGHUB_2K_DIR defaults to ../shared/data/loghub-2k. Each system's `Content` column (the
//! message after the header, as the Loghub benchmark parses it) goes through noisegate's
//! template miner with its default settings, one configuration for every system, and each
//! line's template (once every line is in: templates merge as they learn) is compared with
//! `EventId`. Beside it, plain Drain (`common/drain.rs`, the same run, depth 4, similarity
//! 0.4) and Drain's published figures (with each data set's regular expressions).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use noisegate_engine::logs::{LogConfig, LogMiner, Templates};

#[path = "common/drain.rs"]
mod drain;
use noisegate_engine::model::{EventTime, Severity};

/// Drain's published group accuracy on these samples (listed with the data set: with a
/// regular expression per data set for its variables).
const PUBLISHED: [(&str, f64); 16] = [
    ("HDFS", 0.998),
    ("Hadoop", 0.948),
    ("Spark", 0.920),
    ("Zookeeper", 0.967),
    ("OpenStack", 0.733),
    ("BGL", 0.963),
    ("HPC", 0.887),
    ("Thunderbird", 0.955),
    ("Windows", 0.997),
    ("Linux", 0.690),
    ("Mac", 0.787),
    ("Android", 0.911),
    ("HealthApp", 0.780),
    ("Apache", 1.000),
    ("OpenSSH", 0.788),
    ("Proxifier", 0.527),
];

fn config() -> LogConfig {
    LogConfig {
        depth: 4,
        similarity: 0.4,
        max_children: 100,
        max_templates: 100_000,
        max_services: 10,
        burst_errors: 10,
        new_within: Duration::from_secs(900),
        context_templates: 5,
        context_lookback: Duration::from_secs(900),
    }
}

/// (content, ground-truth event id) of every line of a system's structured CSV.
fn read(dir: &Path, system: &str) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
    let path = dir.join(system).join(format!("{system}_2k.log_structured.csv"));
    let mut reader = csv::Reader::from_path(&path)?;
    let headers = reader.headers()?.clone();
    let column =
        |name: &str| headers.iter().position(|header| header == name).ok_or(format!("{name} column missing"));
    let (content, event) = (column("Content")?, column("EventId")?);
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record?;
        lines
            .push((record.get(content).unwrap_or("").to_owned(), record.get(event).unwrap_or("").to_owned()));
    }
    Ok(lines)
}

/// The share of lines whose predicted group is exactly their ground-truth group.
fn group_accuracy<T: std::hash::Hash + Eq>(lines: &[(String, String)], predicted: &[T]) -> f64 {
    let mut by_prediction: HashMap<&T, Vec<usize>> = HashMap::new();
    let mut by_truth: HashMap<&str, usize> = HashMap::new();
    for (index, prediction) in predicted.iter().enumerate() {
        by_prediction.entry(prediction).or_default().push(index);
        *by_truth.entry(lines[index].1.as_str()).or_default() += 1;
    }
    let mut correct = 0;
    for members in by_prediction.values() {
        let truth = lines[members[0]].1.as_str();
        if members.iter().all(|&index| lines[index].1 == truth) && by_truth[truth] == members.len() {
            correct += members.len();
        }
    }
    correct as f64 / lines.len() as f64
}

/// noisegate's accuracy on a system; with `LOGHUB_SHOW` naming it, the templates that do not
/// group exactly their ground truth's lines are printed.
fn noisegate(system: &str, lines: &[(String, String)]) -> f64 {
    let mut templates = Templates::new(config());
    let ids: Vec<Option<u32>> = lines.iter().map(|(content, _)| templates.add(content)).collect();
    let resolved: Vec<Option<u32>> = ids.iter().map(|id| id.map(|id| templates.resolve(id))).collect();
    if std::env::var("LOGHUB_SHOW").is_ok_and(|show| show == system) {
        let mut truths: HashMap<Option<u32>, Vec<&str>> = HashMap::new();
        for (id, (_, truth)) in resolved.iter().zip(lines) {
            truths.entry(*id).or_default().push(truth);
        }
        for (id, mut truth) in truths {
            truth.sort_unstable();
            truth.dedup();
            let whole =
                truth.len() == 1 && lines.iter().zip(&resolved).all(|((_, t), r)| *t != truth[0] || *r == id);
            if !whole {
                let text = id.map(|id| templates.template(id)).unwrap_or_default();
                println!("  {text:?}: {truth:?}");
            }
        }
    }
    group_accuracy(lines, &resolved)
}

fn plain_drain(lines: &[(String, String)]) -> f64 {
    let mut drain = drain::Drain::new(4, 0.4, 100);
    let ids: Vec<usize> = lines.iter().map(|(content, _)| drain.add(content)).collect();
    group_accuracy(lines, &ids)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir =
        std::env::args().nth(1).map_or_else(|| PathBuf::from("../shared/data/loghub-2k"), PathBuf::from);
    println!("{:<12} {:>10} {:>10} {:>10}", "system", "noisegate", "Drain", "published");
    let (mut ours, mut plain, mut theirs) = (0.0, 0.0, 0.0);
    let mut lowest = (1.0, "");
    let mut all_lines = Vec::new();
    for (system, published) in PUBLISHED {
        let lines = read(&dir, system)?;
        let (accuracy, drain) = (noisegate(system, &lines), plain_drain(&lines));
        println!("{system:<12} {accuracy:>10.3} {drain:>10.3} {published:>10.3}");
        ours += accuracy;
        plain += drain;
        theirs += published;
        if accuracy < lowest.0 {
            lowest = (accuracy, system);
        }
        all_lines.extend(lines.into_iter().map(|(content, _)| content));
    }
    println!("{:<12} {:>10.3} {:>10.3} {:>10.3}", "mean", ours / 16.0, plain / 16.0, theirs / 16.0);
    println!("lowest: {} {:.3}", lowest.1, lowest.0);

    // Throughput of the engine's log stage (template mining and per-minute counts), all 32,000
    // lines twenty times, each system a service, one line per millisecond of event time; five
    // trials from a fresh miner, the median. The first round is timed apart: every line is new
    // to the miner then (after it, a masked line seen before goes straight to its template).
    let rounds = 20;
    let mut trials = Vec::new();
    let mut first_rounds = Vec::new();
    let mut templates = 0;
    for _ in 0..5 {
        let mut miner = LogMiner::new(config());
        let mut time = EventTime::from_millis(1_800_000_000_000);
        let started = Instant::now();
        for round in 0..rounds {
            for (index, line) in all_lines.iter().enumerate() {
                let service = PUBLISHED[index / 2000].0;
                time = EventTime::from_millis(time.as_millis() + 1);
                std::hint::black_box(miner.observe(service, line, Some(Severity::Info), time));
            }
            if round == 0 {
                first_rounds.push(started.elapsed().as_secs_f64());
            }
        }
        trials.push(started.elapsed().as_secs_f64());
        templates = miner.template_count();
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let (seconds, first) = (median(&mut trials), median(&mut first_rounds));
    let lines = (all_lines.len() * rounds) as f64;
    println!(
        "mining: {:.2} million lines/s on one core ({lines} lines in {seconds:.3}s, median of 5, {templates} templates); the first round alone: {:.2} million lines/s",
        lines / seconds / 1e6,
        all_lines.len() as f64 / first / 1e6
    );
    Ok(())
}
