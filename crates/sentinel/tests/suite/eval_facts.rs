//! `sentinel eval`: the PyPI / crates.io leave-one-out `blocked` figure applies the engine's
//! `established` rule to recorded registry facts.
use super::support::{FixtureServer, Sentinel};

/// Two rows copied from `crates/sentinel/eval/registry-facts.tsv` (recorded 2026-11-27 from
/// pypi.org with `sentinel eval --record-facts`): `boto3` is established (first release 2014,
/// 2,160 versions), `griffecli` is young (first release 2026-02-09: 291 days, under 365) although
/// it has 10 versions. Both are flagged leave-one-out (`boto3` → `boto`, `griffecli` → `griffelib`).
const TWO_FACTS: &str = "# fixture: two rows of crates/sentinel/eval/registry-facts.tsv\n\
ecosystem\tname\tfirst_release\tversions\tsource\trecorded\n\
pypi\tboto3\t2014-11-11T20:30:40.057636Z\t2160\thttps://pypi.org/pypi/boto3/json\t2026-11-27T09:44:13Z\n\
pypi\tgriffecli\t2026-02-09T19:09:42.554736Z\t10\thttps://pypi.org/pypi/griffecli/json\t2026-11-27T09:44:13Z\n";

fn eval_pypi(s: &Sentinel, facts: &str) -> serde_json::Value {
    let path = s.work().join("facts.tsv");
    std::fs::write(&path, facts).unwrap();
    let r = s.run(&[
        "eval",
        "--ecosystem",
        "pypi",
        "--json",
        "--facts",
        path.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    j[0].clone()
}

#[test]
fn an_established_look_alike_is_cleared_and_a_young_one_stays_blocked() {
    let s = Sentinel::unreachable();
    let c = eval_pypi(&s, TWO_FACTS);
    let flagged = c["fp_leave_one_out"].as_u64().unwrap();
    assert!(flagged > 100, "{c}");
    // Only boto3 is cleared; griffecli and every name without facts stay blocked.
    assert_eq!(c["fp_leave_one_out_cleared"], 1, "{c}");
    assert_eq!(
        c["fp_leave_one_out_blocked"].as_u64(),
        Some(flagged - 1),
        "{c}"
    );
    assert_eq!(
        c["fp_leave_one_out_no_facts"].as_u64(),
        Some(flagged - 2),
        "{c}"
    );
    let blocked: Vec<&str> = c["fp_blocked_examples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(!blocked.iter().any(|e| e.starts_with("boto3 ")), "{c}");

    // With only the young row nothing is cleared: the rule, not the presence of a row, decides.
    let young: String = TWO_FACTS
        .lines()
        .filter(|l| !l.contains("boto3"))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = eval_pypi(&s, &young);
    assert_eq!(c["fp_leave_one_out_cleared"], 0, "{c}");
    assert_eq!(c["fp_leave_one_out_blocked"].as_u64(), Some(flagged), "{c}");
}

#[test]
fn the_built_in_facts_bring_pypi_and_crates_below_the_name_only_figure() {
    let s = Sentinel::unreachable();
    let r = s.run(&["eval", "--ecosystem", "crates.io", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let c = &j[0];
    let flagged = c["fp_leave_one_out"].as_u64().unwrap();
    let blocked = c["fp_leave_one_out_blocked"].as_u64().unwrap();
    // The flagged crates have recorded facts (a detection change that flags new names needs
    // `sentinel eval --record-facts crates/sentinel/eval/registry-facts.tsv`), and most are
    // established neighbours.
    let no_facts = c["fp_leave_one_out_no_facts"].as_u64().unwrap();
    assert!(
        no_facts * 10 <= flagged,
        "{no_facts} flagged crates have no recorded facts: re-record them; {c}"
    );
    assert!(blocked * 2 < flagged, "{c}");
    assert!(c["facts"].as_str().unwrap().contains("established"), "{c}");
}

#[test]
fn a_malformed_facts_file_is_a_clear_error() {
    let s = Sentinel::unreachable();
    let path = s.work().join("bad.tsv");
    std::fs::write(
        &path,
        "pypi\tboto3\tyesterday\t12\tx\t2026-11-27T00:00:00Z\n",
    )
    .unwrap();
    let r = s.run(&[
        "eval",
        "--ecosystem",
        "pypi",
        "--facts",
        path.to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("registry facts line 1"), "{}", r.stderr);
    assert!(
        r.stderr.contains("first release `yesterday`"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    // Recording needs the network: with --offline it is a usage error and writes nothing.
    let out = s.work().join("never.tsv");
    let r = s.run(&["--offline", "eval", "--record-facts", out.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("drop --offline"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn record_facts_reads_the_registry_with_the_engine_client() {
    // A corpus where `flask` and `flasks` flag each other leave-one-out. The loopback registry
    // has flask's recorded document (64 versions, first upload 2010-04-16) and no `flasks`.
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let corpus = s.dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(
        corpus.join("pypi.tsv"),
        "name\trank\nflasks\t1\nflask\t2\nrequests\t3\n",
    )
    .unwrap();
    let out = s.work().join("facts.tsv");
    let r = s.run(&[
        "--corpus-dir",
        corpus.to_str().unwrap(),
        "eval",
        "--ecosystem",
        "pypi",
        "--json",
        "--record-facts",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(server.hits("/pypi/pypi/flask/json"), 1);
    assert!(r.stderr.contains("no facts: pypi:flasks"), "{}", r.stderr);
    let tsv = std::fs::read_to_string(&out).unwrap();
    let row = tsv
        .lines()
        .find(|l| l.starts_with("pypi\tflask\t"))
        .unwrap_or_else(|| panic!("{tsv}"));
    let cols: Vec<&str> = row.split('\t').collect();
    assert_eq!(cols[2], "2010-04-16T14:29:37.458396Z", "{row}");
    assert_eq!(cols[3], "64", "{row}");
    assert_eq!(
        cols[4],
        format!("{}/pypi/pypi/flask/json", server.url),
        "{row}"
    );
    assert!(!tsv.contains("\tflasks\t"), "{tsv}");
    // The evaluation then uses what it recorded: flask is established, flasks has no facts.
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let c = &j[0];
    assert_eq!(c["fp_leave_one_out"], 2, "{c}");
    assert_eq!(c["fp_leave_one_out_cleared"], 1, "{c}");
    assert_eq!(c["fp_leave_one_out_blocked"], 1, "{c}");
    assert_eq!(c["fp_leave_one_out_no_facts"], 1, "{c}");
}
