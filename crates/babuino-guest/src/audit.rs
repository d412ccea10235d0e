//! Denial reporting inside the guest: the guest kernel's audit subsystem (Debian's cloud kernel
//! has `CONFIG_AUDITSYSCALL`) is told to log the program's syscalls that fail with EACCES, EPERM,
//! EROFS or ENETUNREACH, and this init registers itself as the audit daemon so the records come to
//! it over netlink (never to the console, never rate-limited by printk).
//!
//! The rules match only the program's uid, so the agent's own work is not reported.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NETLINK_AUDIT: libc::c_int = 9;
const AUDIT_SET: u16 = 1001;
const AUDIT_ADD_RULE: u16 = 1011;
const AUDIT_SYSCALL: u16 = 1300;
const AUDIT_PATH: u16 = 1302;
const AUDIT_SOCKADDR: u16 = 1306;
const AUDIT_CWD: u16 = 1307;
const AUDIT_EOE: u16 = 1320;
const AUDIT_STATUS_ENABLED: u32 = 0x1;
const AUDIT_STATUS_PID: u32 = 0x4;
const AUDIT_STATUS_RATE_LIMIT: u32 = 0x8;
const AUDIT_STATUS_BACKLOG_LIMIT: u32 = 0x10;
const AUDIT_FILTER_EXIT: u32 = 0x04;
const AUDIT_ALWAYS: u32 = 2;
const AUDIT_UID: u32 = 1;
const AUDIT_ARCH: u32 = 11;
const AUDIT_EXIT: u32 = 103;
const AUDIT_EQUAL: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

/// Most denials reported per run: a program that loops on a refused call must not flood the host.
const MAX_DENIALS: usize = 200;

/// Syscalls whose refusals are reported, by x86_64 number.
const SYSCALLS: &[(u32, &str)] = &[
    (2, "open"),
    (257, "openat"),
    (437, "openat2"),
    (85, "creat"),
    (83, "mkdir"),
    (258, "mkdirat"),
    (87, "unlink"),
    (263, "unlinkat"),
    (84, "rmdir"),
    (82, "rename"),
    (264, "renameat"),
    (316, "renameat2"),
    (76, "truncate"),
    (90, "chmod"),
    (268, "fchmodat"),
    (92, "chown"),
    (94, "lchown"),
    (260, "fchownat"),
    (86, "link"),
    (265, "linkat"),
    (88, "symlink"),
    (266, "symlinkat"),
    (133, "mknod"),
    (259, "mknodat"),
    (280, "utimensat"),
    (59, "execve"),
    (322, "execveat"),
    (42, "connect"),
    (44, "sendto"),
    (46, "sendmsg"),
    (165, "mount"),
    (166, "umount2"),
    (161, "chroot"),
    (101, "ptrace"),
    (62, "kill"),
    (105, "setuid"),
    (106, "setgid"),
    (272, "unshare"),
    (308, "setns"),
    (175, "init_module"),
    (313, "finit_module"),
    (169, "reboot"),
    (170, "sethostname"),
    (321, "bpf"),
    (298, "perf_event_open"),
    (250, "keyctl"),
    (323, "userfaultfd"),
];

/// fork/clone failing with EAGAIN: the process limit (RLIMIT_NPROC) was hit.
const FORKS: &[(u32, &str)] = &[(56, "clone"), (57, "fork"), (58, "vfork"), (435, "clone3")];
const EAGAIN: i32 = 11;

const ERRNOS: &[(i32, &str)] = &[
    (1, "EPERM"),
    (13, "EACCES"),
    (30, "EROFS"),
    (101, "ENETUNREACH"),
];

pub struct Auditor {
    fd: libc::c_int,
    uid: u32,
    state: std::cell::RefCell<State>,
}

#[derive(Default)]
struct State {
    pending: BTreeMap<u64, Event>,
    reported: usize,
}

#[derive(Default)]
struct Event {
    syscall: Option<u32>,
    exit: Option<i32>,
    uid: Option<u32>,
    /// Syscall arguments a1 and a2 (open flags live there).
    args: [u64; 2],
    comm: String,
    cwd: String,
    paths: Vec<(String, bool)>,
    sockaddr: Option<String>,
}

