//! Unprivileged use: a normal user with a delegated cgroup gets the same sandbox (user namespace
//! mapping its own uid, no root needed). Set up as root here: cgroups handed to uid 65534.

use super::native_util::{BIN, require_native};
use std::path::{Path, PathBuf};
use std::process::Command;

fn own_v1(ctrl: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|l| {
        let mut p = l.splitn(3, ':');
        let (_, c, path) = (p.next()?, p.next()?, p.next()?);
        c.split(',').any(|x| x == ctrl).then(|| path.to_string())
    })?;
    let base = Path::new("/sys/fs/cgroup").join(ctrl);
    base.exists()
        .then(|| base.join(path.trim_start_matches('/')))
}

#[test]
fn unprivileged_user_with_a_delegated_cgroup_gets_the_sandbox() {
    require_native!();
    let is_root = nix::unistd::geteuid().is_root();
    let have_setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    let ctrls: Vec<Option<PathBuf>> = ["memory", "pids", "cpu", "freezer"]
        .iter()
        .map(|c| own_v1(c))
        .collect();
    if !is_root || !have_setpriv || ctrls.iter().any(Option::is_none) {
        eprintln!("skipped: needs root, setpriv and cgroup v1 controllers to delegate");
        return;
    }
    let name = format!("babuino-test-deleg-{}", std::process::id());
    let dirs: Vec<PathBuf> = ctrls.into_iter().flatten().map(|d| d.join(&name)).collect();
    for d in &dirs {
        std::fs::create_dir(d).unwrap();
        nix::unistd::chown(d, Some(65534.into()), Some(65534.into())).unwrap();
        for f in ["cgroup.procs", "tasks"] {
            let _ = nix::unistd::chown(&d.join(f), Some(65534.into()), Some(65534.into()));
        }
    }
    let code = tempfile::tempdir().unwrap();
    let script = code.path().join("u.py");
    std::fs::write(
        &script,
        "import os\nprint('uid', os.getuid())\ntry:\n    open('/etc/x', 'w')\nexcept OSError:\n    print('denied')\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(code.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    // The test binary may live under a directory the unprivileged user cannot traverse (CI builds
    // under root's home): run a copy from a world-readable temporary directory.
    let bindir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bindir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bindir.path().join("babuino");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let join: String = dirs
        .iter()
        .map(|d| format!("echo $$ > {}/cgroup.procs; ", d.display()))
        .collect();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{join}exec setpriv --reuid=65534 --regid=65534 --clear-groups env -i HOME=/nonexistent PATH=/usr/bin:/bin XDG_RUNTIME_DIR= {} run --json {}",
            bin.display(),
            script.display()
        ))
        .output()
        .unwrap();
    for d in dirs.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    let _ = std::fs::remove_dir_all("/tmp/babuino-65534");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("uid 0"), "{stderr}");
    assert!(stderr.contains("denied"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "denied-write")
    );
}
