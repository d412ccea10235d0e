//! The policy file `sentinel.toml`: allow/deny/private lists, thresholds, per-rule actions,
//! registries, cache and offline mode. Unknown keys are errors, so a typo never silently weakens
//! the policy. See `sentinel.toml.example` for every key with its default.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::ecosystem::{Ecosystem, PackageRef};
use crate::typosquat::TyposquatConfig;
use crate::verdict::{Decision, codes};

/// File name searched upward from the working directory.
pub const POLICY_FILE: &str = "sentinel.toml";

/// Errors reading a policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid policy TOML.
    #[error("invalid policy {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A glob in a list is malformed.
    #[error("invalid pattern `{pattern}` in [{list}]: {message}")]
    Pattern {
        /// The list (`allow`, `deny`, `private`).
        list: String,
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
}

/// What to do when the registry cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FailMode {
    /// Block: the package could not be verified (default).
    #[default]
    Closed,
    /// Warn and let it through.
    Open,
}

/// What the policy does with a finding code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleAction {
    /// Report only.
    Allow,
    /// Warn.
    Warn,
    /// Block.
    Block,
    /// Drop the finding entirely.
    Ignore,
}

/// Registry base URLs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Registries {
    /// PyPI (JSON API at `{pypi}/pypi/{name}/json`).
    pub pypi: String,
    /// npm registry.
    pub npm: String,
    /// crates.io sparse index.
    pub crates: String,
    /// Go module proxy.
    pub go: String,
    /// npm downloads API (`{npm-downloads}/downloads/point/last-month/{name}`), asked only about
    /// a look-alike of a popular name, for the popularity gap; empty: not asked.
    #[serde(rename = "npm-downloads")]
    pub npm_downloads: String,
}

impl Default for Registries {
    fn default() -> Self {
        Registries {
            pypi: "https://pypi.org".into(),
            npm: "https://registry.npmjs.org".into(),
            crates: "https://index.crates.io".into(),
            go: "https://proxy.golang.org".into(),
            npm_downloads: crate::corpus_update::NPM_DOWNLOADS_API.into(),
        }
    }
}

impl Registries {
    /// Base URL for an ecosystem.
    pub fn get(&self, eco: Ecosystem) -> &str {
        match eco {
            Ecosystem::Pypi => &self.pypi,
            Ecosystem::Npm => &self.npm,
            Ecosystem::CratesIo => &self.crates,
            Ecosystem::Go => &self.go,
        }
    }

    /// Applies `SENTINEL_PYPI_URL`, `SENTINEL_NPM_URL`, `SENTINEL_CRATES_URL`, `SENTINEL_GO_URL`,
    /// `SENTINEL_NPM_DOWNLOADS_URL`.
    pub fn apply_env(&mut self) {
        for (var, slot) in [
            ("SENTINEL_PYPI_URL", &mut self.pypi),
            ("SENTINEL_NPM_URL", &mut self.npm),
            ("SENTINEL_CRATES_URL", &mut self.crates),
            ("SENTINEL_GO_URL", &mut self.go),
            ("SENTINEL_NPM_DOWNLOADS_URL", &mut self.npm_downloads),
        ] {
            if let Ok(v) = std::env::var(var)
                && !v.is_empty()
            {
                *slot = v;
            }
        }
    }
}

/// Network behaviour.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct NetworkConfig {
    /// Seconds before one request is abandoned.
    pub timeout_secs: f64,
    /// Retries after a timeout, connection error, 429 or 5xx.
    pub retries: u32,
    /// First backoff in milliseconds (doubles on each retry).
    pub backoff_ms: u64,
    /// Lookups in flight at once.
    pub concurrency: usize,
    /// Largest registry response accepted, in bytes (a defence against memory exhaustion).
    pub max_response_bytes: usize,
    /// Extra CA certificates (PEM bundle) to trust besides the built-in roots, e.g. a company's
    /// TLS-inspecting proxy. Default: `$SSL_CERT_FILE`, else the system bundle
    /// `/etc/ssl/certs/ca-certificates.crt` when present.
    pub ca_file: Option<PathBuf>,
}

