//! The alert catalog: what kind of problem each known alert reports, so that an incident is
//! judged by what its alerts mean and not only by the severity their senders chose.
//!
//! The standard catalog (`configs/catalog.yaml`, embedded) lists every rule of the rule sets a
//! kube-prometheus cluster runs, each with the class its runbook gives it; the config extends
//! and overrides it with an organisation's own alerts. An alert the catalog does not know is
//! judged by its impact and its persistence alone.

use std::collections::HashMap;
use std::sync::Arc;

/// What an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertClass {
    /// Something is down, failing or unreachable: scored by the impact it has.
    Availability,
    /// Capacity or resource pressure that is not an outage yet: the digest, unless the
    /// incident grows toward an outage.
    Saturation,
    /// Something runs out or expires at a future time (certificates, disks filling up): a
    /// low-urgency page well before the deadline.
    Deadline,
    /// Exists to test the alerting pipeline (Watchdog, InfoInhibitor): never paged.
    Meta,
}

impl AlertClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertClass::Availability => "availability",
            AlertClass::Saturation => "saturation",
            AlertClass::Deadline => "deadline",
            AlertClass::Meta => "meta",
        }
    }

    pub fn parse(text: &str) -> Option<AlertClass> {
        match text {
            "availability" => Some(AlertClass::Availability),
            "saturation" => Some(AlertClass::Saturation),
            "deadline" => Some(AlertClass::Deadline),
            "meta" => Some(AlertClass::Meta),
            _ => None,
        }
    }
}

/// What the catalog says about one alert name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub class: AlertClass,
    /// Where the entry comes from: a rule set of the standard catalog, or `config`.
    pub source: Arc<str>,
    /// The alert says its entity (a node, a component) is unavailable as a whole, not only
    /// failing in part.
    pub down: bool,
    /// The alert says its node was cordoned: work on the node is planned, so the node's other
    /// alerts are not an unplanned outage.
    pub cordon: bool,
}

/// Alert names to what they report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    entries: HashMap<Box<str>, CatalogEntry>,
}

impl Catalog {
    /// Adds an entry, or replaces the one of the same name (the config overrides the standard
    /// catalog).
    pub fn insert(&mut self, name: &str, entry: CatalogEntry) {
        self.entries.insert(name.into(), entry);
    }

    pub fn get(&self, alertname: &str) -> Option<&CatalogEntry> {
        self.entries.get(alertname)
    }

    pub fn class(&self, alertname: &str) -> Option<AlertClass> {
        self.get(alertname).map(|entry| entry.class)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &CatalogEntry)> {
        self.entries.iter().map(|(name, entry)| (&**name, entry))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
