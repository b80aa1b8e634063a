//! A port's object starting for the first time on a deployment that
//! already has data: it takes the port's budget from KV and its counters
//! and holds from D1, once, before any other request runs (the import
//! blocks the object's concurrency; a failure is answered, and the next
//! request tries again).

use std::rc::Rc;

use chrono::{DateTime, Utc};
use worker::{Env, Result, State};

use super::courier;
use super::instance::{another_handle, Inner};
use super::storage::atomically;
use crate::gate::{Import, COUNTER_RETENTION_DAYS};
use crate::ledger::reports;
use crate::worker::d1::D1;
use crate::worker::fault::Faults;
use crate::worker::settings::Settings;

/// Takes the port's state from KV and D1 the first time the object starts,
/// before any other request runs.
pub(super) async fn ensure_ready(
    inner: &Rc<Inner>,
    port: &str,
    faults: &Rc<Faults>,
    now: DateTime<Utc>,
) -> std::result::Result<(), String> {
    if inner.ready.get() {
        return Ok(());
    }
    let imported = atomically(&inner.state, |g| g.imported()).map_err(|e| e.0)?;
    if imported {
        inner.ready.set(true);
        inner.port.replace(Some(port.to_owned()));
        return Ok(());
    }
    let import = first_import(
        another_handle(&inner.state),
        inner.env.clone(),
        port.to_owned(),
        faults.clone(),
        now,
    );
    // A failure is answered, not thrown: a thrown one would reset the
    // object, for nothing (it has nothing in memory to lose).
    inner
        .state
        .block_concurrency_while(import)
        .await
        .map_err(|e| format!("the port's state could not be read: {e}"))?
        .map_err(|e| format!("the port's state could not be read: {e}"))?;
    inner.ready.set(true);
    Ok(())
}

/// Reads the port's state from D1 and KV and imports it into the gate,
/// unless another request did meanwhile.
async fn first_import(
    state: State,
    env: Env,
    port: String,
    faults: Rc<Faults>,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(), String>> {
    if atomically(&state, |g| g.imported())? {
        return Ok(Ok(()));
    }
    let since = now.timestamp_millis() - COUNTER_RETENTION_DAYS * 86_400_000;
    let down = atomically(&state, |g| g.note(courier::D1_DOWN_NOTE))?.is_some();
    let faults = if down {
        Rc::new(Faults::from_header(true, Some("d1.import".into())))
    } else {
        faults
    };
    let d1 = D1::new(env.d1("DB")?, faults.clone());
    let results = match d1.run("d1.import", &reports::import(&port, since)).await {
        Ok(results) => results,
        Err(e) => return Ok(Err(format!("D1 could not be read: {e:?}"))),
    };
    let mut import: Import = reports::import_of(&results);
    let settings = Settings::new(env.clone(), faults);
    import.budget = match settings.saved_budget(&port).await {
        Ok(budget) => budget,
        Err(e) => return Ok(Err(format!("KV could not be read: {e:?}"))),
    };
    atomically(&state, move |g| {
        g.import(&import)?;
        g.set_port(&port)
    })?;
    Ok(Ok(()))
}