impl NetworkConfig {
    /// The CA bundle to add: the configured one, `$SSL_CERT_FILE`, or the system bundle.
    pub fn ca_bundle(&self) -> Option<PathBuf> {
        if let Some(p) = &self.ca_file {
            return Some(p.clone());
        }
        if let Ok(p) = std::env::var("SSL_CERT_FILE")
            && !p.is_empty()
        {
            return Some(PathBuf::from(p));
        }
        let system = Path::new("/etc/ssl/certs/ca-certificates.crt");
        system.is_file().then(|| system.to_path_buf())
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            timeout_secs: 10.0,
            retries: 2,
            backoff_ms: 200,
            concurrency: 16,
            max_response_bytes: 64 * 1024 * 1024,
            ca_file: None,
        }
    }
}

/// Cache settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct CacheConfig {
    /// Directory of `cache.sqlite` (default `$SENTINEL_CACHE_DIR` or `~/.cache/sentinel`).
    pub dir: Option<PathBuf>,
    /// Hours a found package stays fresh (default 24).
    pub ttl_hours: Option<f64>,
    /// Hours a not-found answer stays fresh (default 1: names get registered).
    pub negative_ttl_hours: Option<f64>,
}

/// Risk-signal thresholds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Thresholds {
    /// A first release younger than this many days is a `young-package` finding.
    pub min_age_days: f64,
    /// Fewer versions than this is a `few-versions` finding.
    pub min_versions: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_age_days: 30.0,
            min_versions: 3,
        }
    }
}

/// Package lists: entries are `glob` (any ecosystem) or `ecosystem:glob` (`npm:@corp/*`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Lists {
    /// Never flagged (findings kept as information).
    pub allow: Vec<String>,
    /// Always blocked, never looked up.
    pub deny: Vec<String>,
    /// Internal packages: never sent upstream, never flagged.
    pub private: Vec<String>,
}

/// The whole policy file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Policy {
    /// Registry unreachable: `closed` blocks (default), `open` warns.
    pub fail: FailMode,
    /// Answer from cache and corpus only.
    pub offline: bool,
    /// Exit code when something warned and nothing blocked (default 1; 0 lets warnings pass).
    pub warn_exit_code: Option<u8>,
    /// Package lists.
    pub packages: Lists,
    /// Risk thresholds.
    pub thresholds: Thresholds,
    /// Typosquat tunables.
    pub typosquat: TyposquatConfig,
    /// Per finding code: `allow`, `warn`, `block` or `ignore`.
    pub rules: BTreeMap<String, RuleAction>,
    /// Registry base URLs.
    pub registries: Registries,
    /// Network behaviour.
    pub network: NetworkConfig,
    /// Cache.
    pub cache: CacheConfig,
    /// Corpus files replacing the embedded ones, by ecosystem (`pypi`, `npm`, `crates`, `go`).
    pub corpus: BTreeMap<String, PathBuf>,
    /// OSV advisories: mode, severity threshold, ignore list, URLs.
    pub advisories: crate::advisory::check::AdvisoryPolicy,
}

