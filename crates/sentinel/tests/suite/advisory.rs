//! Offline advisories: import of the real OSV fixture dumps into a real SQLite store, every row
//! of the hand-checked `cases.tsv`, the store against the record-by-record reference evaluation,
//! idempotence, withdrawn records, and malformed inputs that must leave the store unchanged.
use std::io::Write;
use std::path::{Path, PathBuf};

use sentinel::advisory::import::{Progress, import_path};
use sentinel::advisory::reference::Reference;
use sentinel::advisory::version::Scheme;
use sentinel::advisory::{AdvisoryError, Level, Store};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv")
}

pub const ECOS: [&str; 4] = ["PyPI", "npm", "crates.io", "Go"];

pub fn full_store(dir: &Path) -> Store {
    let mut store = Store::open(&dir.join("advisories.db")).expect("open store");
    for eco in ECOS {
        import_path(
            &mut store,
            &fixtures().join(eco).join("all.zip"),
            Progress::Quiet,
        )
        .expect("import fixture dump");
    }
    store
}

pub fn reference() -> Reference {
    let mut r = Reference::default();
    for eco in ECOS {
        r.load_zip(&fixtures().join(eco).join("all.zip"))
            .expect("load reference");
    }
    r
}

pub struct Case {
    pub eco: String,
    pub name: String,
    pub version: String,
    pub expected: Vec<String>,
    pub why: String,
}

pub fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("cases.tsv")).expect("cases.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 5, "bad cases.tsv row: {l}");
            let expected = if f[3] == "-" {
                vec![]
            } else {
                f[3].split(',').map(str::to_owned).collect()
            };
            Case {
                eco: f[0].into(),
                name: f[1].into(),
                version: f[2].into(),
                expected,
                why: f[4].into(),
            }
        })
        .collect()
}

fn record_count(store: &Store) -> u64 {
    store.status().expect("status").records
}

