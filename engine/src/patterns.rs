//! Pattern rules: phrases operators list (known noise, must page, tags), matched with one
//! Aho-Corasick automaton against an alert's name, summary and description, and log bodies.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternAction {
    /// Never page for it (it is still listed, muted, in an incident it belongs to).
    KnownNoise,
    /// Page at once, at least high urgency, whatever settle time or known-noise says.
    MustPage,
    /// Attach this tag to the incident.
    Tag(Arc<str>),
}

#[derive(Debug, Clone)]
pub struct Pattern {
    pub phrase: Arc<str>,
    pub action: PatternAction,
}

/// Everything the patterns said about one text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatternHits {
    /// The first known-noise phrase found.
    pub known_noise: Option<Arc<str>>,
    pub must_page: Option<Arc<str>>,
    pub tags: Vec<Arc<str>>,
}

impl PatternHits {
    pub const NONE: PatternHits = PatternHits { known_noise: None, must_page: None, tags: Vec::new() };
}

impl PatternHits {
    pub fn is_empty(&self) -> bool {
        self.known_noise.is_none() && self.must_page.is_none() && self.tags.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Patterns {
    patterns: Vec<Pattern>,
    automaton: Option<AhoCorasick>,
}

impl Patterns {
    /// Builds the automaton (case-insensitive). Fails only on an automaton too large to build.
    pub fn new(patterns: Vec<Pattern>) -> Result<Patterns, String> {
        if patterns.is_empty() {
            return Ok(Patterns::default());
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(patterns.iter().map(|pattern| pattern.phrase.as_bytes()))
            .map_err(|error| error.to_string())?;
        Ok(Patterns { patterns, automaton: Some(automaton) })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Scans the texts of one event; allocates only when a tag matches.
    pub fn scan<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> PatternHits {
        let mut hits = PatternHits::default();
        let Some(automaton) = &self.automaton else {
            return hits;
        };
        for text in texts {
            for found in automaton.find_overlapping_iter(text) {
                let pattern = &self.patterns[found.pattern().as_usize()];
                match &pattern.action {
                    PatternAction::KnownNoise => {
                        hits.known_noise.get_or_insert_with(|| pattern.phrase.clone());
                    }
                    PatternAction::MustPage => {
                        hits.must_page.get_or_insert_with(|| pattern.phrase.clone());
                    }
                    PatternAction::Tag(tag) => {
                        if !hits.tags.contains(tag) {
                            hits.tags.push(tag.clone());
                        }
                    }
                }
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_finds_every_kind_of_phrase() {
        let patterns = Patterns::new(vec![
            Pattern { phrase: Arc::from("Watchdog"), action: PatternAction::KnownNoise },
            Pattern { phrase: Arc::from("data loss"), action: PatternAction::MustPage },
            Pattern { phrase: Arc::from("oomkilled"), action: PatternAction::Tag(Arc::from("oom")) },
        ])
        .unwrap();
        let hits = patterns.scan(["KubePodCrashLooping", "container OOMKilled, risk of DATA LOSS"]);
        assert_eq!(hits.known_noise, None);
        assert_eq!(hits.must_page.as_deref(), Some("data loss"));
        assert_eq!(hits.tags, vec![Arc::from("oom")]);
        assert_eq!(patterns.scan(["Watchdog"]).known_noise.as_deref(), Some("Watchdog"));
        assert!(patterns.scan(["nothing here"]).is_empty());
    }
}
