//! Webhook endpoints, per port and the default for every port, in KV
//! (`alerts:v1:port:{port}`, `alerts:v1:default`): each URL with its
//! signing secret, made when the URL is first saved and shown once, and
//! made again (shown once) by a rotation, which keeps the old secret
//! signing until its overlap ends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use worker::kv::KvStore;

use crate::alerts::rotation::{self, Retiring};
use crate::worker::d1::StoreError;
use crate::worker::ids::random_id;

/// One endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// Where events are posted.
    pub url: String,
    /// The HMAC key of its signatures.
    pub secret: String,
    /// When it was first saved.
    pub created_at: String,
    /// The secret before the last rotation, still signed with until
    /// `previous_secret_expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    /// When the previous secret stops signing (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    /// When the secret was last rotated (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<String>,
}

impl Endpoint {
    /// The previous secret while it is being retired.
    fn retiring(&self) -> Option<Retiring<'_>> {
        let secret = self.previous_secret.as_deref()?;
        let expires_at = crate::time::parse_rfc3339(self.previous_secret_expires_at.as_deref()?)?;
        Some(Retiring { secret, expires_at })
    }

    /// The secrets a delivery at `now` is signed with: the current one,
    /// then the previous one while its overlap lasts.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        rotation::signing_secrets(&self.secret, self.retiring(), now)
    }

    /// When the previous secret stops signing, if it still signs at `now`.
    pub fn overlap_ends(&self, now: DateTime<Utc>) -> Option<&str> {
        self.retiring()
            .filter(|r| r.active(now))
            .and(self.previous_secret_expires_at.as_deref())
    }
}

/// A set of endpoints (a port's, or the default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// In the order given.
    pub endpoints: Vec<Endpoint>,
}

/// Whose endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<'a> {
    /// One port's.
    Port(&'a str),
    /// Every port's without its own.
    Default,
    /// One group's (its events go to the queue under `group:NAME`, read
    /// by [`effective`] like a port's).
    Group(&'a str),
}

impl Owner<'_> {
    fn key(&self) -> String {
        match self {
            Owner::Port(port) => format!("alerts:v1:port:{port}"),
            Owner::Default => "alerts:v1:default".into(),
            Owner::Group(group) => format!("alerts:v1:port:group:{group}"),
        }
    }
}

fn kv_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        message: format!("KV: {e}"),
    }
}

/// A fresh signing secret: `whsec_` and 48 hex digits.
pub fn new_secret() -> String {
    format!("{}{}", random_id("whsec_"), &random_id("")[..24])
}

/// The endpoints `owner` has.
///
/// # Errors
/// KV's.
pub async fn read(kv: &KvStore, owner: Owner<'_>) -> Result<Endpoints, StoreError> {
    let text = kv.get(&owner.key()).text().await.map_err(kv_error)?;
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default())
}

/// The endpoints a port's events go to: its own, else the default.
///
/// # Errors
/// KV's.
pub async fn effective(kv: &KvStore, port: &str) -> Result<Vec<Endpoint>, StoreError> {
    let own = read(kv, Owner::Port(port)).await?;
    if !own.endpoints.is_empty() {
        return Ok(own.endpoints);
    }
    Ok(read(kv, Owner::Default).await?.endpoints)
}

/// Replaces `owner`'s endpoints with `urls` (already checked): a URL kept
/// keeps its secret, a new one gets one. Answers the saved endpoints and
/// the URLs whose secrets are new (to show once).
///
/// # Errors
/// KV's.
pub async fn replace(
    kv: &KvStore,
    owner: Owner<'_>,
    urls: &[String],
    now: DateTime<Utc>,
) -> Result<(Endpoints, Vec<String>), StoreError> {
    let current = read(kv, owner).await?;
    let mut fresh = Vec::new();
    let endpoints = urls
        .iter()
        .map(|url| {
            current
                .endpoints
                .iter()
                .find(|e| &e.url == url)
                .cloned()
                .unwrap_or_else(|| {
                    fresh.push(url.clone());
                    Endpoint {
                        url: url.clone(),
                        secret: new_secret(),
                        created_at: crate::time::iso(now),
                        previous_secret: None,
                        previous_secret_expires_at: None,
                        rotated_at: None,
                    }
                })
        })
        .collect();
    let saved = Endpoints { endpoints };
    write(kv, owner, &saved).await?;
    Ok((saved, fresh))
}

async fn write(kv: &KvStore, owner: Owner<'_>, saved: &Endpoints) -> Result<(), StoreError> {
    let key = owner.key();
    if saved.endpoints.is_empty() {
        kv.delete(&key).await.map_err(kv_error)?;
    } else {
        let text = serde_json::to_string(saved).map_err(|e| StoreError::Failed(e.to_string()))?;
        kv.put(&key, text)
            .map_err(kv_error)?
            .execute()
            .await
            .map_err(kv_error)?;
    }
    Ok(())
}

/// Gives `owner`'s endpoint at `url` a new secret at `now`; the one it
/// replaces keeps signing for `overlap_hours` (none for 0), and a secret
/// still retiring from an earlier rotation stops. Answers the endpoints as
/// saved and the rotated one, or `None` (nothing changed) when `owner` has
/// no endpoint at `url`.
///
/// # Errors
/// KV's.
pub async fn rotate(
    kv: &KvStore,
    owner: Owner<'_>,
    url: &str,
    now: DateTime<Utc>,
    overlap_hours: u64,
) -> Result<Option<(Endpoints, Endpoint)>, StoreError> {
    let mut saved = read(kv, owner).await?;
    let Some(endpoint) = saved.endpoints.iter_mut().find(|e| e.url == url) else {
        return Ok(None);
    };
    let retired = rotation::retire(&endpoint.secret, now, overlap_hours);
    endpoint.previous_secret = retired.as_ref().map(|(secret, _)| secret.clone());
    endpoint.previous_secret_expires_at = retired.map(|(_, ends)| crate::time::iso(ends));
    endpoint.secret = new_secret();
    endpoint.rotated_at = Some(crate::time::iso(now));
    let rotated = endpoint.clone();
    write(kv, owner, &saved).await?;
    Ok(Some((saved, rotated)))
}
