//! Subcommands of the attribution side: `docs`, `attribute`, `show`, `eval`, and the attribution
//! steps of `record` and `verify`.
//!
//! Exit codes (as for the whole CLI): 0 success (and, for `attribute` and `docs verify`,
//! everything supported or found); 1 a finding (an unsupported sentence, a chunk not found at its
//! cited place); 2 bad input or usage (the message says what to fix); 3 not found (unknown
//! document or execution id); 70 an internal error.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::attribution::{self, Attribution, Chunk, Config, DEFAULT_THRESHOLD};
use crate::auditor::{Auditor, LogError};
use crate::cli::InputError;
use crate::documents::{DocError, Document, Store};
use crate::eval;
use crate::ops;
use crate::record::Body;

/// Writes to standard output. A closed pipe (`cutufato … | head`) ends the program quietly with
/// exit 0, as ripgrep does, instead of a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut so = std::io::stdout().lock();
        match write!(so, $($arg)*) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            other => other.context("cannot write to standard output")?,
        }
    }};
}

/// [`out!`] with a final line break.
macro_rules! outln {
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

/// Outcome of a command, mapped to the exit code by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Clean,
    /// Exit 1: the command ran and found something (unsupported content, a missing chunk).
    Finding,
}

/// `cutufato docs …`
#[derive(Debug, Subcommand)]
pub enum DocsCmd {
    /// Ingest documents (PDF text layer, Markdown, plain text, HTML), stored by SHA-256 with their
    /// page and line map.
    Add {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the stored documents.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Print a stored document's lines with their page and line numbers.
    Show {
        /// SHA-256, a unique prefix of it (8+ hex digits) or the file name.
        id: String,
        /// Only this page.
        #[arg(long)]
        page: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Cut stored documents into chunks citing page and line (JSON array on stdout, the format
    /// `attribute --context` reads).
    Chunks {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Most lines per chunk (a chunk never crosses a blank line or a page).
        #[arg(long, default_value_t = 8)]
        max_lines: usize,
    },
    /// Check that every chunk of a context file is in the stored documents at its cited page and
    /// line, and that each stored document still matches its hash.
    Verify {
        /// JSON array of chunks.
        #[arg(long)]
        context: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// `cutufato attribute`
#[derive(Debug, Args)]
pub struct AttributeArgs {
    /// JSON array of context chunks: strings, or objects {text, doc_id?, doc_sha256?, page?,
    /// line?, score?}.
    #[arg(long)]
    pub context: PathBuf,
    /// The model's answer (a text file, or - for standard input).
    #[arg(long)]
    pub response: PathBuf,
    /// The prompt or question (text file): its words are not counted as unsupported.
    #[arg(long)]
    pub prompt: Option<PathBuf>,
    /// A sentence whose hallucination score reaches this is unsupported.
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    pub threshold: f64,
    /// Print the full attribution as JSON.
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// Print an HTML page: the response beside its sources.
    #[arg(long)]
    pub html: bool,
}

/// `cutufato eval`
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// JSONL in the RAGTruth layout ({task_type, context, question?, response, labels}).
    pub data: PathBuf,
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    pub threshold: f64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn print_json<T: Serialize>(v: &T) -> Result<()> {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).context("cannot serialise the output")?
    );
    Ok(())
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    let mut s = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut s)
            .with_context(|| format!("cannot read the {what} from standard input"))?;
    } else {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the {what} {}", path.display()))?;
        s = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("the {what} {} is not UTF-8 text", path.display()))?;
    }
    Ok(s)
}

/// Reads a chunks file: a JSON array whose items are strings or chunk objects.
pub fn read_chunks(path: &Path) -> Result<Vec<Chunk>> {
    let text = read_text(path, "context")?;
    let bad = || {
        format!(
            "{}: not a JSON array of chunks (strings or {{\"text\": …}} objects, or {{\"chunks\": [...]}})",
            path.display()
        )
    };
    let value: serde_json::Value = serde_json::from_str(&text).with_context(bad)?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(mut o) => match o.remove("chunks") {
            Some(serde_json::Value::Array(items)) => items,
            _ => bail!(bad()),
        },
        _ => bail!(bad()),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            serde_json::Value::String(text) => Ok(Chunk::text(text)),
            other => serde_json::from_value(other).with_context(|| {
                format!(
                    "{}: chunk {i} is not {{text, doc_id?, doc_sha256?, page?, line?, score?}}",
                    path.display()
                )
            }),
        })
        .collect()
}

