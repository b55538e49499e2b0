use std::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of `name=value` pairs sorted by name, names unique.
///
/// Sorted storage makes fingerprinting and lookups cheap and the order canonical, whatever
/// order the sender used. All names and values live in one string, with their boundaries in a
/// second allocation: an alert's labels cost two allocations, not two per label. Boundaries take
/// two bytes each, four when the text is longer than 64 KiB.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    /// Every name and value, concatenated in order.
    text: Box<str>,
    /// Boundaries in `text`, little-endian, of `bound_width(text.len())` bytes each: pair `i`
    /// has its name in `bound(2i)..bound(2i + 1)` and its value in `bound(2i + 1)..bound(2i + 2)`.
    /// Empty when there are no labels.
    bounds: Box<[u8]>,
}

fn bound_width(text_len: usize) -> usize {
    if text_len > usize::from(u16::MAX) { 4 } else { 2 }
}

impl Labels {
    pub fn len(&self) -> usize {
        (self.bounds.len() / bound_width(self.text.len())).saturating_sub(1) / 2
    }

    fn bound(&self, index: usize) -> usize {
        if bound_width(self.text.len()) == 2 {
            let at = 2 * index;
            usize::from(u16::from_le_bytes([self.bounds[at], self.bounds[at + 1]]))
        } else {
            let at = 4 * index;
            let bytes = [self.bounds[at], self.bounds[at + 1], self.bounds[at + 2], self.bounds[at + 3]];
            u32::from_le_bytes(bytes) as usize
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn name(&self, index: usize) -> &str {
        &self.text[self.bound(2 * index)..self.bound(2 * index + 1)]
    }

    fn value(&self, index: usize) -> &str {
        &self.text[self.bound(2 * index + 1)..self.bound(2 * index + 2)]
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|index| self.value(index))
    }

    /// Where a label is in the sorted order.
    pub fn position(&self, name: &str) -> Option<usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = (low + high) / 2;
            match self.name(middle).cmp(name) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(middle),
            }
        }
        None
    }

    /// All names and values concatenated in order, and each pair's byte range in that text:
    /// enough to hash the labels with a few calls instead of two per label.
    pub fn packed(&self) -> (&str, impl ExactSizeIterator<Item = (usize, usize, usize)> + '_) {
        let pairs = (0..self.len())
            .map(|index| (self.bound(2 * index), self.bound(2 * index + 1), self.bound(2 * index + 2)));
        (&self.text, pairs)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        (0..self.len()).map(|index| (self.name(index), self.value(index)))
    }

    /// Builds labels from pairs; on a repeated name the last value wins.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Labels
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut builder = LabelsBuilder::default();
        for (name, value) in pairs {
            builder.push(name, value);
        }
        builder.build()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_map().entries(self.iter()).finish()
    }
}

/// Serialized as a sequence of `(name, value)` pairs (in the write-ahead log and snapshots);
/// read back through the builder, so stored bytes can never produce invalid bounds.
impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Labels, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Labels;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a sequence of (name, value) pairs")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Labels, A::Error> {
                let mut builder = LabelsBuilder::with_capacity(sequence.size_hint().unwrap_or(0).min(256));
                while let Some((name, value)) = sequence.next_element::<(&str, &str)>()? {
                    builder.push(name, value);
                }
                Ok(builder.build())
            }
        }
        deserializer.deserialize_seq(Pairs)
    }
}

/// Collects pairs in any order, then sorts once.
#[derive(Default)]
pub struct LabelsBuilder {
    text: String,
    /// Name start, name end (= value start), value end, per pair as pushed.
    pairs: Vec<(u32, u32, u32)>,
}

