//! The Worker's side of a port's gateway settings and of a gateway call's
//! hold under them (see [`crate::gate::gateway`]).

use super::client::GateClient;
use super::protocol::{Answered, GateRequest};
use crate::gate::gateway::{
    GatewayHold, GatewayReserveOutcome, GatewaySaveOutcome, SavedGatewaySettings,
};
use crate::llm::port_settings::PortSettings;
use crate::worker::d1::StoreError;

impl GateClient {
    /// The port's gateway settings as saved.
    pub async fn gateway_settings(&self) -> Result<SavedGatewaySettings, StoreError> {
        self.call(&GateRequest::GatewaySettings).await
    }

    /// Saves the port's gateway settings whole, over the version `if_match`
    /// names.
    pub async fn save_gateway_settings(
        &self,
        settings: PortSettings,
        if_match: Option<String>,
        actor: &str,
    ) -> Result<GatewaySaveOutcome, StoreError> {
        self.call(&GateRequest::SaveGatewaySettings {
            settings,
            if_match,
            actor: actor.to_owned(),
        })
        .await
    }

    /// A gateway call's hold under the port's settings and the actions at
    /// its caps; `key` is the hash of the port key the call presents
    /// (refused by the object, [`GatewayReserveOutcome::KeyRevoked`], when
    /// it was revoked).
    pub async fn gateway_reserve(
        &self,
        hold: &GatewayHold,
        key: Option<&str>,
    ) -> Result<Answered<GatewayReserveOutcome>, StoreError> {
        self.call(&GateRequest::GatewayReserve {
            hold: hold.clone(),
            key: key.map(str::to_owned),
        })
        .await
    }

    /// Records port keys (by their SHA-256 hex) as revoked in the port's
    /// object: every later gateway hold presenting one is refused.
    pub async fn revoke_keys(&self, hashes: Vec<String>) -> Result<(), StoreError> {
        self.call(&GateRequest::RevokeKeys { hashes }).await
    }
}
