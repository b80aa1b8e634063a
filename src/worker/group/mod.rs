//! Groups in the Worker: [`object::GroupGate`], the Durable Object that is
//! one group (its budget, parent and allowances: [`crate::group`]), and
//! [`client`], how the API, a port's object and another group reach it.

pub mod client;
pub mod object;
pub mod protocol;
