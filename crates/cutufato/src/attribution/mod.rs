//! Source attribution and hallucination detection, deterministic tier.
//!
//! [`attribute`] maps every sentence of a response to the context chunks that support it and
//! flags what nothing supports, each flag with its reason. It needs no model: the same chunks,
//! response and [`Config`] always give the same [`Attribution`], so a verdict signed into the log
//! can be reproduced by anyone holding the same inputs. The evaluator's name, version and
//! threshold travel with every result ([`Evaluator`]).
//!
//! How a sentence is scored (the *hallucination score*, higher is worse):
//!
//! - **unsupported words**: `missing / (content + 1)`, where `content` counts its content words
//!   (not function words, three letters or more) and `missing` those whose stem appears in no
//!   chunk and not in the prompt (the `+ 1` keeps a one-word sentence from counting as fully
//!   unsupported on one word's evidence);
//! - **+1.0 per number or date part** (digits, number words, clock times read in 24 hours) that
//!   appears in no chunk;
//! - **+1.0 per month name** that appears in no chunk;
//! - **+0.5 per name** (a capitalised word inside the sentence) that appears in no chunk;
//! - **+1.0 for a negation mismatch**: a clause and a clause of its best evidence of which one
//!   holds nearly all (80 %) the other's content words and at least half of its own, and one is
//!   negated while the other is not;
//! - **+1.0 per contradiction with a structured record** (a JSON chunk): a clause asserts an
//!   attribute the record sets to `false`, denies one it sets to `true`, or mentions one it
//!   leaves `null`.
//!
//! A sentence is *unsupported* when its score reaches the threshold (default
//! [`DEFAULT_THRESHOLD`]); the response is flagged when any sentence is. A sentence's confidence
//! is `1 − min(score, 1)`; the response's confidence is its weakest sentence's.
//!
//! What it is not: a semantic judge. A paraphrase that keeps the content words' stems is
//! recognised; one that replaces every word by a synonym is not, and a false statement built only
//! from words of the context is not caught unless a number, name, negation or record attribute
//! betrays it.

pub mod html;
pub mod text;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use text::{Span, has_negation, is_content, number_key, numbers, sentences, stem, words};

/// Name recorded as the evaluator of this tier.
pub const EVALUATOR_NAME: &str = "cutufato-lexical";
/// Version of the scoring rules; changes whenever a rule or weight changes, so an old verdict can
/// be reproduced with the version that made it.
pub const EVALUATOR_VERSION: &str = "1.0.0";
/// Default threshold on a sentence's hallucination score (chosen on the RAGTruth calibration
/// half; see `docs/cutufato-attr.md`).
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// Largest response accepted, in bytes (1 MiB): a reply longer than a book chapter is almost
/// certainly the wrong file, and the scoring is kept well below a second.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Largest total context accepted, in bytes (32 MiB).
pub const MAX_CONTEXT_BYTES: usize = 32 << 20;
/// Most chunks accepted in one call.
pub const MAX_CHUNKS: usize = 10_000;

const WEIGHT_NUMBER: f64 = 1.0;
const WEIGHT_NAME: f64 = 0.5;
const WEIGHT_NEGATION: f64 = 1.0;
const WEIGHT_RECORD: f64 = 1.0;
/// Sources listed per sentence at most.
const MAX_SOURCES: usize = 3;

/// Errors of [`attribute`]: the input cannot be attributed as given.
#[derive(Debug, thiserror::Error)]
pub enum AttributeError {
    #[error("the response is empty: give the model's answer text")]
    EmptyResponse,
    #[error("no context chunks: give at least one chunk the response should be grounded in")]
    NoChunks,
    #[error("context chunk {0} is empty: remove it or give its text")]
    EmptyChunk(usize),
    #[error(
        "the response is {0} bytes, over the limit of {MAX_RESPONSE_BYTES}: split it and attribute each part"
    )]
    ResponseTooLarge(usize),
    #[error(
        "the context is {0} bytes, over the limit of {MAX_CONTEXT_BYTES}: pass only the chunks retrieved for this response"
    )]
    ContextTooLarge(usize),
    #[error(
        "{0} chunks given, over the limit of {MAX_CHUNKS}: pass only the chunks retrieved for this response"
    )]
    TooManyChunks(usize),
    #[error("threshold {0} is out of range: give a number above 0 (default {DEFAULT_THRESHOLD})")]
    BadThreshold(f64),
}

/// One piece of context the model saw, with where it came from when known.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunk {
    pub text: String,
    /// The document's id (its name, or the SHA-256 of its bytes for ingested documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    /// SHA-256 (hex) of the document's bytes, when ingested with `cutufato docs add`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_sha256: Option<String>,
    /// Page of the chunk's first line (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Line of the chunk's first line on that page (1-based, see `docs/cutufato-attr.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Retrieval score, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl Chunk {
    /// A chunk with text only.
    pub fn text(text: impl Into<String>) -> Self {
        Chunk {
            text: text.into(),
            ..Chunk::default()
        }
    }
}

