//! The engine: one pipeline that every frontend (CLI, MCP server, registry proxy, manifest scan)
//! calls, so a verdict is the same wherever it is asked.
//!
//! Pipeline: syntax → policy lists → registry lookup (cached) → existence and version →
//! typosquat / hallucination checks against the corpus → metadata risk signals →
//! (advisories, added by the OSV step) → policy actions → decision.
use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::cache::Cache;
use crate::corpus::Corpora;
use crate::ecosystem::{Ecosystem, PackageRef};
use crate::policy::{ListMatch, PackageMatcher, Policy, PolicyError, RuleAction, rule_decision};
use crate::registry::{Lookup, PackageRecord, RegistryClient, RegistryError};
use crate::typosquat::Detector;
use crate::verdict::{Decision, Finding, PackageMetadata, Severity, Verdict, codes};

/// Errors building an engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The policy is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] RegistryError),
}

/// Everything an engine is built from.
#[derive(Debug, Default)]
pub struct Config {
    /// The policy (thresholds, lists, registries, cache, offline).
    pub policy: Policy,
    /// Corpora to use instead of the policy's/embedded ones (tests, evaluation).
    pub corpora: Option<Corpora>,
    /// Run without any cache (nothing read or written).
    pub no_cache: bool,
}

impl From<Policy> for Config {
    fn from(policy: Policy) -> Self {
        Config {
            policy,
            corpora: None,
            no_cache: false,
        }
    }
}

#[derive(Debug)]
struct Inner {
    policy: Policy,
    matcher: PackageMatcher,
    /// Built on first network use (offline runs and warm caches never pay for TLS setup).
    client: std::sync::OnceLock<Result<RegistryClient, RegistryError>>,
    cache: Option<Cache>,
    corpora: Corpora,
    permits: Semaphore,
    /// The OSV advisory step (`None` when the policy turns it off).
    advisories: Option<crate::advisory::check::Advisories>,
}

/// The validation engine. Cheap to clone (an `Arc` inside); share one per process.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

type LookupResult = Result<(Lookup, Source), RegistryError>;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Registry,
    Cache,
    StaleCache,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Registry => "registry",
            Source::Cache => "cache",
            Source::StaleCache => "cache-stale",
        }
    }
}

fn finding(
    code: &str,
    severity: Severity,
    message: String,
    evidence: serde_json::Value,
) -> Finding {
    Finding {
        code: code.to_string(),
        severity,
        action: Decision::Allow,
        message,
        evidence,
    }
}

/// A comparison key for version strings: PyPI versions are compared as PEP 440 says for the
/// common cases (`4.2` = `4.2.0`, `1.0rc1` = `1.0-rc1` = `1.0.RC1`, `3.1.8dev0` = `3.1.8.dev0`,
/// a leading `v` ignored); other ecosystems compare exactly, ignoring case and a leading `=`.
fn version_key(eco: Ecosystem, v: &str) -> String {
    let v = v.trim().trim_start_matches('=').trim().to_ascii_lowercase();
    if eco != Ecosystem::Pypi {
        return v;
    }
    let v = v.strip_prefix('v').unwrap_or(&v);
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '!'))
        .unwrap_or(v.len());
    let (release, rest) = v.split_at(split);
    let mut parts: Vec<&str> = release.trim_end_matches('.').split('.').collect();
    while parts.len() > 1
        && parts
            .last()
            .is_some_and(|p| p.trim_start_matches('0').is_empty())
    {
        parts.pop();
    }
    let parts: Vec<String> = parts
        .iter()
        .map(|p| {
            let t = p.trim_start_matches('0');
            if t.is_empty() {
                "0".to_string()
            } else {
                t.to_string()
            }
        })
        .collect();
    let rest: String = rest
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .collect();
    format!("{}{rest}", parts.join("."))
}

