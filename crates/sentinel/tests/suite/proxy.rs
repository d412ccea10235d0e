//! `sentinel proxy` driven by real `pip` and `npm` against a local upstream of recorded packages.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report
use std::process::Command;

use super::upstream::{Env, Server, Upstream, header, http_get, python};

fn pip(
    py: &std::path::Path,
    proxy: &Server,
    target: &std::path::Path,
    pkg: &str,
) -> (bool, String) {
    let out = Command::new(py)
        .args([
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
        ])
        .arg("--index-url")
        .arg(format!("{}/pypi/simple", proxy.url))
        .arg("--target")
        .arg(target)
        .arg(pkg)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env("PIP_NO_INPUT", "1")
        .output()
        .expect("run pip");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn npm(proxy: &Server, dir: &std::path::Path, pkg: &str) -> (bool, String) {
    let npmrc = dir.join("npmrc");
    std::fs::write(&npmrc, "").unwrap();
    let out = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--fetch-retries=0",
        ])
        .arg("--registry")
        .arg(format!("{}/npm/", proxy.url))
        .arg("--prefix")
        .arg(dir)
        .arg("--cache")
        .arg(dir.join("npm-cache"))
        .arg("--userconfig")
        .arg(&npmrc)
        .arg(pkg)
        .env_remove("npm_config_registry")
        .env_remove("NPM_CONFIG_REGISTRY")
        .output()
        .expect("npm must be installed (scripts/deps.d/sentinel-mcp.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn pip_installs_allowed_package_and_refuses_typosquat_with_reason() {
    let py = python();
    let up = Upstream::start();
    let env = Env::new();
    let proxy = Server::proxy(&env, &up);

    let good = env.dir.path().join("good");
    let (ok, out) = pip(&py, &proxy, &good, "six");
    assert!(ok, "pip install six through the proxy failed:\n{out}");
    assert!(good.join("six.py").exists(), "six.py not installed:\n{out}");

    let bad = env.dir.path().join("bad");
    let (ok, out) = pip(&py, &proxy, &bad, "siix");
    assert!(!ok, "pip installed the typosquat siix:\n{out}");
    assert!(
        out.contains("sentinel blocked pypi:siix@1.17.0 (rule typosquat)"),
        "pip output does not show sentinel's rule:\n{out}"
    );
    assert!(
        out.contains("use `six` instead"),
        "no alternative in pip output:\n{out}"
    );
    assert!(!bad.join("six.py").exists());
    // The squat's file was never fetched from upstream.
    assert!(
        !up.requested()
            .iter()
            .any(|p| p.starts_with("/files/") && p.contains("siix")),
        "{:?}",
        up.requested()
    );
}

#[test]
fn npm_installs_allowed_version_never_the_hijacked_one_and_refuses_typosquat() {
    let up = Upstream::start();
    let env = Env::new();
    let proxy = Server::proxy(&env, &up);

    let good = env.dir.path().join("good");
    std::fs::create_dir_all(&good).unwrap();
    let (ok, out) = npm(&proxy, &good, "is-number");
    assert!(ok, "npm install is-number through the proxy failed:\n{out}");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(good.join("node_modules/is-number/package.json")).unwrap(),
    )
    .unwrap();
    // Upstream's `latest` is the hijacked 7.0.1 with a postinstall script; the proxy hid it.
    assert_eq!(manifest["version"], "7.0.0");
    assert!(
        !up.requested()
            .iter()
            .any(|p| p.contains("is-number-7.0.1.tgz"))
    );

    let bad = env.dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let (ok, out) = npm(&proxy, &bad, "is-numbr");
    assert!(!ok, "npm installed the typosquat is-numbr:\n{out}");
    assert!(
        out.contains("sentinel blocked npm:is-numbr (rule typosquat)"),
        "npm output does not show sentinel's rule:\n{out}"
    );
    assert!(out.contains("use `is-number` instead"), "{out}");
    assert!(!bad.join("node_modules/is-numbr").exists());
}

#[test]
fn npm_document_lists_only_allowed_versions_and_blocked_tarballs_are_refused() {
    let up = Upstream::start();
    let env = Env::new();
    let proxy = Server::proxy(&env, &up);

    let (code, _, headers, body) = http_get(&format!("{}/npm/is-number", proxy.url), None);
    assert_eq!(code, 200);
    assert_eq!(header(&headers, "x-sentinel-removed-versions"), Some("1"));
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let versions = doc["versions"].as_object().unwrap();
    assert_eq!(versions.len(), 15, "the 15 recorded versions stay");
    assert!(
        !versions.contains_key("7.0.1"),
        "hijacked version still listed"
    );
    assert!(doc["time"].get("7.0.1").is_none());
    assert_eq!(doc["dist-tags"]["latest"], "7.0.0");
    for (v, meta) in versions {
        let tarball = meta["dist"]["tarball"].as_str().unwrap();
        assert_eq!(
            tarball,
            format!("{}/npm/is-number/-/is-number-{v}.tgz", proxy.url),
            "tarballs must come through the proxy"
        );
    }

    // Asking for the hijacked tarball directly is refused with the rule.
    let (code, reason, _, body) = http_get(
        &format!("{}/npm/is-number/-/is-number-7.0.1.tgz", proxy.url),
        None,
    );
    assert_eq!(code, 403);
    assert!(reason.contains("rule install-scripts"), "{reason}");
    let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("npm:is-number@7.0.1"),
        "{err}"
    );
    assert!(!up.requested().iter().any(|p| p.contains("7.0.1.tgz")));

    // Scoped-name encoding and a hallucinated name: refused with the rule, never a bare 404.
    let (code, reason, _, _) = http_get(
        &format!("{}/npm/@acme-ai%2fquantum-json-parser", proxy.url),
        None,
    );
    assert_eq!(code, 403, "{reason}");
    assert!(reason.contains("rule not-found"), "{reason}");
}

