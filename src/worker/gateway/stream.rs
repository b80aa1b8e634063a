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
use serde_json::Value;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{web_sys, AbortController, Delay};

use super::super::clock;
use super::provider::{anthropic_input, reported_tokens, Endpoint, Usage};
use crate::llm::redact::Redactor;

/// What the stream showed of the call's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeenUsage {
    /// Input tokens, once reported (Anthropic reports them first).
    pub input_tokens: Option<u64>,
    /// Output tokens, once reported.
    pub output_tokens: Option<u64>,
    /// True once the provider's final usage arrived (OpenAI's usage chunk,
    /// Anthropic's `message_delta`).
    pub complete: bool,
    /// The model the provider named.
    pub model: Option<String>,
}

impl SeenUsage {
    /// The final usage, when the provider reported it.
    pub fn final_usage(&self) -> Option<Usage> {
        if !self.complete {
            return None;
        }
        Some(Usage {
            input_tokens: self.input_tokens?,
            output_tokens: self.output_tokens?,
        })
    }
}

/// How a stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The upstream finished (with or without its usage).
    Finished(SeenUsage),
    /// The upstream went silent for longer than the timeout and was cut.
    Broken(SeenUsage),
    /// The relay failed before the end: the client went away, or the
    /// upstream connection broke.
    Interrupted(SeenUsage),
}

impl StreamEnd {
    /// What was seen before the end.
    pub fn seen(&self) -> &SeenUsage {
        match self {
            StreamEnd::Finished(s) | StreamEnd::Broken(s) | StreamEnd::Interrupted(s) => s,
        }
    }

    /// `finished`, `broken` or `interrupted`, for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            StreamEnd::Finished(_) => "finished",
            StreamEnd::Broken(_) => "cut after going silent",
            StreamEnd::Interrupted(_) => "interrupted",
        }
    }
}

/// Reads server-sent events as they pass, holding back only an unfinished
/// event (and, for OpenAI, the usage-only chunk the client did not ask for).
#[derive(Debug)]
pub struct UsageTracker {
    endpoint: Endpoint,
    strip_usage_chunk: bool,
    pending: Vec<u8>,
    seen: SeenUsage,
}

/// The end of the first complete event in `buf` (after its blank line).
fn event_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some(i + 2);
        }
        if buf[i..].starts_with(b"\r\n\r\n") {
            return Some(i + 4);
        }
        i += 1;
    }
    None
}

/// The `data:` payload of one event (multiple data lines joined).
fn event_data(event: &[u8]) -> String {
    let text = String::from_utf8_lossy(event);
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| data.strip_prefix(' ').unwrap_or(data))
        .collect();
    lines.join("\n")
}

/// True when `event` has a `"usage"` key whose value is an object.
fn has_usage_object(event: &[u8]) -> bool {
    const KEY: &[u8] = b"\"usage\"";
    let mut rest = event;
    while let Some(at) = rest.windows(KEY.len()).position(|w| w == KEY) {
        rest = &rest[at + KEY.len()..];
        let value = rest
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .skip_while(|b| **b == b':')
            .find(|b| !b.is_ascii_whitespace());
        if value == Some(&b'{') {
            return true;
        }
    }
    false
}

impl UsageTracker {
    /// A tracker for `endpoint`; `strip_usage_chunk` drops OpenAI's
    /// usage-only chunk from what is forwarded.
    pub fn new(endpoint: Endpoint, strip_usage_chunk: bool) -> UsageTracker {
        UsageTracker {
            endpoint,
            strip_usage_chunk,
            pending: Vec::new(),
            seen: SeenUsage::default(),
        }
    }

    /// What the stream has shown so far.
    pub fn seen(&self) -> &SeenUsage {
        &self.seen
    }

    /// Takes one upstream chunk; returns the bytes to forward now.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(pending.len());
        let mut start = 0;
        while let Some(len) = event_end(&pending[start..]) {
            let event = &pending[start..start + len];
            if self.read_event(event) {
                out.extend_from_slice(event);
            }
            start += len;
        }
        pending.drain(..start);
        self.pending = pending;
        out
    }

    /// The stream ended: returns what was held back (an unfinished event).
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.read_event(&rest);
        }
        rest
    }

    /// Reads an event's usage; false when the event is not to be forwarded.
    fn read_event(&mut self, event: &[u8]) -> bool {
        // Only events carrying a usage object are parsed (OpenAI sends
        // `"usage":null` on every chunk once usage is asked for): the rest
        // pass untouched after one scan of their bytes.
        if !has_usage_object(event) {
            return true;
        }
        let data = event_data(event);
        let Ok(json) = serde_json::from_str::<Value>(&data) else {
            return true;
        };
        match self.endpoint {
            Endpoint::Messages => self.read_anthropic(&json),
            _ => return self.read_openai(&json),
        }
        true
    }

    fn read_openai(&mut self, chunk: &Value) -> bool {
        let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) else {
            return true;
        };
        if let (Some(input), Some(output)) = (
            reported_tokens(usage.get("prompt_tokens")),
            reported_tokens(usage.get("completion_tokens")),
        ) {
            self.seen.input_tokens = Some(input);
            self.seen.output_tokens = Some(output);
            self.seen.complete = true;
        }
        if let Some(model) = chunk.get("model").and_then(Value::as_str) {
            self.seen.model = Some(model.to_owned());
        }
        let usage_only = chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty);
        !(usage_only && self.strip_usage_chunk)
    }

    fn read_anthropic(&mut self, event: &Value) {
        match event.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                let message = event.get("message");
                if let Some(model) = message.and_then(|m| m.get("model")).and_then(Value::as_str) {
                    self.seen.model = Some(model.to_owned());
                }
                if let Some(usage) = message.and_then(|m| m.get("usage")) {
                    self.seen.input_tokens = anthropic_input(usage).or(self.seen.input_tokens);
                    self.seen.output_tokens =
                        reported_tokens(usage.get("output_tokens")).or(self.seen.output_tokens);
                }
            }
            Some("message_delta") => {
                let Some(usage) = event.get("usage") else {
                    return;
                };
                // Counts in message_delta are cumulative; input appears there
                // only in newer API versions.
                if let Some(input) = anthropic_input(usage) {
                    self.seen.input_tokens = Some(input);
                }
                if let Some(output) = reported_tokens(usage.get("output_tokens")) {
                    self.seen.output_tokens = Some(output);
                    self.seen.complete = true;
                }
            }
            _ => {}
        }
    }
}

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
