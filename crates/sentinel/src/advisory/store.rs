//! The local advisory store: one SQLite file (WAL) holding a digest of every OSV record —
//! identity, summary, aliases, severity — and, per affected package, the versions and ranges
//! evaluation needs, indexed by (ecosystem, normalised name). A lookup reads only the rows of
//! one package.
use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::eval::{self, Matcher};
use super::version::Scheme;
use super::{AdvisoryError, Hit, Level, Report, normalize_name, osv, severity};

/// Format of the store's tables (`PRAGMA user_version`); bump when rows change meaning.
const STORE_FORMAT: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    id            TEXT PRIMARY KEY,
    modified      TEXT NOT NULL,
    modified_us   INTEGER NOT NULL,
    published     TEXT,
    summary       TEXT,
    aliases       TEXT NOT NULL,
    malicious     INTEGER NOT NULL,
    level         TEXT NOT NULL,
    score         REAL,
    vector        TEXT,
    informational TEXT,
    url           TEXT,
    ecosystem     TEXT NOT NULL,
    source        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS affected (
    record_id TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name      TEXT NOT NULL,
    matcher   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affected_package ON affected (ecosystem, name);
CREATE INDEX IF NOT EXISTS affected_record ON affected (record_id);
CREATE INDEX IF NOT EXISTS records_ecosystem ON records (ecosystem);
CREATE TABLE IF NOT EXISTS imports (
    ecosystem   TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS online_queries (
    ecosystem  TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    ids        TEXT NOT NULL,
    fetched_us INTEGER NOT NULL,
    PRIMARY KEY (ecosystem, name, version)
);
";

/// The advisory store. Not `Sync`: share it behind a mutex.
pub struct Store {
    conn: Connection,
    path: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// What happened to one record on import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    Inserted,
    Updated,
    /// The store already holds this revision or a newer one.
    Unchanged,
    /// The record is withdrawn: any copy in the store was removed.
    Withdrawn,
}

/// Counts of one import or update.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportStats {
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub withdrawn: u64,
    /// Newest `modified` among the records read.
    pub newest_modified: Option<String>,
}

impl ImportStats {
    fn count(&mut self, put: Put) {
        self.read += 1;
        match put {
            Put::Inserted => self.inserted += 1,
            Put::Updated => self.updated += 1,
            Put::Unchanged => self.unchanged += 1,
            Put::Withdrawn => self.withdrawn += 1,
        }
    }
}

/// Per-ecosystem state of the mirror.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EcosystemStatus {
    pub ecosystem: String,
    pub records: u64,
    pub malicious: u64,
    /// Newest `modified` of the ecosystem's records.
    pub newest_modified: Option<String>,
    /// When a dump of this ecosystem was last imported or updated, and from where.
    pub imported_at: Option<String>,
    pub source: Option<String>,
    /// Seconds since `imported_at`.
    pub age_seconds: Option<i64>,
}

/// `db status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub path: String,
    pub records: u64,
    pub ecosystems: Vec<EcosystemStatus>,
}

fn micros(ts: &str) -> i64 {
    ts.parse::<jiff::Timestamp>()
        .map(|t| t.as_microsecond())
        .unwrap_or(i64::MIN)
}

impl Store {
    /// Opens (creating if needed) the store at `path`, with its parent directory.
    pub fn open(path: &Path) -> Result<Store, AdvisoryError> {
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| AdvisoryError::Io {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| AdvisoryError::Store {
            path: shown.clone(),
            source,
        })?;
        Store::init(conn, shown)
    }

    /// A store in memory (tests, one-shot evaluations).
    pub fn open_in_memory() -> Result<Store, AdvisoryError> {
        let path = ":memory:".to_owned();
        let conn = Connection::open_in_memory().map_err(|source| AdvisoryError::Store {
            path: path.clone(),
            source,
        })?;
        Store::init(conn, path)
    }

