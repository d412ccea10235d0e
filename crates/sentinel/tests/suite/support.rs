//! Test support: a loopback server replaying recorded registry answers (with injected faults),
//! and a builder for running the real `sentinel` binary against it.
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, Uri};
use axum::response::Response;

/// A fault injected for one request path.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Wait this long before answering (longer than the client timeout = a timeout).
    Delay(Duration),
    /// Answer with this status.
    Status(u16),
    /// Answer 200 with this body.
    Body(Vec<u8>),
    /// Answer with this status the first N times, then normally.
    FailFirst(usize, u16),
}

#[derive(Default)]
struct State {
    faults: HashMap<String, Fault>,
    hits: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
}

/// The fixture server: `/<registry>/<path>` answers with `tests/fixtures/registry/<registry>/<path>`.
pub struct FixtureServer {
    pub url: String,
    state: Arc<State>,
    _rt: tokio::runtime::Runtime,
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

impl FixtureServer {
    pub fn start() -> Self {
        Self::with_faults(HashMap::new())
    }

    pub fn with_faults(faults: HashMap<String, Fault>) -> Self {
        let state = Arc::new(State {
            faults,
            ..State::default()
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let st = state.clone();
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(move |uri: Uri| {
                let st = st.clone();
                async move { serve(st, uri).await }
            });
            axum::serve(listener, app).await.unwrap();
        });
        FixtureServer {
            url: format!("http://{addr}"),
            state,
            _rt: rt,
        }
    }

    /// Requests seen for a path.
    pub fn hits(&self, path: &str) -> usize {
        *self.state.hits.lock().unwrap().get(path).unwrap_or(&0)
    }

    /// All requests seen.
    pub fn total(&self) -> usize {
        self.state.total.load(Ordering::SeqCst)
    }
}

async fn serve(st: Arc<State>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    st.total.fetch_add(1, Ordering::SeqCst);
    let n = {
        let mut h = st.hits.lock().unwrap();
        let e = h.entry(path.clone()).or_insert(0);
        *e += 1;
        *e
    };
    let status = |s: u16| {
        Response::builder()
            .status(StatusCode::from_u16(s).unwrap())
            .body(Body::from("fault"))
            .unwrap()
    };
    match st.faults.get(&path) {
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Fault::Status(s)) => return status(*s),
        Some(Fault::Body(b)) => return Response::new(Body::from(b.clone())),
        Some(Fault::FailFirst(k, s)) if n <= *k => return status(*s),
        _ => {}
    }
    if path.contains("..") {
        return status(400);
    }
    let file = fixtures()
        .join("registry")
        .join(path.trim_start_matches('/'));
    match std::fs::read(&file) {
        Ok(b) if file.is_file() => Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(b))
            .unwrap(),
        _ => status(404),
    }
}

/// A run of the real binary with an isolated cache, home and working directory.
pub struct Sentinel {
    pub dir: tempfile::TempDir,
    pub registry: String,
}

impl Sentinel {
    pub fn new(server: &FixtureServer) -> Self {
        Sentinel {
            dir: tempfile::tempdir().unwrap(),
            registry: server.url.clone(),
        }
    }

    /// Points every registry at an address where nothing listens.
    pub fn unreachable() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        Sentinel {
            dir: tempfile::tempdir().unwrap(),
            registry: format!("http://{addr}"),
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    pub fn work(&self) -> PathBuf {
        let w = self.dir.path().join("work");
        std::fs::create_dir_all(&w).unwrap();
        w
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sentinel"));
        c.current_dir(self.work())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("SENTINEL_CACHE_DIR", self.cache_dir())
            .env("SENTINEL_PYPI_URL", format!("{}/pypi", self.registry))
            .env("SENTINEL_NPM_URL", format!("{}/npm", self.registry))
            .env("SENTINEL_CRATES_URL", format!("{}/crates", self.registry))
            .env("SENTINEL_GO_URL", format!("{}/go", self.registry))
            .env(
                "SENTINEL_NPM_DOWNLOADS_URL",
                format!("{}/npm-downloads", self.registry),
            )
            // OSV advisories are not under test here (suite/advisory_*.rs covers them); without
            // a mirror or OSV they would fail closed and block every package.
            .env("SENTINEL_ADVISORIES", "off");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().unwrap())
    }

    /// Writes a policy file into the working directory (found upward by the binary).
    pub fn policy(&self, toml: &str) {
        std::fs::write(self.work().join("sentinel.toml"), toml).unwrap();
    }
}

/// What a run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Finding codes of the first verdict in JSON output.
    pub fn codes(&self) -> Vec<String> {
        self.json()["verdicts"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn decision(&self) -> String {
        self.json()["verdicts"][0]["decision"]
            .as_str()
            .unwrap()
            .to_string()
    }
}
