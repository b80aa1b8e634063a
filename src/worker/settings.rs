//! Settings in Workers KV: each port's budget as last saved (a replica of
//! the one its gate enforces, for listing ports and for the page), and port
//! API keys (stored only as SHA-256 hashes).
//!
//! Keys of the `BUDGETS` namespace:
//! - `budget:v1:{port}`: the budget JSON plus `updatedBy` and `updatedAt`
//!   (also kept as the key's metadata, so listing every port's budget is one
//!   `list` call rather than a read per port). Written by the port's gate
//!   after each save; read by the gate once, at its first start, on a
//!   deployment that had budgets before;
//! - `key:v1:{sha256 hex of the key}`: `{port, keyId, createdAt}`;
//! - `portkey:v1:{port}:{keyId}`: `{keyId, createdAt, hash}` (also as the
//!   key's metadata), one entry per key, listed by prefix to list and revoke
//!   a port's keys. One entry per key, not one list per port: concurrent
//!   issues would race on a shared list's read-modify-write and drop keys
//!   from it. Port ids never contain `:`, so the prefix is exact.
//! - `keys:v1:{port}`: the older shared list, still read and revoked from;
//! - `price:v1:{model}`: a model's price as the deployment set it, or
//!   `{"removed": true}` for a shipped model it deleted (also as the key's
//!   metadata); see [`super::prices`].
//!
//! KV is eventually consistent (a write can take up to a minute to reach
//! other locations): right for settings, never used for counters.

use crate::time::iso;
use std::cell::OnceCell;
use std::rc::Rc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use worker::kv::KvStore;
use worker::Env;

use super::cache;
use super::d1::StoreError;
use super::fault::Faults;
use super::ids::random_id;
use crate::gate::StoredBudget;

/// The most KV keeps as a key's metadata, in bytes of JSON.
const METADATA_MAX_BYTES: usize = 1024;

/// What a port key's hash maps to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    /// The port the key acts for.
    pub port: String,
    /// Its public id (for listing and revoking).
    pub key_id: String,
    /// When it was issued.
    pub created_at: String,
}

/// One entry of a port's key index.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyIndexEntry {
    /// Its public id.
    pub key_id: String,
    /// SHA-256 (hex) of the key.
    pub hash: String,
    /// When it was issued.
    pub created_at: String,
}

/// A freshly issued port key: the secret is shown this once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedKey {
    /// The secret to send as `Authorization: Bearer`.
    pub key: String,
    /// Its record.
    pub record: KeyRecord,
}

/// The KV namespace of budgets (as listed), port keys, prices and alerts.
pub const KV_BINDING: &str = "BUDGETS";

/// `env`'s KV namespace (`BUDGETS`).
///
/// # Errors
/// `Failed` when the Worker has no such binding.
pub fn kv_store(env: &Env) -> Result<KvStore, StoreError> {
    env.kv(KV_BINDING)
        .map_err(|e| StoreError::Failed(format!("the {KV_BINDING} binding: {e}")))
}

/// SHA-256 (hex) of a secret.
pub fn hash_secret(secret: &str) -> String {
    super::gate::tally::count(super::gate::tally::Work::Digest);
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The prefix of every port key's secret.
pub const PORT_KEY_PREFIX: &str = "abk_";

/// A fresh secret: `prefix` then 32 random bytes in hex. Port keys and
/// admin keys are made (and hashed, [`hash_secret`]) by the same rule.
pub fn new_secret(prefix: &str) -> String {
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret).expect("workerd provides crypto.getRandomValues");
    format!("{prefix}{}", hex::encode(secret))
}

/// Budgets and keys in the `BUDGETS` namespace.
#[derive(Clone)]
pub struct Settings {
    kv: Rc<Namespace>,
    faults: Rc<Faults>,
}

/// The `BUDGETS` namespace, taken from the Worker's bindings at its first
/// use (the runtime's lookups of the binding and its methods are spared to
/// a request that reads and writes nothing in it, as a warm gated call).
struct Namespace {
    env: Env,
    store: OnceCell<KvStore>,
}

