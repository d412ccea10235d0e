//! Labelled typosquat evaluation (`sentinel eval`) and corpus rebuilding (`sentinel corpus update`).
//!
//! Three measures per ecosystem:
//! - recall on generated one-edit squats of the top 5,000 names (omitted, repeated, swapped,
//!   keyboard-substituted and inserted characters, cycled deterministically; squats that are
//!   themselves in the corpus are real packages and are skipped);
//! - recall on real public typosquat incidents (`eval/incidents.tsv`, from OSV MAL- records and
//!   public reports);
//! - false positives on the top 10,000 names: as deployed (a popular name is never flagged) and
//!   the stricter leave-one-out figure (each name checked as if it were not in the corpus).
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::corpus::{Corpora, Corpus};
use crate::ecosystem::Ecosystem;
use crate::policy::Policy;
use crate::typosquat::{Detector, TyposquatConfig};

/// The built-in incident list.
pub const INCIDENTS: &str = include_str!("../eval/incidents.tsv");

/// Figures for one ecosystem.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EcoResult {
    /// Ecosystem.
    pub ecosystem: String,
    /// Names in the corpus.
    pub corpus_size: usize,
    /// Generated squats evaluated.
    pub synthetic_total: usize,
    /// Of those, flagged with the right target.
    pub synthetic_detected: usize,
    /// Recall in percent.
    pub synthetic_recall_pct: f64,
    /// Real incidents evaluated.
    pub incidents_total: usize,
    /// Of those, flagged (any target).
    pub incidents_detected: usize,
    /// Recall in percent.
    pub incidents_recall_pct: f64,
    /// Incidents missed (name → meant).
    pub incidents_missed: Vec<String>,
    /// Top names checked for false positives.
    pub fp_total: usize,
    /// Flagged as deployed (popular names are never flagged).
    pub fp_deployed: usize,
    /// Flagged when checked as if not in the corpus.
    pub fp_leave_one_out: usize,
    /// Leave-one-out false-positive rate in percent.
    pub fp_leave_one_out_pct: f64,
    /// A few leave-one-out false positives (name → target), for inspection.
    pub fp_examples: Vec<String>,
}

/// Deterministic xorshift generator (the evaluation must print the same figures every run).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const KEYBOARD: [&str; 3] = ["qwertyuiop", "asdfghjkl", "zxcvbnm"];

fn keyboard_neighbour(c: u8, rng: &mut Rng) -> Option<u8> {
    for row in KEYBOARD {
        if let Some(i) = row.bytes().position(|b| b == c) {
            let b = row.as_bytes();
            let mut opts = Vec::new();
            if i > 0 {
                opts.push(b[i - 1]);
            }
            if i + 1 < b.len() {
                opts.push(b[i + 1]);
            }
            return opts.get(rng.below(opts.len())).copied();
        }
    }
    None
}

/// One generated squat of `name` by edit family `k` (0..5), if it applies.
fn make_squat(name: &str, k: usize, rng: &mut Rng) -> Option<String> {
    let b = name.as_bytes();
    let letters: Vec<usize> = (0..b.len())
        .filter(|&i| b[i].is_ascii_lowercase())
        .collect();
    if letters.is_empty() || b.len() < 2 {
        return None;
    }
    let i = letters[rng.below(letters.len())];
    let mut v = b.to_vec();
    match k % 5 {
        0 => {
            // omitted character
            v.remove(i);
        }
        1 => {
            // repeated character
            v.insert(i, b[i]);
        }
        2 => {
            // swapped adjacent characters
            let j = if i + 1 < v.len() {
                i
            } else {
                i.checked_sub(1)?
            };
            if v[j] == v[j + 1] {
                return None;
            }
            v.swap(j, j + 1);
        }
        3 => {
            // keyboard substitution
            v[i] = keyboard_neighbour(b[i], rng)?;
        }
        _ => {
            // inserted letter
            let c = b'a' + rng.below(26) as u8;
            v.insert(i, c);
        }
    }
    let s = String::from_utf8(v).ok()?;
    (s != name).then_some(s)
}

