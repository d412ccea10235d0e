//! Babuino's guest init: PID 1 of the micro-VM.
//!
//! Boot sequence: mount /dev, /proc, /sys of the initramfs → load the virtio and filesystem modules
//! shipped in the initramfs (`/modules` lists them in dependency order) → open the virtio-serial
//! port named `babuino` → say hello → read the run spec → mount the read-only root (squashfs,
//! serial `babuino-root`) and the read-only code image (serial `babuino-code`) → fresh tmpfs `/tmp`
//! and a minimal `/dev` → run the program as an unprivileged user with `no_new_privs` → stream its
//! output → report the exit and the output files → reboot (QEMU runs with `-no-reboot`, so it exits).
//!
//! Anything that fails is reported over the port when it is open (else on the console) and the VM
//! is stopped: the host treats a missing exit frame as a failed run, never as success.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use babuino_guest::proto::{CHUNK, GuestExit, Msg, Spec};

mod audit;

const NEWROOT: &str = "/newroot";

fn main() {
    if std::process::id() != 1 {
        eprintln!("babuino-guest: this is the init of babuino's micro-VM; it must run as PID 1");
        std::process::exit(2);
    }
    let mut port: Option<File> = None;
    if let Err(e) = run(&mut port) {
        let msg = format!("babuino-guest: {e}");
        console(&msg);
        if let Some(p) = port.as_mut() {
            let _ = p.write_all(&Msg::Log(msg).encode());
        }
    }
    stop();
}

/// Writes a line to the kernel console (the host keeps it for diagnostics).
fn console(line: &str) {
    if let Ok(mut c) = fs::OpenOptions::new().write(true).open("/dev/console") {
        let _ = writeln!(c, "{line}");
    }
}

fn stop() -> ! {
    // SAFETY: sync and reboot take no pointers; as PID 1 we own the machine and want it gone.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_AUTOBOOT);
    }
    // reboot only returns on error; PID 1 must not exit (the kernel would panic, which with
    // panic=-1 also ends the VM, so this loop is only reached in a broken kernel).
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn uptime_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("nul byte in {s:?}"))
}

fn mount(
    src: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> Result<(), String> {
    let (s, t, f, d) = (cstr(src)?, cstr(target)?, cstr(fstype)?, cstr(data)?);
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), flags, d.as_ptr().cast()) };
    if rc != 0 {
        return Err(format!(
            "mount {fstype} {src} on {target}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn load_modules() -> Result<(), String> {
    let list = fs::read_to_string("/modules").map_err(|e| format!("read /modules: {e}"))?;
    for name in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = format!("/lib/modules/{name}.ko");
        let f = File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
        let empty = c"";
        // SAFETY: finit_module reads the module from a valid open fd; params is a valid C string.
        let rc = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), empty.as_ptr(), 0) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EEXIST) {
                return Err(format!("load module {name}: {err}"));
            }
        }
    }
    Ok(())
}

