//! `babuino mcp`: the sandbox as a Model Context Protocol server with one tool, `run_code`.
//!
//! Each call runs the given code in a fresh sandbox (the library's backends, not a subprocess
//! of the CLI) and returns how it ended, its output (capped), what was denied or blocked, and
//! the full run report. The SERVER's flags are the ceiling: a call may ask for a shorter
//! timeout, less memory or fewer hosts, never more. An assistant connected to this server
//! cannot widen its own sandbox. With `--audit DIR` every call is recorded in the Cutufato log
//! (checked writable before the run: nothing runs unrecorded).
//!
//! Stdout is the protocol over stdio: nothing else may print there (logs go to stderr).
#![deny(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Args;
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
use serde_json::Value;

use crate::audit::{AuditLog, Recorded};
use crate::backend::{OutputSink, Stream, backend_for};
use crate::report::{EventKind, Exit};
use crate::spec::{
    self, BackendKind, HostPattern, Interpreter, Limits, NetworkPolicy, PackageRegistry, RunSpec,
};

/// Bytes of stdout (and, separately, of stderr) returned to the client; the rest is dropped and
/// flagged `truncated` (the run's own output cap still applies).
pub const RETURNED_OUTPUT: usize = 64 << 10;
/// Largest `code` accepted.
pub const MAX_CODE: usize = 1 << 20;
/// Most bytes of `files` plus `stdin` in one call.
pub const MAX_FILES_BYTES: usize = 8 << 20;
/// Most entries in `files`.
pub const MAX_FILES: usize = 64;
/// Most code kept in the audit record (longer code is recorded by its hash only).
const AUDIT_CODE: usize = 256 << 10;
/// Largest `packages.requirements` or `packages.package_json` accepted.
pub const MAX_MANIFEST: usize = 64 << 10;
/// Largest file of `/out` returned with its content.
pub const RETURNED_FILE: u64 = 64 << 10;
/// Most bytes of `/out` content returned per call.
pub const RETURNED_FILES_TOTAL: u64 = 256 << 10;

/// Exit codes of `babuino mcp`.
pub const EXIT_OK: u8 = 0;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNAVAILABLE: u8 = 125;
pub const EXIT_FAILED: u8 = 1;

/// Flags of `babuino mcp`: the ceilings every call runs under.
#[derive(Args, Debug)]
#[command(
    after_help = "Exit codes: 0 client closed the session (or SIGINT/SIGTERM); 1 the \
server failed; 2 bad flags or no audit log at DIR; 125 backend unavailable or audit log \
unusable."
)]
pub struct McpArgs {
    /// Hosts calls may reach (HOST[:PORT], *.domain, @pypi, @npm, @crates); a call may ask for
    /// fewer, never others [default: none]
    #[arg(
        long = "network-allow",
        value_name = "HOST[:PORT]",
        value_delimiter = ','
    )]
    pub network_allow: Vec<String>,
    /// Most memory a call may have, and its default [default: 512M]
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Longest timeout a call may have, and its default [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Timeout of a call's install phase (`packages`, needs @pypi / @npm) [default: 5m]
    #[arg(long = "install-timeout", value_name = "DURATION")]
    pub install_timeout: Option<String>,
    /// CPU share of every call in cores [default: 1]
    #[arg(long, value_name = "N")]
    pub cpus: Option<String>,
    /// Isolation backend of every call: native, kvm or auto [default: auto]
    #[arg(long = "sandbox", value_name = "BACKEND")]
    pub sandbox: Option<String>,
    /// Most sandboxes running at once (further calls wait)
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub parallel: usize,
    /// Record every call in the Cutufato log in DIR (made by `cutufato init --dir DIR`)
    #[arg(long, value_name = "DIR", env = "BABUINO_AUDIT")]
    pub audit: Option<PathBuf>,
    /// Agent session id recorded with each call [default: $TRIAD_SESSION]
    #[arg(long = "audit-session", value_name = "ID", requires = "audit")]
    pub audit_session: Option<String>,
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:8765)
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Let --http listen on an address other than loopback (anyone who reaches it can run code:
    /// put an authenticating proxy in front)
    #[arg(long = "allow-remote", requires = "http")]
    pub allow_remote: bool,
}

/// What the server allows; every call runs within it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceilings {
    /// Limits of a call that asks for nothing; a call may lower `timeout` and `memory`.
    pub limits: Limits,
    /// Hosts a call may reach (all of them when the call does not say).
    pub network: NetworkPolicy,
    /// Registries a call may install from through Sentinel's proxy (`@pypi`, `@npm`).
    pub registries: Vec<PackageRegistry>,
    /// Timeout of the install phase of a call's `packages` (the CLI's `--install-timeout`).
    pub install_timeout: std::time::Duration,
    pub backend: BackendKind,
}

impl Ceilings {
    /// The ceilings from the server's flags; errors are bad flags.
    pub fn from_args(a: &McpArgs) -> Result<Self, spec::SpecError> {
        let mut limits = Limits::default();
        if let Some(m) = &a.memory {
            limits.memory_bytes = spec::parse_size(m)?;
        }
        if let Some(t) = &a.timeout {
            limits.timeout = spec::parse_duration(t)?;
        }
        if let Some(c) = &a.cpus {
            limits.cpus = spec::parse_cpus(c)?;
        }
        let mut network = NetworkPolicy::default();
        let mut registries = Vec::new();
        for h in &a.network_allow {
            match spec::parse_allow_entry(h)? {
                spec::AllowEntry::Registry(r) => {
                    if !registries.contains(&r) {
                        registries.push(r);
                    }
                }
                spec::AllowEntry::Hosts(hosts) => {
                    for p in hosts {
                        if spec::registry_host_covered(&p).is_some() {
                            return Err(spec::SpecError::RegistryHost(p.to_string()));
                        }
                        if !network.allow.contains(&p) {
                            network.allow.push(p);
                        }
                    }
                }
            }
        }
        let backend = match &a.sandbox {
            Some(s) => s.parse()?,
            None => BackendKind::Auto,
        };
        let install_timeout = match &a.install_timeout {
            Some(t) => spec::parse_duration(t)?,
            None => crate::packages::DEFAULT_INSTALL_TIMEOUT,
        };
        Ok(Ceilings {
            limits,
            network,
            registries,
            install_timeout,
            backend,
        })
    }