/// An incident: a real squat name and the name it imitated.
#[derive(Debug, Clone)]
pub struct Incident {
    /// Ecosystem.
    pub ecosystem: Ecosystem,
    /// The malicious name.
    pub name: String,
    /// The popular name it imitated.
    pub target: String,
}

/// Parses the incident TSV (`ecosystem  name  target  source`, `#` comments).
pub fn parse_incidents(text: &str) -> Vec<Incident> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .skip_while(|l| l.starts_with("ecosystem\t"))
        .filter_map(|l| {
            let mut f = l.split('\t');
            let eco = f.next()?.parse().ok()?;
            Some(Incident {
                ecosystem: eco,
                name: f.next()?.trim().to_string(),
                target: f.next()?.trim().to_string(),
            })
        })
        .collect()
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 * 10_000.0 / b as f64).round() / 100.0
    }
}

/// Evaluates one corpus.
pub fn evaluate(corpus: &Corpus, cfg: &TyposquatConfig, incidents: &[Incident]) -> EcoResult {
    let eco = corpus.ecosystem.unwrap_or(Ecosystem::Pypi);
    let det = Detector {
        corpus,
        config: cfg,
    };
    let mut r = EcoResult {
        ecosystem: eco.to_string(),
        corpus_size: corpus.len(),
        ..Default::default()
    };
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for (i, name) in corpus.names.iter().take(5_000).enumerate() {
        let Some(squat) = make_squat(name, i, &mut rng) else {
            continue;
        };
        if corpus.rank(&eco.normalize(&squat)).is_some() || eco.validate_name(&squat).is_err() {
            continue;
        }
        r.synthetic_total += 1;
        if det
            .check(&eco.normalize(&squat))
            .iter()
            .any(|m| &m.target == name)
        {
            r.synthetic_detected += 1;
        }
    }
    r.synthetic_recall_pct = pct(r.synthetic_detected, r.synthetic_total);
    for inc in incidents.iter().filter(|i| i.ecosystem == eco) {
        r.incidents_total += 1;
        let n = eco.normalize(&inc.name);
        if !det.check(&n).is_empty() {
            r.incidents_detected += 1;
        } else {
            r.incidents_missed
                .push(format!("{} → {}", inc.name, inc.target));
        }
    }
    r.incidents_recall_pct = pct(r.incidents_detected, r.incidents_total);
    for name in corpus.names.iter().take(10_000) {
        r.fp_total += 1;
        if !det.check(name).is_empty() {
            r.fp_deployed += 1;
        }
        if let Some(m) = det.check_unlisted(name).first() {
            r.fp_leave_one_out += 1;
            if r.fp_examples.len() < 12 {
                r.fp_examples
                    .push(format!("{name} → {} ({:?})", m.target, m.kind));
            }
        }
    }
    r.fp_leave_one_out_pct = pct(r.fp_leave_one_out, r.fp_total);
    r
}

/// Runs the evaluation on every non-empty corpus (or one ecosystem).
pub fn run(
    corpora: &Corpora,
    cfg: &TyposquatConfig,
    only: Option<Ecosystem>,
    incidents: Option<&Path>,
) -> Result<Vec<EcoResult>> {
    let text = match incidents {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading incidents {}", p.display()))?,
        None => INCIDENTS.to_string(),
    };
    let incidents = parse_incidents(&text);
    let mut out = Vec::new();
    for eco in Ecosystem::ALL {
        if only.is_some_and(|o| o != eco) {
            continue;
        }
        let corpus = corpora.get(eco).map_err(anyhow::Error::msg)?;
        if corpus.is_empty() {
            continue;
        }
        out.push(evaluate(&corpus, cfg, &incidents));
    }
    Ok(out)
}