#[test]
fn pypi_pages_are_rewritten_through_the_proxy_in_html_and_json() {
    let up = Upstream::start();
    let env = Env::new();
    let proxy = Server::proxy(&env, &up);

    let (code, _, headers, body) = http_get(&format!("{}/pypi/simple/six/", proxy.url), None);
    assert_eq!(code, 200);
    assert_eq!(header(&headers, "x-sentinel-decision"), Some("allow"));
    let html = String::from_utf8(body).unwrap();
    let links = html.matches("href=").count();
    assert_eq!(links, 48, "every recorded file is listed");
    assert_eq!(
        html.matches(&format!("href=\"{}/pypi/files/", proxy.url))
            .count(),
        links,
        "every link goes through the proxy"
    );
    assert!(!html.contains(&up.base));

    let (code, _, headers, body) = http_get(
        &format!("{}/pypi/simple/six/", proxy.url),
        Some("application/vnd.pypi.simple.v1+json"),
    );
    assert_eq!(code, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/vnd.pypi.simple.v1+json")
    );
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let files = page["files"].as_array().unwrap();
    assert_eq!(files.len(), 48);
    assert!(files.iter().all(|f| {
        f["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/pypi/files/", proxy.url))
    }));

    // PEP 503: non-normalised names redirect to the normal form.
    let (code, _, headers, _) = http_get(&format!("{}/pypi/simple/Six_/", proxy.url), None);
    assert_eq!(code, 301);
    assert_eq!(
        header(&headers, "location"),
        Some(format!("{}/pypi/simple/six/", proxy.url).as_str())
    );
}

#[test]
fn pypi_hallucinated_name_and_blocked_file_are_refused_with_the_rule() {
    let up = Upstream::start();
    let env = Env::new();
    let proxy = Server::proxy(&env, &up);

    let (code, reason, _, body) = http_get(
        &format!("{}/pypi/simple/fastapi-quantum-router/", proxy.url),
        None,
    );
    assert_eq!(code, 404);
    assert!(
        reason.contains("sentinel blocked pypi:fastapi-quantum-router (rule not-found)"),
        "{reason}"
    );
    assert!(String::from_utf8_lossy(&body).contains("rule not-found"));

    let (code, reason, headers, _) = http_get(
        &format!(
            "{}/pypi/files/packages/b7/ce/x/siix-1.17.0-py2.py3-none-any.whl",
            proxy.url
        ),
        None,
    );
    assert_eq!(code, 403);
    assert_eq!(header(&headers, "x-sentinel-decision"), Some("block"));
    assert!(
        reason.contains("rule typosquat") && reason.contains("use `six` instead"),
        "{reason}"
    );

    // Paths it does not understand are refused, not passed through.
    let (code, _, _, _) = http_get(&format!("{}/pypi/simple/", proxy.url), None);
    assert_eq!(code, 404);
    let (code, _, _, _) = http_get(&format!("{}/npm/-/v1/search?text=x", proxy.url), None);
    assert_eq!(code, 404);
    let (code, _, _, _) = http_get(&format!("{}/npm/..%2f..%2fetc%2fpasswd", proxy.url), None);
    assert_eq!(code, 404);
    let (code, _, _, _) = http_get(&format!("{}/admin", proxy.url), None);
    assert_eq!(code, 404);
}

#[test]
fn proxy_fails_closed_when_the_engine_cannot_verify() {
    let up = Upstream::start();
    let env = Env::new();
    // The engine's registry is down (nothing listens there); the upstream the proxy serves from
    // is fine. Unverified packages are refused, not passed through.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut c = env.sentinel(&up);
    c.env("SENTINEL_NPM_URL", &dead)
        .env("SENTINEL_PYPI_URL", &dead)
        .args(["proxy", "--listen", "127.0.0.1:0"])
        .arg("--pypi-upstream")
        .arg(format!("{}/simple/", up.base))
        .arg("--pypi-files-upstream")
        .arg(format!("{}/files/", up.base))
        .arg("--npm-upstream")
        .arg(format!("{}/npm/", up.base));
    let proxy = Server::spawn(c);
    let (code, reason, _, _) = http_get(&format!("{}/npm/is-number", proxy.url), None);
    assert_eq!(code, 403);
    assert!(reason.contains("could-not-verify"), "{reason}");
    let (code, reason, _, _) = http_get(
        &format!(
            "{}/pypi/files/packages/b7/six-1.17.0-py2.py3-none-any.whl",
            proxy.url
        ),
        None,
    );
    assert_eq!(code, 403);
    assert!(reason.contains("could-not-verify"), "{reason}");
    assert!(
        !up.requested()
            .iter()
            .any(|p| p.ends_with(".whl") || p.ends_with(".tgz"))
    );
}
