//! The attack list of the field notes, each case run inside the real `babuino run`: the test
//! asserts the attack was contained and, for denials, that the report shows it.

use super::native_util::{code, require_native, run_script, run_with_env};

const PY_SYSCALL: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(nr, *args):
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return r, ctypes.get_errno()
"#;

#[test]
fn write_to_code_dir_is_denied_and_reported() {
    require_native!();
    let c = code(
        "w.py",
        "try:\n    open('/code/pwned.txt', 'w').write('x')\n    print('WROTE')\nexcept OSError as e:\n    print('denied', e.errno)\n",
    );
    let o = run_with_env(&[], &c, &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.program_output().contains("denied 30"), "{}", o.stderr);
    assert!(!c.dir.path().join("pwned.txt").exists());
    assert!(
        o.has_event("denied-write", "/code/pwned.txt"),
        "{:?}",
        o.report["events"]
    );
}

#[test]
fn write_to_etc_is_denied_and_reported() {
    require_native!();
    let o = run_script(
        "etc.py",
        "import os\nfor p in ['/etc/passwd', '/etc/newfile']:\n    try:\n        open(p, 'a').write('x'); print('WROTE', p)\n    except OSError as e:\n        print('denied', p)\n",
        &[],
    );
    assert!(!o.program_output().contains("WROTE"), "{}", o.stderr);
    assert!(
        o.has_event("denied-write", "/etc/passwd (read-only file system)"),
        "{:?}",
        o.report["events"]
    );
    assert!(o.has_event("denied-write", "/etc/newfile"));
}

#[test]
fn host_home_root_secrets_and_shadow_are_invisible() {
    require_native!();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let script = format!(
        "import os\nfor p in ['/root', '/root/.ssh', '{home}', '{home}/.ssh', '/etc/shadow', '/home', '/var/run/docker.sock', '/run/docker.sock', '/dev/kmsg', '/sys', '/dev/mem', '/dev/sda']:\n    print(p, os.path.exists(p))\ntry:\n    open('{home}/pwned', 'w')\nexcept OSError as e:\n    print('write home denied')\n"
    );
    let o = run_script("see.py", &script, &[]);
    let out = o.program_output();
    assert!(!out.contains("True"), "{out}");
    assert!(out.contains("write home denied"));
    assert!(!std::path::Path::new(&format!("{home}/pwned")).exists());
}

#[test]
fn host_environment_and_parent_environ_do_not_leak() {
    require_native!();
    let c = code(
        "env.py",
        "import os\nprint(sorted(os.environ.items()))\nfor p in ['/proc/1/environ', '/proc/self/environ']:\n    try:\n        print(open(p,'rb').read())\n    except OSError as e:\n        print(p, e)\n",
    );
    let o = run_with_env(
        &["--env", "GIVEN=yes"],
        &c,
        &[("BABUINO_TEST_SECRET", "hunter2-secret-value")],
    );
    let out = o.program_output();
    assert!(!out.contains("hunter2"), "{out}");
    assert!(out.contains("('GIVEN', 'yes')"), "{out}");
    assert!(out.contains("('PATH', '/usr/local/bin:/usr/bin:/bin')"));
}