#[test]
fn every_hand_checked_case_matches_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = full_store(dir.path());
    let cases = cases();
    assert_eq!(cases.len(), 59, "cases.tsv rows");
    let mut failures = Vec::new();
    for c in &cases {
        let report = store
            .lookup(&c.eco, &c.name, Some(&c.version))
            .expect("lookup");
        let mut got: Vec<String> = report.hits.iter().map(|h| h.id.clone()).collect();
        got.sort();
        if got != c.expected {
            failures.push(format!(
                "{} {}@{}: got {:?}, expected {:?} ({})",
                c.eco, c.name, c.version, got, c.expected, c.why
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_hand_checked_case_matches_the_reference_evaluation() {
    let r = reference();
    for c in cases() {
        assert_eq!(
            r.affecting(&c.eco, &c.name, &c.version),
            c.expected,
            "{} {}@{} ({})",
            c.eco,
            c.name,
            c.version,
            c.why
        );
    }
}

/// Every package of the fixtures, at every version any record names (plus a few around them):
/// the indexed store and the literal reference evaluation agree.
#[test]
fn store_agrees_with_reference_on_every_named_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = full_store(dir.path());
    let r = reference();
    let mut probes = std::collections::BTreeSet::new();
    for rec in &r.records {
        for a in &rec.affected {
            let Some(p) = &a.package else { continue };
            if !ECOS.contains(&p.ecosystem.as_str()) {
                continue;
            }
            let mut versions: Vec<String> = a.versions.clone();
            for range in &a.ranges {
                for e in &range.events {
                    versions.extend(
                        [&e.introduced, &e.fixed, &e.last_affected]
                            .into_iter()
                            .flatten()
                            .cloned(),
                    );
                }
            }
            versions.extend(["0.0.1".to_owned(), "99.0.0".to_owned()]);
            for v in versions {
                probes.insert((p.ecosystem.clone(), p.name.clone(), v));
            }
        }
    }
    assert!(probes.len() > 3000, "probe set too small: {}", probes.len());
    let mut checked = 0;
    for (eco, name, v) in &probes {
        let mut got: Vec<String> = store
            .lookup(eco, name, Some(v))
            .expect("lookup")
            .hits
            .into_iter()
            .map(|h| h.id)
            .collect();
        got.sort();
        assert_eq!(got, r.affecting(eco, name, v), "{eco} {name}@{v}");
        checked += 1;
    }
    assert_eq!(checked, probes.len());
}

#[test]
fn malicious_reports_block_every_version_and_carry_details() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = full_store(dir.path());
    // No version: a MAL record with `introduced: 0` affects the package as such.
    let r = store.lookup("PyPI", "rllib3", None).expect("lookup");
    assert!(r.malicious());
    assert_eq!(r.hits[0].id, "MAL-2023-2187");
    assert_eq!(r.hits[0].affected, vec!["all versions".to_owned()]);
    assert_eq!(
        r.nearest_safe, None,
        "no version of a malicious package is safe"
    );
    // RustSec's malicious category counts as malicious.
    let r = store
        .lookup("crates.io", "rustdecimal", Some("1.23.1"))
        .expect("lookup");
    assert!(r.malicious() && r.hits[0].id == "RUSTSEC-2022-0042");
    // A compromised release only: the neighbours are fine.
    assert!(
        store
            .lookup("npm", "chalk", Some("5.6.1"))
            .expect("lookup")
            .malicious()
    );
    assert!(
        store
            .lookup("npm", "chalk", Some("5.6.0"))
            .expect("lookup")
            .hits
            .is_empty()
    );
    // Withdrawn false positive on a famous name is not reported at all.
    assert!(
        store
            .lookup("npm", "react", None)
            .expect("lookup")
            .hits
            .is_empty()
    );
}

#[test]
fn vulnerabilities_carry_severity_fixes_and_nearest_safe_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = full_store(dir.path());
    let r = store
        .lookup("PyPI", "jinja2", Some("2.10"))
        .expect("lookup");
    assert!(!r.malicious());
    assert!(
        r.hits.len() >= 3,
        "jinja2 2.10 has several advisories: {:?}",
        r.hits
    );
    let ghsa = r
        .hits
        .iter()
        .find(|h| h.id == "GHSA-h5c8-rqwp-cp95")
        .expect("GHSA-h5c8 affects 2.10");
    assert_eq!(ghsa.fixed, vec!["3.1.3".to_owned()]);
    assert!(
        ghsa.aliases.contains(&"CVE-2024-22195".to_owned()),
        "{:?}",
        ghsa.aliases
    );
    assert!(
        ghsa.score.is_some() && ghsa.severity >= Level::Medium,
        "{ghsa:?}"
    );
    // The nearest version no advisory affects is the last fix.
    assert_eq!(r.nearest_safe.as_deref(), Some("3.1.3"));
    // Hits are ordered most severe first.
    assert!(r.hits.windows(2).all(|w| w[0].severity >= w[1].severity));
    // Without a version: every advisory with its affected ranges and the safe version.
    let all = store.lookup("npm", "minimist", None).expect("lookup");
    assert!(all.hits.len() >= 2);
    assert!(all.hits.iter().all(|h| !h.affected.is_empty()));
    assert_eq!(all.nearest_safe.as_deref(), Some("1.2.6"));
    // A vulnerable version just below a fix: the nearest safe is that fix.
    let r = store
        .lookup("npm", "minimist", Some("0.2.1"))
        .expect("lookup");
    assert_eq!(r.nearest_safe.as_deref(), Some("0.2.4"));
    // No fix exists (RUSTSEC-2023-0071, rsa): nearest safe is unknown.
    assert_eq!(
        store
            .lookup("crates.io", "rsa", Some("0.9.7"))
            .expect("lookup")
            .nearest_safe,
        None
    );
}

#[test]
fn unparsable_version_is_treated_as_affected_and_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = full_store(dir.path());
    let r = store
        .lookup("PyPI", "jinja2", Some("not.a-version!"))
        .expect("lookup");
    assert!(!r.hits.is_empty());
    assert!(r.hits.iter().all(|h| {
        h.uncertain
            .as_deref()
            .is_some_and(|u| u.contains("not a valid version"))
    }));
    // The steam record's fix "2019-09-12" is not PEP 440: the range stays open and says so.
    let r = store
        .lookup("PyPI", "steam", Some("1.0.0"))
        .expect("lookup");
    let h = r
        .hits
        .iter()
        .find(|h| h.id == "PYSEC-2019-125")
        .expect("steam record");
    assert!(
        h.uncertain
            .as_deref()
            .is_some_and(|u| u.contains("2019-09-12")),
        "{h:?}"
    );
    assert!(Scheme::Pep440.parse("2019-09-12").is_none());
}

#[test]
fn import_is_idempotent_and_status_counts_per_ecosystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("a.db")).expect("open");
    let zip = fixtures().join("npm/all.zip");
    let first = import_path(&mut store, &zip, Progress::Quiet).expect("first import");
    assert_eq!(first.read, 151);
    assert_eq!(first.withdrawn, 14);
    assert_eq!(first.inserted, 151 - 14);
    let second = import_path(&mut store, &zip, Progress::Quiet).expect("second import");
    assert_eq!(
        (
            second.read,
            second.inserted,
            second.updated,
            second.unchanged
        ),
        (151, 0, 0, 137)
    );
    let status = store.status().expect("status");
    assert_eq!(status.records, 137);
    let npm = status
        .ecosystems
        .iter()
        .find(|e| e.ecosystem == "npm")
        .expect("npm status");
    assert_eq!(npm.records, 137);
    assert_eq!(npm.malicious, 118 - 14);
    assert_eq!(npm.newest_modified.as_deref(), Some("2025-09-12T01:13:34Z"));
    assert!(npm.age_seconds.is_some_and(|a| (0..60).contains(&a)));
    assert!(
        npm.source
            .as_deref()
            .is_some_and(|s| s.ends_with("all.zip"))
    );
}

