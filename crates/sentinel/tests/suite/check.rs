//! `sentinel check` against recorded registry answers for all four ecosystems.
use super::support::{FixtureServer, Sentinel};

fn check(eco: &str, pkg: &str) -> (super::support::Run, FixtureServer) {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let r = s.run(&["check", eco, pkg, "--format", "json"]);
    (r, server)
}

#[test]
fn hallucinated_pypi_typo_is_blocked_with_the_meant_name() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let r = s.run(&["check", "pypi", "requsts"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.starts_with(
            "BLOCK  pypi:requsts — not in the registry (possibly a hallucinated or typo name); did you mean `requests`?"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("[typosquat]"), "{}", r.stdout);
    assert_eq!(server.hits("/pypi/pypi/requsts/json"), 1);
}

#[test]
fn far_hallucination_is_caught_by_existence() {
    let (r, _) = check("pypi", "requests-oauth-extended");
    assert_eq!(r.code, 2);
    assert_eq!(r.codes(), vec!["not-found"]);
}

#[test]
fn existing_pinned_pypi_package_is_allowed_with_facts() {
    let (r, _) = check("pypi", "requests==2.31.0");
    assert_eq!(r.code, 0, "{r:?}");
    let v = &r.json()["verdicts"][0];
    assert_eq!(v["decision"], "allow");
    let m = &v["metadata"];
    assert_eq!(m["name"], "requests");
    assert!(m["version_count"].as_u64().unwrap() > 100);
    assert!(
        m["repository"]
            .as_str()
            .unwrap()
            .contains("github.com/psf/requests")
    );
    assert!(m["first_release"].as_str().unwrap().starts_with("2011"));
    assert!(m["popularity_rank"].as_u64().is_some());
}

#[test]
fn yanked_and_missing_versions() {
    let (r, _) = check("pypi", "requests==2.32.0");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.codes().contains(&"version-yanked".to_string()));
    let (r, _) = check("pypi", "requests==99.0.0");
    assert_eq!(r.code, 2);
    assert!(r.codes().contains(&"version-not-found".to_string()));
}

#[test]
fn pypi_names_are_normalised_before_lookup() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let r = s.run(&["check", "pypi", "Requests_OAuthlib", "--format", "json"]);
    assert_eq!(r.decision(), "allow", "{r:?}");
    assert_eq!(server.hits("/pypi/pypi/requests-oauthlib/json"), 1);
}

#[test]
fn quarantined_pypi_project_is_blocked() {
    let (r, _) = check("pypi", "quarantined-pkg");
    assert_eq!(r.code, 2);
    assert!(
        r.codes().contains(&"quarantined".to_string()),
        "{:?}",
        r.codes()
    );
}

#[test]
fn scoped_npm_package_at_a_version_is_allowed() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let r = s.run(&["check", "npm", "@types/node@20.11.0"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with("ALLOW  npm:@types/node@20.11.0 — exists:"),
        "{}",
        r.stdout
    );
    assert_eq!(
        server.hits("/npm/@types%2fnode"),
        1,
        "scope slash must be encoded"
    );
}

#[test]
fn npm_security_holding_and_removed_packages_are_blocked() {
    let (r, _) = check("npm", "crossenv");
    assert_eq!(r.code, 2);
    let codes = r.codes();
    assert!(codes.contains(&"security-holding".to_string()), "{codes:?}");
    assert!(
        codes.contains(&"typosquat".to_string()),
        "crossenv imitates cross-env: {codes:?}"
    );
    let (r, _) = check("npm", "lodahs");
    assert_eq!(r.code, 2);
    let codes = r.codes();
    assert!(codes.contains(&"removed".to_string()), "{codes:?}");
    assert_eq!(r.json()["verdicts"][0]["suggestions"][0]["name"], "lodash");
}

#[test]
fn npm_install_scripts_warn() {
    let (r, _) = check("npm", "esbuild");
    assert_eq!(r.code, 1, "{r:?}");
    let j = r.json();
    let f = j["verdicts"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "install-scripts")
        .expect("install-scripts finding")
        .clone();
    assert_eq!(f["action"], "warn");
    assert_eq!(f["evidence"]["scripts"][0], "postinstall: node install.js");
}

#[test]
fn npm_deprecated_package_warns() {
    let (r, _) = check("npm", "old-deprecated-lib");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.codes().contains(&"deprecated".to_string()));
    assert!(r.stdout.contains("use new-lib instead"));
}

#[test]
fn crates_dash_and_underscore_are_one_crate() {
    for name in ["serde_json", "serde-json", "Serde_Json"] {
        let (r, _) = check("crates.io", name);
        assert_eq!(r.code, 0, "{name}: {r:?}");
        assert_eq!(r.json()["verdicts"][0]["metadata"]["name"], "serde_json");
    }
    let (r, _) = check("cargo", "serde@1.0.0");
    assert_eq!(r.code, 0, "{r:?}");
    let (r, _) = check("crates", "serde@9.9.9");
    assert_eq!(r.code, 2);
}

#[test]
fn go_modules_via_the_proxy_protocol() {
    let (r, _) = check("go", "github.com/gin-gonic/gin@v1.9.1");
    assert_eq!(r.code, 0, "{r:?}");
    let m = &r.json()["verdicts"][0]["metadata"];
    assert_eq!(m["latest_version"], "v1.10.0");
    assert_eq!(m["first_release"], "2018-08-14T08:52:45Z");
    // Upper-case letters are escaped as !lower.
    let (r, server) = check("go", "github.com/BurntSushi/toml");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(server.hits("/go/github.com/!burnt!sushi/toml/@v/list"), 1);
    let (r, _) = check("go", "github.com/gin-gonic/gni");
    assert_eq!(r.code, 2);
    assert!(r.codes().contains(&"not-found".to_string()));
}

#[test]
fn bad_names_get_a_finding_and_never_reach_the_registry() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    for (eco, name) in [
        ("pypi", "../../etc/passwd"),
        ("pypi", "reqüests"),
        ("npm", "@scope"),
        ("crates", "serde.json"),
        ("go", "gin"),
        ("pypi", ""),
    ] {
        let r = s.run(&["check", eco, name, "--format", "json"]);
        assert_eq!(r.code, 2, "{eco} {name:?}: {r:?}");
        assert_eq!(r.codes(), vec!["invalid-name"], "{eco} {name:?}");
    }
    let long = "a".repeat(5000);
    let r = s.run(&["check", "npm", &long, "--format", "json"]);
    assert_eq!(r.codes(), vec!["invalid-name"]);
    assert_eq!(server.total(), 0, "a bad name was sent upstream");
}

#[test]
fn batch_check_keeps_order_and_reports_the_worst() {
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let r = s.run(&[
        "check", "pypi", "flask", "requsts", "requests", "--format", "json",
    ]);
    assert_eq!(r.code, 2);
    let j = r.json();
    let names: Vec<&str> = j["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["package"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["flask", "requsts", "requests"]);
    assert_eq!(j["decision"], "block");
    assert_eq!(j["summary"]["blocked"], 1);
    assert_eq!(j["summary"]["allowed"], 2);
}

#[test]
fn usage_errors_exit_3() {
    let s = Sentinel::unreachable();
    let r = s.run(&["check", "maven", "x"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("unknown ecosystem `maven`"),
        "{}",
        r.stderr
    );
    assert_eq!(s.run(&["check"]).code, 3);
    assert_eq!(s.run(&["--no-such-flag"]).code, 3);
    assert_eq!(s.run(&["--version"]).code, 0);
}
