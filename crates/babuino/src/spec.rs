//! The run spec: what to run, with which limits, seeing which files and which hosts.
//!
//! A [`RunSpec`] is backend-neutral: every backend (native, micro-VM, gVisor, Wasm) receives the
//! same spec and must honour all of it or refuse to run. Parsing of user input (limits, host
//! patterns) lives here so every frontend rejects bad input the same way.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors in user input that make a run spec invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("program {0} does not exist (give the path of a script or executable)")]
    MissingProgram(PathBuf),
    #[error("program {0} is not a regular file")]
    NotAFile(PathBuf),
    #[error(
        "cannot tell how to run {0}: no known extension (.py .js .mjs .cjs .sh .bash), no #! line and not executable (use --interpreter)"
    )]
    UnknownInterpreter(PathBuf),
    #[error("interpreter {0:?} is not supported (expected python3, node, sh, bash or exec)")]
    UnsupportedInterpreter(String),
    #[error(
        "interpreter {0} is not installed in a system directory (/usr/bin, /bin, /usr/local/bin)"
    )]
    InterpreterNotFound(String),
    #[error(
        "invalid size {0:?}: expected a positive number with an optional unit K, M or G (e.g. 512M)"
    )]
    BadSize(String),
    #[error(
        "invalid duration {0:?}: expected a positive number with unit ms, s, m or h (e.g. 30s)"
    )]
    BadDuration(String),
    #[error("invalid cpu count {0:?}: expected a positive number such as 1 or 0.5")]
    BadCpus(String),
    #[error("invalid process limit {0:?}: expected a whole number of at least 1")]
    BadPids(String),
    #[error(
        "invalid allow-list entry {0:?}: expected a host name or *.domain with an optional :port (e.g. api.github.com:443)"
    )]
    BadHostPattern(String),
    #[error("unknown allow-list preset {0:?} (known: @pypi, @npm, @crates)")]
    UnknownPreset(String),
    #[error(
        "{0} is a package registry: registries are reached only through Sentinel's registry proxy; use --network-allow @pypi or @npm (pip and npm then install through Sentinel), or pass --unchecked-registry to allow the registry directly without checks"
    )]
    RegistryHost(String),
    #[error("{0} is reserved for babuino's internal routes and cannot be allow-listed")]
    ReservedHost(String),
    #[error(
        "invalid environment entry {0:?}: expected NAME=VALUE with NAME made of letters, digits and _"
    )]
    BadEnv(String),
    #[error("code directory {0} is not a directory")]
    BadCodeDir(PathBuf),
    #[error(
        "refusing to expose {0} as the code directory (it is / or your home directory); move the script into its own directory or pass --code-dir"
    )]
    CodeDirTooBroad(PathBuf),
    #[error("unknown backend {0:?} (expected native, kvm, gvisor, wasm or auto)")]
    UnknownBackend(String),
}

/// Which isolation backend runs the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// Linux namespaces, seccomp, Landlock and cgroups: needs nothing but the kernel.
    Native,
    /// QEMU micro-VM.
    Kvm,
    /// gVisor (`runsc`).
    Gvisor,
    /// WebAssembly (wasmtime).
    Wasm,
    /// Let the router choose the strongest available backend.
    #[default]
    Auto,
}

impl BackendKind {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Native => "native",
            BackendKind::Kvm => "kvm",
            BackendKind::Gvisor => "gvisor",
            BackendKind::Wasm => "wasm",
            BackendKind::Auto => "auto",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "native" => BackendKind::Native,
            "kvm" | "vm" => BackendKind::Kvm,
            "gvisor" => BackendKind::Gvisor,
            "wasm" => BackendKind::Wasm,
            "auto" => BackendKind::Auto,
            other => return Err(SpecError::UnknownBackend(other.to_string())),
        })
    }
}

/// How the program is started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "path")]
pub enum Interpreter {
    Python3,
    Node,
    Sh,
    Bash,
    /// The program is executed directly (ELF binary or script with a `#!` line the kernel runs).
    Exec,
}

