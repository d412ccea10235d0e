//! Sentinel's verdicts recorded in a Cutufato log, so one signed, tamper-evident log tells the
//! story of an agent's session: what the model decided (Cutufato decisions), what Babuino ran,
//! and what Sentinel blocked or warned about (these events). `cutufato verify` covers them.
//!
//! One event per verdict worth recording: `block` and `warn` by default, `allow` too when asked
//! ([`AuditOptions::all`]). The event is source `sentinel`, action and outcome the decision, a
//! one-line summary (``blocked pypi requsts: not in the registry …; did you mean `requests`?
//! [not-found]``) and
//! as data the verdict exactly as `--format json` prints it, the frontend that judged it and,
//! for scans, the manifest ([`EVENT_SCHEMA`]). All events of one answer are appended in one
//! transaction (one fsync, one signed checkpoint).
//!
//! Failing closed is the caller's duty and every frontend does it: an answer whose events could
//! not be appended is not acted on ([`AuditingGate`] makes the proxy refuse with 503).
//!
//! What it is not: a copy of the verdict cache, or a log of every allowed lookup unless asked.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cutufato::{Auditor, Event, LogError};
use serde_json::json;

use crate::proxy::{Gate, Judgement, Query};
use crate::report;
use crate::verdict::{Decision, Verdict};

/// `schema` field of every event's data (bumped only for incompatible changes).
pub const EVENT_SCHEMA: &str = "sentinel.verdict-event/1";
/// Event source of every Sentinel event.
pub const SOURCE: &str = "sentinel";
/// Longest session id accepted (Cutufato keeps it in the signed leaf).
pub const MAX_SESSION: usize = 128;
/// Longest summary line (Cutufato's limit is 1000 bytes).
const MAX_SUMMARY: usize = 900;

/// Errors opening or writing the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// No log at the directory.
    #[error(
        "no cutufato log at {0}: create it with `cutufato init --dir {0}` (or fix --audit / SENTINEL_AUDIT)"
    )]
    Missing(PathBuf),
    /// The log exists but cannot be opened or is not writable here.
    #[error("cannot open the audit log at {dir}: {reason}")]
    Open { dir: PathBuf, reason: String },
    /// The session id is not one line of at most [`MAX_SESSION`] bytes.
    #[error("invalid audit session {0:?}: it must be one non-empty line of at most 128 bytes")]
    Session(String),
    /// Appending failed (or its signed checkpoint could not be published): treat the answer as
    /// unrecorded.
    #[error("cannot record in the audit log at {dir}: {source}")]
    Append {
        dir: PathBuf,
        #[source]
        source: LogError,
    },
    /// `log.db` was removed or replaced since the log was opened: appends would go to a file
    /// nobody will read.
    #[error(
        "{0}/log.db was removed or replaced since sentinel opened it: restart sentinel on the log you mean to keep"
    )]
    Replaced(PathBuf),
    /// An earlier writer panicked while holding the log.
    #[error("the audit log at {0} is unusable after an internal error")]
    Poisoned(PathBuf),
}

/// Which frontend judged the packages (kept in each event's data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frontend {
    /// `sentinel check`.
    Check,
    /// `sentinel scan`.
    Scan,
    /// `sentinel proxy` (or a proxy embedded elsewhere).
    Proxy,
    /// `sentinel mcp`.
    Mcp,
    /// `sentinel hook`.
    Hook,
}

impl Frontend {
    /// The name in event data: `check`, `scan`, `proxy`, `mcp`, `hook`.
    pub fn as_str(self) -> &'static str {
        match self {
            Frontend::Check => "check",
            Frontend::Scan => "scan",
            Frontend::Proxy => "proxy",
            Frontend::Mcp => "mcp",
            Frontend::Hook => "hook",
        }
    }
}

/// Where one verdict came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    /// The frontend.
    pub frontend: Frontend,
    /// The manifest the package was read from (scans).
    pub manifest: Option<String>,
}

