//! Webhook endpoints, per port and the default for every port, in KV
//! (`alerts:v1:port:{port}`, `alerts:v1:default`): each URL with its
//! signing secret, made when the URL is first saved and shown once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use worker::kv::KvStore;

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
}

impl Owner<'_> {
    fn key(&self) -> String {
        match self {
            Owner::Port(port) => format!("alerts:v1:port:{port}"),
            Owner::Default => "alerts:v1:default".into(),
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
                        created_at: crate::gate::iso(now),
                    }
                })
        })
        .collect();
    let saved = Endpoints { endpoints };
    let key = owner.key();
    if saved.endpoints.is_empty() {
        kv.delete(&key).await.map_err(kv_error)?;
    } else {
        let text = serde_json::to_string(&saved).map_err(|e| StoreError::Failed(e.to_string()))?;
        kv.put(&key, text)
            .map_err(kv_error)?
            .execute()
            .await
            .map_err(kv_error)?;
    }
    Ok((saved, fresh))
}
