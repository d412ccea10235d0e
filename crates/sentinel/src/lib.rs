//! Sentinel: the dependency firewall. Answers "is this package real, the one meant, and safe?"
//! for PyPI, npm, crates.io and Go. Every frontend (CLI, MCP server, registry proxy, manifest scan)
//! calls the same [`Engine`], so a verdict is the same wherever it is asked.
//!
//! What it is not: an installer, a vulnerability scanner of installed trees, or a malware sandbox.
#![forbid(unsafe_code)]

pub mod advisory;
pub mod audit;
pub mod cache;
pub mod cli;
pub mod corpus;
pub mod corpus_update;
pub mod ecosystem;
pub mod embed;
pub mod engine;
pub mod eval;
pub mod hook;
pub mod manifest;
pub mod mcp;
pub mod memo;
pub mod policy;
pub mod proxy;
pub mod registry;
pub mod report;
pub mod typosquat;
pub mod verdict;

pub use ecosystem::{Ecosystem, PackageRef};
pub use engine::{Config, Engine, EngineError};
pub use policy::Policy;
pub use verdict::{Decision, Finding, PackageMetadata, Severity, Suggestion, Verdict};
