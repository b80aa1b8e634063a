//! A group's alerts: its soft and hard caps' crossings, judged on what its
//! children consumed in the group's period (holds not included, as for a
//! port), raised once per period by the ports' own rule
//! ([`crate::alerts::transitions`]), and kept in the group's state until
//! the alert queue takes them.
//!
//! A group watches its soft and hard caps always, and the percents of its
//! hard cap set for it (`PUT /v1/groups/{group}/alerts`). An event's body
//! is a port's ([`AlertEvent::body`]) with `group` in place of `port`; it
//! goes to the queue under the group's child key (`group:NAME`), so the
//! receivers are the group's own endpoints, else the default ones.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{child_key, ChildKind, GroupState};
use crate::alerts::event::event_id;
use crate::alerts::threshold::Raised;
use crate::alerts::{transitions, AlertEvent, EventType, Standing, Threshold, Transition};

/// The thresholds a group's alerts always watch (and its percents).
const THRESHOLDS: [Threshold; 2] = [Threshold::Soft, Threshold::Hard];

/// One event not yet taken by the queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupEvent {
    /// The event's stable id.
    pub id: String,
    /// Its JSON body, exactly as it is signed and sent.
    pub body: String,
}

/// What a group remembers of its alerts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupAlerts {
    /// Crossings raised and still standing: the threshold's name and the
    /// start of the period it was raised in (epoch ms).
    pub raised: Vec<(String, i64)>,
    /// Events raised so far (a running count: the last event's number).
    pub events: u64,
    /// Percents of the hard cap watched besides the soft and hard caps
    /// (ascending, without repeats; none by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percents: Vec<u8>,
    /// Events the queue has not taken yet, oldest first.
    pub outbox: Vec<GroupEvent>,
}

impl GroupState {
    /// Where the group stands for its alerts at `now`: its budget and what
    /// was used in its period.
    pub fn standing(&self, now: DateTime<Utc>) -> Standing {
        Standing::of_status(&crate::cap_status(&self.budget(), self.used_now(now), now))
    }

    /// Observes the group's soft and hard caps after a change: each
    /// crossing raises one event per period (and a crossing no longer
    /// standing, a resolution), put in the outbox. Answers how many.
    pub fn observe(&mut self, now: DateTime<Utc>) -> usize {
        if !self.exists() {
            return 0;
        }
        let standing = self.standing(now);
        let raised: Vec<Raised> = self
            .alerts
            .raised
            .iter()
            .filter_map(|(name, start)| {
                Threshold::parse(name).map(|threshold| Raised {
                    threshold,
                    period_start: *start,
                })
            })
            .collect();
        let start = standing.window.start.timestamp_millis();
        let mut count = 0;
        let mut watched = THRESHOLDS.to_vec();
        watched.extend(self.alerts.percents.iter().map(|p| Threshold::Percent(*p)));
        for transition in transitions(&watched, &raised, &standing) {
            let (threshold, kind) = match transition {
                Transition::Crossed(t) => {
                    self.alerts.raised.push((t.to_string(), start));
                    (t, EventType::Crossed)
                }
                Transition::Resolved(t) => {
                    self.alerts
                        .raised
                        .retain(|(name, _)| *name != t.to_string());
                    (t, EventType::Resolved)
                }
                Transition::Forgotten(t) => {
                    self.alerts
                        .raised
                        .retain(|(name, _)| *name != t.to_string());
                    continue;
                }
            };
            self.alerts.events += 1;
            let id = event_id(&child_key(ChildKind::Group, &self.id), self.alerts.events);
            let event = AlertEvent {
                id: id.clone(),
                kind,
                port: self.id.clone(),
                threshold,
                standing,
                test: false,
            };
            let mut body = event.body();
            if let Some(fields) = body.as_object_mut() {
                if let Some(group) = fields.remove("port") {
                    fields.insert("group".into(), group);
                }
            }
            self.alerts.outbox.push(GroupEvent {
                id,
                body: body.to_string(),
            });
            count += 1;
        }
        count
    }

    /// The queue took these events: out of the outbox.
    pub fn alerts_sent(&mut self, ids: &[String]) {
        self.alerts.outbox.retain(|e| !ids.contains(&e.id));
    }
}
