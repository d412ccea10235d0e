//! The part of the OSV schema (<https://ossf.github.io/osv-schema/>) Sentinel reads. Unknown
//! fields are ignored (the schema grows); the fields read must have the schema's types, so a
//! record that is not OSV is rejected with the reason instead of being half imported.
use serde::{Deserialize, Serialize};

/// One OSV record.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Record {
    /// `GHSA-…`, `PYSEC-…`, `MAL-…`, `RUSTSEC-…`, `GO-…`.
    pub id: String,
    /// RFC 3339 time of the last change; drives incremental updates.
    pub modified: String,
    #[serde(default)]
    pub published: Option<String>,
    /// Set when the record was retracted: such records are dropped.
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub severity: Vec<Severity>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub affected: Vec<Affected>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// A severity entry: `type` is `CVSS_V2`, `CVSS_V3`, `CVSS_V4` or `Ubuntu`; `score` the vector.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Severity {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

/// One affected package of a record.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<Package>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub severity: Vec<Severity>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ranges: Vec<Range>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub versions: Vec<String>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
}

/// The package an `affected` entry names.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Package {
    pub ecosystem: String,
    pub name: String,
    #[serde(default)]
    pub purl: Option<String>,
}

/// A version range: `SEMVER`, `ECOSYSTEM` or `GIT` with its events.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub events: Vec<Event>,
}

/// One event of a range; exactly one field is set in a valid record.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// A reference link.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Reference {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Record {
    /// Parses one record and checks the fields the schema requires.
    pub fn from_slice(bytes: &[u8]) -> Result<Record, String> {
        let record: Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if record.id.trim().is_empty() {
            return Err("empty `id`".into());
        }
        if record.modified.parse::<jiff::Timestamp>().is_err() {
            return Err(format!(
                "`modified` is not an RFC 3339 time: {:?}",
                record.modified
            ));
        }
        Ok(record)
    }

    /// A malicious-package report: an OSV `MAL-` record, or a record whose database marks the
    /// package as malicious (RustSec's `malicious` category).
    pub fn is_malicious(&self) -> bool {
        if self.id.starts_with("MAL-") {
            return true;
        }
        self.affected.iter().any(|a| {
            a.database_specific
                .as_ref()
                .and_then(|d| d.get("categories"))
                .and_then(|c| c.as_array())
                .is_some_and(|c| c.iter().any(|v| v.as_str() == Some("malicious")))
        })
    }
}
