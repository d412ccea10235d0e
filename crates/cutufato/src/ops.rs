//! The operations a caller runs on a log, shared by the command line and the MCP server: record
//! a decision with its attribution, verify one record down to a verdict, resolve context that
//! references stored documents, and check context chunks against the document store.
//!
//! Nothing here prints: the CLI renders the results as text or JSON, the MCP server as
//! structured tool results.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::attribution::{self, AttributeError, Attribution, Chunk, Config};
use crate::auditor::{Auditor, LogError, Stored};
use crate::documents::{DocError, Store};
use crate::note::Verifier;
use crate::record::{Body, ContextChunk, Decision, Evaluator};
use crate::verify::{ContentStatus, Finding, RecordReport};

/// Errors of the shared operations.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("cannot attribute the response: {0}")]
    Attribution(#[from] AttributeError),
    #[error("{0}")]
    Document(#[from] DocError),
    #[error("{0}")]
    Invalid(String),
}

/// Finding codes that mean the leaf itself (form, position, origin, signature) is not valid.
pub const SIGNATURE_CODES: &[&str] = &[
    "leaf-malformed",
    "wrong-position",
    "wrong-origin",
    "unknown-key",
    "signature-invalid",
    "retired-key",
];

/// Finding codes that mean the record's inclusion under a signed checkpoint is not proven.
pub const INCLUSION_CODES: &[&str] = &[
    "not-included",
    "no-checkpoint",
    "checkpoint-invalid",
    "log-truncated",
    "outside-checkpoint-mismatch",
    "outside-checkpoint-missing",
    "outside-checkpoint-invalid",
];

/// Finding codes that mean the erasable content does not match its signed hashes.
pub const CONTENT_CODES: &[&str] = &[
    "prompt-mismatch",
    "response-mismatch",
    "chunk-mismatch",
    "attribution-mismatch",
    "override-mismatch",
    "content-key-missing",
    "summary-mismatch",
    "data-mismatch",
];

/// Attributes `decision`'s response to its context and fills its attribution fields (full
/// attribution, confidence, hallucination flag, evaluator with name, version and threshold).
/// Returns the attribution.
pub fn attribute_decision(
    decision: &mut Decision,
    threshold: f64,
) -> Result<Attribution, AttributeError> {
    let chunks: Vec<Chunk> = decision.context.iter().map(to_chunk).collect();
    let cfg = Config {
        threshold,
        prompt: Some(decision.prompt.clone()),
    };
    let att = attribution::attribute(&chunks, &decision.response, &cfg)?;
    decision.attribution_confidence = Some(att.confidence);
    decision.hallucination_detected = Some(att.hallucination_detected);
    decision.evaluator = Some(Evaluator {
        name: att.evaluator.name.clone(),
        version: att.evaluator.version.clone(),
        threshold: Some(att.evaluator.threshold),
    });
    // An `Attribution` is plain data (strings, numbers, vectors): it always serialises.
    decision.attribution = serde_json::to_value(&att).ok();
    Ok(att)
}

/// A record's context chunk as an attribution chunk.
pub fn to_chunk(c: &ContextChunk) -> Chunk {
    Chunk {
        text: c.text.clone(),
        doc_id: Some(c.doc_id.clone()),
        doc_sha256: c.doc_sha256.clone(),
        page: c.page,
        line: c.line,
        score: c.score,
    }
}

/// What [`record`] committed.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub execution_id: String,
    /// Position of the record in the log.
    pub index: u64,
    /// Size of the signed checkpoint that covers it.
    pub checkpoint_size: u64,
    /// The attribution, when the decision had context and was attributed.
    pub attribution: Option<Attribution>,
}

/// Records one decision as `cutufato record` does: when `threshold` is given and the decision
/// has context, the response is attributed first (sentence by sentence, deterministic) and the
/// verdict is signed with the record. Returns once the record is committed under a signed
/// checkpoint.
pub fn record(
    auditor: &mut Auditor,
    mut decision: Decision,
    threshold: Option<f64>,
) -> Result<Recorded, OpError> {
    let attribution = match threshold {
        Some(t) if !decision.context.is_empty() => Some(attribute_decision(&mut decision, t)?),
        _ => None,
    };
    let execution_id = auditor.record(decision)?;
    let index = auditor.get(&execution_id)?.index;
    Ok(Recorded {
        execution_id,
        index,
        checkpoint_size: auditor.size(),
        attribution,
    })
}

