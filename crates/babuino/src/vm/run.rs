//! One run in a throwaway micro-VM: pack the code directory, start QEMU (jailed, every file passed
//! as an inherited descriptor), speak the protocol over a socketpair wired to a virtio-serial port,
//! relay the program's proxy connections, enforce the limits, destroy the VM.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use babuino_guest::proto::{Decoder, GuestExit, Msg, Spec};
use serde::Serialize;

use super::assets::Assets;
use super::qemu::{self, Accel, Fds, QemuArgs};
use crate::backend::{OutputSink, Stream};
use crate::report::{Event, EventKind};

/// uid the program runs as inside the guest.
const GUEST_UID: u32 = 1000;
/// How much of the guest console is kept for error messages.
const CONSOLE_TAIL: usize = 8 * 1024;
/// The code directory's mount point in the guest.
pub const GUEST_CODE_DIR: &str = crate::spec::CODE_MOUNT;
/// The output directory in the guest (collected when `--output` is given).
pub const GUEST_OUTPUT_DIR: &str = crate::spec::OUT_MOUNT;
/// Port of the proxy relay on the guest's loopback (`HTTP(S)_PROXY` point at it).
pub const GUEST_PROXY_PORT: u16 = 3128;
/// Most events kept from the guest (a program looping on a refused call must not grow the report
/// without bound; the guest also caps its own reports).
const MAX_EVENTS: usize = 1000;

