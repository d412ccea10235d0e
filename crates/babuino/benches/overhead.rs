//! Start-to-exit overhead of `babuino run` (native backend) over running the same command bare,
//! next to bubblewrap with comparable isolation, and sandboxed runs per second on all cores.
//!
//! Run: `cargo bench -p babuino --bench overhead` (as root, or where babuino can create cgroups).
//! `BENCH_RUNS` sets the samples per row (default 40), `BENCH_SECONDS` the throughput window.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BABUINO: &str = env!("CARGO_BIN_EXE_babuino");

/// CPU time (user + system) of all waited-for descendants so far, ms.
fn children_cpu_ms() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| {
            (u.user_time().num_microseconds() + u.system_time().num_microseconds()) as f64 / 1e3
        })
        .unwrap_or(0.0)
}

struct Sample {
    /// Wall-clock ms, sorted.
    wall: Vec<f64>,
    /// Mean CPU ms (user + system of every process of the run).
    cpu: f64,
}

fn time_runs(n: usize, mut make: impl FnMut() -> Command) -> Option<Sample> {
    let mut v = Vec::with_capacity(n);
    // One warm-up run (page cache, first-exec costs).
    make()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let cpu0 = children_cpu_ms();
    for _ in 0..n {
        let mut c = make();
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let t = Instant::now();
        let st = c.status().ok()?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if !st.success() {
            return None;
        }
        v.push(ms);
    }
    let cpu = (children_cpu_ms() - cpu0) / n as f64;
    v.sort_by(|a, b| a.total_cmp(b));
    Some(Sample { wall: v, cpu })
}

fn median(v: &[f64]) -> f64 {
    v[v.len() / 2]
}

fn p90(v: &[f64]) -> f64 {
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

fn bwrap(cmd: &[&str]) -> Command {
    let mut c = Command::new("bwrap");
    c.args([
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--ro-bind",
        "/etc/ld.so.cache",
        "/etc/ld.so.cache",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
    ]);
    c.args(cmd);
    c
}

fn babuino(cmd: &[&str]) -> Command {
    let mut c = Command::new(BABUINO);
    c.args(["run", "-q"]).args(cmd);
    c
}

fn bare(cmd: &[&str]) -> Command {
    let mut c = Command::new(cmd[0]);
    c.args(&cmd[1..]);
    c
}

fn main() {
    let n: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let have_bwrap = Command::new("bwrap")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    println!(
        "babuino overhead benchmark: {n} runs per row; wall-clock median (p90) and mean CPU time, ms"
    );
    println!(
        "{:<26} {:>20} {:>20} {:>10} {:>20} {:>10}",
        "command", "bare", "babuino", "+wall", "bwrap", "+wall"
    );
    let fmt = |s: &Sample| {
        format!(
            "{:.2} ({:.2}) cpu {:.1}",
            median(&s.wall),
            p90(&s.wall),
            s.cpu
        )
    };
    for cmd in [&["/bin/true"][..], &["/usr/bin/python3", "-c", "pass"][..]] {
        let bare_t = time_runs(n, || bare(cmd)).expect("bare run failed");
        let Some(bab) = time_runs(n, || babuino(cmd)) else {
            println!(
                "{:<26} babuino run failed (needs root or delegated cgroups)",
                cmd.join(" ")
            );
            return;
        };
        let bw = if have_bwrap {
            time_runs(n, || bwrap(cmd))
        } else {
            None
        };
        let (bw_s, bw_o) = match &bw {
            Some(b) => (
                fmt(b),
                format!("+{:.2}", median(&b.wall) - median(&bare_t.wall)),
            ),
            None => ("n/a".into(), "n/a".into()),
        };
        println!(
            "{:<26} {:>20} {:>20} {:>10} {:>20} {:>10}",
            cmd.join(" "),
            fmt(&bare_t),
            fmt(&bab),
            format!("+{:.2}", median(&bab.wall) - median(&bare_t.wall)),
            bw_s,
            bw_o
        );
    }
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average during the run: {}", l.trim());
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let end = Instant::now() + Duration::from_secs(secs);
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            std::thread::spawn(move || {
                let mut done = 0u64;
                while Instant::now() < end {
                    let ok = babuino(&["/bin/true"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success());
                    if ok {
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    println!(
        "throughput: {:.1} sandboxed /bin/true runs per second with {workers} parallel workers ({total} in {secs} s)",
        total as f64 / secs as f64
    );
}
