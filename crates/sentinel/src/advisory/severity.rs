//! Severity of a vulnerability: CVSS v2/v3/v4 vectors scored with the `cvss` crate (RustSec's
//! implementation of the FIRST specifications), else the database's own label (GHSA's
//! `database_specific.severity`).
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::osv;

/// Qualitative severity, ordered from least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No score and no label: the advisory says nothing about severity.
    Unknown,
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    /// CVSS v3/v4 qualitative rating of a base score.
    pub fn from_score(score: f64) -> Level {
        if score <= 0.0 {
            Level::None
        } else if score < 4.0 {
            Level::Low
        } else if score < 7.0 {
            Level::Medium
        } else if score < 9.0 {
            Level::High
        } else {
            Level::Critical
        }
    }

    /// Reads a label such as GHSA's `HIGH` or `MODERATE`.
    pub fn from_label(label: &str) -> Option<Level> {
        match label.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Level::Critical),
            "high" | "important" => Some(Level::High),
            "medium" | "moderate" => Some(Level::Medium),
            "low" => Some(Level::Low),
            "none" => Some(Level::None),
            _ => None,
        }
    }

    /// Lower-case name as written in policies and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Unknown => "unknown",
            Level::None => "none",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("unknown") {
            return Ok(Level::Unknown);
        }
        Level::from_label(s).ok_or_else(|| {
            format!("unknown severity `{s}` (expected none, low, medium, high, critical, unknown)")
        })
    }
}

/// The severity Sentinel assigns to a record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub level: Level,
    /// Highest CVSS base score among the record's vectors, when one could be scored.
    pub score: Option<f64>,
    /// The vector the score comes from.
    pub vector: Option<String>,
}

/// Scores one CVSS vector (`CVSS:3.1/AV:N/…`, `CVSS:4.0/…`, or a bare v2 vector).
pub fn cvss_score(vector: &str) -> Option<f64> {
    let v = cvss::Cvss::from_str(vector.trim()).ok()?;
    let score = v.score();
    score.is_finite().then_some(score)
}

/// Severity of a record: the highest scored CVSS vector (record level and per affected package),
/// else the database's label, else [`Level::Unknown`].
pub fn assess(record: &osv::Record) -> Assessment {
    let vectors = record
        .severity
        .iter()
        .chain(record.affected.iter().flat_map(|a| a.severity.iter()));
    let mut best: Option<(f64, String)> = None;
    for sev in vectors {
        if !sev.kind.starts_with("CVSS") {
            continue;
        }
        if let Some(score) = cvss_score(&sev.score)
            && best.as_ref().is_none_or(|(b, _)| score > *b)
        {
            best = Some((score, sev.score.clone()));
        }
    }
    if let Some((score, vector)) = best {
        return Assessment {
            level: Level::from_score(score),
            score: Some(score),
            vector: Some(vector),
        };
    }
    let label = record
        .database_specific
        .as_ref()
        .and_then(|d| d.get("severity"))
        .and_then(|s| s.as_str())
        .and_then(Level::from_label);
    Assessment {
        level: label.unwrap_or(Level::Unknown),
        score: None,
        vector: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_published_cvss_examples() {
        // CVSS v3.1 specification examples (FIRST, "CVSS v3.1 Examples").
        assert_eq!(
            cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Some(9.8)
        );
        assert_eq!(
            cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
            Some(7.5)
        );
        assert_eq!(
            cvss_score("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"),
            Some(6.1)
        );
        // CVSS v4.0: all-high network vector is 10.0 per FIRST's calculator.
        assert_eq!(
            cvss_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H"),
            Some(10.0)
        );
        assert_eq!(cvss_score("AV:N/AC:L/Au:N/C:P/I:P/A:P"), Some(7.5));
        assert_eq!(cvss_score("not a vector"), None);
        assert_eq!(cvss_score(""), None);
    }

    #[test]
    fn levels_follow_cvss_bands() {
        assert_eq!(Level::from_score(9.8), Level::Critical);
        assert_eq!(Level::from_score(7.0), Level::High);
        assert_eq!(Level::from_score(6.9), Level::Medium);
        assert_eq!(Level::from_score(0.1), Level::Low);
        assert_eq!(Level::from_label("MODERATE"), Some(Level::Medium));
        assert!(Level::Critical > Level::High && Level::Low > Level::Unknown);
    }
}
