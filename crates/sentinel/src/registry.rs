//! Registry clients: PyPI JSON API, npm registry documents, crates.io sparse index, Go module
//! proxy. Each lookup turns the registry's answer into a [`PackageRecord`] (or `NotFound`), with
//! timeouts, retries with exponential backoff and a cap on the response size.
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ecosystem::{Ecosystem, crates_index_path, go_escape};
use crate::policy::{NetworkConfig, Registries};

/// Why a lookup could not give an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// No answer within the timeout (after retries).
    #[error("timed out after {0} attempts")]
    Timeout(u32),
    /// The connection failed (after retries).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The registry answered with an unexpected status (after retries for 5xx/429).
    #[error("registry answered HTTP {0}")]
    Status(u16),
    /// The answer was not what the registry protocol promises.
    #[error("malformed registry answer: {0}")]
    Malformed(String),
    /// The answer exceeded the size limit.
    #[error("registry answer larger than the {0}-byte limit")]
    TooLarge(usize),
    /// Offline mode and nothing cached.
    #[error("offline and not in the cache")]
    Offline,
}

/// One version as the registry describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Publication time (RFC 3339), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Yanked / withdrawn.
    #[serde(default)]
    pub yanked: bool,
    /// Deprecation message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// Install-time scripts (npm `preinstall`/`install`/`postinstall`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub install_scripts: Vec<String>,
    /// No files were ever uploaded for it (PyPI).
    #[serde(default)]
    pub no_files: bool,
}

/// What the registry says about a package, reduced to what the checks use (this is what the
/// cache stores, not the raw document).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PackageRecord {
    /// The registry's spelling of the name.
    pub name: String,
    /// Latest version (dist-tag `latest`, PyPI `info.version`, highest for crates/Go).
    pub latest: Option<String>,
    /// Versions by their string.
    pub versions: BTreeMap<String, VersionInfo>,
    /// Creation time when the registry gives one separately (npm `time.created`).
    pub created: Option<String>,
    /// Source repository URL.
    pub repository: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Package-level deprecation.
    pub deprecated: Option<String>,
    /// Project status other than active (PEP 792 `quarantined`, `archived`, …).
    pub status: Option<String>,
    /// Whether the registry can tell us about repository links (the crates index cannot).
    pub has_repository_field: bool,
    /// npm downloads in the last month, when the downloads API was asked (only for a suspected
    /// typosquat: the popularity gap); kept in the cache with the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloads_month: Option<u64>,
}

impl PackageRecord {
    /// Earliest known publication time.
    pub fn first_release(&self) -> Option<String> {
        let from_versions = self
            .versions
            .values()
            .filter_map(|v| v.published.as_deref())
            .filter_map(|s| s.parse::<jiff::Timestamp>().ok())
            .min();
        let created = self
            .created
            .as_deref()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok());
        match (from_versions, created) {
            (Some(a), Some(b)) => Some(a.min(b).to_string()),
            (a, b) => a.or(b).map(|t| t.to_string()),
        }
    }

    /// Latest known publication time.
    pub fn latest_release(&self) -> Option<String> {
        self.versions
            .values()
            .filter_map(|v| v.published.as_deref())
            .filter_map(|s| s.parse::<jiff::Timestamp>().ok())
            .max()
            .map(|t| t.to_string())
    }
}

/// The registry's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Lookup {
    /// The package exists.
    Found(Box<PackageRecord>),
    /// The registry says it does not exist (404/410).
    NotFound,
}

/// HTTP client for all four registries.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    registries: Registries,
    net: NetworkConfig,
}

enum Fetched {
    Body(Vec<u8>),
    Missing,
}

