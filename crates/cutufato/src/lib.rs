//! Cutufato: a signed, tamper-evident audit trail of LLM decisions.
#![forbid(unsafe_code)]

pub mod attribution;
pub mod cli;
pub mod cli_attr;
pub mod documents;
pub mod eval;
