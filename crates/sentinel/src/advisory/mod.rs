//! OSV advisories: known vulnerabilities and `MAL-` malicious-package reports, online from the
//! OSV API and fully offline from a local mirror (SQLite) of OSV's per-ecosystem dumps.
//!
//! - [`store`]: the local advisory store, indexed by (ecosystem, normalised name).
//! - [`import`]: streaming, all-or-nothing import of an OSV `all.zip`, a directory or a file.
//! - [`update`]: `db update` from OSV's dump bucket, incremental through `modified_id.csv`.
//! - [`online`]: `/v1/querybatch` + `/v1/vulns/{id}` client whose answers are cached in the store.
//! - [`eval`], [`version`]: the osv-schema evaluation rules with each ecosystem's ordering.
//! - [`severity`]: CVSS vectors to scores and levels.
//! - [`reference`]: the record-by-record evaluation the store is tested (and benchmarked) against.
//!
//! What this module is not: it does not decide allow/warn/block; the engine turns its hits into
//! findings under the policy.
pub mod check;
pub mod command;
pub mod eval;
pub mod import;
pub mod online;
pub mod osv;
pub mod reference;
pub mod severity;
pub mod store;
pub mod update;
pub mod version;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use severity::Level;
pub use store::Store;

/// Errors of the advisory module. Every message names what is wrong and, where it helps, what
/// to do.
#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    #[error("advisory store {path}: {source}")]
    Store {
        path: String,
        source: rusqlite::Error,
    },
    #[error("{file}: not a valid OSV record: {reason}")]
    MalformedRecord { file: String, reason: String },
    #[error("{file}: not a readable zip archive: {reason}")]
    MalformedZip { file: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: neither a zip of OSV records, a directory of them nor a .json record")]
    UnknownSource { path: String },
    #[error("OSV service {url} unreachable or failing: {reason}")]
    Network { url: String, reason: String },
    #[error("OSV service {url} sent an unexpected answer: {reason}")]
    Protocol { url: String, reason: String },
    #[error("unsupported ecosystem `{0}` (expected PyPI, npm, crates.io or Go)")]
    Ecosystem(String),
}

/// The ecosystems whose dumps `db update` knows, by their OSV names.
pub const ECOSYSTEMS: [&str; 4] = ["PyPI", "npm", "crates.io", "Go"];

/// Maps user spellings (`pypi`, `crates`, `cargo`, `golang`…) to OSV ecosystem names.
pub fn osv_ecosystem(text: &str) -> Result<&'static str, AdvisoryError> {
    match text.to_ascii_lowercase().as_str() {
        "pypi" | "python" | "pip" => Ok("PyPI"),
        "npm" | "node" | "js" => Ok("npm"),
        "crates.io" | "crates" | "cargo" | "crate" | "rust" => Ok("crates.io"),
        "go" | "golang" => Ok("Go"),
        _ => Err(AdvisoryError::Ecosystem(text.to_owned())),
    }
}

/// Normalises a package name the way its ecosystem compares names: PEP 503 for PyPI; crates.io
/// is case-insensitive with `-` and `_` alike; npm names are compared in lower case (old
/// packages may carry capitals; a broader match fails safe); Go module paths are exact.
pub fn normalize_name(osv_ecosystem: &str, name: &str) -> String {
    let name = name.trim();
    match osv_ecosystem {
        "PyPI" => {
            let mut out = String::with_capacity(name.len());
            let mut sep = false;
            for c in name.chars() {
                if matches!(c, '-' | '_' | '.') {
                    sep = true;
                } else {
                    if sep && !out.is_empty() {
                        out.push('-');
                    }
                    sep = false;
                    out.extend(c.to_lowercase());
                }
            }
            out
        }
        "crates.io" => name.to_ascii_lowercase().replace('_', "-"),
        "npm" => name.to_lowercase(),
        _ => name.to_owned(),
    }
}

/// Where the advisory store lives: `$SENTINEL_CACHE_DIR/advisories.db`, else
/// `~/.cache/sentinel/advisories.db` (next to the registry cache).
pub fn default_store_path() -> PathBuf {
    cache_dir().join("advisories.db")
}

/// Sentinel's cache directory (`SENTINEL_CACHE_DIR`, else `$XDG_CACHE_HOME/sentinel`, else
/// `~/.cache/sentinel`).
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SENTINEL_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("sentinel");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("sentinel")
}

/// One advisory that affects the package asked about.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Hit {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    /// A malicious-package report (`MAL-`, or RustSec's `malicious` category).
    pub malicious: bool,
    /// The record affects every version of the package (`introduced: 0`, no fix).
    pub all_versions: bool,
    pub severity: Level,
    /// Highest CVSS base score of the record, when it has a vector.
    pub score: Option<f64>,
    /// The CVSS vector the score comes from.
    pub vector: Option<String>,
    /// RustSec informational kind (`unmaintained`, `unsound`, `notice`): not a vulnerability.
    pub informational: Option<String>,
    /// Affected versions as ranges, e.g. `>= 1.0.0, < 1.2.6`.
    pub affected: Vec<String>,
    /// Versions the record names as fixes for this package.
    pub fixed: Vec<String>,
    /// Set when a version did not parse and the answer is the conservative one.
    pub uncertain: Option<String>,
    pub modified: String,
    pub published: Option<String>,
    pub url: Option<String>,
}

/// Advisories for one package (and version, if given).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub ecosystem: String,
    pub name: String,
    pub version: Option<String>,
    /// With a version: the advisories that affect it. Without: every advisory that affects some
    /// version of the package.
    pub hits: Vec<Hit>,
    /// The nearest version at or above the one asked (or the lowest version after every known
    /// fix, with no version) that no known advisory affects; `None` when no fix exists.
    pub nearest_safe: Option<String>,
}

impl Report {
    /// Whether a malicious-package report affects the package.
    pub fn malicious(&self) -> bool {
        self.hits.iter().any(|h| h.malicious)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_per_ecosystem() {
        assert_eq!(normalize_name("PyPI", "Nasrtox"), "nasrtox");
        assert_eq!(normalize_name("PyPI", "Foo__Bar.-baz"), "foo-bar-baz");
        assert_eq!(
            normalize_name("crates.io", "replit_ruspty"),
            "replit-ruspty"
        );
        assert_eq!(normalize_name("npm", "@Solana/web3.js"), "@solana/web3.js");
        assert_eq!(
            normalize_name("Go", "github.com/BufferZoneCorp/go-retryablehttp"),
            "github.com/BufferZoneCorp/go-retryablehttp"
        );
        assert_eq!(osv_ecosystem("cargo").ok(), Some("crates.io"));
        assert!(osv_ecosystem("maven").is_err());
    }
}
