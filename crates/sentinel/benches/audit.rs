//! Audit benchmarks: what `--audit DIR` adds. One append of a verdict event (signed leaf, SQLite
//! commit with `synchronous=FULL`, signed checkpoint, outside checkpoint file), a batch of ten,
//! appends from four threads sharing one `AuditLog`, and the latency the `AuditingGate` adds to
//! a proxy judgement (memo warm, so the engine's own cost is near zero).
//!
//! Run: `cargo bench -p sentinel --bench audit` (prints figures; no assertions). The log lives
//! in a temporary directory on the same disk as `$TMPDIR`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sentinel::audit::{AuditContext, AuditLog, AuditOptions, AuditingGate, Frontend};
use sentinel::memo::{MEMO_TTL, MemoEngine};
use sentinel::proxy::{Gate, Query, Registry};
use sentinel::{Config, Decision, Ecosystem, Engine, PackageRef, Policy, Verdict};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn show(label: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{label:<52} n={:<5} p50={:>8.3} ms  p90={:>8.3} ms  p99={:>8.3} ms",
        v.len(),
        pct(&v, 0.5).as_secs_f64() * 1e3,
        pct(&v, 0.9).as_secs_f64() * 1e3,
        pct(&v, 0.99).as_secs_f64() * 1e3
    );
}

fn engine(cache: &std::path::Path) -> Engine {
    let mut policy = Policy {
        offline: true,
        ..Policy::default()
    };
    policy.cache.dir = Some(cache.to_path_buf());
    policy.packages.deny = vec!["npm:evil-*".into()];
    Engine::new(Config {
        policy,
        corpora: None,
        no_cache: true,
    })
    .unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    cutufato::Auditor::init(&log_dir, None).unwrap();
    let log = Arc::new(AuditLog::open(&log_dir, AuditOptions::default()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let memo = Arc::new(MemoEngine::new(engine(dir.path()), MEMO_TTL));
    let blocked: Verdict = rt.block_on(memo.validate(&PackageRef::new(Ecosystem::Npm, "evil-pkg")));
    assert_eq!(blocked.decision, Decision::Block);
    let ctx = AuditContext::new(Frontend::Check);

    let one: Vec<Duration> = (0..300)
        .map(|_| {
            let t = Instant::now();
            log.record(std::slice::from_ref(&blocked), &ctx).unwrap();
            t.elapsed()
        })
        .collect();
    show("append 1 event (one transaction)", one);

    let ten = vec![blocked.clone(); 10];
    let batch: Vec<Duration> = (0..100)
        .map(|_| {
            let t = Instant::now();
            log.record(&ten, &ctx).unwrap();
            t.elapsed()
        })
        .collect();
    show("append 10 events (one transaction)", batch);

    let t = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            let v = blocked.clone();
            std::thread::spawn(move || {
                let ctx = AuditContext::new(Frontend::Proxy);
                for _ in 0..100 {
                    log.record(std::slice::from_ref(&v), &ctx).unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{:<52} {:.0} events/s (400 events in {:.2} s)",
        "4 threads appending 1 event each, shared AuditLog",
        400.0 / secs,
        secs
    );

    let gate = AuditingGate::new(memo.clone(), log.clone());
    let q = || {
        vec![Query {
            registry: Registry::Npm,
            name: "evil-pkg".into(),
            version: None,
        }]
    };
    let plain: Vec<Duration> = (0..300)
        .map(|_| {
            let t = Instant::now();
            rt.block_on(Gate::judge(memo.as_ref(), q()));
            t.elapsed()
        })
        .collect();
    show("proxy judgement, no audit (memo warm)", plain);
    let audited: Vec<Duration> = (0..300)
        .map(|_| {
            let t = Instant::now();
            let j = rt.block_on(gate.judge(q()));
            assert!(!j[0].allowed && j[0].rule != sentinel::audit::AUDIT_FAILED);
            t.elapsed()
        })
        .collect();
    show("proxy judgement through AuditingGate (1 block)", audited);
    let a = cutufato::Auditor::open(&log_dir).unwrap();
    println!("log size after the run: {} entries", a.size());
}
