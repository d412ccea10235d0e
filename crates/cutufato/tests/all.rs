//! Integration tests of cutufato (one binary; topics in `suite/`).
mod suite;
