//! Packages through Sentinel: `babuino run --packages` and the `@pypi` / `@npm` presets, with real
//! pip and npm inside the sandbox, Sentinel's real registry proxy in the babuino process, and a
//! loopback upstream replaying recorded registry data (Sentinel's fixtures, see
//! `crates/sentinel/tests/fixtures/proxy/README.md`: the `six` wheel and pages, the `is-number`
//! document and tarball, the derived squats `siix` / `is-numbr` and the hijacked `is-number`
//! 7.0.1 with a postinstall script).

use super::native_util::{BIN, Outcome, code, finish, require_native};
use babuino::packages::EXIT_PACKAGES;
use std::process::Command;

#[path = "registry_replay.rs"]
mod registry_replay;
use registry_replay::Upstream;

/// Scratch space: Sentinel's policy (install scripts blocked, advisories off, the derived squats'
/// copied histories not treated as "established") and cache.
struct Env {
    dir: tempfile::TempDir,
    up: Upstream,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sentinel.toml"),
            "[rules]\ninstall-scripts = \"block\"\n\n[advisories]\nmode = \"off\"\n\n[typosquat]\nestablished-versions = 0\n",
        )
        .unwrap();
        Env {
            dir,
            up: Upstream::start(),
        }
    }

    /// `babuino run --json` with Sentinel's engine and proxy pointed at the local upstream.
    fn babuino(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(BIN);
        c.args(["run", "--json"])
            .envs(self.up.sentinel_env(&d.join("sentinel.toml"), d))
            .env("BABUINO_RUNTIME_DIR", self.dir.path().join("runtime"))
            .env("TMPDIR", self.scratch())
            .env_remove("SENTINEL_LOG")
            .env_remove("BABUINO_TEST_RESOLVE");
        c
    }

    /// babuino's temporary directory (where the installed packages live during a run).
    fn scratch(&self) -> std::path::PathBuf {
        let d = self.dir.path().join("scratch");
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Whatever is left in the runtime and temporary directories.
    fn leftovers(&self) -> Vec<std::path::PathBuf> {
        ["runtime", "scratch"]
            .iter()
            .flat_map(|d| {
                std::fs::read_dir(self.dir.path().join(d))
                    .into_iter()
                    .flatten()
            })
            .flatten()
            .map(|e| e.path())
            .collect()
    }

    fn file(&self, name: &str, content: &str) -> std::path::PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

fn run(mut cmd: Command) -> Outcome {
    finish(cmd.output().expect("run babuino"))
}

fn package<'a>(o: &'a Outcome, name: &str) -> Option<&'a serde_json::Value> {
    o.report["packages"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
}

