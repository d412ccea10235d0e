//! `sentinel mcp` driven by the official MCP Python SDK (PyPI `mcp`), over stdio and HTTP, and
//! by raw JSON-RPC to check that stdout carries nothing but the protocol.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::upstream::{Env, Server, Upstream, python};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/client.py");

fn run_client(mut cmd: Command) -> Value {
    let out = cmd.output().expect("run the MCP Python client");
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

fn package(result: &Value, i: usize) -> &Value {
    &result["structured"]["packages"][i]
}

fn codes(p: &Value) -> Vec<String> {
    p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// What a user of any transport must see.
fn check_session(r: &Value) {
    assert_eq!(r["server_name"], "sentinel");
    let tools = r["tools"].as_object().unwrap();
    let mut names: Vec<&String> = tools.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "scan_manifest",
            "validate_dependencies",
            "validate_dependency"
        ]
    );
    for (name, t) in tools {
        let desc = t["description"].as_str().unwrap();
        assert!(
            desc.contains("before"),
            "{name}: description must say when to call it: {desc}"
        );
        assert_eq!(
            t["output_schema"]["type"], "object",
            "{name} has no output schema"
        );
        assert_eq!(t["input_schema"]["type"], "object");
    }
    assert_eq!(
        tools["validate_dependency"]["input_schema"]["required"],
        serde_json::json!(["ecosystem", "name"])
    );

    // A good name.
    let good = &r["good"];
    assert_eq!(good["is_error"], false);
    assert_eq!(good["structured"]["decision"], "allow", "{good}");
    assert_eq!(package(good, 0)["metadata"]["name"], "six");
    assert!(good["text"].as_str().unwrap().starts_with("ALLOW pypi:six"));

    // A typo: blocked as a normal result that names the alternative.
    let typo = &r["typo"];
    assert_eq!(typo["is_error"], false, "a block is not a tool error");
    assert_eq!(typo["structured"]["decision"], "block");
    assert!(codes(package(typo, 0)).contains(&"typosquat".to_string()));
    assert_eq!(package(typo, 0)["suggestions"][0]["name"], "requests");
    let text = typo["text"].as_str().unwrap();
    assert!(
        text.contains("do not install") && text.contains("use `requests` instead"),
        "{text}"
    );

    // A hallucinated name: does not exist.
    let hal = &r["hallucinated"];
    assert_eq!(hal["is_error"], false);
    assert_eq!(hal["structured"]["decision"], "block");
    assert!(
        codes(package(hal, 0)).contains(&"not-found".to_string()),
        "{hal}"
    );

    // Batch: order kept, overall decision is the strictest.
    let batch = &r["batch"];
    assert_eq!(batch["structured"]["decision"], "block");
    assert_eq!(package(batch, 0)["package"]["name"], "is-number");
    assert_eq!(package(batch, 0)["decision"], "allow", "{batch}");
    assert_eq!(package(batch, 1)["decision"], "block");
    assert_eq!(
        batch["structured"]["summary"],
        "1 allowed, 0 warned, 1 blocked"
    );

    // Manifest content.
    let m = &r["manifest"];
    assert_eq!(package(m, 0)["package"]["version"], "1.17.0");
    assert_eq!(package(m, 0)["decision"], "allow");
    assert_eq!(package(m, 1)["decision"], "block");

    // Bad arguments: protocol errors (-32602) with a clear message.
    for (key, needle) in [
        ("bad_ecosystem", "unknown variant `pipy`"),
        ("missing_name", "missing field `name`"),
        ("scan_without_input", "give `path`"),
    ] {
        let e = &r[key];
        assert_eq!(e["protocol_error"], true, "{key}: {e}");
        assert_eq!(e["code"], -32602, "{key}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{key}: {e}"
        );
    }
}

#[test]
fn python_sdk_client_over_stdio() {
    let py = python();
    let up = Upstream::start();
    let env = Env::new();
    let server = env.sentinel(&up);
    let mut cmd = Command::new(py);
    cmd.arg(CLIENT).arg("stdio").arg(server.get_program());
    cmd.args(server.get_args());
    for (k, v) in server.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.arg("mcp");
    check_session(&run_client(cmd));
}

#[test]
fn python_sdk_client_over_streamable_http() {
    let py = python();
    let up = Upstream::start();
    let env = Env::new();
    let mut c = env.sentinel(&up);
    c.args(["mcp", "--http", "127.0.0.1:0"]);
    let server = Server::spawn(c);
    let mut cmd = Command::new(py);
    cmd.arg(CLIENT).arg("http").arg(&server.url);
    check_session(&run_client(cmd));
}

#[test]
fn stdio_stdout_is_only_json_rpc_even_with_verbose_logs() {
    let up = Upstream::start();
    let env = Env::new();
    let mut cmd = env.sentinel(&up);
    let mut child = cmd
        .args(["--verbose", "mcp"])
        .env("SENTINEL_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let msgs = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"validate_dependency","arguments":{"ecosystem":"npm","name":"is-numbr"}}}"#,
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
    assert!(
        status.success(),
        "server should exit cleanly when stdin closes"
    );
    let result = &seen[1]["result"];
    assert_eq!(result["isError"], false);
    assert_eq!(result["structuredContent"]["decision"], "block");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("validate_dependency"),
        "logs belong on stderr: {err}"
    );
}
