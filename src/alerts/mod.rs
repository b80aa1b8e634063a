//! Alerts: noticing when a port crosses its soft cap, its hard cap or a
//! percent of its hard cap, and telling a webhook, exactly once per crossing
//! per period.
//!
//! Pure, like the rest of the core: no clock, no I/O.
//! - [`threshold`]: the thresholds (`soft`, `hard`, percents 1..100), where
//!   a port stands against them ([`Standing`]), and what changed
//!   ([`transitions`]).
//! - [`event`]: the event body receivers get, with its stable id.
//! - [`watch`]: the crossings a port's gate has raised, and the outbox of
//!   events, as plain SQL over the gate's [`Sql`](crate::sql::Sql)
//!   seam, run in the same transaction as the change that caused them.
//! - [`endpoint`]: which webhook URLs are accepted (HTTPS, no private
//!   network in production).
//! - [`address`]: the IP address blocks refused in production, as tables
//!   following the IANA special-purpose registries.
//! - [`sign`]: the `X-Budget-Signature` header (HMAC-SHA256 over
//!   `"<t>.<body>"`), made and verified.
//! - [`records`]: the record of deliveries (D1), as statements.
//! - [`retry`]: how long a failed delivery waits before its next try.
//! - [`rotation`]: rolling an endpoint's secret with an overlap in which
//!   deliveries are signed with both.

pub mod address;
pub mod endpoint;
pub mod event;
pub mod records;
pub mod retry;
pub mod rotation;
pub mod sign;
pub mod threshold;
pub mod watch;

pub use event::{AlertEvent, EventType};
pub use threshold::{transitions, Standing, Threshold, Transition};

/// At most this many percent thresholds per port.
pub const MAX_PERCENT_THRESHOLDS: usize = 10;
/// At most this many webhook endpoints per port (and for the default).
pub const MAX_ENDPOINTS: usize = 5;
