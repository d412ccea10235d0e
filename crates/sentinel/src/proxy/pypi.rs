//! PyPI simple API (PEP 503 HTML, PEP 691 JSON): names, file names and link rewriting.
use reqwest::Url;

/// PEP 503 normal form: lower-case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// Project name and version encoded in a distribution file name (wheel, sdist or egg).
pub fn parse_filename(file: &str) -> Option<(String, String)> {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".whl") || lower.ends_with(".egg") {
        let stem = &file[..file.len() - 4];
        let mut parts = stem.split('-');
        let name = parts.next()?;
        let version = parts.next()?;
        if name.is_empty() || version.is_empty() {
            return None;
        }
        return Some((normalize(name), version.to_string()));
    }
    let stem = [".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar"]
        .iter()
        .find(|ext| lower.ends_with(*ext))
        .map(|ext| &file[..file.len() - ext.len()])?;
    // The version starts after the last `-` that is followed by a digit.
    let split = stem
        .char_indices()
        .filter(|(i, c)| {
            *c == '-'
                && stem[i + 1..]
                    .chars()
                    .next()
                    .is_some_and(|d| d.is_ascii_digit())
        })
        .map(|(i, _)| i)
        .next_back()?;
    let (name, version) = (&stem[..split], &stem[split + 1..]);
    if name.is_empty() || version.is_empty() {
        return None;
    }
    Some((normalize(name), version.to_string()))
}

/// Where the files of a page live and where the proxy serves them.
#[derive(Debug, Clone)]
pub struct LinkRewriter {
    /// The page's own upstream URL (relative links resolve against it).
    pub page_url: Url,
    /// Upstream base of the files (`https://files.pythonhosted.org/`), ending in `/`.
    pub files_upstream: Url,
    /// The proxy's base for files (`http://127.0.0.1:8080/pypi/files/`), ending in `/`.
    pub files_proxy: String,
}

impl LinkRewriter {
    /// The proxy URL for a link of the page, or `None` when the link leaves the files upstream
    /// (such links are dropped: the proxy cannot check what it does not serve).
    pub fn rewrite(&self, href: &str) -> Option<String> {
        let (link, fragment) = match href.split_once('#') {
            Some((l, f)) => (l, Some(f)),
            None => (href, None),
        };
        let absolute = self.page_url.join(link).ok()?;
        let rest = absolute
            .as_str()
            .strip_prefix(self.files_upstream.as_str())?;
        if rest.is_empty() || rest.split('/').any(|seg| seg == "..") {
            return None;
        }
        let mut out = format!("{}{}", self.files_proxy, rest);
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        Some(out)
    }

    /// Rewrites a PEP 503 HTML page: every `<a href>` goes through the proxy; anchors whose
    /// link leaves the files upstream are removed.
    pub fn rewrite_html(&self, html: &str) -> String {
        let mut out = String::with_capacity(html.len() + 256);
        let mut rest = html;
        while let Some(start) = find_ci(rest, "<a ") {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            let Some(end_rel) = find_ci(tail, "</a>") else {
                // Unterminated anchor: drop the remainder rather than pass an unchecked link.
                return out;
            };
            let anchor = &tail[..end_rel + 4];
            if let Some(new_anchor) = self.rewrite_anchor(anchor) {
                out.push_str(&new_anchor);
            }
            rest = &tail[end_rel + 4..];
        }
        out.push_str(rest);
        out
    }

    fn rewrite_anchor(&self, anchor: &str) -> Option<String> {
        let pos = find_ci(anchor, "href=")?;
        let after = &anchor[pos + 5..];
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let close = after[1..].find(quote)?;
        let raw = &after[1..1 + close];
        let href = html_unescape(raw);
        let new = self.rewrite(&href)?;
        Some(format!(
            "{}href={quote}{}{quote}{}",
            &anchor[..pos],
            html_escape(&new),
            &after[close + 2..]
        ))
    }