    fn allowed_hosts(&self) -> String {
        let mut v: Vec<String> = self
            .registries
            .iter()
            .map(|r| format!("@{} (through Sentinel)", r.as_str()))
            .collect();
        v.extend(self.network.allow.iter().map(|h| h.to_string()));
        if v.is_empty() {
            "none: this server gives its sandboxes no network".into()
        } else {
            v.join(", ")
        }
    }
}

/// Whether every connection `req` allows is allowed by one of `ceiling`.
pub fn covered(req: &HostPattern, ceiling: &[HostPattern]) -> bool {
    let ports: &[u16] = match &req.port {
        Some(p) => std::slice::from_ref(p),
        None => &[80, 443],
    };
    ports.iter().all(|&port| {
        ceiling.iter().any(|c| {
            if !req.wildcard {
                return c.matches(&req.host, port);
            }
            let port_ok = match c.port {
                Some(p) => p == port,
                None => port == 80 || port == 443,
            };
            port_ok
                && c.wildcard
                && (req.host == c.host || req.host.ends_with(&format!(".{}", c.host)))
        })
    })
}

/// Language of the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[serde(alias = "python3")]
    Python,
    #[serde(alias = "javascript", alias = "js")]
    Node,
    Sh,
    Bash,
}

impl Language {
    fn file_name(self) -> &'static str {
        match self {
            Language::Python => "main.py",
            Language::Node => "main.js",
            Language::Sh => "main.sh",
            Language::Bash => "main.bash",
        }
    }
    fn interpreter(self) -> Interpreter {
        match self {
            Language::Python => Interpreter::Python3,
            Language::Node => Interpreter::Node,
            Language::Sh => Interpreter::Sh,
            Language::Bash => Interpreter::Bash,
        }
    }
}

/// A duration or size: a string with a unit (`10s`, `256M`) or a number (seconds, bytes).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Amount {
    Number(f64),
    Text(String),
}

impl Amount {
    fn text(&self) -> String {
        match self {
            Amount::Number(n) => n.to_string(),
            Amount::Text(s) => s.clone(),
        }
    }
}

/// Arguments of `run_code`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCodeArgs {
    /// The program's source code (at most 1 MiB).
    pub code: String,
    /// How to run it: `python`, `node`, `sh` or `bash`.
    pub language: Language,
    /// Command-line arguments of the program.
    #[serde(default)]
    pub args: Vec<String>,
    /// Text given to the program on its standard input (otherwise it reads nothing).
    #[serde(default)]
    pub stdin: Option<String>,
    /// Extra files written next to the code in the read-only code directory (`/code`), as
    /// relative path -> text content (at most 64 files, 8 MiB with stdin).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Hosts the program may reach, among those the server allows (HOST[:PORT] or *.domain);
    /// omit for all the server allows, `[]` for no network.
    #[serde(default)]
    pub network_allow: Option<Vec<String>>,
    /// Wall-clock timeout (`10s`, `500ms`, or seconds); at most the server's.
    #[serde(default)]
    pub timeout: Option<Amount>,
    /// Memory limit (`256M`, or bytes); at most the server's.
    #[serde(default)]
    pub memory: Option<Amount>,
    /// Packages installed before the code runs, through Sentinel's registry proxy in a sandbox
    /// of their own, then mounted read-only at /packages (on PYTHONPATH / NODE_PATH). Needs
    /// @pypi (requirements) / @npm (package_json) on the server. A package Sentinel refuses
    /// ends the call with exit kind `packages-refused` and `blocked-package` events: the code
    /// does not run.
    #[serde(default)]
    pub packages: Option<PackagesArg>,
}

/// The `packages` argument of `run_code`: the text of a package list, as `babuino run
/// --packages FILE` takes it from a file.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackagesArg {
    /// A requirements.txt (pip), e.g. "six==1.17.0\nrequests>=2\n"; needs @pypi on the server.
    #[serde(default)]
    pub requirements: Option<String>,
    /// A package.json (npm) with its `dependencies`; needs @npm on the server.
    #[serde(default)]
    pub package_json: Option<String>,
}

impl PackagesArg {
    /// The package lists asked for: (argument name, registry, file name, text).
    fn lists(&self) -> Vec<(&'static str, PackageRegistry, &'static str, &str)> {
        let mut v = Vec::new();
        if let Some(t) = &self.requirements {
            v.push((
                "requirements",
                PackageRegistry::Pypi,
                "requirements.txt",
                t.as_str(),
            ));
        }
        if let Some(t) = &self.package_json {
            v.push((
                "package_json",
                PackageRegistry::Npm,
                "package.json",
                t.as_str(),
            ));
        }
        v
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExitInfo {
    /// `exited`, `timeout`, `memory`, `pids`, `signal`, `output-cap`, `setup-failed` or
    /// `packages-refused` (a package of `packages` was refused or did not install: the code did
    /// not run).
    pub kind: String,
    /// The program's exit code (`exited`) or the signal number (`signal`); null otherwise.
    pub code: Option<i32>,
    /// One line for people: `exit 1`, `timeout (whole process tree killed)`.
    pub description: String,
}

impl ExitInfo {
    fn of(exit: &Exit) -> Self {
        let (kind, code) = match exit {
            Exit::Code(c) => ("exited", Some(*c)),
            Exit::Timeout => ("timeout", None),
            Exit::Memory => ("memory", None),
            Exit::Pids => ("pids", None),
            Exit::Signal(s) => ("signal", Some(*s)),
            Exit::OutputCap => ("output-cap", None),
            Exit::SetupFailed(_) => ("setup-failed", None),
            Exit::PackagesRefused(_) => ("packages-refused", None),
        };
        ExitInfo {
            kind: kind.into(),
            code,
            description: exit.describe(),
        }
    }
}

/// One thing the sandbox refused or noticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SandboxEvent {
    /// `denied-write`, `denied-read`, `denied-syscall`, `blocked-connect`, `allowed-connect`,
    /// `limit`, …
    pub kind: String,
    pub detail: String,
}

/// A file the program left in `/out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutFile {
    /// Path relative to `/out`.
    pub path: String,
    pub bytes: u64,
    /// The text, when it is UTF-8 and fits (64 KiB a file, 256 KiB a call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Why the content is not returned (`binary`, `too large`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<String>,
}

