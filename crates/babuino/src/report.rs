//! The run report: what happened in one sandboxed run, the same for every backend.
//!
//! The JSON form (`babuino run --json`) is a stable interface: fields are only ever added.
//! `schema` names its version.

use crate::spec::{BackendKind, Limits, NetworkPolicy};
use serde::{Deserialize, Serialize};

/// Version of the report's JSON layout.
pub const REPORT_SCHEMA: &str = "babuino.run-report/1";

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum Exit {
    /// The program exited by itself with this code.
    Code(i32),
    /// The wall-clock timeout passed; the whole tree was killed.
    Timeout,
    /// The memory limit was hit and the kernel killed the program.
    Memory,
    /// The process limit was hit (forks failed) and the program did not succeed.
    Pids,
    /// The program was killed by this signal (not by a limit).
    Signal(i32),
    /// The program wrote more than the output cap; it was killed.
    OutputCap,
    /// The sandbox could not be set up; the program never ran.
    SetupFailed(String),
    /// A package of `--packages` was refused by Sentinel or failed to install; the program
    /// never ran.
    PackagesRefused(String),
}

impl Exit {
    /// The exit code `babuino run` returns for this outcome (documented in the docs).
    pub fn code(&self) -> u8 {
        match self {
            Exit::Code(c) => (*c & 0xff) as u8,
            Exit::OutputCap => 121,
            Exit::Pids => 122,
            Exit::Memory => 123,
            Exit::Timeout => 124,
            Exit::SetupFailed(_) => 125,
            Exit::PackagesRefused(_) => crate::packages::EXIT_PACKAGES,
            Exit::Signal(s) => (128 + (*s & 0x7f)) as u8,
        }
    }

    /// One-line human description (`exit 1`, `timeout`, `out of memory`).
    pub fn describe(&self) -> String {
        match self {
            Exit::Code(c) => format!("exit {c}"),
            Exit::Timeout => "timeout (whole process tree killed)".to_string(),
            Exit::Memory => "out of memory (memory limit hit, killed)".to_string(),
            Exit::Pids => "process limit hit".to_string(),
            Exit::Signal(s) => format!("killed by signal {s}"),
            Exit::OutputCap => "output cap hit (killed)".to_string(),
            Exit::SetupFailed(why) => format!("sandbox setup failed: {why}"),
            Exit::PackagesRefused(why) => format!("packages not installed, program not run: {why}"),
        }
    }
}

/// What kind of thing an [`Event`] records. Stable kebab-case codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A write to a path the program may not write was refused.
    DeniedWrite,
    /// A read of a path the program may not read was refused.
    DeniedRead,
    /// A system call outside the allowed set was refused.
    DeniedSyscall,
    /// A network connection to a host not on the allow-list was refused.
    BlockedConnect,
    /// A connection to an allowed host went through the egress proxy.
    AllowedConnect,
    /// A limit was reached (memory, pids, timeout, output, tmp size).
    Limit,
    /// A file in `/out` was not copied out (link, special file, too large).
    OutputSkipped,
    /// A protection could only be applied partially on this host (e.g. old Landlock ABI).
    Degraded,
    /// Informational note from the backend.
    Info,
    /// Sentinel refused a package (install phase or the program's own pip/npm).
    BlockedPackage,
}

impl EventKind {
    /// The label used in human output (`denied`, `blocked`, …).
    pub fn label(self) -> &'static str {
        match self {
            EventKind::DeniedWrite | EventKind::DeniedRead | EventKind::DeniedSyscall => "denied",
            EventKind::BlockedConnect => "blocked",
            EventKind::AllowedConnect => "allowed",
            EventKind::Limit => "limit",
            EventKind::OutputSkipped => "skipped",
            EventKind::Degraded => "degraded",
            EventKind::Info => "note",
            EventKind::BlockedPackage => "blocked package",
        }
    }
}

/// One thing that happened during the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the run started.
    pub time_ms: u64,
    pub kind: EventKind,
    /// Human-readable detail, e.g. `connect evil.com:443 (not in allow-list)`.
    pub detail: String,
}

