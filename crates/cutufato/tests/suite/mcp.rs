//! `cutufato mcp` driven by the official MCP Python SDK (PyPI `mcp`, a client not written here)
//! over stdio and HTTP: tools and schemas, a decision with an unsupported sentence, context from
//! stored documents, verification, tampering caught, bad input as tool errors, no log refused.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::log_util::{BIN, Log, p};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/client.py");

/// The Python with the MCP SDK: `$TRIAD_MCP_PYTHON`, else the venv `./triad test` creates
/// (scripts/deps.d/cutufato-mcp.sh). Missing → the test fails and says how to get it.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TRIAD_MCP_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("TRIAD_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let home = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
            home.join("security-triad")
        });
    let py = cache.join("venv-mcp/bin/python");
    assert!(
        py.exists(),
        "the MCP Python SDK venv is missing at {}: run `./triad test` (scripts/deps.d/cutufato-mcp.sh installs it) or set TRIAD_MCP_PYTHON",
        py.display()
    );
    py
}

const CONTRACT: &str = "Termination\n\nEither party may terminate this agreement with thirty (30) days written notice.\nThe notice must be sent by registered mail.\n";

/// A log with `contract.txt` stored as a document.
fn log_with_contract() -> Log {
    let log = Log::new();
    let doc = log.write("contract.txt", CONTRACT);
    let r = log.run(&["docs", "add", p(&doc)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    log
}

/// Runs the client over stdio against `cutufato --dir DIR mcp` with these calls.
fn session(log: &Log, calls: &Value) -> Value {
    let calls_file = log.write("calls.json", &calls.to_string());
    let out = Command::new(python())
        .arg(CLIENT)
        .arg(&calls_file)
        .arg("stdio")
        .arg(BIN)
        .arg("--dir")
        .arg(&log.dir)
        .arg("mcp")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "MCP client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn record_call() -> Value {
    json!(["record_decision", {
        "prompt": "What is the notice period?",
        "response": "The notice period is thirty days. Notice must be sent by registered mail. Late notice costs a penalty of 5000 euros.",
        "model": "gpt-x",
        "actor": "alice",
        "purpose": "contract review",
        "context": [{"doc_id": "contract.txt", "page": 1, "line": 3,
                     "text": "Either party may terminate this agreement with thirty (30) days written notice."}],
        "documents": [{"document": "contract.txt", "page": 1, "line": 4}]
    }])
}

#[test]
fn tools_are_listed_with_schemas_and_a_decision_names_its_unsupported_sentence() {
    let log = log_with_contract();
    let r = session(
        &log,
        &json!([record_call(), ["list_records", {"kind": "decision"}]]),
    );
    assert_eq!(r["server_name"], "cutufato");
    let tools = r["tools"].as_object().unwrap();
    let mut names: Vec<&String> = tools.keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["list_records", "record_decision", "verify_decision"]
    );
    for (name, t) in tools {
        assert_eq!(t["input_schema"]["type"], "object", "{name}");
        assert_eq!(
            t["output_schema"]["type"], "object",
            "{name} has no output schema"
        );
    }
    assert_eq!(
        tools["record_decision"]["input_schema"]["required"],
        json!(["prompt", "response", "model"])
    );
    assert_eq!(
        tools["verify_decision"]["input_schema"]["required"],
        json!(["execution_id"])
    );

    let rec = &r["results"][0];
    assert_eq!(rec["is_error"], false, "{rec}");
    let s = &rec["structured"];
    assert!(s["execution_id"].as_str().unwrap().starts_with("exec-"));
    assert_eq!(s["log_index"], 0);
    assert_eq!(s["checkpoint_size"], 1);
    assert_eq!(
        s["context_chunks"], 2,
        "inline chunk + the stored document's line"
    );
    assert_eq!(s["hallucination_detected"], true);
    assert_eq!(s["unsupported"], 1);
    let sentences = s["sentences"].as_array().unwrap();
    assert_eq!(sentences.len(), 3);
    assert_eq!(sentences[0]["supported"], true);
    assert_eq!(sentences[0]["sources"][0]["line"], 3);
    // The second sentence is supported by the chunk resolved from the stored document.
    assert_eq!(sentences[1]["supported"], true);
    assert_eq!(sentences[1]["sources"][0]["chunk"], 1);
    assert_eq!(sentences[1]["sources"][0]["line"], 4);
    assert_eq!(sentences[2]["supported"], false);
    assert!(
        sentences[2]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().contains("5000")),
        "{}",
        sentences[2]
    );
    let text = rec["text"].as_str().unwrap();
    assert!(
        text.contains("unsupported")
            && text.contains("5000")
            && text.contains("hallucination detected"),
        "{text}"
    );

    let list = &r["results"][1]["structured"];
    assert_eq!(list["log_size"], 1);
    assert_eq!(list["records"][0]["execution_id"], s["execution_id"]);
    assert_eq!(list["records"][0]["hallucination_detected"], true);

    // The record is the one `cutufato record` would write: the CLI shows and verifies it.
    let id = s["execution_id"].as_str().unwrap();
    let show = log.run(&["show", id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains("1 of 3 sentences unsupported"),
        "{}",
        show.stdout
    );
    let v = log.run(&["verify", id]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("2 of 2 context chunk(s) found"),
        "{}",
        v.stdout
    );
}

#[test]
fn verify_decision_passes_then_catches_edited_content_like_verify_all() {
    let log = log_with_contract();
    let r = session(&log, &json!([record_call()]));
    let id = r["results"][0]["structured"]["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let ok = &session(&log, &json!([["verify_decision", {"execution_id": id}]]))["results"][0];
    assert_eq!(ok["is_error"], false, "{ok}");
    let s = &ok["structured"];
    assert_eq!(s["verified"], true, "{ok}");
    assert_eq!(s["signature_valid"], true);
    assert_eq!(s["included"], true);
    assert_eq!(s["content"], "matches");
    assert_eq!(s["hallucination_detected"], true);
    assert_eq!(s["chunk_places"][0]["status"], "found");
    assert_eq!(s["findings"], json!([]));
    assert!(
        ok["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("VERIFIED {id}"))
    );

    // Edit the response in the content store, as someone with write access to log.db could.
    let db = log.db();
    let body: Vec<u8> = db
        .query_row("SELECT body FROM content WHERE idx = 0", [], |r| r.get(0))
        .unwrap();
    let edited = String::from_utf8(body)
        .unwrap()
        .replace("5000 euros", "50 euros");
    db.execute(
        "UPDATE content SET body = ?1 WHERE idx = 0",
        [edited.as_bytes()],
    )
    .unwrap();

    let bad = &session(&log, &json!([["verify_decision", {"execution_id": id}]]))["results"][0];
    assert_eq!(
        bad["is_error"], false,
        "a failed verification is a result, not a tool error"
    );
    let s = &bad["structured"];
    assert_eq!(s["verified"], false, "{bad}");
    assert_eq!(s["signature_valid"], true);
    assert_eq!(s["content"], "mismatch");
    assert_eq!(s["findings"][0]["code"], "response-mismatch");
    let text = bad["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("NOT VERIFIED {id}")) && text.contains("content"),
        "{text}"
    );

    let all = log.run(&["verify", "--all"]);
    assert_eq!(all.code, 1, "{}", all.stdout);
    assert!(
        all.stdout.contains(&id) && all.stdout.contains("response-mismatch"),
        "{}",
        all.stdout
    );
}

#[test]
fn bad_input_is_a_tool_error_that_says_what_to_do_and_the_server_keeps_serving() {
    let log = log_with_contract();
    let r = session(
        &log,
        &json!([
            ["verify_decision", {"execution_id": "exec-000000000000"}],
            ["record_decision", {"response": "x", "model": "m"}],
            ["record_decision", {"prompt": "q", "response": "a", "model": "m", "colour": "red"}],
            ["record_decision", {"prompt": "q", "response": "a", "model": "m",
                                 "documents": [{"document": "missing.pdf"}]}],
            ["record_decision", {"prompt": "q", "response": "a", "model": "m",
                                 "documents": [{"document": "contract.txt", "page": 9}]}],
            ["record_decision", {"prompt": "q", "response": "", "model": "m",
                                 "context": [{"doc_id": "d", "text": "t"}]}],
            ["record_decision", {"prompt": "q", "response": "a", "model": "m", "threshold": -1}],
            ["list_records", {"kind": "nonsense"}],
            ["list_records", {"limit": 0}],
            ["record_decision", {"prompt": "q", "response": "a", "model": "m"}],
        ]),
    );
    let res = r["results"].as_array().unwrap();
    let needles = [
        "unknown execution id",
        "missing field `prompt`",
        "unknown field `colour`",
        "missing.pdf",
        "no page 9",
        "response is empty",
        "threshold -1",
        "unknown kind",
        "limit 0",
    ];
    for (i, needle) in needles.iter().enumerate() {
        assert_eq!(res[i]["is_error"], true, "call {i}: {}", res[i]);
        let text = res[i]["text"].as_str().unwrap();
        assert!(text.contains(needle), "call {i}: {text:?} lacks {needle:?}");
    }
    assert!(
        res[5]["text"]
            .as_str()
            .unwrap()
            .contains("\"attribute\": false")
    );
    // Nothing bad was recorded; the last, valid call still works.
    assert_eq!(res[9]["is_error"], false, "{}", res[9]);
    assert_eq!(res[9]["structured"]["log_index"], 0);
    assert!(res[9]["structured"].get("hallucination_detected").is_none());
}

#[test]
fn server_refuses_to_start_without_a_log_and_names_init() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--dir")
        .arg(tmp.path().join("none"))
        .arg("mcp")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cutufato init"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn python_sdk_client_over_http() {
    let log = log_with_contract();
    let mut server = Command::new(BIN)
        .arg("--dir")
        .arg(&log.dir)
        .args(["mcp", "--http", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("cutufato mcp listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    let calls = log.write("calls.json", &json!([record_call()]).to_string());
    let out = Command::new(python())
        .arg(CLIENT)
        .arg(&calls)
        .arg("http")
        .arg(&url)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["server_name"], "cutufato");
    assert_eq!(r["results"][0]["structured"]["unsupported"], 1, "{r}");
    assert_eq!(log.run(&["verify", "--all"]).code, 0);
}

#[test]
fn a_decision_recorded_over_mcp_joins_its_session_with_the_tools_events() {
    let log = log_with_contract();
    let ev = log.run(&[
        "record-event",
        "--source",
        "babuino",
        "--action",
        "run",
        "--outcome",
        "exit 0",
        "--summary",
        "ran check.py",
        "--session",
        "s-9",
    ]);
    assert_eq!(ev.code, 0, "{}", ev.stderr);
    let r = session(
        &log,
        &json!([
            ["record_decision", {"prompt": "q", "response": "The notice period is thirty days.",
                                 "model": "m", "session": "s-9",
                                 "documents": [{"document": "contract.txt"}]}],
            ["list_records", {"session": "s-9"}],
            ["list_records", {"source": "babuino", "limit": 5}],
            ["verify_decision", {"execution_id": ev.stdout.trim()}],
        ]),
    );
    let res = r["results"].as_array().unwrap();
    assert_eq!(res[0]["is_error"], false, "{}", res[0]);
    assert_eq!(res[0]["structured"]["hallucination_detected"], false);
    // The whole document was cut into its paragraph chunks.
    assert_eq!(res[0]["structured"]["context_chunks"], 2);
    let records = res[1]["structured"]["records"].as_array().unwrap();
    let kinds: Vec<&str> = records
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["decision", "event"], "newest first");
    assert_eq!(records[0]["session"], "s-9");
    assert_eq!(res[2]["structured"]["records"][0]["outcome"], "exit 0");
    let v = &res[3]["structured"];
    assert_eq!(v["verified"], true, "{}", res[3]);
    assert_eq!(v["kind"], "event");
    assert_eq!(v["content"], "matches");
    let replay = log.run(&["replay", "--session", "s-9"]);
    assert!(
        replay.stdout.contains("source:   babuino") && replay.stdout.contains("session:  s-9"),
        "{}",
        replay.stdout
    );
}

/// A minimal JSON-RPC client over the server's stdio, written here (the Python SDK is the
/// independent client; this one checks the bytes).
struct Raw {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    lines: Vec<String>,
    next: u64,
}

impl Raw {
    fn start(log: &Log) -> Raw {
        let mut child = Command::new(BIN)
            .arg("--dir")
            .arg(&log.dir)
            .arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut raw = Raw {
            child,
            stdin,
            stdout,
            lines: Vec::new(),
            next: 0,
        };
        raw.call(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "0"}}),
        );
        raw.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        raw
    }

    fn send(&mut self, v: &Value) {
        use std::io::Write as _;
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        use std::io::BufRead as _;
        self.next += 1;
        let id = self.next;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "server closed stdout"
            );
            self.lines.push(line.clone());
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON-RPC ({e}): {line:?}"));
            assert_eq!(v["jsonrpc"], "2.0", "{line}");
            if v["id"] == id {
                return v;
            }
        }
    }

    fn tool(&mut self, name: &str, args: Value) -> Value {
        self.call("tools/call", json!({"name": name, "arguments": args}))["result"].clone()
    }

    /// Closes stdin; the server exits 0 and leaves nothing else on stdout.
    fn finish(mut self) {
        use std::io::Read as _;
        drop(self.stdin);
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "", "stdout after the last reply");
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0));
        for l in &self.lines {
            assert!(l.starts_with('{') && l.ends_with('\n'), "{l:?}");
        }
    }
}

