//! Sentinel: the dependency firewall. Answers "is this package real, the one meant, and safe?"
//! for PyPI, npm, crates.io and Go. Every frontend (CLI, MCP server, registry proxy, manifest scan)
//! calls the same engine.
#![forbid(unsafe_code)]

pub mod cli;
pub mod proxy;
