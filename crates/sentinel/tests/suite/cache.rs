//! The SQLite cache: warm answers without the network, offline mode, stale-if-error.
use std::collections::HashMap;

use super::support::{Fault, FixtureServer, Sentinel};

#[test]
fn second_check_is_answered_from_the_cache() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    assert_eq!(s.run(&["check", "pypi", "flask", "requsts"]).code, 2);
    assert_eq!(srv.total(), 2);
    let r = s.run(&["check", "pypi", "flask", "requsts", "--format", "json"]);
    assert_eq!(srv.total(), 2, "cache not used");
    assert_eq!(r.json()["verdicts"][0]["metadata"]["source"], "cache");
    assert!(s.cache_dir().join("cache.sqlite").is_file());
}

#[test]
fn offline_uses_cache_and_corpus_only() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    s.run(&["check", "npm", "left-pad"]);
    let before = srv.total();
    let r = s.run(&["--offline", "check", "npm", "left-pad", "--format", "json"]);
    assert_eq!(r.decision(), "allow", "{r:?}");
    // Not cached: unverified (fail closed), but the corpus still names the typosquat target.
    let r = s.run(&["check", "npm", "lodasj", "--offline", "--format", "json"]);
    assert_eq!(r.code, 2);
    let codes = r.codes();
    assert!(codes.contains(&"could-not-verify".to_string()), "{codes:?}");
    assert!(codes.contains(&"typosquat".to_string()), "{codes:?}");
    assert_eq!(srv.total(), before, "offline mode touched the network");
}

#[test]
fn expired_entry_is_refetched_and_stale_entry_used_when_registry_fails() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    s.run(&["check", "pypi", "flask"]);
    // TTL 0: always refetch.
    s.policy("[cache]\nttl-hours = 0.0\n");
    s.run(&["check", "pypi", "flask"]);
    assert_eq!(srv.hits("/pypi/pypi/flask/json"), 2);
    // Now the registry fails: the stale entry answers.
    let bad = FixtureServer::with_faults(HashMap::from([(
        "/pypi/pypi/flask/json".to_string(),
        Fault::Status(500),
    )]));
    let mut s2 = s;
    s2.registry = bad.url.clone();
    std::fs::write(
        s2.work().join("sentinel.toml"),
        "[cache]\nttl-hours = 0.0\n[network]\nretries = 0\n",
    )
    .unwrap();
    let r = s2.run(&["check", "pypi", "flask", "--format", "json"]);
    assert_eq!(r.decision(), "allow", "{r:?}");
    assert_eq!(r.json()["verdicts"][0]["metadata"]["source"], "cache-stale");
}

#[test]
fn no_cache_flag_reads_and_writes_nothing() {
    let srv = FixtureServer::start();
    let s = Sentinel::new(&srv);
    s.run(&["--no-cache", "check", "pypi", "flask"]);
    s.run(&["--no-cache", "check", "pypi", "flask"]);
    assert_eq!(srv.total(), 2);
    assert!(!s.cache_dir().join("cache.sqlite").exists());
}
