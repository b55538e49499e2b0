//! Templates from log lines, online. A line's masked words (`mask`) find their cluster in a
//! parse tree as in Drain (He et al., "Drain: An Online Log Parsing Approach with Fixed Depth
//! Tree", ICWS 2017): by word count, then by the first words, then the most similar cluster.
//! Each cluster then learns, position by position, which words vary, as Brain's columns do
//! (Yu et al., "Brain: Log Parsing with Bidirectional Parallel Tree", 2023): a position is a
//! variable once it has shown more than `VARIABLE_AFTER` different words. Until then lines
//! that differ there keep apart (`VM Started` and `VM Stopped` are different events); when it
//! proves a variable, their templates merge. No line is parsed again.
//!
//! A template is named by its key: its constant words, and its variables' `key=` prefixes
//! (`user=<*>`); a value-only word is not part of it. Lines of different clusters with the
//! same key are one template, whatever their word counts (`sent <*> bytes` and
//! `sent <*> bytes (<*> KB)`). Ids are stable and kept in the durable state: a merged
//! template's id names the one it went into, always the older.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3Builder;

use super::LogConfig;
use super::mask::{Kind, Masked, WILDCARD};
use crate::store::KeyMap;

type FastMap<K, V> = HashMap<K, V, Xxh3Builder>;

/// The different words a position may show and still be one of its template's constants.
pub const VARIABLE_AFTER: usize = 4;

/// Masked lines remembered per service (see `Templates::lines`).
const LINES_KEPT: usize = 16_384;

/// The deepest parse tree a snapshot may hold: far beyond any `logs.depth` in use, and shallow
/// enough that reading a hostile snapshot (a Kafka changelog record) cannot overflow the stack.
pub(super) const MAX_TREE_DEPTH: u32 = 256;

/// A service's templates: lines in, template ids out.
#[derive(Clone, Serialize, Deserialize)]
pub struct Templates {
    #[serde(skip, default = "LogConfig::unset")]
    config: LogConfig,
    /// Word count to the tree below it.
    roots: FastMap<u32, TreeNode>,
    clusters: Vec<Cluster>,
    templates: Vec<Template>,
    /// A template's key to its id (a merged one's too: it leads to the one it went into).
    keys: FastMap<Box<str>, u32>,
    /// The masked lines seen (by hash) and the template each went to: a line seen before
    /// changes nothing a second time, so it goes straight to its template. Emptied when full.
    /// (Keyed by the hash itself.)
    lines: KeyMap<u32>,
    /// The line being mined, its key, and the merges since they were last taken: reused.
    #[serde(skip)]
    masked: Masked,
    #[serde(skip)]
    key: String,
    #[serde(skip)]
    merged: Vec<(u32, u32)>,
}

