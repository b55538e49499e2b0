//! Aggregation groups: alerts that share a route and `group_by` values, paged as one incident
//! with Alertmanager's `group_wait` / `group_interval` / `repeat_interval` timing.

use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use super::route::Route;
use super::store::{AlertEntry, Fingerprint, KeyMap};
use super::{AlertView, IncidentView, Page, PageAction, PageReason};
use crate::model::{EventTime, Labels, Severity};

pub(super) struct Group {
    pub route: usize,
    pub labels: Labels,
    /// Alerts in the group, in arrival order.
    pub members: Vec<Fingerprint>,
    pub next_flush: EventTime,
    pub timer_seq: u64,
    pub incident: Option<Incident>,
}

/// The PagerDuty incident a group has open.
pub(super) struct Incident {
    dedup_key: Arc<str>,
    opened_at: EventTime,
    /// Digest of the firing alerts (fingerprint and episode start) last paged.
    paged_digest: u64,
    paged_at: EventTime,
    acknowledged: bool,
}

/// What one flush decided.
pub(super) struct Decision {
    pub pages: Vec<Page>,
    /// Resolved alerts already reported; the store drops them.
    pub forget: Vec<Fingerprint>,
    /// Nothing fires any more: the group (and its incident) ends.
    pub remove_group: bool,
}

impl Group {
    pub fn new(route: usize, labels: Labels) -> Group {
        Group {
            route,
            labels,
            members: Vec::new(),
            next_flush: EventTime::default(),
            timer_seq: 0,
            incident: None,
        }
    }

    pub fn decide(
        &mut self,
        group_key: u64,
        route: &Route,
        alerts: &KeyMap<AlertEntry>,
        time: EventTime,
    ) -> Decision {
        let mut firing = 0usize;
        let mut resolved = 0usize;
        let mut digest = 0u64;
        let mut all_acknowledged = true;
        for fingerprint in &self.members {
            let Some(entry) = alerts.get(fingerprint) else {
                continue;
            };
            if entry.is_resolved_at(time) {
                resolved += 1;
            } else {
                firing += 1;
                digest ^= episode_hash(*fingerprint, entry.starts_at, entry.severity);
                all_acknowledged &= entry.acknowledged;
            }
        }
        let forget: Vec<Fingerprint> = self
            .members
            .iter()
            .copied()
            .filter(|fingerprint| {
                alerts
                    .get(fingerprint)
                    .is_none_or(|entry| entry.is_resolved_at(time))
            })
            .collect();

        let mut pages = Vec::new();
        if firing == 0 {
            // Alertmanager semantics: a group whose alerts all resolved before its first page
            // sends nothing; an open incident gets its resolve.
            if let Some(incident) = self.incident.take() {
                pages.push(self.page(
                    route,
                    &incident,
                    alerts,
                    time,
                    PageAction::Resolve,
                    PageReason::Resolved,
                ));
            }
            return Decision {
                pages,
                forget,
                remove_group: true,
            };
        }

        let reason = match &self.incident {
            None => Some(PageReason::Opened),
            Some(incident) if incident.paged_digest != digest || resolved > 0 => Some(PageReason::Changed),
            Some(incident) if time.since(incident.paged_at) >= route.repeat_interval => {
                Some(PageReason::Repeat)
            }
            Some(_) => None,
        };
        if let Some(reason) = reason {
            let incident = self.incident.get_or_insert_with(|| Incident {
                dedup_key: dedup_key(group_key),
                opened_at: time,
                paged_digest: digest,
                paged_at: time,
                acknowledged: false,
            });
            incident.paged_digest = digest;
            incident.paged_at = time;
            if !all_acknowledged {
                incident.acknowledged = false;
            }
            let incident = self.incident.as_ref();
            if let Some(incident) = incident {
                pages.push(self.page(route, incident, alerts, time, PageAction::Trigger, reason));
            }
        }
        if all_acknowledged {
            let newly_acknowledged = self
                .incident
                .as_mut()
                .is_some_and(|incident| !std::mem::replace(&mut incident.acknowledged, true));
            if let (true, Some(incident)) = (newly_acknowledged, self.incident.as_ref()) {
                pages.push(self.page(
                    route,
                    incident,
                    alerts,
                    time,
                    PageAction::Acknowledge,
                    PageReason::Acknowledged,
                ));
            }
        }
        self.members.retain(|fingerprint| {
            alerts
                .get(fingerprint)
                .is_some_and(|entry| !entry.is_resolved_at(time))
        });
        Decision {
            pages,
            forget,
            remove_group: false,
        }
    }

    fn page(
        &self,
        route: &Route,
        incident: &Incident,
        alerts: &KeyMap<AlertEntry>,
        time: EventTime,
        action: PageAction,
        reason: PageReason,
    ) -> Page {
        let mut views: Vec<AlertView> = self
            .members
            .iter()
            .filter_map(|fingerprint| alerts.get(fingerprint))
            .map(|entry| AlertView {
                labels: entry.labels.clone(),
                annotations: entry.annotations.clone(),
                starts_at: entry.starts_at,
                ends_at: entry.ends_at.filter(|end| *end <= time),
                firing: !entry.is_resolved_at(time),
                severity: entry.severity,
                generator_url: entry.generator_url.clone(),
            })
            .collect();
        // Firing alerts first; arrival order otherwise (a stable sort keeps it).
        views.sort_by_key(|view| !view.firing);
        let firing = views.iter().filter(|view| view.firing).count();
        let severity = views
            .iter()
            .filter(|view| view.firing || action == PageAction::Resolve)
            .map(|view| view.severity)
            .max()
            .unwrap_or(Severity::Info);
        Page {
            at: time,
            action,
            dedup_key: incident.dedup_key.clone(),
            routing_key: route.routing_key.clone(),
            reason,
            incident: IncidentView {
                route: route.name.clone(),
                group_labels: self.labels.clone(),
                opened_at: incident.opened_at,
                severity,
                firing,
                resolved: views.len() - firing,
                alerts: views,
            },
        }
    }
}

/// What makes a firing alert worth a new page when it changes: which alert, which episode,
/// how severe.
fn episode_hash(fingerprint: Fingerprint, starts_at: EventTime, severity: Severity) -> u64 {
    let mut bytes = [0u8; 17];
    bytes[..8].copy_from_slice(&fingerprint.to_le_bytes());
    bytes[8..16].copy_from_slice(&starts_at.as_millis().to_le_bytes());
    bytes[16] = severity as u8;
    xxh3_64(&bytes)
}

/// Derived from the group alone, as Alertmanager does: the same input gives the same keys in
/// `serve` and `replay`, and a restart keeps paging the incident PagerDuty has open. A group
/// that reopens after its resolve reuses the key, and PagerDuty opens a new incident for it.
fn dedup_key(group_key: u64) -> Arc<str> {
    Arc::from(format!("noisegate-{group_key:016x}"))
}
