//! Attribution, documents and eval, driven through the real `cutufato` binary.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cutufato::documents::pdf::text_pdf;
use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cutufato"))
            .args(args)
            .env("CUTUFATO_DIR", self.path("log"))
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }
    fn json(&self, args: &[&str]) -> (Value, i32) {
        let out = self.run(args);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                stderr(&out)
            )
        });
        (v, out.status.code().unwrap())
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A three-page contract: page 2 line 3 holds the expiry date.
fn contract_pdf(env: &Env) -> PathBuf {
    let pages: Vec<Vec<&str>> = vec![
        vec![
            "SERVICE AGREEMENT",
            "between Acme Corp and Globex Ltd",
            "signed in Lisbon",
        ],
        vec![
            "Section 4. Term",
            "This agreement starts on 2024-01-01.",
            "The contract expires on 2025-12-31.",
            "Either party may terminate it with 90 days notice.",
        ],
        vec![
            "Section 9. Fees",
            "The monthly fee is 1,250 euros, payable in advance.",
        ],
    ];
    env.write("contract_2024.pdf", text_pdf(&pages).unwrap())
}

#[test]
fn pdf_sentence_cites_exact_page_and_line() {
    let env = Env::new();
    let pdf = contract_pdf(&env);
    let (added, code) = env.json(&["docs", "add", s(&pdf), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(added[0]["pages"], 3);
    assert_eq!(added[0]["lines"], 9);
    assert_eq!(added[0]["extractor"]["name"], "cutufato-pdf-lines");
    // Chunks of up to 4 lines: the date is the third line of page 2's chunk.
    let chunks = env.run(&["docs", "chunks", "contract_2024.pdf", "--max-lines", "4"]);
    assert!(chunks.status.success(), "{}", stderr(&chunks));
    let chunks_path = env.write("chunks.json", &chunks.stdout);
    let answer = env.write(
        "answer.txt",
        "The contract expires on 2025-12-31. The monthly fee is 1,250 euros.",
    );
    let (att, code) = env.json(&[
        "attribute",
        "--context",
        s(&chunks_path),
        "--response",
        s(&answer),
        "--json",
    ]);
    assert_eq!(code, 0, "{att}");
    let first = &att["sentences"][0]["sources"][0];
    assert_eq!(first["doc_id"], "contract_2024.pdf");
    assert_eq!(
        (first["page"].as_u64(), first["line"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(
        first["evidence_text"],
        "The contract expires on 2025-12-31."
    );
    let second = &att["sentences"][1]["sources"][0];
    assert_eq!(
        (second["page"].as_u64(), second["line"].as_u64()),
        (Some(3), Some(2))
    );
    // Human output in the documented shape.
    let out = env.run(&[
        "attribute",
        "--context",
        s(&chunks_path),
        "--response",
        s(&answer),
    ]);
    assert!(
        stdout(&out).contains("← contract_2024.pdf p.2 l.3 (1.00)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_finds_chunks_at_their_place_and_names_the_ones_that_are_not() {
    let env = Env::new();
    let pdf = contract_pdf(&env);
    assert!(env.run(&["docs", "add", s(&pdf)]).status.success());
    let sha = cutufato::documents::sha256_hex(&std::fs::read(&pdf).unwrap());
    let good = serde_json::json!([
        {"text": "The contract expires on 2025-12-31.", "doc_id": "contract_2024.pdf", "doc_sha256": sha, "page": 2, "line": 3}
    ]);
    let good_path = env.write("good.json", good.to_string());
    let out = env.run(&["docs", "verify", "--context", s(&good_path)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // Wrong line, altered text, unknown document: each named.
    let bad = serde_json::json!([
        {"text": "The contract expires on 2025-12-31.", "doc_sha256": sha, "page": 2, "line": 2},
        {"text": "The contract expires on 2026-12-31.", "doc_sha256": sha, "page": 2, "line": 3},
        {"text": "The contract expires on 2025-12-31.", "doc_sha256": sha, "page": 7, "line": 1},
        {"text": "x", "doc_id": "nowhere.pdf", "page": 1, "line": 1}
    ]);
    let bad_path = env.write("bad.json", bad.to_string());
    let out = env.run(&["docs", "verify", "--context", s(&bad_path)]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL  chunk 0: contract_2024.pdf p.2 l.2 reads"),
        "{text}"
    );
    assert!(text.contains("FAIL  chunk 1:"), "{text}");
    assert!(
        text.contains("has 3 pages; the chunk cites page 7"),
        "{text}"
    );
    assert!(text.contains("nowhere.pdf is not in the store"), "{text}");
    assert!(text.contains("0 of 4 chunks"), "{text}");
    // Tampering with the stored original is caught too.
    std::fs::write(
        env.path("log")
            .join("documents")
            .join(format!("{sha}.orig")),
        b"%PDF-1.5 forged",
    )
    .unwrap();
    let out = env.run(&["docs", "verify", "--context", s(&good_path)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("no longer match their hash"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn markdown_text_and_html_lines_are_numbered_as_documented() {
    let env = Env::new();
    let md = env.write(
        "policy.md",
        "# Renewal policy\n\nContracts renew every year.\n\nNotice: 90 days.\n",
    );
    let txt = env.write(
        "notes.txt",
        "page one\n\x0Cfirst of page two\nsecond of page two\n",
    );
    let html = env.write(
        "faq.html",
        "<html><head><style>p{}</style></head><body><h1>FAQ</h1><p>Refunds take\n 14 days.</p><p>Support &amp; sales</p></body></html>",
    );
    assert!(
        env.run(&["docs", "add", s(&md), s(&txt), s(&html)])
            .status
            .success()
    );
    let show = |id: &str| stdout(&env.run(&["docs", "show", id]));
    assert!(
        show("policy.md").contains("p.1 l.5    Notice: 90 days."),
        "{}",
        show("policy.md")
    );
    assert!(
        show("notes.txt").contains("p.2 l.2    second of page two"),
        "{}",
        show("notes.txt")
    );
    let h = show("faq.html");
    assert!(
        h.contains("p.1 l.2    Refunds take 14 days.") && h.contains("p.1 l.3    Support & sales"),
        "{h}"
    );
    // Same bytes twice: stored once.
    let again = env.run(&["docs", "add", s(&md)]);
    assert!(stdout(&again).contains("already stored"));
    assert_eq!(stdout(&env.run(&["docs", "list"])).lines().count(), 3);
}

fn attribute_json(env: &Env, chunks: &[&str], response: &str) -> (Value, i32) {
    let c = env.write("c.json", serde_json::to_string(chunks).unwrap());
    let r = env.write("r.txt", response);
    env.json(&[
        "attribute",
        "--context",
        s(&c),
        "--response",
        s(&r),
        "--json",
    ])
}

#[test]
fn paraphrases_are_attributed_to_their_chunk() {
    let env = Env::new();
    let chunks = [
        "The weather in Porto was mild during the conference week.",
        "The agreement terminates on 31 December 2025 unless either party renews it in writing.",
        "Invoices are sent by email at the end of each quarter.",
    ];
    let cases = [
        "Unless renewed in writing by either party, the agreement terminates on 31 December 2025.",
        "The agreement's termination happens on 31 December 2025, unless a party renews it in writing.",
        "Each quarter ends with invoices being emailed.",
    ];
    for (i, response) in cases.iter().enumerate() {
        let (att, code) = attribute_json(&env, &chunks, response);
        assert_eq!(code, 0, "case {i}: {att}");
        let src = &att["sentences"][0]["sources"][0];
        assert_eq!(src["chunk"], if i < 2 { 1 } else { 2 }, "case {i}: {att}");
        assert!(
            att["sentences"][0]["confidence"].as_f64().unwrap() > 0.5,
            "case {i}: {att}"
        );
    }
}

#[test]
fn changed_numbers_dates_names_and_negations_are_caught_with_reasons() {
    let env = Env::new();
    let chunks = [
        "Maria Lopez signed the lease on 12 March 2024. The rent is 1,450 euros per month.",
        "Pets are not allowed in the building.",
    ];
    let cases: &[(&str, &str, &str)] = &[
        ("The rent is 1,540 euros per month.", "number", "1,540"),
        (
            "Maria Lopez signed the lease on 12 March 2023.",
            "date",
            "2023",
        ),
        (
            "Maria Lopez signed the lease on 12 May 2024.",
            "date",
            "May",
        ),
        (
            "Maria Gomez signed the lease on 12 March 2024.",
            "name",
            "Gomez",
        ),
        (
            "Pets are allowed in the building.",
            "negation",
            "Pets are allowed in the building.",
        ),
    ];
    for (response, kind, text) in cases {
        let (att, code) = attribute_json(&env, &chunks, response);
        assert_eq!(code, 1, "{response}: {att}");
        assert_eq!(att["hallucination_detected"], true);
        let flags = att["sentences"][0]["flags"].as_array().unwrap();
        let f = flags
            .iter()
            .find(|f| f["kind"] == *kind)
            .unwrap_or_else(|| panic!("{response}: {flags:?}"));
        assert_eq!(f["text"], *text, "{response}");
        assert!(!f["reason"].as_str().unwrap().is_empty());
    }
    // The originals pass.
    let (att, code) = attribute_json(
        &env,
        &chunks,
        "Maria Lopez signed the lease on 12 March 2024. Pets are not allowed in the building.",
    );
    assert_eq!(code, 0, "{att}");
}

#[test]
fn verdict_records_its_evaluator_and_is_reproducible() {
    let env = Env::new();
    let chunks = [
        "The contract expires on 2025-12-31.",
        "It renews only by written agreement.",
    ];
    let (a, _) = attribute_json(
        &env,
        &chunks,
        "The contract expires on 2025-12-31. It renews automatically.",
    );
    let (b, _) = attribute_json(
        &env,
        &chunks,
        "The contract expires on 2025-12-31. It renews automatically.",
    );
    assert_eq!(a, b);
    assert_eq!(a["evaluator"]["name"], "cutufato-lexical");
    assert_eq!(a["evaluator"]["threshold"], 0.5);
    assert!(a["evaluator"]["version"].as_str().is_some());
    // Character spans point into the response.
    assert_eq!(
        a["sentences"][1]["span"],
        serde_json::json!({"start": 36, "end": 60})
    );
}

#[test]
fn empty_and_huge_inputs_fail_with_clear_errors() {
    let env = Env::new();
    let chunks = env.write("c.json", r#"["The fee is 40 euros."]"#);
    let empty = env.write("empty.txt", "  \n");
    let out = env.run(&[
        "attribute",
        "--context",
        s(&chunks),
        "--response",
        s(&empty),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the response is empty"),
        "{}",
        stderr(&out)
    );

    let none = env.write("none.json", "[]");
    let answer = env.write("a.txt", "The fee is 40 euros.");
    let out = env.run(&["attribute", "--context", s(&none), "--response", s(&answer)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no context chunks"),
        "{}",
        stderr(&out)
    );

    let blank = env.write("blank.json", r#"["ok", "  "]"#);
    let out = env.run(&[
        "attribute",
        "--context",
        s(&blank),
        "--response",
        s(&answer),
    ]);
    assert!(
        stderr(&out).contains("context chunk 1 is empty"),
        "{}",
        stderr(&out)
    );

    let bad = env.write("bad.json", r#"{"text": "not an array"}"#);
    let out = env.run(&["attribute", "--context", s(&bad), "--response", s(&answer)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a JSON array of chunks"),
        "{}",
        stderr(&out)
    );

    let huge = env.write("huge.txt", "The fee is 40 euros. ".repeat(60_000));
    let out = env.run(&["attribute", "--context", s(&chunks), "--response", s(&huge)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("over the limit of 1048576"),
        "{}",
        stderr(&out)
    );

    let empty_doc = env.write("empty.md", "");
    let out = env.run(&["docs", "add", s(&empty_doc)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the document is empty"),
        "{}",
        stderr(&out)
    );

    let not_pdf = env.write("broken.pdf", "this is not a pdf");
    let out = env.run(&["docs", "add", s(&not_pdf)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read the PDF"),
        "{}",
        stderr(&out)
    );
    // Nothing half-stored after the failures.
    assert_eq!(stdout(&env.run(&["docs", "list"])), "");
}

#[test]
fn html_view_shows_response_beside_sources() {
    let env = Env::new();
    let c = env.write(
        "c.json",
        r#"[{"text": "The fee is 40 euros.", "doc_id": "fees.md", "page": 1, "line": 3}]"#,
    );
    let r = env.write("r.txt", "The fee is 45 euros. The fee is 40 euros.");
    let out = env.run(&[
        "attribute",
        "--context",
        s(&c),
        "--response",
        s(&r),
        "--html",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let page = stdout(&out);
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("<span class=\"s bad\"") && page.contains("<span class=\"s ok\""));
    assert!(page.contains("<mark>45</mark>"));
    assert!(page.contains("fees.md p.1 l.3"));
}

#[test]
fn eval_reports_metrics_per_task_type() {
    let env = Env::new();
    let rows = [
        (r#"{"task_type":"QA","context":"The fee is 40 euros.","question":"What is the fee?","response":"The fee is 45 euros.","labels":[{"start":11,"end":13}]}"#),
        (r#"{"task_type":"QA","context":"The fee is 40 euros.","question":"What is the fee?","response":"The fee is 40 euros.","labels":[]}"#),
        (r#"{"task_type":"Summary","context":"Anna Berg won the race in 2019.","response":"Anna Berg won the race in 2021.","labels":[{"start":26,"end":30}]}"#),
        (r#"{"task_type":"Summary","context":"Anna Berg won the race in 2019.","response":"Anna Berg won the race in 2019.","labels":[]}"#),
    ];
    let data = env.write("d.jsonl", rows.join("\n"));
    let (rep, code) = env.json(&["eval", s(&data), "--json"]);
    assert_eq!(code, 0);
    for task in ["QA", "Summary"] {
        let m = &rep["by_task"][task];
        assert_eq!(
            (
                m["precision"].as_f64(),
                m["recall"].as_f64(),
                m["auroc"].as_f64()
            ),
            (Some(1.0), Some(1.0), Some(1.0))
        );
    }
    // One of two hallucinated: answering yes always gives P 0.5, R 1, F1 2/3.
    assert_eq!(rep["by_task"]["QA"]["always_yes_f1"].as_f64(), Some(0.6667));
    // Span level: the whole sentence is predicted, only the number is labelled.
    let span_p = rep["by_task"]["QA"]["span_precision"].as_f64().unwrap();
    assert!((span_p - 2.0 / 20.0).abs() < 1e-3, "{span_p}");

    let out = env.run(&["eval", "tests/fixtures/ragtruth-sample.jsonl"]);
    let _ = out;
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ragtruth-sample.jsonl");
    let out = env.run(&["eval", s(&sample)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    for row in ["QA", "Summary", "Data2txt", "overall"] {
        assert!(
            table.lines().any(|l| l.starts_with(row)
                && l.split_whitespace().nth(1) == Some(if row == "overall" { "12" } else { "4" })),
            "{table}"
        );
    }

    let broken = env.write("broken.jsonl", "{\"task_type\": \"QA\"}\n");
    let out = env.run(&["eval", s(&broken)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("line 1: not a RAGTruth record"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn record_signs_the_attribution_and_verify_checks_chunk_places() {
    let env = Env::new();
    let init = env.run(&["init", "--origin", "test.local/attr"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let pdf = contract_pdf(&env);
    assert!(env.run(&["docs", "add", s(&pdf)]).status.success());
    let chunks = env.run(&["docs", "chunks", "contract_2024.pdf", "--max-lines", "4"]);
    let context = env.write("chunks.json", &chunks.stdout);
    let prompt = env.write("prompt.txt", "When does the contract expire?");
    let answer = env.write(
        "answer.txt",
        "The contract expires on 2025-12-31. It renews automatically.",
    );
    let rec = env.run(&[
        "record",
        "--prompt",
        s(&prompt),
        "--context",
        s(&context),
        "--response",
        s(&answer),
        "--model",
        "gpt-4o",
        "--json",
    ]);
    assert!(rec.status.success(), "{}", stderr(&rec));
    let leaf: Value = serde_json::from_slice(&rec.stdout).unwrap();
    let body = if leaf.get("body").is_some() {
        &leaf["body"]
    } else {
        &leaf
    };
    let text = leaf.to_string();
    assert!(text.contains("\"hallucination_detected\":true"), "{text}");
    assert!(text.contains("cutufato-lexical"), "{text}");
    let id = body["execution_id"]
        .as_str()
        .or_else(|| leaf["execution_id"].as_str())
        .unwrap()
        .to_string();

    let verify = env.run(&["verify", &id]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        stdout(&verify),
        stderr(&verify)
    );
    assert!(
        stdout(&verify).contains("3 of 3 context chunk(s) found in the stored documents"),
        "{}",
        stdout(&verify)
    );

    let show = env.run(&["show", &id]);
    assert!(show.status.success(), "{}", stderr(&show));
    assert!(
        stdout(&show).contains("← contract_2024.pdf p.2 l.3"),
        "{}",
        stdout(&show)
    );
    assert!(stdout(&show).contains("✗ unsupported"), "{}", stdout(&show));
    let html = env.run(&["show", &id, "--html"]);
    assert!(
        stdout(&html).contains("<span class=\"s bad\""),
        "{}",
        stdout(&html)
    );
    assert!(stdout(&html).contains("contract_2024.pdf p.2 l.3"));

    // A chunk citing the wrong line is recorded as the caller claims, and verify says so.
    let sha = cutufato::documents::sha256_hex(&std::fs::read(&pdf).unwrap());
    let wrong = serde_json::json!([
        {"doc_id": "contract_2024.pdf", "doc_sha256": sha, "page": 2, "line": 4, "text": "The contract expires on 2025-12-31."}
    ]);
    let wrong = env.write("wrong.json", wrong.to_string());
    let rec = env.run(&[
        "record",
        "--prompt",
        s(&prompt),
        "--context",
        s(&wrong),
        "--response",
        s(&answer),
        "--model",
        "m",
    ]);
    assert!(rec.status.success(), "{}", stderr(&rec));
    let id2 = stdout(&rec).trim().to_string();
    let verify = env.run(&["verify", &id2]);
    assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains("contract_2024.pdf p.2 l.4 reads"),
        "{}",
        stdout(&verify)
    );

    let all = env.run(&["verify", "--all"]);
    assert_eq!(all.status.code(), Some(1), "{}", stdout(&all));
    assert!(
        stdout(&all).contains(&format!(
            "❌ {id2} context [0]: contract_2024.pdf p.2 l.4 reads"
        )),
        "{}",
        stdout(&all)
    );
    assert!(
        stdout(&all).contains("3 of 4 context chunk(s) found"),
        "{}",
        stdout(&all)
    );

    // Unknown ids and documents are "not found".
    assert_eq!(env.run(&["show", "exec-nope"]).status.code(), Some(3));
    assert_eq!(
        env.run(&["docs", "show", "nope.pdf"]).status.code(),
        Some(3)
    );
}

#[test]
fn amounts_compare_across_notations() {
    let env = Env::new();
    let chunks = [
        "The grant totals $1,500,000 over 3 years.",
        "Staff grew to 20k in 2023.",
    ];
    for ok in [
        "The grant totals $1.5 million over three years.",
        "Staff grew to 20,000 in 2023.",
    ] {
        let (att, code) = attribute_json(&env, &chunks, ok);
        assert_eq!(code, 0, "{ok}: {att}");
    }
    let (att, code) = attribute_json(&env, &chunks, "The grant totals $2.5 million over 3 years.");
    assert_eq!(code, 1, "{att}");
    let f = &att["sentences"][0]["flags"][0];
    assert_eq!(
        (f["kind"].as_str(), f["text"].as_str()),
        (Some("number"), Some("2.5 million")),
        "{att}"
    );
}
