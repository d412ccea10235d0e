//! Popular-name corpora: one TSV per ecosystem (`name\t<popularity>` header, most popular first,
//! rank = row number). The files in `data/corpus/` are embedded in the binary; others can be loaded
//! from disk. Each corpus is parsed on first use only, so `sentinel check pypi x` never parses npm.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::ecosystem::Ecosystem;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_corpus.rs"));
}

/// The labelled typosquat incidents of `data/eval/typosquats.tsv` (empty if the build had none).
pub const EMBEDDED_INCIDENTS: &str = embedded::INCIDENTS;

/// Errors while loading a corpus file.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file could not be read.
    #[error("cannot read corpus {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The corpus figure column that holds monthly downloads (npm).
pub const DOWNLOADS_COLUMN: &str = "downloads_month";

/// Names ranked at or above this get a two-edit deletion index.
pub const TWO_EDIT_INDEX_TOP: u32 = 2_000;
/// Names shorter than this are not indexed for two edits (too many short neighbours).
pub const TWO_EDIT_MIN_LEN: usize = 6;

/// All strings obtained by deleting one or two bytes of `s` (ASCII names), without duplicates.
pub fn deletions2(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out: Vec<String> = Vec::with_capacity(b.len() * b.len() / 2 + b.len());
    for i in 0..b.len() {
        let mut one = b.to_vec();
        one.remove(i);
        for j in i..one.len() {
            let mut two = one.clone();
            two.remove(j);
            if let Ok(t) = String::from_utf8(two) {
                out.push(t);
            }
        }
        if let Ok(o) = String::from_utf8(one) {
            out.push(o);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Removes delimiters (`-_.` and npm's `@` `/`) so `types-node`, `typesnode` and `@types/node`
/// share one skeleton.
pub fn skeleton(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | '@' | '/'))
        .collect()
}

/// Words of a name sorted, joined with `-` (`parse-json` and `json-parse` share one key).
pub fn word_key(name: &str) -> Option<String> {
    let mut words: Vec<&str> = name
        .split(['-', '_', '.'])
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() < 2 {
        return None;
    }
    words.sort_unstable();
    Some(words.join("-"))
}

/// The popular names of one ecosystem, normalised, with their rank (1 = most popular).
///
/// Names borrow from the corpus text, which lives for the whole process (the embedded files are
/// `'static`; a file loaded from disk is leaked once), so loading allocates almost nothing: start-up
/// cost matters for a command run before every install. Secondary indexes are built on first use.
#[derive(Debug, Default)]
pub struct Corpus {
    /// Which ecosystem.
    pub ecosystem: Option<Ecosystem>,
    /// Normalised names, most popular first.
    pub names: Vec<&'static str>,
    /// The same names as published (`rust_decimal`, `PyYAML`), for messages and suggestions.
    display: Vec<&'static str>,
    /// The popularity figure of each name as written in the file (parsed on use).
    figures: Vec<&'static str>,
    /// What the figure means (the header's second column: `downloads_month`, `rank`, …).
    pub figure_column: &'static str,
    rank: HashMap<&'static str, u32>,
    /// Name with all delimiters (and npm `@`/`/`) removed → best rank; sorted words → best rank;
    /// npm scopes → best rank. Built on first use.
    secondary: OnceLock<Secondary>,
    /// Deletion neighbourhood (up to two deletions) of the top names → their ranks, for the
    /// two-edit check (SymSpell-style). Built on first use: a check of a popular name never needs it.
    deletes: OnceLock<HashMap<String, Vec<u32>>>,
    /// Where the names came from (`embedded` or a path).
    pub source: String,
}

#[derive(Debug, Default)]
struct Secondary {
    /// The two best ranks per key: a leave-one-out check of the best name still sees the next.
    skeleton: HashMap<String, [u32; 2]>,
    words: HashMap<String, [u32; 2]>,
    scopes: HashMap<String, u32>,
    /// Go module paths on a code host with the owner left out (`github.com//mux`) → ranks of
    /// the names with that repository path, for owner look-alikes and impersonations.
    go_repos: HashMap<String, Vec<u32>>,
}

/// Code hosts where the second path element of a Go module is the account that owns it.
pub const GO_CODE_HOSTS: [&str; 6] = [
    "github.com",
    "gitlab.com",
    "bitbucket.org",
    "codeberg.org",
    "gitee.com",
    "git.sr.ht",
];

/// Splits a Go module path on a code host into `(host, owner, rest)`:
/// `github.com/gorilla/mux/v2` → `("github.com", "gorilla", "mux/v2")`.
pub fn go_owner_split(path: &str) -> Option<(&str, &str, &str)> {
    let mut it = path.splitn(3, '/');
    let host = it.next()?;
    let owner = it.next()?;
    let rest = it.next()?;
    (GO_CODE_HOSTS.contains(&host) && !owner.is_empty() && !rest.is_empty())
        .then_some((host, owner, rest))
}

/// The publishing namespace of a Go module: only its owner can publish below it. On a code host
/// it is `host/owner`; `gopkg.in/user/pkg.v1` → `gopkg.in/user`; plain `gopkg.in/pkg.v1` has
/// none (it redirects to `github.com/go-pkg/pkg`); any other (vanity) domain is one namespace.
pub fn go_namespace(path: &str) -> Option<&str> {
    if let Some((host, owner, _)) = go_owner_split(path) {
        return path.get(..host.len() + 1 + owner.len());
    }
    let (host, rest) = path.split_once('/')?;
    if host == "gopkg.in" {
        let (user, _) = rest.split_once('/')?;
        return path.get(..host.len() + 1 + user.len());
    }
    Some(host)
}

impl Corpus {
    /// Parses TSV text: a header line, then `name<TAB>popularity…` rows, most popular first.
    /// Blank lines and `#` comments are skipped; the first spelling of a normalised name wins.
    pub fn parse(ecosystem: Ecosystem, text: &'static str, source: &str) -> Corpus {
        let rows = text.lines().count();
        let mut c = Corpus {
            ecosystem: Some(ecosystem),
            source: source.to_string(),
            names: Vec::with_capacity(rows),
            display: Vec::with_capacity(rows),
            figures: Vec::with_capacity(rows),
            rank: HashMap::with_capacity(rows),
            ..Corpus::default()
        };
        let mut lines = text.lines();
        // Header.
        c.figure_column = lines
            .next()
            .and_then(|h| h.split('\t').nth(1))
            .unwrap_or("")
            .trim();
        for line in lines {
            let mut cols = line.split('\t');
            let name = cols.next().unwrap_or("").trim();
            if name.is_empty() || name.starts_with('#') {
                continue;
            }
            c.push(ecosystem, name, cols.next().unwrap_or("").trim());
        }
        c
    }

    /// Parses corpus text read at run time (kept for the life of the process).
    pub fn parse_owned(ecosystem: Ecosystem, text: String, source: &str) -> Corpus {
        Self::parse(ecosystem, Box::leak(text.into_boxed_str()), source)
    }

    fn push(&mut self, ecosystem: Ecosystem, name: &'static str, figure: &'static str) {
        let norm = ecosystem.normalize(name);
        // Most names are already normal: borrow them; leak the rare normalised copy.
        let norm: &'static str = if norm == name {
            name
        } else {
            Box::leak(norm.into_boxed_str())
        };
        if self.rank.contains_key(norm) {
            return;
        }
        let r = u32::try_from(self.names.len() + 1).unwrap_or(u32::MAX);
        self.rank.insert(norm, r);
        self.names.push(norm);
        self.display.push(name);
        self.figures.push(figure);
    }

    fn secondary(&self) -> &Secondary {
        self.secondary.get_or_init(|| {
            let mut s = Secondary::default();
            for (i, norm) in self.names.iter().enumerate() {
                let r = i as u32 + 1;
                fn keep(e: &mut [u32; 2], r: u32) {
                    if e[1] == 0 {
                        e[1] = r;
                    }
                }
                s.skeleton
                    .entry(skeleton(norm))
                    .and_modify(|e| keep(e, r))
                    .or_insert([r, 0]);
                if let Some(k) = word_key(norm) {
                    s.words
                        .entry(k)
                        .and_modify(|e| keep(e, r))
                        .or_insert([r, 0]);
                }
                if let Some(rest) = norm.strip_prefix('@')
                    && let Some((scope, _)) = rest.split_once('/')
                {
                    s.scopes.entry(scope.to_string()).or_insert(r);
                }
                if self.ecosystem == Some(Ecosystem::Go)
                    && let Some((host, _, rest)) = go_owner_split(norm)
                {
                    s.go_repos
                        .entry(format!("{host}//{rest}"))
                        .or_default()
                        .push(r);
                }
            }
            s
        })
    }

    /// Builds a corpus from names given in popularity order (tests, evaluation).
    pub fn from_names<I, S>(ecosystem: Ecosystem, names: I) -> Corpus
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut text = String::from("name\n");
        for n in names {
            text.push_str(n.as_ref());
            text.push('\n');
        }
        let mut c = Self::parse_owned(ecosystem, text, "in-memory");
        c.source = "in-memory".into();
        c
    }

    /// Rank of a normalised name (1 = most popular).
    pub fn rank(&self, normalized: &str) -> Option<u32> {
        self.rank.get(normalized).copied()
    }

    /// Name at a rank.
    pub fn name_at(&self, rank: u32) -> Option<&str> {
        self.names
            .get(usize::try_from(rank).ok()?.checked_sub(1)?)
            .copied()
    }

    /// Monthly downloads of the name at a rank, when the corpus figure is a download count
    /// (npm: `downloads_month`).
    pub fn downloads_at(&self, rank: u32) -> Option<u64> {
        if self.figure_column != DOWNLOADS_COLUMN {
            return None;
        }
        self.figures
            .get(usize::try_from(rank).ok()?.checked_sub(1)?)?
            .parse()
            .ok()
    }

    /// Best rank among names with this skeleton.
    pub fn skeleton_rank(&self, skel: &str) -> Option<u32> {
        self.secondary().skeleton.get(skel).map(|e| e[0])
    }

    /// The two best ranks among names with this skeleton (best first).
    pub fn skeleton_ranks(&self, skel: &str) -> impl Iterator<Item = u32> + '_ {
        let e = self.secondary().skeleton.get(skel).copied();
        e.into_iter().flatten().filter(|r| *r > 0)
    }

    /// Best rank among names with these sorted words.
    pub fn words_rank(&self, key: &str) -> Option<u32> {
        self.secondary().words.get(key).map(|e| e[0])
    }

    /// The two best ranks among names with these sorted words (best first).
    pub fn words_ranks(&self, key: &str) -> impl Iterator<Item = u32> + '_ {
        let e = self.secondary().words.get(key).copied();
        e.into_iter().flatten().filter(|r| *r > 0)
    }

    /// The published spelling of the name at a rank.
    pub fn display_at(&self, rank: u32) -> Option<&str> {
        self.display
            .get(usize::try_from(rank).ok()?.checked_sub(1)?)
            .copied()
    }

    /// Ranks of indexed top names sharing this deletion form.
    pub fn deletion_ranks(&self, form: &str) -> &[u32] {
        self.deletes
            .get_or_init(|| {
                let mut m: HashMap<String, Vec<u32>> = HashMap::new();
                for (i, name) in self
                    .names
                    .iter()
                    .take(TWO_EDIT_INDEX_TOP as usize)
                    .enumerate()
                {
                    if name.len() < TWO_EDIT_MIN_LEN || !name.is_ascii() {
                        continue;
                    }
                    let r = i as u32 + 1;
                    for d in deletions2(name) {
                        m.entry(d).or_default().push(r);
                    }
                    m.entry(name.to_string()).or_default().push(r);
                }
                m
            })
            .get(form)
            .map_or(&[], Vec::as_slice)
    }

    /// Ranks (best first) of Go modules on `host` whose path after the owner is `rest`.
    pub fn go_repo_ranks(&self, host: &str, rest: &str) -> &[u32] {
        self.secondary()
            .go_repos
            .get(&format!("{host}//{rest}"))
            .map_or(&[], Vec::as_slice)
    }

    /// Best rank of a package in this npm scope.
    pub fn scope_rank(&self, scope: &str) -> Option<u32> {
        self.secondary().scopes.get(scope).copied()
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no names are loaded.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The corpora of all ecosystems, loaded lazily, from the embedded files unless a path is set.
#[derive(Debug, Default)]
pub struct Corpora {
    paths: HashMap<Ecosystem, PathBuf>,
    loaded: [OnceLock<Result<Arc<Corpus>, String>>; 4],
}

fn slot(eco: Ecosystem) -> usize {
    match eco {
        Ecosystem::Pypi => 0,
        Ecosystem::Npm => 1,
        Ecosystem::CratesIo => 2,
        Ecosystem::Go => 3,
    }
}

/// The embedded TSV text of an ecosystem (empty when the build had no file).
pub fn embedded_text(eco: Ecosystem) -> &'static str {
    match eco {
        Ecosystem::Pypi => embedded::PYPI,
        Ecosystem::Npm => embedded::NPM,
        Ecosystem::CratesIo => embedded::CRATES,
        Ecosystem::Go => embedded::GO,
    }
}