/// What `run_code` returns as structured content.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunCodeResult {
    pub exit: ExitInfo,
    /// The program's standard output (first 64 KiB).
    pub stdout: String,
    pub stdout_truncated: bool,
    /// The program's standard error (first 64 KiB).
    pub stderr: String,
    pub stderr_truncated: bool,
    /// Denials, blocked connections and limits hit, in order.
    pub events: Vec<SandboxEvent>,
    /// Files the program wrote into `/out` (regular files; links and special files are never
    /// copied out).
    pub files: Vec<OutFile>,
    /// The full run report (`babuino.run-report/1`).
    pub report: Value,
    /// Where the run is recorded (servers started with `--audit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Recorded>,
    /// Output of pip / npm in the install phase (calls with `packages`; first 64 KiB of each
    /// stream, stdout then stderr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_output: Option<String>,
}

/// Why a call did not run (or was not recorded): the text of a tool error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError(pub String);

fn bad(msg: impl Into<String>) -> CallError {
    CallError(msg.into())
}

/// Keeps the first [`RETURNED_OUTPUT`] bytes of each stream and every event.
#[derive(Debug, Default)]
struct CappedSink {
    out: [Vec<u8>; 2],
    truncated: [bool; 2],
}

impl OutputSink for CappedSink {
    fn output(&mut self, stream: Stream, data: &[u8]) {
        let i = usize::from(stream == Stream::Stderr);
        let room = RETURNED_OUTPUT.saturating_sub(self.out[i].len());
        if data.len() > room {
            self.truncated[i] = true;
        }
        self.out[i].extend_from_slice(&data[..data.len().min(room)]);
    }
    fn event(&mut self, _event: &crate::report::Event) {}
}

fn check_rel_path(name: &str) -> Result<PathBuf, CallError> {
    let p = Path::new(name);
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.contains('\0')
        && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !ok {
        return Err(bad(format!(
            "files: {name:?} is not a relative path inside the code directory (no '..', no leading '/')"
        )));
    }
    if name.starts_with(".babuino") {
        return Err(bad(format!(
            "files: {name:?} is reserved (names starting with .babuino)"
        )));
    }
    Ok(p.to_path_buf())
}

/// A call checked against the ceilings, with its code written into a fresh directory.
#[derive(Debug)]
pub struct PreparedCall {
    pub spec: RunSpec,
    /// Registries reached through Sentinel's proxy during the run.
    pub registries: Vec<PackageRegistry>,
    /// The `packages` lists written as files (installed before the run, as `--packages`).
    pub packages: Vec<PathBuf>,
    /// Holds the code and output directories until the run is over.
    _dir: tempfile::TempDir,
    out_dir: PathBuf,
    program_sha256: String,
    main_name: &'static str,
}