/// A reference to a document stored with `cutufato docs add`, resolved into context chunks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentRef {
    /// SHA-256, a unique prefix of it (8+ hex digits) or the file name.
    pub document: String,
    /// Only this page (1-based).
    pub page: Option<u32>,
    /// With `page`: the chunk starting at this line (1-based).
    pub line: Option<u32>,
    /// With `line`: this many lines (default: to the next blank line, at most
    /// [`DEFAULT_REF_LINES`]).
    pub lines: Option<u32>,
}

/// Lines of a page+line reference without `lines`, and of each chunk of a whole document.
pub const DEFAULT_REF_LINES: usize = 8;

/// Resolves a document reference against the store of the log in `dir`: the whole document or
/// one page as paragraph chunks, or the lines starting at a page and line. Each chunk cites the
/// document's name, SHA-256, page and line, so `verify` can check it later.
pub fn resolve_document(dir: &Path, r: &DocumentRef) -> Result<Vec<ContextChunk>, OpError> {
    if !dir.join("documents").is_dir() {
        return Err(OpError::Invalid(format!(
            "no documents are stored in {}: add them with `cutufato docs add FILE`",
            dir.display()
        )));
    }
    let store = Store::open(dir)?;
    let doc = store.get(&r.document)?;
    let to_ctx = |c: Chunk| ContextChunk {
        doc_id: c.doc_id.unwrap_or_else(|| doc.name.clone()),
        doc_sha256: c.doc_sha256,
        page: c.page,
        line: c.line,
        text: c.text,
        score: c.score,
    };
    let Some(page_no) = r.page else {
        if r.line.is_some() {
            return Err(OpError::Invalid(format!(
                "document reference {:?} gives a line without a page",
                r.document
            )));
        }
        return Ok(doc
            .chunks(DEFAULT_REF_LINES)
            .into_iter()
            .map(to_ctx)
            .collect());
    };
    let page = doc
        .pages
        .iter()
        .find(|p| p.number == page_no)
        .ok_or_else(|| {
            OpError::Invalid(format!(
                "{} has {} pages; there is no page {page_no}",
                doc.name,
                doc.pages.len()
            ))
        })?;
    let Some(line) = r.line else {
        return Ok(doc
            .chunks(DEFAULT_REF_LINES)
            .into_iter()
            .filter(|c| c.page == Some(page_no))
            .map(to_ctx)
            .collect());
    };
    let start = (line as usize)
        .checked_sub(1)
        .filter(|&i| i < page.lines.len())
        .ok_or_else(|| {
            OpError::Invalid(format!(
                "{} page {page_no} has {} lines; there is no line {line}",
                doc.name,
                page.lines.len()
            ))
        })?;
    let rest = &page.lines[start..];
    let n = match r.lines {
        Some(n) => (n as usize).clamp(1, rest.len()),
        None => rest
            .iter()
            .take(DEFAULT_REF_LINES)
            .take_while(|l| !l.trim().is_empty())
            .count()
            .max(1),
    };
    let text = rest[..n].join("\n");
    if text.trim().is_empty() {
        return Err(OpError::Invalid(format!(
            "{} p.{page_no} l.{line} is blank: cite a line with text",
            doc.name
        )));
    }
    Ok(vec![ContextChunk {
        doc_id: doc.name.clone(),
        doc_sha256: Some(doc.sha256.clone()),
        page: Some(page_no),
        line: Some(line),
        text,
        score: None,
    }])
}

/// Where one context chunk stands against the document store.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum PlaceStatus {
    /// The chunk's text is in the stored document at its cited page and line.
    Found,
    /// The cited document is stored but the text is not at the cited place.
    Misplaced { reason: String },
    /// Not checked: the chunk cites no page and line.
    NoPlace,
    /// Not checked: the cited document is not in the store here.
    NotStored,
}

/// The place check of one context chunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaceCheck {
    /// Index of the chunk in the record's context.
    pub chunk: usize,
    pub doc_id: String,
    #[serde(flatten)]
    pub status: PlaceStatus,
}

/// Opens the document store of the log in `dir`, if documents were ever added.
pub fn open_store(dir: &Path) -> Result<Option<Store>, DocError> {
    Ok(if dir.join("documents").is_dir() {
        Some(Store::open(dir)?)
    } else {
        None
    })
}

