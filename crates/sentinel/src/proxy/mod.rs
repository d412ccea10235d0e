//! Registry proxy that enforces Sentinel's verdicts: a pass-through for PyPI's simple API
//! (PEP 503 HTML and PEP 691 JSON, plus the files it links) and the npm registry (package
//! documents and tarballs) in front of a configurable upstream.
//!
//! What it guarantees: a package the [`Gate`] blocks is never served. npm documents of blocked
//! packages are refused with 403 and a JSON body whose `error` names the rule and the
//! alternative (npm prints it); versions the gate blocks vanish from allowed documents and their
//! tarballs are refused. PyPI pages are served with every file link pointing back at the proxy
//! and links that leave the configured files upstream removed; files of a blocked project or
//! version are refused with 403, the reason in the status line and the body (pip prints the
//! status line; it hides errors on index pages, which is why the page itself is still served).
//! Hallucinated names that the upstream does not know get 404 with the same reason. A gate that
//! could not record its judgement ([`gate::AUDIT_FAILED`], see [`crate::audit::AuditingGate`])
//! turns the request into a 503: nothing is served unrecorded.
//!
//! What it does not do: cache, serve the full project index (`/pypi/simple/`), search, audit
//! or publish endpoints. Anything it does not understand is refused (404), never passed through.
pub mod gate;
pub mod npm;
pub mod pypi;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use reqwest::Url;

pub use gate::{Gate, Judgement, Query, Registry};

/// Rules that condemn a name as such (not one of its releases): an npm document blocked for one
/// of them is refused outright; for other rules only the blocked versions are removed.
pub const NAME_RULES: &[&str] = &["typosquat", "not-found", "invalid-name", "denied-by-policy"];

/// Errors while starting the proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// An upstream URL could not be parsed.
    #[error("invalid upstream url `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the http client")]
    Client(#[from] reqwest::Error),
    /// The server stopped with an I/O error.
    #[error("proxy server failed: {0}")]
    Serve(std::io::Error),
}

/// Where the proxy forwards to, and its limits.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// PyPI simple API base (`https://pypi.org/simple/`).
    pub pypi_simple: String,
    /// Base of the files the simple pages link to (`https://files.pythonhosted.org/`).
    pub pypi_files: String,
    /// npm registry base (`https://registry.npmjs.org/`).
    pub npm_registry: String,
    /// The URL clients reach the proxy at (`http://127.0.0.1:8080`); when `None`, taken from
    /// the request's `Host` header.
    pub public_url: Option<String>,
    /// Largest page or document read into memory (npm documents can be tens of MB).
    pub max_document_bytes: usize,
    /// Timeout for one upstream request.
    pub upstream_timeout: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            pypi_simple: "https://pypi.org/simple/".into(),
            pypi_files: "https://files.pythonhosted.org/".into(),
            npm_registry: "https://registry.npmjs.org/".into(),
            public_url: None,
            max_document_bytes: 64 * 1024 * 1024,
            upstream_timeout: Duration::from_secs(30),
        }
    }
}

fn with_slash(s: &str) -> String {
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}

fn parse_url(s: &str) -> Result<Url, ProxyError> {
    Url::parse(&with_slash(s)).map_err(|e| ProxyError::BadUrl {
        url: s.to_string(),
        reason: e.to_string(),
    })
}

struct Inner {
    pypi_simple: Url,
    pypi_files: Url,
    npm_registry: Url,
    public_url: Option<String>,
    max_document_bytes: usize,
    http: reqwest::Client,
    gate: Arc<dyn Gate>,
}

/// A proxy ready to serve: build it with [`Proxy::new`], then [`Proxy::serve`] or use
/// [`Proxy::router`] inside another server.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("pypi_simple", &self.inner.pypi_simple.as_str())
            .field("npm_registry", &self.inner.npm_registry.as_str())
            .finish()
    }
}

