//! Recording sandbox runs in a Cutufato log, so one signed log tells the story of an agent's
//! session: the model calls (recorded by Cutufato) and what the code it wrote did here.
//!
//! Every run becomes a Cutufato event: source `babuino`, action `run`, an outcome kept in the
//! signed leaf (`exit 0`, `timeout`, `memory`, `signal 9`, `setup-failed` …), a one-line summary
//! and the run report (`babuino.run-report/1`) plus the program's sha256 as erasable data checked
//! by `cutufato verify`.
//!
//! The log is opened, and checked to be writable, BEFORE anything runs: a run that could not be
//! recorded does not start. After the run the event is written whatever the outcome; if that
//! fails the caller must say so and fail (see [`AuditError::Record`]).

use crate::report::{EventKind, Exit, RunReport};
use crate::spec::RunSpec;
use cutufato::{Auditor, Event, LogError};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Source name of Babuino's events in the log.
pub const EVENT_SOURCE: &str = "babuino";
/// Action name of a sandbox run.
pub const EVENT_ACTION: &str = "run";
/// Environment variable naming the agent session (shared by the three tools).
pub const SESSION_ENV: &str = "TRIAD_SESSION";
/// Exit code of `babuino run` when the run finished but its record could not be written.
pub const EXIT_NOT_RECORDED: u8 = 119;
/// Largest recorded report (canonical JSON); Cutufato accepts 4 MiB of event data.
const MAX_DATA: usize = 3 << 20;

/// Why a run cannot be, or was not, recorded.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// No log at the directory: nothing ran.
    #[error("no cutufato log in {dir}: create one with `cutufato init --dir {dir}` (nothing was run)", dir = .0.display())]
    Missing(PathBuf),
    /// The log exists but cannot take records (no signing key, read-only, corrupt): nothing ran.
    #[error("audit log {} cannot record runs: {reason} (nothing was run)", dir.display())]
    Unusable { dir: PathBuf, reason: String },
    /// The session id is not acceptable to the log.
    #[error("invalid audit session {0:?}: expected one line of at most 128 bytes")]
    BadSession(String),
    /// The run happened but its record could not be written.
    #[error("the run was NOT recorded in the audit log {}: {source}", dir.display())]
    Record {
        dir: PathBuf,
        #[source]
        source: LogError,
    },
}

impl AuditError {
    /// The exit code of `babuino run`: 2 no log or bad session (nothing ran), 125 log unusable
    /// (nothing ran), 119 ([`EXIT_NOT_RECORDED`]) the run finished but was not recorded.
    pub fn exit_code(&self) -> u8 {
        match self {
            AuditError::Missing(_) | AuditError::BadSession(_) => 2,
            AuditError::Unusable { .. } => 125,
            AuditError::Record { .. } => EXIT_NOT_RECORDED,
        }
    }
}

/// The audit of one `babuino run`: the open log and the hash of the program taken before it ran.
#[derive(Debug)]
pub struct RunAudit {
    log: AuditLog,
    program_sha256: Option<String>,
}

impl RunAudit {
    /// Records the run's report.
    pub fn record(&mut self, report: &RunReport) -> Result<Recorded, AuditError> {
        self.log
            .record_run(report, self.program_sha256.clone(), None)
    }
}

/// Opens the log for one run of `spec` (before it runs) and hashes the program file when it is
/// the user's code (not a system command).
pub fn open_for_run(
    dir: &Path,
    session_flag: Option<&str>,
    spec: &RunSpec,
) -> Result<RunAudit, AuditError> {
    let log = AuditLog::open(dir, session_from(session_flag))?;
    let program_sha256 = if spec.code_dir.is_some() {
        Some(
            file_sha256(&spec.program).map_err(|e| AuditError::Unusable {
                dir: dir.to_owned(),
                reason: format!("cannot hash the program {}: {e}", spec.program.display()),
            })?,
        )
    } else {
        None
    };
    Ok(RunAudit {
        log,
        program_sha256,
    })
}

/// The report of a run whose sandbox could not be set up (the program never ran).
pub fn setup_failed_report(spec: &RunSpec, why: &str) -> RunReport {
    let mut r = RunReport::new(
        crate::report::new_run_id(),
        spec.backend,
        spec.display_name(),
        spec.limits.clone(),
        spec.network.clone(),
    );
    r.set_exit(Exit::SetupFailed(why.to_string()));
    r
}

/// An open Cutufato log that Babuino runs are recorded in.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    auditor: Auditor,
    session: Option<String>,
}

/// Where a run is recorded: what `--json` reports gain as `audit`.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Recorded {
    /// The log directory.
    pub dir: PathBuf,
    /// The Cutufato execution id of the run's event (`cutufato verify ID`).
    pub execution_id: String,
    /// sha256 of the program file, as recorded (absent for a system command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_sha256: Option<String>,
}

/// The session id: the flag when given, else `$TRIAD_SESSION` when set and not empty.
pub fn session_from(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_owned).or_else(|| {
        std::env::var(SESSION_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
    })
}