#[derive(Default, Clone, Serialize)]
struct TreeNode {
    /// Few per node in practice (at most `max_children`): a vector scan beats hashing.
    children: Vec<(Box<str>, TreeNode)>,
    clusters: Vec<u32>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Cluster {
    /// The words all its lines share so far, `<*>` where they differed: what a line is
    /// compared with.
    tokens: Vec<Box<str>>,
    /// Per position, the different words seen there, up to `VARIABLE_AFTER + 1`.
    seen: Vec<Vec<Box<str>>>,
    /// Per position, what its words begin with (`prefix`), for when it is a variable.
    prefixes: Vec<Box<str>>,
    /// The templates made in it.
    members: Vec<u32>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Template {
    cluster: u32,
    /// The masked words of its first line.
    words: Vec<Box<str>>,
    /// The template it was merged into, or itself; never a greater id.
    parent: u32,
}

thread_local! {
    /// How deep the tree being read is.
    static READING_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl<'de> Deserialize<'de> for TreeNode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<TreeNode, D::Error> {
        /// The same fields, read the derived way (each child through this function again).
        #[derive(Deserialize)]
        struct Node {
            children: Vec<(Box<str>, TreeNode)>,
            clusters: Vec<u32>,
        }
        let depth = READING_DEPTH.with(|depth| {
            depth.set(depth.get() + 1);
            depth.get()
        });
        let node = if depth > MAX_TREE_DEPTH {
            Err(serde::de::Error::custom(format!("log template tree deeper than {MAX_TREE_DEPTH}")))
        } else {
            Node::deserialize(deserializer)
                .map(|node| TreeNode { children: node.children, clusters: node.clusters })
        };
        READING_DEPTH.with(|depth| depth.set(depth.get() - 1));
        node
    }
}

impl Cluster {
    fn new(line: &Masked) -> Cluster {
        Cluster {
            tokens: line.words().map(Box::from).collect(),
            seen: line.words().map(|word| vec![Box::from(word)]).collect(),
            prefixes: line.words().map(|word| prefix(&[word.into()])).collect(),
            members: Vec::new(),
        }
    }

    /// Takes a line in; says whether a position changed what it is (the line's keys with it).
    fn learn(&mut self, line: &Masked) -> bool {
        let mut changed = false;
        let positions = self.tokens.iter_mut().zip(&mut self.seen).zip(&mut self.prefixes);
        for (((token, seen), common), word) in positions.zip(line.words()) {
            if **token != *word && &**token != WILDCARD {
                *token = WILDCARD.into();
            }
            if seen.len() <= VARIABLE_AFTER && !seen.iter().any(|known| **known == *word) {
                seen.push(word.into());
                *common = prefix(seen);
                // A second word makes a value there a variable; one past the limit, any word.
                changed |= seen.len() == 2 || seen.len() == VARIABLE_AFTER + 1;
            }
        }
        changed
    }
}

/// Whether a word at a position that has shown `seen` is a variable of its template.
fn variable(seen: &[Box<str>], kind: Kind) -> bool {
    seen.len() > VARIABLE_AFTER || (seen.len() >= 2 && kind.has_value())
}

/// The name a variable position's words give it: what they all begin with, up to its last `=`
/// or `:` (`user=` of `user=root` and `user=guest`), without values; empty when that holds no
/// letter or digit.
fn prefix(seen: &[Box<str>]) -> Box<str> {
    let first = seen.first().map_or("", |word| &**word);
    let mut common = first.len();
    for word in seen.iter().skip(1) {
        common = common.min(first.bytes().zip(word.bytes()).take_while(|(a, b)| a == b).count());
    }
    let cut = first.as_bytes()[..common]
        .iter()
        .rposition(|byte| matches!(byte, b'=' | b':'))
        .map_or(0, |position| position + 1);
    // Punctuation is ASCII: the cut is on a character boundary.
    let prefix = first.get(..cut).unwrap_or("").replace(WILDCARD, "");
    if prefix.bytes().any(|byte| byte.is_ascii_alphanumeric()) { prefix.into() } else { Box::from("") }
}

/// Writes the key of a line of `cluster` with these words.
fn key_of<'a>(cluster: &Cluster, words: impl Iterator<Item = (&'a str, Kind)>, key: &mut String) {
    key.clear();
    for ((seen, prefix), (word, kind)) in cluster.seen.iter().zip(&cluster.prefixes).zip(words) {
        if variable(seen, kind) {
            if !prefix.is_empty() {
                key.push(' ');
                key.push_str(prefix);
                key.push_str(WILDCARD);
            }
        } else if kind != Kind::Value {
            key.push(' ');
            key.push_str(word);
        }
    }
}

impl Templates {
    pub fn new(config: LogConfig) -> Templates {
        Templates {
            config,
            roots: FastMap::default(),
            clusters: Vec::new(),
            templates: Vec::new(),
            keys: FastMap::default(),
            lines: KeyMap::default(),
            masked: Masked::default(),
            key: String::new(),
            merged: Vec::new(),
        }
    }

