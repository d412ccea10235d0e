//! Rebuilding the popular-name corpora (`data/corpus/{pypi,npm,crates,go}.tsv`) from what the
//! registries expose.
//!
//! One plain async function per ecosystem, each taking a [`reqwest::Client`] (timeouts and proxies
//! are the caller's choice), a base URL or source, and a progress callback, and returning
//! [`CorpusRow`]s ranked most popular first. Nothing here writes a file except [`write_tsv`], so a
//! failed refresh never leaves a half-written corpus behind: callers fetch everything first, then
//! write atomically.
//!
//! What each registry exposes (see `data/README.md`):
//! - **npm**: the downloads API (`{base}/downloads/point/{period}/{a,b,c}`) gives monthly counts for
//!   up to 128 unscoped names per request; scoped names are asked one at a time. npm has no list of
//!   the most downloaded packages, so [`npm_downloads`] re-ranks a list of candidate names (the
//!   current corpus plus any others).
//! - **PyPI** has no download counts in its API; [`pypi_top_packages`] reads a public ranking file in
//!   the format of the `top-pypi-packages` JSON (`{"rows": [{"project", "download_count"}]}`).
//! - **crates.io**: its web API is not reachable from every network, but its database dump is;
//!   [`crates_from_db_dump`] reads the dump's `crates.csv` (with `crate_downloads.csv` for dumps
//!   that moved the counts there).
//! - **Go** has no popularity data in the module proxy; [`go_from_list`] reads a list of module paths
//!   (optionally with a figure), such as one derived from reverse dependencies.
//!
//! Sources are bounded ([`FetchOptions::max_bytes`]) because a refresh may point at a mirror the
//! user does not control: a hostile or broken server must not make us buffer without limit.
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde::Deserialize;

/// Header column of the npm corpus: downloads in the last month (the API's `last-month` period).
pub const NPM_COLUMN: &str = "downloads_month";
/// Header column of a PyPI corpus rebuilt from a ranking file: downloads in the last 30 days.
pub const PYPI_COLUMN: &str = "downloads_30d";
/// Header column of a crates.io corpus rebuilt from a database dump: all-time downloads.
pub const CRATES_COLUMN: &str = "downloads";
/// Default header column of a Go corpus rebuilt from a list (the list's own figure, if any).
pub const GO_COLUMN: &str = "figure";

/// The public npm downloads API.
pub const NPM_DOWNLOADS_API: &str = "https://api.npmjs.org";
/// A public ranking of PyPI projects by downloads in the last 30 days.
pub const PYPI_RANKING_URL: &str =
    "https://hugovk.github.io/top-pypi-packages/top-pypi-packages-30-days.min.json";

/// One corpus entry: a package name as published and its popularity figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusRow {
    /// The name as the registry publishes it (the engine normalises).
    pub name: String,
    /// Downloads, dependents or another "bigger is more popular" figure; 0 when unknown.
    pub figure: u64,
}

/// What went wrong while rebuilding a corpus.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The request could not be sent or its body not read (connection refused, timeout, TLS).
    #[error("request to {url} failed: {source}")]
    Http {
        /// The URL asked.
        url: String,
        /// What reqwest reported.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with a status we do not accept.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// A response or file was larger than [`FetchOptions::max_bytes`].
    #[error(
        "{what} is larger than the limit of {limit} bytes; raise the limit if this source is trusted"
    )]
    TooLarge {
        /// The URL or path.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A response or file did not have the expected format.
    #[error("{what} is not in the expected format: {detail}")]
    Format {
        /// The URL or path.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The source held no usable row; writing it would empty the corpus.
    #[error("{what} gave no package names; the corpus is left as it was")]
    Empty {
        /// The URL or path.
        what: String,
    },
}

/// Limits and retry policy for every fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Largest body or file accepted, in bytes.
    pub max_bytes: u64,
    /// Further attempts after a connection error, HTTP 429 or 5xx.
    pub retries: u32,
    /// Wait before the first retry; doubled for each next one.
    pub backoff: Duration,
    /// Requests in flight at once (npm batches).
    pub concurrency: usize,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            // A crates.io `crates.csv` with readmes is a few hundred MB; anything else is far smaller.
            max_bytes: 1 << 30,
            retries: 3,
            backoff: Duration::from_millis(500),
            concurrency: 4,
        }
    }
}

/// Where a ranking file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Fetched with the client (http or https).
    Url(String),
    /// Read from the local file system.
    Path(PathBuf),
}

impl Source {
    /// `http://` and `https://` strings are URLs; anything else is a path.
    pub fn parse(s: &str) -> Self {
        if s.starts_with("http://") || s.starts_with("https://") {
            Source::Url(s.to_owned())
        } else {
            Source::Path(PathBuf::from(s))
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Url(u) => u.clone(),
            Source::Path(p) => p.display().to_string(),
        }
    }
}

/// Progress of a refresh, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// What is being done ("npm downloads", "crates.csv", …).
    pub stage: &'static str,
    /// Units done (names asked, bytes read, rows parsed).
    pub done: u64,
    /// Units in all, when known.
    pub total: Option<u64>,
}

/// The progress callback every function takes; `&|_| {}` when nobody watches.
pub type ProgressFn<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// Sorts rows most popular first (ties by name, so the output is stable), drops repeated names
/// (the first, most popular, wins) and keeps at most `limit` rows.
pub fn rank(mut rows: Vec<CorpusRow>, limit: Option<usize>) -> Vec<CorpusRow> {
    rows.sort_by(|a, b| b.figure.cmp(&a.figure).then_with(|| a.name.cmp(&b.name)));
    let mut seen = HashSet::new();
    rows.retain(|r| seen.insert(r.name.clone()));
    if let Some(limit) = limit {
        rows.truncate(limit);
    }
    rows
}

