//! Labelled typosquat evaluation (`sentinel eval`) and corpus rebuilding (`sentinel corpus update`).
//!
//! Three measures per ecosystem:
//! - recall on generated one-edit squats of the top 5,000 names (omitted, repeated, swapped,
//!   keyboard-substituted and inserted characters, cycled deterministically; squats that are
//!   themselves in the corpus are real packages and are skipped);
//! - recall on real public typosquat incidents (`data/eval/typosquats.tsv`: OSV MAL- records,
//!   RustSec and public reports);
//! - false positives on the top 10,000 names: as deployed (a popular name is never flagged) and
//!   the stricter leave-one-out figure (each name checked as if it were not in the corpus).
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::corpus::{Corpora, Corpus};
use crate::ecosystem::Ecosystem;
use crate::typosquat::{Detector, TyposquatConfig};

/// The built-in incident list: `data/eval/typosquats.tsv` (embedded at build time; empty when the
/// build had no such file).
pub const INCIDENTS: &str = crate::corpus::EMBEDDED_INCIDENTS;
/// npm packages ranked 50,001–60,000: real packages just outside the corpus (false-positive set).
pub const NPM_NEXT_TIER: &str = include_str!("../eval/npm-next-tier.tsv");
/// npm packages ranked 100,001–110,000 (the long tail; unlabelled, so an upper bound).
pub const NPM_TAIL_TIER: &str = include_str!("../eval/npm-tail-tier.tsv");

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
    /// Leave-one-out false positives that would still be blocked after the registry facts the
    /// engine uses were applied, with recorded facts (npm: the candidate's monthly downloads, the
    /// popularity gap). Equal to `fp_leave_one_out` where no facts are recorded.
    pub fp_leave_one_out_blocked: usize,
    /// Rate in percent.
    pub fp_leave_one_out_blocked_pct: f64,
    /// Which recorded facts the `…_blocked` figures use (empty: none, name check only).
    pub facts: String,
    /// Leave-one-out false positives by the edit that matched.
    pub fp_by_kind: std::collections::BTreeMap<String, usize>,
    /// A few leave-one-out false positives (name → target), for inspection.
    pub fp_examples: Vec<String>,
    /// Real packages just outside the corpus checked (npm ranks 50,001–60,000).
    pub next_tier_total: usize,
    /// Of those, flagged.
    pub next_tier_flagged: usize,
    /// Rate in percent.
    pub next_tier_fp_pct: f64,
    /// Of those, still blocked with their recorded monthly downloads (the popularity gap).
    pub next_tier_blocked: usize,
    /// Rate in percent.
    pub next_tier_blocked_pct: f64,
    /// The long tail (npm ranks 100,001–110,000, ~5,000–6,700 downloads a month) checked;
    /// unlabelled, so a flag is a false positive or a real squat (an upper bound).
    pub tail_tier_total: usize,
    /// Of those, flagged by name.
    pub tail_tier_flagged: usize,
    /// Of those, still blocked with their recorded monthly downloads.
    pub tail_tier_blocked: usize,
    /// Blocked rate in percent.
    pub tail_tier_blocked_pct: f64,
    /// A few of them.
    pub tail_tier_examples: Vec<String>,
    /// A few of them.
    pub next_tier_examples: Vec<String>,
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
    make_squat_in(None, name, k, rng)
}

