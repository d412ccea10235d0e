//! Online advisories and `db update` against a local server that speaks OSV's query API
//! (`/v1/querybatch`, `/v1/vulns/{id}`) and OSV's dump bucket layout, serving the real fixture
//! records. The server answers queries with the reference evaluation, as OSV would.
use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use sentinel::advisory::import::Progress;
use sentinel::advisory::online::{self, Client, Query};
use sentinel::advisory::reference::Reference;
use sentinel::advisory::update::{self, Method};
use sentinel::advisory::{AdvisoryError, Store};

use super::advisory::{ECOS, cases, fixtures, reference};

/// One ecosystem's folder of the dump bucket: `all.zip`, `modified_id.csv`, record files that
/// differ from the fixture records.
type BucketDir = (Vec<u8>, String, HashMap<String, Vec<u8>>);

#[derive(Default)]
pub struct Osv {
    reference: Reference,
    records: HashMap<String, Vec<u8>>,
    /// eco -> (all.zip bytes, modified_id.csv text, extra record files)
    bucket: Mutex<HashMap<String, BucketDir>>,
    log: Mutex<Vec<String>>,
    batch_sizes: Mutex<Vec<usize>>,
    page_size: usize,
}

impl Osv {
    fn log(&self, line: String) {
        self.log.lock().expect("log").push(line);
    }
    pub fn requests(&self, prefix: &str) -> usize {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

pub fn osv_state(page_size: usize) -> Osv {
    let reference = reference();
    let mut records = HashMap::new();
    let mut bucket = HashMap::new();
    for eco in ECOS {
        let zip_bytes = std::fs::read(fixtures().join(eco).join("all.zip")).expect("zip");
        let csv =
            std::fs::read_to_string(fixtures().join(eco).join("modified_id.csv")).expect("csv");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes.clone())).expect("zip");
        for i in 0..zip.len() {
            let mut e = zip.by_index(i).expect("entry");
            let name = e.name().expect("name").trim_end_matches(".json").to_owned();
            let mut b = Vec::new();
            e.read_to_end(&mut b).expect("read");
            records.insert(name, b);
        }
        bucket.insert(eco.to_owned(), (zip_bytes, csv, HashMap::new()));
    }
    Osv {
        reference,
        records,
        bucket: Mutex::new(bucket),
        page_size,
        ..Default::default()
    }
}

async fn querybatch(State(osv): State<Arc<Osv>>, body: axum::body::Bytes) -> impl IntoResponse {
    osv.log("POST /v1/querybatch".into());
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad json".to_owned());
    };
    let queries = req["queries"].as_array().cloned().unwrap_or_default();
    osv.batch_sizes.lock().expect("sizes").push(queries.len());
    if queries.len() > 1000 {
        return (StatusCode::BAD_REQUEST, "too many queries".to_owned());
    }
    let mut results = Vec::new();
    for q in queries {
        let eco = q["package"]["ecosystem"].as_str().unwrap_or_default();
        let name = q["package"]["name"].as_str().unwrap_or_default();
        let all = osv.reference.naming(eco, name);
        let ids: Vec<(String, String)> = match q["version"].as_str() {
            Some(v) => {
                let hit = osv.reference.affecting(eco, name, v);
                all.into_iter().filter(|(id, _)| hit.contains(id)).collect()
            }
            None => all,
        };
        let start: usize = q["page_token"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let page: Vec<_> = ids.iter().skip(start).take(osv.page_size).collect();
        let mut result = serde_json::json!({});
        if !page.is_empty() {
            result["vulns"] = page
                .iter()
                .map(|(id, m)| serde_json::json!({"id": id, "modified": m}))
                .collect::<Vec<_>>()
                .into();
        }
        if start + osv.page_size < ids.len() {
            result["next_page_token"] = (start + osv.page_size).to_string().into();
        }
        results.push(result);
    }
    (
        StatusCode::OK,
        serde_json::json!({ "results": results }).to_string(),
    )
}

