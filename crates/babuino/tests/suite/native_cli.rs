//! The command line: bad input gives a clear error and exit code 2 without running anything;
//! the human output looks like a log; the config file sets defaults.

use super::native_util::{BIN, code, require_native};
use std::process::Command;

fn babuino(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_is_refused_with_exit_code_2() {
    let c = code("ok.py", "print(1)\n");
    let script = c.script.to_str().unwrap();
    let noext = code("mystery", "just some text\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "/nonexistent/job.py"], "does not exist"),
        (vec!["run", "no-such-command-xyz"], "does not exist"),
        (
            vec!["run", noext.script.to_str().unwrap()],
            "cannot tell how to run",
        ),
        (
            vec!["run", "--interpreter", "ruby", script],
            "not supported",
        ),
        (vec!["run", "--memory", "0", script], "invalid size"),
        (vec!["run", "--memory", "lots", script], "invalid size"),
        (vec!["run", "--timeout", "-1", script], "invalid duration"),
        (vec!["run", "--timeout", "0", script], "invalid duration"),
        (vec!["run", "--cpus", "-2", script], "invalid cpu"),
        (vec!["run", "--pids", "0", script], "invalid process limit"),
        (
            vec!["run", "--network-allow", "1.2.3.4", script],
            "not a host",
        ),
        (
            vec!["run", "--network-allow", "http://evil.com", script],
            "allow-list entry",
        ),
        (
            vec!["run", "--network-allow", "x.com:99999", script],
            "allow-list entry",
        ),
        (vec!["run", "--env", "NOEQUALS", script], "NAME=VALUE"),
        (
            vec!["run", "--sandbox", "docker", script],
            "unknown backend",
        ),
        (vec!["run"], "PROGRAM"),
    ];
    for (args, needle) in cases {
        let (code, out, err) = babuino(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed on stdout: {out}");
        let err_l = err.to_lowercase();
        assert!(
            err_l.contains(&needle.to_lowercase())
                || (needle == "not a host" && err_l.contains("allow-list entry")),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn code_dir_may_not_be_root_or_home() {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let p = std::path::Path::new(&home).join("babuino-test-script-xyz.py");
    std::fs::write(&p, "print(1)\n").unwrap();
    let (code, _, err) = babuino(&["run", p.to_str().unwrap()]);
    std::fs::remove_file(&p).unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("refusing to expose"), "{err}");
}

#[test]
fn human_output_is_a_log_with_prefixes() {
    require_native!();
    let c = code(
        "scrape.py",
        "import sys\nprint('line one')\nprint('oops', file=sys.stderr)\nopen('/etc/passwd','a')\n",
    );
    let out = Command::new(BIN)
        .arg("run")
        .arg(&c.script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("[scrape.py] line one"), "{stdout}");
    assert!(stderr.contains("[scrape.py] oops"), "{stderr}");
    assert!(
        stderr.contains("[babuino] backend: native · filesystem: code read-only · network: blocked · limits: 512 MiB, 1 CPU, 30 s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[babuino] denied: write /etc/passwd (read-only file system)"),
        "{stderr}"
    );
    assert!(stderr.contains("[babuino] exit 1 after"), "{stderr}");
    assert!(stderr.contains("sandbox destroyed"));
}

#[test]
fn json_report_keeps_program_output_apart() {
    require_native!();
    let c = code("j.sh", "echo to-stdout\necho to-stderr >&2\n");
    let out = Command::new(BIN)
        .args(["run", "--json"])
        .arg(&c.script)
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is only the report");
    assert_eq!(report["schema"], "babuino.run-report/1");
    assert_eq!(report["backend"], "native");
    assert_eq!(report["exit"]["kind"], "code");
    assert_eq!(report["stdout"]["bytes"], 10);
    assert!(report["timings"]["total_ms"].as_f64().unwrap() > 0.0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[j.sh] to-stdout"), "{stderr}");
}

#[test]
fn config_file_sets_defaults_and_flags_override() {
    require_native!();
    let c = code("slow.sh", "sleep 5\n");
    let cfg = c.dir.path().join("babuino.toml");
    std::fs::write(&cfg, "timeout = \"500ms\"\nmemory = \"128M\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["run", "--json", "--config", cfg.to_str().unwrap()])
        .arg(&c.script)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(report["limits"]["memory_bytes"], 128 << 20);
    std::fs::write(&cfg, "timeout = \"1s\"\nbogus = 1\n").unwrap();
    let (code, _, err) = babuino(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        c.script.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid config file"), "{err}");
}

#[test]
fn interpreters_by_extension_and_shebang() {
    require_native!();
    let cases = [
        ("a.py", "print('py ok')\n", "py ok"),
        ("b.sh", "echo sh ok\n", "sh ok"),
        ("c.bash", "echo ${BASH_VERSION:+bash} ok\n", "bash ok"),
        (
            "d",
            "#!/usr/bin/env python3\nprint('shebang ok')\n",
            "shebang ok",
        ),
    ];
    for (name, src, want) in cases {
        let c = code(name, src);
        let out = Command::new(BIN)
            .args(["run", "-q"])
            .arg(&c.script)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(want),
            "{name}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if std::path::Path::new("/usr/bin/node").exists() {
        let c = code("e.js", "console.log('node ok')\n");
        let out = Command::new(BIN)
            .args(["run", "-q"])
            .arg(&c.script)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("node ok"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // System commands run without a code directory.
    let out = Command::new(BIN)
        .args(["run", "-q", "python3", "-c", "print('cmd ok')"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("cmd ok"));
}

#[test]
fn stdin_is_dev_null_unless_passed() {
    require_native!();
    use std::io::Write;
    use std::process::Stdio;
    let c = code(
        "cat.py",
        "import sys\nprint('read', repr(sys.stdin.read()))\n",
    );
    for (flags, want) in [
        (vec![], "read ''"),
        (vec!["--stdin"], "read 'secret input\\n'"),
    ] {
        let mut child = Command::new(BIN)
            .args(["run", "-q"])
            .args(&flags)
            .arg(&c.script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"secret input\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(want), "{flags:?}: {stdout}");
    }
}

#[test]
fn setup_failure_exits_125_with_the_reason() {
    let c = code("ok.sh", "echo hi\n");
    let out = Command::new(BIN)
        .args(["run", "-q"])
        .arg(&c.script)
        .env("BABUINO_RUNTIME_DIR", "/proc/babuino-cannot-exist")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("/proc/babuino-cannot-exist"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hi"));
}

#[test]
fn program_that_cannot_be_executed_exits_126() {
    require_native!();
    let c = code("noexec", "#!/bin/sh\necho should not run\n");
    let out = Command::new(BIN)
        .args(["run", "--json", "--interpreter", "exec"])
        .arg(&c.script)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(126), "{stderr}");
    assert!(stderr.contains("cannot execute /code/noexec"), "{stderr}");
}
