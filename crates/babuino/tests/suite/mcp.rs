//! `babuino mcp` driven by the official MCP Python SDK (PyPI `mcp`) over stdio and HTTP, and by
//! raw JSON-RPC to check that stdout carries nothing but the protocol.

use super::audit::{assert_verifies, new_log, recorded};
use super::native_util::{BIN, require_native, wait_for};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/client.py");

/// The MCP SDK venv made by `scripts/deps.d/sentinel-mcp.sh` (or `$TRIAD_MCP_PYTHON`).
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TRIAD_MCP_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("TRIAD_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let base = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
            base.join("security-triad")
        });
    let py = cache.join("venv-mcp/bin/python");
    assert!(
        py.exists(),
        "the MCP Python SDK venv is missing at {}: run `./triad test` (scripts/deps.d/sentinel-mcp.sh installs it) or set TRIAD_MCP_PYTHON",
        py.display()
    );
    py
}

/// Runs the SDK client with `calls` ([key, tool, args]...) against `target` (stdio server
/// command line, or `http URL`).
fn client(target: &[&str], calls: Value) -> Value {
    client_with_env(target, calls, &[])
}

fn client_with_env(target: &[&str], calls: Value, env: &[(&str, &str)]) -> Value {
    let mut cmd = Command::new(python());
    cmd.envs(env.iter().copied());
    cmd.arg(CLIENT)
        .args(target)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run the MCP Python client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(calls.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "MCP client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client output is not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn sha256_of(path: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

#[test]
fn python_sdk_client_runs_code_within_the_servers_ceilings() {
    require_native!();
    let log = new_log();
    let passwd_before = sha256_of("/etc/passwd");
    let calls = json!([
        ["hello", "run_code", {
            "code": "import sys\nprint('args', sys.argv[1:])\nprint('stdin', sys.stdin.read())\nprint('file', open('/code/data/in.txt').read())\nopen('/out/result.csv', 'w').write('a,b\\n1,2\\n')\nopen('/out/blob.bin', 'wb').write(bytes(range(256)))\n",
            "language": "python", "args": ["a b", "c"], "stdin": "from the model",
            "files": {"data/in.txt": "given file"}
        }],
        ["passwd", "run_code", {"code": "echo pwned >> /etc/passwd\necho after", "language": "sh"}],
        ["evil", "run_code", {"code": "echo hi", "language": "sh", "network_allow": ["evil.example"]}],
        ["timeout", "run_code", {"code": "echo start; sleep 30", "language": "bash", "timeout": "1s"}],
        ["longer", "run_code", {"code": "echo hi", "language": "sh", "timeout": "60s"}],
        ["bigger", "run_code", {"code": "echo hi", "language": "sh", "memory": "4G"}],
        ["malformed", "run_code", {"code": 7, "language": "sh"}],
        ["escape", "run_code", {"code": "", "language": "sh", "files": {"../../etc/cron.d/x": "boom"}}],
        ["after_errors", "run_code", {"code": "console.log(6*7)", "language": "node"}]
    ]);
    let r = client(
        &[
            "stdio",
            BIN,
            "mcp",
            "--network-allow",
            "api.github.com,*.example.com",
            "--timeout",
            "10s",
            "--memory",
            "256M",
            "--audit",
            log.path().to_str().unwrap(),
            "--audit-session",
            "s-mcp",
        ],
        calls,
    );
    assert_eq!(r["server_name"], "babuino");
    let tools = r["tools"].as_object().unwrap();
    assert_eq!(tools.keys().collect::<Vec<_>>(), ["run_code"]);
    let t = &tools["run_code"];
    assert_eq!(t["input_schema"]["required"], json!(["code", "language"]));
    assert_eq!(t["output_schema"]["type"], "object");
    let res = &r["results"];

    let hello = &res["hello"];
    assert_eq!(hello["is_error"], false, "{hello}");
    let s = &hello["structured"];
    assert_eq!(
        s["exit"],
        json!({"kind": "exited", "code": 0, "description": "exit 0"})
    );
    let stdout = s["stdout"].as_str().unwrap();
    assert!(stdout.contains("args ['a b', 'c']"), "{stdout}");
    assert!(stdout.contains("stdin from the model"), "{stdout}");
    assert!(stdout.contains("file given file"), "{stdout}");
    assert_eq!(s["report"]["schema"], "babuino.run-report/1");
    let mut files = s["files"].as_array().unwrap().clone();
    files.sort_by_key(|f| f["path"].as_str().unwrap().to_string());
    assert_eq!(
        files,
        [
            json!({"path": "blob.bin", "bytes": 256, "omitted": "binary"}),
            json!({"path": "result.csv", "bytes": 8, "content": "a,b\n1,2\n"}),
        ]
    );
    assert!(
        hello["text"]
            .as_str()
            .unwrap()
            .contains("--- /out/result.csv (8 bytes) ---\na,b\n1,2\n")
    );
    assert_eq!(s["report"]["program"], "main.py");
    assert_eq!(s["report"]["limits"]["memory_bytes"], 256 << 20);
    assert!(hello["text"].as_str().unwrap().starts_with("exit 0 after "));

    // The write to /etc/passwd is denied, reported, and the host file is untouched.
    let pw = &res["passwd"];
    assert_eq!(pw["is_error"], false, "{pw}");
    let events = pw["structured"]["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["kind"] == "denied-write"
            && e["detail"].as_str().unwrap().contains("/etc/passwd")),
        "{pw}"
    );
    assert!(
        pw["text"]
            .as_str()
            .unwrap()
            .contains("[denied-write] write /etc/passwd")
    );
    assert_eq!(sha256_of("/etc/passwd"), passwd_before);

    // Asking for more than the server allows is a tool error naming the ceiling.
    let evil = &res["evil"];
    assert_eq!(evil["is_error"], true, "{evil}");
    let text = evil["text"].as_str().unwrap();
    assert!(
        text.contains("evil.example") && text.contains("api.github.com, *.example.com"),
        "{text}"
    );
    for key in ["longer", "bigger"] {
        let e = &res[key];
        assert_eq!(e["is_error"], true, "{key}: {e}");
        assert!(
            e["text"]
                .as_str()
                .unwrap()
                .contains("more than this server allows"),
            "{e}"
        );
    }
    let to = &res["timeout"];
    assert_eq!(to["is_error"], false);
    assert_eq!(to["structured"]["exit"]["kind"], "timeout", "{to}");
    assert_eq!(to["structured"]["stdout"], "start\n");

    // Bad input is a tool error, and the server keeps serving.
    let m = &res["malformed"];
    assert_eq!(m["is_error"], true, "{m}");
    assert!(
        m["text"]
            .as_str()
            .unwrap()
            .contains("invalid arguments for `run_code`")
    );
    assert!(
        res["escape"]["text"]
            .as_str()
            .unwrap()
            .starts_with("files:")
    );
    assert_eq!(res["after_errors"]["structured"]["stdout"], "42\n");

    // Four calls ran; each is in the log with the session, and the log verifies.
    let mut ids = Vec::new();
    for key in ["hello", "passwd", "timeout", "after_errors"] {
        let a = &res[key]["structured"]["audit"];
        ids.push(a["execution_id"].as_str().unwrap().to_string());
    }
    assert_eq!(assert_verifies(log.path()), 4);
    let (leaf, summary, data) = recorded(log.path(), &ids[1]);
    assert_eq!(leaf["session"], "s-mcp");
    assert_eq!(leaf["outcome"], "exit 0");
    assert!(summary.contains("1 write denied"), "{summary}");
    assert_eq!(data["via"], "mcp");
    assert_eq!(data["code"], "echo pwned >> /etc/passwd\necho after");
    assert_eq!(recorded(log.path(), &ids[2]).0["outcome"], "timeout");
}

#[test]
fn server_without_its_log_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none");
    let out = Command::new(BIN)
        .args(["mcp", "--audit"])
        .arg(&missing)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cutufato init --dir"), "{err}");
    for bad in [
        &["--timeout", "forever"][..],
        &["--network-allow", "not a host"],
        &["--http", "0.0.0.0:0"],
        &["--network-allow", "pypi.org"],
    ] {
        let out = Command::new(BIN)
            .arg("mcp")
            .args(bad)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn stdio_stdout_is_only_json_rpc() {
    require_native!();
    let mut child = Command::new(BIN)
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let msgs = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_code","arguments":{"code":"echo out; echo err >&2","language":"sh"}}}"#,
    ];
    for m in msgs {
        writeln!(stdin, "{m}").unwrap();
    }
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let line = lines.next().expect("server closed stdout").unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("non-JSON on stdout ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
        if v.get("id").is_some() {
            seen.push(v);
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "server exits cleanly when stdin closes");
    let result = &seen[1]["result"];
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["stdout"], "out\n");
    assert_eq!(result["structuredContent"]["stderr"], "err\n");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("run_code"), "logs belong on stderr: {err}");
}

