//! Groups: the alerts paged as one incident, with Alertmanager's `group_wait` /
//! `group_interval` / `repeat_interval` timing, and the decision made at each flush.
//!
//! At a flush every member is firing or resolved, and a firing member may be muted (silenced,
//! inhibited, known noise). Muted alerts never open an incident or change it; but an alert that
//! paged keeps its incident open while it fires, muted or not, so the incident still gets its
//! resolve when it stops (no orphaned PagerDuty incidents).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::novelty::Surprises;
use super::route::Route;
use super::score::{Assessment, Tier};
use super::store::{AlertEntry, AlertTable, Fate, Fingerprint};
use super::topology::{Entity, NodeId};
use super::{AlertView, Correlation, DecisionKind, IncidentView, Page, PageAction, PageReason};
use crate::model::{EventTime, Labels, Severity};

#[derive(Clone, Serialize, Deserialize)]
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
    /// Set for groups correlated through the inventory. Snapshots store it by entity name.
    #[serde(skip)]
    pub topology: Option<TopologyLink>,
    /// When the group formed.
    pub created_at: EventTime,
}

/// A group's place in the inventory.
#[derive(Clone)]
pub(super) struct TopologyLink {
    /// The probable cause: moves deeper when an alert on a dependency joins.
    pub root: Entity,
    /// When the latest new alert joined.
    pub last_join: EventTime,
    /// The highest severity that joined.
    pub severity: Severity,
    /// The latest alert that said the root fails, when it joined: correlation looks at it
    /// first, before the other members.
    pub root_hint: Option<Fingerprint>,
}

/// Alerts a page lists at most (the counts always cover them all).
const MAX_LISTED: usize = 500;

/// The incident a group has open: paged, digested or suppressed by its tier.
#[derive(Clone, Serialize, Deserialize)]
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
    /// The highest tier reached: an open incident never moves down (no ping-pong).
    pub tier: Tier,
    /// PagerDuty has it open (a trigger went out, its resolve has not).
    pub on_pagerduty: bool,
    /// The tier of the last page (to notice an escalation from low to high urgency).
    paged_tier: Tier,
    digested: bool,
    /// The latest assessment, for the incidents API.
    pub assessment: Assessment,
    /// The alert kinds (`alertname`s) it paged for: what responder feedback is about.
    pub kinds: Vec<Box<str>>,
    /// A responder acknowledged (or reopened) it.
    pub acted: bool,
}

/// What a flush decides with, besides the group.
#[derive(Clone, Copy)]
pub(super) struct Flush<'a> {
    pub route: &'a Route,
    pub correlation: &'a Correlation,
    pub alerts: &'a AlertTable,
    pub time: EventTime,
    /// Pieces of log evidence about the group's services so far.
    pub evidence: usize,
    /// Why an alert is muted at `time`, if it is.
    pub mute: &'a dyn Fn(Fingerprint, &AlertEntry) -> Option<String>,
    /// The group's surprising alerts: a new kind has no settle time to wait out.
    pub surprises: Option<&'a Surprises>,
}

/// What one flush decided.
pub(super) struct Decision {
    pub pages: Vec<Page>,
    /// An incident that went to the digest instead of paging.
    pub digest: Option<Page>,
    /// What happened, for the decisions log.
    pub records: Vec<(DecisionKind, Tier)>,
    /// Firing alerts listed in a trigger: they keep the incident open until they resolve.
    pub mark_paged: Vec<Fingerprint>,
    /// Resolved alerts already reported; the store drops them, as (fingerprint, ever paged).
    pub forget: Vec<(Fingerprint, bool)>,
    /// Nothing fires any more: the group (and its incident) ends.
    pub remove_group: bool,
    /// When a low-severity alert still settling becomes pageable, if that is before the next
    /// `group_interval` flush.
    pub settles_at: Option<EventTime>,
    /// An incident PagerDuty had open ended: its kinds, and whether a responder acted on it.
    pub ended: Option<(Vec<Box<str>>, bool)>,
}

impl Decision {
    /// An empty decision about these members: the resolved ones are forgotten, as (fingerprint,
    /// ever paged).
    fn of(classified: &Classified, alerts: &AlertTable) -> Decision {
        let forget = classified
            .members
            .iter()
            .filter(|member| !member.firing)
            .map(|member| {
                (member.fingerprint, alerts.get(&member.fingerprint).is_some_and(|entry| entry.paged))
            })
            .collect();
        Decision {
            pages: Vec::new(),
            digest: None,
            records: Vec::new(),
            mark_paged: Vec::new(),
            forget,
            remove_group: false,
            settles_at: classified.settles_at,
            ended: None,
        }
    }
}

