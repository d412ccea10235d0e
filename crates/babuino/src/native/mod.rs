//! The native backend: Linux user, mount, PID, network, IPC, UTS and cgroup namespaces, a fresh
//! read-only root, seccomp, Landlock, capabilities dropped, cgroup limits and rlimits.
//!
//! Host side (this module): creates the run's state directory and cgroups, starts the egress
//! proxy when hosts are allowed, re-executes `babuino` as the sandbox init ([`init`]), streams
//! the program's output, enforces the timeout and output cap, then tears everything down and
//! writes the report. State lives in a runtime directory so a later run can reap what a killed
//! `babuino` left behind ([`reap_leftovers`]).

pub mod init;
pub mod seccomp;

use crate::backend::{Backend, BackendError, OutputSink, Stream};
use crate::cgroup::{self, RunCgroups};
use crate::egress::{EgressProxy, ProxyListen, ProxyOptions};
use crate::report::{Event, EventKind, Exit, RunReport, new_run_id};
use crate::spec::{BackendKind, RunSpec};
use init::{INIT_ARG, InitConfig, InitMsg, PROXY_PORT};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Events kept in one report; more are counted, not stored (a program can deny itself in a loop).
pub const MAX_EVENTS: usize = 1000;
/// Extra time allowed for building the sandbox, on top of the run's timeout.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the sandbox may take to stop (and copy `/out`) after it is told to.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The Landlock ABI version of the running kernel, or the errno saying why there is none.
pub fn landlock_abi() -> Result<i64, i32> {
    crate::sys::landlock_abi()
}

/// The runtime directory holding per-run state (`BABUINO_RUNTIME_DIR` overrides).
pub fn runtime_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BABUINO_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/babuino");
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| Path::new(x).is_absolute()) {
        return PathBuf::from(x).join("babuino");
    }
    PathBuf::from(format!("/tmp/babuino-{}", nix::unistd::geteuid()))
}

fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The `owner` line of a state directory: this process's pid and start time. A directory whose
/// owner is gone is removed by [`reap_leftovers`].
pub(crate) fn owner_line() -> String {
    let me = std::process::id();
    format!("{me} {}", process_start_time(me).unwrap_or(0))
}

fn owner_alive(owner: &str) -> bool {
    let mut it = owner.split_whitespace();
    let (Some(pid), Some(start)) = (it.next(), it.next()) else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    process_start_time(pid) == Some(start)
}

/// Name prefix of scratch directories outside the runtime directory (the installed packages of
/// `--packages`, in the temporary directory); a state entry names one in its `scratch` file.
pub const SCRATCH_PREFIX: &str = "babuino-packages-";

/// The scratch directory a state entry names, if it is one babuino makes (an absolute path whose
/// last component has [`SCRATCH_PREFIX`]; nothing else is ever deleted from there).
fn scratch_dir(state: &Path) -> Option<PathBuf> {
    let raw = fs::read(state.join("scratch")).ok()?;
    let p = PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&raw));
    let name = p.file_name()?.to_str()?;
    (p.is_absolute()
        && name.starts_with(SCRATCH_PREFIX)
        && p.components().all(|c| !matches!(c, Component::ParentDir)))
    .then_some(p)
}

/// Removes what runs whose `babuino` died left behind: kills their processes, removes their
/// cgroups and state directories. Returns the ids reaped.
pub fn reap_leftovers(dir: &Path) -> Vec<String> {
    let mut reaped = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return reaped;
    };
    for e in rd.flatten() {
        let path = e.path();
        let owner = fs::read_to_string(path.join("owner")).unwrap_or_default();
        if owner_alive(&owner) {
            continue;
        }
        // A run that is still being created has no owner file yet: leave young ones alone.
        if owner.is_empty()
            && e.metadata()
                .and_then(|m| m.modified())
                .map(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(60))
                .unwrap_or(true)
        {
            continue;
        }
        let mut cgroups: Vec<PathBuf> = fs::read_to_string(path.join("cgroups"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("/sys/fs/cgroup/") && !l.contains(".."))
            .map(PathBuf::from)
            .collect();
        if cgroups.is_empty() {
            // Killed before it recorded them: look where they would be.
            cgroups = cgroup::candidate_dirs(&e.file_name().to_string_lossy());
        }
        cgroup::reap_dirs(&cgroups);
        if let Some(scratch) = scratch_dir(&path) {
            let _ = fs::remove_dir_all(scratch);
        }
        let _ = fs::remove_dir_all(&path);
        reaped.push(e.file_name().to_string_lossy().into_owned());
    }
    reaped
}

