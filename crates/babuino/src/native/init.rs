//! The inside of the native sandbox. `babuino` re-executes itself with [`INIT_ARG`]; that process
//! (stage 1) enters new namespaces and forks the namespace's PID 1 (stage 2), which builds the
//! root filesystem, starts the egress forwarder and the seccomp supervisor, forks the program,
//! waits for it, kills whatever it left behind and copies `/out` back to the host.
//!
//! Messages to the host go over descriptor 3 as JSON lines ([`InitMsg`]).

use crate::report::EventKind;
use crate::spec::{CODE_MOUNT, OUT_MOUNT};
use crate::sys;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The hidden first argument that makes `babuino` act as the sandbox init.
pub const INIT_ARG: &str = "__babuino-native-init";
/// Where the host proxy's socket appears inside the sandbox.
pub const PROXY_SOCKET_IN_SANDBOX: &str = "/run/babuino/proxy.sock";
/// Loopback port inside the sandbox that relays to the egress proxy.
pub const PROXY_PORT: u16 = 3128;

/// What the host tells the init (one JSON line on stdin, which is also the "go" signal).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitConfig {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub code_dir: Option<PathBuf>,
    /// Empty host directory used as the mount point of the new root (inside the namespace only).
    pub root_dir: PathBuf,
    /// Host path of the egress proxy's Unix socket, when hosts are allowed.
    pub proxy_socket: Option<PathBuf>,
    pub tmp_bytes: u64,
    pub timeout_secs: u64,
    /// Copy `/out` back to the host after the run, up to this many bytes (0: do not copy).
    pub out_max_bytes: u64,
    /// Cgroup files the init writes `0` into (moving itself) before anything else starts.
    pub cgroup_attach: Vec<PathBuf>,
    /// The program's stdin is descriptor 4 (babuino's own stdin); otherwise `/dev/null`.
    #[serde(default)]
    pub stdin_fd: bool,
    /// Host directories bound read-only at these absolute sandbox paths (`/packages`).
    #[serde(default)]
    pub ro_mounts: Vec<(PathBuf, PathBuf)>,
}

/// A message from the init to the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "kebab-case")]
pub enum InitMsg {
    Event {
        kind: EventKind,
        detail: String,
    },
    Detail {
        key: String,
        value: serde_json::Value,
    },
    /// Host PID of the namespace's init (the host signals it to stop the program early).
    Pid1 {
        pid: i32,
    },
    /// The sandbox is built; the program starts now.
    Ready,
    /// The program ended.
    Exit {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// A file of `/out` follows: exactly `size` raw bytes after this line.
    File {
        path: String,
        size: u64,
    },
    /// Setup failed; the program did not run.
    Error {
        message: String,
    },
}

type Chan = Arc<Mutex<File>>;

fn send(ch: &Chan, msg: &InitMsg) {
    if let Ok(mut line) = serde_json::to_vec(msg) {
        line.push(b'\n');
        if let Ok(mut f) = ch.lock() {
            let _ = f.write_all(&line);
        }
    }
}

fn event(ch: &Chan, kind: EventKind, detail: impl Into<String>) {
    send(
        ch,
        &InitMsg::Event {
            kind,
            detail: detail.into(),
        },
    );
}

#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
struct SetupError {
    what: String,
    source: io::Error,
}

trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, SetupError>;
}
impl<T> Ctx<T> for Result<T, nix::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, SetupError> {
        self.map_err(|e| SetupError {
            what: what(),
            source: io::Error::from(e),
        })
    }
}
impl<T> Ctx<T> for Result<T, io::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, SetupError> {
        self.map_err(|source| SetupError {
            what: what(),
            source,
        })
    }
}

/// Entry point of the init (never returns).
pub fn main() -> ! {
    let Some(chan) = sys::take_fd(3) else {
        eprintln!("babuino: internal command, not for direct use");
        std::process::exit(125);
    };
    let chan: Chan = Arc::new(Mutex::new(File::from(chan)));
    let code = match stage1(&chan) {
        Ok(c) => c,
        Err(e) => {
            send(
                &chan,
                &InitMsg::Error {
                    message: e.to_string(),
                },
            );
            125
        }
    };
    std::process::exit(code)
}

