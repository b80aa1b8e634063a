//! The JS binding under wasm-bindgen-test in headless Chromium. Without
//! `run_in_browser` the runner would quietly use Node instead.
#![cfg(all(target_arch = "wasm32", feature = "web"))]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[path = "wasm/binding.rs"]
mod binding;