impl Interpreter {
    /// Name of the interpreter binary, or `None` for direct execution.
    pub fn binary_name(&self) -> Option<&'static str> {
        match self {
            Interpreter::Python3 => Some("python3"),
            Interpreter::Node => Some("node"),
            Interpreter::Sh => Some("sh"),
            Interpreter::Bash => Some("bash"),
            Interpreter::Exec => None,
        }
    }

    /// Parses a user-given interpreter name (`--interpreter`).
    pub fn parse(name: &str) -> Result<Self, SpecError> {
        Ok(match name {
            "python3" | "python" => Interpreter::Python3,
            "node" | "nodejs" => Interpreter::Node,
            "sh" | "dash" => Interpreter::Sh,
            "bash" => Interpreter::Bash,
            "exec" => Interpreter::Exec,
            other => return Err(SpecError::UnsupportedInterpreter(other.to_string())),
        })
    }

    /// Picks the interpreter of a script from its extension, then its `#!` line, then its mode.
    pub fn detect(path: &Path) -> Result<Self, SpecError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "py" => return Ok(Interpreter::Python3),
            "js" | "mjs" | "cjs" => return Ok(Interpreter::Node),
            "sh" => return Ok(Interpreter::Sh),
            "bash" => return Ok(Interpreter::Bash),
            _ => {}
        }
        let head = read_head(path);
        if let Some(name) = shebang_interpreter(&head) {
            if name.starts_with("python3") {
                return Ok(Interpreter::Python3);
            }
            return Interpreter::parse(&name);
        }
        if head.starts_with(b"\x7fELF") && is_executable(path) {
            return Ok(Interpreter::Exec);
        }
        Err(SpecError::UnknownInterpreter(path.to_path_buf()))
    }
}

fn read_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0u8; 256];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    buf.truncate(n);
    buf
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The interpreter named by a `#!` line (`#!/usr/bin/env python3` gives `python3`).
pub fn shebang_interpreter(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let base = first.rsplit('/').next()?;
    if base == "env" {
        let mut next = words.next()?;
        if next == "-S" {
            next = words.next()?;
        }
        return Some(next.rsplit('/').next()?.to_string());
    }
    Some(base.to_string())
}

/// System directories whose binaries the sandbox can see (in this order of preference).
pub const SYSTEM_BIN_DIRS: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin"];

/// Finds an interpreter binary in the system directories the sandbox exposes.
pub fn find_system_binary(name: &str) -> Result<PathBuf, SpecError> {
    for dir in SYSTEM_BIN_DIRS {
        let p = Path::new(dir).join(name);
        if p.is_file() && is_executable(&p) {
            return Ok(p);
        }
    }
    Err(SpecError::InterpreterNotFound(name.to_string()))
}

/// Resource limits of one run. Every backend enforces all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory of the whole sandbox (all processes), bytes.
    pub memory_bytes: u64,
    /// CPU time share in cores (0.5 = half a core).
    pub cpus: f64,
    /// Wall-clock timeout; the whole process tree is killed when it passes.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    /// Maximum number of processes and threads.
    pub pids: u64,
    /// Bytes of stdout plus stderr kept; the run is stopped when the program writes more.
    pub output_bytes: u64,
    /// Size of the writable `/tmp` (and of `/out`), bytes.
    pub tmp_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 512 << 20,
            cpus: 1.0,
            timeout: Duration::from_secs(30),
            pids: 256,
            output_bytes: 16 << 20,
            tmp_bytes: 64 << 20,
        }
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Parses a byte size: `512M`, `1G`, `65536`, `64K`, `1.5G` (binary units).
pub fn parse_size(s: &str) -> Result<u64, SpecError> {
    let bad = || SpecError::BadSize(s.to_string());
    let t = s.trim();
    let t = t.strip_suffix(['b', 'B']).unwrap_or(t);
    let t = t.strip_suffix(['i']).unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v <= 0.0 {
        return Err(bad());
    }
    let bytes = v * mult as f64;
    if bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Parses a duration: `30s`, `500ms`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, SpecError> {
    let bad = || SpecError::BadDuration(s.to_string());
    let t = s.trim();
    let (num, unit_ms) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        (t, 1000.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v <= 0.0 {
        return Err(bad());
    }
    let ms = v * unit_ms;
    if !(1.0..=1e12).contains(&ms) {
        return Err(bad());
    }
    Ok(Duration::from_millis(ms as u64))
}

/// Parses a CPU share: `1`, `0.5`, `2`.
pub fn parse_cpus(s: &str) -> Result<f64, SpecError> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| SpecError::BadCpus(s.to_string()))?;
    if !v.is_finite() || !(0.01..=1024.0).contains(&v) {
        return Err(SpecError::BadCpus(s.to_string()));
    }
    Ok(v)
}

