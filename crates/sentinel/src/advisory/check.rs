//! The advisory step of the engine: for one package, ask OSV (online, batched, cached) or the
//! local mirror, and turn the records into findings.
//!
//! Modes (`[advisories] mode` in the policy):
//! - `auto` (default): the OSV API when reachable, else the local mirror; neither → the
//!   `advisory-unavailable` finding, which blocks unless `fail = "open"` (fail closed).
//! - `online`: the OSV API is required; unreachable → `advisory-unavailable`.
//! - `offline`: the local mirror only; never touches the network (also `--offline`).
//! - `off`: no advisory step (explicit opt-out).
//!
//! Findings: `advisory-malicious` (a `MAL-` or malicious-category record affects the version, or
//! every version when none is given: blocks), `advisory-vulnerable` (one per vulnerability; the
//! policy's `block-severity` decides warn or block), `advisory-informational` (RustSec
//! unmaintained/unsound/notice), `advisory-history` (no version given: what affects other
//! versions and the nearest safe one; information), `advisory-unavailable`.
use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::online::{self, Client, Query};
use super::store::Store;
use super::{Hit, Level, Report};
use crate::ecosystem::PackageRef;
use crate::verdict::{Decision, Finding, Severity, codes};

/// After an OSV failure, how long the API is left alone before it is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);

/// How advisories are consulted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// OSV API when reachable, else the local mirror.
    #[default]
    Auto,
    /// OSV API required.
    Online,
    /// Local mirror only, no network.
    Offline,
    /// No advisory step.
    Off,
}

/// The `[advisories]` section of the policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AdvisoryPolicy {
    /// `auto`, `online`, `offline` or `off`.
    pub mode: Mode,
    /// Vulnerabilities at or above this severity block; below it they warn. `unknown` is the
    /// lowest level, so `block-severity = "unknown"` blocks every vulnerability.
    pub block_severity: Level,
    /// Advisory IDs (or aliases, e.g. a CVE) to ignore: reviewed false positives.
    pub ignore: Vec<String>,
    /// OSV API base URL (default `https://api.osv.dev`; `SENTINEL_OSV_URL` wins).
    pub osv_url: Option<String>,
    /// OSV dump bucket for `db update` (`SENTINEL_OSV_DUMP_URL` wins).
    pub dump_url: Option<String>,
    /// Hours an online answer stays fresh.
    pub ttl_hours: f64,
}

impl Default for AdvisoryPolicy {
    fn default() -> Self {
        AdvisoryPolicy {
            mode: Mode::Auto,
            block_severity: Level::High,
            ignore: Vec::new(),
            osv_url: None,
            dump_url: None,
            ttl_hours: 6.0,
        }
    }
}

impl AdvisoryPolicy {
    /// The mode in force: `SENTINEL_ADVISORIES` (`auto`, `online`, `offline`, `off`) wins over
    /// the policy. An unknown value is an error the caller reports (and fails closed on).
    pub fn effective_mode(&self) -> Result<Mode, String> {
        match std::env::var("SENTINEL_ADVISORIES")
            .ok()
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => Ok(self.mode),
            Some(v) if v.is_empty() => Ok(self.mode),
            Some(v) => match v.as_str() {
                "auto" => Ok(Mode::Auto),
                "online" => Ok(Mode::Online),
                "offline" => Ok(Mode::Offline),
                "off" => Ok(Mode::Off),
                _ => Err(format!(
                    "SENTINEL_ADVISORIES={v} is not one of auto, online, offline, off"
                )),
            },
        }
    }

    /// The API URL in force: environment, policy, default.
    pub fn api_url(&self) -> String {
        match std::env::var("SENTINEL_OSV_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            Some(u) => u,
            None => self.osv_url.clone().unwrap_or_else(online::default_api_url),
        }
    }

    /// The dump bucket URL in force: environment, policy, default.
    pub fn dump_url(&self) -> String {
        match std::env::var("SENTINEL_OSV_DUMP_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            Some(u) => u,
            None => self
                .dump_url
                .clone()
                .unwrap_or_else(super::update::default_dump_url),
        }
    }

    /// Action for an `advisory-vulnerable` finding of this severity.
    pub fn vulnerable_decision(&self, level: Level) -> Decision {
        if level >= self.block_severity {
            Decision::Block
        } else {
            Decision::Warn
        }
    }
}

