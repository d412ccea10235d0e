//! Integration tests of babuino: one binary, one module per topic under `suite/`.
mod suite;