/// Settings of the deterministic tier.
#[derive(Debug, Clone)]
pub struct Config {
    /// A sentence whose hallucination score reaches this is unsupported.
    pub threshold: f64,
    /// The prompt or question: its words may be repeated by the response without being counted
    /// as unsupported, but it is never cited as a source.
    pub prompt: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            threshold: DEFAULT_THRESHOLD,
            prompt: None,
        }
    }
}

/// Who produced a verdict, so it can be reproduced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluator {
    pub name: String,
    pub version: String,
    pub threshold: f64,
}

/// A span in characters (Unicode scalar values), end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharSpan {
    pub start: usize,
    pub end: usize,
}

/// Kind of a flag raised on a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlagKind {
    /// A number that appears in no chunk.
    Number,
    /// A date part (year, month, day) that appears in no chunk.
    Date,
    /// A name that appears in no chunk.
    Name,
    /// The sentence negates what its evidence states, or the reverse.
    Negation,
    /// The sentence contradicts an attribute of a structured record.
    Contradiction,
    /// Too much of the sentence is found in no chunk.
    Unsupported,
}

/// A reason why a sentence may not be supported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub kind: FlagKind,
    /// The offending words, in characters of the response.
    pub span: CharSpan,
    pub text: String,
    pub reason: String,
}

/// A chunk that supports a sentence, with the evidence inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Index of the chunk in the input.
    pub chunk: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Line of the evidence's first character (chunk line + line breaks before the evidence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The evidence in the chunk's text, in characters.
    pub evidence: CharSpan,
    pub evidence_text: String,
    /// Share of the sentence's content words and numbers found in the evidence (0–1).
    pub score: f64,
}

/// Attribution of one sentence of the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceAttribution {
    /// The sentence in the response, in characters.
    pub span: CharSpan,
    pub text: String,
    pub supported: bool,
    /// `1 − min(score, 1)`.
    pub confidence: f64,
    /// Hallucination score (see the module documentation).
    pub score: f64,
    pub sources: Vec<Source>,
    pub flags: Vec<Flag>,
    /// For an unsupported sentence, the clauses (in characters of the response) that hold its
    /// flagged items and unsupported words; empty for a supported sentence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported_spans: Vec<CharSpan>,
}

/// Result of [`attribute`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub evaluator: Evaluator,
    /// True when any sentence is unsupported.
    pub hallucination_detected: bool,
    /// The weakest sentence's confidence.
    pub confidence: f64,
    /// The highest sentence score (used for ranking, e.g. AUROC).
    pub score: f64,
    pub sentences: Vec<SentenceAttribution>,
}

/// Byte → character offsets of one string.
struct CharIndex {
    starts: Vec<usize>,
}

impl CharIndex {
    fn new(s: &str) -> Self {
        CharIndex {
            starts: s.char_indices().map(|(i, _)| i).collect(),
        }
    }
    fn char_of(&self, byte: usize) -> usize {
        self.starts.partition_point(|&b| b < byte)
    }
    fn span(&self, s: Span) -> CharSpan {
        CharSpan {
            start: self.char_of(s.start),
            end: self.char_of(s.end),
        }
    }
}

/// A fact of a structured record whose value is a boolean or null.
struct RecordFact {
    /// The attribute as written (`attributes.OutdoorSeating`).
    path: String,
    /// Stems that a clause must contain to mention it.
    stems: Vec<String>,
    value: Option<bool>,
}

/// One chunk prepared for matching.
struct PreparedChunk {
    /// Text used for matching (a JSON record flattened to `key words: value` lines).
    text: String,
    /// True when `text` is the chunk's own text (evidence spans map back to it).
    verbatim: bool,
    sentences: Vec<(Span, HashSet<String>, HashSet<i64>, bool)>,
}

/// Everything known from the context as a whole.
struct ContextIndex {
    stems: HashSet<String>,
    lower: HashSet<String>,
    numbers: HashSet<i64>,
    facts: Vec<RecordFact>,
    chunks: Vec<PreparedChunk>,
    /// Chunk sentences (chunk, sentence) holding each content stem / number.
    stem_postings: HashMap<String, Vec<(u32, u32)>>,
    number_postings: HashMap<i64, Vec<(u32, u32)>>,
    /// Initials of runs of capitalised words (`Children's Health Insurance Program` → `chip`).
    acronyms: HashSet<String>,
    /// The context's words in lower case, sorted, for abbreviation look-ups.
    sorted_lower: Vec<String>,
}

