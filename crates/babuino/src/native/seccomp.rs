//! The seccomp policy of the native backend, as data, and its supervisor.
//!
//! One filter sends two groups of system calls to a supervisor (user notification) in the
//! sandbox's init process:
//! - **denied**: calls untrusted code never needs (ptrace, mount, bpf, keyctl, io_uring, module
//!   loading, namespace creation, …). The supervisor answers `EPERM` and records a
//!   `denied-syscall` event. If the supervisor is gone, the kernel fails them with `ENOSYS`:
//!   still denied.
//! - **watched**: calls that write the filesystem (open for writing, create, unlink, rename,
//!   mkdir, truncate). The supervisor lets the kernel run them unchanged (mounts and Landlock
//!   enforce), but first checks whether the target is writable and records a `denied-write`
//!   event when it is not. The event is a report, never the enforcement.
//!
//! A second, small filter makes `clone3` fail with `ENOSYS` so C libraries fall back to `clone`,
//! whose flags the first filter can inspect.

use crate::sys;
use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MARKER: u32 = 0x0b0b;

/// System calls refused outright, with the name used in events.
pub const DENIED: &[(i64, &str)] = &[
    (libc::SYS_ptrace, "ptrace"),
    (libc::SYS_process_vm_readv, "process_vm_readv"),
    (libc::SYS_process_vm_writev, "process_vm_writev"),
    (libc::SYS_mount, "mount"),
    (libc::SYS_umount2, "umount2"),
    (libc::SYS_pivot_root, "pivot_root"),
    (libc::SYS_chroot, "chroot"),
    (libc::SYS_move_mount, "move_mount"),
    (libc::SYS_open_tree, "open_tree"),
    (libc::SYS_fsopen, "fsopen"),
    (libc::SYS_fsconfig, "fsconfig"),
    (libc::SYS_fsmount, "fsmount"),
    (libc::SYS_fspick, "fspick"),
    (libc::SYS_mount_setattr, "mount_setattr"),
    (libc::SYS_bpf, "bpf"),
    (libc::SYS_keyctl, "keyctl"),
    (libc::SYS_add_key, "add_key"),
    (libc::SYS_request_key, "request_key"),
    (libc::SYS_perf_event_open, "perf_event_open"),
    (libc::SYS_userfaultfd, "userfaultfd"),
    (libc::SYS_io_uring_setup, "io_uring_setup"),
    (libc::SYS_io_uring_enter, "io_uring_enter"),
    (libc::SYS_io_uring_register, "io_uring_register"),
    (libc::SYS_kexec_load, "kexec_load"),
    (libc::SYS_kexec_file_load, "kexec_file_load"),
    (libc::SYS_init_module, "init_module"),
    (libc::SYS_finit_module, "finit_module"),
    (libc::SYS_delete_module, "delete_module"),
    (libc::SYS_unshare, "unshare"),
    (libc::SYS_setns, "setns"),
    (libc::SYS_acct, "acct"),
    (libc::SYS_swapon, "swapon"),
    (libc::SYS_swapoff, "swapoff"),
    (libc::SYS_reboot, "reboot"),
    (libc::SYS_settimeofday, "settimeofday"),
    (libc::SYS_clock_settime, "clock_settime"),
    (libc::SYS_clock_adjtime, "clock_adjtime"),
    (libc::SYS_adjtimex, "adjtimex"),
    (libc::SYS_syslog, "syslog"),
    (libc::SYS_quotactl, "quotactl"),
    (libc::SYS_name_to_handle_at, "name_to_handle_at"),
    (libc::SYS_open_by_handle_at, "open_by_handle_at"),
    (libc::SYS_lookup_dcookie, "lookup_dcookie"),
    (libc::SYS_vhangup, "vhangup"),
    (libc::SYS_iopl, "iopl"),
    (libc::SYS_ioperm, "ioperm"),
    (libc::SYS_uselib, "uselib"),
    (libc::SYS_fanotify_init, "fanotify_init"),
    (libc::SYS_kcmp, "kcmp"),
    (libc::SYS_pidfd_getfd, "pidfd_getfd"),
];

/// Socket families the program may create.
const ALLOWED_SOCKET_FAMILIES: &[i32] = &[
    libc::AF_UNIX,
    libc::AF_INET,
    libc::AF_INET6,
    libc::AF_NETLINK,
];

