//! Online mode: OSV's query API. `POST /v1/querybatch` (up to 1,000 queries a request) answers
//! with the IDs and `modified` times of the records that affect each package; records the store
//! lacks (or holds an older revision of) are fetched with `GET /v1/vulns/{id}` and stored, so the
//! verdict is computed by the same evaluation as offline and later lookups need no network.
//! Query answers are cached in the store for a TTL.
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::store::Store;
use super::{AdvisoryError, osv};

/// OSV's limit of queries per `querybatch` request.
pub const BATCH_LIMIT: usize = 1000;
/// Pages followed per query when OSV paginates a large answer.
const MAX_PAGES: usize = 20;
/// Concurrent `GET /v1/vulns/{id}` requests.
const FETCH_CONCURRENCY: usize = 8;

/// Base URL of the OSV API: `SENTINEL_OSV_URL`, else `https://api.osv.dev`.
pub fn default_api_url() -> String {
    std::env::var("SENTINEL_OSV_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "https://api.osv.dev".to_owned())
}

/// One package to ask about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Query {
    /// OSV ecosystem name (`PyPI`, `npm`, `crates.io`, `Go`).
    pub ecosystem: String,
    pub name: String,
    pub version: Option<String>,
}

#[derive(Serialize)]
struct BatchBody<'a> {
    queries: Vec<BatchQuery<'a>>,
}

#[derive(Serialize)]
struct BatchQuery<'a> {
    package: BatchPackage<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_token: Option<String>,
}

#[derive(Serialize)]
struct BatchPackage<'a> {
    name: &'a str,
    ecosystem: &'a str,
}

#[derive(Deserialize)]
struct BatchResponse {
    #[serde(default)]
    results: Vec<BatchResult>,
}

#[derive(Deserialize, Default)]
struct BatchResult {
    #[serde(default)]
    vulns: Vec<VulnRef>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// An ID `querybatch` returned.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct VulnRef {
    pub id: String,
    #[serde(default)]
    pub modified: Option<String>,
}

/// What [`refresh`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RefreshStats {
    /// Queries answered from the cache.
    pub cached: usize,
    /// Queries sent to OSV.
    pub queried: usize,
    /// `querybatch` requests made.
    pub requests: usize,
    /// Records fetched and stored.
    pub fetched: usize,
}

/// A client of the OSV API.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client for the API at `base` (e.g. `https://api.osv.dev` or a local fixture server).
    pub fn new(base: &str) -> Result<Client, AdvisoryError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("sentinel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AdvisoryError::Network {
                url: base.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<bytes::Bytes, AdvisoryError> {
        let net = |e: reqwest::Error| AdvisoryError::Network {
            url: url.to_owned(),
            reason: e.to_string(),
        };
        let mut last = None;
        for attempt in 0..2u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let Some(r) = req.try_clone() else { break };
            match r.send().await {
                Ok(resp) if resp.status().is_success() => return resp.bytes().await.map_err(net),
                Ok(resp) if resp.status().is_server_error() || resp.status().as_u16() == 429 => {
                    last = Some(AdvisoryError::Network {
                        url: url.to_owned(),
                        reason: format!("HTTP {}", resp.status()),
                    });
                }
                Ok(resp) => {
                    return Err(AdvisoryError::Protocol {
                        url: url.to_owned(),
                        reason: format!("HTTP {}", resp.status()),
                    });
                }
                Err(e) => last = Some(net(e)),
            }
        }
        Err(last.unwrap_or_else(|| AdvisoryError::Network {
            url: url.to_owned(),
            reason: "request failed".into(),
        }))
    }

    /// `POST /v1/querybatch` for up to [`BATCH_LIMIT`] queries at a time; follows pagination.
    /// The answer lists, per query and in order, the records affecting it.
    pub async fn query_batch(
        &self,
        queries: &[Query],
    ) -> Result<(Vec<Vec<VulnRef>>, usize), AdvisoryError> {
        let url = format!("{}/v1/querybatch", self.base);
        let mut out: Vec<Vec<VulnRef>> = vec![Vec::new(); queries.len()];
        let mut requests = 0;
        for (chunk_no, chunk) in queries.chunks(BATCH_LIMIT).enumerate() {
            let offset = chunk_no * BATCH_LIMIT;
            // (index into `queries`, page token) still to ask.
            let mut pending: Vec<(usize, Option<String>)> =
                (0..chunk.len()).map(|i| (offset + i, None)).collect();
            for _page in 0..MAX_PAGES {
                if pending.is_empty() {
                    break;
                }
                let body = BatchBody {
                    queries: pending
                        .iter()
                        .map(|(i, token)| BatchQuery {
                            package: BatchPackage {
                                name: &queries[*i].name,
                                ecosystem: &queries[*i].ecosystem,
                            },
                            version: queries[*i].version.as_deref(),
                            page_token: token.clone(),
                        })
                        .collect(),
                };
                let bytes = self.send(self.http.post(&url).json(&body), &url).await?;
                requests += 1;
                let resp: BatchResponse =
                    serde_json::from_slice(&bytes).map_err(|e| AdvisoryError::Protocol {
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
                if resp.results.len() != pending.len() {
                    return Err(AdvisoryError::Protocol {
                        url: url.clone(),
                        reason: format!(
                            "{} results for {} queries",
                            resp.results.len(),
                            pending.len()
                        ),
                    });
                }
                let mut next = Vec::new();
                for ((i, _), result) in pending.iter().zip(resp.results) {
                    out[*i].extend(result.vulns);
                    if let Some(token) = result.next_page_token.filter(|t| !t.is_empty()) {
                        next.push((*i, Some(token)));
                    }
                }
                pending = next;
            }
        }
        Ok((out, requests))
    }

    /// `GET /v1/vulns/{id}`: one full record.
    pub async fn vuln(&self, id: &str) -> Result<osv::Record, AdvisoryError> {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(AdvisoryError::Protocol {
                url: self.base.clone(),
                reason: format!("unsafe advisory id {id:?}"),
            });
        }
        let url = format!("{}/v1/vulns/{id}", self.base);
        let bytes = self.send(self.http.get(&url), &url).await?;
        osv::Record::from_slice(&bytes)
            .map_err(|reason| AdvisoryError::MalformedRecord { file: url, reason })
    }
}

