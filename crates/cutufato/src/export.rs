//! Audit exports (SOC 2, GDPR with an Art. 30 record of processing, EU AI Act Art. 12) as JSON
//! Lines, CSV or HTML, each with `manifest.note`: a signed note whose text is the canonical JSON
//! manifest (row counts, file hashes, the log checkpoint). `verify-export` checks it.
//!
//! Exports fail closed: a record whose signature does not verify stops the export, and an empty
//! range is an error, so an export never comes out silently empty or silently tampered.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auditor::{Auditor, LogError, now_timestamp, write_atomic};
use crate::cli::{EXIT_OK, InputError, VerifyFailed, parse_time, ts_key};
use crate::merkle::leaf_hash;
use crate::note::Checkpoint;
use crate::record::{Body, canonical};
use crate::verify;

pub const MANIFEST_FILE: &str = "manifest.note";
pub const MANIFEST_FORMAT: &str = "cutufato-export/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// SOC 2 CC7.2/CC7.3: every logged event with integrity evidence.
    Soc2,
    /// GDPR: processing per record, erasures, and an Art. 30 record of processing.
    Gdpr,
    /// EU AI Act Art. 12 record-keeping fields, retention status (Art. 19/26(6)).
    AiAct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    Html,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Html => "html",
        }
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub profile: Profile,
    /// First day (or time) included, UTC.
    #[arg(long)]
    pub from: String,
    /// Last day included (a date covers the whole day), UTC.
    #[arg(long)]
    pub to: String,
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Output directory (created; existing export files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Controller named in the GDPR Art. 30 record.
    #[arg(long)]
    pub controller: Option<String>,
}

/// A file of an export as the manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestFile {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
    /// Data rows in the file (records; not the CSV header).
    pub rows: u64,
}

/// The signed manifest of an export.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub profile: Profile,
    pub from: String,
    pub to: String,
    pub generated_at: String,
    pub origin: String,
    /// The log's latest signed checkpoint when the export was made.
    pub checkpoint: String,
    pub row_count: u64,
    pub first_index: u64,
    pub last_index: u64,
    pub kinds: BTreeMap<String, u64>,
    pub files: Vec<ManifestFile>,
    #[serde(default)]
    pub retention: Option<Value>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