/// Runs `cutufato docs …` with the store under `home`.
pub fn docs(home: &Path, cmd: DocsCmd) -> Result<Outcome> {
    let store = Store::open(home)
        .with_context(|| format!("cannot open the document store in {}", home.display()))?;
    match cmd {
        DocsCmd::Add { files, json } => {
            let mut added = Vec::new();
            for f in &files {
                let (doc, new) = store
                    .add(f)
                    .with_context(|| format!("cannot add {}", f.display()))?;
                if !json {
                    outln!(
                        "{}  {:>4} pages {:>6} lines  {}{}  ({} {})",
                        doc.sha256,
                        doc.pages.len(),
                        doc.line_count(),
                        doc.name,
                        if new { "" } else { "  (already stored)" },
                        doc.extractor.name,
                        doc.extractor.version
                    );
                }
                added.push(summary(&doc, new));
            }
            if json {
                print_json(&added)?;
            }
        }
        DocsCmd::List { json } => {
            let docs = store.list()?;
            if json {
                print_json(&docs.iter().map(|d| summary(d, false)).collect::<Vec<_>>())?;
            } else {
                for d in &docs {
                    outln!(
                        "{}  {:>4} pages {:>6} lines  {}",
                        d.sha256,
                        d.pages.len(),
                        d.line_count(),
                        d.name
                    );
                }
            }
        }
        DocsCmd::Show { id, page, json } => {
            let doc = store.get(&id)?;
            if let Some(p) = page
                && !doc.pages.iter().any(|x| x.number == p)
            {
                bail!(
                    "{} has {} pages; there is no page {p}",
                    doc.name,
                    doc.pages.len()
                );
            }
            if json {
                print_json(&doc)?;
            } else {
                for p in doc
                    .pages
                    .iter()
                    .filter(|x| page.is_none_or(|n| n == x.number))
                {
                    for (i, l) in p.lines.iter().enumerate() {
                        outln!("p.{} l.{:<4} {l}", p.number, i + 1);
                    }
                }
            }
        }
        DocsCmd::Chunks { ids, max_lines } => {
            let mut chunks = Vec::new();
            for id in &ids {
                chunks.extend(store.get(id)?.chunks(max_lines));
            }
            print_json(&chunks)?;
        }
        DocsCmd::Verify { context, json } => {
            let chunks = read_chunks(&context)?;
            let mut report = Vec::new();
            let mut bad = 0;
            let mut checked_docs = std::collections::BTreeSet::new();
            for (i, c) in chunks.iter().enumerate() {
                let mut problem = store.check_chunk(c).err().map(|e| e.to_string());
                if problem.is_none()
                    && let Some(sha) = c.doc_sha256.as_deref().or(c.doc_id.as_deref())
                    && let Ok(doc) = store.get(sha)
                    && checked_docs.insert(doc.sha256.clone())
                    && let Err(e) = store.check_integrity(&doc.sha256)
                {
                    problem = Some(e.to_string());
                }
                if problem.is_some() {
                    bad += 1;
                }
                if !json {
                    match &problem {
                        None => outln!("ok    chunk {i}: {}", cite(c)),
                        Some(p) => outln!("FAIL  chunk {i}: {p}"),
                    }
                }
                report.push(
                    serde_json::json!({"chunk": i, "ok": problem.is_none(), "problem": problem}),
                );
            }
            if json {
                print_json(&report)?;
            } else {
                outln!(
                    "{} of {} chunks found at their cited place",
                    chunks.len() - bad,
                    chunks.len()
                );
            }
            return Ok(if bad == 0 {
                Outcome::Clean
            } else {
                Outcome::Finding
            });
        }
    }
    Ok(Outcome::Clean)
}

fn summary(d: &Document, new: bool) -> serde_json::Value {
    serde_json::json!({
        "sha256": d.sha256, "name": d.name, "format": d.format, "bytes": d.bytes,
        "pages": d.pages.len(), "lines": d.line_count(), "extractor": d.extractor, "added": new,
    })
}

/// `doc p.N l.M` or `chunk i`.
pub fn cite(c: &Chunk) -> String {
    let mut s = c
        .doc_id
        .clone()
        .or_else(|| c.doc_sha256.clone())
        .unwrap_or_else(|| "chunk".into());
    if let Some(p) = c.page {
        s.push_str(&format!(" p.{p}"));
    }
    if let Some(l) = c.line {
        s.push_str(&format!(" l.{l}"));
    }
    s
}

