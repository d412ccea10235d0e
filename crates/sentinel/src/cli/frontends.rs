//! CLI of the frontends: `sentinel mcp`, `sentinel proxy`, `sentinel hook`.
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};

use super::{EXIT_ALLOW, EXIT_AUDIT, EXIT_BLOCK, GlobalArgs, UsageError, build_engine, runtime};
use crate::audit::{AuditContext, AuditError, AuditLog, AuditOptions, AuditingGate, Frontend};
use crate::hook::{self, HookDecision, HookInput, HookOptions};
use crate::proxy::{Gate, Proxy, ProxyConfig};
use crate::verdict::Verdict;

/// Opens the `--audit` log (`None` without the flag). A missing or unwritable log is an error
/// (exit 4) naming `cutufato init --dir DIR`; a bad session id is a usage error (exit 3).
pub(super) fn open_audit(g: &GlobalArgs) -> Result<Option<Arc<AuditLog>>> {
    let Some(dir) = &g.audit else {
        if g.audit_all {
            return Err(
                UsageError("--audit-all needs --audit DIR (or SENTINEL_AUDIT)".into()).into(),
            );
        }
        return Ok(None);
    };
    let options = AuditOptions {
        all: g.audit_all,
        session: g.audit_session.clone(),
    };
    match AuditLog::open(dir, options) {
        Ok(log) => Ok(Some(Arc::new(log))),
        Err(e @ AuditError::Session(_)) => Err(UsageError(e.to_string()).into()),
        Err(e) => Err(anyhow::Error::new(e).context("opening the audit log")),
    }
}

/// Records the verdicts of a `check` or `scan` (already printed); returns `code`, or
/// [`EXIT_AUDIT`] with the error on stderr when they could not be recorded.
pub(super) fn record(
    audit: Option<&AuditLog>,
    items: &[(&Verdict, &AuditContext)],
    code: u8,
) -> u8 {
    let Some(log) = audit else {
        return code;
    };
    match log.record_each(items) {
        Ok(ids) => {
            if !ids.is_empty() {
                eprintln!(
                    "sentinel: recorded {} event(s) in {} ({})",
                    ids.len(),
                    log.dir().display(),
                    ids.join(", ")
                );
            }
            code
        }
        Err(e) => {
            eprintln!(
                "sentinel: error: {e}; the verdicts above were NOT recorded: do not act on them until the log is fixed"
            );
            EXIT_AUDIT
        }
    }
}

/// `sentinel mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Serve streamable HTTP at this address (endpoint `/mcp`) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
}

/// `sentinel proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// PyPI simple API upstream.
    #[arg(
        long,
        value_name = "URL",
        env = "SENTINEL_PROXY_PYPI_SIMPLE",
        default_value = "https://pypi.org/simple/"
    )]
    pub pypi_upstream: String,
    /// Base URL of the files the simple pages link to; links elsewhere are dropped.
    #[arg(
        long,
        value_name = "URL",
        env = "SENTINEL_PROXY_PYPI_FILES",
        default_value = "https://files.pythonhosted.org/"
    )]
    pub pypi_files_upstream: String,
    /// npm registry upstream.
    #[arg(
        long,
        value_name = "URL",
        env = "SENTINEL_PROXY_NPM",
        default_value = "https://registry.npmjs.org/"
    )]
    pub npm_upstream: String,
    /// URL clients use to reach the proxy (default: from each request's Host header).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Largest upstream page or package document read into memory, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_document_bytes: usize,
    /// Seconds before an upstream request is abandoned.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub upstream_timeout: f64,
}

/// What the hook does when the engine does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnTimeout {
    /// Deny the command (fail closed, default).
    Deny,
    /// Let the command run with a warning on stderr.
    Allow,
}

/// `sentinel hook`.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// Seconds the engine may take for all packages of the command.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
    /// What to do on timeout.
    #[arg(long, value_enum, default_value_t = OnTimeout::Deny)]
    pub on_timeout: OnTimeout,
    /// Answer format of the assistant running the hook.
    #[arg(long, value_enum, default_value_t = HookFormatArg::ClaudeCode)]
    pub format: HookFormatArg,
}

/// `--format` of `sentinel hook`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookFormatArg {
    /// Claude Code `PreToolUse` (`hookSpecificOutput.permissionDecision`).
    ClaudeCode,
    /// Cursor `beforeShellExecution` (`permission`, `userMessage`, `agentMessage`).
    Cursor,
}