impl Proxy {
    /// Checks the configuration and builds the upstream client.
    pub fn new(config: ProxyConfig, gate: Arc<dyn Gate>) -> Result<Self, ProxyError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.upstream_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("sentinel-proxy/", env!("CARGO_PKG_VERSION")));
        // Corporate TLS-inspecting proxies publish their CA through SSL_CERT_FILE; the bundled
        // web roots do not know it.
        for cert in extra_roots() {
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build()?;
        Ok(Proxy {
            inner: Arc::new(Inner {
                pypi_simple: parse_url(&config.pypi_simple)?,
                pypi_files: parse_url(&config.pypi_files)?,
                npm_registry: parse_url(&config.npm_registry)?,
                public_url: config
                    .public_url
                    .map(|u| u.trim_end_matches('/').to_string()),
                max_document_bytes: config.max_document_bytes,
                http,
                gate,
            }),
        })
    }

    /// The axum router serving every proxy route.
    pub fn router(&self) -> axum::Router {
        let proxy = self.clone();
        axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
            let proxy = proxy.clone();
            async move { proxy.handle(method, uri, headers).await }
        })
    }

    /// Binds `addr` and serves until `shutdown` completes. `on_bound` receives the bound address
    /// (useful with port 0).
    pub async fn serve(
        &self,
        addr: SocketAddr,
        on_bound: impl FnOnce(SocketAddr),
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ProxyError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|error| ProxyError::Bind { addr, error })?;
        let bound = listener
            .local_addr()
            .map_err(|error| ProxyError::Bind { addr, error })?;
        on_bound(bound);
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ProxyError::Serve)
    }

    async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "sentinel proxy serves GET only",
            );
        }
        let path = uri.path();
        let base = self.public_base(&headers);
        if path == "/healthz" {
            return plain(StatusCode::OK, "ok");
        }
        if let Some(rest) = path.strip_prefix("/pypi/simple/") {
            let project = rest.trim_end_matches('/');
            if project.is_empty() || project.contains('/') {
                return plain(
                    StatusCode::NOT_FOUND,
                    "sentinel proxy serves project pages only (/pypi/simple/<project>/)",
                );
            }
            return self.pypi_page(project, &headers, &base).await;
        }
        if let Some(rest) = path.strip_prefix("/pypi/files/") {
            return self.pypi_file(rest).await;
        }
        if let Some(rest) = path.strip_prefix("/npm/") {
            return match npm::parse_path(rest) {
                Some(npm::NpmRequest::Document { name }) => {
                    self.npm_document(&name, &headers, &base).await
                }
                Some(npm::NpmRequest::Tarball {
                    name,
                    file,
                    version,
                }) => self.npm_tarball(&name, &file, &version).await,
                None => npm_error(
                    StatusCode::NOT_FOUND,
                    "sentinel proxy serves package documents and tarballs only",
                ),
            };
        }
        plain(
            StatusCode::NOT_FOUND,
            "unknown path: use /pypi/simple/<project>/ or /npm/<package>",
        )
    }

    fn public_base(&self, headers: &HeaderMap) -> String {
        if let Some(u) = &self.inner.public_url {
            return u.clone();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
            })
            .unwrap_or("127.0.0.1");
        format!("http://{host}")
    }

    /// Asks the gate. A judgement that could not be recorded in the audit log
    /// ([`gate::AUDIT_FAILED`]) turns the whole request into a 503: nothing unrecorded is served.
    async fn judge(&self, queries: Vec<Query>) -> Result<Vec<Judgement>, Response> {
        let n = queries.len();
        let npm = queries.first().is_some_and(|q| q.registry == Registry::Npm);
        let mut out = self.inner.gate.judge(queries).await;
        if let Some(j) = out.iter().find(|j| j.rule == gate::AUDIT_FAILED) {
            return Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("sentinel cannot serve this: {}", j.reason),
                npm,
            ));
        }
        // A gate that answers fewer questions than asked fails closed.
        while out.len() < n {
            out.push(Judgement {
                allowed: false,
                rule: "gate-error".into(),
                reason: "the engine gave no answer for this package".into(),
                alternative: None,
            });
        }
        Ok(out)
    }

    async fn judge_one(
        &self,
        registry: Registry,
        name: &str,
        version: Option<&str>,
    ) -> Result<(Query, Judgement), Response> {
        let q = Query {
            registry,
            name: name.to_string(),
            version: version.map(str::to_string),
        };
        let j = self.judge(vec![q.clone()]).await?.remove(0);
        Ok((q, j))
    }

    async fn pypi_page(&self, project: &str, headers: &HeaderMap, base: &str) -> Response {
        let name = pypi::normalize(project);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return plain(StatusCode::NOT_FOUND, "not a valid project name");
        }
        if name != project {
            // PEP 503: clients are redirected to the normalised name.
            return redirect(&format!("{base}/pypi/simple/{name}/"));
        }
        let (query, judgement) = match self.judge_one(Registry::Pypi, &name, None).await {
            Ok(qj) => qj,
            Err(resp) => return resp,
        };
        let Ok(url) = self.inner.pypi_simple.join(&format!("{name}/")) else {
            return plain(StatusCode::NOT_FOUND, "not a valid project name");
        };
        let accept = headers
            .get(header::ACCEPT)
            .cloned()
            .unwrap_or(HeaderValue::from_static("text/html"));
        let upstream = match self.fetch_document(&url, Some(accept)).await {
            Ok(u) => u,
            Err(resp) => return resp,
        };
        if upstream.status == StatusCode::NOT_FOUND && !judgement.allowed {
            return refusal(StatusCode::NOT_FOUND, &judgement.message(&query), false);
        }
        if !upstream.status.is_success() {
            return plain(
                upstream.status,
                &format!("upstream answered {} for {name}", upstream.status),
            );
        }
        let rewriter = pypi::LinkRewriter {
            page_url: url,
            files_upstream: self.inner.pypi_files.clone(),
            files_proxy: format!("{base}/pypi/files/"),
        };
        let ctype = upstream.content_type.clone();
        let body = if ctype.contains("json") {
            let Ok(mut page) = serde_json::from_slice::<serde_json::Value>(&upstream.body) else {
                return plain(StatusCode::BAD_GATEWAY, "upstream sent malformed json");
            };
            rewriter.rewrite_json(&mut page);
            Bytes::from(page.to_string())
        } else {
            let text = String::from_utf8_lossy(&upstream.body);
            Bytes::from(rewriter.rewrite_html(&text))
        };
        let mut resp = Response::new(Body::from(body));
        set_header(&mut resp, header::CONTENT_TYPE, &ctype);
        set_header(
            &mut resp,
            "x-sentinel-decision",
            if judgement.allowed { "allow" } else { "block" },
        );
        resp
    }

    async fn pypi_file(&self, rest: &str) -> Response {
        let file = rest.rsplit('/').next().unwrap_or(rest);
        let Some((name, version)) = pypi::parse_filename(file) else {
            return plain(StatusCode::NOT_FOUND, "not a distribution file name");
        };
        if rest.split('/').any(|s| s == ".." || s == ".") {
            return plain(StatusCode::NOT_FOUND, "invalid file path");
        }
        let (query, judgement) = match self.judge_one(Registry::Pypi, &name, Some(&version)).await {
            Ok(qj) => qj,
            Err(resp) => return resp,
        };
        if !judgement.allowed {
            return refusal(StatusCode::FORBIDDEN, &judgement.message(&query), false);
        }
        // `rest` comes from the client: a scheme-relative (`//host/…`) or absolute (`http://…`)
        // path would make `join` leave the files upstream, so the proxy would fetch any URL the
        // client names (a host service, another registry) under an allowed file name.
        let url = match self.inner.pypi_files.join(rest) {
            Ok(u) if within(&self.inner.pypi_files, &u) => u,
            _ => return plain(StatusCode::NOT_FOUND, "invalid file path"),
        };
        self.stream(url).await
    }

    async fn npm_document(&self, name: &str, headers: &HeaderMap, base: &str) -> Response {
        let Ok(url) = self.inner.npm_registry.join(&npm::upstream_doc_path(name)) else {
            return npm_error(StatusCode::NOT_FOUND, "not a valid package name");
        };
        let accept = headers.get(header::ACCEPT).cloned();
        // The package-level verdict (name checks: typosquat, existence, policy lists) is asked
        // while the document is fetched; version-level verdicts need the document.
        let (pkg, upstream) = tokio::join!(
            self.judge_one(Registry::Npm, name, None),
            self.fetch_document(&url, accept)
        );
        let (query, judgement) = match pkg {
            Ok(qj) => qj,
            Err(resp) => return resp,
        };
        if !judgement.allowed && NAME_RULES.contains(&judgement.rule.as_str()) {
            return refusal(StatusCode::FORBIDDEN, &judgement.message(&query), true);
        }
        let upstream = match upstream {
            Ok(u) => u,
            Err(resp) => return resp,
        };
        if !upstream.status.is_success() {
            if !judgement.allowed {
                return refusal(StatusCode::FORBIDDEN, &judgement.message(&query), true);
            }
            return npm_error(
                upstream.status,
                &format!("upstream answered {} for {name}", upstream.status),
            );
        }
        let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(&upstream.body) else {
            return npm_error(StatusCode::BAD_GATEWAY, "upstream sent malformed json");
        };
        let versions = npm::versions(&doc);
        let queries: Vec<Query> = versions
            .iter()
            .map(|v| Query {
                registry: Registry::Npm,
                name: name.to_string(),
                version: Some(v.clone()),
            })
            .collect();
        let verdicts = match self.judge(queries.clone()).await {
            Ok(v) => v,
            Err(resp) => return resp,
        };
        let allowed: std::collections::HashSet<&str> = versions
            .iter()
            .zip(&verdicts)
            .filter(|(_, j)| j.allowed)
            .map(|(v, _)| v.as_str())
            .collect();
        let latest = doc
            .get("dist-tags")
            .and_then(|t| t.get("latest"))
            .and_then(|l| l.as_str())
            .map(str::to_string);
        let left = npm::filter_document(
            &mut doc,
            &|v| allowed.contains(v),
            name,
            &format!("{base}/npm/"),
        );
        if left == 0 {
            if !judgement.allowed {
                return refusal(StatusCode::FORBIDDEN, &judgement.message(&query), true);
            }
            // Every version is blocked: say why for the latest one (or the first).
            let idx = latest
                .and_then(|l| versions.iter().position(|v| *v == l))
                .unwrap_or(0);
            let why = match (queries.get(idx), verdicts.get(idx)) {
                (Some(q), Some(j)) => j.message(q),
                _ => format!("sentinel blocked npm:{name}: the document lists no versions"),
            };
            return refusal(
                StatusCode::FORBIDDEN,
                &format!("every version of {name} is blocked; {why}"),
                true,
            );
        }
        let removed = versions.len() - left;
        if removed > 0 {
            tracing::info!(
                package = name,
                removed,
                "blocked versions removed from the document"
            );
        }
        let mut resp = Response::new(Body::from(doc.to_string()));
        set_header(&mut resp, header::CONTENT_TYPE, &upstream.content_type);
        set_header(&mut resp, "x-sentinel-decision", "allow");
        set_header(
            &mut resp,
            "x-sentinel-removed-versions",
            &removed.to_string(),
        );
        resp
    }

    async fn npm_tarball(&self, name: &str, file: &str, version: &str) -> Response {
        let (query, judgement) = match self.judge_one(Registry::Npm, name, Some(version)).await {
            Ok(qj) => qj,
            Err(resp) => return resp,
        };
        if !judgement.allowed {
            return refusal(StatusCode::FORBIDDEN, &judgement.message(&query), true);
        }
        let Ok(url) = self.inner.npm_registry.join(&format!("{name}/-/{file}")) else {
            return npm_error(StatusCode::NOT_FOUND, "invalid tarball path");
        };
        self.stream(url).await
    }

    /// Reads a page or document into memory, bounded by `max_document_bytes`.
    async fn fetch_document(
        &self,
        url: &Url,
        accept: Option<HeaderValue>,
    ) -> Result<Upstream, Response> {
        let mut req = self.inner.http.get(url.clone());
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        let mut resp = req.send().await.map_err(|e| upstream_failure(url, &e))?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let limit = self.inner.max_document_bytes;
        if resp.content_length().is_some_and(|n| n as usize > limit) {
            return Err(too_large(url, limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| upstream_failure(url, &e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large(url, limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Upstream {
            status,
            content_type,
            body: Bytes::from(body),
        })
    }

    /// Streams a file from upstream without holding it in memory.
    async fn stream(&self, url: Url) -> Response {
        let resp = match self.inner.http.get(url.clone()).send().await {
            Ok(r) => r,
            Err(e) => return upstream_failure(&url, &e),
        };
        let status = resp.status();
        if !status.is_success() {
            return plain(status, &format!("upstream answered {status}"));
        }
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let len = resp.content_length();
        let stream = futures::stream::unfold(resp, |mut r| async move {
            match r.chunk().await {
                Ok(Some(c)) => Some((Ok::<Bytes, reqwest::Error>(c), r)),
                Ok(None) => None,
                Err(e) => Some((Err(e), r)),
            }
        });
        let mut out = Response::new(Body::from_stream(stream));
        set_header(&mut out, header::CONTENT_TYPE, &ctype);
        if let Some(n) = len {
            set_header(&mut out, header::CONTENT_LENGTH, &n.to_string());
        }
        out
    }
}

/// Root certificates from `SSL_CERT_FILE` (PEM bundle), if set and readable.
fn extra_roots() -> Vec<reqwest::Certificate> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE") else {
        return Vec::new();
    };
    match std::fs::read(&path).map(|pem| reqwest::Certificate::from_pem_bundle(&pem)) {
        Ok(Ok(certs)) => certs,
        Ok(Err(e)) => {
            tracing::warn!(path = ?path, error = %e, "SSL_CERT_FILE is not a PEM bundle; ignored");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(path = ?path, error = %e, "cannot read SSL_CERT_FILE; ignored");
            Vec::new()
        }
    }
}

struct Upstream {
    status: StatusCode,
    content_type: String,
    body: Bytes,
}

fn set_header(resp: &mut Response, name: impl header::IntoHeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn plain(status: StatusCode, msg: &str) -> Response {
    let mut resp = Response::new(Body::from(format!("{msg}\n")));
    *resp.status_mut() = status;
    set_header(&mut resp, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    resp
}

fn npm_error(status: StatusCode, msg: &str) -> Response {
    let mut resp = Response::new(Body::from(serde_json::json!({ "error": msg }).to_string()));
    *resp.status_mut() = status;
    set_header(&mut resp, header::CONTENT_TYPE, "application/json");
    resp
}

fn redirect(location: &str) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    set_header(&mut resp, header::LOCATION, location);
    resp
}

/// A refusal: the message is the body (JSON `error` for npm) and also the HTTP/1 reason phrase,
/// because pip shows the status line and not the body.
fn refusal(status: StatusCode, msg: &str, json: bool) -> Response {
    let mut resp = if json {
        npm_error(status, msg)
    } else {
        plain(status, msg)
    };
    let phrase: String = msg
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(400)
        .collect();
    if let Ok(p) = hyper::ext::ReasonPhrase::try_from(phrase) {
        resp.extensions_mut().insert(p);
    }
    set_header(&mut resp, "x-sentinel-decision", "block");
    resp
}

/// True when `url` is on `base`'s origin and under its path (what a joined client path must be).
fn within(base: &Url, url: &Url) -> bool {
    url.origin() == base.origin() && url.path().starts_with(base.path())
}

fn upstream_failure(url: &Url, e: &reqwest::Error) -> Response {
    tracing::warn!(%url, error = %e, "upstream request failed");
    let status = if e.is_timeout() {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::BAD_GATEWAY
    };
    plain(status, &format!("upstream request failed: {e}"))
}

fn too_large(url: &Url, limit: usize) -> Response {
    tracing::warn!(%url, limit, "upstream document too large");
    plain(
        StatusCode::BAD_GATEWAY,
        &format!("upstream document larger than {limit} bytes: raise --max-document-bytes"),
    )
}

/// The engine answers the proxy's questions: only `block` verdicts refuse (warnings pass and are
/// logged), so the proxy and `sentinel check` never disagree on what is blocked.
impl Gate for crate::memo::MemoEngine {
    fn judge(&self, queries: Vec<Query>) -> futures::future::BoxFuture<'_, Vec<Judgement>> {
        Box::pin(async move {
            let pkgs: Vec<crate::PackageRef> = queries.iter().map(Query::package).collect();
            self.validate_all(&pkgs)
                .await
                .iter()
                .map(judgement_of)
                .collect()
        })
    }
}

/// The proxy's view of a verdict.
pub fn judgement_of(v: &crate::Verdict) -> Judgement {
    if v.decision != crate::Decision::Block {
        if v.decision == crate::Decision::Warn {
            tracing::info!(package = %v.package, "served with warnings");
        }
        return Judgement::allow();
    }
    let main = v.main_finding();
    Judgement {
        allowed: false,
        rule: main.map_or_else(|| "blocked".to_string(), |f| f.code.clone()),
        reason: main.map_or_else(|| "blocked by policy".to_string(), |f| f.message.clone()),
        alternative: v.suggestions.first().map(|s| s.name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_paths_cannot_leave_the_files_upstream() {
        let base = parse_url("https://files.pythonhosted.org/").unwrap();
        let ok = base
            .join("packages/b7/ce/six-1.17.0-py2.py3-none-any.whl")
            .unwrap();
        assert!(within(&base, &ok));
        for evil in [
            "//127.0.0.1:8080/six-1.17.0-py2.py3-none-any.whl",
            "http://evil.example/six-1.17.0-py2.py3-none-any.whl",
            "https://files.pythonhosted.org.evil.example/six-1.17.0-py2.py3-none-any.whl",
        ] {
            let joined = base.join(evil).unwrap();
            assert!(!within(&base, &joined), "{evil} -> {joined}");
        }
        let sub = parse_url("http://127.0.0.1:9/files/").unwrap();
        assert!(!within(&sub, &sub.join("/other/x.whl").unwrap()));
        assert!(within(&sub, &sub.join("a/x.whl").unwrap()));
    }
}
