//! Registry faults: unreachable, timeouts, 5xx with retries, malformed JSON, huge answers.
//! Sentinel fails closed by default and says why; `--fail-open` makes it a warning.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::support::{Fault, FixtureServer, Sentinel};

fn server(path: &str, fault: Fault) -> FixtureServer {
    FixtureServer::with_faults(HashMap::from([(path.to_string(), fault)]))
}

#[test]
fn unreachable_registry_fails_closed() {
    let s = Sentinel::unreachable();
    s.policy("[network]\nretries = 1\nbackoff-ms = 10\ntimeout-secs = 2.0\n");
    let r = s.run(&["check", "pypi", "flask", "--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.codes(), vec!["could-not-verify"]);
    let r = s.run(&["check", "pypi", "flask", "--fail-open"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.starts_with("WARN   pypi:flask — could not verify"),
        "{}",
        r.stdout
    );
}

#[test]
fn timeout_is_retried_then_unverified() {
    let srv = server(
        "/pypi/pypi/flask/json",
        Fault::Delay(Duration::from_secs(5)),
    );
    let s = Sentinel::new(&srv);
    s.policy("[network]\ntimeout-secs = 0.3\nretries = 2\nbackoff-ms = 10\n");
    let t = Instant::now();
    let r = s.run(&["check", "pypi", "flask", "--format", "json"]);
    assert!(t.elapsed() < Duration::from_secs(4), "timeout not enforced");
    assert_eq!(r.code, 2);
    let f = &r.json()["verdicts"][0]["findings"][0];
    assert_eq!(f["code"], "could-not-verify");
    assert!(f["message"].as_str().unwrap().contains("timed out"), "{f}");
    assert_eq!(srv.hits("/pypi/pypi/flask/json"), 3, "1 try + 2 retries");
}

#[test]
fn server_error_then_success_is_retried_with_backoff() {
    let srv = server("/npm/left-pad", Fault::FailFirst(2, 503));
    let s = Sentinel::new(&srv);
    s.policy("[network]\nretries = 2\nbackoff-ms = 10\n");
    let r = s.run(&["check", "npm", "left-pad", "--format", "json"]);
    assert_eq!(r.decision(), "allow", "{r:?}");
    assert_eq!(srv.hits("/npm/left-pad"), 3);
}

#[test]
fn persistent_500_is_unverified_not_a_crash() {
    let srv = server("/crates/se/rd/serde", Fault::Status(500));
    let s = Sentinel::new(&srv);
    s.policy("[network]\nretries = 1\nbackoff-ms = 5\n");
    let r = s.run(&["check", "crates", "serde", "--format", "json"]);
    assert_eq!(r.code, 2);
    assert!(
        r.json()["verdicts"][0]["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 500")
    );
}

#[test]
fn malformed_json_is_unverified_for_every_ecosystem() {
    for (path, eco, name) in [
        ("/pypi/pypi/flask/json", "pypi", "flask"),
        ("/npm/left-pad", "npm", "left-pad"),
        ("/crates/se/rd/serde", "crates", "serde"),
        (
            "/go/github.com/gin-gonic/gin/@latest",
            "go",
            "github.com/gin-gonic/gin",
        ),
    ] {
        let srv = server(path, Fault::Body(b"{\"info\": [truncated".to_vec()));
        let s = Sentinel::new(&srv);
        let r = s.run(&["check", eco, name, "--format", "json"]);
        assert_eq!(r.code, 2, "{eco}: {r:?}");
        let f = &r.json()["verdicts"][0]["findings"][0];
        assert_eq!(f["code"], "could-not-verify", "{eco}");
        assert!(
            f["message"].as_str().unwrap().contains("malformed"),
            "{eco}: {f}"
        );
    }
}

#[test]
fn huge_answer_is_refused() {
    let srv = server("/npm/left-pad", Fault::Body(vec![b' '; 3 * 1024 * 1024]));
    let s = Sentinel::new(&srv);
    s.policy("[network]\nmax-response-bytes = 1048576\n");
    let r = s.run(&["check", "npm", "left-pad", "--format", "json"]);
    assert_eq!(r.code, 2);
    let msg = r.json()["verdicts"][0]["findings"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("larger than the 1048576-byte limit"), "{msg}");
}
