//! The history of alert kinds (episodes that resolved on their own, pages responders acted on)
//! on disk: JSON Lines, one kind a line. The same format seeds noisegate with past outcomes.
//!
//! `{"kind": "RedisDown", "episodes": 12, "self_resolved": 2, "acted": 5, "untouched": 1, "ack_seconds": 640.0}`
//!
//! After them, the history novelty is judged against, one alert kind on one entity a line
//! (`{"seen": {"name": "RedisDown", "entity": "redis", "first": …, "hours": 3, …}}`), so that
//! what is background stays background across restarts.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use noisegate_engine::{History, KindSeen, KindStats, Seen};

/// A history file's content.
#[derive(Default)]
pub struct Saved {
    pub history: History,
    pub seen: Vec<KindSeen>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(default)]
    episodes: u64,
    #[serde(default)]
    self_resolved: u64,
    #[serde(default)]
    acted: u64,
    #[serde(default)]
    untouched: u64,
    #[serde(default)]
    ack_seconds: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeenLine {
    seen: KindSeen,
}

/// Reads a history file; a missing file is an empty history.
pub fn load(path: &Path) -> anyhow::Result<Saved> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Saved::default()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut kinds: HashMap<Box<str>, KindStats> = HashMap::new();
    let mut seen = Vec::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        if line.trim_start().starts_with("{\"seen\"") {
            let parsed: SeenLine = serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not a novelty history line", path.display(), number + 1))?;
            seen.push(parsed.seen);
            continue;
        }
        let parsed: Line = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a history line", path.display(), number + 1))?;
        if parsed.self_resolved > parsed.episodes {
            anyhow::bail!("{}:{}: self_resolved exceeds episodes", path.display(), number + 1);
        }
        let stats = kinds.entry(parsed.kind.into_boxed_str()).or_default();
        stats.episodes += parsed.episodes;
        stats.self_resolved += parsed.self_resolved;
        stats.acted += parsed.acted;
        stats.untouched += parsed.untouched;
        stats.ack_seconds += parsed.ack_seconds;
    }
    Ok(Saved { history: History { kinds }, seen })
}

/// Writes the history atomically (a temporary file renamed over the old one), kinds sorted.
pub fn save(path: &Path, history: &History, seen: &Seen) -> anyhow::Result<()> {
    let temporary = path.with_extension("tmp");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&temporary).with_context(|| format!("cannot write {}", temporary.display()))?,
    );
    let mut kinds: Vec<(&Box<str>, &KindStats)> = history.kinds.iter().collect();
    kinds.sort_by(|left, right| left.0.cmp(right.0));
    for (kind, stats) in kinds {
        let line = Line {
            kind: kind.to_string(),
            episodes: stats.episodes,
            self_resolved: stats.self_resolved,
            acted: stats.acted,
            untouched: stats.untouched,
            ack_seconds: stats.ack_seconds,
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    let mut known: Vec<&KindSeen> = seen.kinds().collect();
    known.sort_by(|left, right| (&left.name, &left.entity).cmp(&(&right.name, &right.entity)));
    for kind in known {
        serde_json::to_writer(&mut out, &serde_json::json!({ "seen": kind }))?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|error| error.into_error())?.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
