//! The decisions log: one JSON line per decision about an incident (opened, paged, escalated,
//! digested, suppressed, resolved), with its score and each feature's part in it.
//! `serve` writes it when `decisions.file` is set; `replay --decisions-out` writes it too;
//! `noisegate explain` reads it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::json::{LabelsObject, round};
use noisegate_engine::{Contribution, DecisionRecord};

#[derive(Serialize)]
struct Line<'a> {
    at: String,
    dedup_key: &'a str,
    decision: &'static str,
    tier: &'static str,
    score: f64,
    why: Vec<WhyItem<'a>>,
    group_labels: LabelsObject<'a>,
}

/// One feature's part in a score, as the decisions log and the APIs write it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct WhyItem<'a> {
    pub feature: &'a str,
    pub value: f64,
    pub contribution: f64,
    pub note: std::borrow::Cow<'a, str>,
}

pub fn why_items(why: &[Contribution]) -> Vec<WhyItem<'_>> {
    why.iter()
        .map(|part| WhyItem {
            feature: part.feature,
            value: round(part.value),
            contribution: round(part.contribution),
            note: std::borrow::Cow::Borrowed(&part.note),
        })
        .collect()
}

/// A decision as one JSON object: the decisions log's line, the decisions topic's message.
pub fn write_json(out: impl Write, record: &DecisionRecord) -> serde_json::Result<()> {
    let line = Line {
        at: record.at.to_string(),
        dedup_key: &record.dedup_key,
        decision: record.kind.as_str(),
        tier: record.tier.as_str(),
        score: round(record.score),
        why: why_items(&record.why),
        group_labels: LabelsObject::new(&record.group_labels),
    };
    serde_json::to_writer(out, &line)
}

pub struct DecisionsLog {
    out: BufWriter<File>,
}

impl DecisionsLog {
    /// Appends to `path` (creating it).
    pub fn open(path: &Path) -> io::Result<DecisionsLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(DecisionsLog { out: BufWriter::new(file) })
    }

    /// Truncates `path` (for a replay's own log).
    pub fn create(path: &Path) -> io::Result<DecisionsLog> {
        Ok(DecisionsLog { out: BufWriter::new(File::create(path)?) })
    }

    pub fn write(&mut self, record: &DecisionRecord) -> io::Result<()> {
        write_json(&mut self.out, record)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
