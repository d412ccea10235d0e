//! `cutufato eval`: scores the deterministic tier on data in the RAGTruth layout.
//!
//! Each line of the input is a JSON object with `task_type`, `context`, `response`, optionally
//! `question`, and `labels` (`[{start, end, ...}]`, character spans of hallucinated text in the
//! response). The context is one chunk (a JSON record stays a record); the question, when
//! present, is the prompt. Metrics, per task type and over all:
//!
//! - response level: a response is predicted hallucinated when any sentence is unsupported;
//!   precision, recall and F1 against "has any label"; AUROC of the response score (the highest
//!   sentence score) against the same;
//! - span level: characters of the unsupported spans (the offending clauses of unsupported
//!   sentences) against labelled characters, micro-averaged
//!   precision, recall and F1.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::attribution::{self, Chunk, Config, Evaluator};

/// Errors of [`evaluate`].
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read the data")]
    Io(#[from] std::io::Error),
    #[error("line {line}: not a RAGTruth record {{task_type, context, response, labels}}")]
    Parse {
        line: usize,
        source: serde_json::Error,
    },
    #[error("line {line}: label {start}..{end} is outside the response ({len} characters)")]
    BadLabel {
        line: usize,
        start: usize,
        end: usize,
        len: usize,
    },
    #[error("line {line}")]
    Attribute {
        line: usize,
        source: attribution::AttributeError,
    },
    #[error("no records in the data: give a JSONL file with one RAGTruth record per line")]
    Empty,
}

#[derive(Debug, Deserialize)]
struct Label {
    start: usize,
    end: usize,
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(default)]
    task_type: Option<String>,
    context: String,
    #[serde(default)]
    question: Option<String>,
    response: String,
    #[serde(default)]
    labels: Vec<Label>,
}

/// Metrics of one group of responses.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub responses: usize,
    pub hallucinated: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub auroc: f64,
    pub span_precision: f64,
    pub span_recall: f64,
    pub span_f1: f64,
    /// F1 of answering "hallucinated" for every response of the group: the floor to beat.
    pub always_yes_f1: f64,
}

/// Result of [`evaluate`]: per task type (sorted by name) and over all.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub evaluator: Evaluator,
    pub by_task: BTreeMap<String, Metrics>,
    pub overall: Metrics,
}

#[derive(Default)]
struct Acc {
    scores: Vec<(f64, bool)>,
    tp: usize,
    fp: usize,
    fn_: usize,
    span_tp: usize,
    span_pred: usize,
    span_gold: usize,
}

impl Acc {
    fn add(&mut self, other: &Acc) {
        self.scores.extend_from_slice(&other.scores);
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.span_tp += other.span_tp;
        self.span_pred += other.span_pred;
        self.span_gold += other.span_gold;
    }
    fn metrics(&self) -> Metrics {
        let (p, r, f) = prf(self.tp, self.tp + self.fp, self.tp + self.fn_);
        let (sp, sr, sf) = prf(self.span_tp, self.span_pred, self.span_gold);
        Metrics {
            responses: self.scores.len(),
            hallucinated: self.scores.iter().filter(|s| s.1).count(),
            precision: r4(p),
            recall: r4(r),
            f1: r4(f),
            auroc: r4(auroc(&self.scores)),
            span_precision: r4(sp),
            span_recall: r4(sr),
            span_f1: r4(sf),
            always_yes_f1: r4(prf(
                self.scores.iter().filter(|s| s.1).count(),
                self.scores.len(),
                self.scores.iter().filter(|s| s.1).count(),
            )
            .2),
        }
    }
}

fn r4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn prf(tp: usize, predicted: usize, actual: usize) -> (f64, f64, f64) {
    let p = if predicted == 0 {
        0.0
    } else {
        tp as f64 / predicted as f64
    };
    let r = if actual == 0 {
        0.0
    } else {
        tp as f64 / actual as f64
    };
    let f = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f)
}

/// Area under the ROC curve (Mann–Whitney U, ties count half). 0.5 when a class is absent.
pub fn auroc(scores: &[(f64, bool)]) -> f64 {
    let mut sorted: Vec<(f64, bool)> = scores.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = sorted.iter().filter(|s| s.1).count();
    let neg = sorted.len() - pos;
    if pos == 0 || neg == 0 {
        return 0.5;
    }
    // Sum of ranks of positives, with average ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg_rank * sorted[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    (rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64
}