#[test]
fn python_sdk_client_over_streamable_http() {
    require_native!();
    let mut server = Command::new(BIN)
        .args(["mcp", "--http", "127.0.0.1:0", "--timeout", "5s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(server.stderr.take().unwrap());
    let mut url = None;
    let mut line = String::new();
    let found = wait_for(20.0, || {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            return true;
        }
        if let Some(u) = line.trim().strip_prefix("babuino mcp: serving ") {
            url = Some(u.to_string());
            return true;
        }
        false
    });
    let Some(url) = url.filter(|_| found) else {
        let _ = server.kill();
        panic!("server did not say where it listens: {line}");
    };
    let r = client(
        &["http", &url],
        json!([
            ["py", "run_code", {"code": "print(sum(range(10)))", "language": "python"}],
            ["more", "run_code", {"code": "", "language": "sh", "timeout": 6}]
        ]),
    );
    // SIGTERM: the server stops cleanly.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let status = server.wait().unwrap();
    assert_eq!(r["results"]["py"]["structured"]["stdout"], "45\n", "{r}");
    assert_eq!(r["results"]["more"]["is_error"], true);
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");
}

#[test]
fn sigterm_during_a_call_kills_the_sandbox_and_still_records_it() {
    require_native!();
    let log = new_log();
    let mut child = Command::new(BIN)
        .args(["mcp", "--timeout", "60s", "--audit"])
        .arg(log.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for m in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_code","arguments":{"code":"sleep 50","language":"sh"}}}"#,
    ] {
        writeln!(stdin, "{m}").unwrap();
    }
    let started = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(
        started.elapsed().as_secs() < 20,
        "the sandbox must be killed, not waited for"
    );
    assert_eq!(status.code(), Some(0));
    drop(stdin);
    let a = cutufato::Auditor::open(log.path()).unwrap();
    assert_eq!(a.size(), 1, "the interrupted call is recorded");
    let leaf: Value = serde_json::from_slice(&a.get_index(0).unwrap().leaf).unwrap();
    assert_eq!(leaf["outcome"], "signal 15");
    assert_verifies(log.path());
}

/// The same tool on the micro-VM backend (TCG here: one boot, several checks).
#[test]
fn run_code_in_the_micro_vm() {
    let Some(_vm) = super::vm::ready() else {
        return;
    };
    let log = new_log();
    let calls = json!([["vm", "run_code", {
        "code": "import sys\nprint(sys.stdin.read(), open('/code/in.txt').read())\ntry:\n    open('/etc/passwd', 'a')\nexcept OSError as e:\n    print('denied', e.errno)\n",
        "language": "python", "stdin": "via vm", "files": {"in.txt": "file"}
    }]]);
    let mut cmd = vec![
        "stdio",
        BIN,
        "mcp",
        "--sandbox",
        "kvm",
        "--timeout",
        "120s",
        "--audit",
    ];
    cmd.push(log.path().to_str().unwrap());
    // The server inherits the client's environment (client.py passes os.environ).
    let cache = super::vm::cache_dir();
    let r = client_with_env(&cmd, calls, &[("BABUINO_CACHE", cache.to_str().unwrap())]);
    let vm = &r["results"]["vm"];
    assert_eq!(vm["is_error"], false, "{vm}");
    let s = &vm["structured"];
    assert_eq!(s["report"]["backend"], "kvm");
    assert_eq!(s["stdout"], "via vm file\ndenied 30\n", "{s}");
    assert!(
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "denied-write"),
        "{s}"
    );
    assert_eq!(assert_verifies(log.path()), 1);
}