#[test]
fn imports_a_directory_of_records_and_newer_revisions_replace_older() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs = dir.path().join("records/sub");
    std::fs::create_dir_all(&recs).expect("mkdir");
    let rec = |modified: &str, fixed: &str, withdrawn: bool| {
        format!(
            r#"{{"id":"GHSA-test-0001","modified":"{modified}",{w}"summary":"test advisory","affected":[{{"package":{{"ecosystem":"npm","name":"Left-Pad"}},"ranges":[{{"type":"SEMVER","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]}}"#,
            w = if withdrawn {
                r#""withdrawn":"2025-01-03T00:00:00Z","#
            } else {
                ""
            }
        )
    };
    std::fs::write(
        recs.join("GHSA-test-0001.json"),
        rec("2025-01-01T00:00:00Z", "1.1.0", false),
    )
    .expect("write");
    std::fs::write(dir.path().join("records/notes.txt"), "not a record").expect("write");
    let mut store = Store::open(&dir.path().join("a.db")).expect("open");
    let s =
        import_path(&mut store, &dir.path().join("records"), Progress::Quiet).expect("import dir");
    assert_eq!((s.read, s.inserted), (1, 1));
    assert_eq!(
        store
            .lookup("npm", "left-pad", Some("1.0.0"))
            .expect("lookup")
            .hits
            .len(),
        1
    );
    // A newer revision moves the fix; an older one is ignored.
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, rec("2025-01-02T00:00:00Z", "1.0.0", false)).expect("write");
    assert_eq!(
        import_path(&mut store, &newer, Progress::Quiet)
            .expect("import")
            .updated,
        1
    );
    assert!(
        store
            .lookup("npm", "left-pad", Some("1.0.0"))
            .expect("lookup")
            .hits
            .is_empty()
    );
    let older = dir.path().join("older.json");
    std::fs::write(&older, rec("2024-12-31T00:00:00Z", "9.0.0", false)).expect("write");
    assert_eq!(
        import_path(&mut store, &older, Progress::Quiet)
            .expect("import")
            .unchanged,
        1
    );
    assert!(
        store
            .lookup("npm", "left-pad", Some("1.0.0"))
            .expect("lookup")
            .hits
            .is_empty()
    );
    // Withdrawal drops it.
    let gone = dir.path().join("gone.json");
    std::fs::write(&gone, rec("2025-01-03T00:00:00Z", "1.0.0", true)).expect("write");
    assert_eq!(
        import_path(&mut store, &gone, Progress::Quiet)
            .expect("import")
            .withdrawn,
        1
    );
    assert!(
        store
            .lookup("npm", "left-pad", Some("0.1.0"))
            .expect("lookup")
            .hits
            .is_empty()
    );
    assert_eq!(record_count(&store), 0);
}

fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        for (name, bytes) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .expect("zip entry");
            w.write_all(bytes).expect("zip write");
        }
        w.finish().expect("zip finish");
    }
    buf.into_inner()
}

