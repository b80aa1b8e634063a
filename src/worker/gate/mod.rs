//! The gate in a Durable Object per port: [`object::PortGate`] runs the
//! port gate's logic ([`crate::gate`]) over the object's SQLite storage;
//! [`client::GateClient`] is how the Worker's API and gateway reach it.
//!
//! The object's side, from the top down: `object` (the Durable Object: a
//! request's transport, the settlements it carries, the alarm),
//! `operate` (one operation's dispatch), `gateway_hold`, `shard_exchange`
//! and `first_start`, then `lending` (the exchanges with a lender),
//! `port_keys` and `courier` (what a change owes after it), all on
//! `instance` (what an instance keeps in memory, and its answers) and
//! `storage` (the SQL seam and its transactions). The Worker's side:
//! `client` (the transport) with `port_ops` and `gateway_ops` (the
//! operations) and `carry` (commits waiting for a trip); `protocol` is
//! what both sides send.

mod carry;
pub mod client;
mod courier;
mod first_start;
mod gateway_hold;
mod gateway_ops;
mod instance;
mod lending;
pub mod object;
mod operate;
mod port_keys;
mod port_ops;
pub mod protocol;
mod shard_exchange;
pub mod storage;
pub mod tally;

pub use carry::CARRY_WAIT_MS;
pub use client::GateClient;
