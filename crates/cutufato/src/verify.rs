//! Verification: one record (`verify ID`), the whole log (`verify --all`), and offline proof
//! bundles (`prove` / `verify-proof`) in the C2SP `tlog-proof` format.
//!
//! Every check is a [`Finding`] with a stable kebab-case code; the first finding of `verify --all`
//! names the first bad entry.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;

use crate::auditor::{Auditor, CHECKPOINT_FILE, Content, LogError, Stored, keyed_hash};
use crate::merkle::{self, Frontier, Hash, leaf_hash};
use crate::note::{Checkpoint, Verifier, verify_raw};
use crate::record::{Body, Entry, canonical, parse_leaf, signing_bytes};
use crate::store::{self, NodeReader};

/// One problem found, with a stable code.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.index, &self.execution_id) {
            (Some(i), Some(id)) => write!(f, "entry {i} ({id}): {} [{}]", self.message, self.code),
            (Some(i), None) => write!(f, "entry {i}: {} [{}]", self.message, self.code),
            _ => write!(f, "{} [{}]", self.message, self.code),
        }
    }
}

fn finding(
    index: Option<u64>,
    id: Option<&str>,
    code: &'static str,
    message: impl Into<String>,
) -> Finding {
    Finding {
        index,
        execution_id: id.map(str::to_owned),
        code,
        message: message.into(),
    }
}

/// Checks a leaf as stored at `index`: canonical form, position, origin and signature.
pub fn check_leaf(
    index: u64,
    leaf: &[u8],
    trusted: &[Verifier],
    origin: &str,
) -> Result<Entry, Finding> {
    let (value, entry) = parse_leaf(leaf)
        .map_err(|e| finding(Some(index), None, "leaf-malformed", e.to_string()))?;
    let id = entry.body.execution_id().to_owned();
    let f = |code, msg: String| finding(Some(index), Some(&id), code, msg);
    if entry.log_index != index {
        return Err(f(
            "wrong-position",
            format!(
                "row holds the record signed for index {} (rows deleted, inserted or reordered)",
                entry.log_index
            ),
        ));
    }
    if entry.origin != origin {
        return Err(f(
            "wrong-origin",
            format!("record belongs to log {:?}, not {origin:?}", entry.origin),
        ));
    }
    let Some(key) = trusted
        .iter()
        .find(|v| v.id_hex() == entry.key_id && v.name == origin)
    else {
        return Err(f(
            "unknown-key",
            format!(
                "signed by key id {} which is not a trusted key of this log",
                entry.key_id
            ),
        ));
    };
    let sig = B64.decode(&entry.signature).unwrap_or_default();
    let msg = signing_bytes(&value).map_err(|e| f("leaf-malformed", e.to_string()))?;
    if !verify_raw(&key.key, &msg, &sig) {
        return Err(f(
            "signature-invalid",
            "signature does not verify: the record was changed after signing".into(),
        ));
    }
    Ok(entry)
}

/// Result of the content check of a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum ContentStatus {
    /// Prompt, response and chunk texts (or an event's summary and data) match their signed
    /// keyed hashes.
    Matches { chunks: usize },
    /// The content was erased (the tree still verifies).
    Erased,
    /// Neither a decision nor an event: nothing to check.
    NotApplicable,
}

