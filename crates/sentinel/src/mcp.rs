//! Sentinel as a Model Context Protocol server: the assistant asks before it suggests, imports
//! or installs a dependency, and reads the verdict.
//!
//! Tools: `validate_dependency`, `validate_dependencies` (batch) and `scan_manifest`. A blocked
//! package is a normal result (`isError: false`) whose text tells the model what to do instead,
//! with the full verdicts as structured content (JSON schema in the tool's `outputSchema`).
//! Malformed arguments (unknown ecosystem, missing name, both or neither of `path`/`content`)
//! are JSON-RPC `invalid_params` errors. Transports: stdio (how assistants launch local servers)
//! and streamable HTTP. Stdout is the protocol: nothing else may print there, logs go to stderr.
//! With an audit log ([`SentinelMcp::with_audit`]) every call's verdicts are recorded before they
//! are returned; a call whose verdicts cannot be recorded is a tool error (`isError: true`).
#![deny(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

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

use crate::audit::{AuditContext, AuditLog, Frontend};
use crate::manifest::{self, ManifestKind};
use crate::memo::{MEMO_TTL, MemoEngine};
use crate::{Decision, Ecosystem, Engine, PackageRef, Verdict};

/// Most packages one `validate_dependencies` or `scan_manifest` call checks.
pub const MAX_BATCH: usize = 1000;

/// Errors running the server.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
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

/// One dependency to check.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DependencyArgs {
    /// Package ecosystem: `pypi`, `npm`, `crates.io` or `go`.
    pub ecosystem: Ecosystem,
    /// Package name exactly as it would be installed or imported from the registry
    /// (`requests`, `@types/node`, `serde_json`, `github.com/spf13/cobra`).
    pub name: String,
    /// Exact version, when one is intended (`2.32.3`); omit for "any/latest".
    #[serde(default)]
    pub version: Option<String>,
}

impl From<DependencyArgs> for PackageRef {
    fn from(a: DependencyArgs) -> Self {
        PackageRef {
            ecosystem: a.ecosystem,
            name: a.name,
            version: a.version.filter(|v| !v.trim().is_empty()),
        }
    }
}

/// Several dependencies to check in one call.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DependenciesArgs {
    /// The dependencies (at most 1000).
    pub packages: Vec<DependencyArgs>,
}

/// A manifest to scan: give `path` or `content` (with `kind`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanArgs {
    /// Path of a manifest on the machine running the server (relative to its working
    /// directory).
    #[serde(default)]
    pub path: Option<String>,
    /// The manifest's text, when the file is not on disk yet.
    #[serde(default)]
    pub content: Option<String>,
    /// Manifest kind: `requirements.txt`, `pyproject.toml`, `package.json`,
    /// `package-lock.json`, `Cargo.toml`, `Cargo.lock` or `go.mod`. Required with `content`;
    /// with `path` it is detected from the file name when omitted.
    #[serde(default)]
    pub kind: Option<String>,
}

/// A verdict with the instruction a model should follow.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AdvisedVerdict {
    /// What to do, in one sentence addressed to the assistant.
    pub advice: String,
    /// The engine's verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// What every tool returns as structured content.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ToolReport {
    /// The strictest decision over all packages (`block` if any is blocked).
    pub decision: Decision,
    /// Counts per decision, for example `2 allowed, 1 blocked`.
    pub summary: String,
    /// One verdict per package, in the order asked.
    pub packages: Vec<AdvisedVerdict>,
}

/// The instruction for the model about one verdict.
pub fn advice(v: &Verdict) -> String {
    let alt = v.suggestions.first().map(|s| s.name.as_str());
    let why = v
        .main_finding()
        .map(|f| f.message.clone())
        .unwrap_or_default();
    match v.decision {
        Decision::Block => match alt {
            Some(a) => format!(
                "do not install, import or suggest `{}` ({why}); use `{a}` instead if that is what was meant",
                v.package.name
            ),
            None => format!(
                "do not install, import or suggest `{}` ({why}); find an established alternative or ask the user",
                v.package.name
            ),
        },
        Decision::Warn => format!(
            "`{}` may be used only after telling the user: {why}",
            v.package.name
        ),
        Decision::Allow => format!("`{}` is fine to use", v.package.name),
    }
}