/// Namespace-creating `clone` flags.
const CLONE_NS_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// Terminal ioctls that inject input or poke the console.
const DENIED_IOCTLS: &[(u64, &str)] = &[
    (libc::TIOCSTI, "ioctl TIOCSTI"),
    (libc::TIOCLINUX, "ioctl TIOCLINUX"),
];

/// Write flags of open(2).
const OPEN_WRITE_FLAGS: &[u64] = &[
    libc::O_WRONLY as u64,
    libc::O_RDWR as u64,
    libc::O_CREAT as u64,
    libc::O_TRUNC as u64,
];

/// Whether open(2) flags ask for a write. Only the low 32 bits count: the kernel takes an `int`
/// (open, openat) and rejects unknown bits of openat2's 64-bit field.
fn opens_for_write(flags: u64) -> bool {
    let f = flags & u64::from(u32::MAX);
    OPEN_WRITE_FLAGS.iter().any(|w| f & w != 0)
}

/// The write-relevant open(2) flags by name, as `strace` prints them (`O_WRONLY|O_CREAT|O_APPEND`),
/// so a reported write can be matched against the program's own trace.
pub fn open_flag_names(flags: u64) -> String {
    let f = flags & u64::from(u32::MAX);
    let mut names = vec![match f & libc::O_ACCMODE as u64 {
        x if x == libc::O_WRONLY as u64 => "O_WRONLY",
        x if x == libc::O_RDWR as u64 => "O_RDWR",
        x if x == libc::O_RDONLY as u64 => "O_RDONLY",
        _ => "O_ACCMODE",
    }];
    for (bit, name) in [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
    ] {
        if f & bit as u64 != 0 {
            names.push(name);
        }
    }
    // O_TMPFILE shares its O_DIRECTORY bit: name it only when all of its bits are there.
    let tmpfile = libc::O_TMPFILE as u64;
    if f & tmpfile == tmpfile {
        names.push("O_TMPFILE");
    }
    names.join("|")
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompRule, FilterError> {
    let c = SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| FilterError(e.to_string()))?;
    SeccompRule::new(vec![c]).map_err(|e| FilterError(e.to_string()))
}

fn flag_rules(arg: u8, flags: &[u64]) -> Result<Vec<SeccompRule>, FilterError> {
    flags
        .iter()
        .map(|f| cond(arg, SeccompCmpOp::MaskedEq(*f), *f))
        .collect()
}