/// Parses a process limit.
pub fn parse_pids(s: &str) -> Result<u64, SpecError> {
    match s.trim().parse::<u64>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(SpecError::BadPids(s.to_string())),
    }
}

/// One allow-list entry: an exact host name or `*.domain` (which matches sub-domains only), with
/// an optional port. Without a port, 80 and 443 are allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    /// Lower-case host name without the `*.` prefix.
    pub host: String,
    /// True for `*.domain`: matches any name ending in `.domain`, not `domain` itself.
    pub wildcard: bool,
    /// `None` means the default web ports 80 and 443.
    pub port: Option<u16>,
}

impl HostPattern {
    /// Parses `api.github.com`, `*.pypi.org`, `localhost:8080`.
    pub fn parse(s: &str) -> Result<Self, SpecError> {
        let bad = || SpecError::BadHostPattern(s.to_string());
        let t = s.trim();
        let (hostpart, port) = match t.rsplit_once(':') {
            Some((h, p)) => {
                let port: u16 = p.parse().map_err(|_| bad())?;
                if port == 0 {
                    return Err(bad());
                }
                (h, Some(port))
            }
            None => (t, None),
        };
        let (wildcard, host) = match hostpart.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, hostpart),
        };
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host).to_string();
        if !is_host_name(&host) {
            return Err(bad());
        }
        Ok(HostPattern {
            host,
            wildcard,
            port,
        })
    }

    /// Whether a connection to `host:port` is allowed by this entry.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        let port_ok = match self.port {
            Some(p) => p == port,
            None => port == 80 || port == 443,
        };
        if !port_ok {
            return false;
        }
        if self.wildcard {
            host.len() > self.host.len() + 1
                && host.ends_with(&self.host)
                && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
        } else {
            host == self.host
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HostPattern::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Allow-list presets that stay direct host lists (registries Sentinel's proxy does not serve).
/// `@pypi` and `@npm` are not host lists: they route pip and npm through Sentinel
/// ([`AllowEntry::Registry`]).
pub const PRESETS: &[(&str, &[&str])] = &[(
    "crates",
    &["index.crates.io", "static.crates.io", "crates.io"],
)];

/// Hosts of the registries Sentinel fronts. Naming them (or a `*.` pattern covering them) in the
/// allow-list would bypass Sentinel, so it is refused unless the user opts out explicitly.
pub const REGISTRY_HOSTS: &[&str] = &["pypi.org", "files.pythonhosted.org", "registry.npmjs.org"];

/// The reserved virtual host under which the sandbox reaches Sentinel's registry proxy.
pub const REGISTRY_VHOST: &str = "sentinel.babuino.internal";
/// Domain reserved for babuino's internal routes (never resolved, never allow-listed).
pub const INTERNAL_DOMAIN: &str = "babuino.internal";

/// A package registry reached through Sentinel's registry proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageRegistry {
    Pypi,
    Npm,
}

impl PackageRegistry {
    /// `pypi` or `npm`, as in Sentinel's messages.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageRegistry::Pypi => "pypi",
            PackageRegistry::Npm => "npm",
        }
    }
}

/// One parsed `--network-allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    /// Direct access to these hosts through the egress proxy.
    Hosts(Vec<HostPattern>),
    /// pip or npm through Sentinel's registry proxy (`@pypi`, `@npm`).
    Registry(PackageRegistry),
}

