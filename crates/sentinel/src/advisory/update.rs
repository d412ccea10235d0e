//! `db update`: refreshes the mirror from OSV's dump bucket, laid out as
//! `<base>/<Ecosystem>/all.zip`, `<base>/<Ecosystem>/modified_id.csv` (newest first,
//! `<RFC 3339>,<ID>`) and `<base>/<Ecosystem>/<ID>.json`.
//!
//! An ecosystem the store has no records of is downloaded whole (`all.zip`, streamed to a file
//! in the cache directory, then imported). Otherwise `modified_id.csv` is read down to the
//! newest record already stored and only the records changed since are fetched; when that is
//! more than [`FULL_DOWNLOAD_THRESHOLD`] records the whole dump is cheaper and is used instead.
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use super::import::{self, Progress};
use super::store::{ImportStats, Store};
use super::{AdvisoryError, osv};

/// Above this many changed records, download the whole dump instead of record files.
pub const FULL_DOWNLOAD_THRESHOLD: usize = 5000;

/// Base URL of the dump bucket: `SENTINEL_OSV_DUMP_URL`, else OSV's public bucket.
pub fn default_dump_url() -> String {
    std::env::var("SENTINEL_OSV_DUMP_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "https://osv-vulnerabilities.storage.googleapis.com".to_owned())
}

/// How one ecosystem was updated.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// `all.zip` downloaded and imported.
    FullDump,
    /// Only the records `modified_id.csv` lists as changed were fetched.
    Incremental,
}

/// Result of updating one ecosystem.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Updated {
    pub ecosystem: String,
    pub method: Method,
    pub stats: ImportStats,
}

fn http() -> Result<reqwest::Client, AdvisoryError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("sentinel/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AdvisoryError::Network {
            url: String::new(),
            reason: e.to_string(),
        })
}

/// Time allowed for a whole record or CSV download.
const SMALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed for a whole `all.zip` (hundreds of MiB for PyPI or npm on a slow link).
const DUMP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

async fn get(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<reqwest::Response, AdvisoryError> {
    let resp =
        client
            .get(url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| AdvisoryError::Network {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
    if !resp.status().is_success() {
        return Err(AdvisoryError::Network {
            url: url.to_owned(),
            reason: format!("HTTP {}", resp.status()),
        });
    }
    Ok(resp)
}

/// Parses `modified_id.csv`: `(modified, id)` lines, newest first. A malformed line is an error
/// naming its number.
pub fn parse_modified_csv(text: &str, url: &str) -> Result<Vec<(i64, String)>, AdvisoryError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = || AdvisoryError::Protocol {
            url: url.to_owned(),
            reason: format!("line {}: expected `<RFC 3339 time>,<id>`", n + 1),
        };
        let (ts, id) = line.split_once(',').ok_or_else(bad)?;
        let ts = ts.trim().parse::<jiff::Timestamp>().map_err(|_| bad())?;
        let id = id.trim();
        // The id becomes part of a URL: accept only OSV id characters.
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(bad());
        }
        out.push((ts.as_microsecond(), id.to_owned()));
    }
    Ok(out)
}

/// Updates each of `ecosystems` (OSV names) from the bucket at `base`.
pub async fn update(
    store: &mut Store,
    base: &str,
    ecosystems: &[&str],
    work_dir: &Path,
    progress: Progress,
) -> Result<Vec<Updated>, AdvisoryError> {
    let client = http()?;
    let base = base.trim_end_matches('/');
    let mut out = Vec::new();
    for eco in ecosystems {
        out.push(update_one(store, &client, base, eco, work_dir, progress).await?);
    }
    Ok(out)
}

async fn update_one(
    store: &mut Store,
    client: &reqwest::Client,
    base: &str,
    eco: &str,
    work_dir: &Path,
    progress: Progress,
) -> Result<Updated, AdvisoryError> {
    let dump_url = format!("{base}/{eco}/all.zip");
    if store.has_ecosystem(eco)? {
        let csv_url = format!("{base}/{eco}/modified_id.csv");
        let text = get(client, &csv_url, SMALL_TIMEOUT)
            .await?
            .text()
            .await
            .map_err(|e| AdvisoryError::Network {
                url: csv_url.clone(),
                reason: e.to_string(),
            })?;
        let lines = parse_modified_csv(&text, &csv_url)?;
        let newest = store.newest_modified_us(eco)?;
        let mut changed = Vec::new();
        for (ts, id) in &lines {
            // Newest first: everything older than the newest stored record was seen before.
            if newest.is_some_and(|n| *ts < n) {
                break;
            }
            if store.modified_of(id)?.is_none_or(|stored| stored < *ts) {
                changed.push(id.clone());
            }
        }
        if changed.len() <= FULL_DOWNLOAD_THRESHOLD {
            let fetched: Vec<Result<osv::Record, AdvisoryError>> =
                futures::stream::iter(changed.iter().map(|id| {
                    let url = format!("{base}/{eco}/{id}.json");
                    async move {
                        let bytes = get(client, &url, SMALL_TIMEOUT)
                            .await?
                            .bytes()
                            .await
                            .map_err(|e| AdvisoryError::Network {
                                url: url.clone(),
                                reason: e.to_string(),
                            })?;
                        osv::Record::from_slice(&bytes)
                            .map_err(|reason| AdvisoryError::MalformedRecord { file: url, reason })
                    }
                }))
                .buffered(8)
                .collect()
                .await;
            let records = fetched.into_iter().collect::<Result<Vec<_>, _>>()?;
            let mut writer = store.writer()?;
            for r in &records {
                writer.put(r, &csv_url)?;
            }
            let stats = writer.commit(&format!("{base}/{eco}"))?;
            return Ok(Updated {
                ecosystem: eco.to_owned(),
                method: Method::Incremental,
                stats,
            });
        }
    }
    // Whole dump: stream to a file, then import it.
    std::fs::create_dir_all(work_dir).map_err(|source| AdvisoryError::Io {
        path: work_dir.display().to_string(),
        source,
    })?;
    let part = work_dir.join(format!("{eco}-all.zip.part"));
    let result = download_and_import(store, client, &dump_url, &part, progress).await;
    let _ = std::fs::remove_file(&part);
    Ok(Updated {
        ecosystem: eco.to_owned(),
        method: Method::FullDump,
        stats: result?,
    })
}

async fn download_and_import(
    store: &mut Store,
    client: &reqwest::Client,
    url: &str,
    part: &Path,
    progress: Progress,
) -> Result<ImportStats, AdvisoryError> {
    let resp = get(client, url, DUMP_TIMEOUT).await?;
    let io = |source| AdvisoryError::Io {
        path: part.display().to_string(),
        source,
    };
    let mut file = std::fs::File::create(part).map_err(io)?;
    let pb = if progress == Progress::Bar {
        let pb = indicatif::ProgressBar::new(resp.content_length().unwrap_or(0));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "downloading {msg} {bytes}/{total_bytes} ({bytes_per_sec})",
        ) {
            pb.set_style(style);
        }
        pb.set_message(url.to_owned());
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut resp = resp;
    while let Some(chunk) = resp.chunk().await.map_err(|e| AdvisoryError::Network {
        url: url.to_owned(),
        reason: e.to_string(),
    })? {
        file.write_all(&chunk).map_err(io)?;
        pb.inc(chunk.len() as u64);
    }
    file.flush().map_err(io)?;
    drop(file);
    pb.finish_and_clear();
    let file = std::fs::File::open(part).map_err(io)?;
    let mut writer = store.writer()?;
    import::import_zip(&mut writer, file, url, progress)?;
    writer.commit(url)
}
