//! Command line of cutufato (the binary only calls [`main`]).
//!
//! Exit codes: 0 success; 1 verification failed (tampering, bad signature or proof);
//! 2 bad usage or bad input (missing or malformed file, bad time); 3 not found (unknown id,
//! nothing in the range, no such subject); 4 log or key problem (no log, log exists, key
//! unreadable or too open); 70 internal error.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::auditor::{Auditor, LogError};
use crate::record::{ContextChunk, Decision, Model};
use crate::verify::{self, ContentStatus, Finding};

pub const EXIT_OK: u8 = 0;
pub const EXIT_VERIFY_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_NOT_FOUND: u8 = 3;
pub const EXIT_LOG: u8 = 4;
pub const EXIT_INTERNAL: u8 = 70;

/// Signed, tamper-evident audit log of LLM decisions.
#[derive(Debug, Parser)]
#[command(name = "cutufato", version, about)]
pub struct Cli {
    /// Log directory (log.db, signing.key, trusted.keys, checkpoint).
    #[arg(long, global = true, env = "CUTUFATO_DIR", default_value = ".cutufato")]
    pub dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the log and an Ed25519 signing key (0600); prints the verifier key.
    Init {
        /// Log origin and key name (checkpoint first line), e.g. example.com/ai-audit.
        #[arg(long)]
        origin: Option<String>,
    },
    /// Record one model call; prints its execution id.
    Record(Box<RecordArgs>),
    /// Record what a tool did (a sandbox run, a blocked package) as a signed event; prints its id.
    RecordEvent(RecordEventArgs),
    /// Verify one record, or the whole log with --all.
    Verify(VerifyArgs),
    /// Print a C2SP tlog-proof bundle (record, index, inclusion proof, checkpoint) for offline checking.
    ///
    /// With --since OLD_CHECKPOINT instead of an id: a consistency proof showing the log today
    /// extends a checkpoint kept earlier (nothing removed or rewritten).
    Prove {
        #[arg(required_unless_present = "since", conflicts_with = "since")]
        execution_id: Option<String>,
        /// A signed checkpoint kept earlier: prove the current log extends it.
        #[arg(long)]
        since: Option<PathBuf>,
        /// Write the bundle to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a proof bundle offline with a verifier key (no log needed).
    VerifyProof {
        bundle: PathBuf,
        /// For a consistency bundle: the checkpoint kept earlier.
        #[arg(long)]
        old: Option<PathBuf>,
        /// Verifier key, or a file of verifier keys (repeatable).
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print the latest signed checkpoint (publish it, or keep it to check the log later).
    Checkpoint,
    /// Key management.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Show the records nearest a time, or a whole session: decisions (prompt, context,
    /// response, attribution) and events (source, action, outcome, summary, data).
    ///
    /// With --session: the story of one agent session in order, its decisions and the events of
    /// the tools it used (Babuino runs, Sentinel blocks) interleaved.
    Replay(crate::replay::ReplayArgs),
    /// Erase a data subject's prompts, responses and context (GDPR Art. 17); the log still verifies.
    Erase {
        #[arg(long)]
        subject: String,
        #[arg(long)]
        reason: Option<String>,
        /// Who requested or performed the erasure.
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Export records for an audit (soc2, gdpr, ai-act) with a signed manifest.
    Export(crate::export::ExportArgs),
    /// Ingest, list, show, chunk and check source documents (PDF, Markdown, text, HTML).
    #[command(subcommand)]
    Docs(crate::cli_attr::DocsCmd),
    /// Attribute each sentence of a response to the context chunks that support it and flag what
    /// nothing supports (exit 1 when something is unsupported).
    Attribute(crate::cli_attr::AttributeArgs),
    /// Show a recorded decision with its attribution (text, JSON, or HTML beside its sources).
    Show(crate::cli_attr::ShowArgs),
    /// Score hallucination detection on RAGTruth-layout JSONL (precision, recall, F1, AUROC).
    Eval(crate::cli_attr::EvalArgs),
    /// Serve the log to AI assistants over the Model Context Protocol (stdio, or --http ADDR):
    /// tools record_decision, verify_decision, list_records.
    Mcp(crate::mcp::McpArgs),
    /// List recent records, newest first (decisions, events, erasures, key rotations).
    List(ListArgs),
    /// Check an export directory against its signed manifest.
    VerifyExport {
        /// The export directory (holding manifest.note).
        #[arg(value_name = "DIR")]
        export_dir: PathBuf,
        /// Verifier key or file of keys (default: the log's trusted.keys).
        #[arg(long = "key")]
        keys: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the trusted verifier keys (signed-note format), current key first.
    Export,
    /// Generate a new signing key; the rotation is logged and signed by the old key.
    Rotate,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// File with the prompt ("-" for stdin).
    #[arg(long)]
    pub prompt: PathBuf,
    /// JSON file: array of chunks {doc_id, text, page?, line?, score?, doc_sha256?}.
    #[arg(long)]
    pub context: Option<PathBuf>,
    /// File with the response ("-" for stdin).
    #[arg(long)]
    pub response: PathBuf,
    #[arg(long)]
    pub model: String,
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub model_version: Option<String>,
    /// Model parameter key=value (value parsed as JSON when it is JSON), repeatable.
    #[arg(long = "param")]
    pub params: Vec<String>,
    #[arg(long)]
    pub actor: Option<String>,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub purpose: Option<String>,
    /// Data subject the content is keyed to (default: the actor).
    #[arg(long)]
    pub subject: Option<String>,
    /// Agent session (run, conversation) the call belongs to; ties it to the tools' events.
    #[arg(long)]
    pub session: Option<String>,
    #[arg(long)]
    pub prompt_template_hash: Option<String>,
    #[arg(long)]
    pub policy_version: Option<String>,
    /// Threshold of the attribution's hallucination score (see `cutufato attribute`).
    #[arg(long, default_value_t = crate::attribution::DEFAULT_THRESHOLD)]
    pub threshold: f64,
    /// Record without attributing the response to its context.
    #[arg(long)]
    pub no_attribution: bool,
    /// Print the committed record as JSON instead of the id.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecordEventArgs {
    /// The tool that acted (babuino, sentinel, …): a-z, 0-9, '-', '_', '.'.
    #[arg(long)]
    pub source: String,
    /// What it did (run, block, …), same alphabet.
    #[arg(long)]
    pub action: String,
    /// Short outcome kept in the signed leaf (exit 0, blocked, timeout): no personal data.
    #[arg(long)]
    pub outcome: Option<String>,
    /// One line for people (erasable content).
    #[arg(long)]
    pub summary: String,
    /// JSON file with the detail, e.g. a run report ("-" for stdin; erasable content).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long)]
    pub session: Option<String>,
    #[arg(long)]
    pub actor: Option<String>,
    #[arg(long)]
    pub tenant: Option<String>,
    /// Data subject the content is keyed to (default: the actor).
    #[arg(long)]
    pub subject: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only records of this session.
    #[arg(long)]
    pub session: Option<String>,
    /// Only events from this source (babuino, sentinel, …).
    #[arg(long)]
    pub source: Option<String>,
    /// Only this kind: decision, event, erasure, key-rotation.
    #[arg(long)]
    pub kind: Option<String>,
    /// At most this many records.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Execution id to verify.
    pub execution_id: Option<String>,
    /// Verify the whole log.
    #[arg(long, conflicts_with = "execution_id")]
    pub all: bool,
    /// Trusted verifier key or file of keys (default: the log's trusted.keys), repeatable.
    #[arg(long = "key")]
    pub keys: Vec<String>,
    /// Extra signed checkpoint kept outside the log (e.g. one published earlier), repeatable.
    #[arg(long = "checkpoint")]
    pub checkpoints: Vec<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// Bad input from the user: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Verification failed: exit code 1 (details already printed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VerifyFailed(pub String);

/// Parses arguments and runs the command; returns the documented exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("cutufato: error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Maps an error chain to the documented exit code.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.is::<InputError>() {
            return EXIT_BAD_INPUT;
        }
        if cause.is::<VerifyFailed>() || cause.is::<verify::BundleError>() {
            return EXIT_VERIFY_FAILED;
        }
        if let Some(l) = cause.downcast_ref::<LogError>() {
            return match l {
                LogError::NotInitialized(_)
                | LogError::AlreadyInitialized(_)
                | LogError::Key { .. } => EXIT_LOG,
                LogError::UnknownId(_) | LogError::NotFound(_) => EXIT_NOT_FOUND,
                LogError::Inconsistent(_) => EXIT_VERIFY_FAILED,
                LogError::Invalid(_) | LogError::Note(_) | LogError::Io { .. } => EXIT_BAD_INPUT,
                _ => EXIT_INTERNAL,
            };
        }
    }
    EXIT_INTERNAL
}

fn run(cli: Cli) -> Result<u8> {
    let dir = cli.dir;
    match cli.command {
        Command::Init { origin } => {
            let a = Auditor::init(&dir, origin.as_deref()).context("cannot create the log")?;
            eprintln!("created log {} in {}", a.origin(), dir.display());
            eprintln!(
                "signing key: {} (keep it secret; mode 0600)",
                dir.join(crate::auditor::KEY_FILE).display()
            );
            eprintln!("verifier key (give it to auditors):");
            println!("{}", a.verifier()?);
            Ok(EXIT_OK)
        }
        Command::Record(args) => cmd_record(&dir, *args),
        Command::RecordEvent(args) => cmd_record_event(&dir, args),
        Command::Verify(args) => cmd_verify(&dir, args),
        Command::Prove {
            execution_id,
            since,
            out,
        } => {
            let a = Auditor::open(&dir)?;
            let bundle = match (execution_id, since) {
                (Some(id), _) => a.prove(&id)?,
                (None, Some(old)) => a.prove_consistency(&read_input(&old)?)?,
                (None, None) => bail!(InputError(
                    "give an execution id or --since CHECKPOINT".into()
                )),
            };
            match out {
                Some(p) => std::fs::write(&p, bundle)
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => print!("{bundle}"),
            }
            Ok(EXIT_OK)
        }
        Command::VerifyProof {
            bundle,
            old,
            keys,
            json,
        } => {
            let text = read_input(&bundle)?;
            let trusted = verify::load_keys(&keys)?;
            if text.starts_with(verify::CONSISTENCY_HEADER) {
                let Some(old) = old else {
                    bail!(InputError(
                        "a consistency bundle needs --old CHECKPOINT (the one you kept)".into()
                    ));
                };
                let r = verify::verify_consistency_bundle(&text, &read_input(&old)?, &trusted)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    println!(
                        "✅ Both checkpoints signed by a trusted key of {}",
                        r.origin
                    );
                    println!(
                        "✅ The log at size {} extends the checkpoint of size {}: nothing was removed or rewritten",
                        r.new_size, r.old_size
                    );
                }
                return Ok(EXIT_OK);
            }
            let r = verify::verify_bundle(&text, &trusted, None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "✅ Checkpoint signed by {} (origin {}, size {})",
                    r.signed_by, r.origin, r.checkpoint_size
                );
                println!("✅ Inclusion proof valid (index {})", r.index);
                if let Some(rec) = &r.record {
                    let id = rec
                        .get("execution_id")
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    println!("✅ Record {id} signature valid");
                }
            }
            Ok(EXIT_OK)
        }
        Command::Checkpoint => {
            let a = Auditor::open(&dir)?;
            print!("{}", a.latest_checkpoint()?);
            Ok(EXIT_OK)
        }
        Command::Key(KeyCommand::Export) => {
            let a = Auditor::open(&dir)?;
            let current = a.verifier().ok();
            if let Some(c) = &current {
                println!("{c}");
            }
            for v in a.trusted_keys()? {
                if Some(&v) != current.as_ref() {
                    println!("{v}");
                }
            }
            Ok(EXIT_OK)
        }
        Command::Key(KeyCommand::Rotate) => {
            let mut a = Auditor::open(&dir)?;
            let v = a.rotate_key().context("key rotation failed")?;
            eprintln!(
                "rotated: new records and checkpoints are signed by the new key; old records keep verifying"
            );
            println!("{v}");
            Ok(EXIT_OK)
        }
        Command::Replay(args) => crate::replay::cmd_replay(&dir, args),
        Command::Erase {
            subject,
            reason,
            actor,
            json,
        } => {
            let mut a = Auditor::open(&dir)?;
            let (tomb, erased) = a.erase_subject(&subject, reason.as_deref(), actor.as_deref())?;
            let index = a.get(&tomb).map(|s| s.index).ok();
            if json {
                println!(
                    "{}",
                    serde_json::json!({"tombstone": tomb, "index": index, "erased": erased})
                );
            } else {
                println!(
                    "erased the content of {} record(s) of subject {subject:?}",
                    erased.len()
                );
                println!(
                    "tombstone {tomb} at index {}",
                    index.map_or("?".into(), |i| i.to_string())
                );
                eprintln!(
                    "the signed leaves stay in the log and still verify; prompts, responses and context are gone"
                );
            }
            Ok(EXIT_OK)
        }
        Command::Export(args) => crate::export::cmd_export(&dir, args),
        Command::Docs(cmd) => crate::cli_attr::exit(crate::cli_attr::docs(&dir, cmd)),
        Command::Attribute(args) => crate::cli_attr::exit(crate::cli_attr::attribute(args)),
        Command::Eval(args) => crate::cli_attr::exit(crate::cli_attr::eval(args)),
        Command::Show(args) => crate::cli_attr::show(&dir, args),
        Command::Mcp(args) => {
            crate::mcp::run(&dir, args)?;
            Ok(EXIT_OK)
        }
        Command::List(args) => cmd_list(&dir, args),
        Command::VerifyExport { export_dir, keys } => {
            crate::export::cmd_verify_export(&dir, &export_dir, &keys)
        }
    }
}

