//! The JS binding under wasm-bindgen-test in Node (the test runner's default).
#![cfg(all(target_arch = "wasm32", feature = "web"))]

#[path = "wasm/binding.rs"]
mod binding;