/// The rules of the notifying filter: syscall number → conditions (empty = always).
pub fn notify_rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, FilterError> {
    let mut m: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (nr, _) in DENIED {
        m.insert(*nr, vec![]);
    }
    m.insert(libc::SYS_clone, flag_rules(0, CLONE_NS_FLAGS)?);
    // Device nodes only: FIFOs and sockets are harmless.
    let dev = |arg| -> Result<Vec<SeccompRule>, FilterError> {
        [libc::S_IFCHR, libc::S_IFBLK]
            .iter()
            .map(|t| cond(arg, SeccompCmpOp::MaskedEq(libc::S_IFMT as u64), *t as u64))
            .collect()
    };
    // Socket families other than Unix, IP and netlink: some are not confined by the network
    // namespace at all (AF_VSOCK reaches the hypervisor host), others are rarely used attack
    // surface (AF_ALG, AF_TIPC, AF_RDS, …).
    m.insert(
        libc::SYS_socket,
        vec![
            SeccompRule::new(
                ALLOWED_SOCKET_FAMILIES
                    .iter()
                    .map(|f| {
                        SeccompCondition::new(
                            0,
                            SeccompCmpArgLen::Qword,
                            SeccompCmpOp::Ne,
                            *f as u64,
                        )
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| FilterError(e.to_string()))?,
            )
            .map_err(|e| FilterError(e.to_string()))?,
        ],
    );
    m.insert(libc::SYS_mknod, dev(1)?);
    m.insert(libc::SYS_mknodat, dev(2)?);
    m.insert(
        libc::SYS_ioctl,
        DENIED_IOCTLS
            .iter()
            .map(|(req, _)| cond(1, SeccompCmpOp::MaskedEq(0xffff_ffff), *req))
            .collect::<Result<_, _>>()?,
    );
    // Watched (reported, not decided): writes to the filesystem.
    m.insert(libc::SYS_open, flag_rules(1, OPEN_WRITE_FLAGS)?);
    m.insert(libc::SYS_openat, flag_rules(2, OPEN_WRITE_FLAGS)?);
    for nr in WATCHED_ALWAYS {
        m.insert(*nr, vec![]);
    }
    // Watched: network attempts (reported; the empty network namespace and Landlock refuse).
    m.insert(libc::SYS_connect, vec![]);
    m.insert(libc::SYS_sendto, vec![cond(4, SeccompCmpOp::Ne, 0)?]);
    // (sendmsg is not watched: the program's own start-up hands the listener over with it.)
    Ok(m)
}

const WATCHED_ALWAYS: &[i64] = &[
    libc::SYS_creat,
    libc::SYS_mkdir,
    libc::SYS_mkdirat,
    libc::SYS_unlink,
    libc::SYS_unlinkat,
    libc::SYS_rename,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_truncate,
    libc::SYS_openat2,
    libc::SYS_rmdir,
    libc::SYS_chmod,
    libc::SYS_fchmodat,
    libc::SYS_chown,
    libc::SYS_lchown,
    libc::SYS_fchownat,
    libc::SYS_symlink,
    libc::SYS_symlinkat,
    libc::SYS_link,
    libc::SYS_linkat,
];

fn is_watched(nr: i64) -> bool {
    nr == libc::SYS_open || nr == libc::SYS_openat || WATCHED_ALWAYS.contains(&nr) || is_net(nr)
}

fn is_net(nr: i64) -> bool {
    [
        libc::SYS_connect,
        libc::SYS_sendto,
        libc::SYS_sendmsg,
        libc::SYS_sendmmsg,
    ]
    .contains(&nr)
}

fn read_mem(pid: u32, addr: u64, len: usize) -> Option<Vec<u8>> {
    if addr == 0 || len == 0 || len > 4096 {
        return None;
    }
    let f = std::fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut buf = vec![0u8; len];
    let n = f.read_at(&mut buf, addr).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// The destination of a socket address when it is outside the sandbox (not loopback, not a
/// Unix socket): `1.2.3.4:443`, `[2001:db8::1]:53`.
pub fn outside_destination(sa: &[u8]) -> Option<String> {
    let family = u16::from_ne_bytes([*sa.first()?, *sa.get(1)?]) as i32;
    let port = u16::from_be_bytes([*sa.get(2)?, *sa.get(3)?]);
    match family {
        libc::AF_INET => {
            let ip = std::net::Ipv4Addr::new(*sa.get(4)?, *sa.get(5)?, *sa.get(6)?, *sa.get(7)?);
            (!ip.is_loopback()).then(|| format!("{ip}:{port}"))
        }
        libc::AF_INET6 => {
            let b: [u8; 16] = sa.get(8..24)?.try_into().ok()?;
            let ip = std::net::Ipv6Addr::from(b);
            let lo = ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v| v.is_loopback());
            (!lo).then(|| format!("[{ip}]:{port}"))
        }
        _ => None,
    }
}

fn judge_net(n: &sys::Notification) -> Verdict {
    let a = &n.args;
    let (addr, len, verb) = if n.nr as i64 == libc::SYS_connect {
        (a[1], a[2] as usize, "connect")
    } else if n.nr as i64 == libc::SYS_sendto {
        (a[4], a[5] as usize, "send")
    } else {
        // sendmsg: struct msghdr starts with msg_name, msg_namelen.
        let ptr = a[1];
        let Some(h) = read_mem(n.pid, ptr, 16) else {
            return Verdict::Continue;
        };
        let name = u64::from_ne_bytes(h[0..8].try_into().unwrap_or([0; 8]));
        let namelen = u32::from_ne_bytes(h[8..12].try_into().unwrap_or([0; 4])) as usize;
        (name, namelen, "send")
    };
    let Some(sa) = read_mem(n.pid, addr, len.min(128)) else {
        return Verdict::Continue;
    };
    match outside_destination(&sa) {
        Some(dest) => Verdict::ReportNet(format!(
            "{verb} {dest} (no network in the sandbox; only allow-listed hosts through the proxy)"
        )),
        None => Verdict::Continue,
    }
}

/// Name of a denied call for events.
pub fn denied_name(nr: i64, args: &[u64; 6]) -> String {
    if nr == libc::SYS_clone {
        return "clone with namespace flags".to_string();
    }
    if nr == libc::SYS_socket {
        let name = match args[0] as i32 {
            libc::AF_VSOCK => "AF_VSOCK (hypervisor sockets)".to_string(),
            libc::AF_ALG => "AF_ALG".to_string(),
            libc::AF_PACKET => "AF_PACKET".to_string(),
            f => format!("family {f}"),
        };
        return format!("socket {name}");
    }
    if nr == libc::SYS_mknod || nr == libc::SYS_mknodat {
        return "mknod of a device node".to_string();
    }
    if nr == libc::SYS_ioctl {
        let req = args[1] & 0xffff_ffff;
        if let Some((_, n)) = DENIED_IOCTLS.iter().find(|(r, _)| *r == req) {
            return n.to_string();
        }
    }
    DENIED
        .iter()
        .find(|(n, _)| *n == nr)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| format!("syscall {nr}"))
}