/// Checks the erasable content of a stored entry against the keyed hashes in its leaf.
pub fn check_content(
    index: u64,
    entry: &Entry,
    content: Option<&Content>,
    key: Option<&[u8]>,
) -> Result<ContentStatus, Finding> {
    if !matches!(entry.body, Body::Decision(_) | Body::Event(_)) {
        return Ok(ContentStatus::NotApplicable);
    }
    let id = entry.body.execution_id();
    let f = |code, msg: &str| finding(Some(index), Some(id), code, msg.to_owned());
    let (Some(c), Some(key)) = (content, key) else {
        if content.is_some() {
            return Err(f(
                "content-key-missing",
                "content is present but its subject key is gone",
            ));
        }
        return Ok(ContentStatus::Erased);
    };
    let d = match &entry.body {
        Body::Decision(d) => d,
        Body::Event(e) => {
            let summary = c.summary.as_deref().unwrap_or_default();
            if keyed_hash(key, summary.as_bytes()) != e.summary_hash {
                return Err(f(
                    "summary-mismatch",
                    "event summary does not match its signed hash (content store edited)",
                ));
            }
            let data = c.data.as_ref().and_then(|v| canonical(v).ok());
            if data.map(|b| keyed_hash(key, &b)).as_deref() != Some(e.data_hash.as_str()) {
                return Err(f(
                    "data-mismatch",
                    "event data does not match its signed hash (content store edited)",
                ));
            }
            return Ok(ContentStatus::Matches { chunks: 0 });
        }
        _ => return Ok(ContentStatus::NotApplicable),
    };
    if keyed_hash(key, c.prompt.as_bytes()) != d.prompt_hash {
        return Err(f(
            "prompt-mismatch",
            "prompt text does not match its signed hash (content store edited)",
        ));
    }
    if keyed_hash(key, c.response.as_bytes()) != d.response_hash {
        return Err(f(
            "response-mismatch",
            "response text does not match its signed hash (content store edited)",
        ));
    }
    if c.chunks.len() != d.context_chunks.len() {
        return Err(f(
            "chunk-mismatch",
            "number of stored chunk texts differs from the signed record",
        ));
    }
    for (i, (t, r)) in c.chunks.iter().zip(&d.context_chunks).enumerate() {
        if keyed_hash(key, t.as_bytes()) != r.text_hash {
            return Err(f(
                "chunk-mismatch",
                &format!("context chunk {i} text does not match its signed hash"),
            ));
        }
    }
    let opt_hash = |v: &Option<serde_json::Value>| -> Option<String> {
        v.as_ref()
            .and_then(|a| canonical(a).ok())
            .map(|b| keyed_hash(key, &b))
    };
    if opt_hash(&c.attribution) != d.attribution_hash {
        return Err(f(
            "attribution-mismatch",
            "stored attribution does not match its signed hash",
        ));
    }
    if opt_hash(&c.human_override) != d.human_override_hash {
        return Err(f(
            "override-mismatch",
            "stored human override does not match its signed hash",
        ));
    }
    Ok(ContentStatus::Matches {
        chunks: c.chunks.len(),
    })
}

/// What `verify ID` established.
#[derive(Debug, Clone, Serialize)]
pub struct RecordReport {
    pub execution_id: String,
    pub index: u64,
    pub kind: &'static str,
    pub key_id: String,
    pub checkpoint_size: u64,
    pub content: ContentStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution_confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hallucination_detected: Option<bool>,
    /// Empty when everything verified.
    pub findings: Vec<Finding>,
}

/// What `verify --all` established.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LogReport {
    pub entries: u64,
    pub decisions: u64,
    /// Event records (what a tool did).
    pub events: u64,
    /// Decisions and events whose content was erased.
    pub erased: u64,
    pub checkpoints: u64,
    pub outside_checkpoints: u64,
    pub size: u64,
    #[serde(with = "hex_root")]
    pub root: Hash,
    /// Empty when everything verified; the first one names the first bad entry.
    pub findings: Vec<Finding>,
}

mod hex_root {
    pub fn serialize<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }
}

const CHUNK: usize = 8192;

/// A row of `verify --all`.
struct RowIn {
    idx: u64,
    leaf: Vec<u8>,
    node: Option<Vec<u8>>,
    body: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
}

/// What the per-row checks found.
struct RowOut {
    leaf_hash: Hash,
    key_id: Option<String>,
    /// For a key rotation: the key id that signs from the next entry on.
    rotates_to: Option<String>,
    findings: Vec<Finding>,
    decision: bool,
    event: bool,
    erased: bool,
}

