//! Nothing survives a run, even when `babuino` itself is killed with SIGKILL.

use super::native_util::{BIN, code, host_processes_with, require_native, wait_for};
use std::process::{Command, Stdio};

fn cgroup_dirs_of(run_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_to_string(run_dir.join("cgroups"))
        .unwrap_or_default()
        .lines()
        .map(std::path::PathBuf::from)
        .collect()
}

#[test]
fn normal_run_leaves_no_state_cgroup_or_process() {
    require_native!();
    let rt = tempfile::tempdir().unwrap();
    let c = code("ok.sh", "echo hi\n");
    let out = Command::new(BIN)
        .args(["run", "--json"])
        .arg(&c.script)
        .env("BABUINO_RUNTIME_DIR", rt.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = report["id"].as_str().unwrap();
    assert_eq!(std::fs::read_dir(rt.path()).unwrap().count(), 0);
    // No cgroup named after the run anywhere under /sys/fs/cgroup.
    let name = format!("babuino-{id}");
    let found = Command::new("find")
        .args(["/sys/fs/cgroup", "-maxdepth", "5", "-name", &name])
        .output()
        .unwrap();
    assert!(
        found.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&found.stdout)
    );
}

#[test]
fn sigkill_of_babuino_leaves_nothing_behind() {
    require_native!();
    let rt = tempfile::tempdir().unwrap();
    let marker = "779.4242";
    let c = code(
        "long.sh",
        &format!("setsid sh -c 'trap \"\" TERM; sleep {marker}' &\nsleep {marker}\n"),
    );
    let mut child = Command::new(BIN)
        .args(["run", "-q"])
        .arg(&c.script)
        .env("BABUINO_RUNTIME_DIR", rt.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(10.0, || host_processes_with(marker).len() >= 2),
        "sandboxed processes never started"
    );
    let run_dir = std::fs::read_dir(rt.path())
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let cgroups = cgroup_dirs_of(&run_dir);
    assert!(!cgroups.is_empty());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The parent-death chain takes the whole sandbox down at once.
    assert!(
        wait_for(3.0, || host_processes_with(marker).is_empty()),
        "survivors: {:?}",
        host_processes_with(marker)
    );
    // The next start (here: an explicit cleanup) removes the state and the cgroups.
    let out = Command::new(BIN)
        .arg("cleanup")
        .env("BABUINO_RUNTIME_DIR", rt.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!run_dir.exists(), "state dir left: {}", run_dir.display());
    for cg in cgroups {
        assert!(!cg.exists(), "cgroup left: {}", cg.display());
    }
}

#[test]
fn sigterm_to_babuino_tears_the_sandbox_down_at_once() {
    require_native!();
    let rt = tempfile::tempdir().unwrap();
    let marker = "780.4242";
    let c = code("term.sh", &format!("trap '' TERM INT\nsleep {marker}\n"));
    let child = Command::new(BIN)
        .args(["run", "--json"])
        .arg(&c.script)
        .env("BABUINO_RUNTIME_DIR", rt.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(10.0, || !host_processes_with(marker).is_empty()));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(128 + 15));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["exit"]["kind"], "signal");
    assert!(host_processes_with(marker).is_empty());
    assert_eq!(
        std::fs::read_dir(rt.path()).unwrap().count(),
        0,
        "state left behind"
    );
}
