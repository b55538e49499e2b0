//! What the on-call report counts beyond the decisions: per incident, what happened to the
//! alerts that came in (`AlertCounts`); and the pages a plain Alertmanager-style route would
//! have sent for the same alerts (`PlainRoutes`), to say what noisegate spared the pager.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cow::{CowMap, Share};
use crate::model::EventTime;

/// What happened to the alerts of one incident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCounts {
    /// Alert sends: firing, sent again, resolving.
    pub received: u64,
    /// Alert episodes (an alert each time it starts firing).
    pub alerts: u64,
    /// Sends of an alert it already held (re-sends, HA pairs).
    pub deduplicated: u64,
    /// Episodes that ended without ever paging, by what kept them from it.
    pub silenced: u64,
    pub inhibited: u64,
    /// Over before their settle time or the group's wait (blips).
    pub settled: u64,
    pub known_noise: u64,
    /// Kept off PagerDuty by the incident's score: sent to the digest, or to no one.
    pub digested: u64,
    pub suppressed: u64,
}

impl AlertCounts {
    /// Episodes grouped into the incident beside its first.
    pub fn grouped(&self) -> u64 {
        self.alerts.saturating_sub(1)
    }

    pub fn add(&mut self, other: &AlertCounts) {
        self.received += other.received;
        self.alerts += other.alerts;
        self.deduplicated += other.deduplicated;
        self.silenced += other.silenced;
        self.inhibited += other.inhibited;
        self.settled += other.settled;
        self.known_noise += other.known_noise;
        self.digested += other.digested;
        self.suppressed += other.suppressed;
    }
}

/// A page a plain route would have sent: a group of its (route and `group_by`) that started
/// firing and still fired after `group_wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainPage {
    pub at: EventTime,
    /// Of a route that pages critical alerts only (warnings go to chat).
    pub critical_only: bool,
}

/// The groups a plain Alertmanager-style route would hold: the same routes and `group_by`, the
/// same silences, and nothing else (no correlation, settle time, inhibition, flapping or
/// scoring). A group pages once each time it goes from no firing alert to some that last past
/// its `group_wait`, as each such episode is a new PagerDuty incident under one dedup key.
/// Tracked twice: once with every alert, once with critical alerts only.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PlainRoutes {
    /// Firing members and their group (the critical-only group's key is the same, salted).
    members: CowMap<u64, (u64, bool)>,
    groups: CowMap<u64, PlainGroup>,
    /// When waiting groups are due, with their key. Not in snapshots (written empty, so the
    /// layout stays that of earlier versions): `restored` derives it from the groups.
    #[serde(serialize_with = "crate::snapshot::empty_seq")]
    due: BinaryHeap<Reverse<(EventTime, u64)>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PlainGroup {
    firing: u32,
    /// When it is due to page; `None` once paged.
    due: Option<EventTime>,
    /// Its alerts until then, to see whether any still fires when it is due.
    waiting: Vec<u64>,
    critical_only: bool,
}

/// Sets the critical-only groups apart from the others.
const CRITICAL_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

impl PlainRoutes {
    /// An alert episode starts in the group `key` (its route and `group_by` values).
    pub fn fire(&mut self, fingerprint: u64, key: u64, critical: bool, now: EventTime, wait: Duration) {
        if self.members.contains_key(&fingerprint) {
            return;
        }
        self.members.insert(fingerprint, (key, critical));
        self.join(fingerprint, key, false, now, wait);
        if critical {
            self.join(fingerprint, key ^ CRITICAL_SALT, true, now, wait);
        }
    }

    fn join(&mut self, member: u64, key: u64, critical_only: bool, now: EventTime, wait: Duration) {
        let group = self.groups.get_or_insert_with(key, || PlainGroup {
            firing: 0,
            due: None,
            waiting: Vec::new(),
            critical_only,
        });
        if group.firing == 0 {
            let due = now.saturating_add(wait);
            group.due = Some(due);
            self.due.push(Reverse((due, key)));
        }
        group.firing += 1;
        if group.due.is_some() {
            group.waiting.push(member);
        }
    }

    /// An alert's episode is over: it was resolved, or its group's flush noticed its end (as
    /// Alertmanager notices it at its group's next flush).
    pub fn end(&mut self, fingerprint: u64) {
        if let Some((key, critical)) = self.members.remove(&fingerprint) {
            self.leave(key, critical, None);
        }
    }