fn check_row(r: &RowIn, trusted: &[Verifier], origin: &str) -> RowOut {
    let leaf_hash = leaf_hash(&r.leaf);
    let mut out = RowOut {
        leaf_hash,
        key_id: None,
        rotates_to: None,
        findings: Vec::new(),
        decision: false,
        event: false,
        erased: false,
    };
    match check_leaf(r.idx, &r.leaf, trusted, origin) {
        Err(f) => out.findings.push(f),
        Ok(entry) => {
            out.decision = matches!(entry.body, Body::Decision(_));
            out.event = matches!(entry.body, Body::Event(_));
            out.key_id = Some(entry.key_id.clone());
            if let Body::KeyRotation(k) = &entry.body {
                out.rotates_to = Verifier::parse(&k.new_key).ok().map(|v| v.id_hex());
            }
            let content: Option<Content> = r
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok());
            if r.body.is_some() && content.is_none() {
                out.findings.push(finding(
                    Some(r.idx),
                    Some(entry.body.execution_id()),
                    "content-malformed",
                    "stored content is not valid JSON",
                ));
            } else {
                match check_content(r.idx, &entry, content.as_ref(), r.key.as_deref()) {
                    Ok(ContentStatus::Erased) => out.erased = true,
                    Ok(_) => {}
                    Err(f) => out.findings.push(f),
                }
            }
        }
    }
    if r.node.as_deref() != Some(&leaf_hash[..]) {
        out.findings.push(finding(
            Some(r.idx),
            None,
            "node-mismatch",
            "stored leaf hash (nodes table) differs from the leaf",
        ));
    }
    out
}

/// Where checkpoints held outside the database come from.
#[derive(Debug, Clone)]
pub struct Outside {
    pub path: PathBuf,
    pub note: Option<String>,
}

impl Auditor {
    fn outside_checkpoints(&self, extra: &[PathBuf]) -> Vec<Outside> {
        let mut v = vec![self.dir().join(CHECKPOINT_FILE)];
        v.extend(extra.iter().cloned());
        v.into_iter()
            .map(|path| {
                let note = std::fs::read_to_string(&path).ok();
                Outside { path, note }
            })
            .collect()
    }

    /// Verifies one record: signature, inclusion under the latest signed checkpoint, consistency
    /// of the outside checkpoints with it, and its content against the signed hashes.
    pub fn verify_record(
        &self,
        execution_id: &str,
        trusted: &[Verifier],
        extra_checkpoints: &[PathBuf],
    ) -> Result<RecordReport, LogError> {
        let mut unreadable = false;
        let stored = self.get(execution_id).or_else(|e| match e {
            LogError::Record(_) => {
                unreadable = true;
                self.get_raw(execution_id)
            }
            other => Err(other),
        })?;
        let Stored {
            index,
            leaf,
            entry,
            content,
            subject_key,
        } = stored;
        let mut findings = Vec::new();
        if let Err(f) = check_leaf(index, &leaf, trusted, self.origin()) {
            findings.push(f);
        } else if let Some(to) = self.rotated_away(&entry.key_id, index)? {
            findings.push(finding(
                Some(index),
                Some(execution_id),
                "retired-key",
                format!(
                    "signed by key {} after the log rotated to key {to}",
                    entry.key_id
                ),
            ));
        }
        // Inclusion under the latest checkpoint in the database.
        let mut checkpoint_size = 0;
        match store::latest_checkpoint(self.connection())? {
            None => findings.push(finding(
                None,
                None,
                "no-checkpoint",
                "the log has no checkpoint",
            )),
            Some((_, note)) => match Checkpoint::open(&note, trusted, Some(self.origin())) {
                Err(e) => findings.push(finding(
                    None,
                    None,
                    "checkpoint-invalid",
                    format!("latest checkpoint: {e}"),
                )),
                Ok((cp, _)) => {
                    checkpoint_size = cp.size;
                    let reader = NodeReader(self.connection());
                    let ok =
                        store::inclusion_proof(self.connection(), index, cp.size).and_then(|p| {
                            merkle::verify_inclusion(
                                index,
                                cp.size,
                                &leaf_hash(&leaf),
                                &p,
                                &cp.root,
                            )
                        });
                    if let Err(e) = ok {
                        findings.push(finding(
                            Some(index),
                            Some(execution_id),
                            "not-included",
                            format!(
                                "not provably in the tree of checkpoint size {}: {e}",
                                cp.size
                            ),
                        ));
                    }
                    for o in self.outside_checkpoints(extra_checkpoints) {
                        if let Some(f) = check_outside(&reader, &o, &cp, trusted, self.origin()) {
                            findings.push(f);
                        }
                    }
                }
            },
        }
        let content_status =
            match check_content(index, &entry, content.as_ref(), subject_key.as_deref()) {
                Ok(s) => s,
                Err(f) => {
                    findings.push(f);
                    ContentStatus::NotApplicable
                }
            };
        let erased_by = if content_status == ContentStatus::Erased {
            self.tombstone_for(execution_id)?
        } else {
            None
        };
        let (conf, hall) = match &entry.body {
            Body::Decision(d) => (d.attribution_confidence, d.hallucination_detected),
            _ => (None, None),
        };
        Ok(RecordReport {
            execution_id: execution_id.to_owned(),
            index,
            kind: if unreadable {
                "unreadable"
            } else {
                entry.body.kind()
            },
            key_id: entry.key_id.clone(),
            checkpoint_size,
            content: content_status,
            erased_by,
            attribution_confidence: conf,
            hallucination_detected: hall,
            findings,
        })
    }

