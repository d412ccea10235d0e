//! End-to-end use of the log through the binary: init, record, verify, prove, replay.

use super::log_util::{Log, p};

#[test]
fn record_then_verify_prove_and_replay() {
    let log = Log::new();
    let id = log.record(1, "alice");
    assert!(id.starts_with("exec-"), "{id}");
    let r = log.run(&["verify", &id]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("✅ Signature valid"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("✅ Included in the log (index 0, checkpoint size 1)"),
        "{}",
        r.stdout
    );
    let r = log.run(&["verify", "--all"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let bundle = log.path("x.proof");
    let r = log.run(&["prove", &id, "--out", p(&bundle)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = log.run(&["key", "export"]).stdout;
    let key = key.lines().next().unwrap();
    let r = log.run(&["verify-proof", p(&bundle), "--key", key]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&id));

    let r = log.run(&["replay", "--at", "2000-01-01 00:00"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Answer 1: thirty days."), "{}", r.stdout);
    assert!(r.stdout.contains("contract.pdf p.7 l.1"), "{}", r.stdout);
}

#[test]
fn replay_picks_the_decision_nearest_the_time() {
    let log = Log::new();
    let first = log.record(1, "alice");
    std::thread::sleep(std::time::Duration::from_millis(30));
    let second = log.record(2, "bob");
    let a = cutufato::Auditor::open(&log.dir).unwrap();
    let ts = |id: &str| a.get(id).unwrap().entry.body.timestamp().to_owned();
    let (t1, t2) = (ts(&first), ts(&second));
    let r = log.run(&["replay", "--at", &t1, "--limit", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&first) && !r.stdout.contains(&second),
        "{}",
        r.stdout
    );
    let r = log.run(&["replay", "--at", &t2, "--limit", "1", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["record"]["execution_id"], second.as_str());
    assert_eq!(v[0]["content"]["response"], "Answer 2: thirty days.");
    assert_eq!(v[0]["signature_valid"], true);
    let r = log.run(&["replay", "--at", "2000-01-01", "--limit", "2"]);
    assert!(
        r.stdout.contains(&first) && r.stdout.contains(&second),
        "{}",
        r.stdout
    );
}

#[test]
fn consistency_bundle_proves_the_log_extends_a_kept_checkpoint() {
    let log = Log::new();
    log.record(1, "alice");
    log.record(2, "alice");
    let kept = log.write("kept.checkpoint", &log.run(&["checkpoint"]).stdout);
    for i in 3..8 {
        log.record(i, "bob");
    }
    let bundle = log.path("c.proof");
    let r = log.run(&["prove", "--since", p(&kept), "--out", p(&bundle)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = log.run(&["key", "export"]).stdout;
    let key = key.trim();
    let r = log.run(&["verify-proof", p(&bundle), "--old", p(&kept), "--key", key]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("The log at size 7 extends the checkpoint of size 2"),
        "{}",
        r.stdout
    );
    // Without the kept checkpoint the bundle cannot be checked.
    let r = log.run(&["verify-proof", p(&bundle), "--key", key]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // A flipped proof hash fails.
    let text = std::fs::read_to_string(&bundle).unwrap();
    let line = text.lines().nth(2).unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if line.starts_with('A') { "B" } else { "A" },
        &line[1..]
    );
    let bad = log.write("bad.proof", &text.replacen(&line, &flipped, 1));
    let r = log.run(&["verify-proof", p(&bad), "--old", p(&kept), "--key", key]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    // A checkpoint of another log is not accepted as the kept one.
    let other = Log::new();
    other.record(1, "x");
    let foreign = log.write("foreign.checkpoint", &other.run(&["checkpoint"]).stdout);
    let r = log.run(&["prove", "--since", p(&foreign)]);
    assert_ne!(r.code, 0);
}