fn version_key(q: &Query) -> &str {
    q.version.as_deref().unwrap_or("")
}

/// Makes the store current for `queries`: answers younger than `ttl` come from the cache, the
/// rest from one `querybatch` per 1,000 queries; every record OSV names that the store lacks, or
/// holds an older revision of, is fetched and stored. Afterwards [`Store::lookup`] answers.
pub async fn refresh(
    client: &Client,
    store: &Mutex<Store>,
    queries: &[Query],
    ttl: Duration,
) -> Result<RefreshStats, AdvisoryError> {
    let mut stats = RefreshStats::default();
    let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
    let mut ask = Vec::new();
    {
        let guard = lock(store);
        for q in queries {
            let name = super::normalize_name(&q.ecosystem, &q.name);
            if guard
                .cached_query(&q.ecosystem, &name, version_key(q), ttl_us)?
                .is_some()
            {
                stats.cached += 1;
            } else {
                ask.push(q.clone());
            }
        }
    }
    ask.sort_by(|a, b| {
        (&a.ecosystem, &a.name, &a.version).cmp(&(&b.ecosystem, &b.name, &b.version))
    });
    ask.dedup();
    if ask.is_empty() {
        return Ok(stats);
    }
    stats.queried = ask.len();
    let (answers, requests) = client.query_batch(&ask).await?;
    stats.requests = requests;
    // Records to fetch: unknown or older than what OSV has.
    let mut need: Vec<String> = Vec::new();
    {
        let guard = lock(store);
        for v in answers.iter().flatten() {
            let stored = guard.modified_of(&v.id)?;
            let remote = v
                .modified
                .as_deref()
                .and_then(|m| m.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_microsecond());
            let stale = match (stored, remote) {
                (None, _) => true,
                (Some(s), Some(r)) => s < r,
                (Some(_), None) => false,
            };
            if stale && !need.contains(&v.id) {
                need.push(v.id.clone());
            }
        }
    }
    let fetched: Vec<Result<osv::Record, AdvisoryError>> = futures::stream::iter(
        need.into_iter()
            .map(|id| async move { client.vuln(&id).await }),
    )
    .buffer_unordered(FETCH_CONCURRENCY)
    .collect()
    .await;
    let records = fetched.into_iter().collect::<Result<Vec<_>, _>>()?;
    let mut guard = lock(store);
    let source = format!("online {}", client.base());
    {
        let mut writer = guard.writer()?;
        for r in &records {
            writer.put(r, &source)?;
        }
        stats.fetched = records.len();
        // Online fetches do not count as a dump import: commit without touching `imports`.
        writer.commit_quiet()?;
    }
    for (q, ids) in ask.iter().zip(&answers) {
        let ids: Vec<String> = ids.iter().map(|v| v.id.clone()).collect();
        let name = super::normalize_name(&q.ecosystem, &q.name);
        guard.cache_query(&q.ecosystem, &name, version_key(q), &ids)?;
    }
    Ok(stats)
}

/// Locks the store; a panic elsewhere while holding it leaves SQLite consistent (transactions
/// roll back on drop), so a poisoned lock is still usable.
pub fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}