async fn vuln(State(osv): State<Arc<Osv>>, UrlPath(id): UrlPath<String>) -> impl IntoResponse {
    osv.log(format!("GET /v1/vulns/{id}"));
    match osv.records.get(&id) {
        Some(b) => (StatusCode::OK, b.clone()),
        None => (
            StatusCode::NOT_FOUND,
            b"{\"code\":5,\"message\":\"Bug not found.\"}".to_vec(),
        ),
    }
}

async fn dump(
    State(osv): State<Arc<Osv>>,
    UrlPath((eco, file)): UrlPath<(String, String)>,
) -> impl IntoResponse {
    osv.log(format!("GET /dump/{eco}/{file}"));
    let bucket = osv.bucket.lock().expect("bucket");
    let Some((zip, csv, extra)) = bucket.get(&eco) else {
        return (StatusCode::NOT_FOUND, Vec::new());
    };
    match file.as_str() {
        "all.zip" => (StatusCode::OK, zip.clone()),
        "modified_id.csv" => (StatusCode::OK, csv.clone().into_bytes()),
        f => {
            let id = f.trim_end_matches(".json");
            match extra.get(id).or_else(|| osv.records.get(id)) {
                Some(b) => (StatusCode::OK, b.clone()),
                None => (StatusCode::NOT_FOUND, Vec::new()),
            }
        }
    }
}

