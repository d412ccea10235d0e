//! Micro-VM boot benchmark: `python3 -c pass` in a fresh VM, N times, printing for each run the
//! time from starting QEMU to the first instruction of the user's program (host wall clock and
//! guest uptime) and the total run time, then the median.
//!
//! Run: `cargo bench -p babuino --bench vm_boot` (needs `babuino setup vm` done; set
//! `BABUINO_VM_ACCEL=kvm|tcg` to force the accelerator, `BENCH_RUNS` for the count).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use babuino::backend::{Backend, CollectSink};
use babuino::spec::{BackendKind, RunSpec};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let backend = match babuino::vm::VmBackend::from_env() {
        Ok(b) => b,
        Err(e) => return println!("vm_boot: skipped ({e})"),
    };
    if let Err(why) = backend.available() {
        return println!("vm_boot: skipped ({why})");
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut spec = RunSpec::for_command("python3").unwrap();
    spec.args = vec!["-c".into(), "pass".into()];
    spec.backend = BackendKind::Kvm;
    let a = babuino::vm::assets::load(&backend.asset_dir).unwrap();
    for (name, f) in &a.manifest.files {
        println!("asset {name}: {:.1} MiB", f.size as f64 / (1 << 20) as f64);
    }
    let (mut boot, mut guest, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let mut sink = CollectSink::default();
        let r = backend.run(&spec, &mut sink).unwrap();
        let b = r.details["boot_ms"].as_f64().unwrap();
        let g = r.details["guest_boot_ms"].as_f64().unwrap();
        let agent = r.details["guest_agent_ms"].as_f64().unwrap();
        println!(
            "run {i}: accel {} · boot-to-first-instruction {:.0} ms (guest uptime {:.0} ms, agent up at {:.0} ms) · total {:.0} ms · exit {}",
            r.details["accel"].as_str().unwrap_or("?"),
            b,
            g,
            agent,
            r.timings.total_ms,
            r.exit.describe()
        );
        boot.push(b);
        guest.push(g);
        total.push(r.timings.total_ms);
    }
    println!(
        "median of {runs}: boot-to-first-instruction {:.0} ms (guest uptime {:.0} ms) · total {:.0} ms",
        median(boot),
        median(guest),
        median(total)
    );
}