impl ContextIndex {
    /// True when `word` abbreviates something of the context: an all-capitals acronym of a run of
    /// capitalised words, or a capitalised 3–4 letter prefix of a context word (`Sat`, `Apr`,
    /// `Corp`).
    fn is_abbreviation(&self, word: &str) -> bool {
        let n = word.chars().count();
        if n < 2 || !word.starts_with(char::is_uppercase) {
            return false;
        }
        let lower = word.to_lowercase();
        if word.chars().all(|c| c.is_uppercase() || c.is_ascii_digit())
            && self.acronyms.contains(&lower)
        {
            return true;
        }
        if (3..=4).contains(&n) {
            let i = self
                .sorted_lower
                .partition_point(|w| w.as_str() <= lower.as_str());
            return self
                .sorted_lower
                .get(i)
                .is_some_and(|w| w.starts_with(&lower));
        }
        false
    }
}

/// Adds the initials of every 2–6 word window of each run of capitalised words in `text`
/// (function words inside a run are skipped).
fn collect_acronyms(text: &str, out: &mut HashSet<String>) {
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, out: &mut HashSet<String>| {
        for len in 2..=6.min(run.len()) {
            for start in 0..=run.len() - len {
                out.insert(
                    run[start..start + len]
                        .iter()
                        .flat_map(|c| c.to_lowercase())
                        .collect(),
                );
            }
        }
        run.clear();
    };
    for w in words(text) {
        let first = w.text.chars().next().unwrap_or(' ');
        // Function words and a possessive `s` do not break a run.
        let joins = text::is_stopword(w.text) || w.text == "s";
        if first.is_uppercase() {
            run.push(first);
        } else if run.is_empty() || !joins {
            flush(&mut run, out);
        }
    }
    flush(&mut run, out);
}

/// A stem held by more chunk sentences than this is too common to help find evidence and is not
/// used for it (it still counts as supported). Keeps the source search near-linear on very large
/// contexts.
const MAX_POSTINGS: usize = 20_000;

fn flatten_json(
    v: &serde_json::Value,
    path: &mut Vec<String>,
    out: &mut String,
    leaves: &mut Vec<(Vec<String>, Option<bool>)>,
) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                path.push(k.clone());
                flatten_json(v, path, out, leaves);
                path.pop();
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                flatten_json(item, path, out, leaves);
            }
        }
        leaf => {
            let key = path
                .last()
                .map(|k| text::split_identifier(k))
                .unwrap_or_default();
            let value = match leaf {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&key);
            out.push_str(": ");
            out.push_str(&value);
            out.push('\n');
            match leaf {
                serde_json::Value::Bool(b) => leaves.push((path.clone(), Some(*b))),
                serde_json::Value::Null => leaves.push((path.clone(), None)),
                _ => {}
            }
        }
    }
}

/// Facts of a record: for each boolean or null leaf, the stems of its key and its parent's key,
/// without the record's namespace words (stems shared by three keys or more, such as
/// `Restaurants` in `RestaurantsTakeOut`, `RestaurantsReservations`, …).
fn record_facts(
    json: &serde_json::Value,
    leaves: Vec<(Vec<String>, Option<bool>)>,
) -> Vec<RecordFact> {
    let mut keys = Vec::new();
    collect_keys(json, &mut keys);
    let mut per_stem: HashMap<String, usize> = HashMap::new();
    for k in &keys {
        let stems: HashSet<String> = key_stems(k).into_iter().collect();
        for s in stems {
            *per_stem.entry(s).or_default() += 1;
        }
    }
    let mut facts = Vec::new();
    for (path, value) in leaves {
        let Some(leaf) = path.last() else { continue };
        let mut stems: Vec<String> = Vec::new();
        let parent = if path.len() >= 3 {
            path.get(path.len() - 2)
        } else {
            None
        };
        for k in parent.into_iter().chain(std::iter::once(leaf)) {
            for s in key_stems(k) {
                if per_stem.get(&s).copied().unwrap_or(0) < 3 && !stems.contains(&s) {
                    stems.push(s);
                }
            }
        }
        if stems.is_empty() {
            continue;
        }
        facts.push(RecordFact {
            path: path.join("."),
            stems,
            value,
        });
    }
    facts
}

fn collect_keys(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                collect_keys(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_keys(i, out)),
        _ => {}
    }
}

fn key_stems(key: &str) -> Vec<String> {
    let spaced = text::split_identifier(key);
    words(&spaced)
        .iter()
        .filter(|w| !text::is_stopword(&w.text.to_lowercase()))
        .map(|w| stem(w.text))
        .collect()
}

fn content_stems(t: &str) -> HashSet<String> {
    words(t)
        .iter()
        .filter(|w| is_content(w.text))
        .map(|w| stem(w.text))
        .collect()
}

fn sentence_features(t: &str) -> (HashSet<String>, HashSet<i64>, bool) {
    let stems = words(t)
        .iter()
        .filter(|w| is_content(w.text))
        .map(|w| stem(w.text))
        .collect();
    // Context numbers count both as scaled and as written (`1.5 million` is 1500000 and 1.5).
    let nums = numbers(t)
        .iter()
        .flat_map(|n| [number_key(n.value), number_key(n.raw)])
        .collect();
    (stems, nums, has_negation(&t.to_lowercase()))
}