/// Checks a call against the ceilings and writes its code; nothing has run yet.
pub fn prepare(args: &RunCodeArgs, ceilings: &Ceilings) -> Result<PreparedCall, CallError> {
    if args.code.len() > MAX_CODE {
        return Err(bad(format!(
            "code is {} bytes; at most {MAX_CODE}",
            args.code.len()
        )));
    }
    if args.files.len() > MAX_FILES {
        return Err(bad(format!(
            "files has {} entries; at most {MAX_FILES}",
            args.files.len()
        )));
    }
    let extra: usize = args.files.values().map(String::len).sum::<usize>()
        + args.stdin.as_ref().map_or(0, String::len);
    if extra > MAX_FILES_BYTES {
        return Err(bad(format!(
            "files and stdin hold {extra} bytes; at most {MAX_FILES_BYTES}"
        )));
    }
    if args.args.iter().any(|a| a.contains('\0')) {
        return Err(bad("args must not contain NUL bytes"));
    }
    let lists = args
        .packages
        .as_ref()
        .map(PackagesArg::lists)
        .unwrap_or_default();
    if args.packages.is_some() && lists.is_empty() {
        return Err(bad(
            "packages: give `requirements` (requirements.txt text) or `package_json` (package.json text)",
        ));
    }
    for (name, registry, _, text) in &lists {
        if text.len() > MAX_MANIFEST {
            return Err(bad(format!(
                "packages.{name} is {} bytes; at most {MAX_MANIFEST}",
                text.len()
            )));
        }
        if !ceilings.registries.contains(registry) {
            return Err(bad(format!(
                "packages.{name} needs @{} on this server, which allows: {}; only the user can widen the server's allow-list",
                registry.as_str(),
                ceilings.allowed_hosts()
            )));
        }
    }
    if !lists.is_empty() && ceilings.backend == BackendKind::Kvm {
        return Err(bad(
            "packages is not supported on this server's micro-VM backend yet; install at run time with network_allow [\"@pypi\"] / [\"@npm\"] if the server allows it",
        ));
    }
    let mut limits = ceilings.limits.clone();
    if let Some(t) = &args.timeout {
        let asked = spec::parse_duration(&t.text()).map_err(|e| bad(format!("timeout: {e}")))?;
        if asked > ceilings.limits.timeout {
            return Err(bad(format!(
                "timeout {} is more than this server allows ({} s); ask for at most that",
                t.text(),
                ceilings.limits.timeout.as_secs_f64()
            )));
        }
        limits.timeout = asked;
    }
    if let Some(m) = &args.memory {
        let asked = spec::parse_size(&m.text()).map_err(|e| bad(format!("memory: {e}")))?;
        if asked > ceilings.limits.memory_bytes {
            return Err(bad(format!(
                "memory {} is more than this server allows ({} MiB); ask for at most that",
                m.text(),
                ceilings.limits.memory_bytes >> 20
            )));
        }
        if asked < 8 << 20 {
            return Err(bad(
                "memory must be at least 8M (a smaller sandbox cannot start an interpreter)",
            ));
        }
        limits.memory_bytes = asked;
    }
    let refused = |what: &dyn std::fmt::Display| {
        bad(format!(
            "network_allow: {what} is not allowed by this server (allowed: {}); only the user can widen the server's allow-list",
            ceilings.allowed_hosts()
        ))
    };
    let (network, registries) = match &args.network_allow {
        None => (ceilings.network.clone(), ceilings.registries.clone()),
        Some(list) => {
            let mut net = NetworkPolicy::default();
            let mut registries = Vec::new();
            for entry in list {
                let pats = match spec::parse_allow_entry(entry)
                    .map_err(|e| bad(format!("network_allow: {e}")))?
                {
                    spec::AllowEntry::Registry(r) => {
                        if !ceilings.registries.contains(&r) {
                            return Err(refused(&format!("@{}", r.as_str())));
                        }
                        if !registries.contains(&r) {
                            registries.push(r);
                        }
                        continue;
                    }
                    spec::AllowEntry::Hosts(h) => h,
                };
                for p in pats {
                    if !covered(&p, &ceilings.network.allow) {
                        return Err(refused(&p));
                    }
                    if !net.allow.contains(&p) {
                        net.allow.push(p);
                    }
                }
            }
            (net, registries)
        }
    };
    let files: Vec<(PathBuf, &String)> = args
        .files
        .iter()
        .map(|(k, v)| Ok((check_rel_path(k)?, v)))
        .collect::<Result<_, CallError>>()?;
    let main_name = args.language.file_name();
    if files.iter().any(|(p, _)| p == Path::new(main_name)) {
        return Err(bad(format!(
            "files: {main_name} is the code itself; give it another name"
        )));
    }
    let dir = tempfile::Builder::new()
        .prefix("babuino-mcp-")
        .tempdir()
        .map_err(|e| bad(format!("cannot create the code directory: {e}")))?;
    let code_dir = dir.path().join("code");
    let out_dir = dir.path().join("out");
    let write = |rel: &Path, content: &[u8]| -> Result<(), CallError> {
        let path = code_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| bad(format!("cannot write {}: {e}", rel.display())))?;
        }
        std::fs::write(&path, content)
            .map_err(|e| bad(format!("cannot write {}: {e}", rel.display())))
    };
    write(Path::new(main_name), args.code.as_bytes())?;
    // The package lists, outside the program's code directory (the install phase copies them).
    let mut packages = Vec::new();
    if !lists.is_empty() {
        let pdir = dir.path().join("packages");
        std::fs::create_dir(&pdir)
            .map_err(|e| bad(format!("cannot write the package lists: {e}")))?;
        for (name, _, file, text) in &lists {
            let p = pdir.join(file);
            std::fs::write(&p, text)
                .map_err(|e| bad(format!("cannot write packages.{name}: {e}")))?;
            packages.push(p);
        }
    }
    for (rel, content) in &files {
        write(rel, content.as_bytes())?;
    }
    let interpreter = args.language.interpreter();
    let main = code_dir.join(main_name);
    let mut spec = match &args.stdin {
        None => RunSpec::for_program(&main, Some(interpreter)),
        Some(input) => {
            // Babuino's own stdin is the protocol here: the program reads a file instead,
            // through a wrapper that is the same in every backend.
            write(Path::new(".babuino-stdin"), input.as_bytes())?;
            let bin = interpreter.binary_name().unwrap_or("sh");
            write(
                Path::new(".babuino-run.sh"),
                format!(
                    "d=${{0%/*}}\nexec {bin} \"$d/{main_name}\" \"$@\" < \"$d/.babuino-stdin\"\n"
                )
                .as_bytes(),
            )?;
            RunSpec::for_program(&code_dir.join(".babuino-run.sh"), Some(Interpreter::Sh))
        }
    }
    .map_err(|e| bad(e.to_string()))?;
    spec.args = args.args.clone();
    spec.limits = limits;
    spec.network = network;
    spec.backend = ceilings.backend;
    spec.output_dir = Some(out_dir.clone());
    let program_sha256 =
        crate::audit::file_sha256(&main).map_err(|e| bad(format!("cannot hash the code: {e}")))?;
    Ok(PreparedCall {
        spec,
        registries,
        packages,
        _dir: dir,
        out_dir,
        program_sha256,
        main_name,
    })
}

/// The shared state of the server.
#[derive(Debug)]
pub struct Runner {
    pub ceilings: Ceilings,
    audit: Option<Mutex<AuditLog>>,
}

impl Runner {
    pub fn new(ceilings: Ceilings, audit: Option<AuditLog>) -> Self {
        Runner {
            ceilings,
            audit: audit.map(Mutex::new),
        }
    }

    /// Starts Sentinel's registry proxy when the call may use `@pypi`/`@npm` or asks for
    /// `packages` (the session `babuino run --packages` uses). `Err((usage, why))`.
    fn sentinel_session(
        &self,
        call: &mut PreparedCall,
    ) -> Result<Option<crate::packages::Session>, (bool, String)> {
        if call.registries.is_empty() && call.packages.is_empty() {
            return Ok(None);
        }
        let net = crate::packages::NetworkRequest {
            registries: call.registries.clone(),
            unchecked: Vec::new(),
        };
        let timeout = (!call.packages.is_empty())
            .then(|| format!("{}ms", self.ceilings.install_timeout.as_millis()));
        let err = |e: crate::packages::PackagesError| (e.is_usage(), e.to_string());
        let mut s =
            crate::packages::Session::new(&call.packages, timeout.as_deref(), net, &call.spec)
                .map_err(err)?;
        s.start(&mut call.spec).map_err(err)?;
        Ok(Some(s))
    }