#[test]
fn a_call_that_cannot_be_recorded_is_a_tool_error_and_the_next_is_refused() {
    require_native!();
    let log = new_log();
    let mut child = Command::new(BIN)
        .args(["mcp", "--audit"])
        .arg(log.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let call = |stdin: &mut std::process::ChildStdin, id: u32, code: &str| {
        writeln!(
            stdin,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                   "params": {"name": "run_code", "arguments": {"code": code, "language": "sh"}}})
        )
        .unwrap();
    };
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"raw","version":"0"}}}}}}"#).unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    call(&mut stdin, 2, "sleep 2; echo secret-output");
    // While it runs, the log goes away.
    std::thread::sleep(std::time::Duration::from_millis(800));
    std::fs::remove_dir_all(log.path()).unwrap();
    let mut next = |want: u64| loop {
        let v: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        if v["id"] == want {
            return v;
        }
    };
    let r = next(2);
    assert_eq!(r["result"]["isError"], true, "{r}");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("the code ran (exit 0)") && text.contains("NOT recorded"),
        "{text}"
    );
    assert!(
        !text.contains("secret-output"),
        "output of an unrecorded run is withheld"
    );
    drop(stdin);
    let _ = child.wait();
}

/// A call that narrows the allow-list really loses the hosts it left out (a local server stands
/// in for the allowed host through the proxy's test resolver).
#[test]
fn a_narrowed_allow_list_is_enforced() {
    require_native!();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    let fetch = "import urllib.request\ntry:\n    print(urllib.request.urlopen('http://data.test:PORT/', timeout=5).read().decode())\nexcept Exception as e:\n    print('failed', e)\n".replace("PORT", &port.to_string());
    let calls = json!([
        ["all", "run_code", {"code": fetch, "language": "python"}],
        ["narrowed", "run_code", {"code": fetch, "language": "python", "network_allow": [format!("other.test:{port}")]}],
        ["none", "run_code", {"code": fetch, "language": "python", "network_allow": []}]
    ]);
    let allow = format!("data.test:{port},other.test:{port}");
    let resolve = format!("data.test=127.0.0.1:{port},other.test=127.0.0.1:{port}");
    let r = client_with_env(
        &["stdio", BIN, "mcp", "--network-allow", &allow],
        calls,
        &[("BABUINO_TEST_RESOLVE", &resolve)],
    );
    let res = &r["results"];
    assert_eq!(res["all"]["structured"]["stdout"], "hello\n", "{r}");
    let narrowed = &res["narrowed"]["structured"];
    assert!(
        narrowed["stdout"].as_str().unwrap().starts_with("failed"),
        "{narrowed}"
    );
    assert!(
        narrowed["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "blocked-connect"
                && e["detail"].as_str().unwrap().contains("data.test")),
        "{narrowed}"
    );
    assert!(
        res["none"]["structured"]["stdout"]
            .as_str()
            .unwrap()
            .starts_with("failed"),
        "{}",
        res["none"]
    );
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "only the first call reached the server"
    );
}