/// A table of the figures.
pub fn render(results: &[EcoResult]) -> String {
    let mut s = String::from(
        "ecosystem   corpus  one-edit recall (top 5k)   incident recall   FP top 10k deployed   FP top 10k leave-one-out\n",
    );
    for r in results {
        s.push_str(&format!(
            "{:<10} {:>7}  {:>6}/{:<6} {:>6.2}%     {:>3}/{:<3} {:>6.2}%    {:>4}/{:<5} {:>5.2}%    {:>4}/{:<5} {:>5.2}%\n",
            r.ecosystem,
            r.corpus_size,
            r.synthetic_detected,
            r.synthetic_total,
            r.synthetic_recall_pct,
            r.incidents_detected,
            r.incidents_total,
            r.incidents_recall_pct,
            r.fp_deployed,
            r.fp_total,
            pct(r.fp_deployed, r.fp_total),
            r.fp_leave_one_out,
            r.fp_total,
            r.fp_leave_one_out_pct,
        ));
    }
    for r in results {
        if !r.incidents_missed.is_empty() {
            s.push_str(&format!(
                "{} incidents missed: {}\n",
                r.ecosystem,
                r.incidents_missed.join(", ")
            ));
        }
        if !r.fp_examples.is_empty() {
            s.push_str(&format!(
                "{} leave-one-out examples: {}\n",
                r.ecosystem,
                r.fp_examples.join(", ")
            ));
        }
    }
    s
}

/// `sentinel corpus update` arguments.
#[derive(Debug, clap::Args)]
pub struct CorpusUpdateArgs {
    /// Ecosystem to rebuild.
    #[arg(long)]
    pub ecosystem: String,
    /// A name list with a popularity column (TSV with a header), e.g. a registry export.
    #[arg(long, value_name = "PATH")]
    pub source: PathBuf,
    /// 1-based column of the popularity figure in --source.
    #[arg(long, default_value_t = 2)]
    pub column: usize,
    /// Higher figures are more popular (downloads); without it lower is better (ranks).
    #[arg(long)]
    pub descending: bool,
    /// Keep this many names.
    #[arg(long, default_value_t = 50_000)]
    pub top: usize,
    /// Confirm each kept name exists in the registry (drops removed packages); shows progress.
    #[arg(long)]
    pub verify: bool,
    /// Output file.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

/// Rebuilds a corpus file from a name list with a popularity column, optionally confirming each
/// name against the registry.
pub fn corpus_update(a: &CorpusUpdateArgs, policy: &Policy) -> Result<()> {
    let eco: Ecosystem = a.ecosystem.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = std::fs::read_to_string(&a.source)
        .with_context(|| format!("reading {}", a.source.display()))?;
    let col = a.column.max(1) - 1;
    let mut header = text.lines().next().unwrap_or("").split('\t');
    let fig_name = header.nth(col).unwrap_or("popularity").to_string();
    let mut rows: Vec<(String, f64)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let name = f.first()?.trim();
            let v: f64 = f.get(col)?.trim().parse().ok()?;
            (eco.validate_name(name).is_ok()).then(|| (name.to_string(), v))
        })
        .collect();
    rows.sort_by(|x, y| {
        if a.descending {
            y.1.total_cmp(&x.1)
        } else {
            x.1.total_cmp(&y.1)
        }
    });
    rows.truncate(a.top);
    if a.verify {
        let client = crate::registry::RegistryClient::new(
            {
                let mut r = policy.registries.clone();
                r.apply_env();
                r
            },
            policy.network.clone(),
        )?;
        let bar = indicatif::ProgressBar::new(rows.len() as u64);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let keep: Vec<bool> = rt.block_on(async {
            use futures::StreamExt;
            futures::stream::iter(rows.iter())
                .map(|(n, _)| {
                    let c = client.clone();
                    let bar = bar.clone();
                    async move {
                        let r = c.lookup(eco, n).await;
                        bar.inc(1);
                        // Only a definite "not found" drops a name; errors keep it.
                        !matches!(r, Ok(crate::registry::Lookup::NotFound))
                    }
                })
                .buffered(policy.network.concurrency.max(1))
                .collect()
                .await
        });
        bar.finish_and_clear();
        let before = rows.len();
        let mut it = keep.into_iter();
        rows.retain(|_| it.next().unwrap_or(true));
        eprintln!("verified: {} of {before} names exist", rows.len());
    }
    let mut out = format!("name\t{fig_name}\n");
    for (n, v) in &rows {
        out.push_str(&format!("{n}\t{v}\n"));
    }
    std::fs::write(&a.out, out).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("wrote {} names to {}", rows.len(), a.out.display());
    Ok(())
}
