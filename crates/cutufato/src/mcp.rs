//! Cutufato as a Model Context Protocol server: an assistant records each decision it makes
//! (prompt, response, model, the context it relied on) in the signed log, learns at once which
//! sentences its context does not support, and can verify any record later.
//!
//! Tools: `record_decision`, `verify_decision`, `list_records`. Results carry structured content
//! (JSON schema in each tool's `outputSchema`) and a short text. Bad input (missing or malformed
//! arguments, an unknown execution id or document) is a tool error (`isError: true`) whose text
//! says what is wrong and what to do; the server never stops on it. A record that fails
//! verification is a normal result with `verified: false` naming what failed.
//!
//! Transports: stdio (how assistants launch local servers) and streamable HTTP at `/mcp`. Stdout
//! is the protocol: nothing else may print there, logs go to stderr.
#![deny(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::schema_for_type;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, JsonObject, ServerCapabilities, ServerConfig,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::attribution::{Attribution, Chunk, DEFAULT_THRESHOLD};
use crate::auditor::{Auditor, LogError};
use crate::ops::{self, DocumentRef, OpError, PlaceStatus, RecordSummary};
use crate::record::{ContextChunk, Decision, Model};
use crate::verify::ContentStatus;

/// Most records one `list_records` call returns.
pub const MAX_LIST: usize = 1000;
/// Records `list_records` returns without `limit`.
pub const DEFAULT_LIST: usize = 20;

/// Errors running the server.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The log cannot be opened (missing: run `cutufato init`).
    #[error(transparent)]
    Log(#[from] LogError),
    /// The stdio session failed to start (bad initialize exchange or closed pipe).
    #[error("mcp session failed to start: {0}")]
    Start(String),
    /// The session task failed.
    #[error("mcp session failed: {0}")]
    Session(String),
    /// The HTTP listener could not be opened.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    /// The HTTP server stopped with an I/O error.
    #[error("http server failed: {0}")]
    Serve(std::io::Error),
}

/// A context chunk given inline.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineChunk {
    /// The source document's id or name (`contract.pdf`).
    pub doc_id: String,
    /// The chunk's text exactly as the model saw it.
    pub text: String,
    /// Page of the chunk's first line (1-based).
    #[serde(default)]
    pub page: Option<u32>,
    /// Line of the chunk's first line on that page (1-based).
    #[serde(default)]
    pub line: Option<u32>,
    /// Retrieval score as the retriever reported it.
    #[serde(default)]
    pub score: Option<f64>,
    /// SHA-256 (hex) of the document's bytes, when known.
    #[serde(default)]
    pub doc_sha256: Option<String>,
}

/// Context taken from a document stored with `cutufato docs add`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentArg {
    /// The stored document: its SHA-256, a unique prefix of it (8+ hex digits) or its file name.
    pub document: String,
    /// Only this page (1-based). Without it: the whole document, cut into paragraph chunks.
    #[serde(default)]
    pub page: Option<u32>,
    /// With `page`: the passage starting at this line (1-based). Without it: the page's
    /// paragraphs.
    #[serde(default)]
    pub line: Option<u32>,
    /// With `line`: this many lines (default: to the next blank line, at most 8).
    #[serde(default)]
    pub lines: Option<u32>,
}

/// Arguments of `record_decision`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordDecisionArgs {
    /// The prompt or question the model answered.
    pub prompt: String,
    /// The model's answer.
    pub response: String,
    /// The model's name (`claude-sonnet-4`, `gpt-4o`).
    pub model: String,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model_version: Option<String>,
    /// Call parameters (temperature, top_p, …).
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    /// Context chunks the answer should be grounded in, given inline.
    #[serde(default)]
    pub context: Vec<InlineChunk>,
    /// Context taken from documents already stored with `cutufato docs add` (after `context`).
    #[serde(default)]
    pub documents: Vec<DocumentArg>,
    /// Who asked (user or service account).
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
    /// Purpose of processing (GDPR Art. 30, AI Act Art. 12).
    #[serde(default)]
    pub purpose: Option<String>,
    /// Data subject whose personal data the text may hold (default: the actor); erasure uses it.
    #[serde(default)]
    pub subject: Option<String>,
    /// Session (agent run, conversation) the decision belongs to: `cutufato replay --session`.
    #[serde(default)]
    pub session: Option<String>,
    /// Hallucination threshold of the attribution (default 0.5).
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Attribute the response to its context (default true; ignored without context).
    #[serde(default)]
    pub attribute: Option<bool>,
}

/// A chunk that supports a sentence.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SentenceSource {
    /// Index of the chunk in the record's context.
    pub chunk: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The supporting words in the chunk.
    pub evidence: String,
}