/// A Go pseudo-version: `vX.Y.Z-[pre.]yyyymmddhhmmss-abcdefabcdef`.
/// `381311140` → `381,311,140`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn is_go_pseudo_version(v: &str) -> bool {
    let mut parts = v.rsplitn(3, '-');
    let (Some(hash), Some(time)) = (parts.next(), parts.next()) else {
        return false;
    };
    let time = time.rsplit('.').next().unwrap_or(time);
    hash.len() == 12
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && time.len() == 14
        && time.bytes().all(|b| b.is_ascii_digit())
}

/// The key a package is cached and looked up under (normalised where the registry is).
fn registry_key(pkg: &PackageRef) -> String {
    match pkg.ecosystem {
        Ecosystem::Pypi | Ecosystem::CratesIo => pkg.normalized_name(),
        Ecosystem::Npm | Ecosystem::Go => pkg.name.clone(),
    }
}

impl Engine {
    /// Builds an engine.
    pub fn new(config: impl Into<Config>) -> Result<Engine, EngineError> {
        let config = config.into();
        let mut policy = config.policy;
        policy.registries.apply_env();
        let matcher = PackageMatcher::new(&policy.packages)?;
        let cache = if config.no_cache {
            None
        } else {
            match Cache::open(&policy.cache_dir()) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!("running without a cache: {e}");
                    None
                }
            }
        };
        let corpora = config.corpora.unwrap_or_else(|| {
            Corpora::new(
                policy
                    .corpus
                    .iter()
                    .filter_map(|(k, p)| Some((k.parse::<Ecosystem>().ok()?, p.clone())))
                    .collect(),
            )
        });
        let permits = Semaphore::new(policy.network.concurrency.max(1));
        let advisories = crate::advisory::check::Advisories::new(
            &policy.advisories,
            &policy.cache_dir(),
            policy.offline,
        );
        Ok(Engine {
            inner: Arc::new(Inner {
                policy,
                matcher,
                client: std::sync::OnceLock::new(),
                cache,
                corpora,
                permits,
                advisories,
            }),
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The corpora in use.
    pub fn corpora(&self) -> &Corpora {
        &self.inner.corpora
    }

    /// The cache, when one is open.
    pub fn cache(&self) -> Option<&Cache> {
        self.inner.cache.as_ref()
    }

    /// Validates many packages concurrently (bounded by `network.concurrency`); verdicts come
    /// back in the order asked.
    ///
    /// A name asked several times (a lockfile with many versions of one package) is looked up
    /// once.
    pub async fn validate_many(&self, pkgs: &[PackageRef]) -> Vec<Verdict> {
        self.prefetch_advisories(pkgs).await;
        let n = self.inner.policy.network.concurrency.max(1);
        let mut first: HashMap<(Ecosystem, String), &PackageRef> = HashMap::new();
        for p in pkgs {
            if self.needs_lookup(p) {
                first.entry((p.ecosystem, registry_key(p))).or_insert(p);
            }
        }
        let looked: HashMap<(Ecosystem, String), LookupResult> = futures::stream::iter(first)
            .map(|(k, p)| async move { (k, self.lookup(p).await) })
            .buffer_unordered(n)
            .collect()
            .await;
        futures::stream::iter(pkgs.iter())
            .map(|p| {
                let pre = looked.get(&(p.ecosystem, registry_key(p))).cloned();
                self.validate_with(p, pre)
            })
            .buffered(n)
            .collect()
            .await
    }

    /// Asks OSV about many packages in batched requests (up to 1,000 a request), so that
    /// validating them one by one afterwards needs no further OSV request.
    pub async fn prefetch_advisories(&self, pkgs: &[PackageRef]) {
        if let Some(adv) = &self.inner.advisories {
            let public: Vec<PackageRef> = pkgs
                .iter()
                .filter(|p| self.needs_lookup(p))
                .cloned()
                .collect();
            adv.prefetch(&public).await;
        }
    }

    /// True when validating this package sends a registry lookup (valid name, not denied, not
    /// private).
    fn needs_lookup(&self, pkg: &PackageRef) -> bool {
        pkg.ecosystem.validate_name(&pkg.name).is_ok()
            && !matches!(
                self.inner.matcher.check(pkg),
                Some(ListMatch::Deny(_) | ListMatch::Private(_))
            )
    }

    /// Looks a package up: fresh cache, else registry (bounded concurrency), else stale cache.
    async fn lookup(&self, pkg: &PackageRef) -> Result<(Lookup, Source), RegistryError> {
        let inner = &self.inner;
        let key = registry_key(pkg);
        let cached = inner
            .cache
            .as_ref()
            .and_then(|c| c.get(pkg.ecosystem, &key));
        if let Some(c) = &cached {
            let ttl_h = match c.lookup {
                Lookup::Found(_) => inner.policy.cache.ttl_hours.unwrap_or(24.0),
                Lookup::NotFound => inner.policy.cache.negative_ttl_hours.unwrap_or(1.0),
            };
            if inner.policy.offline || (c.age_secs as f64) < ttl_h * 3600.0 {
                return Ok((c.lookup.clone(), Source::Cache));
            }
        }
        if inner.policy.offline {
            return Err(RegistryError::Offline);
        }
        let fetched = {
            let _permit = inner.permits.acquire().await;
            let client = inner.client.get_or_init(|| {
                RegistryClient::new(
                    inner.policy.registries.clone(),
                    inner.policy.network.clone(),
                )
            });
            match client {
                Ok(c) => c.lookup(pkg.ecosystem, &pkg.name).await,
                Err(e) => Err(e.clone()),
            }
        };
        match fetched {
            Ok(l) => {
                if let Some(cache) = &inner.cache
                    && let Err(e) = cache.put(pkg.ecosystem, &key, &l)
                {
                    tracing::warn!("cannot write the cache: {e}");
                }
                Ok((l, Source::Registry))
            }
            Err(e) => match cached {
                // Stale beats nothing: the registry failed, the cache still knows.
                Some(c) => {
                    tracing::warn!("{pkg}: registry failed ({e}); using a stale cache entry");
                    Ok((c.lookup, Source::StaleCache))
                }
                None => Err(e),
            },
        }
    }

    /// Monthly downloads of an npm package (the popularity gap); `None` when offline, turned off
    /// or the downloads API failed (logged).
    async fn npm_downloads(&self, name: &str) -> Option<u64> {
        let inner = &self.inner;
        if inner.policy.offline {
            return None;
        }
        let _permit = inner.permits.acquire().await;
        let client = inner.client.get_or_init(|| {
            RegistryClient::new(
                inner.policy.registries.clone(),
                inner.policy.network.clone(),
            )
        });
        match client.as_ref().map(|c| c.npm_downloads(name)) {
            Ok(fut) => match fut.await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("npm downloads of {name} unavailable: {e}");
                    None
                }
            },
            Err(e) => {
                tracing::warn!("npm downloads of {name} unavailable: {e}");
                None
            }
        }
    }

    /// Validates one package.
    pub async fn validate(&self, pkg: &PackageRef) -> Verdict {
        self.validate_with(pkg, None).await
    }

    /// Validates one package, with the registry answer already fetched when `pre` is given.
    async fn validate_with(&self, pkg: &PackageRef, pre: Option<LookupResult>) -> Verdict {
        let inner = &self.inner;
        let policy = &inner.policy;
        let eco = pkg.ecosystem;
        let mut findings: Vec<Finding> = Vec::new();
        let mut suggestions = Vec::new();
        let mut metadata = None;

        // 1. Syntax: a bad name is never sent upstream.
        if let Err(why) = eco.validate_name(&pkg.name) {
            findings.push(finding(
                codes::INVALID_NAME,
                Severity::High,
                format!("not a valid {eco} name: {why}"),
                json!({ "name": pkg.name, "reason": why }),
            ));
            return self.decide(pkg, findings, suggestions, metadata, false);
        }
        if let Some(v) = &pkg.version
            && (v.is_empty() || v.len() > 128 || v.chars().any(|c| c.is_control() || !c.is_ascii()))
        {
            findings.push(finding(
                codes::INVALID_NAME,
                Severity::High,
                "the version string is empty, too long or has control or non-ASCII characters"
                    .into(),
                json!({ "version": v }),
            ));
            return self.decide(pkg, findings, suggestions, metadata, false);
        }

        // 2. Policy lists.
        let mut allow_listed = false;
        match inner.matcher.check(pkg) {
            Some(ListMatch::Deny(p)) => {
                findings.push(finding(
                    codes::DENIED,
                    Severity::High,
                    format!("denied by policy rule `{p}`"),
                    json!({ "rule": p }),
                ));
                return self.decide(pkg, findings, suggestions, metadata, false);
            }
            Some(ListMatch::Private(p)) => {
                findings.push(finding(
                    codes::PRIVATE,
                    Severity::Info,
                    format!("private package (policy rule `{p}`): not looked up, not checked"),
                    json!({ "rule": p }),
                ));
                return self.decide(pkg, findings, suggestions, metadata, false);
            }
            Some(ListMatch::Allow(p)) => {
                allow_listed = true;
                findings.push(finding(
                    codes::ALLOWED,
                    Severity::Info,
                    format!("allowed by policy rule `{p}`; other findings are information only"),
                    json!({ "rule": p }),
                ));
            }
            None => {}
        }

        // 3. Typosquat against the corpus (needs no network, so it also runs offline).
        let norm = pkg.normalized_name();
        let corpus = inner.corpora.get(eco);
        let mut rank = None;
        let mut squat = None;
        match &corpus {
            Ok(corpus) => {
                rank = corpus.rank(&norm);
                let det = Detector {
                    corpus,
                    config: &policy.typosquat,
                };
                squat = det.check(&norm).into_iter().next();
                if let Some(m) = &squat {
                    suggestions = det.suggest(&norm, 3);
                    let shown = corpus.display_at(m.target_rank).unwrap_or(&m.target);
                    findings.push(finding(
                        codes::TYPOSQUAT,
                        Severity::High,
                        format!(
                            "looks like a typosquat of the popular `{}` (rank {} in {}): {}",
                            shown,
                            m.target_rank,
                            eco,
                            m.kind.describe()
                        ),
                        json!({
                            "target": shown,
                            "target_rank": m.target_rank,
                            "edit": m.kind,
                            "jaro_winkler": (m.similarity * 1000.0).round() / 1000.0,
                            "corpus": corpus.source,
                        }),
                    ));
                }
            }
            Err(e) => tracing::warn!("{eco} corpus unavailable: {e}"),
        }

        // 4. Existence in the registry.
        let answer = match pre {
            Some(a) => a,
            None => self.lookup(pkg).await,
        };
        match answer {
            Err(e) => {
                let offline = matches!(e, RegistryError::Offline);
                findings.push(finding(
                    codes::UNVERIFIED,
                    Severity::Medium,
                    if offline {
                        "could not verify: offline and not in the cache".to_string()
                    } else {
                        format!("could not verify: the {eco} registry failed ({e})")
                    },
                    json!({ "error": e.to_string(), "registry": policy.registries.get(eco), "offline": offline }),
                ));
            }
            Ok((Lookup::NotFound, source)) => {
                if suggestions.is_empty()
                    && let Ok(corpus) = &corpus
                {
                    suggestions = Detector {
                        corpus,
                        config: &policy.typosquat,
                    }
                    .suggest(&norm, 3);
                }
                let hint = match suggestions.first() {
                    Some(s) => format!("; did you mean `{}`?", s.name),
                    None => String::new(),
                };
                findings.push(finding(
                    codes::NOT_FOUND,
                    Severity::Critical,
                    format!("not in the registry (possibly a hallucinated or typo name){hint}"),
                    json!({ "registry": policy.registries.get(eco), "source": source.as_str() }),
                ));
            }
            Ok((Lookup::Found(rec), source)) => {
                self.record_findings(pkg, &rec, &mut findings);
                // An established package (old, many versions) that resembles a popular name is
                // far more often a legitimate neighbour (`cookies`/`cookie`) than a squat, which
                // is typically new with few versions: its typosquat finding is capped at warn.
                let cfg = &policy.typosquat;
                if findings.iter().any(|f| f.code == codes::TYPOSQUAT)
                    && let Some(days) = cfg.established_age(
                        rec.versions.len(),
                        rec.first_release().as_deref(),
                        jiff::Timestamp::now(),
                    )
                {
                    for f in findings.iter_mut().filter(|f| f.code == codes::TYPOSQUAT) {
                        f.message.push_str(&format!(
                            " (established: first release {} days ago, {} versions; at most a warning)",
                            days,
                            rec.versions.len()
                        ));
                        f.evidence["established"] = json!(true);
                        f.severity = Severity::Medium;
                    }
                }
                // The popularity gap (npm): a look-alike downloaded often in its own right
                // (`safer-buffer` next to `safe-buffer`) is not a fresh squat. Asked only here,
                // for a suspected squat; no answer means no exoneration (fail closed).
                if eco == Ecosystem::Npm
                    && cfg.established_downloads > 0
                    && let (Some(m), Ok(corpus)) = (&squat, &corpus)
                    && !findings.iter().any(|f| {
                        f.code == codes::TYPOSQUAT && f.evidence["established"] == json!(true)
                    })
                    && let Some(downloads) = match rec.downloads_month {
                        Some(d) => Some(d),
                        None => {
                            let d = self.npm_downloads(&pkg.name).await;
                            // Kept with a record fetched just now (never refreshes an older
                            // cached record's age), so later and offline checks agree.
                            if let (Some(d), Source::Registry, Some(cache)) =
                                (d, source, &self.inner.cache)
                            {
                                let mut r = (*rec).clone();
                                r.downloads_month = Some(d);
                                if let Err(e) =
                                    cache.put(eco, &registry_key(pkg), &Lookup::Found(Box::new(r)))
                                {
                                    tracing::warn!("cannot write the cache: {e}");
                                }
                            }
                            d
                        }
                    }
                {
                    let det = Detector {
                        corpus,
                        config: cfg,
                    };
                    let target = corpus.downloads_at(m.target_rank).unwrap_or(0);
                    for f in findings.iter_mut().filter(|f| f.code == codes::TYPOSQUAT) {
                        f.evidence["downloads_month"] = json!(downloads);
                        f.evidence["target_downloads_month"] = json!(target);
                        if det.clears_popularity_gap(m, downloads) {
                            f.message.push_str(&format!(
                                " (popular in its own right: {} downloads a month, {:.1} % of the target's {}; at most a warning)",
                                thousands(downloads),
                                downloads as f64 * 100.0 / target.max(1) as f64,
                                thousands(target)
                            ));
                            f.evidence["established"] = json!(true);
                            f.severity = Severity::Medium;
                        }
                    }
                }
                metadata = Some(PackageMetadata {
                    name: rec.name.clone(),
                    latest_version: rec.latest.clone(),
                    version_count: rec.versions.len(),
                    first_release: rec.first_release(),
                    latest_release: rec.latest_release(),
                    repository: rec.repository.clone(),
                    description: rec.description.clone(),
                    popularity_rank: rank,
                    source: source.as_str().to_string(),
                });
            }
        }

        // 5. Advisories (OSV): malicious-package reports and known vulnerabilities for
        //    `pkg.version`, or for the latest version when none was asked (see
        //    `advisory::check`). Private and denied packages never get here.
        if let Some(adv) = &inner.advisories {
            let latest = metadata.as_ref().and_then(|m| m.latest_version.clone());
            findings.extend(adv.findings(pkg, latest.as_deref()).await);
        }

        self.decide(pkg, findings, suggestions, metadata, allow_listed)
    }

    /// Findings from the registry record: version, holdings, status, risk signals.
    fn record_findings(&self, pkg: &PackageRef, rec: &PackageRecord, findings: &mut Vec<Finding>) {
        let policy = &self.inner.policy;
        let eco = pkg.ecosystem;
        // Status (PEP 792 quarantine, npm unpublished).
        if let Some(status) = &rec.status {
            let quarantined = status == "quarantined";
            findings.push(finding(
                if quarantined {
                    codes::QUARANTINED
                } else {
                    codes::PLACEHOLDER
                },
                if quarantined {
                    Severity::Critical
                } else {
                    Severity::Medium
                },
                format!("the registry marks the project `{status}`"),
                json!({ "status": status }),
            ));
        }
        // npm security holding: the registry replaced a malicious package.
        let holding = rec
            .latest
            .as_deref()
            .is_some_and(|l| l.ends_with("-security"))
            || rec
                .versions
                .keys()
                .any(|v| v.starts_with("0.0.") && v.ends_with("-security"))
            || rec
                .description
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case("security holding package"));
        if eco == Ecosystem::Npm && holding {
            findings.push(finding(
                codes::SECURITY_HOLDING,
                Severity::Critical,
                format!(
                    "npm replaced this package with a `{}` security holding: it was removed as malicious",
                    rec.latest.as_deref().unwrap_or("0.0.1-security")
                ),
                json!({ "latest": rec.latest, "description": rec.description }),
            ));
        }
        // Removed: the name is known but no version is left (npm unpublish or takedown).
        if rec.status.is_none() && rec.versions.is_empty() {
            findings.push(finding(
                codes::REMOVED,
                Severity::High,
                "the registry knows the name but lists no versions (unpublished or taken down)"
                    .into(),
                json!({ "versions": 0 }),
            ));
        } else if rec.status.is_none() && rec.versions.values().all(|v| v.no_files) {
            findings.push(finding(
                codes::PLACEHOLDER,
                Severity::Medium,
                "the project exists but has no installable release (a reserved or placeholder name)".into(),
                json!({ "versions": rec.versions.len() }),
            ));
        }
        // The requested version.
        let version_info = match &pkg.version {
            // Go pseudo-versions (`v0.0.0-20240101000000-abcdef123456`) name commits, which the
            // version list does not hold; the module's existence is what can be checked.
            Some(v) if eco == Ecosystem::Go && is_go_pseudo_version(v) => None,
            Some(v) => {
                let found = rec.versions.get(v).or_else(|| {
                    let want = version_key(eco, v);
                    rec.versions
                        .iter()
                        .find(|(k, _)| version_key(eco, k) == want)
                        .map(|(_, i)| i)
                });
                match found {
                    None => {
                        findings.push(finding(
                            codes::VERSION_NOT_FOUND,
                            Severity::High,
                            format!(
                                "version {v} does not exist (latest is {})",
                                rec.latest.as_deref().unwrap_or("unknown")
                            ),
                            json!({ "version": v, "latest": rec.latest, "versions": rec.versions.len() }),
                        ));
                        None
                    }
                    Some(info) => {
                        if info.yanked {
                            findings.push(finding(
                                codes::VERSION_YANKED,
                                Severity::Medium,
                                format!("version {v} was yanked"),
                                json!({ "version": v }),
                            ));
                        }
                        Some(info)
                    }
                }
            }
            None => rec.latest.as_deref().and_then(|l| rec.versions.get(l)),
        };
        if !rec.versions.is_empty() && rec.versions.values().all(|v| v.yanked) {
            findings.push(finding(
                codes::ALL_YANKED,
                Severity::High,
                "every version of this package is yanked".into(),
                json!({ "versions": rec.versions.len() }),
            ));
        }
        // Deprecation (the version asked for, else the package).
        let deprecated = version_info
            .and_then(|i| i.deprecated.clone())
            .or_else(|| rec.deprecated.clone());
        if let Some(msg) = deprecated
            && !holding
        {
            findings.push(finding(
                codes::DEPRECATED,
                Severity::Low,
                format!("deprecated: {}", msg.trim()),
                json!({ "message": msg }),
            ));
        }
        // Age of the first release.
        if let Some(first) = rec.first_release()
            && let Ok(ts) = first.parse::<jiff::Timestamp>()
        {
            let age_days = (jiff::Timestamp::now().as_second() - ts.as_second()) as f64 / 86_400.0;
            if age_days < policy.thresholds.min_age_days {
                findings.push(finding(
                    codes::YOUNG_PACKAGE,
                    Severity::Medium,
                    format!(
                        "first released {:.0} days ago (policy minimum {} days)",
                        age_days.max(0.0),
                        policy.thresholds.min_age_days
                    ),
                    json!({ "first_release": first, "age_days": (age_days * 10.0).round() / 10.0, "min_age_days": policy.thresholds.min_age_days }),
                ));
            }
        }
        // Few versions.
        let n = rec.versions.len();
        if n > 0 && n < policy.thresholds.min_versions && !holding {
            findings.push(finding(
                codes::FEW_VERSIONS,
                Severity::Low,
                format!(
                    "only {n} version(s) published (policy minimum {})",
                    policy.thresholds.min_versions
                ),
                json!({ "versions": n, "min_versions": policy.thresholds.min_versions }),
            ));
        }
        // Install scripts.
        if let Some(info) = version_info
            && !info.install_scripts.is_empty()
        {
            findings.push(finding(
                codes::INSTALL_SCRIPTS,
                Severity::Medium,
                format!(
                    "runs code at install time ({})",
                    info.install_scripts.join("; ")
                ),
                json!({ "scripts": info.install_scripts }),
            ));
        }
        // Repository link.
        if rec.has_repository_field && rec.repository.is_none() && !holding {
            findings.push(finding(
                codes::NO_REPOSITORY,
                Severity::Low,
                "no source repository link in the registry metadata".into(),
                json!({}),
            ));
        }
    }

    /// Applies the policy to the findings and computes the decision.
    fn decide(
        &self,
        pkg: &PackageRef,
        findings: Vec<Finding>,
        suggestions: Vec<crate::verdict::Suggestion>,
        metadata: Option<PackageMetadata>,
        allow_listed: bool,
    ) -> Verdict {
        let policy = &self.inner.policy;
        let mut kept = Vec::with_capacity(findings.len());
        for mut f in findings {
            let action = if f.code == codes::ALLOWED || f.code == codes::PRIVATE {
                RuleAction::Allow
            } else {
                policy.finding_action(&f)
            };
            let Some(mut d) = rule_decision(action) else {
                continue;
            };
            if allow_listed {
                d = Decision::Allow;
            }
            if f.code == codes::TYPOSQUAT && f.evidence["established"] == json!(true) {
                d = d.min(Decision::Warn);
            }
            f.action = d;
            kept.push(f);
        }
        kept.sort_by(|a, b| b.action.cmp(&a.action).then(b.severity.cmp(&a.severity)));
        let decision = kept
            .iter()
            .map(|f| f.action)
            .max()
            .unwrap_or(Decision::Allow);
        Verdict {
            package: pkg.clone(),
            decision,
            findings: kept,
            suggestions,
            metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep440_version_keys() {
        let k = |v| version_key(Ecosystem::Pypi, v);
        assert_eq!(k("4.2"), k("4.2.0"));
        assert_eq!(k("1.0rc1"), k("1.0.0-RC1"));
        assert_eq!(k("3.1.8dev0"), k("3.1.8.dev0"));
        assert_eq!(k("v2.31.0"), k("2.31"));
        assert_ne!(k("2.31.1"), k("2.31"));
        assert_ne!(k("1.10"), k("1.1"));
        assert_eq!(k("1.01"), k("1.1"));
        assert_ne!(
            version_key(Ecosystem::Npm, "1.0"),
            version_key(Ecosystem::Npm, "1.0.0")
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(381_311_140), "381,311,140");
    }

    #[test]
    fn go_pseudo_versions() {
        assert!(is_go_pseudo_version("v0.0.0-20240101000000-abcdef123456"));
        assert!(is_go_pseudo_version("v1.2.4-0.20240101000000-abcdef123456"));
        assert!(!is_go_pseudo_version("v1.9.1"));
        assert!(!is_go_pseudo_version("v2.0.0-rc.1"));
    }
}
