//! Tampering with the SQLite file directly is caught by `verify` and `verify --all`, naming the
//! first bad entry. Each test edits a real log written by the real binary.

use super::log_util::{Log, Run};

/// A log of six decisions.
fn six() -> (Log, Vec<String>) {
    let log = Log::new();
    let ids = (0..6).map(|i| log.record(i, "alice")).collect();
    (log, ids)
}

fn verify_all(log: &Log) -> Run {
    log.run(&["verify", "--all"])
}

fn first_problem(r: &Run) -> &str {
    r.stdout
        .lines()
        .find(|l| l.starts_with("❌ first problem"))
        .unwrap_or("")
}

fn leaf(log: &Log, idx: i64) -> Vec<u8> {
    log.db()
        .query_row("SELECT leaf FROM entries WHERE idx = ?1", [idx], |r| {
            r.get(0)
        })
        .unwrap()
}

fn set_leaf(log: &Log, idx: i64, leaf: &[u8]) {
    log.db()
        .execute(
            "UPDATE entries SET leaf = ?1 WHERE idx = ?2",
            rusqlite::params![leaf, idx],
        )
        .unwrap();
}

#[test]
fn untouched_log_verifies() {
    let (log, ids) = six();
    let r = verify_all(&log);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("✅ 6 entries"), "{}", r.stdout);
    assert_eq!(log.run(&["verify", &ids[3]]).code, 0);
}

#[test]
fn edited_response_in_content_store_is_named() {
    let (log, ids) = six();
    let db = log.db();
    let body: Vec<u8> = db
        .query_row("SELECT body FROM content WHERE idx = 2", [], |r| r.get(0))
        .unwrap();
    let edited = String::from_utf8(body)
        .unwrap()
        .replace("thirty days", "ninety days");
    db.execute(
        "UPDATE content SET body = ?1 WHERE idx = 2",
        [edited.as_bytes()],
    )
    .unwrap();
    let r = verify_all(&log);
    assert_eq!(r.code, 1);
    let first = first_problem(&r);
    assert!(
        first.contains("entry 2") && first.contains(&ids[2]) && first.contains("response-mismatch"),
        "{}",
        r.stdout
    );
    let r = log.run(&["verify", &ids[2]]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("✅ Signature valid") && r.stdout.contains("❌ Content does not match"),
        "{}",
        r.stdout
    );
}

#[test]
fn edited_signed_record_is_named() {
    let (log, ids) = six();
    let l = String::from_utf8(leaf(&log, 4))
        .unwrap()
        .replace("\"gpt-x\"", "\"gpt-y\"");
    set_leaf(&log, 4, l.as_bytes());
    let r = verify_all(&log);
    assert_eq!(r.code, 1);
    let first = first_problem(&r);
    assert!(
        first.contains("entry 4") && first.contains("signature-invalid"),
        "{}",
        r.stdout
    );
    // The tree no longer matches the signed checkpoints either.
    assert!(
        r.stdout.contains("checkpoint-root-mismatch"),
        "{}",
        r.stdout
    );
    let r = log.run(&["verify", &ids[4]]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("❌ Signature invalid") && r.stdout.contains("❌ Inclusion"),
        "{}",
        r.stdout
    );
}

#[test]
fn deleted_row_is_named() {
    let (log, ids) = six();
    log.db()
        .execute("DELETE FROM entries WHERE idx = 3", [])
        .unwrap();
    let r = verify_all(&log);
    assert_eq!(r.code, 1);
    let first = first_problem(&r);
    assert!(
        first.contains("entry 3") && first.contains("entry-missing"),
        "{}",
        r.stdout
    );
    let r = log.run(&["verify", &ids[3]]);
    assert_eq!(r.code, 3, "a deleted record is an unknown id: {}", r.stderr);
}

#[test]
fn reordered_rows_are_named() {
    let (log, ids) = six();
    let (a, b) = (leaf(&log, 1), leaf(&log, 2));
    let db = log.db();
    db.execute("UPDATE entries SET execution_id = 'tmp' WHERE idx = 1", [])
        .unwrap();
    db.execute(
        "UPDATE entries SET leaf = ?1, execution_id = ?2 WHERE idx = 2",
        rusqlite::params![a, ids[1]],
    )
    .unwrap();
    db.execute(
        "UPDATE entries SET leaf = ?1, execution_id = ?2 WHERE idx = 1",
        rusqlite::params![b, ids[2]],
    )
    .unwrap();
    let r = verify_all(&log);
    assert_eq!(r.code, 1);
    let first = first_problem(&r);
    assert!(
        first.contains("entry 1") && first.contains("wrong-position"),
        "{}",
        r.stdout
    );
    assert!(first.contains("index 2"), "{}", r.stdout);
}