/// The advisory service an engine holds (cheap to share behind its `Arc`).
#[derive(Debug)]
pub struct Advisories {
    policy: AdvisoryPolicy,
    offline: bool,
    store: Result<Mutex<Store>, String>,
    client: Option<Client>,
    /// First failure of the OSV API in this process: later packages skip it.
    online_failed: Mutex<Option<(std::time::Instant, String)>>,
    ignore: HashSet<String>,
}

/// Where the answer for one package came from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Report {
        source: &'static str,
        note: Option<String>,
    },
    Unavailable(String),
}

impl Advisories {
    /// Builds the service; `None` when the policy turns advisories off. Problems opening the
    /// store are reported per package (as `advisory-unavailable`), not here.
    pub fn new(policy: &AdvisoryPolicy, cache_dir: &Path, offline: bool) -> Option<Advisories> {
        let (mode, store) = match policy.effective_mode() {
            Ok(Mode::Off) => return None,
            Ok(mode) => (
                mode,
                Store::open(&cache_dir.join("advisories.db"))
                    .map(Mutex::new)
                    .map_err(|e| e.to_string()),
            ),
            Err(e) => (Mode::Offline, Err(e)),
        };
        let policy = &AdvisoryPolicy {
            mode,
            ..policy.clone()
        };
        let client = if offline || policy.mode == Mode::Offline {
            None
        } else {
            Client::new(&policy.api_url()).ok()
        };
        Some(Advisories {
            policy: policy.clone(),
            offline,
            store,
            client,
            online_failed: Mutex::new(None),
            ignore: policy
                .ignore
                .iter()
                .map(|s| s.to_ascii_uppercase())
                .collect(),
        })
    }

    fn query(pkg: &PackageRef) -> Query {
        Query {
            ecosystem: pkg.ecosystem.osv_name().to_owned(),
            name: pkg.name.clone(),
            version: pkg.version.clone(),
        }
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs_f64((self.policy.ttl_hours.max(0.0) * 3600.0).min(1e9))
    }

