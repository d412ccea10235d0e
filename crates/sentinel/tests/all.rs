//! The one integration-test binary of the sentinel crate (see `suite/`).
mod suite;
