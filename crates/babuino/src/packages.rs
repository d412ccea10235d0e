//! Packages through Sentinel: `babuino run --packages FILE` and the `@pypi` / `@npm` presets.
//!
//! Package installs inside a sandbox reach a registry only through Sentinel's registry proxy, so
//! only packages Sentinel allows can be installed there:
//! 1. [`RegistryService`] runs Sentinel's proxy in this process on `127.0.0.1:0`, with the engine
//!    built exactly as the `sentinel` command line builds it ([`sentinel::embed`]). Its gate is
//!    wrapped ([`RecordingGate`]) so every verdict the proxy acts on is known here: refusals are
//!    reported from Sentinel's judgement, not from pip's or npm's output.
//! 2. The egress proxy routes one reserved virtual host ([`crate::spec::REGISTRY_VHOST`], port 80)
//!    to that loopback address ([`crate::spec::RegistryRoute`]); `PIP_INDEX_URL`,
//!    `PIP_TRUSTED_HOST` and `npm_config_registry` point at it. No other loopback port is
//!    reachable, and registry hosts named directly are refused unless `--unchecked-registry`.
//! 3. [`install`] checks the manifests' direct dependencies with the engine (a blocked name fails
//!    fast), then runs pip / npm in a sandbox of its own (same backend, its own limits) writing
//!    into `/out`; setup.py and install scripts run there, never on the host. The result is
//!    mounted read-only at `/packages` in the program's sandbox and deleted with the run.
//!
//! A refusal or a failed install ends the run before the program starts: exit
//! [`EXIT_PACKAGES`] with one `blocked-package` event per package Sentinel refused.

use crate::backend::{Backend, OutputSink};
use crate::report::{Event, EventKind, Exit, PackageDecision, PackageEntry};
use crate::spec::{self, Interpreter, PackageRegistry, RegistryRoute, RunSpec};
use sentinel::proxy::{Gate, Judgement, Proxy, Query, Registry, judgement_of};
use sentinel::{Decision, Ecosystem, PackageRef, Verdict};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Exit code of `babuino run` when a package was refused by Sentinel or failed to install (the
/// program did not run).
pub const EXIT_PACKAGES: u8 = 120;
/// Default time the install phase may take.
pub const DEFAULT_INSTALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Memory of the install sandbox at least (pip resolving and unpacking wheels needs it).
pub const INSTALL_MIN_MEMORY: u64 = 1 << 30;
/// Size of the install sandbox's `/out` (and `/tmp`) at least.
pub const INSTALL_MIN_TMP: u64 = 1 << 30;
/// Where the installed packages appear in the program's sandbox (read-only).
pub const PACKAGES_MOUNT: &str = "/packages";

/// Errors of the packages phase.
#[derive(Debug, thiserror::Error)]
pub enum PackagesError {
    /// A `--packages` file is missing or not a supported kind (bad input: exit 2).
    #[error("--packages {path}: {why}")]
    Manifest { path: PathBuf, why: String },
    /// Sentinel's policy file is unreadable or invalid (bad input: exit 2).
    #[error("sentinel's policy: {0} (fix it, or point SENTINEL_POLICY at another file)")]
    SentinelPolicy(String),
    /// Sentinel could not be started (its engine, its proxy).
    #[error("cannot start sentinel's registry proxy: {0}")]
    Sentinel(String),
    /// The install phase's working files could not be prepared.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Flags that do not fit together (bad input: exit 2).
    #[error("{0}")]
    Usage(String),
    /// The install sandbox could not run.
    #[error("install phase: {0}")]
    Backend(#[from] crate::backend::BackendError),
}

impl PackagesError {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        PackagesError::Io {
            context: context.into(),
            source,
        }
    }
    /// True for bad input (nothing ran).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            PackagesError::Manifest { .. }
                | PackagesError::Usage(_)
                | PackagesError::SentinelPolicy(_)
        )
    }
}

/// A package list given with `--packages`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file as given.
    pub path: PathBuf,
    /// pip (requirements.txt-style) or npm (package.json).
    pub registry: PackageRegistry,
    /// Its direct dependencies, as Sentinel's manifest readers see them.
    pub direct: Vec<PackageRef>,
    /// Its content (copied into the install sandbox's code directory).
    pub content: Vec<u8>,
}

const SUPPORTED: &str = "supported: a requirements.txt-style file (pip) or a package.json (npm)";

/// Reads a `--packages` file: kind by name (`requirements*.txt`, `package.json`), else by content
/// (a JSON object is a package.json, requirement lines a requirements file).
pub fn read_manifest(path: &Path) -> Result<Manifest, PackagesError> {
    use sentinel::manifest::{self, ManifestKind};
    let bad = |why: String| PackagesError::Manifest {
        path: path.to_path_buf(),
        why,
    };
    let content = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let kind = match ManifestKind::detect(path) {
        Some(k @ (ManifestKind::RequirementsTxt | ManifestKind::PackageJson)) => k,
        Some(other) => {
            return Err(bad(format!("a {other} cannot be installed ({SUPPORTED})")));
        }
        None => sniff(&content).ok_or_else(|| bad(format!("not a package list ({SUPPORTED})")))?,
    };
    let (_, direct) = manifest::parse_path(path, Some(kind)).map_err(|e| bad(e.to_string()))?;
    let registry = match kind {
        ManifestKind::PackageJson => PackageRegistry::Npm,
        _ => PackageRegistry::Pypi,
    };
    Ok(Manifest {
        path: path.to_path_buf(),
        registry,
        direct,
        content,
    })
}

/// Tells a package.json from a requirements file by content.
fn sniff(content: &[u8]) -> Option<sentinel::manifest::ManifestKind> {
    use sentinel::manifest::ManifestKind;
    let text = std::str::from_utf8(content).ok()?;
    if serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object()) {
        return Some(ManifestKind::PackageJson);
    }
    let mut any = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first = line.chars().next()?;
        if !(first.is_ascii_alphanumeric() || first == '-') {
            return None;
        }
        any = true;
    }
    any.then_some(ManifestKind::RequirementsTxt)
}

