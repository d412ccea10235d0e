//! Manifest and lockfile readers: requirements.txt, pyproject.toml, package.json,
//! package-lock.json, Cargo.toml, Cargo.lock, go.mod. Each yields the registry packages it names
//! (path, git and URL dependencies are skipped: they are not registry names).
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;

use crate::ecosystem::{Ecosystem, PackageRef};

/// Manifests larger than this are refused (a defence against memory exhaustion).
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// Errors reading a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is too large.
    #[error("{0} is larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge(String),
    /// The kind could not be told from the file name.
    #[error(
        "cannot tell the manifest kind of {0}; name the file like requirements.txt, pyproject.toml, package.json, package-lock.json, Cargo.toml, Cargo.lock or go.mod, or pass --kind"
    )]
    UnknownKind(String),
    /// The content is not valid for its kind.
    #[error("invalid {kind}: {message}")]
    Parse {
        /// The kind.
        kind: ManifestKind,
        /// What is wrong.
        message: String,
    },
}

/// A manifest format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// pip requirements file.
    RequirementsTxt,
    /// PEP 621 / Poetry pyproject.toml.
    PyprojectToml,
    /// npm package.json.
    PackageJson,
    /// npm package-lock.json (v1, v2, v3) or npm-shrinkwrap.json.
    PackageLockJson,
    /// Cargo.toml.
    CargoToml,
    /// Cargo.lock.
    CargoLock,
    /// go.mod.
    GoMod,
}

impl ManifestKind {
    /// Every kind.
    pub const ALL: [ManifestKind; 7] = [
        ManifestKind::RequirementsTxt,
        ManifestKind::PyprojectToml,
        ManifestKind::PackageJson,
        ManifestKind::PackageLockJson,
        ManifestKind::CargoToml,
        ManifestKind::CargoLock,
        ManifestKind::GoMod,
    ];

    /// Conventional file name.
    pub fn file_name(self) -> &'static str {
        match self {
            ManifestKind::RequirementsTxt => "requirements.txt",
            ManifestKind::PyprojectToml => "pyproject.toml",
            ManifestKind::PackageJson => "package.json",
            ManifestKind::PackageLockJson => "package-lock.json",
            ManifestKind::CargoToml => "Cargo.toml",
            ManifestKind::CargoLock => "Cargo.lock",
            ManifestKind::GoMod => "go.mod",
        }
    }

    /// The ecosystem of its packages.
    pub fn ecosystem(self) -> Ecosystem {
        match self {
            ManifestKind::RequirementsTxt | ManifestKind::PyprojectToml => Ecosystem::Pypi,
            ManifestKind::PackageJson | ManifestKind::PackageLockJson => Ecosystem::Npm,
            ManifestKind::CargoToml | ManifestKind::CargoLock => Ecosystem::CratesIo,
            ManifestKind::GoMod => Ecosystem::Go,
        }
    }

    /// Tells the kind from a file name (`requirements-dev.txt`, `npm-shrinkwrap.json` included).
    pub fn detect(path: &Path) -> Option<ManifestKind> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        Some(match name.as_str() {
            "pyproject.toml" => ManifestKind::PyprojectToml,
            "package.json" => ManifestKind::PackageJson,
            "package-lock.json" | "npm-shrinkwrap.json" => ManifestKind::PackageLockJson,
            "cargo.toml" => ManifestKind::CargoToml,
            "cargo.lock" => ManifestKind::CargoLock,
            "go.mod" => ManifestKind::GoMod,
            n if n.ends_with(".txt") && n.contains("requirements") => ManifestKind::RequirementsTxt,
            n if n.ends_with(".in") && n.contains("requirements") => ManifestKind::RequirementsTxt,
            _ => return None,
        })
    }
}

impl fmt::Display for ManifestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

impl FromStr for ManifestKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.to_ascii_lowercase();
        ManifestKind::ALL
            .into_iter()
            .find(|k| k.file_name().to_ascii_lowercase() == l)
            .or(match l.as_str() {
                "requirements" | "pip" => Some(ManifestKind::RequirementsTxt),
                "pyproject" => Some(ManifestKind::PyprojectToml),
                "package-lock" | "npm-shrinkwrap.json" => Some(ManifestKind::PackageLockJson),
                "gomod" => Some(ManifestKind::GoMod),
                _ => None,
            })
            .ok_or_else(|| {
                format!(
                    "unknown manifest kind `{s}` (expected one of: {})",
                    ManifestKind::ALL.map(|k| k.file_name()).join(", ")
                )
            })
    }
}