impl AuditContext {
    /// A context without a manifest.
    pub fn new(frontend: Frontend) -> Self {
        AuditContext {
            frontend,
            manifest: None,
        }
    }

    /// The same frontend, for a package read from `path`.
    pub fn manifest(frontend: Frontend, path: impl Into<String>) -> Self {
        AuditContext {
            frontend,
            manifest: Some(path.into()),
        }
    }
}

/// What to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditOptions {
    /// Record allowed verdicts too (default: block and warn only).
    pub all: bool,
    /// Agent session the events belong to (`--audit-session`, `TRIAD_SESSION`).
    pub session: Option<String>,
}

/// A Cutufato log opened once for the life of a frontend. Thread-safe, with group commit: an
/// append costs about one fsync'd SQLite transaction (milliseconds, see the `audit` benchmark),
/// so while one thread commits, the events other threads hand in queue up and the next writer
/// commits them all in one transaction; each caller returns once its own events are durable.
/// Across processes SQLite's write lock serialises appends, so several Sentinels (and Babuino,
/// and Cutufato itself) may share one log.
pub struct AuditLog {
    dir: PathBuf,
    options: AuditOptions,
    /// Held by the one thread committing; the others wait here for their turn or their result.
    auditor: Mutex<Auditor>,
    queue: Mutex<Queue>,
    /// Device and inode of `log.db` when opened (see [`AuditLog::check_same_file`]).
    db_file: (u64, u64),
}

/// Events handed in and not yet committed, and results of commits made on a caller's behalf.
#[derive(Default)]
struct Queue {
    next: u64,
    waiting: Vec<(u64, Vec<Event>)>,
    done: std::collections::HashMap<u64, Result<Vec<String>, String>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Checks a session id: one non-empty line of at most [`MAX_SESSION`] bytes.
pub fn check_session(s: &str) -> Result<(), AuditError> {
    if s.trim().is_empty() || s.len() > MAX_SESSION || s.chars().any(char::is_control) {
        return Err(AuditError::Session(s.to_string()));
    }
    Ok(())
}

impl AuditLog {
    /// Opens the log in `dir` (made by `cutufato init --dir DIR`) and checks that it can be
    /// written here (its signing key is present and usable).
    pub fn open(dir: impl AsRef<Path>, options: AuditOptions) -> Result<Self, AuditError> {
        let dir = dir.as_ref().to_path_buf();
        if let Some(s) = &options.session {
            check_session(s)?;
        }
        let auditor = match Auditor::open(&dir) {
            Ok(a) => a,
            Err(LogError::NotInitialized(_)) => return Err(AuditError::Missing(dir)),
            Err(e) => {
                return Err(AuditError::Open {
                    dir,
                    reason: e.to_string(),
                });
            }
        };
        // Without the signing key the log can be verified but not written: say so now, not at
        // the first block.
        if let Err(e) = auditor.sign_note("sentinel audit probe\n") {
            return Err(AuditError::Open {
                dir,
                reason: e.to_string(),
            });
        }
        let db_file = file_id(&dir).map_err(|e| AuditError::Open {
            dir: dir.clone(),
            reason: e.to_string(),
        })?;
        Ok(AuditLog {
            dir,
            options,
            auditor: Mutex::new(auditor),
            queue: Mutex::new(Queue::default()),
            db_file,
        })
    }

