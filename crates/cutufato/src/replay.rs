//! `cutufato replay`: the records nearest a time, or the story of one session in order, with
//! decisions (prompt, context, response, attribution) and events (what a tool did: source,
//! action, outcome, summary, data) interleaved, each with its signature and content checked.
//!
//! Exit codes as for the whole CLI: 0 shown; 2 bad time or arguments; 3 nothing matches.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::auditor::{Auditor, Content, LogError, Stored};
use crate::cli::{EXIT_OK, indent, parse_time, ts_key};
use crate::note::Verifier;
use crate::record::Body;
use crate::verify;

/// `cutufato replay`
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Time: "2026-04-25 14:30" (UTC), RFC 3339, or a date.
    #[arg(long, required_unless_present = "session")]
    pub at: Option<String>,
    /// Only records of this session; without --at, the whole session in order.
    #[arg(long)]
    pub session: Option<String>,
    /// Only events from this source (babuino, sentinel, …).
    #[arg(long)]
    pub source: Option<String>,
    /// At most this many records (default 5 with --at, all of the session without).
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

/// Kinds a replay shows.
const SQL_KINDS: &str = "kind IN ('decision', 'event')";

fn matches(args: &ReplayArgs, body: &Body) -> bool {
    let (session, source) = match body {
        Body::Decision(d) => (d.session.as_deref(), None),
        Body::Event(e) => (e.session.as_deref(), Some(e.source.as_str())),
        _ => return false,
    };
    args.session.as_deref().is_none_or(|s| session == Some(s))
        && args.source.as_deref().is_none_or(|s| source == Some(s))
}

/// Indices (with timestamps) of every decision and event passing the filters, in log order.
fn scan(a: &Auditor, args: &ReplayArgs) -> Result<Vec<(i64, String)>> {
    let mut st = a.connection().prepare(&format!(
        "SELECT idx, ts, leaf FROM entries WHERE {SQL_KINDS} ORDER BY idx"
    ))?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (idx, ts, leaf) = row?;
        // An unreadable leaf is named by `verify --all`; it cannot be placed in a story.
        let Ok((_, entry)) = crate::record::parse_leaf(&leaf) else {
            continue;
        };
        if matches(args, &entry.body) {
            out.push((idx, ts));
        }
    }
    Ok(out)
}

/// Runs `cutufato replay`.
pub fn cmd_replay(dir: &Path, args: ReplayArgs) -> Result<u8> {
    let a = Auditor::open(dir)?;
    let filtered = args.session.is_some() || args.source.is_some();
    let chosen: Vec<i64> = match &args.at {
        None => {
            let mut all = scan(&a, &args)?;
            if let Some(n) = args.limit {
                all.truncate(n.max(1));
            }
            all.into_iter().map(|(i, _)| i).collect()
        }
        Some(at) => {
            let t = parse_time(at)?;
            let limit = args.limit.unwrap_or(5).max(1);
            let mut cands = if filtered {
                scan(&a, &args)?
            } else {
                let key = ts_key(t);
                let conn = a.connection();
                let q = |sql: &str| -> Result<Vec<(i64, String)>> {
                    let mut st = conn.prepare(sql)?;
                    let rows = st.query_map(rusqlite::params![key, limit as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                    Ok(rows.collect::<Result<_, _>>()?)
                };
                let mut c = q(&format!(
                    "SELECT idx, ts FROM entries WHERE {SQL_KINDS} AND ts <= ?1 ORDER BY ts DESC, idx DESC LIMIT ?2"
                ))?;
                c.extend(q(&format!(
                    "SELECT idx, ts FROM entries WHERE {SQL_KINDS} AND ts > ?1 ORDER BY ts ASC, idx ASC LIMIT ?2"
                ))?);
                c
            };
            let dist = |ts: &str| -> i128 {
                ts.parse::<jiff::Timestamp>()
                    .map_or(i128::MAX, |x| (x.as_nanosecond() - t.as_nanosecond()).abs())
            };
            cands.sort_by_key(|(idx, ts)| (dist(ts), *idx));
            cands.truncate(limit);
            let mut idx: Vec<i64> = cands.into_iter().map(|(i, _)| i).collect();
            idx.sort_unstable();
            idx
        }
    };
    if chosen.is_empty() {
        let what = match (&args.session, &args.source) {
            (Some(s), Some(src)) => format!("no records of session {s:?} from source {src:?}"),
            (Some(s), None) => format!("no records of session {s:?}"),
            (None, Some(src)) => format!("no events from source {src:?}"),
            (None, None) => "the log holds no decisions or events".to_owned(),
        };
        return Err(LogError::NotFound(what).into());
    }
    let trusted = a.trusted_keys()?;
    let mut out = Vec::new();
    if !args.json
        && let Some(s) = &args.session
    {
        println!("session {s}: {} record(s) in log order\n", chosen.len());
    }
    for idx in chosen {
        let s = a.get_index(idx as u64)?;
        let checked = Checked::of(&a, &s, &trusted)?;
        if args.json {
            out.push(serde_json::json!({
                "record": serde_json::from_slice::<Value>(&s.leaf)?,
                "signature_valid": checked.sig_ok,
                "content_matches": checked.content_problem.is_none(),
                "content": s.content,
                "erased_by": checked.erased_by,
            }));
            continue;
        }
        match &s.entry.body {
            Body::Decision(_) => print!("{}", render_decision(&s, &checked)),
            Body::Event(_) => print!("{}", render_event(&s, &checked)),
            _ => {}
        }
        println!();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(EXIT_OK)
}

/// The checks shown beside a replayed or shown record.
#[derive(Debug, Clone)]
pub struct Checked {
    pub sig_ok: bool,
    /// Why the content does not match its signed hashes, if it does not.
    pub content_problem: Option<String>,
    /// The tombstone that erased the content, when erased.
    pub erased_by: Option<String>,
}

impl Checked {
    /// Checks `s`'s signature and content, and finds its tombstone when erased.
    pub fn of(a: &Auditor, s: &Stored, trusted: &[Verifier]) -> Result<Self, LogError> {
        let sig_ok = verify::check_leaf(s.index, &s.leaf, trusted, a.origin()).is_ok();
        let content_problem = verify::check_content(
            s.index,
            &s.entry,
            s.content.as_ref(),
            s.subject_key.as_deref(),
        )
        .err()
        .map(|f| f.to_string());
        let erased_by = if s.content.is_none() {
            a.tombstone_for(s.entry.body.execution_id())?
        } else {
            None
        };
        Ok(Checked {
            sig_ok,
            content_problem,
            erased_by,
        })
    }

    fn mark(&self) -> &'static str {
        if self.sig_ok {
            "✅ signed"
        } else {
            "❌ SIGNATURE INVALID"
        }
    }

    /// Writes the content's state and returns the content to render: `None` when erased.
    fn content<'a>(&self, s: &'a Stored, o: &mut String) -> Option<&'a Content> {
        let Some(content) = &s.content else {
            o.push_str(&format!(
                "content:  erased{}\n",
                self.erased_by
                    .as_ref()
                    .map(|t| format!(" (tombstone {t})"))
                    .unwrap_or_default()
            ));
            return None;
        };
        if let Some(f) = &self.content_problem {
            o.push_str(&format!("❌ {f}\n"));
        }
        Some(content)
    }
}