/// Parses one `--network-allow` entry: a host pattern, `@pypi`/`@npm` (a registry through
/// Sentinel) or `@crates` (crates.io's hosts, direct).
pub fn parse_allow_entry(s: &str) -> Result<AllowEntry, SpecError> {
    let t = s.trim();
    if let Some(name) = t.strip_prefix('@') {
        match name {
            "pypi" => return Ok(AllowEntry::Registry(PackageRegistry::Pypi)),
            "npm" => return Ok(AllowEntry::Registry(PackageRegistry::Npm)),
            _ => {}
        }
        let (_, hosts) = PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| SpecError::UnknownPreset(t.to_string()))?;
        return Ok(AllowEntry::Hosts(
            hosts
                .iter()
                .map(|h| HostPattern::parse(h))
                .collect::<Result<_, _>>()?,
        ));
    }
    let p = HostPattern::parse(t)?;
    if p.host == INTERNAL_DOMAIN || p.host.ends_with(&format!(".{INTERNAL_DOMAIN}")) {
        return Err(SpecError::ReservedHost(p.to_string()));
    }
    Ok(AllowEntry::Hosts(vec![p]))
}

/// The registry host an allow-list entry would open directly (any port), if any.
pub fn registry_host_covered(p: &HostPattern) -> Option<&'static str> {
    let any_port = HostPattern {
        port: None,
        ..p.clone()
    };
    REGISTRY_HOSTS
        .iter()
        .find(|h| any_port.matches(h, 443))
        .copied()
}

/// A DNS host name (letters, digits, hyphens, dots; labels 1–63 bytes), not an IP literal.
pub fn is_host_name(h: &str) -> bool {
    if h.is_empty() || h.len() > 253 || h.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    let labels: Vec<&str> = h.split('.').collect();
    // An all-numeric last label is an IPv4-ish literal (e.g. 127.1), not a name.
    if labels
        .last()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// Which hosts the program may reach. Empty: no network at all (loopback only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicy {
    pub allow: Vec<HostPattern>,
    /// Where pip and npm go: Sentinel's registry proxy, reached under a reserved virtual host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryRoute>,
}

/// An internal route of the egress proxy: the virtual host `host:port` is sent to `target`, a
/// loopback address on the host where Sentinel's registry proxy listens. Only that host and port
/// reach it; every other loopback address and port stays unreachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRoute {
    /// The virtual host the sandbox uses ([`REGISTRY_VHOST`]).
    pub host: String,
    /// Its port (80: plain HTTP to the proxy on the host's loopback).
    pub port: u16,
    /// Where Sentinel's registry proxy listens on the host.
    pub target: std::net::SocketAddr,
    /// Who checks every package served: `sentinel`.
    pub via: String,
    /// Registries served through it.
    pub ecosystems: Vec<PackageRegistry>,
}

impl RegistryRoute {
    /// Base URL of the route inside the sandbox (`http://sentinel.babuino.internal`).
    pub fn base_url(&self) -> String {
        if self.port == 80 {
            format!("http://{}", self.host)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }

    /// The variables that point pip and npm at the route (with the egress proxy variables the
    /// backend sets, requests go through the egress proxy to Sentinel).
    pub fn env(&self) -> Vec<(String, String)> {
        let base = self.base_url();
        vec![
            ("PIP_INDEX_URL".into(), format!("{base}/pypi/simple/")),
            ("PIP_TRUSTED_HOST".into(), self.host.clone()),
            ("npm_config_registry".into(), format!("{base}/npm/")),
            ("npm_config_audit".into(), "false".into()),
            ("npm_config_fund".into(), "false".into()),
            ("npm_config_update_notifier".into(), "false".into()),
            // The egress proxy takes 16 route connections at once; npm's default is 15 sockets.
            ("npm_config_maxsockets".into(), "8".into()),
        ]
    }
}

impl NetworkPolicy {
    /// Whether `host:port` is on the allow-list.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allow.iter().any(|p| p.matches(host, port))
    }

    /// True when no host is allowed and no registry is routed (the sandbox gets no egress).
    pub fn is_blocked(&self) -> bool {
        self.allow.is_empty() && self.registry.is_none()
    }
}