#[test]
fn swapped_signature_is_named() {
    let (log, _) = six();
    let sig = |l: &[u8]| -> String {
        let v: serde_json::Value = serde_json::from_slice(l).unwrap();
        v["signature"].as_str().unwrap().to_owned()
    };
    let (l1, l5) = (leaf(&log, 1), leaf(&log, 5));
    let swapped = String::from_utf8(l1.clone())
        .unwrap()
        .replace(&sig(&l1), &sig(&l5));
    set_leaf(&log, 1, swapped.as_bytes());
    let r = verify_all(&log);
    assert_eq!(r.code, 1);
    assert!(
        first_problem(&r).contains("entry 1") && first_problem(&r).contains("signature-invalid"),
        "{}",
        r.stdout
    );
}

#[test]
fn truncated_tail_is_caught_by_the_outside_checkpoint() {
    let (log, ids) = six();
    // A careful attacker removes the last entries, their nodes and their checkpoints: the
    // database alone is then self-consistent.
    let db = log.db();
    db.execute("DELETE FROM entries WHERE idx >= 4", [])
        .unwrap();
    db.execute("DELETE FROM content WHERE idx >= 4", [])
        .unwrap();
    db.execute("DELETE FROM nodes WHERE (idx + 1) << level > 4", [])
        .unwrap();
    db.execute("DELETE FROM checkpoints WHERE size > 4", [])
        .unwrap();
    let r = verify_all(&log);
    assert_eq!(r.code, 1);
    let first = first_problem(&r);
    assert!(
        first.contains("entry 4") && first.contains("log-truncated"),
        "{}",
        r.stdout
    );
    assert!(first.contains("entries 4..6 were removed"), "{}", r.stdout);
    let r = log.run(&["verify", &ids[1]]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("log-truncated"), "{}", r.stdout);
}

#[test]
fn checkpoint_kept_by_an_auditor_catches_a_rewrite() {
    let (log, _) = six();
    let kept = log.write(
        "kept.checkpoint",
        &std::fs::read_to_string(log.dir.join("checkpoint")).unwrap(),
    );
    assert_eq!(
        log.run(&["verify", "--all", "--checkpoint", kept.to_str().unwrap()])
            .code,
        0
    );
    // Rewrite history: a different record at index 0 with a fresh (validly signed) tree is
    // impossible without the key, so the attacker edits and leaves the signatures alone.
    let l = String::from_utf8(leaf(&log, 0))
        .unwrap()
        .replace("alice", "mallo");
    set_leaf(&log, 0, l.as_bytes());
    std::fs::remove_file(log.dir.join("checkpoint")).unwrap();
    let r = log.run(&["verify", "--all", "--checkpoint", kept.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(first_problem(&r).contains("entry 0"), "{}", r.stdout);
    assert!(
        r.stdout.contains("outside-checkpoint-missing"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("outside-checkpoint-mismatch"),
        "{}",
        r.stdout
    );
}

#[test]
fn untrusted_key_fails_verification() {
    let (log, ids) = six();
    let other = Log::new();
    let key = other.run(&["key", "export"]).stdout;
    let r = log.run(&["verify", &ids[0], "--key", key.trim()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("unknown-key"), "{}", r.stdout);
}

#[test]
fn garbled_leaf_is_named() {
    let (log, ids) = six();
    set_leaf(&log, 2, b"{\"not\": \"a record\"");
    let r = verify_all(&log);
    assert_eq!(r.code, 1);
    assert!(
        first_problem(&r).contains("entry 2") && first_problem(&r).contains("leaf-malformed"),
        "{}",
        r.stdout
    );
    let r = log.run(&["verify", &ids[2], "--json"]);
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["kind"], "unreadable");
    assert_eq!(v["findings"][0]["code"], "leaf-malformed");
}

#[test]
fn truncation_that_leaves_checkpoints_behind_is_named_even_without_the_outside_file() {
    let (log, _) = six();
    log.db()
        .execute("DELETE FROM entries WHERE idx >= 5", [])
        .unwrap();
    std::fs::remove_file(log.dir.join("checkpoint")).unwrap();
    let r = verify_all(&log);
    assert_eq!(r.code, 1);
    let first = first_problem(&r);
    assert!(
        first.contains("entry 5") && first.contains("log-truncated"),
        "{}",
        r.stdout
    );
}
