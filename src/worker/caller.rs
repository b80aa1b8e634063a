//! Who an authenticated request acts as ([`Caller`]), and what each kind
//! of caller may reach; `auth` finds the caller from the secret presented.

use crate::admin_keys::AdminKey;
use crate::audit::{Actor, ADMIN_TOKEN_ACTOR};
use crate::worker::http::ApiError;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Holds the admin token: may do everything.
    Admin,
    /// Holds a port key: may check, reserve, record and read its own port.
    Port {
        /// The port the key acts for.
        port: String,
        /// The key's public id.
        key_id: String,
    },
    /// Holds an admin key: may call the routes its role covers, on the
    /// ports and groups its scope reaches.
    Key(Box<AdminKey>),
}

impl Caller {
    /// A short name for a budget's `updatedBy` (`admin` or the key id).
    pub fn actor(&self) -> String {
        match self {
            Caller::Admin => "admin".to_owned(),
            Caller::Port { key_id, .. } => key_id.clone(),
            Caller::Key(key) => key.key_id.clone(),
        }
    }

    /// Who this caller is in the audit trail: a key's id and name, or
    /// `admin-token`; never a secret.
    pub fn audit_actor(&self) -> Actor {
        match self {
            Caller::Admin => Actor {
                id: ADMIN_TOKEN_ACTOR.to_owned(),
                name: None,
            },
            Caller::Port { key_id, .. } => Actor {
                id: key_id.clone(),
                name: None,
            },
            Caller::Key(key) => Actor {
                id: key.key_id.clone(),
                name: Some(key.name.clone()),
            },
        }
    }

    /// 403 unless this caller may act on `port`.
    ///
    /// # Errors
    /// 403 `forbidden`.
    pub fn may_use_port(&self, port: &str) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Port { port: own, .. } if own == port => Ok(()),
            Caller::Port { .. } => Err(ApiError::new(
                403,
                "forbidden",
                "this key belongs to another port",
            )),
            Caller::Key(_) => Err(admin_key_refused()),
        }
    }

    /// 403 unless this caller is the admin or holds an admin key (its
    /// role and scope are judged apart).
    ///
    /// # Errors
    /// 403 `forbidden`.
    pub fn must_be_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin | Caller::Key(_) => Ok(()),
            Caller::Port { .. } => Err(ApiError::new(
                403,
                "forbidden",
                "this route needs the admin token or an admin key",
            )),
        }
    }
}

/// 403 for an admin key where only port keys and the token are taken (the
/// gateway's gated calls).
pub(crate) fn admin_key_refused() -> ApiError {
    ApiError::new(
        403,
        "admin-key-not-accepted",
        "admin keys call the admin API; gated calls take a port key",
    )
}
