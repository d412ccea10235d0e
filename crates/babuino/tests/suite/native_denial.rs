//! `denied-write` events say what the kernel refused, nothing more: a program reading package
//! data the way `importlib.resources` and certifi do, and calls that fail before they would
//! write (`EEXIST`, `ENOENT`) or open an existing file read-only with `O_CREAT`, bring no event;
//! a real write attempt on the same file does, with the open flags `strace` would show.

use super::native_util::{code, require_native, run_with_env};

/// A package `pkg` with a data file, read like certifi's `where()` does (importlib.resources
/// `files()` + `as_file()`), then read and probed the ways Python libraries do. With
/// `MODE=append` the program also appends to the data file, as a real write attempt.
const PROGRAM: &str = r#"
import os, sys
sys.path.insert(0, "/code")
from importlib.resources import files, as_file
import pkg
res = files("pkg").joinpath("data.pem")
with as_file(res) as f:
    where = str(f)
data = res.read_bytes()
with open(where, "rb") as f:
    f.seek(max(0, os.path.getsize(where) - 64))
    tail = f.read()
print("where", where, len(data), len(tail))
os.makedirs("/code/pkg", exist_ok=True)
os.close(os.open(where, os.O_RDONLY | os.O_CREAT))
for flags, name in [(os.O_WRONLY | os.O_CREAT | os.O_EXCL, "excl"), (os.O_WRONLY, "missing")]:
    try:
        os.close(os.open(where if name == "excl" else "/code/pkg/missing.pem", flags))
        print("OPENED", name)
    except OSError as e:
        print(name, e.errno)
if os.environ.get("MODE") == "append":
    try:
        with open(where, "ab") as f:
            f.write(b"x")
        print("APPENDED")
    except OSError as e:
        print("append", e.errno)
"#;

fn package_code() -> super::native_util::Code {
    let c = code("reader.py", PROGRAM);
    let pkg = c.dir.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(pkg.join("__init__.py"), "").unwrap();
    std::fs::write(
        pkg.join("data.pem"),
        "-----BEGIN CERTIFICATE-----\n".repeat(40),
    )
    .unwrap();
    c
}

/// Events about the code directory (the host's own Python start-up hooks may add others).
fn code_events(o: &super::native_util::Outcome) -> Vec<String> {
    o.events("denied-write")
        .into_iter()
        .filter(|d| d.contains("/code/"))
        .collect()
}

#[test]
fn reading_package_data_like_certifi_reports_no_write() {
    require_native!();
    let c = package_code();
    // No --env: importing `pkg` from the read-only /code must not try to write its bytecode
    // cache either (the sandbox sets PYTHONDONTWRITEBYTECODE).
    let o = run_with_env(&[], &c, &[]);
    assert_eq!(o.code, 0, "{o:?}");
    let out = o.program_output();
    assert!(out.contains("where /code/pkg/data.pem 1120 64"), "{out}");
    assert!(
        out.contains("excl 17") && out.contains("missing 2"),
        "{out}"
    );
    assert!(!out.contains("OPENED"), "{out}");
    assert_eq!(code_events(&o), Vec::<String>::new(), "{}", o.stdout);
}

#[test]
fn a_real_append_to_package_data_is_reported_with_its_flags() {
    require_native!();
    let c = package_code();
    let before = std::fs::read(c.dir.path().join("pkg/data.pem")).unwrap();
    let flags = ["--env", "PYTHONDONTWRITEBYTECODE=1", "--env", "MODE=append"];
    let o = run_with_env(&flags, &c, &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.program_output().contains("append 30"), "{}", o.stderr);
    assert_eq!(
        code_events(&o),
        vec![
            "write /code/pkg/data.pem (read-only file system) [O_WRONLY|O_CREAT|O_APPEND]"
                .to_string()
        ],
        "{}",
        o.stdout
    );
    assert_eq!(
        std::fs::read(c.dir.path().join("pkg/data.pem")).unwrap(),
        before
    );
}