/// Reads a file given on the command line ("-" is stdin) with a clear error.
pub fn read_input(path: &Path) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read stdin")?;
        return Ok(s);
    }
    std::fs::read_to_string(path)
        .map_err(|e| anyhow!(InputError(format!("cannot read {}: {e}", path.display()))))
}

/// Parses a chunks file: a JSON array of chunks, or an object with a `chunks` array.
pub fn parse_chunks(text: &str, path: &Path) -> Result<Vec<ContextChunk>> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        anyhow!(InputError(format!(
            "{} is not valid JSON: {e}",
            path.display()
        )))
    })?;
    let arr = match v {
        Value::Object(mut o) if o.contains_key("chunks") => o.remove("chunks").unwrap_or_default(),
        other => other,
    };
    serde_json::from_value(arr).map_err(|e| {
        anyhow!(InputError(format!(
            "{}: expected a JSON array of chunks {{doc_id, text, page?, line?, score?, doc_sha256?}}: {e}",
            path.display()
        )))
    })
}

fn cmd_record(dir: &Path, args: RecordArgs) -> Result<u8> {
    let mut auditor = Auditor::open(dir)?;
    let prompt = read_input(&args.prompt)?;
    let response = read_input(&args.response)?;
    let context = match &args.context {
        Some(p) => parse_chunks(&read_input(p)?, p)?,
        None => Vec::new(),
    };
    let mut parameters = serde_json::Map::new();
    for p in &args.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| anyhow!(InputError(format!("--param {p:?} is not key=value"))))?;
        let v = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        parameters.insert(k.to_owned(), v);
    }
    let decision = Decision {
        prompt,
        context,
        response,
        model: Model {
            name: args.model,
            provider: args.provider,
            version: args.model_version,
            parameters,
        },
        actor: args.actor,
        tenant: args.tenant,
        purpose: args.purpose,
        subject: args.subject,
        session: args.session,
        prompt_template_hash: args.prompt_template_hash,
        policy_version: args.policy_version,
        ..Decision::default()
    };
    let threshold = (!args.no_attribution).then_some(args.threshold);
    let id = crate::ops::record(&mut auditor, decision, threshold)
        .map_err(|e| match e {
            crate::ops::OpError::Log(l) => anyhow::Error::new(l).context("cannot record"),
            other => anyhow!(InputError(format!(
                "{other} (or record with --no-attribution)"
            ))),
        })?
        .execution_id;
    if args.json {
        let s = auditor.get(&id)?;
        println!("{}", String::from_utf8_lossy(&s.leaf));
    } else {
        println!("{id}");
    }
    Ok(EXIT_OK)
}

