//! npm registry: request paths, tarball names and package-document filtering.
use serde_json::Value;

/// What a path under `/npm/` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpmRequest {
    /// The package document (`/npm/is-number`, `/npm/@types%2fnode`, `/npm/@types/node`).
    Document { name: String },
    /// A tarball (`/npm/is-number/-/is-number-7.0.0.tgz`).
    Tarball {
        name: String,
        file: String,
        version: String,
    },
}

/// Parses the raw (still percent-encoded) path after `/npm/`.
pub fn parse_path(raw: &str) -> Option<NpmRequest> {
    let path = raw
        .replace("%2f", "/")
        .replace("%2F", "/")
        .replace("%40", "@");
    let segs: Vec<&str> = path.split('/').collect();
    let (name, rest) = match segs.as_slice() {
        [scope, name, rest @ ..] if scope.starts_with('@') => (format!("{scope}/{name}"), rest),
        [name, rest @ ..] => (name.to_string(), rest),
        [] => return None,
    };
    if !valid_name(&name) {
        return None;
    }
    match rest {
        [] | [""] => Some(NpmRequest::Document { name }),
        ["-", file] => {
            let base = name.rsplit('/').next().unwrap_or(&name);
            let version = file
                .strip_prefix(base)?
                .strip_prefix('-')?
                .strip_suffix(".tgz")?
                .to_string();
            if version.is_empty() || version.contains('/') {
                return None;
            }
            Some(NpmRequest::Tarball {
                name,
                file: file.to_string(),
                version,
            })
        }
        _ => None,
    }
}

/// Characters npm allows in a (possibly scoped) name; anything else is refused before it reaches
/// the upstream (path tricks, encoded slashes, spaces).
fn valid_name(name: &str) -> bool {
    let (scope, bare) = match name.split_once('/') {
        Some((s, b)) => (Some(s), b),
        None => (None, name),
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 214
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    };
    match scope {
        Some(s) => s.len() > 1 && ok(&s[1..]) && ok(bare),
        None => ok(bare),
    }
}

/// The path of a package document in the upstream registry (`@scope%2fname`).
pub fn upstream_doc_path(name: &str) -> String {
    name.replacen('/', "%2f", 1)
}

/// Version strings of a package document, in document order.
pub fn versions(doc: &Value) -> Vec<String> {
    doc.get("versions")
        .and_then(Value::as_object)
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default()
}

/// Removes versions that are not allowed, fixes `dist-tags` and `time`, and points every
/// tarball at the proxy (`tarball_base` is `http://host/npm/`). Returns the number of versions
/// left.
pub fn filter_document(
    doc: &mut Value,
    allowed: &dyn Fn(&str) -> bool,
    name: &str,
    tarball_base: &str,
) -> usize {
    let base = name.rsplit('/').next().unwrap_or(name).to_string();
    let mut kept: Vec<String> = Vec::new();
    if let Some(versions) = doc.get_mut("versions").and_then(Value::as_object_mut) {
        versions.retain(|v, _| allowed(v));
        for (v, meta) in versions.iter_mut() {
            if let Some(dist) = meta.get_mut("dist").and_then(Value::as_object_mut) {
                dist.insert(
                    "tarball".into(),
                    Value::String(format!("{tarball_base}{name}/-/{base}-{v}.tgz")),
                );
            }
            kept.push(v.clone());
        }
    }
    if let Some(time) = doc.get_mut("time").and_then(Value::as_object_mut) {
        time.retain(|k, _| k == "created" || k == "modified" || kept.contains(k));
    }
    if let Some(tags) = doc.get_mut("dist-tags").and_then(Value::as_object_mut) {
        tags.retain(|_, v| v.as_str().is_some_and(|v| kept.iter().any(|k| k == v)));
        if !tags.contains_key("latest")
            && let Some(best) = highest_release(&kept)
        {
            tags.insert("latest".into(), Value::String(best));
        }
    }
    kept.len()
}

fn highest_release(versions: &[String]) -> Option<String> {
    versions
        .iter()
        .filter_map(|v| semver::Version::parse(v).ok().map(|p| (p, v)))
        .filter(|(p, _)| p.pre.is_empty())
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        assert_eq!(
            parse_path("is-number"),
            Some(NpmRequest::Document {
                name: "is-number".into()
            })
        );
        assert_eq!(
            parse_path("@types%2fnode"),
            Some(NpmRequest::Document {
                name: "@types/node".into()
            })
        );
        assert_eq!(
            parse_path("@types/node"),
            Some(NpmRequest::Document {
                name: "@types/node".into()
            })
        );
        assert_eq!(
            parse_path("is-number/-/is-number-7.0.0.tgz"),
            Some(NpmRequest::Tarball {
                name: "is-number".into(),
                file: "is-number-7.0.0.tgz".into(),
                version: "7.0.0".into()
            })
        );
        assert_eq!(
            parse_path("@types/node/-/node-20.11.0.tgz"),
            Some(NpmRequest::Tarball {
                name: "@types/node".into(),
                file: "node-20.11.0.tgz".into(),
                version: "20.11.0".into()
            })
        );
    }

    #[test]
    fn hostile_paths_are_refused() {
        assert_eq!(parse_path(".."), None);
        assert_eq!(parse_path("../etc/passwd"), None);
        assert_eq!(parse_path("a b"), None);
        assert_eq!(parse_path("is-number/-/other-1.0.0.tgz"), None);
        assert_eq!(parse_path("is-number/1.0.0"), None);
        assert_eq!(parse_path("-/v1/search"), None);
    }

    #[test]
    fn blocked_versions_vanish_and_latest_moves() {
        let mut doc = serde_json::json!({
            "name": "x",
            "dist-tags": {"latest": "2.0.0", "beta": "2.1.0-beta"},
            "versions": {
                "1.0.0": {"dist": {"tarball": "https://registry.npmjs.org/x/-/x-1.0.0.tgz"}},
                "2.0.0": {"dist": {"tarball": "https://registry.npmjs.org/x/-/x-2.0.0.tgz"}},
                "2.1.0-beta": {"dist": {"tarball": "https://registry.npmjs.org/x/-/x-2.1.0-beta.tgz"}}
            },
            "time": {"created": "t", "modified": "t", "1.0.0": "t", "2.0.0": "t", "2.1.0-beta": "t"}
        });
        let left = filter_document(&mut doc, &|v| v != "2.0.0", "x", "http://p/npm/");
        assert_eq!(left, 2);
        assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
        assert_eq!(doc["dist-tags"]["beta"], "2.1.0-beta");
        assert!(doc["versions"].get("2.0.0").is_none());
        assert!(doc["time"].get("2.0.0").is_none());
        assert_eq!(
            doc["versions"]["1.0.0"]["dist"]["tarball"],
            "http://p/npm/x/-/x-1.0.0.tgz"
        );
    }
}