    /// SQLite keeps writing to an open database file after it was unlinked or renamed away (in
    /// WAL mode it does not notice), so a log removed or swapped under a running proxy would
    /// silently swallow the records. Before each commit the path must still name the file
    /// opened.
    fn check_same_file(&self) -> Result<(), AuditError> {
        match file_id(&self.dir) {
            Ok(id) if id == self.db_file => Ok(()),
            _ => Err(AuditError::Replaced(self.dir.clone())),
        }
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What is recorded.
    pub fn options(&self) -> &AuditOptions {
        &self.options
    }

    /// True when a verdict with this decision is recorded.
    pub fn wants(&self, d: Decision) -> bool {
        d != Decision::Allow || self.options.all
    }

    /// Records the verdicts worth recording, all from one context, in one transaction; returns
    /// the execution ids (empty when nothing needed recording).
    pub fn record(
        &self,
        verdicts: &[Verdict],
        ctx: &AuditContext,
    ) -> Result<Vec<String>, AuditError> {
        let items: Vec<(&Verdict, &AuditContext)> = verdicts.iter().map(|v| (v, ctx)).collect();
        self.record_each(&items)
    }

    /// Records verdicts with a context each (a scan of several manifests) in one transaction.
    pub fn record_each(
        &self,
        items: &[(&Verdict, &AuditContext)],
    ) -> Result<Vec<String>, AuditError> {
        let events: Vec<Event> = items
            .iter()
            .filter(|(v, _)| self.wants(v.decision))
            .map(|(v, ctx)| event(v, ctx, self.options.session.as_deref()))
            .collect();
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.append(events)
    }

    /// Group commit: queue the events, then either find them committed by another thread or
    /// commit everything queued (ours included) in one transaction.
    fn append(&self, events: Vec<Event>) -> Result<Vec<String>, AuditError> {
        let poisoned = || AuditError::Poisoned(self.dir.clone());
        let ticket = {
            let mut q = self.queue.lock().map_err(|_| poisoned())?;
            let t = q.next;
            q.next += 1;
            q.waiting.push((t, events));
            t
        };
        let mut auditor = self.auditor.lock().map_err(|_| poisoned())?;
        let batch = {
            let mut q = self.queue.lock().map_err(|_| poisoned())?;
            if let Some(r) = q.done.remove(&ticket) {
                // A writer before us committed (or failed) our events with its batch.
                return r.map_err(|e| AuditError::Append {
                    dir: self.dir.clone(),
                    source: LogError::Batch(e),
                });
            }
            std::mem::take(&mut q.waiting)
        };
        let sizes: Vec<(u64, usize)> = batch.iter().map(|(t, e)| (*t, e.len())).collect();
        let all: Vec<Event> = batch.into_iter().flat_map(|(_, e)| e).collect();
        let result = match self.check_same_file() {
            Ok(()) => auditor.record_events(all),
            Err(e) => Err(LogError::Inconsistent(e.to_string())),
        };
        // Results go to the queue while the auditor is still held: the next writer must find
        // them there, or it would take the committed events for pending ones.
        let mut q = self.queue.lock().map_err(|_| poisoned())?;
        match result {
            Ok(ids) => {
                let mut ids = ids.into_iter();
                let mut mine = Vec::new();
                for (t, n) in sizes {
                    let part: Vec<String> = ids.by_ref().take(n).collect();
                    if t == ticket {
                        mine = part;
                    } else {
                        q.done.insert(t, Ok(part));
                    }
                }
                Ok(mine)
            }
            Err(source) => {
                for (t, _) in sizes.iter().filter(|(t, _)| *t != ticket) {
                    q.done.insert(*t, Err(source.to_string()));
                }
                Err(AuditError::Append {
                    dir: self.dir.clone(),
                    source,
                })
            }
        }
    }
}

/// Device and inode of `dir/log.db`.
fn file_id(dir: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(dir.join(cutufato::auditor::DB_FILE))?;
    Ok((m.dev(), m.ino()))
}

/// Past tense of a decision, for summaries.
fn verb(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allowed",
        Decision::Warn => "warned",
        Decision::Block => "blocked",
    }
}

/// The one-line summary: `blocked pypi requsts: <main finding> [code]; did you mean requests?`.
pub fn summary(v: &Verdict) -> String {
    let mut s = format!(
        "{} {} {}",
        verb(v.decision),
        v.package.ecosystem.as_str(),
        v.package.name
    );
    if let Some(ver) = &v.package.version {
        s.push_str(&format!(" {ver}"));
    }
    match v.main_finding() {
        Some(f) => s.push_str(&format!(": {} [{}]", f.message, f.code)),
        None if v.decision == Decision::Allow => s.push_str(": no findings"),
        None => {}
    }
    if v.decision != Decision::Allow
        && let Some(alt) = v.suggestions.first()
        && !v
            .main_finding()
            .is_some_and(|f| f.message.contains(&format!("`{}`", alt.name)))
    {
        s.push_str(&format!("; did you mean {}?", alt.name));
    }
    one_line(&s, MAX_SUMMARY)
}

/// Control characters (a name could carry them) become `?`; cut at `max` bytes on a character
/// boundary.
fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        let c = if c.is_control() { '?' } else { c };
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// The event data: the verdict as `--format json` prints it, the frontend and the manifest.
pub fn event_data(v: &Verdict, ctx: &AuditContext) -> serde_json::Value {
    // `json_value` is the stable document of `--format json`; its one verdict is the element.
    let doc = report::json_value(std::slice::from_ref(v));
    let verdict = doc
        .get("verdicts")
        .and_then(|a| a.get(0))
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let mut data = json!({
        "schema": EVENT_SCHEMA,
        "sentinel_version": env!("CARGO_PKG_VERSION"),
        "frontend": ctx.frontend.as_str(),
        "verdict": verdict,
    });
    if let Some(m) = &ctx.manifest {
        data["manifest"] = json!(m);
    }
    data
}

/// The Cutufato event of one verdict.
pub fn event(v: &Verdict, ctx: &AuditContext, session: Option<&str>) -> Event {
    let d = match v.decision {
        Decision::Allow => "allow",
        Decision::Warn => "warn",
        Decision::Block => "block",
    };
    let mut e = Event::new(SOURCE, d, summary(v), event_data(v, ctx)).outcome(d);
    if let Some(s) = session {
        e = e.session(s);
    }
    e
}

/// The stable rule code of a proxy refusal caused by an audit log that could not be written; the
/// proxy answers it with 503 instead of serving anything unrecorded.
pub const AUDIT_FAILED: &str = crate::proxy::gate::AUDIT_FAILED;

/// A proxy gate that records what it judges: the engine (through its verdict memo) decides,
/// every verdict worth recording is appended to the log, and only then is the judgement
/// returned. When the append fails every judgement of the batch becomes a refusal with rule
/// [`AUDIT_FAILED`] (the proxy answers 503): nothing is served unrecorded.
///
/// What is recorded follows what the proxy acts on, so the log neither claims refusals that did
/// not happen nor fills up with repeats:
/// - a file or tarball (one query with a version): its verdict, as the log's options say;
/// - a project page or package document (one query without a version): only a block for a
///   [`crate::proxy::NAME_RULES`] rule (typosquat, not found, …), which condemns the name; other
///   verdicts on the latest release are enforced, and recorded, per file or version;
/// - the versions of an npm document (a batch of several queries, possibly hundreds): only the
///   blocked ones (they are removed), each at most once per [`FAN_OUT_WINDOW`].
pub struct AuditingGate {
    engine: Arc<crate::memo::MemoEngine>,
    log: Arc<AuditLog>,
    /// Blocked versions of filtered documents recorded recently.
    recent: Mutex<std::collections::HashMap<crate::PackageRef, std::time::Instant>>,
}

/// How long a blocked version removed from a document is not recorded again.
pub const FAN_OUT_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);
/// Most remembered fan-out blocks (the map is emptied when full: a bound on memory).
const FAN_OUT_CAPACITY: usize = 50_000;

