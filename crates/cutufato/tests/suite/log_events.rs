//! Events (what a tool did: a sandbox run, a blocked package) share the log with decisions:
//! signed, in the tree, erasable content checked against keyed hashes, caught when edited.

use super::log_util::Log;
use cutufato::{Auditor, Event};
use serde_json::json;

/// A decision, a Sentinel block and a Babuino run of one session.
fn session_log() -> (Log, Vec<String>) {
    let log = Log::new();
    let decision = log.record(0, "alice");
    let mut a = Auditor::open(&log.dir).unwrap();
    let block = Event::new(
        "sentinel",
        "block",
        "blocked pypi requsts: typosquat of requests",
        json!({"package": "requsts", "suggestion": "requests", "rule": "typosquat"}),
    )
    .outcome("block")
    .session("s-1");
    let run = Event::new(
        "babuino",
        "run",
        "ran fetch_rates.py: exit 0, 1 write denied",
        json!({"schema": "babuino.run-report/1", "exit_code": 0, "events": [{"kind": "denied-write", "detail": "write /etc/passwd"}]}),
    )
    .outcome("exit 0")
    .session("s-1");
    let ids = a.record_events(vec![block, run]).unwrap();
    (log, [vec![decision], ids].concat())
}

#[test]
fn events_are_signed_leaves_that_verify_with_the_decisions() {
    let (log, ids) = session_log();
    let r = log.run(&["verify", "--all"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("✅ 3 entries"), "{}", r.stdout);
    let a = Auditor::open(&log.dir).unwrap();
    let s = a.get(&ids[2]).unwrap();
    let leaf = String::from_utf8(s.leaf.clone()).unwrap();
    assert!(leaf.contains(r#""kind":"event""#) && leaf.contains(r#""session":"s-1""#));
    // The summary and data stay out of the leaf: only keyed hashes are signed.
    assert!(!leaf.contains("fetch_rates.py"), "{leaf}");
    let c = s.content.unwrap();
    assert_eq!(c.data.unwrap()["exit_code"], 0);
    assert_eq!(log.run(&["verify", &ids[1]]).code, 0);
}

#[test]
fn edited_event_data_is_caught_and_named() {
    let (log, ids) = session_log();
    let db = log.db();
    let body: Vec<u8> = db
        .query_row("SELECT body FROM content WHERE idx = 2", [], |r| r.get(0))
        .unwrap();
    let edited = String::from_utf8(body)
        .unwrap()
        .replace(r#""exit_code":0"#, r#""exit_code":1"#);
    db.execute(
        "UPDATE content SET body = ?1 WHERE idx = 2",
        [edited.as_bytes()],
    )
    .unwrap();
    let r = log.run(&["verify", "--all"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains(&ids[2]) && r.stdout.contains("data-mismatch"),
        "{}",
        r.stdout
    );
}

#[test]
fn bad_events_are_refused_and_nothing_is_written() {
    let log = Log::new();
    let mut a = Auditor::open(&log.dir).unwrap();
    for bad in [
        Event::new("Sentinel!", "block", "x", json!({})),
        Event::new("sentinel", "", "x", json!({})),
        Event::new("sentinel", "block", "  ", json!({})),
        Event::new("sentinel", "block", "two\nlines", json!({})),
    ] {
        let e = a.record_event(bad).unwrap_err();
        assert!(e.to_string().contains("invalid input"), "{e}");
    }
    assert_eq!(a.size(), 0);
}

#[test]
fn list_oldest_first_tells_the_session_in_log_order() {
    let (log, ids) = session_log();
    let r = log.run(&["list", "--session", "s-1", "--oldest-first"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let order: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    // The decision has no session; the two events of s-1 come in the order they were recorded.
    assert_eq!(
        order,
        vec![ids[1].as_str(), ids[2].as_str()],
        "{}",
        r.stdout
    );
    let newest_first = log.run(&["list", "--session", "s-1"]);
    assert!(
        newest_first
            .stdout
            .lines()
            .next()
            .unwrap_or("")
            .contains(&ids[2]),
        "{}",
        newest_first.stdout
    );
}