/// A group's members sorted out at a flush: the first half of a decision. The engine scores
/// the live members, then `Group::conclude` decides.
pub(super) struct Classified {
    members: Vec<Member>,
    digest: u64,
    live: usize,
    pageable: usize,
    any_firing: bool,
    paged_resolved: usize,
    all_acknowledged: bool,
    severity: Severity,
    settles_at: Option<EventTime>,
}

impl Classified {
    /// What kept each firing member from paging, as far as the members alone tell (`Scored`
    /// stands for live members: whether they paged is the incident's call).
    pub fn fates(&self) -> Vec<(Fingerprint, Fate)> {
        self.members
            .iter()
            .filter(|member| member.firing)
            .filter_map(|member| match (&member.muted, member.live) {
                (Some(reason), _) => Some((member.fingerprint, Fate::of_mute(reason))),
                (None, true) => Some((member.fingerprint, Fate::Scored)),
                (None, false) => None,
            })
            .collect()
    }

    /// Every member, as the score sees it.
    pub fn observed(&self) -> impl Iterator<Item = Observed> + '_ {
        self.members.iter().map(|member| Observed {
            fingerprint: member.fingerprint,
            firing: member.firing,
            muted: member.muted.is_some(),
            live: member.live,
            settled: member.settled,
        })
    }

    /// The alerts that page (or hold a paged incident open).
    pub fn live(&self) -> impl Iterator<Item = Fingerprint> + '_ {
        self.members.iter().filter(|member| member.live).map(|member| member.fingerprint)
    }
}

/// One member's state at a flush.
struct Member {
    fingerprint: Fingerprint,
    firing: bool,
    muted: Option<String>,
    /// Firing and either pageable or already paged: it holds the incident open.
    live: bool,
    /// Has fired for its settle time (this episode).
    settled: bool,
}

/// A member as the score sees it.
pub(super) struct Observed {
    pub fingerprint: Fingerprint,
    pub firing: bool,
    pub muted: bool,
    pub live: bool,
    pub settled: bool,
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

    /// Sorts the members out: firing or not, muted or not, settled or not.
    pub fn classify(&self, flush: &Flush<'_>) -> Classified {
        let Flush { correlation, alerts, time, mute, .. } = *flush;
        let mut classified = Classified {
            members: Vec::with_capacity(self.members.len()),
            digest: 0,
            live: 0,
            pageable: 0,
            any_firing: false,
            paged_resolved: 0,
            all_acknowledged: true,
            severity: Severity::Info,
            settles_at: None,
        };
        let corroborated = corroborated_nodes(&self.members, alerts, time);
        for &fingerprint in &self.members {
            let Some(entry) = alerts.get(&fingerprint) else { continue };
            let firing = !entry.is_resolved_at(time);
            let muted = if firing { mute(fingerprint, entry) } else { None };
            // A low-severity alert pages only once it has fired for its settle time; one that
            // resolves sooner never pages (a blip). A node two independent alerts say is gone
            // settles sooner, from when the second said so.
            let mut settle_from = entry.starts_at;
            let corroborated_since = node_down_alert(entry)
                .and_then(|node| corroborated.iter().find(|(known, _)| *known == node))
                .map(|(_, since)| *since);
            let surprising = flush.surprises.is_some_and(|surprises| surprises.contains(fingerprint));
            let settle = match (entry.page_severity(), corroborated_since) {
                _ if surprising => Duration::ZERO,
                (Severity::Critical | Severity::Error, _) => Duration::ZERO,
                (_, Some(since)) => {
                    settle_from = settle_from.max(since);
                    correlation.settle_corroborated
                }
                (Severity::Warning, None) => correlation.settle_warning,
                (Severity::Info, None) => correlation.settle_info,
            };
            let settled = time.since(settle_from) >= settle;
            if firing && muted.is_none() && !settled {
                let due = settle_from.saturating_add(settle);
                classified.settles_at = Some(classified.settles_at.map_or(due, |earliest| earliest.min(due)));
            }
            // Settling only holds back the decision that opens an incident: once it is open,
            // every unmuted firing alert is part of it, but for a flapping one that has not
            // settled (a readiness check going on and off is nobody's problem, and once paged
            // its hold would keep the incident open as long as it flaps).
            let joins_open = self.incident.is_some() && !entry.flapping;
            let live = firing && ((muted.is_none() && (settled || joins_open)) || entry.paged);
            classified.any_firing |= firing;
            if live {
                classified.live += 1;
                classified.digest ^= episode_hash(fingerprint, entry.starts_at, entry.page_severity());
                classified.all_acknowledged &= entry.acknowledged;
                classified.severity = classified.severity.max(entry.page_severity());
                if muted.is_none() {
                    classified.pageable += 1;
                }
            }
            if !firing && entry.paged {
                classified.paged_resolved += 1;
            }
            classified.members.push(Member { fingerprint, firing, muted, live, settled });
        }
        classified
    }

