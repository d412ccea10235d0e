//! Live smoke check against the real registries: opt-in with `SENTINEL_LIVE=1` (the test suite
//! never needs the network otherwise).
use super::support::Sentinel;

#[test]
fn live_registries_answer_like_the_recordings() {
    if std::env::var("SENTINEL_LIVE").as_deref() != Ok("1") {
        eprintln!("skipped: set SENTINEL_LIVE=1 to check the live registries");
        return;
    }
    let s = Sentinel::unreachable();
    let run = |args: &[&str]| {
        let mut c = s.cmd();
        for v in [
            "SENTINEL_PYPI_URL",
            "SENTINEL_NPM_URL",
            "SENTINEL_CRATES_URL",
            "SENTINEL_GO_URL",
        ] {
            c.env_remove(v);
        }
        for v in ["SSL_CERT_FILE", "HTTPS_PROXY", "https_proxy", "NO_PROXY"] {
            if let Ok(x) = std::env::var(v) {
                c.env(v, x);
            }
        }
        super::support::Run::from(c.args(args).output().unwrap())
    };
    let r = run(&["check", "pypi", "requests==2.31.0", "--format", "json"]);
    assert_eq!(r.decision(), "allow", "{r:?}");
    let r = run(&["check", "pypi", "requsts", "--format", "json"]);
    assert!(r.codes().contains(&"not-found".to_string()), "{r:?}");
    let r = run(&["check", "npm", "@types/node", "--format", "json"]);
    assert_eq!(r.decision(), "allow", "{r:?}");
    let r = run(&["check", "crates.io", "serde-json", "--format", "json"]);
    assert_eq!(
        r.json()["verdicts"][0]["metadata"]["name"],
        "serde_json",
        "{r:?}"
    );
}