/// Evaluates the deterministic tier with `cfg` on RAGTruth-layout JSONL read from `input`.
pub fn evaluate(input: impl BufRead, cfg: &Config) -> Result<Report, EvalError> {
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    for (n, line) in input.lines().enumerate() {
        let line_no = n + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: Record = serde_json::from_str(&line).map_err(|source| EvalError::Parse {
            line: line_no,
            source,
        })?;
        let len = rec.response.chars().count();
        for l in &rec.labels {
            if l.start > l.end || l.end > len {
                return Err(EvalError::BadLabel {
                    line: line_no,
                    start: l.start,
                    end: l.end,
                    len,
                });
            }
        }
        let cfg = Config {
            threshold: cfg.threshold,
            prompt: rec.question.clone(),
        };
        let att = attribution::attribute(&[Chunk::text(rec.context)], &rec.response, &cfg)
            .map_err(|source| EvalError::Attribute {
                line: line_no,
                source,
            })?;
        let gold = !rec.labels.is_empty();
        let acc = groups
            .entry(rec.task_type.unwrap_or_else(|| "all".to_string()))
            .or_default();
        acc.scores.push((att.score, gold));
        match (att.hallucination_detected, gold) {
            (true, true) => acc.tp += 1,
            (true, false) => acc.fp += 1,
            (false, true) => acc.fn_ += 1,
            (false, false) => {}
        }
        let mut gold_chars = vec![false; len];
        for l in &rec.labels {
            gold_chars[l.start..l.end]
                .iter_mut()
                .for_each(|c| *c = true);
        }
        let mut pred_chars = vec![false; len];
        for sp in att.sentences.iter().flat_map(|s| &s.unsupported_spans) {
            pred_chars[sp.start.min(len)..sp.end.min(len)]
                .iter_mut()
                .for_each(|c| *c = true);
        }
        acc.span_gold += gold_chars.iter().filter(|c| **c).count();
        acc.span_pred += pred_chars.iter().filter(|c| **c).count();
        acc.span_tp += gold_chars
            .iter()
            .zip(&pred_chars)
            .filter(|(g, p)| **g && **p)
            .count();
    }
    if groups.is_empty() {
        return Err(EvalError::Empty);
    }
    let mut all = Acc::default();
    groups.values().for_each(|g| all.add(g));
    Ok(Report {
        evaluator: Evaluator {
            name: attribution::EVALUATOR_NAME.to_string(),
            version: attribution::EVALUATOR_VERSION.to_string(),
            threshold: cfg.threshold,
        },
        by_task: groups
            .iter()
            .map(|(k, v)| (k.clone(), v.metrics()))
            .collect(),
        overall: all.metrics(),
    })
}

/// The report as a text table.
pub fn render(report: &Report) -> String {
    let mut out = format!(
        "evaluator {} {} (threshold {})\n{:<10} {:>5} {:>5} {:>6} {:>6} {:>6} {:>6} {:>8} {:>10}\n",
        report.evaluator.name,
        report.evaluator.version,
        report.evaluator.threshold,
        "task",
        "n",
        "hall",
        "P",
        "R",
        "F1",
        "AUROC",
        "span F1",
        "always-yes"
    );
    let rows = report
        .by_task
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain(std::iter::once(("overall", &report.overall)));
    for (name, m) in rows {
        out.push_str(&format!(
            "{:<10} {:>5} {:>5} {:>6.1} {:>6.1} {:>6.1} {:>6.3} {:>8.1} {:>10.1}\n",
            name,
            m.responses,
            m.hallucinated,
            m.precision * 100.0,
            m.recall * 100.0,
            m.f1 * 100.0,
            m.auroc,
            m.span_f1 * 100.0,
            m.always_yes_f1 * 100.0
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_counts_ties_half() {
        assert_eq!(auroc(&[(0.9, true), (0.1, false)]), 1.0);
        assert_eq!(auroc(&[(0.1, true), (0.9, false)]), 0.0);
        assert_eq!(auroc(&[(0.5, true), (0.5, false)]), 0.5);
    }

    #[test]
    fn bad_lines_name_their_number() {
        let data = "{\"task_type\":\"QA\",\"context\":\"a b\",\"response\":\"a b\",\"labels\":[]}\nnot json\n";
        let err = evaluate(data.as_bytes(), &Config::default()).unwrap_err();
        assert!(err.to_string().starts_with("line 2:"), "{err}");
    }
}
