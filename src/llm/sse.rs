//! Reading a provider's server-sent events as they pass: the stream is cut
//! into whole events (only an unfinished one waits for its end), and the
//! events that carry usage are read. Pure, with no I/O: the Worker's relay
//! (`worker::gateway::stream`) feeds it the upstream's chunks.

use serde_json::Value;

use super::usage::{
    read_usage, reported_tokens, response_billing, responses_event_usage, usage_billing,
    UsageFormat,
};
use crate::pricing::billing::Billing;
use crate::TokenCounts;

/// What the stream showed of the call's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeenUsage {
    /// Input tokens, once reported (Anthropic reports them first).
    pub input_tokens: Option<u64>,
    /// Output tokens, once reported.
    pub output_tokens: Option<u64>,
    /// Cache and reasoning detail reported so far (its totals unused).
    pub detail: TokenCounts,
    /// True once the provider's final usage arrived (OpenAI's usage chunk,
    /// Anthropic's `message_delta`, a Responses terminal event, Gemini's
    /// chunk with a finish reason or with usage alone).
    pub complete: bool,
    /// The model the provider named.
    pub model: Option<String>,
    /// How the provider said it billed the call (its service tier, 1-hour
    /// cache writes), as last reported.
    pub billing: Billing,
}

impl SeenUsage {
    /// The final usage, when the provider reported it.
    pub fn final_usage(&self) -> Option<TokenCounts> {
        if !self.complete {
            return None;
        }
        Some(
            TokenCounts {
                input_tokens: self.input_tokens?,
                output_tokens: self.output_tokens?,
                ..self.detail
            }
            .bounded(),
        )
    }