/// A host directory mounted read-only inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadOnlyMount {
    /// Host directory.
    pub host: PathBuf,
    /// Absolute path inside the sandbox (e.g. `/packages`).
    pub sandbox: PathBuf,
}

/// Parses `NAME=VALUE`.
pub fn parse_env(s: &str) -> Result<(String, String), SpecError> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| SpecError::BadEnv(s.to_string()))?;
    let ok = !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok || v.contains('\0') {
        return Err(SpecError::BadEnv(s.to_string()));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Everything a backend needs to run one program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Host path of the script or executable (absolute). For a system command (`--cmd`), the
    /// absolute path of the command inside the system directories.
    pub program: PathBuf,
    /// How the program is started.
    pub interpreter: Interpreter,
    /// Arguments after the program.
    pub args: Vec<String>,
    /// Host directory mounted read-only at [`CODE_MOUNT`] (the program's directory by default).
    pub code_dir: Option<PathBuf>,
    /// Environment given by the user; the backend adds only a minimal PATH, HOME and LANG.
    pub env: BTreeMap<String, String>,
    pub limits: Limits,
    pub network: NetworkPolicy,
    /// Host directory that receives a copy of `/out` after the run (regular files and
    /// directories only; links and special files are skipped).
    pub output_dir: Option<PathBuf>,
    pub backend: BackendKind,
    /// Give the program babuino's stdin (a pipe or file); otherwise it reads `/dev/null`.
    #[serde(default)]
    pub stdin: bool,
    /// Extra host directories mounted read-only (installed packages at `/packages`). A backend
    /// that cannot mount them refuses the spec.
    #[serde(default)]
    pub mounts: Vec<ReadOnlyMount>,
}

/// Where the code directory appears inside every sandbox.
pub const CODE_MOUNT: &str = "/code";
/// The writable directory whose content `--output` copies out.
pub const OUT_MOUNT: &str = "/out";

impl RunSpec {
    /// A spec for a script or executable on the host, with defaults for everything else.
    /// Checks the file exists and picks its interpreter.
    pub fn for_program(
        program: &Path,
        interpreter: Option<Interpreter>,
    ) -> Result<Self, SpecError> {
        let meta = std::fs::metadata(program)
            .map_err(|_| SpecError::MissingProgram(program.to_path_buf()))?;
        if !meta.is_file() {
            return Err(SpecError::NotAFile(program.to_path_buf()));
        }
        let program = std::fs::canonicalize(program)
            .map_err(|_| SpecError::MissingProgram(program.to_path_buf()))?;
        let interpreter = match interpreter {
            Some(i) => i,
            None => Interpreter::detect(&program)?,
        };
        if let Some(bin) = interpreter.binary_name() {
            find_system_binary(bin)?;
        }
        let code_dir = program.parent().map(Path::to_path_buf);
        Ok(RunSpec {
            program,
            interpreter,
            args: Vec::new(),
            code_dir,
            env: BTreeMap::new(),
            limits: Limits::default(),
            network: NetworkPolicy::default(),
            output_dir: None,
            backend: BackendKind::Auto,
            stdin: false,
            mounts: Vec::new(),
        })
    }

    /// A spec for a command from the system directories (`python3`, `/bin/true`), no code dir.
    pub fn for_command(cmd: &str) -> Result<Self, SpecError> {
        let program = if cmd.contains('/') {
            let p = PathBuf::from(cmd);
            let allowed = SYSTEM_BIN_DIRS
                .iter()
                .chain(["/usr/sbin", "/sbin"].iter())
                .any(|d| p.parent() == Some(Path::new(d)));
            if !allowed || !p.is_file() {
                return Err(SpecError::InterpreterNotFound(cmd.to_string()));
            }
            p
        } else {
            find_system_binary(cmd)?
        };
        Ok(RunSpec {
            program,
            interpreter: Interpreter::Exec,
            args: Vec::new(),
            code_dir: None,
            env: BTreeMap::new(),
            limits: Limits::default(),
            network: NetworkPolicy::default(),
            output_dir: None,
            backend: BackendKind::Auto,
            stdin: false,
            mounts: Vec::new(),
        })
    }