impl AuditLog {
    /// Opens the log in `dir` and checks it can take a record now (signing key present,
    /// database writable). Fails closed: on error nothing may run.
    pub fn open(dir: &Path, session: Option<String>) -> Result<Self, AuditError> {
        if let Some(s) = &session
            && (s.len() > 128 || s.contains(['\n', '\r']) || s.trim().is_empty())
        {
            return Err(AuditError::BadSession(s.clone()));
        }
        let auditor = match Auditor::open(dir) {
            Ok(a) => a,
            Err(LogError::NotInitialized(_)) => return Err(AuditError::Missing(dir.to_owned())),
            Err(e) => {
                return Err(AuditError::Unusable {
                    dir: dir.to_owned(),
                    reason: e.to_string(),
                });
            }
        };
        let log = AuditLog {
            dir: dir.to_owned(),
            auditor,
            session,
        };
        log.check_writable()?;
        Ok(log)
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The session recorded with each run.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// Checks the log could take a record now: the signing key is loaded and the database takes
    /// a write lock. Call before each run.
    pub fn check_writable(&self) -> Result<(), AuditError> {
        let unusable = |reason: String| AuditError::Unusable {
            dir: self.dir.clone(),
            reason,
        };
        self.auditor
            .verifier()
            .map_err(|e| unusable(e.to_string()))?;
        self.auditor
            .connection()
            .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .map_err(|e| unusable(format!("database is not writable: {e}")))?;
        Ok(())
    }

    /// Records one run; returns where it was recorded.
    pub fn record_run(
        &mut self,
        report: &RunReport,
        program_sha256: Option<String>,
        extra: Option<Value>,
    ) -> Result<Recorded, AuditError> {
        let event = run_event(
            report,
            program_sha256.as_deref(),
            extra,
            self.session.clone(),
        );
        let execution_id =
            self.auditor
                .record_event(event)
                .map_err(|source| AuditError::Record {
                    dir: self.dir.clone(),
                    source,
                })?;
        Ok(Recorded {
            dir: self.dir.clone(),
            execution_id,
            program_sha256,
        })
    }
}

/// The short outcome kept in the signed leaf: `exit 0`, `timeout`, `memory`, `pids`,
/// `output-cap`, `signal 9`, `setup-failed` or `packages-refused`.
pub fn outcome(exit: &Exit) -> String {
    match exit {
        Exit::Code(c) => format!("exit {c}"),
        Exit::Timeout => "timeout".into(),
        Exit::Memory => "memory".into(),
        Exit::Pids => "pids".into(),
        Exit::Signal(s) => format!("signal {s}"),
        Exit::OutputCap => "output-cap".into(),
        Exit::SetupFailed(_) => "setup-failed".into(),
        Exit::PackagesRefused(_) => "packages-refused".into(),
    }
}

fn counted(n: usize, one: &str, many: &str, what: &str) -> String {
    format!("{n} {} {what}", if n == 1 { one } else { many })
}

/// One line for people: `ran fetch_rates.py (native): exit 0 after 0.4 s; 1 write denied,
/// 1 connection blocked`.
pub fn summary(report: &RunReport) -> String {
    let program: String = report
        .program
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(200)
        .collect();
    let secs = report.timings.total_ms / 1000.0;
    let ended = match &report.exit {
        Exit::SetupFailed(_) => "sandbox setup failed".to_string(),
        Exit::PackagesRefused(_) => "packages refused, program not run".to_string(),
        other => format!("{} after {secs:.1} s", outcome(other)),
    };
    let mut parts = Vec::new();
    let n = |k: EventKind| report.events_of(k).count();
    for (kind, one, many, what) in [
        (EventKind::DeniedWrite, "write", "writes", "denied"),
        (EventKind::DeniedRead, "read", "reads", "denied"),
        (
            EventKind::DeniedSyscall,
            "system call",
            "system calls",
            "denied",
        ),
        (
            EventKind::BlockedConnect,
            "connection",
            "connections",
            "blocked",
        ),
        (
            EventKind::AllowedConnect,
            "connection",
            "connections",
            "allowed",
        ),
        (EventKind::BlockedPackage, "package", "packages", "blocked"),
    ] {
        let c = n(kind);
        if c > 0 {
            parts.push(counted(c, one, many, what));
        }
    }
    let mut line = format!("ran {program} ({}): {ended}", report.backend);
    if !parts.is_empty() {
        line.push_str("; ");
        line.push_str(&parts.join(", "));
    }
    line
}

/// The recorded detail: the run report's fields plus `program_sha256` (and `extra` fields of
/// the caller, e.g. the MCP call's code). Events past the size the log accepts are dropped and
/// counted in `events_dropped`.
pub fn run_data(report: &RunReport, program_sha256: Option<&str>, extra: Option<Value>) -> Value {
    let mut r = report.clone();
    let mut dropped = 0usize;
    loop {
        let mut v =
            serde_json::to_value(&r).unwrap_or_else(|e| json!({"encode_error": e.to_string()}));
        if let Some(o) = v.as_object_mut() {
            o.insert("program_sha256".into(), json!(program_sha256));
            if dropped > 0 {
                o.insert("events_dropped".into(), json!(dropped));
            }
            if let Some(Value::Object(extra)) = &extra {
                for (k, val) in extra {
                    o.insert(k.clone(), val.clone());
                }
            }
        }
        let size = serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0);
        if size <= MAX_DATA || r.events.is_empty() {
            return v;
        }
        let keep = r.events.len() / 2;
        dropped += r.events.len() - keep;
        r.events.truncate(keep);
    }
}

