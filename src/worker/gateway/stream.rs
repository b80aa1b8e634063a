//! Streamed responses: chunks pass through as they arrive while the usage
//! the provider reports in its server-sent events is read on the side; the
//! stream's end (or its drop, when the client goes away) is signalled to the
//! settlement that commits the call.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::Stream;
use serde_json::Value;
use worker::Delay;

use super::provider::{anthropic_input, reported_tokens, Endpoint, Usage};

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
    /// The upstream failed or went silent for longer than the timeout.
    Broken(SeenUsage),
    /// The client went away before the end.
    Abandoned(SeenUsage),
}

impl StreamEnd {
    /// What was seen before the end.
    pub fn seen(&self) -> &SeenUsage {
        match self {
            StreamEnd::Finished(s) | StreamEnd::Broken(s) | StreamEnd::Abandoned(s) => s,
        }
    }

    /// `finished`, `broken` or `abandoned`, for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            StreamEnd::Finished(_) => "finished",
            StreamEnd::Broken(_) => "broken",
            StreamEnd::Abandoned(_) => "abandoned",
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

/// The slot a stream's end is delivered through.
#[derive(Default)]
struct Slot {
    end: Option<StreamEnd>,
    waker: Option<Waker>,
}

/// Sends the stream's end, once.
pub struct EndSender(Rc<RefCell<Slot>>);

/// Resolves to the stream's end.
pub struct EndReceiver(Rc<RefCell<Slot>>);

/// A one-shot channel from the stream to its settlement.
pub fn end_channel() -> (EndSender, EndReceiver) {
    let slot = Rc::new(RefCell::new(Slot::default()));
    (EndSender(slot.clone()), EndReceiver(slot))
}

impl EndSender {
    fn send(self, end: StreamEnd) {
        let mut slot = self.0.borrow_mut();
        slot.end = Some(end);
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }
}

impl Future for EndReceiver {
    type Output = StreamEnd;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<StreamEnd> {
        let mut slot = self.0.borrow_mut();
        match slot.end.take() {
            Some(end) => Poll::Ready(end),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// A byte stream from the upstream.
pub type Upstream = Pin<Box<dyn Stream<Item = worker::Result<Vec<u8>>>>>;

/// The upstream's stream as the client receives it: chunks pass through,
/// usage is read on the side, and the end (finished, broken, or dropped by
/// the client) is sent to the settlement exactly once.
pub struct MeteredStream {
    upstream: Upstream,
    tracker: UsageTracker,
    end: Option<EndSender>,
    idle_timeout: Duration,
    idle: Option<Delay>,
}

impl MeteredStream {
    /// Wraps `upstream`; a silence longer than `idle_timeout` between chunks
    /// ends the stream as broken.
    pub fn new(
        upstream: Upstream,
        tracker: UsageTracker,
        end: EndSender,
        idle_timeout: Duration,
    ) -> MeteredStream {
        MeteredStream {
            upstream,
            tracker,
            end: Some(end),
            idle_timeout,
            idle: None,
        }
    }

    fn settle(&mut self, end: impl FnOnce(SeenUsage) -> StreamEnd) {
        if let Some(sender) = self.end.take() {
            sender.send(end(self.tracker.seen().clone()));
        }
    }
}

impl Stream for MeteredStream {
    type Item = worker::Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.end.is_none() {
            return Poll::Ready(None);
        }
        loop {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.idle = None;
                    let out = this.tracker.feed(&chunk);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(out)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.settle(StreamEnd::Broken);
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    let rest = this.tracker.finish();
                    this.settle(StreamEnd::Finished);
                    return Poll::Ready((!rest.is_empty()).then_some(Ok(rest)));
                }
                Poll::Pending => {
                    let timeout = this.idle_timeout;
                    let idle = this.idle.get_or_insert_with(|| Delay::from(timeout));
                    if Pin::new(idle).poll(cx).is_ready() {
                        this.settle(StreamEnd::Broken);
                        return Poll::Ready(Some(Err(worker::Error::RustError(
                            "the upstream stream went silent".into(),
                        ))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        // Dropped before its end: the client went away (the upstream is
        // cancelled with it).
        self.settle(StreamEnd::Abandoned);
    }
}