/// Checks each context chunk of a stored decision against the document store: a chunk citing a
/// stored document and a page and line must be there. Empty for other records and erased
/// content.
pub fn chunk_places(store: Option<&Store>, stored: &Stored) -> Vec<PlaceCheck> {
    let Body::Decision(d) = &stored.entry.body else {
        return Vec::new();
    };
    let Some(content) = &stored.content else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, (r, text)) in d.context_chunks.iter().zip(&content.chunks).enumerate() {
        let status = if r.page.is_none() || r.line.is_none() {
            PlaceStatus::NoPlace
        } else {
            let chunk = Chunk {
                text: text.clone(),
                doc_id: Some(r.doc_id.clone()),
                doc_sha256: r.doc_sha256.clone(),
                page: r.page,
                line: r.line,
                score: r.score,
            };
            let id = chunk.doc_sha256.as_deref().unwrap_or(&r.doc_id);
            match store.and_then(|s| s.get(id).ok()) {
                None => PlaceStatus::NotStored,
                Some(doc) => match doc.check(&chunk) {
                    Ok(()) => PlaceStatus::Found,
                    Err(e) => PlaceStatus::Misplaced {
                        reason: e.to_string(),
                    },
                },
            }
        };
        out.push(PlaceCheck {
            chunk: i,
            doc_id: r.doc_id.clone(),
            status,
        });
    }
    out
}

/// Counts of [`PlaceCheck`]s: (found, misplaced, not checked).
pub fn place_counts(checks: &[PlaceCheck]) -> (usize, usize, usize) {
    let count = |f: fn(&PlaceStatus) -> bool| checks.iter().filter(|c| f(&c.status)).count();
    (
        count(|s| matches!(s, PlaceStatus::Found)),
        count(|s| matches!(s, PlaceStatus::Misplaced { .. })),
        count(|s| matches!(s, PlaceStatus::NoPlace | PlaceStatus::NotStored)),
    )
}

/// Everything `cutufato verify ID` establishes about one record, with the verdict.
#[derive(Debug, Clone)]
pub struct Verification {
    pub report: RecordReport,
    /// Context chunks checked against the document store (empty without a store or context).
    pub places: Vec<PlaceCheck>,
}

impl Verification {
    /// Whether any finding has one of these codes.
    pub fn has_any(&self, codes: &[&str]) -> bool {
        self.report.findings.iter().any(|f| codes.contains(&f.code))
    }
    /// The signature (and form, position, origin, key) of the leaf is valid.
    pub fn signature_valid(&self) -> bool {
        !self.has_any(SIGNATURE_CODES)
    }
    /// The record is proven included under the latest signed checkpoint.
    pub fn included(&self) -> bool {
        !self.has_any(INCLUSION_CODES)
    }
    /// The content check failed (edited content store).
    pub fn content_mismatch(&self) -> bool {
        self.has_any(CONTENT_CODES)
    }
    /// Content gone without an erasure tombstone naming the record.
    pub fn erased_without_tombstone(&self) -> bool {
        self.report.content == ContentStatus::Erased && self.report.erased_by.is_none()
    }
    /// Chunks not found at their cited place in the stored documents.
    pub fn misplaced(&self) -> usize {
        place_counts(&self.places).1
    }
    /// No finding, no unexplained erasure, every checked chunk at its place.
    pub fn verified(&self) -> bool {
        self.report.findings.is_empty() && !self.erased_without_tombstone() && self.misplaced() == 0
    }
    /// The first finding, if any.
    pub fn first_finding(&self) -> Option<&Finding> {
        self.report.findings.first()
    }
    /// One line: verified or not, and why.
    pub fn verdict(&self) -> String {
        let r = &self.report;
        let id = &r.execution_id;
        if !self.verified() {
            let what = if let Some(f) = self.first_finding() {
                let part = if !self.signature_valid() {
                    "signature invalid"
                } else if !self.included() {
                    "inclusion in the log not proven"
                } else if self.content_mismatch() {
                    "content does not match its signed hashes"
                } else {
                    "check failed"
                };
                format!("{part}: {} [{}]", f.message, f.code)
            } else if self.erased_without_tombstone() {
                "content missing and no erasure tombstone names this record".to_string()
            } else {
                format!(
                    "{} context chunk(s) are not in the stored documents at their cited page and line",
                    self.misplaced()
                )
            };
            return format!("NOT VERIFIED {id}: {what}");
        }
        let content = match (&r.content, &r.erased_by) {
            (ContentStatus::Matches { .. }, _) if r.kind == "event" => {
                "summary and data match their signed hashes".to_string()
            }
            (ContentStatus::Matches { chunks }, _) => {
                format!("prompt, response and {chunks} context chunk(s) match their signed hashes")
            }
            (ContentStatus::Erased, Some(t)) => format!("content erased (tombstone {t})"),
            _ => "no erasable content".to_string(),
        };
        let hall = match r.hallucination_detected {
            Some(true) => "; hallucination detected",
            Some(false) => "; response fully attributed",
            None => "",
        };
        format!(
            "VERIFIED {id}: signature valid (key {}), included at index {} under checkpoint size {}, {content}{hall}",
            r.key_id, r.index, r.checkpoint_size
        )
    }
}