#[test]
fn host_pids_mounts_and_nics_are_invisible() {
    require_native!();
    let me = std::process::id();
    let o = run_script(
        "ns.py",
        &format!(
            "import os, socket\npids = [p for p in os.listdir('/proc') if p.isdigit()]\nprint('npids', len(pids))\nprint('me', '{me}' in pids)\nprint('nics', [n for _, n in socket.if_nameindex()])\nprint('hostname', socket.gethostname())\n"
        ),
        &[],
    );
    let out = o.program_output();
    assert!(out.contains("me False"), "{out}");
    assert!(out.contains("nics ['lo']"), "{out}");
    assert!(out.contains("hostname babuino"), "{out}");
    let n: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("npids "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(999);
    assert!(n < 10, "sandbox sees {n} processes");
}

#[test]
fn kernel_interfaces_are_masked_or_read_only() {
    require_native!();
    let o = run_script(
        "k.py",
        "for p in ['/proc/kallsyms', '/proc/kcore', '/proc/keys']:\n    try:\n        print(p, len(open(p,'rb').read(100)))\n    except OSError as e:\n        print(p, 'err')\nfor p in ['/proc/sys/kernel/hostname', '/proc/sysrq-trigger', '/sys/kernel/notes']:\n    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n    except OSError as e:\n        print('denied', p)\n",
        &[],
    );
    let out = o.program_output();
    assert!(out.contains("/proc/kallsyms 0"), "{out}");
    assert!(!out.contains("WROTE"), "{out}");
    assert!(
        o.has_event("denied-write", "/proc/sys/kernel/hostname"),
        "{:?}",
        o.report["events"]
    );
}

#[test]
fn no_capabilities_no_new_privs_and_seccomp_on() {
    require_native!();
    let o = run_script(
        "caps.sh",
        "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status\n",
        &[],
    );
    let out = o.program_output();
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            out.contains(&format!("{cap}:\t0000000000000000")),
            "{cap}: {out}"
        );
    }
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    let landlock = o.report["details"]["landlock"].as_str().unwrap_or("");
    assert!(landlock.starts_with("fully enforced"), "{}", o.stdout);
}

#[test]
fn dangerous_syscalls_are_denied_and_reported() {
    require_native!();
    // x86_64 numbers: ptrace 101, mount 165, bpf 321, keyctl 250, userfaultfd 323,
    // perf_event_open 298, io_uring_setup 425, unshare 272, setns 308, init_module 175,
    // kexec_load 246.
    let script = format!(
        "{PY_SYSCALL}\nfor name, nr, args in [('ptrace',101,(16,1,0,0)),('mount',165,(0,0,0,0,0)),('bpf',321,(0,0,0)),('keyctl',250,(0,0,0)),('userfaultfd',323,(0,)),('perf_event_open',298,(0,0,-1,-1,0)),('io_uring_setup',425,(1,0)),('unshare',272,(0x10000000,)),('setns',308,(0,0)),('init_module',175,(0,0,0)),('kexec_load',246,(0,0,0,0))]:\n    r, e = sc(nr, *args)\n    print(name, r, e)\n"
    );
    let o = run_script("sc.py", &script, &[]);
    let out = o.program_output();
    for name in [
        "ptrace",
        "mount",
        "bpf",
        "keyctl",
        "userfaultfd",
        "perf_event_open",
        "io_uring_setup",
        "unshare",
        "setns",
        "init_module",
        "kexec_load",
    ] {
        assert!(
            out.contains(&format!("{name} -1 1")),
            "{name} not refused with EPERM: {out}"
        );
        assert!(
            o.has_event("denied-syscall", name),
            "no event for {name}: {:?}",
            o.report["events"]
        );
    }
}

#[test]
fn nested_unshare_and_mount_tools_fail() {
    require_native!();
    let o = run_script(
        "nest.sh",
        "unshare -r true && echo NESTED\nunshare -n true && echo NESTED2\nmount -t tmpfs none /tmp && echo MOUNTED\nexit 0\n",
        &[],
    );
    assert!(!o.program_output().contains("NESTED"), "{}", o.stderr);
    assert!(!o.program_output().contains("MOUNTED"));
    assert!(
        o.has_event("denied-syscall", "unshare"),
        "{:?}",
        o.report["events"]
    );
}

#[test]
fn mknod_and_tiocsti_are_denied() {
    require_native!();
    let script = format!(
        "{PY_SYSCALL}\nimport fcntl, termios, stat\ntry:\n    os.mknod('/tmp/dev', stat.S_IFCHR | 0o600, os.makedev(1, 3)); print('MKNOD')\nexcept OSError as e:\n    print('mknod denied', e.errno)\nfd = os.open('/dev/null', os.O_RDONLY)\nr = libc.ioctl(fd, termios.TIOCSTI, ctypes.c_char_p(b'x'))\nprint('tiocsti', r, ctypes.get_errno())\n"
    );
    let o = run_script("dev.py", &script, &[]);
    let out = o.program_output();
    assert!(out.contains("mknod denied"), "{out}");
    assert!(out.contains("tiocsti -1 1"), "{out}");
    assert!(
        o.has_event("denied-syscall", "mknod"),
        "{:?}",
        o.report["events"]
    );
    assert!(o.has_event("denied-syscall", "TIOCSTI"));
}