fn trusted_keys(a: &Auditor, keys: &[String]) -> Result<Vec<crate::note::Verifier>> {
    if keys.is_empty() {
        a.trusted_keys()
            .context("cannot read the log's trusted keys (pass --key)")
    } else {
        Ok(verify::load_keys(keys)?)
    }
}

fn cmd_verify(dir: &Path, args: VerifyArgs) -> Result<u8> {
    let a = Auditor::open(dir)?;
    let trusted = trusted_keys(&a, &args.keys)?;
    if args.all {
        let total = a.size();
        let show = total >= 100_000;
        let r = a.verify_all(&trusted, &args.checkpoints, |done, total| {
            if show {
                eprint!("\rverifying: {done}/{total} entries");
                if done == total {
                    eprintln!();
                }
            }
        })?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else if r.findings.is_empty() {
            println!(
                "✅ {} entries: positions contiguous, every signature valid",
                r.entries
            );
            println!(
                "✅ {} signed checkpoints match the tree (size {}, root {})",
                r.checkpoints,
                r.size,
                hex::encode(r.root)
            );
            println!(
                "✅ {} checkpoint(s) kept outside the database are consistent",
                r.outside_checkpoints
            );
            if r.events == 0 {
                println!(
                    "✅ Content of {} decisions matches its signed hashes ({} erased)",
                    r.decisions.saturating_sub(r.erased),
                    r.erased
                );
            } else {
                println!(
                    "✅ Content of {} records ({} decisions, {} events) matches its signed hashes ({} erased)",
                    (r.decisions + r.events).saturating_sub(r.erased),
                    r.decisions,
                    r.events,
                    r.erased
                );
            }
        } else {
            print_findings(&r.findings);
        }
        let misplaced = crate::cli_attr::verify_all_chunk_places(dir, &a, !args.json)?;
        if misplaced > 0 && r.findings.is_empty() {
            return Err(VerifyFailed(format!(
                "{misplaced} context chunk(s) are not in the stored documents at their cited page and line"
            ))
            .into());
        }
        return if r.findings.is_empty() {
            Ok(EXIT_OK)
        } else {
            Err(VerifyFailed(first(&r.findings)).into())
        };
    }
    let Some(id) = args.execution_id else {
        bail!(InputError(
            "give an execution id to verify, or --all".into()
        ));
    };
    let v = crate::ops::verify(&a, &id, &trusted, &args.checkpoints).map_err(|e| match e {
        crate::ops::OpError::Log(l) => anyhow::Error::new(l),
        other => anyhow!(other),
    })?;
    let r = &v.report;
    if args.json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        if v.has_any(&["retired-key"]) {
            println!(
                "❌ Signed by key {}, retired before this record was written",
                r.key_id
            );
        } else if !v.signature_valid() {
            println!("❌ Signature invalid");
        } else {
            println!("✅ Signature valid (key {})", r.key_id);
        }
        if v.included() {
            println!(
                "✅ Included in the log (index {}, checkpoint size {})",
                r.index, r.checkpoint_size
            );
        } else {
            println!("❌ Inclusion in the log not proven");
        }
        match (&r.content, &r.erased_by) {
            (ContentStatus::Matches { .. }, _) if r.kind == "event" => {
                println!("✅ Summary and data match their signed hashes")
            }
            (ContentStatus::Matches { chunks }, _) => {
                println!(
                    "✅ Prompt, response and {chunks} context chunk(s) match their signed hashes"
                )
            }
            (ContentStatus::Erased, Some(t)) => {
                println!("🗑  Content erased (tombstone {t}); the signed record remains")
            }
            (ContentStatus::Erased, None) => {
                println!("❌ Content missing and no erasure tombstone names this record")
            }
            (ContentStatus::NotApplicable, _) if v.content_mismatch() => {
                println!("❌ Content does not match its signed hashes")
            }
            _ => {}
        }
        match (r.hallucination_detected, r.attribution_confidence) {
            (Some(true), c) => println!(
                "⚠️  Hallucination detected{}",
                c.map(|c| format!(" (attribution confidence {:.0}%)", c * 100.0))
                    .unwrap_or_default()
            ),
            (Some(false), Some(c)) => println!(
                "✅ Response fully attributed ({:.0}% confidence)",
                c * 100.0
            ),
            (None, Some(c)) => println!("ℹ️  Attribution confidence {:.0}%", c * 100.0),
            _ => {}
        }
        if !r.findings.is_empty() {
            print_findings(&r.findings);
        }
    }
    let misplaced = crate::cli_attr::report_chunk_places(&v.places, !args.json);
    if !r.findings.is_empty() {
        return Err(VerifyFailed(first(&r.findings)).into());
    }
    if misplaced > 0 {
        return Err(VerifyFailed(format!(
            "{misplaced} context chunk(s) of {id} are not in the stored documents at their cited page and line"
        ))
        .into());
    }
    if v.erased_without_tombstone() {
        return Err(VerifyFailed(format!(
            "content of {id} was removed without an erasure tombstone"
        ))
        .into());
    }
    Ok(EXIT_OK)
}