/// Verifies one record as `cutufato verify ID` does: signature, inclusion under the latest signed
/// checkpoint (and the `extra` checkpoints kept outside), content against its signed hashes, and
/// context chunks against the document store of `auditor`'s directory.
pub fn verify(
    auditor: &Auditor,
    execution_id: &str,
    trusted: &[Verifier],
    extra: &[PathBuf],
) -> Result<Verification, OpError> {
    let report = auditor.verify_record(execution_id, trusted, extra)?;
    let places = match auditor.get(execution_id) {
        // An unreadable entry is reported by the log checks; there is nothing to place here.
        Err(_) => Vec::new(),
        Ok(stored) => {
            let store = open_store(auditor.dir())?;
            chunk_places(store.as_ref(), &stored)
        }
    };
    Ok(Verification { report, places })
}

/// Kinds of records a listing can filter on.
pub const KINDS: &[&str] = &["decision", "event", "erasure", "key-rotation"];

/// Which records [`list_records`] returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    /// Only records of this session.
    pub session: Option<String>,
    /// Only events from this source.
    pub source: Option<String>,
    /// Only this kind (one of [`KINDS`]).
    pub kind: Option<String>,
    /// Most records, newest first.
    pub limit: usize,
}

impl ListFilter {
    /// Checks the filter's values.
    pub fn check(&self) -> Result<(), OpError> {
        if let Some(k) = &self.kind
            && !KINDS.contains(&k.as_str())
        {
            return Err(OpError::Invalid(format!(
                "unknown kind {k:?}: give one of {}",
                KINDS.join(", ")
            )));
        }
        Ok(())
    }

    fn matches(&self, s: &RecordSummary) -> bool {
        self.kind.as_ref().is_none_or(|k| *k == s.kind)
            && self
                .session
                .as_ref()
                .is_none_or(|x| s.session.as_ref() == Some(x))
            && self
                .source
                .as_ref()
                .is_none_or(|x| s.source.as_ref() == Some(x))
    }
}