    /// Refuses code directories that would expose too much of the host (`/`, `$HOME`).
    pub fn check_code_dir(&self) -> Result<(), SpecError> {
        let Some(dir) = &self.code_dir else {
            return Ok(());
        };
        if !dir.is_dir() {
            return Err(SpecError::BadCodeDir(dir.clone()));
        }
        let canon = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let home = home.and_then(|h| std::fs::canonicalize(h).ok());
        if canon == Path::new("/") || Some(&canon) == home.as_ref() || canon == Path::new("/root") {
            return Err(SpecError::CodeDirTooBroad(canon));
        }
        Ok(())
    }

    /// Path of the program as the sandbox sees it.
    pub fn program_in_sandbox(&self) -> PathBuf {
        match (&self.code_dir, self.program.file_name()) {
            (Some(dir), Some(_)) => match self.program.strip_prefix(dir) {
                Ok(rel) => Path::new(CODE_MOUNT).join(rel),
                Err(_) => self.program.clone(),
            },
            _ => self.program.clone(),
        }
    }

    /// The argv the sandbox executes: interpreter (if any), program, args.
    pub fn argv(&self) -> Result<Vec<String>, SpecError> {
        let mut argv = Vec::new();
        if let Some(bin) = self.interpreter.binary_name() {
            argv.push(find_system_binary(bin)?.to_string_lossy().into_owned());
        }
        argv.push(self.program_in_sandbox().to_string_lossy().into_owned());
        argv.extend(self.args.iter().cloned());
        Ok(argv)
    }