    /// Rewrites a PEP 691 JSON page: `files[].url` go through the proxy; files whose link leaves
    /// the files upstream are removed.
    pub fn rewrite_json(&self, page: &mut serde_json::Value) {
        if let Some(files) = page.get_mut("files").and_then(|f| f.as_array_mut()) {
            files.retain_mut(|file| {
                let Some(url) = file.get("url").and_then(|u| u.as_str()) else {
                    return false;
                };
                match self.rewrite(url) {
                    Some(new) => {
                        file["url"] = serde_json::Value::String(new);
                        true
                    }
                    None => false,
                }
            });
        }
    }
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter() -> LinkRewriter {
        LinkRewriter {
            page_url: Url::parse("https://pypi.org/simple/six/").unwrap(),
            files_upstream: Url::parse("https://files.pythonhosted.org/").unwrap(),
            files_proxy: "http://127.0.0.1:9/pypi/files/".into(),
        }
    }

    #[test]
    fn normalize_follows_pep_503() {
        assert_eq!(normalize("Friendly-Bard"), "friendly-bard");
        assert_eq!(normalize("FRIENDLY._.BARD"), "friendly-bard");
        assert_eq!(normalize("zope.interface"), "zope-interface");
    }

    #[test]
    fn filenames_give_project_and_version() {
        assert_eq!(
            parse_filename("six-1.17.0-py2.py3-none-any.whl"),
            Some(("six".into(), "1.17.0".into()))
        );
        assert_eq!(
            parse_filename("typing_extensions-4.12.2-py3-none-any.whl"),
            Some(("typing-extensions".into(), "4.12.2".into()))
        );
        assert_eq!(
            parse_filename("python-dateutil-2.9.0.post0.tar.gz"),
            Some(("python-dateutil".into(), "2.9.0.post0".into()))
        );
        assert_eq!(parse_filename("README"), None);
        assert_eq!(parse_filename("-1.0.tar.gz"), None);
    }

    #[test]
    fn html_links_go_through_the_proxy_and_foreign_links_are_dropped() {
        let page = r#"<html><body><a href="https://files.pythonhosted.org/packages/b7/six-1.17.0-py2.py3-none-any.whl#sha256=ab" data-requires-python="&gt;=2.7">six-1.17.0-py2.py3-none-any.whl</a><br />
<a href="https://evil.example/six-9.9.9.tar.gz">six-9.9.9.tar.gz</a></body></html>"#;
        let out = rewriter().rewrite_html(page);
        assert!(out.contains(r#"href="http://127.0.0.1:9/pypi/files/packages/b7/six-1.17.0-py2.py3-none-any.whl#sha256=ab""#), "{out}");
        assert!(out.contains("data-requires-python=\"&gt;=2.7\""));
        assert!(!out.contains("evil.example"), "{out}");
    }

    #[test]
    fn path_traversal_out_of_the_files_base_is_dropped() {
        let r = rewriter();
        assert_eq!(
            r.rewrite("https://files.pythonhosted.org/packages/../x.whl")
                .as_deref(),
            Some("http://127.0.0.1:9/pypi/files/x.whl")
        );
        assert_eq!(r.rewrite("https://files.pythonhosted.org.evil/x.whl"), None);
        assert_eq!(r.rewrite("/other/x.whl"), None);
    }

    #[test]
    fn json_files_are_rewritten() {
        let mut page = serde_json::json!({"files": [
            {"filename": "a-1.0.tar.gz", "url": "https://files.pythonhosted.org/packages/a-1.0.tar.gz"},
            {"filename": "a-2.0.tar.gz", "url": "https://elsewhere.example/a-2.0.tar.gz"}
        ]});
        rewriter().rewrite_json(&mut page);
        let files = page["files"].as_array().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(
            files[0]["url"],
            "http://127.0.0.1:9/pypi/files/packages/a-1.0.tar.gz"
        );
    }
}
