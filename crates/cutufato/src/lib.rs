//! Cutufato: a signed, tamper-evident audit trail of LLM decisions.
//!
//! Each model call becomes a signed record (RFC 8785 canonical JSON, Ed25519) appended as a leaf
//! of an RFC 6962 Merkle tree stored in SQLite, with C2SP signed checkpoints also written outside
//! the database. Personal text stays out of the tree: leaves hold keyed hashes, the text lives in
//! an erasable content store. Anyone with the verifier key can check records, proofs and exports.
//!
//! Each response is attributed sentence by sentence to the context chunks that support it
//! ([`attribution`], deterministic: no model, same input same verdict), unsupported numbers,
//! dates, names, negations and record contradictions are flagged with reasons, and source
//! documents are kept by content hash with a page and line map ([`documents`]) so citations can
//! be checked; [`eval`] scores the detector on RAGTruth-layout data.
//!
//! This crate is not a transparency log server (no HTTP tiles, no witnesses yet).
#![forbid(unsafe_code)]

pub mod attribution;
pub mod auditor;
pub mod cli;
pub mod cli_attr;
pub mod documents;
pub mod eval;
pub mod export;
pub mod group;
pub mod mcp;
pub mod merkle;
pub mod note;
pub mod ops;
pub mod par;
pub mod record;
pub mod replay;
pub mod store;
pub mod verify;

pub use auditor::{Auditor, Content, LogError};
pub use group::GroupCommit;
pub use record::{ContextChunk, Decision, Entry, Evaluator, Event, Model};
