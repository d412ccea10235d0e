//! A registry upstream on 127.0.0.1 replaying Sentinel's recorded PyPI and npm data
//! (`crates/sentinel/tests/fixtures/proxy/`, see its README for origins and what is derived at
//! serve time: the squats `siix` / `is-numbr` and the hijacked `is-number` 7.0.1). Shared by the
//! packages tests and the packages benchmark.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

const FIX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../sentinel/tests/fixtures/proxy"
);

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIX).join(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

fn text(rel: &str) -> String {
    String::from_utf8(fixture(rel)).unwrap()
}

/// A registry upstream on 127.0.0.1 (one thread per connection, `Connection: close`).
pub struct Upstream {
    pub base: String,
}

type Resp = (u16, &'static str, Vec<u8>);

fn npm_doc(name: &str, base: &str) -> Option<String> {
    if name != "is-number" && name != "is-numbr" {
        return None;
    }
    let mut doc: serde_json::Value = serde_json::from_slice(&fixture("npm/is-number.json")).ok()?;
    if name == "is-number" {
        // The hijacked release: a postinstall script Sentinel's policy blocks.
        let mut hijacked = doc["versions"]["7.0.0"].clone();
        hijacked["version"] = "7.0.1".into();
        hijacked["scripts"] = serde_json::json!({"postinstall": "node -e \"require('fs').writeFileSync('/out/pwned','x')\""});
        hijacked["hasInstallScript"] = true.into();
        doc["versions"]["7.0.1"] = hijacked;
        doc["time"]["7.0.1"] = "2026-11-20T00:00:00.000Z".into();
        doc["dist-tags"]["latest"] = "7.0.1".into();
    }
    let mut s = doc
        .to_string()
        .replace("https://registry.npmjs.org/", &format!("{base}/npm/"));
    if name == "is-numbr" {
        s = s.replace("is-number", "is-numbr");
    }
    Some(s)
}

fn route(base: &str, path: &str, accept: &str) -> Resp {
    let nf = || (404, "text/plain", b"not found".to_vec());
    if let Some(rest) = path.strip_prefix("/pypi/") {
        return match rest.trim_end_matches("/json") {
            "six" => (200, "application/json", fixture("pypi/six.json")),
            "siix" => (
                200,
                "application/json",
                text("pypi/six.json")
                    .replace("\"six\"", "\"siix\"")
                    .replace("six-", "siix-")
                    .into_bytes(),
            ),
            _ => nf(),
        };
    }
    if let Some(rest) = path.strip_prefix("/simple/") {
        let name = rest.trim_end_matches('/');
        if name != "six" && name != "siix" {
            return nf();
        }
        let (file, ctype) = if accept.contains("application/vnd.pypi.simple.v1+json") {
            (
                "pypi/six.simple.json",
                "application/vnd.pypi.simple.v1+json",
            )
        } else {
            ("pypi/six.simple.html", "text/html")
        };
        let mut page =
            text(file).replace("https://files.pythonhosted.org/", &format!("{base}/files/"));
        if name == "siix" {
            page = page.replace("six-", "siix-").replace("\"six\"", "\"siix\"");
        }
        return (200, ctype, page.into_bytes());
    }
    if let Some(rest) = path.strip_prefix("/files/") {
        return match rest.rsplit('/').next().unwrap_or("") {
            "six-1.17.0-py2.py3-none-any.whl" | "siix-1.17.0-py2.py3-none-any.whl" => (
                200,
                "application/octet-stream",
                fixture("pypi/six-1.17.0-py2.py3-none-any.whl"),
            ),
            _ => nf(),
        };
    }
    if let Some(rest) = path.strip_prefix("/npm/") {
        let rest = rest.replace("%2f", "/").replace("%2F", "/");
        if let Some((name, file)) = rest.split_once("/-/") {
            let known = matches!(
                (name, file),
                ("is-number", "is-number-7.0.0.tgz" | "is-number-7.0.1.tgz")
                    | ("is-numbr", "is-numbr-7.0.0.tgz")
            );
            return if known {
                (
                    200,
                    "application/octet-stream",
                    fixture("npm/is-number-7.0.0.tgz"),
                )
            } else {
                nf()
            };
        }
        return match npm_doc(&rest, base) {
            Some(doc) => (200, "application/json", doc.into_bytes()),
            None => (
                404,
                "application/json",
                br#"{"error":"Not found"}"#.to_vec(),
            ),
        };
    }
    nf()
}

fn serve(mut c: TcpStream, base: &str) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut b = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&b[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    let accept = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("accept:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let (status, ctype, body) = route(base, &path, &accept);
    let reason = if status == 200 { "OK" } else { "Not Found" };
    let _ = write!(
        c,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = c.write_all(&body);
}

impl Upstream {
    pub fn start() -> Upstream {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let b = base.clone();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let b = b.clone();
                std::thread::spawn(move || serve(c, &b));
            }
        });
        Upstream { base }
    }

    /// The environment that points Sentinel's engine and proxy (embedded in babuino) at this
    /// upstream, with the policy file `policy`, the cache under `dir`, and advisories off.
    pub fn sentinel_env(
        &self,
        policy: &std::path::Path,
        dir: &std::path::Path,
    ) -> Vec<(String, String)> {
        let b = &self.base;
        vec![
            ("SENTINEL_POLICY".into(), policy.display().to_string()),
            (
                "SENTINEL_CACHE_DIR".into(),
                dir.join("cache").display().to_string(),
            ),
            ("SENTINEL_ADVISORIES".into(), "off".into()),
            ("SENTINEL_PYPI_URL".into(), b.clone()),
            ("SENTINEL_NPM_URL".into(), format!("{b}/npm")),
            ("SENTINEL_PROXY_PYPI_SIMPLE".into(), format!("{b}/simple/")),
            ("SENTINEL_PROXY_PYPI_FILES".into(), format!("{b}/files/")),
            ("SENTINEL_PROXY_NPM".into(), format!("{b}/npm/")),
        ]
    }
}
