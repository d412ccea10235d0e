//! Integration tests of sentinel (one binary; topics in `suite/`).
mod suite;