    /// If a rotation logged before `index` retired `key_id`, the key it rotated to.
    fn rotated_away(&self, key_id: &str, index: u64) -> Result<Option<String>, LogError> {
        let mut st = self.connection().prepare(
            "SELECT leaf FROM entries WHERE kind = 'key-rotation' AND idx < ?1 ORDER BY idx",
        )?;
        let rows = st.query_map([index as i64], |r| r.get::<_, Vec<u8>>(0))?;
        for leaf in rows {
            if let Ok((_, e)) = parse_leaf(&leaf?)
                && let Body::KeyRotation(k) = e.body
                && let (Ok(old), Ok(new)) =
                    (Verifier::parse(&k.old_key), Verifier::parse(&k.new_key))
                && old.id_hex() == key_id
            {
                return Ok(Some(new.id_hex()));
            }
        }
        Ok(None)
    }

    /// A row whose leaf no longer parses: report it as found, with an unparsable entry.
    fn get_raw(&self, execution_id: &str) -> Result<Stored, LogError> {
        let (idx, leaf): (i64, Vec<u8>) = self.connection().query_row(
            "SELECT idx, leaf FROM entries WHERE execution_id = ?1",
            [execution_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let placeholder = Entry {
            v: 0,
            origin: String::new(),
            log_index: idx as u64,
            body: Body::Erasure(crate::record::ErasureRecord {
                execution_id: execution_id.to_owned(),
                timestamp: String::new(),
                subject_ref: String::new(),
                erased: Vec::new(),
                reason: None,
                actor: None,
            }),
            key_id: String::new(),
            signature: String::new(),
        };
        Ok(Stored {
            index: idx as u64,
            leaf,
            entry: placeholder,
            content: None,
            subject_key: None,
        })
    }

    /// Execution id of the tombstone that erased `execution_id`, if any.
    pub fn tombstone_for(&self, execution_id: &str) -> Result<Option<String>, LogError> {
        let mut st = self
            .connection()
            .prepare("SELECT leaf FROM entries WHERE kind = 'erasure' ORDER BY idx")?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        for leaf in rows {
            if let Ok((_, e)) = parse_leaf(&leaf?)
                && let Body::Erasure(t) = e.body
                && t.erased.iter().any(|x| x == execution_id)
            {
                return Ok(Some(t.execution_id));
            }
        }
        Ok(None)
    }

    /// Verifies the whole log: every leaf (position, signature, content), every stored checkpoint
    /// against the rebuilt tree, stored leaf nodes, and the checkpoints kept outside the database.
    /// `progress(done, total)` is called every 65,536 entries.
    pub fn verify_all(
        &self,
        trusted: &[Verifier],
        extra_checkpoints: &[PathBuf],
        mut progress: impl FnMut(u64, u64),
    ) -> Result<LogReport, LogError> {
        let conn = self.connection();
        let origin = self.origin().to_owned();
        let mut report = LogReport::default();
        let mut findings = Vec::new();
        // Checkpoints stored in the database, by size.
        let mut cps: Vec<(u64, Checkpoint)> = Vec::new();
        {
            let mut st = conn.prepare("SELECT size, note FROM checkpoints ORDER BY size")?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (size, note) = row?;
                match Checkpoint::open(&note, trusted, Some(&origin)) {
                    Ok((cp, _)) if cp.size == size => cps.push((size, cp)),
                    Ok((cp, _)) => findings.push(finding(
                        None,
                        None,
                        "checkpoint-invalid",
                        format!(
                            "checkpoint row {size} holds a checkpoint of size {}",
                            cp.size
                        ),
                    )),
                    Err(e) => findings.push(finding(
                        None,
                        None,
                        "checkpoint-invalid",
                        format!("checkpoint of size {size}: {e}"),
                    )),
                }
            }
        }
        let total = store::tree_size(conn)?;
        let mut frontier = Frontier::new();
        let mut next_cp = 0usize;
        let mut st = conn.prepare(
            "SELECT e.idx, e.leaf, n.hash, c.body, s.key FROM entries e
             LEFT JOIN nodes n ON n.level = 0 AND n.idx = e.idx
             LEFT JOIN content c ON c.idx = e.idx
             LEFT JOIN subjects s ON s.subject = c.subject
             ORDER BY e.idx",
        )?;
        let mut rows = st.query([])?;
        let mut roots_at: std::collections::HashMap<u64, Hash> = std::collections::HashMap::new();
        let outside = self.outside_checkpoints(extra_checkpoints);
        let outside_parsed: Vec<(usize, Result<Checkpoint, String>)> = outside
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let r = match &o.note {
                    None => Err("missing".to_owned()),
                    Some(n) => Checkpoint::open(n, trusted, Some(&origin))
                        .map(|(c, _)| c)
                        .map_err(|e| e.to_string()),
                };
                (i, r)
            })
            .collect();
        let want_sizes: Vec<u64> = outside_parsed
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().map(|c| c.size))
            .collect();
        let check_cps =
            |frontier: &Frontier,
             next_cp: &mut usize,
             findings: &mut Vec<Finding>,
             roots_at: &mut std::collections::HashMap<u64, Hash>| {
                let size = frontier.size();
                if want_sizes.contains(&size) {
                    roots_at.insert(size, frontier.root());
                }
                while *next_cp < cps.len() && cps[*next_cp].0 <= size {
                    let (s, cp) = &cps[*next_cp];
                    if *s == size && cp.root != frontier.root() {
                        findings.push(finding(None, None, "checkpoint-root-mismatch", format!(
                        "signed checkpoint of size {s} does not match the entries 0..{s} in the database"
                    )));
                    }
                    *next_cp += 1;
                }
            };
        check_cps(&frontier, &mut next_cp, &mut findings, &mut roots_at);
        let mut expect = 0u64;
        let mut current_key: Option<String> = None;
        let mut chunk: Vec<RowIn> = Vec::with_capacity(CHUNK);
        loop {
            chunk.clear();
            while chunk.len() < CHUNK {
                let Some(row) = rows.next()? else { break };
                chunk.push(RowIn {
                    idx: row.get::<_, i64>(0)? as u64,
                    leaf: row.get(1)?,
                    node: row.get(2)?,
                    body: row.get(3)?,
                    key: row.get(4)?,
                });
            }
            if chunk.is_empty() {
                break;
            }
            // Signatures and content hashes in parallel; the tree in order.
            let outs = crate::par::par_map(&chunk, |_, r| check_row(r, trusted, &origin));
            for (r, o) in chunk.iter().zip(outs) {
                while expect < r.idx {
                    findings.push(finding(
                        Some(expect),
                        None,
                        "entry-missing",
                        "entry is missing from the database (row deleted)",
                    ));
                    // Keep the tree aligned so later checkpoints are still compared position by position.
                    frontier.push([0u8; 32], |_, _, _| {});
                    expect += 1;
                    check_cps(&frontier, &mut next_cp, &mut findings, &mut roots_at);
                }
                expect = r.idx + 1;
                // After a logged rotation only the new key may sign: a retired key (perhaps
                // leaked) cannot add records.
                if let (Some(k), Some(cur)) = (&o.key_id, &current_key)
                    && k != cur
                {
                    findings.push(finding(
                        Some(r.idx),
                        None,
                        "retired-key",
                        format!("signed by key {k} after the log rotated to key {cur}"),
                    ));
                }
                if o.key_id.is_some() && current_key.is_none() {
                    current_key = o.key_id.clone();
                }
                if let Some(next) = &o.rotates_to {
                    current_key = Some(next.clone());
                }
                findings.extend(o.findings);
                report.decisions += u64::from(o.decision);
                report.events += u64::from(o.event);
                report.erased += u64::from(o.erased);
                frontier.push(o.leaf_hash, |_, _, _| {});
                report.entries += 1;
                check_cps(&frontier, &mut next_cp, &mut findings, &mut roots_at);
                if report.entries % 65_536 == 0 {
                    progress(report.entries, total);
                }
            }
        }
        progress(report.entries, total);
        report.checkpoints = cps.len() as u64;
        report.size = frontier.size();
        report.root = frontier.root();
        match cps.last() {
            None => findings.push(finding(None, None, "no-checkpoint", "the database holds no valid signed checkpoint")),
            Some((s, _)) if *s > report.size => findings.push(finding(
                Some(report.size),
                None,
                "log-truncated",
                format!(
                    "the database holds a signed checkpoint for {s} entries but only {} entries: entries {}..{s} were removed",
                    report.size, report.size
                ),
            )),
            Some((s, _)) if *s < report.size => findings.push(finding(
                Some(*s),
                None,
                "unsigned-tail",
                format!("entries {s}..{} are not covered by any signed checkpoint (appended without the key)", report.size),
            )),
            _ => {}
        }
        for (i, r) in outside_parsed {
            let path = outside[i].path.display();
            match r {
                Err(e) if e == "missing" => findings.push(finding(None, None, "outside-checkpoint-missing", format!(
                    "checkpoint file {path} is missing: truncation of the log cannot be ruled out"
                ))),
                Err(e) => findings.push(finding(None, None, "outside-checkpoint-invalid", format!("checkpoint file {path}: {e}"))),
                Ok(cp) if cp.size > report.size => findings.push(finding(
                    Some(report.size),
                    None,
                    "log-truncated",
                    format!(
                        "checkpoint file {path} is signed for {} entries but the database holds {}: entries {}..{} were removed",
                        cp.size, report.size, report.size, cp.size
                    ),
                )),
                Ok(cp) => {
                    report.outside_checkpoints += 1;
                    if roots_at.get(&cp.size) != Some(&cp.root) {
                        findings.push(finding(None, None, "outside-checkpoint-mismatch", format!(
                            "checkpoint file {path} (size {}) does not match the log's first {} entries: the log was rewritten",
                            cp.size, cp.size
                        )));
                    }
                }
            }
        }
        findings.sort_by_key(|f| f.index.unwrap_or(u64::MAX));
        report.findings = findings;
        Ok(report)
    }

    /// A C2SP `tlog-proof` bundle for a record: the leaf (as `extra`), its index, the inclusion
    /// proof and the latest signed checkpoint. Checkable offline with only the verifier key.
    pub fn prove(&self, execution_id: &str) -> Result<String, LogError> {
        let stored = self.get(execution_id)?;
        let (size, note) = store::latest_checkpoint(self.connection())?
            .ok_or_else(|| LogError::NotFound("the log has no checkpoint".into()))?;
        let proof = store::inclusion_proof(self.connection(), stored.index, size)?;
        Ok(format_bundle(
            stored.index,
            &proof,
            &note,
            Some(&stored.leaf),
        ))
    }
}

