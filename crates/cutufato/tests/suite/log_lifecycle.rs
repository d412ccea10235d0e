//! Erasure, key rotation, exports with signed manifests, and the library API.

use cutufato::{Auditor, ContextChunk, Decision};

use super::log_util::{Log, p};

#[test]
fn erase_subject_destroys_content_keeps_the_tree_and_logs_a_tombstone() {
    let log = Log::new();
    // The actor (an employee, kept for accountability) differs from the data subject.
    let a1 = log.record_as(1, "alice", Some("user-123"));
    let b = log.record(2, "bob");
    let a2 = log.record_as(3, "alice", Some("user-123"));
    let r = log.run(&[
        "erase",
        "--subject",
        "user-123",
        "--reason",
        "art. 17 request",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["erased"], serde_json::json!([a1, a2]));
    assert_eq!(out["index"], 3);
    let tomb = out["tombstone"].as_str().unwrap().to_owned();

    // The text is gone from the database file (secure_delete + WAL checkpoint)…
    let raw = std::fs::read(log.dir.join("log.db")).unwrap();
    let needle = b"Question 1: what is the notice period?";
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "erased prompt still in log.db"
    );
    let wal = std::fs::read(log.dir.join("log.db-wal")).unwrap_or_default();
    assert!(
        !wal.windows(needle.len()).any(|w| w == needle),
        "erased prompt still in the WAL"
    );
    assert!(
        !raw.windows(8).any(|w| w == b"user-123"),
        "subject id still in log.db"
    );
    // …the log still verifies, the erased record says who erased it, the others are intact.
    let r = log.run(&["verify", "--all"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("(2 erased)"), "{}", r.stdout);
    let r = log.run(&["verify", &a1]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("Content erased (tombstone {tomb})")),
        "{}",
        r.stdout
    );
    let r = log.run(&["verify", &b]);
    assert!(
        r.stdout.contains("match their signed hashes"),
        "{}",
        r.stdout
    );
    let r = log.run(&["verify", &tomb]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // Erasing again: nothing left for that subject.
    let r = log.run(&["erase", "--subject", "user-123"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("no records for subject"), "{}", r.stderr);
    // Deleting content without a tombstone is tampering.
    log.db()
        .execute("DELETE FROM content WHERE idx = 1", [])
        .unwrap();
    let r = log.run(&["verify", &b]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("no erasure tombstone"), "{}", r.stdout);
}

#[test]
fn rotated_key_keeps_old_records_verifying() {
    let log = Log::new();
    let old_key = log.run(&["key", "export"]).stdout.trim().to_owned();
    let before = log.record(1, "alice");
    let r = log.run(&["key", "rotate"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let new_key = r.stdout.trim().to_owned();
    assert_ne!(new_key, old_key);
    let after = log.record(2, "alice");
    assert_eq!(log.run(&["verify", "--all"]).code, 0);
    let keys = log.run(&["key", "export"]).stdout;
    assert_eq!(keys.lines().next().unwrap(), new_key, "current key first");
    assert!(keys.contains(&old_key));
    // Old record: signed by the old key. New record: only the new key verifies it.
    let r = log.run(&["verify", &before]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let leaf = |id: &str| {
        Auditor::open(&log.dir)
            .unwrap()
            .get(id)
            .unwrap()
            .entry
            .key_id
    };
    assert_ne!(leaf(&before), leaf(&after));
    let only_old = log.write("old.keys", &old_key);
    let r = log.run(&["verify", &after, "--key", p(&only_old)]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    // The rotation itself is in the log, signed by the old key.
    let a = Auditor::open(&log.dir).unwrap();
    let rot = a.get_index(1).unwrap();
    assert_eq!(rot.entry.body.kind(), "key-rotation");
    assert_eq!(rot.entry.key_id, leaf(&before));
    drop(a);
    // Someone who kept (or stole) the retired key signs a new record with it: its signature is
    // valid, but the log had rotated away from that key.
    let retired = std::fs::read_dir(&log.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".retired"))
        .unwrap();
    std::fs::copy(&retired, log.dir.join("signing.key")).unwrap();
    let late = log.record(3, "mallory");
    let r = log.run(&["verify", "--all"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("entry 3") && r.stdout.contains("retired-key"),
        "{}",
        r.stdout
    );
    assert!(!late.is_empty());
}

#[test]
fn exports_have_signed_manifests_and_tampered_exports_fail() {
    let log = Log::new();
    for i in 0..4 {
        log.record(i, if i == 0 { "user-9" } else { "alice" });
    }
    assert_eq!(log.run(&["erase", "--subject", "user-9"]).code, 0);
    for (profile, format, rows) in [
        ("soc2", "csv", 5),
        ("gdpr", "jsonl", 5),
        ("ai-act", "html", 4),
    ] {
        let out = log.path(&format!("audit-{profile}"));
        let r = log.run(&[
            "export",
            "--profile",
            profile,
            "--from",
            "2000-01-01",
            "--to",
            "2100-12-31",
            "--format",
            format,
            "--out",
            p(&out),
            "--controller",
            "Example Law LLP",
        ]);
        assert_eq!(r.code, 0, "{profile}: {}", r.stderr);
        let r = log.run(&["verify-export", p(&out)]);
        assert_eq!(r.code, 0, "{profile}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains(&format!(
                "records.{format} matches its signed hash ({rows} row(s))"
            )),
            "{profile}: {}",
            r.stdout
        );
        let manifest = std::fs::read_to_string(out.join("manifest.note")).unwrap();
        let m: serde_json::Value = serde_json::from_str(manifest.lines().next().unwrap()).unwrap();
        assert_eq!(m["row_count"], rows);
        // Drop one row: the manifest catches it.
        let f = out.join(format!("records.{format}"));
        let text = std::fs::read_to_string(&f).unwrap();
        let cut = match format {
            "html" => text.replacen("<tr class=\"row\">", "<tr class=\"gone\">", 1),
            _ => {
                let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
                lines.remove(lines.len() - 1);
                lines.concat()
            }
        };
        std::fs::write(&f, cut).unwrap();
        let r = log.run(&["verify-export", p(&out)]);
        assert_eq!(
            r.code, 1,
            "{profile}: tampered export accepted: {}",
            r.stdout
        );
        assert!(r.stderr.contains("changed after export"), "{}", r.stderr);
    }
    let gdpr = log.path("audit-gdpr");
    let art30: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(gdpr.join("art30.json")).unwrap()).unwrap();
    assert_eq!(art30["controller"], "Example Law LLP");
    assert_eq!(art30["erasures_in_period"], 1);
    assert_eq!(art30["purposes"]["contract review"], 4);
    let html = std::fs::read_to_string(log.path("audit-ai-act").join("records.html")).unwrap();
    assert!(
        html.contains("<th>natural person</th>") && html.contains("contract.pdf p.7 l.2"),
        "{html}"
    );
    // A manifest signed by another key is rejected.
    let other = Log::new();
    let key = other.run(&["key", "export"]).stdout;
    let r = log.run(&[
        "verify-export",
        p(&log.path("audit-gdpr")),
        "--key",
        key.trim(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
}

#[test]
fn empty_export_range_is_an_error_not_an_empty_file() {
    let log = Log::new();
    log.record(1, "alice");
    let out = log.path("empty");
    let r = log.run(&[
        "export",
        "--profile",
        "ai-act",
        "--from",
        "2001-01-01",
        "--to",
        "2001-06-30",
        "--format",
        "csv",
        "--out",
        p(&out),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no ai-act records between 2001-01-01 and 2001-06-30"),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "nothing may be written for an empty range");
    let r = log.run(&[
        "export",
        "--profile",
        "soc2",
        "--from",
        "2026-06-30",
        "--to",
        "2026-01-01",
        "--out",
        p(&out),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn library_records_in_one_line_and_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Auditor::init(tmp.path().join("l"), Some("example.com/lib")).unwrap();
    let id = log
        .record(
            Decision::new("What is the fee?", "The fee is 5%.", "gpt-x")
                .actor("alice")
                .context(vec![ContextChunk {
                    doc_id: "fees.md".into(),
                    line: Some(3),
                    text: "Fee: 5 percent.".into(),
                    ..ContextChunk::default()
                }]),
        )
        .unwrap();
    let batch: Vec<Decision> = (0..100)
        .map(|i| Decision::new(format!("q{i}"), format!("a{i}"), "gpt-x"))
        .collect();
    let ids = log.record_batch(batch).unwrap();
    assert_eq!(ids.len(), 100);
    assert_eq!(log.size(), 101);
    let trusted = log.trusted_keys().unwrap();
    let r = log.verify_record(&id, &trusted, &[]).unwrap();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    let all = log.verify_all(&trusted, &[], |_, _| {}).unwrap();
    assert!(all.findings.is_empty(), "{:?}", all.findings);
    assert_eq!(all.entries, 101);
    let bad = Decision {
        attribution_confidence: Some(1.5),
        ..Decision::new("q", "a", "m")
    };
    assert!(log.record(bad).is_err());
    assert_eq!(log.size(), 101, "a rejected record leaves no trace");
}

#[test]
fn two_writers_on_one_log_interleave_without_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let mut a = Auditor::init(&dir, Some("example.com/two")).unwrap();
    let mut b = Auditor::open(&dir).unwrap();
    a.record(Decision::new("qa1", "aa1", "m")).unwrap();
    b.record(Decision::new("qb1", "ab1", "m")).unwrap();
    a.record_batch(
        (0..70)
            .map(|i| Decision::new(format!("q{i}"), "a", "m"))
            .collect(),
    )
    .unwrap();
    b.record(Decision::new("qb2", "ab2", "m")).unwrap();
    assert_eq!(b.size(), 73);
    let r = a
        .verify_all(&a.trusted_keys().unwrap(), &[], |_, _| {})
        .unwrap();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.entries, 73);
}
