//! The gateway settings each port's gate last answered, as this isolate
//! remembers them. A call is prepared under them and its hold names their
//! version: the gate holds nothing for a call prepared under settings no
//! longer in force, and answers the ones that are (the call is prepared
//! again), so a save binds the very next call with no read before it.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::gate::gateway::SavedGatewaySettings;

/// Ports remembered; past it the map is emptied (each port's next call
/// learns its settings again from its gate).
const MAX_PORTS: usize = 4_096;

thread_local! {
    static SAVED: RefCell<HashMap<String, SavedGatewaySettings>> = RefCell::new(HashMap::new());
}

/// The settings `port`'s gate last answered, if this isolate knows them.
pub fn get(port: &str) -> Option<SavedGatewaySettings> {
    SAVED.with(|saved| saved.borrow().get(port).cloned())
}

/// Remembers `port`'s settings as its gate answered them.
pub fn remember(port: &str, settings: SavedGatewaySettings) {
    SAVED.with(|saved| {
        let mut saved = saved.borrow_mut();
        if saved.len() >= MAX_PORTS && !saved.contains_key(port) {
            saved.clear();
        }
        saved.insert(port.to_owned(), settings);
    });
}
