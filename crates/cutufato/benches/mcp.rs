//! MCP benchmark: round-trip latency of `record_decision` (attribution + signed, durable append),
//! `verify_decision` and `list_records`, as an assistant sees it: the real `cutufato mcp` binary
//! over stdio, JSON-RPC written and read here, one call at a time.
//!
//! `cargo bench -p cutufato --bench mcp` (calls from CUTUFATO_BENCH_MCP_N, default 300).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    next: u64,
}

impl Server {
    fn send(&mut self, v: &Value) {
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
    }
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "server closed"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }
    fn tool(&mut self, name: &str, args: Value) -> Value {
        let r = self.call("tools/call", json!({"name": name, "arguments": args}));
        let res = &r["result"];
        assert_eq!(res["isError"], false, "{r}");
        res["structuredContent"].clone()
    }
}

fn decision(i: usize) -> Value {
    json!({
        "prompt": format!("Request {i}: summarise the termination clause and state the notice period, any penalties, and whether the agreement renews automatically."),
        "response": format!("The agreement may be terminated by either party with thirty (30) days written notice. No penalty applies after the first year. It renews for one year unless notice is given. Late notice costs {i} euros."),
        "model": "gpt-x",
        "actor": format!("analyst-{}", i % 50),
        "session": format!("run-{}", i / 20),
        "context": [
            {"doc_id": "supplier-agreement-2024.pdf", "page": 7, "line": 42,
             "text": "14.2 Either party may terminate this Agreement by giving thirty (30) days written notice to the other party."},
            {"doc_id": "supplier-agreement-2024.pdf", "page": 7, "line": 44,
             "text": "14.4 No penalty applies to a termination after the first year. The Agreement renews for one year unless notice is given."}
        ]
    })
}

fn report(name: &str, mut t: Vec<Duration>) {
    t.sort();
    let n = t.len();
    let total: Duration = t.iter().sum();
    let pct = |p: f64| t[((n as f64 * p) as usize).min(n - 1)];
    println!(
        "{name:<18} n={n:<5} mean {:>8.2} ms  p50 {:>8.2} ms  p95 {:>8.2} ms  max {:>8.2} ms  ({:.0} calls/s)",
        total.as_secs_f64() * 1e3 / n as f64,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.95).as_secs_f64() * 1e3,
        t[n - 1].as_secs_f64() * 1e3,
        n as f64 / total.as_secs_f64()
    );
}

fn main() {
    let n: usize = std::env::var("CUTUFATO_BENCH_MCP_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    cutufato::Auditor::init(&dir, Some("bench.example/mcp")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutufato"))
        .arg("--dir")
        .arg(&dir)
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut s = Server {
        child,
        stdin,
        stdout,
        next: 0,
    };
    let start = Instant::now();
    s.call(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}),
    );
    s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    println!(
        "cutufato mcp over stdio, {n} calls per tool (server start + initialize {:.1} ms)",
        start.elapsed().as_secs_f64() * 1e3
    );
    let mut ids = Vec::with_capacity(n);
    let mut rec = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let out = s.tool("record_decision", decision(i));
        rec.push(t.elapsed());
        assert_eq!(out["unsupported"], 1);
        ids.push(out["execution_id"].as_str().unwrap().to_owned());
    }
    report("record_decision", rec);
    let mut ver = Vec::with_capacity(n);
    for id in &ids {
        let t = Instant::now();
        let out = s.tool("verify_decision", json!({"execution_id": id}));
        ver.push(t.elapsed());
        assert_eq!(out["verified"], true);
    }
    report("verify_decision", ver);
    let mut list = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let out = s.tool(
            "list_records",
            json!({"session": format!("run-{}", i % (n / 20).max(1))}),
        );
        list.push(t.elapsed());
        assert!(!out["records"].as_array().unwrap().is_empty());
    }
    report("list_records", list);
    drop(s.stdin);
    let _ = s.child.wait();
}
