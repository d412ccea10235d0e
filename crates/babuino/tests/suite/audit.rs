//! `babuino run --audit DIR`: every run is a signed event in the Cutufato log, written after the
//! run whatever its end; no log, no run; a record that cannot be written is an error.

use super::native_util::{BIN, Code, code, finish, require_native, run_with_env};
use cutufato::Auditor;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// A fresh Cutufato log in a temporary directory.
pub fn new_log() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    Auditor::init(t.path(), None).unwrap();
    t
}

/// The recorded event of `id`: (leaf JSON, summary, data).
pub fn recorded(dir: &Path, id: &str) -> (Value, String, Value) {
    let a = Auditor::open(dir).unwrap();
    let s = a.get(id).unwrap();
    let leaf: Value = serde_json::from_slice(&s.leaf).unwrap();
    let c = s.content.unwrap();
    (leaf, c.summary.unwrap(), c.data.unwrap())
}

/// `cutufato verify --all` through the library: no findings.
pub fn assert_verifies(dir: &Path) -> u64 {
    let a = Auditor::open(dir).unwrap();
    let keys = a.trusted_keys().unwrap();
    let r = a.verify_all(&keys, &[], |_, _| {}).unwrap();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    r.entries
}

fn sha256_hex(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

fn audited(
    flags: &[&str],
    c: &Code,
    log: &Path,
    env: &[(&str, &str)],
) -> super::native_util::Outcome {
    let mut all = vec!["--audit", log.to_str().unwrap()];
    all.extend_from_slice(flags);
    run_with_env(&all, c, env)
}

#[test]
fn a_run_is_recorded_with_its_report_hash_and_session() {
    require_native!();
    let log = new_log();
    let c = code(
        "fetch_rates.py",
        "try:\n    open('/etc/passwd', 'a').write('x')\nexcept OSError as e:\n    print('denied', e)\nprint('ok')\n",
    );
    let out = audited(&["--audit-session", "s-42"], &c, log.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let audit = &out.report["audit"];
    let id = audit["execution_id"]
        .as_str()
        .expect("report names the record");
    assert_eq!(audit["dir"], log.path().to_str().unwrap());
    assert!(
        out.stderr.contains(&format!(
            "[babuino] recorded as {id} in {}",
            log.path().display()
        )),
        "{}",
        out.stderr
    );
    let (leaf, summary, data) = recorded(log.path(), id);
    assert_eq!(leaf["kind"], "event");
    assert_eq!(leaf["source"], "babuino");
    assert_eq!(leaf["action"], "run");
    assert_eq!(leaf["outcome"], "exit 0");
    assert_eq!(leaf["session"], "s-42");
    assert!(
        summary.starts_with("ran fetch_rates.py (native): exit 0 after ")
            && summary.ends_with("; 1 write denied"),
        "{summary}"
    );
    // The recorded report is the --json report (without the audit field it gained after).
    let sha = sha256_hex(&c.script);
    assert_eq!(data["program_sha256"], sha);
    assert_eq!(audit["program_sha256"], sha);
    let mut recorded_report = data.clone();
    recorded_report
        .as_object_mut()
        .unwrap()
        .remove("program_sha256");
    let mut printed = out.report.clone();
    printed.as_object_mut().unwrap().remove("audit");
    assert_eq!(recorded_report, printed);
    assert_eq!(data["schema"], "babuino.run-report/1");
    assert_eq!(assert_verifies(log.path()), 1);
}

#[test]
fn a_timeout_is_recorded_too() {
    require_native!();
    let log = new_log();
    let c = code("slow.sh", "echo start\nsleep 30\n");
    let out = audited(
        &["--timeout", "1s"],
        &c,
        log.path(),
        &[("TRIAD_SESSION", "s-env")],
    );
    assert_eq!(out.code, 124, "{}", out.stderr);
    let id = out.report["audit"]["execution_id"].as_str().unwrap();
    let (leaf, summary, data) = recorded(log.path(), id);
    assert_eq!(leaf["outcome"], "timeout");
    assert_eq!(leaf["session"], "s-env", "session from TRIAD_SESSION");
    assert!(summary.contains(": timeout after 1."), "{summary}");
    assert_eq!(data["exit"]["kind"], "timeout");
    assert_verifies(log.path());
}

#[test]
fn babuino_audit_env_var_names_the_log() {
    require_native!();
    let log = new_log();
    let c = code("t.sh", "exit 3\n");
    let out = run_with_env(&[], &c, &[("BABUINO_AUDIT", log.path().to_str().unwrap())]);
    assert_eq!(out.code, 3);
    let id = out.report["audit"]["execution_id"].as_str().unwrap();
    assert_eq!(recorded(log.path(), id).0["outcome"], "exit 3");
}

/// Runs a script that leaves a file in `--output` (proof that it ran).
fn run_marker(log: &Path) -> (i32, String, bool) {
    let c = code("mark.sh", "echo ran > /out/ran\n");
    let outdir = tempfile::tempdir().unwrap();
    let o = outdir.path().join("o");
    let out = Command::new(BIN)
        .args(["run", "-q", "--audit"])
        .arg(log)
        .arg("--output")
        .arg(&o)
        .arg(&c.script)
        .output()
        .unwrap();
    let out = finish(out);
    (out.code, out.stderr, o.join("ran").exists())
}

#[test]
fn no_log_no_run() {
    require_native!();
    // Control: with a log the marker appears.
    let log = new_log();
    let (code0, err0, ran) = run_marker(log.path());
    assert_eq!(code0, 0, "{err0}");
    assert!(ran, "control run must leave its marker");

    let missing = log.path().join("nope");
    let (code, err, ran) = run_marker(&missing);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("cutufato init --dir {}", missing.display())),
        "{err}"
    );
    assert!(!ran, "the program must not run without its log");

    // A log that cannot sign (copy without the key): 125, nothing ran, nothing written.
    std::fs::remove_file(log.path().join("signing.key")).unwrap();
    let (code, err, ran) = run_marker(log.path());
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("cannot record runs"), "{err}");
    assert!(!ran);
    assert_eq!(Auditor::open(log.path()).unwrap().size(), 1);
}