fn to_libc(p: seccompiler::BpfProgram) -> Vec<libc::sock_filter> {
    p.into_iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

/// Errors building the filter.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the seccomp filter: {0}")]
pub struct FilterError(String);

fn arch() -> Result<TargetArch, FilterError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| FilterError(e.to_string()))
}

/// The notifying filter as BPF, `SECCOMP_RET_USER_NOTIF` on match.
pub fn notify_program() -> Result<Vec<libc::sock_filter>, FilterError> {
    let f = SeccompFilter::new(
        notify_rules()?,
        SeccompAction::Allow,
        SeccompAction::Trace(MARKER),
        arch()?,
    )
    .map_err(|e| FilterError(e.to_string()))?;
    let prog: seccompiler::BpfProgram = f
        .try_into()
        .map_err(|e: seccompiler::BackendError| FilterError(e.to_string()))?;
    let mut prog = to_libc(prog);
    // seccompiler has no user-notification action: turn our marked TRACE returns into it.
    let marked = libc::SECCOMP_RET_TRACE | MARKER;
    let mut patched = 0;
    for ins in &mut prog {
        if ins.code == (libc::BPF_RET | libc::BPF_K) as u16 && ins.k == marked {
            ins.k = libc::SECCOMP_RET_USER_NOTIF;
            patched += 1;
        }
    }
    if patched == 0 {
        return Err(FilterError(
            "no notification action in the compiled filter".into(),
        ));
    }
    Ok(prog)
}

/// The filter that makes `clone3` fail with `ENOSYS`.
pub fn clone3_program() -> Result<Vec<libc::sock_filter>, FilterError> {
    let mut m = BTreeMap::new();
    m.insert(libc::SYS_clone3, vec![]);
    let f = SeccompFilter::new(
        m,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch()?,
    )
    .map_err(|e| FilterError(e.to_string()))?;
    let prog: seccompiler::BpfProgram = f
        .try_into()
        .map_err(|e: seccompiler::BackendError| FilterError(e.to_string()))?;
    Ok(to_libc(prog))
}

/// Directories (and files) the program may write; everything else is read-only or absent.
pub const WRITABLE: &[&str] = &["/tmp", "/out", "/dev/null", "/dev/zero", "/dev/full"];

/// What the supervisor concluded about one notification.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A denied call: answer EPERM and report.
    Deny(String),
    /// A write to a place that is not writable: let the kernel refuse it, report.
    ReportWrite(String),
    /// A network attempt to the outside: let the kernel refuse it, report.
    ReportNet(String),
    /// Nothing to report.
    Continue,
}

fn read_cstr(pid: u32, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let f = std::fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut buf = vec![0u8; 4096];
    let n = f.read_at(&mut buf, addr).ok()?;
    buf.truncate(n);
    let end = buf.iter().position(|&b| b == 0)?;
    buf.truncate(end);
    String::from_utf8(buf).ok()
}