/// `@pypi` on the server: pip inside a call installs only what Sentinel allows (Sentinel's engine
/// and proxy pointed at the local replay of recorded registry data, as in `packages.rs`).
#[test]
fn pypi_through_sentinel_inside_run_code() {
    require_native!();
    let up = super::audit::registry_replay::Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("sentinel.toml"),
        "[advisories]\nmode = \"off\"\n\n[typosquat]\nestablished-versions = 0\n",
    )
    .unwrap();
    let env = up.sentinel_env(&d.join("sentinel.toml"), d);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let pip = "pip() { python3 -m pip install --no-cache-dir --disable-pip-version-check --retries 0 --timeout 5 -q \"$@\" >/dev/null 2>&1; echo $?; }\n\
echo \"squat: $(pip --target /tmp/a siix)\"\n\
echo \"six: $(pip --target /tmp/c six)\"\n\
PYTHONPATH=/tmp/c python3 -c 'import six; print(\"imported\", six.__version__)'\n";
    let calls = json!([
        ["pip", "run_code", {"code": pip, "language": "bash", "timeout": "60s"}],
        ["npm", "run_code", {"code": "true", "language": "sh", "network_allow": ["@npm"]}]
    ]);
    let r = client_with_env(
        &[
            "stdio",
            BIN,
            "mcp",
            "--network-allow",
            "@pypi",
            "--timeout",
            "90s",
        ],
        calls,
        &env,
    );
    let pip = &r["results"]["pip"];
    assert_eq!(pip["is_error"], false, "{pip}");
    let s = &pip["structured"];
    let out = s["stdout"].as_str().unwrap();
    assert!(!out.contains("squat: 0"), "{out}");
    assert!(
        out.contains("six: 0") && out.contains("imported 1.17.0"),
        "{out}"
    );
    assert!(
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "blocked-package"
                && e["detail"].as_str().unwrap().starts_with("pypi siix")),
        "{s}"
    );
    let npm = &r["results"]["npm"];
    assert_eq!(npm["is_error"], true, "{npm}");
    assert!(
        npm["text"]
            .as_str()
            .unwrap()
            .contains("@npm is not allowed by this server (allowed: @pypi (through Sentinel))"),
        "{npm}"
    );
}

