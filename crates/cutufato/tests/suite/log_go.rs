//! Checkpoints, proof bundles, consistency proofs and export manifests verified by the Go
//! reference implementation (golang.org/x/mod/sumdb/note and sumdb/tlog).

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use cutufato::merkle;
use cutufato::store::NodeReader;

use super::log_util::{Log, p};

const GO_SRC: &str = "/usr/share/gocode/src/golang.org/x/mod/sumdb/note";

#[test]
fn go_reference_verifies_checkpoint_inclusion_consistency_and_manifest() {
    if Command::new("go").arg("version").output().is_err() || !std::path::Path::new(GO_SRC).exists()
    {
        eprintln!(
            "SKIP: needs Debian packages golang-go and golang-golang-x-mod-dev (./triad test installs them)"
        );
        return;
    }
    let log = Log::new();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(log.record(i, "alice"));
    }
    let vkey = log.write(
        "vkey",
        log.run(&["key", "export"]).stdout.lines().next().unwrap(),
    );
    let bundle = log.path("b.proof");
    assert_eq!(log.run(&["prove", &ids[2], "--out", p(&bundle)]).code, 0);
    // Consistency proof from the tree of size 3 to the current one, from the library.
    let a = cutufato::Auditor::open(&log.dir).unwrap();
    let reader = NodeReader(a.connection());
    let old_root = merkle::root(&reader, 3).unwrap();
    let proof = merkle::consistency_proof(&reader, 3, a.size()).unwrap();
    let mut cons = format!("3\n{}\n", B64.encode(old_root));
    for h in &proof {
        cons.push_str(&format!("{}\n", B64.encode(h)));
    }
    let cons = log.write("consistency", &cons);
    let out = log.path("export");
    let r = log.run(&[
        "export",
        "--profile",
        "soc2",
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
        "--out",
        p(&out),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let gopath_cache = std::env::temp_dir().join("cutufato-go-build-cache");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/go/verify_checkpoint.go");
    let run = |checkpoint: &std::path::Path| {
        let o = Command::new("go")
            .args(["run", src])
            .arg(&vkey)
            .arg(log.dir.join("signing.key"))
            .arg(checkpoint)
            .arg(&bundle)
            .arg(&cons)
            .arg(out.join("manifest.note"))
            .env("GO111MODULE", "off")
            .env("GOPATH", "/usr/share/gocode")
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .env("GOCACHE", &gopath_cache)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&log.dir.join("checkpoint"));
    assert!(ok, "go verifier failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("checkpoint ok: size 5"), "{stdout}");
    assert!(
        stdout.contains("inclusion ok: index 2 in size 5"),
        "{stdout}"
    );
    assert!(stdout.contains("consistency ok: 3 -> 5"), "{stdout}");
    assert!(stdout.contains("manifest ok"), "{stdout}");

    // The same Go code rejects a checkpoint whose size was edited.
    let forged = std::fs::read_to_string(log.dir.join("checkpoint"))
        .unwrap()
        .replacen("\n5\n", "\n6\n", 1);
    let forged = log.write("forged", &forged);
    let (ok, _, stderr) = run(&forged);
    assert!(
        !ok && stderr.contains("note.Open"),
        "forged checkpoint accepted: {stderr}"
    );
}
