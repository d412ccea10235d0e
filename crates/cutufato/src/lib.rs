//! Cutufato: a signed, tamper-evident audit trail of LLM decisions.
#![forbid(unsafe_code)]

pub mod cli;