/// Reads a manifest file; the kind is detected from the name unless given.
pub fn parse_path(
    path: &Path,
    kind: Option<ManifestKind>,
) -> Result<(ManifestKind, Vec<PackageRef>), ManifestError> {
    let shown = path.display().to_string();
    let kind = match kind.or_else(|| ManifestKind::detect(path)) {
        Some(k) => k,
        None => return Err(ManifestError::UnknownKind(shown)),
    };
    let meta = std::fs::metadata(path).map_err(|e| ManifestError::Read {
        path: shown.clone(),
        source: e,
    })?;
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge(shown));
    }
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Read {
        path: shown,
        source: e,
    })?;
    Ok((kind, parse(&text, kind)?))
}

/// Parses manifest content of a known kind into package references (deduplicated, in order).
pub fn parse(content: &str, kind: ManifestKind) -> Result<Vec<PackageRef>, ManifestError> {
    let err = |m: String| ManifestError::Parse { kind, message: m };
    let mut out = match kind {
        ManifestKind::RequirementsTxt => requirements(content),
        ManifestKind::PyprojectToml => {
            let doc: toml::Table = toml::from_str(content).map_err(|e| err(e.to_string()))?;
            pyproject(&doc)
        }
        ManifestKind::PackageJson => {
            let doc: Value = serde_json::from_str(content).map_err(|e| err(e.to_string()))?;
            package_json(&doc)
        }
        ManifestKind::PackageLockJson => {
            let doc: Value = serde_json::from_str(content).map_err(|e| err(e.to_string()))?;
            package_lock(&doc)
        }
        ManifestKind::CargoToml => {
            let doc: toml::Table = toml::from_str(content).map_err(|e| err(e.to_string()))?;
            cargo_toml(&doc)
        }
        ManifestKind::CargoLock => {
            let doc: toml::Table = toml::from_str(content).map_err(|e| err(e.to_string()))?;
            cargo_lock(&doc)
        }
        ManifestKind::GoMod => go_mod(content),
    };
    let mut seen = HashSet::new();
    out.retain(|p| seen.insert((p.name.clone(), p.version.clone())));
    Ok(out)
}

/// One PEP 508 requirement string → name and pinned version (`==x`), if it names a registry
/// package.
fn pep508(req: &str) -> Option<PackageRef> {
    let req = req.split(';').next()?.trim();
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len());
    let name = &req[..end];
    if name.is_empty() {
        return None;
    }
    let mut rest = req[end..].trim_start();
    if rest.starts_with('[') {
        rest = rest.split_once(']').map_or("", |(_, r)| r).trim_start();
    }
    if rest.starts_with('@') {
        // Direct URL reference: not a registry lookup.
        return None;
    }
    let rest = rest.trim_start_matches('(').trim_end_matches(')').trim();
    let version = rest
        .strip_prefix("===")
        .or_else(|| rest.strip_prefix("=="))
        .map(str::trim)
        .filter(|v| !v.contains([',', '*', ' ']) && !v.is_empty());
    Some(PackageRef {
        ecosystem: Ecosystem::Pypi,
        name: name.to_string(),
        version: version.map(str::to_string),
    })
}

fn requirements(content: &str) -> Vec<PackageRef> {
    let mut out = Vec::new();
    let mut logical = String::new();
    for raw in content.lines() {
        let line = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(i) => &raw[..i],
            None => raw,
        };
        if let Some(cont) = line.trim_end().strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let l = std::mem::take(&mut logical);
        let l = l.trim();
        // Options (-r, -e, --index-url, --hash …), URLs and local paths are not registry names.
        if l.is_empty()
            || l.starts_with('-')
            || l.contains("://")
            || l.starts_with('.')
            || l.starts_with('/')
        {
            continue;
        }
        let l = l.split(" --").next().unwrap_or(l);
        if let Some(p) = pep508(l) {
            out.push(p);
        }
    }
    out
}

