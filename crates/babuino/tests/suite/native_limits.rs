//! Limits: timeout (including a tree that tries to escape it), memory, processes, threads,
//! output, CPU. Each ends the run with the documented exit code and a `limit` event.

use super::native_util::{host_processes_with, require_native, run_script, wait_for};

#[test]
fn timeout_kills_setsid_double_fork_ignoring_sigterm() {
    require_native!();
    let marker = "777.4242";
    let script = format!(
        "trap '' TERM HUP INT\nsetsid sh -c \"trap '' TERM; (trap '' TERM; sleep {marker}) & (sleep {marker} &) \" &\nsleep {marker} &\necho started\nwhile :; do :; done\n"
    );
    let t = std::time::Instant::now();
    let o = run_script("escape.sh", &script, &["--timeout", "1s"]);
    assert!(t.elapsed().as_secs_f64() < 15.0, "took {:?}", t.elapsed());
    assert_eq!(o.code, 124, "{o:?}");
    assert_eq!(o.exit_kind(), "timeout");
    assert!(o.has_event("limit", "timeout"));
    assert!(
        wait_for(2.0, || host_processes_with(marker).is_empty()),
        "survivors: {:?}",
        host_processes_with(marker)
    );
}

#[test]
fn daemons_left_behind_die_with_the_program() {
    require_native!();
    let marker = "778.4242";
    let o = run_script(
        "daemon.sh",
        &format!("setsid sh -c 'sleep {marker}' &\n( sleep {marker} & ) \necho bye\n"),
        &[],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(wait_for(2.0, || host_processes_with(marker).is_empty()));
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    require_native!();
    let o = run_script(
        "mem.py",
        "a = []\nwhile True:\n    a.append(bytearray(8 << 20))\n",
        &["--memory", "64M"],
    );
    assert_eq!(o.code, 123, "{o:?}");
    assert_eq!(o.exit_kind(), "memory");
    assert!(o.has_event("limit", "memory limit"));
}

#[test]
fn fork_bomb_hits_the_process_limit() {
    require_native!();
    let o = run_script(
        "bomb.sh",
        "bomb() { bomb | bomb & }; bomb\nsleep 1\nexit 1\n",
        &["--pids", "40", "--timeout", "10s"],
    );
    assert!(o.code == 122 || o.code == 124, "{o:?}");
    assert!(
        o.has_event("limit", "process limit"),
        "{:?}",
        o.report["events"]
    );
}

#[test]
fn thread_bomb_hits_the_process_limit() {
    require_native!();
    let o = run_script(
        "threads.py",
        "import threading, time, sys\nn = 0\ntry:\n    while True:\n        threading.Thread(target=time.sleep, args=(5,), daemon=True).start(); n += 1\nexcept RuntimeError as e:\n    print('threads', n)\n    sys.exit(1)\n",
        &["--pids", "50"],
    );
    assert_eq!(o.code, 122, "{o:?}");
    assert_eq!(o.exit_kind(), "pids");
    let n: u64 = o
        .program_output()
        .lines()
        .find_map(|l| l.strip_prefix("threads "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(999);
    assert!(n < 50, "{n} threads");
}

#[test]
fn output_flood_hits_the_output_cap() {
    require_native!();
    let t = std::time::Instant::now();
    let o = run_script(
        "flood.py",
        "import sys\nline = 'x' * 99 + '\\n'\nfor _ in range(10**8):\n    sys.stdout.write(line)\n",
        &["--output-limit", "1M"],
    );
    assert_eq!(o.code, 121, "{o:?}");
    assert_eq!(o.exit_kind(), "output-cap");
    assert!(o.report["stdout"]["truncated"].as_bool().unwrap());
    assert!(
        o.stderr.len() < (2 << 20),
        "{} bytes passed",
        o.stderr.len()
    );
    assert!(t.elapsed().as_secs() < 20);
}

#[test]
fn cpu_spin_is_stopped_at_the_timeout() {
    require_native!();
    let t = std::time::Instant::now();
    let o = run_script(
        "spin.py",
        "while True:\n    pass\n",
        &["--timeout", "700ms", "--cpus", "0.5"],
    );
    assert_eq!(o.code, 124);
    assert!(t.elapsed().as_secs_f64() < 15.0);
    assert_eq!(o.report["limits"]["cpus"], 0.5);
}

#[test]
fn exit_codes_and_signals_pass_through() {
    require_native!();
    let o = run_script("e.sh", "exit 7\n", &[]);
    assert_eq!((o.code, o.exit_kind()), (7, "code"));
    let o = run_script("k.sh", "kill -SEGV $$\n", &[]);
    assert_eq!((o.code, o.exit_kind()), (128 + 11, "signal"), "{o:?}");
}

#[test]
fn outputs_are_collected_even_after_a_timeout() {
    require_native!();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("o");
    let o = run_script(
        "partial.sh",
        "echo partial > /out/progress.txt\nwhile :; do :; done\n",
        &["--timeout", "500ms", "--output", target.to_str().unwrap()],
    );
    assert_eq!(o.exit_kind(), "timeout", "{o:?}");
    assert_eq!(
        std::fs::read_to_string(target.join("progress.txt")).unwrap(),
        "partial\n"
    );
}