/// Resolves a path argument as the process sees it: (path for display, path usable by us).
fn resolve(pid: u32, dirfd: Option<i64>, path: &str) -> (String, PathBuf) {
    if path.starts_with('/') {
        // "self" must mean the program, not the supervisor looking at it.
        let real = if let Some(rest) = path.strip_prefix("/proc/self/") {
            format!("/proc/{pid}/{rest}")
        } else if let Some(n) = path.strip_prefix("/dev/fd/") {
            format!("/proc/{pid}/fd/{n}")
        } else {
            match path {
                "/dev/stdin" => format!("/proc/{pid}/fd/0"),
                "/dev/stdout" => format!("/proc/{pid}/fd/1"),
                "/dev/stderr" => format!("/proc/{pid}/fd/2"),
                _ => path.to_string(),
            }
        };
        return (path.to_string(), PathBuf::from(real));
    }
    let base = match dirfd {
        Some(fd) if fd as i32 != libc::AT_FDCWD => format!("/proc/{pid}/fd/{}", fd as i32),
        _ => format!("/proc/{pid}/cwd"),
    };
    let shown = std::fs::read_link(&base)
        .map(|p| p.join(path).to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string());
    (shown, Path::new(&base).join(path))
}

fn errno_text(e: i32) -> &'static str {
    match e {
        libc::EROFS => "read-only file system",
        libc::EACCES | libc::EPERM => "not writable in the sandbox",
        libc::ENOENT => "no such directory",
        _ => "not writable",
    }
}

/// Whether writing `path` (as seen from inside the sandbox) would be refused, and why.
fn write_denied(real: &Path) -> Option<&'static str> {
    let target = if real.symlink_metadata().is_ok() {
        real.to_path_buf()
    } else {
        real.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let canon = std::fs::canonicalize(&target).ok()?;
    let c = CString::new(canon.as_os_str().as_encoded_bytes()).ok()?;
    if let Err(e) = sys::writable(&c) {
        return Some(errno_text(e));
    }
    if !WRITABLE.iter().any(|w| canon.starts_with(w)) {
        return Some("not writable in the sandbox");
    }
    None
}