#[test]
fn stdout_is_only_protocol_and_records_written_by_others_meanwhile_are_seen() {
    let log = log_with_contract();
    let mut raw = Raw::start(&log);
    let empty = raw.tool("list_records", json!({}));
    assert_eq!(empty["structuredContent"]["log_size"], 0, "{empty}");
    // Another process (a tool, the CLI) appends while the server runs.
    let ev = log.run(&[
        "record-event",
        "--source",
        "sentinel",
        "--action",
        "block",
        "--summary",
        "blocked x",
    ]);
    assert_eq!(ev.code, 0, "{}", ev.stderr);
    let seen = raw.tool("list_records", json!({}));
    assert_eq!(seen["structuredContent"]["log_size"], 1, "{seen}");
    assert_eq!(
        seen["structuredContent"]["records"][0]["source"],
        "sentinel"
    );
    // The server's own append lands after it, and both verify.
    let rec = raw.tool(
        "record_decision",
        json!({"prompt": "q", "response": "a", "model": "m"}),
    );
    assert_eq!(rec["structuredContent"]["log_index"], 1, "{rec}");
    let bad = raw.tool("record_decision", json!({"prompt": 3}));
    assert_eq!(bad["isError"], true, "{bad}");
    raw.finish();
    let all = log.run(&["verify", "--all"]);
    assert_eq!(all.code, 0, "{}", all.stdout);
}