impl std::fmt::Debug for AuditingGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditingGate")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl AuditingGate {
    /// Judges with `engine` and records in `log`.
    pub fn new(engine: Arc<crate::memo::MemoEngine>, log: Arc<AuditLog>) -> Self {
        AuditingGate {
            engine,
            log,
            recent: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The verdicts of a batch to hand to the log (which still applies block/warn/`--all`).
    fn worth_recording(&self, verdicts: &[Verdict]) -> Vec<Verdict> {
        if let [v] = verdicts {
            let name_block = v.decision == Decision::Block
                && v.main_finding()
                    .is_some_and(|f| crate::proxy::NAME_RULES.contains(&f.code.as_str()));
            return if v.package.version.is_some() || name_block {
                vec![v.clone()]
            } else {
                Vec::new()
            };
        }
        let Ok(recent) = self.recent.lock() else {
            // Poisoned: record everything rather than lose a block.
            return verdicts.to_vec();
        };
        verdicts
            .iter()
            .filter(|v| v.decision == Decision::Block)
            .filter(|v| {
                recent
                    .get(&v.package)
                    .is_none_or(|at| at.elapsed() >= FAN_OUT_WINDOW)
            })
            .cloned()
            .collect()
    }

    /// Remembers fan-out blocks once they are durably recorded.
    fn remember(&self, batch: usize, recorded: &[Verdict]) {
        if batch <= 1 {
            return;
        }
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= FAN_OUT_CAPACITY {
                recent.clear();
            }
            let now = std::time::Instant::now();
            for v in recorded {
                recent.insert(v.package.clone(), now);
            }
        }
    }
}

