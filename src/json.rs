//! JSON helpers every output shares (PagerDuty events, the decisions log, the admin API): labels
//! as a JSON object, and scores rounded to what explains them.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use noisegate_engine::model::Labels;

/// Serializes `Labels` as a JSON object, cutting values longer than `max_chars`.
pub struct LabelsObject<'a> {
    labels: &'a Labels,
    max_chars: usize,
}

impl<'a> LabelsObject<'a> {
    pub fn new(labels: &'a Labels) -> LabelsObject<'a> {
        LabelsObject { labels, max_chars: usize::MAX }
    }

    /// Values longer than `max_chars` characters are cut, with an ellipsis.
    pub fn cut(labels: &'a Labels, max_chars: usize) -> LabelsObject<'a> {
        LabelsObject { labels, max_chars }
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

impl Serialize for LabelsObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.labels.len()))?;
        for (name, value) in self.labels.iter() {
            match value.char_indices().nth(self.max_chars) {
                None => map.serialize_entry(name, value)?,
                Some((cut, _)) => map.serialize_entry(name, &format!("{}…", &value[..cut]))?,
            }
        }
        map.end()
    }
}

/// Three decimals: enough to explain, stable to compare.
pub fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
