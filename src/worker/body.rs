//! Bodies read whole: a request's, within a limit and drained past it so
//! its connection carries the next request, and a response's (the upstream's
//! answer, a Durable Object's) read by the runtime in one step.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{ReadableStream, ReadableStreamDefaultReader};
use worker::{Request, Response, ResponseBody};

use serde_json::Value;

use super::http::{parse_json, ApiError, MAX_BODY_BYTES};

/// The longest request body the Worker reads to its end when it answers
/// without using it (a 413, or an early 401, 404, 405...): 32 MiB, twice
/// the gateway's largest accepted body, so every client that merely
/// overshoots a limit keeps its connection, while a body no client of
/// this API sends cannot make the Worker spend its CPU reading it (a
/// 100 MiB drain measured about 0.8 s of CPU). A body declared longer, or
/// found longer while read, is cancelled, and its connection closes.
///
/// Why read what is thrown away: when the Worker answers while part of the
/// body is still unsent or unread (its stream cancelled or left half read),
/// workerd does not read the rest itself: it closes that connection. Under
/// `wrangler dev` the connection is the one wrangler's proxy keeps open to
/// the Worker's workerd, and the proxy's NEXT request on it fails, which the
/// proxy answers with a 503 "Your worker restarted mid-request", whatever
/// client sent it. Served directly (Miniflare), the client's own keep-alive
/// connection is closed under its next request, and a client still sending
/// a large body gets a reset instead of its 413. Measured with 1, 3 and
/// 20 MB bodies, with and without Content-Length: reading 1 MiB more and
/// cancelling the rest (awaited or not), or answering `Connection: close`
/// (the header never reached the client), each leaves one of these
/// failures; reading the body to its end leaves none. Draining costs the Worker reads and
/// byte counts only: chunks are counted as JS `Uint8Array`s, never copied
/// into the module's memory.
pub const DRAIN_LIMIT: usize = 32 * 1024 * 1024;

/// 413 `body-too-large`.
fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        413,
        "body-too-large",
        format!("the request body must be at most {limit} bytes"),
    )
}

/// The declared `Content-Length`, if any.
fn declared_length(req: &Request) -> Option<usize> {
    req.headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<usize>().ok())
}

/// A request body read chunk by chunk through its stream's own reader. A
/// chunk stays a JS `Uint8Array` until it is kept, so bytes that are only
/// drained are counted without being copied into the module's memory.
struct BodyChunks {
    reader: ReadableStreamDefaultReader,
}

impl BodyChunks {
    /// A reader of `body`, unless the stream is already locked to one.
    fn new(body: &ReadableStream) -> Option<BodyChunks> {
        if body.locked() {
            return None;
        }
        body.get_reader()
            .dyn_into::<ReadableStreamDefaultReader>()
            .ok()
            .map(|reader| BodyChunks { reader })
    }

    /// The next chunk, `None` at the body's end; `Err` when the stream
    /// failed (the client went away mid-body).
    async fn next(&self) -> Result<Option<Uint8Array>, ()> {
        let step = JsFuture::from(self.reader.read()).await.map_err(|_| ())?;
        let field = |name: &str| Reflect::get(&step, &JsValue::from_str(name)).map_err(|_| ());
        if field("done")?.is_truthy() {
            return Ok(None);
        }
        field("value")?
            .dyn_into::<Uint8Array>()
            .map(Some)
            .map_err(|_| ())
    }

    /// Reads and drops the rest of the body, `seen` bytes of it already
    /// read, while the whole stays within [`DRAIN_LIMIT`]; past it the
    /// stream is cancelled (and the connection closes).
    async fn drain(&self, mut seen: usize) {
        while let Ok(Some(chunk)) = self.next().await {
            seen += chunk.length() as usize;
            if seen > DRAIN_LIMIT {
                let _ = JsFuture::from(self.reader.cancel()).await;
                return;
            }
        }
    }
}