// ---------------------------------------------------------------- fetching

async fn fetch_bytes(
    client: &reqwest::Client,
    url: &str,
    opts: &FetchOptions,
    stage: &'static str,
    progress: ProgressFn<'_>,
) -> Result<Option<Vec<u8>>, UpdateError> {
    let mut attempt = 0u32;
    loop {
        match fetch_once(client, url, opts, stage, progress).await {
            Ok(body) => return Ok(body),
            Err(e) if attempt < opts.retries && retryable(&e) => {
                let wait = opts.backoff.saturating_mul(2u32.saturating_pow(attempt));
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn retryable(e: &UpdateError) -> bool {
    match e {
        UpdateError::Http { .. } => true,
        UpdateError::Status { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

/// One GET; `Ok(None)` for 404 (the name has no downloads record), the body otherwise.
async fn fetch_once(
    client: &reqwest::Client,
    url: &str,
    opts: &FetchOptions,
    stage: &'static str,
    progress: ProgressFn<'_>,
) -> Result<Option<Vec<u8>>, UpdateError> {
    let http = |source| UpdateError::Http {
        url: url.to_owned(),
        source,
    };
    let mut resp = client.get(url).send().await.map_err(http)?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(UpdateError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    let too_large = || UpdateError::TooLarge {
        what: url.to_owned(),
        limit: opts.max_bytes,
    };
    let total = resp.content_length();
    if total.is_some_and(|n| n > opts.max_bytes) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(http)? {
        if body.len() as u64 + chunk.len() as u64 > opts.max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
        progress(Progress {
            stage,
            done: body.len() as u64,
            total,
        });
    }
    Ok(Some(body))
}

async fn read_source(
    client: &reqwest::Client,
    source: &Source,
    opts: &FetchOptions,
    stage: &'static str,
    progress: ProgressFn<'_>,
) -> Result<Vec<u8>, UpdateError> {
    match source {
        Source::Url(url) => fetch_bytes(client, url, opts, stage, progress)
            .await?
            .ok_or_else(|| UpdateError::Status {
                url: url.clone(),
                status: 404,
            }),
        Source::Path(path) => {
            let io = |source| UpdateError::Io {
                path: path.clone(),
                source,
            };
            let len = std::fs::metadata(path).map_err(io)?.len();
            if len > opts.max_bytes {
                return Err(UpdateError::TooLarge {
                    what: path.display().to_string(),
                    limit: opts.max_bytes,
                });
            }
            let bytes = std::fs::read(path).map_err(io)?;
            progress(Progress {
                stage,
                done: len,
                total: Some(len),
            });
            Ok(bytes)
        }
    }
}

// ---------------------------------------------------------------- npm

/// Shape of one record of the npm downloads API (`/downloads/point/{period}/{name}`).
#[derive(Debug, Deserialize)]
struct NpmPoint {
    downloads: u64,
    package: String,
}

/// The npm downloads API accepts at most this many names in one bulk request.
pub const NPM_BULK_LIMIT: usize = 128;

/// True for names the downloads API can be asked about: npm's rules for new names (lower-case
/// URL-safe characters, at most 214 long, optional `@scope/`) with the upper-case letters that
/// old packages such as `JSONStream` kept. Anything else is skipped, never sent.
pub fn is_npm_name(name: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && !s.starts_with('_')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    };
    if name.len() > 214 {
        return false;
    }
    match name.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((scope, pkg)) => ok(scope) && ok(pkg),
            None => false,
        },
        None => ok(name),
    }
}

/// Monthly downloads of each of `names` from the npm downloads API at `api_base` (e.g.
/// [`NPM_DOWNLOADS_API`]), ranked most downloaded first. Unscoped names go in bulk requests of
/// `batch_size` (at most [`NPM_BULK_LIMIT`]); scoped names one request each. Names the API has no
/// record of (null in bulk answers, 404 alone) and names that are not valid npm names are left out.
/// Any request that still fails after the retries fails the whole refresh.
pub async fn npm_downloads(
    client: &reqwest::Client,
    api_base: &str,
    period: &str,
    names: &[String],
    batch_size: usize,
    opts: &FetchOptions,
    progress: ProgressFn<'_>,
) -> Result<Vec<CorpusRow>, UpdateError> {
    // The period is a path segment: `last-day`, `last-week`, `last-month`, a date or a
    // `start:end` range. Anything else could change the request path, so it is refused.
    if period.is_empty()
        || !period
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b':')
    {
        return Err(UpdateError::Format {
            what: "npm downloads period".to_owned(),
            detail: format!("`{period}` is not last-day, last-week, last-month or a date range"),
        });
    }
    let base = api_base.trim_end_matches('/');
    let batch_size = batch_size.clamp(1, NPM_BULK_LIMIT);
    let mut seen = HashSet::new();
    let valid: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| is_npm_name(n) && seen.insert(*n))
        .collect();
    let (scoped, plain): (Vec<&str>, Vec<&str>) = valid.iter().partition(|n| n.starts_with('@'));
    let mut requests: Vec<Vec<&str>> = plain.chunks(batch_size).map(<[&str]>::to_vec).collect();
    requests.extend(scoped.iter().map(|n| vec![*n]));

    let total = valid.len() as u64;
    let done = std::sync::atomic::AtomicU64::new(0);
    progress(Progress {
        stage: "npm downloads",
        done: 0,
        total: Some(total),
    });
    let quiet = |_: Progress| {};
    let results: Vec<Result<Vec<CorpusRow>, UpdateError>> = stream::iter(requests)
        .map(|batch| {
            let url = format!("{base}/downloads/point/{period}/{}", batch.join(","));
            let done = &done;
            let quiet = &quiet;
            async move {
                let body = fetch_bytes(client, &url, opts, "npm downloads", quiet).await?;
                let rows = match body {
                    None => Vec::new(),
                    Some(body) => parse_npm_downloads(&url, &body, batch.len() == 1)?,
                };
                let n = done.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed)
                    + batch.len() as u64;
                progress(Progress {
                    stage: "npm downloads",
                    done: n,
                    total: Some(total),
                });
                Ok(rows)
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut rows = Vec::new();
    for r in results {
        rows.extend(r?);
    }
    Ok(rank(rows, None))
}

/// Parses one answer of the npm downloads API: a single record when one name was asked, else an
/// object mapping each name to a record or null.
pub fn parse_npm_downloads(
    what: &str,
    body: &[u8],
    single: bool,
) -> Result<Vec<CorpusRow>, UpdateError> {
    let format = |detail: String| UpdateError::Format {
        what: what.to_owned(),
        detail,
    };
    if single {
        // A single name answers `{"downloads", "start", "end", "package"}`, or `{"error": …}`.
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format(e.to_string()))?;
        if v.get("error").is_some() {
            return Ok(Vec::new());
        }
        let p: NpmPoint = serde_json::from_value(v).map_err(|e| format(e.to_string()))?;
        return Ok(vec![CorpusRow {
            name: p.package,
            figure: p.downloads,
        }]);
    }
    let map: HashMap<String, Option<NpmPoint>> =
        serde_json::from_slice(body).map_err(|e| format(e.to_string()))?;
    Ok(map
        .into_iter()
        .filter_map(|(name, p)| {
            p.map(|p| CorpusRow {
                name,
                figure: p.downloads,
            })
        })
        .collect())
}

// ---------------------------------------------------------------- PyPI

#[derive(Debug, Deserialize)]
struct PypiRanking {
    rows: Vec<PypiRankingRow>,
}

#[derive(Debug, Deserialize)]
struct PypiRankingRow {
    project: String,
    download_count: u64,
}

/// PyPI projects ranked by downloads from a ranking file in the `top-pypi-packages` JSON format
/// (for example [`PYPI_RANKING_URL`], a mirror of it, or a local copy).
pub async fn pypi_top_packages(
    client: &reqwest::Client,
    source: &Source,
    limit: Option<usize>,
    opts: &FetchOptions,
    progress: ProgressFn<'_>,
) -> Result<Vec<CorpusRow>, UpdateError> {
    let body = read_source(client, source, opts, "PyPI ranking", progress).await?;
    let rows = parse_pypi_ranking(&source.describe(), &body)?;
    Ok(rank(rows, limit))
}

/// Parses a `top-pypi-packages` JSON document (`{"rows": [{"project", "download_count"}, …]}`).
pub fn parse_pypi_ranking(what: &str, body: &[u8]) -> Result<Vec<CorpusRow>, UpdateError> {
    let doc: PypiRanking = serde_json::from_slice(body).map_err(|e| UpdateError::Format {
        what: what.to_owned(),
        detail: e.to_string(),
    })?;
    let rows: Vec<CorpusRow> = doc
        .rows
        .into_iter()
        .filter(|r| is_pypi_name(&r.project))
        .map(|r| CorpusRow {
            name: r.project,
            figure: r.download_count,
        })
        .collect();
    non_empty(rows, what)
}

/// PEP 508 project names: ASCII letters and digits, with `.`, `-`, `_` inside.
pub fn is_pypi_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 200
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
}

// ---------------------------------------------------------------- crates.io

/// crates.io crates ranked by all-time downloads from a database dump (`db-dump.tar.gz`, unpacked
/// with `tar -xzf db-dump.tar.gz --wildcards '*/data/crates.csv' '*/data/crate_downloads.csv'`).
/// Older dumps carry a `downloads` column in `crates.csv`; newer ones keep the counts in
/// `crate_downloads.csv` (`crate_id,downloads`), given as `downloads_csv`.
pub async fn crates_from_db_dump(
    client: &reqwest::Client,
    crates_csv: &Source,
    downloads_csv: Option<&Source>,
    limit: Option<usize>,
    opts: &FetchOptions,
    progress: ProgressFn<'_>,
) -> Result<Vec<CorpusRow>, UpdateError> {
    let crates = read_source(client, crates_csv, opts, "crates.csv", progress).await?;
    let downloads = match downloads_csv {
        Some(s) => Some((
            s.describe(),
            read_source(client, s, opts, "crate_downloads.csv", progress).await?,
        )),
        None => None,
    };
    let rows = parse_crates_dump(
        &crates_csv.describe(),
        &crates[..],
        downloads.as_ref().map(|(w, b)| (w.as_str(), &b[..])),
        progress,
    )?;
    Ok(rank(rows, limit))
}

/// Parses `crates.csv` (and `crate_downloads.csv` when given) of a crates.io database dump.
pub fn parse_crates_dump(
    what: &str,
    crates_csv: impl BufRead,
    downloads_csv: Option<(&str, &[u8])>,
    progress: ProgressFn<'_>,
) -> Result<Vec<CorpusRow>, UpdateError> {
    let format = |w: &str, detail: &str| UpdateError::Format {
        what: w.to_owned(),
        detail: detail.to_owned(),
    };
    let mut external: Option<HashMap<String, u64>> = None;
    if let Some((dwhat, bytes)) = downloads_csv {
        let mut reader = CsvReader::new(bytes, dwhat);
        let header = reader
            .next_record()?
            .ok_or_else(|| format(dwhat, "empty file"))?;
        let id = column(&header, "crate_id").ok_or_else(|| format(dwhat, "no crate_id column"))?;
        let dl =
            column(&header, "downloads").ok_or_else(|| format(dwhat, "no downloads column"))?;
        let mut map = HashMap::new();
        while let Some(rec) = reader.next_record()? {
            if let (Some(i), Some(d)) = (rec.get(id), rec.get(dl)) {
                let n = d
                    .parse::<u64>()
                    .map_err(|_| format(dwhat, &format!("downloads `{d}` is not a number")))?;
                map.insert(i.clone(), n);
            }
        }
        external = Some(map);
    }

    let mut reader = CsvReader::new(crates_csv, what);
    let header = reader
        .next_record()?
        .ok_or_else(|| format(what, "empty file"))?;
    let name_col = column(&header, "name").ok_or_else(|| format(what, "no name column"))?;
    let id_col = column(&header, "id");
    let dl_col = column(&header, "downloads");
    if external.is_none() && dl_col.is_none() {
        return Err(format(
            what,
            "no downloads column; give this dump's crate_downloads.csv as well",
        ));
    }
    if external.is_some() && id_col.is_none() {
        return Err(format(what, "no id column to join crate_downloads.csv on"));
    }
    let mut rows = Vec::new();
    while let Some(rec) = reader.next_record()? {
        let Some(name) = rec.get(name_col) else {
            continue;
        };
        if !is_crate_name(name) {
            continue;
        }
        let figure = match (&external, id_col, dl_col) {
            (Some(map), Some(i), _) => rec.get(i).and_then(|i| map.get(i)).copied().unwrap_or(0),
            (None, _, Some(d)) => {
                let d = rec.get(d).map(String::as_str).unwrap_or("0");
                d.parse::<u64>()
                    .map_err(|_| format(what, &format!("downloads `{d}` is not a number")))?
            }
            _ => 0,
        };
        rows.push(CorpusRow {
            name: name.clone(),
            figure,
        });
        if rows.len() % 10_000 == 0 {
            progress(Progress {
                stage: "crates parsed",
                done: rows.len() as u64,
                total: None,
            });
        }
    }
    non_empty(rows, what)
}

/// crates.io's rules: ASCII letters, digits, `-` and `_`, starting with a letter, at most 64 long.
pub fn is_crate_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
}

fn column(header: &[String], name: &str) -> Option<usize> {
    header.iter().position(|h| h == name)
}

/// A reader of RFC 4180 CSV records (quoted fields may hold commas, doubled quotes and line
/// breaks, as the dump's `readme` and `description` columns do). Small on purpose: the dump is the
/// only CSV we read, and it is machine-written.
struct CsvReader<'w, R> {
    inner: R,
    what: &'w str,
    line: String,
}

impl<'w, R: BufRead> CsvReader<'w, R> {
    fn new(inner: R, what: &'w str) -> Self {
        Self {
            inner,
            what,
            line: String::new(),
        }
    }

    fn next_record(&mut self) -> Result<Option<Vec<String>>, UpdateError> {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut in_quotes = false;
        let mut started = false;
        loop {
            self.line.clear();
            let n = self
                .inner
                .read_line(&mut self.line)
                .map_err(|e| UpdateError::Format {
                    what: self.what.to_owned(),
                    detail: e.to_string(),
                })?;
            if n == 0 {
                if in_quotes {
                    return Err(UpdateError::Format {
                        what: self.what.to_owned(),
                        detail: "a quoted field is not closed".to_owned(),
                    });
                }
                if !started {
                    return Ok(None);
                }
                fields.push(field);
                return Ok(Some(fields));
            }
            started = true;
            let mut chars = self.line.chars().peekable();
            while let Some(c) = chars.next() {
                match (in_quotes, c) {
                    (true, '"') if chars.peek() == Some(&'"') => {
                        field.push('"');
                        chars.next();
                    }
                    (true, '"') => in_quotes = false,
                    (true, c) => field.push(c),
                    (false, '"') => in_quotes = true,
                    (false, ',') => fields.push(std::mem::take(&mut field)),
                    (false, '\r') if chars.peek() == Some(&'\n') => {}
                    (false, '\n') => {
                        fields.push(field);
                        return Ok(Some(fields));
                    }
                    (false, c) => field.push(c),
                }
            }
        }
    }
}

// ---------------------------------------------------------------- Go

/// Go modules from a list: one module path per line, optionally followed (after a tab or spaces)
/// by a figure. Lines starting with `#`, blank lines and a header line are skipped, and so are rows
/// whose second column says `not-served` (the format of a list of modules checked against the
/// module proxy). Without figures the list's own order is kept.
pub async fn go_from_list(
    client: &reqwest::Client,
    source: &Source,
    limit: Option<usize>,
    opts: &FetchOptions,
    progress: ProgressFn<'_>,
) -> Result<Vec<CorpusRow>, UpdateError> {
    let body = read_source(client, source, opts, "Go module list", progress).await?;
    let mut rows = parse_go_list(&source.describe(), &body)?;
    if rows.iter().any(|r| r.figure > 0) {
        rows = rank(rows, None);
    }
    if let Some(limit) = limit {
        rows.truncate(limit);
    }
    Ok(rows)
}

/// Parses a Go module list (see [`go_from_list`]), keeping its order and dropping repeats.
pub fn parse_go_list(what: &str, body: &[u8]) -> Result<Vec<CorpusRow>, UpdateError> {
    let text = std::str::from_utf8(body).map_err(|e| UpdateError::Format {
        what: what.to_owned(),
        detail: e.to_string(),
    })?;
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut cols = line.split(['\t', ' ']).filter(|c| !c.is_empty());
        let Some(module) = cols.next() else { continue };
        let second = cols.next();
        if second == Some("not-served") || !is_go_module_path(module) {
            continue;
        }
        let figure = second.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        if seen.insert(module.to_owned()) {
            rows.push(CorpusRow {
                name: module.to_owned(),
                figure,
            });
        }
    }
    non_empty(rows, what)
}