    /// Under the config in force (after a snapshot was read).
    pub fn configure(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Whether every id the state names exists and merges lead to older ids (a snapshot read
    /// is checked: a hostile one must not make a lookup loop or index out of bounds).
    pub fn consistent(&self) -> bool {
        let (clusters, templates) = (self.clusters.len() as u32, self.templates.len() as u32);
        let mut nodes: Vec<&TreeNode> = self.roots.values().collect();
        while let Some(node) = nodes.pop() {
            if node.clusters.iter().any(|id| *id >= clusters) {
                return false;
            }
            nodes.extend(node.children.iter().map(|(_, child)| child));
        }
        self.clusters.iter().all(|cluster| cluster.members.iter().all(|id| *id < templates))
            && self
                .templates
                .iter()
                .enumerate()
                .all(|(id, template)| template.cluster < clusters && template.parent as usize <= id)
            && self.keys.values().all(|id| *id < templates)
            && self.lines.values().all(|id| *id < templates)
    }

    /// How many template ids were given (merged ones included).
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// The template an id names now: itself, or the one it was merged into.
    pub fn resolve(&self, mut id: u32) -> u32 {
        while let Some(template) = self.templates.get(id as usize) {
            if template.parent == id {
                break;
            }
            id = template.parent;
        }
        id
    }

    /// Merges since the last call: (the id merged, the id it went into).
    pub fn take_merged(&mut self) -> std::vec::Drain<'_, (u32, u32)> {
        self.merged.drain(..)
    }

    /// The template's text: its first line's words, its variables as `<*>` (with their
    /// prefixes).
    pub fn template(&self, id: u32) -> String {
        let Some(template) = self.templates.get(self.resolve(id) as usize) else { return String::new() };
        let Some(cluster) = self.clusters.get(template.cluster as usize) else { return String::new() };
        let mut text = String::new();
        for (index, word) in template.words.iter().enumerate() {
            if index > 0 {
                text.push(' ');
            }
            match cluster.seen.get(index) {
                Some(seen) if variable(seen, Kind::of(word)) => {
                    text.push_str(cluster.prefixes.get(index).map_or("", |prefix| &**prefix));
                    text.push_str(WILDCARD);
                }
                _ => text.push_str(word),
            }
        }
        text
    }

    /// The template a line belongs to, making one as needed. `None` when the template limit
    /// is reached and the line has none.
    pub fn add(&mut self, line: &str) -> Option<u32> {
        let mut masked = std::mem::take(&mut self.masked);
        masked.mask(line);
        let seen = masked.hash();
        let id = match self.lines.get(&seen) {
            Some(&id) => Some(self.resolve(id)),
            None => {
                let id = self.add_masked(&masked);
                if let Some(id) = id {
                    if self.lines.len() >= LINES_KEPT {
                        self.lines.clear();
                    }
                    self.lines.insert(seen, id);
                }
                id
            }
        };
        self.masked = masked;
        id
    }

    fn add_masked(&mut self, line: &Masked) -> Option<u32> {
        let count = line.len();
        let layers = self.config.depth.saturating_sub(2).min(count);
        let max_children = self.config.max_children;
        let mut node = self.roots.entry(count as u32).or_default();
        for (word, kind) in line.kinded().take(layers) {
            let key = if kind.has_value() { WILDCARD } else { word };
            let position = match node.children.iter().position(|(child, _)| **child == *key) {
                Some(position) => position,
                None if node.children.len() < max_children || key == WILDCARD => {
                    node.children.push((key.into(), TreeNode::default()));
                    node.children.len() - 1
                }
                None => match node.children.iter().position(|(child, _)| &**child == WILDCARD) {
                    Some(position) => position,
                    None => {
                        node.children.push((WILDCARD.into(), TreeNode::default()));
                        node.children.len() - 1
                    }
                },
            };
            node = &mut node.children[position].1;
        }

        // The most similar cluster in the leaf, by the share of the line's words that are its
        // constants; the first of equals (clusters are kept most recently used first).
        let mut best: Option<(usize, usize)> = None;
        for (position, &id) in node.clusters.iter().enumerate() {
            let Some(cluster) = self.clusters.get(id as usize) else { continue };
            let same = cluster
                .tokens
                .iter()
                .zip(line.words())
                .filter(|(token, word)| &***token != WILDCARD && ***token == **word)
                .count();
            if best.is_none_or(|(most, _)| same > most) {
                best = Some((same, position));
            }
            if same == count {
                break;
            }
        }
        let similar =
            best.filter(|(same, _)| count == 0 || *same as f32 / count as f32 >= self.config.similarity);
        let (cluster, changed) = match similar {
            Some((_, position)) => {
                node.clusters[..=position].rotate_right(1);
                let id = node.clusters[0];
                let changed = self.clusters.get_mut(id as usize).is_some_and(|cluster| cluster.learn(line));
                (id, changed)
            }
            None => {
                if self.clusters.len() >= self.config.max_templates {
                    return None;
                }
                let id = self.clusters.len() as u32;
                self.clusters.push(Cluster::new(line));
                node.clusters.push(id);
                (id, false)
            }
        };

        let mut key = std::mem::take(&mut self.key);
        key_of(&self.clusters[cluster as usize], line.kinded(), &mut key);
        let id = match self.keys.get(key.as_str()) {
            Some(&id) => Some(self.resolve(id)),
            None if self.templates.len() >= self.config.max_templates => None,
            None => {
                let id = self.templates.len() as u32;
                self.templates.push(Template {
                    cluster,
                    words: line.words().map(Box::from).collect(),
                    parent: id,
                });
                self.keys.insert(key.as_str().into(), id);
                self.clusters[cluster as usize].members.push(id);
                Some(id)
            }
        };
        self.key = key;
        if changed {
            self.rekey(cluster);
        }
        id.map(|id| self.resolve(id))
    }

    /// The keys of a cluster's templates after a position changed what it is: templates whose
    /// keys are now equal (to each other's, or to another cluster's) merge.
    fn rekey(&mut self, cluster: u32) {
        let mut key = std::mem::take(&mut self.key);
        let members = self.clusters[cluster as usize].members.clone();
        for member in members {
            if self.resolve(member) != member {
                continue;
            }
            let template = &self.templates[member as usize];
            let words = template.words.iter().map(|word| (&**word, Kind::of(word)));
            key_of(&self.clusters[cluster as usize], words, &mut key);
            match self.keys.get(key.as_str()) {
                Some(&other) => {
                    let other = self.resolve(other);
                    if other != member {
                        let (kept, gone) = (other.min(member), other.max(member));
                        self.templates[gone as usize].parent = kept;
                        self.merged.push((gone, kept));
                    }
                }
                None => {
                    self.keys.insert(key.as_str().into(), member);
                }
            }
        }
        self.key = key;
    }

    /// A tree `depth` deep, as a hostile snapshot could hold.
    #[cfg(test)]
    pub(super) fn nest_for_test(&mut self, depth: u32) {
        let mut deep = TreeNode::default();
        for _ in 0..depth {
            deep = TreeNode { children: vec![("x".into(), deep)], clusters: Vec::new() };
        }
        self.roots.insert(3, deep);
    }

    /// A tree naming a cluster that does not exist, as a corrupt snapshot could hold.
    #[cfg(test)]
    pub(super) fn break_for_test(&mut self) {
        self.roots.insert(9, TreeNode { children: Vec::new(), clusters: vec![7] });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        Templates::new(crate::logs::tests::config())
    }

    /// More users than a position shows before it is a variable.
    const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];