/// Checks one outside checkpoint against the database's latest checkpoint `latest`.
fn check_outside(
    reader: &NodeReader<'_>,
    o: &Outside,
    latest: &Checkpoint,
    trusted: &[Verifier],
    origin: &str,
) -> Option<Finding> {
    let path = o.path.display();
    let Some(note) = &o.note else {
        return Some(finding(
            None,
            None,
            "outside-checkpoint-missing",
            format!("checkpoint file {path} is missing: truncation of the log cannot be ruled out"),
        ));
    };
    let cp = match Checkpoint::open(note, trusted, Some(origin)) {
        Ok((cp, _)) => cp,
        Err(e) => {
            return Some(finding(
                None,
                None,
                "outside-checkpoint-invalid",
                format!("checkpoint file {path}: {e}"),
            ));
        }
    };
    if cp.size > latest.size {
        return Some(finding(
            Some(latest.size),
            None,
            "log-truncated",
            format!(
                "checkpoint file {path} is signed for {} entries but the database's latest checkpoint has {}: the log was truncated",
                cp.size, latest.size
            ),
        ));
    }
    let ok = store::consistency_proof(reader.0, cp.size, latest.size)
        .and_then(|p| merkle::verify_consistency(cp.size, latest.size, &p, &cp.root, &latest.root));
    ok.err().map(|e| {
        finding(None, None, "outside-checkpoint-mismatch", format!(
            "checkpoint file {path} (size {}) is not consistent with the database (size {}): {e}",
            cp.size, latest.size
        ))
    })
}