    /// The environment inside the sandbox: minimal defaults plus what the user passed.
    pub fn sandbox_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_string(),
            "/usr/local/bin:/usr/bin:/bin".to_string(),
        );
        env.insert("HOME".to_string(), "/tmp".to_string());
        env.insert("LANG".to_string(), "C.UTF-8".to_string());
        env.insert("TMPDIR".to_string(), "/tmp".to_string());
        // Python would write bytecode caches next to read-only code and packages (each attempt a
        // denied write in the report) or into /tmp, gone with the sandbox: neither helps.
        env.insert("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string());
        if let Some(route) = &self.network.registry {
            env.extend(route.env());
        }
        for (k, v) in &self.env {
            env.insert(k.clone(), v.clone());
        }
        env
    }

    /// Short name used to prefix the program's output (`[scrape.py]`).
    pub fn display_name(&self) -> String {
        self.program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.program.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("64k").unwrap(), 64 << 10);
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["0", "-1", "", "M", "1X", "nan", "0.0001"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        for bad in ["-1", "0", "abc", "", "1x", "inf"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpus_and_pids() {
        assert_eq!(parse_cpus("0.5").unwrap(), 0.5);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("-2").is_err());
        assert_eq!(parse_pids("64").unwrap(), 64);
        assert!(parse_pids("0").is_err());
    }

    #[test]
    fn host_patterns() {
        let p = HostPattern::parse("api.github.com").unwrap();
        assert!(p.matches("api.github.com", 443));
        assert!(p.matches("API.GitHub.com.", 80));
        assert!(!p.matches("api.github.com", 22));
        assert!(!p.matches("evil.api.github.com", 443));
        assert!(!p.matches("api.github.com.evil.com", 443));
        let w = HostPattern::parse("*.pypi.org").unwrap();
        assert!(w.matches("files.pypi.org", 443));
        assert!(!w.matches("pypi.org", 443));
        assert!(!w.matches("evilpypi.org", 443));
        let port = HostPattern::parse("localhost:8080").unwrap();
        assert!(port.matches("localhost", 8080));
        assert!(!port.matches("localhost", 443));
        for bad in [
            "1.2.3.4",
            "::1",
            "[::1]:80",
            "http://x.com",
            "a b",
            "",
            "*.",
            "x.com:0",
            "x.com:99999",
            "-a.com",
            "127.1",
            "x/y",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            HostPattern::parse("*.Example.COM:8443")
                .unwrap()
                .to_string(),
            "*.example.com:8443"
        );
    }

    #[test]
    fn presets_route_registries_through_sentinel() {
        assert_eq!(
            parse_allow_entry("@pypi").unwrap(),
            AllowEntry::Registry(PackageRegistry::Pypi)
        );
        assert_eq!(
            parse_allow_entry("@npm").unwrap(),
            AllowEntry::Registry(PackageRegistry::Npm)
        );
        let AllowEntry::Hosts(c) = parse_allow_entry("@crates").unwrap() else {
            panic!("@crates is a host list")
        };
        assert!(c.iter().any(|h| h.matches("static.crates.io", 443)));
        assert_eq!(
            parse_allow_entry("x.org:8080").unwrap(),
            AllowEntry::Hosts(vec![HostPattern::parse("x.org:8080").unwrap()])
        );
        assert!(matches!(
            parse_allow_entry("@nope"),
            Err(SpecError::UnknownPreset(_))
        ));
        for reserved in [
            "sentinel.babuino.internal",
            "*.babuino.internal",
            "babuino.internal:80",
        ] {
            assert!(
                matches!(parse_allow_entry(reserved), Err(SpecError::ReservedHost(_))),
                "{reserved}"
            );
        }
    }

    #[test]
    fn registry_hosts_are_recognised_in_any_form() {
        for (entry, host) in [
            ("pypi.org", Some("pypi.org")),
            ("PyPI.org:8443", Some("pypi.org")),
            ("*.pythonhosted.org", Some("files.pythonhosted.org")),
            ("*.npmjs.org", Some("registry.npmjs.org")),
            ("*.org", Some("pypi.org")),
            ("test.pypi.org", None),
            ("api.github.com", None),
        ] {
            let p = HostPattern::parse(entry).unwrap();
            assert_eq!(registry_host_covered(&p), host, "{entry}");
        }
    }

    #[test]
    fn a_registry_route_opens_the_proxy_and_points_pip_and_npm_at_it() {
        let mut s = RunSpec::for_command("sh").unwrap();
        assert!(s.network.is_blocked());
        s.network.registry = Some(RegistryRoute {
            host: REGISTRY_VHOST.into(),
            port: 80,
            target: "127.0.0.1:4000".parse().unwrap(),
            via: "sentinel".into(),
            ecosystems: vec![PackageRegistry::Pypi],
        });
        assert!(!s.network.is_blocked());
        let env = s.sandbox_env();
        assert_eq!(
            env["PIP_INDEX_URL"],
            "http://sentinel.babuino.internal/pypi/simple/"
        );
        assert_eq!(
            env["npm_config_registry"],
            "http://sentinel.babuino.internal/npm/"
        );
        let j = serde_json::to_value(&s.network).unwrap();
        assert_eq!(j["registry"]["host"], REGISTRY_VHOST);
        assert_eq!(j["registry"]["target"], "127.0.0.1:4000");
    }

    #[test]
    fn shebangs() {
        assert_eq!(
            shebang_interpreter(b"#!/usr/bin/env python3\nprint(1)").as_deref(),
            Some("python3")
        );
        assert_eq!(
            shebang_interpreter(b"#!/bin/bash -e\n").as_deref(),
            Some("bash")
        );
        assert_eq!(
            shebang_interpreter(b"#!/usr/bin/env -S node --x\n").as_deref(),
            Some("node")
        );
        assert_eq!(shebang_interpreter(b"print(1)"), None);
    }

    #[test]
    fn env_entries() {
        assert_eq!(
            parse_env("TOKEN=a=b").unwrap(),
            ("TOKEN".to_string(), "a=b".to_string())
        );
        assert!(parse_env("NOVALUE").is_err());
        assert!(parse_env("1X=y").is_err());
        assert!(parse_env("A-B=y").is_err());
    }

    #[test]
    fn spec_json_roundtrip() {
        let mut s = RunSpec::for_command("sh").unwrap();
        s.network
            .allow
            .push(HostPattern::parse("*.x.org:8443").unwrap());
        let j = serde_json::to_string(&s).unwrap();
        let back: RunSpec = serde_json::from_str(&j).unwrap();
        assert_eq!(s, back);
    }
}
