//! Sessions and events through the command line: a session's story in order (`replay
//! --session`), listings filtered by session and source, `show` of an event, events in the
//! SOC 2, GDPR and AI Act exports, tampering with an event caught by `verify --all`, erasure.

use serde_json::Value;

use super::log_util::{Log, Run, p};

/// A decision of session s-1, a Sentinel block and a Babuino run of s-1, and a decision of s-2,
/// written with the CLI. Returns the ids in log order.
fn story() -> (Log, Vec<String>) {
    let log = Log::new();
    let prompt = log.write("p.txt", "Which package fetches the rates?");
    let resp = log.write("r.txt", "Use requests to fetch the rates.");
    let ctx = log.write(
        "c.json",
        r#"[{"doc_id":"README.md","text":"Fetch the rates with requests.","page":1,"line":1}]"#,
    );
    let record = |session: &str| {
        let r = log.run(&[
            "record",
            "--prompt",
            p(&prompt),
            "--response",
            p(&resp),
            "--context",
            p(&ctx),
            "--model",
            "gpt-x",
            "--actor",
            "alice",
            "--session",
            session,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout.trim().to_owned()
    };
    let d1 = record("s-1");
    let data = log.write(
        "block.json",
        r#"{"package":"requsts","suggestion":"requests","rule":"typosquat"}"#,
    );
    let block = log.run(&[
        "record-event",
        "--source",
        "sentinel",
        "--action",
        "block",
        "--outcome",
        "blocked",
        "--summary",
        "blocked pypi requsts: typosquat of requests",
        "--data",
        p(&data),
        "--session",
        "s-1",
        "--actor",
        "alice",
    ]);
    assert_eq!(block.code, 0, "{}", block.stderr);
    let run = log.run(&[
        "record-event",
        "--source",
        "babuino",
        "--action",
        "run",
        "--outcome",
        "exit 0",
        "--summary",
        "ran fetch_rates.py: exit 0, 1 write denied",
        "--session",
        "s-1",
        "--actor",
        "alice",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d2 = record("s-2");
    let ids = vec![
        d1,
        block.stdout.trim().to_owned(),
        run.stdout.trim().to_owned(),
        d2,
    ];
    assert!(ids[1].starts_with("evt-") && ids[2].starts_with("evt-"));
    (log, ids)
}

fn json(r: &Run) -> Value {
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn replay_of_a_session_tells_its_story_in_order_decisions_and_events_interleaved() {
    let (log, ids) = story();
    let r = log.run(&["replay", "--session", "s-1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pos: Vec<usize> = ids[..3]
        .iter()
        .map(|id| {
            r.stdout
                .find(id.as_str())
                .unwrap_or_else(|| panic!("{id} missing:\n{}", r.stdout))
        })
        .collect();
    assert!(pos[0] < pos[1] && pos[1] < pos[2], "{}", r.stdout);
    assert!(
        !r.stdout.contains(&ids[3]),
        "s-2 leaked into s-1:\n{}",
        r.stdout
    );
    for needle in [
        "session s-1: 3 record(s)",
        "source:   sentinel",
        "action:   block",
        "outcome:  blocked",
        "summary:  blocked pypi requsts: typosquat of requests",
        "\"suggestion\": \"requests\"",
        "source:   babuino",
        "response:\n    Use requests to fetch the rates.",
    ] {
        assert!(
            r.stdout.contains(needle),
            "{needle:?} missing:\n{}",
            r.stdout
        );
    }
    assert!(!r.stdout.contains("SIGNATURE INVALID"));

    let j = json(&log.run(&["replay", "--session", "s-1", "--json"]));
    let kinds: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["record"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["decision", "event", "event"]);
    assert_eq!(j[1]["content"]["data"]["rule"], "typosquat");
    assert_eq!(j[2]["signature_valid"], true);
    assert_eq!(j[2]["content_matches"], true);

    // Only one source, nearest a time.
    let r = log.run(&["replay", "--at", "2000-01-01", "--source", "babuino"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&ids[2]) && !r.stdout.contains(&ids[1]),
        "{}",
        r.stdout
    );

    let r = log.run(&["replay", "--session", "nope"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("no records of session \"nope\""),
        "{}",
        r.stderr
    );
}

#[test]
fn list_filters_by_session_source_and_kind() {
    let (log, ids) = story();
    let all = json(&log.run(&["list", "--json"]));
    let got: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["execution_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [&ids[3], &ids[2], &ids[1], &ids[0]], "newest first");
    let s1 = json(&log.run(&["list", "--session", "s-1", "--json"]));
    assert_eq!(s1.as_array().unwrap().len(), 3);
    let sentinel = json(&log.run(&["list", "--source", "sentinel", "--json"]));
    assert_eq!(sentinel.as_array().unwrap().len(), 1);
    assert_eq!(sentinel[0]["execution_id"], ids[1].as_str());
    assert_eq!(sentinel[0]["action"], "block");
    assert_eq!(sentinel[0]["outcome"], "blocked");
    assert_eq!(sentinel[0]["session"], "s-1");
    let decisions = json(&log.run(&["list", "--kind", "decision", "--json"]));
    assert_eq!(decisions.as_array().unwrap().len(), 2);
    let text = log.run(&["list", "--session", "s-1"]);
    assert!(text.stdout.contains("sentinel/block") && text.stdout.contains("babuino/run"));
    let bad = log.run(&["list", "--kind", "nonsense"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("unknown kind"), "{}", bad.stderr);
}

#[test]
fn show_prints_an_event_and_its_checks() {
    let (log, ids) = story();
    let r = log.run(&["show", &ids[1]]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("· event ·")
            && r.stdout.contains("✅ signed")
            && r.stdout.contains("summary:  blocked pypi requsts"),
        "{}",
        r.stdout
    );
    let j = json(&log.run(&["show", &ids[1], "--json"]));
    assert_eq!(j["record"]["kind"], "event");
    assert_eq!(j["record"]["source"], "sentinel");
    assert_eq!(j["record"]["session"], "s-1");
    assert_eq!(
        j["content"]["summary"],
        "blocked pypi requsts: typosquat of requests"
    );
    assert_eq!(j["signature_valid"], true);
    assert_eq!(j["content_matches"], true);
    let html = log.run(&["show", &ids[1], "--html"]);
    assert_eq!(html.code, 2);
    assert!(html.stderr.contains("is an event"), "{}", html.stderr);
    // A decision's show names its session.
    let d = log.run(&["show", &ids[0]]);
    assert!(d.stdout.contains("session: s-1"), "{}", d.stdout);
}

#[test]
fn edited_event_leaf_is_caught_by_verify_all_and_named() {
    let (log, ids) = story();
    let db = log.db();
    let leaf: Vec<u8> = db
        .query_row("SELECT leaf FROM entries WHERE idx = 1", [], |r| r.get(0))
        .unwrap();
    // Turn the signed "blocked" outcome into "allowed": same length, still canonical JSON.
    let edited = String::from_utf8(leaf)
        .unwrap()
        .replace(r#""outcome":"blocked""#, r#""outcome":"allowed""#);
    assert!(edited.contains("allowed"));
    db.execute(
        "UPDATE entries SET leaf = ?1 WHERE idx = 1",
        [edited.as_bytes()],
    )
    .unwrap();
    let r = log.run(&["verify", "--all"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let first = r
        .stdout
        .lines()
        .find(|l| l.starts_with("❌ first problem"))
        .unwrap_or_default();
    assert!(
        first.contains("entry 1") && first.contains(&ids[1]) && first.contains("signature-invalid"),
        "{}",
        r.stdout
    );
    let one = log.run(&["verify", &ids[1]]);
    assert_eq!(one.code, 1);
    assert!(
        one.stdout.contains("❌ Signature invalid"),
        "{}",
        one.stdout
    );
    // The other records still verify one by one.
    assert_eq!(log.run(&["verify", &ids[2]]).code, 0);
}

#[test]
fn edited_event_summary_is_caught_by_verify_all_and_named() {
    let (log, ids) = story();
    let db = log.db();
    let body: Vec<u8> = db
        .query_row("SELECT body FROM content WHERE idx = 2", [], |r| r.get(0))
        .unwrap();
    let edited = String::from_utf8(body)
        .unwrap()
        .replace("1 write denied", "no write denied");
    db.execute(
        "UPDATE content SET body = ?1 WHERE idx = 2",
        [edited.as_bytes()],
    )
    .unwrap();
    let r = log.run(&["verify", "--all"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("entry 2")
            && r.stdout.contains(&ids[2])
            && r.stdout.contains("summary-mismatch"),
        "{}",
        r.stdout
    );
    let replay = log.run(&["replay", "--session", "s-1"]);
    assert!(replay.stdout.contains("❌ entry 2"), "{}", replay.stdout);
}

#[test]
fn exports_include_events() {
    let (log, ids) = story();
    let export = |profile: &str| -> (std::path::PathBuf, Vec<Value>) {
        let out = log.path(&format!("export-{profile}"));
        let r = log.run(&[
            "export",
            "--profile",
            profile,
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
            "--out",
            p(&out),
        ]);
        assert_eq!(r.code, 0, "{profile}: {}", r.stderr);
        let rows = std::fs::read_to_string(out.join("records.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let v = log.run(&["verify-export", p(&out)]);
        assert_eq!(v.code, 0, "{profile}: {}", v.stdout);
        (out, rows)
    };
    let event_row = |rows: &[Value]| -> Value {
        rows.iter()
            .find(|r| r["execution_id"] == ids[1].as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no row for the event: {rows:?}"))
    };

    let (_, soc2) = export("soc2");
    assert_eq!(soc2.len(), 4);
    let e = event_row(&soc2);
    assert_eq!(e["kind"], "event");
    assert_eq!(e["event_source"], "sentinel");
    assert_eq!(e["event_action"], "block");
    assert_eq!(e["event_outcome"], "blocked");
    assert_eq!(e["session"], "s-1");
    assert_eq!(soc2[0]["session"], "s-1");

    let (_, ai) = export("ai-act");
    assert_eq!(ai.len(), 4, "logs of operation include the tools' events");
    let e = event_row(&ai);
    assert_eq!(e["natural_person"], "alice");
    assert_eq!(e["event_source"], "sentinel");
    // Every row has the same columns, so the CSV and HTML tables line up.
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&ai[0]), keys(&e));

    let (dir, gdpr) = export("gdpr");
    let e = event_row(&gdpr);
    assert_eq!(e["purpose"], "agent tool event (sentinel block)");
    assert_eq!(e["personal_data"], "stored (summary, data)");
    let art30: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("art30.json")).unwrap()).unwrap();
    assert_eq!(art30["purposes"]["agent tool events (sentinel block)"], 1);
    assert!(
        art30["categories_of_personal_data"]
            .to_string()
            .contains("tool event")
    );
}

#[test]
fn erasing_a_subject_erases_its_events_content_and_the_log_still_verifies() {
    let (log, ids) = story();
    let r = log.run(&["erase", "--subject", "alice", "--reason", "art. 17 request"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = log.run(&["verify", "--all"]);
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert!(v.stdout.contains("(4 erased)"), "{}", v.stdout);
    let replay = log.run(&["replay", "--session", "s-1"]);
    assert!(
        !replay.stdout.contains("requsts") && replay.stdout.contains("content:  erased (tombstone"),
        "{}",
        replay.stdout
    );
    let one = log.run(&["verify", &ids[1]]);
    assert_eq!(one.code, 0, "{}", one.stdout);
    assert!(one.stdout.contains("Content erased"), "{}", one.stdout);
}

#[test]
fn a_bad_event_is_refused_with_exit_2_and_nothing_is_written() {
    let log = Log::new();
    let r = log.run(&[
        "record-event",
        "--source",
        "Sentinel!",
        "--action",
        "block",
        "--summary",
        "x",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("event source"), "{}", r.stderr);
    let data = log.write("bad.json", "{not json");
    let r = log.run(&[
        "record-event",
        "--source",
        "babuino",
        "--action",
        "run",
        "--summary",
        "x",
        "--data",
        p(&data),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not valid JSON"), "{}", r.stderr);
    let list = json(&log.run(&["list", "--json"]));
    assert_eq!(list, serde_json::json!([]));
}