/// `packages` on `run_code`: the install phase of `babuino run --packages` (Sentinel's proxy in
/// the server, pip in a sandbox of its own, the local replay of recorded registry data), driven
/// by the official Python SDK client.
#[test]
fn run_code_installs_packages_through_sentinel() {
    require_native!();
    let up = super::audit::registry_replay::Upstream::start();
    let log = new_log();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("sentinel.toml"),
        "[advisories]\nmode = \"off\"\n\n[typosquat]\nestablished-versions = 0\n",
    )
    .unwrap();
    std::fs::create_dir(d.join("scratch")).unwrap();
    let mut env = up.sentinel_env(&d.join("sentinel.toml"), d);
    env.extend([
        (
            "BABUINO_RUNTIME_DIR".into(),
            d.join("runtime").display().to_string(),
        ),
        ("TMPDIR".into(), d.join("scratch").display().to_string()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let six = "import six\nprint('six', six.__version__, six.__file__)\n";
    let marker = "open('/out/ran', 'w').write('ran')\nprint('ran')\n";
    let calls = json!([
        ["six", "run_code", {"code": six, "language": "python", "network_allow": [],
            "packages": {"requirements": "six==1.17.0\n"}}],
        ["siix", "run_code", {"code": marker, "language": "python",
            "packages": {"requirements": "siix\n"}}],
        ["npm", "run_code", {"code": marker, "language": "python",
            "packages": {"package_json": "{\"dependencies\": {\"is-number\": \"7.0.0\"}}"}}],
        ["without", "run_code", {"code": "import os, sys\nprint(os.path.exists('/packages/python/six.py'), [p for p in sys.path if p.startswith('/packages')])", "language": "python"}]
    ]);
    let r = client_with_env(
        &[
            "stdio",
            BIN,
            "mcp",
            "--network-allow",
            "@pypi",
            "--timeout",
            "20s",
            "--memory",
            "256M",
            "--audit",
            log.path().to_str().unwrap(),
        ],
        calls,
        &env,
    );
    let schema = &r["tools"]["run_code"]["input_schema"];
    assert!(
        schema.to_string().contains("package_json"),
        "packages in the schema: {schema}"
    );
    let res = &r["results"];

    // six installs through Sentinel and the code imports it from the read-only /packages,
    // with no network of its own.
    let ok = &res["six"];
    assert_eq!(ok["is_error"], false, "{ok}");
    let s = &ok["structured"];
    assert_eq!(s["exit"]["kind"], "exited", "{s}");
    assert_eq!(s["exit"]["code"], 0, "{s}");
    assert!(
        s["stdout"]
            .as_str()
            .unwrap()
            .contains("six 1.17.0 /packages/python/six.py"),
        "{s}"
    );
    let pkgs = s["report"]["packages"].as_array().unwrap();
    assert!(
        pkgs.iter()
            .any(|p| p["name"] == "six" && p["installed"] == true && p["decision"] == "allow"),
        "{pkgs:?}"
    );
    assert!(s["report"]["timings"]["install_ms"].as_f64().unwrap() > 0.0);
    assert!(s["report"]["network"]["registry"].is_null(), "{s}");
    // The limits of the call are the server's, not the install phase's.
    assert_eq!(s["report"]["limits"]["memory_bytes"], 256 << 20);

    // A squat is refused with the suggestion, and the code never runs.
    let no = &res["siix"];
    assert_eq!(no["is_error"], false, "{no}");
    let s = &no["structured"];
    assert_eq!(s["exit"]["kind"], "packages-refused", "{s}");
    assert_eq!(s["stdout"], "");
    assert_eq!(s["files"], json!([]), "the code ran: {s}");
    let blocked: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "blocked-package")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(blocked.len(), 1, "{s}");
    assert!(
        blocked[0].starts_with("pypi siix") && blocked[0].contains("typosquat"),
        "{blocked:?}"
    );
    let siix = s["report"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "siix")
        .unwrap();
    assert_eq!(siix["suggestion"], "six");
    assert_eq!(siix["installed"], false);
    let text = no["text"].as_str().unwrap();
    assert!(
        text.contains("[blocked-package] pypi siix") && text.contains("six"),
        "{text}"
    );

    // package.json needs @npm, which this server does not allow: nothing runs.
    let npm = &res["npm"];
    assert_eq!(npm["is_error"], true, "{npm}");
    assert!(
        npm["text"].as_str().unwrap().contains(
            "packages.package_json needs @npm on this server, which allows: @pypi (through Sentinel)"
        ),
        "{npm}"
    );
    // Packages belong to the call that asked: the next call does not see them.
    let without = &res["without"]["structured"];
    assert_eq!(without["stdout"], "False []\n", "{without}");

    // Both package calls are in the log, the refusal with its packages and its package list.
    assert_eq!(assert_verifies(log.path()), 3);
    let id = res["siix"]["structured"]["audit"]["execution_id"]
        .as_str()
        .unwrap();
    let (leaf, summary, data) = recorded(log.path(), id);
    assert_eq!(leaf["outcome"], "packages-refused", "{leaf} {summary}");
    assert_eq!(data["packages"]["requirements"], "siix\n");
    let leftovers: Vec<_> = ["runtime", "scratch"]
        .iter()
        .flat_map(|x| std::fs::read_dir(d.join(x)).into_iter().flatten())
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");

    // A server without @pypi refuses the argument.
    let r = client(
        &["stdio", BIN, "mcp"],
        json!([["six", "run_code", {"code": six, "language": "python",
            "packages": {"requirements": "six\n"}}]]),
    );
    let e = &r["results"]["six"];
    assert_eq!(e["is_error"], true, "{e}");
    assert!(
        e["text"]
            .as_str()
            .unwrap()
            .contains("packages.requirements needs @pypi on this server, which allows: none"),
        "{e}"
    );
}

/// `packages.package_json` on an `@npm` server: npm installs in its own sandbox through
/// Sentinel, which withholds the hijacked `is-number` 7.0.1 (a postinstall script, blocked by
/// the policy), so `^7.0.0` resolves to 7.0.0 and the code requires it from `/packages`.
#[test]
fn run_code_installs_npm_packages_and_sentinel_withholds_a_hijacked_release() {
    require_native!();
    let up = super::audit::registry_replay::Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("sentinel.toml"),
        "[rules]\ninstall-scripts = \"block\"\n\n[advisories]\nmode = \"off\"\n\n[typosquat]\nestablished-versions = 0\n",
    )
    .unwrap();
    let env = up.sentinel_env(&d.join("sentinel.toml"), d);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let code = "const isNumber = require('is-number');\nconsole.log('is-number', isNumber(5), require('is-number/package.json').version, require.resolve('is-number'));\n";
    let calls = json!([
        ["npm", "run_code", {"code": code, "language": "node",
            "packages": {"package_json": "{\"name\":\"job\",\"version\":\"1.0.0\",\"dependencies\":{\"is-number\":\"^7.0.0\"}}"}}],
        ["pip", "run_code", {"code": "", "language": "python",
            "packages": {"requirements": "six\n"}}]
    ]);
    let r = client_with_env(
        &["stdio", BIN, "mcp", "--network-allow", "@npm"],
        calls,
        &env,
    );
    let npm = &r["results"]["npm"];
    assert_eq!(npm["is_error"], false, "{npm}");
    let s = &npm["structured"];
    assert_eq!(s["exit"]["code"], 0, "{s}");
    let out = s["stdout"].as_str().unwrap();
    assert!(
        out.contains("is-number true 7.0.0 /packages/node/node_modules/is-number/index.js"),
        "{out}"
    );
    let pkgs = s["report"]["packages"].as_array().unwrap();
    assert!(
        pkgs.iter().any(|p| p["name"] == "is-number"
            && p["version"] == "7.0.1"
            && p["decision"] == "block"
            && p["installed"] == false),
        "the hijacked release is reported as withheld: {pkgs:?}"
    );
    let pip = &r["results"]["pip"];
    assert_eq!(pip["is_error"], true, "{pip}");
    assert!(
        pip["text"]
            .as_str()
            .unwrap()
            .contains("packages.requirements needs @pypi on this server, which allows: @npm"),
        "{pip}"
    );
}
