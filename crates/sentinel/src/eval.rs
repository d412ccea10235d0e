//! Labelled typosquat evaluation (`sentinel eval`) and corpus rebuilding (`sentinel corpus update`).
//!
//! Three measures per ecosystem:
//! - recall on generated one-edit squats of the top 5,000 names (omitted, repeated, swapped,
//!   keyboard-substituted and inserted characters, cycled deterministically; squats that are
//!   themselves in the corpus are real packages and are skipped);
//! - recall on real public typosquat incidents (`data/eval/typosquats.tsv`: OSV MAL- records,
//!   RustSec and public reports);
//! - false positives on the top 10,000 names: as deployed (a popular name is never flagged) and
//!   the stricter leave-one-out figure (each name checked as if it were not in the corpus), and
//!   of those how many would still be blocked once recorded registry facts are applied with the
//!   engine's own decision functions (npm: monthly downloads and the popularity gap; PyPI and
//!   crates.io: first release and version count and the `established` rule, from
//!   `eval/registry-facts.tsv`; a name without facts counts as blocked).
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
/// Registry facts (first release, number of versions) of the PyPI and crates.io names the
/// leave-one-out pass flags, recorded from the live registries with
/// `sentinel eval --record-facts` (see `eval/README.md`).
pub const REGISTRY_FACTS: &str = include_str!("../eval/registry-facts.tsv");

/// What the `established` rule reads from a registry record, recorded at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// Earliest publication time of any version (RFC 3339), when the registry gives one.
    pub first_release: Option<String>,
    /// Number of versions the registry lists (yanked ones included, as the engine counts them).
    pub versions: usize,
    /// When the facts were recorded: the rule's "now".
    pub recorded: jiff::Timestamp,
}

/// Recorded facts by ecosystem and normalised name.
#[derive(Debug, Clone, Default)]
pub struct Facts(std::collections::HashMap<(Ecosystem, String), Fact>);

/// A facts file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "registry facts line {line}: {what} (expected: ecosystem, name, first_release or -, versions, source, recorded)"
)]
pub struct FactsError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

impl Facts {
    /// Parses `ecosystem  name  first_release  versions  source  recorded` rows (tab-separated,
    /// `#` comments, one header row; `-` for an unknown first release).
    pub fn parse(text: &str) -> Result<Facts, FactsError> {
        let mut map = std::collections::HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let err = |what: String| FactsError { line: i + 1, what };
            if line.trim().is_empty() || line.starts_with('#') || line.starts_with("ecosystem\t") {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
            let [eco, name, first, versions, _source, recorded] = cols[..] else {
                return Err(err(format!("{} columns instead of 6", cols.len())));
            };
            let eco: Ecosystem = eco
                .parse()
                .map_err(|_| err(format!("unknown ecosystem `{eco}`")))?;
            let first_release = match first {
                "" | "-" => None,
                f => {
                    f.parse::<jiff::Timestamp>()
                        .map_err(|e| err(format!("first release `{f}`: {e}")))?;
                    Some(f.to_string())
                }
            };
            let versions = versions
                .parse()
                .map_err(|_| err(format!("versions `{versions}` is not a number")))?;
            let recorded = recorded
                .parse::<jiff::Timestamp>()
                .map_err(|e| err(format!("recorded `{recorded}`: {e}")))?;
            map.insert(
                (eco, eco.normalize(name)),
                Fact {
                    first_release,
                    versions,
                    recorded,
                },
            );
        }
        Ok(Facts(map))
    }

    /// The facts of a normalised name.
    pub fn get(&self, eco: Ecosystem, name: &str) -> Option<&Fact> {
        self.0.get(&(eco, name.to_string()))
    }

