//! HTML view of an attribution: the response beside its sources, supported sentences in green,
//! unsupported ones in red, unsupported numbers, dates and names marked, and each cited chunk
//! with its evidence highlighted. The page is self-contained (inline CSS, no script).

use std::fmt::Write;

use super::{Attribution, CharSpan, Chunk, FlagKind};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn slice(chars: &[char], s: usize, e: usize) -> String {
    chars[s.min(chars.len())..e.min(chars.len())]
        .iter()
        .collect()
}

/// Text with `marks` (sorted, non-overlapping spans) wrapped in `<mark>`.
fn marked(chars: &[char], start: usize, end: usize, marks: &[CharSpan]) -> String {
    let mut out = String::new();
    let mut at = start;
    for m in marks {
        if m.start < at || m.end > end || m.start >= m.end {
            continue;
        }
        out.push_str(&escape(&slice(chars, at, m.start)));
        let _ = write!(
            out,
            "<mark>{}</mark>",
            escape(&slice(chars, m.start, m.end))
        );
        at = m.end;
    }
    out.push_str(&escape(&slice(chars, at, end)));
    out
}

/// `doc p.N l.M` of a source: the evidence's line when known, else the chunk's.
fn place(c: &Chunk, src: &super::Source) -> String {
    let mut s = c
        .doc_id
        .clone()
        .unwrap_or_else(|| format!("chunk {}", src.chunk));
    if let Some(p) = c.page {
        let _ = write!(s, " p.{p}");
    }
    if let Some(l) = src.line.or(c.line) {
        let _ = write!(s, " l.{l}");
    }
    s
}

fn kind_name(k: FlagKind) -> &'static str {
    match k {
        FlagKind::Number => "number",
        FlagKind::Date => "date",
        FlagKind::Name => "name",
        FlagKind::Negation => "negation",
        FlagKind::Contradiction => "contradiction",
        FlagKind::Unsupported => "unsupported",
    }
}

/// A self-contained HTML page showing `response` beside its `chunks` per `att`.
pub fn render(att: &Attribution, chunks: &[Chunk], response: &str, title: &str) -> String {
    let rchars: Vec<char> = response.chars().collect();
    let mut left = String::new();
    let mut at = 0;
    for (i, s) in att.sentences.iter().enumerate() {
        left.push_str(&escape(&slice(&rchars, at, s.span.start)));
        let mut marks: Vec<CharSpan> = s
            .flags
            .iter()
            .filter(|f| matches!(f.kind, FlagKind::Number | FlagKind::Date | FlagKind::Name))
            .map(|f| f.span)
            .collect();
        marks.sort_by_key(|m| m.start);
        let mut tip: Vec<String> = s.flags.iter().map(|f| f.reason.clone()).collect();
        for src in &s.sources {
            if let Some(c) = chunks.get(src.chunk) {
                tip.push(format!("{} ({:.2})", place(c, src), src.score));
            }
        }
        let class = if s.supported { "ok" } else { "bad" };
        let _ = write!(
            left,
            "<span class=\"s {class}\" id=\"s{i}\" title=\"{}\">{}</span>",
            escape(&tip.join("\n")),
            marked(&rchars, s.span.start, s.span.end, &marks)
        );
        at = s.span.end;
    }
    left.push_str(&escape(&slice(&rchars, at, rchars.len())));

    let mut list = String::new();
    for (i, s) in att.sentences.iter().enumerate() {
        let verdict = if s.supported {
            "supported"
        } else {
            "unsupported"
        };
        let _ = write!(
            list,
            "<li class=\"{}\"><a href=\"#s{i}\">{}</a> — {verdict}, confidence {:.2}<ul>",
            if s.supported { "ok" } else { "bad" },
            escape(&s.text),
            s.confidence
        );
        for f in &s.flags {
            let _ = write!(
                list,
                "<li class=\"flag\">{}: {}</li>",
                kind_name(f.kind),
                escape(&f.reason)
            );
        }
        for src in &s.sources {
            let Some(c) = chunks.get(src.chunk) else {
                continue;
            };
            let cchars: Vec<char> = c.text.chars().collect();
            let ev = marked(&cchars, 0, cchars.len(), &[src.evidence]);
            let where_ = place(c, src);
            let _ = write!(
                list,
                "<li class=\"src\"><b>{}</b> ({:.2})<blockquote>{ev}</blockquote></li>",
                escape(&where_),
                src.score
            );
        }
        list.push_str("</ul></li>");
    }

    let unsupported = att.sentences.iter().filter(|s| !s.supported).count();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}\
.cols{{display:grid;grid-template-columns:1fr 1fr;gap:2em}}\
.resp{{white-space:pre-wrap;line-height:1.6}}\
.s.ok{{background:#e3f6e3}}.s.bad{{background:#fbdcdc}}\
mark{{background:#ffd34d}}li.bad>a{{color:#a00}}li.ok>a{{color:#060}}\
li.flag{{color:#a00}}blockquote{{white-space:pre-wrap;margin:.3em 0 .8em 1em;color:#444}}\
</style></head><body><h1>{t}</h1>\
<p>{unsupported} of {n} sentences unsupported · confidence {conf:.2} · evaluator {name} {ver}, threshold {th}</p>\
<div class=\"cols\"><div><h2>Response</h2><div class=\"resp\">{left}</div></div>\
<div><h2>Sources</h2><ol>{list}</ol></div></div></body></html>\n",
        t = escape(title),
        n = att.sentences.len(),
        conf = att.confidence,
        name = escape(&att.evaluator.name),
        ver = escape(&att.evaluator.version),
        th = att.evaluator.threshold,
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Config, attribute};
    use super::*;

    #[test]
    fn page_marks_unsupported_and_escapes_text() {
        let chunks = vec![Chunk::text("The fee is 40 <b>euros</b>.")];
        let response = "The fee is 45 <b>euros</b>.";
        let att = attribute(&chunks, response, &Config::default()).unwrap();
        let page = render(&att, &chunks, response, "exec <1>");
        assert!(page.contains("<title>exec &lt;1&gt;</title>"));
        assert!(page.contains("class=\"s bad\""));
        assert!(page.contains("<mark>45</mark>"));
        assert!(!page.contains("<b>euros</b>"));
    }
}
