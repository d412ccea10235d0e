//! SQLite storage of the log: leaves, complete Merkle subtrees, signed checkpoints, the erasable
//! content store and per-subject keys. WAL journal with `synchronous=FULL`: a commit that
//! returned is on disk. `secure_delete` overwrites erased content.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use std::collections::HashMap;

use crate::merkle::{self, Hash, HashReader, MerkleError, Recorder};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(
    idx INTEGER PRIMARY KEY,
    execution_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    ts TEXT NOT NULL,
    leaf BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS entries_ts ON entries(ts);
CREATE TABLE IF NOT EXISTS nodes(
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY(level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subjects(subject TEXT PRIMARY KEY, key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS content(idx INTEGER PRIMARY KEY, subject TEXT NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS content_subject ON content(subject);
";

/// Opens (and creates the tables of) the log database with durable settings.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    // 64 MiB page cache: the execution-id index takes random inserts, which the 2 MiB default
    // turns into disk reads once the log holds a few hundred thousand records.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

pub fn meta_get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

pub fn meta_set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
        params![key, value],
    )?;
    Ok(())
}

/// Number of leaves: one past the highest index (a deleted row leaves a gap that verify names).
pub fn tree_size(conn: &Connection) -> rusqlite::Result<u64> {
    let max: Option<i64> = conn.query_row("SELECT MAX(idx) FROM entries", [], |r| r.get(0))?;
    Ok(max.map_or(0, |m| m as u64 + 1))
}

/// Latest stored checkpoint note, if any.
pub fn latest_checkpoint(conn: &Connection) -> rusqlite::Result<Option<(u64, String)>> {
    conn.query_row(
        "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
    )
    .optional()
}

/// Reads complete subtrees from the `nodes` table.
pub struct NodeReader<'a>(pub &'a Connection);

impl HashReader for NodeReader<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, MerkleError> {
        let mut st = self
            .0
            .prepare_cached("SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2")
            .map_err(|e| MerkleError::Storage(e.to_string()))?;
        let h: Option<Vec<u8>> = st
            .query_row(params![level, index as i64], |r| r.get(0))
            .optional()
            .map_err(|e| MerkleError::Storage(e.to_string()))?;
        h.and_then(|v| v.try_into().ok())
            .ok_or(MerkleError::MissingNode { level, index })
    }
}

/// Fetches the given nodes in one query.
pub fn fetch_nodes(
    conn: &Connection,
    want: &[(u8, u64)],
) -> Result<HashMap<(u8, u64), Hash>, MerkleError> {
    let mut out = HashMap::with_capacity(want.len());
    if want.is_empty() {
        return Ok(out);
    }
    let storage = |e: rusqlite::Error| MerkleError::Storage(e.to_string());
    let values = vec!["(?,?)"; want.len()].join(",");
    let sql = format!(
        "WITH want(l, i) AS (VALUES {values}) SELECT n.level, n.idx, n.hash FROM want JOIN nodes n ON n.level = want.l AND n.idx = want.i"
    );
    let mut st = conn.prepare_cached(&sql).map_err(storage)?;
    let params: Vec<i64> = want
        .iter()
        .flat_map(|&(l, i)| [i64::from(l), i as i64])
        .collect();
    let mut rows = st
        .query(rusqlite::params_from_iter(params))
        .map_err(storage)?;
    while let Some(r) = rows.next().map_err(storage)? {
        let (l, i, h): (u8, i64, Vec<u8>) = (
            r.get(0).map_err(storage)?,
            r.get(1).map_err(storage)?,
            r.get(2).map_err(storage)?,
        );
        if let Ok(h) = h.try_into() {
            out.insert((l, i as u64), h);
        }
    }
    Ok(out)
}

/// Inclusion proof from the database with one query for all the nodes it needs.
pub fn inclusion_proof(conn: &Connection, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
    let rec = Recorder::default();
    merkle::inclusion_proof(&rec, index, size)?;
    merkle::inclusion_proof(&fetch_nodes(conn, &rec.take())?, index, size)
}

/// Consistency proof from the database with one query for all the nodes it needs.
pub fn consistency_proof(
    conn: &Connection,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, MerkleError> {
    let rec = Recorder::default();
    merkle::consistency_proof(&rec, size1, size2)?;
    merkle::consistency_proof(&fetch_nodes(conn, &rec.take())?, size1, size2)
}

/// Root of the first `size` leaves, from stored nodes.
pub fn root(conn: &Connection, size: u64) -> Result<Hash, MerkleError> {
    let rec = Recorder::default();
    merkle::root(&rec, size)?;
    merkle::root(&fetch_nodes(conn, &rec.take())?, size)
}