    /// Decides, with the members sorted out and the incident assessed: what to page, digest,
    /// or record.
    pub fn conclude(
        &mut self,
        group_key: u64,
        classified: Classified,
        assessment: Assessment,
        flush: &Flush<'_>,
    ) -> Decision {
        let mut decision = Decision::of(&classified, flush.alerts);
        if classified.live == 0 {
            self.end(&classified, flush, &mut decision);
        } else if self.incident.is_some() || classified.pageable > 0 {
            if self.incident.is_none() {
                self.open(group_key, &classified, &assessment, flush.time, flush.evidence);
                decision.records.push((DecisionKind::Opened, assessment.tier));
            }
            self.carry_on(&classified, assessment, flush, &mut decision);
        }
        self.keep_firing(&classified.members);
        decision
    }

    /// Nothing is live any more: a group whose alerts all resolve before anything is decided
    /// sends nothing (Alertmanager); an open incident ends, with a resolve if PagerDuty has it.
    fn end(&mut self, classified: &Classified, flush: &Flush<'_>, decision: &mut Decision) {
        if let Some(incident) = self.incident.take() {
            if incident.on_pagerduty {
                decision.pages.push(self.page(
                    &incident,
                    &classified.members,
                    flush,
                    PageAction::Resolve,
                    PageReason::Resolved,
                ));
            }
            decision.records.push((DecisionKind::Resolved, incident.tier));
            if incident.on_pagerduty {
                decision.ended = Some((incident.kinds, incident.acted));
            }
        }
        // Muted alerts still firing keep the group, so they page if their mute ends.
        decision.remove_group = !classified.any_firing;
    }

    fn open(
        &mut self,
        group_key: u64,
        classified: &Classified,
        assessment: &Assessment,
        time: EventTime,
        evidence: usize,
    ) {
        self.incident = Some(Incident {
            dedup_key: dedup_key(group_key),
            opened_at: time,
            paged_digest: classified.digest,
            paged_at: time,
            paged_severity: classified.severity,
            paged_evidence: evidence,
            acknowledged: false,
            tier: assessment.tier,
            on_pagerduty: false,
            paged_tier: Tier::Suppress,
            digested: false,
            assessment: assessment.clone(),
            kinds: Vec::new(),
            acted: false,
        });
    }

    /// The open incident goes on: its tier (which only moves up), whether it pages (opened,
    /// changed, repeated), goes to the digest or is acknowledged, and the pages that say so.
    fn carry_on(
        &mut self,
        classified: &Classified,
        assessment: Assessment,
        flush: &Flush<'_>,
        decision: &mut Decision,
    ) {
        let Flush { route, alerts, time, evidence, .. } = *flush;
        let Some(incident) = self.incident.as_mut() else { return };
        let tier = incident.tier.max(assessment.tier);
        if tier > incident.tier && incident.on_pagerduty {
            decision.records.push((DecisionKind::Escalated, tier));
        }
        incident.tier = tier;
        incident.assessment = assessment;
        let reason = if !tier.pages() {
            None
        } else if !incident.on_pagerduty {
            Some(PageReason::Opened)
        } else if incident.paged_digest != classified.digest
            || classified.paged_resolved > 0
            || evidence > incident.paged_evidence
            || tier > incident.paged_tier
        {
            Some(PageReason::Changed)
        } else if time.since(incident.paged_at) >= route.repeat_interval {
            Some(PageReason::Repeat)
        } else {
            None
        };
        if reason.is_some() {
            incident.on_pagerduty = true;
            incident.paged_tier = tier;
            incident.paged_evidence = evidence;
            incident.paged_digest = classified.digest;
            incident.paged_at = time;
            incident.paged_severity = classified.severity;
            if !classified.all_acknowledged {
                incident.acknowledged = false;
            }
            decision.mark_paged = classified.live().collect();
            for entry in decision.mark_paged.iter().filter_map(|fingerprint| alerts.get(fingerprint)) {
                let kind = entry.labels.get("alertname").unwrap_or("");
                if !incident.kinds.iter().any(|known| &**known == kind) {
                    incident.kinds.push(kind.into());
                }
            }
            decision.records.push((DecisionKind::Paged(PageAction::Trigger), tier));
        }
        let digested = tier == Tier::Digest && !incident.digested;
        if digested {
            incident.digested = true;
            decision.records.push((DecisionKind::Digested, tier));
        }
        if tier == Tier::Suppress && decision.records.iter().any(|(kind, _)| *kind == DecisionKind::Opened) {
            decision.records.push((DecisionKind::Suppressed, tier));
        }
        let newly_acknowledged = incident.on_pagerduty
            && classified.all_acknowledged
            && !std::mem::replace(&mut incident.acknowledged, true);
        let Some(incident) = self.incident.as_ref() else { return };
        let members = &classified.members;
        if let Some(reason) = reason {
            decision.pages.push(self.page(incident, members, flush, PageAction::Trigger, reason));
        }
        if digested {
            decision.digest =
                Some(self.page(incident, members, flush, PageAction::Trigger, PageReason::Opened));
        }
        if newly_acknowledged {
            let page = self.page(incident, members, flush, PageAction::Acknowledge, PageReason::Acknowledged);
            decision.pages.push(page);
            decision.records.push((DecisionKind::Paged(PageAction::Acknowledge), tier));
        }
    }