impl LabelsBuilder {
    pub fn with_capacity(capacity: usize) -> LabelsBuilder {
        LabelsBuilder { text: String::with_capacity(capacity * 24), pairs: Vec::with_capacity(capacity) }
    }

    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let start = self.text.len();
        self.text.push_str(name.as_ref());
        let middle = self.text.len();
        self.text.push_str(value.as_ref());
        // Label text beyond 4 GiB is refused long before, by the request size limits.
        let offset = |at: usize| u32::try_from(at).unwrap_or(u32::MAX);
        self.pairs.push((offset(start), offset(middle), offset(self.text.len())));
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Sorts by name; for a repeated name the value pushed last wins.
    pub fn build(mut self) -> Labels {
        if self.pairs.is_empty() {
            return Labels::default();
        }
        let text = &self.text;
        let name = |pair: &(u32, u32, u32)| &text[pair.0 as usize..pair.1 as usize];
        // Stable sort keeps push order among equal names, so the last of a run is the last pushed.
        self.pairs.sort_by(|left, right| name(left).cmp(name(right)));
        let mut kept: Vec<(u32, u32, u32)> = Vec::with_capacity(self.pairs.len());
        for pair in &self.pairs {
            match kept.last_mut() {
                Some(last) if name(last) == name(pair) => *last = *pair,
                _ => kept.push(*pair),
            }
        }
        let total: usize = kept.iter().map(|(start, _, end)| (end - start) as usize).sum();
        let width = bound_width(total);
        let mut packed = String::with_capacity(total);
        let mut bounds = Vec::with_capacity((kept.len() * 2 + 1) * width);
        // Offsets fit the width chosen for the total (and u32 for any text the builder holds).
        let mut push_bound = |at: usize| {
            bounds.extend_from_slice(&(at as u32).to_le_bytes()[..width]);
        };
        for (start, middle, end) in kept {
            push_bound(packed.len());
            packed.push_str(&text[start as usize..middle as usize]);
            push_bound(packed.len());
            packed.push_str(&text[middle as usize..end as usize]);
        }
        push_bound(packed.len());
        Labels { text: packed.into_boxed_str(), bounds: bounds.into_boxed_slice() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_last_value_wins() {
        let labels = Labels::from_pairs([("b", "1"), ("a", "2"), ("b", "3")]);
        let pairs: Vec<_> = labels.iter().collect();
        assert_eq!(pairs, vec![("a", "2"), ("b", "3")]);
        assert_eq!(labels.get("b"), Some("3"));
        assert_eq!(labels.get("c"), None);
        assert_eq!(labels.len(), 2);
    }

    #[test]
    fn empty_names_and_values_are_kept_apart() {
        let labels = Labels::from_pairs([("", "x"), ("a", ""), ("ab", "c")]);
        assert_eq!(labels.iter().collect::<Vec<_>>(), vec![("", "x"), ("a", ""), ("ab", "c")]);
        assert_eq!(labels.get(""), Some("x"));
        assert_eq!(labels.get("a"), Some(""));
        assert_ne!(labels, Labels::from_pairs([("", "x"), ("a", "ab"), ("", "c")]));
        assert!(Labels::default().is_empty());
        assert_eq!(Labels::from_pairs(Vec::<(&str, &str)>::new()), Labels::default());
    }

    #[test]
    fn text_beyond_64_kib_takes_wide_bounds() {
        let long = "x".repeat(70_000);
        let labels = Labels::from_pairs([("z", "end"), ("description", long.as_str()), ("a", "start")]);
        assert_eq!(labels.len(), 3);
        assert_eq!(labels.get("description"), Some(long.as_str()));
        assert_eq!(labels.get("z"), Some("end"));
        assert_eq!(labels.iter().map(|(name, _)| name).collect::<Vec<_>>(), vec!["a", "description", "z"]);
        // Just below the switch, two-byte bounds still reach the end of the text.
        let edge = "y".repeat(usize::from(u16::MAX) - 2);
        let labels = Labels::from_pairs([("a", edge.as_str()), ("b", "")]);
        assert_eq!(labels.get("a"), Some(edge.as_str()));
        assert_eq!(labels.get("b"), Some(""));
    }
}