fn cmd_record_event(dir: &Path, args: RecordEventArgs) -> Result<u8> {
    let mut auditor = Auditor::open(dir)?;
    let data = match &args.data {
        Some(p) => serde_json::from_str(&read_input(p)?).map_err(|e| {
            anyhow!(InputError(format!(
                "{} is not valid JSON: {e}",
                p.display()
            )))
        })?,
        None => Value::Object(serde_json::Map::new()),
    };
    let event = crate::record::Event {
        source: args.source,
        action: args.action,
        outcome: args.outcome,
        summary: args.summary,
        data,
        session: args.session,
        actor: args.actor,
        tenant: args.tenant,
        subject: args.subject,
    };
    let id = auditor
        .record_event(event)
        .context("cannot record the event")?;
    println!("{id}");
    Ok(EXIT_OK)
}

fn cmd_list(dir: &Path, args: ListArgs) -> Result<u8> {
    let a = Auditor::open(dir)?;
    let filter = crate::ops::ListFilter {
        session: args.session,
        source: args.source,
        kind: args.kind,
        limit: args.limit,
    };
    let records = crate::ops::list_records(&a, &filter).map_err(|e| match e {
        crate::ops::OpError::Log(l) => anyhow::Error::new(l),
        other => anyhow!(InputError(other.to_string())),
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else if records.is_empty() {
        eprintln!("no records match");
    } else {
        for r in &records {
            println!("{}", r.line());
        }
    }
    Ok(EXIT_OK)
}

fn first(f: &[Finding]) -> String {
    f.first()
        .map_or_else(String::new, |f| format!("verification failed: {f}"))
}

fn print_findings(findings: &[Finding]) {
    if let Some(f) = findings.first() {
        println!("❌ first problem: {f}");
    }
    for f in findings.iter().skip(1).take(20) {
        println!("   also: {f}");
    }
    if findings.len() > 21 {
        println!("   … and {} more", findings.len() - 21);
    }
}

/// Parses a user time: RFC 3339, "YYYY-MM-DD HH:MM[:SS]" (UTC) or a date (UTC midnight).
pub fn parse_time(s: &str) -> Result<jiff::Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>()
        && let Ok(z) = dt.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(z.timestamp());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>()
        && let Ok(z) = d.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(z.timestamp());
    }
    bail!(InputError(format!(
        "cannot read time {s:?}: use \"2026-04-25 14:30\" (UTC), 2026-04-25T14:30:00Z or 2026-04-25"
    )))
}

/// The fixed-width stored form of a timestamp.
pub fn ts_key(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
