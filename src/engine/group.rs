//! Groups: the alerts paged as one incident, with Alertmanager's `group_wait` /
//! `group_interval` / `repeat_interval` timing, and the decision made at each flush.
//!
//! At a flush every member is firing or resolved, and a firing member may be muted (silenced,
//! inhibited, known noise). Muted alerts never open an incident or change it; but an alert that
//! paged keeps its incident open while it fires, muted or not, so the incident still gets its
//! resolve when it stops (no orphaned PagerDuty incidents).

use std::sync::Arc;
use std::time::Duration;

use xxhash_rust::xxh3::xxh3_64;

use super::route::Route;
use super::store::{AlertEntry, Fingerprint, KeyMap};
use super::topology::Entity;
use super::{AlertView, Correlation, IncidentView, Page, PageAction, PageReason};
use crate::model::{EventTime, Labels, Severity};

pub(super) struct Group {
    pub route: usize,
    pub labels: Labels,
    /// Alerts in the group, in arrival order.
    pub members: Vec<Fingerprint>,
    pub next_flush: EventTime,
    pub timer_seq: u64,
    /// A flush is scheduled (`next_flush` means something).
    pub scheduled: bool,
    pub incident: Option<Incident>,
    /// Set for groups correlated through the inventory.
    pub topology: Option<TopologyLink>,
    /// When the group formed.
    pub created_at: EventTime,
}

/// A group's place in the inventory.
pub(super) struct TopologyLink {
    /// The probable cause: moves deeper when an alert on a dependency joins.
    pub root: Entity,
    /// When the latest new alert joined.
    pub last_join: EventTime,
    /// The highest severity that joined.
    pub severity: Severity,
}

/// Alerts a page lists at most (the counts always cover them all).
const MAX_LISTED: usize = 500;

/// The PagerDuty incident a group has open.
pub(super) struct Incident {
    dedup_key: Arc<str>,
    opened_at: EventTime,
    /// Digest of the firing alerts (fingerprint, episode start, severity) last paged.
    paged_digest: u64,
    paged_at: EventTime,
    pub paged_severity: Severity,
    /// Pieces of log evidence listed in the last page.
    paged_evidence: usize,
    acknowledged: bool,
}

/// What a flush decides with, besides the group.
#[derive(Clone, Copy)]
pub(super) struct Flush<'a> {
    pub route: &'a Route,
    pub correlation: &'a Correlation,
    pub alerts: &'a KeyMap<AlertEntry>,
    pub time: EventTime,
    /// Pieces of log evidence about the group's services so far.
    pub evidence: usize,
    /// Why an alert is muted at `time`, if it is.
    pub mute: &'a dyn Fn(Fingerprint, &AlertEntry) -> Option<String>,
}

/// What one flush decided.
pub(super) struct Decision {
    pub pages: Vec<Page>,
    /// Firing alerts listed in a trigger: they keep the incident open until they resolve.
    pub mark_paged: Vec<Fingerprint>,
    /// Resolved alerts already reported; the store drops them.
    pub forget: Vec<Fingerprint>,
    /// Nothing fires any more: the group (and its incident) ends.
    pub remove_group: bool,
    /// When a low-severity alert still settling becomes pageable, if that is before the next
    /// `group_interval` flush.
    pub settles_at: Option<EventTime>,
}

/// One member's state at a flush.
struct Member {
    fingerprint: Fingerprint,
    firing: bool,
    muted: Option<String>,
    /// Firing and either pageable or already paged: it holds the incident open.
    live: bool,
}

impl Group {
    pub fn new(route: usize, labels: Labels, now: EventTime, topology: Option<TopologyLink>) -> Group {
        Group {
            route,
            labels,
            members: Vec::new(),
            next_flush: now,
            timer_seq: 0,
            scheduled: false,
            incident: None,
            topology,
            created_at: now,
        }
    }

