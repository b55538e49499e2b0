//! The history of alert kinds (episodes that resolved on their own, pages responders acted on)
//! on disk: JSON Lines, one kind a line. The same format seeds noisegate with past outcomes.
//!
//! `{"kind": "RedisDown", "episodes": 12, "self_resolved": 2, "acted": 5, "untouched": 1, "ack_seconds": 640.0}`

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use noisegate_engine::{History, KindStats};

#[derive(Serialize, Deserialize)]
struct Line {
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

/// Reads a history file; a missing file is an empty history.
pub fn load(path: &Path) -> anyhow::Result<History> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut kinds: HashMap<Box<str>, KindStats> = HashMap::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
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
    Ok(History { kinds })
}

/// Writes the history atomically (a temporary file renamed over the old one), kinds sorted.
pub fn save(path: &Path, history: &History) -> anyhow::Result<()> {
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
    out.into_inner().map_err(|error| error.into_error())?.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