fn stage1(chan: &Chan) -> Result<i32, SetupError> {
    // The host blocks SIGINT/SIGTERM/SIGHUP for itself; the mask survives exec, so clear it.
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).ctx(|| "set parent-death signal".into())?;
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .ctx(|| "read sandbox configuration".into())?;
    if line.is_empty() {
        // The host went away before starting us.
        return Ok(125);
    }
    let cfg: InitConfig = serde_json::from_str(&line).map_err(|e| SetupError {
        what: "parse sandbox configuration".into(),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })?;
    // Into the run's cgroups first: everything forked from here on inherits them.
    for f in &cfg.cgroup_attach {
        fs::write(f, "0").ctx(|| format!("join cgroup {}", f.display()))?;
    }
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    nix::sched::unshare(
        CloneFlags::CLONE_NEWUSER
            | CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWCGROUP,
    )
    .ctx(|| "create namespaces (user, mount, pid, net, ipc, uts, cgroup)".into())?;
    fs::write("/proc/self/setgroups", "deny").ctx(|| "deny setgroups".into())?;
    fs::write("/proc/self/uid_map", format!("0 {uid} 1")).ctx(|| "write uid map".into())?;
    fs::write("/proc/self/gid_map", format!("0 {gid} 1")).ctx(|| "write gid map".into())?;
    let mut sent_pid = false;
    match sys::fork().ctx(|| "fork sandbox init".into())? {
        sys::Fork::Child => {
            let code = match stage2(chan, &cfg) {
                Ok(c) => c,
                Err(e) => {
                    send(
                        chan,
                        &InitMsg::Error {
                            message: e.to_string(),
                        },
                    );
                    125
                }
            };
            std::process::exit(code);
        }
        sys::Fork::Parent(pid) => loop {
            if !sent_pid {
                send(chan, &InitMsg::Pid1 { pid });
                sent_pid = true;
                // Let go of the host's pipes: the host sees the end of the run as soon as PID 1
                // is gone, without waiting for this process to be scheduled and exit.
                if let Ok(null) = File::options().write(true).open("/dev/null") {
                    for fd in [1, 2, 3] {
                        let _ = sys::dup2(null.as_raw_fd(), fd);
                    }
                }
            }
            match waitpid(Pid::from_raw(pid), None) {
                Ok(WaitStatus::Exited(_, c)) => return Ok(c),
                Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
                Ok(_) => continue,
                Err(nix::Error::EINTR) => continue,
                Err(_) => return Ok(125),
            }
        },
    }
}

fn stage2(chan: &Chan, cfg: &InitConfig) -> Result<i32, SetupError> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).ctx(|| "set parent-death signal".into())?;
    build_root(chan, cfg)?;
    sys::loopback_up().ctx(|| "bring up loopback".into())?;
    let _ = nix::unistd::sethostname("babuino");
    let listener = if cfg.proxy_socket.is_some() {
        Some(
            std::net::TcpListener::bind(("127.0.0.1", PROXY_PORT))
                .ctx(|| "listen on the in-sandbox proxy port".into())?,
        )
    } else {
        None
    };
    let (parent_sock, child_sock) =
        std::os::unix::net::UnixStream::pair().ctx(|| "create supervisor socket".into())?;
    let filters = super::seccomp::clone3_program()
        .and_then(|a| Ok((a, super::seccomp::notify_program()?)))
        .map_err(|e| SetupError {
            what: "build seccomp filter".into(),
            source: io::Error::other(e.to_string()),
        })?;
    if cfg.stdin_fd {
        let given = sys::take_fd(4).ok_or_else(|| SetupError {
            what: "take the program's stdin".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        })?;
        sys::dup2(given.as_raw_fd(), 0).ctx(|| "redirect stdin".into())?;
    } else {
        let null = File::open("/dev/null").ctx(|| "open /dev/null".into())?;
        sys::dup2(null.as_raw_fd(), 0).ctx(|| "redirect stdin".into())?;
    }
    // SIGUSR1 from the host means "stop the program now" (timeout, output cap, interrupt):
    // kill everything, then still copy /out back. Blocked here, waited for on a thread below.
    let mut usr1 = nix::sys::signal::SigSet::empty();
    usr1.add(Signal::SIGUSR1);
    usr1.thread_block().ctx(|| "block SIGUSR1".into())?;
    send(chan, &InitMsg::Ready);
    let child = match sys::fork().ctx(|| "fork program".into())? {
        sys::Fork::Child => {
            drop(parent_sock);
            drop(listener);
            exec_program(chan, cfg, child_sock, filters)
        }
        sys::Fork::Parent(pid) => pid,
    };
    drop(child_sock);
    std::thread::spawn(move || {
        if usr1.wait().is_ok() {
            let _ = nix::sys::signal::kill(Pid::from_raw(-1), Signal::SIGKILL);
        }
    });
    if let Some(l) = listener {
        std::thread::spawn(move || {
            let _ = crate::egress::forward_tcp_to_unix(l, Path::new(PROXY_SOCKET_IN_SANDBOX));
        });
    }
    {
        let chan = chan.clone();
        std::thread::spawn(move || {
            if let Some(fd) = sys::recv_fd(&parent_sock) {
                super::seccomp::supervise(fd.as_raw_fd(), |kind, detail| {
                    event(&chan, kind, detail)
                });
            }
        });
    }
    // Reap everything; the run ends when the program itself ends.
    let status = loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(p, c)) if p.as_raw() == child => break (Some(c), None),
            Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == child => {
                break (None, Some(s as i32));
            }
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(_) => break (None, None),
        }
    };
    // Whatever the program left running (daemons, double forks) dies with the run.
    let _ = nix::sys::signal::kill(Pid::from_raw(-1), Signal::SIGKILL);
    while let Ok(s) = waitpid(Pid::from_raw(-1), None) {
        let _ = s;
    }
    report_full_filesystems(chan);
    if cfg.out_max_bytes > 0 {
        copy_out(chan, cfg.out_max_bytes);
    }
    send(
        chan,
        &InitMsg::Exit {
            code: status.0,
            signal: status.1,
        },
    );
    Ok(0)
}