impl Corpora {
    /// Embedded corpora, with these files instead for the ecosystems named.
    pub fn new(paths: HashMap<Ecosystem, PathBuf>) -> Self {
        Corpora {
            paths,
            loaded: Default::default(),
        }
    }

    /// Corpora whose files are given, or every file found as `<dir>/{pypi,npm,crates,go}.tsv`.
    pub fn from_dir(dir: &Path) -> Self {
        let mut paths = HashMap::new();
        for eco in Ecosystem::ALL {
            let p = dir.join(format!("{}.tsv", eco.corpus_stem()));
            if p.is_file() {
                paths.insert(eco, p);
            }
        }
        Self::new(paths)
    }

    /// Pre-built corpora (tests, evaluation).
    pub fn from_corpora(list: Vec<Corpus>) -> Self {
        let c = Corpora::default();
        for corpus in list {
            if let Some(eco) = corpus.ecosystem {
                let _ = c.loaded[slot(eco)].set(Ok(Arc::new(corpus)));
            }
        }
        c
    }

    /// The corpus of an ecosystem, parsed on first use. `Err` when a configured file is unreadable.
    pub fn get(&self, eco: Ecosystem) -> Result<Arc<Corpus>, String> {
        self.loaded[slot(eco)]
            .get_or_init(|| match self.paths.get(&eco) {
                Some(path) => std::fs::read_to_string(path)
                    .map(|text| {
                        Arc::new(Corpus::parse_owned(eco, text, &path.display().to_string()))
                    })
                    .map_err(|e| {
                        CorpusError::Read {
                            path: path.clone(),
                            source: e,
                        }
                        .to_string()
                    }),
                None => Ok(Arc::new(Corpus::parse(eco, embedded_text(eco), "embedded"))),
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tsv_with_header_and_ranks() {
        let c = Corpus::parse(
            Ecosystem::Pypi,
            "name\trank\nRequests\t1\nnumpy\t2\n\nzope.interface\t3\n",
            "t",
        );
        assert_eq!(c.len(), 3);
        assert_eq!(c.rank("requests"), Some(1));
        assert_eq!(c.rank("zope-interface"), Some(3));
        assert_eq!(c.skeleton_rank("zopeinterface"), Some(3));
        assert_eq!(c.name_at(2), Some("numpy"));
        assert_eq!(c.figure_column, "rank");
        assert_eq!(c.downloads_at(1), None, "a rank is not a download count");
        let npm = Corpus::parse(
            Ecosystem::Npm,
            "name\tdownloads_month\nlodash\t452434618\nx\tn/a\n",
            "t",
        );
        assert_eq!(npm.downloads_at(1), Some(452_434_618));
        assert_eq!(npm.downloads_at(2), None);
        assert_eq!(npm.downloads_at(3), None);
    }

    #[test]
    fn embedded_pypi_and_npm_corpora_are_large() {
        let all = Corpora::default();
        let pypi = all.get(Ecosystem::Pypi).unwrap();
        assert!(pypi.len() >= 10_000, "pypi corpus has {}", pypi.len());
        assert!(pypi.rank("requests").is_some());
        let npm = all.get(Ecosystem::Npm).unwrap();
        assert!(npm.len() >= 40_000, "npm corpus has {}", npm.len());
        assert!(npm.scope_rank("types").is_some());
    }
}