fn prepare(chunks: &[Chunk], prompt: Option<&str>) -> ContextIndex {
    let mut idx = ContextIndex {
        stems: HashSet::new(),
        lower: HashSet::new(),
        numbers: HashSet::new(),
        facts: Vec::new(),
        chunks: Vec::with_capacity(chunks.len()),
        stem_postings: HashMap::new(),
        number_postings: HashMap::new(),
        acronyms: HashSet::new(),
        sorted_lower: Vec::new(),
    };
    let add_words = |t: &str, idx: &mut ContextIndex| {
        for w in words(t) {
            idx.stems.insert(stem(w.text));
            idx.lower.insert(w.text.to_lowercase());
        }
        for n in numbers(t) {
            idx.numbers.insert(number_key(n.value));
            idx.numbers.insert(number_key(n.raw));
        }
    };
    for c in chunks {
        let trimmed = c.text.trim_start();
        let parsed = if trimmed.starts_with('{') || trimmed.starts_with('[') {
            serde_json::from_str::<serde_json::Value>(&c.text).ok()
        } else {
            None
        };
        let (mtext, verbatim) = match parsed {
            Some(json) => {
                let mut flat = String::new();
                let mut leaves = Vec::new();
                flatten_json(&json, &mut Vec::new(), &mut flat, &mut leaves);
                idx.facts.extend(record_facts(&json, leaves));
                // Keys as written (`WiFi`) count as words of the context too.
                let mut keys = Vec::new();
                collect_keys(&json, &mut keys);
                add_words(&keys.join(" "), &mut idx);
                (flat, false)
            }
            None => (c.text.clone(), true),
        };
        add_words(&mtext, &mut idx);
        // A US state written as its postal code in the context (`CA`) may be named in full.
        for w in words(&mtext) {
            if let Some((_, name)) = US_STATES.iter().find(|(code, _)| *code == w.text) {
                add_words(name, &mut idx);
            }
        }
        let sents = sentences(&mtext)
            .into_iter()
            .map(|s| {
                let (st, nu, neg) = sentence_features(&mtext[s.start..s.end]);
                (s, st, nu, neg)
            })
            .collect();
        idx.chunks.push(PreparedChunk {
            text: mtext,
            verbatim,
            sentences: sents,
        });
    }
    if let Some(p) = prompt {
        add_words(p, &mut idx);
    }
    let mut acronyms = HashSet::new();
    for pc in &idx.chunks {
        collect_acronyms(&pc.text, &mut acronyms);
    }
    idx.acronyms = acronyms;
    idx.sorted_lower = idx.lower.iter().cloned().collect();
    idx.sorted_lower.sort_unstable();
    for (ci, pc) in idx.chunks.iter().enumerate() {
        for (si, (_, st, nu, _)) in pc.sentences.iter().enumerate() {
            let key = (ci as u32, si as u32);
            for s in st {
                idx.stem_postings.entry(s.clone()).or_default().push(key);
            }
            for n in nu {
                idx.number_postings.entry(*n).or_default().push(key);
            }
        }
    }
    idx
}

fn check_input(chunks: &[Chunk], response: &str, cfg: &Config) -> Result<(), AttributeError> {
    if !(cfg.threshold > 0.0 && cfg.threshold.is_finite()) {
        return Err(AttributeError::BadThreshold(cfg.threshold));
    }
    if response.len() > MAX_RESPONSE_BYTES {
        return Err(AttributeError::ResponseTooLarge(response.len()));
    }
    if response.trim().is_empty() {
        return Err(AttributeError::EmptyResponse);
    }
    if chunks.is_empty() {
        return Err(AttributeError::NoChunks);
    }
    if chunks.len() > MAX_CHUNKS {
        return Err(AttributeError::TooManyChunks(chunks.len()));
    }
    let total: usize = chunks.iter().map(|c| c.text.len()).sum();
    if total > MAX_CONTEXT_BYTES {
        return Err(AttributeError::ContextTooLarge(total));
    }
    if let Some(i) = chunks.iter().position(|c| c.text.trim().is_empty()) {
        return Err(AttributeError::EmptyChunk(i));
    }
    Ok(())
}

