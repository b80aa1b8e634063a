//! A port key a request presents, and how the Worker knows it is still
//! valid without reading KV on every request.
//!
//! The isolate remembers the port keys it read from KV, by their SHA-256
//! hash, with the port each acts for ([`cache`]). A request presenting a
//! remembered key is taken as that port's caller at once, and the key stays
//! *unconfirmed* until one of these confirms it, before anything is done
//! or answered:
//! - the port's own object: the Worker's requests to it carry the key's
//!   hash ([`KEY_HEADER`]) until it has seen it once (a key just read from
//!   KV too: a revocation cut short after the object recorded it leaves the
//!   key in KV), and the object refuses a revoked one before it does anything
//!   (`gate::port_keys`; revoking a key through the API records its hash
//!   there before the key leaves KV);
//! - KV, read as if nothing were remembered: before a trip to one of the
//!   port's shards (a shard keeps no revocations), and, when the request
//!   made no trip to the port's object, before its answer leaves (an answer
//!   to a key no longer valid is replaced by 401).
//!
//! So a revoked key is refused on the very next request, whatever an
//! isolate remembers, and a warm request to the port's gate reads no KV.
//! The gateway's hold carries the same hash in its body (the same check,
//! answered as a refused hold).

use std::cell::Cell;

use super::cache;
use super::caller::Caller;
use super::clock;
use super::d1::StoreError;
use super::settings::{hash_secret, Settings};

/// The header a request to a port's own object carries with the SHA-256
/// (hex) of an unconfirmed port key: the object answers 401 when it was
/// revoked, and does nothing else.
pub const KEY_HEADER: &str = "x-port-key";

/// Where a presented key stands during its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Remembered by the isolate: nothing confirmed it yet.
    Remembered,
    /// Read from KV for this request; the port's own object has not seen
    /// its hash yet.
    Read,
    /// The port's own object saw its hash and did not refuse it.
    Shown,
    /// Refused (revoked, or gone from KV).
    Refused,
}

/// A port key a request presents, for one port.
#[derive(Debug)]
pub struct PresentedKey {
    secret: String,
    hash: String,
    port: String,
    standing: Cell<Standing>,
}

impl PresentedKey {
    /// A key read from KV for this very request: confirmed.
    pub fn read(secret: &str, port: &str) -> PresentedKey {
        PresentedKey {
            secret: secret.to_owned(),
            hash: hash_secret(secret),
            port: port.to_owned(),
            standing: Cell::new(Standing::Read),
        }
    }

    /// The key's SHA-256 (hex).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The port the key acts for.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// True once KV or the port's own object confirmed the key.
    pub fn confirmed(&self) -> bool {
        matches!(self.standing.get(), Standing::Read | Standing::Shown)
    }

    /// True once the key was refused during this request.
    pub fn is_refused(&self) -> bool {
        self.standing.get() == Standing::Refused
    }

    /// True until the port's own object has seen the key's hash during
    /// this request: a request to it carries the hash until then (even a
    /// key just read from KV, which a revocation cut short may have left
    /// there after the object recorded it).
    pub fn to_show(&self) -> bool {
        matches!(self.standing.get(), Standing::Remembered | Standing::Read)
    }

    /// The port's own object answered a request carrying the key's hash:
    /// it was not revoked.
    pub fn confirmed_by_object(&self) {
        self.standing.set(Standing::Shown);
    }

    /// The key was refused (revoked): the isolate forgets it.
    pub fn refused(&self) -> StoreError {
        cache::forget_key(&self.hash);
        self.standing.set(Standing::Refused);
        StoreError::KeyNotValid
    }

    /// Confirms the key with KV unless it was confirmed or refused
    /// already during this request.
    ///
    /// # Errors
    /// `KeyNotValid` when it was refused, or KV no longer holds it for this
    /// port (the isolate forgets it); `Unavailable` when KV cannot be read
    /// (fail closed).
    pub async fn confirm(&self, settings: &Settings) -> Result<(), StoreError> {
        if self.is_refused() {
            return Err(StoreError::KeyNotValid);
        }
        if self.confirmed() {
            return Ok(());
        }
        match settings.key(&self.secret).await? {
            Some(record) if record.port == self.port => {
                cache::remember_key(
                    &self.hash,
                    Caller::Port {
                        port: record.port,
                        key_id: record.key_id,
                    },
                    clock::system_ms(),
                );
                self.standing.set(Standing::Read);
                Ok(())
            }
            _ => Err(self.refused()),
        }
    }
}

/// The caller a presented `secret` is, as the isolate remembers it, when
/// it is a port key remembered for `port`: the caller and the key,
/// unconfirmed.
pub fn remembered(secret: &str, port: &str) -> Option<(Caller, PresentedKey)> {
    let hash = hash_secret(secret);
    let caller = cache::key(&hash, clock::system_ms())
        .filter(|caller| matches!(caller, Caller::Port { port: own, .. } if own == port))?;
    let key = PresentedKey {
        secret: secret.to_owned(),
        hash,
        port: port.to_owned(),
        standing: Cell::new(Standing::Remembered),
    };
    Some((caller, key))
}
