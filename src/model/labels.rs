use std::fmt;

/// A set of `name=value` pairs sorted by name, names unique.
///
/// Sorted storage makes fingerprinting and lookups cheap and the order canonical, whatever
/// order the sender used.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels(Vec<(Box<str>, Box<str>)>);

impl Labels {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|(key, _)| key.as_ref().cmp(name)).ok().map(|index| self.0[index].1.as_ref())
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.0.iter().map(|(key, value)| (key.as_ref(), value.as_ref()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Builds labels from pairs; on a repeated name the last value wins.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Labels
    where
        K: Into<Box<str>>,
        V: Into<Box<str>>,
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

/// Collects pairs in any order, then sorts once.
#[derive(Default)]
pub struct LabelsBuilder(Vec<(Box<str>, Box<str>)>);

impl LabelsBuilder {
    pub fn with_capacity(capacity: usize) -> LabelsBuilder {
        LabelsBuilder(Vec::with_capacity(capacity))
    }

    pub fn push(&mut self, name: impl Into<Box<str>>, value: impl Into<Box<str>>) {
        self.0.push((name.into(), value.into()));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorts by name; for a repeated name the value pushed last wins.
    pub fn build(mut self) -> Labels {
        // Stable sort keeps push order among equal names, so the last of a run is the last pushed.
        self.0.sort_by(|(left, _), (right, _)| left.cmp(right));
        let mut pairs: Vec<(Box<str>, Box<str>)> = Vec::with_capacity(self.0.len());
        for (name, value) in self.0 {
            match pairs.last_mut() {
                Some(last) if last.0 == name => last.1 = value,
                _ => pairs.push((name, value)),
            }
        }
        Labels(pairs)
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
    }
}