/// Builds the report and its text rendering.
pub fn report(verdicts: Vec<Verdict>) -> (ToolReport, String) {
    let decision = verdicts
        .iter()
        .map(|v| v.decision)
        .max()
        .unwrap_or(Decision::Allow);
    let count = |d: Decision| verdicts.iter().filter(|v| v.decision == d).count();
    let summary = format!(
        "{} allowed, {} warned, {} blocked",
        count(Decision::Allow),
        count(Decision::Warn),
        count(Decision::Block)
    );
    let packages: Vec<AdvisedVerdict> = verdicts
        .into_iter()
        .map(|verdict| AdvisedVerdict {
            advice: advice(&verdict),
            verdict,
        })
        .collect();
    let mut text = String::new();
    for p in &packages {
        let v = &p.verdict;
        text.push_str(&format!(
            "{} {}: {}",
            v.decision.label(),
            v.package,
            p.advice
        ));
        if v.decision != Decision::Allow {
            for f in v.findings.iter().filter(|f| f.action != Decision::Allow) {
                text.push_str(&format!("\n  - {} [{}]", f.message, f.code));
            }
            if v.suggestions.len() > 1 {
                let names: Vec<String> = v
                    .suggestions
                    .iter()
                    .take(3)
                    .map(|s| format!("`{}`", s.name))
                    .collect();
                text.push_str(&format!("\n  did you mean: {}", names.join(", ")));
            }
        }
        text.push('\n');
    }
    if packages.len() > 1 {
        text.push_str(&format!("overall: {} ({summary})\n", decision.label()));
    }
    (
        ToolReport {
            decision,
            summary,
            packages,
        },
        text,
    )
}

/// Reads a tool's arguments. Malformed arguments are a JSON-RPC `invalid_params` protocol error
/// (not a tool result): the call never reached the engine.
fn arguments<T: serde::de::DeserializeOwned>(tool: &str, raw: JsonObject) -> Result<T, ErrorData> {
    serde_json::from_value(serde_json::Value::Object(raw)).map_err(|e| {
        ErrorData::invalid_params(
            format!("invalid arguments for `{tool}`: {e} (see the tool's input schema)"),
            None,
        )
    })
}

fn tool_result(verdicts: Vec<Verdict>) -> Result<CallToolResult, ErrorData> {
    let (report, text) = report(verdicts);
    let value = serde_json::to_value(&report)
        .map_err(|e| ErrorData::internal_error(format!("cannot encode the verdicts: {e}"), None))?;
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    Ok(result)
}

const SERVER_INSTRUCTIONS: &str = "Sentinel checks that a software dependency is real, is the \
package that was meant, and is safe to install. Call `validate_dependency` (or \
`validate_dependencies` for several) BEFORE you suggest, import, add or install any package from \
PyPI, npm, crates.io or Go, and `scan_manifest` before you write or change a requirements.txt, \
pyproject.toml, package.json, Cargo.toml or go.mod. If the decision is `block`, do not use the \
package: use the suggested alternative or tell the user. If it is `warn`, tell the user the \
reason before using it.";

/// The MCP server over one shared [`Engine`].
#[derive(Clone)]
pub struct SentinelMcp {
    engine: Arc<MemoEngine>,
    audit: Option<Arc<AuditLog>>,
    tool_router: ToolRouter<SentinelMcp>,
}

impl std::fmt::Debug for SentinelMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelMcp").finish_non_exhaustive()
    }
}

#[tool_router]
impl SentinelMcp {
    /// A server answering with `engine`'s verdicts (through the verdict memo).
    pub fn new(engine: Arc<MemoEngine>) -> Self {
        SentinelMcp {
            engine,
            audit: None,
            tool_router: Self::tool_router(),
        }
    }

    /// Records the verdicts of every call in `log`; a call whose verdicts cannot be recorded
    /// returns a tool error instead of the verdicts (fail closed).
    pub fn with_audit(mut self, log: Option<Arc<AuditLog>>) -> Self {
        self.audit = log;
        self
    }