/// A plausible Go module path: slash-separated elements of letters, digits and `-._~`, the first
/// a host name with a dot, no empty, `.` or `..` element.
pub fn is_go_module_path(path: &str) -> bool {
    let mut elems = path.split('/');
    let Some(host) = elems.next() else {
        return false;
    };
    let elem_ok = |e: &str| {
        !e.is_empty()
            && e != "."
            && e != ".."
            && e.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    };
    path.len() <= 500
        && elem_ok(host)
        && host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && path.split('/').all(elem_ok)
}

// ---------------------------------------------------------------- files

/// The corpus file text: the header `name\t{column}` then one `name\tfigure` row per line.
pub fn render_tsv(column: &str, rows: &[CorpusRow]) -> String {
    let mut out = String::with_capacity(rows.len() * 24);
    out.push_str("name\t");
    out.push_str(column);
    out.push('\n');
    for r in rows {
        out.push_str(&r.name);
        out.push('\t');
        out.push_str(&r.figure.to_string());
        out.push('\n');
    }
    out
}

/// Reads a corpus file back (for example to re-rank the current npm names). Rows whose figure is
/// not a number get 0.
pub fn parse_tsv(what: &str, text: &str) -> Result<Vec<CorpusRow>, UpdateError> {
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.starts_with("name\t") => {}
        _ => {
            return Err(UpdateError::Format {
                what: what.to_owned(),
                detail: "the first line is not a `name<TAB>column` header".to_owned(),
            });
        }
    }
    Ok(lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, fig) = l.split_once('\t').unwrap_or((l, ""));
            CorpusRow {
                name: name.to_owned(),
                figure: fig.trim().parse().unwrap_or(0),
            }
        })
        .collect())
}