    fn init(conn: Connection, path: String) -> Result<Store, AdvisoryError> {
        let store = Store { conn, path };
        let c = &store.conn;
        c.busy_timeout(std::time::Duration::from_secs(10))
            .and_then(|_| c.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|_| c.pragma_update(None, "synchronous", "NORMAL"))
            .map_err(|e| store.err(e))?;
        let version: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| store.err(e))?;
        if version != STORE_FORMAT {
            // Another format (older build): the store is a re-importable mirror, so start
            // afresh rather than misread it. An empty mirror fails closed, never open.
            if version != 0 {
                tracing::warn!(
                    "advisory store {} has format {version}, expected {STORE_FORMAT}: cleared; run `sentinel db import` or `sentinel db update` again",
                    store.path
                );
            }
            c.execute_batch(
                "DROP TABLE IF EXISTS records; DROP TABLE IF EXISTS affected;
                 DROP TABLE IF EXISTS imports; DROP TABLE IF EXISTS online_queries;",
            )
            .and_then(|_| c.pragma_update(None, "user_version", STORE_FORMAT))
            .map_err(|e| store.err(e))?;
        }
        c.execute_batch(SCHEMA).map_err(|e| store.err(e))?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> AdvisoryError {
        AdvisoryError::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// Starts an all-or-nothing write: nothing is visible until [`Writer::commit`]; dropping
    /// the writer (on any error) leaves the store as it was.
    pub fn writer(&mut self) -> Result<Writer<'_>, AdvisoryError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|source| AdvisoryError::Store {
                path: path.clone(),
                source,
            })?;
        Ok(Writer {
            tx,
            path,
            stats: ImportStats::default(),
            ecosystems: BTreeMap::new(),
            newest_us: i64::MIN,
        })
    }

    /// `modified` of a stored record, in microseconds since the epoch.
    pub fn modified_of(&self, id: &str) -> Result<Option<i64>, AdvisoryError> {
        self.conn
            .prepare_cached("SELECT modified_us FROM records WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(|e| self.err(e))
    }

    /// Newest `modified` (µs since the epoch) of the records whose primary ecosystem is
    /// `osv_ecosystem`.
    pub fn newest_modified_us(&self, osv_ecosystem: &str) -> Result<Option<i64>, AdvisoryError> {
        self.conn
            .prepare_cached("SELECT MAX(modified_us) FROM records WHERE ecosystem = ?1")
            .and_then(|mut s| s.query_row([osv_ecosystem], |r| r.get(0)))
            .map_err(|e| self.err(e))
    }

    /// Whether any record of `osv_ecosystem` is stored.
    pub fn has_ecosystem(&self, osv_ecosystem: &str) -> Result<bool, AdvisoryError> {
        self.conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM affected WHERE ecosystem = ?1)")
            .and_then(|mut s| s.query_row([osv_ecosystem], |r| r.get(0)))
            .map_err(|e| self.err(e))
    }

    /// Advisories for a package and optional version (see [`Report`]).
    pub fn lookup(
        &self,
        osv_ecosystem: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Report, AdvisoryError> {
        let scheme = Scheme::for_ecosystem(osv_ecosystem);
        let norm = normalize_name(osv_ecosystem, name);
        let mut per_record: BTreeMap<String, Vec<Matcher>> = BTreeMap::new();
        {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT record_id, matcher FROM affected WHERE ecosystem = ?1 AND name = ?2",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(params![osv_ecosystem, norm], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (id, matcher) = row.map_err(|e| self.err(e))?;
                // Rows are written by this module; one that does not decode is treated as
                // affecting every version (fail closed) rather than ignored.
                let m = serde_json::from_str::<Matcher>(&matcher).unwrap_or_else(|_| Matcher {
                    versions: vec![],
                    ranges: vec![osv::Range {
                        kind: "ECOSYSTEM".into(),
                        events: vec![osv::Event {
                            introduced: Some("0".into()),
                            ..Default::default()
                        }],
                    }],
                });
                per_record.entry(id).or_default().push(m);
            }
        }
        let parsed = version.and_then(|v| scheme.parse(v));
        let compiled: Vec<(&String, Vec<eval::Compiled<'_>>)> = per_record
            .iter()
            .map(|(id, ms)| (id, ms.iter().map(|m| m.compile(scheme)).collect()))
            .collect();
        let mut hits = Vec::new();
        for ((id, compiled_ms), matchers) in compiled.iter().zip(per_record.values()) {
            let (affected, uncertain) = match version {
                Some(v) => {
                    let mut hit = false;
                    let mut uncertain = None;
                    for c in compiled_ms {
                        let out = c.evaluate(v, parsed.as_ref());
                        if out.affected {
                            hit = true;
                            uncertain = uncertain.or(out.uncertain);
                        }
                    }
                    (hit, uncertain)
                }
                None => (matchers.iter().any(Matcher::affects_some_version), None),
            };
            if !affected {
                continue;
            }
            if let Some(mut hit) = self.hit(id)? {
                hit.affected = matchers.iter().flat_map(|m| m.describe(scheme)).collect();
                hit.fixed = matchers
                    .iter()
                    .flat_map(|m| m.fixed_versions().map(str::to_owned))
                    .collect();
                hit.uncertain = uncertain;
                hit.all_versions = matchers.iter().any(Matcher::affects_all_versions);
                hits.push(hit);
            }
        }
        let nearest_safe = if hits.is_empty() {
            None
        } else {
            let all: Vec<eval::Compiled<'_>> = compiled.into_iter().flat_map(|(_, c)| c).collect();
            eval::nearest_safe_compiled(scheme, &all, version)
        };
        hits.sort_by(|a, b| {
            b.malicious
                .cmp(&a.malicious)
                .then(b.severity.cmp(&a.severity))
                .then(a.id.cmp(&b.id))
        });
        Ok(Report {
            ecosystem: osv_ecosystem.to_owned(),
            name: name.to_owned(),
            version: version.map(str::to_owned),
            hits,
            nearest_safe,
        })
    }

    fn hit(&self, id: &str) -> Result<Option<Hit>, AdvisoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT aliases, summary, malicious, level, score, vector, informational, modified, published, url
                 FROM records WHERE id = ?1",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_row([id], |r| {
            let aliases: String = r.get(0)?;
            let level: String = r.get(3)?;
            Ok(Hit {
                id: id.to_owned(),
                aliases: serde_json::from_str(&aliases).unwrap_or_default(),
                summary: r.get(1)?,
                malicious: r.get(2)?,
                all_versions: false,
                severity: level.parse().unwrap_or(Level::Unknown),
                score: r.get(4)?,
                vector: r.get(5)?,
                informational: r.get(6)?,
                affected: vec![],
                fixed: vec![],
                uncertain: None,
                modified: r.get(7)?,
                published: r.get(8)?,
                url: r.get(9)?,
            })
        })
        .optional()
        .map_err(|e| self.err(e))
        .and_then(|hit| match hit {
            Some(h) if h.severity == Level::Unknown && !h.aliases.is_empty() => {
                self.severity_from_aliases(h).map(Some)
            }
            other => Ok(other),
        })
    }

    /// A record without severity (PYSEC records carry none) takes the highest severity of its
    /// aliases held in the store (typically the GHSA record of the same flaw), and says so in
    /// `vector`'s place by naming the alias.
    fn severity_from_aliases(&self, mut hit: Hit) -> Result<Hit, AdvisoryError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT level, score, vector FROM records WHERE id = ?1")
            .map_err(|e| self.err(e))?;
        for alias in &hit.aliases {
            let row: Option<(String, Option<f64>, Option<String>)> = stmt
                .query_row([alias], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .map_err(|e| self.err(e))?;
            if let Some((level, score, vector)) = row {
                let level: Level = level.parse().unwrap_or(Level::Unknown);
                if level > hit.severity {
                    hit.severity = level;
                    hit.score = score;
                    hit.vector = vector
                        .map(|v| format!("{v} (from {alias})"))
                        .or_else(|| Some(format!("from {alias}")));
                }
            }
        }
        Ok(hit)
    }

    /// Ecosystems, record counts, newest record and age of the mirror.
    pub fn status(&self) -> Result<Status, AdvisoryError> {
        let q = || -> rusqlite::Result<Status> {
            let records: i64 = self
                .conn
                .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))?;
            let records = records.max(0) as u64;
            let mut by_eco: BTreeMap<String, EcosystemStatus> = BTreeMap::new();
            let mut stmt = self.conn.prepare(
                "SELECT ecosystem, COUNT(*), SUM(malicious), MAX(modified_us) FROM records GROUP BY ecosystem",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?.max(0) as u64,
                    r.get::<_, i64>(2)?.max(0) as u64,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })?;
            for row in rows {
                let (eco, n, mal, newest) = row?;
                let newest_modified = newest
                    .filter(|&us| us != i64::MIN)
                    .and_then(|us| jiff::Timestamp::from_microsecond(us).ok())
                    .map(|t| t.to_string());
                by_eco.insert(
                    eco.clone(),
                    EcosystemStatus {
                        ecosystem: eco,
                        records: n,
                        malicious: mal,
                        newest_modified,
                        imported_at: None,
                        source: None,
                        age_seconds: None,
                    },
                );
            }
            let mut stmt = self
                .conn
                .prepare("SELECT ecosystem, source, imported_at FROM imports")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let now = jiff::Timestamp::now();
            for row in rows {
                let (eco, source, at) = row?;
                let entry = by_eco
                    .entry(eco.clone())
                    .or_insert_with(|| EcosystemStatus {
                        ecosystem: eco,
                        records: 0,
                        malicious: 0,
                        newest_modified: None,
                        imported_at: None,
                        source: None,
                        age_seconds: None,
                    });
                entry.age_seconds = at
                    .parse::<jiff::Timestamp>()
                    .ok()
                    .map(|t| now.as_second() - t.as_second());
                entry.imported_at = Some(at);
                entry.source = Some(source);
            }
            Ok(Status {
                path: self.path.clone(),
                records,
                ecosystems: by_eco.into_values().collect(),
            })
        };
        q().map_err(|e| self.err(e))
    }

    /// Cached `querybatch` answer for a package query, if younger than `max_age_us`.
    pub fn cached_query(
        &self,
        eco: &str,
        name: &str,
        version: &str,
        max_age_us: i64,
    ) -> Result<Option<Vec<String>>, AdvisoryError> {
        let now = jiff::Timestamp::now().as_microsecond();
        let row: Option<(String, i64)> = self
            .conn
            .prepare_cached("SELECT ids, fetched_us FROM online_queries WHERE ecosystem = ?1 AND name = ?2 AND version = ?3")
            .and_then(|mut s| s.query_row(params![eco, name, version], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(|e| self.err(e))?;
        Ok(row
            .filter(|(_, at)| now - at <= max_age_us)
            .and_then(|(ids, _)| serde_json::from_str(&ids).ok()))
    }

    /// Remembers a `querybatch` answer.
    pub fn cache_query(
        &self,
        eco: &str,
        name: &str,
        version: &str,
        ids: &[String],
    ) -> Result<(), AdvisoryError> {
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO online_queries (ecosystem, name, version, ids, fetched_us) VALUES (?1, ?2, ?3, ?4, ?5)")
            .and_then(|mut s| s.execute(params![eco, name, version, ids, jiff::Timestamp::now().as_microsecond()]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

/// An open all-or-nothing write (see [`Store::writer`]).
pub struct Writer<'a> {
    tx: rusqlite::Transaction<'a>,
    path: String,
    stats: ImportStats,
    /// Records read per primary ecosystem (the first affected package's).
    ecosystems: BTreeMap<String, u64>,
    newest_us: i64,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Writer<'_> {
    fn err(&self, source: rusqlite::Error) -> AdvisoryError {
        AdvisoryError::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> &ImportStats {
        &self.stats
    }

    /// Adds or replaces one record (newer `modified` wins; a withdrawn record is removed).
    pub fn put(&mut self, record: &osv::Record, source: &str) -> Result<Put, AdvisoryError> {
        let modified_us = micros(&record.modified);
        if modified_us > self.newest_us {
            self.newest_us = modified_us;
            self.stats.newest_modified = Some(record.modified.clone());
        }
        let primary = record
            .affected
            .iter()
            .find_map(|a| a.package.as_ref().map(|p| p.ecosystem.clone()))
            .unwrap_or_default();
        *self.ecosystems.entry(primary.clone()).or_default() += 1;
        let put = self
            .put_inner(record, source, modified_us, &primary)
            .map_err(|e| self.err(e))?;
        self.stats.count(put);
        Ok(put)
    }

    fn put_inner(
        &self,
        record: &osv::Record,
        source: &str,
        modified_us: i64,
        primary: &str,
    ) -> rusqlite::Result<Put> {
        let tx = &self.tx;
        let existing: Option<i64> = tx
            .prepare_cached("SELECT modified_us FROM records WHERE id = ?1")?
            .query_row([&record.id], |r| r.get(0))
            .optional()?;
        if record.withdrawn.is_some() {
            if existing.is_some() {
                tx.prepare_cached("DELETE FROM affected WHERE record_id = ?1")?
                    .execute([&record.id])?;
                tx.prepare_cached("DELETE FROM records WHERE id = ?1")?
                    .execute([&record.id])?;
            }
            return Ok(Put::Withdrawn);
        }
        if existing.is_some_and(|e| e >= modified_us) {
            return Ok(Put::Unchanged);
        }
        if existing.is_some() {
            tx.prepare_cached("DELETE FROM affected WHERE record_id = ?1")?
                .execute([&record.id])?;
        }
        let sev = severity::assess(record);
        let informational = record.affected.iter().find_map(|a| {
            a.database_specific
                .as_ref()?
                .get("informational")?
                .as_str()
                .map(str::to_owned)
        });
        let url = record
            .references
            .iter()
            .find(|r| r.kind.as_deref() == Some("ADVISORY"))
            .and_then(|r| r.url.clone())
            .or_else(|| Some(format!("https://osv.dev/vulnerability/{}", record.id)));
        let summary = record
            .summary
            .clone()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| {
                record
                    .details
                    .as_ref()
                    .and_then(|d| d.lines().find(|l| !l.trim().is_empty()))
                    .map(|l| {
                        let l = l.trim();
                        if l.chars().count() > 200 {
                            format!("{}…", l.chars().take(200).collect::<String>())
                        } else {
                            l.to_owned()
                        }
                    })
            });
        tx.prepare_cached(
            "INSERT OR REPLACE INTO records
             (id, modified, modified_us, published, summary, aliases, malicious, level, score, vector, informational, url, ecosystem, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?
        .execute(params![
            record.id,
            record.modified,
            modified_us,
            record.published,
            summary,
            serde_json::to_string(&record.aliases).unwrap_or_else(|_| "[]".into()),
            record.is_malicious(),
            sev.level.as_str(),
            sev.score,
            sev.vector,
            informational,
            url,
            primary,
            source,
        ])?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO affected (record_id, ecosystem, name, matcher) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for a in &record.affected {
            let Some(pkg) = &a.package else { continue };
            let matcher =
                Matcher::from_affected(super::version::Scheme::for_ecosystem(&pkg.ecosystem), a);
            let json = serde_json::to_string(&matcher).unwrap_or_else(|_| "{}".into());
            insert.execute(params![
                record.id,
                pkg.ecosystem,
                normalize_name(&pkg.ecosystem, &pkg.name),
                json
            ])?;
        }
        Ok(if existing.is_some() {
            Put::Updated
        } else {
            Put::Inserted
        })
    }

    /// Makes the write visible without recording it as a dump import (online fetches).
    pub fn commit_quiet(self) -> Result<ImportStats, AdvisoryError> {
        let path = self.path.clone();
        self.tx
            .commit()
            .map_err(|source| AdvisoryError::Store { path, source })?;
        Ok(self.stats)
    }

    /// Makes the write visible and records, for each ecosystem the records came from, where and
    /// when the mirror was refreshed.
    pub fn commit(self, source: &str) -> Result<ImportStats, AdvisoryError> {
        let now = jiff::Timestamp::now().to_string();
        let path = self.path.clone();
        let err = |source| AdvisoryError::Store {
            path: path.clone(),
            source,
        };
        for eco in self.ecosystems.keys().filter(|e| !e.is_empty()) {
            self.tx
                .execute(
                    "INSERT OR REPLACE INTO imports (ecosystem, source, imported_at) VALUES (?1, ?2, ?3)",
                    params![eco, source, now],
                )
                .map_err(err)?;
        }
        self.tx.commit().map_err(err)?;
        Ok(self.stats)
    }
}
