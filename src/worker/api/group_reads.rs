//! Reading a group from an API request: its id checked, its object
//! reached with the request's clock and faults, its stored state.

use super::ctx::Ctx;
use crate::group::GroupState;
use crate::worker::group::client::GroupClient;
use crate::worker::group::protocol::GroupRequest;
use crate::worker::http::ApiError;

/// Checks a group id from the path: as a port id.
///
/// # Errors
/// 400 `invalid-group`.
pub fn group_id(id: &str) -> Result<(), ApiError> {
    if crate::allowance::valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            "invalid-group",
            "a group id is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
        ))
    }
}

/// A client of `group`'s object, with the request's clock and faults.
pub fn client(ctx: &Ctx, group: &str) -> GroupClient {
    GroupClient::new(ctx.env(), group, ctx.clock()).with_faults(ctx.bindings.fault_header.clone())
}

/// The stored state of `group` (empty when it has no budget yet).
pub async fn state(ctx: &Ctx, group: &str) -> Result<GroupState, ApiError> {
    Ok(client(ctx, group).call(&GroupRequest::View).await?)
}
