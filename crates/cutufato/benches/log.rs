//! Log benchmark: signed appends per second into SQLite with durability on (WAL,
//! synchronous=FULL), inclusion proof generation and verification, and `verify --all`.
//!
//! `cargo bench -p cutufato --bench log` (N from CUTUFATO_BENCH_N, default 1,000,000; the log is
//! written under CUTUFATO_BENCH_DIR, default a temporary directory, and removed afterwards).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cutufato::merkle::{self, leaf_hash};
use cutufato::store;
use cutufato::{Auditor, ContextChunk, Decision, GroupCommit};

fn decision(i: u64) -> Decision {
    let prompt = format!(
        "Request {i}: Summarise the termination clause of the supplier agreement and state the notice period, \
         any penalties, and whether the agreement renews automatically. Answer for the legal team, citing the \
         clause numbers you rely on. Customer reference C-{i:08}."
    );
    let response = format!(
        "The agreement may be terminated by either party with thirty (30) days written notice (clause 14.2). \
         No penalty applies after the first year (clause 14.4). It renews for one year unless notice is given. Ref {i}."
    );
    let chunk = |n: u32| ContextChunk {
        doc_id: "supplier-agreement-2024.pdf".into(),
        doc_sha256: Some("9f2c1e0a4b7d3c5e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70".into()),
        page: Some(7),
        line: Some(40 + n),
        text: format!(
            "14.{n} Either party may terminate this Agreement by giving thirty (30) days written notice to the other party. ({i})"
        ),
        score: Some(0.83),
    };
    Decision {
        context: vec![chunk(2), chunk(4)],
        attribution_confidence: Some(0.97),
        hallucination_detected: Some(false),
        purpose: Some("contract review".into()),
        ..Decision::new(prompt, response, "gpt-x").actor(format!("analyst-{}", i % 50))
    }
}

/// CPU seconds (user + system, all threads) used by this process so far, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat; `after` starts at field 3. Clock ticks are 100/s on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let n: u64 = std::env::var("CUTUFATO_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let base = match std::env::var_os("CUTUFATO_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    println!(
        "cutufato log benchmark: N = {n}, dir {}",
        base.path().display()
    );

    // Small batches: the latency-bound case (one commit + one checkpoint file per batch).
    for (batch, count) in [(1u64, 200u64), (100, 20_000)] {
        let mut log = Auditor::init(
            base.path().join(format!("b{batch}")),
            Some("bench.example/log"),
        )
        .unwrap();
        let t = Instant::now();
        let c = cpu_seconds();
        let mut i = 0;
        while i < count {
            log.record_batch((i..i + batch).map(decision).collect())
                .unwrap();
            i += batch;
        }
        let d = t.elapsed();
        let cpu = cpu_seconds() - c;
        println!(
            "append, batch {batch:>5}: {count:>8} records in {:>7.2} s = {:>8.0} signed appends/s ({:.0} per CPU-second)",
            d.as_secs_f64(),
            per_sec(count, d),
            count as f64 / cpu.max(0.01)
        );
    }

    // Group commit: 16 threads each calling record() for one decision at a time.
    {
        let log = Auditor::init(base.path().join("group"), Some("bench.example/log")).unwrap();
        let (gc, writer) = GroupCommit::start(log, 1000);
        let (threads, per) = (16u64, 1250u64);
        let t = Instant::now();
        let c = cpu_seconds();
        std::thread::scope(|s| {
            for k in 0..threads {
                let gc = gc.clone();
                s.spawn(move || {
                    for i in 0..per {
                        gc.record(decision(k * per + i)).unwrap();
                    }
                });
            }
        });
        let d = t.elapsed();
        let cpu = cpu_seconds() - c;
        drop(gc);
        writer.join();
        let count = threads * per;
        println!(
            "append, group commit, {threads} threads calling record(): {count} records in {:.2} s = {:.0} signed appends/s ({:.0} per CPU-second)",
            d.as_secs_f64(),
            per_sec(count, d),
            count as f64 / cpu.max(0.01)
        );
    }

    // The big log.
    let dir = base.path().join("big");
    let mut log = Auditor::init(&dir, Some("bench.example/log")).unwrap();
    let batch = 1000u64;
    let t = Instant::now();
    let c = cpu_seconds();
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        log.record_batch((i..end).map(decision).collect()).unwrap();
        i = end;
        if i % 100_000 == 0 {
            eprintln!("  appended {i}/{n} ({:.0}/s)", per_sec(i, t.elapsed()));
        }
    }
    let d = t.elapsed();
    let cpu = cpu_seconds() - c;
    println!(
        "append, batch {batch:>5}: {n:>8} records in {:>7.2} s = {:>8.0} signed appends/s ({:.0} per CPU-second; load {})",
        d.as_secs_f64(),
        per_sec(n, d),
        n as f64 / cpu.max(0.01),
        load()
    );
    let db_bytes: u64 = ["log.db", "log.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "database size: {:.0} MB ({:.0} bytes/record)",
        db_bytes as f64 / 1e6,
        db_bytes as f64 / n as f64
    );

    // Inclusion proofs at size n: generation reads O(log n) stored nodes.
    let conn = log.connection();
    let root = store::root(conn, n).unwrap();
    let samples = 10_000u64;
    let idx: Vec<u64> = (0..samples).map(|k| (k * 7_919_993 + 13) % n).collect();
    let leaves: Vec<_> = idx
        .iter()
        .map(|&k| leaf_hash(&log.get_index(k).unwrap().leaf))
        .collect();
    let t = Instant::now();
    let proofs: Vec<_> = idx
        .iter()
        .map(|&k| store::inclusion_proof(conn, k, n).unwrap())
        .collect();
    let generate = t.elapsed();
    let t = Instant::now();
    for ((k, p), l) in idx.iter().zip(&proofs).zip(&leaves) {
        merkle::verify_inclusion(*k, n, l, p, &root).unwrap();
    }
    let ver = t.elapsed();
    println!(
        "inclusion proof at {n} entries ({} hashes): generate {:.1} µs, verify {:.1} µs (mean of {samples})",
        proofs[0].len(),
        generate.as_secs_f64() * 1e6 / samples as f64,
        ver.as_secs_f64() * 1e6 / samples as f64
    );
    let t = Instant::now();
    let p = store::consistency_proof(conn, n / 3, n).unwrap();
    println!(
        "consistency proof {} -> {n}: {} hashes, {:.1} µs",
        n / 3,
        p.len(),
        t.elapsed().as_secs_f64() * 1e6
    );

    // verify --all: every leaf, signature, content hash and checkpoint.
    let trusted = log.trusted_keys().unwrap();
    let t = Instant::now();
    let c = cpu_seconds();
    let r = log.verify_all(&trusted, &[], |_, _| {}).unwrap();
    let d = t.elapsed();
    let cpu = cpu_seconds() - c;
    assert!(r.findings.is_empty(), "{:?}", r.findings.first());
    println!(
        "verify --all over {} entries ({} checkpoints): {:.1} s = {:.0} entries/s ({:.0} per CPU-second; load {})",
        r.entries,
        r.checkpoints,
        d.as_secs_f64(),
        per_sec(r.entries, d),
        r.entries as f64 / cpu.max(0.01),
        load()
    );
}
