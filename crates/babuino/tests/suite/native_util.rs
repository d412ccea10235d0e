//! Test support for the native backend: write a script into a fresh code directory, run it in
//! the real `babuino` binary with `--json`, and look at the report.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_babuino");

/// Why the native sandbox cannot run here, if it cannot (then the test prints it and passes).
/// Checked once per test binary.
pub fn unsupported() -> Option<String> {
    static WHY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    WHY.get_or_init(probe).clone()
}

fn probe() -> Option<String> {
    if !Path::new("/proc/self/ns/user").exists() {
        return Some("no user namespaces".into());
    }
    let out = Command::new(BIN)
        .args(["run", "-q", "/bin/true"])
        .output()
        .ok()?;
    if out.status.success() {
        None
    } else {
        Some(format!(
            "babuino run /bin/true failed here: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Skips the test (with a message) when the native sandbox cannot run on this host.
macro_rules! require_native {
    () => {
        if let Some(why) = crate::suite::native_util::unsupported() {
            eprintln!("skipped: native sandbox unavailable: {why}");
            return;
        }
    };
}
pub(crate) use require_native;

/// The result of one `babuino run`.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    /// babuino's stdout (the JSON report with `--json`).
    pub stdout: String,
    /// babuino's stderr (with `--json`: the program's output, prefixed).
    pub stderr: String,
    pub report: Value,
}

impl Outcome {
    /// Event details of one kind (`denied-write`, `blocked-connect`, …).
    pub fn events(&self, kind: &str) -> Vec<String> {
        self.report["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["kind"] == kind)
                    .filter_map(|e| e["detail"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn has_event(&self, kind: &str, needle: &str) -> bool {
        self.events(kind).iter().any(|d| d.contains(needle))
    }
    pub fn exit_kind(&self) -> &str {
        self.report["exit"]["kind"].as_str().unwrap_or("")
    }
    /// The program's output lines (prefix removed).
    pub fn program_output(&self) -> String {
        self.stderr
            .lines()
            .filter_map(|l| l.split_once("] ").map(|(_, r)| r))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A code directory holding one script.
pub struct Code {
    pub dir: tempfile::TempDir,
    pub script: PathBuf,
}

pub fn code(name: &str, content: &str) -> Code {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join(name);
    std::fs::write(&script, content).expect("write script");
    Code { dir, script }
}

/// Runs `babuino run --json <flags> <script>` with extra environment.
pub fn run_with_env(flags: &[&str], code: &Code, env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(BIN);
    cmd.arg("run").arg("--json").args(flags).arg(&code.script);
    for (k, v) in env {
        cmd.env(k, v);
    }
    finish(cmd.output().expect("run babuino"))
}

pub fn run(flags: &[&str], code: &Code) -> Outcome {
    run_with_env(flags, code, &[])
}

/// Runs a script given inline.
pub fn run_script(name: &str, content: &str, flags: &[&str]) -> Outcome {
    let c = code(name, content);
    run(flags, &c)
}

pub fn finish(out: Output) -> Outcome {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        report,
    }
}

/// Host processes whose command line contains `marker`.
pub fn host_processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let me = std::process::id();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(marker) && !text.contains("babuino run") {
            found.push(pid);
        }
    }
    found
}

/// Waits up to `secs` for `cond`.
pub fn wait_for(secs: f64, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    cond()
}