fn mkdirp(p: &Path) -> Result<(), SetupError> {
    fs::create_dir_all(p).ctx(|| format!("create {}", p.display()))
}

fn touch(p: &Path) -> Result<(), SetupError> {
    File::create(p)
        .map(drop)
        .ctx(|| format!("create {}", p.display()))
}

/// Flags of the mount at `p` that a bind remount inside a user namespace must keep.
fn locked_flags(p: &Path) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    let mut f = MsFlags::empty();
    if let Ok(st) = nix::sys::statvfs::statvfs(p) {
        let fl = st.flags();
        if fl.contains(FsFlags::ST_NOSUID) {
            f |= MsFlags::MS_NOSUID;
        }
        if fl.contains(FsFlags::ST_NODEV) {
            f |= MsFlags::MS_NODEV;
        }
        if fl.contains(FsFlags::ST_NOEXEC) {
            f |= MsFlags::MS_NOEXEC;
        }
        if fl.contains(FsFlags::ST_NOATIME) {
            f |= MsFlags::MS_NOATIME;
        }
        if fl.contains(FsFlags::ST_NODIRATIME) {
            f |= MsFlags::MS_NODIRATIME;
        }
        if fl.contains(FsFlags::ST_RELATIME) {
            f |= MsFlags::MS_RELATIME;
        }
    }
    f
}

fn bind(src: &Path, dst: &Path, extra: MsFlags, readonly: bool) -> Result<(), SetupError> {
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind {} to {}", src.display(), dst.display()))?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra | locked_flags(src);
    if readonly {
        flags |= MsFlags::MS_RDONLY;
    }
    mount(None::<&str>, dst, None::<&str>, flags, None::<&str>)
        .ctx(|| format!("remount {} read-only", dst.display()))
}

fn tmpfs(dst: &Path, size: u64, mode: &str) -> Result<(), SetupError> {
    mount(
        Some("tmpfs"),
        dst,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("size={size},mode={mode},nr_inodes=65536").as_str()),
    )
    .ctx(|| format!("mount tmpfs on {}", dst.display()))
}

/// `/etc` entries the interpreters need; nothing else of the host's `/etc` is visible.
const ETC_ENTRIES: &[&str] = &[
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "localtime",
    "nsswitch.conf",
    "mime.types",
    "os-release",
    "debian_version",
    "protocols",
    "services",
    "gai.conf",
    "host.conf",
    "inputrc",
];

