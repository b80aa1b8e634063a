//! What the gateway knows of LLM APIs, as pure logic with no I/O: the
//! Worker's gateway (`worker::gateway`) is the shell that moves bytes.
//!
//! - [`redact`]: the provider key taken out of everything a client reads,
//!   in every spelling a JSON reader decodes back into it.
//! - [`usage`]: the usage each provider API reports, read from its JSON.
//! - [`port_settings`]: per-port gateway settings (strict mode, default
//!   output bound, allowed models).
//! - [`providers`]: the built-in providers and the table of more.
//! - [`routes`]: the provider and endpoint a gateway path names.
//! - [`sse`]: server-sent events cut into whole events, their usage read
//!   on the way.
//! - [`telemetry`]: a gated call's log line in OpenTelemetry's GenAI names.

pub mod port_settings;
pub mod providers;
pub mod redact;
pub mod routes;
pub mod sse;
pub mod telemetry;
pub mod usage;