#[test]
fn setuid_binaries_give_nothing() {
    require_native!();
    // With no_new_privs the set-user-ID bit is ignored; su cannot gain anything.
    let o = run_script(
        "su.sh",
        "ls -l /usr/bin/su /usr/bin/passwd 2>/dev/null | head -2\nsu -c 'cat /proc/self/status' nobody 2>&1 | grep CapEff || echo 'su refused'\ngrep CapEff /proc/self/status\n",
        &[],
    );
    let out = o.program_output();
    assert!(!out.contains("CapEff:\t000001"), "{out}");
    assert!(!out.contains("CapEff:\t0000003"), "{out}");
}

#[test]
fn symlink_and_special_files_in_out_are_not_followed() {
    require_native!();
    let host_secret = tempfile::tempdir().unwrap();
    let secret = host_secret.path().join("secret.txt");
    std::fs::write(&secret, "host secret").unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("collected");
    let script = format!(
        "import os\nos.makedirs('/out/sub')\nopen('/out/sub/result.txt','w').write('result')\nos.symlink('{}', '/out/link')\nos.symlink('/etc/passwd', '/out/sub/passwd')\nos.link('/out/sub/result.txt', '/out/hard.txt')\nos.mkfifo('/out/fifo')\n",
        secret.display()
    );
    let c = code("o.py", &script);
    let o = run_with_env(&["--output", target.to_str().unwrap()], &c, &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        std::fs::read_to_string(target.join("sub/result.txt")).unwrap(),
        "result"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("hard.txt")).unwrap(),
        "result"
    );
    for p in ["link", "sub/passwd", "fifo"] {
        assert!(
            std::fs::symlink_metadata(target.join(p)).is_err(),
            "{p} was copied"
        );
    }
    assert!(
        o.has_event("output-skipped", "link (symbolic link"),
        "{:?}",
        o.report["events"]
    );
    assert!(o.has_event("output-skipped", "fifo (special file"));
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host secret");
}

#[test]
fn output_does_not_write_through_host_symlinks() {
    require_native!();
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("victim");
    std::fs::write(&victim, "untouched").unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&victim, out_dir.path().join("a.txt")).unwrap();
    let c = code("o.py", "open('/out/a.txt','w').write('overwritten')\n");
    let o = run_with_env(&["--output", out_dir.path().to_str().unwrap()], &c, &[]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    assert!(
        o.has_event("output-skipped", "a.txt"),
        "{:?}",
        o.report["events"]
    );
}

#[test]
fn tmpfs_and_disk_fill_are_bounded() {
    require_native!();
    let o = run_script(
        "fill.py",
        "import errno\nfor d in ['/tmp', '/out']:\n    n = 0\n    try:\n        with open(d + '/fill', 'wb') as f:\n            while True:\n                f.write(b'x' * (1 << 20)); f.flush(); n += 1\n    except OSError as e:\n        print(d, 'full after', n, 'MiB', e.errno)\n",
        &["--tmp-size", "8M"],
    );
    let out = o.program_output();
    assert!(out.contains("/tmp full after"), "{out}");
    assert!(out.contains("/out full after"), "{out}");
    assert!(
        o.has_event("limit", "/tmp is full (8 MiB"),
        "{:?}",
        o.report["events"]
    );
    assert!(o.has_event("limit", "/out is full"));
    for line in out.lines().filter(|l| l.contains("full after")) {
        let n: u64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
        assert!(n <= 8, "{line}");
    }
}

#[test]
fn fd_exhaustion_is_contained() {
    require_native!();
    let o = run_script(
        "fds.py",
        "import os\nfds = []\ntry:\n    while True:\n        fds.append(os.open('/dev/null', os.O_RDONLY))\nexcept OSError as e:\n    print('stopped at', len(fds), e.errno)\n",
        &[],
    );
    let out = o.program_output();
    assert!(out.contains("stopped at"), "{out}");
    assert!(out.contains(" 24"), "{out}"); // EMFILE
}

