//! Ecosystems, package references and each ecosystem's own name rules (syntax and normalisation).
//!
//! Nothing here touches the network: a name that fails these rules is answered with an
//! `invalid-name` finding and never sent upstream.
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A package ecosystem Sentinel knows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Ecosystem {
    /// Python Package Index.
    #[serde(rename = "pypi")]
    Pypi,
    /// npm registry.
    #[serde(rename = "npm")]
    Npm,
    /// crates.io (Rust).
    #[serde(rename = "crates.io")]
    CratesIo,
    /// Go modules.
    #[serde(rename = "go")]
    Go,
}

/// The ecosystem string was not one Sentinel knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ecosystem `{0}` (expected one of: pypi, npm, crates.io, go)")]
pub struct UnknownEcosystem(pub String);

impl Ecosystem {
    /// Every ecosystem, in a fixed order.
    pub const ALL: [Ecosystem; 4] = [
        Ecosystem::Pypi,
        Ecosystem::Npm,
        Ecosystem::CratesIo,
        Ecosystem::Go,
    ];

    /// Short lower-case identifier used in output (`pypi`, `npm`, `crates.io`, `go`).
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Pypi => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Go => "go",
        }
    }

    /// The ecosystem string OSV uses (`PyPI`, `npm`, `crates.io`, `Go`).
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::Pypi => "PyPI",
            Ecosystem::Npm => "npm",
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Go => "Go",
        }
    }

    /// File stem of this ecosystem's corpus in `data/corpus/` (`pypi`, `npm`, `crates`, `go`).
    pub fn corpus_stem(self) -> &'static str {
        match self {
            Ecosystem::Pypi => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::CratesIo => "crates",
            Ecosystem::Go => "go",
        }
    }

    /// Longest name accepted before any lookup (the registries' own limits, or a generous bound).
    pub fn max_name_len(self) -> usize {
        match self {
            // PyPI has no documented limit; real names stay far below this.
            Ecosystem::Pypi => 200,
            Ecosystem::Npm => 214,
            Ecosystem::CratesIo => 64,
            Ecosystem::Go => 500,
        }
    }

    /// Normalises a name by the ecosystem's rules, for comparison (not for URLs).
    ///
    /// PyPI: PEP 503 (lower-case, runs of `-_.` become `-`); crates.io: lower-case, `_` is `-`;
    /// npm and Go: lower-case (registries are case-sensitive, but a case variant of a popular
    /// name is a confusion risk, so comparisons ignore case).
    pub fn normalize(self, name: &str) -> String {
        match self {
            Ecosystem::Pypi => {
                let mut out = String::with_capacity(name.len());
                let mut in_sep = false;
                for c in name.chars() {
                    if matches!(c, '-' | '_' | '.') {
                        if !in_sep {
                            out.push('-');
                        }
                        in_sep = true;
                    } else {
                        out.push(c.to_ascii_lowercase());
                        in_sep = false;
                    }
                }
                out
            }
            Ecosystem::CratesIo => name
                .chars()
                .map(|c| {
                    if c == '_' {
                        '-'
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect(),
            Ecosystem::Npm | Ecosystem::Go => name.to_ascii_lowercase(),
        }
    }

    /// Checks a name against the ecosystem's syntax; `Err` says what is wrong.
    pub fn validate_name(self, name: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("the name is empty".into());
        }
        if name.len() > self.max_name_len() {
            return Err(format!(
                "the name is {} bytes long; {} allows at most {}",
                name.len(),
                self.as_str(),
                self.max_name_len()
            ));
        }
        if let Some(c) = name.chars().find(|c| !c.is_ascii()) {
            return Err(format!(
                "the name contains the non-ASCII character {c:?} (U+{:04X}); registry names are ASCII, so this may be a look-alike",
                c as u32
            ));
        }
        if let Some(c) = name.chars().find(|c| c.is_ascii_control() || *c == ' ') {
            return Err(format!(
                "the name contains the control or space character {c:?}"
            ));
        }
        if name.contains("..") || name.contains('\\') {
            return Err("the name contains a path trick (`..` or `\\`)".into());
        }
        match self {
            Ecosystem::Pypi => {
                let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
                if let Some(c) = name.chars().find(|c| !ok_char(*c)) {
                    return Err(format!(
                        "`{c}` is not allowed in a PyPI name (letters, digits, `-`, `_`, `.` only)"
                    ));
                }
                let first = name.chars().next().unwrap_or('-');
                let last = name.chars().last().unwrap_or('-');
                if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
                    return Err("a PyPI name must start and end with a letter or digit".into());
                }
            }
            Ecosystem::CratesIo => {
                let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
                if let Some(c) = name.chars().find(|c| !ok_char(*c)) {
                    return Err(format!(
                        "`{c}` is not allowed in a crate name (letters, digits, `-`, `_` only)"
                    ));
                }
                if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    return Err("a crate name must start with a letter".into());
                }
            }
            Ecosystem::Npm => {
                let (scope, bare) = split_npm_scope(name);
                if let Some(scope) = scope {
                    check_npm_part(scope, "scope")?;
                } else if name.starts_with('@') {
                    return Err("a scoped npm name must look like `@scope/name`".into());
                }
                check_npm_part(bare, "name")?;
                if bare.starts_with('.') || bare.starts_with('_') {
                    return Err("an npm name cannot start with `.` or `_`".into());
                }
            }
            Ecosystem::Go => {
                let ok_char =
                    |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '/');
                if let Some(c) = name.chars().find(|c| !ok_char(*c)) {
                    return Err(format!("`{c}` is not allowed in a Go module path"));
                }
                for elem in name.split('/') {
                    if elem.is_empty() {
                        return Err("a Go module path has an empty path element".into());
                    }
                    if elem.starts_with('.') || elem.ends_with('.') {
                        return Err("a Go module path element cannot start or end with `.`".into());
                    }
                }
                let first = name.split('/').next().unwrap_or("");
                if !first.contains('.') && first != "std" {
                    return Err(format!(
                        "a Go module path starts with a domain name (like `github.com/…`); `{first}` has no dot"
                    ));
                }
                if first.starts_with('-') {
                    return Err("a Go module path cannot start with `-`".into());
                }
            }
        }
        Ok(())
    }
}

