//! Engine benchmark (harness = false): prints figures, asserts nothing.
//!
//!   cargo bench -p sentinel --bench engine
//!
//! 1. typosquat check per name with all four corpora loaded (median, p99; one core);
//! 2. `sentinel scan` of a 1,000-dependency package-lock.json with a warm cache (end to end,
//!    process start included);
//! 3. peak RSS: this process with all corpora and indexes loaded, and the scan child;
//! 4. `sentinel check` start-up without network (`--offline`, answered from the cache).
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use sentinel::Ecosystem;
use sentinel::cache::Cache;
use sentinel::corpus::Corpora;
use sentinel::registry::{Lookup, PackageRecord, VersionInfo};
use sentinel::typosquat::{Detector, TyposquatConfig};

fn median(v: &mut [Duration]) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[(v.len() * 99) / 100])
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_sentinel");
    // 1. Typosquat check.
    let t = Instant::now();
    let corpora = Corpora::default();
    let all: Vec<_> = Ecosystem::ALL
        .iter()
        .map(|e| corpora.get(*e).expect("corpus"))
        .collect();
    let load = t.elapsed();
    let cfg = TyposquatConfig::default();
    // Candidates: one-character variants of popular names (the expensive path: not popular,
    // full edit generation) and the popular names themselves (the early exit).
    let mut samples = Vec::new();
    let mut popular = Vec::new();
    for c in &all {
        let det = Detector {
            corpus: c,
            config: &cfg,
        };
        // Warm the two-edit index.
        let _ = det.check("warm-up-name-x");
        for (i, n) in c.names.iter().step_by(7).take(500).enumerate() {
            let mut cand = n.to_string();
            cand.insert(cand.len() / 2, if i % 2 == 0 { 'x' } else { 'q' });
            let t = Instant::now();
            std::hint::black_box(det.check(&cand));
            samples.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(det.check(n));
            popular.push(t.elapsed());
        }
    }
    let (med, p99) = median(&mut samples);
    let (pmed, _) = median(&mut popular);
    let rss_engine = vm_hwm_kb();
    println!("corpora: load+parse all four: {load:?}");
    println!(
        "typosquat check, unknown name ({} samples): median {:.1} µs, p99 {:.1} µs; popular name: median {:.2} µs",
        samples.len(),
        med.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        pmed.as_secs_f64() * 1e6
    );
    println!(
        "peak RSS, this process with all corpora and two-edit indexes: {:.1} MB",
        rss_engine as f64 / 1024.0
    );

    // 2. Scan of a 1,000-dependency lockfile with a warm cache.
    let dir = tempfile::tempdir().expect("tempdir");
    let cache_dir = dir.path().join("cache");
    let cache = Cache::open(&cache_dir).expect("cache");
    let npm = corpora.get(Ecosystem::Npm).expect("npm");
    let mut packages = serde_json::Map::new();
    packages.insert(
        "".into(),
        serde_json::json!({"name": "bench", "version": "1.0.0"}),
    );
    for name in npm.names.iter().take(1000) {
        let mut versions = std::collections::BTreeMap::new();
        for v in ["1.0.0", "1.1.0", "2.0.0"] {
            versions.insert(
                v.to_string(),
                VersionInfo {
                    published: Some("2020-01-01T00:00:00Z".into()),
                    ..Default::default()
                },
            );
        }
        let rec = PackageRecord {
            name: name.to_string(),
            latest: Some("2.0.0".into()),
            versions,
            repository: Some(format!("https://github.com/example/{name}")),
            has_repository_field: true,
            ..Default::default()
        };
        cache
            .put(Ecosystem::Npm, name, &Lookup::Found(Box::new(rec)))
            .expect("put");
        packages.insert(
            format!("node_modules/{name}"),
            serde_json::json!({"version": "2.0.0", "resolved": format!("https://registry.npmjs.org/{name}/-/x-2.0.0.tgz")}),
        );
    }
    drop(cache);
    let lock = dir.path().join("package-lock.json");
    std::fs::write(
        &lock,
        serde_json::to_string(&serde_json::json!({"lockfileVersion": 3, "packages": packages}))
            .expect("json"),
    )
    .expect("write");
    let run = |args: &[&str]| {
        let t = Instant::now();
        let out = Command::new(bin)
            .args(args)
            .env("SENTINEL_CACHE_DIR", &cache_dir)
            .env("SENTINEL_NPM_URL", "http://127.0.0.1:9")
            .env("SENTINEL_PYPI_URL", "http://127.0.0.1:9")
            .current_dir(dir.path())
            .output()
            .expect("run sentinel");
        (t.elapsed(), out)
    };
    let lock_s = lock.to_str().expect("utf-8 path");
    let mut scans = Vec::new();
    for _ in 0..7 {
        let (d, out) = run(&["scan", lock_s, "--format", "json"]);
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("scan json");
        assert_eq!(
            j["summary"]["total"], 1000,
            "scan did not see 1,000 packages"
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("could-not-verify"),
            "cache was not warm"
        );
        scans.push(d);
    }
    let (smed, _) = median(&mut scans);
    let child_rss = getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|r| r.max_rss())
        .unwrap_or(0);
    println!(
        "scan of a 1,000-dependency package-lock.json, warm cache, end to end: median {:.1} ms (7 runs)",
        smed.as_secs_f64() * 1e3
    );
    println!(
        "peak RSS of the sentinel child processes: {:.1} MB",
        child_rss as f64 / 1024.0
    );

    // 4. Start-up of `sentinel check` without network.
    for (eco, name) in [("pypi", "requests"), ("npm", "left-pad")] {
        let mut runs = Vec::new();
        for _ in 0..15 {
            let (d, _) = run(&["--offline", "check", eco, name]);
            runs.push(d);
        }
        let (m, _) = median(&mut runs);
        println!(
            "`sentinel --offline check {eco} {name}` start-up to exit: median {:.1} ms (15 runs)",
            m.as_secs_f64() * 1e3
        );
    }
}