/// Errors that stop a run before it has a result (the run's own failures are in the report).
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot start qemu-system-x86_64: {0}; install the Debian package qemu-system-x86")]
    NoQemu(std::io::Error),
    #[error("packing the code directory failed: {0}")]
    Pack(String),
    #[error(
        "the micro-VM did not boot within {secs} s (accel {accel}); last console lines:\n{console}"
    )]
    BootTimeout {
        secs: u64,
        accel: &'static str,
        console: String,
    },
    #[error("qemu exited before the run finished ({status}); last console lines:\n{console}")]
    QemuDied { status: String, console: String },
    #[error("the guest agent failed: {0}")]
    Guest(String),
    #[error("protocol error from the guest: {0}")]
    Protocol(String),
    #[error("cannot write output file {path}: {why}")]
    Output { path: String, why: String },
    #[error("{0}")]
    Unsupported(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> VmError {
    let what = what.into();
    move |source| VmError::Io { what, source }
}

/// Configuration of one VM run.
#[derive(Debug, Clone)]
pub struct VmConfig {
    pub assets: Assets,
    pub accel: Accel,
    pub accel_reason: String,
    pub memory_mib: u64,
    pub vcpus: u32,
    /// Wall-clock limit of the program, counted from its start in the guest.
    pub timeout: Duration,
    /// Longest time from starting QEMU to the guest agent's hello.
    pub boot_timeout: Duration,
    /// Most bytes of stdout + stderr; past it the VM is destroyed.
    pub output_limit: u64,
    /// Host directory that receives the guest's `/out` tree.
    pub output_dir: Option<PathBuf>,
    /// Most bytes of output files copied back.
    pub output_files_limit: u64,
    /// Most processes and threads of the program.
    pub pids: u64,
    /// Size of the guest's writable `/tmp` and `/out`.
    pub tmp_bytes: u64,
    /// The host egress proxy the guest's relay connections go to (`None`: no network at all).
    pub proxy: Option<SocketAddr>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct VmJob {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Host directory that becomes the guest's read-only `/code` (empty when `None`).
    pub code_dir: Option<PathBuf>,
    /// Feed babuino's own stdin to the program (else it reads `/dev/null`).
    pub stdin: bool,
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum VmExit {
    /// The program exited with this code.
    Code { code: i32 },
    /// The program was killed by this signal.
    Signal { signal: i32 },
    /// The guest ran out of memory (the RAM limit) and its OOM killer ended the program.
    Memory,
    /// The time limit ended the run (the VM was destroyed).
    Timeout,
    /// The output limit ended the run (the VM was destroyed).
    OutputLimit,
}

/// The result of a VM run.
#[derive(Debug, Clone, Serialize)]
pub struct VmReport {
    pub accel: Accel,
    pub exit: VmExit,
    /// Host wall time from starting QEMU to the program's first instruction (ms).
    pub boot_ms: u64,
    /// Guest uptime when the program started (ms).
    pub guest_boot_ms: u64,
    /// Guest uptime when the agent said hello: kernel booted, modules loaded (ms).
    pub guest_agent_ms: u64,
    /// Host wall time the program ran (ms).
    pub run_ms: u64,
    /// Host wall time of the whole run, packing to VM destroyed (ms).
    pub total_ms: u64,
    pub events: Vec<Event>,
    pub output_files: Vec<String>,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// Output past the limit was dropped.
    pub truncated: bool,
    /// A fork or clone failed at the process limit.
    pub pids_hit: bool,
    /// QEMU ran in a Landlock domain (assets and its program files only).
    pub qemu_landlock: bool,
}

/// Runs `job` in a fresh VM and destroys it; `sink` receives the program's output and the events
/// live. Event times count from `started`; `proxy_events` are the egress proxy's events.
pub fn run(
    cfg: &VmConfig,
    job: &VmJob,
    sink: &mut dyn OutputSink,
    proxy_events: Option<&mpsc::Receiver<Event>>,
    started: Instant,
) -> Result<VmReport, VmError> {
    let t0 = Instant::now();
    if job.argv.is_empty() {
        return Err(VmError::Unsupported("nothing to run: empty command".into()));
    }
    let code = pack_code(job.code_dir.as_deref())?;
    let open_ro = |p: &Path| -> Result<OwnedFd, VmError> {
        Ok(OwnedFd::from(
            fs::File::open(p).map_err(io(format!("open {}", p.display())))?,
        ))
    };
    let kernel = open_ro(&cfg.assets.kernel)?;
    let initrd = open_ro(&cfg.assets.initramfs)?;
    let rootfs = open_ro(&cfg.assets.rootfs)?;
    let (host_end, guest_end) = UnixStream::pair().map_err(io("socketpair"))?;
    let guest_end = OwnedFd::from(guest_end);
    let fds = Fds {
        kernel: kernel.as_raw_fd(),
        initrd: initrd.as_raw_fd(),
        rootfs: rootfs.as_raw_fd(),
        code: code.as_raw_fd(),
        control: guest_end.as_raw_fd(),
    };
    let qargs = QemuArgs {
        accel: cfg.accel,
        memory_mib: cfg.memory_mib,
        vcpus: cfg.vcpus,
        fds,
    };
    let mut vm = Vm::spawn(&qargs, cfg.accel, &cfg.assets.dir)?;
    // QEMU holds its own copies now.
    drop((kernel, initrd, rootfs, code, guest_end));
    let spawned = Instant::now();
    let mut d = Driver {
        cfg,
        sink,
        proxy_events,
        started,
        conns: HashMap::new(),
    };
    let result = d.drive(job, &mut vm, host_end, spawned);
    for (_, c) in d.conns.drain() {
        let _ = c.shutdown(Shutdown::Both);
    }
    vm.destroy();
    if std::env::var_os("BABUINO_VM_DEBUG_CONSOLE").is_some() {
        eprintln!("--- guest console (tail) ---\n{}\n---", vm.console_tail());
    }
    let mut report = result?;
    report.total_ms = t0.elapsed().as_millis() as u64;
    Ok(report)
}

/// QEMU and the thread collecting its console.
struct Vm {
    child: Child,
    landlock: bool,
    console: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Vm {
    fn spawn(a: &QemuArgs, accel: Accel, asset_dir: &Path) -> Result<Self, VmError> {
        let inherit = [
            a.fds.kernel,
            a.fds.initrd,
            a.fds.rootfs,
            a.fds.code,
            a.fds.control,
        ];
        let landlock = qemu_landlock(asset_dir, accel)?;
        let jail = Jail::for_host(accel, landlock.as_ref());
        let mut cmd = Command::new(qemu::QEMU);
        cmd.args(qemu::args(a))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs between fork and exec and only makes async-signal-safe system
        // calls on values copied before the fork.
        unsafe {
            cmd.pre_exec(move || {
                for fd in inherit {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                jail.enter()?;
                // Die with babuino (even on SIGKILL): nothing outlives a run. Set after the
                // jail: the kernel clears the parent-death signal when credentials change.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0
                    || libc::getppid() != parent
                {
                    return Err(std::io::Error::other("parent died"));
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => VmError::NoQemu(e),
            _ => VmError::Io {
                what: "start qemu in its jail".into(),
                source: e,
            },
        })?;
        let console = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let outs: Vec<Box<dyn Read + Send>> = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        for mut r in outs {
            let console = Arc::clone(&console);
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut c) = console.lock() {
                        c.extend_from_slice(&buf[..n]);
                        if c.len() > 2 * CONSOLE_TAIL {
                            let cut = c.len() - CONSOLE_TAIL;
                            c.drain(..cut);
                        }
                    }
                }
            }));
        }
        Ok(Vm {
            child,
            landlock: jail.landlock.is_some(),
            console,
            readers,
        })
    }

    fn console_tail(&self) -> String {
        let c = self.console.lock().map(|c| c.clone()).unwrap_or_default();
        let text = String::from_utf8_lossy(&c).replace('\r', "");
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(st.to_string()),
            _ => None,
        }
    }

    fn destroy(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// The namespaces and identity QEMU runs with: its own network (empty: it needs none), IPC and
/// UTS namespaces; as root it also drops to a uid of its own (keeping the group of /dev/kvm for
/// KVM);
/// and a Landlock domain that lets it read only its own program files and the guest assets.
#[derive(Debug, Clone, Copy)]
struct Jail {
    root: bool,
    /// uid and gid of this QEMU: unused by anything else and different for every VM, so one
    /// escaped QEMU cannot signal or ptrace another run's QEMU (as a shared `nobody` could).
    uid: libc::uid_t,
    kvm_gid: Option<libc::gid_t>,
    /// A prepared Landlock ruleset (applied in the child), when the kernel supports Landlock.
    landlock: Option<libc::c_int>,
}

impl Jail {
    fn for_host(accel: Accel, landlock: Option<&OwnedFd>) -> Self {
        use std::os::unix::fs::MetadataExt;
        let root = nix::unistd::geteuid().is_root();
        let kvm_gid = match accel {
            Accel::Kvm => fs::metadata("/dev/kvm").ok().map(|m| m.gid()),
            Accel::Tcg => None,
        };
        // 0x4000_0000 + pid·256 + n: above every system and user range, unique per live
        // babuino (pid_max ≤ 2^22) and per VM within it.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xff;
        let uid = 0x4000_0000 + (std::process::id() << 8) + n;
        Jail {
            root,
            uid,
            kvm_gid,
            landlock: landlock.map(|f| f.as_raw_fd()),
        }
    }

    /// Runs in the forked child (async-signal-safe calls only).
    fn enter(&self) -> std::io::Result<()> {
        let err = || Err(std::io::Error::last_os_error());
        let mut flags = libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        if !self.root {
            flags |= libc::CLONE_NEWUSER;
        }
        // SAFETY: unshare/setgroups/setgid/setuid/prctl/landlock_restrict_self take plain values
        // or a pointer to a local array.
        unsafe {
            if libc::unshare(flags) != 0 {
                return err();
            }
            if self.root {
                let id = self.uid;
                let groups: [libc::gid_t; 1] = [self.kvm_gid.unwrap_or(id)];
                if libc::setgroups(1, groups.as_ptr()) != 0
                    || libc::setgid(id) != 0
                    || libc::setuid(id) != 0
                {
                    return err();
                }
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return err();
            }
            if let Some(fd) = self.landlock
                && libc::syscall(libc::SYS_landlock_restrict_self, fd, 0) != 0
            {
                return err();
            }
        }
        Ok(())
    }
}

/// Landlock access rights of ABI 1 (what every Landlock kernel knows).
mod ll {
    pub const EXECUTE: u64 = 1 << 0;
    pub const WRITE_FILE: u64 = 1 << 1;
    pub const READ_FILE: u64 = 1 << 2;
    pub const READ_DIR: u64 = 1 << 3;
    /// Every filesystem right of ABI 1: anything not granted below is denied.
    pub const ALL: u64 = (1 << 13) - 1;
    pub const RULE_PATH_BENEATH: libc::c_int = 1;
}

/// Prepares the Landlock ruleset for QEMU: read and execute its program files, read the guest
/// assets, `/dev/null`, `/dev/urandom`, and `/dev/kvm` for KVM; nothing else on the filesystem.
/// `None` when this kernel has no Landlock (the other layers of the jail still apply).
fn qemu_landlock(asset_dir: &Path, accel: Accel) -> Result<Option<OwnedFd>, VmError> {
    use std::os::fd::FromRawFd;
    let attr: u64 = ll::ALL;
    // SAFETY: attr is a valid landlock_ruleset_attr of the given size (ABI 1 layout).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const u64,
            std::mem::size_of::<u64>(),
            0,
        )
    };
    if fd < 0 {
        return Ok(None);
    }
    // SAFETY: the kernel just returned this descriptor; we own it.
    let ruleset = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    let read = ll::EXECUTE | ll::READ_FILE | ll::READ_DIR;
    let mut rules: Vec<(PathBuf, u64)> = ["/usr", "/lib", "/lib64", "/bin", "/etc"]
        .iter()
        .map(|p| (PathBuf::from(p), read))
        .collect();
    rules.push((asset_dir.to_path_buf(), ll::READ_FILE | ll::READ_DIR));
    rules.push(("/dev/null".into(), ll::READ_FILE | ll::WRITE_FILE));
    rules.push(("/dev/urandom".into(), ll::READ_FILE));
    if accel == Accel::Kvm {
        rules.push(("/dev/kvm".into(), ll::READ_FILE | ll::WRITE_FILE));
    }
    for (path, access) in rules {
        let Ok(f) = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(&path)
        else {
            continue; // e.g. no /lib64 on this distribution
        };
        let access = if f.metadata().is_ok_and(|m| m.is_dir()) {
            access
        } else {
            access & (ll::EXECUTE | ll::READ_FILE | ll::WRITE_FILE)
        };
        // struct landlock_path_beneath_attr { __u64 allowed_access; __s32 parent_fd; } packed.
        let mut attr = [0u8; 12];
        attr[..8].copy_from_slice(&access.to_ne_bytes());
        attr[8..].copy_from_slice(&f.as_raw_fd().to_ne_bytes());
        // SAFETY: attr is a valid packed landlock_path_beneath_attr; both fds are open.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset.as_raw_fd(),
                ll::RULE_PATH_BENEATH,
                attr.as_ptr(),
                0,
            )
        };
        if rc != 0 {
            return Err(VmError::Io {
                what: format!("landlock rule for {}", path.display()),
                source: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(Some(ruleset))
}

/// Packs the code directory into a read-only squashfs image and returns an open descriptor to
/// it; the file itself is deleted at once, so nothing is left on disk whatever happens next.
fn pack_code(dir: Option<&Path>) -> Result<OwnedFd, VmError> {
    let tmp = tempfile::Builder::new()
        .prefix("babuino-vm-")
        .tempdir()
        .map_err(io("create temp dir"))?;
    let src = match dir {
        Some(d) => {
            let md = fs::metadata(d).map_err(|e| VmError::Pack(format!("{}: {e}", d.display())))?;
            if !md.is_dir() {
                return Err(VmError::Pack(format!("{} is not a directory", d.display())));
            }
            d.to_path_buf()
        }
        None => {
            let empty = tmp.path().join("empty");
            fs::create_dir(&empty).map_err(io("create empty code dir"))?;
            empty
        }
    };
    let image = tmp.path().join("code.sqfs");
    let out = Command::new("mksquashfs")
        .arg(&src)
        .arg(&image)
        .args([
            "-comp",
            "lz4",
            "-noappend",
            "-quiet",
            "-no-progress",
            "-all-root",
            "-no-xattrs",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            VmError::Pack(format!(
                "run mksquashfs (Debian package squashfs-tools): {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(VmError::Pack(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let f = fs::File::open(&image).map_err(io("open code image"))?;
    drop(tmp);
    Ok(OwnedFd::from(f))
}

struct Driver<'a> {
    cfg: &'a VmConfig,
    sink: &'a mut dyn OutputSink,
    proxy_events: Option<&'a mpsc::Receiver<Event>>,
    started: Instant,
    /// Open relay connections to the egress proxy, by guest connection id.
    conns: HashMap<u32, TcpStream>,
}

/// Sends one message on the shared channel writer.
fn send(w: &Mutex<UnixStream>, m: &Msg) -> std::io::Result<()> {
    match w.lock() {
        Ok(mut s) => s.write_all(&m.encode()),
        Err(_) => Err(std::io::Error::other("channel writer poisoned")),
    }
}

impl Driver<'_> {
    fn event(&mut self, report: &mut VmReport, kind: EventKind, detail: String) {
        let ev = Event {
            time_ms: self.started.elapsed().as_millis() as u64,
            kind,
            detail,
        };
        self.sink.event(&ev);
        if report.events.len() < MAX_EVENTS {
            report.events.push(ev);
        }
    }

    fn output(&mut self, report: &mut VmReport, stream: Stream, b: &[u8]) -> bool {
        let before = report.stdout_bytes + report.stderr_bytes;
        match stream {
            Stream::Stdout => report.stdout_bytes += b.len() as u64,
            Stream::Stderr => report.stderr_bytes += b.len() as u64,
        }
        let total = before + b.len() as u64;
        if before < self.cfg.output_limit {
            self.sink
                .output(stream, clip(b, total, self.cfg.output_limit));
        }
        if total > self.cfg.output_limit {
            report.truncated = true;
            return false;
        }
        true
    }

    /// A relay connection opened by the program: connect it to the egress proxy and pump the
    /// proxy's answers back on a thread.
    fn open_conn(&mut self, id: u32, writer: &Arc<Mutex<UnixStream>>) {
        let refuse = |w: &Mutex<UnixStream>| {
            let _ = send(w, &Msg::ConnClose { id });
        };
        let Some(addr) = self.cfg.proxy else {
            // The guest only listens when a proxy exists; anything else is refused.
            return refuse(writer);
        };
        let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
            return refuse(writer);
        };
        let Ok(mut r) = s.try_clone() else {
            return refuse(writer);
        };
        let w = Arc::clone(writer);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; babuino_guest::proto::CHUNK];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let m = Msg::ConnData {
                            id,
                            data: buf[..n].to_vec(),
                        };
                        if send(&w, &m).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = send(&w, &Msg::ConnClose { id });
        });
        self.conns.insert(id, s);
    }

    fn drive(
        &mut self,
        job: &VmJob,
        vm: &mut Vm,
        sock: UnixStream,
        spawned: Instant,
    ) -> Result<VmReport, VmError> {
        let cfg = self.cfg;
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(io("socket timeout"))?;
        let writer = Arc::new(Mutex::new(sock.try_clone().map_err(io("dup channel"))?));
        let mut sock = sock;
        let mut dec = Decoder::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut report = VmReport {
            accel: cfg.accel,
            exit: VmExit::Code { code: 0 },
            boot_ms: 0,
            guest_boot_ms: 0,
            guest_agent_ms: 0,
            run_ms: 0,
            total_ms: 0,
            events: Vec::new(),
            output_files: Vec::new(),
            stdout_bytes: 0,
            stderr_bytes: 0,
            truncated: false,
            pids_hit: false,
            qemu_landlock: vm.landlock,
        };
        let mut hello = false;
        let mut started: Option<Instant> = None;
        let mut exit: Option<VmExit> = None;
        let mut writer_out = cfg.output_dir.as_ref().map(|d| OutputWriter::new(d));
        let ran = |s: Option<Instant>| s.map(|s| s.elapsed().as_millis() as u64).unwrap_or(0);
        loop {
            if let Some(rx) = self.proxy_events {
                while let Ok(ev) = rx.try_recv() {
                    self.sink.event(&ev);
                    if report.events.len() < MAX_EVENTS {
                        report.events.push(ev);
                    }
                }
            }
            // SIGINT/SIGTERM/SIGHUP of babuino: destroy the VM and report it like native does.
            if let Some(sig) = crate::backend::interrupted() {
                report.run_ms = ran(started);
                report.exit = VmExit::Signal { signal: sig };
                let d = format!("babuino got signal {sig}: VM destroyed");
                self.event(&mut report, EventKind::Info, d);
                return Ok(report);
            }
            // Deadlines first: they hold even if the guest floods the channel.
            if !hello && spawned.elapsed() > cfg.boot_timeout {
                return Err(VmError::BootTimeout {
                    secs: cfg.boot_timeout.as_secs(),
                    accel: cfg.accel.name(),
                    console: vm.console_tail(),
                });
            }
            if let Some(s) = started
                && exit.is_none()
                && s.elapsed() > cfg.timeout
            {
                report.run_ms = ran(started);
                report.exit = VmExit::Timeout;
                let d = format!(
                    "timeout of {:.1} s reached: VM destroyed",
                    cfg.timeout.as_secs_f64()
                );
                self.event(&mut report, EventKind::Limit, d);
                return Ok(report);
            }
            let msg = match dec.next_msg() {
                Err(e) => return Err(VmError::Protocol(e.to_string())),
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    match sock.read(&mut buf) {
                        Ok(0) => {
                            // QEMU closed the channel: it has exited (guest reboot, crash, kill).
                            std::thread::sleep(Duration::from_millis(50));
                            let status = vm.exited().unwrap_or_else(|| "channel closed".into());
                            return Err(VmError::QemuDied {
                                status,
                                console: vm.console_tail(),
                            });
                        }
                        Ok(n) => dec.push(&buf[..n]),
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            if let Some(status) = vm.exited() {
                                return Err(VmError::QemuDied {
                                    status,
                                    console: vm.console_tail(),
                                });
                            }
                        }
                        Err(e) => {
                            return Err(VmError::Io {
                                what: "read from guest".into(),
                                source: e,
                            });
                        }
                    }
                    continue;
                }
            };
            match msg {
                Msg::Hello { uptime_ms } => {
                    hello = true;
                    report.guest_agent_ms = uptime_ms;
                    let spec = Spec {
                        argv: job.argv.clone(),
                        env: job.env.clone(),
                        cwd: if job.code_dir.is_some() {
                            GUEST_CODE_DIR.into()
                        } else {
                            "/tmp".into()
                        },
                        output_dir: cfg
                            .output_dir
                            .as_ref()
                            .map(|_| GUEST_OUTPUT_DIR.to_string()),
                        output_files_limit: cfg.output_files_limit,
                        uid: GUEST_UID,
                        pids: cfg.pids,
                        tmp_bytes: cfg.tmp_bytes,
                        proxy_port: cfg.proxy.map(|_| GUEST_PROXY_PORT),
                        stdin: job.stdin,
                    };
                    send(&writer, &Msg::Spec(spec)).map_err(io("send run spec"))?;
                    if job.stdin {
                        // Detached: a stdin that never ends must not hold the run open; the
                        // channel write fails once the VM is gone and the thread ends.
                        let w = Arc::clone(&writer);
                        std::thread::spawn(move || {
                            let mut input = std::io::stdin().lock();
                            let mut buf = vec![0u8; babuino_guest::proto::CHUNK];
                            loop {
                                match input.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        if send(&w, &Msg::Stdin(buf[..n].to_vec())).is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                            let _ = send(&w, &Msg::Stdin(Vec::new()));
                        });
                    }
                }
                Msg::Started { uptime_ms } => {
                    report.boot_ms = spawned.elapsed().as_millis() as u64;
                    report.guest_boot_ms = uptime_ms;
                    started = Some(Instant::now());
                }
                Msg::Stdout(b) => {
                    if !self.output(&mut report, Stream::Stdout, &b) {
                        return Ok(self.output_cap(report, started));
                    }
                }
                Msg::Stderr(b) => {
                    if !self.output(&mut report, Stream::Stderr, &b) {
                        return Ok(self.output_cap(report, started));
                    }
                }
                Msg::Denial { kind, detail } => {
                    let k = match kind.as_str() {
                        "write" => EventKind::DeniedWrite,
                        "read" => EventKind::DeniedRead,
                        "network" => EventKind::BlockedConnect,
                        "exec" | "syscall" => EventKind::DeniedSyscall,
                        "pids" => {
                            report.pids_hit = true;
                            EventKind::Limit
                        }
                        _ => EventKind::Info,
                    };
                    self.event(&mut report, k, detail);
                }
                Msg::Exit(e) => {
                    report.run_ms = ran(started);
                    exit = Some(match e {
                        GuestExit::Code(code) => VmExit::Code { code },
                        GuestExit::Signal(signal) => VmExit::Signal { signal },
                        GuestExit::OutOfMemory => VmExit::Memory,
                    });
                    if exit == Some(VmExit::Memory) {
                        let d = format!(
                            "memory limit of {} MiB (the VM's RAM) reached: program killed",
                            cfg.memory_mib
                        );
                        self.event(&mut report, EventKind::Limit, d);
                    }
                }
                Msg::Dir { path } => {
                    if let Some(w) = writer_out.as_mut() {
                        w.dir(&path)?;
                    }
                }
                Msg::File {
                    path,
                    mode,
                    offset,
                    data,
                } => {
                    if let Some(w) = writer_out.as_mut()
                        && w.file(&path, mode, offset, &data)?
                    {
                        report.output_files.push(path);
                    }
                }
                Msg::Skipped { path, reason } => {
                    self.event(
                        &mut report,
                        EventKind::OutputSkipped,
                        format!("{path}: {reason}"),
                    );
                }
                Msg::Log(text) => {
                    if exit.is_none() && started.is_none() {
                        return Err(VmError::Guest(text));
                    }
                    self.event(&mut report, EventKind::Degraded, text);
                }
                Msg::ConnOpen { id } => self.open_conn(id, &writer),
                Msg::ConnData { id, data } => {
                    if let Some(s) = self.conns.get_mut(&id)
                        && s.write_all(&data).is_err()
                    {
                        self.conns.remove(&id);
                        let _ = send(&writer, &Msg::ConnClose { id });
                    }
                }
                Msg::ConnClose { id } => {
                    if let Some(s) = self.conns.get(&id) {
                        let _ = s.shutdown(Shutdown::Write);
                    }
                }
                Msg::Done => {
                    let Some(e) = exit else {
                        return Err(VmError::Protocol(
                            "guest finished without an exit status".into(),
                        ));
                    };
                    report.exit = e;
                    return Ok(report);
                }
                Msg::Spec(_) | Msg::Stdin(_) => {
                    return Err(VmError::Protocol("guest sent a host message".into()));
                }
            }
        }
    }

    fn output_cap(&mut self, mut report: VmReport, started: Option<Instant>) -> VmReport {
        report.exit = VmExit::OutputLimit;
        report.run_ms = started.map(|s| s.elapsed().as_millis() as u64).unwrap_or(0);
        let d = format!(
            "output limit of {} bytes reached: VM destroyed",
            self.cfg.output_limit
        );
        self.event(&mut report, EventKind::Limit, d);
        report
    }
}