/// Waits until `find` returns a value, polling every 5 ms, for at most `limit`.
fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut find: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        if let Some(v) = find() {
            return Ok(v);
        }
        if start.elapsed() > limit {
            return Err(format!(
                "{what} did not appear within {} s",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `/dev` node of the entry of `class_dir` whose attribute `attr` equals `want`.
fn find_dev(class_dir: &str, attr: &str, want: &str) -> Option<String> {
    for e in fs::read_dir(class_dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(v) = fs::read_to_string(e.path().join(attr))
            && v.trim() == want
        {
            let dev = format!("/dev/{name}");
            if Path::new(&dev).exists() {
                return Some(dev);
            }
        }
    }
    None
}

fn run(port_slot: &mut Option<File>) -> Result<(), String> {
    fs::create_dir_all("/dev").ok();
    mount("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID, "mode=0755")?;
    fs::create_dir_all("/proc").ok();
    mount(
        "proc",
        "/proc",
        "proc",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "",
    )?;
    fs::create_dir_all("/sys").ok();
    mount(
        "sysfs",
        "/sys",
        "sysfs",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "",
    )?;
    load_modules()?;

    let dev_wait = Duration::from_secs(20);
    let port_dev = wait_for("virtio-serial port 'babuino'", dev_wait, || {
        find_dev("/sys/class/virtio-ports", "name", "babuino")
    })?;
    let port = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&port_dev)
        .map_err(|e| format!("open {port_dev}: {e}"))?;
    *port_slot = Some(port.try_clone().map_err(|e| format!("dup port: {e}"))?);
    let mut out = port.try_clone().map_err(|e| format!("dup port: {e}"))?;
    send(
        &mut out,
        &Msg::Hello {
            uptime_ms: uptime_ms(),
        },
    )?;

    let (spec, from_host) = read_spec(&port)?;

    let root_dev = wait_for("root disk", dev_wait, || {
        find_dev("/sys/block", "serial", "babuino-root")
    })?;
    let code_dev = wait_for("code disk", dev_wait, || {
        find_dev("/sys/block", "serial", "babuino-code")
    })?;
    fs::create_dir_all(NEWROOT).ok();
    let ro = libc::MS_RDONLY | libc::MS_NODEV | libc::MS_NOSUID;
    mount(&root_dev, NEWROOT, "squashfs", ro, "")?;
    mount(&code_dev, &format!("{NEWROOT}/code"), "squashfs", ro, "")?;
    let rw = libc::MS_NODEV | libc::MS_NOSUID;
    let size = spec.tmp_bytes.max(1 << 20);
    mount(
        "tmpfs",
        &format!("{NEWROOT}/tmp"),
        "tmpfs",
        rw,
        &format!("mode=1777,size={size}"),
    )?;
    // /out: the writable directory whose files `--output` copies back (as in every backend).
    mount(
        "tmpfs",
        &format!("{NEWROOT}/out"),
        "tmpfs",
        rw,
        &format!("mode=0755,uid={0},gid={0},size={size}", spec.uid),
    )?;
    mount(
        "tmpfs",
        &format!("{NEWROOT}/dev"),
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NOEXEC,
        "mode=0755,size=64k",
    )?;
    make_dev(&format!("{NEWROOT}/dev"))?;
    mount(
        "proc",
        &format!("{NEWROOT}/proc"),
        "proc",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "hidepid=2",
    )?;
    // The proxy relay listens on the guest's loopback; there is no other interface.
    let proxy = match spec.proxy_port {
        Some(port) => {
            net::lo_up().map_err(|e| format!("loopback setup: {e}"))?;
            let l = std::net::TcpListener::bind(("127.0.0.1", port))
                .map_err(|e| format!("proxy relay on 127.0.0.1:{port}: {e}"))?;
            l.set_nonblocking(true)
                .map_err(|e| format!("proxy relay: {e}"))?;
            Some(l)
        }
        None => None,
    };
    let out_dir = spec
        .output_dir
        .as_ref()
        .map(|d| PathBuf::from(format!("{NEWROOT}/{}", d.trim_start_matches('/'))));

    // Denials: the kernel's audit subsystem reports the program's refused syscalls to us.
    let auditor = match audit::Auditor::start(spec.uid) {
        Ok(a) => Some(a),
        Err(e) => {
            send(
                &mut out,
                &Msg::Log(format!("denial reporting unavailable: {e}")),
            )?;
            None
        }
    };

    let exit = run_program(&spec, &port, from_host, &mut out, auditor.as_ref(), proxy)?;
    if let Some(a) = &auditor {
        for (kind, detail) in a.drain(Duration::from_millis(50)) {
            send(&mut out, &Msg::Denial { kind, detail })?;
        }
    }
    send(&mut out, &Msg::Exit(exit))?;
    if let Some(dir) = out_dir {
        let mut budget = spec.output_files_limit;
        send_tree(&mut out, &dir, "", &mut budget)?;
    }
    send(&mut out, &Msg::Done)?;
    Ok(())
}

fn send(port: &mut File, m: &Msg) -> Result<(), String> {
    port.write_all(&m.encode())
        .map_err(|e| format!("write to host: {e}"))
}

/// Reads the run spec; returns the decoder too, holding whatever the host sent after the spec
/// (stdin may follow at once).
fn read_spec(mut port: &File) -> Result<(Spec, babuino_guest::proto::Decoder), String> {
    let mut dec = babuino_guest::proto::Decoder::new();
    let mut buf = [0u8; 4096];
    loop {
        match dec.next_msg() {
            Ok(Some(Msg::Spec(s))) => return Ok((s, dec)),
            Ok(Some(other)) => return Err(format!("expected a run spec, got {other:?}")),
            Ok(None) => {}
            Err(e) => return Err(format!("bad spec from host: {e}")),
        }
        let n = port
            .read(&mut buf)
            .map_err(|e| format!("read from host: {e}"))?;
        if n == 0 {
            // The host has not opened its side yet; a virtio-serial read returns 0 then.
            std::thread::sleep(Duration::from_millis(5));
        }
        dec.push(&buf[..n]);
    }
}

fn make_dev(dev: &str) -> Result<(), String> {
    for (name, minor) in [
        ("null", 3),
        ("zero", 5),
        ("full", 7),
        ("random", 8),
        ("urandom", 9),
    ] {
        let p = cstr(&format!("{dev}/{name}"))?;
        // SAFETY: p is a valid C string; mknod creates a character device node.
        let rc = unsafe { libc::mknod(p.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, minor)) };
        if rc != 0 {
            return Err(format!(
                "mknod {dev}/{name}: {}",
                std::io::Error::last_os_error()
            ));
        }
        fs::set_permissions(format!("{dev}/{name}"), fs::Permissions::from_mode(0o666))
            .map_err(|e| format!("chmod {dev}/{name}: {e}"))?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, format!("{dev}/{name}"))
            .map_err(|e| format!("symlink {dev}/{name}: {e}"))?;
    }
    fs::create_dir(format!("{dev}/shm")).map_err(|e| format!("mkdir {dev}/shm: {e}"))?;
    fs::set_permissions(format!("{dev}/shm"), fs::Permissions::from_mode(0o1777))
        .map_err(|e| format!("chmod shm: {e}"))?;
    Ok(())
}

fn meminfo_kib(key: &str) -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// MemAvailable in KiB (u64::MAX when unreadable, so a broken /proc never kills the program).
fn mem_available_kib() -> u64 {
    match meminfo_kib("MemAvailable:") {
        0 => u64::MAX,
        v => v,
    }
}

fn oom_kills() -> u64 {
    fs::read_to_string("/proc/vmstat")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// One connection of the program to the proxy relay.
struct Conn {
    stream: std::net::TcpStream,
    /// Still reading from the program (no EOF yet).
    reading: bool,
}

fn run_program(
    spec: &Spec,
    port_in: &File,
    mut from_host: babuino_guest::proto::Decoder,
    out: &mut File,
    auditor: Option<&audit::Auditor>,
    proxy: Option<std::net::TcpListener>,
) -> Result<GuestExit, String> {
    let Some((prog, args)) = spec.argv.split_first() else {
        return Err("empty command".into());
    };
    if spec.uid == 0 {
        return Err("refusing to run the program as root".into());
    }
    let _ = fs::write("/proc/self/oom_score_adj", "-1000");
    let ooms_before = oom_kills();
    let uid = spec.uid;
    let nproc = spec.pids.max(1) as libc::rlim_t;
    let cwd = cstr(&spec.cwd)?;
    let newroot = cstr(NEWROOT)?;
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(if spec.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // system calls on memory prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let fail = || Err(std::io::Error::last_os_error());
            if libc::setsid() < 0 {
                return fail();
            }
            if libc::chroot(newroot.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                return fail();
            }
            if libc::chdir(cwd.as_ptr()) != 0 {
                return fail();
            }
            let adj = b"500";
            let fd = libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY);
            if fd >= 0 {
                libc::write(fd, adj.as_ptr().cast(), adj.len());
                libc::close(fd);
            }
            // The program's uid owns nothing else in the guest, so RLIMIT_NPROC of that uid is
            // exactly the process and thread limit of the run.
            let lim = libc::rlimit {
                rlim_cur: nproc,
                rlim_max: nproc,
            };
            if libc::setrlimit(libc::RLIMIT_NPROC, &lim) != 0 {
                return fail();
            }
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(uid) != 0
                || libc::setuid(uid) != 0
            {
                return fail();
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return fail();
            }
            Ok(())
        });
    }
    send(
        out,
        &Msg::Started {
            uptime_ms: uptime_ms(),
        },
    )?;
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("babuino: cannot run {prog}: {e}\n");
            send(out, &Msg::Stderr(msg.into_bytes()))?;
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            return Ok(GuestExit::Code(code));
        }
    };
    let pid = child.id() as libc::pid_t;
    let (Some(so), Some(se)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("child pipes missing".into());
    };
    let mut streams: Vec<(OwnedFd, bool)> =
        vec![(OwnedFd::from(so), true), (OwnedFd::from(se), false)];
    // The program's stdin, fed from Stdin frames without blocking the loop.
    let mut stdin_fd: Option<OwnedFd> = child.stdin.take().map(OwnedFd::from);
    if let Some(fd) = &stdin_fd {
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    }
    let mut stdin_pending: Vec<u8> = Vec::new();
    let mut stdin_eof = false;
    let listen_host = proxy.is_some() || spec.stdin;
    let mut conns: std::collections::BTreeMap<u32, Conn> = Default::default();
    let mut next_id = 1u32;
    let mut status: Option<i32> = None;
    let mut buf = vec![0u8; CHUNK];
    // Memory the guest keeps free: below it the program is out of memory.
    let reserve_kib = (meminfo_kib("MemTotal:") / 20).max(12 * 1024);
    let mut oom_by_agent = false;
    loop {
        // Reap everything (PID 1 inherits orphans); remember the program's own status.
        loop {
            let mut st = 0;
            // SAFETY: st is a valid out-pointer.
            let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if r <= 0 {
                break;
            }
            if r == pid {
                status = Some(st);
                // The program is gone: nothing it started may outlive it or hold the pipes.
                // SAFETY: kill(-1) from PID 1 signals every process but init itself.
                unsafe { libc::kill(-1, libc::SIGKILL) };
            }
        }
        if let Some(a) = auditor {
            for (kind, detail) in a.drain(Duration::ZERO) {
                send(out, &Msg::Denial { kind, detail })?;
            }
        }
        if status.is_none() && !oom_by_agent && mem_available_kib() < reserve_kib {
            // Kill before the kernel starts thrashing the program's own code pages (which under
            // TCG can take longer than the time limit); the kernel OOM killer stays the backstop.
            oom_by_agent = true;
            // SAFETY: kill(-1) from PID 1 signals every process but init itself.
            unsafe { libc::kill(-1, libc::SIGKILL) };
        }
        if streams.is_empty() && status.is_some() {
            break;
        }
        // Poll set: output pipes, then the relay listener, the host channel (paused while a
        // megabyte of stdin waits for the program), connections, and the program's stdin.
        let host_fd = (listen_host && stdin_pending.len() < (1 << 20)).then(|| port_in.as_raw_fd());
        let stdin_out = stdin_fd
            .as_ref()
            .filter(|_| !stdin_pending.is_empty())
            .map(|f| f.as_raw_fd());
        let mut fds: Vec<libc::pollfd> = streams
            .iter()
            .map(|(fd, _)| fd.as_raw_fd())
            .chain(proxy.iter().map(|l| l.as_raw_fd()))
            .chain(host_fd)
            .chain(
                conns
                    .values()
                    .filter(|c| c.reading)
                    .map(|c| c.stream.as_raw_fd()),
            )
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if let Some(fd) = stdin_out {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            });
        }
        // SAFETY: fds is a valid array of pollfd of the given length. On timeout or EINTR every
        // revents stays 0 and only the decoder drain below has work.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
        let mut closed = Vec::new();
        for (i, p) in fds.iter().enumerate().take(streams.len()) {
            if p.revents == 0 {
                continue;
            }
            // SAFETY: buf is valid for buf.len() bytes; the fd is open (owned by streams).
            let r = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                closed.push(i);
                continue;
            }
            let chunk = buf[..r as usize].to_vec();
            let msg = if streams[i].1 {
                Msg::Stdout(chunk)
            } else {
                Msg::Stderr(chunk)
            };
            send(out, &msg)?;
        }
        let ready: Vec<(i32, i16)> = fds[streams.len()..]
            .iter()
            .map(|p| (p.fd, p.revents))
            .collect();
        for i in closed.into_iter().rev() {
            streams.remove(i);
        }
        let is_ready = |fd: i32| ready.iter().any(|(f, r)| *f == fd && *r != 0);
        if let Some(l) = &proxy {
            relay(l, out, &ready, &mut conns, &mut next_id, &mut buf)?;
        }
        if host_fd.is_some_and(is_ready) {
            let n = (&*port_in)
                .read(&mut buf)
                .map_err(|e| format!("read from host: {e}"))?;
            from_host.push(&buf[..n]);
        }
        // Also what arrived with the spec: drain the decoder every round.
        while let Some(m) = from_host
            .next_msg()
            .map_err(|e| format!("bad message from host: {e}"))?
        {
            match m {
                Msg::Stdin(data) if data.is_empty() => stdin_eof = true,
                Msg::Stdin(data) => {
                    if stdin_fd.is_some() {
                        stdin_pending.extend_from_slice(&data);
                    }
                }
                other => relay_from_host(&mut conns, other)?,
            }
        }
        if let Some(fd) = stdin_out.filter(|fd| is_ready(*fd)) {
            // SAFETY: the pending buffer is valid for its length; fd is our open pipe end.
            let w = unsafe { libc::write(fd, stdin_pending.as_ptr().cast(), stdin_pending.len()) };
            if w > 0 {
                stdin_pending.drain(..w as usize);
            } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
                // The program closed its stdin: drop what it will never read.
                stdin_fd = None;
                stdin_pending.clear();
            }
        }
        if stdin_eof && stdin_pending.is_empty() {
            stdin_fd = None;
        }
    }
    let st = status.unwrap_or(0);
    let exit = if oom_by_agent {
        GuestExit::OutOfMemory
    } else if libc::WIFEXITED(st) {
        GuestExit::Code(libc::WEXITSTATUS(st))
    } else {
        let sig = libc::WTERMSIG(st);
        if sig == libc::SIGKILL && oom_kills() > ooms_before {
            GuestExit::OutOfMemory
        } else {
            GuestExit::Signal(sig)
        }
    };
    Ok(exit)
}