fn kv_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        message: format!("KV: {e}"),
    }
}

impl Settings {
    /// Settings over `env`'s `BUDGETS` binding, taken at the first read or
    /// write, with this request's faults.
    pub fn new(env: Env, faults: Rc<Faults>) -> Settings {
        Settings {
            kv: Rc::new(Namespace {
                env,
                store: OnceCell::new(),
            }),
            faults,
        }
    }

    /// The namespace's store.
    ///
    /// # Errors
    /// `Failed` when the Worker has no `BUDGETS` binding.
    fn kv(&self) -> Result<&KvStore, StoreError> {
        if let Some(store) = self.kv.store.get() {
            return Ok(store);
        }
        let store = kv_store(&self.kv.env)?;
        Ok(self.kv.store.get_or_init(|| store))
    }

    pub(crate) async fn read(&self, key: &str) -> Result<Option<String>, StoreError> {
        if let Some(injected) = self.faults.before("kv.read") {
            return Err(kv_error(injected));
        }
        self.faults.count(super::gate::tally::Work::KvRead);
        self.kv()?.get(key).text().await.map_err(kv_error)
    }

    /// A price entry's KV text, as this isolate read it less than
    /// [`cache::PRICE_TTL_MS`] ago, else read now (an injected `kv.read`
    /// fault strikes all the same).
    pub(crate) async fn read_price(&self, key: &str) -> Result<Option<String>, StoreError> {
        if let Some(injected) = self.faults.before("kv.read") {
            return Err(kv_error(injected));
        }
        let now = super::clock::system_ms();
        if let Some(text) = cache::price(key, now) {
            return Ok(text);
        }
        self.faults.count(super::gate::tally::Work::KvRead);
        let text = self.kv()?.get(key).text().await.map_err(kv_error)?;
        cache::remember_price(key, text.clone(), now);
        Ok(text)
    }

    pub(crate) async fn write(&self, key: &str, value: String) -> Result<(), StoreError> {
        if let Some(injected) = self.faults.before("kv.write") {
            return Err(kv_error(injected));
        }
        self.kv()?
            .put(key, value)
            .map_err(kv_error)?
            .execute()
            .await
            .map_err(kv_error)
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), StoreError> {
        if let Some(injected) = self.faults.before("kv.write") {
            return Err(kv_error(injected));
        }
        self.kv()?.delete(key).await.map_err(kv_error)
    }

    /// `port`'s budget as saved in KV before its gate existed, if any: read
    /// like the original module read it (bad fields take defaults).
    pub async fn saved_budget(&self, port: &str) -> Result<Option<StoredBudget>, StoreError> {
        let Some(text) = self.read(&format!("budget:v1:{port}")).await? else {
            return Ok(None);
        };
        Ok(Some(StoredBudget::from_json(
            &serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )))
    }

    /// Writes `budget` as `port`'s (the replica of what its gate enforces).
    pub async fn write_budget(&self, port: &str, budget: &StoredBudget) -> Result<(), StoreError> {
        if let Some(injected) = self.faults.before("kv.write") {
            return Err(kv_error(injected));
        }
        let json = budget.json();
        self.kv()?
            .put(&format!("budget:v1:{port}"), json.to_string())
            .map_err(kv_error)?
            .metadata(&json)
            .map_err(kv_error)?
            .execute()
            .await
            .map_err(kv_error)
    }