    /// Runs one call to completion (blocking): checks, runs, records.
    pub fn run_code(&self, args: &RunCodeArgs) -> Result<RunCodeResult, CallError> {
        if let Some(sig) = crate::backend::interrupted() {
            return Err(bad(format!("the server is shutting down (signal {sig})")));
        }
        let mut call = prepare(args, &self.ceilings)?;
        if let Some(a) = &self.audit {
            let log = a
                .lock()
                .map_err(|_| bad("the audit log is unusable after an earlier failure"))?;
            log.check_writable().map_err(|e| bad(e.to_string()))?;
        }
        let mut sink = CappedSink::default();
        let mut install_sink = CappedSink::default();
        // `@pypi`/`@npm` and `packages`: Sentinel's registry proxy for this call and the install
        // phase, as `babuino run` starts and runs them.
        let mut session = None;
        let mut ran = false;
        let mut report = match self.sentinel_session(&mut call) {
            Err((true, why)) => return Err(bad(format!("packages: {why}"))),
            Err((false, why)) => crate::audit::setup_failed_report(&call.spec, &why),
            Ok(s) => {
                session = s;
                match backend_for(call.spec.backend) {
                    Ok(backend) => {
                        let prepared = match session.as_mut() {
                            None => Ok(None),
                            Some(s) => s.prepare(
                                &*backend,
                                &mut call.spec,
                                &mut sink,
                                &mut install_sink,
                                &mut |line| eprintln!("babuino mcp: {line}"),
                            ),
                        };
                        match prepared {
                            // A refused package: the code does not run.
                            Ok(Some(refused)) => refused,
                            Ok(None) => match backend.run(&call.spec, &mut sink) {
                                Ok(r) => {
                                    ran = true;
                                    r
                                }
                                Err(e) => {
                                    crate::audit::setup_failed_report(&call.spec, &e.to_string())
                                }
                            },
                            Err(e) if e.is_usage() => {
                                return Err(bad(format!("packages: {e}")));
                            }
                            Err(e) => crate::audit::setup_failed_report(&call.spec, &e.to_string()),
                        }
                    }
                    Err(e) => crate::audit::setup_failed_report(&call.spec, &e.to_string()),
                }
            }
        };
        if let Some(s) = session.as_mut()
            && ran
        {
            s.complete(&mut report, &mut sink);
        }
        let install_output = (!call.packages.is_empty()).then(|| {
            let [out, err] = &install_sink.out;
            let mut t = String::from_utf8_lossy(out).into_owned();
            t.push_str(&String::from_utf8_lossy(err));
            t
        });
        report.program = call.main_name.to_string();
        let audit = match &self.audit {
            None => None,
            Some(a) => {
                let mut log = a
                    .lock()
                    .map_err(|_| bad("the audit log is unusable after an earlier failure"))?;
                let code = (args.code.len() <= AUDIT_CODE).then(|| args.code.clone());
                let mut extra = serde_json::json!({
                    "via": "mcp",
                    "language": args.language,
                    "code": code,
                    "files": args.files.keys().collect::<Vec<_>>(),
                });
                if let Some(p) = &args.packages {
                    extra["packages"] = serde_json::json!({
                        "requirements": p.requirements,
                        "package_json": p.package_json,
                    });
                }
                let rec = log
                    .record_run(&report, Some(call.program_sha256.clone()), Some(extra))
                    .map_err(|e| {
                        bad(format!(
                            "the code ran ({}) but {e}; its output is withheld",
                            report.exit.describe()
                        ))
                    })?;
                Some(rec)
            }
        };
        if let Exit::SetupFailed(why) = &report.exit {
            let mut msg = format!("the sandbox could not be set up, nothing ran: {why}");
            if let Some(r) = &audit {
                msg.push_str(&format!(" (recorded as {})", r.execution_id));
            }
            return Err(bad(msg));
        }
        let events = report
            .events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Info))
            .map(|e| SandboxEvent {
                kind: serde_json::to_value(e.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                detail: e.detail.clone(),
            })
            .collect();
        let files = read_outputs(&call.out_dir, &report.outputs);
        let [out, err] = sink.out;
        Ok(RunCodeResult {
            exit: ExitInfo::of(&report.exit),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stdout_truncated: sink.truncated[0] || report.stdout.truncated,
            stderr: String::from_utf8_lossy(&err).into_owned(),
            stderr_truncated: sink.truncated[1] || report.stderr.truncated,
            events,
            files,
            report: serde_json::to_value(&report).unwrap_or_default(),
            audit,
            install_output,
        })
    }
}

/// The files copied out of `/out`, with their text when it is UTF-8 and fits.
fn read_outputs(out_dir: &Path, names: &[String]) -> Vec<OutFile> {
    let mut budget = RETURNED_FILES_TOTAL;
    let mut files = Vec::new();
    for name in names {
        let path = out_dir.join(name);
        // Only what the backend copied out: regular files, never links (checked again here).
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let bytes = meta.len();
        let (content, omitted) = if bytes > RETURNED_FILE || bytes > budget {
            (None, Some("too large".to_string()))
        } else {
            match std::fs::read(&path).map(String::from_utf8) {
                Ok(Ok(text)) => {
                    budget -= bytes;
                    (Some(text), None)
                }
                Ok(Err(_)) => (None, Some("binary".to_string())),
                Err(e) => (None, Some(format!("unreadable: {e}"))),
            }
        };
        files.push(OutFile {
            path: name.clone(),
            bytes,
            content,
            omitted,
        });
    }
    files
}

