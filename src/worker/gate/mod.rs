//! The gate in a Durable Object per port: [`object::PortGate`] runs the
//! port gate's logic ([`crate::gate`]) over the object's SQLite storage
//! (transport in `object`, execution of what is owed after in `courier`,
//! the first start's import in `first_start`, the exchanges with a
//! lender in `lending`, a hot port's shards in `shard_exchange`);
//! [`client::GateClient`] is how the Worker's API and gateway reach it.

mod carry;
pub mod client;
mod courier;
mod first_start;
mod gateway_hold;
mod gateway_ops;
mod lending;
pub mod object;
mod port_keys;
mod port_ops;
pub mod protocol;
mod shard_exchange;
pub mod storage;
pub mod tally;

pub use carry::CARRY_WAIT_MS;
pub use client::GateClient;