/// Writes a corpus file atomically (a temporary file beside it, then a rename), refusing to
/// write an empty corpus.
pub fn write_tsv(path: &Path, column: &str, rows: &[CorpusRow]) -> Result<(), UpdateError> {
    if rows.is_empty() {
        return Err(UpdateError::Empty {
            what: path.display().to_string(),
        });
    }
    let io = |source| UpdateError::Io {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, render_tsv(column, rows)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// A refresh that produced no names is an error: a corpus is never replaced by an empty one.
fn non_empty(rows: Vec<CorpusRow>, what: &str) -> Result<Vec<CorpusRow>, UpdateError> {
    if rows.is_empty() {
        return Err(UpdateError::Empty {
            what: what.to_owned(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    //! The fetchers run against a real HTTP server on 127.0.0.1 that replays answers in the
    //! registries' formats: npm's from its downloads-API documentation
    //! (github.com/npm/registry, docs/download-counts.md: a record
    //! `{"downloads","start","end","package"}` per name, `null` for unknown names in bulk
    //! answers), PyPI's from the `top-pypi-packages-30-days.min.json` file of
    //! hugovk/top-pypi-packages (first rows of the 2022-01-01 version), crates.io's from the column
    //! layout of the crates.io database dump.
    use super::*;
    use axum::extract::{Path as AxPath, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const NPM_MONTH: &[(&str, u64)] = &[
        ("semver", 2_399_072_936),
        ("debug", 2_069_940_879),
        ("chalk", 1_400_000_000),
        ("left-pad", 2_500_000),
        ("@types/node", 1_200_000_000),
        ("@babel/core", 300_000_000),
    ];

    const PYPI_FIXTURE: &str = r#"{"last_update":"2022-01-01 09:13:14","query":{"bytes_billed":310254764032,"bytes_processed":310254671428,"cached":false,"estimated_cost":"1.42"},"rows":[{"download_count":197952604,"project":"setuptools"},{"download_count":196697092,"project":"botocore"},{"download_count":175726821,"project":"urllib3"},{"download_count":172585491,"project":"boto3"},{"download_count":122495991,"project":"requests"},{"download_count":137357447,"project":"python-dateutil"},{"download_count":5,"project":"../etc/passwd"}]}"#;

    #[derive(Default)]
    struct Server {
        requests: AtomicUsize,
        /// Answer 503 to this many requests first.
        fail_first: usize,
        /// Answer every request with this body instead (malformed JSON and the like).
        garbage: Option<&'static str>,
        /// Wait this long before answering.
        delay: Option<Duration>,
    }

    fn point(name: &str, downloads: u64) -> serde_json::Value {
        serde_json::json!({"downloads": downloads, "start": "2026-10-27", "end": "2026-11-25", "package": name})
    }

    async fn npm_handler(
        State(s): State<Arc<Server>>,
        AxPath((period, names)): AxPath<(String, String)>,
    ) -> Response {
        let n = s.requests.fetch_add(1, Ordering::SeqCst);
        if let Some(d) = s.delay {
            tokio::time::sleep(d).await;
        }
        if n < s.fail_first {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        if let Some(g) = s.garbage {
            return g.into_response();
        }
        assert_eq!(period, "last-month");
        let lookup = |name: &str| NPM_MONTH.iter().find(|(n, _)| *n == name).map(|(_, d)| *d);
        let list: Vec<&str> = names.split(',').collect();
        if list.len() == 1 {
            return match lookup(list[0]) {
                Some(d) => axum::Json(point(list[0], d)).into_response(),
                None => (
                    StatusCode::NOT_FOUND,
                    axum::Json(
                        serde_json::json!({"error": format!("package {} not found", list[0])}),
                    ),
                )
                    .into_response(),
            };
        }
        let mut map = serde_json::Map::new();
        for name in list {
            map.insert(
                name.to_owned(),
                lookup(name).map_or(serde_json::Value::Null, |d| point(name, d)),
            );
        }
        axum::Json(serde_json::Value::Object(map)).into_response()
    }

    async fn serve(state: Arc<Server>) -> String {
        let app = axum::Router::new()
            .route("/downloads/point/{period}/{*names}", get(npm_handler))
            .route("/top.json", get(|| async { PYPI_FIXTURE }))
            .route("/huge.json", get(|| async { "x".repeat(64 * 1024) }))
            .route("/crates.csv", get(|| async { CRATES_CSV_OLD }))
            .route("/missing.json", get(|| async { StatusCode::NOT_FOUND }))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        format!("http://{addr}")
    }

    fn fast() -> FetchOptions {
        FetchOptions {
            max_bytes: 1 << 20,
            retries: 3,
            backoff: Duration::from_millis(5),
            concurrency: 2,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn npm_ranks_names_in_bulk_and_scoped_one_by_one() {
        let state = Arc::new(Server::default());
        let base = serve(state.clone()).await;
        let seen = std::sync::Mutex::new(Vec::new());
        let progress = |p: Progress| seen.lock().expect("lock").push(p);
        let rows = npm_downloads(
            &reqwest::Client::new(),
            &base,
            "last-month",
            &names(&[
                "left-pad",
                "semver",
                "no-such-package-xyz",
                "debug",
                "chalk",
                "@types/node",
                "@nobody/nothing",
                "semver",
                "bad name,with comma",
            ]),
            2,
            &fast(),
            &progress,
        )
        .await
        .expect("npm refresh");
        let got: Vec<(&str, u64)> = rows.iter().map(|r| (r.name.as_str(), r.figure)).collect();
        assert_eq!(
            got,
            vec![
                ("semver", 2_399_072_936),
                ("debug", 2_069_940_879),
                ("chalk", 1_400_000_000),
                ("@types/node", 1_200_000_000),
                ("left-pad", 2_500_000),
            ]
        );
        // 5 unscoped valid names in batches of 2 = 3 requests, plus 2 scoped names alone; the
        // repeated and the invalid name are never sent.
        assert_eq!(state.requests.load(Ordering::SeqCst), 5);
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.first().map(|p| p.done), Some(0));
        assert_eq!(seen.last().map(|p| (p.done, p.total)), Some((7, Some(7))));
    }

    #[tokio::test]
    async fn npm_refuses_a_period_that_would_change_the_path() {
        let state = Arc::new(Server::default());
        let base = serve(state.clone()).await;
        for period in ["", "../../x", "last-month/evil", "last month"] {
            let err = npm_downloads(
                &reqwest::Client::new(),
                &base,
                period,
                &names(&["semver"]),
                128,
                &fast(),
                &|_| {},
            )
            .await
            .expect_err("bad period");
            assert!(matches!(err, UpdateError::Format { .. }), "{period}: {err}");
        }
        assert_eq!(state.requests.load(Ordering::SeqCst), 0, "nothing was sent");
    }

    #[tokio::test]
    async fn npm_retries_server_errors_then_succeeds() {
        let state = Arc::new(Server {
            fail_first: 2,
            ..Server::default()
        });
        let base = serve(state.clone()).await;
        let rows = npm_downloads(
            &reqwest::Client::new(),
            &base,
            "last-month",
            &names(&["semver", "debug"]),
            128,
            &fast(),
            &|_| {},
        )
        .await
        .expect("succeeds on the third attempt");
        assert_eq!(rows.len(), 2);
        assert_eq!(state.requests.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn npm_fails_closed_when_the_api_keeps_failing() {
        let state = Arc::new(Server {
            fail_first: usize::MAX,
            ..Server::default()
        });
        let base = serve(state.clone()).await;
        let err = npm_downloads(
            &reqwest::Client::new(),
            &base,
            "last-month",
            &names(&["semver", "debug"]),
            128,
            &fast(),
            &|_| {},
        )
        .await
        .expect_err("no partial corpus");
        assert!(
            matches!(err, UpdateError::Status { status: 503, .. }),
            "{err}"
        );
        assert_eq!(
            state.requests.load(Ordering::SeqCst),
            4,
            "1 try + 3 retries"
        );
    }

    #[tokio::test]
    async fn npm_malformed_json_is_a_format_error() {
        let state = Arc::new(Server {
            garbage: Some("{\"semver\": {\"downloads\": \"many\""),
            ..Server::default()
        });
        let base = serve(state).await;
        let err = npm_downloads(
            &reqwest::Client::new(),
            &base,
            "last-month",
            &names(&["semver", "debug"]),
            128,
            &fast(),
            &|_| {},
        )
        .await
        .expect_err("malformed");
        assert!(matches!(err, UpdateError::Format { .. }), "{err}");
    }

    #[tokio::test]
    async fn npm_timeout_is_reported_not_hung() {
        let state = Arc::new(Server {
            delay: Some(Duration::from_secs(5)),
            ..Server::default()
        });
        let base = serve(state).await;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(100))
            .build()
            .expect("client");
        let opts = FetchOptions {
            retries: 1,
            ..fast()
        };
        let started = std::time::Instant::now();
        let err = npm_downloads(
            &client,
            &base,
            "last-month",
            &names(&["semver"]),
            128,
            &opts,
            &|_| {},
        )
        .await
        .expect_err("timeout");
        assert!(matches!(err, UpdateError::Http { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn connection_refused_is_an_http_error() {
        // Bind and drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let opts = FetchOptions {
            retries: 0,
            ..fast()
        };
        let err = pypi_top_packages(
            &reqwest::Client::new(),
            &Source::Url(format!("http://127.0.0.1:{port}/top.json")),
            None,
            &opts,
            &|_| {},
        )
        .await
        .expect_err("refused");
        assert!(matches!(err, UpdateError::Http { .. }), "{err}");
    }

    #[tokio::test]
    async fn pypi_ranking_is_read_ranked_and_limited() {
        let base = serve(Arc::new(Server::default())).await;
        let rows = pypi_top_packages(
            &reqwest::Client::new(),
            &Source::Url(format!("{base}/top.json")),
            Some(5),
            &fast(),
            &|_| {},
        )
        .await
        .expect("pypi ranking");
        let got: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        // Re-sorted by the figure (python-dateutil is out of order in the file), the path-like
        // name is dropped, and the limit holds.
        assert_eq!(
            got,
            vec![
                "setuptools",
                "botocore",
                "urllib3",
                "boto3",
                "python-dateutil"
            ]
        );
    }

    #[tokio::test]
    async fn huge_and_missing_sources_are_refused() {
        let base = serve(Arc::new(Server::default())).await;
        let small = FetchOptions {
            max_bytes: 1024,
            ..fast()
        };
        let err = pypi_top_packages(
            &reqwest::Client::new(),
            &Source::Url(format!("{base}/huge.json")),
            None,
            &small,
            &|_| {},
        )
        .await
        .expect_err("too large");
        assert!(
            matches!(err, UpdateError::TooLarge { limit: 1024, .. }),
            "{err}"
        );

        let err = pypi_top_packages(
            &reqwest::Client::new(),
            &Source::Url(format!("{base}/missing.json")),
            None,
            &fast(),
            &|_| {},
        )
        .await
        .expect_err("404");
        assert!(
            matches!(err, UpdateError::Status { status: 404, .. }),
            "{err}"
        );
    }

    /// Older dump layout: `downloads` in crates.csv; the readme holds commas, quotes, new lines.
    const CRATES_CSV_OLD: &str = "created_at,description,documentation,downloads,homepage,id,max_upload_size,name,readme,repository,updated_at\n\
2014-12-13,\"A generic serialization/deserialization framework\",,500000000,,1,,serde,\"# Serde\n\nSerde is a \"\"framework\"\", fast, generic.\n\",https://github.com/serde-rs/serde,2024-03-18\n\
2015-01-01,JSON,,400000000,,2,,serde_json,,https://github.com/serde-rs/json,2024-03-18\n\
2016-01-01,\"tiny, unknown\",,12,,3,,tiny-thing,\"multi\r\nline\r\n\",,2024-03-18\n\
2016-01-01,bad,,99,,4,,../escape,,,2024-03-18\n\
2014-11-11,libc,,450000000,,5,,libc,,,2024-03-18\n";

    /// Newer dump layout: counts in crate_downloads.csv, joined on the crate id.
    const CRATES_CSV_NEW: &str = "created_at,description,id,name,readme,repository\n\
2014-12-13,\"serde, the framework\",1,serde,\"a\n\"\"b\"\"\n\",x\n\
2015-01-01,json,2,serde_json,,y\n\
2014-11-11,libc,5,libc,,z\n";
    const CRATE_DOWNLOADS_CSV: &str = "crate_id,downloads\n1,500\n2,400\n5,450\n";

    #[tokio::test]
    async fn crates_dump_old_layout_over_http() {
        let base = serve(Arc::new(Server::default())).await;
        let rows = crates_from_db_dump(
            &reqwest::Client::new(),
            &Source::Url(format!("{base}/crates.csv")),
            None,
            None,
            &fast(),
            &|_| {},
        )
        .await
        .expect("crates");
        let got: Vec<(&str, u64)> = rows.iter().map(|r| (r.name.as_str(), r.figure)).collect();
        assert_eq!(
            got,
            vec![
                ("serde", 500_000_000),
                ("libc", 450_000_000),
                ("serde_json", 400_000_000),
                ("tiny-thing", 12),
            ]
        );
    }

    #[tokio::test]
    async fn crates_dump_new_layout_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let crates = dir.path().join("crates.csv");
        let downloads = dir.path().join("crate_downloads.csv");
        std::fs::write(&crates, CRATES_CSV_NEW).expect("write");
        std::fs::write(&downloads, CRATE_DOWNLOADS_CSV).expect("write");
        let rows = crates_from_db_dump(
            &reqwest::Client::new(),
            &Source::Path(crates.clone()),
            Some(&Source::Path(downloads)),
            Some(2),
            &fast(),
            &|_| {},
        )
        .await
        .expect("crates");
        let got: Vec<(&str, u64)> = rows.iter().map(|r| (r.name.as_str(), r.figure)).collect();
        assert_eq!(got, vec![("serde", 500), ("libc", 450)]);

        // Without crate_downloads.csv the new layout has no figure: a clear error, not zeros.
        let err = crates_from_db_dump(
            &reqwest::Client::new(),
            &Source::Path(crates),
            None,
            None,
            &fast(),
            &|_| {},
        )
        .await
        .expect_err("no downloads column");
        assert!(err.to_string().contains("crate_downloads.csv"), "{err}");
    }

    #[test]
    fn csv_unclosed_quote_is_an_error() {
        let err = parse_crates_dump(
            "crates.csv",
            "id,name,downloads\n1,\"serde,5\n".as_bytes(),
            None,
            &|_| {},
        )
        .expect_err("unclosed");
        assert!(matches!(err, UpdateError::Format { .. }), "{err}");
    }

    #[tokio::test]
    async fn go_list_in_both_formats() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("go.txt");
        std::fs::write(
            &plain,
            "# popular Go modules\ngithub.com/stretchr/testify\ngolang.org/x/sys\n\n\
             github.com/stretchr/testify\nnot a module\n../../etc\ngithub.com//x\n",
        )
        .expect("write");
        let rows = go_from_list(
            &reqwest::Client::new(),
            &Source::Path(plain),
            None,
            &fast(),
            &|_| {},
        )
        .await
        .expect("go list");
        let got: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(got, vec!["github.com/stretchr/testify", "golang.org/x/sys"]);

        // The workplace list format: header, versions, `not-served` rows.
        let tsv = dir.path().join("go-partial.tsv");
        std::fs::write(
            &tsv,
            "module (a small part)\tnewest_version\tnewest_versions\n\
             ariga.io/atlas\tv0.32.1\tv0.32.1\n\
             baliance.com/gooxml\tnot-served\tnone\n\
             github.com/spf13/cobra\tv1.9.1\tv1.9.1\n",
        )
        .expect("write");
        let rows = go_from_list(
            &reqwest::Client::new(),
            &Source::Path(tsv),
            None,
            &fast(),
            &|_| {},
        )
        .await
        .expect("go list");
        let got: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(got, vec!["ariga.io/atlas", "github.com/spf13/cobra"]);

        // With figures, the list is ranked by them.
        let ranked = parse_go_list("x", b"a.io/low\t3\nb.io/high\t90\n").expect("parse");
        assert_eq!(rank(ranked, None)[0].name, "b.io/high");
    }

    #[test]
    fn tsv_round_trip_and_refuses_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("npm.tsv");
        let rows = vec![
            CorpusRow {
                name: "semver".into(),
                figure: 10,
            },
            CorpusRow {
                name: "@types/node".into(),
                figure: 5,
            },
        ];
        write_tsv(&path, NPM_COLUMN, &rows).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "name\tdownloads_month\nsemver\t10\n@types/node\t5\n");
        assert_eq!(parse_tsv("npm.tsv", &text).expect("parse"), rows);

        let err = write_tsv(&path, NPM_COLUMN, &[]).expect_err("empty");
        assert!(matches!(err, UpdateError::Empty { .. }));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            text,
            "the old corpus is untouched"
        );
        assert!(parse_tsv("x", "semver\t1\n").is_err());
    }

    #[test]
    fn shipped_corpora_parse_and_meet_their_sizes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/corpus");
        for (file, min, valid) in [
            ("pypi.tsv", 15_000, is_pypi_name as fn(&str) -> bool),
            ("npm.tsv", 50_000, is_npm_name),
            ("crates.tsv", 5_000, is_crate_name),
            ("go.tsv", 2_000, is_go_module_path),
        ] {
            let text = std::fs::read_to_string(root.join(file)).expect("corpus file");
            let rows = parse_tsv(file, &text).expect("header");
            assert!(rows.len() >= min, "{file}: {} rows", rows.len());
            let bad: Vec<&str> = rows
                .iter()
                .map(|r| r.name.as_str())
                .filter(|n| !valid(n))
                .collect();
            assert!(bad.is_empty(), "{file}: invalid names {bad:?}");
            let mut seen = HashSet::new();
            let dup: Vec<&str> = rows
                .iter()
                .map(|r| r.name.as_str())
                .filter(|n| !seen.insert(*n))
                .collect();
            assert!(dup.is_empty(), "{file}: repeated names {dup:?}");
        }
    }

    #[test]
    fn shipped_typosquat_list_is_well_formed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        let text =
            std::fs::read_to_string(root.join("eval/typosquats.tsv")).expect("typosquats.tsv");
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("ecosystem\tmalicious_name\ttarget_name\tsource")
        );
        let popular: HashMap<&str, HashSet<String>> = [
            ("pypi", "pypi.tsv"),
            ("npm", "npm.tsv"),
            ("crates.io", "crates.tsv"),
            ("go", "go.tsv"),
        ]
        .into_iter()
        .map(|(eco, file)| {
            let t = std::fs::read_to_string(root.join("corpus").join(file)).expect("corpus");
            let names = parse_tsv(file, &t)
                .expect("corpus")
                .into_iter()
                .map(|r| r.name.to_lowercase())
                .collect();
            (eco, names)
        })
        .collect();
        let mut seen = HashSet::new();
        let mut rows = 0;
        for line in lines {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 4, "{line}");
            let (eco, bad, target, source) = (cols[0], cols[1], cols[2], cols[3]);
            let names = popular.get(eco).expect("known ecosystem");
            assert!(!source.trim().is_empty(), "{line}: no source");
            assert_ne!(bad, target, "{line}");
            assert!(seen.insert((eco, bad)), "{line}: repeated");
            assert!(
                !names.contains(&bad.to_lowercase()),
                "{line}: a malicious name is listed as popular"
            );
            rows += 1;
        }
        assert!(rows >= 100, "{rows} incidents");
    }

    #[test]
    fn name_rules() {
        assert!(
            is_npm_name("@types/node") && is_npm_name("JSONStream") && is_npm_name("lodash.merge")
        );
        assert!(!is_npm_name("@types") && !is_npm_name("a,b") && !is_npm_name(".hidden"));
        assert!(!is_npm_name("../x") && !is_npm_name("@a/b/c") && !is_npm_name(""));
        assert!(
            is_crate_name("serde_json") && !is_crate_name("1password") && !is_crate_name("a.b")
        );
        assert!(is_pypi_name("zope.interface") && !is_pypi_name("-x") && !is_pypi_name("é"));
        assert!(is_go_module_path("gopkg.in/yaml.v3") && !is_go_module_path("fmt"));
        assert!(!is_go_module_path("github.com/../x") && !is_go_module_path("github.com/a b"));
    }
}