#[test]
fn a_requirement_installs_through_sentinel_and_is_read_only_in_the_sandbox() {
    require_native!();
    let env = Env::new();
    let req = env.file("requirements.txt", "six\n");
    let prog = code(
        "use_six.py",
        r##"
import six
print("six", six.__version__, six.__file__)
try:
    with open("/packages/python/six.py", "a") as f:
        f.write("# changed")
    print("write: allowed")
except OSError as e:
    print("write: denied", e.errno)
"##,
    );
    let mut c = env.babuino();
    c.arg("--packages").arg(&req).arg(&prog.script);
    let o = run(c);
    assert_eq!(o.code, 0, "{}\n{}", o.stderr, o.stdout);
    let out = o.program_output();
    assert!(out.contains("six 1.17.0 /packages/python/six.py"), "{out}");
    assert!(out.contains("write: denied 30"), "EROFS expected: {out}");
    assert!(o.has_event(
        "denied-write",
        "write /packages/python/six.py (read-only file system)"
    ));
    let six = package(&o, "six").expect("six in report.packages");
    assert_eq!(six["ecosystem"], "pypi");
    assert_eq!(six["version"], "1.17.0");
    assert_eq!(six["decision"], "allow");
    assert_eq!(six["installed"], true);
    assert!(o.report["timings"]["install_ms"].as_f64().unwrap() > 0.0);
    assert!(
        o.report["details"]["sentinel"]
            .as_str()
            .unwrap()
            .starts_with("registry proxy in process on 127.0.0.1:")
    );
    // The install phase fetched through the route (only the virtual host, via the egress proxy).
    assert!(
        o.has_event(
            "allowed-connect",
            "install: http sentinel.babuino.internal:80"
        ),
        "{:?}",
        o.report["events"]
    );
    assert!(o.events("blocked-package").is_empty());
    // The program itself got no network: --packages alone does not route pip at run time.
    assert!(o.report["network"]["registry"].is_null());
    // The installed tree is gone with the run.
    let left = env.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_squatted_requirement_is_refused_and_the_program_never_runs() {
    require_native!();
    let env = Env::new();
    let req = env.file("requirements.txt", "siix==1.17.0\n");
    let outdir = env.dir.path().join("out");
    let prog = code("marker.py", "open('/out/ran', 'w').write('ran')\n");
    let mut c = env.babuino();
    c.arg("--packages")
        .arg(&req)
        .arg("--output")
        .arg(&outdir)
        .arg(&prog.script);
    let o = run(c);
    assert_eq!(
        o.code,
        i32::from(EXIT_PACKAGES),
        "{}\n{}",
        o.stderr,
        o.stdout
    );
    assert_eq!(o.exit_kind(), "packages-refused");
    assert!(!outdir.join("ran").exists(), "the program ran");
    let blocked = o.events("blocked-package");
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert!(blocked[0].starts_with("pypi siix"), "{blocked:?}");
    assert!(blocked[0].contains("typosquat"), "{blocked:?}");
    // The detail names the alternative (in Sentinel's reason or as a suggestion).
    assert!(
        blocked[0]["pypi siix".len()..].contains("six"),
        "{blocked:?}"
    );
    let siix = package(&o, "siix").expect("siix in report.packages");
    assert_eq!(siix["decision"], "block");
    assert_eq!(siix["installed"], false);
    assert_eq!(siix["suggestion"], "six");
    // The human output says the same as progress lines.
    let mut c = env.babuino();
    c.arg("--packages").arg(&req).arg(&prog.script);
    let args: Vec<_> = c
        .get_args()
        .filter(|a| *a != "--json")
        .map(|a| a.to_os_string())
        .collect();
    let mut human = Command::new(BIN);
    human
        .args(args)
        .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let h = run(human);
    assert_eq!(h.code, i32::from(EXIT_PACKAGES), "{}", h.stderr);
    for line in [
        "[babuino] packages: checking 1 direct dependency with sentinel",
        "[babuino] blocked package: pypi siix 1.17.0: typosquat",
        "[babuino] packages not installed, program not run: sentinel refused pypi siix",
    ] {
        assert!(h.stderr.contains(line), "{line:?} not in {}", h.stderr);
    }
}

#[test]
fn at_run_time_pip_reaches_a_registry_only_through_sentinel() {
    require_native!();
    let env = Env::new();
    let prog = code(
        "pip_tries.sh",
        r#"
pip() { python3 -m pip install --no-cache-dir --disable-pip-version-check --retries 0 --timeout 5 -q "$@" >/dev/null 2>&1; echo $?; }
echo "squat: $(pip --target /tmp/a siix)"
echo "direct: $(pip --target /tmp/b --index-url https://pypi.org/simple six)"
echo "through sentinel: $(pip --target /tmp/c six)"
PYTHONPATH=/tmp/c python3 -c 'import six; print("imported", six.__version__)'
python3 - <<'PY'
import urllib.request, urllib.error
for url in ["http://sentinel.babuino.internal:8080/healthz", "http://other.babuino.internal/healthz",
            "http://sentinel.babuino.internal/healthz"]:
    try:
        print("route", url, urllib.request.urlopen(url, timeout=5).status)
    except urllib.error.HTTPError as e:
        print("route", url, e.code)
    except Exception as e:
        print("route", url, "error", type(e).__name__)
PY
"#,
    );
    let mut c = env.babuino();
    c.args(["--network-allow", "@pypi", "--timeout", "60s"])
        .arg(&prog.script);
    let o = run(c);
    assert_eq!(o.code, 0, "{}\n{}", o.stderr, o.stdout);
    let out = o.program_output();
    assert!(!out.contains("squat: 0"), "{out}");
    assert!(!out.contains("direct: 0"), "{out}");
    assert!(out.contains("through sentinel: 0"), "{out}");
    assert!(out.contains("imported 1.17.0"), "{out}");
    // The route reaches Sentinel's proxy on its one port; other ports and names go nowhere.
    assert!(
        out.contains("route http://sentinel.babuino.internal/healthz 200"),
        "{out}"
    );
    assert!(
        out.contains("route http://sentinel.babuino.internal:8080/healthz 403"),
        "{out}"
    );
    assert!(
        out.contains("route http://other.babuino.internal/healthz 403"),
        "{out}"
    );
    assert!(o.has_event(
        "blocked-connect",
        "sentinel.babuino.internal:8080 (the registry route serves port 80 only)"
    ));
    assert!(o.has_event(
        "blocked-connect",
        "other.babuino.internal:80 (reserved internal name"
    ));
    assert!(
        o.has_event("blocked-package", "pypi siix"),
        "{:?}",
        o.report["events"]
    );
    assert!(
        o.has_event("blocked-connect", "pypi.org:443 (not in allow-list)"),
        "{:?}",
        o.report["events"]
    );
    assert_eq!(
        o.report["network"]["registry"]["host"],
        "sentinel.babuino.internal"
    );
    assert_eq!(o.report["network"]["registry"]["via"], "sentinel");
    assert_eq!(package(&o, "siix").unwrap()["decision"], "block");
}

#[test]
fn registry_hosts_named_directly_need_the_explicit_opt_out() {
    require_native!();
    let o = finish(
        Command::new(BIN)
            .args(["run", "--json", "--network-allow", "pypi.org", "/bin/true"])
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("pypi.org is a package registry")
            && o.stderr.contains("@pypi or @npm")
            && o.stderr.contains("--unchecked-registry"),
        "{}",
        o.stderr
    );
    let o = finish(
        Command::new(BIN)
            .args(["run", "--json", "--network-allow", "*.npmjs.org"])
            .args(["--unchecked-registry", "/bin/true"])
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.has_event("degraded", "registry.npmjs.org directly"),
        "{:?}",
        o.report["events"]
    );
}

#[test]
fn bad_package_lists_and_the_micro_vm_are_refused_as_bad_input() {
    let env = Env::new();
    let cargo = env.file("Cargo.toml", "[package]\nname = \"x\"\n");
    let notes = env.file("notes.md", "* not a package list\n");
    let req = env.file("requirements.txt", "six\n");
    for (args, needle) in [
        (
            vec!["--packages", cargo.to_str().unwrap()],
            "requirements.txt-style",
        ),
        (
            vec!["--packages", notes.to_str().unwrap()],
            "not a package list",
        ),
        (
            vec!["--packages", req.to_str().unwrap(), "--sandbox", "kvm"],
            "not supported with --sandbox kvm",
        ),
        (vec!["--install-timeout", "10s"], "needs --packages"),
        (
            vec!["--network-allow", "@pypi"],
            "sentinel's policy: cannot read policy",
        ),
    ] {
        let mut c = env.babuino();
        if args[1] == "@pypi" {
            c.env("SENTINEL_POLICY", env.dir.path().join("missing.toml"));
        }
        c.args(&args).arg("/bin/true");
        let o = run(c);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
    }
}

#[test]
fn a_package_json_installs_through_sentinel_without_the_hijacked_release() {
    require_native!();
    let env = Env::new();
    let pj = env.file(
        "package.json",
        r#"{"name":"job","version":"1.0.0","dependencies":{"is-number":"^7.0.0"}}"#,
    );
    let outdir = env.dir.path().join("out");
    let prog = code(
        "use.js",
        "const isNumber = require('is-number');\nconsole.log('is-number', isNumber(5), isNumber('x'), require('is-number/package.json').version);\n",
    );
    let mut c = env.babuino();
    c.arg("--packages")
        .arg(&pj)
        .arg("--output")
        .arg(&outdir)
        .arg(&prog.script);
    let o = run(c);
    assert_eq!(o.code, 0, "{}\n{}", o.stderr, o.stdout);
    let out = o.program_output();
    assert!(out.contains("is-number true false 7.0.0"), "{out}");
    let p = package(&o, "is-number").expect("is-number in report.packages");
    assert_eq!(p["ecosystem"], "npm");
    assert_eq!(p["version"], "7.0.0");
    assert_eq!(p["installed"], true);
    assert_eq!(p["decision"], "allow");
    // The hijacked release was hidden by Sentinel: reported, never installed, its script never ran.
    let hidden = o.report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "is-number" && p["version"] == "7.0.1")
        .expect("the withheld 7.0.1 in report.packages");
    assert_eq!(hidden["decision"], "block");
    assert_eq!(hidden["installed"], false);
    assert_eq!(hidden["rule"], "install-scripts");
    assert!(o.has_event(
        "info",
        "sentinel withheld npm is-number 7.0.1: install-scripts"
    ));
    assert!(
        o.events("blocked-package").is_empty(),
        "{:?}",
        o.events("blocked-package")
    );
    assert!(!outdir.join("pwned").exists());
}