/// Where the time went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub setup_ms: f64,
    pub run_ms: f64,
    pub teardown_ms: f64,
    pub total_ms: f64,
    /// The install phase of `--packages` (its own sandbox, before `setup_ms`), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_ms: Option<f64>,
}

/// Sentinel's decision on a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageDecision {
    Allow,
    Warn,
    Block,
}

/// A package installed or refused through Sentinel during the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageEntry {
    /// `pypi` or `npm`.
    pub ecosystem: String,
    pub name: String,
    /// The version installed, or the one refused when Sentinel judged a single release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Sentinel's decision.
    pub decision: PackageDecision,
    /// True when it is in `/packages` (installed by the install phase).
    pub installed: bool,
    /// For a refusal: Sentinel's rule (`typosquat`, `not-found`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For a refusal: the package Sentinel suggests instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

/// Byte counts of one output stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStats {
    /// Bytes the program wrote (up to the point it was stopped).
    pub bytes: u64,
    /// True when output past the cap was dropped.
    pub truncated: bool,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub schema: String,
    /// Unique id of the run (also the name of its runtime state).
    pub id: String,
    pub backend: BackendKind,
    /// Backend-specific facts: namespaces, seccomp, Landlock ABI, cgroup version, accelerator…
    pub details: serde_json::Map<String, serde_json::Value>,
    /// The program as the user named it.
    pub program: String,
    pub limits: Limits,
    pub network: NetworkPolicy,
    pub exit: Exit,
    /// The exit code `babuino` itself returns.
    pub exit_code: u8,
    pub events: Vec<Event>,
    pub timings: Timings,
    pub stdout: StreamStats,
    pub stderr: StreamStats,
    /// Files copied to `--output`, relative paths.
    pub outputs: Vec<String>,
    /// Packages installed or refused through Sentinel (`--packages`, `@pypi`, `@npm`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageEntry>,
}

impl RunReport {
    /// An empty report for a run that is about to start.
    pub fn new(
        id: String,
        backend: BackendKind,
        program: String,
        limits: Limits,
        network: NetworkPolicy,
    ) -> Self {
        RunReport {
            schema: REPORT_SCHEMA.to_string(),
            id,
            backend,
            details: serde_json::Map::new(),
            program,
            limits,
            network,
            exit: Exit::SetupFailed("not started".to_string()),
            exit_code: 125,
            events: Vec::new(),
            timings: Timings::default(),
            stdout: StreamStats::default(),
            stderr: StreamStats::default(),
            outputs: Vec::new(),
            packages: Vec::new(),
        }
    }

    /// Sets the exit and the matching exit code.
    pub fn set_exit(&mut self, exit: Exit) {
        self.exit_code = exit.code();
        self.exit = exit;
    }

    /// Events of one kind.
    pub fn events_of(&self, kind: EventKind) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| e.kind == kind)
    }
}

/// A new run id: time plus randomness from the kernel, safe as a file name.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let mut rnd = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut rnd);
    }
    format!("{:x}-{}", now, hex::encode(rnd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_for_limits() {
        let codes = [
            Exit::OutputCap.code(),
            Exit::Pids.code(),
            Exit::Memory.code(),
            Exit::Timeout.code(),
            Exit::SetupFailed(String::new()).code(),
            Exit::PackagesRefused(String::new()).code(),
        ];
        let mut sorted = codes.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), codes.len());
        assert_eq!(Exit::Code(3).code(), 3);
        assert_eq!(Exit::Signal(9).code(), 137);
    }

    #[test]
    fn report_json_is_stable() {
        let mut r = RunReport::new(
            "id1".into(),
            BackendKind::Native,
            "x.py".into(),
            Limits::default(),
            NetworkPolicy::default(),
        );
        r.set_exit(Exit::Timeout);
        r.events.push(Event {
            time_ms: 5,
            kind: EventKind::BlockedConnect,
            detail: "connect evil.com:443 (not in allow-list)".into(),
        });
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["schema"], REPORT_SCHEMA);
        assert_eq!(v["exit"]["kind"], "timeout");
        assert_eq!(v["exit_code"], 124);
        assert_eq!(v["events"][0]["kind"], "blocked-connect");
        assert_eq!(v["limits"]["timeout"], 30000);
        let back: RunReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }
}
