//! The one integration test binary of babuino (see `suite/`).
// Test support functions outside `#[test]` may panic on setup failures.
#![allow(clippy::unwrap_used)]
mod suite;