/// The native backend.
#[derive(Debug, Default)]
pub struct NativeBackend {
    /// Proxy options (resolver overrides for tests).
    pub proxy_options: ProxyOptions,
}

enum Msg {
    Out(Stream, Vec<u8>),
    Closed,
    Init(InitMsg),
    Event(Event),
    Proxy(Event),
    Output(String),
}

fn spawn_reader(mut r: impl Read + Send + 'static, stream: Stream, tx: mpsc::Sender<Msg>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(Msg::Out(stream, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(Msg::Closed);
    });
}

/// A relative path made only of normal components (no `..`, no root).
fn safe_rel(p: &str) -> Option<PathBuf> {
    let path = Path::new(p);
    if path.components().all(|c| matches!(c, Component::Normal(_))) && !p.is_empty() {
        Some(path.to_path_buf())
    } else {
        None
    }
}

/// Writes one file received from the sandbox under `out`, never following links on the host.
fn write_output(out: &Path, rel: &Path, data: &mut dyn Read, size: u64) -> Result<(), String> {
    let mut dir = out.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            dir.push(c);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err("a non-directory is in the way".into()),
                Err(_) => fs::create_dir(&dir).map_err(|e| e.to_string())?,
            }
        }
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(out.join(rel))
        .map_err(|e| e.to_string())?;
    let n = std::io::copy(&mut data.take(size), &mut f).map_err(|e| e.to_string())?;
    if n != size {
        // The sandbox died mid-file: do not leave a truncated file that looks complete.
        drop(f);
        let _ = fs::remove_file(out.join(rel));
        return Err(format!("truncated at {n} of {size} bytes"));
    }
    Ok(())
}

fn spawn_channel_reader(r: fs::File, out: Option<PathBuf>, tx: mpsc::Sender<Msg>) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let Ok(msg) = serde_json::from_str::<InitMsg>(&line) else {
                continue;
            };
            if let InitMsg::File { path, size } = &msg {
                let target = out.as_ref().zip(safe_rel(path));
                let result = match &target {
                    Some((o, rel)) => write_output(o, rel, &mut r, *size),
                    None => Err("unsafe path".into()),
                };
                // Whatever happened, consume the file's bytes to stay in sync.
                if result.is_err() {
                    let _ = std::io::copy(&mut (&mut r).take(*size), &mut std::io::sink());
                }
                let m = match result {
                    Ok(()) => Msg::Output(path.clone()),
                    Err(why) => Msg::Event(Event {
                        time_ms: 0,
                        kind: EventKind::OutputSkipped,
                        detail: format!("{path} ({why})"),
                    }),
                };
                let _ = tx.send(m);
                continue;
            }
            if tx.send(Msg::Init(msg)).is_err() {
                break;
            }
        }
        let _ = tx.send(Msg::Closed);
    });
}

struct Run<'a> {
    report: RunReport,
    started: Instant,
    sink: &'a mut dyn OutputSink,
    dropped_events: u64,
}

impl Run<'_> {
    fn event(&mut self, mut ev: Event) {
        ev.time_ms = self.started.elapsed().as_millis() as u64;
        if self.report.events.len() >= MAX_EVENTS {
            self.dropped_events += 1;
            return;
        }
        self.sink.event(&ev);
        self.report.events.push(ev);
    }
    fn note(&mut self, kind: EventKind, detail: impl Into<String>) {
        self.event(Event {
            time_ms: 0,
            kind,
            detail: detail.into(),
        });
    }
}