/// `label:   value` lines for the fields that are present.
fn push_fields(o: &mut String, fields: &[(&str, &Option<String>)]) {
    for (label, v) in fields {
        if let Some(x) = v {
            o.push_str(&format!("{:<10}{x}\n", format!("{label}:")));
        }
    }
}

/// A decision as text: model, actor, purpose, session, prompt, context, response, attribution.
pub fn render_decision(s: &Stored, c: &Checked) -> String {
    let Body::Decision(d) = &s.entry.body else {
        return String::new();
    };
    let mut o = format!(
        "── {} · decision · {} · index {} {}\n",
        d.execution_id,
        d.timestamp,
        s.index,
        c.mark()
    );
    let model = [
        Some(d.model.name.as_str()),
        d.model.version.as_deref(),
        d.model.provider.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" / ");
    o.push_str(&format!(
        "model:    {model}{}\n",
        if d.model.parameters.is_empty() {
            String::new()
        } else {
            format!(" {}", Value::Object(d.model.parameters.clone()))
        }
    ));
    push_fields(
        &mut o,
        &[
            ("actor", &d.actor),
            ("purpose", &d.purpose),
            ("session", &d.session),
        ],
    );
    if let Some(content) = c.content(s, &mut o) {
        o.push_str(&format!("prompt:\n{}\n", indent(&content.prompt)));
        for (i, (text, r)) in content.chunks.iter().zip(&d.context_chunks).enumerate() {
            let loc = [
                r.page.map(|p| format!("p.{p}")),
                r.line.map(|l| format!("l.{l}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            o.push_str(&format!(
                "context [{i}] {} {loc}{}:\n{}\n",
                r.doc_id,
                r.score.map(|s| format!(" (score {s})")).unwrap_or_default(),
                indent(text)
            ));
        }
        o.push_str(&format!("response:\n{}\n", indent(&content.response)));
    }
    match (d.attribution_confidence, d.hallucination_detected) {
        (Some(conf), h) => o.push_str(&format!(
            "attribution: {:.0}% confidence{}\n",
            conf * 100.0,
            if h == Some(true) {
                ", hallucination detected"
            } else {
                ""
            }
        )),
        (None, Some(true)) => o.push_str("attribution: hallucination detected\n"),
        _ => {}
    }
    o
}

/// An event as text: source, action, outcome, session, actor, summary and data.
pub fn render_event(s: &Stored, c: &Checked) -> String {
    let Body::Event(e) = &s.entry.body else {
        return String::new();
    };
    let mut o = format!(
        "── {} · event · {} · index {} {}\n",
        e.execution_id,
        e.timestamp,
        s.index,
        c.mark()
    );
    o.push_str(&format!("source:   {}\n", e.source));
    o.push_str(&format!("action:   {}\n", e.action));
    push_fields(
        &mut o,
        &[
            ("outcome", &e.outcome),
            ("session", &e.session),
            ("actor", &e.actor),
            ("tenant", &e.tenant),
        ],
    );
    if let Some(content) = c.content(s, &mut o) {
        if let Some(summary) = &content.summary {
            o.push_str(&format!("summary:  {summary}\n"));
        }
        if let Some(data) = content.data.as_ref().filter(|d| !is_empty(d)) {
            let pretty = serde_json::to_string_pretty(data).unwrap_or_default();
            o.push_str(&format!("data:\n{}\n", indent(&pretty)));
        }
    }
    o
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}