/// Attributes each sentence of `response` to the `chunks` that support it and flags what is not
/// supported. Deterministic: same input, same output.
pub fn attribute(
    chunks: &[Chunk],
    response: &str,
    cfg: &Config,
) -> Result<Attribution, AttributeError> {
    check_input(chunks, response, cfg)?;
    let idx = prepare(chunks, cfg.prompt.as_deref());
    let rindex = CharIndex::new(response);
    let mut out = Vec::new();
    for span in sentences(response) {
        out.push(attribute_sentence(
            chunks,
            &idx,
            response,
            span,
            &rindex,
            cfg.threshold,
        ));
    }
    let score = out.iter().map(|s| s.score).fold(0.0, f64::max);
    let hallucination_detected = out.iter().any(|s| !s.supported);
    Ok(Attribution {
        evaluator: Evaluator {
            name: EVALUATOR_NAME.to_string(),
            version: EVALUATOR_VERSION.to_string(),
            threshold: cfg.threshold,
        },
        hallucination_detected,
        confidence: round3(1.0 - score.min(1.0)),
        score: round3(score),
        sentences: out,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// US postal codes and state names, for addresses in structured records.
const US_STATES: &[(&str, &str)] = &[
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
    ("DC", "District of Columbia"),
];

/// Capitalised words that are not names.
const NOT_NAMES: &[&str] = &["am", "pm", "ok", "tv", "faq"];

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Byte offset where the sentence's own words start: after a list marker (`3.`, `b)`, `-`, `*`).
fn body_start(s: &str) -> usize {
    let t = s.trim_start_matches(['-', '*', '•', ' ']);
    let skipped = s.len() - t.len();
    let digits = t.chars().take_while(|c| c.is_ascii_alphanumeric()).count();
    if digits > 0 && digits <= 3 {
        let rest = &t[digits..];
        if (rest.starts_with(". ") || rest.starts_with(") "))
            && t[..digits]
                .chars()
                .all(|c| c.is_ascii_digit() || digits == 1)
        {
            return skipped + digits + 2;
        }
    }
    skipped
}

fn attribute_sentence(
    chunks: &[Chunk],
    idx: &ContextIndex,
    response: &str,
    span: Span,
    rindex: &CharIndex,
    threshold: f64,
) -> SentenceAttribution {
    let stext = &response[span.start..span.end];
    let body = body_start(stext);
    if stext.ends_with(':') {
        // A lead-in ("Here is a summary in 80 words:") introduces what follows and claims
        // nothing about the sources; it is neither supported nor flagged.
        return SentenceAttribution {
            span: rindex.span(span),
            text: stext.to_string(),
            supported: true,
            confidence: 1.0,
            score: 0.0,
            sources: Vec::new(),
            flags: Vec::new(),
            unsupported_spans: Vec::new(),
        };
    }
    let at = |s: usize, e: usize| {
        rindex.span(Span {
            start: span.start + s,
            end: span.start + e,
        })
    };
    let mut flags = Vec::new();
    let mut score = 0.0;

    // Content words and the ones no chunk has.
    let ws = words(stext);
    let content: Vec<_> = ws
        .iter()
        .filter(|w| {
            w.start >= body
                && is_content(w.text)
                && text::number_word(&w.text.to_lowercase()).is_none()
        })
        .collect();
    let missing: Vec<_> = content
        .iter()
        .filter(|w| !idx.stems.contains(&stem(w.text)) && !idx.is_abbreviation(w.text))
        .collect();
    let ratio = if content.is_empty() {
        0.0
    } else {
        missing.len() as f64 / (content.len() + 1) as f64
    };
    score += ratio;

    // Numbers and date parts.
    let has_month = ws.iter().any(|w| {
        w.text.starts_with(char::is_uppercase) && MONTHS.contains(&w.text.to_lowercase().as_str())
    });
    for n in numbers(stext) {
        if n.span.start < body || idx.numbers.contains(&number_key(n.value)) {
            continue;
        }
        let shown = &stext[n.span.start..n.span.end];
        let is_year = (1900.0..=2100.0).contains(&n.value) && !shown.contains('.');
        let is_day = n.value <= 31.0 && has_month;
        let is_date = is_year || is_day;
        let (kind, what) = if is_date {
            (FlagKind::Date, "date part")
        } else {
            (FlagKind::Number, "number")
        };
        score += WEIGHT_NUMBER;
        flags.push(Flag {
            kind,
            span: at(n.span.start, n.span.end),
            text: shown.to_string(),
            reason: format!("the {what} {shown} appears in no chunk"),
        });
    }

    // Names: capitalised words inside the sentence that no chunk has.
    let first_body_word = ws.iter().position(|w| w.start >= body);
    for (i, w) in ws.iter().enumerate() {
        if w.start < body || !w.text.starts_with(char::is_uppercase) {
            continue;
        }
        let lower = w.text.to_lowercase();
        // Month names are checked wherever they stand ("May" is also a function word).
        let is_month = MONTHS.contains(&lower.as_str());
        if (!is_month
            && (Some(i) == first_body_word
                || text::is_stopword(&lower)
                || NOT_NAMES.contains(&lower.as_str())))
            || idx.lower.contains(&lower)
            || idx.stems.contains(&stem(w.text))
            || idx.is_abbreviation(w.text)
        {
            continue;
        }
        score += if is_month { WEIGHT_NUMBER } else { WEIGHT_NAME };
        flags.push(Flag {
            kind: if is_month {
                FlagKind::Date
            } else {
                FlagKind::Name
            },
            span: at(w.start, w.start + w.text.len()),
            text: w.text.to_string(),
            reason: if is_month {
                format!("the month {} appears in no chunk", w.text)
            } else {
                format!("the name {} appears in no chunk", w.text)
            },
        });
    }

    // Contradictions with structured records, clause by clause.
    if !idx.facts.is_empty() {
        for (cs, ce) in clauses(stext) {
            let clause = &stext[cs..ce];
            let cstems: HashSet<String> = words(clause).iter().map(|w| stem(w.text)).collect();
            let negated = has_negation(&clause.to_lowercase());
            for f in &idx.facts {
                if !f.stems.iter().all(|s| cstems.contains(s)) {
                    continue;
                }
                let reason = match (f.value, negated) {
                    (Some(false), false) => format!(
                        "the record sets {} to false; this clause asserts it",
                        f.path
                    ),
                    (Some(true), true) => {
                        format!("the record sets {} to true; this clause denies it", f.path)
                    }
                    (None, _) => format!(
                        "the record gives no value for {}; this clause states one",
                        f.path
                    ),
                    _ => continue,
                };
                score += WEIGHT_RECORD;
                flags.push(Flag {
                    kind: FlagKind::Contradiction,
                    span: at(cs, ce),
                    text: clause.to_string(),
                    reason,
                });
                break;
            }
        }
    }

    // Sources: the chunk sentences that share most of the sentence's content words and numbers.
    let sstems: HashSet<String> = content.iter().map(|w| stem(w.text)).collect();
    let snums: HashSet<i64> = numbers(&stext[body..])
        .iter()
        .map(|n| number_key(n.value))
        .collect();
    let total = (sstems.len() + snums.len()).max(1) as f64;
    let mut counts: HashMap<(u32, u32), usize> = HashMap::new();
    let postings = sstems
        .iter()
        .filter_map(|st| idx.stem_postings.get(st))
        .chain(snums.iter().filter_map(|n| idx.number_postings.get(n)))
        .filter(|p| p.len() <= MAX_POSTINGS);
    for p in postings {
        for &key in p {
            *counts.entry(key).or_default() += 1;
        }
    }
    // Per chunk, its best sentence (most overlap, then the earliest).
    let mut best: HashMap<u32, (usize, u32)> = HashMap::new();
    for (&(ci, si), &o) in &counts {
        let e = best.entry(ci).or_insert((o, si));
        if o > e.0 || (o == e.0 && si < e.1) {
            *e = (o, si);
        }
    }
    // (overlap, chunk, sentence)
    let mut candidates: Vec<(usize, usize, usize)> = best
        .into_iter()
        .map(|(ci, (o, si))| (o, ci as usize, si as usize))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut sources = Vec::new();
    for &(overlap, ci, si) in candidates.iter().take(MAX_SOURCES) {
        let pscore = overlap as f64 / total;
        // Further sources must each hold at least half of the sentence.
        if pscore < 0.5 && !sources.is_empty() {
            break;
        }
        sources.push(make_source(chunks, idx, ci, si, pscore));
    }

    // Negation mismatch, clause against clause: a clause of the sentence and a clause of its best
    // evidence that share nearly all their content words, one negated and the other not.
    if let Some(&(_, ci, si)) = candidates.first()
        && idx.facts.is_empty()
    {
        let pc = &idx.chunks[ci];
        let espan = pc.sentences[si].0;
        let etext = &pc.text[espan.start..espan.end];
        let eclauses: Vec<(HashSet<String>, bool)> = clauses(etext)
            .into_iter()
            .map(|(a, b)| {
                (
                    content_stems(&etext[a..b]),
                    has_negation(&etext[a..b].to_lowercase()),
                )
            })
            .collect();
        for (cs, ce) in clauses(stext) {
            let clause = &stext[cs.max(body)..ce.max(body)];
            let cstems = content_stems(clause);
            if cstems.len() < 2 {
                continue;
            }
            let cneg = has_negation(&clause.to_lowercase());
            let best = eclauses
                .iter()
                .map(|(es, eneg)| {
                    (
                        cstems.iter().filter(|s| es.contains(*s)).count(),
                        es.len(),
                        *eneg,
                    )
                })
                .max_by_key(|&(o, _, _)| o);
            let Some((overlap, elen, eneg)) = best else {
                continue;
            };
            // One clause (nearly) contains the other: same statement, possibly with extra detail.
            let (o, c, e) = (overlap as f64, cstems.len() as f64, elen as f64);
            let close =
                overlap >= 2 && ((o >= 0.8 * c && o >= 0.5 * e) || (o >= 0.8 * e && o >= 0.5 * c));
            if close && cneg != eneg {
                score += WEIGHT_NEGATION;
                let reason = if cneg {
                    "this clause negates what its evidence states".to_string()
                } else {
                    "the evidence negates what this clause states".to_string()
                };
                flags.push(Flag {
                    kind: FlagKind::Negation,
                    span: at(cs.max(body), ce.max(body)),
                    text: clause.to_string(),
                    reason,
                });
                break;
            }
        }
    }

    let supported = score < threshold;
    if !supported && !missing.is_empty() {
        let list: Vec<&str> = missing.iter().take(8).map(|w| w.text).collect();
        flags.push(Flag {
            kind: FlagKind::Unsupported,
            span: at(body, stext.len()),
            text: stext[body..].to_string(),
            reason: format!(
                "{} of {} content words appear in no chunk ({})",
                missing.len(),
                content.len(),
                list.join(", ")
            ),
        });
    }
    // The clauses that carry the problem: those holding a flagged item or an unsupported word.
    let mut unsupported_spans: Vec<CharSpan> = Vec::new();
    if !supported {
        let mut offending: Vec<usize> = missing.iter().map(|w| w.start).collect();
        for f in flags.iter().filter(|f| f.kind != FlagKind::Unsupported) {
            if let Some(&b) = rindex.starts.get(f.span.start) {
                offending.push(b.saturating_sub(span.start));
            }
        }
        let mut last_end: Option<usize> = None;
        for (cs, ce) in clauses(stext) {
            let (cs, ce) = (cs.max(body), ce.max(body));
            let piece = &stext[cs..ce];
            let lead = piece.len() - piece.trim_start().len();
            let trail = piece.len() - piece.trim_end().len();
            let (cs, ce) = (cs + lead, ce - trail);
            if cs >= ce || !offending.iter().any(|&o| o >= cs && o < ce) {
                continue;
            }
            let cspan = at(cs, ce);
            match (unsupported_spans.last_mut(), last_end) {
                // Adjacent clauses merge into one span.
                (Some(prev), Some(e)) if stext[e..cs].trim().len() <= 1 => prev.end = cspan.end,
                _ => unsupported_spans.push(cspan),
            }
            last_end = Some(ce);
        }
        if unsupported_spans.is_empty() {
            unsupported_spans.push(at(body, stext.len()));
        }
    }
    SentenceAttribution {
        span: rindex.span(span),
        text: stext.to_string(),
        supported,
        confidence: round3(1.0 - score.min(1.0)),
        score: round3(score),
        sources,
        flags,
        unsupported_spans,
    }
}

/// Clauses of a sentence (byte ranges), cut at `,`, `;`, `:` and ` but `.
fn clauses(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() {
        let cut = if matches!(b[i], b',' | b';' | b':') {
            Some(1)
        } else if b
            .get(i..i + 5)
            .is_some_and(|w| w.eq_ignore_ascii_case(b" but "))
        {
            Some(4)
        } else {
            None
        };
        if let Some(len) = cut {
            if i > start {
                out.push((start, i));
            }
            start = i + len;
            i += len;
        } else {
            i += 1;
        }
    }
    if start < s.len() {
        out.push((start, s.len()));
    }
    out
}

fn make_source(chunks: &[Chunk], idx: &ContextIndex, ci: usize, si: usize, score: f64) -> Source {
    let chunk = &chunks[ci];
    let pc = &idx.chunks[ci];
    let (espan, etext, line) = if pc.verbatim {
        let s = pc.sentences[si].0;
        let cindex = CharIndex::new(&chunk.text);
        let breaks = chunk.text[..s.start].matches('\n').count() as u32;
        (
            cindex.span(s),
            chunk.text[s.start..s.end].to_string(),
            chunk.line.map(|l| l + breaks),
        )
    } else {
        // A structured record: the evidence is the flattened `key: value` line.
        let s = pc.sentences[si].0;
        (
            CharSpan {
                start: 0,
                end: chunk.text.chars().count(),
            },
            pc.text[s.start..s.end].to_string(),
            chunk.line,
        )
    };
    Source {
        chunk: ci,
        doc_id: chunk.doc_id.clone(),
        doc_sha256: chunk.doc_sha256.clone(),
        page: chunk.page,
        line,
        evidence: espan,
        evidence_text: etext,
        score: round3(score.min(1.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str], response: &str) -> Attribution {
        let chunks: Vec<Chunk> = chunks.iter().map(|c| Chunk::text(*c)).collect();
        attribute(&chunks, response, &Config::default()).unwrap()
    }

    #[test]
    fn supported_sentence_cites_its_chunk_and_evidence() {
        let a = run(
            &[
                "Payment is due monthly. The contract expires on 2025-12-31 unless terminated.",
                "Unrelated text about cats.",
            ],
            "The contract expires on 2025-12-31.",
        );
        assert!(!a.hallucination_detected);
        let s = &a.sentences[0];
        assert!(s.supported);
        assert_eq!(s.sources[0].chunk, 0);
        assert_eq!(
            s.sources[0].evidence_text,
            "The contract expires on 2025-12-31 unless terminated."
        );
        assert_eq!(s.sources[0].evidence, CharSpan { start: 24, end: 77 });
    }

    #[test]
    fn changed_date_is_flagged_with_reason() {
        let a = run(
            &["The contract expires on 2025-12-31."],
            "The contract expires on 2026-12-31.",
        );
        assert!(a.hallucination_detected);
        let f = &a.sentences[0].flags[0];
        assert_eq!(f.kind, FlagKind::Date);
        assert_eq!(f.text, "2026");
        assert_eq!(f.span, CharSpan { start: 24, end: 28 });
        assert!(f.reason.contains("2026"), "{}", f.reason);
    }

    #[test]
    fn unsupported_sentence_lists_missing_words() {
        let a = run(
            &["The contract expires on 2025-12-31."],
            "It renews automatically every winter.",
        );
        let s = &a.sentences[0];
        assert!(!s.supported);
        let f = s
            .flags
            .iter()
            .find(|f| f.kind == FlagKind::Unsupported)
            .unwrap();
        assert!(f.reason.contains("renews"), "{}", f.reason);
    }

    #[test]
    fn record_contradiction_is_caught_clause_by_clause() {
        let rec = r#"{"name": "Cafe Uno", "attributes": {"OutdoorSeating": false, "RestaurantsTakeOut": true, "RestaurantsDelivery": true, "RestaurantsReservations": false, "Music": null}}"#;
        let a = run(&[rec], "Cafe Uno offers outdoor seating.");
        assert!(
            a.sentences[0]
                .flags
                .iter()
                .any(|f| f.kind == FlagKind::Contradiction)
        );
        let b = run(
            &[rec],
            "Cafe Uno has no outdoor seating, but offers take out.",
        );
        assert!(
            b.sentences[0]
                .flags
                .iter()
                .all(|f| f.kind != FlagKind::Contradiction),
            "{:?}",
            b.sentences[0].flags
        );
    }

    #[test]
    fn acronyms_and_short_forms_of_the_context_are_not_names() {
        let a = run(
            &["The Children's Health Insurance Program pays on Saturday in April."],
            "The CHIP pays on Sat in Apr.",
        );
        assert!(
            a.sentences[0].flags.is_empty(),
            "{:?}",
            a.sentences[0].flags
        );
        let b = run(
            &["The Children's Health Insurance Program pays."],
            "The NHS pays.",
        );
        assert_eq!(b.sentences[0].flags[0].kind, FlagKind::Name);
    }

    /// Random text of awkward pieces (multi-byte letters, digits next to `am`/`pm`, list markers,
    /// JSON, quotes, lone punctuation) never panics and spans stay inside the response.
    #[test]
    fn awkward_input_never_panics() {
        const PIECES: &[&str] = &[
            "É",
            "ß",
            "日本",
            "ﬁ",
            " ",
            "\n",
            ".",
            "!",
            "?",
            ",",
            ";",
            ":",
            " but ",
            "n't",
            "no-fly",
            "3.",
            "12",
            "1,250.5",
            "7 pm",
            "12a.m.",
            "p.m",
            "May",
            "CA",
            "WiFi",
            "{\"a\": null}",
            "[",
            "- ",
            "a)",
            "’",
            "\u{200b}",
            "NOT",
            "Dr.",
            "x",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let len = 1 + next() % 40;
            let mut make = || -> String {
                (0..len)
                    .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                    .collect()
            };
            let response = format!("a {}", make());
            let context = format!("b {}", make());
            let chunks = vec![
                Chunk::text(context),
                Chunk::text(format!("{{\"k\": {}}}", len % 3)),
            ];
            let a = attribute(&chunks, &response, &Config::default()).unwrap();
            let n = response.chars().count();
            for s in &a.sentences {
                assert!(s.span.start <= s.span.end && s.span.end <= n);
                for f in &s.flags {
                    assert!(f.span.end <= n, "{response:?}");
                }
                for u in &s.unsupported_spans {
                    assert!(u.start <= u.end && u.end <= n);
                }
            }
        }
    }

    #[test]
    fn empty_and_oversized_inputs_are_errors() {
        let c = vec![Chunk::text("x")];
        assert!(matches!(
            attribute(&c, "  ", &Config::default()),
            Err(AttributeError::EmptyResponse)
        ));
        assert!(matches!(
            attribute(&[], "hi", &Config::default()),
            Err(AttributeError::NoChunks)
        ));
        let big = "a ".repeat(MAX_RESPONSE_BYTES);
        assert!(matches!(
            attribute(&c, &big, &Config::default()),
            Err(AttributeError::ResponseTooLarge(_))
        ));
    }
}