impl Gate for AuditingGate {
    fn judge(&self, queries: Vec<Query>) -> futures::future::BoxFuture<'_, Vec<Judgement>> {
        Box::pin(async move {
            let pkgs: Vec<crate::PackageRef> = queries.iter().map(Query::package).collect();
            let verdicts = self.engine.validate_all(&pkgs).await;
            let log = self.log.clone();
            let todo = self.worth_recording(&verdicts);
            // The append fsyncs: keep it off the async workers.
            let recorded = {
                let todo = todo.clone();
                tokio::task::spawn_blocking(move || {
                    log.record(&todo, &AuditContext::new(Frontend::Proxy))
                })
                .await
            };
            let failure = match recorded {
                Ok(Ok(_)) => {
                    self.remember(queries.len(), &todo);
                    None
                }
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(format!("the audit task failed: {e}")),
            };
            match failure {
                None => verdicts.iter().map(crate::proxy::judgement_of).collect(),
                Some(why) => {
                    tracing::error!(error = %why, "audit append failed; refusing the request");
                    queries
                        .iter()
                        .map(|_| Judgement {
                            allowed: false,
                            rule: AUDIT_FAILED.to_string(),
                            reason: format!(
                                "the verdict could not be recorded ({why}); nothing is served unrecorded: fix the log, then retry"
                            ),
                            alternative: None,
                        })
                        .collect()
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Finding, Severity, Suggestion};
    use crate::{Ecosystem, PackageRef};
    use std::time::Duration;

    fn blocked() -> Verdict {
        Verdict {
            package: PackageRef::new(Ecosystem::Pypi, "requsts"),
            decision: Decision::Block,
            findings: vec![Finding {
                code: "typosquat".into(),
                severity: Severity::High,
                action: Decision::Block,
                message: "an omitted character from a popular package".into(),
                evidence: json!({}),
            }],
            suggestions: vec![Suggestion {
                name: "requests".into(),
                reason: "popular".into(),
                score: 0.97,
            }],
            metadata: None,
        }
    }

    #[test]
    fn summary_names_package_rule_and_alternative() {
        assert_eq!(
            summary(&blocked()),
            "blocked pypi requsts: an omitted character from a popular package [typosquat]; did you mean requests?"
        );
        // The engine's not-found message already names the alternative: not twice.
        let mut v = blocked();
        v.findings[0].message = "not in the registry; did you mean `requests`?".into();
        assert_eq!(
            summary(&v),
            "blocked pypi requsts: not in the registry; did you mean `requests`? [typosquat]"
        );
        let mut v = blocked();
        v.package.name = "evil\nname".into();
        v.findings[0].message = "x".repeat(2000);
        let s = summary(&v);
        assert!(!s.contains('\n') && s.len() <= MAX_SUMMARY, "{s}");
    }

    #[test]
    fn data_is_the_json_verdict_with_frontend_and_manifest() {
        let v = blocked();
        let d = event_data(&v, &AuditContext::manifest(Frontend::Scan, "req.txt"));
        assert_eq!(d["schema"], EVENT_SCHEMA);
        assert_eq!(d["frontend"], "scan");
        assert_eq!(d["manifest"], "req.txt");
        assert_eq!(d["verdict"], report::json_value(&[v])["verdicts"][0]);
    }

    #[test]
    fn sessions_must_be_one_short_line() {
        assert!(check_session("s-1").is_ok());
        for bad in ["", "  ", "a\nb", &"x".repeat(129)] {
            assert!(check_session(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn missing_log_names_cutufato_init() {
        let dir = tempfile::tempdir().unwrap();
        let e = AuditLog::open(dir.path().join("nolog"), AuditOptions::default()).unwrap_err();
        assert!(matches!(e, AuditError::Missing(_)));
        assert!(e.to_string().contains("cutufato init --dir"), "{e}");
    }

    #[test]
    fn concurrent_appends_share_commits_and_each_gets_its_own_ids() {
        let dir = tempfile::tempdir().unwrap();
        Auditor::init(dir.path(), None).unwrap();
        let log = Arc::new(AuditLog::open(dir.path(), AuditOptions::default()).unwrap());
        let ctx = AuditContext::new(Frontend::Proxy);
        let ids: Vec<(usize, String)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..6)
                .map(|t| {
                    let (log, ctx) = (log.clone(), ctx.clone());
                    s.spawn(move || {
                        let mut v = blocked();
                        v.package.name = format!("squat{t}");
                        (0..10)
                            .flat_map(|_| log.record(std::slice::from_ref(&v), &ctx).unwrap())
                            .map(|id| (t, id))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut unique: Vec<&String> = ids.iter().map(|(_, id)| id).collect();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 60);
        let a = Auditor::open(dir.path()).unwrap();
        assert_eq!(a.size(), 60);
        // Every caller got the ids of its own events.
        for (t, id) in &ids {
            let s = a.get(id).unwrap();
            let summary = s.content.unwrap().summary.unwrap();
            assert!(
                summary.starts_with(&format!("blocked pypi squat{t}:")),
                "{summary}"
            );
        }
        let r = a
            .verify_all(&a.trusted_keys().unwrap(), &[], |_, _| {})
            .unwrap();
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert!(log.queue.lock().unwrap().done.is_empty());
    }

    #[test]
    fn a_replaced_database_is_refused_not_written() {
        let dir = tempfile::tempdir().unwrap();
        Auditor::init(dir.path().join("log"), None).unwrap();
        let log = AuditLog::open(dir.path().join("log"), AuditOptions::default()).unwrap();
        // Someone moves the log away and starts a fresh one at the same path.
        std::fs::rename(dir.path().join("log"), dir.path().join("old")).unwrap();
        Auditor::init(dir.path().join("log"), None).unwrap();
        let e = log
            .record(&[blocked()], &AuditContext::new(Frontend::Check))
            .unwrap_err();
        assert!(e.to_string().contains("removed or replaced"), "{e}");
        assert_eq!(Auditor::open(dir.path().join("old")).unwrap().size(), 0);
        assert_eq!(Auditor::open(dir.path().join("log")).unwrap().size(), 0);
    }

    #[test]
    fn a_copy_without_the_signing_key_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        Auditor::init(dir.path(), None).unwrap();
        std::fs::remove_file(dir.path().join(cutufato::auditor::KEY_FILE)).unwrap();
        let e = AuditLog::open(dir.path(), AuditOptions::default()).unwrap_err();
        assert!(matches!(e, AuditError::Open { .. }), "{e}");
        assert!(e.to_string().contains("signing.key"), "{e}");
    }

    #[tokio::test]
    async fn gate_records_only_new_blocks_of_a_filtered_document() {
        use crate::memo::MemoEngine;
        use crate::policy::{FailMode, Policy};
        use crate::proxy::Registry;
        let dir = tempfile::tempdir().unwrap();
        // Offline and uncached: `evil-*` is denied (block); anything else cannot be verified,
        // which fail-open turns into a warning.
        let mut policy = Policy {
            offline: true,
            fail: FailMode::Open,
            ..Policy::default()
        };
        policy.cache.dir = Some(dir.path().join("cache"));
        policy.packages.deny = vec!["npm:evil-*".into()];
        let engine = crate::Engine::new(crate::Config {
            policy,
            corpora: None,
            no_cache: true,
        })
        .unwrap();
        let log_dir = dir.path().join("log");
        Auditor::init(&log_dir, None).unwrap();
        let log = Arc::new(AuditLog::open(&log_dir, AuditOptions::default()).unwrap());
        let gate = AuditingGate::new(Arc::new(MemoEngine::new(engine, Duration::ZERO)), log);
        let q = |name: &str, v: Option<&str>| Query {
            registry: Registry::Npm,
            name: name.into(),
            version: v.map(Into::into),
        };
        let size = || Auditor::open(&log_dir).unwrap().size();
        let doc = || {
            vec![
                q("evil-pkg", Some("1.0.0")),
                q("evil-pkg", Some("1.0.1")),
                q("left-pad", Some("1.3.0")),
            ]
        };
        let j = gate.judge(doc()).await;
        assert_eq!(
            j.iter().map(|j| j.allowed).collect::<Vec<_>>(),
            [false, false, true]
        );
        assert_eq!(size(), 2, "the two removed versions, not the warned one");
        gate.judge(doc()).await;
        assert_eq!(size(), 2, "the same document again within the window");
        // A file or tarball is recorded every time, warnings included.
        gate.judge(vec![q("left-pad", Some("1.3.0"))]).await;
        gate.judge(vec![q("evil-pkg", Some("1.0.0"))]).await;
        assert_eq!(size(), 4);
        // A page or document: only a block that condemns the name.
        let j = gate.judge(vec![q("left-pad", None)]).await;
        assert!(j[0].allowed);
        assert_eq!(
            size(),
            4,
            "a warning on the package as a whole is recorded per file"
        );
        let j = gate.judge(vec![q("evil-pkg", None)]).await;
        assert_eq!(j[0].rule, "denied-by-policy");
        assert_eq!(size(), 5);
    }

    #[test]
    fn only_blocks_and_warnings_unless_all() {
        let dir = tempfile::tempdir().unwrap();
        Auditor::init(dir.path(), None).unwrap();
        let log = AuditLog::open(dir.path(), AuditOptions::default()).unwrap();
        let mut allowed = blocked();
        allowed.decision = Decision::Allow;
        let ctx = AuditContext::new(Frontend::Check);
        assert!(log.record(&[allowed.clone()], &ctx).unwrap().is_empty());
        assert_eq!(
            log.record(&[allowed.clone(), blocked()], &ctx)
                .unwrap()
                .len(),
            1
        );
        let all = AuditLog::open(
            dir.path(),
            AuditOptions {
                all: true,
                session: Some("s-9".into()),
            },
        )
        .unwrap();
        assert_eq!(all.record(&[allowed], &ctx).unwrap().len(), 1);
        let a = Auditor::open(dir.path()).unwrap();
        assert_eq!(a.size(), 2);
    }
}