impl Policy {
    /// Parses policy TOML.
    pub fn from_toml(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        for code in p.rules.keys() {
            if !codes::ALL.contains(&code.as_str()) && !code.starts_with("advisory") {
                return Err(PolicyError::Parse {
                    path: path.to_path_buf(),
                    message: format!(
                        "unknown rule `{code}` in [rules]; known: {}",
                        codes::ALL.join(", ")
                    ),
                });
            }
        }
        for key in p.corpus.keys() {
            if key.parse::<Ecosystem>().is_err() {
                return Err(PolicyError::Parse {
                    path: path.to_path_buf(),
                    message: format!("unknown ecosystem `{key}` in [corpus]"),
                });
            }
        }
        PackageMatcher::new(&p.packages)?;
        Ok(p)
    }

    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::from_toml(&text, path)
    }

    /// Finds `sentinel.toml` in `start` or a parent directory.
    pub fn find_upward(start: &Path) -> Option<PathBuf> {
        let mut dir = Some(start);
        while let Some(d) = dir {
            let p = d.join(POLICY_FILE);
            if p.is_file() {
                return Some(p);
            }
            dir = d.parent();
        }
        None
    }

    /// The default action of a finding code, before `[rules]`.
    pub fn default_action(&self, code: &str) -> RuleAction {
        match code {
            codes::INVALID_NAME
            | codes::NOT_FOUND
            | codes::VERSION_NOT_FOUND
            | codes::QUARANTINED
            | codes::SECURITY_HOLDING
            | codes::REMOVED
            | codes::TYPOSQUAT
            | codes::DENIED
            | codes::ALL_YANKED
            | codes::ADVISORY_MALICIOUS => RuleAction::Block,
            codes::UNVERIFIED | codes::ADVISORY_UNAVAILABLE => match self.fail {
                FailMode::Closed => RuleAction::Block,
                FailMode::Open => RuleAction::Warn,
            },
            codes::VERSION_YANKED
            | codes::DEPRECATED
            | codes::PLACEHOLDER
            | codes::YOUNG_PACKAGE
            | codes::INSTALL_SCRIPTS => RuleAction::Warn,
            codes::FEW_VERSIONS | codes::NO_REPOSITORY | codes::ADVISORY_HISTORY => {
                RuleAction::Allow
            }
            codes::ADVISORY_INFORMATIONAL => RuleAction::Warn,
            _ => RuleAction::Warn,
        }
    }

    /// The action for a finding code (`[rules]` first, then the default).
    pub fn action(&self, code: &str) -> RuleAction {
        self.rules
            .get(code)
            .copied()
            .unwrap_or_else(|| self.default_action(code))
    }

    /// The action for one finding: `[rules]` first; an `advisory-vulnerable` finding without a
    /// rule is decided by `[advisories] block-severity` against its advisory severity.
    pub fn finding_action(&self, f: &crate::verdict::Finding) -> RuleAction {
        if f.code == codes::ADVISORY_VULNERABLE && !self.rules.contains_key(&f.code) {
            let level = f
                .evidence
                .get("severity")
                .and_then(|s| s.as_str())
                .and_then(|s| s.parse().ok())
                .unwrap_or(crate::advisory::Level::Unknown);
            return match self.advisories.vulnerable_decision(level) {
                Decision::Block => RuleAction::Block,
                _ => RuleAction::Warn,
            };
        }
        self.action(&f.code)
    }

    /// Exit code when the worst decision is warn.
    pub fn warn_exit(&self) -> u8 {
        self.warn_exit_code.unwrap_or(1)
    }

    /// Cache directory: policy, then `SENTINEL_CACHE_DIR`, then `~/.cache/sentinel`.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(d) = &self.cache.dir {
            return d.clone();
        }
        if let Ok(d) = std::env::var("SENTINEL_CACHE_DIR")
            && !d.is_empty()
        {
            return PathBuf::from(d);
        }
        if let Ok(d) = std::env::var("XDG_CACHE_HOME")
            && !d.is_empty()
        {
            return PathBuf::from(d).join("sentinel");
        }
        match std::env::var("HOME") {
            Ok(h) if !h.is_empty() => PathBuf::from(h).join(".cache/sentinel"),
            _ => std::env::temp_dir().join("sentinel-cache"),
        }
    }
}

/// Which list matched a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListMatch {
    /// A deny pattern.
    Deny(String),
    /// A private pattern.
    Private(String),
    /// An allow pattern.
    Allow(String),
}

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    eco: Option<Ecosystem>,
    glob: GlobMatcher,
}

/// Compiled allow/deny/private lists.
#[derive(Debug, Clone, Default)]
pub struct PackageMatcher {
    deny: Vec<Pattern>,
    private: Vec<Pattern>,
    allow: Vec<Pattern>,
}