/// The pre-check passes (`~7.0.1` is a range: the name itself is fine), the proxy withholds the
/// hijacked 7.0.1 from the document, npm finds no acceptable version: exit 120, the refusal
/// comes from Sentinel's gate, and the install script never ran anywhere.
#[test]
fn the_proxy_refuses_what_the_pre_check_cannot_see() {
    require_native!();
    let env = Env::new();
    let pj = env.file(
        "package.json",
        r#"{"name":"job","version":"1.0.0","dependencies":{"is-number":"~7.0.1"}}"#,
    );
    let outdir = env.dir.path().join("out");
    let prog = code(
        "marker.js",
        "require('fs').writeFileSync('/out/ran', 'ran');\n",
    );
    let mut c = env.babuino();
    c.arg("--packages")
        .arg(&pj)
        .arg("--output")
        .arg(&outdir)
        .arg(&prog.script);
    let o = run(c);
    assert_eq!(
        o.code,
        i32::from(EXIT_PACKAGES),
        "{}\n{}",
        o.stderr,
        o.stdout
    );
    assert!(!outdir.join("ran").exists(), "the program ran");
    assert!(!outdir.join("pwned").exists());
    assert!(
        o.has_event("blocked-package", "npm is-number 7.0.1: install-scripts"),
        "{:?}",
        o.report["events"]
    );
    assert!(o.stderr.contains("[install] npm error"), "{}", o.stderr);
}

