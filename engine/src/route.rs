//! Routes decide how alerts are grouped into incidents and where their pages go, in the shape of
//! Alertmanager's routing tree (one level of child routes under a root; first match wins).

use std::sync::Arc;
use std::time::Duration;

use xxhash_rust::xxh3::Xxh3;

use super::matcher::{Matcher, all_match};
use crate::model::{EventTime, Labels, LabelsBuilder};

/// Which labels make two alerts part of the same group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// Group by these label names (an absent label groups as the empty string).
    Labels(Vec<Box<str>>),
    /// `group_by: ['...']`: every alert is its own group.
    All,
}

#[derive(Debug, Clone)]
pub struct Route {
    /// Where the route came from in the config (`route`, `route.routes[1]`), for explanations.
    pub name: Arc<str>,
    pub matchers: Vec<Matcher>,
    pub group_by: GroupBy,
    /// How long a new group waits for more alerts before its first page.
    pub group_wait: Duration,
    /// How long an open incident waits before paging an update (new or resolved alerts).
    pub group_interval: Duration,
    /// How long before an unchanged open incident is paged again.
    pub repeat_interval: Duration,
    /// The name of the PagerDuty routing key (the secret itself stays in the sink).
    pub routing_key: Arc<str>,
}

/// The root route and its children. Route id 0 is the root, id `n` is `children[n - 1]`.
#[derive(Debug, Clone)]
pub struct RouteTree {
    routes: Vec<Route>,
}

impl RouteTree {
    pub fn new(root: Route, children: Vec<Route>) -> RouteTree {
        let mut routes = Vec::with_capacity(children.len() + 1);
        routes.push(root);
        routes.extend(children);
        RouteTree { routes }
    }

    /// The first child route whose matchers all match, else the root.
    pub fn select(&self, labels: &Labels) -> usize {
        self.routes[1..]
            .iter()
            .position(|route| all_match(&route.matchers, labels))
            .map_or(0, |index| index + 1)
    }

    /// How many routes, the root included.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn get(&self, id: usize) -> &Route {
        // Route ids only come from `select` on this same tree.
        &self.routes[id]
    }
}

/// Hash of the route and the alert's values for the route's `group_by` labels.
pub(super) fn group_key(route_id: usize, route: &Route, labels: &Labels) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(&(route_id as u64).to_le_bytes());
    match &route.group_by {
        GroupBy::Labels(names) => {
            for name in names {
                hasher.update(name.as_bytes());
                hasher.update(&[0xff]);
                hasher.update(labels.get(name).unwrap_or("").as_bytes());
                hasher.update(&[0xff]);
            }
        }
        GroupBy::All => {
            for (name, value) in labels.iter() {
                hasher.update(name.as_bytes());
                hasher.update(&[0xff]);
                hasher.update(value.as_bytes());
                hasher.update(&[0xff]);
            }
        }
    }
    hasher.digest()
}

/// The key of a second group of a `group_by` group's labels, opened at `opened_at` by a new
/// problem while the first is still open.
pub(super) fn split_key(key: u64, opened_at: EventTime) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(b"split\xff");
    hasher.update(&key.to_le_bytes());
    hasher.update(&opened_at.as_millis().to_le_bytes());
    hasher.digest()
}

/// The labels a group is named by (only those present on the alert).
pub(super) fn group_labels(route: &Route, labels: &Labels) -> Labels {
    match &route.group_by {
        GroupBy::Labels(names) => {
            let mut builder = LabelsBuilder::with_capacity(names.len());
            for name in names {
                if let Some(value) = labels.get(name) {
                    builder.push(name.as_ref(), value);
                }
            }
            builder.build()
        }
        GroupBy::All => labels.clone(),
    }
}