fn nl_send(fd: libc::c_int, ty: u16, payload: &[u8]) -> Result<(), String> {
    let len = 16 + payload.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&ty.to_ne_bytes());
    msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(payload);
    // SAFETY: all-zero sockaddr_nl is valid; it addresses the kernel (pid 0).
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: msg and addr are valid for the lengths given.
    let rc = unsafe {
        libc::sendto(
            fd,
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(format!("netlink send: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

impl Auditor {
    /// Enables auditing, registers this process as the audit daemon and installs the rules.
    pub fn start(uid: u32) -> Result<Self, String> {
        // SAFETY: plain socket creation.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_AUDIT,
            )
        };
        if fd < 0 {
            return Err(format!("audit socket: {}", std::io::Error::last_os_error()));
        }
        let a = Auditor {
            fd,
            uid,
            state: Default::default(),
        };
        // struct audit_status: mask, enabled, failure, pid, rate_limit, backlog_limit, lost, backlog.
        let mask = AUDIT_STATUS_ENABLED
            | AUDIT_STATUS_PID
            | AUDIT_STATUS_RATE_LIMIT
            | AUDIT_STATUS_BACKLOG_LIMIT;
        nl_send(
            fd,
            AUDIT_SET,
            &u32s(&[mask, 1, 0, std::process::id(), 0, 8192, 0, 0]),
        )?;
        let mask_of = |calls: &[(u32, &str)]| {
            let mut m = [0u32; 64];
            for (nr, _) in calls {
                m[(*nr / 32) as usize] |= 1 << (nr % 32);
            }
            m
        };
        let rules = ERRNOS
            .iter()
            .map(|(e, _)| (*e, mask_of(SYSCALLS)))
            .chain([(EAGAIN, mask_of(FORKS))]);
        for (errno, sysmask) in rules {
            // struct audit_rule_data: flags, action, field_count, mask[64], fields[64], values[64],
            // fieldflags[64], buflen, buf[].
            let mut fields = [0u32; 64];
            let mut values = [0u32; 64];
            let mut flags = [0u32; 64];
            for (i, (f, v)) in [
                (AUDIT_ARCH, AUDIT_ARCH_X86_64),
                (AUDIT_UID, uid),
                (AUDIT_EXIT, (-errno) as u32),
            ]
            .into_iter()
            .enumerate()
            {
                fields[i] = f;
                values[i] = v;
                flags[i] = AUDIT_EQUAL;
            }
            let mut rule = u32s(&[AUDIT_FILTER_EXIT, AUDIT_ALWAYS, 3]);
            rule.extend(u32s(&sysmask));
            rule.extend(u32s(&fields));
            rule.extend(u32s(&values));
            rule.extend(u32s(&flags));
            rule.extend(u32s(&[0]));
            nl_send(fd, AUDIT_ADD_RULE, &rule)?;
        }
        // From now on reads must not block the output loop.
        // SAFETY: fcntl on our own fd.
        unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
        Ok(a)
    }

    /// Denials completed so far as (kind, detail), waiting up to `wait` for late records.
    pub fn drain(&self, wait: Duration) -> Vec<(String, String)> {
        let start = Instant::now();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 16384];
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                if start.elapsed() >= wait {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            // kauditd sends one record per datagram, and its nlmsg_len counts the text only
            // (not the 16-byte header), unlike other netlink families.
            let n = n as usize;
            if n < 16 {
                continue;
            }
            let ty = u16::from_ne_bytes([buf[4], buf[5]]);
            if ty == libc::NLMSG_ERROR as u16 {
                let err = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
                if err != 0 {
                    out.push((
                        "agent".to_string(),
                        format!(
                            "audit rule refused: {}",
                            std::io::Error::from_raw_os_error(-err)
                        ),
                    ));
                }
                continue;
            }
            let body = &buf[16..n];
            let body = body.split(|b| *b == 0).next().unwrap_or(body);
            let text = String::from_utf8_lossy(body).into_owned();
            if let Some(d) = self.record(ty, &text) {
                out.push(d);
            }
        }
        out
    }

    fn record(&self, ty: u16, text: &str) -> Option<(String, String)> {
        let serial = parse_serial(text)?;
        let mut st = self.state.borrow_mut();
        if ty == AUDIT_EOE {
            let ev = st.pending.remove(&serial)?;
            if st.reported >= MAX_DENIALS {
                return None;
            }
            st.reported += 1;
            if st.reported == MAX_DENIALS {
                return Some((
                    "limit".into(),
                    format!("more than {MAX_DENIALS} denials; further ones not reported"),
                ));
            }
            return describe(&ev, self.uid);
        }
        let ev = st.pending.entry(serial).or_default();
        match ty {
            AUDIT_SYSCALL => {
                ev.syscall = field(text, "syscall").and_then(|v| v.parse().ok());
                ev.exit = field(text, "exit").and_then(|v| v.parse().ok());
                ev.uid = field(text, "uid").and_then(|v| v.parse().ok());
                for (i, k) in ["a1", "a2"].into_iter().enumerate() {
                    ev.args[i] = field(text, k)
                        .and_then(|v| u64::from_str_radix(v, 16).ok())
                        .unwrap_or(0);
                }
                ev.comm = field(text, "comm").map(unquote).unwrap_or_default();
            }
            AUDIT_CWD => ev.cwd = field(text, "cwd").map(unquote).unwrap_or_default(),
            AUDIT_PATH => {
                if let Some(name) = field(text, "name").filter(|n| *n != "(null)") {
                    let parent = field(text, "nametype") == Some("PARENT");
                    ev.paths.push((unquote(name), parent));
                }
            }
            AUDIT_SOCKADDR => ev.sockaddr = field(text, "saddr").and_then(sockaddr),
            _ => {}
        }
        None
    }
}

impl Drop for Auditor {
    fn drop(&mut self) {
        // SAFETY: closing our own fd once.
        unsafe { libc::close(self.fd) };
    }
}

/// The serial number in `audit(1700000000.123:42): …`.
fn parse_serial(text: &str) -> Option<u64> {
    let start = text.find("audit(")? + 6;
    let end = start + text[start..].find(')')?;
    text[start..end].split(':').nth(1)?.parse().ok()
}

/// The value of `key=value` (space separated; values may be quoted).
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(" {key}=");
    let start = text.find(&pat)? + pat.len();
    let rest = &text[start..];
    if let Some(q) = rest.strip_prefix('"') {
        let end = q.find('"')?;
        return Some(&rest[..end + 2]);
    }
    Some(rest.split(' ').next().unwrap_or(rest))
}

