//! Port keys revoked, as the port's object knows them: the authority that
//! lets the Worker remember a key's record in its isolate and still refuse
//! a revoked key on the very next call, with no KV read on a warm call.
//!
//! Revoking a key through the API tells the key's port object first
//! ([`GateRequest::RevokeKeys`](super::protocol::GateRequest::RevokeKeys)),
//! in the same request, and only then takes the key out of KV. Every
//! gateway hold carries the hash of the port key it presents, and the
//! object refuses a revoked one before the gate judges anything
//! ([`GatewayReserveOutcome::KeyRevoked`]); an API request presenting a
//! key the isolate remembers carries its hash in [`KEY_HEADER`](crate::worker::port_key::KEY_HEADER), and the
//! object answers 401 to a revoked one before it does anything
//! ([`refused_request`]): whatever an isolate remembers, and whatever a KV
//! replica still shows, the key holds nothing more.
//!
//! A revoked hash is kept as a note of the gate's (`revoked-key:{hash}`),
//! for good: a key's secret is never issued again, and a note is a few
//! dozen bytes per revocation. Each object instance remembers what it
//! looked up (a restart forgets it; the notes carry on), so a warm hold
//! runs no SQL for its key.

use super::instance::Inner;
use super::protocol::GateFailure;
use super::storage::{atomically, reading};
use crate::gate::gateway::GatewayReserveOutcome;
use crate::gate::{Applied, GateError, Outcome, PortLoad, StoredBudget};

/// The note of a revoked key's hash.
fn note(hash: &str) -> String {
    format!("revoked-key:{hash}")
}

/// True when the port key with this hash was revoked.
///
/// # Errors
/// The storage's (the hold fails closed).
pub(super) fn revoked(inner: &Inner, hash: &str) -> Result<bool, GateError> {
    if let Some(known) = inner.keys.borrow().get(hash) {
        return Ok(known);
    }
    let noted = note(hash);
    let revoked = reading(&inner.state, move |g| g.note(&noted))?.is_some();
    inner.keys.borrow_mut().remember(hash, revoked);
    Ok(revoked)
}

/// Records the keys with these hashes as revoked.
///
/// # Errors
/// The storage's: nothing is recorded, and the revocation goes no further.
pub(super) fn revoke(inner: &Inner, hashes: &[String]) -> Result<(), GateError> {
    let notes: Vec<String> = hashes.iter().map(|h| note(h)).collect();
    atomically(&inner.state, move |g| {
        notes.iter().try_for_each(|n| g.set_note(n, Some("1")))
    })?;
    let mut keys = inner.keys.borrow_mut();
    for hash in hashes {
        keys.remember(hash, true);
    }
    Ok(())
}

/// The answer to any request presenting a revoked key in its
/// [`KEY_HEADER`](crate::worker::port_key::KEY_HEADER): 401, nothing done.
pub(super) fn refused_request() -> worker::Result<worker::Response> {
    Ok(worker::Response::from_json(&GateFailure {
        message: "the port key was revoked".to_owned(),
    })?
    .with_status(401))
}

/// The answer to a hold presenting a revoked key: nothing held, and
/// nothing of the port's told (its budget and load as a port never
/// configured).
pub(super) fn refused() -> Applied {
    Applied {
        budget: StoredBudget::unsaved(),
        load: PortLoad::default(),
        result: Outcome::GatewayReserve(GatewayReserveOutcome::KeyRevoked),
        alerts: 0,
        group_soft: None,
    }
}