/// First line of a consistency bundle.
pub const CONSISTENCY_HEADER: &str = "cutufato/consistency-proof@v1\n";

/// What a consistency bundle established.
#[derive(Debug, Clone, Serialize)]
pub struct ConsistencyReport {
    pub origin: String,
    pub old_size: u64,
    pub new_size: u64,
}

impl Auditor {
    /// A consistency bundle from a checkpoint kept earlier to the latest one:
    /// `cutufato/consistency-proof@v1`, `old <size>`, proof hashes, blank line, new checkpoint.
    pub fn prove_consistency(&self, old_note: &str) -> Result<String, LogError> {
        let trusted = self.trusted_keys()?;
        let (old, _) = Checkpoint::open(old_note, &trusted, Some(self.origin()))?;
        let (size, note) = store::latest_checkpoint(self.connection())?
            .ok_or_else(|| LogError::NotFound("the log has no checkpoint".into()))?;
        if old.size > size {
            return Err(LogError::Inconsistent(format!(
                "the kept checkpoint has {} entries but the log's latest has {size}: the log was truncated",
                old.size
            )));
        }
        let proof = store::consistency_proof(self.connection(), old.size, size)?;
        let mut s = format!("{CONSISTENCY_HEADER}old {}\n", old.size);
        for h in &proof {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&note);
        Ok(s)
    }
}