/// The part of the last chunk that fits under the limit (`total` includes the chunk).
fn clip(b: &[u8], total: u64, limit: u64) -> &[u8] {
    if total <= limit {
        return b;
    }
    let over = (total - limit) as usize;
    &b[..b.len().saturating_sub(over)]
}

/// Writes the guest's output tree under a host directory: relative paths only, no `..`, never
/// through a symbolic link, regular files and directories only.
struct OutputWriter {
    root: PathBuf,
    open: Option<(String, fs::File)>,
}

impl OutputWriter {
    fn new(root: &Path) -> Self {
        OutputWriter {
            root: root.to_path_buf(),
            open: None,
        }
    }

    fn resolve(&self, rel: &str) -> Result<PathBuf, VmError> {
        let bad = |why: &str| VmError::Output {
            path: rel.to_string(),
            why: why.to_string(),
        };
        let p = Path::new(rel);
        if rel.is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(bad("not a plain relative path"));
        }
        // Every existing ancestor inside the root must be a real directory.
        let mut cur = self.root.clone();
        for c in p.parent().into_iter().flat_map(|p| p.components()) {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(bad("a parent is not a directory")),
                Err(_) => return Err(bad("parent directory was not sent")),
            }
        }
        Ok(self.root.join(p))
    }

    fn dir(&mut self, rel: &str) -> Result<(), VmError> {
        fs::create_dir_all(&self.root).map_err(|e| VmError::Output {
            path: self.root.display().to_string(),
            why: e.to_string(),
        })?;
        let p = self.resolve(rel)?;
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(VmError::Output {
                path: rel.into(),
                why: "exists and is not a directory".into(),
            }),
            Err(_) => fs::create_dir(&p).map_err(|e| VmError::Output {
                path: rel.into(),
                why: e.to_string(),
            }),
        }
    }

    /// Returns true when this chunk starts a new file.
    fn file(&mut self, rel: &str, mode: u32, offset: u64, data: &[u8]) -> Result<bool, VmError> {
        let err = |e: std::io::Error| VmError::Output {
            path: rel.to_string(),
            why: e.to_string(),
        };
        let new = offset == 0;
        if new {
            fs::create_dir_all(&self.root).map_err(err)?;
            let p = self.resolve(rel)?;
            let f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode & 0o755)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&p)
                .map_err(err)?;
            self.open = Some((rel.to_string(), f));
        }
        match self.open.as_mut() {
            Some((name, f)) if name == rel => f.write_all(data).map_err(err)?,
            _ => {
                return Err(VmError::Protocol(format!(
                    "file chunk for {rel} out of order"
                )));
            }
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_landlock_allows_the_assets_and_denies_the_rest() {
        let assets = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        fs::write(assets.path().join("vmlinux"), "kernel").unwrap();
        fs::write(other.path().join("secret"), "secret").unwrap();
        let Some(ruleset) = qemu_landlock(assets.path(), Accel::Tcg).unwrap() else {
            eprintln!("skipped: this kernel has no Landlock");
            return;
        };
        let fd = ruleset.as_raw_fd();
        let cat = |p: &Path| {
            let mut c = Command::new("cat");
            c.arg(p);
            // SAFETY: only prctl and the landlock syscall between fork and exec.
            unsafe {
                c.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                        || libc::syscall(libc::SYS_landlock_restrict_self, fd, 0) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            c.output().unwrap()
        };
        let ok = cat(&assets.path().join("vmlinux"));
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert_eq!(ok.stdout, b"kernel");
        let denied = cat(&other.path().join("secret"));
        assert!(!denied.status.success());
        assert!(String::from_utf8_lossy(&denied.stderr).contains("Permission denied"));
    }

    #[test]
    fn output_writer_refuses_escapes_and_links() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let mut w = OutputWriter::new(d.path());
        for bad in ["../x", "/etc/passwd", "a/../../x", ""] {
            assert!(w.file(bad, 0o644, 0, b"x").is_err(), "{bad}");
        }
        // A link planted in the output root (not by us) is never followed.
        std::os::unix::fs::symlink(outside.path(), d.path().join("link")).unwrap();
        assert!(w.file("link/x", 0o644, 0, b"x").is_err());
        std::os::unix::fs::symlink(outside.path().join("f"), d.path().join("f")).unwrap();
        assert!(w.file("f", 0o644, 0, b"x").is_err());
        assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
        // The normal case, in chunks.
        w.dir("sub").unwrap();
        assert!(w.file("sub/r.txt", 0o644, 0, b"ab").unwrap());
        assert!(!w.file("sub/r.txt", 0o644, 2, b"cd").unwrap());
        assert_eq!(fs::read(d.path().join("sub/r.txt")).unwrap(), b"abcd");
    }

    #[test]
    fn setuid_bits_are_dropped_from_outputs() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let mut w = OutputWriter::new(d.path());
        w.file("s", 0o4777, 0, b"x").unwrap();
        let mode = fs::metadata(d.path().join("s"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7000, 0);
    }

    #[test]
    fn clip_keeps_only_what_fits() {
        assert_eq!(clip(b"abcdef", 10, 20), b"abcdef");
        assert_eq!(clip(b"abcdef", 22, 20), b"abcd");
    }
}