    /// Number of rows for an ecosystem.
    pub fn count(&self, eco: Ecosystem) -> usize {
        self.0.keys().filter(|(e, _)| *e == eco).count()
    }
}

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
    /// Leave-one-out false positives cleared by their recorded registry facts (`established`:
    /// old, many versions; or npm's popularity gap): a warning, not a block.
    pub fp_leave_one_out_cleared: usize,
    /// Leave-one-out false positives with no recorded facts (counted as blocked).
    pub fp_leave_one_out_no_facts: usize,
    /// A few still blocked after the facts (name → target), for inspection.
    pub fp_blocked_examples: Vec<String>,
    /// Every leave-one-out false positive not cleared by downloads (what `--record-facts` looks up).
    #[serde(skip)]
    pub fp_names: Vec<String>,
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
pub fn evaluate(
    corpus: &Corpus,
    cfg: &TyposquatConfig,
    incidents: &[Incident],
    facts: &Facts,
) -> EcoResult {
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
    } else if facts.count(eco) > 0 {
        r.facts = format!(
            "first release and number of versions of each flagged name as recorded from the registry ({} rows), applied with the engine's `established` rule",
            facts.count(eco)
        );
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
            let by_downloads = corpus
                .downloads_at(i as u32 + 1)
                .is_some_and(|d| det.clears_popularity_gap(m, d));
            // The engine's `established` rule on the recorded facts, at the time they were
            // recorded; a name with no facts stays blocked (an upper bound).
            let fact = facts.get(eco, name);
            let established = fact.is_some_and(|f| {
                cfg.established_age(f.versions, f.first_release.as_deref(), f.recorded)
                    .is_some()
            });
            if !by_downloads {
                r.fp_names.push(name.to_string());
                if fact.is_none() {
                    r.fp_leave_one_out_no_facts += 1;
                }
            }
            if by_downloads || established {
                r.fp_leave_one_out_cleared += 1;
            } else {
                r.fp_leave_one_out_blocked += 1;
                if r.fp_blocked_examples.len() < 12 {
                    r.fp_blocked_examples
                        .push(format!("{name} → {} ({:?})", m.target, m.kind));
                }
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
    facts: Option<&Path>,
) -> Result<Vec<EcoResult>> {
    let facts = match facts {
        Some(p) => Facts::parse(
            &std::fs::read_to_string(p)
                .with_context(|| format!("reading registry facts {}", p.display()))?,
        )
        .with_context(|| format!("in {}", p.display()))?,
        None => Facts::parse(REGISTRY_FACTS).context("the built-in registry facts")?,
    };
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
        out.push(evaluate(&corpus, cfg, &incidents, &facts));
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
        if !r.fp_blocked_examples.is_empty() && r.fp_leave_one_out_cleared > 0 {
            s.push_str(&format!(
                "{} leave-one-out still blocked: {}\n",
                r.ecosystem,
                r.fp_blocked_examples.join(", ")
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

/// What `record_facts` did.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The TSV (header comments, header row, one row per name found).
    pub tsv: String,
    /// Rows written.
    pub rows: usize,
    /// Names the registry does not know (no row; they count as blocked).
    pub not_found: Vec<String>,
    /// Names whose look-up failed (no row; they count as blocked).
    pub failed: Vec<String>,
}

/// Looks up, in the live registries, the facts the engine's `established` rule reads (first
/// release, number of versions) for the PyPI and crates.io leave-one-out false positives in
/// `results`, with the engine's own client and parsers ([`RegistryClient::lookup`],
/// [`crate::registry::PackageRecord::first_release`]). Opt-in network: only
/// `sentinel eval --record-facts` calls it.
pub async fn record_facts(
    client: &crate::registry::RegistryClient,
    registries: &crate::policy::Registries,
    results: &[EcoResult],
    now: jiff::Timestamp,
    progress: impl Fn(usize, usize),
) -> Recorded {
    use crate::registry::Lookup;
    let names: Vec<(Ecosystem, &str)> = results
        .iter()
        .filter_map(|r| {
            let eco: Ecosystem = r.ecosystem.parse().ok()?;
            matches!(eco, Ecosystem::Pypi | Ecosystem::CratesIo).then_some((eco, r))
        })
        .flat_map(|(eco, r)| r.fp_names.iter().map(move |n| (eco, n.as_str())))
        .collect();
    let mut out = Recorded {
        tsv: format!(
            "# Registry facts of the PyPI and crates.io names that `sentinel eval` flags leave-one-out,\n\
             # as the engine reads them (first release = earliest upload of any version; versions =\n\
             # every version the registry lists, yanked included). Recorded {} with\n\
             # `sentinel eval --record-facts` from the URLs in `source`.\n\
             ecosystem\tname\tfirst_release\tversions\tsource\trecorded\n",
            now.strftime("%Y-%m-%d")
        ),
        ..Default::default()
    };
    let base = |eco: Ecosystem| registries.get(eco).trim_end_matches('/').to_string();
    for (i, (eco, name)) in names.iter().enumerate() {
        progress(i, names.len());
        match client.lookup(*eco, name).await {
            Ok(Lookup::Found(rec)) => {
                let source = match eco {
                    Ecosystem::CratesIo => format!(
                        "{}/{}",
                        base(*eco),
                        crate::ecosystem::crates_index_path(&rec.name.to_ascii_lowercase())
                    ),
                    _ => format!("{}/pypi/{name}/json", base(*eco)),
                };
                out.tsv.push_str(&format!(
                    "{eco}\t{name}\t{}\t{}\t{source}\t{now}\n",
                    rec.first_release().unwrap_or_else(|| "-".into()),
                    rec.versions.len(),
                ));
                out.rows += 1;
            }
            Ok(Lookup::NotFound) => out.not_found.push(format!("{eco}:{name}")),
            Err(e) => out.failed.push(format!("{eco}:{name} ({e})")),
        }
    }
    progress(names.len(), names.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_parse_and_feed_the_engine_rule() {
        let f = Facts::parse(
            "# c\necosystem\tname\tfirst_release\tversions\tsource\trecorded\n\
             pypi\tUUID7\t2021-12-29T01:38:20Z\t1\tu\t2026-11-27T09:44:13Z\n\
             crates.io\tserde_json\t2015-08-07T19:04:18Z\t186\tu\t2026-11-27T09:44:13Z\n\
             crates.io\tnodate\t-\t40\tu\t2026-11-27T09:44:13Z\n",
        )
        .unwrap();
        let cfg = TyposquatConfig::default();
        let rule = |eco, n: &str| {
            let x = f.get(eco, n).unwrap();
            cfg.established_age(x.versions, x.first_release.as_deref(), x.recorded)
        };
        // Old but one version: not established. Keys are normalised names.
        assert_eq!(rule(Ecosystem::Pypi, "uuid7"), None);
        assert!(rule(Ecosystem::CratesIo, "serde-json").is_some_and(|d| d > 4000));
        // No first release known: the rule cannot clear it.
        assert_eq!(rule(Ecosystem::CratesIo, "nodate"), None);
        assert_eq!(f.count(Ecosystem::CratesIo), 2);
    }

    #[test]
    fn malformed_facts_say_which_line() {
        let e = Facts::parse("pypi\tx\t-\tmany\tu\t2026-11-27T00:00:00Z\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.to_string().contains("versions `many`"), "{e}");
        let e = Facts::parse("\nnpm\tx\t-\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(Facts::parse(REGISTRY_FACTS).is_ok());
    }
}