fn check_npm_part(part: &str, what: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err(format!("the npm {what} is empty"));
    }
    let ok_char = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '-' | '_' | '.' | '~' | '!' | '*' | '\'' | '(' | ')')
    };
    if let Some(c) = part.chars().find(|c| !ok_char(*c)) {
        return Err(format!("`{c}` is not allowed in an npm {what}"));
    }
    Ok(())
}

/// Splits `@scope/name` into (`Some("scope")`, `"name"`); unscoped names give (`None`, name).
pub fn split_npm_scope(name: &str) -> (Option<&str>, &str) {
    if let Some(rest) = name.strip_prefix('@')
        && let Some((scope, bare)) = rest.split_once('/')
    {
        return (Some(scope), bare);
    }
    (None, name)
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Ecosystem {
    type Err = UnknownEcosystem;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pypi" | "pip" | "python" | "py" => Ok(Ecosystem::Pypi),
            "npm" | "node" | "js" | "javascript" => Ok(Ecosystem::Npm),
            "crates.io" | "crates" | "cargo" | "crate" | "rust" => Ok(Ecosystem::CratesIo),
            "go" | "golang" | "gomod" => Ok(Ecosystem::Go),
            _ => Err(UnknownEcosystem(s.to_string())),
        }
    }
}

/// One package, optionally at one version, in one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct PackageRef {
    /// The ecosystem.
    pub ecosystem: Ecosystem,
    /// The name as written (not normalised).
    pub name: String,
    /// An exact version, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl PackageRef {
    /// A reference without a version.
    pub fn new(ecosystem: Ecosystem, name: impl Into<String>) -> Self {
        PackageRef {
            ecosystem,
            name: name.into(),
            version: None,
        }
    }

    /// A reference with a version.
    pub fn with_version(
        ecosystem: Ecosystem,
        name: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        PackageRef {
            ecosystem,
            name: name.into(),
            version: Some(version.into()),
        }
    }

    /// Parses `name`, `name@version` (npm scopes `@scope/name@1.0` included), and for PyPI also
    /// `name==version`. The name is not validated here (the engine does that and reports it).
    pub fn parse(ecosystem: Ecosystem, spec: &str) -> Self {
        let spec = spec.trim();
        if ecosystem == Ecosystem::Pypi
            && let Some((n, v)) = spec.split_once("==")
        {
            return Self::with_version(ecosystem, n.trim(), v.trim());
        }
        // An `@` at position 0 starts an npm scope, not a version.
        let search_from = usize::from(spec.starts_with('@'));
        match spec[search_from..].rfind('@') {
            Some(i) => {
                let at = search_from + i;
                let (n, v) = (&spec[..at], &spec[at + 1..]);
                if v.is_empty() {
                    Self::new(ecosystem, n)
                } else {
                    Self::with_version(ecosystem, n, v)
                }
            }
            None => Self::new(ecosystem, spec),
        }
    }

    /// The name normalised by the ecosystem's rules.
    pub fn normalized_name(&self) -> String {
        self.ecosystem.normalize(&self.name)
    }
}