/// How the proxy acted on a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeenKind {
    /// Asked alone: a page, a file, a tarball, a package document's name check, the pre-check.
    Single,
    /// Every version of an npm document was blocked: the document is refused.
    AllVersionsBlocked,
    /// One version hidden from an npm document whose other versions stayed installable.
    Withheld,
}

/// One verdict the proxy (or the pre-check) acted on.
#[derive(Debug, Clone)]
struct Seen {
    verdict: Verdict,
    kind: SeenKind,
}

/// What to keep of one batch of verdicts: every verdict asked alone; of a document's versions
/// (a batch the proxy filters), only the blocked ones, so a long run with large npm documents
/// keeps little.
fn records(verdicts: &[Verdict], single: bool) -> Vec<Seen> {
    if single {
        return verdicts
            .iter()
            .map(|v| Seen {
                verdict: v.clone(),
                kind: SeenKind::Single,
            })
            .collect();
    }
    let mut out = Vec::new();
    let mut done: Vec<(Ecosystem, String)> = Vec::new();
    for v in verdicts {
        let key = (v.package.ecosystem, v.package.normalized_name());
        if done.contains(&key) {
            continue;
        }
        let of: Vec<&Verdict> = verdicts
            .iter()
            .filter(|w| w.package.ecosystem == key.0 && w.package.normalized_name() == key.1)
            .collect();
        let blocked: Vec<&Verdict> = of
            .iter()
            .filter(|w| w.decision == Decision::Block)
            .copied()
            .collect();
        if !blocked.is_empty() && blocked.len() == of.len() {
            out.push(Seen {
                verdict: blocked[0].clone(),
                kind: SeenKind::AllVersionsBlocked,
            });
        } else {
            out.extend(blocked.into_iter().map(|w| Seen {
                verdict: w.clone(),
                kind: SeenKind::Withheld,
            }));
        }
        done.push(key);
    }
    out
}

/// Rules that make the proxy refuse a package by name, whatever the version (the same list as
/// Sentinel's proxy: other package-level findings only hide the versions they concern).
const NAME_RULES: &[&str] = &["typosquat", "not-found", "invalid-name", "denied-by-policy"];

/// Sentinel's gate with a record of every verdict, so babuino reports what Sentinel refused.
#[derive(Debug)]
pub struct RecordingGate {
    memo: sentinel::memo::MemoEngine,
    seen: Mutex<Vec<Seen>>,
}

fn ecosystem_of(r: Registry) -> Ecosystem {
    match r {
        Registry::Pypi => Ecosystem::Pypi,
        Registry::Npm => Ecosystem::Npm,
    }
}

impl RecordingGate {
    async fn validate(&self, pkgs: &[PackageRef], single: bool) -> Vec<Verdict> {
        let verdicts = self.memo.validate_all(pkgs).await;
        if let Ok(mut seen) = self.seen.lock() {
            seen.extend(records(&verdicts, single));
        }
        verdicts
    }
}

impl Gate for RecordingGate {
    fn judge(&self, queries: Vec<Query>) -> futures::future::BoxFuture<'_, Vec<Judgement>> {
        Box::pin(async move {
            let single = queries.len() == 1;
            let pkgs: Vec<PackageRef> = queries
                .iter()
                .map(|q| PackageRef {
                    ecosystem: ecosystem_of(q.registry),
                    name: q.name.clone(),
                    version: q.version.clone(),
                })
                .collect();
            self.validate(&pkgs, single)
                .await
                .iter()
                .map(judgement_of)
                .collect()
        })
    }
}

/// What Sentinel refused since the last look.
#[derive(Debug, Default)]
pub struct Judged {
    /// Packages refused: a request for them failed (`blocked-package` events).
    pub refused: Vec<Refusal>,
    /// Versions hidden from a package's document while other versions stayed installable.
    pub withheld: Vec<Refusal>,
}

/// Sorts recorded verdicts into refusals and withheld versions, the way the proxy acted on them.
fn classify(seen: &[Seen]) -> (Vec<&Verdict>, Vec<&Verdict>) {
    let mut refused = Vec::new();
    let mut withheld = Vec::new();
    for s in seen {
        let v = &s.verdict;
        if v.decision != Decision::Block {
            continue;
        }
        match s.kind {
            SeenKind::Single => {
                let rule = judgement_of(v).rule;
                if v.package.version.is_some() || NAME_RULES.contains(&rule.as_str()) {
                    refused.push(v);
                }
            }
            SeenKind::AllVersionsBlocked => refused.push(v),
            SeenKind::Withheld => withheld.push(v),
        }
    }
    (refused, withheld)
}

/// A package Sentinel refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub ecosystem: String,
    pub name: String,
    pub version: Option<String>,
    pub rule: String,
    pub reason: String,
    pub suggestion: Option<String>,
}

impl Refusal {
    fn of(v: &Verdict) -> Refusal {
        let j = judgement_of(v);
        Refusal {
            ecosystem: v.package.ecosystem.to_string(),
            name: v.package.name.clone(),
            version: v.package.version.clone(),
            rule: j.rule,
            reason: j.reason,
            suggestion: j.alternative,
        }
    }

    /// The `blocked-package` event detail: `pypi siix: typosquat: … (did you mean six?)`.
    pub fn detail(&self) -> String {
        let mut s = format!("{} {}", self.ecosystem, self.name);
        if let Some(v) = &self.version {
            s.push_str(&format!(" {v}"));
        }
        s.push_str(&format!(": {}: {}", self.rule, self.reason));
        if let Some(alt) = &self.suggestion {
            s.push_str(&format!(" (did you mean {alt}?)"));
        }
        s
    }

    fn entry(&self) -> PackageEntry {
        PackageEntry {
            ecosystem: self.ecosystem.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
            decision: PackageDecision::Block,
            installed: false,
            rule: Some(self.rule.clone()),
            suggestion: self.suggestion.clone(),
        }
    }
}