type Row = Vec<(&'static str, Value)>;

fn opt<T: Serialize>(v: &Option<T>) -> Value {
    v.as_ref().map_or(Value::Null, |x| {
        serde_json::to_value(x).unwrap_or(Value::Null)
    })
}

fn row_for(
    profile: Profile,
    index: u64,
    leaf: &[u8],
    body: &Body,
    key_id: &str,
    content_present: bool,
    cp_size: u64,
) -> Option<Row> {
    let mut r: Row = vec![
        ("log_index", json!(index)),
        ("execution_id", json!(body.execution_id())),
        ("kind", json!(body.kind())),
        ("timestamp", json!(body.timestamp())),
    ];
    match (profile, body) {
        (Profile::AiAct, Body::Decision(d)) => {
            r.push(("model", json!(d.model.name)));
            r.push(("model_version", opt(&d.model.version)));
            r.push(("provider", opt(&d.model.provider)));
            r.push((
                "model_parameters",
                Value::Object(d.model.parameters.clone()),
            ));
            r.push(("purpose", opt(&d.purpose)));
            r.push(("natural_person", opt(&d.actor)));
            r.push(("input_hash", json!(d.prompt_hash)));
            r.push(("output_hash", json!(d.response_hash)));
            let refs: Vec<String> = d
                .context_chunks
                .iter()
                .map(|c| {
                    let mut s = c.doc_id.clone();
                    if let Some(h) = &c.doc_sha256 {
                        s.push_str(&format!("@{h}"));
                    }
                    if let Some(p) = c.page {
                        s.push_str(&format!(" p.{p}"));
                    }
                    if let Some(l) = c.line {
                        s.push_str(&format!(" l.{l}"));
                    }
                    s
                })
                .collect();
            r.push(("reference_data", json!(refs.join("; "))));
            r.push(("attribution_confidence", opt(&d.attribution_confidence)));
            r.push(("hallucination_detected", opt(&d.hallucination_detected)));
            r.push((
                "evaluator",
                d.evaluator
                    .as_ref()
                    .map_or(Value::Null, |e| json!(format!("{} {}", e.name, e.version))),
            ));
            r.push(("human_override", json!(d.human_override_hash.is_some())));
            r.push(("prompt_template_hash", opt(&d.prompt_template_hash)));
            r.push(("policy_version", opt(&d.policy_version)));
        }
        (Profile::AiAct, Body::Event(e)) => {
            // Logs of operation (Art. 12(2)): what the system's tools did, in the same columns
            // as the decisions (those of a model call are empty), detail in the event columns.
            for k in [
                "model",
                "model_version",
                "provider",
                "model_parameters",
                "purpose",
            ] {
                r.push((k, Value::Null));
            }
            r.push(("natural_person", opt(&e.actor)));
            for k in [
                "input_hash",
                "output_hash",
                "reference_data",
                "attribution_confidence",
                "hallucination_detected",
                "evaluator",
            ] {
                r.push((k, Value::Null));
            }
            r.push(("human_override", json!(false)));
            r.push(("prompt_template_hash", Value::Null));
            r.push(("policy_version", Value::Null));
        }
        (Profile::AiAct, _) => return None,
        (Profile::Gdpr, Body::Decision(d)) => {
            r.push(("purpose", opt(&d.purpose)));
            r.push(("subject_ref", json!(d.subject_ref)));
            r.push(("actor", opt(&d.actor)));
            r.push(("tenant", opt(&d.tenant)));
            r.push((
                "recipient",
                json!(
                    d.model
                        .provider
                        .clone()
                        .unwrap_or_else(|| d.model.name.clone())
                ),
            ));
            r.push((
                "personal_data",
                json!(if content_present {
                    "stored (prompt, response, context)"
                } else {
                    "erased"
                }),
            ));
        }
        (Profile::Gdpr, Body::Erasure(e)) => {
            r.push(("purpose", json!("erasure (Art. 17)")));
            r.push(("subject_ref", json!(e.subject_ref)));
            r.push(("actor", opt(&e.actor)));
            r.push(("erased_records", json!(e.erased.len())));
            r.push(("reason", opt(&e.reason)));
        }
        (Profile::Gdpr, Body::Event(e)) => {
            r.push((
                "purpose",
                json!(format!("agent tool event ({} {})", e.source, e.action)),
            ));
            r.push(("subject_ref", json!(e.subject_ref)));
            r.push(("actor", opt(&e.actor)));
            r.push(("tenant", opt(&e.tenant)));
            r.push(("recipient", json!(e.source)));
            r.push((
                "personal_data",
                json!(if content_present {
                    "stored (summary, data)"
                } else {
                    "erased"
                }),
            ));
        }
        (Profile::Gdpr, Body::KeyRotation(_)) => return None,
        (Profile::Soc2, b) => {
            let (actor, model, hall, conf) = match b {
                Body::Decision(d) => (
                    d.actor.clone(),
                    Some(d.model.name.clone()),
                    d.hallucination_detected,
                    d.attribution_confidence,
                ),
                Body::Erasure(e) => (e.actor.clone(), None, None, None),
                Body::Event(e) => (e.actor.clone(), None, None, None),
                Body::KeyRotation(_) => (None, None, None, None),
            };
            r.push(("actor", opt(&actor)));
            r.push(("model", opt(&model)));
            r.push(("hallucination_detected", opt(&hall)));
            r.push(("attribution_confidence", opt(&conf)));
            let detail = match b {
                Body::Decision(_) => if content_present {
                    "content present"
                } else {
                    "content erased"
                }
                .to_owned(),
                Body::Erasure(e) => format!("erased {} record(s)", e.erased.len()),
                Body::KeyRotation(k) => format!("new key {}", k.new_key),
                Body::Event(e) => match &e.outcome {
                    Some(o) => format!("{} {}: {o}", e.source, e.action),
                    None => format!("{} {}", e.source, e.action),
                },
            };
            r.push(("detail", json!(detail)));
        }
    }
    r.push(("key_id", json!(key_id)));
    r.push(("signature_valid", json!(true)));
    r.push(("leaf_hash", json!(hex::encode(leaf_hash(leaf)))));
    r.push(("checkpoint_size", json!(cp_size)));
    // Added after the original columns so existing readers keep their positions.
    let (session, event) = match body {
        Body::Decision(d) => (d.session.clone(), None),
        Body::Event(e) => (e.session.clone(), Some(e)),
        _ => (None, None),
    };
    r.push(("session", opt(&session)));
    if profile != Profile::Gdpr {
        r.push(("event_source", opt(&event.map(|e| e.source.clone()))));
        r.push(("event_action", opt(&event.map(|e| e.action.clone()))));
        r.push(("event_outcome", opt(&event.and_then(|e| e.outcome.clone()))));
    }
    Some(r)
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn render(
    format: Format,
    rows: &[Row],
    title: &str,
    summary: &[(String, String)],
    extra_html: &str,
) -> String {
    match format {
        Format::Jsonl => rows
            .iter()
            .map(|r| {
                let obj: serde_json::Map<String, Value> = r
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect();
                format!("{}\n", Value::Object(obj))
            })
            .collect(),
        Format::Csv => {
            let mut s = String::new();
            if let Some(first) = rows.first() {
                s.push_str(
                    &first
                        .iter()
                        .map(|(k, _)| csv_field(k))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                s.push_str("\r\n");
            }
            for r in rows {
                s.push_str(
                    &r.iter()
                        .map(|(_, v)| csv_field(&cell(v)))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                s.push_str("\r\n");
            }
            s
        }
        Format::Html => {
            let mut s = format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;font-size:13px}}th,td{{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}}th{{background:#f0f0f0;position:sticky;top:0}}tr.row:nth-child(even){{background:#fafafa}}dl{{display:grid;grid-template-columns:max-content auto;gap:2px 12px}}dt{{font-weight:600}}code{{word-break:break-all}}</style></head><body>\n<h1>{t}</h1>\n<dl>\n",
                t = html_escape(title)
            );
            for (k, v) in summary {
                s.push_str(&format!(
                    "<dt>{}</dt><dd>{}</dd>\n",
                    html_escape(k),
                    html_escape(v)
                ));
            }
            s.push_str("</dl>\n");
            s.push_str(extra_html);
            s.push_str("<table>\n<thead><tr>");
            if let Some(first) = rows.first() {
                for (k, _) in first {
                    s.push_str(&format!("<th>{}</th>", html_escape(&k.replace('_', " "))));
                }
            }
            s.push_str("</tr></thead>\n<tbody>\n");
            for r in rows {
                s.push_str("<tr class=\"row\">");
                for (_, v) in r {
                    s.push_str(&format!("<td>{}</td>", html_escape(&cell(v))));
                }
                s.push_str("</tr>\n");
            }
            s.push_str("</tbody></table>\n</body></html>\n");
            s
        }
    }
}

/// Counts data rows of an export file the way it was written.
fn count_rows(format: &str, text: &str) -> u64 {
    match format {
        "jsonl" => text.lines().filter(|l| !l.trim().is_empty()).count() as u64,
        "csv" => {
            // Records end at CRLF outside quotes; minus the header.
            let (mut n, mut quoted) = (0u64, false);
            let b = text.as_bytes();
            for (i, c) in b.iter().enumerate() {
                match c {
                    b'"' => quoted = !quoted,
                    b'\n' if !quoted && i > 0 && b[i - 1] == b'\r' => n += 1,
                    _ => {}
                }
            }
            n.saturating_sub(1)
        }
        "html" => text.matches("<tr class=\"row\">").count() as u64,
        _ => 0,
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// End of the `--to` range (exclusive): a date means the whole day.
fn range(from: &str, to: &str) -> Result<(String, String)> {
    let f = parse_time(from)?;
    let t = parse_time(to)?;
    let date_only = to.trim().parse::<jiff::civil::Date>().is_ok();
    let t_end = if date_only {
        t.checked_add(jiff::SignedDuration::from_hours(24))?
    } else {
        t.checked_add(jiff::SignedDuration::from_micros(1))?
    };
    if t_end <= f {
        bail!(InputError(format!("--to {to} is before --from {from}")));
    }
    Ok((ts_key(f), ts_key(t_end)))
}

pub fn cmd_export(dir: &Path, args: ExportArgs) -> Result<u8> {
    let a = Auditor::open(dir)?;
    a.verifier()
        .context("an export is signed with the log's key")?;
    let trusted = a.trusted_keys()?;
    let (from_key, to_key) = range(&args.from, &args.to)?;
    let conn = a.connection();
    let (cp_size, cp_note) = crate::store::latest_checkpoint(conn)?
        .ok_or_else(|| LogError::NotFound("the log has no checkpoint".into()))?;
    Checkpoint::open(&cp_note, &trusted, Some(a.origin()))
        .context("the log's latest checkpoint does not verify; run `cutufato verify --all`")?;
    let mut st = conn.prepare(
        "SELECT e.idx, e.leaf, c.idx IS NOT NULL FROM entries e LEFT JOIN content c ON c.idx = e.idx
         WHERE e.ts >= ?1 AND e.ts < ?2 ORDER BY e.idx",
    )?;
    let mut q = st.query(rusqlite::params![from_key, to_key])?;
    let mut rows: Vec<Row> = Vec::new();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    let (mut first_index, mut last_index) = (u64::MAX, 0u64);
    let mut purposes: BTreeMap<String, u64> = BTreeMap::new();
    let mut subjects: BTreeSet<String> = BTreeSet::new();
    let mut recipients: BTreeSet<String> = BTreeSet::new();
    let (mut erasures, mut no_actor, mut erased_content) = (0u64, 0u64, 0u64);
    let mut events = 0u64;
    while let Some(r) = q.next()? {
        let idx = r.get::<_, i64>(0)? as u64;
        let leaf: Vec<u8> = r.get(1)?;
        let present: bool = r.get(2)?;
        let entry = verify::check_leaf(idx, &leaf, &trusted, a.origin()).map_err(|f| {
            anyhow!(VerifyFailed(format!(
                "refusing to export: {f}; run `cutufato verify --all`"
            )))
        })?;
        match &entry.body {
            Body::Decision(d) => {
                *purposes
                    .entry(d.purpose.clone().unwrap_or_else(|| "(unspecified)".into()))
                    .or_default() += 1;
                subjects.insert(d.subject_ref.clone());
                recipients.insert(match &d.model.provider {
                    Some(p) => format!("{p} ({})", d.model.name),
                    None => d.model.name.clone(),
                });
                if d.actor.is_none() {
                    no_actor += 1;
                }
                if !present {
                    erased_content += 1;
                }
            }
            Body::Erasure(_) => erasures += 1,
            Body::Event(e) => {
                *purposes
                    .entry(format!("agent tool events ({} {})", e.source, e.action))
                    .or_default() += 1;
                subjects.insert(e.subject_ref.clone());
                events += 1;
            }
            Body::KeyRotation(_) => {}
        }
        if let Some(row) = row_for(
            args.profile,
            idx,
            &leaf,
            &entry.body,
            &entry.key_id,
            present,
            cp_size,
        ) {
            *kinds.entry(entry.body.kind().to_owned()).or_default() += 1;
            first_index = first_index.min(idx);
            last_index = last_index.max(idx);
            rows.push(row);
        }
    }
    if rows.is_empty() {
        let span: (Option<String>, Option<String>) =
            conn.query_row("SELECT MIN(ts), MAX(ts) FROM entries", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let span = match span {
            (Some(a), Some(b)) => format!("the log spans {a} to {b}"),
            _ => "the log is empty".to_owned(),
        };
        return Err(LogError::NotFound(format!(
            "no {} records between {} and {} ({span}); nothing exported",
            profile_slug(args.profile),
            args.from,
            args.to
        ))
        .into());
    }
    let mut warnings = Vec::new();
    let retention_days: i64 = crate::store::meta_get(conn, "retention_days")?
        .and_then(|s| s.parse().ok())
        .unwrap_or(183);
    let log_start: Option<String> =
        conn.query_row("SELECT MIN(ts) FROM entries", [], |r| r.get(0))?;
    let mut retention = None;
    if args.profile == Profile::AiAct {
        if retention_days < 183 {
            warnings.push(format!("retention is set to {retention_days} days, below the six months of AI Act Art. 19/26(6)"));
        }
        if let Some(start) = &log_start
            && start.as_str() > from_key.as_str()
        {
            warnings.push(format!("the log starts at {start}, after the start of the requested period: earlier use is not covered"));
        }
        if no_actor > 0 {
            warnings.push(format!(
                "{no_actor} record(s) name no natural person (Art. 12(3)(d)): record --actor"
            ));
        }
        if erased_content > 0 {
            warnings.push(format!("{erased_content} record(s) had personal content erased; their signed leaves are retained"));
        }
        retention = Some(json!({
            "required_days": 183,
            "configured_days": retention_days,
            "policy": "leaves are append-only and never pruned; erasure removes personal content only",
            "log_start": log_start,
        }));
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let title = format!(
        "Cutufato audit export — {} — {} to {}",
        profile_name(args.profile),
        args.from,
        args.to
    );
    let summary = vec![
        ("log".to_owned(), a.origin().to_owned()),
        ("records".to_owned(), rows.len().to_string()),
        (
            "log indices".to_owned(),
            format!("{first_index}–{last_index}"),
        ),
        ("checkpoint size".to_owned(), cp_size.to_string()),
        ("generated".to_owned(), now_timestamp()),
    ];
    let mut files = Vec::new();
    let mut extra_html = String::new();
    if args.profile == Profile::Gdpr {
        let mut categories = vec![
            "prompts",
            "model responses",
            "retrieved context passages",
            "attribution of responses to sources",
        ];
        if events > 0 {
            categories.push("tool event summaries and details (sandbox runs, blocked packages)");
        }
        let art30 = json!({
            "title": "Record of processing activities (GDPR Art. 30(1))",
            "controller": args.controller.clone().unwrap_or_else(|| "(to be completed by the controller)".into()),
            "period": {"from": args.from, "to": args.to},
            "purposes": purposes,
            "categories_of_data_subjects": format!("users of the AI system and persons named in prompts ({} distinct data subjects in this period)", subjects.len()),
            "categories_of_personal_data": categories,
            "recipients": recipients,
            "transfers_to_third_countries": "(to be completed by the controller: location of the model providers above)",
            "retention": format!("signed log leaves (no personal text) kept at least {retention_days} days; personal content until erasure"),
            "security_measures": [
                "Ed25519-signed records (RFC 8785 canonical JSON)",
                "RFC 6962 Merkle tree with signed checkpoints, also kept outside the database",
                "personal text kept out of the tree: keyed hashes with per-subject keys",
                "erasure destroys content and the subject key, logged as a signed tombstone"
            ],
            "erasures_in_period": erasures,
        });
        let bytes = format!("{}\n", serde_json::to_string_pretty(&art30)?);
        write_atomic(&args.out.join("art30.json"), bytes.as_bytes(), 0o644)?;
        files.push(ManifestFile {
            name: "art30.json".into(),
            sha256: sha256_hex(bytes.as_bytes()),
            bytes: bytes.len() as u64,
            rows: 1,
        });
        extra_html = format!(
            "<h2>Record of processing (Art. 30)</h2>\n<pre>{}</pre>\n<h2>Records</h2>\n",
            html_escape(&serde_json::to_string_pretty(&art30)?)
        );
    }
    if args.profile == Profile::AiAct && !warnings.is_empty() {
        extra_html.push_str("<h2>Warnings</h2><ul>");
        for w in &warnings {
            extra_html.push_str(&format!("<li>{}</li>", html_escape(w)));
        }
        extra_html.push_str("</ul>\n");
    }
    let name = format!("records.{}", args.format.ext());
    let text = render(args.format, &rows, &title, &summary, &extra_html);
    write_atomic(&args.out.join(&name), text.as_bytes(), 0o644)?;
    files.push(ManifestFile {
        name: name.clone(),
        sha256: sha256_hex(text.as_bytes()),
        bytes: text.len() as u64,
        rows: rows.len() as u64,
    });
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        profile: args.profile,
        from: args.from.clone(),
        to: args.to.clone(),
        generated_at: now_timestamp(),
        origin: a.origin().to_owned(),
        checkpoint: cp_note,
        row_count: rows.len() as u64,
        first_index,
        last_index,
        kinds,
        files,
        retention,
        warnings,
    };
    let body = String::from_utf8(canonical(&manifest)?)?;
    let note = a.sign_note(&format!("{body}\n"))?;
    write_atomic(&args.out.join(MANIFEST_FILE), note.as_bytes(), 0o644)?;
    eprintln!(
        "exported {} record(s) to {}",
        rows.len(),
        args.out.join(&name).display()
    );
    println!("{}", args.out.join(MANIFEST_FILE).display());
    Ok(EXIT_OK)
}

fn profile_slug(p: Profile) -> &'static str {
    match p {
        Profile::Soc2 => "soc2",
        Profile::Gdpr => "gdpr",
        Profile::AiAct => "ai-act",
    }
}

fn profile_name(p: Profile) -> &'static str {
    match p {
        Profile::Soc2 => "SOC 2",
        Profile::Gdpr => "GDPR",
        Profile::AiAct => "EU AI Act Art. 12",
    }
}

/// Verifies an export directory against its signed manifest; returns the manifest.
pub fn verify_export(export_dir: &Path, trusted: &[crate::note::Verifier]) -> Result<Manifest> {
    let mpath = export_dir.join(MANIFEST_FILE);
    let note = std::fs::read_to_string(&mpath)
        .map_err(|e| anyhow!(InputError(format!("cannot read {}: {e}", mpath.display()))))?;
    let opened = crate::note::open_note(&note, trusted)
        .map_err(|e| anyhow!(VerifyFailed(format!("{}: {e}", mpath.display()))))?;
    let manifest: Manifest = serde_json::from_str(opened.text.trim_end()).map_err(|e| {
        anyhow!(VerifyFailed(format!(
            "{}: manifest is not valid: {e}",
            mpath.display()
        )))
    })?;
    Checkpoint::open(&manifest.checkpoint, trusted, Some(&manifest.origin))
        .map_err(|e| anyhow!(VerifyFailed(format!("checkpoint in the manifest: {e}"))))?;
    let mut total = 0;
    for f in &manifest.files {
        if f.name.contains('/') || f.name.contains("..") {
            bail!(VerifyFailed(format!(
                "manifest names a file outside the export: {:?}",
                f.name
            )));
        }
        let p = export_dir.join(&f.name);
        let bytes = std::fs::read(&p)
            .map_err(|e| anyhow!(VerifyFailed(format!("{}: {e}", p.display()))))?;
        if sha256_hex(&bytes) != f.sha256 || bytes.len() as u64 != f.bytes {
            bail!(VerifyFailed(format!(
                "{} was changed after export (SHA-256 differs from the signed manifest)",
                f.name
            )));
        }
        let ext = f.name.rsplit('.').next().unwrap_or_default();
        if f.name.starts_with("records.") {
            let n = count_rows(ext, &String::from_utf8_lossy(&bytes));
            if n != f.rows {
                bail!(VerifyFailed(format!(
                    "{} holds {n} rows, the manifest says {}",
                    f.name, f.rows
                )));
            }
            total += n;
        }
    }
    if total != manifest.row_count {
        bail!(VerifyFailed(format!(
            "files hold {total} rows, the manifest says {}",
            manifest.row_count
        )));
    }
    Ok(manifest)
}

pub fn cmd_verify_export(dir: &Path, export_dir: &Path, keys: &[String]) -> Result<u8> {
    let trusted = if keys.is_empty() {
        Auditor::open(dir)
            .and_then(|a| a.trusted_keys())
            .context("no --key given and no log to take trusted keys from")?
    } else {
        verify::load_keys(keys)?
    };
    let m = verify_export(export_dir, &trusted)?;
    println!("✅ Manifest signed by a trusted key of {}", m.origin);
    for f in &m.files {
        println!("✅ {} matches its signed hash ({} row(s))", f.name, f.rows);
    }
    println!(
        "✅ {} {} record(s), log indices {}–{}, {} to {}",
        m.row_count,
        profile_name(m.profile),
        m.first_index,
        m.last_index,
        m.from,
        m.to
    );
    for w in &m.warnings {
        println!("⚠️  {w}");
    }
    Ok(EXIT_OK)
}