/// `kill -9` of babuino while the program runs: the installed tree is reaped by the next start.
#[test]
fn a_killed_babuino_leaves_no_installed_packages_behind() {
    require_native!();
    use std::io::BufRead;
    let env = Env::new();
    let req = env.file("requirements.txt", "six\n");
    let prog = code(
        "wait.py",
        "import six, time\nprint('ready', flush=True)\ntime.sleep(60)\n",
    );
    let mut c = env.babuino();
    c.arg("--packages")
        .arg(&req)
        .arg(&prog.script)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in err.lines().map_while(Result::ok) {
        let ready = line.contains("] ready");
        seen.push(line);
        if ready {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains("] ready")), "{seen:?}");
    let rt = env.dir.path().join("runtime");
    let before = env.leftovers();
    assert!(
        before.iter().any(|p| p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("babuino-packages-")),
        "the installed packages are in the temporary directory: {before:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let o = finish(
        Command::new(BIN)
            .arg("cleanup")
            .env("BABUINO_RUNTIME_DIR", &rt)
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let left = env.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn at_run_time_npm_installs_only_what_sentinel_allows() {
    require_native!();
    let env = Env::new();
    let prog = code(
        "npm_tries.sh",
        r#"
n() { npm install --prefix "$1" --no-audit --no-fund --fetch-retries=0 "$2" >/dev/null 2>&1; echo $?; }
echo "squat: $(n /tmp/a is-numbr)"
echo "real: $(n /tmp/b is-number)"
node -e 'console.log("version", require("/tmp/b/node_modules/is-number/package.json").version)'
"#,
    );
    let mut c = env.babuino();
    c.args(["--network-allow", "@npm", "--timeout", "60s"])
        .arg(&prog.script);
    let o = run(c);
    assert_eq!(o.code, 0, "{}\n{}", o.stderr, o.stdout);
    let out = o.program_output();
    assert!(!out.contains("squat: 0"), "{out}");
    assert!(out.contains("real: 0"), "{out}");
    assert!(
        out.contains("version 7.0.0"),
        "the hijacked 7.0.1 was served: {out}"
    );
    assert!(
        o.has_event("blocked-package", "npm is-numbr: typosquat"),
        "{:?}",
        o.report["events"]
    );
    assert_eq!(
        o.report["network"]["registry"]["ecosystems"],
        serde_json::json!(["npm"])
    );
}

/// Attack on the route: make Sentinel's proxy fetch from somewhere else than the registry (a
/// host service on loopback) with a scheme-relative or absolute path under an allowed file name.
/// The proxy must refuse; the host service must see nothing.
#[test]
fn the_registry_route_cannot_be_turned_into_a_fetch_of_another_host() {
    require_native!();
    use std::io::{Read as _, Write as _};
    let env = Env::new();
    let service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = service.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for mut c in service.incoming().flatten() {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut b = [0u8; 1024];
            let _ = c.read(&mut b);
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nSECRET",
            );
        }
    });
    let prog = code(
        "ssrf.py",
        &format!(
            r#"
import urllib.request, urllib.error
for path in ["//127.0.0.1:{port}/six-1.17.0-py2.py3-none-any.whl",
             "http://127.0.0.1:{port}/six-1.17.0-py2.py3-none-any.whl"]:
    try:
        body = urllib.request.urlopen("http://sentinel.babuino.internal/pypi/files/" + path, timeout=5).read()
        print("fetched", body[:20])
    except urllib.error.HTTPError as e:
        print("refused", e.code)
"#
        ),
    );
    let mut c = env.babuino();
    c.args(["--network-allow", "@pypi"]).arg(&prog.script);
    let o = run(c);
    assert_eq!(o.code, 0, "{}\n{}", o.stderr, o.stdout);
    let out = o.program_output();
    assert!(!out.contains("fetched"), "{out}");
    assert_eq!(out.matches("refused 404").count(), 2, "{out}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// The micro-VM backend shares the egress proxy: with `@pypi` the guest reaches Sentinel under
/// the same virtual host, and what Sentinel refuses there is reported the same way.
#[test]
fn in_the_micro_vm_the_pypi_preset_reaches_sentinel_too() {
    let Some(_vm) = super::vm::ready() else {
        return;
    };
    let env = Env::new();
    let prog = code(
        "vm_pip.py",
        r#"
import urllib.request, urllib.error, os
print("index", os.environ.get("PIP_INDEX_URL"))
print("health", urllib.request.urlopen("http://sentinel.babuino.internal/healthz", timeout=30).read().decode())
try:
    urllib.request.urlopen("http://sentinel.babuino.internal/pypi/files/siix-1.17.0-py2.py3-none-any.whl", timeout=30)
    print("squat served")
except urllib.error.HTTPError as e:
    print("squat refused", e.code)
"#,
    );
    let mut c = env.babuino();
    c.env("BABUINO_CACHE", super::vm::cache_dir())
        .args([
            "--sandbox",
            "kvm",
            "--accel",
            "tcg",
            "--network-allow",
            "@pypi",
        ])
        .args(["--timeout", "60s"])
        .arg(&prog.script);
    let o = run(c);
    assert_eq!(o.code, 0, "{}\n{}", o.stderr, o.stdout);
    let out = o.program_output();
    assert!(
        out.contains("index http://sentinel.babuino.internal/pypi/simple/"),
        "{out}"
    );
    assert!(out.contains("health ok"), "{out}");
    assert!(out.contains("squat refused 403"), "{out}");
    assert!(o.has_event("blocked-package", "pypi siix 1.17.0: typosquat"));
    assert_eq!(o.report["backend"], "kvm");
}
