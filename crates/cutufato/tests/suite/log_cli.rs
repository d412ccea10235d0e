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
