//! The few kernel interfaces that need `unsafe`: all of Babuino's unsafe code is here.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Result of [`fork`].
#[derive(Debug)]
pub enum Fork {
    Parent(libc::pid_t),
    Child,
}

/// Forks the calling process.
///
/// Callers must be single-threaded (the sandbox init stages are: they run right after `exec`
/// and only start threads after their last fork), so the child may allocate freely.
pub fn fork() -> io::Result<Fork> {
    // SAFETY: fork has no memory-safety preconditions of its own; the hazard (locks held by other
    // threads in the child) is excluded by the single-threaded caller contract above.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Fork::Child),
        p => Ok(Fork::Parent(p)),
    }
}

/// Makes `fd` the descriptor number `target` (without close-on-exec). Async-signal-safe: usable
/// in `pre_exec`.
pub fn dup2(fd: RawFd, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 only manipulates the descriptor table; invalid descriptors make it fail with
    // EBADF, which is reported.
    if unsafe { libc::dup2(fd, target) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Drops every capability: bounding set, ambient set, and the effective, permitted and
/// inheritable sets, so neither this process nor anything it executes holds one.
pub fn drop_all_capabilities() -> io::Result<()> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<libc::c_ulong>().ok())
        .unwrap_or(63);
    for cap in 0..=last {
        // SAFETY: prctl with integer arguments; no pointers are passed.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
        }
    }
    // SAFETY: prctl with integer arguments; no pointers are passed.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset reads a header and two data structs laid out as the kernel's
    // __user_cap_header_struct / __user_cap_data_struct (version 3), both live for the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Brings the loopback interface of the current network namespace up.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket() takes integers and returns a new descriptor we own (checked below).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of a valid ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled ifru_flags for SIOCGIFFLAGS; union access of that member.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads a valid ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Installs a seccomp BPF program on the calling thread and returns the user-notification
/// listener descriptor (the filter must contain `SECCOMP_RET_USER_NOTIF` actions).
/// `no_new_privs` must already be set.
pub fn install_seccomp_with_listener(prog: &[libc::sock_filter]) -> io::Result<OwnedFd> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp filter too long"))?,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(SET_MODE_FILTER) reads `fprog`, which points at `prog`; both outlive the
    // call. The kernel copies the program.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success seccomp returns a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A system call the kernel stopped and handed to us for a decision.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    pub id: u64,
    pub pid: u32,
    pub nr: i32,
    pub args: [u64; 6],
}

/// Waits for the next notification on a seccomp listener. `Ok(None)` when no process uses the
/// filter any more.
pub fn notif_recv(listener: RawFd) -> io::Result<Option<Notification>> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    // SAFETY: the caller owns `listener` and keeps it open for the duration of this call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(listener) };
    loop {
        // Wait first: once every process using the filter is gone the listener reports POLLHUP
        // (RECV alone would keep failing with ENOENT and spin).
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let rev = fds[0].revents().unwrap_or(PollFlags::empty());
        if !rev.contains(PollFlags::POLLIN) {
            if rev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
                return Ok(None);
            }
            continue;
        }
        // SAFETY: seccomp_notif is plain old data; the kernel requires it zeroed before RECV.
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV writes one seccomp_notif into the valid struct we pass.
        let r = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::ENOENT) => continue,
                Some(libc::EBADF) | Some(libc::ENOTTY) => return Ok(None),
                _ => return Err(e),
            }
        }
        return Ok(Some(Notification {
            id: n.id,
            pid: n.pid,
            nr: n.data.nr,
            args: n.data.args,
        }));
    }
}

/// Whether the notification is still pending (the process has not died or been interrupted).
pub fn notif_id_valid(listener: RawFd, id: u64) -> bool {
    // SAFETY: ID_VALID reads one u64 from the pointer we pass.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
}

/// Answers a notification: `errno` > 0 makes the call fail with it; `None` lets the kernel run
/// the call as if there were no filter (only for calls the filter does not deny).
pub fn notif_respond(listener: RawFd, id: u64, errno: Option<i32>) -> io::Result<()> {
    let resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: errno.map(|e| -e).unwrap_or(0),
        flags: if errno.is_none() {
            libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32
        } else {
            0
        },
    };
    // SAFETY: SEND reads one seccomp_notif_resp from the valid struct we pass.
    let r = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `faccessat2(AT_FDCWD, path, W_OK, AT_EACCESS)`: would the caller be allowed to write `path`?
pub fn writable(path: &std::ffi::CStr) -> Result<(), i32> {
    // SAFETY: path is a valid NUL-terminated string for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::W_OK,
            libc::AT_EACCESS,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EACCES))
    }
}

/// Installs a seccomp BPF program (no listener). `no_new_privs` must already be set.
pub fn install_seccomp(prog: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp filter too long"))?,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(SET_MODE_FILTER) reads `fprog`, which points at `prog`; both outlive the
    // call. The kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes ownership of descriptor `fd` if it is open (the host passes the init's message channel
/// as descriptor 3).
pub fn take_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only queries the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return None;
    }
    // SAFETY: the descriptor is open and, by the calling convention of the init, nothing else in
    // this process owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends a descriptor over a Unix socket (SCM_RIGHTS).
pub fn send_fd(sock: &std::os::unix::net::UnixStream, fd: &OwnedFd) -> io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::fd::AsRawFd;
    let fds = [fd.as_raw_fd()];
    let iov = [io::IoSlice::new(b"f")];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(io::Error::from)?;
    Ok(())
}

/// Receives a descriptor sent with [`send_fd`]; `None` when the peer closed without sending.
pub fn recv_fd(sock: &std::os::unix::net::UnixStream) -> Option<OwnedFd> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::AsRawFd;
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = c
            && let Some(&fd) = fds.first()
        {
            // SAFETY: the kernel just installed this descriptor in our table for us.
            return Some(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    None
}

/// Makes the child of `cmd` receive descriptor `fd` as number `target`.
pub fn pass_fd_as(cmd: &mut std::process::Command, fd: RawFd, target: RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls dup2, which is
    // async-signal-safe and touches nothing but the descriptor table.
    unsafe {
        cmd.pre_exec(move || dup2(fd, target));
    }
}

/// Takes ownership of a descriptor a successful system call just returned.
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass a descriptor freshly returned by the kernel (e.g. F_DUPFD_CLOEXEC)
    // that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The Landlock ABI version of the running kernel (`Err` with the errno when unavailable).
pub fn landlock_abi() -> Result<i64, i32> {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns the
    // ABI version; no memory is read or written.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    };
    if v < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(v)
    }
}