/// Reads the request body, at most `limit` bytes, chunk by chunk: a body
/// sent without a Content-Length (chunked) is capped the same, without
/// being buffered whole. Past the limit the rest is read and dropped
/// (within [`DRAIN_LIMIT`]) before the 413, so the connection stays usable.
///
/// # Errors
/// 413 `body-too-large`; 400 `invalid-body` when it cannot be read.
pub async fn read_body(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    if declared_length(req).is_some_and(|n| n > limit) {
        discard_body(req).await;
        return Err(too_large(limit));
    }
    let unreadable = || ApiError::new(400, "invalid-body", "the request body could not be read");
    let inner = req.inner();
    let Some(body) = inner.body() else {
        return Ok(Vec::new());
    };
    if inner.body_used() {
        return Err(unreadable());
    }
    if declared_length(req).is_some() {
        // Framed by its length (at most `limit`): the runtime reads it whole
        // in one step, without a promise per chunk through the module.
        let buffer = inner
            .array_buffer()
            .map_err(|_| unreadable())
            .map(JsFuture::from)?
            .await
            .map_err(|_| unreadable())?;
        let bytes = Uint8Array::new(&buffer).to_vec();
        return match bytes.len() > limit {
            true => Err(too_large(limit)),
            false => Ok(bytes),
        };
    }
    let chunks = BodyChunks::new(&body).ok_or_else(unreadable)?;
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await.map_err(|()| unreadable())? {
        let start = bytes.len();
        let end = start + chunk.length() as usize;
        if end > limit {
            chunks.drain(end).await;
            return Err(too_large(limit));
        }
        bytes.resize(end, 0);
        chunk.copy_to(&mut bytes[start..]);
    }
    Ok(bytes)
}

/// Reads and drops a body no handler read (an early 401, 404, 405, 413...),
/// within [`DRAIN_LIMIT`], so the connection it came on carries the next
/// request instead of being closed; a body declared longer is cancelled.
pub async fn discard_body(req: &mut Request) {
    let inner = req.inner();
    if inner.body_used() {
        return;
    }
    let Some(body) = inner.body() else {
        return;
    };
    if declared_length(req).is_some_and(|n| n > DRAIN_LIMIT) {
        let _ = JsFuture::from(body.cancel()).await;
        return;
    }
    if let Some(chunks) = BodyChunks::new(&body) {
        chunks.drain(0).await;
    }
}

/// A response's whole body, read by the runtime in one step. (The crate's
/// own reading pulls it chunk by chunk through a stream reader from the
/// module and releases that reader, which makes the runtime build an error
/// object: about a tenth of a gated call's CPU went to it.)
///
/// # Errors
/// The runtime's message when the body broke off.
pub async fn response_bytes(response: Response) -> Result<Vec<u8>, String> {
    match response.into_parts().1 {
        ResponseBody::Empty => Ok(Vec::new()),
        ResponseBody::Body(bytes) => Ok(bytes),
        ResponseBody::Stream(stream) => {
            let whole = whole_of(&stream)?
                .array_buffer()
                .map_err(|e| format!("{e:?}"))?;
            let buffer = JsFuture::from(whole).await.map_err(|e| format!("{e:?}"))?;
            Ok(Uint8Array::new(&buffer).to_vec())
        }
    }
}

/// A response's whole body as text (UTF-8, as [`response_bytes`] reads it).
///
/// # Errors
/// The runtime's message when the body broke off.
pub async fn response_text(response: Response) -> Result<String, String> {
    match response.into_parts().1 {
        ResponseBody::Empty => Ok(String::new()),
        ResponseBody::Body(bytes) => String::from_utf8(bytes).map_err(|e| e.to_string()),
        ResponseBody::Stream(stream) => {
            let whole = whole_of(&stream)?.text().map_err(|e| format!("{e:?}"))?;
            let text = JsFuture::from(whole).await.map_err(|e| format!("{e:?}"))?;
            text.as_string()
                .ok_or_else(|| "the body was not text".to_owned())
        }
    }
}

/// A runtime response around `stream`, to read it whole.
fn whole_of(stream: &ReadableStream) -> Result<worker::web_sys::Response, String> {
    worker::web_sys::Response::new_with_opt_readable_stream(Some(stream))
        .map_err(|e| format!("{e:?}"))
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`] (an empty body is `{}`).
///
/// # Errors
/// 413 `body-too-large`; 400 `invalid-body`, `invalid-json`.
pub async fn read_json(req: &mut Request) -> Result<Value, ApiError> {
    let bytes = read_body(req, MAX_BODY_BYTES).await?;
    if bytes.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    parse_json(&bytes)
}