#[test]
fn malformed_record_in_a_zip_names_the_file_and_leaves_the_store_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("a.db")).expect("open");
    import_path(
        &mut store,
        &fixtures().join("crates.io/all.zip"),
        Progress::Quiet,
    )
    .expect("import");
    let before = store.status().expect("status");
    let cases: Vec<(&str, &[u8], &str)> = vec![
        (
            "BAD-1.json",
            b"{\"id\": \"BAD-1\", \"modified\": ",
            "BAD-1.json",
        ),
        (
            "BAD-2.json",
            br#"{"id":"BAD-2","modified":"yesterday"}"#,
            "RFC 3339",
        ),
        (
            "BAD-3.json",
            br#"{"id":"BAD-3","modified":"2024-01-01T00:00:00Z","affected":{"oops":1}}"#,
            "BAD-3.json",
        ),
        (
            "BAD-4.json",
            br#"{"modified":"2024-01-01T00:00:00Z"}"#,
            "missing field `id`",
        ),
    ];
    for (name, bytes, needle) in cases {
        // A valid record first, so a partial import would be visible.
        let ok = br#"{"id":"GHSA-okok-okok-okok","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"},"versions":["1.0.0"]}]}"#;
        let path = dir.path().join(format!("{name}.zip"));
        std::fs::write(
            &path,
            zip_with(&[("GHSA-okok-okok-okok.json", ok), (name, bytes)]),
        )
        .expect("write zip");
        let err = import_path(&mut store, &path, Progress::Quiet).expect_err("must fail");
        assert!(
            matches!(err, AdvisoryError::MalformedRecord { .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(needle), "{msg}");
        assert_eq!(
            store.status().expect("status"),
            before_with_age(&before, &store)
        );
        assert!(
            store
                .lookup("npm", "x", Some("1.0.0"))
                .expect("lookup")
                .hits
                .is_empty()
        );
    }
}

/// `status` again, with the ages taken from `now` (they move with the clock).
fn before_with_age(
    before: &sentinel::advisory::store::Status,
    store: &Store,
) -> sentinel::advisory::store::Status {
    let now = store.status().expect("status");
    let mut b = before.clone();
    for (x, y) in b.ecosystems.iter_mut().zip(now.ecosystems.iter()) {
        x.age_seconds = y.age_seconds;
    }
    b
}

#[test]
fn corrupt_or_truncated_zip_is_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("a.db")).expect("open");
    import_path(&mut store, &fixtures().join("Go/all.zip"), Progress::Quiet).expect("import");
    let before = store.status().expect("status").records;
    let whole = std::fs::read(fixtures().join("PyPI/all.zip")).expect("read");
    // Truncated: the central directory is gone.
    let truncated = dir.path().join("truncated.zip");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).expect("write");
    let err = import_path(&mut store, &truncated, Progress::Quiet).expect_err("truncated zip");
    assert!(matches!(err, AdvisoryError::MalformedZip { .. }), "{err}");
    assert!(err.to_string().contains("truncated.zip"), "{err}");
    // Garbage with a .zip name.
    let garbage = dir.path().join("garbage.zip");
    std::fs::write(&garbage, b"this is not a zip file at all").expect("write");
    assert!(matches!(
        import_path(&mut store, &garbage, Progress::Quiet),
        Err(AdvisoryError::MalformedZip { .. })
    ));
    // Corrupted compressed data inside an entry (CRC or inflate error) after some good ones.
    let mut corrupt = whole.clone();
    let mid = corrupt.len() / 2;
    for b in &mut corrupt[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let corrupt_path = dir.path().join("corrupt.zip");
    std::fs::write(&corrupt_path, &corrupt).expect("write");
    assert!(import_path(&mut store, &corrupt_path, Progress::Quiet).is_err());
    // Not a known source at all.
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "hello").expect("write");
    assert!(matches!(
        import_path(&mut store, &txt, Progress::Quiet),
        Err(AdvisoryError::UnknownSource { .. })
    ));
    assert!(matches!(
        import_path(&mut store, &dir.path().join("missing.zip"), Progress::Quiet),
        Err(AdvisoryError::Io { .. })
    ));
    assert_eq!(store.status().expect("status").records, before);
    assert!(!store.has_ecosystem("PyPI").expect("has"));
}

#[test]
fn severity_comes_from_an_alias_when_the_record_has_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs = dir.path().join("recs");
    std::fs::create_dir_all(&recs).expect("mkdir");
    // A PYSEC-style record without severity, and the GHSA record of the same flaw with a vector.
    std::fs::write(
        recs.join("PYSEC-9999-1.json"),
        r#"{"id":"PYSEC-9999-1","modified":"2024-01-01T00:00:00Z","aliases":["GHSA-aaaa-bbbb-cccc","CVE-2099-1"],"details":"first line of details\nmore","affected":[{"package":{"ecosystem":"PyPI","name":"Demo_Pkg"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.2"}]}]}]}"#,
    )
    .expect("write");
    std::fs::write(
        recs.join("GHSA-aaaa-bbbb-cccc.json"),
        r#"{"id":"GHSA-aaaa-bbbb-cccc","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2099-1"],"summary":"demo","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"PyPI","name":"demo-pkg"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.2"}]}]}]}"#,
    )
    .expect("write");
    let mut store = Store::open(&dir.path().join("a.db")).expect("open");
    import_path(&mut store, &recs, Progress::Quiet).expect("import");
    let r = store
        .lookup("PyPI", "demo.pkg", Some("1.1"))
        .expect("lookup");
    let pysec = r
        .hits
        .iter()
        .find(|h| h.id == "PYSEC-9999-1")
        .expect("PYSEC hit");
    assert_eq!(pysec.severity, Level::Critical);
    assert_eq!(pysec.score, Some(9.8));
    assert!(
        pysec
            .vector
            .as_deref()
            .is_some_and(|v| v.contains("from GHSA-aaaa-bbbb-cccc")),
        "{pysec:?}"
    );
    // No summary: the first line of the details stands in.
    assert_eq!(pysec.summary.as_deref(), Some("first line of details"));
    assert_eq!(r.nearest_safe.as_deref(), Some("1.2"));
    assert!(
        store
            .lookup("PyPI", "demo-pkg", Some("1.2"))
            .expect("lookup")
            .hits
            .is_empty()
    );
}
