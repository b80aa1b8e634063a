//! Admin keys kept in D1 (`admin_keys`, `admin_key_secrets`): the
//! statements that issue, find, list, rotate and revoke them, and the
//! record read back. Only a secret's SHA-256 hash is ever stored (the same
//! rule as port keys); the Worker hashes and generates secrets.
//!
//! A rotation gives the key a new secret and keeps the old one valid for a
//! stated overlap; a revocation deletes every secret of the key at once and
//! marks the key revoked (its row stays, so the audit trail's key ids keep
//! their names).

use chrono::{DateTime, Utc};
use serde_json::{json, Value as Json};

use crate::access::{secret_valid, Role, Scope};
use crate::sql::{Row, Statement, Value};
use crate::time::{instant, iso, ms};

/// The prefix of every admin key's secret (port keys have another), so a
/// secret's kind is known before any store is read.
pub const SECRET_PREFIX: &str = "adk_";

/// The longest rotation overlap accepted: 30 days, in seconds.
pub const MAX_OVERLAP_SECONDS: i64 = 30 * 86_400;

/// An admin key, as stored (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminKey {
    /// Its public id (`adm_...`).
    pub key_id: String,
    /// A name for people (shown in the audit trail).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The ports and groups it is confined to.
    pub scope: Scope,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was last rotated.
    pub rotated_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

const KEY_COLUMNS: &str =
    "k.key_id, k.name, k.role, k.scope_ports, k.scope_groups, k.expires_at, k.created_at, \
     k.rotated_at, k.revoked_at";

fn names(list: &[String]) -> Value {
    Value::Text(Json::from(list.to_vec()).to_string())
}

/// The statements that store a new key with the secret of hash `hash`.
pub fn insert(key: &AdminKey, hash: &str) -> Vec<Statement> {
    vec![
        Statement::new(
            "INSERT INTO admin_keys (key_id, name, role, scope_ports, scope_groups, expires_at, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vec![
                key.key_id.as_str().into(),
                key.name.as_str().into(),
                key.role.as_str().into(),
                names(&key.scope.ports),
                names(&key.scope.groups),
                key.expires_at.map(ms).into(),
                ms(key.created_at).into(),
            ],
        ),
        Statement::new(
            "INSERT INTO admin_key_secrets (hash, key_id, valid_until) VALUES (?1, ?2, NULL)",
            vec![hash.into(), key.key_id.as_str().into()],
        ),
    ]
}

/// The statement that finds the key of the secret hashed `hash` (revoked
/// keys have no secrets left), with the secret's own end (`valid_until`).
pub fn by_secret(hash: &str) -> Statement {
    Statement::new(
        format!(
            "SELECT {KEY_COLUMNS}, s.valid_until FROM admin_key_secrets s \
             JOIN admin_keys k ON k.key_id = s.key_id \
             WHERE s.hash = ?1 AND k.revoked_at IS NULL"
        ),
        vec![hash.into()],
    )
}

/// The key of a row of [`by_secret`] when its secret is valid at `now`
/// (the key not expired, the secret not past its overlap).
pub fn valid_key(row: &Row, now: DateTime<Utc>) -> Option<AdminKey> {
    let key = key_of(row)?;
    let until = row.int("valid_until");
    secret_valid(key.expires_at.map(ms), until, ms(now)).then_some(key)
}

/// The statement of every key, newest first.
pub fn list() -> Statement {
    Statement::new(
        format!("SELECT {KEY_COLUMNS} FROM admin_keys k ORDER BY k.created_at DESC, k.key_id"),
        vec![],
    )
}

/// The statement of one key.
pub fn get(key_id: &str) -> Statement {
    Statement::new(
        format!("SELECT {KEY_COLUMNS} FROM admin_keys k WHERE k.key_id = ?1"),
        vec![key_id.into()],
    )
}

/// The statements that revoke `key_id` at `now`: every secret goes.
pub fn revoke(key_id: &str, now: DateTime<Utc>) -> Vec<Statement> {
    vec![
        Statement::new(
            "DELETE FROM admin_key_secrets WHERE key_id = ?1",
            vec![key_id.into()],
        ),
        Statement::new(
            "UPDATE admin_keys SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL",
            vec![key_id.into(), ms(now).into()],
        ),
    ]
}

/// The statements that rotate `key_id` at `now` to the secret hashed
/// `hash`: every older secret stays valid until `old_until` (sooner when
/// it already ended sooner), secrets already ended are deleted.
pub fn rotate(
    key_id: &str,
    hash: &str,
    now: DateTime<Utc>,
    old_until: DateTime<Utc>,
) -> Vec<Statement> {
    vec![
        Statement::new(
            "DELETE FROM admin_key_secrets WHERE key_id = ?1 AND valid_until IS NOT NULL \
             AND valid_until <= ?2",
            vec![key_id.into(), ms(now).into()],
        ),
        Statement::new(
            "UPDATE admin_key_secrets SET valid_until = MIN(COALESCE(valid_until, ?2), ?2) \
             WHERE key_id = ?1",
            vec![key_id.into(), ms(old_until).into()],
        ),
        Statement::new(
            "INSERT INTO admin_key_secrets (hash, key_id, valid_until) VALUES (?1, ?2, NULL)",
            vec![hash.into(), key_id.into()],
        ),
        Statement::new(
            "UPDATE admin_keys SET rotated_at = ?2 WHERE key_id = ?1",
            vec![key_id.into(), ms(now).into()],
        ),
    ]
}

/// A key of a row (of [`list`], [`get`] or [`by_secret`]); `None` for a
/// row that is not one.
pub fn key_of(row: &Row) -> Option<AdminKey> {
    let list = |column: &str| -> Vec<String> {
        row.text(column)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    };
    let at = |column: &str| row.int(column).map(instant);
    Some(AdminKey {
        key_id: row.text("key_id")?,
        name: row.text("name").unwrap_or_default(),
        role: Role::parse(&row.text("role")?)?,
        scope: Scope {
            ports: list("scope_ports"),
            groups: list("scope_groups"),
        },
        expires_at: at("expires_at"),
        created_at: at("created_at")?,
        rotated_at: at("rotated_at"),
        revoked_at: at("revoked_at"),
    })
}

impl AdminKey {
    /// The key on the wire (and in the audit trail): never a secret.
    pub fn json(&self) -> Json {
        let at = |t: Option<DateTime<Utc>>| t.map(iso);
        json!({
            "keyId": self.key_id,
            "name": self.name,
            "role": self.role.as_str(),
            "ports": self.scope.ports,
            "groups": self.scope.groups,
            "expiresAt": at(self.expires_at),
            "createdAt": iso(self.created_at),
            "rotatedAt": at(self.rotated_at),
            "revokedAt": at(self.revoked_at),
        })
    }
}