/// Sentinel's registry proxy running in this process for one `babuino run`.
pub struct RegistryService {
    rt: tokio::runtime::Runtime,
    gate: Arc<RecordingGate>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Verdicts already turned into refusals.
    taken: usize,
    /// Refusals already reported (one event per package, not per request).
    reported: Vec<(String, String)>,
}

impl std::fmt::Debug for RegistryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryService")
            .field("addr", &self.addr)
            .finish()
    }
}

impl RegistryService {
    /// Builds the engine from Sentinel's configuration (policy, cache, registry URLs, advisory
    /// mode, proxy upstreams: see [`sentinel::embed`]) and starts the proxy on `127.0.0.1:0`.
    pub fn start() -> Result<Self, PackagesError> {
        let err = |e: &dyn std::fmt::Display| PackagesError::Sentinel(e.to_string());
        let engine = sentinel::embed::build_engine(&sentinel::embed::EngineOptions::from_env())
            .map_err(|e| match e {
                sentinel::embed::EmbedError::Policy(p) => {
                    PackagesError::SentinelPolicy(p.to_string())
                }
                sentinel::embed::EmbedError::Engine(e) => {
                    PackagesError::Sentinel(format!("starting the engine: {e}"))
                }
            })?;
        let gate = Arc::new(RecordingGate {
            memo: sentinel::memo::MemoEngine::new(engine, sentinel::memo::MEMO_TTL),
            seen: Mutex::new(Vec::new()),
        });
        let proxy = Proxy::new(sentinel::embed::proxy_config_from_env(), gate.clone())
            .map_err(|e| err(&e))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sentinel-proxy")
            .enable_all()
            .build()
            .map_err(|e| err(&e))?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let failed_tx = bound_tx.clone();
        rt.spawn(async move {
            let res = proxy
                .serve(
                    SocketAddr::from(([127, 0, 0, 1], 0)),
                    move |a| {
                        let _ = bound_tx.send(Ok(a));
                    },
                    async move {
                        let _ = stop_rx.await;
                    },
                )
                .await;
            if let Err(e) = res {
                let _ = failed_tx.send(Err(e.to_string()));
            }
        });
        let addr = match bound_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Err(PackagesError::Sentinel(e)),
            Err(_) => {
                return Err(PackagesError::Sentinel(
                    "the proxy did not start within 10 s".into(),
                ));
            }
        };
        Ok(RegistryService {
            rt,
            gate,
            addr,
            stop: Some(stop_tx),
            taken: 0,
            reported: Vec::new(),
        })
    }

    /// Where the proxy listens on the host's loopback.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// One line for the report's `details.sentinel`.
    pub fn describe(&self) -> String {
        format!(
            "registry proxy in process on {} (route http://{}:80 inside the sandbox)",
            self.addr,
            spec::REGISTRY_VHOST
        )
    }

    /// The egress proxy's internal route to this proxy for these registries.
    pub fn route(&self, ecosystems: &[PackageRegistry]) -> RegistryRoute {
        let mut ecosystems = ecosystems.to_vec();
        ecosystems.sort();
        ecosystems.dedup();
        RegistryRoute {
            host: spec::REGISTRY_VHOST.into(),
            port: 80,
            target: self.addr,
            via: "sentinel".into(),
            ecosystems,
        }
    }

    /// Judges packages with the same engine (and memo) the proxy uses.
    pub fn check(&self, pkgs: &[PackageRef]) -> Vec<Verdict> {
        self.rt.block_on(self.gate.validate(pkgs, true))
    }

    /// What Sentinel refused since the last call, one refusal per package and one withheld
    /// entry per version.
    pub fn take(&mut self) -> Judged {
        let seen: Vec<Seen> = match self.gate.seen.lock() {
            Ok(s) => s[self.taken.min(s.len())..].to_vec(),
            Err(_) => Vec::new(),
        };
        self.taken += seen.len();
        let (refused, withheld) = classify(&seen);
        let mut out = Judged::default();
        for v in refused {
            let key = (v.package.ecosystem.to_string(), v.package.normalized_name());
            if !self.reported.contains(&key) {
                self.reported.push(key);
                out.refused.push(Refusal::of(v));
            }
        }
        for v in withheld {
            let key = (
                v.package.ecosystem.to_string(),
                format!(
                    "{}@{}",
                    v.package.normalized_name(),
                    v.package.version.as_deref().unwrap_or("")
                ),
            );
            if !self.reported.contains(&key) {
                self.reported.push(key);
                out.withheld.push(Refusal::of(v));
            }
        }
        out
    }

    /// Sentinel's decision on the installed version of a package (allow when it was never asked
    /// about that version alone, which is what the proxy serves then).
    fn decision_for(&self, eco: Ecosystem, name: &str, version: Option<&str>) -> PackageDecision {
        let norm = eco.normalize(name);
        let Ok(seen) = self.gate.seen.lock() else {
            return PackageDecision::Allow;
        };
        seen.iter()
            .filter(|s| {
                s.kind == SeenKind::Single
                    && s.verdict.package.ecosystem == eco
                    && s.verdict.package.normalized_name() == norm
                    && s.verdict.package.version.as_deref() == version
                    && version.is_some()
            })
            .map(|s| match s.verdict.decision {
                Decision::Allow => PackageDecision::Allow,
                Decision::Warn => PackageDecision::Warn,
                Decision::Block => PackageDecision::Block,
            })
            .next_back()
            .unwrap_or(PackageDecision::Allow)
    }
}

impl Drop for RegistryService {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// What the allow-list asks of the network besides direct hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkRequest {
    /// Registries to route through Sentinel (`@pypi`, `@npm`).
    pub registries: Vec<PackageRegistry>,
    /// Registry hosts allowed directly with `--unchecked-registry` (reported as `degraded`).
    pub unchecked: Vec<String>,
}

