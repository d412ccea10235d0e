//! Renders verdicts as text, JSON or SARIF 2.1.0 (rule ids are the stable finding codes).
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::json;

use crate::verdict::{Decision, Verdict, codes};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// One line per package, then its findings (human readable).
    #[default]
    Text,
    /// `{"version":1,"decision":…,"summary":…,"verdicts":[…]}` (stable, documented).
    Json,
    /// SARIF 2.1.0 for code-scanning tools.
    Sarif,
}

/// Counts by decision.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Packages checked.
    pub total: usize,
    /// Allowed.
    pub allowed: usize,
    /// Warned.
    pub warned: usize,
    /// Blocked.
    pub blocked: usize,
}

/// Counts verdicts.
pub fn summary(verdicts: &[Verdict]) -> Summary {
    let mut s = Summary {
        total: verdicts.len(),
        ..Summary::default()
    };
    for v in verdicts {
        match v.decision {
            Decision::Allow => s.allowed += 1,
            Decision::Warn => s.warned += 1,
            Decision::Block => s.blocked += 1,
        }
    }
    s
}

/// The worst decision (allow when empty).
pub fn overall(verdicts: &[Verdict]) -> Decision {
    verdicts
        .iter()
        .map(|v| v.decision)
        .max()
        .unwrap_or(Decision::Allow)
}

fn facts(v: &Verdict) -> String {
    let Some(m) = &v.metadata else {
        return String::new();
    };
    let mut parts = vec![format!("{} versions", m.version_count)];
    if let Some(l) = &m.latest_version {
        parts.push(format!("latest {l}"));
    }
    if let Some(f) = &m.first_release {
        parts.push(format!("first release {}", f.get(..10).unwrap_or(f)));
    }
    if let Some(r) = m.popularity_rank {
        parts.push(format!("popularity rank {r}"));
    }
    if let Some(r) = &m.repository {
        parts.push(format!("repository {r}"));
    }
    if m.source != "registry" {
        parts.push(format!("from {}", m.source));
    }
    parts.join(", ")
}

/// Human text: `DECISION  eco:name@ver — reason`, then indented findings and suggestions.
pub fn text(verdicts: &[Verdict], verbose: bool) -> String {
    let mut out = String::new();
    for v in verdicts {
        let headline = match v.main_finding() {
            Some(f) => f.message.clone(),
            None => {
                let f = facts(v);
                if f.is_empty() {
                    "no findings".to_string()
                } else {
                    format!("exists: {f}")
                }
            }
        };
        let _ = writeln!(
            out,
            "{:<6} {} — {}",
            v.decision.label(),
            v.package,
            headline
        );
        let main = v.main_finding().map(|f| f.code.clone());
        for f in &v.findings {
            if Some(&f.code) == main.as_ref() && v.decision != Decision::Allow {
                continue;
            }
            if f.action == Decision::Allow && !verbose && f.code != codes::ALLOWED {
                continue;
            }
            let _ = writeln!(
                out,
                "         {:<5} [{}] {}",
                f.action.label().to_ascii_lowercase(),
                f.code,
                f.message
            );
        }
        if v.decision != Decision::Allow && !facts(v).is_empty() {
            let _ = writeln!(out, "         facts: {}", facts(v));
        }
        if v.decision != Decision::Allow || verbose {
            for s in &v.suggestions {
                let _ = writeln!(
                    out,
                    "         did you mean `{}`? {} (score {:.2})",
                    s.name, s.reason, s.score
                );
            }
        }
    }
    if verdicts.len() > 1 {
        let s = summary(verdicts);
        let _ = writeln!(
            out,
            "{} packages: {} allowed, {} warned, {} blocked",
            s.total, s.allowed, s.warned, s.blocked
        );
    }
    out
}

/// The JSON document (schema version 1).
pub fn json_value(verdicts: &[Verdict]) -> serde_json::Value {
    json!({
        "version": 1,
        "decision": overall(verdicts),
        "summary": summary(verdicts),
        "verdicts": verdicts,
    })
}

fn sarif_level(d: Decision) -> &'static str {
    match d {
        Decision::Block => "error",
        Decision::Warn => "warning",
        Decision::Allow => "note",
    }
}

/// SARIF 2.1.0. `artifact` is the scanned file (results point at it), if any.
pub fn sarif_value(verdicts: &[Verdict], artifact: Option<&str>) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = codes::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c,
                "name": c,
                "shortDescription": { "text": c.replace('-', " ") },
                "helpUri": "https://example.invalid/security-triad/docs/sentinel-engine.md#finding-codes",
            })
        })
        .collect();
    let mut results = Vec::new();
    for v in verdicts {
        for f in &v.findings {
            if f.action == Decision::Allow {
                continue;
            }
            let mut msg = format!("{}: {}", v.package, f.message);
            if let Some(s) = v.suggestions.first() {
                let _ = write!(msg, " (did you mean `{}`?)", s.name);
            }
            let mut r = json!({
                "ruleId": f.code,
                "level": sarif_level(f.action),
                "message": { "text": msg },
                "properties": {
                    "ecosystem": v.package.ecosystem,
                    "package": v.package.name,
                    "version": v.package.version,
                    "severity": f.severity,
                    "evidence": f.evidence,
                },
                "partialFingerprints": {
                    "sentinel/v1": format!("{}:{}:{}", v.package.ecosystem, v.package.name, f.code),
                },
            });
            if let Some(a) = artifact {
                r["locations"] = json!([{
                    "physicalLocation": { "artifactLocation": { "uri": a } }
                }]);
            }
            results.push(r);
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "sentinel",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/security-triad",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

/// Renders in a format.
pub fn render(
    verdicts: &[Verdict],
    format: Format,
    artifact: Option<&str>,
    verbose: bool,
) -> String {
    match format {
        Format::Text => text(verdicts, verbose),
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&json_value(verdicts)).unwrap_or_default()
        ),
        Format::Sarif => format!(
            "{}\n",
            serde_json::to_string_pretty(&sarif_value(verdicts, artifact)).unwrap_or_default()
        ),
    }
}
