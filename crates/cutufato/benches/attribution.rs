//! Benchmark of the deterministic tier and of document ingestion; prints figures.
//!
//! `cargo bench -p cutufato --bench attribution`
//!
//! - attribution of a 300-word response against 20 chunks (the chunks cut from a CNN/DM article
//!   of the RAGTruth sample fixture, the response built from that record's summary plus
//!   sentences of the article, some altered): wall-clock median and p95 over 1,000 runs, and CPU
//!   time per run (the machine may be shared);
//! - ingestion throughput: a generated 200-page PDF (40 lines a page) through `documents::extract`,
//!   and the same text as a plain-text file, in pages per second.

use std::time::{Duration, Instant};

use cutufato::attribution::{Chunk, Config, attribute};
use cutufato::documents::{extract, pdf::text_pdf};

/// CPU seconds (user + system) used by this process so far, from /proc/self/stat (10 ms ticks):
/// on a shared machine wall-clock figures depend on the load, CPU time much less.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn percentile(mut d: Vec<Duration>, p: f64) -> Duration {
    d.sort();
    let i = ((d.len() as f64 - 1.0) * p).round() as usize;
    d[i]
}

fn main() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ragtruth-sample.jsonl"
    );
    let data = std::fs::read_to_string(fixture).expect("fixture present");
    let rec: serde_json::Value = data
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["task_type"] == "Summary")
        .max_by_key(|r| r["context"].as_str().map_or(0, str::len))
        .expect("a Summary record");
    let context = rec["context"].as_str().unwrap_or_default();
    let sentences: Vec<&str> = context.split(". ").collect();
    let n = sentences.len();
    assert!(n >= 20, "the article has {n} sentences");
    let chunks: Vec<Chunk> = (0..20)
        .map(|k| Chunk::text(sentences[k * n / 20..(k + 1) * n / 20].join(". ")))
        .collect();
    let mut response = rec["response"].as_str().unwrap_or_default().to_string();
    let mut i = 0;
    while response.split_whitespace().count() < 300 {
        let mut s = sentences[(i * 7) % sentences.len()].to_string();
        if i % 3 == 0 {
            s = s.replace("the", "a").replace('1', "7");
        }
        response.push(' ');
        response.push_str(&s);
        response.push('.');
        i += 1;
    }
    let words: Vec<&str> = response.split_whitespace().take(300).collect();
    let response = words.join(" ");
    let cfg = Config::default();
    for _ in 0..20 {
        attribute(&chunks, &response, &cfg).expect("attribution");
    }
    let mut times = Vec::new();
    let mut sentences_out = 0;
    let runs = 1000;
    let cpu0 = cpu_seconds();
    for _ in 0..runs {
        let t = Instant::now();
        let a = attribute(&chunks, &response, &cfg).expect("attribution");
        times.push(t.elapsed());
        sentences_out = a.sentences.len();
    }
    let cpu_ms = (cpu_seconds() - cpu0) * 1e3 / runs as f64;
    println!("load average {}", load());
    println!(
        "attribution: 300-word response ({sentences_out} sentences), {} chunks ({} bytes): wall median {:.2} ms, p95 {:.2} ms; CPU {:.2} ms per attribution ({runs} runs)",
        chunks.len(),
        chunks.iter().map(|c| c.text.len()).sum::<usize>(),
        percentile(times.clone(), 0.5).as_secs_f64() * 1e3,
        percentile(times, 0.95).as_secs_f64() * 1e3,
        cpu_ms
    );

    let pages: Vec<Vec<String>> = (0..200)
        .map(|p| (0..40).map(|l| format!("Page {p} line {l}: the tenant shall pay 1,250 euros on day {l} of each month.")).collect())
        .collect();
    let pdf = text_pdf(&pages).expect("pdf");
    let runs = 25;
    let c = cpu_seconds();
    let t = Instant::now();
    for _ in 0..runs {
        let d = extract("bench.pdf", &pdf).expect("extract pdf");
        assert_eq!(d.pages.len(), 200);
    }
    let pdf_secs = t.elapsed().as_secs_f64() / runs as f64;
    let pdf_cpu = (cpu_seconds() - c) / runs as f64;
    let text = pages
        .iter()
        .map(|p| p.join("\n"))
        .collect::<Vec<_>>()
        .join("\n\x0C");
    let t = Instant::now();
    for _ in 0..runs {
        let d = extract("bench.txt", text.as_bytes()).expect("extract text");
        assert_eq!(d.pages.len(), 200);
    }
    let txt_secs = t.elapsed().as_secs_f64() / runs as f64;
    println!(
        "ingestion: PDF {:.0} pages/s wall, {:.0} pages per CPU-second ({} KiB, 200 pages x 40 lines); plain text {:.0} pages/s wall",
        200.0 / pdf_secs,
        200.0 / pdf_cpu.max(0.01),
        pdf.len() / 1024,
        200.0 / txt_secs
    );
}
