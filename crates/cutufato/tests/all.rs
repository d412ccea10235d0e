//! Integration tests of cutufato (one binary; topics in `suite/`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
mod suite;