/// Like [`make_squat`]; for Go (`eco`) the edit goes where an attacker can publish: the owner
/// on a code host (`github.com/gorila/mux`), else the first label of a vanity domain
/// (`golnag.org/x/sys`), as only a namespace's owner can publish inside it.
fn make_squat_in(eco: Option<Ecosystem>, name: &str, k: usize, rng: &mut Rng) -> Option<String> {
    if eco == Some(Ecosystem::Go) {
        if let Some((host, owner, rest)) = crate::corpus::go_owner_split(name) {
            let o = make_squat(owner, k, rng)?;
            return Some(format!("{host}/{o}/{rest}"));
        }
        if let Some((host, rest)) = name.split_once('/')
            && host != "gopkg.in"
            && let Some((label, domain)) = host.split_once('.')
        {
            let l = make_squat(label, k, rng)?;
            return Some(format!("{l}.{domain}/{rest}"));
        }
    }
    // Only the scope owner can publish inside an npm scope, so a realisable squat of
    // `@scope/name` edits the scope.
    if let (Some(scope), bare) = crate::ecosystem::split_npm_scope(name) {
        let s = make_squat(scope, k, rng)?;
        return Some(format!("@{s}/{bare}"));
    }
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
        let Some(squat) = make_squat_in(Some(eco), name, i, &mut rng) else {
            continue;
        };
        if corpus.rank(&eco.normalize(&squat)).is_some() || eco.validate_name(&squat).is_err() {
            continue;
        }
        r.synthetic_total += 1;
        if det
            .check(&eco.normalize(&squat))
            .iter()
            .any(|m| m.target == *name)
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
    let recorded_downloads = corpus.downloads_at(1).is_some();
    if recorded_downloads {
        r.facts = "monthly downloads of each candidate as recorded in the corpus file (what the engine asks the npm downloads API)".into();
    }
    for (i, name) in corpus.names.iter().take(10_000).enumerate() {
        r.fp_total += 1;
        if !det.check(name).is_empty() {
            r.fp_deployed += 1;
        }
        if let Some(m) = det.check_unlisted(name).first() {
            r.fp_leave_one_out += 1;
            *r.fp_by_kind.entry(format!("{:?}", m.kind)).or_default() += 1;
            // The candidate's own downloads are a registry fact, not corpus membership: the
            // name is still checked as if unknown.
            let cleared = corpus
                .downloads_at(i as u32 + 1)
                .is_some_and(|d| det.clears_popularity_gap(m, d));
            if !cleared {
                r.fp_leave_one_out_blocked += 1;
            }
            if r.fp_examples.len() < 12 {
                r.fp_examples
                    .push(format!("{name} → {} ({:?})", m.target, m.kind));
            }
        }
    }
    r.fp_leave_one_out_pct = pct(r.fp_leave_one_out, r.fp_total);
    r.fp_leave_one_out_blocked_pct = pct(r.fp_leave_one_out_blocked, r.fp_total);
    if eco == Ecosystem::Npm {
        let next = check_tier(&det, eco, NPM_NEXT_TIER);
        r.next_tier_total = next.total;
        r.next_tier_flagged = next.flagged;
        r.next_tier_blocked = next.blocked;
        r.next_tier_examples = next.examples;
        r.next_tier_fp_pct = pct(r.next_tier_flagged, r.next_tier_total);
        r.next_tier_blocked_pct = pct(r.next_tier_blocked, r.next_tier_total);
        let tail = check_tier(&det, eco, NPM_TAIL_TIER);
        r.tail_tier_total = tail.total;
        r.tail_tier_flagged = tail.flagged;
        r.tail_tier_blocked = tail.blocked;
        r.tail_tier_examples = tail.examples;
        r.tail_tier_blocked_pct = pct(r.tail_tier_blocked, r.tail_tier_total);
    }
    r
}

#[derive(Default)]
struct Tier {
    total: usize,
    flagged: usize,
    blocked: usize,
    examples: Vec<String>,
}

/// Checks real packages outside the corpus (`name<TAB>downloads_month` rows, `#` comments):
/// flagged by name, and still blocked once their recorded downloads are applied.
fn check_tier(det: &Detector<'_>, eco: Ecosystem, text: &str) -> Tier {
    let mut t = Tier::default();
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let mut cols = line.split('\t');
        let name = eco.normalize(cols.next().unwrap_or(""));
        if name.is_empty() {
            continue;
        }
        let downloads: Option<u64> = cols.next().and_then(|d| d.trim().parse().ok());
        t.total += 1;
        if let Some(m) = det.check(&name).first() {
            t.flagged += 1;
            let cleared = downloads.is_some_and(|d| det.clears_popularity_gap(m, d));
            if !cleared {
                t.blocked += 1;
            }
            if t.examples.len() < 12 {
                t.examples.push(format!(
                    "{name} → {} ({:?}{})",
                    m.target,
                    m.kind,
                    if cleared { ", cleared" } else { "" }
                ));
            }
        }
    }
    t
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
        "ecosystem   corpus  one-edit recall (top 5k)   incident recall   FP top 10k deployed   FP leave-one-out: flagged   blocked (facts)   FP next tier: flagged   blocked (facts)   tail tier: blocked\n",
    );
    for r in results {
        let tier = if r.next_tier_total > 0 {
            format!(
                "{}/{} {:.2}%   {}/{} {:.2}%   {}/{} {:.2}%",
                r.next_tier_flagged,
                r.next_tier_total,
                r.next_tier_fp_pct,
                r.next_tier_blocked,
                r.next_tier_total,
                r.next_tier_blocked_pct,
                r.tail_tier_blocked,
                r.tail_tier_total,
                r.tail_tier_blocked_pct
            )
        } else {
            "-".into()
        };
        s.push_str(&format!(
            "{:<10} {:>7}  {:>6}/{:<6} {:>6.2}%     {:>3}/{:<3} {:>6.2}%    {:>4}/{:<5} {:>5.2}%    {:>4}/{:<5} {:>5.2}%    {:>4}/{:<5} {:>5.2}%   {}\n",
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
            r.fp_leave_one_out_blocked,
            r.fp_total,
            r.fp_leave_one_out_blocked_pct,
            tier,
        ));
    }
    for r in results {
        if !r.facts.is_empty() {
            s.push_str(&format!(
                "{} facts used for `blocked`: {}\n",
                r.ecosystem, r.facts
            ));
        }
    }
    for r in results {
        if !r.incidents_missed.is_empty() {
            s.push_str(&format!(
                "{} incidents missed: {}\n",
                r.ecosystem,
                r.incidents_missed.join(", ")
            ));
        }
        if !r.next_tier_examples.is_empty() {
            s.push_str(&format!(
                "{} next-tier examples: {}\n",
                r.ecosystem,
                r.next_tier_examples.join(", ")
            ));
        }
        if !r.tail_tier_examples.is_empty() {
            s.push_str(&format!(
                "{} tail-tier examples: {}\n",
                r.ecosystem,
                r.tail_tier_examples.join(", ")
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