impl Backend for NativeBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Native
    }

    fn available(&self) -> Result<(), String> {
        if !Path::new("/proc/self/ns/user").exists() {
            return Err("the kernel has no user namespaces".into());
        }
        if let Ok(v) = fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone")
            && v.trim() == "0"
            && !nix::unistd::geteuid().is_root()
        {
            return Err(
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)"
                    .into(),
            );
        }
        Ok(())
    }

    fn run(&self, spec: &RunSpec, sink: &mut dyn OutputSink) -> Result<RunReport, BackendError> {
        let started = Instant::now();
        let id = new_run_id();
        let rt = runtime_dir();
        fs::create_dir_all(&rt)
            .map_err(|e| BackendError::io(format!("create {}", rt.display()), e))?;
        let _ = fs::set_permissions(&rt, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let reaped = reap_leftovers(&rt);
        let state = rt.join(&id);
        fs::create_dir(&state)
            .map_err(|e| BackendError::io(format!("create {}", state.display()), e))?;
        fs::write(state.join("owner"), owner_line())
            .map_err(|e| BackendError::io("write run owner", e))?;
        let mut run = Run {
            report: RunReport::new(
                id.clone(),
                BackendKind::Native,
                spec.display_name(),
                spec.limits.clone(),
                spec.network.clone(),
            ),
            started,
            sink,
            dropped_events: 0,
        };
        if !reaped.is_empty() {
            run.note(
                EventKind::Info,
                format!(
                    "cleaned up {} run(s) left behind by a killed babuino",
                    reaped.len()
                ),
            );
        }
        let result = self.run_in(spec, &state, &mut run);
        let teardown = Instant::now();
        let _ = fs::remove_dir_all(&state);
        if run.dropped_events > 0 {
            let n = run.dropped_events;
            run.dropped_events = 0;
            run.report.events.push(Event {
                time_ms: run.started.elapsed().as_millis() as u64,
                kind: EventKind::Info,
                detail: format!("{n} more events not recorded"),
            });
        }
        let mut report = run.report;
        match result {
            Ok(()) => {}
            Err(BackendError::Setup(why)) => report.set_exit(Exit::SetupFailed(why)),
            Err(e) => report.set_exit(Exit::SetupFailed(e.to_string())),
        }
        report.timings.teardown_ms += ms(teardown.elapsed());
        report.timings.total_ms = ms(started.elapsed());
        Ok(report)
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl NativeBackend {
    fn run_in(&self, spec: &RunSpec, state: &Path, run: &mut Run<'_>) -> Result<(), BackendError> {
        spec.check_code_dir()?;
        let argv = spec.argv()?;
        let cgroups = RunCgroups::create(&run.report.id, &spec.limits).map_err(|e| {
            BackendError::Setup(format!("{e} (run as root or in a delegated cgroup)"))
        })?;
        let cg_list: String = cgroups
            .dirs
            .iter()
            .map(|d| format!("{}\n", d.display()))
            .collect();
        let _ = fs::write(state.join("cgroups"), cg_list);
        let result = self.run_with_cgroups(spec, state, run, &cgroups, argv);
        let t = Instant::now();
        cgroups.kill_all(Duration::from_secs(5));
        cgroups.remove();
        run.report.timings.teardown_ms += ms(t.elapsed());
        result
    }

    fn run_with_cgroups(
        &self,
        spec: &RunSpec,
        state: &Path,
        run: &mut Run<'_>,
        cgroups: &RunCgroups,
        argv: Vec<String>,
    ) -> Result<(), BackendError> {
        let d = &mut run.report.details;
        d.insert(
            "namespaces".into(),
            "user mount pid net ipc uts cgroup".into(),
        );
        d.insert(
            "cgroup".into(),
            match cgroups.version {
                cgroup::Version::V1 => "v1",
                cgroup::Version::V2 => "v2",
            }
            .into(),
        );
        d.insert("seccomp".into(), "deny-list with user notification".into());
        let proxy = if spec.network.is_blocked() {
            run.report
                .details
                .insert("network".into(), "none (loopback only)".into());
            None
        } else {
            let sock = state.join("proxy.sock");
            let p = EgressProxy::start(
                spec.network.clone(),
                ProxyListen::Unix(sock.clone()),
                self.proxy_options.clone(),
                run.started,
            )
            .map_err(|e| BackendError::Setup(e.to_string()))?;
            run.report.details.insert(
                "network".into(),
                format!("egress proxy only (http://127.0.0.1:{PROXY_PORT} inside)").into(),
            );
            Some((p, sock))
        };
        let root_dir = state.join("root");
        fs::create_dir(&root_dir).map_err(|e| BackendError::io("create root mount point", e))?;
        let mut env: Vec<(String, String)> = spec.sandbox_env().into_iter().collect();
        if proxy.is_some() {
            let url = format!("http://127.0.0.1:{PROXY_PORT}");
            for k in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
                env.push((k.to_string(), url.clone()));
            }
            env.push(("NO_PROXY".into(), String::new()));
            // Node's built-in fetch honours the proxy variables only when asked to.
            env.push(("NODE_USE_ENV_PROXY".into(), "1".into()));
        }
        let cfg = InitConfig {
            argv,
            env,
            code_dir: spec.code_dir.clone(),
            root_dir,
            proxy_socket: proxy.as_ref().map(|(_, s)| s.clone()),
            tmp_bytes: spec.limits.tmp_bytes,
            timeout_secs: spec.limits.timeout.as_secs(),
            out_max_bytes: if spec.output_dir.is_some() {
                spec.limits.tmp_bytes
            } else {
                0
            },
            cgroup_attach: cgroups.self_attach_files(),
            stdin_fd: spec.stdin,
            ro_mounts: spec
                .mounts
                .iter()
                .map(|m| (m.host.clone(), m.sandbox.clone()))
                .collect(),
        };
        if let Some(out) = &spec.output_dir {
            fs::create_dir_all(out).map_err(|e| {
                BackendError::io(format!("create output directory {}", out.display()), e)
            })?;
        }
        let exe =
            std::env::current_exe().map_err(|e| BackendError::io("find the babuino binary", e))?;
        let (chan_r, chan_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| BackendError::io("create pipe", e.into()))?;
        let chan_w_raw = chan_w.as_raw_fd();
        // The configuration is in the init's stdin pipe before it starts: it never waits for us.
        let config_pipe = {
            let mut line = serde_json::to_vec(&cfg)
                .map_err(|e| BackendError::Setup(format!("encode configuration: {e}")))?;
            line.push(b'\n');
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| BackendError::io("create pipe", e.into()))?;
            // A pipe holds 64 KiB; the configuration is far smaller (checked, not assumed).
            if line.len() > 60_000 {
                return Err(BackendError::Setup(
                    "arguments and environment are too large (over 60 KB together)".into(),
                ));
            }
            fs::File::from(w)
                .write_all(&line)
                .map_err(|e| BackendError::io("write configuration", e))?;
            r
        };
        let mut cmd = Command::new(&exe);
        // argv[0] is what the sandbox sees in /proc/1/cmdline: not the host path of babuino.
        std::os::unix::process::CommandExt::arg0(&mut cmd, "babuino-init");
        cmd.arg(INIT_ARG)
            .env_clear()
            .stdin(Stdio::from(config_pipe))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        crate::sys::pass_fd_as(&mut cmd, chan_w_raw, 3);
        // Our stdin, duplicated away from 0 (the child's 0 becomes the configuration pipe
        // before `pre_exec` runs), arrives in the init as descriptor 4.
        let _stdin_dup = if spec.stdin {
            let fd = nix::fcntl::fcntl(std::io::stdin(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10))
                .map_err(|e| BackendError::io("duplicate stdin", e.into()))?;
            let owned = crate::sys::own_fd(fd);
            crate::sys::pass_fd_as(&mut cmd, owned.as_raw_fd(), 4);
            Some(owned)
        } else {
            None
        };
        let mut child = cmd
            .spawn()
            .map_err(|e| BackendError::io(format!("start {}", exe.display()), e))?;
        drop(chan_w);
        let kill = |child: &std::process::Child| {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        };
        let (tx, rx) = mpsc::channel::<Msg>();
        let mut open_streams = 3;
        if let Some(o) = child.stdout.take() {
            spawn_reader(o, Stream::Stdout, tx.clone());
        }
        if let Some(e) = child.stderr.take() {
            spawn_reader(e, Stream::Stderr, tx.clone());
        }
        spawn_channel_reader(fs::File::from(chan_r), spec.output_dir.clone(), tx.clone());
        if let Some((p, _)) = &proxy {
            let prx = p.subscribe();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for ev in prx {
                    if tx.send(Msg::Proxy(ev)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut deadline = run.started + SETUP_TIMEOUT + spec.limits.timeout;
        let mut run_start: Option<Instant> = None;
        let mut exit_msg: Option<(Option<i32>, Option<i32>)> = None;
        let mut setup_error: Option<String> = None;
        let mut ended: Option<Exit> = None;
        let mut out_bytes: u64 = 0;
        let cap = spec.limits.output_bytes;
        let mut grace: Option<Instant> = None;
        let mut proxy_seen = 0usize;
        let mut pid1: Option<i32> = None;
        // Asks the sandbox's init to kill the program and still copy /out back; the hard kill
        // follows if the sandbox has not finished within the grace period.
        let soft_stop = |pid1: Option<i32>, child: &std::process::Child| match pid1 {
            Some(p) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGUSR1,
                );
            }
            None => kill(child),
        };
        while open_streams > 0 {
            let now = Instant::now();
            let wait_until = grace.unwrap_or(deadline);
            if now >= wait_until {
                if grace.is_some() {
                    kill(&child);
                    cgroups.kill_all(Duration::from_secs(2));
                    break;
                }
                if ended.is_none() {
                    ended = Some(Exit::Timeout);
                    let t = spec.limits.timeout;
                    run.note(
                        EventKind::Limit,
                        format!(
                            "timeout after {:.1} s: whole process tree killed",
                            t.as_secs_f64()
                        ),
                    );
                }
                soft_stop(pid1, &child);
                grace = Some(Instant::now() + STOP_GRACE);
                continue;
            }
            if ended.is_none()
                && let Some(sig) = crate::backend::interrupted()
            {
                ended = Some(Exit::Signal(sig));
                run.note(
                    EventKind::Info,
                    format!("babuino got signal {sig}: sandbox killed"),
                );
                soft_stop(pid1, &child);
                grace = Some(Instant::now() + STOP_GRACE);
                continue;
            }
            let slice = (wait_until - now).min(Duration::from_millis(100));
            let msg = match rx.recv_timeout(slice) {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            match msg {
                Msg::Out(stream, data) => {
                    if ended == Some(Exit::OutputCap) {
                        continue;
                    }
                    let room = cap.saturating_sub(out_bytes) as usize;
                    let keep = &data[..data.len().min(room)];
                    out_bytes += data.len() as u64;
                    let stats = match stream {
                        Stream::Stdout => &mut run.report.stdout,
                        Stream::Stderr => &mut run.report.stderr,
                    };
                    stats.bytes += data.len() as u64;
                    if !keep.is_empty() {
                        run.sink.output(stream, keep);
                    }
                    if out_bytes > cap {
                        stats.truncated = true;
                        ended = Some(Exit::OutputCap);
                        run.note(
                            EventKind::Limit,
                            format!("output cap of {cap} bytes reached: program killed"),
                        );
                        soft_stop(pid1, &child);
                        grace = Some(Instant::now() + STOP_GRACE);
                    }
                }
                Msg::Closed => open_streams -= 1,
                Msg::Event(ev) => run.event(ev),
                Msg::Proxy(ev) => {
                    proxy_seen += 1;
                    run.event(ev)
                }
                Msg::Output(p) => run.report.outputs.push(p),
                Msg::Init(m) => match m {
                    InitMsg::Event { kind, detail } => run.note(kind, detail),
                    InitMsg::Detail { key, value } => {
                        run.report.details.insert(key, value);
                    }
                    InitMsg::Pid1 { pid } => pid1 = Some(pid),
                    InitMsg::Ready => {
                        let now = Instant::now();
                        run.report.timings.setup_ms = ms(now - run.started);
                        run_start = Some(now);
                        deadline = now + spec.limits.timeout;
                    }
                    InitMsg::Exit { code, signal } => exit_msg = Some((code, signal)),
                    InitMsg::File { .. } => {}
                    InitMsg::Error { message } => {
                        setup_error.get_or_insert(message);
                    }
                },
            }
        }
        let run_end = Instant::now();
        if let Some(s) = run_start {
            run.report.timings.run_ms = ms(run_end - s);
        }
        kill(&child);
        let status = child.wait();
        let oom = cgroups.oom_killed();
        let pids = cgroups.pids_hit();
        if pids {
            run.note(
                EventKind::Limit,
                format!(
                    "process limit of {} reached: forks refused",
                    spec.limits.pids
                ),
            );
        }
        if oom {
            run.note(
                EventKind::Limit,
                format!(
                    "memory limit of {} bytes reached: killed by the kernel",
                    spec.limits.memory_bytes
                ),
            );
        }
        if let Some((p, _)) = proxy {
            // Events the forwarding thread had not delivered yet.
            for ev in p.shutdown().into_iter().skip(proxy_seen) {
                run.event(ev);
            }
        }
        let exit = if let Some(e) = ended {
            e
        } else if let Some(err) = setup_error {
            // The program never ran (its own start-up inside the sandbox failed).
            Exit::SetupFailed(err)
        } else if let Some((code, signal)) = exit_msg {
            match (code, signal) {
                (_, Some(9)) if oom => Exit::Memory,
                (Some(c), _) if c != 0 && oom => Exit::Memory,
                (Some(c), _) if c != 0 && pids => Exit::Pids,
                (None, Some(_)) if pids => Exit::Pids,
                (Some(c), _) => Exit::Code(c),
                (None, Some(s)) => Exit::Signal(s),
                (None, None) => Exit::SetupFailed("the program's status was lost".into()),
            }
        } else if oom {
            Exit::Memory
        } else {
            Exit::SetupFailed(format!(
                "the sandbox init ended without a result ({})",
                status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string())
            ))
        };
        run.report.set_exit(exit);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_must_be_plain_relative() {
        assert!(safe_rel("a/b.txt").is_some());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
            assert!(safe_rel(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn output_files_never_follow_host_links() {
        let out = tempfile::tempdir().unwrap();
        let victim = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(victim.path(), out.path().join("dir")).unwrap();
        let data = b"payload";
        let r = write_output(out.path(), Path::new("dir/x"), &mut &data[..], 7);
        assert!(r.is_err());
        assert!(!victim.path().join("x").exists());
        write_output(out.path(), Path::new("ok/x"), &mut &data[..], 7).unwrap();
        assert_eq!(fs::read(out.path().join("ok/x")).unwrap(), data);
        // Existing files are not overwritten.
        assert!(write_output(out.path(), Path::new("ok/x"), &mut &data[..], 7).is_err());
        // A file cut short is not left behind.
        assert!(write_output(out.path(), Path::new("short"), &mut &data[..], 100).is_err());
        assert!(!out.path().join("short").exists());
    }

    #[test]
    fn only_babuino_scratch_dirs_are_reaped_with_their_state() {
        let rt = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let scratch = tmp.path().join(format!("{SCRATCH_PREFIX}x"));
        fs::create_dir(&scratch).unwrap();
        let dead = rt.path().join("x-packages");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join("owner"), "999999999 1").unwrap();
        fs::write(dead.join("scratch"), scratch.as_os_str().as_encoded_bytes()).unwrap();
        // A state entry naming something that is not a babuino scratch dir: never deleted.
        let victim = tmp.path().join("precious");
        fs::create_dir(&victim).unwrap();
        let other = rt.path().join("y-packages");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("owner"), "999999999 1").unwrap();
        fs::write(other.join("scratch"), victim.as_os_str().as_encoded_bytes()).unwrap();
        let mut reaped = reap_leftovers(rt.path());
        reaped.sort();
        assert_eq!(reaped, ["x-packages", "y-packages"]);
        assert!(!scratch.exists());
        assert!(victim.exists());
    }

    #[test]
    fn leftovers_of_dead_owners_are_reaped_and_live_ones_kept() {
        let rt = tempfile::tempdir().unwrap();
        let dead = rt.path().join("dead");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join("owner"), "999999999 1").unwrap();
        let live = rt.path().join("live");
        fs::create_dir(&live).unwrap();
        let me = std::process::id();
        fs::write(
            live.join("owner"),
            format!("{me} {}", process_start_time(me).unwrap()),
        )
        .unwrap();
        assert_eq!(reap_leftovers(rt.path()), vec!["dead".to_string()]);
        assert!(!dead.exists());
        assert!(live.exists());
    }
}