#[test]
fn vsock_and_exotic_socket_families_are_denied() {
    require_native!();
    // AF_VSOCK is not confined by network namespaces: on a VM it reaches the hypervisor host.
    let o = run_script(
        "vsock.py",
        "import socket
for fam in [40, 38, 30, 21]:
    try:
        socket.socket(fam, socket.SOCK_STREAM if fam != 38 else socket.SOCK_SEQPACKET); print('OPENED', fam)
    except OSError as e:
        print('denied', fam, e.errno)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
print('inet and unix ok')
",
        &[],
    );
    let out = o.program_output();
    assert!(!out.contains("OPENED"), "{out}");
    assert!(out.contains("denied 40 1"), "{out}");
    assert!(out.contains("inet and unix ok"), "{out}");
    assert!(
        o.has_event("denied-syscall", "socket AF_VSOCK"),
        "{:?}",
        o.report["events"]
    );
    assert!(o.has_event("denied-syscall", "socket AF_ALG"));
}

#[test]
fn raw_sockets_and_ipv6_are_unavailable() {
    require_native!();
    let o = run_script(
        "raw.py",
        "import socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print('RAW')\nexcept OSError as e:\n    print('raw denied', e.errno)\ntry:\n    socket.socket(socket.AF_PACKET, socket.SOCK_RAW); print('PACKET')\nexcept OSError as e:\n    print('packet denied', e.errno)\n",
        &[],
    );
    let out = o.program_output();
    assert!(out.contains("raw denied"), "{out}");
    assert!(out.contains("packet denied"), "{out}");
}

#[test]
fn the_sandbox_init_cannot_be_touched() {
    require_native!();
    // PID 1 holds the channel to the host (descriptor 3): forged messages could lie in the report.
    let o = run_script(
        "init.py",
        "import os, signal\nfor p, m in [('/proc/1/fd/3', 'wb'), ('/proc/1/mem', 'rb'), ('/proc/1/environ', 'rb'), ('/proc/1/root/etc/hostname', 'rb')]:\n    try:\n        open(p, m); print('OPENED', p)\n    except OSError as e:\n        print('denied', p)\nfor s in [signal.SIGKILL, signal.SIGUSR1, signal.SIGSTOP]:\n    try:\n        os.kill(1, s); print('SIGNALLED', s)\n    except OSError as e:\n        print('no signal', s)\nprint('alive')\n",
        &[],
    );
    let out = o.program_output();
    assert!(!out.contains("OPENED"), "{out}");
    assert!(!out.contains("SIGNALLED"), "{out}");
    assert!(out.contains("alive"), "{out}");
    assert_eq!(o.exit_kind(), "code", "{}", o.stdout);
}

#[test]
fn every_kind_of_change_to_the_code_dir_is_denied_and_reported() {
    require_native!();
    let c = code(
        "ops.py",
        "import os\nops = [('delete', lambda: os.remove('/code/ops.py')), ('mkdir', lambda: os.mkdir('/code/d')), ('rename', lambda: os.rename('/code/ops.py', '/code/x.py')), ('chmod', lambda: os.chmod('/code/ops.py', 0o777)), ('chown', lambda: os.chown('/code/ops.py', 0, 0)), ('symlink', lambda: os.symlink('/etc/passwd', '/code/l')), ('link', lambda: os.link('/code/ops.py', '/code/h')), ('truncate', lambda: os.truncate('/code/ops.py', 0))]\nfor name, f in ops:\n    try:\n        f(); print('DID', name)\n    except OSError as e:\n        print('denied', name)\n",
    );
    let before = std::fs::read(&c.script).unwrap();
    let o = run_with_env(&[], &c, &[]);
    let out = o.program_output();
    assert!(!out.contains("DID"), "{out}");
    assert_eq!(std::fs::read(&c.script).unwrap(), before);
    for verb in [
        "delete", "mkdir", "rename", "chmod", "chown", "symlink", "link", "write",
    ] {
        assert!(
            o.has_event("denied-write", &format!("{verb} /code/")),
            "no {verb} event: {:?}",
            o.report["events"]
        );
    }
}