fn build_root(chan: &Chan, cfg: &InitConfig) -> Result<(), SetupError> {
    let r = &cfg.root_dir;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .ctx(|| "make mounts private".into())?;
    mount(
        Some("tmpfs"),
        r,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("size=4m,mode=0755"),
    )
    .ctx(|| format!("mount root tmpfs on {}", r.display()))?;
    let ro = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    for d in ["usr", "etc", "dev", "proc", "tmp", "run/babuino"] {
        mkdirp(&r.join(d))?;
    }
    bind(Path::new("/usr"), &r.join("usr"), ro, true)?;
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(top);
        match fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(t) = fs::read_link(&host) {
                    symlink(&t, r.join(top)).ctx(|| format!("link /{top}"))?;
                }
            }
            Ok(m) if m.is_dir() => {
                mkdirp(&r.join(top))?;
                bind(&host, &r.join(top), ro, true)?;
            }
            _ => {}
        }
    }
    // /etc: a few host entries plus generated files.
    let etc = r.join("etc");
    let mut entries: Vec<String> = ETC_ENTRIES.iter().map(|s| s.to_string()).collect();
    if let Ok(rd) = fs::read_dir("/etc") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("python3") {
                entries.push(n);
            }
        }
    }
    for name in entries {
        let host = Path::new("/etc").join(&name);
        let Ok(meta) = fs::metadata(&host) else {
            continue;
        };
        let dst = etc.join(&name);
        if meta.is_dir() {
            mkdirp(&dst)?;
        } else if meta.is_file() {
            touch(&dst)?;
        } else {
            continue;
        }
        bind(&host, &dst, ro, true)?;
    }
    let generated = [
        (
            "passwd",
            "root:x:0:0:sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        ),
        ("group", "root:x:0:\nnogroup:x:65534:\n"),
        ("hostname", "babuino\n"),
        ("hosts", "127.0.0.1 localhost babuino\n::1 localhost\n"),
        (
            "resolv.conf",
            "# no DNS inside the sandbox: use the proxy\n",
        ),
    ];
    for (name, content) in generated {
        fs::write(etc.join(name), content).ctx(|| format!("write /etc/{name}"))?;
    }
    // /dev: a handful of harmless devices.
    let dev = r.join("dev");
    for d in ["null", "zero", "full", "random", "urandom"] {
        let dst = dev.join(d);
        touch(&dst)?;
        bind(
            &Path::new("/dev").join(d),
            &dst,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            !matches!(d, "null" | "zero" | "full"),
        )?;
    }
    for (l, t) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(t, dev.join(l)).ctx(|| format!("link /dev/{l}"))?;
    }
    mkdirp(&dev.join("shm"))?;
    tmpfs(&dev.join("shm"), cfg.tmp_bytes, "1777")?;
    tmpfs(&r.join("tmp"), cfg.tmp_bytes, "1777")?;
    mkdirp(&r.join(OUT_MOUNT.trim_start_matches('/')))?;
    tmpfs(
        &r.join(OUT_MOUNT.trim_start_matches('/')),
        cfg.tmp_bytes,
        "0777",
    )?;
    if let Some(code) = &cfg.code_dir {
        let dst = r.join(CODE_MOUNT.trim_start_matches('/'));
        mkdirp(&dst)?;
        bind(code, &dst, ro, true)?;
    }
    for (host, inside) in &cfg.ro_mounts {
        let rel = inside.strip_prefix("/").unwrap_or(inside);
        if rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(SetupError {
                what: format!("mount {}", inside.display()),
                source: io::Error::from(io::ErrorKind::InvalidInput),
            });
        }
        let dst = r.join(rel);
        mkdirp(&dst)?;
        bind(host, &dst, ro, true)?;
    }
    if let Some(sock) = &cfg.proxy_socket {
        let dst = r.join(PROXY_SOCKET_IN_SANDBOX.trim_start_matches('/'));
        touch(&dst)?;
        mount(
            Some(sock.as_path()),
            &dst,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| "bind the proxy socket".into())?;
    }
    mount(
        Some("proc"),
        &r.join("proc"),
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .ctx(|| "mount /proc".into())?;
    mount(
        None::<&str>,
        r,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .ctx(|| "make the root read-only".into())?;
    nix::unistd::chdir(r).ctx(|| "enter new root".into())?;
    nix::unistd::pivot_root(".", ".").ctx(|| "pivot_root".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach the host root".into())?;
    nix::unistd::chdir("/").ctx(|| "chdir /".into())?;
    // Hide kernel interfaces /proc exposes.
    let mut masked = 0;
    for f in [
        "/proc/kallsyms",
        "/proc/kcore",
        "/proc/sysrq-trigger",
        "/proc/timer_list",
        "/proc/keys",
        "/proc/kmsg",
        "/proc/latency_stats",
        "/proc/sched_debug",
    ] {
        if Path::new(f).exists() {
            let ok = mount(
                Some("/dev/null"),
                f,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            );
            if ok.is_ok() {
                masked += 1;
            } else {
                event(chan, EventKind::Degraded, format!("could not mask {f}"));
            }
        }
    }
    for d in [
        "/proc/sys",
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/acpi",
        "/proc/scsi",
    ] {
        if Path::new(d).exists()
            && bind(
                Path::new(d),
                Path::new(d),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                true,
            )
            .is_err()
        {
            event(
                chan,
                EventKind::Degraded,
                format!("could not make {d} read-only"),
            );
        }
    }
    send(
        chan,
        &InitMsg::Detail {
            key: "proc_masked".into(),
            value: serde_json::Value::from(masked),
        },
    );
    Ok(())
}

fn landlock(chan: &Chan, with_proxy: bool) -> Result<(), String> {
    use landlock::{
        ABI, Access, AccessFs, AccessNet, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
        RulesetCreatedAttr, RulesetStatus, Scope,
    };
    let abi = ABI::V7;
    let mut rs = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(|e| e.to_string())?
        .handle_access(AccessNet::ConnectTcp)
        .map_err(|e| e.to_string())?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(|e| e.to_string())?
        .create()
        .map_err(|e| e.to_string())?;
    let rule = |p: &str, a| -> Result<_, String> {
        Ok(PathBeneath::new(
            PathFd::new(p).map_err(|e| e.to_string())?,
            a,
        ))
    };
    rs = rs
        .add_rule(rule("/", AccessFs::from_read(abi))?)
        .map_err(|e| e.to_string())?;
    for w in super::seccomp::WRITABLE.iter().chain(["/dev/shm"].iter()) {
        let access = if Path::new(w).is_dir() {
            AccessFs::from_all(abi)
        } else {
            AccessFs::from_file(abi)
        };
        rs = rs.add_rule(rule(w, access)?).map_err(|e| e.to_string())?;
    }
    if with_proxy {
        rs = rs
            .add_rule(NetPort::new(PROXY_PORT, AccessNet::ConnectTcp))
            .map_err(|e| e.to_string())?;
    }
    let status = rs.restrict_self().map_err(|e| e.to_string())?;
    let state = match status.ruleset {
        RulesetStatus::FullyEnforced => "fully enforced",
        RulesetStatus::PartiallyEnforced => "partially enforced (older kernel)",
        RulesetStatus::NotEnforced => "not enforced (kernel without Landlock)",
    };
    if status.ruleset != RulesetStatus::FullyEnforced {
        event(chan, EventKind::Degraded, format!("landlock {state}"));
    }
    let state = match sys::landlock_abi() {
        Ok(v) => format!("{state} (kernel ABI {v})"),
        Err(_) => state.to_string(),
    };
    send(
        chan,
        &InitMsg::Detail {
            key: "landlock".into(),
            value: serde_json::Value::from(state),
        },
    );
    Ok(())
}

fn set_rlimits(cfg: &InitConfig) {
    use nix::sys::resource::{Resource, setrlimit};
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    let _ = setrlimit(Resource::RLIMIT_NOFILE, 4096, 4096);
    let _ = setrlimit(Resource::RLIMIT_FSIZE, cfg.tmp_bytes, cfg.tmp_bytes);
    let cpu = cfg.timeout_secs.saturating_add(5);
    let _ = setrlimit(Resource::RLIMIT_CPU, cpu, cpu);
    let _ = setrlimit(Resource::RLIMIT_MEMLOCK, 64 << 10, 64 << 10);
}

type Filters = (Vec<libc::sock_filter>, Vec<libc::sock_filter>);

fn exec_program(
    chan: &Chan,
    cfg: &InitConfig,
    sock: std::os::unix::net::UnixStream,
    filters: Filters,
) -> ! {
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        send(
            chan,
            &InitMsg::Error {
                message: format!("{what}: {e}"),
            },
        );
        std::process::exit(125)
    };
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
    let _ = nix::unistd::setsid();
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        fail("set parent-death signal", &e);
    }
    set_rlimits(cfg);
    let cwd = if cfg.code_dir.is_some() {
        CODE_MOUNT
    } else {
        "/tmp"
    };
    if let Err(e) = nix::unistd::chdir(cwd) {
        fail("enter working directory", &e);
    }
    let argv: Vec<CString> = match cfg
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect()
    {
        Ok(v) => v,
        Err(e) => fail("argument contains a NUL byte", &e),
    };
    let envp: Vec<CString> = match cfg
        .env
        .iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")))
        .collect()
    {
        Ok(v) => v,
        Err(e) => fail("environment contains a NUL byte", &e),
    };
    let Some(path) = argv.first().cloned() else {
        fail("empty command", &"no program");
    };
    if let Err(e) = nix::sys::prctl::set_no_new_privs() {
        fail("set no_new_privs", &e);
    }
    if let Err(e) = sys::drop_all_capabilities() {
        fail("drop capabilities", &e);
    }
    if let Err(e) = landlock(chan, cfg.proxy_socket.is_some()) {
        fail("apply landlock", &e);
    }
    let (clone3, notify) = filters;
    if let Err(e) = sys::install_seccomp(&clone3) {
        fail("apply seccomp filter", &e);
    }
    let listener = match sys::install_seccomp_with_listener(&notify) {
        Ok(l) => l,
        Err(e) => fail("apply seccomp filter", &e),
    };
    if let Err(e) = sys::send_fd(&sock, &listener) {
        fail("hand the seccomp listener to the supervisor", &e);
    }
    drop(listener);
    drop(sock);
    // The program must not hold the host channel.
    drop(sys::take_fd(3));
    let err = nix::unistd::execve(&path, &argv, &envp);
    let e = err.err().unwrap_or(nix::Error::UnknownErrno);
    let _ = writeln!(
        io::stderr(),
        "babuino: cannot execute {}: {e}",
        path.to_string_lossy()
    );
    std::process::exit(if e == nix::Error::ENOENT { 127 } else { 126 })
}