/// Adds `--network-allow` entries to the spec. Registry hosts named directly (or covered by a
/// `*.` pattern) are refused unless `unchecked_registry`: they would bypass Sentinel.
pub fn apply_allow_list(
    spec: &mut RunSpec,
    entries: &[String],
    unchecked_registry: bool,
) -> Result<NetworkRequest, spec::SpecError> {
    let mut req = NetworkRequest::default();
    for e in entries {
        match spec::parse_allow_entry(e)? {
            spec::AllowEntry::Registry(r) => {
                if !req.registries.contains(&r) {
                    req.registries.push(r);
                }
            }
            spec::AllowEntry::Hosts(hosts) => {
                for p in hosts {
                    if let Some(h) = spec::registry_host_covered(&p) {
                        if !unchecked_registry {
                            return Err(spec::SpecError::RegistryHost(p.to_string()));
                        }
                        req.unchecked.push(format!(
                            "--unchecked-registry: {p} reaches the registry {h} directly; packages from it are not checked by sentinel"
                        ));
                    }
                    if !spec.network.allow.contains(&p) {
                        spec.network.allow.push(p);
                    }
                }
            }
        }
    }
    Ok(req)
}

/// What `--packages` asks for.
#[derive(Debug, Clone)]
pub struct InstallPlan {
    pub manifests: Vec<Manifest>,
    pub timeout: Duration,
}

impl InstallPlan {
    /// The registries the manifests need.
    pub fn registries(&self) -> Vec<PackageRegistry> {
        let mut r: Vec<PackageRegistry> = self.manifests.iter().map(|m| m.registry).collect();
        r.sort();
        r.dedup();
        r
    }

    /// Checks the plan fits together (one package.json at most).
    pub fn validate(&self) -> Result<(), PackagesError> {
        let npm: Vec<&Manifest> = self
            .manifests
            .iter()
            .filter(|m| m.registry == PackageRegistry::Npm)
            .collect();
        if npm.len() > 1 {
            return Err(PackagesError::Manifest {
                path: npm[1].path.clone(),
                why: "only one package.json can be installed per run".into(),
            });
        }
        Ok(())
    }
}

/// The install plan of `--packages` (and `--install-timeout`), or `None` without packages.
pub fn plan_from_args(
    files: &[PathBuf],
    install_timeout: Option<&str>,
    spec: &RunSpec,
) -> Result<Option<InstallPlan>, PackagesError> {
    if files.is_empty() {
        if install_timeout.is_some() {
            return Err(PackagesError::Usage(
                "--install-timeout needs --packages FILE".into(),
            ));
        }
        return Ok(None);
    }
    if spec.backend == crate::spec::BackendKind::Kvm {
        return Err(PackagesError::Usage(
            "--packages is not supported with --sandbox kvm yet (the micro-VM's guest has no pip or npm and cannot mount /packages); use the native backend, or --network-allow @pypi / @npm inside the VM"
                .into(),
        ));
    }
    let timeout = match install_timeout {
        Some(t) => spec::parse_duration(t)
            .map_err(|e| PackagesError::Usage(format!("--install-timeout: {e}")))?,
        None => DEFAULT_INSTALL_TIMEOUT,
    };
    let manifests = files
        .iter()
        .map(|f| read_manifest(f))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = InstallPlan { manifests, timeout };
    plan.validate()?;
    Ok(Some(plan))
}

/// The packages side of one `babuino run`: Sentinel's proxy, the install plan and what happened,
/// so the command line only calls [`Session::new`], [`Session::start`], [`Session::prepare`]
/// and [`Session::complete`].
#[derive(Debug)]
pub struct Session {
    plan: Option<InstallPlan>,
    net: NetworkRequest,
    svc: Option<RegistryService>,
    pre_events: Vec<Event>,
    installed: Option<Installed>,
    started: Instant,
}

impl Session {
    /// Reads the `--packages` files and checks the flags fit (bad input is an error with
    /// [`PackagesError::is_usage`]); starts nothing yet.
    pub fn new(
        files: &[PathBuf],
        install_timeout: Option<&str>,
        net: NetworkRequest,
        spec: &RunSpec,
    ) -> Result<Session, PackagesError> {
        Ok(Session {
            plan: plan_from_args(files, install_timeout, spec)?,
            net,
            svc: None,
            pre_events: Vec::new(),
            installed: None,
            started: Instant::now(),
        })
    }

    /// Starts Sentinel's proxy when packages or `@pypi`/`@npm` need it and routes the presets
    /// in `spec`. Starts threads: call after blocking signals.
    pub fn start(&mut self, spec: &mut RunSpec) -> Result<(), PackagesError> {
        if self.plan.is_none() && self.net.registries.is_empty() {
            return Ok(());
        }
        let svc = RegistryService::start()?;
        if !self.net.registries.is_empty() {
            spec.network.registry = Some(svc.route(&self.net.registries));
        }
        self.svc = Some(svc);
        Ok(())
    }