    /// The incident's latest assessment, if it has one open.
    pub fn incident(&self) -> Option<&Incident> {
        self.incident.as_ref()
    }

    pub fn incident_mut(&mut self) -> Option<&mut Incident> {
        self.incident.as_mut()
    }

    fn keep_firing(&mut self, members: &[Member]) {
        self.members =
            members.iter().filter(|member| member.firing).map(|member| member.fingerprint).collect();
    }

    fn page(
        &self,
        incident: &Incident,
        members: &[Member],
        flush: &Flush<'_>,
        action: PageAction,
        reason: PageReason,
    ) -> Page {
        let Flush { route, alerts, time, .. } = *flush;
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
                for tag in &entry.patterns().tags {
                    if !tags.contains(tag) {
                        tags.push(tag.clone());
                    }
                }
            }
        }
        // PagerDuty's urgency follows severity: low urgency pages as a warning at most, high
        // urgency as an error at least (an outage made of warnings pages high).
        if incident.tier == Tier::PageLow && action == PageAction::Trigger {
            severity = severity.min(Severity::Warning);
        }
        if incident.tier == Tier::PageHigh && action == PageAction::Trigger {
            severity = severity.max(Severity::Error);
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
                related: Vec::new(),
                entities: Vec::new(),
                tags,
                log_context: Vec::new(),
                evidence: Vec::new(),
                similar: Vec::new(),
                score: incident.assessment.score,
                tier: incident.tier,
                why: incident.assessment.why.clone(),
            },
        }
    }
}

impl Incident {
    pub fn dedup_key(&self) -> &Arc<str> {
        &self.dedup_key
    }

    pub fn opened_at(&self) -> EventTime {
        self.opened_at
    }
}

/// The node an alert says is gone (a `down` alert about the node itself), if it is one.
pub(super) fn node_down_alert(entry: &AlertEntry) -> Option<NodeId> {
    let subject = entry.subject?;
    (entry.down && subject.service.is_none()).then_some(subject.node).flatten()
}

/// Nodes that two distinct kinds of firing `down` alert say are gone (not ready and
/// unreachable, say), each with when the second kind started: independent signals agreeing.
pub(super) fn corroborated_nodes(
    members: &[Fingerprint],
    alerts: &AlertTable,
    time: EventTime,
) -> Vec<(NodeId, EventTime)> {
    // (node, alert name, start), earliest start per kind.
    let mut seen: Vec<(NodeId, &str, EventTime)> = Vec::new();
    for entry in members.iter().filter_map(|fingerprint| alerts.get(fingerprint)) {
        let Some(node) = node_down_alert(entry) else { continue };
        if entry.ends_at.is_some_and(|end| end <= time) {
            continue;
        }
        let kind = entry.labels.get("alertname").unwrap_or("");
        match seen.iter_mut().find(|(known, name, _)| *known == node && *name == kind) {
            Some((_, _, start)) => *start = (*start).min(entry.starts_at),
            None => seen.push((node, kind, entry.starts_at)),
        }
    }
    let mut corroborated: Vec<(NodeId, EventTime)> = Vec::new();
    for &(node, _, _) in &seen {
        if corroborated.iter().any(|(known, _)| *known == node) {
            continue;
        }
        let mut starts: Vec<EventTime> =
            seen.iter().filter(|(known, _, _)| *known == node).map(|(_, _, start)| *start).collect();
        if starts.len() >= 2 {
            starts.sort_unstable();
            corroborated.push((node, starts[1]));
        }
    }
    corroborated
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