fn str_array(v: Option<&toml::Value>) -> Vec<&str> {
    v.and_then(toml::Value::as_array)
        .map(|a| a.iter().filter_map(toml::Value::as_str).collect())
        .unwrap_or_default()
}

fn pyproject(doc: &toml::Table) -> Vec<PackageRef> {
    let mut out = Vec::new();
    if let Some(project) = doc.get("project").and_then(toml::Value::as_table) {
        out.extend(
            str_array(project.get("dependencies"))
                .into_iter()
                .filter_map(pep508),
        );
        if let Some(opt) = project
            .get("optional-dependencies")
            .and_then(toml::Value::as_table)
        {
            for v in opt.values() {
                out.extend(str_array(Some(v)).into_iter().filter_map(pep508));
            }
        }
    }
    if let Some(groups) = doc.get("dependency-groups").and_then(toml::Value::as_table) {
        for v in groups.values() {
            out.extend(str_array(Some(v)).into_iter().filter_map(pep508));
        }
    }
    if let Some(poetry) = doc
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(toml::Value::as_table)
    {
        let mut tables: Vec<&toml::Table> = Vec::new();
        for key in ["dependencies", "dev-dependencies"] {
            if let Some(t) = poetry.get(key).and_then(toml::Value::as_table) {
                tables.push(t);
            }
        }
        if let Some(groups) = poetry.get("group").and_then(toml::Value::as_table) {
            for g in groups.values() {
                if let Some(t) = g.get("dependencies").and_then(toml::Value::as_table) {
                    tables.push(t);
                }
            }
        }
        for t in tables {
            for (name, spec) in t {
                if name.eq_ignore_ascii_case("python") {
                    continue;
                }
                if let Some(tbl) = spec.as_table()
                    && (tbl.contains_key("path")
                        || tbl.contains_key("git")
                        || tbl.contains_key("url"))
                {
                    continue;
                }
                let version = spec
                    .as_str()
                    .or_else(|| spec.get("version").and_then(toml::Value::as_str))
                    .map(|v| v.trim().trim_start_matches("==").trim())
                    .filter(|v| {
                        v.chars().next().is_some_and(|c| c.is_ascii_digit())
                            && !v.contains([',', '*', ' ', '<', '>'])
                    });
                out.push(PackageRef {
                    ecosystem: Ecosystem::Pypi,
                    name: name.clone(),
                    version: version.map(str::to_string),
                });
            }
        }
    }
    out
}

/// Exact semver versions only (`1.2.3`, `=1.2.3`, `v1.2.3`); ranges give no version.
fn exact_version(spec: &str) -> Option<String> {
    let s = spec.trim().trim_start_matches('=').trim_start_matches('v');
    semver::Version::parse(s).ok().map(|_| s.to_string())
}

fn package_json(doc: &Value) -> Vec<PackageRef> {
    let mut out = Vec::new();
    for key in [
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
    ] {
        let Some(deps) = doc.get(key).and_then(Value::as_object) else {
            continue;
        };
        for (name, spec) in deps {
            let spec = spec.as_str().unwrap_or("");
            // `npm:real-name@1.0` aliases install `real-name`: that is the one to check.
            if let Some(alias) = spec.strip_prefix("npm:") {
                let p = PackageRef::parse(Ecosystem::Npm, alias);
                out.push(PackageRef {
                    version: p.version.as_deref().and_then(exact_version),
                    ..p
                });
                continue;
            }
            if [
                "file:",
                "link:",
                "git",
                "http:",
                "https:",
                "workspace:",
                "github:",
                "portal:",
            ]
            .iter()
            .any(|p| spec.starts_with(p))
                || (spec.contains('/') && !spec.starts_with('@'))
            {
                continue;
            }
            out.push(PackageRef {
                ecosystem: Ecosystem::Npm,
                name: name.clone(),
                version: exact_version(spec),
            });
        }
    }
    out
}

