//! The library API: open a log directory and record model calls in one line.
//!
//! ```no_run
//! # fn main() -> Result<(), cutufato::LogError> {
//! use cutufato::{Auditor, Decision};
//! let mut log = Auditor::open(".cutufato")?;
//! let id = log.record(Decision::new("What is the notice period?", "Thirty days.", "gpt-x").actor("alice"))?;
//! # Ok(()) }
//! ```
//!
//! A log directory holds `log.db` (SQLite), `signing.key` (0600, Go `note` private key format),
//! `trusted.keys` (verifier keys, current and retired, one per line) and `checkpoint` (the latest
//! signed checkpoint, written after each commit, outside the database).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::merkle::{Frontier, MerkleError, leaf_hash};
use crate::note::{Checkpoint, NoteError, Signer, Verifier};
use crate::record::{
    Body, ChunkRef, ContextChunk, Decision, DecisionRecord, Entry, ErasureRecord, Event,
    EventRecord, KeyRotationRecord, RecordError, SCHEMA_VERSION, canonical,
};
use crate::store;

pub const DB_FILE: &str = "log.db";
pub const KEY_FILE: &str = "signing.key";
pub const TRUSTED_FILE: &str = "trusted.keys";
pub const CHECKPOINT_FILE: &str = "checkpoint";

/// Errors of the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("no log at {0}: run `cutufato init` first (or pass --dir)")]
    NotInitialized(PathBuf),
    #[error("a log already exists at {0}")]
    AlreadyInitialized(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("signing key {path}: {msg}")]
    Key { path: PathBuf, msg: String },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("merkle tree: {0}")]
    Merkle(#[from] MerkleError),
    #[error("unknown execution id {0:?}")]
    UnknownId(String),
    #[error("{0}")]
    NotFound(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("{0}")]
    Inconsistent(String),
    #[error("batch commit failed: {0}")]
    Batch(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The erasable content of a record, kept outside the tree: a decision's prompt, response,
/// chunk texts, attribution and override, or an event's summary and data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub response: String,
    /// Chunk texts in the order of the record's `context_chunks`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human_override: Option<Value>,
    /// An event's summary line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// An event's detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A stored leaf with its position and erasable content (if not erased).
#[derive(Debug, Clone)]
pub struct Stored {
    pub index: u64,
    /// Exact leaf bytes as committed.
    pub leaf: Vec<u8>,
    pub entry: Entry,
    pub content: Option<Content>,
    /// Per-subject key, present until the subject is erased.
    pub subject_key: Option<Vec<u8>>,
}

/// `hmac-sha256:<hex>` of `data` under `key`.
pub fn keyed_hash(key: &[u8], data: &[u8]) -> String {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac accepts any key length");
    mac.update(data);
    format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
}

fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

fn random_hex(n: usize) -> String {
    hex::encode(random_bytes(n))
}

/// UTC now with microseconds, fixed width so text order is time order.
pub fn now_timestamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Writes `data` to `path` atomically (temp file, fsync, rename, fsync directory).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), LogError> {
    replace_file(path, data, mode)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Replaces `path` with complete, synced contents (temp file, fsync, rename). Without the
/// directory fsync a crash may keep the previous file, never a partial one: right for the
/// outside checkpoint, where an older checkpoint is still a valid one.
pub fn replace_file(path: &Path, data: &[u8], mode: u32) -> Result<(), LogError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Reads the trusted verifier keys of a file (one per line, `#` comments allowed).
pub fn read_trusted(path: &Path) -> Result<Vec<Verifier>, LogError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let mut out = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        out.push(Verifier::parse(line)?);
    }
    Ok(out)
}

/// An open log.
pub struct Auditor {
    dir: PathBuf,
    conn: Connection,
    signer: Option<Signer>,
    origin: String,
    frontier: Frontier,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("dir", &self.dir)
            .field("origin", &self.origin)
            .finish()
    }
}

