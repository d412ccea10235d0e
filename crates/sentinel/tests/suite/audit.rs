//! `--audit DIR`: Sentinel's verdicts recorded as events in a real Cutufato log (real SQLite,
//! real signatures), checked with the cutufato library; the frontends fail closed when the log
//! cannot be written.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cutufato::Auditor;
use cutufato::auditor::Content;
use cutufato::record::{Body, EventRecord};
use serde_json::{Value, json};

use super::support::{FixtureServer, Sentinel};
use super::upstream::{Env, Server, Upstream, http_get, python};

/// A fresh log in `dir/log`, as `cutufato init --dir` makes it.
fn init_log(dir: &Path) -> PathBuf {
    let log = dir.join("log");
    Auditor::init(&log, None).unwrap();
    log
}

/// Every event of the log, in order, with its content.
fn events(log: &Path) -> Vec<(EventRecord, Content)> {
    let a = Auditor::open(log).unwrap();
    (0..a.size())
        .filter_map(|i| {
            let s = a.get_index(i).unwrap();
            match s.entry.body {
                Body::Event(e) => Some((e, s.content.unwrap())),
                _ => None,
            }
        })
        .collect()
}

/// Findings of a full verification (empty = the log verifies).
fn verify(log: &Path) -> Vec<String> {
    let a = Auditor::open(log).unwrap();
    let trusted = a.trusted_keys().unwrap();
    a.verify_all(&trusted, &[], |_, _| {})
        .unwrap()
        .findings
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn checkpoint_sizes(log: &Path) -> Vec<i64> {
    let a = Auditor::open(log).unwrap();
    let mut st = a
        .connection()
        .prepare("SELECT size FROM checkpoints ORDER BY size")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn check_records_the_block_and_the_log_verifies_and_catches_an_edit() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let log = init_log(s.dir.path());
    let r = s.run(&[
        "check",
        "pypi",
        "requsts",
        "requests==2.31.0",
        "--audit",
        log.to_str().unwrap(),
        "--audit-session",
        "agent-42",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 2, "blocked: {r:?}");
    assert!(r.stderr.contains("recorded 1 event(s)"), "{}", r.stderr);
    let ev = events(&log);
    assert_eq!(ev.len(), 1, "only the block is recorded by default");
    let (rec, content) = &ev[0];
    assert_eq!(
        (rec.source.as_str(), rec.action.as_str()),
        ("sentinel", "block")
    );
    assert_eq!(rec.outcome.as_deref(), Some("block"));
    assert_eq!(rec.session.as_deref(), Some("agent-42"));
    let summary = content.summary.as_deref().unwrap();
    assert!(
        summary.starts_with("blocked pypi requsts: ")
            && summary.contains("did you mean `requests`?"),
        "{summary}"
    );
    let data = content.data.as_ref().unwrap();
    assert_eq!(data["schema"], "sentinel.verdict-event/1");
    assert_eq!(data["frontend"], "check");
    // The data is the verdict exactly as `--format json` printed it.
    assert_eq!(data["verdict"], r.json()["verdicts"][0]);
    assert_eq!(data["verdict"]["suggestions"][0]["name"], "requests");
    assert!(verify(&log).is_empty(), "{:?}", verify(&log));

    // Someone turns the recorded block into an allow in the content store: verify names it.
    let a = Auditor::open(&log).unwrap();
    let body: Vec<u8> = a
        .connection()
        .query_row("SELECT body FROM content WHERE idx = 0", [], |r| r.get(0))
        .unwrap();
    let edited = String::from_utf8(body)
        .unwrap()
        .replace(r#""decision":"block""#, r#""decision":"allow""#);
    a.connection()
        .execute(
            "UPDATE content SET body = ?1 WHERE idx = 0",
            [edited.as_bytes()],
        )
        .unwrap();
    let findings = verify(&log);
    assert!(
        findings.iter().any(|f| f.contains("data-mismatch")),
        "{findings:?}"
    );
}

#[test]
fn audit_all_records_allowed_verdicts_too() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let log = init_log(s.dir.path());
    let r = s.run(&[
        "--audit",
        log.to_str().unwrap(),
        "--audit-all",
        "check",
        "pypi",
        "requests==2.31.0",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let ev = events(&log);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0.action, "allow");
    assert!(
        ev[0]
            .1
            .summary
            .as_deref()
            .unwrap()
            .starts_with("allowed pypi requests 2.31.0")
    );
}

#[test]
fn scan_records_two_bad_names_in_one_commit_with_the_manifest() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let log = init_log(s.dir.path());
    let manifest = s.work().join("requirements.txt");
    std::fs::write(
        &manifest,
        "requsts\nrequests==2.31.0\nfastapi-quantum-router\n",
    )
    .unwrap();
    let r = s
        .cmd()
        .env("SENTINEL_AUDIT", &log)
        .env("TRIAD_SESSION", "s-scan")
        .args(["scan", "requirements.txt"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2), "{r:?}");
    let ev = events(&log);
    let names: Vec<&str> = ev
        .iter()
        .map(|(_, c)| {
            c.data.as_ref().unwrap()["verdict"]["package"]["name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["requsts", "fastapi-quantum-router"]);
    for (rec, c) in &ev {
        assert_eq!(rec.session.as_deref(), Some("s-scan"));
        let d = c.data.as_ref().unwrap();
        assert_eq!(d["frontend"], "scan");
        assert_eq!(d["manifest"], "requirements.txt");
    }
    // init signed the empty tree; the two events came in one transaction: one more checkpoint.
    assert_eq!(checkpoint_sizes(&log), [0, 2]);
    assert!(verify(&log).is_empty());
}

#[test]
fn missing_log_stops_every_frontend_before_any_answer_with_the_init_hint() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let missing = s.dir.path().join("no-log");
    let m = missing.to_str().unwrap();
    let hint = format!("cutufato init --dir {m}");
    let r = s.run(&["check", "pypi", "requsts", "--audit", m]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stdout.is_empty(),
        "no verdict before the log is open: {}",
        r.stdout
    );
    assert!(r.stderr.contains(&hint), "{}", r.stderr);
    assert_eq!(server.total(), 0, "nothing was looked up");
    for args in [
        vec!["proxy", "--listen", "127.0.0.1:0"],
        vec!["mcp", "--http", "127.0.0.1:0"],
    ] {
        let r = s.run(&[&["--audit", m][..], &args[..]].concat());
        assert_eq!(r.code, 4, "{args:?}: {r:?}");
        assert!(r.stderr.contains(&hint), "{}", r.stderr);
        assert!(!r.stderr.contains("listening"), "{}", r.stderr);
    }
    // The hook denies: exit 2 is what assistants treat as "blocked".
    let mut c = s.cmd();
    let mut child = c
        .args(["--audit", m, "hook"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = json!({"tool_name": "Bash", "tool_input": {"command": "pip install six"}});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&hint));
    let r = s.run(&["check", "pypi", "six", "--audit-all"]);
    assert_eq!(r.code, 3, "--audit-all alone: {r:?}");
    // A bad session id is a usage error.
    let log = init_log(s.dir.path());
    let r = s.run(&[
        "check",
        "pypi",
        "six",
        "--audit",
        log.to_str().unwrap(),
        "--audit-session",
        "a\nb",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
}

#[test]
fn check_exits_5_with_the_verdicts_when_the_log_cannot_be_written() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let log = init_log(s.dir.path());
    // The signed checkpoint kept outside the database cannot be replaced.
    std::fs::remove_file(log.join("checkpoint")).unwrap();
    std::fs::create_dir(log.join("checkpoint")).unwrap();
    let r = s.run(&["check", "pypi", "requsts", "--audit", log.to_str().unwrap()]);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stdout.contains("BLOCK  pypi:requsts"), "{}", r.stdout);
    assert!(
        r.stderr.contains("cannot record in the audit log") && r.stderr.contains("NOT recorded"),
        "{}",
        r.stderr
    );
}

fn proxy_with_audit(env: &Env, up: &Upstream, log: &Path, all: bool) -> Server {
    let mut c = env.sentinel(up);
    c.arg("--audit").arg(log);
    if all {
        c.arg("--audit-all");
    }
    c.env("TRIAD_SESSION", "s-proxy")
        .args(["proxy", "--listen", "127.0.0.1:0"])
        .arg("--pypi-upstream")
        .arg(format!("{}/simple/", up.base))
        .arg("--pypi-files-upstream")
        .arg(format!("{}/files/", up.base))
        .arg("--npm-upstream")
        .arg(format!("{}/npm/", up.base));
    Server::spawn(c)
}

#[test]
fn pip_install_of_a_typosquat_through_the_proxy_leaves_a_block_event() {
    let py = python();
    let up = Upstream::start();
    let env = Env::new();
    let log = init_log(env.dir.path());
    let proxy = proxy_with_audit(&env, &up, &log, false);
    let target = env.dir.path().join("t");
    let out = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
        ])
        .arg("--index-url")
        .arg(format!("{}/pypi/simple", proxy.url))
        .arg("--target")
        .arg(&target)
        .arg("siix")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env_remove("PIP_INDEX_URL")
        .env("PIP_NO_INPUT", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "pip installed siix: {text}");
    let ev = events(&log);
    let file_block = ev.iter().find(|(rec, c)| {
        let v = &c.data.as_ref().unwrap()["verdict"];
        rec.action == "block"
            && v["package"]["name"] == "siix"
            && v["package"]["version"] == "1.17.0"
    });
    let (rec, c) = file_block.unwrap_or_else(|| panic!("no block of siix 1.17.0: {ev:?}"));
    assert_eq!(rec.session.as_deref(), Some("s-proxy"));
    let d = c.data.as_ref().unwrap();
    assert_eq!(d["frontend"], "proxy");
    assert_eq!(d["verdict"]["suggestions"][0]["name"], "six");
    assert!(ev.iter().all(|(r, _)| r.action == "block"), "{ev:?}");
    assert!(verify(&log).is_empty());
}

#[test]
fn proxy_refuses_with_503_instead_of_serving_when_the_log_database_is_deleted() {
    let up = Upstream::start();
    let env = Env::new();
    let log = init_log(env.dir.path());
    let proxy = proxy_with_audit(&env, &up, &log, true);
    let six = |v: &str| {
        format!(
            "{}/pypi/files/packages/b7/six-{v}-py2.py3-none-any.whl",
            proxy.url
        )
    };
    // Recorded, then served.
    let (code, _, _, body) = http_get(&six("1.17.0"), None);
    assert_eq!(code, 200);
    assert!(!body.is_empty());
    let ev = events(&log);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0.action, "allow");
    assert!(verify(&log).is_empty());
    let served = up.requested().len();

    // The database is deleted under the running proxy (SQLite would go on writing to the
    // unlinked file, and the outside checkpoint can still be written): nothing is served
    // unrecorded.
    for f in ["log.db", "log.db-wal", "log.db-shm"] {
        let _ = std::fs::remove_file(log.join(f));
    }
    let (code, reason, headers, _) = http_get(&six("1.16.0"), None);
    assert_eq!(code, 503, "{reason}");
    assert!(
        reason.contains("could not be recorded") && reason.contains("removed or replaced"),
        "{reason}"
    );
    assert_eq!(
        super::upstream::header(&headers, "x-sentinel-decision"),
        Some("block")
    );
    let (code, _, _, body) = http_get(&format!("{}/npm/is-numbr", proxy.url), None);
    assert_eq!(code, 503);
    assert!(String::from_utf8_lossy(&body).contains("could not be recorded"));
    assert_eq!(
        up.requested()[served..]
            .iter()
            .filter(|p| p.ends_with(".whl"))
            .count(),
        0,
        "{:?}",
        up.requested()
    );
}

/// Raw JSON-RPC over stdio: initialize, then the given tool calls; returns the call results.
fn mcp_calls(cmd: &mut Command, calls: &[Value], between: impl Fn(usize)) -> Vec<Value> {
    let mut child = cmd
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = |v: Value| writeln!(stdin, "{v}").unwrap();
    send(
        json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}),
    );
    let mut next_result = |id: usize| loop {
        let line = lines.next().expect("server closed stdout").unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == id {
            return v["result"].clone();
        }
    };
    next_result(0);
    send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
    let mut out = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        between(i);
        send(json!({"jsonrpc":"2.0","id":i + 1,"method":"tools/call","params":call}));
        out.push(next_result(i + 1));
    }
    drop(stdin);
    let _ = child.wait();
    out
}