/// The text the model reads.
pub fn render(r: &RunCodeResult) -> String {
    let mut t = r.exit.description.clone();
    if let Some(ms) = r.report["timings"]["total_ms"].as_f64() {
        t.push_str(&format!(" after {:.2} s", ms / 1000.0));
    }
    t.push('\n');
    for e in &r.events {
        t.push_str(&format!("[{}] {}\n", e.kind, e.detail));
    }
    for (name, body, cut) in [
        ("stdout", &r.stdout, r.stdout_truncated),
        ("stderr", &r.stderr, r.stderr_truncated),
    ] {
        if !body.is_empty() || cut {
            t.push_str(&format!(
                "--- {name}{} ---\n",
                if cut { " (truncated)" } else { "" }
            ));
            t.push_str(body);
            if !body.ends_with('\n') {
                t.push('\n');
            }
        }
    }
    for f in &r.files {
        match (&f.content, &f.omitted) {
            (Some(text), _) => {
                t.push_str(&format!("--- /out/{} ({} bytes) ---\n", f.path, f.bytes));
                t.push_str(text);
                if !text.ends_with('\n') {
                    t.push('\n');
                }
            }
            (None, why) => t.push_str(&format!(
                "--- /out/{} ({} bytes, {}) ---\n",
                f.path,
                f.bytes,
                why.as_deref().unwrap_or("omitted")
            )),
        }
    }
    if r.exit.kind == "packages-refused"
        && let Some(log) = r.install_output.as_deref().filter(|l| !l.is_empty())
    {
        // Why pip/npm failed, last lines first in importance: keep the tail.
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        t.push_str("--- install output (last lines) ---\n");
        for l in tail.into_iter().rev() {
            t.push_str(l);
            t.push('\n');
        }
    }
    if let Some(a) = &r.audit {
        t.push_str(&format!(
            "recorded as {} in the audit log\n",
            a.execution_id
        ));
    }
    t
}

fn instructions(c: &Ceilings) -> String {
    format!(
        "Babuino runs code in a throw-away sandbox: call `run_code` to execute Python, Node.js, sh \
or bash code instead of running it on the user's machine. The sandbox sees the system's programs \
read-only, your code (and `files`) read-only in /code, a small writable /tmp, /out (whose files \
are returned to you), and no network \
except these hosts: {}. Limits: timeout {} s, memory {} MiB (you may ask for less, not more). \
Denied writes and blocked connections are listed in the result: adapt the code rather than \
trying to get around them.{}",
        c.allowed_hosts(),
        c.limits.timeout.as_secs_f64(),
        c.limits.memory_bytes >> 20,
        if c.registries.is_empty() {
            String::new()
        } else {
            format!(
                " To use third-party packages, pass `packages` ({}): Sentinel checks each one \
and refuses typosquats and malicious packages (use the suggested name instead).",
                c.registries
                    .iter()
                    .map(|r| match r {
                        PackageRegistry::Pypi => "`requirements` for pip",
                        PackageRegistry::Npm => "`package_json` for npm",
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    )
}

/// The MCP server.
#[derive(Clone)]
pub struct BabuinoMcp {
    runner: Arc<Runner>,
    slots: Arc<tokio::sync::Semaphore>,
    tool_router: ToolRouter<BabuinoMcp>,
}

impl std::fmt::Debug for BabuinoMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BabuinoMcp").finish_non_exhaustive()
    }
}

fn tool_error(msg: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(msg)])
}

#[tool_router]
impl BabuinoMcp {
    pub fn new(runner: Arc<Runner>, slots: Arc<tokio::sync::Semaphore>) -> Self {
        BabuinoMcp {
            runner,
            slots,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        name = "run_code",
        description = "Run code in a fresh, throw-away sandbox and get its exit, output and what the sandbox denied. Use this instead of running agent-written code on the user's machine. languages: python, node, sh, bash. The program sees /code (your code and `files`, read-only), a writable /tmp and /out (files written to /out are returned), and only the network hosts this server allows. Optional: args, stdin, files {relative path: content}, network_allow (subset of the server's hosts), timeout and memory (at most the server's), packages {requirements: requirements.txt text} or {package_json: package.json text} installed through Sentinel before the code runs (read-only at /packages; a refused package stops the call: exit packages-refused, see `events`). Writes outside /tmp and connections to other hosts fail and are listed in `events`.",
        input_schema = schema_for_type::<RunCodeArgs>(),
        output_schema = schema_for_type::<RunCodeResult>()
    )]
    async fn run_code(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args: RunCodeArgs = match serde_json::from_value(Value::Object(raw)) {
            Ok(a) => a,
            Err(e) => {
                return Ok(tool_error(format!(
                    "invalid arguments for `run_code`: {e} (see the tool's input schema)"
                )));
            }
        };
        let Ok(permit) = self.slots.clone().acquire_owned().await else {
            return Ok(tool_error("the server is shutting down".into()));
        };
        let runner = self.runner.clone();
        let lang = args.language;
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            runner.run_code(&args)
        })
        .await;
        let result = match joined {
            Ok(r) => r,
            Err(e) => {
                return Ok(tool_error(format!("the run failed inside the server: {e}")));
            }
        };
        match result {
            Ok(r) => {
                eprintln!(
                    "babuino mcp: run_code ({lang:?}): {}{}",
                    r.exit.description,
                    r.audit
                        .as_ref()
                        .map(|a| format!(", recorded as {}", a.execution_id))
                        .unwrap_or_default()
                );
                let value = serde_json::to_value(&r).map_err(|e| {
                    ErrorData::internal_error(format!("cannot encode the result: {e}"), None)
                })?;
                let mut out = CallToolResult::structured(value);
                out.content = vec![ContentBlock::text(render(&r))];
                Ok(out)
            }
            Err(CallError(msg)) => {
                eprintln!("babuino mcp: run_code refused: {msg}");
                Ok(tool_error(msg))
            }
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for BabuinoMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("babuino", env!("CARGO_PKG_VERSION"))
                    .with_title("Babuino sandbox"),
            )
            .with_instructions(instructions(&self.runner.ceilings))
    }
}