/// The verdict on one sentence of the response.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SentenceVerdict {
    pub text: String,
    pub supported: bool,
    /// 0–1.
    pub confidence: f64,
    /// The supporting chunk first (empty when nothing supports the sentence).
    pub sources: Vec<SentenceSource>,
    /// Why the sentence is unsupported or doubtful (numbers, dates, names, negations absent
    /// from the context).
    pub reasons: Vec<String>,
}

/// Result of `record_decision`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RecordDecisionOutput {
    /// Id of the signed record: give it to `verify_decision`, `cutufato show` or an auditor.
    pub execution_id: String,
    /// Position of the record in the log (0-based).
    pub log_index: u64,
    /// Size of the signed checkpoint covering the record.
    pub checkpoint_size: u64,
    /// Context chunks recorded (inline and from stored documents).
    pub context_chunks: usize,
    /// True when a sentence of the response is supported by no context chunk; absent when the
    /// response was not attributed (no context).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hallucination_detected: Option<bool>,
    /// The weakest sentence's confidence (0–1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution_confidence: Option<f64>,
    /// Number of unsupported sentences.
    pub unsupported: usize,
    /// One verdict per sentence of the response.
    pub sentences: Vec<SentenceVerdict>,
}

/// Arguments of `verify_decision`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyDecisionArgs {
    /// The execution id `record_decision` returned (`exec-…`).
    pub execution_id: String,
}

/// A problem found by verification.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FindingOut {
    /// Stable code (`signature-invalid`, `not-included`, `response-mismatch`, …).
    pub code: String,
    pub message: String,
}

/// A context chunk checked against the stored documents.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ChunkPlace {
    pub chunk: usize,
    pub doc_id: String,
    /// `found`, `misplaced`, `no-place` (no page and line cited) or `not-stored`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Result of `verify_decision`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VerifyDecisionOutput {
    pub execution_id: String,
    /// Everything checked out: signature, inclusion, content, chunk places.
    pub verified: bool,
    /// One line: verified or not, and what failed.
    pub verdict: String,
    /// Record kind (`decision`, `event`, `erasure`, `key-rotation`).
    pub kind: String,
    pub log_index: u64,
    pub checkpoint_size: u64,
    /// Signed-note key id of the signing key.
    pub key_id: String,
    pub signature_valid: bool,
    /// Proven included under the latest signed checkpoint.
    pub included: bool,
    /// `matches`, `mismatch`, `erased`, `missing` (gone without a tombstone) or `none`.
    pub content: String,
    /// The erasure tombstone that removed the content, when erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hallucination_detected: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution_confidence: Option<f64>,
    pub chunk_places: Vec<ChunkPlace>,
    /// Empty when verified.
    pub findings: Vec<FindingOut>,
}

/// Arguments of `list_records`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRecordsArgs {
    /// Only records of this session.
    #[serde(default)]
    pub session: Option<String>,
    /// Only events from this source (`babuino`, `sentinel`, …).
    #[serde(default)]
    pub source: Option<String>,
    /// Only this kind: `decision`, `event`, `erasure` or `key-rotation`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Most records, newest first (default 20, at most 1000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Result of `list_records`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListRecordsOutput {
    /// Entries in the log.
    pub log_size: u64,
    /// Matching records, newest first.
    pub records: Vec<RecordSummary>,
}

fn tool_error(msg: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(msg.into())])
}

/// Reads a tool's arguments; malformed ones are a tool error the model can read and fix.
fn arguments<T: serde::de::DeserializeOwned>(tool: &str, raw: JsonObject) -> Result<T, String> {
    serde_json::from_value(Value::Object(raw))
        .map_err(|e| format!("invalid arguments for `{tool}`: {e}; see the tool's input schema"))
}

fn structured<T: Serialize>(value: &T, text: String) -> Result<CallToolResult, ErrorData> {
    let value = serde_json::to_value(value)
        .map_err(|e| ErrorData::internal_error(format!("cannot encode the result: {e}"), None))?;
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    Ok(result)
}

/// The message of an operation error, for a tool error.
fn op_message(e: &OpError) -> String {
    match e {
        OpError::Log(LogError::UnknownId(id)) => format!(
            "unknown execution id {id:?}: give an id returned by `record_decision` (see `list_records`)"
        ),
        other => other.to_string(),
    }
}