#[test]
fn mcp_records_its_verdicts_and_returns_a_tool_error_when_it_cannot() {
    let up = Upstream::start();
    let env = Env::new();
    let log = init_log(env.dir.path());
    let call = |name: &str| json!({"name":"validate_dependency","arguments":{"ecosystem":"npm","name":name}});
    let log2 = log.clone();
    let results = mcp_calls(
        env.sentinel(&up).arg("--audit").arg(&log),
        &[call("is-numbr"), call("is-numbr")],
        |i| {
            if i == 1 {
                // Checked once more after the log became unusable.
                let ev = events(&log2);
                assert_eq!(ev.len(), 1);
                assert_eq!(ev[0].1.data.as_ref().unwrap()["frontend"], "mcp");
                assert!(verify(&log2).is_empty());
                std::fs::remove_dir_all(&log2).unwrap();
            }
        },
    );
    assert_eq!(results[0]["isError"], false, "{}", results[0]);
    assert_eq!(results[0]["structuredContent"]["decision"], "block");
    assert_eq!(results[1]["isError"], true, "{}", results[1]);
    let text = results[1]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("could not record"), "{text}");
    assert!(
        results[1]
            .get("structuredContent")
            .is_none_or(Value::is_null)
    );
}

/// Runs `sentinel --audit LOG hook` on a Claude Code input for `command`; (exit code, stdout).
fn hook(env: &Env, up: &Upstream, log: &Path, command: &str) -> (Option<i32>, Value) {
    let mut child = env
        .sentinel(up)
        .arg("--audit")
        .arg(log)
        .arg("hook")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = json!({"tool_name": "Bash", "tool_input": {"command": command}});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v)
}