fn seconds(s: f64, what: &str) -> Result<Duration> {
    if !(s.is_finite() && s > 0.0 && s <= 86_400.0) {
        return Err(UsageError(format!(
            "{what} must be between 0 and 86400 seconds, got {s}"
        ))
        .into());
    }
    Ok(Duration::from_secs_f64(s))
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

/// `sentinel mcp`: serves until the client closes stdin (stdio) or Ctrl-C (HTTP).
pub fn mcp(a: McpArgs, g: &GlobalArgs) -> Result<u8> {
    let audit = open_audit(g)?;
    let engine = build_engine(g)?;
    let rt = runtime()?;
    match a.http {
        None => rt
            .block_on(crate::mcp::serve_stdio(engine, audit))
            .context("serving mcp over stdio")?,
        Some(addr) => rt
            .block_on(crate::mcp::serve_http(
                engine,
                audit,
                addr,
                |bound| eprintln!("sentinel mcp listening on http://{bound}/mcp"),
                ctrl_c(),
            ))
            .context("serving mcp over http")?,
    }
    Ok(EXIT_ALLOW)
}

/// `sentinel proxy`: serves until Ctrl-C.
pub fn proxy(a: ProxyArgs, g: &GlobalArgs) -> Result<u8> {
    let audit = open_audit(g)?;
    let engine = build_engine(g)?;
    let config = ProxyConfig {
        pypi_simple: a.pypi_upstream,
        pypi_files: a.pypi_files_upstream,
        npm_registry: a.npm_upstream,
        public_url: a.public_url,
        max_document_bytes: a.max_document_bytes,
        upstream_timeout: seconds(a.upstream_timeout, "--upstream-timeout")?,
    };
    let memo = crate::memo::MemoEngine::new(engine, crate::memo::MEMO_TTL);
    let gate: Arc<dyn Gate> = match &audit {
        Some(log) => Arc::new(AuditingGate::new(Arc::new(memo), log.clone())),
        None => Arc::new(memo),
    };
    let proxy = Proxy::new(config, gate).map_err(|e| UsageError(e.to_string()))?;
    runtime()?
        .block_on(proxy.serve(
            a.listen,
            |bound| {
                eprintln!("sentinel proxy listening on http://{bound}");
                if let Some(log) = &audit {
                    eprintln!(
                        "  recording verdicts in the audit log {}",
                        log.dir().display()
                    );
                }
                eprintln!("  pip install --index-url http://{bound}/pypi/simple <package>");
                eprintln!("  npm install --registry http://{bound}/npm <package>");
            },
            ctrl_c(),
        ))
        .context("serving the registry proxy")?;
    Ok(EXIT_ALLOW)
}

/// `sentinel hook`: one decision for the JSON on stdin. Exit 0 with the decision JSON on stdout
/// (nothing when allowed); exit 2 with the reason on stderr when no decision could be made
/// (unreadable input), which assistants treat as "blocked".
///
/// Every failure before a decision (bad `--timeout`, policy error, missing `--audit` log) exits 2
/// as well: assistants treat other non-zero codes as a failed hook and run the command anyway.
pub fn hook(a: HookArgs, g: &GlobalArgs) -> Result<u8> {
    let undecided = |e: anyhow::Error| {
        eprintln!("sentinel hook: {e:#}; the command is denied");
        EXIT_BLOCK
    };
    // The input is read first, whatever happens next: exiting before the assistant has written
    // it would fail its write instead of giving the decision.
    let mut raw = String::new();
    if let Err(e) = std::io::stdin()
        .take(16 * 1024 * 1024)
        .read_to_string(&mut raw)
    {
        eprintln!("sentinel hook: cannot read the hook input on stdin: {e}; the command is denied");
        return Ok(EXIT_BLOCK);
    }
    let input: HookInput = match serde_json::from_str(&raw) {
        Ok(i) => i,
        Err(e) => {
            eprintln!(
                "sentinel hook: stdin is not the assistant's hook JSON ({e}); expected {{\"tool_name\":\"Bash\",\"tool_input\":{{\"command\":\"…\"}}}}; the command is denied"
            );
            return Ok(EXIT_BLOCK);
        }
    };
    let timeout = match seconds(a.timeout, "--timeout") {
        Ok(t) => t,
        Err(e) => return Ok(undecided(e)),
    };
    let (audit, engine, rt) = match (|| Ok((open_audit(g)?, build_engine(g)?, runtime()?)))() {
        Ok(parts) => parts,
        Err(e) => return Ok(undecided(e)),
    };
    let opts = HookOptions {
        timeout,
        fail_open: a.on_timeout == OnTimeout::Allow,
    };
    let (mut decision, verdicts) = rt.block_on(hook::decide_with_verdicts(&engine, &input, &opts));
    if let Some(log) = &audit {
        let ctx = AuditContext::new(Frontend::Hook);
        if let Err(e) = log.record(&verdicts, &ctx) {
            decision = HookDecision::Deny(format!(
                "sentinel could not record its verdicts in the audit log ({e}); the command is denied until the log is fixed"
            ));
        }
    }
    if let HookDecision::Deny(r) | HookDecision::Ask(r) = &decision {
        eprintln!("{r}");
    }
    if let Some(json) = hook::render(
        &decision,
        match a.format {
            HookFormatArg::ClaudeCode => hook::HookFormat::ClaudeCode,
            HookFormatArg::Cursor => hook::HookFormat::Cursor,
        },
    ) {
        super::print(&format!("{json}\n"))?;
    }
    Ok(EXIT_ALLOW)
}