    /// The ids of the lines `line` makes of each value.
    fn add_each(mined: &mut Templates, values: &[&str], line: impl Fn(&str) -> String) -> Vec<u32> {
        values.iter().map(|value| mined.add(&line(value)).unwrap()).collect()
    }

    #[test]
    fn lines_that_differ_in_their_values_share_a_template() {
        let mut mined = templates();
        let first = mined.add("PacketResponder 1 for block blk_38865049064139660 terminating");
        let second = mined.add("PacketResponder 0 for block blk_-6952295868487656571 terminating");
        let other = mined.add("Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106");
        assert_eq!(first, second);
        assert_ne!(first, other);
        assert_eq!(mined.template(first.unwrap()), "PacketResponder <*> for block <*> terminating");
    }

    #[test]
    fn a_word_with_a_few_values_keeps_templates_apart_until_it_proves_a_variable() {
        let mut mined = templates();
        let started = mined.add("VM Started (Lifecycle Event)").unwrap();
        let stopped = mined.add("VM Stopped (Lifecycle Event)").unwrap();
        assert_ne!(started, stopped, "two events that differ in one word");
        assert_eq!(mined.add("VM Started (Lifecycle Event)"), Some(started));
        assert_eq!(mined.template(stopped), "VM Stopped (Lifecycle Event)");

        // A word with many values is a variable: the templates merge into the oldest, and
        // every id given before names it.
        let ids = add_each(&mut mined, &USERS, |user| format!("session opened for user {user}"));
        let merged: Vec<(u32, u32)> = mined.take_merged().collect();
        assert!(!merged.is_empty());
        let first = ids[0];
        assert_eq!(ids.last(), Some(&first));
        assert!(ids.iter().all(|id| mined.resolve(*id) == first), "{ids:?}");
        assert_eq!(mined.template(first), "session opened for user <*>");
        assert_ne!(mined.resolve(started), mined.resolve(stopped));
    }