const SERVER_INSTRUCTIONS: &str = "Cutufato keeps a signed, tamper-evident audit log of your \
decisions. After you answer from retrieved context (documents, search results, tool output), \
call `record_decision` with the prompt, your response, your model name and the context chunks \
you relied on: the response is attributed sentence by sentence, and the result names every \
sentence no chunk supports (`hallucination_detected`). Correct or qualify those sentences before \
the user relies on them. `verify_decision` checks a record's signature, its inclusion in the \
log and that its content was not altered; `list_records` shows recent records.";

/// The MCP server over one log.
#[derive(Clone)]
pub struct CutufatoMcp {
    auditor: Arc<Mutex<Auditor>>,
    tool_router: ToolRouter<CutufatoMcp>,
}

impl std::fmt::Debug for CutufatoMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CutufatoMcp").finish_non_exhaustive()
    }
}

impl CutufatoMcp {
    /// Runs `f` on the log in a blocking task (SQLite and signing are synchronous).
    async fn with_log<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Auditor) -> T + Send + 'static,
    ) -> Result<T, ErrorData> {
        let auditor = self.auditor.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = auditor
                .lock()
                .map_err(|_| ErrorData::internal_error("the log lock is poisoned", None))?;
            Ok(f(&mut guard))
        })
        .await
        .map_err(|e| ErrorData::internal_error(format!("the log task failed: {e}"), None))?
    }
}

#[tool_router]
impl CutufatoMcp {
    /// A server over an open log.
    pub fn new(auditor: Arc<Mutex<Auditor>>) -> Self {
        CutufatoMcp {
            auditor,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        name = "record_decision",
        description = "Record a decision in the signed audit log AFTER you answer: the prompt, your response, your model name and the context chunks you relied on (inline `context` and/or `documents` stored with `cutufato docs add`). The response is attributed sentence by sentence to the chunks; the result gives the execution id, the log index and, per sentence, the supporting chunk or why nothing supports it (`hallucination_detected` when any sentence is unsupported). Correct or qualify unsupported sentences before the user relies on them.",
        input_schema = schema_for_type::<RecordDecisionArgs>(),
        output_schema = schema_for_type::<RecordDecisionOutput>()
    )]
    async fn record_decision(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args: RecordDecisionArgs = match arguments("record_decision", raw) {
            Ok(a) => a,
            Err(e) => return Ok(tool_error(e)),
        };
        if let Some(t) = args.threshold
            && !(t > 0.0 && t.is_finite())
        {
            return Ok(tool_error(format!(
                "threshold {t} is out of range: give a number above 0 (default {DEFAULT_THRESHOLD})"
            )));
        }
        let outcome = self.with_log(move |a| record_decision(a, args)).await?;
        match outcome {
            Ok((out, text)) => structured(&out, text),
            Err(msg) => Ok(tool_error(msg)),
        }
    }

    #[tool(
        name = "verify_decision",
        description = "Verify a recorded decision by its execution id BEFORE you rely on or cite it: checks the record's Ed25519 signature, its inclusion proof against the latest signed checkpoint, that its prompt, response and context still match their signed hashes, and that cited chunks are in the stored documents at their page and line. Returns `verified` and a one-line verdict naming what failed.",
        input_schema = schema_for_type::<VerifyDecisionArgs>(),
        output_schema = schema_for_type::<VerifyDecisionOutput>()
    )]
    async fn verify_decision(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args: VerifyDecisionArgs = match arguments("verify_decision", raw) {
            Ok(a) => a,
            Err(e) => return Ok(tool_error(e)),
        };
        let id = args.execution_id.trim().to_owned();
        if id.is_empty() {
            return Ok(tool_error(
                "`execution_id` is empty: give the id `record_decision` returned (exec-…)",
            ));
        }
        let outcome = self.with_log(move |a| verify_decision(a, &id)).await?;
        match outcome {
            Ok(out) => {
                let text = out.verdict.clone();
                structured(&out, text)
            }
            Err(msg) => Ok(tool_error(msg)),
        }
    }

    #[tool(
        name = "list_records",
        description = "List recent records of the audit log, newest first, optionally only one session, one event source (`babuino`, `sentinel`) or one kind (`decision`, `event`). Use it to find an execution id BEFORE verify_decision, or to review what was recorded in a session.",
        input_schema = schema_for_type::<ListRecordsArgs>(),
        output_schema = schema_for_type::<ListRecordsOutput>()
    )]
    async fn list_records(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args: ListRecordsArgs = match arguments("list_records", raw) {
            Ok(a) => a,
            Err(e) => return Ok(tool_error(e)),
        };
        let limit = args.limit.unwrap_or(DEFAULT_LIST);
        if limit == 0 || limit > MAX_LIST {
            return Ok(tool_error(format!(
                "limit {limit} is out of range: give 1 to {MAX_LIST}"
            )));
        }
        let filter = ops::ListFilter {
            session: args.session,
            source: args.source,
            kind: args.kind,
            limit,
        };
        if let Err(e) = filter.check() {
            return Ok(tool_error(e.to_string()));
        }
        let outcome = self
            .with_log(move |a| {
                let size = crate::store::tree_size(a.connection()).unwrap_or(a.size());
                ops::list_records(a, &filter)
                    .map(|records| (size, records))
                    .map_err(|e| op_message(&e))
            })
            .await?;
        match outcome {
            Ok((log_size, records)) => {
                let mut text = format!("{} record(s), newest first\n", records.len());
                for r in &records {
                    text.push_str(&r.line());
                    text.push('\n');
                }
                structured(&ListRecordsOutput { log_size, records }, text)
            }
            Err(msg) => Ok(tool_error(msg)),
        }
    }
}