/// One step of the proxy relay: new connections and bytes from the program.
fn relay(
    listener: &std::net::TcpListener,
    out: &mut File,
    ready: &[(i32, i16)],
    conns: &mut std::collections::BTreeMap<u32, Conn>,
    next_id: &mut u32,
    buf: &mut [u8],
) -> Result<(), String> {
    let is_ready = |fd: i32| ready.iter().any(|(f, r)| *f == fd && *r != 0);
    if is_ready(listener.as_raw_fd()) {
        while let Ok((s, _)) = listener.accept() {
            let _ = s.set_nonblocking(false);
            let id = *next_id;
            *next_id += 1;
            send(out, &Msg::ConnOpen { id })?;
            conns.insert(
                id,
                Conn {
                    stream: s,
                    reading: true,
                },
            );
        }
    }
    let ids: Vec<u32> = conns.keys().copied().collect();
    for id in ids {
        let Some(c) = conns.get_mut(&id) else {
            continue;
        };
        if !c.reading || !is_ready(c.stream.as_raw_fd()) {
            continue;
        }
        match c.stream.read(buf) {
            Ok(0) | Err(_) => {
                c.reading = false;
                send(out, &Msg::ConnClose { id })?;
            }
            Ok(n) => send(
                out,
                &Msg::ConnData {
                    id,
                    data: buf[..n].to_vec(),
                },
            )?,
        }
    }
    Ok(())
}

