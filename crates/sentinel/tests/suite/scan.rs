//! `sentinel scan` of manifests and lockfiles, with text, JSON and SARIF output.
use super::support::{FixtureServer, Sentinel, fixtures};

fn manifest(name: &str) -> String {
    fixtures()
        .join("manifests")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn agent_requirements_block_the_typo_and_the_hallucination() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    let r = s.run(&["scan", &manifest("requirements.txt")]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout
            .contains("BLOCK  pypi:requsts@2.31.0 — not in the registry"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("did you mean `requests`?"));
    assert!(
        r.stdout
            .contains("BLOCK  pypi:requests-oauth-extended — not in the registry")
    );
    assert!(
        r.stdout
            .contains("2 packages: 0 allowed, 0 warned, 2 blocked"),
        "{}",
        r.stdout
    );
}

#[test]
fn every_manifest_kind_is_read() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    for (file, expect_code, blocked) in [
        ("pyproject.toml", 0, 0),
        ("package-lock.json", 2, 1),
        ("Cargo.lock", 0, 0),
        ("go.mod", 0, 0),
    ] {
        let r = s.run(&["scan", &manifest(file), "--format", "json"]);
        assert_eq!(r.code, expect_code, "{file}: {r:?}");
        let j = r.json();
        assert_eq!(j["summary"]["blocked"], blocked, "{file}");
        assert!(j["summary"]["total"].as_u64().unwrap() >= 2, "{file}");
    }
}

#[test]
fn sarif_output_is_sarif_2_1_0_with_stable_rule_ids() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    let r = s.run(&["scan", &manifest("package-lock.json"), "--format", "sarif"]);
    assert_eq!(r.code, 2);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["version"], "2.1.0");
    let run = &j["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "sentinel");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for res in results {
        let id = res["ruleId"].as_str().unwrap();
        assert!(rules.contains(&id), "rule {id} not declared");
        assert!(["error", "warning", "note"].contains(&res["level"].as_str().unwrap()));
        assert!(
            res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("package-lock.json")
        );
    }
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "removed" && r["level"] == "error")
    );
}

#[test]
fn manifest_errors_exit_4_and_unknown_kinds_say_what_to_do() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    let r = s.run(&["scan", "/no/such/requirements.txt"]);
    assert_eq!(r.code, 4);
    assert!(
        r.stderr.contains("cannot read /no/such/requirements.txt"),
        "{}",
        r.stderr
    );
    let bad = s.work().join("package.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let r = s.run(&["scan", bad.to_str().unwrap()]);
    assert_eq!(r.code, 4);
    assert!(r.stderr.contains("invalid package.json"), "{}", r.stderr);
    let odd = s.work().join("deps.list");
    std::fs::write(&odd, "flask\n").unwrap();
    let r = s.run(&["scan", odd.to_str().unwrap()]);
    assert_eq!(r.code, 4);
    assert!(r.stderr.contains("--kind"), "{}", r.stderr);
    let r = s.run(&[
        "scan",
        odd.to_str().unwrap(),
        "--kind",
        "requirements.txt",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        s.run(&["scan", odd.to_str().unwrap(), "--kind", "nope"])
            .code,
        3
    );
}

#[test]
fn a_name_repeated_in_a_lockfile_is_looked_up_once() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    let lock = s.work().join("package-lock.json");
    std::fs::write(
        &lock,
        r#"{"lockfileVersion":3,"packages":{"":{"name":"x"},
        "node_modules/left-pad":{"version":"1.3.0","resolved":"https://r/left-pad-1.3.0.tgz"},
        "node_modules/a/node_modules/left-pad":{"version":"1.1.3","resolved":"https://r/left-pad-1.1.3.tgz"},
        "node_modules/b/node_modules/left-pad":{"version":"1.2.0","resolved":"https://r/left-pad-1.2.0.tgz"}}}"#,
    )
    .unwrap();
    let r = s.run(&[
        "--no-cache",
        "scan",
        lock.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(r.json()["summary"]["total"], 3, "{r:?}");
    assert_eq!(srv.hits("/npm/left-pad"), 1);
}

#[test]
fn go_pseudo_versions_are_not_reported_missing() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    let gomod = s.work().join("go.mod");
    std::fs::write(
        &gomod,
        "module example.com/x\n\nrequire github.com/gin-gonic/gin v1.10.1-0.20240601000000-abcdef123456\n",
    )
    .unwrap();
    let r = s.run(&["scan", gomod.to_str().unwrap(), "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
}