fn package_lock(doc: &Value) -> Vec<PackageRef> {
    let mut out = Vec::new();
    if let Some(pkgs) = doc.get("packages").and_then(Value::as_object) {
        for (path, entry) in pkgs {
            let Some(idx) = path.rfind("node_modules/") else {
                continue; // the root project
            };
            if entry.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            if let Some(resolved) = entry.get("resolved").and_then(Value::as_str)
                && !(resolved.starts_with("http://") || resolved.starts_with("https://"))
            {
                continue; // file: or git dependencies
            }
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&path[idx + "node_modules/".len()..]);
            out.push(PackageRef {
                ecosystem: Ecosystem::Npm,
                name: name.to_string(),
                version: entry
                    .get("version")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            });
        }
        return out;
    }
    // lockfileVersion 1: nested `dependencies`.
    fn walk(deps: &serde_json::Map<String, Value>, out: &mut Vec<PackageRef>) {
        for (name, entry) in deps {
            let version = entry.get("version").and_then(Value::as_str);
            let registry = entry
                .get("resolved")
                .and_then(Value::as_str)
                .is_none_or(|r| r.starts_with("http"));
            if registry && version.is_some_and(|v| !v.starts_with("file:")) {
                out.push(PackageRef {
                    ecosystem: Ecosystem::Npm,
                    name: name.clone(),
                    version: version.map(str::to_string),
                });
            }
            if let Some(sub) = entry.get("dependencies").and_then(Value::as_object) {
                walk(sub, out);
            }
        }
    }
    if let Some(deps) = doc.get("dependencies").and_then(Value::as_object) {
        walk(deps, &mut out);
    }
    out
}

fn cargo_deps(t: &toml::Table, out: &mut Vec<PackageRef>) {
    for (key, spec) in t {
        let (name, version) = match spec {
            toml::Value::String(v) => (key.clone(), v.clone()),
            toml::Value::Table(tbl) => {
                if tbl.contains_key("path") && !tbl.contains_key("version")
                    || tbl.contains_key("git")
                    || tbl.get("workspace").and_then(toml::Value::as_bool) == Some(true)
                    || tbl.get("registry").is_some()
                {
                    continue;
                }
                let name = tbl
                    .get("package")
                    .and_then(toml::Value::as_str)
                    .unwrap_or(key)
                    .to_string();
                let v = tbl
                    .get("version")
                    .and_then(toml::Value::as_str)
                    .unwrap_or("")
                    .to_string();
                (name, v)
            }
            _ => continue,
        };
        let exact = version
            .trim()
            .strip_prefix('=')
            .and_then(|v| semver::Version::parse(v.trim()).ok())
            .map(|v| v.to_string());
        out.push(PackageRef {
            ecosystem: Ecosystem::CratesIo,
            name,
            version: exact,
        });
    }
}

fn cargo_toml(doc: &toml::Table) -> Vec<PackageRef> {
    let mut out = Vec::new();
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    for k in kinds {
        if let Some(t) = doc.get(k).and_then(toml::Value::as_table) {
            cargo_deps(t, &mut out);
        }
    }
    if let Some(ws) = doc
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(toml::Value::as_table)
    {
        cargo_deps(ws, &mut out);
    }
    if let Some(targets) = doc.get("target").and_then(toml::Value::as_table) {
        for t in targets.values() {
            for k in kinds {
                if let Some(t) = t.get(k).and_then(toml::Value::as_table) {
                    cargo_deps(t, &mut out);
                }
            }
        }
    }
    out
}

fn cargo_lock(doc: &toml::Table) -> Vec<PackageRef> {
    let mut out = Vec::new();
    for p in doc
        .get("package")
        .and_then(toml::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let source = p.get("source").and_then(toml::Value::as_str).unwrap_or("");
        if !source.starts_with("registry+") && !source.starts_with("sparse+") {
            continue; // workspace members, path and git packages
        }
        if let (Some(name), Some(version)) = (
            p.get("name").and_then(toml::Value::as_str),
            p.get("version").and_then(toml::Value::as_str),
        ) {
            out.push(PackageRef::with_version(Ecosystem::CratesIo, name, version));
        }
    }
    out
}