#[test]
fn hook_records_the_denied_install_and_denies_when_it_cannot_record() {
    let up = Upstream::start();
    let env = Env::new();
    let log = init_log(env.dir.path());
    let (code, d) = hook(&env, &up, &log, "pip install six siix");
    assert_eq!(code, Some(0));
    assert_eq!(d["hookSpecificOutput"]["permissionDecision"], "deny");
    let ev = events(&log);
    assert_eq!(ev.len(), 1, "six is allowed and not recorded");
    assert_eq!(ev[0].1.data.as_ref().unwrap()["frontend"], "hook");
    assert!(
        ev[0]
            .1
            .summary
            .as_deref()
            .unwrap()
            .starts_with("blocked pypi siix")
    );

    // The log cannot be written: the deny says so (it is not the verdict's deny).
    std::fs::remove_file(log.join("checkpoint")).unwrap();
    std::fs::create_dir(log.join("checkpoint")).unwrap();
    let (code, d) = hook(&env, &up, &log, "npm install is-numbr");
    assert_eq!(code, Some(0));
    let h = &d["hookSpecificOutput"];
    assert_eq!(h["permissionDecision"], "deny", "{d}");
    let reason = h["permissionDecisionReason"].as_str().unwrap();
    assert!(reason.contains("could not record"), "{reason}");
}

