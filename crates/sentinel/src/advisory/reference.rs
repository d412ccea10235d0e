//! Reference evaluation: the osv-schema "Evaluation" pseudo-code applied literally, record by
//! record, to full OSV records held in memory. It shares only the version ordering with the
//! store, so tests compare the store's indexed answers against it and the benchmark measures
//! what the index buys.
use std::io::Read;
use std::path::Path;

use super::version::Scheme;
use super::{AdvisoryError, normalize_name, osv};

/// Every record of one or more dumps, in memory.
#[derive(Debug, Default)]
pub struct Reference {
    pub records: Vec<osv::Record>,
}

impl Reference {
    /// Loads every record of an OSV `all.zip`.
    pub fn load_zip(&mut self, path: &Path) -> Result<(), AdvisoryError> {
        let label = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| AdvisoryError::Io {
            path: label.clone(),
            source,
        })?;
        let bad = |e: zip::result::ZipError| AdvisoryError::MalformedZip {
            file: label.clone(),
            reason: e.to_string(),
        };
        let mut zip = zip::ZipArchive::new(file).map_err(bad)?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(bad)?;
            let name = entry.name().map_err(bad)?.into_owned();
            if !name.ends_with(".json") {
                continue;
            }
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| AdvisoryError::MalformedZip {
                    file: label.clone(),
                    reason: e.to_string(),
                })?;
            let record = osv::Record::from_slice(&bytes).map_err(|reason| {
                AdvisoryError::MalformedRecord {
                    file: format!("{label}: {name}"),
                    reason,
                }
            })?;
            self.records.push(record);
        }
        Ok(())
    }

    /// IDs (sorted) of the non-withdrawn records that affect `name@version` in `ecosystem`.
    pub fn affecting(&self, ecosystem: &str, name: &str, version: &str) -> Vec<String> {
        let scheme = Scheme::for_ecosystem(ecosystem);
        let want = normalize_name(ecosystem, name);
        let v = scheme.parse(version);
        let mut ids: Vec<String> = self
            .records
            .iter()
            .filter(|r| r.withdrawn.is_none())
            .filter(|r| {
                r.affected.iter().any(|a| {
                    a.package.as_ref().is_some_and(|p| {
                        p.ecosystem == ecosystem && normalize_name(ecosystem, &p.name) == want
                    }) && affected_entry(scheme, a, version, v.as_ref())
                })
            })
            .map(|r| r.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

impl Reference {
    /// The non-withdrawn records that name the package at all (any version), as
    /// `(id, modified)`: what OSV's query API answers when no version is given.
    pub fn naming(&self, ecosystem: &str, name: &str) -> Vec<(String, String)> {
        let want = normalize_name(ecosystem, name);
        self.records
            .iter()
            .filter(|r| r.withdrawn.is_none())
            .filter(|r| {
                r.affected.iter().any(|a| {
                    a.package.as_ref().is_some_and(|p| {
                        p.ecosystem == ecosystem && normalize_name(ecosystem, &p.name) == want
                    })
                })
            })
            .map(|r| (r.id.clone(), r.modified.clone()))
            .collect()
    }
}

fn affected_entry(
    scheme: Scheme,
    a: &osv::Affected,
    raw: &str,
    v: Option<&super::version::Version>,
) -> bool {
    if a.versions.iter().any(|x| x == raw) {
        return true;
    }
    let Some(v) = v else {
        // Not comparable: affected if the entry affects anything (fail closed).
        return !a.versions.is_empty()
            || a.ranges
                .iter()
                .any(|r| r.kind != "GIT" && !r.events.is_empty());
    };
    if a.versions
        .iter()
        .any(|x| scheme.parse(x).as_ref() == Some(v))
    {
        return true;
    }
    a.ranges
        .iter()
        .filter(|r| r.kind == "SEMVER" || r.kind == "ECOSYSTEM")
        .any(|r| includes(scheme, r, v))
}

/// `includes(v, range)` from the osv-schema: sort events, then walk them.
fn includes(scheme: Scheme, range: &osv::Range, v: &super::version::Version) -> bool {
    // (version or None for "0"/unparsable introduced, kind: 0 introduced, 1 last_affected, 2 fixed, 3 limit)
    let mut events = Vec::new();
    for e in &range.events {
        let (text, kind) = match (&e.introduced, &e.fixed, &e.last_affected, &e.limit) {
            (Some(t), _, _, _) => (t, 0u8),
            (_, Some(t), _, _) => (t, 2),
            (_, _, Some(t), _) => (t, 1),
            (_, _, _, Some(t)) => (t, 3),
            _ => continue,
        };
        match (kind, scheme.parse(text)) {
            (0, _) if text == "0" => events.push((None, kind)),
            (_, Some(p)) => events.push((Some(p), kind)),
            (0, None) => events.push((None, kind)),
            (_, None) => {}
        }
    }
    events.sort_by(|a, b| match (&a.0, &b.0) {
        (None, None) => a.1.cmp(&b.1),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y).then(a.1.cmp(&b.1)),
    });
    let mut affected = false;
    for (at, kind) in &events {
        match (kind, at) {
            (0, None) => affected = true,
            (0, Some(i)) if v >= i => affected = true,
            (2 | 3, Some(f)) if v >= f => affected = false,
            (1, Some(l)) if v > l => affected = false,
            _ => {}
        }
    }
    affected
}
