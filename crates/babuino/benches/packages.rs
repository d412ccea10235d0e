//! What installing through Sentinel costs: `babuino run --packages` (pre-check, install sandbox
//! with pip/npm through Sentinel's proxy, program sandbox with `/packages`) against the same
//! pip/npm install bare on the host straight from the registry, and how fast a squatted name is
//! refused. The registry is a loopback upstream replaying recorded data (the tests' replay), so
//! the figures are the tools' costs, not the internet's.
//!
//! Run: `cargo bench -p babuino --bench packages` (as root, or where babuino can create cgroups;
//! needs the system python3 with pip and npm). `BENCH_RUNS` sets the samples per row (default 8).
#![allow(clippy::unwrap_used)]

#[path = "../tests/suite/registry_replay.rs"]
mod registry_replay;

use std::process::{Command, Stdio};
use std::time::Instant;

const BABUINO: &str = env!("CARGO_BIN_EXE_babuino");

struct Row {
    name: String,
    wall: Vec<f64>,
    install: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

/// Runs `make()` `n` times after one warm-up; `expect` is the exit code each run must have.
/// With `--json` runs, collects `timings.install_ms` from the report.
fn measure(name: &str, n: usize, expect: i32, mut make: impl FnMut() -> Command) -> Row {
    let mut row = Row {
        name: name.to_string(),
        wall: Vec::new(),
        install: Vec::new(),
    };
    for i in 0..=n {
        let mut c = make();
        c.stderr(Stdio::piped()).stdout(Stdio::piped());
        let t = Instant::now();
        let out = c.output().unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if out.status.code() != Some(expect) {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            panic!(
                "{name}: exit {:?}, expected {expect}; stderr ends with:\n{}",
                out.status.code(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        if i == 0 {
            continue; // warm-up: page cache, first compile of .pyc files
        }
        row.wall.push(ms);
        if let Ok(r) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            && let Some(x) = r["timings"]["install_ms"].as_f64()
        {
            row.install.push(x);
        }
    }
    row
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let up = registry_replay::Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("sentinel.toml"),
        "[rules]\ninstall-scripts = \"block\"\n\n[advisories]\nmode = \"off\"\n\n[typosquat]\nestablished-versions = 0\n",
    )
    .unwrap();
    std::fs::write(d.join("requirements.txt"), "six\n").unwrap();
    std::fs::write(d.join("squat.txt"), "siix\n").unwrap();
    std::fs::write(
        d.join("package.json"),
        r#"{"name":"job","version":"1.0.0","dependencies":{"is-number":"^7.0.0"}}"#,
    )
    .unwrap();
    let b = up.base.clone();
    let babuino = |args: &[&str]| {
        let mut c = Command::new(BABUINO);
        c.args(["run", "--json"])
            .args(args)
            .env("SENTINEL_POLICY", d.join("sentinel.toml"))
            .env("SENTINEL_CACHE_DIR", d.join("cache"))
            .env("SENTINEL_ADVISORIES", "off")
            .env("SENTINEL_PYPI_URL", &b)
            .env("SENTINEL_NPM_URL", format!("{b}/npm"))
            .env("SENTINEL_PROXY_PYPI_SIMPLE", format!("{b}/simple/"))
            .env("SENTINEL_PROXY_PYPI_FILES", format!("{b}/files/"))
            .env("SENTINEL_PROXY_NPM", format!("{b}/npm/"));
        c
    };
    let req = d.join("requirements.txt").display().to_string();
    let squat = d.join("squat.txt").display().to_string();
    let pj = d.join("package.json").display().to_string();
    let mut rows = Vec::new();
    rows.push(measure("babuino run python3 (no packages)", n, 0, || {
        babuino(&["python3", "-c", "pass"])
    }));
    rows.push(measure(
        "host pip install six (no sandbox, no sentinel)",
        n,
        0,
        || {
            let t = d.join(format!("host-pip-{}", Instant::now().elapsed().as_nanos()));
            let _ = std::fs::remove_dir_all(&t);
            let mut c = Command::new("/usr/bin/python3");
            c.args(["-m", "pip", "install", "-q", "--no-cache-dir"])
                .args(["--disable-pip-version-check", "--target"])
                .arg(&t)
                .args(["--index-url", &format!("{b}/simple/"), "six"]);
            c
        },
    ));
    rows.push(measure("babuino run --packages six", n, 0, || {
        babuino(&["--packages", &req, "python3", "-c", "import six"])
    }));
    rows.push(measure(
        "babuino run --packages siix (refused)",
        n,
        120,
        || babuino(&["--packages", &squat, "python3", "-c", "pass"]),
    ));
    let mut k = 0;
    rows.push(measure(
        "host npm install is-number@7.0.0 (no sandbox)",
        n,
        0,
        || {
            k += 1;
            let t = d.join(format!("host-npm-{k}"));
            let _ = std::fs::remove_dir_all(&t);
            std::fs::create_dir_all(&t).unwrap();
            // Bare npm from the same upstream would install the hijacked 7.0.1 and run its
            // postinstall on this host: pin the good release and never run scripts here.
            std::fs::write(
                t.join("package.json"),
                r#"{"name":"job","version":"1.0.0","dependencies":{"is-number":"7.0.0"}}"#,
            )
            .unwrap();
            let mut c = Command::new("npm");
            c.args([
                "install",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&t)
            .env("npm_config_registry", format!("{b}/npm/"))
            .env("npm_config_cache", d.join("npm-cache"));
            c
        },
    ));
    rows.push(measure("babuino run --packages package.json", n, 0, || {
        babuino(&["--packages", &pj, "node", "-e", "require('is-number')"])
    }));
    println!(
        "babuino packages benchmark: {n} runs per row after one warm-up; wall-clock ms, median (max)"
    );
    println!("{:<50} {:>18} {:>22}", "command", "wall", "install phase");
    for r in &rows {
        let install = if r.install.is_empty() {
            "-".to_string()
        } else {
            format!("{:.0} ({:.0})", median(&r.install), max(&r.install))
        };
        println!(
            "{:<50} {:>18} {:>22}",
            r.name,
            format!("{:.0} ({:.0})", median(&r.wall), max(&r.wall)),
            install
        );
    }
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average during the run: {}", l.trim());
    }
}
