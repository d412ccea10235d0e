//! `sentinel hook`: the pre-tool-use hook, fed the JSON a coding assistant sends.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use super::upstream::{Env, Upstream};

fn run(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn claude(command: &str, cwd: &std::path::Path) -> String {
    json!({
        "session_id": "s1",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "install"},
        "cwd": cwd,
    })
    .to_string()
}

fn decision(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hook stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn hook_denies_typosquat_installs_with_reason_and_alternative() {
    let up = Upstream::start();
    let env = Env::new();
    let mut c = env.sentinel(&up);
    c.arg("hook");
    let out = run(
        c,
        &claude("cd /tmp && pip install six siix", env.dir.path()),
    );
    assert_eq!(out.status.code(), Some(0));
    let d = decision(&out);
    let h = &d["hookSpecificOutput"];
    assert_eq!(h["hookEventName"], "PreToolUse");
    assert_eq!(h["permissionDecision"], "deny");
    let reason = h["permissionDecisionReason"].as_str().unwrap();
    assert!(
        reason.contains("pypi:siix") && reason.contains("use `six` instead"),
        "{reason}"
    );
    assert!(
        !reason.contains("pypi:six:"),
        "six itself is fine: {reason}"
    );
}

#[test]
fn hook_lets_clean_installs_and_other_tools_through() {
    let up = Upstream::start();
    let env = Env::new();
    for input in [
        claude(
            "pip install 'six==1.17.0' && npm i is-number@7.0.0",
            env.dir.path(),
        ),
        claude("cargo build && ls -la", env.dir.path()),
        json!({"tool_name": "Edit", "tool_input": {"file_path": "x.py"}}).to_string(),
    ] {
        let mut c = env.sentinel(&up);
        c.arg("hook");
        let out = run(c, &input);
        assert_eq!(out.status.code(), Some(0), "{input}");
        assert!(
            out.stdout.is_empty(),
            "allowed: no decision printed for {input}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn hook_checks_requirements_files_relative_to_the_session_cwd() {
    let up = Upstream::start();
    let env = Env::new();
    let proj = env.dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("requirements.txt"), "six==1.17.0\nreqeusts>=2\n").unwrap();
    let mut c = env.sentinel(&up);
    c.arg("hook");
    let out = run(
        c,
        &claude(
            "cd proj && python3 -m pip install -r requirements.txt",
            env.dir.path(),
        ),
    );
    let d = decision(&out);
    let reason = d["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert_eq!(d["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(
        reason.contains("pypi:reqeusts") && reason.contains("`requests`"),
        "{reason}"
    );

    // A requirements file that cannot be read is not waved through.
    let mut c = env.sentinel(&up);
    c.arg("hook");
    let out = run(c, &claude("pip install -r missing.txt", env.dir.path()));
    let d = decision(&out);
    assert_eq!(d["hookSpecificOutput"]["permissionDecision"], "deny");
}

#[test]
fn hook_npm_latest_is_denied_when_the_latest_release_is_hijacked() {
    // Upstream's latest is-number (7.0.1) runs a postinstall script; the policy blocks that.
    let up = Upstream::start();
    let env = Env::new();
    let mut c = env.sentinel(&up);
    c.args(["hook", "--format", "cursor"]);
    let out = run(
        c,
        &json!({"command": "npm install is-number", "cwd": env.dir.path()}).to_string(),
    );
    let d = decision(&out);
    assert_eq!(d["permission"], "deny");
    assert!(
        d["agentMessage"]
            .as_str()
            .unwrap()
            .contains("install-scripts"),
        "{d}"
    );
}

/// A registry that accepts connections and never answers.
fn black_hole() -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let t = std::thread::spawn(move || {
        let mut held = Vec::new();
        l.set_nonblocking(true).unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < end {
            if let Ok((s, _)) = l.accept() {
                held.push(s);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    (url, t)
}

#[test]
fn hook_fails_closed_on_timeout_unless_configured_open() {
    let up = Upstream::start();
    let env = Env::new();
    let (hole, _t) = black_hole();
    let input = claude("pip install some-package-nobody-cached", env.dir.path());

    let mut c = env.sentinel(&up);
    c.env("SENTINEL_PYPI_URL", &hole)
        .args(["hook", "--timeout", "1"]);
    let started = std::time::Instant::now();
    let out = run(c, &input);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "timeout not honoured"
    );
    let d = decision(&out);
    assert_eq!(d["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(
        d["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("fail closed"),
        "{d}"
    );

    let mut c = env.sentinel(&up);
    c.env("SENTINEL_PYPI_URL", &hole)
        .args(["hook", "--timeout", "1", "--on-timeout", "allow"]);
    let out = run(c, &input);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn hook_denies_when_the_input_is_not_hook_json() {
    let up = Upstream::start();
    let env = Env::new();
    let mut c = env.sentinel(&up);
    c.arg("hook");
    let out = run(c, "pip install requsts");
    assert_eq!(out.status.code(), Some(2), "exit 2 blocks the tool call");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not the assistant's hook JSON") && err.contains("denied"),
        "{err}"
    );
}

#[test]
fn hook_denies_with_exit_2_when_it_cannot_start() {
    // Assistants run the command when a hook fails with any code but 2: a broken policy or a
    // bad flag value must not let installs through.
    let up = Upstream::start();
    let env = Env::new();
    std::fs::write(&env.policy, "fail = \"sometimes\"\n").unwrap();
    let mut c = env.sentinel(&up);
    c.arg("hook");
    let out = run(c, &claude("pip install siix", env.dir.path()));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy") && err.contains("denied"), "{err}");

    let env = Env::new();
    let mut c = env.sentinel(&up);
    c.args(["hook", "--timeout", "0"]);
    let out = run(c, &claude("pip install six", env.dir.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timeout"));
}