    /// A member leaves its groups (but `gone`, already removed).
    fn leave(&mut self, key: u64, critical: bool, gone: Option<u64>) {
        let keys = [Some(key), critical.then_some(key ^ CRITICAL_SALT)];
        for key in keys.into_iter().flatten().filter(|key| Some(*key) != gone) {
            let Some(group) = self.groups.get_mut(&key) else { continue };
            group.firing = group.firing.saturating_sub(1);
            if group.firing == 0 {
                // Its PagerDuty incident resolves; firing again opens a new one.
                self.groups.remove(&key);
            }
        }
    }

    /// The pages due by `now`: the groups whose wait is over with an alert still firing
    /// (`fires(fingerprint, at)`). A group none of whose alerts fires any more pages nothing
    /// and is gone: its alerts firing again start it anew.
    pub fn advance(
        &mut self,
        now: EventTime,
        fires: impl Fn(u64, EventTime) -> bool,
        mut page: impl FnMut(PlainPage),
    ) {
        while let Some(&Reverse((due, key))) = self.due.peek() {
            if due > now {
                break;
            }
            self.due.pop();
            let Some(group) = self.groups.get_mut(&key) else { continue };
            // A stale entry: the group ended and started again since.
            if group.due != Some(due) {
                continue;
            }
            group.due = None;
            let waiting = std::mem::take(&mut group.waiting);
            if waiting.iter().any(|member| fires(*member, due)) {
                page(PlainPage { at: due, critical_only: group.critical_only });
            } else {
                // Its members leave it (and the other tracking's group, if they are in one).
                self.groups.remove(&key);
                for member in waiting {
                    if let Some((member_key, critical)) = self.members.remove(&member) {
                        self.leave(member_key, critical, Some(key));
                    }
                }
            }
        }
    }

    /// What a snapshot holds: the members and groups (copy-on-write), without the due times.
    pub fn snapshot(&mut self) -> PlainRoutes {
        PlainRoutes { members: self.members.share(), groups: self.groups.share(), due: BinaryHeap::new() }
    }

    /// After a restore: when its waiting groups are due, from the groups.
    pub fn restored(&mut self) {
        self.due = self.groups.iter().filter_map(|(key, group)| Some(Reverse((group.due?, *key)))).collect();
    }

    /// Firing groups.
    #[cfg(test)]
    pub(crate) fn groups(&self) -> usize {
        self.groups.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> EventTime {
        EventTime::from_millis(seconds * 1000)
    }

    #[test]
    fn a_group_pages_once_per_firing_episode_that_outlasts_its_wait() {
        let wait = Duration::from_secs(30);
        let mut plain = PlainRoutes::default();
        let mut pages = Vec::new();
        // Two alerts of one group, one critical: one page in each tracking.
        plain.fire(1, 7, true, at(0), wait);
        plain.fire(2, 7, false, at(10), wait);
        plain.fire(1, 7, true, at(20), wait);
        let fires = |_: u64, _: EventTime| true;
        plain.advance(at(29), fires, |page| pages.push(page));
        assert!(pages.is_empty());
        plain.advance(at(60), fires, |page| pages.push(page));
        assert_eq!(
            pages,
            vec![
                PlainPage { at: at(30), critical_only: false },
                PlainPage { at: at(30), critical_only: true }
            ]
        );
        // Still firing: no new page; both end, and it fires again: a new page.
        plain.end(1);
        plain.fire(3, 7, false, at(100), wait);
        plain.end(2);
        plain.end(3);
        assert_eq!(plain.groups(), 0);
        plain.fire(2, 7, false, at(200), wait);
        plain.advance(at(300), fires, |page| pages.push(page));
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[2], PlainPage { at: at(230), critical_only: false });
        plain.end(2);

        // A blip over before the wait pages nothing, and its stale due time is skipped.
        plain.fire(9, 8, false, at(400), wait);
        plain.end(9);
        plain.fire(9, 8, false, at(420), wait);
        plain.end(9);
        plain.advance(at(1000), fires, |page| pages.push(page));
        assert_eq!(pages.len(), 3);

        // One whose end is not noticed yet, but over when the group is due: no page, and the
        // group is gone, so firing again starts it anew.
        plain.fire(5, 6, true, at(2000), wait);
        plain.advance(
            at(2030),
            |member, at| member != 5 || at < EventTime::from_millis(2_010_000),
            |page| pages.push(page),
        );
        assert_eq!(pages.len(), 3);
        assert_eq!(plain.groups(), 0);
        plain.fire(5, 6, false, at(2100), wait);
        plain.advance(at(2130), fires, |page| pages.push(page));
        assert_eq!(pages[3], PlainPage { at: at(2130), critical_only: false });
    }
}
