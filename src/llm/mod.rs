//! What the gateway knows of LLM APIs, as pure logic with no I/O: the
//! Worker's gateway (`worker::gateway`) is the shell that moves bytes.
//!
//! - [`redact`]: the provider key taken out of everything a client reads,
//!   in every spelling a JSON reader decodes back into it.

pub mod redact;
