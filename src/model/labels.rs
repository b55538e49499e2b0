use std::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of `name=value` pairs sorted by name, names unique.
///
/// Sorted storage makes fingerprinting and lookups cheap and the order canonical, whatever
/// order the sender used. All names and values live in one string, with their boundaries in a
/// second allocation: an alert's labels cost two allocations, not two per label.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    /// Every name and value, concatenated in order.
    text: Box<str>,
    /// Boundaries in `text`: pair `i` has its name in `bounds[2i]..bounds[2i + 1]` and its value
    /// in `bounds[2i + 1]..bounds[2i + 2]`. Empty when there are no labels.
    bounds: Box<[u32]>,
}

impl Labels {
    pub fn len(&self) -> usize {
        self.bounds.len().saturating_sub(1) / 2
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn name(&self, index: usize) -> &str {
        &self.text[self.bounds[2 * index] as usize..self.bounds[2 * index + 1] as usize]
    }

    fn value(&self, index: usize) -> &str {
        &self.text[self.bounds[2 * index + 1] as usize..self.bounds[2 * index + 2] as usize]
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
        let pairs = (0..self.len()).map(|index| {
            (
                self.bounds[2 * index] as usize,
                self.bounds[2 * index + 1] as usize,
                self.bounds[2 * index + 2] as usize,
            )
        });
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
        let mut packed = String::with_capacity(text.len());
        let mut bounds = Vec::with_capacity(kept.len() * 2 + 1);
        for (start, middle, end) in kept {
            bounds.push(packed.len() as u32);
            packed.push_str(&text[start as usize..middle as usize]);
            bounds.push(packed.len() as u32);
            packed.push_str(&text[middle as usize..end as usize]);
        }
        bounds.push(packed.len() as u32);
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
}