/// Verifies a consistency bundle offline against the checkpoint the verifier kept.
pub fn verify_consistency_bundle(
    bundle: &str,
    old_note: &str,
    trusted: &[Verifier],
) -> Result<ConsistencyReport, BundleError> {
    let bad = |m: &str| BundleError::Malformed(m.to_owned());
    let rest = bundle
        .strip_prefix(CONSISTENCY_HEADER)
        .ok_or_else(|| bad("missing consistency header"))?;
    let mut lines = rest.split_inclusive('\n');
    let old_size: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(|n| n.trim_end().parse().ok())
        .ok_or_else(|| bad("missing or invalid old size line"))?;
    let (proof, note) = read_proof_and_note(&mut lines)?;
    let (new, _) = Checkpoint::open(&note, trusted, None)?;
    let (old, _) = Checkpoint::open(old_note, trusted, Some(&new.origin))?;
    if old.size != old_size {
        return Err(bad("the bundle was made for a different kept checkpoint"));
    }
    merkle::verify_consistency(old.size, new.size, &proof, &old.root, &new.root)?;
    Ok(ConsistencyReport {
        origin: new.origin,
        old_size: old.size,
        new_size: new.size,
    })
}

/// Formats a `c2sp.org/tlog-proof@v1` bundle.
pub fn format_bundle(
    index: u64,
    proof: &[Hash],
    checkpoint_note: &str,
    extra: Option<&[u8]>,
) -> String {
    let mut s = String::from("c2sp.org/tlog-proof@v1\n");
    if let Some(e) = extra {
        s.push_str(&format!("extra {}\n", B64.encode(e)));
    }
    s.push_str(&format!("index {index}\n"));
    for h in proof {
        s.push_str(&B64.encode(h));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(checkpoint_note);
    s
}

/// A proof bundle whose checkpoint signature and inclusion proof verified.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    pub index: u64,
    pub checkpoint_size: u64,
    pub origin: String,
    pub signed_by: String,
    /// The record (leaf JSON) when the bundle carries it; its signature verified too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
}

