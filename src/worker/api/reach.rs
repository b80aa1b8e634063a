//! What an admin key's scope reaches: the path's port or group, judged by
//! [`crate::access::judge`] once the chain of parents above it is read
//! (only for a confined key that does not name it directly), and the lists
//! a confined key reads cut to what it reaches.

use super::ctx::Ctx;
use super::group_reads;
use crate::access::{judge, Denial, Role, Scope, Target};
use crate::admin_keys::AdminKey;
use crate::allowance::MAX_DEPTH;
use crate::worker::caller::Caller;
use crate::worker::http::ApiError;
use crate::worker::routes::row::Params;

/// The groups above `group` (its parent first), as far as they go.
pub async fn group_chain(ctx: &Ctx, group: &str) -> Result<Vec<String>, ApiError> {
    let mut chain = Vec::new();
    let mut next = group_reads::state(ctx, group).await?.parent;
    while let Some(parent) = next.take() {
        if chain.contains(&parent) || chain.len() > MAX_DEPTH {
            break;
        }
        next = group_reads::state(ctx, &parent).await?.parent;
        chain.push(parent);
    }
    Ok(chain)
}

/// The groups above `port` (its parent first).
pub async fn port_chain(ctx: &Ctx, port: &str) -> Result<Vec<String>, ApiError> {
    let parent = ctx.gate(port)?.view(None, false).await?.budget.parent;
    match parent {
        Some(parent) => {
            let mut chain = vec![parent.clone()];
            chain.extend(group_chain(ctx, &parent).await?);
            Ok(chain)
        }
        None => Ok(Vec::new()),
    }
}

/// The caller's scope when it is a confined admin key (`None`: it reaches
/// everything).
pub fn confined(caller: &Caller) -> Option<&Scope> {
    match caller {
        Caller::Key(key) if key.scope.is_confined() => Some(&key.scope),
        _ => None,
    }
}

/// True when the caller reaches `port` (reading its chain only when it must).
pub async fn reaches_port(ctx: &Ctx, port: &str) -> Result<bool, ApiError> {
    match confined(&ctx.caller) {
        None => Ok(true),
        Some(scope) if scope.reaches_port(port, &[]) => Ok(true),
        Some(scope) if scope.groups.is_empty() => Ok(false),
        Some(scope) => Ok(scope.reaches_port(port, &port_chain(ctx, port).await?)),
    }
}

/// True when the caller reaches `group` (reading its chain only when it
/// must).
pub async fn reaches_group(ctx: &Ctx, group: &str) -> Result<bool, ApiError> {
    match confined(&ctx.caller) {
        None => Ok(true),
        Some(scope) if scope.reaches_group(group, &[]) => Ok(true),
        Some(scope) if scope.groups.is_empty() => Ok(false),
        Some(scope) => Ok(scope.reaches_group(group, &group_chain(ctx, group).await?)),
    }
}

/// 403 unless `key` may call a route needing `needed` (`reads`: a `GET`)
/// on the path's port or group.
///
/// # Errors
/// 403 `role-insufficient`, `port-out-of-scope`, `group-out-of-scope`,
/// `key-confined`; 503 when a chain cannot be read.
pub async fn check(
    ctx: &Ctx,
    key: &AdminKey,
    needed: Role,
    reads: bool,
    params: &Params,
) -> Result<(), ApiError> {
    let scope = &key.scope;
    let group = params.get("group");
    let verdict = if params.has_port() {
        let port = params.port();
        let chain = if scope.reaches_port(port, &[]) || scope.groups.is_empty() {
            Vec::new()
        } else {
            port_chain(ctx, port).await?
        };
        judge(key.role, scope, needed, reads, Target::Port(port, &chain))
    } else if !group.is_empty() {
        group_reads::group_id(group)?;
        let chain = if scope.reaches_group(group, &[]) || scope.groups.is_empty() {
            Vec::new()
        } else {
            group_chain(ctx, group).await?
        };
        judge(key.role, scope, needed, reads, Target::Group(group, &chain))
    } else {
        judge(key.role, scope, needed, reads, Target::Instance)
    };
    verdict.map_err(|denial| refusal(denial, key))
}

/// The 403 of a denial.
fn refusal(denial: Denial, key: &AdminKey) -> ApiError {
    let message = match denial {
        Denial::RoleInsufficient { needed, held } => format!(
            "this route needs the {} role; key {} is a {}",
            needed.as_str(),
            key.key_id,
            held.as_str()
        ),
        Denial::PortOutOfScope => format!("key {} does not reach this port", key.key_id),
        Denial::GroupOutOfScope => format!("key {} does not reach this group", key.key_id),
        Denial::Confined => format!(
            "key {} is confined to some ports and groups: it changes nothing of the whole instance",
            key.key_id
        ),
    };
    ApiError::new(403, denial.code(), message)
}
