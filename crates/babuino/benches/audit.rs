//! What recording costs, and how long an MCP `run_code` round trip takes.
//!
//! 1. `AuditLog::record_run` alone: one signed, fsynced Cutufato event per run (library).
//! 2. `babuino run -q /bin/true` with and without `--audit DIR` (the whole CLI: open, check,
//!    run, record).
//! 3. `run_code` of `true` (sh) through `babuino mcp` over stdio, raw JSON-RPC.
//!
//! Run: `cargo bench -p babuino --bench audit` (as root, or where babuino can create cgroups).
//! `BENCH_RUNS` sets the samples per row (default 40).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::Instant;

use babuino::audit::AuditLog;
use babuino::report::{Event, EventKind, Exit, RunReport};
use babuino::spec::{BackendKind, Limits, NetworkPolicy};

const BABUINO: &str = env!("CARGO_BIN_EXE_babuino");

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    format!("median {:7.2} ms  p90 {:7.2} ms", q(0.5), q(0.9))
}

fn report() -> RunReport {
    let mut r = RunReport::new(
        "bench".into(),
        BackendKind::Native,
        "fetch_rates.py".into(),
        Limits::default(),
        NetworkPolicy::default(),
    );
    r.set_exit(Exit::Code(0));
    for (kind, detail) in [
        (
            EventKind::DeniedWrite,
            "write /etc/passwd (read-only file system)",
        ),
        (
            EventKind::BlockedConnect,
            "connect evil.com:443 (not in allow-list)",
        ),
    ] {
        r.events.push(Event {
            time_ms: 10,
            kind,
            detail: detail.into(),
        });
    }
    r
}

fn time_cmd(n: usize, make: impl Fn() -> Command) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let mut c = make();
            c.stdout(Stdio::null()).stderr(Stdio::null());
            let t = Instant::now();
            let st = c.status().unwrap();
            assert!(st.success(), "{c:?} failed");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    println!("babuino audit benchmark: {n} samples per row, wall clock");

    // 1. The record alone.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    cutufato::Auditor::init(&dir, None).unwrap();
    let mut log = AuditLog::open(&dir, Some("bench".into())).unwrap();
    let r = report();
    let mut v = Vec::new();
    for _ in 0..n * 5 {
        let t = Instant::now();
        log.check_writable().unwrap();
        log.record_run(&r, Some("00".repeat(32)), None).unwrap();
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "check + record_run (library, {} records):      {}",
        n * 5,
        stats(v)
    );
    drop(log);

    // 2. The CLI with and without --audit, interleaved so load changes hit both alike.
    let plain_cmd = || {
        let mut c = Command::new(BABUINO);
        c.args(["run", "-q", "/bin/true"]);
        c
    };
    let audited_cmd = || {
        let mut c = Command::new(BABUINO);
        c.args(["run", "-q", "--audit"]).arg(&dir).arg("/bin/true");
        c
    };
    let _ = plain_cmd().output();
    let _ = audited_cmd().output();
    let (mut plain, mut audited) = (Vec::new(), Vec::new());
    for _ in 0..n {
        plain.extend(time_cmd(1, plain_cmd));
        audited.extend(time_cmd(1, audited_cmd));
    }
    let med = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let added = med(&audited) - med(&plain);
    println!(
        "babuino run -q /bin/true:                       {}",
        stats(plain)
    );
    println!(
        "babuino run -q --audit DIR /bin/true:           {}",
        stats(audited)
    );
    println!("added by --audit (median):                      {added:7.2} ms");

    // 3. MCP round trips over stdio.
    let mut child = Command::new(BABUINO)
        .args(["mcp", "--audit"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let send = |stdin: &mut std::process::ChildStdin, m: String| writeln!(stdin, "{m}").unwrap();
    send(&mut stdin, r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#.into());
    lines.next().unwrap().unwrap();
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
    );
    let mut v = Vec::new();
    for i in 1..=n + 1 {
        let t = Instant::now();
        send(
            &mut stdin,
            format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"run_code","arguments":{{"code":"true","language":"sh"}}}}}}"#
            ),
        );
        let line = lines.next().unwrap().unwrap();
        assert!(line.contains(r#""isError":false"#), "{line}");
        if i > 1 {
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    drop(stdin);
    child.wait().unwrap();
    println!(
        "mcp run_code `true` (sh), audited, round trip:  {}",
        stats(v)
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average during the run: {}", load.trim());
}