    #[test]
    fn a_variable_keeps_its_key_and_lines_of_different_lengths_share_a_template() {
        let mut mined = templates();
        let users = ["root", "guest", "test", "admin", "oracle", "mysql"];
        let ids = add_each(&mut mined, &users, |user| {
            format!("authentication failure; logname= uid=0 user={user}")
        });
        let id = mined.resolve(ids[0]);
        assert!(ids.iter().all(|each| mined.resolve(*each) == id));
        assert_eq!(mined.template(id), "authentication failure; logname= uid=<*> user=<*>");

        // Values of one or several words (`0 bytes`, `1190 bytes (1.16 KB)`): one template.
        let short = mined
            .add("proxy.example.com:5070 close, 0 bytes sent, 0 bytes received, lifetime 00:01")
            .unwrap();
        let long = mined
            .add("proxy.example.com:5070 close, 1190 bytes (1.16 KB) sent, 1671 bytes (1.63 KB) received, lifetime <1 sec")
            .unwrap();
        assert_eq!(mined.resolve(short), mined.resolve(long));
    }

    #[test]
    fn ids_and_what_was_learned_survive_a_snapshot() {
        let mut mined = templates();
        let ids = add_each(&mut mined, &USERS, |user| format!("session opened for user {user}"));
        let other = mined.add("VM Started (Lifecycle Event)").unwrap();
        let bytes = postcard::to_allocvec(&mined).unwrap();
        let mut read: Templates = postcard::from_bytes(&bytes).unwrap();
        read.configure(crate::logs::tests::config());
        assert!(read.consistent());
        // A line seen before, a new line of a learned template, and the merges: the same ids.
        assert_eq!(read.add("VM Started (Lifecycle Event)"), Some(other));
        assert_eq!(read.add("session opened for user grace"), Some(mined.resolve(ids[0])));
        assert!(ids.iter().all(|id| read.resolve(*id) == mined.resolve(*id)));
        assert_eq!(read.template(ids[2]), "session opened for user <*>");
    }

    #[test]
    fn the_first_words_may_be_values() {
        let mut mined = templates();
        let first = mined.add("10.0.0.1 connected to the cache").unwrap();
        let second = mined.add("node-7.cluster.local connected to the cache").unwrap();
        assert_eq!(mined.resolve(first), mined.resolve(second));
    }
}