/// Errors of offline bundle verification.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a tlog-proof bundle: {0}")]
    Malformed(String),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] crate::note::NoteError),
    #[error("proof does not verify: {0}")]
    Inclusion(#[from] merkle::MerkleError),
    #[error("record in the bundle: {0}")]
    Record(String),
}

/// Verifies a `tlog-proof` bundle offline with the given verifier keys. The leaf is the bundle's
/// `extra` data unless `leaf` is given.
pub fn verify_bundle(
    bundle: &str,
    trusted: &[Verifier],
    leaf: Option<&[u8]>,
) -> Result<BundleReport, BundleError> {
    let bad = |m: &str| BundleError::Malformed(m.to_owned());
    let mut lines = bundle.split_inclusive('\n');
    if lines.next() != Some("c2sp.org/tlog-proof@v1\n") {
        return Err(bad("missing c2sp.org/tlog-proof@v1 header"));
    }
    let mut line = lines.next().ok_or_else(|| bad("missing index line"))?;
    let mut extra = None;
    if let Some(e) = line.strip_prefix("extra ") {
        extra = Some(
            B64.decode(e.trim_end())
                .map_err(|_| bad("extra data is not base64"))?,
        );
        line = lines.next().ok_or_else(|| bad("missing index line"))?;
    }
    let index: u64 = line
        .strip_prefix("index ")
        .and_then(|i| i.trim_end().parse().ok())
        .ok_or_else(|| bad("missing or invalid index line"))?;
    let (proof, note) = read_proof_and_note(&mut lines)?;
    let (cp, opened) = Checkpoint::open(&note, trusted, None)?;
    let leaf = leaf
        .map(<[u8]>::to_vec)
        .or(extra)
        .ok_or_else(|| bad("bundle has no extra data and no leaf was given"))?;
    merkle::verify_inclusion(index, cp.size, &leaf_hash(&leaf), &proof, &cp.root)?;
    let record = match parse_leaf(&leaf) {
        Ok((value, _)) => {
            check_leaf(index, &leaf, trusted, &cp.origin)
                .map_err(|f| BundleError::Record(f.to_string()))?;
            Some(value)
        }
        Err(_) => None,
    };
    let signed_by = opened
        .signed_by
        .first()
        .map(|v| v.to_string())
        .unwrap_or_default();
    Ok(BundleReport {
        index,
        checkpoint_size: cp.size,
        origin: cp.origin,
        signed_by,
        record,
    })
}

/// Reads verifier keys from arguments that are either a key or a file of keys.
pub fn load_keys(args: &[String]) -> Result<Vec<Verifier>, LogError> {
    let mut out = Vec::new();
    for a in args {
        let p = Path::new(a);
        if p.exists() {
            out.extend(crate::auditor::read_trusted(p)?);
        } else {
            out.push(Verifier::parse(a).map_err(|e| {
                LogError::Invalid(format!("{a:?} is neither a file nor a verifier key: {e}"))
            })?);
        }
    }
    Ok(out)
}

/// The tail shared by both proof bundles: base64 proof hashes, one per line, a blank line, then the
/// signed checkpoint note (returned as text).
fn read_proof_and_note<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
) -> Result<(Vec<Hash>, String), BundleError> {
    let bad = |m: &str| BundleError::Malformed(m.to_owned());
    let mut proof = Vec::new();
    loop {
        let l = lines
            .next()
            .ok_or_else(|| bad("missing blank line before the checkpoint"))?;
        if l == "\n" {
            break;
        }
        let h: Hash = B64
            .decode(l.trim_end())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("proof hash is not 32 bytes of base64"))?;
        proof.push(h);
    }
    Ok((proof, lines.collect()))
}