/// `record_decision` on the open log: the output and its text, or the message of a tool error.
fn record_decision(
    a: &mut Auditor,
    args: RecordDecisionArgs,
) -> Result<(RecordDecisionOutput, String), String> {
    let mut context: Vec<ContextChunk> = args
        .context
        .into_iter()
        .map(|c| ContextChunk {
            doc_id: c.doc_id,
            doc_sha256: c.doc_sha256,
            page: c.page,
            line: c.line,
            text: c.text,
            score: c.score,
        })
        .collect();
    for (i, d) in args.documents.iter().enumerate() {
        let r = DocumentRef {
            document: d.document.clone(),
            page: d.page,
            line: d.line,
            lines: d.lines,
        };
        let chunks = ops::resolve_document(a.dir(), &r)
            .map_err(|e| format!("documents[{i}]: {}", op_message(&e)))?;
        context.extend(chunks);
    }
    let decision = Decision {
        prompt: args.prompt,
        context,
        response: args.response,
        model: Model {
            name: args.model,
            provider: args.provider,
            version: args.model_version,
            parameters: args.parameters.unwrap_or_default(),
        },
        actor: args.actor,
        tenant: args.tenant,
        purpose: args.purpose,
        subject: args.subject,
        session: args.session,
        ..Decision::default()
    };
    if decision.prompt.trim().is_empty() || decision.model.name.trim().is_empty() {
        return Err("`prompt` and `model` must not be empty".into());
    }
    let chunks: Vec<Chunk> = decision.context.iter().map(ops::to_chunk).collect();
    let threshold = args
        .attribute
        .unwrap_or(true)
        .then(|| args.threshold.unwrap_or(DEFAULT_THRESHOLD));
    let rec = ops::record(a, decision, threshold).map_err(|e| match e {
        OpError::Attribution(_) => format!("{e} (or call again with \"attribute\": false)"),
        other => op_message(&other),
    })?;
    let (sentences, unsupported) = match &rec.attribution {
        Some(att) => (
            sentence_verdicts(att),
            att.sentences.iter().filter(|s| !s.supported).count(),
        ),
        None => (Vec::new(), 0),
    };
    let out = RecordDecisionOutput {
        execution_id: rec.execution_id.clone(),
        log_index: rec.index,
        checkpoint_size: rec.checkpoint_size,
        context_chunks: chunks.len(),
        hallucination_detected: rec.attribution.as_ref().map(|a| a.hallucination_detected),
        attribution_confidence: rec.attribution.as_ref().map(|a| a.confidence),
        unsupported,
        sentences,
    };
    let mut text = format!(
        "recorded {} (log index {}, checkpoint size {})\n",
        rec.execution_id, rec.index, rec.checkpoint_size
    );
    match &rec.attribution {
        Some(att) => {
            text.push_str(&crate::cli_attr::render_text(att, &chunks));
            if att.hallucination_detected {
                text.push_str(
                    "hallucination detected: correct or qualify the unsupported sentences before the user relies on them\n",
                );
            }
        }
        None => text.push_str("not attributed (no context given)\n"),
    }
    Ok((out, text))
}

fn sentence_verdicts(att: &Attribution) -> Vec<SentenceVerdict> {
    att.sentences
        .iter()
        .map(|s| SentenceVerdict {
            text: s.text.clone(),
            supported: s.supported,
            confidence: s.confidence,
            sources: s
                .sources
                .iter()
                .map(|src| SentenceSource {
                    chunk: src.chunk,
                    doc_id: src.doc_id.clone(),
                    page: src.page,
                    line: src.line,
                    evidence: src.evidence_text.clone(),
                })
                .collect(),
            reasons: s.flags.iter().map(|f| f.reason.clone()).collect(),
        })
        .collect()
}