impl RegistryClient {
    /// A client with these base URLs and network settings.
    pub fn new(registries: Registries, net: NetworkConfig) -> Result<Self, RegistryError> {
        let http = http_builder(&net)?
            .timeout(Duration::from_secs_f64(net.timeout_secs.max(0.01)))
            .connect_timeout(Duration::from_secs_f64(net.timeout_secs.max(0.01)))
            .user_agent(concat!("sentinel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Connect(e.to_string()))?;
        Ok(RegistryClient {
            http,
            registries,
            net,
        })
    }

    fn base(&self, eco: Ecosystem) -> &str {
        self.registries.get(eco).trim_end_matches('/')
    }

    /// GET with retries; 404/410 is `Missing`.
    async fn get(&self, url: &str, accept: Option<&str>) -> Result<Fetched, RegistryError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = self.get_once(url, accept).await;
            let retryable = match &result {
                Err(RegistryError::Timeout(_) | RegistryError::Connect(_)) => true,
                Err(RegistryError::Status(s)) => *s == 429 || *s >= 500,
                _ => false,
            };
            if !retryable || attempt > self.net.retries {
                return match result {
                    Err(RegistryError::Timeout(_)) => Err(RegistryError::Timeout(attempt)),
                    other => other,
                };
            }
            let wait = self
                .net
                .backoff_ms
                .saturating_mul(1 << (attempt - 1).min(10));
            tracing::debug!(url, attempt, wait, "retrying registry request");
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    async fn get_once(&self, url: &str, accept: Option<&str>) -> Result<Fetched, RegistryError> {
        let mut req = self.http.get(url);
        if let Some(a) = accept {
            req = req.header(reqwest::header::ACCEPT, a);
        }
        let map_err = |e: reqwest::Error| {
            if e.is_timeout() {
                RegistryError::Timeout(1)
            } else {
                // The whole cause chain: "error sending request" alone does not say why.
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    src = s.source();
                }
                RegistryError::Connect(msg)
            }
        };
        let mut resp = req.send().await.map_err(map_err)?;
        let status = resp.status().as_u16();
        if status == 404 || status == 410 {
            return Ok(Fetched::Missing);
        }
        if !(200..300).contains(&status) {
            return Err(RegistryError::Status(status));
        }
        let limit = self.net.max_response_bytes;
        if let Some(len) = resp.content_length()
            && len > limit as u64
        {
            return Err(RegistryError::TooLarge(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(map_err)? {
            if body.len() + chunk.len() > limit {
                return Err(RegistryError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(body))
    }

    /// Looks a package up. `name` must already be valid for the ecosystem.
    pub async fn lookup(&self, eco: Ecosystem, name: &str) -> Result<Lookup, RegistryError> {
        match eco {
            Ecosystem::Pypi => self.pypi(name).await,
            Ecosystem::Npm => self.npm(name).await,
            Ecosystem::CratesIo => self.crates(name).await,
            Ecosystem::Go => self.go(name).await,
        }
    }

    async fn pypi(&self, name: &str) -> Result<Lookup, RegistryError> {
        let norm = Ecosystem::Pypi.normalize(name);
        let url = format!("{}/pypi/{norm}/json", self.base(Ecosystem::Pypi));
        match self.get(&url, Some("application/json")).await? {
            Fetched::Missing => Ok(Lookup::NotFound),
            Fetched::Body(b) => parse_pypi(&b).map(|r| Lookup::Found(Box::new(r))),
        }
    }

    async fn npm(&self, name: &str) -> Result<Lookup, RegistryError> {
        let path = name.replacen('/', "%2f", 1);
        let url = format!("{}/{path}", self.base(Ecosystem::Npm));
        match self.get(&url, Some("application/json")).await? {
            Fetched::Missing => Ok(Lookup::NotFound),
            Fetched::Body(b) => parse_npm(&b).map(|r| Lookup::Found(Box::new(r))),
        }
    }

    /// Monthly downloads of an npm package from the downloads API
    /// (`{npm-downloads}/downloads/point/last-month/{name}`); `None` when the API is turned off
    /// (empty base URL) or has no record of the name. Used for the popularity gap of look-alikes.
    pub async fn npm_downloads(&self, name: &str) -> Result<Option<u64>, RegistryError> {
        let base = self.registries.npm_downloads.trim_end_matches('/');
        if base.is_empty() {
            return Ok(None);
        }
        let url = format!("{base}/downloads/point/last-month/{name}");
        match self.get(&url, Some("application/json")).await? {
            Fetched::Missing => Ok(None),
            Fetched::Body(b) => crate::corpus_update::parse_npm_downloads(&url, &b, true)
                .map(|rows| rows.first().map(|r| r.figure))
                .map_err(|e| RegistryError::Malformed(e.to_string())),
        }
    }

    async fn crates(&self, name: &str) -> Result<Lookup, RegistryError> {
        // crates.io treats `-` and `_` as one name; the index files the crate under its own
        // spelling, so try the name as written, then the other spellings.
        let lower = name.to_ascii_lowercase();
        let mut tries = vec![lower.clone()];
        for alt in [lower.replace('-', "_"), lower.replace('_', "-")] {
            if !tries.contains(&alt) {
                tries.push(alt);
            }
        }
        for t in tries {
            let url = format!(
                "{}/{}",
                self.base(Ecosystem::CratesIo),
                crates_index_path(&t)
            );
            if let Fetched::Body(b) = self.get(&url, None).await? {
                return parse_crates_index(&b).map(|r| Lookup::Found(Box::new(r)));
            }
        }
        Ok(Lookup::NotFound)
    }

    async fn go(&self, module: &str) -> Result<Lookup, RegistryError> {
        let base = format!("{}/{}", self.base(Ecosystem::Go), go_escape(module));
        let list = match self.get(&format!("{base}/@v/list"), None).await? {
            Fetched::Missing => return Ok(Lookup::NotFound),
            Fetched::Body(b) => String::from_utf8(b)
                .map_err(|_| RegistryError::Malformed("@v/list is not UTF-8".into()))?,
        };
        let mut rec = PackageRecord {
            name: module.to_string(),
            has_repository_field: true,
            ..Default::default()
        };
        // A module hosted on a forge is its own repository.
        let host = module.split('/').next().unwrap_or("");
        if matches!(
            host,
            "github.com" | "gitlab.com" | "bitbucket.org" | "codeberg.org"
        ) {
            rec.repository = Some(format!(
                "https://{}",
                module.split('/').take(3).collect::<Vec<_>>().join("/")
            ));
        } else {
            rec.has_repository_field = false;
        }
        let mut versions: Vec<String> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        versions.sort_by(|a, b| go_version_cmp(a, b));
        for v in &versions {
            rec.versions.insert(v.clone(), VersionInfo::default());
        }
        // Latest (also works for modules with only pseudo-versions).
        if let Fetched::Body(b) = self.get(&format!("{base}/@latest"), None).await? {
            let info = parse_go_info(&b)?;
            rec.latest = Some(info.0.clone());
            rec.versions.entry(info.0).or_default().published = info.1;
        } else if let Some(v) = versions.last() {
            rec.latest = Some(v.clone());
        }
        if rec.versions.is_empty() {
            return Ok(Lookup::NotFound);
        }
        // The oldest tagged version gives the first release time.
        if let Some(first) = versions.first()
            && rec
                .versions
                .get(first)
                .is_some_and(|v| v.published.is_none())
            && let Fetched::Body(b) = self.get(&format!("{base}/@v/{first}.info"), None).await?
        {
            let info = parse_go_info(&b)?;
            if let Some(v) = rec.versions.get_mut(first) {
                v.published = info.1;
            }
        }
        Ok(Lookup::Found(Box::new(rec)))
    }
}

/// A client builder trusting the built-in roots plus the configured or system CA bundle
/// (a configured file that cannot be read is an error; the system bundle is best effort).
pub fn http_builder(net: &NetworkConfig) -> Result<reqwest::ClientBuilder, RegistryError> {
    let mut b = reqwest::Client::builder();
    if let Some(path) = net.ca_bundle() {
        match std::fs::read(&path) {
            Ok(pem) => match reqwest::Certificate::from_pem_bundle(&pem) {
                Ok(certs) => {
                    for c in certs {
                        b = b.add_root_certificate(c);
                    }
                }
                Err(e) if net.ca_file.is_some() => {
                    return Err(RegistryError::Connect(format!(
                        "invalid CA bundle {}: {e}",
                        path.display()
                    )));
                }
                Err(e) => tracing::warn!("ignoring CA bundle {}: {e}", path.display()),
            },
            Err(e) if net.ca_file.is_some() => {
                return Err(RegistryError::Connect(format!(
                    "cannot read CA bundle {}: {e}",
                    path.display()
                )));
            }
            Err(_) => {}
        }
    }
    Ok(b)
}

fn go_version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let pa = semver::Version::parse(a.trim_start_matches('v'));
    let pb = semver::Version::parse(b.trim_start_matches('v'));
    match (pa, pb) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn parse_go_info(b: &[u8]) -> Result<(String, Option<String>), RegistryError> {
    let v: Value = serde_json::from_slice(b)
        .map_err(|e| RegistryError::Malformed(format!("go .info: {e}")))?;
    let version = v
        .get("Version")
        .and_then(Value::as_str)
        .ok_or_else(|| RegistryError::Malformed("go .info has no Version".into()))?;
    let time = v.get("Time").and_then(Value::as_str).map(str::to_string);
    Ok((version.to_string(), time))
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn looks_like_repo(url: &str) -> bool {
    let u = url.to_ascii_lowercase();
    [
        "github.com/",
        "gitlab.com/",
        "bitbucket.org/",
        "codeberg.org/",
        "sr.ht/",
        "git.",
    ]
    .iter()
    .any(|h| u.contains(h))
}

/// Parses a PyPI JSON API document (`/pypi/{name}/json`).
pub fn parse_pypi(body: &[u8]) -> Result<PackageRecord, RegistryError> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| RegistryError::Malformed(format!("pypi: {e}")))?;
    let info = doc
        .get("info")
        .filter(|i| i.is_object())
        .ok_or_else(|| RegistryError::Malformed("pypi: no `info` object".into()))?;
    let name = str_field(info, "name")
        .ok_or_else(|| RegistryError::Malformed("pypi: no `info.name`".into()))?;
    let mut rec = PackageRecord {
        name,
        latest: str_field(info, "version"),
        description: str_field(info, "summary"),
        has_repository_field: true,
        ..Default::default()
    };
    // Repository: a project URL pointing at a forge, preferring source-like labels.
    let mut urls: Vec<(String, String)> = Vec::new();
    if let Some(map) = info.get("project_urls").and_then(Value::as_object) {
        for (k, v) in map {
            if let Some(u) = v.as_str() {
                urls.push((k.to_ascii_lowercase(), u.to_string()));
            }
        }
    }
    if let Some(u) = str_field(info, "home_page") {
        urls.push(("homepage".into(), u));
    }
    rec.repository = urls
        .iter()
        .find(|(k, u)| {
            ["source", "repository", "code", "github"]
                .iter()
                .any(|l| k.contains(l))
                && looks_like_repo(u)
        })
        .or_else(|| urls.iter().find(|(_, u)| looks_like_repo(u)))
        .map(|(_, u)| u.clone());
    // PEP 792 project status, wherever this registry version puts it.
    for status in [
        info.get("project_status"),
        doc.get("project_status"),
        doc.get("project-status"),
        info.get("project-status"),
    ]
    .into_iter()
    .flatten()
    {
        let s = status
            .get("status")
            .and_then(Value::as_str)
            .or_else(|| status.as_str());
        if let Some(s) = s
            && s != "active"
        {
            rec.status = Some(s.to_string());
        }
    }
    if let Some(releases) = doc.get("releases").and_then(Value::as_object) {
        for (ver, files) in releases {
            let files = files.as_array().map(Vec::as_slice).unwrap_or(&[]);
            let published = files
                .iter()
                .filter_map(|f| {
                    f.get("upload_time_iso_8601")
                        .or_else(|| f.get("upload_time"))
                        .and_then(Value::as_str)
                })
                .filter_map(|s| {
                    s.parse::<jiff::Timestamp>().ok().or_else(|| {
                        // `upload_time` has no zone; PyPI means UTC.
                        format!("{s}Z").parse::<jiff::Timestamp>().ok()
                    })
                })
                .min()
                .map(|t| t.to_string());
            let yanked = !files.is_empty()
                && files
                    .iter()
                    .all(|f| f.get("yanked").and_then(Value::as_bool).unwrap_or(false));
            rec.versions.insert(
                ver.clone(),
                VersionInfo {
                    published,
                    yanked,
                    deprecated: None,
                    install_scripts: Vec::new(),
                    no_files: files.is_empty(),
                },
            );
        }
    }
    Ok(rec)
}

/// Parses an npm registry package document.
pub fn parse_npm(body: &[u8]) -> Result<PackageRecord, RegistryError> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| RegistryError::Malformed(format!("npm: {e}")))?;
    let name = str_field(&doc, "name")
        .or_else(|| str_field(&doc, "_id"))
        .ok_or_else(|| RegistryError::Malformed("npm: no `name`".into()))?;
    let times = doc.get("time").and_then(Value::as_object);
    let mut rec = PackageRecord {
        name,
        latest: doc
            .get("dist-tags")
            .and_then(|t| t.get("latest"))
            .and_then(Value::as_str)
            .map(str::to_string),
        created: times
            .and_then(|t| t.get("created"))
            .and_then(Value::as_str)
            .map(str::to_string),
        description: str_field(&doc, "description"),
        has_repository_field: true,
        ..Default::default()
    };
    let repo_of = |v: &Value| -> Option<String> {
        match v.get("repository")? {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Object(o) => o
                .get("url")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string),
            _ => None,
        }
    };
    rec.repository = repo_of(&doc);
    if let Some(versions) = doc.get("versions").and_then(Value::as_object) {
        for (ver, meta) in versions {
            let mut scripts = Vec::new();
            if let Some(s) = meta.get("scripts").and_then(Value::as_object) {
                for hook in ["preinstall", "install", "postinstall"] {
                    if let Some(cmd) = s.get(hook).and_then(Value::as_str) {
                        scripts.push(format!("{hook}: {cmd}"));
                    }
                }
            }
            if scripts.is_empty()
                && meta.get("hasInstallScript").and_then(Value::as_bool) == Some(true)
            {
                scripts.push("hasInstallScript: true".into());
            }
            let deprecated = match meta.get("deprecated") {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Bool(true)) => Some("deprecated".into()),
                _ => None,
            };
            rec.versions.insert(
                ver.clone(),
                VersionInfo {
                    published: times
                        .and_then(|t| t.get(ver))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    yanked: false,
                    deprecated,
                    install_scripts: scripts,
                    no_files: false,
                },
            );
        }
    }
    if rec.repository.is_none()
        && let Some(latest) = rec.latest.as_deref()
        && let Some(v) = doc.get("versions").and_then(|v| v.get(latest))
    {
        rec.repository = repo_of(v);
    }
    if let Some(latest) = rec.latest.as_deref() {
        rec.deprecated = rec.versions.get(latest).and_then(|v| v.deprecated.clone());
    }
    if times.is_some_and(|t| t.contains_key("unpublished")) && rec.versions.is_empty() {
        rec.status = Some("unpublished".into());
    }
    Ok(rec)
}

/// Parses a crates.io sparse index file (one JSON object per line, one per version).
pub fn parse_crates_index(body: &[u8]) -> Result<PackageRecord, RegistryError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| RegistryError::Malformed("crates index: not UTF-8".into()))?;
    let mut rec = PackageRecord::default();
    let mut best: Option<semver::Version> = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| RegistryError::Malformed(format!("crates index line {}: {e}", i + 1)))?;
        let (Some(name), Some(vers)) = (str_field(&v, "name"), str_field(&v, "vers")) else {
            return Err(RegistryError::Malformed(format!(
                "crates index line {}: no `name`/`vers`",
                i + 1
            )));
        };
        rec.name = name;
        let yanked = v.get("yanked").and_then(Value::as_bool).unwrap_or(false);
        if !yanked
            && let Ok(sv) = semver::Version::parse(&vers)
            && best.as_ref().is_none_or(|b| sv > *b)
        {
            best = Some(sv);
        }
        rec.versions.insert(
            vers,
            VersionInfo {
                published: str_field(&v, "pubtime"),
                yanked,
                ..Default::default()
            },
        );
    }
    if rec.versions.is_empty() {
        return Err(RegistryError::Malformed("crates index: empty file".into()));
    }
    rec.latest = best.map(|b| b.to_string());
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_index_lines() {
        let body =
            br#"{"name":"foo","vers":"0.1.0","yanked":false,"pubtime":"2024-01-02T03:04:05Z"}
{"name":"foo","vers":"0.2.0","yanked":true}
"#;
        let r = parse_crates_index(body).unwrap();
        assert_eq!(r.versions.len(), 2);
        assert_eq!(r.latest.as_deref(), Some("0.1.0"));
        assert!(r.versions["0.2.0"].yanked);
        assert_eq!(r.first_release().as_deref(), Some("2024-01-02T03:04:05Z"));
        assert!(parse_crates_index(b"{not json").is_err());
    }

    #[test]
    fn npm_install_scripts_and_holding() {
        let body = br#"{"name":"x","dist-tags":{"latest":"0.0.1-security"},
            "time":{"created":"2020-01-01T00:00:00.000Z","0.0.1-security":"2020-01-02T00:00:00.000Z"},
            "versions":{"0.0.1-security":{"scripts":{"postinstall":"node steal.js"}}}}"#;
        let r = parse_npm(body).unwrap();
        assert_eq!(r.latest.as_deref(), Some("0.0.1-security"));
        assert_eq!(
            r.versions["0.0.1-security"].install_scripts,
            vec!["postinstall: node steal.js"]
        );
        assert_eq!(r.first_release().as_deref(), Some("2020-01-01T00:00:00Z"));
    }
}