/// The Cutufato event of one run.
pub fn run_event(
    report: &RunReport,
    program_sha256: Option<&str>,
    extra: Option<Value>,
    session: Option<String>,
) -> Event {
    let mut e = Event::new(
        EVENT_SOURCE,
        EVENT_ACTION,
        summary(report),
        run_data(report, program_sha256, extra),
    )
    .outcome(outcome(&report.exit));
    e.session = session;
    e
}

/// sha256 (hex) of a file, read in full.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::report::Event as RunEvent;
    use crate::spec::{BackendKind, Limits, NetworkPolicy};

    fn report(exit: Exit) -> RunReport {
        let mut r = RunReport::new(
            "r1".into(),
            BackendKind::Native,
            "fetch_rates.py".into(),
            Limits::default(),
            NetworkPolicy::default(),
        );
        r.set_exit(exit);
        r.timings.total_ms = 412.0;
        r
    }

    fn ev(kind: EventKind) -> RunEvent {
        RunEvent {
            time_ms: 1,
            kind,
            detail: "x".into(),
        }
    }

    #[test]
    fn summary_counts_denials_and_blocks() {
        let mut r = report(Exit::Code(0));
        r.events.push(ev(EventKind::DeniedWrite));
        r.events.push(ev(EventKind::BlockedConnect));
        r.events.push(ev(EventKind::BlockedConnect));
        r.events.push(ev(EventKind::Info));
        assert_eq!(
            summary(&r),
            "ran fetch_rates.py (native): exit 0 after 0.4 s; 1 write denied, 2 connections blocked"
        );
        let r = report(Exit::SetupFailed("no userns".into()));
        assert_eq!(
            summary(&r),
            "ran fetch_rates.py (native): sandbox setup failed"
        );
    }

    #[test]
    fn summary_is_one_line_even_for_hostile_names() {
        let mut r = report(Exit::Timeout);
        r.program = "a\nb\r.py".into();
        let s = summary(&r);
        assert!(!s.contains(['\n', '\r']), "{s}");
        assert!(s.contains("timeout after"));
    }

    #[test]
    fn outcomes_are_short_and_distinct() {
        let all = [
            Exit::Code(0),
            Exit::Code(1),
            Exit::Timeout,
            Exit::Memory,
            Exit::Pids,
            Exit::Signal(9),
            Exit::OutputCap,
            Exit::SetupFailed("x".into()),
            Exit::PackagesRefused("x".into()),
        ];
        let mut seen: Vec<String> = all.iter().map(outcome).collect();
        assert_eq!(seen[5], "signal 9");
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), all.len());
    }

    #[test]
    fn data_is_the_report_plus_the_hash_and_stays_under_the_log_limit() {
        let r = report(Exit::Code(0));
        let d = run_data(&r, Some("ab"), None);
        assert_eq!(d["program_sha256"], "ab");
        let mut back = d.clone();
        back.as_object_mut().unwrap().remove("program_sha256");
        assert_eq!(back, serde_json::to_value(&r).unwrap());

        let mut big = report(Exit::Code(0));
        for _ in 0..40_000 {
            big.events.push(RunEvent {
                time_ms: 1,
                kind: EventKind::DeniedSyscall,
                detail: "y".repeat(200),
            });
        }
        let d = run_data(&big, None, None);
        assert!(serde_json::to_vec(&d).unwrap().len() <= MAX_DATA);
        assert!(d["events_dropped"].as_u64().unwrap() > 0);
    }

    #[test]
    fn missing_and_keyless_logs_are_refused_before_anything_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nolog");
        match AuditLog::open(&missing, None) {
            Err(e @ AuditError::Missing(_)) => {
                assert!(e.to_string().contains("cutufato init --dir"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let dir = tmp.path().join("log");
        Auditor::init(&dir, None).unwrap();
        let mut log = AuditLog::open(&dir, Some("s-1".into())).unwrap();
        let rec = log.record_run(&report(Exit::Code(0)), None, None).unwrap();
        assert!(rec.execution_id.starts_with("evt-"));
        std::fs::remove_file(dir.join(cutufato::auditor::KEY_FILE)).unwrap();
        assert!(matches!(
            AuditLog::open(&dir, None),
            Err(AuditError::Unusable { .. })
        ));
        assert!(matches!(
            AuditLog::open(&tmp.path().join("log"), Some("a\nb".into())),
            Err(AuditError::BadSession(_))
        ));
    }
}