    /// The tool result for `verdicts`, after recording them when auditing.
    async fn answer(
        &self,
        verdicts: Vec<Verdict>,
        ctx: AuditContext,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(log) = self.audit.clone() {
            let v = verdicts.clone();
            // The append fsyncs: keep it off the async workers.
            let recorded = tokio::task::spawn_blocking(move || log.record(&v, &ctx))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            if let Err(why) = recorded {
                tracing::error!(error = %why, "audit append failed; verdicts withheld");
                return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "sentinel could not record its verdicts in the audit log ({why}); no verdict is given: do not install or use these packages until the log is fixed and the check is repeated"
                ))]));
            }
        }
        tool_result(verdicts)
    }

    #[tool(
        name = "validate_dependency",
        description = "Check ONE package before you suggest, import, add or install it (PyPI, npm, crates.io, Go). Call this every time a dependency name comes up, even well-known ones: names you remember may be misspelled, hallucinated or typosquatted. Returns decision allow|warn|block with the reasons and, for likely typos, the package that was probably meant. On block: do not use the package; use the suggested alternative or ask the user.",
        input_schema = schema_for_type::<DependencyArgs>(),
        output_schema = schema_for_type::<ToolReport>()
    )]
    async fn validate_dependency(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args: DependencyArgs = arguments("validate_dependency", raw)?;
        let pkg: PackageRef = args.into();
        let verdict = self.engine.validate(&pkg).await;
        tracing::info!(package = %pkg, decision = verdict.decision.label(), "validate_dependency");
        self.answer(vec![verdict], AuditContext::new(Frontend::Mcp))
            .await
    }

    #[tool(
        name = "validate_dependencies",
        description = "Check SEVERAL packages at once (up to 1000) before you suggest, add or install them, for example every dependency of a plan or the imports of code you wrote. Same checks and answers as validate_dependency, one verdict per package in the order given, plus the overall decision (block if any is blocked).",
        input_schema = schema_for_type::<DependenciesArgs>(),
        output_schema = schema_for_type::<ToolReport>()
    )]
    async fn validate_dependencies(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args: DependenciesArgs = arguments("validate_dependencies", raw)?;
        if args.packages.is_empty() {
            return Err(ErrorData::invalid_params(
                "`packages` is empty: give at least one {ecosystem, name}",
                None,
            ));
        }
        if args.packages.len() > MAX_BATCH {
            return Err(ErrorData::invalid_params(
                format!(
                    "`packages` has {} entries; at most {MAX_BATCH} per call",
                    args.packages.len()
                ),
                None,
            ));
        }
        let pkgs: Vec<PackageRef> = args.packages.into_iter().map(Into::into).collect();
        let verdicts = self.engine.validate_all(&pkgs).await;
        tracing::info!(count = pkgs.len(), "validate_dependencies");
        self.answer(verdicts, AuditContext::new(Frontend::Mcp))
            .await
    }

    #[tool(
        name = "scan_manifest",
        description = "Check every dependency of a manifest (requirements.txt, pyproject.toml, package.json, package-lock.json, Cargo.toml, Cargo.lock, go.mod) before you write, change or install it. Give `path` of a file on disk, or `content` with its `kind`. Returns one verdict per dependency and the overall decision.",
        input_schema = schema_for_type::<ScanArgs>(),
        output_schema = schema_for_type::<ToolReport>()
    )]
    async fn scan_manifest(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args: ScanArgs = arguments("scan_manifest", raw)?;
        let kind = match args.kind.as_deref() {
            Some(k) => Some(
                k.parse::<ManifestKind>()
                    .map_err(|e| ErrorData::invalid_params(e, None))?,
            ),
            None => None,
        };
        let ctx = match &args.path {
            Some(p) => AuditContext::manifest(Frontend::Mcp, p.clone()),
            None => AuditContext::new(Frontend::Mcp),
        };
        let parsed = match (args.path, args.content) {
            (Some(_), Some(_)) => {
                return Err(ErrorData::invalid_params(
                    "give either `path` or `content`, not both",
                    None,
                ));
            }
            (None, None) => {
                return Err(ErrorData::invalid_params(
                    "give `path` of a manifest file or its `content` with `kind`",
                    None,
                ));
            }
            (None, Some(content)) => {
                let Some(kind) = kind else {
                    return Err(ErrorData::invalid_params(
                        "`kind` is required with `content` (for example `requirements.txt`)",
                        None,
                    ));
                };
                manifest::parse(&content, kind)
            }
            (Some(path), None) => {
                let path = PathBuf::from(path);
                if kind.is_none() && ManifestKind::detect(&path).is_none() {
                    return Err(ErrorData::invalid_params(
                        format!(
                            "cannot tell the manifest kind of `{}`: give `kind`",
                            path.display()
                        ),
                        None,
                    ));
                }
                manifest::parse_path(&path, kind).map(|(_, refs)| refs)
            }
        };
        let pkgs = match parsed {
            Ok(p) => p,
            // The arguments were well-formed but the manifest could not be read or parsed:
            // a tool-level error the model can read and fix.
            Err(e) => {
                return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "cannot scan the manifest: {e}"
                ))]));
            }
        };
        if pkgs.len() > MAX_BATCH {
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "the manifest lists {} packages; at most {MAX_BATCH} per call: split it",
                pkgs.len()
            ))]));
        }
        let verdicts = self.engine.validate_all(&pkgs).await;
        tracing::info!(count = pkgs.len(), "scan_manifest");
        self.answer(verdicts, ctx).await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SentinelMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("sentinel", env!("CARGO_PKG_VERSION"))
                    .with_title("Sentinel dependency firewall"),
            )
            .with_instructions(SERVER_INSTRUCTIONS)
    }
}

/// Serves MCP over stdin/stdout until the client closes the pipe; verdicts are recorded in
/// `audit` when given.
pub async fn serve_stdio(engine: Engine, audit: Option<Arc<AuditLog>>) -> Result<(), McpError> {
    let service = SentinelMcp::new(Arc::new(MemoEngine::new(engine, MEMO_TTL)))
        .with_audit(audit)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Start(e.to_string()))?;
    service
        .waiting()
        .await
        .map_err(|e| McpError::Session(e.to_string()))?;
    Ok(())
}

/// Serves MCP over streamable HTTP at `http://addr/mcp` until `shutdown` completes; verdicts
/// are recorded in `audit` when given.
/// `on_bound` receives the bound address (useful with port 0).
pub async fn serve_http(
    engine: Engine,
    audit: Option<Arc<AuditLog>>,
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), McpError> {
    let mut config = StreamableHttpServerConfig::default();
    // Answer plain request/response tools with JSON rather than an SSE stream.
    config.json_response = true;
    let engine = Arc::new(MemoEngine::new(engine, MEMO_TTL));
    let service = StreamableHttpService::new(
        move || Ok(SentinelMcp::new(engine.clone()).with_audit(audit.clone())),
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