#[test]
fn two_processes_appending_at_once_keep_the_log_verifiable() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let log = init_log(s.dir.path());
    let manifest = s.work().join("requirements.txt");
    std::fs::write(&manifest, "requsts\nfastapi-quantum-router\nreqests\n").unwrap();
    // Warm the cache so both processes spend their time appending, not looking up.
    s.run(&["scan", "requirements.txt"]);
    let rounds = 5;
    let spawn = |i: usize| {
        let mut c = s.cmd();
        c.args(["--audit", log.to_str().unwrap(), "--audit-session"])
            .arg(format!("p{i}"))
            .args(["scan", "requirements.txt"]);
        std::thread::spawn(move || {
            (0..rounds)
                .map(|_| c.output().unwrap().status.code())
                .collect::<Vec<_>>()
        })
    };
    let (a, b) = (spawn(1), spawn(2));
    for codes in [a.join().unwrap(), b.join().unwrap()] {
        assert!(codes.iter().all(|c| *c == Some(2)), "{codes:?}");
    }
    let ev = events(&log);
    assert_eq!(ev.len(), 2 * rounds * 3);
    for p in ["p1", "p2"] {
        let n = ev
            .iter()
            .filter(|(r, _)| r.session.as_deref() == Some(p))
            .count();
        assert_eq!(n, rounds * 3, "{p}");
    }
    assert!(verify(&log).is_empty(), "{:?}", verify(&log));
}

#[test]
fn proxy_records_a_version_removed_from_an_npm_document_once_and_each_refused_tarball() {
    let up = Upstream::start();
    let env = Env::new();
    let log = init_log(env.dir.path());
    let proxy = proxy_with_audit(&env, &up, &log, false);
    // The recorded is-number document plus a hijacked 7.0.1 with an install script (blocked by
    // the test policy): the proxy removes 7.0.1 from the document.
    for _ in 0..2 {
        let (code, _, headers, _) = http_get(&format!("{}/npm/is-number", proxy.url), None);
        assert_eq!(code, 200);
        assert_eq!(
            super::upstream::header(&headers, "x-sentinel-removed-versions"),
            Some("1")
        );
    }
    let ev = events(&log);
    let summaries: Vec<_> = ev.iter().map(|(_, c)| c.summary.clone().unwrap()).collect();
    assert_eq!(
        ev.len(),
        1,
        "one event for the removed version, not one per fetch: {summaries:#?}"
    );
    let v = &ev[0].1.data.as_ref().unwrap()["verdict"];
    assert_eq!(v["package"]["version"], "7.0.1");
    assert_eq!(v["decision"], "block");
    // Asking for the tarball itself is a refusal of its own: recorded every time.
    let (code, _, _, _) = http_get(
        &format!("{}/npm/is-number/-/is-number-7.0.1.tgz", proxy.url),
        None,
    );
    assert_eq!(code, 403);
    assert_eq!(events(&log).len(), 2);
    assert!(verify(&log).is_empty());
}
