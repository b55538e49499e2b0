//! Plain Drain (He et al., "Drain: An Online Log Parsing Approach with Fixed Depth Tree",
//! ICWS 2017), as the paper describes it and without a data set's regular expressions: words
//! split on whitespace; a tree by word count, then the first `depth - 2` words (a word with a
//! digit goes to the `<*>` child, as do words past `max_children`); in the leaf, the template
//! with the most words equal to the line's (its `<*>` not counted), ties to the one with more
//! `<*>`, joined when that share reaches `similarity`; words that differ become `<*>`. What
//! noisegate's miner is measured against.

const WILDCARD: &str = "<*>";

#[derive(Default)]
struct Node {
    children: Vec<(String, Node)>,
    templates: Vec<usize>,
}

pub struct Drain {
    depth: usize,
    similarity: f64,
    max_children: usize,
    roots: std::collections::HashMap<usize, Node>,
    templates: Vec<Vec<String>>,
}

impl Drain {
    pub fn new(depth: usize, similarity: f64, max_children: usize) -> Drain {
        Drain { depth, similarity, max_children, roots: Default::default(), templates: Vec::new() }
    }

    pub fn add(&mut self, line: &str) -> usize {
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        let mut node = self.roots.entry(words.len()).or_default();
        for word in words.iter().take(self.depth.saturating_sub(2)) {
            let key = if word.bytes().any(|byte| byte.is_ascii_digit()) { WILDCARD } else { word };
            let position = match node.children.iter().position(|(child, _)| child == key) {
                Some(position) => position,
                None if node.children.len() < self.max_children || key == WILDCARD => {
                    node.children.push((key.to_owned(), Node::default()));
                    node.children.len() - 1
                }
                None => match node.children.iter().position(|(child, _)| child == WILDCARD) {
                    Some(position) => position,
                    None => {
                        node.children.push((WILDCARD.to_owned(), Node::default()));
                        node.children.len() - 1
                    }
                },
            };
            node = &mut node.children[position].1;
        }
        let mut best: Option<(f64, usize, usize)> = None;
        for &id in &node.templates {
            let template = &self.templates[id];
            let wildcards = template.iter().filter(|word| *word == WILDCARD).count();
            let same =
                template.iter().zip(&words).filter(|(word, line)| *word != WILDCARD && word == *line).count();
            let share = if words.is_empty() { 1.0 } else { same as f64 / words.len() as f64 };
            if best.is_none_or(|(most, more, _)| share > most || (share == most && wildcards > more)) {
                best = Some((share, wildcards, id));
            }
        }
        if let Some((share, _, id)) = best {
            if share >= self.similarity {
                for (word, line) in self.templates[id].iter_mut().zip(&words) {
                    if word != line {
                        *word = WILDCARD.to_owned();
                    }
                }
                return id;
            }
        }
        self.templates.push(words.iter().map(|word| (*word).to_owned()).collect());
        node.templates.push(self.templates.len() - 1);
        self.templates.len() - 1
    }
}