/// Resolves when babuino was asked to stop (SIGINT, SIGTERM, SIGHUP).
async fn interrupt() {
    while crate::backend::interrupted().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn serve(server: BabuinoMcp, http: Option<SocketAddr>) -> Result<(), String> {
    match http {
        None => {
            let service = server
                .clone()
                .serve(rmcp::transport::stdio())
                .await
                .map_err(|e| format!("mcp session failed to start: {e}"))?;
            tokio::select! {
                r = service.waiting() => { r.map_err(|e| format!("mcp session failed: {e}"))?; }
                () = interrupt() => {}
            }
        }
        Some(addr) => {
            let mut config = StreamableHttpServerConfig::default();
            config.json_response = true;
            let s = server.clone();
            let service = StreamableHttpService::new(
                move || Ok(s.clone()),
                Arc::new(LocalSessionManager::default()),
                config,
            );
            let router = axum::Router::new().nest_service("/mcp", service);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let bound = listener
                .local_addr()
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            eprintln!("babuino mcp: serving http://{bound}/mcp");
            axum::serve(listener, router)
                .with_graceful_shutdown(interrupt())
                .await
                .map_err(|e| format!("http server failed: {e}"))?;
        }
    }
    Ok(())
}

/// `babuino mcp`: returns the documented exit code.
pub fn main(a: McpArgs) -> ExitCode {
    let ceilings = match Ceilings::from_args(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("babuino: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if ceilings.limits.memory_bytes < 8 << 20 {
        eprintln!("babuino: --memory must be at least 8M");
        return ExitCode::from(EXIT_USAGE);
    }
    if let Some(addr) = a.http
        && !addr.ip().is_loopback()
        && !a.allow_remote
    {
        eprintln!(
            "babuino: refusing to serve code execution on {addr} without authentication: listen on 127.0.0.1 or pass --allow-remote"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    if a.parallel == 0 {
        eprintln!("babuino: --parallel must be at least 1");
        return ExitCode::from(EXIT_USAGE);
    }
    if let Err(e) = backend_for(ceilings.backend) {
        eprintln!("babuino: {e}");
        return ExitCode::from(EXIT_UNAVAILABLE);
    }
    let audit = match &a.audit {
        None => None,
        Some(dir) => {
            match AuditLog::open(dir, crate::audit::session_from(a.audit_session.as_deref())) {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("babuino: {e}");
                    return ExitCode::from(e.exit_code());
                }
            }
        }
    };
    eprintln!(
        "babuino mcp: ready ({}; network: {}; timeout {} s; memory {} MiB{})",
        match a.http {
            Some(addr) => format!("http {addr}"),
            None => "stdio".into(),
        },
        ceilings.allowed_hosts(),
        ceilings.limits.timeout.as_secs_f64(),
        ceilings.limits.memory_bytes >> 20,
        a.audit
            .as_ref()
            .map(|d| format!("; audit log {}", d.display()))
            .unwrap_or_default()
    );
    // Signals go to a waiting thread (running sandboxes are torn down and still recorded).
    crate::backend::install_interrupt_handler();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("babuino: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let parallel = a.parallel.min(64);
    let slots = Arc::new(tokio::sync::Semaphore::new(parallel));
    let server = BabuinoMcp::new(Arc::new(Runner::new(ceilings, audit)), slots.clone());
    let served = runtime.block_on(async {
        let r = serve(server, a.http).await;
        // Let running calls finish (and be recorded) before leaving.
        let _all = slots.acquire_many(parallel as u32).await;
        r
    });
    // The stdio reader may still block on a stdin the client keeps open: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match served {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("babuino: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ceilings(allow: &[&str]) -> Ceilings {
        let mut c = Ceilings {
            limits: Limits::default(),
            network: NetworkPolicy::default(),
            registries: Vec::new(),
            install_timeout: crate::packages::DEFAULT_INSTALL_TIMEOUT,
            backend: BackendKind::Native,
        };
        for a in allow {
            match spec::parse_allow_entry(a).unwrap() {
                spec::AllowEntry::Hosts(h) => c.network.allow.extend(h),
                spec::AllowEntry::Registry(r) => c.registries.push(r),
            }
        }
        c
    }

    fn args(v: Value) -> RunCodeArgs {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn hosts_outside_the_ceiling_are_refused_and_named() {
        let c = ceilings(&["pypi.org", "*.example.com:8443"]);
        let p = |s: &str| HostPattern::parse(s).unwrap();
        assert!(covered(&p("pypi.org"), &c.network.allow));
        assert!(covered(&p("pypi.org:443"), &c.network.allow));
        assert!(!covered(&p("pypi.org:22"), &c.network.allow));
        assert!(!covered(&p("evil.com"), &c.network.allow));
        assert!(!covered(&p("*.pypi.org"), &c.network.allow));
        assert!(covered(&p("a.example.com:8443"), &c.network.allow));
        assert!(covered(&p("*.b.example.com:8443"), &c.network.allow));
        assert!(!covered(&p("*.example.com"), &c.network.allow));
        let e = prepare(
            &args(serde_json::json!({"code": "", "language": "sh", "network_allow": ["evil.com"]})),
            &c,
        )
        .unwrap_err();
        assert!(
            e.0.contains("evil.com") && e.0.contains("pypi.org"),
            "{e:?}"
        );
        let none = ceilings(&[]);
        let e = prepare(
            &args(
                serde_json::json!({"code": "", "language": "sh", "network_allow": ["example.org"]}),
            ),
            &none,
        )
        .unwrap_err();
        assert!(e.0.contains("no network"), "{e:?}");
    }

    #[test]
    fn registries_through_sentinel_are_part_of_the_ceiling() {
        let c = ceilings(&["@pypi", "api.github.com"]);
        let inherit =
            prepare(&args(serde_json::json!({"code": "", "language": "sh"})), &c).unwrap();
        assert_eq!(inherit.registries, [PackageRegistry::Pypi]);
        let narrowed = prepare(
            &args(serde_json::json!({"code": "", "language": "sh", "network_allow": ["api.github.com"]})),
            &c,
        )
        .unwrap();
        assert!(narrowed.registries.is_empty());
        let e = prepare(
            &args(serde_json::json!({"code": "", "language": "sh", "network_allow": ["@npm"]})),
            &c,
        )
        .unwrap_err();
        assert!(
            e.0.contains("@npm is not allowed")
                && e.0.contains("@pypi (through Sentinel), api.github.com"),
            "{e:?}"
        );
        // A registry host named directly would bypass Sentinel: refused in the server's flags.
        let flags = McpArgs {
            network_allow: vec!["files.pythonhosted.org".into()],
            memory: None,
            timeout: None,
            install_timeout: None,
            cpus: None,
            sandbox: None,
            parallel: 1,
            audit: None,
            audit_session: None,
            http: None,
            allow_remote: false,
        };
        assert!(matches!(
            Ceilings::from_args(&flags),
            Err(spec::SpecError::RegistryHost(_))
        ));
    }

    #[test]
    fn a_call_may_lower_limits_but_not_raise_them() {
        let c = ceilings(&["pypi.org"]);
        let ok = prepare(
            &args(serde_json::json!({"code": "print(1)", "language": "python", "timeout": "5s", "memory": 134217728, "network_allow": []})),
            &c,
        )
        .unwrap();
        assert_eq!(ok.spec.limits.timeout.as_secs(), 5);
        assert_eq!(ok.spec.limits.memory_bytes, 128 << 20);
        assert!(ok.spec.network.is_blocked());
        let inherit =
            prepare(&args(serde_json::json!({"code": "", "language": "sh"})), &c).unwrap();
        assert_eq!(inherit.spec.network, c.network);
        assert_eq!(inherit.spec.limits, c.limits);
        for (k, v) in [("timeout", "31s"), ("memory", "1G")] {
            let e = prepare(
                &args(serde_json::json!({"code": "", "language": "sh", k: v})),
                &c,
            )
            .unwrap_err();
            assert!(e.0.contains("more than this server allows"), "{e:?}");
        }
        let e = prepare(
            &args(serde_json::json!({"code": "", "language": "sh", "timeout": 3600})),
            &c,
        )
        .unwrap_err();
        assert!(e.0.contains("timeout"), "{e:?}");
    }

    #[test]
    fn files_stay_inside_the_code_directory() {
        let c = ceilings(&[]);
        for name in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "",
            ".babuino-stdin",
            "main.py",
        ] {
            let e = prepare(
                &args(serde_json::json!({"code": "", "language": "python", "files": {name: "x"}})),
                &c,
            )
            .unwrap_err();
            assert!(e.0.starts_with("files:"), "{name}: {e:?}");
        }
        let ok = prepare(
            &args(serde_json::json!({"code": "x", "language": "python", "files": {"data/in.csv": "a,b"}, "stdin": "hi"})),
            &c,
        )
        .unwrap();
        let dir = ok.spec.code_dir.clone().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("data/in.csv")).unwrap(),
            "a,b"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(".babuino-stdin")).unwrap(),
            "hi"
        );
        assert_eq!(ok.spec.interpreter, Interpreter::Sh);
    }

    #[test]
    fn packages_need_the_servers_registry() {
        let call =
            |p: Value| args(serde_json::json!({"code": "", "language": "python", "packages": p}));
        let none = ceilings(&["api.github.com"]);
        let e = prepare(&call(serde_json::json!({"requirements": "six\n"})), &none).unwrap_err();
        assert!(
            e.0.contains("packages.requirements needs @pypi")
                && e.0.contains("allows: api.github.com"),
            "{e:?}"
        );
        let pypi = ceilings(&["@pypi"]);
        let e = prepare(
            &call(serde_json::json!({"package_json": "{\"dependencies\": {}}"})),
            &pypi,
        )
        .unwrap_err();
        assert!(e.0.contains("packages.package_json needs @npm"), "{e:?}");
        let e = prepare(&call(serde_json::json!({})), &pypi).unwrap_err();
        assert!(e.0.contains("give `requirements`"), "{e:?}");
        let big = "six\n".repeat(MAX_MANIFEST);
        let e = prepare(&call(serde_json::json!({"requirements": big})), &pypi).unwrap_err();
        assert!(e.0.contains("at most"), "{e:?}");
        // Allowed: the list is written outside the program's code directory, and the program's
        // own network stays what the call asked for (none here).
        let ok = prepare(
            &args(serde_json::json!({"code": "", "language": "python", "network_allow": [], "packages": {"requirements": "six==1.17.0\n"}})),
            &pypi,
        )
        .unwrap();
        assert_eq!(ok.packages.len(), 1);
        assert_eq!(
            std::fs::read_to_string(&ok.packages[0]).unwrap(),
            "six==1.17.0\n"
        );
        let code_dir = ok.spec.code_dir.clone().unwrap();
        assert!(!ok.packages[0].starts_with(&code_dir));
        assert!(ok.registries.is_empty());
        let mut kvm = pypi.clone();
        kvm.backend = BackendKind::Kvm;
        let e = prepare(&call(serde_json::json!({"requirements": "six\n"})), &kvm).unwrap_err();
        assert!(e.0.contains("micro-VM"), "{e:?}");
    }

    #[test]
    fn output_is_capped_per_stream() {
        let mut s = CappedSink::default();
        s.output(Stream::Stdout, &vec![b'a'; RETURNED_OUTPUT - 1]);
        s.output(Stream::Stdout, b"bc");
        s.output(Stream::Stderr, b"e");
        assert_eq!(s.out[0].len(), RETURNED_OUTPUT);
        assert!(s.truncated[0] && !s.truncated[1]);
    }
}