    /// Reports `--unchecked-registry` and runs the install phase of `--packages`. `Some(report)`
    /// when the program must not run (a refusal: exit 120); otherwise `spec` now mounts the
    /// packages at `/packages`.
    pub fn prepare(
        &mut self,
        backend: &dyn Backend,
        spec: &mut RunSpec,
        sink: &mut dyn OutputSink,
        install_sink: &mut dyn OutputSink,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Option<crate::report::RunReport>, PackagesError> {
        self.started = Instant::now();
        for note in &self.net.unchecked {
            let ev = event(self.started, EventKind::Degraded, note.clone());
            sink.event(&ev);
            self.pre_events.push(ev);
        }
        let (Some(plan), Some(svc)) = (&self.plan, self.svc.as_mut()) else {
            return Ok(None);
        };
        match install(backend, spec, plan, svc, install_sink, progress)? {
            InstallOutcome::Installed(i) => {
                i.apply(spec);
                self.installed = Some(i);
                Ok(None)
            }
            InstallOutcome::NotInstalled(n) => {
                let mut report = crate::report::RunReport::new(
                    crate::report::new_run_id(),
                    backend.kind(),
                    spec.display_name(),
                    spec.limits.clone(),
                    spec.network.clone(),
                );
                report.set_exit(n.exit);
                report.events = std::mem::take(&mut self.pre_events);
                report.events.extend(n.events);
                report.packages = n.packages;
                report
                    .details
                    .insert("sentinel".into(), svc.describe().into());
                report.timings.install_ms = Some(n.install_ms);
                report.timings.total_ms = n.install_ms;
                Ok(Some(report))
            }
        }
    }

    /// Completes the program's report (see [`merge_into_report`]); the installed packages are
    /// deleted when the session is dropped.
    pub fn complete(&mut self, report: &mut crate::report::RunReport, sink: &mut dyn OutputSink) {
        let pre = std::mem::take(&mut self.pre_events);
        match self.svc.as_mut() {
            Some(svc) => merge_into_report(
                report,
                pre,
                self.installed.as_ref(),
                svc,
                sink,
                self.started,
            ),
            None if !pre.is_empty() => {
                let mut events = pre;
                events.append(&mut report.events);
                report.events = events;
            }
            None => {}
        }
    }
}

/// Completes the program's report: the install phase's events and packages, and what Sentinel
/// refused while the program ran (its own pip/npm through `@pypi`/`@npm`).
fn merge_into_report(
    report: &mut crate::report::RunReport,
    pre_events: Vec<Event>,
    installed: Option<&Installed>,
    svc: &mut RegistryService,
    sink: &mut dyn OutputSink,
    started: Instant,
) {
    let mut events = pre_events;
    let mut packages = Vec::new();
    report
        .details
        .insert("sentinel".into(), svc.describe().into());
    if let Some(i) = installed {
        events.extend(i.events.iter().cloned());
        packages.extend(i.packages.iter().cloned());
        report.timings.install_ms = Some(i.install_ms);
        report.timings.total_ms += i.install_ms;
    }
    events.append(&mut report.events);
    let judged = svc.take();
    for r in judged.refused {
        let ev = event(started, EventKind::BlockedPackage, r.detail());
        sink.event(&ev);
        events.push(ev);
        packages.push(r.entry());
    }
    for w in judged.withheld {
        let ev = event(
            started,
            EventKind::Info,
            format!("sentinel withheld {}", w.detail()),
        );
        sink.event(&ev);
        events.push(ev);
        packages.push(w.entry());
    }
    report.events = events;
    report.packages = packages;
}

/// The install phase's host directory, `$TMPDIR/babuino-packages-<id>` (on disk: the runtime
/// directory is often a small tmpfs), mode 0700. A state entry `<id>-packages` in babuino's
/// runtime directory names it with an `owner` file, so the next babuino reaps it if this one is
/// killed ([`crate::native::reap_leftovers`]); both are deleted when the run ends.
#[derive(Debug)]
struct WorkDir {
    path: PathBuf,
    state: PathBuf,
}

impl WorkDir {
    fn create() -> std::io::Result<WorkDir> {
        use std::os::unix::fs::DirBuilderExt;
        let id = crate::report::new_run_id();
        let rt = crate::native::runtime_dir();
        std::fs::create_dir_all(&rt)?;
        let state = rt.join(format!("{id}-packages"));
        std::fs::create_dir(&state)?;
        let path = std::env::temp_dir().join(format!("{}{id}", crate::native::SCRATCH_PREFIX));
        let w = WorkDir {
            path: path.clone(),
            state: state.clone(),
        };
        std::fs::write(state.join("scratch"), path.as_os_str().as_encoded_bytes())?;
        std::fs::write(state.join("owner"), crate::native::owner_line())?;
        // Fails if the name exists: a random id nobody could have created beforehand.
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(w)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// Packages installed for the program.
#[derive(Debug)]
pub struct Installed {
    /// Keeps the host directory alive until the run is over (deleted on drop).
    _work: WorkDir,
    /// Host directory mounted at [`PACKAGES_MOUNT`].
    pub dir: PathBuf,
    /// What was installed (and refused), for the report.
    pub packages: Vec<PackageEntry>,
    /// Install-phase events for the report.
    pub events: Vec<Event>,
    pub install_ms: f64,
    /// Registries installed for (decides `PYTHONPATH` / `NODE_PATH`).
    pub registries: Vec<PackageRegistry>,
}

impl Installed {
    /// Mounts the packages read-only at `/packages` and points Python and Node at them.
    pub fn apply(&self, spec: &mut RunSpec) {
        spec.mounts.push(spec::ReadOnlyMount {
            host: self.dir.clone(),
            sandbox: PathBuf::from(PACKAGES_MOUNT),
        });
        for r in &self.registries {
            let (var, path) = match r {
                PackageRegistry::Pypi => ("PYTHONPATH", format!("{PACKAGES_MOUNT}/python")),
                PackageRegistry::Npm => {
                    ("NODE_PATH", format!("{PACKAGES_MOUNT}/node/node_modules"))
                }
            };
            let value = match spec.env.get(var) {
                Some(user) if !user.is_empty() => format!("{path}:{user}"),
                _ => path,
            };
            spec.env.insert(var.to_string(), value);
        }
    }
}

/// The install phase did not give the program its packages.
#[derive(Debug)]
pub struct NotInstalled {
    /// How the run ends: [`Exit::PackagesRefused`] (exit 120), or [`Exit::SetupFailed`] when the
    /// install sandbox itself could not be built.
    pub exit: Exit,
    pub packages: Vec<PackageEntry>,
    pub events: Vec<Event>,
    pub install_ms: f64,
}

/// The outcome of [`install`].
#[derive(Debug)]
pub enum InstallOutcome {
    Installed(Installed),
    NotInstalled(NotInstalled),
}

fn event(started: Instant, kind: EventKind, detail: String) -> Event {
    Event {
        time_ms: started.elapsed().as_millis() as u64,
        kind,
        detail,
    }
}

/// The shell script the install sandbox runs (every path inside the sandbox; nothing from the
/// manifests is interpolated: they are files in the read-only `/code`).
fn install_script(plan: &InstallPlan, names: &[String]) -> String {
    let mut s = String::from("set -e\n");
    let reqs: Vec<&String> = plan
        .manifests
        .iter()
        .zip(names)
        .filter(|(m, _)| m.registry == PackageRegistry::Pypi)
        .map(|(_, n)| n)
        .collect();
    if !reqs.is_empty() {
        s.push_str("mkdir -p /out/python\n");
        s.push_str(
            "python3 -m pip install --no-cache-dir --disable-pip-version-check --no-input \
             --progress-bar off --retries 1 --target /out/python",
        );
        for r in reqs {
            s.push_str(&format!(" -r /code/{r}"));
        }
        s.push('\n');
    }
    if let Some((_, n)) = plan
        .manifests
        .iter()
        .zip(names)
        .find(|(m, _)| m.registry == PackageRegistry::Npm)
    {
        s.push_str(&format!(
            "mkdir -p /out/node\ncp /code/{n} /out/node/package.json\n\
             npm install --prefix /out/node --no-audit --no-fund --no-update-notifier \
             --loglevel=http\n"
        ));
    }
    s
}

/// Runs the install phase: pre-check of direct dependencies, then pip/npm in their own sandbox
/// through Sentinel's proxy. `progress` receives human progress lines.
pub fn install(
    backend: &dyn Backend,
    base: &RunSpec,
    plan: &InstallPlan,
    svc: &mut RegistryService,
    sink: &mut dyn OutputSink,
    progress: &mut dyn FnMut(&str),
) -> Result<InstallOutcome, PackagesError> {
    let started = Instant::now();
    let mut events = Vec::new();
    let direct: Vec<PackageRef> = plan
        .manifests
        .iter()
        .flat_map(|m| m.direct.iter().cloned())
        .collect();
    progress(&format!(
        "packages: checking {} direct dependenc{} with sentinel",
        direct.len(),
        if direct.len() == 1 { "y" } else { "ies" }
    ));
    svc.check(&direct);
    let refused = svc.take().refused;
    if !refused.is_empty() {
        let mut packages = Vec::new();
        for r in &refused {
            let ev = event(started, EventKind::BlockedPackage, r.detail());
            sink.event(&ev);
            events.push(ev);
            packages.push(r.entry());
        }
        return Ok(InstallOutcome::NotInstalled(NotInstalled {
            exit: Exit::PackagesRefused(refused_summary(&refused)),
            packages,
            events,
            install_ms: ms(started.elapsed()),
        }));
    }
    let work =
        WorkDir::create().map_err(|e| PackagesError::io("create the install directory", e))?;
    let code = work.path.join("code");
    let out = work.path.join("out");
    std::fs::create_dir(&code).map_err(|e| PackagesError::io("create the install code dir", e))?;
    let mut names = Vec::new();
    for (i, m) in plan.manifests.iter().enumerate() {
        let name = match m.registry {
            PackageRegistry::Pypi => format!("requirements-{}.txt", i + 1),
            PackageRegistry::Npm => "package.json".to_string(),
        };
        std::fs::write(code.join(&name), &m.content)
            .map_err(|e| PackagesError::io(format!("copy {}", m.path.display()), e))?;
        names.push(name);
    }
    let script = code.join("install.sh");
    std::fs::write(&script, install_script(plan, &names))
        .map_err(|e| PackagesError::io("write the install script", e))?;
    let mut spec = RunSpec::for_program(&script, Some(Interpreter::Sh))
        .map_err(crate::backend::BackendError::from)?;
    spec.backend = base.backend;
    spec.output_dir = Some(out.clone());
    spec.limits = base.limits.clone();
    spec.limits.timeout = plan.timeout;
    spec.limits.memory_bytes = spec.limits.memory_bytes.max(INSTALL_MIN_MEMORY);
    spec.limits.tmp_bytes = spec.limits.tmp_bytes.max(INSTALL_MIN_TMP);
    spec.limits.pids = spec.limits.pids.max(512);
    spec.network.registry = Some(svc.route(&plan.registries()));
    // pip's advice to use a virtual environment does not apply to a throw-away sandbox.
    spec.env
        .insert("PIP_ROOT_USER_ACTION".into(), "ignore".into());
    progress(&format!(
        "packages: installing {} in a sandbox of their own ({} MiB, {} s, registry only through sentinel)",
        plan.manifests
            .iter()
            .map(|m| m.path.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        spec.limits.memory_bytes >> 20,
        spec.limits.timeout.as_secs()
    ));
    // Every request of pip/npm is an allowed connect to the route: kept in the report, not
    // printed as progress.
    let report = backend.run(&spec, &mut NoConnectLines(sink))?;
    for mut ev in report.events {
        ev.detail = format!("install: {}", ev.detail);
        events.push(ev);
    }
    let judged = svc.take();
    let install_ms = ms(started.elapsed());
    let failed = match &report.exit {
        Exit::Code(0) => None,
        other => Some(other.clone()),
    };
    // When the install failed, versions Sentinel withheld are refusals too: they are why no
    // acceptable version was left (`npm install is-number@~7.0.1` when 7.0.1 is withheld).
    let (refused, withheld) = if failed.is_some() {
        let mut all = judged.refused;
        all.extend(judged.withheld);
        (all, Vec::new())
    } else {
        (judged.refused, judged.withheld)
    };
    let mut packages: Vec<PackageEntry> = Vec::new();
    for r in &refused {
        let ev = event(started, EventKind::BlockedPackage, r.detail());
        sink.event(&ev);
        events.push(ev);
        packages.push(r.entry());
    }
    let mut withheld_entries = Vec::new();
    for w in &withheld {
        let ev = event(
            started,
            EventKind::Info,
            format!("sentinel withheld {}", w.detail()),
        );
        sink.event(&ev);
        events.push(ev);
        withheld_entries.push(w.entry());
    }
    let ended = match &failed {
        Some(Exit::SetupFailed(why)) => Some(Exit::SetupFailed(format!("install sandbox: {why}"))),
        // babuino itself was interrupted: its exit says so (130, 143), not "refused".
        Some(e @ Exit::Signal(_)) if crate::backend::interrupted().is_some() => Some(e.clone()),
        _ => None,
    };
    if let Some(exit) = ended {
        return Ok(InstallOutcome::NotInstalled(NotInstalled {
            exit,
            packages,
            events,
            install_ms,
        }));
    }
    if !refused.is_empty() || failed.is_some() {
        let why = if refused.is_empty() {
            format!(
                "the install failed ({})",
                failed.map(|e| e.describe()).unwrap_or_default()
            )
        } else {
            refused_summary(&refused)
        };
        return Ok(InstallOutcome::NotInstalled(NotInstalled {
            exit: Exit::PackagesRefused(why),
            packages,
            events,
            install_ms,
        }));
    }
    let mut installed = scan_installed(&out);
    for p in &mut installed {
        let eco = if p.ecosystem == "npm" {
            Ecosystem::Npm
        } else {
            Ecosystem::Pypi
        };
        p.decision = svc.decision_for(eco, &p.name, p.version.as_deref());
    }
    progress(&format!(
        "packages: installed {} in {:.1} s, mounted read-only at {PACKAGES_MOUNT}",
        if installed.is_empty() {
            "nothing".to_string()
        } else {
            installed
                .iter()
                .map(|p| format!("{} {}", p.name, p.version.as_deref().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", ")
        },
        install_ms / 1000.0
    ));
    packages.extend(installed);
    packages.extend(withheld_entries);
    if !out.exists() {
        std::fs::create_dir(&out).map_err(|e| PackagesError::io("create the packages dir", e))?;
    }
    Ok(InstallOutcome::Installed(Installed {
        dir: out,
        _work: work,
        packages,
        events,
        install_ms,
        registries: plan.registries(),
    }))
}

/// Passes output and events on, except `allowed-connect` events (the install's registry requests).
struct NoConnectLines<'a>(&'a mut dyn OutputSink);

impl OutputSink for NoConnectLines<'_> {
    fn output(&mut self, stream: crate::backend::Stream, data: &[u8]) {
        self.0.output(stream, data);
    }
    fn event(&mut self, event: &Event) {
        if event.kind != EventKind::AllowedConnect {
            self.0.event(event);
        }
    }
}

fn refused_summary(refused: &[Refusal]) -> String {
    format!(
        "sentinel refused {}",
        refused
            .iter()
            .map(|r| format!("{} {}", r.ecosystem, r.name))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Packages found in an install directory: `python/*.dist-info` and `node/node_modules/*`.
pub fn scan_installed(out: &Path) -> Vec<PackageEntry> {
    let mut found = Vec::new();
    let entry = |eco: &str, name: String, version: Option<String>| PackageEntry {
        ecosystem: eco.to_string(),
        name,
        version,
        decision: PackageDecision::Allow,
        installed: true,
        rule: None,
        suggestion: None,
    };
    if let Ok(rd) = std::fs::read_dir(out.join("python")) {
        let mut dirs: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "dist-info"))
            .collect();
        dirs.sort();
        for d in dirs {
            let meta = std::fs::read_to_string(d.join("METADATA")).unwrap_or_default();
            let field = |k: &str| {
                meta.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
            };
            if let Some(name) = field("Name:") {
                found.push(entry("pypi", name, field("Version:")));
            }
        }
    }
    let nm = out.join("node/node_modules");
    let mut pkg_dirs = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&nm) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with('.') {
                continue;
            }
            if n.starts_with('@') {
                if let Ok(scoped) = std::fs::read_dir(e.path()) {
                    pkg_dirs.extend(scoped.flatten().map(|s| s.path()));
                }
            } else {
                pkg_dirs.push(e.path());
            }
        }
    }
    pkg_dirs.sort();
    for d in pkg_dirs {
        let Ok(text) = std::fs::read_to_string(d.join("package.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if let Some(name) = v["name"].as_str() {
            found.push(entry(
                "npm",
                name.to_string(),
                v["version"].as_str().map(str::to_string),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_recognised_by_name_and_content() {
        let d = tempfile::tempdir().unwrap();
        let req = d.path().join("requirements.txt");
        std::fs::write(&req, "# deps\nsix==1.17.0\nrequests>=2\n").unwrap();
        let m = read_manifest(&req).unwrap();
        assert_eq!(m.registry, PackageRegistry::Pypi);
        let names: Vec<&str> = m.direct.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["six", "requests"]);
        let deps = d.path().join("deps");
        std::fs::write(&deps, "six\n").unwrap();
        assert_eq!(
            read_manifest(&deps).unwrap().registry,
            PackageRegistry::Pypi
        );
        let pj = d.path().join("web.json");
        std::fs::write(&pj, r#"{"dependencies":{"is-number":"^7.0.0"}}"#).unwrap();
        let m = read_manifest(&pj).unwrap();
        assert_eq!(m.registry, PackageRegistry::Npm);
        assert_eq!(m.direct[0].name, "is-number");
        for (name, text) in [
            ("Cargo.toml", "[package]\nname='x'\n"),
            ("notes.md", "* not a list\n"),
            ("empty", ""),
        ] {
            let p = d.path().join(name);
            std::fs::write(&p, text).unwrap();
            let e = read_manifest(&p).unwrap_err();
            assert!(e.is_usage(), "{name}");
            assert!(e.to_string().contains("requirements.txt-style"), "{e}");
        }
        assert!(
            read_manifest(&d.path().join("missing.txt"))
                .unwrap_err()
                .is_usage()
        );
    }

    fn verdict(name: &str, version: Option<&str>, block: Option<&str>) -> Verdict {
        let findings = block
            .map(|code| {
                vec![sentinel::Finding {
                    code: code.into(),
                    severity: sentinel::Severity::High,
                    action: Decision::Block,
                    message: format!("{code} message"),
                    evidence: serde_json::Value::Null,
                }]
            })
            .unwrap_or_default();
        Verdict {
            package: PackageRef {
                ecosystem: Ecosystem::Npm,
                name: name.into(),
                version: version.map(str::to_string),
            },
            decision: if block.is_some() {
                Decision::Block
            } else {
                Decision::Allow
            },
            findings,
            suggestions: Vec::new(),
            metadata: None,
        }
    }

    #[test]
    fn refusals_follow_what_the_proxy_did_with_each_verdict() {
        let mut seen = Vec::new();
        // Name checks asked alone: only name rules refuse the package by name.
        seen.extend(records(
            &[verdict("is-numbr", None, Some("typosquat"))],
            true,
        ));
        seen.extend(records(
            &[verdict("is-number", None, Some("install-scripts"))],
            true,
        ));
        // A document's versions: one hidden, others served; another document fully blocked.
        seen.extend(records(
            &[
                verdict("is-number", Some("7.0.0"), None),
                verdict("is-number", Some("7.0.1"), Some("install-scripts")),
                verdict("evil", Some("1.0.0"), Some("install-scripts")),
                verdict("evil", Some("1.0.1"), Some("install-scripts")),
            ],
            false,
        ));
        // A tarball (one version, asked alone) that is blocked.
        seen.extend(records(
            &[verdict("left-pad", Some("9.9.9"), Some("young-package"))],
            true,
        ));
        assert_eq!(seen.len(), 5, "allowed versions of a document are not kept");
        let (refused, withheld) = classify(&seen);
        let names = |v: &[&Verdict]| -> Vec<String> {
            v.iter()
                .map(|v| {
                    format!(
                        "{}@{}",
                        v.package.name,
                        v.package.version.as_deref().unwrap_or("")
                    )
                })
                .collect()
        };
        assert_eq!(
            names(&refused),
            ["is-numbr@", "evil@1.0.0", "left-pad@9.9.9"]
        );
        assert_eq!(names(&withheld), ["is-number@7.0.1"]);
    }

    #[test]
    fn registry_hosts_need_the_explicit_opt_out() {
        let mut s = RunSpec::for_command("sh").unwrap();
        let e = apply_allow_list(&mut s, &["pypi.org".into()], false).unwrap_err();
        assert!(
            e.to_string().contains("use --network-allow @pypi or @npm"),
            "{e}"
        );
        assert!(apply_allow_list(&mut s, &["*.npmjs.org".into()], false).is_err());
        assert!(s.network.allow.is_empty());
        let r = apply_allow_list(
            &mut s,
            &[
                "@pypi".into(),
                "@npm".into(),
                "@crates".into(),
                "api.github.com".into(),
            ],
            false,
        )
        .unwrap();
        assert_eq!(r.registries, [PackageRegistry::Pypi, PackageRegistry::Npm]);
        assert!(r.unchecked.is_empty());
        assert!(s.network.allows("static.crates.io", 443));
        assert!(!s.network.allows("pypi.org", 443));
        let r = apply_allow_list(&mut s, &["pypi.org".into()], true).unwrap();
        assert_eq!(r.unchecked.len(), 1);
        assert!(s.network.allows("pypi.org", 443));
    }

    #[test]
    fn the_install_script_only_names_files_in_code() {
        let d = tempfile::tempdir().unwrap();
        let req = d.path().join("requirements.txt");
        std::fs::write(&req, "six\n").unwrap();
        let pj = d.path().join("package.json");
        std::fs::write(&pj, "{}").unwrap();
        let plan = InstallPlan {
            manifests: vec![read_manifest(&req).unwrap(), read_manifest(&pj).unwrap()],
            timeout: DEFAULT_INSTALL_TIMEOUT,
        };
        let s = install_script(&plan, &["requirements-1.txt".into(), "package.json".into()]);
        assert!(
            s.contains("--target /out/python -r /code/requirements-1.txt"),
            "{s}"
        );
        assert!(s.contains("npm install --prefix /out/node"), "{s}");
        assert_eq!(
            plan.registries(),
            [PackageRegistry::Pypi, PackageRegistry::Npm]
        );
        let two = InstallPlan {
            manifests: vec![plan.manifests[1].clone(), plan.manifests[1].clone()],
            timeout: DEFAULT_INSTALL_TIMEOUT,
        };
        assert!(two.validate().is_err());
    }

    #[test]
    fn installed_packages_are_read_from_their_metadata() {
        let d = tempfile::tempdir().unwrap();
        let di = d.path().join("python/six-1.17.0.dist-info");
        std::fs::create_dir_all(&di).unwrap();
        std::fs::write(
            di.join("METADATA"),
            "Metadata-Version: 2.1\nName: six\nVersion: 1.17.0\n\nbody Name: x\n",
        )
        .unwrap();
        let nm = d.path().join("node/node_modules");
        std::fs::create_dir_all(nm.join("is-number")).unwrap();
        std::fs::write(
            nm.join("is-number/package.json"),
            r#"{"name":"is-number","version":"7.0.0"}"#,
        )
        .unwrap();
        std::fs::create_dir_all(nm.join("@types/node")).unwrap();
        std::fs::write(
            nm.join("@types/node/package.json"),
            r#"{"name":"@types/node","version":"1.0.0"}"#,
        )
        .unwrap();
        std::fs::create_dir_all(nm.join(".bin")).unwrap();
        let found = scan_installed(d.path());
        let got: Vec<(String, String, Option<String>)> = found
            .iter()
            .map(|p| (p.ecosystem.clone(), p.name.clone(), p.version.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("pypi".into(), "six".into(), Some("1.17.0".into())),
                ("npm".into(), "@types/node".into(), Some("1.0.0".into())),
                ("npm".into(), "is-number".into(), Some("7.0.0".into())),
            ]
        );
    }
}