/// One line of a listing: what a record is, without its erasable content.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RecordSummary {
    pub log_index: u64,
    pub execution_id: String,
    /// `decision`, `event`, `erasure` or `key-rotation`.
    pub kind: String,
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The model of a decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The tool that reported an event (`babuino`, `sentinel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What the tool did (`run`, `block`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// How it ended (`ok`, `blocked`, `failed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// An event's one-line summary, or an erasure's reason (absent once erased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hallucination_detected: Option<bool>,
    /// The erasable content was erased.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

impl RecordSummary {
    /// Summarises a stored entry.
    pub fn of(stored: &Stored) -> Self {
        let mut s = RecordSummary {
            log_index: stored.index,
            execution_id: stored.entry.body.execution_id().to_owned(),
            kind: stored.entry.body.kind().to_owned(),
            timestamp: stored.entry.body.timestamp().to_owned(),
            session: None,
            actor: None,
            model: None,
            purpose: None,
            source: None,
            action: None,
            outcome: None,
            summary: None,
            hallucination_detected: None,
            erased: false,
        };
        match &stored.entry.body {
            Body::Decision(d) => {
                s.actor = d.actor.clone();
                s.model = Some(d.model.name.clone());
                s.purpose = d.purpose.clone();
                s.hallucination_detected = d.hallucination_detected;
                s.session = d.session.clone();
                s.erased = stored.content.is_none();
            }
            Body::Event(e) => {
                s.actor = e.actor.clone();
                s.session = e.session.clone();
                s.source = Some(e.source.clone());
                s.action = Some(e.action.clone());
                s.outcome = e.outcome.clone();
                s.summary = stored.content.as_ref().and_then(|c| c.summary.clone());
                s.erased = stored.content.is_none();
            }
            Body::Erasure(e) => {
                s.actor = e.actor.clone();
                s.summary = Some(format!(
                    "erased {} record(s){}",
                    e.erased.len(),
                    e.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ));
            }
            Body::KeyRotation(_) => s.summary = Some("signing key rotated".into()),
        }
        s
    }

    /// One line of text: index, id, time, kind and what matters for the kind.
    pub fn line(&self) -> String {
        let mut parts = vec![format!(
            "#{} {} {} {}",
            self.log_index, self.execution_id, self.timestamp, self.kind
        )];
        if let Some(x) = &self.session {
            parts.push(format!("session={x}"));
        }
        if let (Some(src), Some(act)) = (&self.source, &self.action) {
            parts.push(format!("{src}/{act}"));
        }
        if let Some(x) = &self.outcome {
            parts.push(format!("outcome={x}"));
        }
        if let Some(x) = &self.model {
            parts.push(format!("model={x}"));
        }
        if let Some(x) = &self.actor {
            parts.push(format!("actor={x}"));
        }
        if self.hallucination_detected == Some(true) {
            parts.push("HALLUCINATION".into());
        }
        if self.erased {
            parts.push("(content erased)".into());
        }
        if let Some(x) = &self.summary {
            parts.push(format!("— {x}"));
        }
        parts.join("  ")
    }
}

/// The newest records matching `filter`, newest first. Entries that cannot be read are skipped
/// (`verify --all` names them).
pub fn list_records(auditor: &Auditor, filter: &ListFilter) -> Result<Vec<RecordSummary>, OpError> {
    filter.check()?;
    let mut out = Vec::new();
    // The database's size, not the open log's: another process may have appended since.
    let mut index = crate::store::tree_size(auditor.connection()).map_err(LogError::from)?;
    while index > 0 && out.len() < filter.limit {
        index -= 1;
        let Ok(stored) = auditor.get_index(index) else {
            continue;
        };
        let s = RecordSummary::of(&stored);
        if filter.matches(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "Termination\n\nEither party may terminate with thirty (30) days notice.\nNotice goes by registered mail.\n\nFees are due monthly.\n";

    fn store_dir() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("contract.txt");
        std::fs::write(&file, DOC).unwrap();
        Store::open(tmp.path()).unwrap().add(&file).unwrap();
        tmp
    }

    fn r(page: Option<u32>, line: Option<u32>, lines: Option<u32>) -> DocumentRef {
        DocumentRef {
            document: "contract.txt".into(),
            page,
            line,
            lines,
        }
    }

    #[test]
    fn document_references_resolve_to_cited_chunks() {
        let tmp = store_dir();
        let all = resolve_document(tmp.path(), &r(None, None, None)).unwrap();
        assert_eq!(all.len(), 3, "three paragraphs: {all:?}");
        assert!(
            all.iter()
                .all(|c| c.doc_sha256.is_some() && c.page == Some(1))
        );
        // From a line to the next blank line.
        let one = resolve_document(tmp.path(), &r(Some(1), Some(3), None)).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            one[0].text,
            "Either party may terminate with thirty (30) days notice.\nNotice goes by registered mail."
        );
        assert_eq!(one[0].line, Some(3));
        // An explicit line count, clamped to the page.
        let n = resolve_document(tmp.path(), &r(Some(1), Some(4), Some(99))).unwrap();
        assert!(
            n[0].text.ends_with("Fees are due monthly."),
            "{:?}",
            n[0].text
        );
        // The resolved chunk is found at its place by the same check `verify` runs.
        let doc = Store::open(tmp.path())
            .unwrap()
            .get("contract.txt")
            .unwrap();
        assert!(doc.check(&to_chunk(&one[0])).is_ok());
    }

    #[test]
    fn bad_document_references_say_what_is_wrong() {
        let tmp = store_dir();
        let msg = |x: DocumentRef| resolve_document(tmp.path(), &x).unwrap_err().to_string();
        assert!(msg(r(Some(2), None, None)).contains("no page 2"));
        assert!(msg(r(Some(1), Some(40), None)).contains("no line 40"));
        assert!(msg(r(None, Some(3), None)).contains("without a page"));
        assert!(msg(r(Some(1), Some(2), None)).contains("is blank"));
        let mut unknown = r(None, None, None);
        unknown.document = "other.pdf".into();
        assert!(msg(unknown).contains("other.pdf"));
        let empty = tempfile::tempdir().unwrap();
        let e = resolve_document(empty.path(), &r(None, None, None)).unwrap_err();
        assert!(e.to_string().contains("cutufato docs add"), "{e}");
    }

    #[test]
    fn list_filter_refuses_unknown_kinds() {
        let f = ListFilter {
            kind: Some("decisions".into()),
            limit: 5,
            ..ListFilter::default()
        };
        assert!(
            f.check()
                .unwrap_err()
                .to_string()
                .contains("decision, event")
        );
        let ok = ListFilter {
            kind: Some("event".into()),
            ..f
        };
        assert!(ok.check().is_ok());
    }
}