impl Auditor {
    /// Creates a log in `dir` with a fresh Ed25519 key named `origin` (default
    /// `cutufato.local/log-<random>`). Returns the open log; its verifier key is
    /// [`Auditor::verifier`].
    pub fn init(dir: impl AsRef<Path>, origin: Option<&str>) -> Result<Self, LogError> {
        let dir = dir.as_ref();
        if dir.join(DB_FILE).exists() || dir.join(KEY_FILE).exists() {
            return Err(LogError::AlreadyInitialized(dir.to_owned()));
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let origin = origin.map_or_else(
            || format!("cutufato.local/log-{}", random_hex(4)),
            str::to_owned,
        );
        let signer = Signer::generate(&origin)?;
        write_atomic(
            &dir.join(KEY_FILE),
            format!("{}\n", signer.to_private_string()).as_bytes(),
            0o600,
        )?;
        write_atomic(
            &dir.join(TRUSTED_FILE),
            format!(
                "# verifier keys of {origin} (current and retired)\n{}\n",
                signer.verifier()
            )
            .as_bytes(),
            0o644,
        )?;
        let conn = store::open(&dir.join(DB_FILE))?;
        store::meta_set(&conn, "origin", &origin)?;
        store::meta_set(&conn, "created", &now_timestamp())?;
        store::meta_set(&conn, "retention_days", "183")?;
        let mut a = Self {
            dir: dir.to_owned(),
            conn,
            signer: Some(signer),
            origin,
            frontier: Frontier::new(),
        };
        a.write_checkpoint()?;
        Ok(a)
    }

    /// Opens an existing log; the signing key is loaded when present (needed to record).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LogError> {
        let dir = dir.as_ref();
        let db = dir.join(DB_FILE);
        if !db.exists() {
            return Err(LogError::NotInitialized(dir.to_owned()));
        }
        let conn = store::open(&db)?;
        let origin = store::meta_get(&conn, "origin")?.ok_or_else(|| {
            LogError::Invalid(format!(
                "{} has no origin: not a cutufato log",
                db.display()
            ))
        })?;
        let key_path = dir.join(KEY_FILE);
        let signer = if key_path.exists() {
            Some(load_signer(&key_path, &origin)?)
        } else {
            None
        };
        let size = store::tree_size(&conn)?;
        let frontier = Frontier::load(&store::NodeReader(&conn), size)?;
        Ok(Self {
            dir: dir.to_owned(),
            conn,
            signer,
            origin,
            frontier,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
    /// Number of leaves in the log.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    fn signer(&self) -> Result<&Signer, LogError> {
        self.signer.as_ref().ok_or_else(|| LogError::Key {
            path: self.dir.join(KEY_FILE),
            msg: "missing: this copy of the log can be verified but not written".into(),
        })
    }

    /// Verifier key of the current signing key.
    pub fn verifier(&self) -> Result<Verifier, LogError> {
        Ok(self.signer()?.verifier())
    }

    /// Signs a note (text ending in a newline) with the log's current key.
    pub fn sign_note(&self, text: &str) -> Result<String, LogError> {
        Ok(self.signer()?.sign_note(text)?)
    }

    /// Trusted verifier keys of this log (`trusted.keys`).
    pub fn trusted_keys(&self) -> Result<Vec<Verifier>, LogError> {
        read_trusted(&self.dir.join(TRUSTED_FILE))
    }

    /// Records one model call: returns its execution id once it is durably committed and
    /// covered by a signed checkpoint.
    pub fn record(&mut self, decision: Decision) -> Result<String, LogError> {
        let mut ids = self.record_batch(vec![decision])?;
        ids.pop()
            .ok_or_else(|| LogError::Invalid("empty batch".into()))
    }

    /// Records many model calls in one transaction (one fsync, one checkpoint).
    pub fn record_batch(&mut self, decisions: Vec<Decision>) -> Result<Vec<String>, LogError> {
        for d in &decisions {
            validate(d)?;
        }
        let mut keys: HashMap<String, Vec<u8>> = HashMap::new();
        let mut pending = Vec::with_capacity(decisions.len());
        let timestamp = now_timestamp();
        for d in decisions {
            let subject = d.subject_or_default().to_owned();
            let key = match keys.get(&subject) {
                Some(k) => k.clone(),
                None => {
                    let k = self.subject_key(&subject, true)?.unwrap_or_default();
                    keys.insert(subject.clone(), k.clone());
                    k
                }
            };
            let chunks = d
                .context
                .iter()
                .map(|c: &ContextChunk| ChunkRef {
                    doc_id: c.doc_id.clone(),
                    doc_sha256: c.doc_sha256.clone(),
                    page: c.page,
                    line: c.line,
                    text_hash: keyed_hash(&key, c.text.as_bytes()),
                    score: c.score,
                })
                .collect();
            let attribution_hash = match &d.attribution {
                Some(a) => Some(keyed_hash(&key, &canonical(a)?)),
                None => None,
            };
            let human_override_hash = match &d.human_override {
                Some(a) => Some(keyed_hash(&key, &canonical(a)?)),
                None => None,
            };
            let rec = DecisionRecord {
                execution_id: format!("exec-{}", random_hex(6)),
                timestamp: timestamp.clone(),
                model: d.model.clone(),
                actor: d.actor.clone(),
                tenant: d.tenant.clone(),
                purpose: d.purpose.clone(),
                subject_ref: keyed_hash(&key, b"subject"),
                prompt_hash: keyed_hash(&key, d.prompt.as_bytes()),
                response_hash: keyed_hash(&key, d.response.as_bytes()),
                context_chunks: chunks,
                prompt_template_hash: d.prompt_template_hash.clone(),
                policy_version: d.policy_version.clone(),
                attribution_hash,
                attribution_confidence: d.attribution_confidence,
                hallucination_detected: d.hallucination_detected,
                evaluator: d.evaluator.clone(),
                human_override_hash,
                session: d.session.clone(),
            };
            let content = Content {
                prompt: d.prompt,
                response: d.response,
                chunks: d.context.into_iter().map(|c| c.text).collect(),
                attribution: d.attribution,
                human_override: d.human_override,
                ..Content::default()
            };
            pending.push((Body::Decision(rec), Some((subject, content))));
        }
        self.append(pending)
    }

    /// Records what a tool did (a sandbox run, a blocked package): returns its execution id once
    /// it is durably committed and covered by a signed checkpoint.
    pub fn record_event(&mut self, event: Event) -> Result<String, LogError> {
        let mut ids = self.record_events(vec![event])?;
        ids.pop()
            .ok_or_else(|| LogError::Invalid("empty batch".into()))
    }

    /// Records many events in one transaction (one fsync, one checkpoint).
    pub fn record_events(&mut self, events: Vec<Event>) -> Result<Vec<String>, LogError> {
        for e in &events {
            validate_event(e)?;
        }
        let timestamp = now_timestamp();
        let mut pending = Vec::with_capacity(events.len());
        for e in events {
            let subject = e.subject_or_default().to_owned();
            let key = self.subject_key(&subject, true)?.unwrap_or_default();
            let rec = EventRecord {
                execution_id: format!("evt-{}", random_hex(6)),
                timestamp: timestamp.clone(),
                source: e.source,
                action: e.action,
                outcome: e.outcome,
                session: e.session,
                actor: e.actor,
                tenant: e.tenant,
                subject_ref: keyed_hash(&key, b"subject"),
                summary_hash: keyed_hash(&key, e.summary.as_bytes()),
                data_hash: keyed_hash(&key, &canonical(&e.data)?),
            };
            let content = Content {
                summary: Some(e.summary),
                data: Some(e.data),
                ..Content::default()
            };
            pending.push((Body::Event(rec), Some((subject, content))));
        }
        self.append(pending)
    }

    /// Gets (or creates) the key of a data subject.
    fn subject_key(&self, subject: &str, create: bool) -> Result<Option<Vec<u8>>, LogError> {
        let k: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT key FROM subjects WHERE subject = ?1",
                [subject],
                |r| r.get(0),
            )
            .optional()?;
        if k.is_some() || !create {
            return Ok(k);
        }
        // OR IGNORE + read back: another writer may have created the key meanwhile.
        self.conn.execute(
            "INSERT OR IGNORE INTO subjects(subject, key) VALUES (?1, ?2)",
            params![subject, random_bytes(32)],
        )?;
        self.subject_key(subject, false)
    }

    /// Signs and appends entries in one transaction, then writes the checkpoint outside the DB.
    fn append(
        &mut self,
        items: Vec<(Body, Option<(String, Content)>)>,
    ) -> Result<Vec<String>, LogError> {
        let saved = self.frontier.clone();
        let res = self.append_inner(items);
        if res.is_err() {
            self.frontier = saved;
        }
        let (ids, note) = res?;
        self.publish_checkpoint(&note)?;
        Ok(ids)
    }

    /// Replaces the outside checkpoint file unless it already holds a larger tree (another
    /// process appended meanwhile).
    fn publish_checkpoint(&self, note: &str) -> Result<(), LogError> {
        let path = self.dir.join(CHECKPOINT_FILE);
        let size_of = |n: &str| n.lines().nth(1).and_then(|l| l.parse::<u64>().ok());
        if let (Ok(existing), Some(ours)) = (std::fs::read_to_string(&path), size_of(note))
            && size_of(&existing).is_some_and(|theirs| theirs > ours)
        {
            return Ok(());
        }
        replace_file(&path, note.as_bytes(), 0o644)
    }

    fn append_inner(
        &mut self,
        items: Vec<(Body, Option<(String, Content)>)>,
    ) -> Result<(Vec<String>, String), LogError> {
        let signer = self.signer.as_ref().ok_or_else(|| LogError::Key {
            path: self.dir.join(KEY_FILE),
            msg: "missing: this copy of the log can be verified but not written".into(),
        })?;
        let key_id = format!("{:08x}", signer.id());
        // IMMEDIATE: take the write lock first, so another process appending to the same log
        // either waits or is seen (its leaves are picked up before ours get their indices).
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let db_size = store::tree_size(&tx)?;
        if db_size != self.frontier.size() {
            self.frontier = Frontier::load(&store::NodeReader(&tx), db_size)?;
        }
        let start = self.frontier.size();
        let (bodies, contents): (Vec<Body>, Vec<_>) = items.into_iter().unzip();
        // Sign in parallel: each leaf depends only on its body and its index.
        let origin = self.origin.as_str();
        let leaves = crate::par::par_map(&bodies, |i, body| {
            sign_leaf(signer, origin, start + i as u64, body, &key_id)
        });
        let mut ids = Vec::with_capacity(bodies.len());
        {
            let mut ins_entry =
                tx.prepare_cached("INSERT INTO entries(idx, execution_id, kind, ts, leaf) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            let mut ins_content =
                tx.prepare_cached("INSERT INTO content(idx, subject, body) VALUES (?1, ?2, ?3)")?;
            let mut ins_node = tx.prepare_cached(
                "INSERT OR REPLACE INTO nodes(level, idx, hash) VALUES (?1, ?2, ?3)",
            )?;
            for ((body, content), leaf) in bodies.iter().zip(contents).zip(leaves) {
                let leaf = leaf?;
                let index = self.frontier.size();
                ins_entry.execute(params![
                    index as i64,
                    body.execution_id(),
                    body.kind(),
                    body.timestamp(),
                    leaf
                ])?;
                if let Some((subject, c)) = content {
                    let c = serde_json::to_vec(&c).map_err(RecordError::from)?;
                    ins_content.execute(params![index as i64, subject, c])?;
                }
                let mut err = None;
                self.frontier.push(leaf_hash(&leaf), |level, idx, h| {
                    if err.is_none()
                        && let Err(e) = ins_node.execute(params![level, idx as i64, &h[..]])
                    {
                        err = Some(e);
                    }
                });
                if let Some(e) = err {
                    return Err(e.into());
                }
                ids.push(body.execution_id().to_owned());
            }
        }
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: self.frontier.size(),
            root: self.frontier.root(),
        };
        let note = signer.sign_note(&cp.body())?;
        tx.execute(
            "INSERT OR REPLACE INTO checkpoints(size, note) VALUES (?1, ?2)",
            params![cp.size as i64, note],
        )?;
        tx.commit()?;
        Ok((ids, note))
    }

    /// Signs a checkpoint of the current tree and writes it to the DB and the outside file.
    fn write_checkpoint(&mut self) -> Result<String, LogError> {
        let signer = self.signer()?;
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: self.frontier.size(),
            root: self.frontier.root(),
        };
        let note = signer.sign_note(&cp.body())?;
        self.conn.execute(
            "INSERT OR REPLACE INTO checkpoints(size, note) VALUES (?1, ?2)",
            params![cp.size as i64, note],
        )?;
        self.publish_checkpoint(&note)?;
        Ok(note)
    }