fn go_mod(content: &str) -> Vec<PackageRef> {
    let mut out = Vec::new();
    let mut in_require = false;
    for raw in content.lines() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let spec = if in_require {
            if line == ")" {
                in_require = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("require") {
            let rest = rest.trim();
            if rest == "(" {
                in_require = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let mut parts = spec.split_whitespace();
        if let (Some(module), Some(version)) = (parts.next(), parts.next()) {
            out.push(PackageRef::with_version(
                Ecosystem::Go,
                module.trim_matches('"'),
                version,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[PackageRef]) -> Vec<(String, Option<String>)> {
        v.iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect()
    }

    #[test]
    fn requirements_txt() {
        let txt = "# comment\nrequests==2.31.0  # pinned\nflask>=2\nDjango[bcrypt]==4.2 ; python_version>'3'\n-r other.txt\n--index-url https://x\n./local\ngit+https://github.com/a/b\nfoo @ https://x/foo.whl\nnumpy==1.*\nlong==1.0 \\\n  --hash=sha256:abc\n";
        let got = names(&parse(txt, ManifestKind::RequirementsTxt).unwrap());
        assert_eq!(
            got,
            vec![
                ("requests".into(), Some("2.31.0".into())),
                ("flask".into(), None),
                ("Django".into(), Some("4.2".into())),
                ("numpy".into(), None),
                ("long".into(), Some("1.0".into())),
            ]
        );
    }

    #[test]
    fn package_json_and_lock() {
        let pj = r#"{"dependencies":{"left-pad":"1.3.0","@types/node":"^20","x":"file:../x","y":"npm:real-y@2.0.0","z":"github:a/z"},"devDependencies":{"jest":"~29"}}"#;
        let got = names(&parse(pj, ManifestKind::PackageJson).unwrap());
        assert_eq!(
            got,
            vec![
                ("left-pad".into(), Some("1.3.0".into())),
                ("@types/node".into(), None),
                ("real-y".into(), Some("2.0.0".into())),
                ("jest".into(), None),
            ]
        );
        let lock = r#"{"lockfileVersion":3,"packages":{"":{"name":"app"},
            "node_modules/a":{"version":"1.0.0","resolved":"https://registry.npmjs.org/a/-/a-1.0.0.tgz"},
            "node_modules/a/node_modules/@s/b":{"version":"2.0.0","resolved":"https://r/b.tgz"},
            "node_modules/local":{"resolved":"file:../local","link":true},
            "node_modules/alias":{"name":"real","version":"3.0.0","resolved":"https://r/real.tgz"}}}"#;
        let got = names(&parse(lock, ManifestKind::PackageLockJson).unwrap());
        assert_eq!(
            got,
            vec![
                ("a".into(), Some("1.0.0".into())),
                ("@s/b".into(), Some("2.0.0".into())),
                ("real".into(), Some("3.0.0".into())),
            ]
        );
    }

    #[test]
    fn cargo_and_go() {
        let ct = "[dependencies]\nserde = \"1\"\nfoo = { path = \"../foo\" }\nbar = { version = \"=0.3.1\", package = \"real-bar\" }\n[target.'cfg(unix)'.dependencies]\nnix = \"0.29\"\n";
        let got = names(&parse(ct, ManifestKind::CargoToml).unwrap());
        assert_eq!(
            got,
            vec![
                ("real-bar".into(), Some("0.3.1".into())),
                ("serde".into(), None),
                ("nix".into(), None),
            ]
        );
        let lock = "version = 4\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        assert_eq!(
            names(&parse(lock, ManifestKind::CargoLock).unwrap()),
            vec![("serde".into(), Some("1.0.200".into()))]
        );
        let gm = "module example.com/app\n\ngo 1.22\n\nrequire github.com/gin-gonic/gin v1.9.1\nrequire (\n\tgolang.org/x/net v0.20.0 // indirect\n)\nreplace x => ../x\n";
        assert_eq!(
            names(&parse(gm, ManifestKind::GoMod).unwrap()),
            vec![
                ("github.com/gin-gonic/gin".into(), Some("v1.9.1".into())),
                ("golang.org/x/net".into(), Some("v0.20.0".into())),
            ]
        );
    }

    #[test]
    fn bad_content_is_an_error_not_a_panic() {
        assert!(parse("{", ManifestKind::PackageJson).is_err());
        assert!(parse("[[package", ManifestKind::CargoLock).is_err());
        assert!(ManifestKind::detect(Path::new("x/requirements-dev.txt")).is_some());
        assert!(ManifestKind::detect(Path::new("x/notes.md")).is_none());
    }
}