/// Audit quotes printable values and hex-encodes the others.
fn unquote(v: &str) -> String {
    if let Some(s) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return s.to_string();
    }
    let bytes: Option<Vec<u8>> = (0..v.len() / 2)
        .map(|i| u8::from_str_radix(v.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    match bytes {
        Some(b) if v.len().is_multiple_of(2) && !b.is_empty() => {
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => v.to_string(),
    }
}

/// `saddr=02000035…` (hex struct sockaddr) as `ip:port` for IPv4/IPv6.
fn sockaddr(hex: &str) -> Option<String> {
    let b: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]) as i32;
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match family {
        libc::AF_INET => Some(format!(
            "{}.{}.{}.{}:{port}",
            b.get(4)?,
            b.get(5)?,
            b.get(6)?,
            b.get(7)?
        )),
        libc::AF_INET6 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(format!("[{}]:{port}", std::net::Ipv6Addr::from(a)))
        }
        libc::AF_UNIX => Some("unix socket".into()),
        _ => None,
    }
}

fn describe(ev: &Event, uid: u32) -> Option<(String, String)> {
    let nr = ev.syscall?;
    let name = SYSCALLS
        .iter()
        .chain(FORKS)
        .find(|(n, _)| *n == nr)
        .map(|(_, s)| *s)
        .unwrap_or("syscall");
    let errno = ev.exit.map(|e| -e)?;
    // Only refusals the rules asked for (records of other syscalls, e.g. audit's own
    // configuration changes, are not denials).
    if ev.uid != Some(uid) {
        return None;
    }
    if errno == EAGAIN && FORKS.iter().any(|(n, _)| *n == nr) {
        let who = if ev.comm.is_empty() {
            String::new()
        } else {
            format!(" by {}", ev.comm)
        };
        return Some((
            "pids".into(),
            format!("{name} refused (EAGAIN): process limit reached{who}"),
        ));
    }
    let err = ERRNOS.iter().find(|(n, _)| *n == errno).map(|(_, s)| *s)?;
    // Opens are reads unless they ask for write access, creation or truncation; everything else
    // on files changes them. A refusal with EROFS is always a write.
    let open_flags = match name {
        "open" => Some(ev.args[0]),
        "openat" => Some(ev.args[1]),
        _ => None,
    };
    let writes = |f: u64| f & 3 != 0 || f & (0o100 | 0o1000) != 0;
    let kind = match name {
        "connect" | "sendto" | "sendmsg" => "network",
        "execve" | "execveat" => "exec",
        _ if errno == 30 => "write",
        "open" | "openat" => {
            if open_flags.is_some_and(writes) {
                "write"
            } else {
                "read"
            }
        }
        "openat2" => "read",
        n if n.contains("mkdir")
            || n.contains("unlink")
            || n.contains("rename")
            || n.contains("link")
            || n.contains("chmod")
            || n.contains("chown")
            || n.contains("mknod")
            || n == "creat"
            || n == "rmdir"
            || n == "truncate"
            || n == "utimensat" =>
        {
            "write"
        }
        _ => "syscall",
    };
    let mut target = String::new();
    if let Some(sa) = &ev.sockaddr {
        target = sa.clone();
    } else {
        let named: Vec<&(String, bool)> = ev.paths.iter().filter(|(_, parent)| !parent).collect();
        let chosen = named.last().copied().or(ev.paths.last());
        if let Some((p, _)) = chosen {
            target = if p.starts_with('/') || ev.cwd.is_empty() {
                p.clone()
            } else {
                format!("{}/{p}", ev.cwd.trim_end_matches('/'))
            };
        }
    }
    let who = if ev.comm.is_empty() {
        String::new()
    } else {
        format!(" by {}", ev.comm)
    };
    let detail = if target.is_empty() {
        format!("{name} refused ({err}){who}")
    } else {
        format!("{name} {target} refused ({err}){who}")
    };
    Some((kind.to_string(), detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_audit_record_fields() {
        let t = r#"audit(1700000000.123:42): arch=c000003e syscall=257 success=no exit=-30 a0=ff ppid=1 pid=7 auid=4294967295 uid=1000 comm="python3" exe="/usr/bin/python3.11""#;
        assert_eq!(parse_serial(t), Some(42));
        assert_eq!(field(t, "uid"), Some("1000"));
        assert_eq!(field(t, "pid"), Some("7"));
        assert_eq!(field(t, "comm").map(unquote).as_deref(), Some("python3"));
        assert_eq!(unquote("2F6574632F706173737764"), "/etc/passwd");
        assert_eq!(sockaddr("0200003501020304").as_deref(), Some("1.2.3.4:53"));
    }

    #[test]
    fn describes_only_asked_refusals_of_the_program() {
        let ev = Event {
            syscall: Some(257),
            exit: Some(-30),
            uid: Some(1000),
            comm: "sh".into(),
            cwd: "/code".into(),
            paths: vec![("/etc/".into(), true), ("passwd".into(), false)],
            sockaddr: None,
            args: [0, 0o1101],
        };
        let (kind, detail) = describe(&ev, 1000).unwrap();
        assert_eq!(kind, "write");
        assert_eq!(detail, "openat /code/passwd refused (EROFS) by sh");
        // Another uid (the agent) or an errno the rules do not ask for is not a denial.
        assert!(describe(&ev, 1001).is_none());
        let ok = Event {
            exit: Some(48),
            ..ev
        };
        assert!(describe(&ok, 1000).is_none());
    }
}