#[test]
fn a_record_that_cannot_be_written_is_an_error_not_silence() {
    require_native!();
    let log = new_log();
    let c = code("slow.sh", "sleep 2\necho done\n");
    let child = Command::new(BIN)
        .args(["run", "--json", "--audit"])
        .arg(log.path())
        .arg(&c.script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While the program runs, the log directory disappears.
    std::thread::sleep(std::time::Duration::from_millis(800));
    std::fs::remove_dir_all(log.path()).unwrap();
    let out = finish(child.wait_with_output().unwrap());
    assert_eq!(out.code, 119, "{}", out.stderr);
    assert!(out.stderr.contains("NOT recorded"), "{}", out.stderr);
    assert!(
        out.report["audit"].is_null(),
        "no audit field when not recorded"
    );
    assert_eq!(
        out.report["exit"]["value"], 0,
        "the report still tells the run"
    );
}

#[test]
fn the_sandbox_cannot_reach_the_log() {
    require_native!();
    let log = new_log();
    let key = log.path().join("signing.key");
    let script = format!(
        "import os\n\
         print('key-visible', os.path.exists({key:?}))\n\
         for pid in ('self', '1'):\n\
         \x20   d = f'/proc/{{pid}}/fd'\n\
         \x20   try:\n\
         \x20       for fd in os.listdir(d):\n\
         \x20           try: print('fd', pid, fd, os.readlink(f'{{d}}/{{fd}}'))\n\
         \x20           except OSError: pass\n\
         \x20   except OSError: pass\n",
        key = key.to_str().unwrap()
    );
    let c = code("peek.py", &script);
    let out = audited(&[], &c, log.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let said: String = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("[peek.py] "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(said.contains("key-visible False"), "{said}");
    assert!(
        said.contains("fd self"),
        "the probe must have listed descriptors: {said}"
    );
    for bad in ["log.db", "signing.key", log.path().to_str().unwrap()] {
        assert!(!said.contains(bad), "sandbox holds {bad}: {said}");
    }
    assert_verifies(log.path());
}

#[test]
fn a_sandbox_that_cannot_start_is_recorded_as_setup_failed() {
    let log = new_log();
    let c = code("t.sh", "echo never\n");
    let out = audited(&["--sandbox", "gvisor"], &c, log.path(), &[]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr.contains("[babuino] recorded as evt-"),
        "{}",
        out.stderr
    );
    let a = Auditor::open(log.path()).unwrap();
    assert_eq!(a.size(), 1);
    let s = a.get_index(0).unwrap();
    let leaf: Value = serde_json::from_slice(&s.leaf).unwrap();
    assert_eq!(leaf["outcome"], "setup-failed");
    let c = s.content.unwrap();
    assert!(c.summary.unwrap().ends_with("sandbox setup failed"));
    assert!(
        c.data.unwrap()["exit"]["value"]
            .as_str()
            .unwrap()
            .contains("gvisor")
    );
}

#[test]
fn output_cap_and_ctrl_c_are_recorded() {
    require_native!();
    let log = new_log();
    let c = code(
        "loud.sh",
        "while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done\n",
    );
    let out = audited(&["--output-limit", "64K"], &c, log.path(), &[]);
    assert_eq!(out.code, 121, "{}", out.stderr);
    let id = out.report["audit"]["execution_id"].as_str().unwrap();
    assert_eq!(recorded(log.path(), id).0["outcome"], "output-cap");

    let c = code("wait.sh", "echo started\nsleep 30\n");
    let mut child = Command::new(BIN)
        .args(["run", "--json", "--audit"])
        .arg(log.path())
        .arg(&c.script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("started") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0,
            "babuino ended before the program started"
        );
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{rest}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = report["audit"]["execution_id"].as_str().unwrap();
    let (leaf, summary, _) = recorded(log.path(), id);
    assert_eq!(leaf["outcome"], "signal 2");
    assert!(summary.contains("signal 2 after"), "{summary}");
    assert_eq!(assert_verifies(log.path()), 2);
}

#[test]
fn concurrent_runs_share_one_log() {
    require_native!();
    let log = new_log();
    let c = code("n.sh", "echo $1\n");
    let children: Vec<_> = (0..4)
        .map(|i| {
            Command::new(BIN)
                .args(["run", "-q", "--json", "--audit"])
                .arg(log.path())
                .arg(&c.script)
                .arg(i.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for ch in children {
        let out = finish(ch.wait_with_output().unwrap());
        assert_eq!(out.code, 0, "{}", out.stderr);
        ids.push(
            out.report["audit"]["execution_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert_eq!(assert_verifies(log.path()), 4);
}

// The replay server of `packages.rs`, which keeps its copy private.
#[allow(clippy::duplicate_mod)]
#[path = "registry_replay.rs"]
pub(super) mod registry_replay;

/// Packages Sentinel refuses end the run before the program starts: that is recorded too, with
/// the blocked package in the summary (Sentinel's engine and proxy pointed at the local replay of
/// recorded registry data, as in `packages.rs`).
#[test]
fn refused_packages_are_recorded() {
    require_native!();
    let up = registry_replay::Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("sentinel.toml"),
        "[advisories]\nmode = \"off\"\n\n[typosquat]\nestablished-versions = 0\n",
    )
    .unwrap();
    std::fs::write(d.join("requirements.txt"), "siix==1.17.0\n").unwrap();
    std::fs::create_dir_all(d.join("scratch")).unwrap();
    let log = new_log();
    let prog = code("marker.py", "print('ran')\n");
    let out = Command::new(BIN)
        .args(["run", "--json", "--audit"])
        .arg(log.path())
        .arg("--packages")
        .arg(d.join("requirements.txt"))
        .arg(&prog.script)
        .envs(up.sentinel_env(&d.join("sentinel.toml"), d))
        .env("TMPDIR", d.join("scratch"))
        .env_remove("SENTINEL_LOG")
        .output()
        .unwrap();
    let out = finish(out);
    assert_eq!(
        out.code,
        i32::from(babuino::packages::EXIT_PACKAGES),
        "{}",
        out.stderr
    );
    let id = out.report["audit"]["execution_id"].as_str().unwrap();
    let (leaf, summary, data) = recorded(log.path(), id);
    assert_eq!(leaf["outcome"], "packages-refused");
    assert_eq!(
        summary,
        "ran marker.py (native): packages refused, program not run; 1 package blocked"
    );
    assert_eq!(data["exit"]["kind"], "packages-refused");
    assert_verifies(log.path());
}
