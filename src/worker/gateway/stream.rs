//! Streamed responses: chunks pass through as they arrive while the usage
//! the provider reports in its server-sent events is read on the side; the
//! relay's end (finished, cut, or interrupted when the client goes away) is
//! what the settlement commits the call by.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use js_sys::futures::JsFuture;
use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{web_sys, AbortController, Delay};

use super::super::clock;
use crate::llm::redact::Redactor;
pub use crate::llm::sse::{SeenUsage, StreamEnd, UsageTracker};

/// A stream relayed to the client through a native `TransformStream`: the
/// runtime pipes the upstream body into it, and a synchronous transform reads
/// each chunk's usage on the way (no promise hop per chunk through Rust).
pub struct Relay {
    /// What the client reads.
    pub readable: web_sys::ReadableStream,
    piped: js_sys::Promise,
    tracker: Rc<RefCell<UsageTracker>>,
    last_chunk_ms: Rc<Cell<f64>>,
}

/// Calls `controller.enqueue(chunk)` of a transform stream.
fn enqueue(controller: &JsValue, chunk: &JsValue) {
    if let Ok(f) = Reflect::get(controller, &JsValue::from_str("enqueue")) {
        let _ = f.unchecked_into::<Function>().call1(controller, chunk);
    }
}

/// Starts relaying `upstream`, read by `tracker`, with `scrubber` taking
/// the provider key out of what reaches the client.
///
/// # Errors
/// The runtime's error when the transform stream cannot be built.
pub fn relay(
    upstream: web_sys::ReadableStream,
    tracker: UsageTracker,
    scrubber: Redactor,
) -> Result<Relay, JsValue> {
    let tracker = Rc::new(RefCell::new(tracker));
    let scrubber = Rc::new(RefCell::new(scrubber));
    let last_chunk_ms = Rc::new(Cell::new(clock::system_ms()));
    let (t, k, last) = (tracker.clone(), scrubber.clone(), last_chunk_ms.clone());
    let transform =
        Closure::<dyn FnMut(JsValue, JsValue)>::new(move |chunk: JsValue, controller: JsValue| {
            last.set(clock::system_ms());
            let bytes = chunk.unchecked_ref::<Uint8Array>().to_vec();
            let out = t.borrow_mut().feed(&bytes);
            let out = k.borrow_mut().feed(&out);
            if out == bytes {
                // Passed whole: hand the runtime its own chunk back.
                enqueue(&controller, &chunk);
            } else if !out.is_empty() {
                enqueue(&controller, &Uint8Array::from(&out[..]).into());
            }
        });
    let t = tracker.clone();
    let flush = Closure::<dyn FnMut(JsValue)>::new(move |controller: JsValue| {
        let rest = t.borrow_mut().finish();
        let mut scrubber = scrubber.borrow_mut();
        let mut rest = scrubber.feed(&rest);
        rest.extend(scrubber.finish());
        if !rest.is_empty() {
            enqueue(&controller, &Uint8Array::from(&rest[..]).into());
        }
    });
    let transformer = Object::new();
    // The closures belong to the transform stream from here on (JS frees them).
    Reflect::set(
        &transformer,
        &JsValue::from_str("transform"),
        &transform.into_js_value(),
    )?;
    Reflect::set(
        &transformer,
        &JsValue::from_str("flush"),
        &flush.into_js_value(),
    )?;
    let stream = web_sys::TransformStream::new_with_transformer(&transformer)?;
    let piped = upstream.pipe_to(&stream.writable());
    Ok(Relay {
        readable: stream.readable(),
        piped,
        tracker,
        last_chunk_ms,
    })
}

impl Relay {
    /// Waits for the relay's end. An upstream silent for longer than
    /// `idle_timeout` is cut through `abort` (the upstream fetch's
    /// controller), which also ends the client's stream with an error.
    pub async fn end(self, idle_timeout: Duration, abort: AbortController) -> StreamEnd {
        let mut piped = JsFuture::from(self.piped);
        let mut abort = Some(abort);
        loop {
            let silent_ms = (clock::system_ms() - self.last_chunk_ms.get()).max(0.0);
            let left = idle_timeout.saturating_sub(Duration::from_millis(silent_ms as u64));
            match select(&mut piped, Delay::from(left.max(Duration::from_millis(1)))).await {
                Either::Left((result, _)) => {
                    let seen = self.tracker.borrow().seen().clone();
                    return match (result, abort.is_some()) {
                        (Ok(_), _) => StreamEnd::Finished(seen),
                        (Err(_), false) => StreamEnd::Broken(seen),
                        (Err(_), true) => StreamEnd::Interrupted(seen),
                    };
                }
                Either::Right(_) => {
                    let silent_ms = clock::system_ms() - self.last_chunk_ms.get();
                    if silent_ms >= idle_timeout.as_millis() as f64 {
                        if let Some(controller) = abort.take() {
                            controller.abort();
                        }
                    }
                }
            }
        }
    }
}