/// The attribution as human text, one sentence a line.
pub fn render_text(att: &Attribution, chunks: &[Chunk]) -> String {
    let width = att
        .sentences
        .iter()
        .map(|s| s.text.chars().count().min(60))
        .max()
        .unwrap_or(0)
        + 2;
    let mut out = String::new();
    for s in &att.sentences {
        let shown: String = if s.text.chars().count() > 60 {
            format!("{}…", s.text.chars().take(59).collect::<String>())
        } else {
            s.text.clone()
        };
        let quoted = format!("\"{shown}\"");
        let closest = s.sources.first().map(|src| {
            let c = chunks.get(src.chunk).cloned().unwrap_or_default();
            let mut c2 = c.clone();
            c2.line = src.line.or(c.line);
            if c2.doc_id.is_none() && c2.doc_sha256.is_none() {
                c2.doc_id = Some(format!("chunk {}", src.chunk));
            }
            cite(&c2)
        });
        if s.supported {
            let src = closest.unwrap_or_else(|| "(no content words)".into());
            out.push_str(&format!(
                "  {quoted:<width$}← {src} ({:.2})\n",
                s.confidence,
                width = width + 1
            ));
            for f in &s.flags {
                out.push_str(&format!(
                    "  {:<width$}  ⚠ {}\n",
                    "",
                    f.reason,
                    width = width
                ));
            }
        } else {
            let reasons: Vec<&str> = s.flags.iter().map(|f| f.reason.as_str()).collect();
            let near = closest
                .map(|c| format!(" (closest: {c})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {quoted:<width$}✗ unsupported: {}{near}\n",
                reasons.join("; "),
                width = width + 1
            ));
        }
    }
    let bad = att.sentences.iter().filter(|s| !s.supported).count();
    out.push_str(&format!(
        "{} of {} sentences unsupported; confidence {:.2} ({} {}, threshold {})\n",
        bad,
        att.sentences.len(),
        att.confidence,
        att.evaluator.name,
        att.evaluator.version,
        att.evaluator.threshold
    ));
    out
}

/// Runs `cutufato attribute`.
pub fn attribute(args: AttributeArgs) -> Result<Outcome> {
    let chunks = read_chunks(&args.context)?;
    let response = read_text(&args.response, "response")?;
    let prompt = args
        .prompt
        .as_deref()
        .map(|p| read_text(p, "prompt"))
        .transpose()?;
    let att = attribution::attribute(
        &chunks,
        &response,
        &Config {
            threshold: args.threshold,
            prompt,
        },
    )?;
    if args.json {
        print_json(&att)?;
    } else if args.html {
        let title = format!("attribution of {}", args.response.display());
        out!(
            "{}",
            attribution::html::render(&att, &chunks, &response, &title)
        );
    } else {
        out!("{}", render_text(&att, &chunks));
    }
    Ok(if att.hallucination_detected {
        Outcome::Finding
    } else {
        Outcome::Clean
    })
}

/// Runs `cutufato eval`.
pub fn eval(args: EvalArgs) -> Result<Outcome> {
    let f = std::fs::File::open(&args.data)
        .with_context(|| format!("cannot open {}", args.data.display()))?;
    let report = eval::evaluate(
        BufReader::new(f),
        &Config {
            threshold: args.threshold,
            prompt: None,
        },
    )
    .with_context(|| format!("cannot evaluate {}", args.data.display()))?;
    if args.json {
        print_json(&report)?;
    } else {
        out!("{}", eval::render(&report));
    }
    Ok(Outcome::Clean)
}

/// Maps the outcome of an attribution command to the CLI's exit code: findings exit 1, an unknown
/// document exits 3, any other error is bad input (exit 2).
pub fn exit(r: Result<Outcome>) -> Result<u8> {
    match r {
        Ok(Outcome::Clean) => Ok(crate::cli::EXIT_OK),
        Ok(Outcome::Finding) => Ok(crate::cli::EXIT_VERIFY_FAILED),
        Err(e) => {
            let not_found = e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<DocError>(),
                    Some(DocError::NotFound(_) | DocError::Ambiguous(_))
                )
            });
            if not_found {
                Err(LogError::NotFound(format!("{e:#}")).into())
            } else {
                Err(InputError(format!("{e:#}")).into())
            }
        }
    }
}

pub use crate::ops::{attribute_decision, to_chunk};

/// Prints the place checks of one record's chunks (when `print`): the chunks not at their place,
/// those whose document is not stored here, and a summary. Returns how many are not at their
/// cited place.
pub fn report_chunk_places(checks: &[ops::PlaceCheck], print: bool) -> usize {
    let (ok, bad, skipped) = ops::place_counts(checks);
    if print {
        print_places(checks, "", true);
        if ok + bad > 0 {
            print_places_summary(ok, bad, skipped);
        }
    }
    bad
}

/// [`report_chunk_places`] for every decision of the log (when a document store exists); prints
/// only the chunks not at their place and a summary.
pub fn verify_all_chunk_places(dir: &Path, auditor: &Auditor, print: bool) -> Result<usize> {
    let Some(store) = ops::open_store(dir)? else {
        return Ok(0);
    };
    let (mut ok, mut bad, mut skipped) = (0, 0, 0);
    for index in 0..auditor.size() {
        let Ok(stored) = auditor.get_index(index) else {
            continue;
        };
        let prefix = format!("{} ", stored.entry.body.execution_id());
        let checks = ops::chunk_places(Some(&store), &stored);
        let (o, b, s) = ops::place_counts(&checks);
        if b > 0 && print {
            print_places(&checks, &prefix, false);
        }
        (ok, bad, skipped) = (ok + o, bad + b, skipped + s);
    }
    if print && ok + bad > 0 {
        print_places_summary(ok, bad, skipped);
    }
    Ok(bad)
}