/// Bytes or a close from the host side of a relay connection.
fn relay_from_host(
    conns: &mut std::collections::BTreeMap<u32, Conn>,
    m: Msg,
) -> Result<(), String> {
    match m {
        Msg::ConnData { id, data } => {
            if let Some(c) = conns.get_mut(&id)
                && c.stream.write_all(&data).is_err()
            {
                conns.remove(&id);
            }
        }
        Msg::ConnClose { id } => {
            if let Some(c) = conns.remove(&id) {
                let _ = c.stream.shutdown(std::net::Shutdown::Both);
            }
        }
        other => return Err(format!("unexpected message from host: {other:?}")),
    }
    Ok(())
}

/// Sends the regular files and directories under `dir` (never following links; devices, fifos and
/// sockets are reported as skipped) while `budget` bytes remain.
fn send_tree(out: &mut File, dir: &Path, rel: &str, budget: &mut u64) -> Result<(), String> {
    let mut entries: Vec<_> = match fs::read_dir(dir) {
        Ok(rd) => rd.flatten().collect(),
        Err(e) => {
            return send(
                out,
                &Msg::Skipped {
                    path: rel.to_string(),
                    reason: format!("unreadable: {e}"),
                },
            );
        }
    };
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let Ok(md) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        let ft = md.file_type();
        if ft.is_dir() {
            send(out, &Msg::Dir { path: path.clone() })?;
            send_tree(out, &e.path(), &path, budget)?;
        } else if ft.is_file() {
            if md.size() > *budget {
                send(
                    out,
                    &Msg::Skipped {
                        path,
                        reason: "over the output size limit".into(),
                    },
                )?;
                continue;
            }
            // O_NOFOLLOW: the program may have swapped the file for a link since the lstat.
            let f = fs::OpenOptions::new()
                .read(true)
                .custom_flags_nofollow()
                .open(e.path());
            let mut f = match f {
                Ok(f) => f,
                Err(err) => {
                    send(
                        out,
                        &Msg::Skipped {
                            path,
                            reason: format!("unreadable: {err}"),
                        },
                    )?;
                    continue;
                }
            };
            let mode = md.mode() & 0o777;
            let mut offset = 0u64;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(|err| format!("read output {path}: {err}"))?;
                if n == 0 && offset > 0 {
                    break;
                }
                let take = (n as u64).min(*budget) as usize;
                send(
                    out,
                    &Msg::File {
                        path: path.clone(),
                        mode,
                        offset,
                        data: buf[..take].to_vec(),
                    },
                )?;
                *budget -= take as u64;
                offset += take as u64;
                if n == 0 || take < n {
                    break;
                }
            }
        } else {
            let kind = if ft.is_symlink() {
                "symbolic link (not followed)"
            } else {
                "not a regular file"
            };
            send(
                out,
                &Msg::Skipped {
                    path,
                    reason: kind.into(),
                },
            )?;
        }
    }
    Ok(())
}

trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}

impl NoFollow for fs::OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOFOLLOW)
    }
}

/// Loopback only: the VM has no NIC; the program reaches the host's egress proxy through the relay
/// on 127.0.0.1, which forwards over the control channel.
mod net {
    fn ifreq(name: &str) -> libc::ifreq {
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
        for (i, b) in name.bytes().take(libc::IFNAMSIZ - 1).enumerate() {
            r.ifr_name[i] = b as libc::c_char;
        }
        r
    }

    fn ioctl(
        fd: libc::c_int,
        req: libc::c_ulong,
        r: &mut libc::ifreq,
        what: &str,
    ) -> Result<(), String> {
        // SAFETY: r is a valid ifreq for the SIOC* requests used here.
        if unsafe { libc::ioctl(fd, req, r as *mut libc::ifreq) } != 0 {
            return Err(format!("{what}: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn set_up(fd: libc::c_int, name: &str) -> Result<(), String> {
        let mut r = ifreq(name);
        ioctl(fd, libc::SIOCGIFFLAGS, &mut r, "get flags")?;
        // SAFETY: reading and writing the flags member of the union after SIOCGIFFLAGS filled it.
        unsafe { r.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
        ioctl(fd, libc::SIOCSIFFLAGS, &mut r, "set flags")
    }

    pub fn lo_up() -> Result<(), String> {
        // SAFETY: plain socket creation.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        let res = set_up(fd, "lo");
        // SAFETY: fd is a socket we own.
        unsafe { libc::close(fd) };
        res
    }
}
