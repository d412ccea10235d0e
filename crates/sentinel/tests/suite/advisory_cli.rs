//! `sentinel db …` and the advisory step of `sentinel check` / `sentinel scan`, through the real
//! binary: offline from an imported mirror, online against a local server speaking OSV's API,
//! fail-closed when neither is there.
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use super::advisory::{ECOS, fixtures};
use super::advisory_online::{Osv, osv_state, serve};

/// The binary with an isolated cache and working directory; registries point at a closed port
/// so only what is under test decides.
struct Bin {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
    /// (code, action) of every finding of the first verdict.
    fn findings(&self) -> Vec<(String, String)> {
        self.json()["verdicts"][0]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                (
                    f["code"].as_str().unwrap_or("").to_owned(),
                    f["action"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }
    fn decision(&self) -> String {
        self.json()["verdicts"][0]["decision"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    drop(l);
    format!("http://{a}")
}

impl Bin {
    fn new() -> Bin {
        let dead = closed_port();
        let env = vec![
            ("SENTINEL_PYPI_URL".into(), dead.clone()),
            ("SENTINEL_NPM_URL".into(), dead.clone()),
            ("SENTINEL_CRATES_URL".into(), dead.clone()),
            ("SENTINEL_GO_URL".into(), dead.clone()),
            ("SENTINEL_OSV_URL".into(), dead.clone()),
            ("SENTINEL_OSV_DUMP_URL".into(), dead),
        ];
        let b = Bin {
            dir: tempfile::tempdir().expect("tempdir"),
            env,
        };
        std::fs::create_dir_all(b.work()).expect("work dir");
        b
    }
    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
    fn set(&mut self, k: &str, v: &str) {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
    }
    /// A policy where an unreachable registry does not count, so advisories decide.
    fn policy(&self, extra: &str) {
        let text = format!("[rules]\ncould-not-verify = \"ignore\"\n{extra}");
        std::fs::write(self.work().join("sentinel.toml"), text).expect("policy");
    }
    fn run(&self, args: &[&str]) -> Out {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sentinel"));
        c.current_dir(self.work())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("SENTINEL_CACHE_DIR", self.dir.path().join("cache"))
            .args(args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        let o = c.output().expect("run sentinel");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    fn import_all(&self) {
        let zips: Vec<String> = ECOS
            .iter()
            .map(|e| fixtures().join(e).join("all.zip").display().to_string())
            .collect();
        let mut args = vec!["db", "import"];
        args.extend(zips.iter().map(String::as_str));
        let out = self.run(&args);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
}

fn has(findings: &[(String, String)], code: &str, action: &str) -> bool {
    findings.iter().any(|(c, a)| c == code && a == action)
}

#[test]
fn db_import_then_status_reports_every_ecosystem() {
    let bin = Bin::new();
    let empty = bin.run(&["db", "status"]);
    assert_eq!(empty.code, 0);
    assert!(
        empty.stdout.contains("empty: run `sentinel db import"),
        "{}",
        empty.stdout
    );
    let out = bin.run(&[
        "db",
        "import",
        "--json",
        &fixtures().join("npm/all.zip").display().to_string(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["imports"][0]["stats"]["inserted"], 137);
    bin.import_all();
    let status = bin.run(&["db", "status", "--json"]).json();
    assert_eq!(status["records"], 240 + 137 + 189 + 198);
    let ecos: Vec<&str> = status["ecosystems"]
        .as_array()
        .expect("ecosystems")
        .iter()
        .filter_map(|e| e["ecosystem"].as_str())
        .collect();
    assert_eq!(ecos, vec!["Go", "PyPI", "crates.io", "npm"]);
    // What the store knows, without registry or network.
    let q = bin.run(&["db", "query", "pypi", "jinja2@2.10", "requests==2.32.2"]);
    assert_eq!(q.code, 2, "{}", q.stderr);
    assert!(
        q.stdout
            .contains("pypi:jinja2@2.10: 3 advisories, nearest safe version 3.1.3"),
        "{}",
        q.stdout
    );
    assert!(
        q.stdout.contains("pypi:requests@2.32.2: no known advisory"),
        "{}",
        q.stdout
    );
    let q = bin.run(&["db", "query", "--json", "npm", "chalk@5.6.0"]);
    assert_eq!(q.code, 0);
    assert_eq!(
        q.json()["reports"][0]["hits"].as_array().map(Vec::len),
        Some(0)
    );
    let text = bin.run(&["db", "status"]).stdout;
    assert!(
        text.contains("PyPI") && text.contains("2025-04-28T05:47:10Z"),
        "{text}"
    );
}

#[test]
fn db_import_of_a_bad_zip_exits_4_names_the_file_and_keeps_the_store() {
    let bin = Bin::new();
    bin.import_all();
    let bad = bin.dir.path().join("broken.zip");
    let whole = std::fs::read(fixtures().join("PyPI/all.zip")).expect("zip");
    std::fs::write(&bad, &whole[..whole.len() / 2]).expect("write");
    let out = bin.run(&["db", "import", &bad.display().to_string()]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("broken.zip") && out.stderr.contains("nothing from it was imported"),
        "{}",
        out.stderr
    );
    assert_eq!(bin.run(&["db", "status", "--json"]).json()["records"], 764);
    let out = bin.run(&["db", "update", "--ecosystem", "maven"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("unsupported ecosystem `maven`"),
        "{}",
        out.stderr
    );
}

#[test]
fn offline_check_blocks_malware_and_decides_vulnerabilities_by_severity() {
    let bin = Bin::new();
    bin.import_all();
    bin.policy("");
    let chalk = bin.run(&[
        "check",
        "--offline",
        "npm",
        "chalk@5.6.1",
        "--format",
        "json",
    ]);
    assert_eq!(chalk.code, 2, "{}", chalk.stdout);
    assert!(
        has(&chalk.findings(), "advisory-malicious", "block"),
        "{:?}",
        chalk.findings()
    );
    let text = bin
        .run(&["check", "--offline", "npm", "chalk@5.6.1"])
        .stdout;
    assert!(
        text.contains("BLOCK") && text.contains("MAL-2025-46969"),
        "{text}"
    );
    let clean = bin.run(&[
        "check",
        "--offline",
        "npm",
        "chalk@5.6.0",
        "--format",
        "json",
    ]);
    assert_eq!(
        (clean.code, clean.decision()),
        (0, "allow".to_owned()),
        "{}",
        clean.stdout
    );
    // A package that is malicious as a whole: blocked with no version given.
    let squat = bin.run(&["check", "--offline", "pypi", "rllib3", "--format", "json"]);
    assert_eq!(squat.code, 2);
    assert!(has(&squat.findings(), "advisory-malicious", "block"));
    // Vulnerabilities: medium and unknown severities warn under the default threshold (high).
    let jinja = bin.run(&[
        "check",
        "--offline",
        "pypi",
        "jinja2@2.10",
        "--format",
        "json",
    ]);
    assert_eq!(
        (jinja.code, jinja.decision()),
        (1, "warn".to_owned()),
        "{}",
        jinja.stdout
    );
    let f = &jinja.json()["verdicts"][0]["findings"];
    let ghsa = f
        .as_array()
        .expect("findings")
        .iter()
        .find(|x| x["evidence"]["id"] == "GHSA-h5c8-rqwp-cp95")
        .expect("GHSA-h5c8");
    assert_eq!(ghsa["evidence"]["fixed"][0], "3.1.3");
    assert_eq!(ghsa["evidence"]["nearest_safe"], "3.1.3");
    assert_eq!(ghsa["evidence"]["score"], 5.4);
    assert_eq!(ghsa["evidence"]["source"], "local-mirror");
    // The policy lowers the threshold: now it blocks.
    bin.policy("[advisories]\nblock-severity = \"medium\"\n");
    let strict = bin.run(&[
        "check",
        "--offline",
        "pypi",
        "jinja2@2.10",
        "--format",
        "json",
    ]);
    assert_eq!(strict.code, 2);
    // Reviewed advisories can be ignored by ID or alias.
    bin.policy("[advisories]\nignore = [\"GHSA-h5c8-rqwp-cp95\", \"CVE-2019-10906\", \"PYSEC-2021-66\", \"CVE-2024-34064\", \"PYSEC-2019-220\", \"GHSA-cpwx-vrp4-4pq7\"]\n");
    let ignored = bin.run(&[
        "check",
        "--offline",
        "pypi",
        "jinja2@2.10",
        "--format",
        "json",
    ]);
    let left: Vec<String> = ignored.json()["verdicts"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|x| x["evidence"]["id"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !left
            .iter()
            .any(|id| id == "GHSA-h5c8-rqwp-cp95" || id == "PYSEC-2019-217"),
        "{left:?}"
    );
    // An unknown policy key is an error, not a silent weakening.
    bin.policy("[advisories]\nblock-severty = \"low\"\n");
    let typo = bin.run(&["check", "--offline", "pypi", "jinja2@2.10"]);
    assert_eq!(typo.code, 4, "{}", typo.stderr);
}

#[test]
fn no_version_reports_history_and_the_nearest_safe_version() {
    let bin = Bin::new();
    bin.import_all();
    bin.policy("");
    let out = bin.run(&["check", "--offline", "npm", "minimist", "--format", "json"]);
    assert_eq!(out.code, 0, "history alone does not warn: {}", out.stdout);
    let f = out.json()["verdicts"][0]["findings"]
        .as_array()
        .expect("findings")
        .clone();
    let hist = f
        .iter()
        .find(|x| x["code"] == "advisory-history")
        .expect("history finding");
    assert_eq!(hist["evidence"]["nearest_safe"], "1.2.6");
    assert!(
        hist["message"]
            .as_str()
            .is_some_and(|m| m.contains("GHSA-xvch-5gv4-984h") && m.contains("1.2.6"))
    );
}

#[test]
fn without_mirror_or_osv_advisories_fail_closed_unless_told_otherwise() {
    let mut bin = Bin::new();
    bin.policy("");
    let out = bin.run(&["check", "npm", "chalk@5.6.0", "--format", "json"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        has(&out.findings(), "advisory-unavailable", "block"),
        "{:?}",
        out.findings()
    );
    let msg = out.json()["verdicts"][0]["findings"][0]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(msg.contains("sentinel db import"), "{msg}");
    let open = bin.run(&[
        "check",
        "--fail-open",
        "npm",
        "chalk@5.6.0",
        "--format",
        "json",
    ]);
    assert_eq!(open.code, 1, "{}", open.stdout);
    bin.policy("[advisories]\nmode = \"off\"\n");
    let off = bin.run(&["check", "npm", "chalk@5.6.1", "--format", "json"]);
    assert_eq!(off.code, 0, "{}", off.stdout);
    assert!(
        off.findings()
            .iter()
            .all(|(c, _)| !c.starts_with("advisory"))
    );
    // The environment overrides the policy; a bad value fails closed and says why.
    bin.set("SENTINEL_ADVISORIES", "sometimes");
    let bad = bin.run(&["check", "npm", "chalk@5.6.1", "--format", "json"]);
    assert!(
        has(&bad.findings(), "advisory-unavailable", "block"),
        "{:?}",
        bad.findings()
    );
    assert!(
        bad.stdout
            .contains("SENTINEL_ADVISORIES=sometimes is not one of"),
        "{}",
        bad.stdout
    );
    bin.set("SENTINEL_ADVISORIES", "");
    // `online` mode requires the API even with a mirror.
    bin.set("SENTINEL_OSV_URL", &closed_port());
    bin.import_all();
    bin.policy("[advisories]\nmode = \"online\"\n");
    let online = bin.run(&["check", "npm", "chalk@5.6.0", "--format", "json"]);
    assert!(
        has(&online.findings(), "advisory-unavailable", "block"),
        "{:?}",
        online.findings()
    );
}

struct OsvServer {
    _rt: tokio::runtime::Runtime,
    osv: Arc<Osv>,
    url: String,
}

fn osv_server() -> OsvServer {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let osv = Arc::new(osv_state(1000));
    let addr = rt.block_on(serve(osv.clone()));
    OsvServer {
        _rt: rt,
        osv,
        url: format!("http://{addr}"),
    }
}

#[test]
fn online_check_and_scan_use_batched_queries_and_need_no_mirror() {
    let server = osv_server();
    let mut bin = Bin::new();
    bin.set("SENTINEL_OSV_URL", &server.url);
    bin.policy("");
    let out = bin.run(&["check", "npm", "chalk@5.6.1", "--format", "json"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    let f = out.json()["verdicts"][0]["findings"]
        .as_array()
        .expect("findings")
        .clone();
    let mal = f
        .iter()
        .find(|x| x["code"] == "advisory-malicious")
        .expect("malicious finding");
    assert_eq!(mal["evidence"]["source"], "osv-api");
    // A lockfile of pinned dependencies: one querybatch for all of them.
    let lock = bin.work().join("requirements.txt");
    std::fs::write(&lock, "jinja2==2.10\nurllib3==1.26.17\nrequests==2.31.0\nlabel-studio==1.5.0.post0\nfflask==3.1.8.dev0\n").expect("write");
    let before = server.osv.requests("POST /v1/querybatch");
    let scan = bin.run(&["scan", "requirements.txt", "--format", "json"]);
    assert_eq!(scan.code, 2, "{}", scan.stdout);
    assert_eq!(
        server.osv.requests("POST /v1/querybatch") - before,
        1,
        "one batched query for the whole lockfile"
    );
    let verdicts = scan.json()["verdicts"]
        .as_array()
        .expect("verdicts")
        .clone();
    let ids = |name: &str| -> Vec<String> {
        let v = verdicts
            .iter()
            .find(|v| v["package"]["name"] == name)
            .expect("verdict");
        let mut ids: Vec<String> = v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| {
                f["code"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("advisory-"))
            })
            .filter_map(|f| f["evidence"]["id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids("urllib3"), vec!["PYSEC-2023-212"]);
    assert_eq!(ids("requests"), vec!["GHSA-9wx4-h78v-vm56"]);
    assert_eq!(ids("label-studio"), Vec::<String>::new());
    assert_eq!(ids("fflask"), vec!["MAL-2025-923"]);
    assert!(ids("jinja2").contains(&"GHSA-h5c8-rqwp-cp95".to_owned()));
    // Offline mode never touches the network, even with an OSV URL configured.
    let seen = server.osv.requests("");
    let offline_check = bin.run(&[
        "check",
        "--offline",
        "npm",
        "chalk@5.6.1",
        "--format",
        "json",
    ]);
    assert_eq!(server.osv.requests(""), seen, "offline made a request");
    assert!(
        offline_check.stdout.contains("advisory-unavailable"),
        "{}",
        offline_check.stdout
    );
    // Records fetched online are cached, but they are not a mirror: offline mode without an
    // imported dump says advisories were not checked (fail closed).
    let offline = bin.run(&["scan", "--offline", "requirements.txt", "--format", "json"]);
    assert!(
        offline.stdout.contains("advisory-unavailable"),
        "{}",
        offline.stdout
    );
}

#[test]
fn db_update_from_a_mirror_of_the_bucket() {
    let server = osv_server();
    let mut bin = Bin::new();
    let out = bin.run(&["db", "update", "-e", "npm"]);
    assert_eq!(out.code, 4);
    assert!(
        out.stderr
            .contains("updating the advisory mirror from http://127.0.0.1:"),
        "{}",
        out.stderr
    );
    bin.set("SENTINEL_OSV_DUMP_URL", &format!("{}/dump", server.url));
    let out = bin.run(&["db", "update", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j = out.json();
    assert_eq!(j["updated"].as_array().map(Vec::len), Some(4));
    assert!(
        j["updated"]
            .as_array()
            .expect("updated")
            .iter()
            .all(|u| u["method"] == "full-dump")
    );
    let again = bin.run(&["db", "update", "--json"]).json();
    assert!(
        again["updated"]
            .as_array()
            .expect("updated")
            .iter()
            .all(|u| u["method"] == "incremental" && u["stats"]["read"] == 0)
    );
    assert_eq!(bin.run(&["db", "status", "--json"]).json()["records"], 764);
    let out = bin.run(&["db", "update", "--offline"]);
    assert_eq!(out.code, 4);
    assert!(
        out.stderr.contains("offline mode forbids"),
        "{}",
        out.stderr
    );
}

/// With the engine's recorded registry answers: a pinned version that exists gets its
/// advisories; with no version the registry's latest is what is evaluated.
#[test]
fn with_a_registry_the_latest_version_is_evaluated_when_none_is_asked() {
    use super::support::{FixtureServer, Run, Sentinel};
    let server = FixtureServer::start();
    let s = Sentinel::new(&server);
    let run = |args: &[&str]| -> Run {
        let mut c = s.cmd();
        // support.rs turns advisories off for the engine's own tests; here they are under test.
        c.env("SENTINEL_ADVISORIES", "offline").args(args);
        Run::from(c.output().expect("run sentinel"))
    };
    let zip = fixtures().join("PyPI/all.zip").display().to_string();
    assert_eq!(run(&["db", "import", &zip]).code, 0);
    let pinned = run(&["check", "pypi", "requests==2.31.0", "--format", "json"]);
    assert!(
        pinned.codes().contains(&"advisory-vulnerable".to_owned()),
        "{}",
        pinned.stdout
    );
    let f = pinned.json()["verdicts"][0]["findings"].clone();
    let ghsa = f
        .as_array()
        .expect("findings")
        .iter()
        .find(|x| x["evidence"]["id"] == "GHSA-9wx4-h78v-vm56")
        .expect("GHSA-9wx4");
    assert_eq!(ghsa["evidence"]["version"], "2.31.0");
    // No version: the fixture's latest (2.34.2) is past every fix, so only history remains.
    let latest = run(&["check", "pypi", "requests", "--format", "json"]);
    let codes = latest.codes();
    assert!(codes.contains(&"advisory-history".to_owned()), "{codes:?}");
    assert!(
        !codes.contains(&"advisory-vulnerable".to_owned()),
        "{}",
        latest.stdout
    );
    assert_eq!(
        latest.json()["verdicts"][0]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|x| x["code"] == "advisory-history")
            .expect("history")["evidence"]["evaluated_version"],
        "2.34.2"
    );
}

/// `scan` of a lockfile from the offline mirror: every pinned dependency gets the same answer as
/// the hand-checked cases.
#[test]
fn offline_scan_of_a_cargo_lock_reports_every_pinned_dependency() {
    let bin = Bin::new();
    bin.import_all();
    bin.policy("");
    let lock = r#"version = 3

[[package]]
name = "smallvec"
version = "0.6.2"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "time"
version = "0.2.6"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "rsa"
version = "0.9.6"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "replit_ruspty"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
    std::fs::write(bin.work().join("Cargo.lock"), lock).expect("write");
    let out = bin.run(&["scan", "--offline", "Cargo.lock", "--format", "json"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    let verdicts = out.json()["verdicts"].as_array().expect("verdicts").clone();
    let ids = |name: &str| -> Vec<String> {
        let v = verdicts
            .iter()
            .find(|v| v["package"]["name"] == name)
            .unwrap_or_else(|| panic!("no verdict for {name}"));
        let mut ids: Vec<String> = v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| {
                f["code"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("advisory-"))
            })
            .filter_map(|f| f["evidence"]["id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids("smallvec"),
        vec!["RUSTSEC-2018-0003", "RUSTSEC-2018-0018"]
    );
    assert_eq!(ids("time"), Vec::<String>::new());
    assert_eq!(ids("rsa"), vec!["GHSA-c38w-74pg-36hr", "RUSTSEC-2023-0071"]);
    assert_eq!(ids("replit_ruspty"), vec!["MAL-2025-49350"]);
    let sarif = bin.run(&["scan", "--offline", "Cargo.lock", "--format", "sarif"]);
    assert!(
        sarif.stdout.contains("advisory-malicious"),
        "{}",
        sarif.stdout
    );
}