    pub fn decide(&mut self, group_key: u64, flush: &Flush<'_>) -> Decision {
        let Flush { route, correlation, alerts, time, evidence, mute } = *flush;
        let mut members = Vec::with_capacity(self.members.len());
        let mut digest = 0u64;
        let mut live = 0usize;
        let mut pageable = 0usize;
        let mut any_firing = false;
        let mut paged_resolved = 0usize;
        let mut all_acknowledged = true;
        let mut severity = Severity::Info;
        let mut settles_at: Option<EventTime> = None;
        for &fingerprint in &self.members {
            let Some(entry) = alerts.get(&fingerprint) else { continue };
            let firing = !entry.is_resolved_at(time);
            let muted = if firing { mute(fingerprint, entry) } else { None };
            // A low-severity alert pages only once it has fired for its settle time; one that
            // resolves sooner never pages (a blip).
            let settle = match entry.page_severity() {
                Severity::Critical | Severity::Error => Duration::ZERO,
                Severity::Warning => correlation.settle_warning,
                Severity::Info => correlation.settle_info,
            };
            let settled = time.since(entry.starts_at) >= settle;
            if firing && muted.is_none() && !settled {
                let due = entry.starts_at.saturating_add(settle);
                settles_at = Some(settles_at.map_or(due, |earliest| earliest.min(due)));
            }
            // Settling only holds back the page that opens an incident: once it is open, every
            // unmuted firing alert is part of it.
            let is_live =
                firing && ((muted.is_none() && (settled || self.incident.is_some())) || entry.paged);
            any_firing |= firing;
            if is_live {
                live += 1;
                digest ^= episode_hash(fingerprint, entry.starts_at, entry.page_severity());
                all_acknowledged &= entry.acknowledged;
                severity = severity.max(entry.page_severity());
                if muted.is_none() {
                    pageable += 1;
                }
            }
            if !firing && entry.paged {
                paged_resolved += 1;
            }
            members.push(Member { fingerprint, firing, muted, live: is_live });
        }
        let forget: Vec<Fingerprint> =
            members.iter().filter(|member| !member.firing).map(|member| member.fingerprint).collect();

        let mut pages = Vec::new();
        if live == 0 {
            // A group whose alerts all resolve before its first page sends nothing (Alertmanager);
            // an open incident gets its resolve.
            if let Some(incident) = self.incident.take() {
                pages.push(self.page(
                    route,
                    &incident,
                    alerts,
                    &members,
                    time,
                    PageAction::Resolve,
                    PageReason::Resolved,
                ));
            }
            self.keep_firing(&members);
            // Muted alerts still firing keep the group, so they page if their mute ends.
            return Decision { pages, mark_paged: Vec::new(), forget, remove_group: !any_firing, settles_at };
        }

        let reason = match &self.incident {
            None if pageable > 0 => Some(PageReason::Opened),
            None => None,
            Some(incident)
                if incident.paged_digest != digest
                    || paged_resolved > 0
                    || evidence > incident.paged_evidence =>
            {
                Some(PageReason::Changed)
            }
            Some(incident) if time.since(incident.paged_at) >= route.repeat_interval => {
                Some(PageReason::Repeat)
            }
            Some(_) => None,
        };
        let mut mark_paged = Vec::new();
        if let Some(reason) = reason {
            let incident = self.incident.get_or_insert_with(|| Incident {
                dedup_key: dedup_key(group_key),
                opened_at: time,
                paged_digest: digest,
                paged_at: time,
                paged_severity: severity,
                paged_evidence: evidence,
                acknowledged: false,
            });
            incident.paged_evidence = evidence;
            incident.paged_digest = digest;
            incident.paged_at = time;
            incident.paged_severity = severity;
            if !all_acknowledged {
                incident.acknowledged = false;
            }
            mark_paged =
                members.iter().filter(|member| member.live).map(|member| member.fingerprint).collect();
            if let Some(incident) = self.incident.as_ref() {
                pages.push(self.page(route, incident, alerts, &members, time, PageAction::Trigger, reason));
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
                    &members,
                    time,
                    PageAction::Acknowledge,
                    PageReason::Acknowledged,
                ));
            }
        }
        self.keep_firing(&members);
        Decision { pages, mark_paged, forget, remove_group: false, settles_at }
    }

    fn keep_firing(&mut self, members: &[Member]) {
        self.members =
            members.iter().filter(|member| member.firing).map(|member| member.fingerprint).collect();
    }

    #[allow(clippy::too_many_arguments)]
    fn page(
        &self,
        route: &Route,
        incident: &Incident,
        alerts: &KeyMap<AlertEntry>,
        members: &[Member],
        time: EventTime,
        action: PageAction,
        reason: PageReason,
    ) -> Page {
        // Live alerts first (pageable before muted-but-paged), then muted, then resolved; arrival
        // order within each class. A page lists at most MAX_LISTED of them.
        let class = |member: &Member| match (member.firing, member.live, member.muted.is_some()) {
            (true, true, false) => 0u8,
            (true, true, true) => 1,
            (true, false, _) => 2,
            (false, _, _) => 3,
        };
        let mut tags: Vec<Arc<str>> = Vec::new();
        let mut alert_views: Vec<AlertView> = Vec::with_capacity(members.len().min(MAX_LISTED));
        for wanted in 0..4 {
            for member in members.iter().filter(|member| class(member) == wanted) {
                if alert_views.len() == MAX_LISTED {
                    break;
                }
                let Some(entry) = alerts.get(&member.fingerprint) else { continue };
                alert_views.push(AlertView {
                    labels: entry.labels.clone(),
                    annotations: entry.annotations.clone(),
                    starts_at: entry.starts_at,
                    ends_at: entry.ends_at.filter(|end| *end <= time),
                    firing: member.firing,
                    severity: entry.page_severity(),
                    generator_url: entry.generator_url.clone(),
                    muted: member.muted.clone(),
                    flapping: entry.flapping,
                });
            }
        }
        let mut severity = Severity::Info;
        let mut firing = 0;
        for member in members {
            let Some(entry) = alerts.get(&member.fingerprint) else { continue };
            if member.live || action == PageAction::Resolve {
                severity = severity.max(entry.page_severity());
            }
            if member.live {
                firing += 1;
                for tag in &entry.patterns.tags {
                    if !tags.contains(tag) {
                        tags.push(tag.clone());
                    }
                }
            }
        }
        let resolved = members.iter().filter(|member| !member.firing).count();
        let omitted = members.len() - alert_views.len();
        let alerts = alert_views;
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
                resolved,
                alerts,
                alerts_omitted: omitted,
                root: None,
                entities: Vec::new(),
                tags,
                log_context: Vec::new(),
                evidence: Vec::new(),
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