/// Reports the writable filesystems the program filled up (a limit it ran into).
fn report_full_filesystems(chan: &Chan) {
    for p in ["/tmp", OUT_MOUNT, "/dev/shm"] {
        let Ok(st) = nix::sys::statvfs::statvfs(p) else {
            continue;
        };
        let size = st.blocks() * st.fragment_size();
        if st.blocks_available() == 0 && st.blocks() > 0 {
            event(
                chan,
                EventKind::Limit,
                format!("{p} is full ({} MiB, --tmp-size)", size >> 20),
            );
        } else if st.files_available() == 0 && st.files() > 0 {
            event(chan, EventKind::Limit, format!("{p} ran out of inodes"));
        }
    }
}

/// Sends `/out` to the host: regular files and directories only, never following links.
fn copy_out(chan: &Chan, max: u64) {
    let mut budget = max;
    let root = Path::new(OUT_MOUNT);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = fs::read_dir(root.join(&rel)) else {
            continue;
        };
        let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            let rel_path = rel.join(&name);
            let full = root.join(&rel_path);
            let shown = rel_path.to_string_lossy().into_owned();
            let Ok(meta) = fs::symlink_metadata(&full) else {
                continue;
            };
            let ft = meta.file_type();
            if ft.is_dir() {
                stack.push(rel_path);
            } else if ft.is_file() {
                if meta.len() > budget {
                    event(
                        chan,
                        EventKind::OutputSkipped,
                        format!("{shown} (over the output size budget)"),
                    );
                    continue;
                }
                let file = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&full);
                let Ok(mut file) = file else { continue };
                let size = meta.len();
                send(chan, &InitMsg::File { path: shown, size });
                let mut left = size;
                let mut buf = vec![0u8; 64 << 10];
                if let Ok(mut ch) = chan.lock() {
                    while left > 0 {
                        let want = buf.len().min(left as usize);
                        let n = file.read(&mut buf[..want]).unwrap_or(0);
                        if n == 0 {
                            // File shrank: pad so the stream stays in sync.
                            buf[..want].fill(0);
                            let _ = ch.write_all(&buf[..want]);
                            left -= want as u64;
                            continue;
                        }
                        let _ = ch.write_all(&buf[..n]);
                        left -= n as u64;
                    }
                }
                budget -= size;
            } else {
                let what = if ft.is_symlink() {
                    "symbolic link"
                } else {
                    "special file"
                };
                event(
                    chan,
                    EventKind::OutputSkipped,
                    format!("{shown} ({what}, not copied)"),
                );
            }
        }
    }
}