impl fmt::Display for PackageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ecosystem, self.name)?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

/// Escapes a Go module path for the module proxy: upper-case letters become `!` + lower-case.
pub fn go_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The crates.io sparse-index path of a crate (`1/a`, `2/ab`, `3/a/abc`, `se/rd/serde`).
pub fn crates_index_path(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ecosystem_aliases_and_osv_names() {
        assert_eq!("crates".parse::<Ecosystem>().unwrap(), Ecosystem::CratesIo);
        assert_eq!("cargo".parse::<Ecosystem>().unwrap(), Ecosystem::CratesIo);
        assert_eq!("PyPI".parse::<Ecosystem>().unwrap(), Ecosystem::Pypi);
        assert_eq!(Ecosystem::Pypi.osv_name(), "PyPI");
        assert_eq!(Ecosystem::Go.osv_name(), "Go");
        assert!("maven".parse::<Ecosystem>().is_err());
        let json = serde_json::to_string(&Ecosystem::CratesIo).unwrap();
        assert_eq!(json, "\"crates.io\"");
    }

    #[test]
    fn normalises_per_ecosystem() {
        assert_eq!(Ecosystem::Pypi.normalize("Foo__Bar.-baz"), "foo-bar-baz");
        assert_eq!(Ecosystem::CratesIo.normalize("Serde_JSON"), "serde-json");
        assert_eq!(Ecosystem::Npm.normalize("@Types/Node"), "@types/node");
    }

    #[test]
    fn parses_specs_with_scopes_and_versions() {
        let p = PackageRef::parse(Ecosystem::Npm, "@types/node@20.11.0");
        assert_eq!(p.name, "@types/node");
        assert_eq!(p.version.as_deref(), Some("20.11.0"));
        let p = PackageRef::parse(Ecosystem::Npm, "@types/node");
        assert_eq!(p.name, "@types/node");
        assert_eq!(p.version, None);
        let p = PackageRef::parse(Ecosystem::Pypi, "requests==2.31.0");
        assert_eq!(p.name, "requests");
        assert_eq!(p.version.as_deref(), Some("2.31.0"));
        let p = PackageRef::parse(Ecosystem::Go, "github.com/gin-gonic/gin@v1.9.1");
        assert_eq!(p.name, "github.com/gin-gonic/gin");
        assert_eq!(p.version.as_deref(), Some("v1.9.1"));
    }

    #[test]
    fn rejects_bad_names_with_reasons() {
        for (eco, name) in [
            (Ecosystem::Pypi, ""),
            (Ecosystem::Pypi, "../etc/passwd"),
            (Ecosystem::Pypi, "reqüests"),
            (Ecosystem::Pypi, "-requests"),
            (Ecosystem::Pypi, "a b"),
            (Ecosystem::Npm, "@scope"),
            (Ecosystem::Npm, ".hidden"),
            (Ecosystem::Npm, "a/b"),
            (Ecosystem::CratesIo, "1serde"),
            (Ecosystem::CratesIo, "serde.json"),
            (Ecosystem::Go, "gin"),
            (Ecosystem::Go, "github.com//x"),
        ] {
            assert!(eco.validate_name(name).is_err(), "{eco} {name:?} accepted");
        }
        let long = "a".repeat(300);
        assert!(Ecosystem::Npm.validate_name(&long).is_err());
        for (eco, name) in [
            (Ecosystem::Pypi, "zope.interface"),
            (Ecosystem::Npm, "@types/node"),
            (Ecosystem::Npm, "lodash.merge"),
            (Ecosystem::CratesIo, "serde_json"),
            (Ecosystem::Go, "github.com/BurntSushi/toml"),
            (Ecosystem::Go, "golang.org/x/net"),
        ] {
            assert!(eco.validate_name(name).is_ok(), "{eco} {name:?} rejected");
        }
    }

    #[test]
    fn registry_paths() {
        assert_eq!(
            go_escape("github.com/BurntSushi/toml"),
            "github.com/!burnt!sushi/toml"
        );
        assert_eq!(crates_index_path("serde"), "se/rd/serde");
        assert_eq!(crates_index_path("syn"), "3/s/syn");
        assert_eq!(crates_index_path("cc"), "2/cc");
        assert_eq!(crates_index_path("A"), "1/a");
    }
}