fn compile(list: &str, entries: &[String]) -> Result<Vec<Pattern>, PolicyError> {
    let mut out = Vec::new();
    for e in entries {
        let (eco, pat) = match e.split_once(':') {
            Some((eco, pat)) => match eco.parse::<Ecosystem>() {
                Ok(eco) => (Some(eco), pat),
                Err(_) => (None, e.as_str()),
            },
            None => (None, e.as_str()),
        };
        let glob = Glob::new(&pat.to_ascii_lowercase()).map_err(|err| PolicyError::Pattern {
            list: list.into(),
            pattern: e.clone(),
            message: err.to_string(),
        })?;
        out.push(Pattern {
            text: e.clone(),
            eco,
            glob: glob.compile_matcher(),
        });
    }
    Ok(out)
}

impl PackageMatcher {
    /// Compiles the lists.
    pub fn new(lists: &Lists) -> Result<Self, PolicyError> {
        Ok(PackageMatcher {
            deny: compile("deny", &lists.deny)?,
            private: compile("private", &lists.private)?,
            allow: compile("allow", &lists.allow)?,
        })
    }

    /// Deny wins over private, private over allow. Names are matched lower-case, both as
    /// written and normalised.
    pub fn check(&self, pkg: &PackageRef) -> Option<ListMatch> {
        let raw = pkg.name.to_ascii_lowercase();
        let norm = pkg.normalized_name();
        let hit = |pats: &[Pattern]| {
            pats.iter()
                .find(|p| {
                    p.eco.is_none_or(|e| e == pkg.ecosystem)
                        && (p.glob.is_match(&raw) || p.glob.is_match(&norm))
                })
                .map(|p| p.text.clone())
        };
        if let Some(p) = hit(&self.deny) {
            return Some(ListMatch::Deny(p));
        }
        if let Some(p) = hit(&self.private) {
            return Some(ListMatch::Private(p));
        }
        hit(&self.allow).map(ListMatch::Allow)
    }
}

/// Maps a rule action to the decision it contributes (`None` = drop the finding).
pub fn rule_decision(a: RuleAction) -> Option<Decision> {
    match a {
        RuleAction::Allow => Some(Decision::Allow),
        RuleAction::Warn => Some(Decision::Warn),
        RuleAction::Block => Some(Decision::Block),
        RuleAction::Ignore => None,
    }
}

/// The commented example policy (also `sentinel.toml.example` in the crate).
pub const EXAMPLE: &str = include_str!("../sentinel.toml.example");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_policy_parses() {
        let p = Policy::from_toml(EXAMPLE, Path::new("example")).unwrap();
        assert_eq!(p.fail, FailMode::Closed);
        assert!(!p.packages.private.is_empty());
    }

    #[test]
    fn unknown_keys_and_rules_are_errors() {
        assert!(Policy::from_toml("fial = \"open\"", Path::new("x")).is_err());
        let e = Policy::from_toml("[rules]\ntypo-squat = \"warn\"", Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("unknown rule"), "{e}");
        assert!(Policy::from_toml("[packages]\nallow = [\"a[\"]", Path::new("x")).is_err());
    }

    #[test]
    fn lists_match_globs_scopes_and_ecosystems() {
        let lists = Lists {
            allow: vec!["pypi:acme-*".into()],
            deny: vec!["npm:evil-*".into()],
            private: vec!["npm:@corp/*".into(), "internal_tool".into()],
        };
        let m = PackageMatcher::new(&lists).unwrap();
        let npm = |n: &str| PackageRef::new(Ecosystem::Npm, n);
        assert_eq!(
            m.check(&npm("@corp/ui")),
            Some(ListMatch::Private("npm:@corp/*".into()))
        );
        assert_eq!(
            m.check(&npm("evil-thing")),
            Some(ListMatch::Deny("npm:evil-*".into()))
        );
        assert_eq!(m.check(&npm("acme-x")), None);
        let py = PackageRef::new(Ecosystem::Pypi, "Acme_Utils");
        assert_eq!(m.check(&py), Some(ListMatch::Allow("pypi:acme-*".into())));
        let py2 = PackageRef::new(Ecosystem::Pypi, "internal_tool");
        assert!(matches!(m.check(&py2), Some(ListMatch::Private(_))));
    }
}