    fn take(&mut self, usage: TokenCounts) {
        self.input_tokens = Some(usage.input_tokens);
        self.output_tokens = Some(usage.output_tokens);
        self.detail = usage;
        self.complete = true;
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
    format: UsageFormat,
    strip_usage_chunk: bool,
    /// Forward each event's data as an element of one JSON array (Gemini's
    /// stream without `alt=sse`), with how many elements went out so far.
    json_array: Option<u64>,
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
    /// A tracker for a stream whose usage comes in `format`;
    /// `strip_usage_chunk` drops OpenAI chat's usage-only chunk from what
    /// is forwarded.
    pub fn new(format: UsageFormat, strip_usage_chunk: bool) -> UsageTracker {
        UsageTracker {
            format,
            strip_usage_chunk,
            json_array: None,
            pending: Vec::new(),
            seen: SeenUsage::default(),
        }
    }

    /// The same tracker forwarding the stream as one JSON array of the
    /// events' data (`[{...},\r\n{...}]`), as Gemini streams to a client
    /// that did not ask for server-sent events; the upstream is asked for
    /// events all the same, so one reader counts both.
    pub fn as_json_array(mut self) -> UsageTracker {
        self.json_array = Some(0);
        self
    }

    /// Appends what an event forwards to `out`: the event itself, or its
    /// data as the next element of the JSON array.
    fn forward(&mut self, event: &[u8], out: &mut Vec<u8>) {
        let Some(sent) = self.json_array.as_mut() else {
            out.extend_from_slice(event);
            return;
        };
        let data = event_data(event);
        if data.trim().is_empty() {
            return;
        }
        out.extend_from_slice(if *sent == 0 { b"[" } else { b",\r\n" });
        out.extend_from_slice(data.as_bytes());
        *sent += 1;
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
                self.forward(event, &mut out);
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
        if self.json_array.is_none() {
            return rest;
        }
        let mut out = Vec::new();
        self.forward(&rest, &mut out);
        out.extend_from_slice(if self.json_array == Some(0) {
            b"[]"
        } else {
            b"]"
        });
        out
    }

    /// Reads an event's usage; false when the event is not to be forwarded.
    fn read_event(&mut self, event: &[u8]) -> bool {
        if self.format == UsageFormat::Gemini {
            self.read_gemini(event);
            return true;
        }
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
        match self.format {
            UsageFormat::Anthropic => self.read_anthropic(&json),
            UsageFormat::OpenAiResponses => self.read_responses(&json),
            UsageFormat::OpenAiChat | UsageFormat::OpenAiEmbeddings => {
                return self.read_openai(&json)
            }
            UsageFormat::Gemini => {}
        }
        true
    }

    /// A Gemini chunk: its usage is cumulative and repeated on every chunk,
    /// so the last one read stands (taken once at settlement, however
    /// often it came). It is final from the chunk that names a finish
    /// reason, or one that carries usage alone (no candidates).
    fn read_gemini(&mut self, event: &[u8]) {
        // Only chunks with usage or a finish reason are parsed.
        let has = |key: &[u8]| event.windows(key.len()).any(|w| w == key);
        if !has(b"\"usageMetadata\"") && !has(b"\"finishReason\"") {
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&event_data(event)) else {
            return;
        };
        if let Some(model) = chunk.get("modelVersion").and_then(Value::as_str) {
            self.seen.model = Some(model.to_owned());
        }
        let candidates = chunk.get("candidates").and_then(Value::as_array);
        let finished = candidates.is_some_and(|c| {
            c.iter()
                .any(|candidate| candidate.get("finishReason").is_some_and(|r| !r.is_null()))
        });
        let usage_only = candidates.is_none_or(Vec::is_empty);
        let Some(usage) = chunk
            .get("usageMetadata")
            .and_then(|u| read_usage(UsageFormat::Gemini, u))
        else {
            return;
        };
        let complete = self.seen.complete || finished || usage_only;
        self.seen.take(usage);
        self.seen.complete = complete;
    }

    fn read_openai(&mut self, chunk: &Value) -> bool {
        let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) else {
            return true;
        };
        if let Some(read) = read_usage(UsageFormat::OpenAiChat, usage) {
            self.seen.take(read);
            self.seen.billing = response_billing(UsageFormat::OpenAiChat, chunk);
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

    /// A Responses stream: the usage of its terminal event's `response`.
    fn read_responses(&mut self, event: &Value) {
        if let Some((usage, model)) = responses_event_usage(event) {
            self.seen.take(usage);
            if let Some(response) = event.get("response") {
                self.seen.billing = response_billing(UsageFormat::OpenAiResponses, response);
            }
            if model.is_some() {
                self.seen.model = model;
            }
        }
    }

    /// Anthropic's input counts, each cumulative and each optional (a
    /// `message_delta` may update the cache reads alone, as server tools
    /// run): every count reported replaces the one seen before, and the
    /// input total is their sum again.
    fn take_anthropic_input(&mut self, usage: &Value) {
        let seen = &mut self.seen;
        let (reads, writes) = (
            seen.detail.cached_input_tokens,
            seen.detail.cache_write_tokens,
        );
        let uncached = seen
            .input_tokens
            .map(|total| total.saturating_sub(reads).saturating_sub(writes));
        let reported = |key: &str| reported_tokens(usage.get(key));
        let (new_uncached, new_writes, new_reads) = (
            reported("input_tokens"),
            reported("cache_creation_input_tokens"),
            reported("cache_read_input_tokens"),
        );
        if let Some(billing) = usage_billing(usage) {
            seen.billing = billing;
        }
        if new_uncached.is_none() && new_writes.is_none() && new_reads.is_none() {
            return;
        }
        let Some(uncached) = new_uncached.or(uncached) else {
            // No uncached count yet: a total cannot be formed.
            return;
        };
        let writes = new_writes.unwrap_or(writes);
        let reads = new_reads.unwrap_or(reads);
        // Not clamped: a sum past 2^53 - 1 stays past it, and settlement
        // charges the call its hold instead of counting a clamped total.
        seen.input_tokens = Some(uncached.saturating_add(writes).saturating_add(reads));
        seen.detail.cached_input_tokens = reads;
        seen.detail.cache_write_tokens = writes;
    }

    fn read_anthropic(&mut self, event: &Value) {
        match event.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                let message = event.get("message");
                if let Some(model) = message.and_then(|m| m.get("model")).and_then(Value::as_str) {
                    self.seen.model = Some(model.to_owned());
                }
                if let Some(usage) = message.and_then(|m| m.get("usage")) {
                    self.take_anthropic_input(usage);
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
                self.take_anthropic_input(usage);
                if let Some(output) = reported_tokens(usage.get("output_tokens")) {
                    self.seen.output_tokens = Some(output);
                    self.seen.complete = true;
                }
                if let Some(thinking) = reported_tokens(
                    usage
                        .get("output_tokens_details")
                        .and_then(|d| d.get("thinking_tokens")),
                ) {
                    self.seen.detail.reasoning_tokens = thinking;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