/// Prints the chunks not at their place (and, with `not_checked`, the documents not stored here).
fn print_places(checks: &[ops::PlaceCheck], prefix: &str, not_checked: bool) {
    for c in checks {
        match &c.status {
            ops::PlaceStatus::Misplaced { reason } => {
                println!("❌ {prefix}context [{}]: {reason}", c.chunk)
            }
            ops::PlaceStatus::NotStored if not_checked => println!(
                "ℹ️  {prefix}context [{}] {}: document not in the store here; place not checked",
                c.chunk, c.doc_id
            ),
            _ => {}
        }
    }
}

fn print_places_summary(ok: usize, bad: usize, skipped: usize) {
    let mark = if bad == 0 { "✅" } else { "❌" };
    let not_checked = if skipped > 0 {
        format!(" ({skipped} not checked)")
    } else {
        String::new()
    };
    println!(
        "{mark} {ok} of {} context chunk(s) found in the stored documents at their cited page and line{not_checked}",
        ok + bad
    );
}

/// `cutufato show`
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Execution id of the decision or event.
    pub execution_id: String,
    /// An HTML page: the response beside its sources, supported and unsupported spans highlighted.
    #[arg(long, conflicts_with = "json")]
    pub html: bool,
    /// The stored attribution as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `cutufato show`: the decision's attribution as text, JSON or HTML.
pub fn show(dir: &Path, args: ShowArgs) -> Result<u8> {
    let auditor = Auditor::open(dir)?;
    let stored = auditor.get(&args.execution_id)?;
    if let Body::Event(_) = &stored.entry.body {
        return show_event(&auditor, &stored, &args);
    }
    let Body::Decision(d) = &stored.entry.body else {
        return Err(InputError(format!(
            "{} is a {} record, not a decision or an event (see `cutufato verify {}`)",
            args.execution_id,
            stored.entry.body.kind(),
            args.execution_id
        ))
        .into());
    };
    let Some(content) = &stored.content else {
        return Err(
            LogError::NotFound(format!("the content of {} was erased", args.execution_id)).into(),
        );
    };
    let Some(value) = &content.attribution else {
        return Err(LogError::NotFound(format!(
            "{} was recorded without attribution (no context, or --no-attribution)",
            args.execution_id
        ))
        .into());
    };
    let att: Attribution = serde_json::from_value(value.clone()).map_err(|e| {
        InputError(format!(
            "the stored attribution of {} is not readable: {e}",
            args.execution_id
        ))
    })?;
    let chunks: Vec<Chunk> = d
        .context_chunks
        .iter()
        .zip(&content.chunks)
        .map(|(r, text)| Chunk {
            text: text.clone(),
            doc_id: Some(r.doc_id.clone()),
            doc_sha256: r.doc_sha256.clone(),
            page: r.page,
            line: r.line,
            score: r.score,
        })
        .collect();
    if args.json {
        print_json(&att)?;
    } else if args.html {
        let title = format!("{} · {} · {}", d.execution_id, d.model.name, d.timestamp);
        out!(
            "{}",
            attribution::html::render(&att, &chunks, &content.response, &title)
        );
    } else {
        outln!("{} · {} · {}", d.execution_id, d.model.name, d.timestamp);
        if let Some(session) = &d.session {
            outln!("session: {session}");
        }
        out!("{}", render_text(&att, &chunks));
    }
    Ok(crate::cli::EXIT_OK)
}

/// `cutufato show` of an event: source, action, outcome, session, summary and data, with its
/// signature and content checked; `--json` prints the signed record and its content.
fn show_event(auditor: &Auditor, stored: &crate::auditor::Stored, args: &ShowArgs) -> Result<u8> {
    if args.html {
        return Err(InputError(format!(
            "{} is an event: it has no attribution to show as HTML; show it as text or --json",
            args.execution_id
        ))
        .into());
    }
    let checked = crate::replay::Checked::of(auditor, stored, &auditor.trusted_keys()?)?;
    if args.json {
        let record: serde_json::Value =
            serde_json::from_slice(&stored.leaf).context("the stored record is not JSON")?;
        print_json(&serde_json::json!({
            "record": record,
            "content": stored.content,
            "signature_valid": checked.sig_ok,
            "content_matches": checked.content_problem.is_none(),
            "erased_by": checked.erased_by,
        }))?;
    } else {
        out!("{}", crate::replay::render_event(stored, &checked));
    }
    Ok(crate::cli::EXIT_OK)
}