pub async fn serve(osv: Arc<Osv>) -> SocketAddr {
    let app = Router::new()
        .route("/v1/querybatch", post(querybatch))
        .route("/v1/vulns/{id}", get(vuln))
        .route("/dump/{eco}/{file}", get(dump))
        .with_state(osv);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn q(eco: &str, name: &str, version: Option<&str>) -> Query {
    Query {
        ecosystem: eco.into(),
        name: name.into(),
        version: version.map(str::to_owned),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_answers_every_case_then_serves_from_cache() {
    let osv = Arc::new(osv_state(1000));
    let addr = serve(osv.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Mutex::new(Store::open(&dir.path().join("a.db")).expect("open"));
    let client = Client::new(&format!("http://{addr}")).expect("client");
    let cases = cases();
    let mut queries: Vec<Query> = cases
        .iter()
        .map(|c| q(&c.eco, &c.name, Some(&c.version)))
        .collect();
    // Enough distinct queries for two `querybatch` requests.
    queries.extend((0..1100).map(|i| q("npm", &format!("no-such-package-{i}"), Some("1.0.0"))));
    let stats = online::refresh(&client, &store, &queries, Duration::from_secs(3600))
        .await
        .expect("refresh");
    assert_eq!(stats.queried, 59 + 1100 - duplicates(&cases));
    assert_eq!(
        stats.requests, 2,
        "1,159 queries fit in two batches of at most 1,000"
    );
    assert!(
        osv.batch_sizes
            .lock()
            .expect("sizes")
            .iter()
            .all(|&n| n <= 1000)
    );
    assert!(stats.fetched > 30 && stats.fetched == osv.requests("GET /v1/vulns/"));
    {
        let s = online::lock(&store);
        for c in &cases {
            let mut got: Vec<String> = s
                .lookup(&c.eco, &c.name, Some(&c.version))
                .expect("lookup")
                .hits
                .into_iter()
                .map(|h| h.id)
                .collect();
            got.sort();
            assert_eq!(
                got, c.expected,
                "{} {}@{} ({})",
                c.eco, c.name, c.version, c.why
            );
        }
    }
    // Everything again: answered from the cache, no request at all.
    let before = osv.requests("");
    let again = online::refresh(&client, &store, &queries, Duration::from_secs(3600))
        .await
        .expect("refresh");
    assert_eq!((again.requests, again.fetched, again.queried), (0, 0, 0));
    assert_eq!(osv.requests(""), before);
    // An expired cache asks again but fetches no record it already holds.
    let expired = online::refresh(&client, &store, &queries[..5], Duration::ZERO)
        .await
        .expect("refresh");
    assert_eq!((expired.requests, expired.fetched), (1, 0));
}

fn duplicates(cases: &[super::advisory::Case]) -> usize {
    let mut seen = std::collections::HashSet::new();
    cases
        .iter()
        .filter(|c| !seen.insert((c.eco.clone(), c.name.clone(), c.version.clone())))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_follows_pagination_and_queries_without_version() {
    let osv = Arc::new(osv_state(2));
    let addr = serve(osv.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Mutex::new(Store::open(&dir.path().join("a.db")).expect("open"));
    let client = Client::new(&format!("http://{addr}")).expect("client");
    // tensorflow has many records: paginated two at a time.
    let expected = osv.reference.naming("PyPI", "tensorflow").len();
    assert!(expected > 6);
    let (answers, requests) = client
        .query_batch(&[q("PyPI", "tensorflow", None), q("npm", "chalk", None)])
        .await
        .expect("batch");
    assert_eq!(answers[0].len(), expected);
    assert_eq!(answers[1].len(), 1);
    assert_eq!(requests, expected.div_ceil(2));
    online::refresh(
        &client,
        &store,
        &[q("npm", "chalk", None)],
        Duration::from_secs(60),
    )
    .await
    .expect("refresh");
    let r = online::lock(&store)
        .lookup("npm", "chalk", None)
        .expect("lookup");
    assert!(r.malicious() && r.hits[0].id == "MAL-2025-46969");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_errors_are_clear_and_leave_the_store_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Mutex::new(Store::open(&dir.path().join("a.db")).expect("open"));
    // Nothing listens on port 1.
    let client = Client::new("http://127.0.0.1:1").expect("client");
    let err = online::refresh(
        &client,
        &store,
        &[q("npm", "chalk", Some("5.6.1"))],
        Duration::from_secs(60),
    )
    .await
    .expect_err("unreachable");
    assert!(matches!(err, AdvisoryError::Network { .. }), "{err}");
    assert!(
        err.to_string().contains("127.0.0.1:1/v1/querybatch"),
        "{err}"
    );
    // A server that answers garbage.
    let app = Router::new().route(
        "/v1/querybatch",
        post(|| async { "<html>proxy login</html>" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new(&format!("http://{addr}")).expect("client");
    let err = online::refresh(
        &client,
        &store,
        &[q("npm", "chalk", Some("5.6.1"))],
        Duration::from_secs(60),
    )
    .await
    .expect_err("garbage");
    assert!(matches!(err, AdvisoryError::Protocol { .. }), "{err}");
    assert_eq!(online::lock(&store).status().expect("status").records, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_update_downloads_the_dump_then_fetches_only_what_changed() {
    let osv = Arc::new(osv_state(1000));
    let addr = serve(osv.clone()).await;
    let base = format!("http://{addr}/dump");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("a.db")).expect("open");
    let first = update::update(
        &mut store,
        &base,
        &["npm", "crates.io"],
        dir.path(),
        Progress::Quiet,
    )
    .await
    .expect("update");
    assert_eq!(first[0].method, Method::FullDump);
    assert_eq!(first[0].stats.inserted, 137);
    assert_eq!(first[1].method, Method::FullDump);
    assert_eq!(osv.requests("GET /dump/npm/all.zip"), 1);
    assert!(
        store
            .lookup("npm", "chalk", Some("5.6.1"))
            .expect("lookup")
            .malicious()
    );
    // The bucket moves on: a new malicious package, and chalk's report is withdrawn.
    let new_mal = br#"{"id":"MAL-2099-0001","modified":"2099-01-02T00:00:00Z","summary":"Malicious code in evil-pkg (npm)","affected":[{"package":{"ecosystem":"npm","name":"evil-pkg"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}"#;
    let withdrawn = String::from_utf8(osv.records["MAL-2025-46969"].clone())
        .expect("utf8")
        .replace(
            "\"modified\": \"2025-09-12T01:13:34Z\"",
            "\"modified\": \"2099-01-01T00:00:00Z\", \"withdrawn\": \"2099-01-01T00:00:00Z\"",
        );
    assert!(withdrawn.contains("withdrawn"));
    {
        let mut bucket = osv.bucket.lock().expect("bucket");
        let (_, csv, extra) = bucket.get_mut("npm").expect("npm");
        *csv = format!(
            "2099-01-02T00:00:00Z,MAL-2099-0001\n2099-01-01T00:00:00Z,MAL-2025-46969\n{csv}"
        );
        extra.insert("MAL-2099-0001".into(), new_mal.to_vec());
        extra.insert("MAL-2025-46969".into(), withdrawn.into_bytes());
    }
    let fetched_before = osv.requests("GET /dump/npm/M") + osv.requests("GET /dump/npm/G");
    let second = update::update(&mut store, &base, &["npm"], dir.path(), Progress::Quiet)
        .await
        .expect("update");
    assert_eq!(second[0].method, Method::Incremental);
    assert_eq!(
        (
            second[0].stats.read,
            second[0].stats.inserted,
            second[0].stats.withdrawn
        ),
        (2, 1, 1)
    );
    assert_eq!(
        osv.requests("GET /dump/npm/all.zip"),
        1,
        "no second full download"
    );
    assert_eq!(
        osv.requests("GET /dump/npm/M") + osv.requests("GET /dump/npm/G") - fetched_before,
        2
    );
    assert!(
        store
            .lookup("npm", "evil-pkg", None)
            .expect("lookup")
            .malicious()
    );
    assert!(
        store
            .lookup("npm", "chalk", Some("5.6.1"))
            .expect("lookup")
            .hits
            .is_empty()
    );
    // Nothing new: one csv read, no record fetched.
    let third = update::update(&mut store, &base, &["npm"], dir.path(), Progress::Quiet)
        .await
        .expect("update");
    assert_eq!(third[0].stats.read, 0);
    assert!(
        !dir.path().join("npm-all.zip.part").exists(),
        "download file cleaned up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_update_unreachable_or_broken_bucket_is_an_error_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("a.db")).expect("open");
    let err = update::update(
        &mut store,
        "http://127.0.0.1:1",
        &["PyPI"],
        dir.path(),
        Progress::Quiet,
    )
    .await
    .expect_err("unreachable");
    assert!(
        matches!(err, AdvisoryError::Network { .. })
            && err.to_string().contains("127.0.0.1:1/PyPI/all.zip"),
        "{err}"
    );
    // A bucket whose dump is truncated.
    let osv = Arc::new(osv_state(1000));
    {
        let mut bucket = osv.bucket.lock().expect("bucket");
        let (zip, _, _) = bucket.get_mut("PyPI").expect("pypi");
        zip.truncate(zip.len() / 3);
    }
    let addr = serve(osv.clone()).await;
    let err = update::update(
        &mut store,
        &format!("http://{addr}/dump"),
        &["PyPI"],
        dir.path(),
        Progress::Quiet,
    )
    .await
    .expect_err("truncated dump");
    assert!(matches!(err, AdvisoryError::MalformedZip { .. }), "{err}");
    assert_eq!(store.status().expect("status").records, 0);
    assert!(update::parse_modified_csv("2024-01-01T00:00:00Z,../../etc/passwd\n", "x").is_err());
    assert!(update::parse_modified_csv("garbage\n", "x").is_err());
}

/// Opt-in live check against the real OSV API (`SENTINEL_LIVE_OSV=1`; OSV is not reachable from
/// the build machines, so it is skipped by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_osv_api_knows_the_chalk_compromise() {
    if std::env::var("SENTINEL_LIVE_OSV").ok().as_deref() != Some("1") {
        eprintln!("skipped: set SENTINEL_LIVE_OSV=1 to query https://api.osv.dev");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Mutex::new(Store::open(&dir.path().join("a.db")).expect("open"));
    let client = Client::new("https://api.osv.dev").expect("client");
    online::refresh(
        &client,
        &store,
        &[q("npm", "chalk", Some("5.6.1"))],
        Duration::from_secs(60),
    )
    .await
    .expect("live OSV");
    let r = online::lock(&store)
        .lookup("npm", "chalk", Some("5.6.1"))
        .expect("lookup");
    assert!(r.malicious(), "{r:?}");
}
