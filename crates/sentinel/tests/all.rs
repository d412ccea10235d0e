//! Integration tests of sentinel (one binary; topics in `suite/`).
// Test support code panics on setup failure by design.
#![allow(clippy::unwrap_used)]
mod suite;
