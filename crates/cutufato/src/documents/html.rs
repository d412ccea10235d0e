//! Visible text of an HTML page, one line per block.
//!
//! Tags are removed; `script`, `style`, `head`, `template` and comments are dropped with their
//! content; block elements (`p`, `div`, `br`, `li`, `h1`–`h6`, `tr`, `table`, `section`, …) end a
//! line; white space inside a line collapses to one space; the common named entities and all
//! numeric character references are decoded. Lines holding only white space are dropped.

const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "title",
    "tr",
    "ul",
];
const SKIP: &[&str] = &["script", "style", "head", "template", "noscript", "svg"];

/// The lines of visible text of `html`.
pub fn extract(html: &str) -> Vec<String> {
    let mut text = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skip_until: Option<String> = None;
    while let Some(lt) = rest.find('<') {
        if skip_until.is_none() {
            push_flow(&mut text, &rest[..lt]);
        }
        rest = &rest[lt..];
        if rest.starts_with("<!--") {
            rest = rest.find("-->").map_or("", |e| &rest[e + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(until) = &skip_until {
            if closing && &name == until {
                skip_until = None;
            }
            continue;
        }
        if !closing && SKIP.contains(&name.as_str()) && !tag.ends_with('/') {
            skip_until = Some(name);
            continue;
        }
        if BLOCK.contains(&name.as_str()) {
            text.push('\n');
        } else {
            text.push(' ');
        }
    }
    if skip_until.is_none() {
        push_flow(&mut text, rest);
    }
    decode_entities(&text)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Source line breaks are white space in HTML; only block elements break lines.
fn push_flow(text: &mut String, flow: &str) {
    text.extend(
        flow.chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
    );
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest.find(';').filter(|&i| i <= 10);
        let decoded = semi.and_then(|i| {
            let ent = &rest[1..i];
            let c = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                "mdash" => Some('—'),
                "ndash" => Some('–'),
                "hellip" => Some('…'),
                "rsquo" => Some('’'),
                "lsquo" => Some('‘'),
                "rdquo" => Some('”'),
                "ldquo" => Some('“'),
                _ => ent
                    .strip_prefix("#x")
                    .or_else(|| ent.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, i))
        });
        match decoded {
            Some((c, i)) => {
                out.push(c);
                rest = &rest[i + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_make_lines_and_scripts_vanish() {
        let html = "<html><head><title>T</title><style>p{}</style></head><body><h1>Terms &amp; Conditions</h1>\
                    <p>The contract <b>expires</b>\n on 2025-12-31.</p><script>var x = '<p>';</script><!-- hidden -->\
                    <ul><li>Fee: &#8364;40</li></ul></body></html>";
        assert_eq!(
            extract(html),
            vec![
                "Terms & Conditions",
                "The contract expires on 2025-12-31.",
                "Fee: €40"
            ]
        );
    }
}