    /// Latest signed checkpoint stored in the database.
    pub fn latest_checkpoint(&self) -> Result<String, LogError> {
        store::latest_checkpoint(&self.conn)?
            .map(|(_, n)| n)
            .ok_or_else(|| LogError::NotFound("the log has no checkpoint".into()))
    }

    /// Loads a stored entry by execution id.
    pub fn get(&self, execution_id: &str) -> Result<Stored, LogError> {
        let idx: Option<i64> = self
            .conn
            .query_row(
                "SELECT idx FROM entries WHERE execution_id = ?1",
                [execution_id],
                |r| r.get(0),
            )
            .optional()?;
        let idx = idx.ok_or_else(|| LogError::UnknownId(execution_id.to_owned()))?;
        self.get_index(idx as u64)
    }

    /// Loads a stored entry by log index.
    pub fn get_index(&self, index: u64) -> Result<Stored, LogError> {
        type Row = (Vec<u8>, Option<String>, Option<Vec<u8>>, Option<Vec<u8>>);
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT e.leaf, c.subject, c.body, s.key FROM entries e
                 LEFT JOIN content c ON c.idx = e.idx
                 LEFT JOIN subjects s ON s.subject = c.subject
                 WHERE e.idx = ?1",
                [index as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (leaf, _subject, body, key) =
            row.ok_or_else(|| LogError::NotFound(format!("no entry at index {index}")))?;
        let (_, entry) = crate::record::parse_leaf(&leaf)?;
        let content = match body {
            Some(b) => Some(serde_json::from_slice(&b).map_err(RecordError::from)?),
            None => None,
        };
        Ok(Stored {
            index,
            leaf,
            entry,
            content,
            subject_key: key,
        })
    }

    /// Erases the content and key of a data subject, then appends a signed tombstone.
    /// Returns (tombstone execution id, erased execution ids).
    pub fn erase_subject(
        &mut self,
        subject: &str,
        reason: Option<&str>,
        actor: Option<&str>,
    ) -> Result<(String, Vec<String>), LogError> {
        let key = self.subject_key(subject, false)?.ok_or_else(|| {
            LogError::NotFound(format!(
                "no records for subject {subject:?} (or already erased)"
            ))
        })?;
        let erased: Vec<String> = {
            let mut st = self.conn.prepare(
                "SELECT e.execution_id FROM content c JOIN entries e ON e.idx = c.idx WHERE c.subject = ?1 ORDER BY c.idx",
            )?;
            st.query_map([subject], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        let tomb = ErasureRecord {
            execution_id: format!("erase-{}", random_hex(6)),
            timestamp: now_timestamp(),
            subject_ref: keyed_hash(&key, b"subject"),
            erased: erased.clone(),
            reason: reason.map(str::to_owned),
            actor: actor.map(str::to_owned),
        };
        // Delete first, in its own durable transaction: if the tombstone append then fails, the
        // data is still gone (erasure must not be undone by a later error).
        {
            let tx = self.conn.transaction()?;
            tx.execute("DELETE FROM content WHERE subject = ?1", [subject])?;
            tx.execute("DELETE FROM subjects WHERE subject = ?1", [subject])?;
            tx.commit()?;
        }
        let ids = self.append(vec![(Body::Erasure(tomb), None)])?;
        // Push erased pages out of the WAL into the main file, which secure_delete zeroed.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        Ok((ids.into_iter().next().unwrap_or_default(), erased))
    }

    /// Generates a new signing key, logs the rotation signed by the old key, and trusts both.
    /// Returns the new verifier key.
    pub fn rotate_key(&mut self) -> Result<Verifier, LogError> {
        let old = self.signer()?.verifier();
        let mut new = Signer::generate(&self.origin)?;
        while new.id() == old.id {
            new = Signer::generate(&self.origin)?;
        }
        let rec = KeyRotationRecord {
            execution_id: format!("key-{}", random_hex(6)),
            timestamp: now_timestamp(),
            new_key: new.verifier().to_string(),
            old_key: old.to_string(),
        };
        let trusted_path = self.dir.join(TRUSTED_FILE);
        let mut trusted = std::fs::read_to_string(&trusted_path).map_err(io_err(&trusted_path))?;
        if !trusted.ends_with('\n') {
            trusted.push('\n');
        }
        trusted.push_str(&format!("{}\n", new.verifier()));
        write_atomic(&trusted_path, trusted.as_bytes(), 0o644)?;
        self.append(vec![(Body::KeyRotation(rec), None)])?;
        let key_path = self.dir.join(KEY_FILE);
        let retired = self
            .dir
            .join(format!("signing.key.{}.retired", old.id_hex()));
        std::fs::rename(&key_path, &retired).map_err(io_err(&key_path))?;
        write_atomic(
            &key_path,
            format!("{}\n", new.to_private_string()).as_bytes(),
            0o600,
        )?;
        let v = new.verifier();
        self.signer = Some(new);
        // A checkpoint by the new key so the next verifier sees it in use.
        self.write_checkpoint()?;
        Ok(v)
    }
}

/// The canonical, signed leaf of `body` at `index`.
fn sign_leaf(
    signer: &Signer,
    origin: &str,
    index: u64,
    body: &Body,
    key_id: &str,
) -> Result<Vec<u8>, LogError> {
    let mut value = serde_json::to_value(body).map_err(RecordError::from)?;
    let obj = value
        .as_object_mut()
        .ok_or(RecordError::MissingField("object"))?;
    obj.insert("v".into(), Value::from(SCHEMA_VERSION));
    obj.insert("origin".into(), Value::from(origin));
    obj.insert("log_index".into(), Value::from(index));
    obj.insert("key_id".into(), Value::from(key_id));
    let sig = signer.sign_raw(&canonical(&value)?);
    if let Some(obj) = value.as_object_mut() {
        obj.insert("signature".into(), Value::String(B64.encode(sig)));
    }
    Ok(canonical(&value)?)
}

fn load_signer(path: &Path, origin: &str) -> Result<Signer, LogError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(LogError::Key {
            path: path.to_owned(),
            msg: format!(
                "permissions {:o} let others read it; run `chmod 600 {}`",
                meta.permissions().mode() & 0o777,
                path.display()
            ),
        });
    }
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let signer = Signer::parse(&text).map_err(|e| LogError::Key {
        path: path.to_owned(),
        msg: e.to_string(),
    })?;
    if signer.name != origin {
        return Err(LogError::Key {
            path: path.to_owned(),
            msg: format!(
                "key is named {:?} but the log's origin is {origin:?}",
                signer.name
            ),
        });
    }
    Ok(signer)
}

/// Largest event detail accepted (canonical JSON bytes).
pub const MAX_EVENT_DATA: usize = 4 << 20;

fn validate_event(e: &Event) -> Result<(), LogError> {
    let name = |what: &str, v: &str| {
        let ok = !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(LogError::Invalid(format!(
                "event {what} {v:?} must be 1-64 characters of a-z, 0-9, '-', '_' or '.'"
            )))
        }
    };
    name("source", &e.source)?;
    name("action", &e.action)?;
    let line = |what: &str, v: &str, max: usize| {
        if v.len() > max || v.contains(['\n', '\r']) {
            Err(LogError::Invalid(format!(
                "event {what} must be one line of at most {max} bytes"
            )))
        } else {
            Ok(())
        }
    };
    if e.summary.trim().is_empty() {
        return Err(LogError::Invalid("event summary is empty".into()));
    }
    line("summary", &e.summary, 1000)?;
    for (what, v) in [("outcome", &e.outcome), ("session", &e.session)] {
        if let Some(v) = v {
            line(what, v, 128)?;
        }
    }
    if canonical(&e.data)?.len() > MAX_EVENT_DATA {
        return Err(LogError::Invalid(format!(
            "event data is larger than {MAX_EVENT_DATA} bytes"
        )));
    }
    Ok(())
}

pub(crate) fn validate(d: &Decision) -> Result<(), LogError> {
    if d.model.name.trim().is_empty() {
        return Err(LogError::Invalid("model name is empty".into()));
    }
    let unit = |name: &str, v: Option<f64>| match v {
        Some(x) if !(0.0..=1.0).contains(&x) => Err(LogError::Invalid(format!(
            "{name} must be between 0 and 1, got {x}"
        ))),
        _ => Ok(()),
    };
    unit("attribution_confidence", d.attribution_confidence)?;
    if let Some(e) = &d.evaluator {
        unit("evaluator threshold", e.threshold)?;
    }
    for (i, c) in d.context.iter().enumerate() {
        if c.doc_id.trim().is_empty() {
            return Err(LogError::Invalid(format!(
                "context chunk {i} has an empty doc_id"
            )));
        }
        if let Some(s) = c.score
            && !s.is_finite()
        {
            return Err(LogError::Invalid(format!(
                "context chunk {i} has a non-finite score"
            )));
        }
    }
    Ok(())
}