/// `verify_decision` on the open log.
fn verify_decision(a: &mut Auditor, id: &str) -> Result<VerifyDecisionOutput, String> {
    let trusted = a
        .trusted_keys()
        .map_err(|e| format!("cannot read the log's trusted keys: {e}"))?;
    let v = ops::verify(a, id, &trusted, &[]).map_err(|e| op_message(&e))?;
    let r = &v.report;
    let content = match (&r.content, &r.erased_by) {
        _ if v.content_mismatch() => "mismatch",
        (ContentStatus::Matches { .. }, _) => "matches",
        (ContentStatus::Erased, Some(_)) => "erased",
        (ContentStatus::Erased, None) => "missing",
        (ContentStatus::NotApplicable, _) => "none",
    };
    Ok(VerifyDecisionOutput {
        execution_id: r.execution_id.clone(),
        verified: v.verified(),
        verdict: v.verdict(),
        kind: r.kind.to_string(),
        log_index: r.index,
        checkpoint_size: r.checkpoint_size,
        key_id: r.key_id.clone(),
        signature_valid: v.signature_valid(),
        included: v.included(),
        content: content.into(),
        erased_by: r.erased_by.clone(),
        hallucination_detected: r.hallucination_detected,
        attribution_confidence: r.attribution_confidence,
        chunk_places: v
            .places
            .iter()
            .map(|p| {
                let (status, reason) = match &p.status {
                    PlaceStatus::Found => ("found", None),
                    PlaceStatus::Misplaced { reason } => ("misplaced", Some(reason.clone())),
                    PlaceStatus::NoPlace => ("no-place", None),
                    PlaceStatus::NotStored => ("not-stored", None),
                };
                ChunkPlace {
                    chunk: p.chunk,
                    doc_id: p.doc_id.clone(),
                    status: status.into(),
                    reason,
                }
            })
            .collect(),
        findings: r
            .findings
            .iter()
            .map(|f| FindingOut {
                code: f.code.to_string(),
                message: f.message.clone(),
            })
            .collect(),
    })
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for CutufatoMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("cutufato", env!("CARGO_PKG_VERSION"))
                    .with_title("Cutufato signed audit log of AI decisions"),
            )
            .with_instructions(SERVER_INSTRUCTIONS)
    }
}

/// Opens the log in `dir` for the server; fails (naming `cutufato init`) when there is none.
pub fn open_log(dir: &Path) -> Result<Arc<Mutex<Auditor>>, McpError> {
    let a = Auditor::open(dir)?;
    // A server that cannot sign would fail every record_decision: refuse to start instead.
    a.verifier()?;
    Ok(Arc::new(Mutex::new(a)))
}

/// Serves MCP over stdin/stdout until the client closes the pipe.
pub async fn serve_stdio(auditor: Arc<Mutex<Auditor>>) -> Result<(), McpError> {
    let service = CutufatoMcp::new(auditor)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Start(e.to_string()))?;
    service
        .waiting()
        .await
        .map_err(|e| McpError::Session(e.to_string()))?;
    Ok(())
}

/// Serves MCP over streamable HTTP at `http://addr/mcp` until `shutdown` completes.
/// `on_bound` receives the bound address (useful with port 0).
pub async fn serve_http(
    auditor: Arc<Mutex<Auditor>>,
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), McpError> {
    let mut config = StreamableHttpServerConfig::default();
    // Answer plain request/response tools with JSON rather than an SSE stream.
    config.json_response = true;
    let service = StreamableHttpService::new(
        move || Ok(CutufatoMcp::new(auditor.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| McpError::Bind { addr, error })?;
    let bound = listener
        .local_addr()
        .map_err(|error| McpError::Bind { addr, error })?;
    on_bound(bound);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(McpError::Serve)
}

/// Options of `cutufato mcp`.
#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// Serve streamable HTTP at this address (endpoint `/mcp`) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
}

/// Runs `cutufato mcp` on the log in `dir`: serves until the client closes stdin (stdio) or
/// Ctrl-C (HTTP).
pub fn run(dir: &Path, args: McpArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let auditor = match open_log(dir) {
        Ok(a) => a,
        Err(McpError::Log(e)) => return Err(anyhow::Error::new(e)),
        Err(e) => return Err(e.into()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match args.http {
        None => rt
            .block_on(serve_stdio(auditor))
            .context("serving mcp over stdio")?,
        Some(addr) => rt
            .block_on(serve_http(
                auditor,
                addr,
                |bound| eprintln!("cutufato mcp listening on http://{bound}/mcp"),
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
            ))
            .context("serving mcp over http")?,
    }
    Ok(())
}
