//! Embeds the popular-name corpora from `data/corpus/` at the repository root. A corpus file that
//! is missing embeds as empty (the engine then says so), so the crate builds from any checkout.
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dir = manifest.join("../../data/corpus");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut out = String::new();
    for (konst, stem) in [
        ("PYPI", "pypi"),
        ("NPM", "npm"),
        ("CRATES", "crates"),
        ("GO", "go"),
    ] {
        let path = dir.join(format!("{stem}.tsv"));
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_file() {
            let abs = path.canonicalize().unwrap_or(path);
            let _ = writeln!(
                out,
                "pub const {konst}: &str = include_str!({:?});",
                abs.display().to_string()
            );
        } else {
            let _ = writeln!(out, "pub const {konst}: &str = \"\";");
        }
    }
    let incidents = manifest.join("../../data/eval/typosquats.tsv");
    println!("cargo:rerun-if-changed={}", incidents.display());
    if incidents.is_file() {
        let abs = incidents.canonicalize().unwrap_or(incidents);
        let _ = writeln!(
            out,
            "pub const INCIDENTS: &str = include_str!({:?});",
            abs.display().to_string()
        );
    } else {
        let _ = writeln!(out, "pub const INCIDENTS: &str = \"\";");
    }
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("embedded_corpus.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}
