//! Bad input gets a clear error on stderr and a documented exit code; nothing is written.

use super::log_util::{Log, p};

#[test]
fn bad_input_is_reported_clearly() {
    let log = Log::new();
    let prompt = log.write("p.txt", "hello");
    let resp = log.write("r.txt", "world");
    let size_before = cutufato::Auditor::open(&log.dir).unwrap().size();

    let r = log.run(&[
        "record",
        "--prompt",
        "/nonexistent/prompt.txt",
        "--response",
        p(&resp),
        "--model",
        "m",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cannot read /nonexistent/prompt.txt"),
        "{}",
        r.stderr
    );

    let bad = log.write("bad.json", "[{\"doc_id\": \"a\", \"text\": ");
    let r = log.run(&[
        "record",
        "--prompt",
        p(&prompt),
        "--context",
        p(&bad),
        "--response",
        p(&resp),
        "--model",
        "m",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("bad.json is not valid JSON"),
        "{}",
        r.stderr
    );

    let wrong = log.write("wrong.json", "[{\"document\": \"a\", \"text\": \"x\"}]");
    let r = log.run(&[
        "record",
        "--prompt",
        p(&prompt),
        "--context",
        p(&wrong),
        "--response",
        p(&resp),
        "--model",
        "m",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("expected a JSON array of chunks"),
        "{}",
        r.stderr
    );
    assert_eq!(
        cutufato::Auditor::open(&log.dir).unwrap().size(),
        size_before,
        "nothing recorded"
    );

    let r = log.run(&["verify", "exec-000000000000"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr
            .contains("unknown execution id \"exec-000000000000\""),
        "{}",
        r.stderr
    );

    let r = log.run(&["replay", "--at", "yesterday-ish"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read time"), "{}", r.stderr);

    let r = log.run(&["verify-proof", p(&prompt), "--key", "not-a-key"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("neither a file nor a verifier key"),
        "{}",
        r.stderr
    );

    let r = log.run(&["init"]);
    assert_eq!(r.code, 4);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);

    let r: super::log_util::Run = std::process::Command::new(super::log_util::BIN)
        .args(["--dir", "/nonexistent/log", "verify", "--all"])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 4);
    assert!(
        r.stderr.contains("run `cutufato init` first"),
        "{}",
        r.stderr
    );
}

#[test]
fn signing_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let log = Log::new();
    let key = log.dir.join("signing.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = log.run(&["checkpoint"]);
    assert_eq!(r.code, 4);
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
}

#[test]
fn tampered_proof_bundle_is_rejected_offline() {
    let log = Log::new();
    let id = log.record(1, "alice");
    log.record(2, "alice");
    let bundle = log.run(&["prove", &id]).stdout;
    let key = log.run(&["key", "export"]).stdout;
    let key = key.trim();
    let good = log.write("good.proof", &bundle);
    assert_eq!(log.run(&["verify-proof", p(&good), "--key", key]).code, 0);
    // A different index, or a flipped proof hash: inclusion fails.
    let wrong_index = log.write("wi.proof", &bundle.replace("index 0", "index 1"));
    let r = log.run(&["verify-proof", p(&wrong_index), "--key", key]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let lines: Vec<&str> = bundle.lines().collect();
    let hash_line = lines[3];
    let mut flipped = hash_line.to_owned();
    flipped.replace_range(0..1, if hash_line.starts_with('A') { "B" } else { "A" });
    let bad = log.write("bad.proof", &bundle.replace(hash_line, &flipped));
    let r = log.run(&["verify-proof", p(&bad), "--key", key]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("proof does not verify"), "{}", r.stderr);
}