    /// The last OSV failure if it is recent: for [`RETRY_AFTER`] the API is not asked again
    /// (a scan does not wait on a dead host per package; a long-running server recovers).
    fn failed(&self) -> Option<String> {
        self.online_failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < RETRY_AFTER)
            .map(|(_, e)| e.clone())
    }

    fn set_failed(&self, e: &super::AdvisoryError) {
        tracing::warn!("OSV query failed: {e}");
        *self.online_failed.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), e.to_string()));
    }

    /// Asks OSV about many packages at once (one `querybatch` per 1,000), so that the
    /// per-package step that follows is answered from the store.
    pub async fn prefetch(&self, pkgs: &[PackageRef]) {
        let (Some(client), Ok(store)) = (&self.client, &self.store) else {
            return;
        };
        if self.failed().is_some() || pkgs.len() < 2 {
            return;
        }
        let queries: Vec<Query> = pkgs.iter().map(Self::query).collect();
        if let Err(e) = online::refresh(client, store, &queries, self.ttl()).await {
            self.set_failed(&e);
        }
    }

    async fn answer(&self, pkg: &PackageRef) -> Answer {
        let store = match &self.store {
            Ok(s) => s,
            Err(e) => {
                return Answer::Unavailable(format!("the advisory store cannot be opened: {e}"));
            }
        };
        let eco = pkg.ecosystem.osv_name();
        let mut note = None;
        if let Some(client) = &self.client {
            match self.failed() {
                None => match online::refresh(client, store, &[Self::query(pkg)], self.ttl()).await
                {
                    Ok(_) => {
                        return Answer::Report {
                            source: "osv-api",
                            note: None,
                        };
                    }
                    Err(e) => {
                        self.set_failed(&e);
                        note = Some(e.to_string());
                    }
                },
                Some(e) => note = Some(e),
            }
            if self.policy.mode == Mode::Online {
                return Answer::Unavailable(format!(
                    "the OSV API is required (advisories mode `online`) and failed: {}",
                    note.unwrap_or_default()
                ));
            }
        }
        let mirrored = online::lock(store).status().map(|s| {
            s.ecosystems
                .iter()
                .any(|e| e.ecosystem == eco && e.imported_at.is_some())
        });
        match mirrored {
            Ok(true) => Answer::Report {
                source: "local-mirror",
                note,
            },
            Ok(false) => Answer::Unavailable(match note {
                Some(n) => format!(
                    "OSV is unreachable ({n}) and there is no local {eco} advisory mirror; run `sentinel db update` where OSV is reachable or `sentinel db import <all.zip>`"
                ),
                None => format!(
                    "no local {eco} advisory mirror{}; run `sentinel db import <all.zip>` or `sentinel db update`",
                    if self.offline {
                        " and offline mode forbids the OSV API"
                    } else {
                        ""
                    }
                ),
            }),
            Err(e) => Answer::Unavailable(e.to_string()),
        }
    }

    fn keep(&self, hit: &Hit) -> bool {
        !self.ignore.contains(&hit.id.to_ascii_uppercase())
            && !hit
                .aliases
                .iter()
                .any(|a| self.ignore.contains(&a.to_ascii_uppercase()))
    }

    /// The advisory findings for `pkg`. With no version asked, `latest` (from the registry) is
    /// the version that would be installed and is evaluated; the rest goes to
    /// `advisory-history`.
    pub async fn findings(&self, pkg: &PackageRef, latest: Option<&str>) -> Vec<Finding> {
        let (source, note) = match self.answer(pkg).await {
            Answer::Unavailable(reason) => {
                return vec![finding(
                    codes::ADVISORY_UNAVAILABLE,
                    Severity::Medium,
                    format!("advisories not checked: {reason}"),
                    json!({ "reason": reason, "mode": self.policy.mode }),
                )];
            }
            Answer::Report { source, note } => (source, note),
        };
        let Ok(store) = &self.store else {
            return vec![];
        };
        let eco = pkg.ecosystem.osv_name();
        let asked = pkg.version.as_deref();
        let evaluated = asked.or(latest);
        let lookup = |v: Option<&str>| online::lock(store).lookup(eco, &pkg.name, v);
        let mut out = Vec::new();
        let ctx = Ctx {
            scheme: super::version::Scheme::for_ecosystem(eco),
            source,
            note: note.as_deref(),
            from_latest: asked.is_none(),
        };
        let mut reported: HashSet<String> = HashSet::new();
        if let Some(v) = evaluated {
            match lookup(Some(v)) {
                Ok(report) => {
                    for hit in report.hits.iter().filter(|h| self.keep(h)) {
                        reported.insert(hit.id.clone());
                        out.push(self.hit_finding(hit, &report, v, &ctx));
                    }
                }
                Err(e) => return vec![unavailable(e.to_string())],
            }
        }
        if asked.is_none() {
            let report = match lookup(None) {
                Ok(r) => r,
                Err(e) => return vec![unavailable(e.to_string())],
            };
            let mut others = Vec::new();
            for hit in report
                .hits
                .iter()
                .filter(|h| self.keep(h) && !reported.contains(&h.id))
            {
                if hit.malicious && hit.all_versions {
                    out.push(self.hit_finding(hit, &report, "", &ctx));
                } else {
                    others.push(hit);
                }
            }
            if !others.is_empty() {
                let malicious: Vec<&str> = others
                    .iter()
                    .filter(|h| h.malicious)
                    .map(|h| h.id.as_str())
                    .collect();
                let ids: Vec<&str> = others.iter().map(|h| h.id.as_str()).take(10).collect();
                let more = if others.len() > 10 {
                    format!(" and {} more", others.len() - 10)
                } else {
                    String::new()
                };
                let safe = match &report.nearest_safe {
                    Some(s) => format!("; versions from {s} on are not affected by any of them"),
                    None => "; no version is known to be free of all of them".to_owned(),
                };
                let mal = if malicious.is_empty() {
                    String::new()
                } else {
                    format!(" (malicious versions reported by {})", malicious.join(", "))
                };
                out.push(finding(
                    codes::ADVISORY_HISTORY,
                    Severity::Info,
                    format!(
                        "{} advisories affect other versions{mal}: {}{more}{safe}",
                        others.len(),
                        ids.join(", ")
                    ),
                    json!({
                        "advisories": others.iter().map(|h| json!({
                            "id": h.id, "aliases": h.aliases, "summary": h.summary, "malicious": h.malicious,
                            "severity": h.severity, "score": h.score, "affected": h.affected, "fixed": h.fixed,
                        })).collect::<Vec<_>>(),
                        "nearest_safe": report.nearest_safe,
                        "evaluated_version": evaluated,
                        "source": source,
                    }),
                ));
            }
        }
        out
    }

    fn hit_finding(&self, hit: &Hit, report: &Report, version: &str, ctx: &Ctx<'_>) -> Finding {
        let aliases = if hit.aliases.is_empty() {
            String::new()
        } else {
            format!(" ({})", hit.aliases.join(", "))
        };
        let summary = hit.summary.as_deref().unwrap_or("no summary");
        let at = if version.is_empty() {
            "every version".to_owned()
        } else if ctx.from_latest {
            format!("the latest version {version}")
        } else {
            format!("version {version}")
        };
        let safe = match &report.nearest_safe {
            Some(s) if !hit.malicious => format!("; nearest safe version {s}"),
            _ => String::new(),
        };
        // The message names the fixes above the version (RustSec lists one per old branch);
        // the evidence keeps them all.
        let above: Vec<&str> = match ctx.scheme.parse(version) {
            Some(v) => hit
                .fixed
                .iter()
                .filter(|f| ctx.scheme.parse(f).is_some_and(|f| f > v))
                .map(String::as_str)
                .collect(),
            None => hit.fixed.iter().map(String::as_str).collect(),
        };
        let fixed = if above.is_empty() {
            "no fixed version".to_owned()
        } else {
            format!("fixed in {}", above.join(", "))
        };
        let uncertain = hit
            .uncertain
            .as_deref()
            .map(|u| format!(" [{u}]"))
            .unwrap_or_default();
        let evidence = json!({
            "id": hit.id,
            "aliases": hit.aliases,
            "summary": hit.summary,
            "malicious": hit.malicious,
            "severity": hit.severity,
            "score": hit.score,
            "vector": hit.vector,
            "informational": hit.informational,
            "affected": hit.affected,
            "fixed": hit.fixed,
            "nearest_safe": report.nearest_safe,
            "version": if version.is_empty() { None } else { Some(version) },
            "uncertain": hit.uncertain,
            "url": hit.url,
            "modified": hit.modified,
            "source": ctx.source,
            "osv_error": ctx.note,
        });
        if hit.malicious {
            return finding(
                codes::ADVISORY_MALICIOUS,
                Severity::Critical,
                format!(
                    "malicious package: {}{aliases} affects {at}: {summary}{uncertain}",
                    hit.id
                ),
                evidence,
            );
        }
        if let Some(kind) = &hit.informational {
            return finding(
                codes::ADVISORY_INFORMATIONAL,
                Severity::Low,
                format!("{} ({kind}){aliases}: {summary}", hit.id),
                evidence,
            );
        }
        let score = hit.score.map(|s| format!(" {s:.1}")).unwrap_or_default();
        let mut f = finding(
            codes::ADVISORY_VULNERABLE,
            severity_of(hit.severity),
            format!(
                "{}{aliases} affects {at}: {summary}; severity {}{score}; {fixed}{safe}{uncertain}",
                hit.id,
                hit.severity.as_str()
            ),
            evidence,
        );
        // The policy's severity threshold decides; `[rules] advisory-vulnerable` overrides it
        // in the engine's `decide`.
        f.action = self.policy.vulnerable_decision(hit.severity);
        f
    }
}

struct Ctx<'a> {
    scheme: super::version::Scheme,
    source: &'static str,
    note: Option<&'a str>,
    from_latest: bool,
}

fn unavailable(reason: String) -> Finding {
    finding(
        codes::ADVISORY_UNAVAILABLE,
        Severity::Medium,
        format!("advisories not checked: {reason}"),
        json!({ "reason": reason }),
    )
}

fn finding(
    code: &str,
    severity: Severity,
    message: String,
    evidence: serde_json::Value,
) -> Finding {
    Finding {
        code: code.to_owned(),
        severity,
        action: Decision::Allow,
        message,
        evidence,
    }
}

/// Finding severity of an advisory level (`unknown` counts as medium: not known to be minor).
pub fn severity_of(level: Level) -> Severity {
    match level {
        Level::Critical => Severity::Critical,
        Level::High => Severity::High,
        Level::Medium | Level::Unknown => Severity::Medium,
        Level::Low | Level::None => Severity::Low,
    }
}
