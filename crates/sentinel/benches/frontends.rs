//! Frontend benchmarks: MCP tool-call round trip (stdio, warm cache), the registry proxy's added
//! latency per metadata request, and proxy throughput under concurrent clients.
//!
//! Run: `cargo bench -p sentinel --bench frontends` (prints figures; no assertions).
//! Everything runs on loopback against the recorded fixtures of the integration tests.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[path = "../tests/suite/upstream.rs"]
mod upstream;

use upstream::{Env, Server, Upstream};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn show(label: &str, mut v: Vec<Duration>) -> Duration {
    v.sort();
    let p50 = pct(&v, 0.5);
    println!(
        "{label:<48} n={:<5} p50={:>8.3} ms  p90={:>8.3} ms  p99={:>8.3} ms",
        v.len(),
        p50.as_secs_f64() * 1e3,
        pct(&v, 0.9).as_secs_f64() * 1e3,
        pct(&v, 0.99).as_secs_f64() * 1e3
    );
    p50
}

fn mcp_stdio(env: &Env, up: &Upstream) {
    let mut child = env
        .sentinel(up)
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut call = |id: u64, body: &str, stdin: &mut std::process::ChildStdin| -> Duration {
        let t = Instant::now();
        writeln!(stdin, "{body}").unwrap();
        loop {
            line.clear();
            out.read_line(&mut line).unwrap();
            if line.contains(&format!("\"id\":{id}")) {
                return t.elapsed();
            }
        }
    };
    call(
        0,
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#,
        &mut stdin,
    );
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    let single = |id: u64| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"validate_dependency","arguments":{{"ecosystem":"pypi","name":"six"}}}}}}"#
        )
    };
    let typo = |id: u64| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"validate_dependency","arguments":{{"ecosystem":"npm","name":"is-numbr"}}}}}}"#
        )
    };
    // Warm the cache.
    call(1, &single(1), &mut stdin);
    call(2, &typo(2), &mut stdin);
    let mut id = 10;
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for _ in 0..1000 {
        id += 1;
        good.push(call(id, &single(id), &mut stdin));
        id += 1;
        bad.push(call(id, &typo(id), &mut stdin));
    }
    show("mcp stdio warm: pypi:six (allow)", good);
    show("mcp stdio warm: npm:is-numbr (typosquat block)", bad);
    // Memo misses: a new name each call (loopback registry lookup, 404, typosquat and
    // suggestion search against the corpus).
    let mut cold = Vec::new();
    for i in 0..200 {
        id += 1;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"validate_dependency","arguments":{{"ecosystem":"npm","name":"bench-hallucinated-{i}"}}}}}}"#
        );
        cold.push(call(id, &body, &mut stdin));
    }
    show("mcp stdio cold: new hallucinated npm name", cold);
    drop(stdin);
    let _ = child.wait();
}

async fn timed_get(client: &reqwest::Client, url: &str) -> Duration {
    let t = Instant::now();
    let r = client.get(url).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    let _ = r.bytes().await.unwrap();
    t.elapsed()
}

async fn proxy_latency(proxy: &Server, up: &Upstream) {
    let client = reqwest::Client::new();
    for (label, direct, proxied) in [
        (
            "pypi simple page six (html)",
            format!("{}/simple/six/", up.base),
            format!("{}/pypi/simple/six/", proxy.url),
        ),
        (
            "npm document is-number (16 versions)",
            format!("{}/npm/is-number", up.base),
            format!("{}/npm/is-number", proxy.url),
        ),
    ] {
        for _ in 0..20 {
            timed_get(&client, &direct).await;
            timed_get(&client, &proxied).await;
        }
        let mut d = Vec::new();
        let mut p = Vec::new();
        for _ in 0..500 {
            d.push(timed_get(&client, &direct).await);
            p.push(timed_get(&client, &proxied).await);
        }
        let dp = show(&format!("direct  {label}"), d);
        let pp = show(&format!("proxied {label}"), p);
        println!(
            "{:<48} added p50 = {:.3} ms",
            format!("proxy  {label}"),
            (pp.as_secs_f64() - dp.as_secs_f64()) * 1e3
        );
    }
}

async fn proxy_throughput(proxy: &Server) {
    let client = reqwest::Client::new();
    for (label, url) in [
        (
            "pypi simple page six",
            format!("{}/pypi/simple/six/", proxy.url),
        ),
        (
            "npm document is-number",
            format!("{}/npm/is-number", proxy.url),
        ),
    ] {
        for clients in [1usize, 8, 32] {
            let deadline = Instant::now() + Duration::from_secs(3);
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let c = client.clone();
                let u = url.clone();
                tasks.push(tokio::spawn(async move {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        timed_get(&c, &u).await;
                        n += 1;
                    }
                    n
                }));
            }
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            println!(
                "throughput {label:<28} {clients:>3} clients: {:>8.0} req/s",
                total as f64 / 3.0
            );
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let up = Upstream::start();
    let env = Env::new();
    println!("# sentinel frontends benchmark (loopback, recorded fixtures, warm cache)");
    mcp_stdio(&env, &up);
    let proxy = Server::proxy(&env, &up);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(proxy_latency(&proxy, &up));
    rt.block_on(proxy_throughput(&proxy));
}
