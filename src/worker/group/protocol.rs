//! What is asked of a group's object, and what it answers.

use serde::{Deserialize, Serialize};

use crate::allowance::{Grant, Report};

/// One request to a group's object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum GroupRequest {
    /// The stored state (budget, parent, levels below, allowances).
    View,
    /// Where the group stands (`GET /v1/groups/{group}/status`).
    Status,
    /// Save a partial budget update (`parent` checked by the caller).
    Save {
        /// The update, as sent.
        update: serde_json::Value,
        /// Who saves it.
        actor: String,
    },
    /// A child's report (a port's or a group's): answered with its grant.
    Report {
        /// The child's key (`port:NAME` or `group:NAME`).
        child: String,
        /// The report.
        report: Report,
    },
    /// A grant from the group's own parent (a recall, or a need served).
    /// Answered with the report the group owes back, if any.
    Grant {
        /// The grant.
        grant: Grant,
    },
    /// A child group has `below` group levels under it and itself.
    Below {
        /// Levels.
        below: u8,
    },
    /// The group's alert percents, replaced first when given (crossings
    /// are noticed at once): answered as `{"percents": [...]}`.
    Alerts {
        /// The new percents, checked by the caller.
        percents: Option<Vec<u8>>,
    },
}

/// A failed request's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFailure {
    /// What went wrong.
    pub message: String,
}
