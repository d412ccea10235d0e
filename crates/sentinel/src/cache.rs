//! On-disk cache of registry answers (SQLite, one row per package) with a time-to-live.
//! Stores the reduced [`Lookup`], not raw documents, so a warm `scan` reads a few KB per package.
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::ecosystem::Ecosystem;
use crate::registry::Lookup;

/// Cache errors (the engine treats them as "not cached", never as a verdict).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Cannot create the directory.
    #[error("cannot create cache directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("cache database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
}

/// A cached answer.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The answer.
    pub lookup: Lookup,
    /// Seconds since it was fetched.
    pub age_secs: i64,
}

/// The cache database.
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl Cache {
    /// Opens (creating) `<dir>/cache.sqlite`.
    pub fn open(dir: &Path) -> Result<Cache, CacheError> {
        std::fs::create_dir_all(dir).map_err(|e| CacheError::Dir {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let path = dir.join("cache.sqlite");
        let err = |e| CacheError::Sqlite {
            path: path.clone(),
            source: e,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS packages (
                 ecosystem TEXT NOT NULL,
                 name TEXT NOT NULL,
                 fetched_at INTEGER NOT NULL,
                 answer TEXT NOT NULL,
                 PRIMARY KEY (ecosystem, name)
             );",
        )
        .map_err(err)?;
        Ok(Cache {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cached answer for a package, however old (the caller applies the TTL). A row that
    /// does not decode is treated as absent.
    pub fn get(&self, eco: Ecosystem, key: &str) -> Option<Cached> {
        let conn = self.conn.lock().ok()?;
        let row: Option<(i64, String)> = conn
            .prepare_cached(
                "SELECT fetched_at, answer FROM packages WHERE ecosystem=?1 AND name=?2",
            )
            .ok()?
            .query_row(params![eco.as_str(), key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .ok()?;
        let (at, text) = row?;
        let lookup: Lookup = serde_json::from_str(&text).ok()?;
        Some(Cached {
            lookup,
            age_secs: now() - at,
        })
    }

    /// Stores an answer now.
    pub fn put(&self, eco: Ecosystem, key: &str, lookup: &Lookup) -> Result<(), CacheError> {
        let text = serde_json::to_string(lookup).unwrap_or_default();
        let conn = match self.conn.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        conn.prepare_cached(
            "INSERT INTO packages (ecosystem, name, fetched_at, answer) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(ecosystem, name) DO UPDATE SET fetched_at=excluded.fetched_at, answer=excluded.answer",
        )
        .and_then(|mut s| s.execute(params![eco.as_str(), key, now(), text]))
        .map_err(|e| CacheError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        Ok(())
    }

    /// Number of cached packages.
    pub fn len(&self) -> usize {
        self.conn
            .lock()
            .ok()
            .and_then(|c| {
                c.query_row("SELECT count(*) FROM packages", [], |r| r.get::<_, i64>(0))
                    .ok()
            })
            .map_or(0, |n| n as usize)
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::PackageRecord;

    #[test]
    fn round_trip_and_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(dir.path()).unwrap();
        assert!(c.get(Ecosystem::Pypi, "requests").is_none());
        c.put(Ecosystem::Pypi, "requests", &Lookup::NotFound)
            .unwrap();
        let rec = PackageRecord {
            name: "requests".into(),
            ..Default::default()
        };
        c.put(Ecosystem::Pypi, "requests", &Lookup::Found(Box::new(rec)))
            .unwrap();
        let got = c.get(Ecosystem::Pypi, "requests").unwrap();
        assert!(matches!(got.lookup, Lookup::Found(_)));
        assert!(got.age_secs <= 1);
        assert_eq!(c.len(), 1);
        drop(c);
        let c = Cache::open(dir.path()).unwrap();
        assert_eq!(c.len(), 1, "cache not persisted");
    }
}
