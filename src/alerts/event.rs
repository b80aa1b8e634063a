//! The event body a webhook receives, and its stable id.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::threshold::{Standing, Threshold};
use crate::time::iso;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Usage went past a threshold.
    Crossed,
    /// Usage is back under a threshold raised before.
    Resolved,
}

impl EventType {
    /// `threshold-crossed` or `threshold-resolved`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::Crossed => "threshold-crossed",
            EventType::Resolved => "threshold-resolved",
        }
    }
}

/// One alert event, as receivers get it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertEvent {
    /// Stable: the same on every delivery and resend of the event.
    pub id: String,
    /// Crossed or resolved.
    pub kind: EventType,
    /// The port.
    pub port: String,
    /// The threshold.
    pub threshold: Threshold,
    /// Where the port stands.
    pub standing: Standing,
    /// A sample sent by the test route, not a real crossing.
    pub test: bool,
}

/// The id of a port's `seq`-th event: `evt_` and 32 hex digits of
/// SHA-256 over the port and the number. Derived, not random, so the same
/// event always carries the same id; distinct across ports and events.
pub fn event_id(port: &str, seq: u64) -> String {
    let digest = Sha256::digest(format!("alert\n{port}\n{seq}").as_bytes());
    format!("evt_{}", &super::sign::hex(&digest)[..32])
}

impl AlertEvent {
    /// The JSON body: `id`, `type`, `port`, `threshold` (`"soft"`, `"hard"`
    /// or a percent), `used`, `cap` (the soft cap for `soft`, else the hard
    /// cap; tokens, or decimal dollars for a budget in `usd`), `unit`,
    /// `period`, `periodStart`, `resetsAt` (and `test: true` on a sample).
    pub fn body(&self) -> Value {
        let s = &self.standing;
        let amount = |n: u64| -> Value {
            match s.unit {
                crate::Unit::Tokens => n.into(),
                crate::Unit::Usd => crate::pricing::usd_number(n).into(),
            }
        };
        let mut body = json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "port": self.port,
            "threshold": self.threshold.json(),
            "used": amount(s.used),
            "cap": amount(s.cap_of(self.threshold)),
            "unit": s.unit.as_str(),
            "period": s.window.period.as_str(),
            "periodStart": iso(s.window.start),
            "resetsAt": iso(s.window.end),
        });
        if self.threshold == super::Threshold::Projected {
            if let Some(f) = s.forecast {
                body["projectedUsed"] = amount(f.projected_used);
                body["runOutAt"] = f.run_out_at.map(iso).into();
            }
        }
        if self.test {
            body["test"] = true.into();
        }
        body
    }
}