/// Decides what to report for one notification.
pub fn judge(n: &sys::Notification) -> Verdict {
    let nr = n.nr as i64;
    if !is_watched(nr) {
        return Verdict::Deny(denied_name(nr, &n.args));
    }
    if is_net(nr) {
        return judge_net(n);
    }
    let a = &n.args;
    let (verb, dirfd, ptr, ptr2) = match nr {
        x if x == libc::SYS_open || x == libc::SYS_creat || x == libc::SYS_truncate => {
            ("write", None, a[0], None)
        }
        x if x == libc::SYS_openat || x == libc::SYS_openat2 => {
            ("write", Some(a[0] as i64), a[1], None)
        }
        x if x == libc::SYS_mkdir => ("mkdir", None, a[0], None),
        x if x == libc::SYS_mkdirat => ("mkdir", Some(a[0] as i64), a[1], None),
        x if x == libc::SYS_unlink || x == libc::SYS_rmdir => ("delete", None, a[0], None),
        x if x == libc::SYS_chmod => ("chmod", None, a[0], None),
        x if x == libc::SYS_fchmodat => ("chmod", Some(a[0] as i64), a[1], None),
        x if x == libc::SYS_chown || x == libc::SYS_lchown => ("chown", None, a[0], None),
        x if x == libc::SYS_fchownat => ("chown", Some(a[0] as i64), a[1], None),
        x if x == libc::SYS_symlink => ("symlink", None, a[1], None),
        x if x == libc::SYS_symlinkat => ("symlink", Some(a[1] as i64), a[2], None),
        x if x == libc::SYS_link => ("link", None, a[1], None),
        x if x == libc::SYS_linkat => ("link", Some(a[2] as i64), a[3], None),
        x if x == libc::SYS_unlinkat => ("delete", Some(a[0] as i64), a[1], None),
        x if x == libc::SYS_rename => ("rename", None, a[0], Some((None, a[1]))),
        _ => (
            "rename",
            Some(a[0] as i64),
            a[1],
            Some((Some(a[2] as i64), a[3])),
        ),
    };
    // The flags of an open are checked here again rather than trusted from the filter: a
    // read-only open must never be reported as a write, whatever the filter let through.
    let open_flags = match nr {
        x if x == libc::SYS_open => Some(a[1]),
        x if x == libc::SYS_openat => Some(a[2]),
        x if x == libc::SYS_creat => Some((libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64),
        x if x == libc::SYS_openat2 => {
            // open_how is behind a pointer: its flags are the first u64.
            match read_mem(n.pid, a[2], 8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => Some(u64::from_ne_bytes(b)),
                None => return Verdict::Continue,
            }
        }
        _ => None,
    };
    if let Some(f) = open_flags
        && !opens_for_write(f)
    {
        return Verdict::Continue;
    }
    let how = open_flags
        .map(|f| format!(" [{}]", open_flag_names(f)))
        .unwrap_or_default();
    let Some(path) = read_cstr(n.pid, ptr) else {
        return Verdict::Continue;
    };
    let (shown, real) = resolve(n.pid, dirfd, &path);
    // Report only what the kernel will refuse for lack of write access: a call that fails for
    // another reason first (the target exists, or does not) or writes nothing is no denied write.
    let call = match open_flags {
        Some(f) => Call::Open(f),
        None if matches!(verb, "mkdir" | "symlink" | "link") => Call::Create,
        None => Call::Change,
    };
    if !would_write(call, &real) {
        return Verdict::Continue;
    }
    let mut check = vec![(shown, real)];
    if let Some((dfd, p)) = ptr2
        && let Some(second) = read_cstr(n.pid, p)
    {
        check.push(resolve(n.pid, dfd, &second));
    }
    for (shown, real) in check {
        if let Some(why) = write_denied(&real) {
            return Verdict::ReportWrite(format!("{verb} {shown} ({why}){how}"));
        }
    }
    Verdict::Continue
}

/// What a watched call does to its (first) path.
#[derive(Debug, Clone, Copy)]
enum Call {
    /// open(2) with these flags.
    Open(u64),
    /// Makes a new name (mkdir, symlink, link): fails with `EEXIST` when the name exists.
    Create,
    /// Changes an existing name (delete, rename, chmod, chown, truncate): fails with `ENOENT`
    /// when it does not exist.
    Change,
}

/// Whether the kernel would get as far as writing: the checks it makes before write access
/// (Linux `filename_create`, `open_last_lookups`, `do_open`), as the program sees its files.
/// When existence cannot be told (a directory the supervisor may not search), it assumes a
/// write, so a real denial is never hidden.
fn would_write(call: Call, real: &Path) -> bool {
    let exists = match call {
        // open follows a final symlink unless O_NOFOLLOW (then it fails with ELOOP).
        Call::Open(f) if f & libc::O_NOFOLLOW as u64 == 0 => std::fs::metadata(real),
        _ => std::fs::symlink_metadata(real),
    };
    let exists = match exists {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => return true,
    };
    match call {
        Call::Create => !exists,
        Call::Change => exists,
        Call::Open(f) => {
            let creat = f & libc::O_CREAT as u64 != 0;
            if !exists {
                // Without O_CREAT a missing file is ENOENT; with it, a new file is written.
                return creat;
            }
            if creat && f & libc::O_EXCL as u64 != 0 {
                return false; // EEXIST
            }
            // An existing file: only write access or truncation needs the mount writable
            // (O_RDONLY|O_CREAT opens it read-only and succeeds).
            f & libc::O_ACCMODE as u64 != libc::O_RDONLY as u64 || f & libc::O_TRUNC as u64 != 0
        }
    }
}

/// Serves notifications until no process uses the filter; `report` gets each event.
pub fn supervise(listener: RawFd, mut report: impl FnMut(crate::report::EventKind, String)) {
    use crate::report::EventKind;
    while let Ok(Some(n)) = sys::notif_recv(listener) {
        let verdict = judge(&n);
        // Report before answering: once answered, the program may exit and the init with it.
        let valid = sys::notif_id_valid(listener, n.id);
        let (errno, event) = match verdict {
            Verdict::Deny(name) => (Some(libc::EPERM), Some((EventKind::DeniedSyscall, name))),
            Verdict::ReportWrite(d) => (None, Some((EventKind::DeniedWrite, d))),
            Verdict::ReportNet(d) => (None, Some((EventKind::BlockedConnect, d))),
            Verdict::Continue => (None, None),
        };
        if let Some((kind, detail)) = event
            && valid
        {
            report(kind, detail);
        }
        let _ = sys::notif_respond(listener, n.id, errno);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_and_carry_notifications() {
        let p = notify_program().unwrap();
        assert!(p.iter().any(|i| i.k == libc::SECCOMP_RET_USER_NOTIF));
        assert!(!p.iter().any(|i| i.k == (libc::SECCOMP_RET_TRACE | MARKER)));
        assert!(!clone3_program().unwrap().is_empty());
    }

    #[test]
    fn socket_addresses() {
        let mut v4 = vec![0u8; 16];
        v4[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&443u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[1, 1, 1, 1]);
        assert_eq!(outside_destination(&v4).as_deref(), Some("1.1.1.1:443"));
        v4[4..8].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(outside_destination(&v4), None);
        let mut v6 = vec![0u8; 28];
        v6[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&53u16.to_be_bytes());
        v6[8..24].copy_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        assert_eq!(
            outside_destination(&v6).as_deref(),
            Some("[2001:db8::1]:53")
        );
        let unix = (libc::AF_UNIX as u16).to_ne_bytes();
        assert_eq!(outside_destination(&unix), None);
    }

    /// A notification as the kernel would send it for a call of this test process.
    fn notif(nr: i64, args: [u64; 6]) -> sys::Notification {
        sys::Notification {
            id: 0,
            pid: std::process::id(),
            nr: nr as i32,
            args,
        }
    }

    /// A directory outside the sandbox's writable places (wherever the repository is, /tmp
    /// included), with an existing file `Cargo.toml` and directory `src`.
    fn read_only_place() -> tempfile::TempDir {
        let place = tempfile::Builder::new()
            .prefix("babuino-seccomp-test-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let dir = place.path();
        assert!(!WRITABLE.iter().any(|w| dir.starts_with(w)), "{dir:?}");
        std::fs::write(dir.join("Cargo.toml"), "[package]\n").unwrap();
        std::fs::create_dir(dir.join("src")).unwrap();
        place
    }

    fn cpath(p: &Path) -> CString {
        CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
    }

    fn openat(path: &CString, flags: i32) -> Verdict {
        let at = libc::AT_FDCWD as u64;
        judge(&notif(
            libc::SYS_openat,
            [at, path.as_ptr() as u64, flags as u64, 0o666, 0, 0],
        ))
    }

    #[test]
    fn read_only_opens_are_never_reported_as_writes() {
        let place = read_only_place();
        let file = cpath(&place.path().join("Cargo.toml"));
        let ro = libc::O_RDONLY | libc::O_CLOEXEC;
        assert_eq!(openat(&file, ro), Verdict::Continue);
        // O_CREAT on a file that exists opens it read-only: the kernel writes nothing.
        assert_eq!(openat(&file, ro | libc::O_CREAT), Verdict::Continue);
        // The upper half of the register is not part of the int the kernel reads.
        let at = libc::AT_FDCWD as u64;
        let dirty = (ro as u64) | (libc::O_WRONLY as u64) << 32;
        assert_eq!(
            judge(&notif(
                libc::SYS_openat,
                [at, file.as_ptr() as u64, dirty, 0, 0, 0]
            )),
            Verdict::Continue
        );
        // openat2: the flags are read from the program's open_how.
        let how: [u64; 3] = [ro as u64, 0, 0];
        let args = [at, file.as_ptr() as u64, how.as_ptr() as u64, 24, 0, 0];
        assert_eq!(judge(&notif(libc::SYS_openat2, args)), Verdict::Continue);
    }

    #[test]
    fn write_opens_are_reported_with_their_flags() {
        let place = read_only_place();
        let dir = place.path();
        let file = cpath(&dir.join("Cargo.toml"));
        let append = libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC;
        let want = format!(
            "write {}/Cargo.toml (not writable in the sandbox) [O_WRONLY|O_CREAT|O_APPEND]",
            dir.display()
        );
        assert_eq!(openat(&file, append), Verdict::ReportWrite(want));
        let trunc = openat(&file, libc::O_RDONLY | libc::O_TRUNC);
        assert!(
            matches!(&trunc, Verdict::ReportWrite(d) if d.ends_with("[O_RDONLY|O_TRUNC]")),
            "{trunc:?}"
        );
        let new = cpath(&dir.join("no-such-file"));
        assert!(matches!(
            openat(&new, libc::O_WRONLY | libc::O_CREAT),
            Verdict::ReportWrite(_)
        ));
        let at = libc::AT_FDCWD as u64;
        let how: [u64; 3] = [libc::O_RDWR as u64, 0, 0];
        let args = [at, file.as_ptr() as u64, how.as_ptr() as u64, 24, 0, 0];
        assert!(matches!(
            judge(&notif(libc::SYS_openat2, args)),
            Verdict::ReportWrite(d) if d.ends_with("[O_RDWR]")
        ));
        // A relative path is resolved against the program's directory fd, not the supervisor's.
        let d = std::fs::File::open(dir).unwrap();
        let rel = CString::new("Cargo.toml").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&d) as u64;
        let args = [fd, rel.as_ptr() as u64, libc::O_WRONLY as u64, 0, 0, 0];
        assert!(matches!(
            judge(&notif(libc::SYS_openat, args)),
            Verdict::ReportWrite(d) if d.starts_with(&format!("write {}/Cargo.toml ", dir.display()))
        ));
    }

    #[test]
    fn calls_that_fail_before_writing_are_not_reported() {
        let place = read_only_place();
        let dir = place.path();
        let file = cpath(&dir.join("Cargo.toml"));
        let sub = cpath(&dir.join("src"));
        let missing = cpath(&dir.join("no-such-file"));
        // EEXIST: mkdir of an existing directory (os.makedirs(exist_ok=True)), exclusive create.
        assert_eq!(
            judge(&notif(
                libc::SYS_mkdir,
                [sub.as_ptr() as u64, 0o777, 0, 0, 0, 0]
            )),
            Verdict::Continue
        );
        let excl = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
        assert_eq!(openat(&file, excl), Verdict::Continue);
        // ENOENT: opening a missing file for writing without O_CREAT, deleting a missing file.
        assert_eq!(openat(&missing, libc::O_WRONLY), Verdict::Continue);
        assert_eq!(
            judge(&notif(
                libc::SYS_unlink,
                [missing.as_ptr() as u64, 0, 0, 0, 0, 0]
            )),
            Verdict::Continue
        );
        // The same calls on names that would change are reported (judge never runs them).
        assert!(matches!(
            judge(&notif(libc::SYS_mkdir, [missing.as_ptr() as u64, 0o777, 0, 0, 0, 0])),
            Verdict::ReportWrite(d) if d.starts_with("mkdir ")
        ));
        assert!(matches!(
            judge(&notif(libc::SYS_unlink, [file.as_ptr() as u64, 0, 0, 0, 0, 0])),
            Verdict::ReportWrite(d) if d.starts_with("delete ")
        ));
        assert!(dir.join("Cargo.toml").is_file());
    }

    #[test]
    fn flag_names_read_like_strace() {
        assert_eq!(open_flag_names(0), "O_RDONLY");
        assert_eq!(
            open_flag_names(
                (libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC) as u64
            ),
            "O_WRONLY|O_CREAT|O_APPEND"
        );
        assert_eq!(
            open_flag_names((libc::O_RDWR | libc::O_TMPFILE) as u64),
            "O_RDWR|O_TMPFILE"
        );
        assert_eq!(open_flag_names(libc::O_DIRECTORY as u64), "O_RDONLY");
    }

    #[test]
    fn policy_covers_the_attack_list() {
        let rules = notify_rules().unwrap();
        for name in [
            "ptrace",
            "mount",
            "bpf",
            "keyctl",
            "perf_event_open",
            "userfaultfd",
            "io_uring_setup",
            "kexec_load",
            "init_module",
            "unshare",
            "setns",
        ] {
            let (nr, _) = DENIED.iter().find(|(_, n)| *n == name).unwrap();
            assert!(rules.contains_key(nr), "{name}");
        }
        // Ordinary calls are not touched.
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_execve,
            libc::SYS_exit_group,
        ] {
            assert!(!rules.contains_key(&nr));
        }
        assert_eq!(denied_name(libc::SYS_ptrace, &[0; 6]), "ptrace");
        assert_eq!(
            denied_name(libc::SYS_ioctl, &[0, libc::TIOCSTI, 0, 0, 0, 0]),
            "ioctl TIOCSTI"
        );
    }
}
