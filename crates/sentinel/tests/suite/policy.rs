//! Policy file: private packages never go upstream, deny/allow lists, rules, warn exit code.
use super::support::{FixtureServer, Sentinel};

#[test]
fn private_packages_are_never_sent_upstream_nor_flagged() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    s.policy("[packages]\nprivate = [\"npm:@corp/*\", \"pypi:corp-*\"]\n");
    let r = s.run(&["check", "npm", "@corp/lodash", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.codes(), vec!["private-package"]);
    let r = s.run(&["check", "pypi", "Corp_Requests", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(srv.total(), 0, "a private name reached the registry");
}

#[test]
fn deny_list_blocks_without_lookup_and_allow_list_downgrades() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    s.policy("[packages]\ndeny = [\"npm:left-*\"]\nallow = [\"pypi:requsts\"]\n");
    let r = s.run(&["check", "npm", "left-pad", "--format", "json"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.codes(), vec!["denied-by-policy"]);
    assert_eq!(srv.total(), 0);
    let r = s.run(&["check", "pypi", "requsts", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.codes().contains(&"not-found".to_string()),
        "kept as information"
    );
}

#[test]
fn rules_change_actions_and_warn_exit_code_is_configurable() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    s.policy("warn-exit-code = 0\n[rules]\ndeprecated = \"warn\"\n");
    let r = s.run(&["check", "npm", "old-deprecated-lib"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("WARN"));
    s.policy("[rules]\ninstall-scripts = \"block\"\n");
    assert_eq!(s.run(&["check", "npm", "esbuild"]).code, 2);
    s.policy("[rules]\ntyposquat = \"ignore\"\nnot-found = \"warn\"\n");
    let r = s.run(&["check", "pypi", "requsts", "--format", "json"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.codes(), vec!["not-found"]);
}

#[test]
fn thresholds_drive_risk_signals() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    s.policy("[thresholds]\nmin-age-days = 100000.0\nmin-versions = 1000\n[rules]\nfew-versions = \"warn\"\n");
    let r = s.run(&["check", "pypi", "flask", "--format", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let codes = r.codes();
    assert!(codes.contains(&"young-package".to_string()), "{codes:?}");
    assert!(codes.contains(&"few-versions".to_string()), "{codes:?}");
}

#[test]
fn bad_policy_is_an_error_with_exit_4() {
    let s = Sentinel::unreachable();
    s.policy("fial = \"open\"\n");
    let r = s.run(&["check", "pypi", "flask"]);
    assert_eq!(r.code, 4);
    assert!(r.stderr.contains("invalid policy"), "{}", r.stderr);
    assert!(r.stderr.contains("fial"), "{}", r.stderr);
    let r = s.run(&["--policy", "/no/such.toml", "check", "pypi", "flask"]);
    assert_eq!(r.code, 4);
}

#[test]
fn policy_example_init_and_show() {
    let s = Sentinel::unreachable();
    let r = s.run(&["policy", "example"]);
    assert!(r.stdout.contains("fail = \"closed\""));
    assert_eq!(s.run(&["policy", "init"]).code, 0);
    assert!(s.work().join("sentinel.toml").is_file());
    assert_eq!(s.run(&["policy", "init"]).code, 4, "must not overwrite");
    let r = s.run(&["policy", "show"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("sentinel.toml"));
}
