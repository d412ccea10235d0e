//! Helpers for the log tests: a temporary log directory driven through the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_cutufato");

pub struct Log {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Log {
    /// A fresh log created by `cutufato init`.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let l = Log { tmp, dir };
        let r = l.run(&["init", "--origin", "example.com/audit"]);
        assert_eq!(r.code, 0, "init failed: {}", r.stderr);
        l
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Command::new(BIN)
            .arg("--dir")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap()
            .into()
    }

    /// Records a decision through the CLI and returns its execution id.
    pub fn record(&self, n: usize, actor: &str) -> String {
        self.record_as(n, actor, None)
    }

    /// Records a decision with an explicit data subject.
    pub fn record_as(&self, n: usize, actor: &str, subject: Option<&str>) -> String {
        let prompt = self.write(
            &format!("p{n}.txt"),
            &format!("Question {n}: what is the notice period?"),
        );
        let resp = self.write(&format!("r{n}.txt"), &format!("Answer {n}: thirty days."));
        let ctx = self.write(
            &format!("c{n}.json"),
            &format!(r#"[{{"doc_id":"contract.pdf","page":7,"line":{n},"text":"Notice period: thirty (30) days ({n}).","score":0.8}}]"#),
        );
        let mut args = vec![
            "record",
            "--prompt",
            p(&prompt),
            "--context",
            p(&ctx),
            "--response",
            p(&resp),
            "--model",
            "gpt-x",
            "--actor",
            actor,
            "--purpose",
            "contract review",
        ];
        if let Some(s) = subject {
            args.extend(["--subject", s]);
        }
        let r = self.run(&args);
        assert_eq!(r.code, 0, "record failed: {}", r.stderr);
        r.stdout.trim().to_owned()
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.join("log.db")).unwrap()
    }
}

pub fn p(p: &Path) -> &str {
    p.to_str().unwrap()
}
