//! Verdicts: what the engine answers for one package. A finding is data, not an error: each has a
//! stable kebab-case code (also the SARIF rule id), a severity, a message and its evidence.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ecosystem::PackageRef;

/// The engine's decision for one package.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Nothing found that needs attention.
    Allow,
    /// Findings a person should look at; not blocked.
    Warn,
    /// Must not be installed.
    Block,
}

impl Decision {
    /// Upper-case label used in text output.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Allow => "ALLOW",
            Decision::Warn => "WARN",
            Decision::Block => "BLOCK",
        }
    }
}

/// How serious a finding is on its own (the policy turns findings into a decision).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information only.
    Info,
    /// Worth a look.
    Low,
    /// Likely a problem.
    Medium,
    /// Very likely a problem.
    High,
    /// Known bad.
    Critical,
}

/// Stable finding codes. They are part of the JSON and SARIF output (SARIF rule ids); never rename.
pub mod codes {
    /// The name breaks the ecosystem's syntax rules; nothing was sent upstream.
    pub const INVALID_NAME: &str = "invalid-name";
    /// The package does not exist in the registry.
    pub const NOT_FOUND: &str = "not-found";
    /// The package exists but the requested version does not.
    pub const VERSION_NOT_FOUND: &str = "version-not-found";
    /// The requested version was yanked.
    pub const VERSION_YANKED: &str = "version-yanked";
    /// Every version of the package is yanked.
    pub const ALL_YANKED: &str = "all-versions-yanked";
    /// The package (or the requested version) is deprecated.
    pub const DEPRECATED: &str = "deprecated";
    /// PyPI quarantined project (PEP 792) or a placeholder project without releases.
    pub const QUARANTINED: &str = "quarantined";
    /// A project with no release files at all (reserved name / placeholder).
    pub const PLACEHOLDER: &str = "placeholder";
    /// The registry knows the name but lists no versions (unpublished or taken down).
    pub const REMOVED: &str = "removed";
    /// npm replaced the package with a `0.0.1-security` holding (removed malware).
    pub const SECURITY_HOLDING: &str = "security-holding";
    /// The name is a likely typosquat of a popular package.
    pub const TYPOSQUAT: &str = "typosquat";
    /// The first release is younger than the policy's minimum age.
    pub const YOUNG_PACKAGE: &str = "young-package";
    /// Very few versions were ever published.
    pub const FEW_VERSIONS: &str = "few-versions";
    /// npm install scripts (preinstall/install/postinstall) run code at install time.
    pub const INSTALL_SCRIPTS: &str = "install-scripts";
    /// No source repository link in the registry metadata.
    pub const NO_REPOSITORY: &str = "no-repository";
    /// The registry could not be reached or answered badly; the package is unverified.
    pub const UNVERIFIED: &str = "could-not-verify";
    /// A policy deny rule matched.
    pub const DENIED: &str = "denied-by-policy";
    /// A policy allow rule matched (findings kept as information).
    pub const ALLOWED: &str = "allowed-by-policy";
    /// A policy private rule matched: never looked up upstream, never flagged.
    pub const PRIVATE: &str = "private-package";
    /// Every code, for documentation and SARIF rule tables.
    pub const ALL: &[&str] = &[
        INVALID_NAME,
        NOT_FOUND,
        VERSION_NOT_FOUND,
        VERSION_YANKED,
        ALL_YANKED,
        DEPRECATED,
        QUARANTINED,
        PLACEHOLDER,
        REMOVED,
        SECURITY_HOLDING,
        TYPOSQUAT,
        YOUNG_PACKAGE,
        FEW_VERSIONS,
        INSTALL_SCRIPTS,
        NO_REPOSITORY,
        UNVERIFIED,
        DENIED,
        ALLOWED,
        PRIVATE,
    ];
}

/// One thing the engine found about a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Stable kebab-case code (see [`codes`]).
    pub code: String,
    /// Severity of the finding on its own.
    pub severity: Severity,
    /// What the policy made of it (`allow` = information only).
    pub action: Decision,
    /// One human sentence, lower-case, no final period.
    pub message: String,
    /// The facts behind it (registry fields, distances, thresholds).
    #[serde(default)]
    pub evidence: serde_json::Value,
}

/// A name the user may have meant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Suggestion {
    /// The suggested package name.
    pub name: String,
    /// Why it is suggested (the edit that links the two, popularity).
    pub reason: String,
    /// Similarity in [0, 1] (Jaro-Winkler), higher is closer.
    pub score: f64,
}

/// Facts from the registry about a package, as far as the registry exposes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PackageMetadata {
    /// The registry's own spelling of the name.
    pub name: String,
    /// Latest (or highest) version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<String>,
    /// Number of published versions (yanked included).
    pub version_count: usize,
    /// Time of the first release (RFC 3339), when the registry says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_release: Option<String>,
    /// Time of the latest release (RFC 3339), when the registry says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_release: Option<String>,
    /// Source repository URL, when the registry lists one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Short description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Popularity rank in Sentinel's corpus (1 = most popular), if listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popularity_rank: Option<u32>,
    /// Where the facts came from: `registry`, `cache` or `cache-stale` (offline).
    pub source: String,
}

/// The engine's answer for one package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// The package asked about, as asked.
    pub package: PackageRef,
    /// The decision.
    pub decision: Decision,
    /// Everything found, most serious first.
    pub findings: Vec<Finding>,
    /// Names the user may have meant, best first.
    pub suggestions: Vec<Suggestion>,
    /// Registry facts, when the package was looked up and found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PackageMetadata>,
}

impl Verdict {
    /// True when a finding with this code is present.
    pub fn has(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    /// The most important finding that drove the decision, if any.
    pub fn main_finding(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.action == self.decision && self.decision != Decision::Allow)
            .max_by_key(|f| f.severity)
    }
}