    /// Every group with a saved budget (`group:v1:NAME`), with its budget
    /// as last saved.
    pub async fn groups(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        if let Some(injected) = self.faults.before("kv.read") {
            return Err(kv_error(injected));
        }
        let mut groups = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut list = self.kv()?.list().prefix("group:v1:".into());
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await.map_err(kv_error)?;
            for key in &page.keys {
                let Some(group) = key.name.strip_prefix("group:v1:") else {
                    continue;
                };
                let budget = self
                    .read(&key.name)
                    .await?
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or(serde_json::Value::Null);
                groups.push((group.to_owned(), budget));
            }
            match page.cursor {
                Some(c) if !page.list_complete && !c.is_empty() => cursor = Some(c),
                _ => break,
            }
        }
        Ok(groups)
    }

    /// Every port with a saved budget, with the budget when the key's
    /// metadata holds it (`None`: read it from its gate).
    pub async fn budget_ports(&self) -> Result<Vec<(String, Option<StoredBudget>)>, StoreError> {
        if let Some(injected) = self.faults.before("kv.read") {
            return Err(kv_error(injected));
        }
        let mut ports = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut list = self.kv()?.list().prefix("budget:v1:".into());
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await.map_err(kv_error)?;
            ports.extend(page.keys.iter().filter_map(|k| {
                let port = k.name.strip_prefix("budget:v1:")?.to_owned();
                Some((port, k.metadata.as_ref().map(StoredBudget::from_json)))
            }));
            match page.cursor {
                Some(c) if !page.list_complete && !c.is_empty() => cursor = Some(c),
                _ => break,
            }
        }
        Ok(ports)
    }

    /// Writes `value` under `key` with the same JSON as its metadata (so a
    /// list by prefix reads every value in one call), when it fits KV's
    /// metadata limit (1024 bytes); a larger value goes without, and a
    /// list reads it from the value itself.
    pub(crate) async fn write_listed(
        &self,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        if let Some(injected) = self.faults.before("kv.write") {
            return Err(kv_error(injected));
        }
        let text = value.to_string();
        let put = self.kv()?.put(key, &text).map_err(kv_error)?;
        let put = if text.len() <= METADATA_MAX_BYTES {
            put.metadata(value).map_err(kv_error)?
        } else {
            put
        };
        let written = put.execute().await.map_err(kv_error);
        // Read here next time (a read meanwhile may have kept the old one).
        cache::forget_price(key);
        written
    }

    /// Every `(key, metadata)` under `prefix`, listed page by page.
    pub(crate) async fn list_listed(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, Option<serde_json::Value>)>, StoreError> {
        if let Some(injected) = self.faults.before("kv.read") {
            return Err(kv_error(injected));
        }
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut list = self.kv()?.list().prefix(prefix.to_owned());
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await.map_err(kv_error)?;
            out.extend(
                page.keys
                    .iter()
                    .map(|k| (k.name.clone(), k.metadata.clone())),
            );
            match page.cursor {
                Some(c) if !page.list_complete && !c.is_empty() => cursor = Some(c),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The port key whose secret is `secret`, if any.
    pub async fn key(&self, secret: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self
            .read(&format!("key:v1:{}", hash_secret(secret)))
            .await?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// `port`'s keys (ids and dates; never the secrets), oldest first.
    pub async fn keys(&self, port: &str) -> Result<Vec<KeyIndexEntry>, StoreError> {
        if let Some(injected) = self.faults.before("kv.read") {
            return Err(kv_error(injected));
        }
        let prefix = port_key_prefix(port);
        let mut keys: Vec<KeyIndexEntry> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut list = self.kv()?.list().prefix(prefix.clone());
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await.map_err(kv_error)?;
            for k in &page.keys {
                let entry = match k.metadata.clone().map(serde_json::from_value) {
                    Some(Ok(entry)) => Some(entry),
                    // Metadata lost or unreadable: read the value itself.
                    _ => self
                        .read(&k.name)
                        .await?
                        .and_then(|text| serde_json::from_str(&text).ok()),
                };
                keys.extend(entry);
            }
            match page.cursor {
                Some(c) if !page.list_complete && !c.is_empty() => cursor = Some(c),
                _ => break,
            }
        }
        for legacy in self.legacy_keys(port).await? {
            if !keys.iter().any(|k| k.key_id == legacy.key_id) {
                keys.push(legacy);
            }
        }
        keys.sort_by(|a, b| (&a.created_at, &a.key_id).cmp(&(&b.created_at, &b.key_id)));
        Ok(keys)
    }

    /// Keys kept in the older shared list `keys:v1:{port}`.
    async fn legacy_keys(&self, port: &str) -> Result<Vec<KeyIndexEntry>, StoreError> {
        Ok(self
            .read(&format!("keys:v1:{port}"))
            .await?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    /// Issues a new key for `port`.
    pub async fn issue_key(&self, port: &str, now: DateTime<Utc>) -> Result<IssuedKey, StoreError> {
        let key = new_secret(PORT_KEY_PREFIX);
        let hash = hash_secret(&key);
        let record = KeyRecord {
            port: port.to_owned(),
            key_id: random_id("key_"),
            created_at: iso(now),
        };
        // The hash first: a key in the index but not usable is worse than
        // the reverse (the issue answers 503 and the admin issues again).
        self.write(
            &format!("key:v1:{hash}"),
            serde_json::to_string(&record).unwrap_or_default(),
        )
        .await?;
        let entry = KeyIndexEntry {
            key_id: record.key_id.clone(),
            hash,
            created_at: record.created_at.clone(),
        };
        if let Some(injected) = self.faults.before("kv.write") {
            return Err(kv_error(injected));
        }
        let metadata = serde_json::to_value(&entry).unwrap_or_default();
        self.kv()?
            .put(&port_key_entry(port, &entry.key_id), metadata.to_string())
            .map_err(kv_error)?
            .metadata(&metadata)
            .map_err(kv_error)?
            .execute()
            .await
            .map_err(kv_error)?;
        Ok(IssuedKey { key, record })
    }

    /// `port`'s key `key_id` (its hash and where it is listed), if there
    /// is one: the first half of a revocation, which tells the port's gate
    /// the hash before [`Settings::remove_key`] takes the key out of KV.
    pub async fn key_entry(
        &self,
        port: &str,
        key_id: &str,
    ) -> Result<Option<ListedKey>, StoreError> {
        // Ids are `key_` and 24 hex digits: anything else names no key (and
        // never reaches KV as an oversized or odd key name).
        let well_formed = key_id.len() == 28
            && key_id.starts_with("key_")
            && key_id[4..].bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Ok(None);
        }
        if let Some(entry) = self
            .read(&port_key_entry(port, key_id))
            .await?
            .and_then(|text| serde_json::from_str::<KeyIndexEntry>(&text).ok())
        {
            return Ok(Some(ListedKey {
                entry,
                legacy: false,
            }));
        }
        Ok(self
            .legacy_keys(port)
            .await?
            .into_iter()
            .find(|k| k.key_id == key_id)
            .map(|entry| ListedKey {
                entry,
                legacy: true,
            }))
    }

    /// Takes `port`'s key out of KV. The hash goes first, so a failure
    /// half-way leaves a listed key that no longer works (revoking again
    /// finishes), never a working key that is not listed.
    pub async fn remove_key(&self, port: &str, key: &ListedKey) -> Result<(), StoreError> {
        let entry = &key.entry;
        self.delete(&format!("key:v1:{}", entry.hash)).await?;
        if !key.legacy {
            return self.delete(&port_key_entry(port, &entry.key_id)).await;
        }
        let mut legacy = self.legacy_keys(port).await?;
        legacy.retain(|k| k.key_id != entry.key_id);
        self.write(
            &format!("keys:v1:{port}"),
            serde_json::to_string(&legacy).unwrap_or_default(),
        )
        .await
    }
}

/// A port's key as found for a revocation ([`Settings::key_entry`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedKey {
    /// Its entry (the hash included).
    pub entry: KeyIndexEntry,
    /// Listed in the older shared list `keys:v1:{port}`.
    pub legacy: bool,
}

/// The prefix of `port`'s key entries.
fn port_key_prefix(port: &str) -> String {
    format!("portkey:v1:{port}:")
}

/// The KV key of `port`'s key entry `key_id`.
fn port_key_entry(port: &str, key_id: &str) -> String {
    format!("{}{key_id}", port_key_prefix(port))
}
