//! `sentinel hook`: a coding assistant's pre-tool-use hook. It reads the command the assistant is
//! about to run (Claude Code `PreToolUse` JSON on stdin, or Cursor's `beforeShellExecution`),
//! finds package installs (`pip`, `uv`, `poetry`, `pipx`, `npm`, `pnpm`, `yarn`, `bun`, `npx`,
//! `cargo`, `go`), asks the engine, and denies the command when a package is blocked, with the
//! reason. When the engine does not answer in time the command is denied (fail closed) unless
//! the user chose `--fail-open`.
//!
//! Not understood: installs hidden in scripts or variables (`pip install $PKG`), `eval`, aliases
//! defined elsewhere. Local paths, URLs and VCS specs are not registry packages and are skipped.
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::manifest::{self, ManifestKind};
use crate::{Decision, Ecosystem, Engine, PackageRef, Verdict};

/// What the hook receives on stdin (fields we do not use are ignored).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct HookInput {
    /// Claude Code: the tool about to run (`Bash`).
    #[serde(default)]
    pub tool_name: Option<String>,
    /// Claude Code: the tool's arguments (`{"command": "…"}` for `Bash`).
    #[serde(default)]
    pub tool_input: Option<serde_json::Value>,
    /// Cursor `beforeShellExecution` and others: the command itself.
    #[serde(default)]
    pub command: Option<String>,
    /// Working directory of the session (relative requirement files resolve against it).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Claude Code: the hook event (`PreToolUse`).
    #[serde(default)]
    pub hook_event_name: Option<String>,
}

impl HookInput {
    /// The shell command in the input, if the tool runs one.
    pub fn shell_command(&self) -> Option<&str> {
        if let Some(input) = &self.tool_input
            && let Some(cmd) = input.get("command").and_then(|c| c.as_str())
        {
            return Some(cmd);
        }
        self.command.as_deref()
    }
}

/// Something the command would install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A registry package.
    Package(PackageRef),
    /// A requirements file to read (`pip install -r FILE`), resolved against the cwd.
    Requirements(PathBuf),
}

/// Splits a shell command line into simple commands (on `;`, `&&`, `||`, `|`, `&`, newlines and
/// parentheses) of words, honouring single and double quotes and backslashes.
pub fn split_commands(line: &str) -> Vec<Vec<String>> {
    let mut cmds = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let flush = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    word.push(d);
                }
            }
            '"' => {
                in_word = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                word.push(e);
                            }
                        }
                        _ => word.push(d),
                    }
                }
            }
            '\\' => {
                if let Some(e) = chars.next()
                    && e != '\n'
                {
                    word.push(e);
                    in_word = true;
                }
            }
            ';' | '&' | '|' | '\n' | '(' | ')' | '`' => {
                flush(&mut word, &mut in_word, &mut words);
                if !words.is_empty() {
                    cmds.push(std::mem::take(&mut words));
                }
            }
            '#' if !in_word => {
                // A comment runs to the end of the line.
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                flush(&mut word, &mut in_word, &mut words);
                if !words.is_empty() {
                    cmds.push(std::mem::take(&mut words));
                }
            }
            '<' | '>' => {
                // A redirection: `2>&1`, `> out.txt`, `<in`. The fd number before it and the
                // target after it are not arguments.
                if in_word && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                flush(&mut word, &mut in_word, &mut words);
                while chars
                    .peek()
                    .is_some_and(|d| matches!(d, '<' | '>' | '&' | '|'))
                {
                    chars.next();
                }
                while chars.peek().is_some_and(|d| *d == ' ' || *d == '\t') {
                    chars.next();
                }
                while chars.peek().is_some_and(|d| {
                    !d.is_whitespace() && !matches!(d, ';' | '&' | '|' | '(' | ')' | '<' | '>')
                }) {
                    chars.next();
                }
            }
            c if c.is_whitespace() => flush(&mut word, &mut in_word, &mut words),
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    flush(&mut word, &mut in_word, &mut words);
    if !words.is_empty() {
        cmds.push(words);
    }
    cmds
}

fn program(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn is_python(p: &str) -> bool {
    p == "python"
        || p == "py"
        || (p.starts_with("python") && p[6..].chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn is_pip(p: &str) -> bool {
    p == "pip" || (p.starts_with("pip") && p[3..].chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Flags that take a value, per tool family (the value is not a package).
const PIP_VALUE_FLAGS: &[&str] = &[
    "-r",
    "--requirement",
    "--requirements",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--src",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--trusted-host",
    "--cert",
    "--client-cert",
    "--cache-dir",
    "--log",
    "--proxy",
    "--timeout",
    "--retries",
    "--progress-bar",
    "--upgrade-strategy",
    "--global-option",
    "--config-settings",
    "-C",
    "--only-binary",
    "--no-binary",
    "--python",
    "-p",
    "--group",
    "--extra",
    "--index",
    "--default-index",
    "--source",
    "--optional",
    "-E",
    "--extras",
    "--with",
    "--directory",
    "--project",
    "--resolution",
    "--prerelease",
    "--exclude-newer",
    "--report",
    "--dry-run-report",
    "--upgrade-package",
    "-P",
    "--keyring-provider",
    "--link-mode",
    "--python-platform",
    "--constraints",
    "--overrides",
    "--build-constraints",
];
const NPM_VALUE_FLAGS: &[&str] = &[
    "--registry",
    "--prefix",
    "-w",
    "--workspace",
    "--tag",
    "--omit",
    "--include",
    "--install-strategy",
    "--save-prefix",
    "--cache",
    "--userconfig",
    "--globalconfig",
    "--filter",
    "-F",
    "--dir",
    "-C",
    "--cwd",
    "--network-concurrency",
    "--reporter",
    "--modules-folder",
    "--mutex",
    "-p",
    "--package",
    "--call",
    "-c",
];
const CARGO_VALUE_FLAGS: &[&str] = &[
    "--git",
    "--branch",
    "--tag",
    "--rev",
    "--path",
    "--registry",
    "--index",
    "-F",
    "--features",
    "--target",
    "--root",
    "-j",
    "--jobs",
    "--profile",
    "--rename",
    "-p",
    "--package",
    "--manifest-path",
    "--bin",
    "--example",
    "--target-dir",
    "--config",
    "-Z",
];
const GO_VALUE_FLAGS: &[&str] = &["-tags", "-C", "-modfile", "-o", "-pkgdir", "-overlay", "-p"];

/// Positional arguments of `args`, skipping flags and their values.
fn positionals<'a>(args: &'a [String], value_flags: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            out.extend(args[i + 1..].iter().map(String::as_str));
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            if !a.contains('=') && value_flags.contains(&a) {
                i += 1;
            }
        } else {
            out.push(a);
        }
        i += 1;
    }
    out
}

fn flag_values<'a>(args: &'a [String], names: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if let Some((k, v)) = a.split_once('=')
            && names.contains(&k)
        {
            out.push(v);
        } else if names.contains(&a)
            && let Some(v) = args.get(i + 1)
        {
            out.push(v.as_str());
            i += 1;
        } else if let Some(short) = names.iter().find(|n| n.len() == 2 && !n.starts_with("--"))
            && a.len() > 2
            && a.starts_with(short)
            && !a.starts_with("--")
        {
            // `-rrequirements.txt`
            out.push(&a[2..]);
        }
        i += 1;
    }
    out
}

fn looks_like_path_or_url(spec: &str) -> bool {
    spec.contains("://")
        || spec.starts_with('.')
        || spec.starts_with('/')
        || spec.starts_with('~')
        || spec.starts_with("file:")
        || spec.starts_with("git+")
        || spec.starts_with("git:")
        || spec.starts_with("github:")
        || spec.starts_with("http:")
        || spec.starts_with("https:")
}

/// A PEP 508-ish requirement from the command line: the name, and the version when pinned with
/// `==`. Paths, URLs and archives are `None`.
pub fn pypi_spec(spec: &str) -> Option<PackageRef> {
    let spec = spec.trim();
    if spec.is_empty() || looks_like_path_or_url(spec) || spec.contains('/') {
        return None;
    }
    let lower = spec.to_ascii_lowercase();
    if [".whl", ".tar.gz", ".zip", ".tgz", ".egg"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        return None;
    }
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let name = &spec[..end];
    if name.is_empty() {
        // Not a name at all (`=1.0`, `[x]`): let the engine say so.
        return Some(PackageRef::new(Ecosystem::Pypi, spec));
    }
    let mut rest = spec[end..].trim_start();
    if rest.starts_with('[') {
        rest = rest
            .find(']')
            .map(|i| &rest[i + 1..])
            .unwrap_or("")
            .trim_start();
    }
    let version = rest
        .strip_prefix("===")
        .or_else(|| rest.strip_prefix("=="))
        .map(|v| v.split([';', ',']).next().unwrap_or("").trim())
        .filter(|v| !v.is_empty() && !v.contains('*'));
    Some(PackageRef {
        ecosystem: Ecosystem::Pypi,
        name: name.to_string(),
        version: version.map(str::to_string),
    })
}

fn exact_semver(v: &str) -> Option<String> {
    let v = v.trim_start_matches('=').trim_start_matches('v');
    semver::Version::parse(v).ok().map(|_| v.to_string())
}

/// An npm install spec: `name`, `name@1.2.3`, `@scope/name@tag`, `alias@npm:real@1`. Exact
/// versions are kept, ranges and tags dropped. Paths, URLs, git and GitHub shorthands are `None`.
pub fn npm_spec(spec: &str) -> Option<PackageRef> {
    let spec = spec.trim();
    if spec.is_empty() || looks_like_path_or_url(spec) || spec.ends_with(".tgz") {
        return None;
    }
    // `alias@npm:real@1.0.0` installs `real`.
    if let Some(i) = spec.find("@npm:") {
        return npm_spec(&spec[i + 5..]);
    }
    let parsed = PackageRef::parse(Ecosystem::Npm, spec);
    // `user/repo` is a GitHub shorthand, not a registry name.
    if !parsed.name.starts_with('@') && parsed.name.contains('/') {
        return None;
    }
    Some(PackageRef {
        ecosystem: Ecosystem::Npm,
        version: parsed.version.as_deref().and_then(exact_semver),
        name: parsed.name,
    })
}

fn cargo_spec(spec: &str, vers: Option<&str>) -> Option<PackageRef> {
    if spec.is_empty() || looks_like_path_or_url(spec) || spec.contains('/') {
        return None;
    }
    let parsed = PackageRef::parse(Ecosystem::CratesIo, spec);
    let version = parsed.version.as_deref().or(vers).and_then(exact_semver);
    Some(PackageRef {
        ecosystem: Ecosystem::CratesIo,
        name: parsed.name,
        version,
    })
}

fn go_spec(spec: &str) -> Option<PackageRef> {
    if spec.is_empty() || spec.starts_with('.') || spec.starts_with('/') || spec == "all" {
        return None;
    }
    let (path, version) = match spec.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (spec, None),
    };
    // Only module paths with a host (`github.com/x/y`): standard-library packages have no dot.
    let host = path.split('/').next().unwrap_or("");
    if !host.contains('.') {
        return None;
    }
    let path = path.trim_end_matches("/...");
    let version = version
        .filter(|v| !matches!(*v, "latest" | "upgrade" | "patch" | "none" | ""))
        .map(str::to_string);
    Some(PackageRef {
        ecosystem: Ecosystem::Go,
        name: path.to_string(),
        version,
    })
}

/// What one simple command installs, if anything. `cwd` resolves `-r` files.
pub fn targets_of(words: &[String], cwd: &Path) -> Vec<Target> {
    // Skip `sudo`, `env`, `VAR=value` and similar prefixes.
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let p = program(w);
        if matches!(
            p,
            "sudo" | "env" | "time" | "nohup" | "exec" | "command" | "nice"
        ) || (w.contains('=') && !w.starts_with('-') && !w.starts_with('='))
            || (i > 0 && matches!(program(&words[i - 1]), "sudo" | "env") && w.starts_with('-'))
        {
            i += 1;
            continue;
        }
        break;
    }
    let words = &words[i..];
    let Some(first) = words.first() else {
        return Vec::new();
    };
    let prog = program(first);
    let sub = words.get(1).map(String::as_str).unwrap_or("");
    let pypi = |args: &[String]| -> Vec<Target> {
        let mut out: Vec<Target> = flag_values(args, &["-r", "--requirement", "--requirements"])
            .into_iter()
            .map(|f| Target::Requirements(cwd.join(f)))
            .collect();
        out.extend(
            positionals(args, PIP_VALUE_FLAGS)
                .into_iter()
                .filter_map(pypi_spec)
                .map(Target::Package),
        );
        out
    };
    let npm = |args: &[String]| -> Vec<Target> {
        positionals(args, NPM_VALUE_FLAGS)
            .into_iter()
            .filter_map(npm_spec)
            .map(Target::Package)
            .collect()
    };
    let after = |n: usize| -> &[String] { words.get(n..).unwrap_or(&[]) };
    match prog {
        p if is_pip(p) && matches!(sub, "install" | "download" | "wheel") => pypi(after(2)),
        p if is_python(p) && sub == "-m" => {
            let module = words.get(2).map(String::as_str).unwrap_or("");
            let action = words.get(3).map(String::as_str).unwrap_or("");
            if is_pip(module) && matches!(action, "install" | "download") {
                pypi(after(4))
            } else {
                Vec::new()
            }
        }
        "uv" => match (sub, words.get(2).map(String::as_str)) {
            ("pip", Some("install")) => pypi(after(3)),
            ("add", _) => pypi(after(2)),
            ("tool", Some("install" | "run")) => pypi(after(3)).into_iter().take(1).collect(),
            _ => Vec::new(),
        },
        "uvx" | "pipx" if prog == "uvx" || matches!(sub, "install" | "run") => {
            let args = if prog == "uvx" { after(1) } else { after(2) };
            let mut out: Vec<Target> = flag_values(args, &["--from"])
                .into_iter()
                .filter_map(pypi_spec)
                .map(Target::Package)
                .collect();
            if out.is_empty() {
                out.extend(pypi(args).into_iter().take(1));
            }
            out
        }
        "poetry" | "pdm" | "rye" if sub == "add" => pypi(after(2)),
        "npm"
            if matches!(
                sub,
                "install"
                    | "i"
                    | "add"
                    | "in"
                    | "ins"
                    | "inst"
                    | "insta"
                    | "instal"
                    | "isnt"
                    | "isnta"
                    | "isntal"
                    | "isntall"
                    | "update"
                    | "up"
                    | "upgrade"
            ) =>
        {
            npm(after(2))
        }
        "npm" if sub == "exec" || sub == "x" => {
            let args = after(2);
            let mut out: Vec<Target> = flag_values(args, &["-p", "--package"])
                .into_iter()
                .filter_map(npm_spec)
                .map(Target::Package)
                .collect();
            if out.is_empty() {
                out.extend(npm(args).into_iter().take(1));
            }
            out
        }
        "pnpm" | "yarn" | "bun" if matches!(sub, "add" | "install" | "i") => npm(after(2)),
        "pnpm" | "yarn" | "bun" if sub == "dlx" || sub == "x" => {
            npm(after(2)).into_iter().take(1).collect()
        }
        "npx" | "bunx" => {
            let args = after(1);
            let mut out: Vec<Target> = flag_values(args, &["-p", "--package"])
                .into_iter()
                .filter_map(npm_spec)
                .map(Target::Package)
                .collect();
            if out.is_empty() {
                out.extend(npm(args).into_iter().take(1));
            }
            out
        }
        "cargo" if matches!(sub, "add" | "install") => {
            let args = after(2);
            if !flag_values(args, &["--git", "--path"]).is_empty() {
                return Vec::new();
            }
            let vers = flag_values(args, &["--vers", "--version"])
                .into_iter()
                .next();
            positionals(
                args,
                &[CARGO_VALUE_FLAGS, &["--vers", "--version"]].concat(),
            )
            .into_iter()
            .filter_map(|s| cargo_spec(s, vers))
            .map(Target::Package)
            .collect()
        }
        "go" if matches!(sub, "get" | "install") => positionals(after(2), GO_VALUE_FLAGS)
            .into_iter()
            .filter_map(go_spec)
            .map(Target::Package)
            .collect(),
        _ => Vec::new(),
    }
}

/// Every install target of a command line, following `cd DIR` for relative files.
pub fn targets(line: &str, cwd: &Path) -> Vec<Target> {
    let mut dir = cwd.to_path_buf();
    let mut out = Vec::new();
    for words in split_commands(line) {
        if words.first().map(String::as_str) == Some("cd") {
            if let Some(d) = words.get(1) {
                dir = dir.join(d);
            }
            continue;
        }
        out.extend(targets_of(&words, &dir));
    }
    out
}

/// What the hook decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookDecision {
    /// Nothing to object to: the assistant's normal permission flow continues.
    Allow,
    /// Warnings: ask the user, with the reasons.
    Ask(String),
    /// Blocked: the command must not run, with the reasons.
    Deny(String),
}

/// How the hook behaves.
#[derive(Debug, Clone)]
pub struct HookOptions {
    /// Longest time the engine may take for all packages of the command.
    pub timeout: Duration,
    /// On timeout let the command run (with a warning) instead of denying it.
    pub fail_open: bool,
}

fn line(v: &Verdict) -> String {
    let why = v
        .main_finding()
        .map(|f| format!("{} [{}]", f.message, f.code))
        .unwrap_or_default();
    let mut s = format!("{} {}: {why}", v.decision.label(), v.package);
    if let Some(alt) = v.suggestions.first() {
        s.push_str(&format!("; use `{}` instead", alt.name));
    }
    s
}

/// Decides on a hook input: finds the installs, validates them with a deadline.
pub async fn decide(engine: &Engine, input: &HookInput, opts: &HookOptions) -> HookDecision {
    decide_with_verdicts(engine, input, opts).await.0
}

/// [`decide`], with the verdicts behind the decision (empty when nothing was checked or the
/// deadline passed), for the audit log.
pub async fn decide_with_verdicts(
    engine: &Engine,
    input: &HookInput,
    opts: &HookOptions,
) -> (HookDecision, Vec<Verdict>) {
    let Some(cmd) = input.shell_command() else {
        return (HookDecision::Allow, Vec::new());
    };
    let cwd = input
        .cwd
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut pkgs = Vec::new();
    let mut problems = Vec::new();
    for t in targets(cmd, &cwd) {
        match t {
            Target::Package(p) => pkgs.push(p),
            Target::Requirements(path) => {
                match manifest::parse_path(&path, Some(ManifestKind::RequirementsTxt)) {
                    Ok((_, refs)) => pkgs.extend(refs),
                    Err(e) => problems.push(format!(
                        "cannot check requirements file {}: {e}",
                        path.display()
                    )),
                }
            }
        }
    }
    if pkgs.is_empty() && problems.is_empty() {
        return (HookDecision::Allow, Vec::new());
    }
    let verdicts = match tokio::time::timeout(opts.timeout, engine.validate_many(&pkgs)).await {
        Ok(v) => v,
        Err(_) => {
            let msg = format!(
                "sentinel could not check {} package(s) within {:?}",
                pkgs.len(),
                opts.timeout
            );
            let decision = if opts.fail_open {
                tracing::warn!("{msg}; letting the command run (--fail-open)");
                HookDecision::Allow
            } else {
                HookDecision::Deny(format!(
                    "{msg}; the command is denied because unverified installs fail closed (retry, or configure --fail-open)"
                ))
            };
            return (decision, Vec::new());
        }
    };
    let blocked: Vec<String> = verdicts
        .iter()
        .filter(|v| v.decision == Decision::Block)
        .map(line)
        .collect();
    let warned: Vec<String> = verdicts
        .iter()
        .filter(|v| v.decision == Decision::Warn)
        .map(line)
        .collect();
    let decision = if !blocked.is_empty() || !problems.is_empty() {
        let mut all = blocked;
        all.extend(problems);
        HookDecision::Deny(format!(
            "sentinel denied this install:\n{}\ndo not retry with the same package names",
            all.join("\n")
        ))
    } else if !warned.is_empty() {
        HookDecision::Ask(format!(
            "sentinel warns about this install:\n{}",
            warned.join("\n")
        ))
    } else {
        HookDecision::Allow
    };
    (decision, verdicts)
}

/// The answer format the assistant expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HookFormat {
    /// Claude Code `PreToolUse`: `hookSpecificOutput.permissionDecision` (nothing on allow).
    #[default]
    ClaudeCode,
    /// Cursor `beforeShellExecution`: `permission`, `userMessage`, `agentMessage`.
    Cursor,
}

/// The JSON the hook prints; `None` when nothing needs saying (Claude Code, allowed).
pub fn render(decision: &HookDecision, format: HookFormat) -> Option<serde_json::Value> {
    let (d, reason) = match decision {
        HookDecision::Allow => ("allow", ""),
        HookDecision::Ask(r) => ("ask", r.as_str()),
        HookDecision::Deny(r) => ("deny", r.as_str()),
    };
    match format {
        HookFormat::ClaudeCode if d == "allow" => None,
        HookFormat::ClaudeCode => Some(json!({
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": d,
                "permissionDecisionReason": reason,
            }
        })),
        HookFormat::Cursor => Some(json!({
            "permission": d,
            "userMessage": reason,
            "agentMessage": reason,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkgs(line: &str) -> Vec<String> {
        targets(line, Path::new("/w"))
            .into_iter()
            .map(|t| match t {
                Target::Package(p) => p.to_string(),
                Target::Requirements(f) => format!("-r {}", f.display()),
            })
            .collect()
    }

    #[test]
    fn shell_words_respect_quotes_and_operators() {
        assert_eq!(
            split_commands(r#"cd app && pip install "requests==2.0" 'flask' ; echo a\ b"#),
            vec![
                vec!["cd".to_string(), "app".into()],
                vec![
                    "pip".into(),
                    "install".into(),
                    "requests==2.0".into(),
                    "flask".into()
                ],
                vec!["echo".into(), "a b".into()],
            ]
        );
    }

    #[test]
    fn redirections_are_not_packages() {
        assert_eq!(pkgs("pip install six 2>&1 | tee log"), ["pypi:six"]);
        assert_eq!(
            pkgs("npm i is-number >/dev/null 2> err.txt"),
            ["npm:is-number"]
        );
        assert_eq!(pkgs("pip install x>=1"), ["pypi:x"]);
    }

    #[test]
    fn pip_family() {
        assert_eq!(pkgs("pip install requsts"), ["pypi:requsts"]);
        assert_eq!(
            pkgs(
                "sudo -H python3 -m pip install -U --index-url https://x/simple 'Django>=4' numpy==1.26.4 ./local.whl git+https://x/y"
            ),
            ["pypi:Django", "pypi:numpy@1.26.4"]
        );
        assert_eq!(
            pkgs("pip3.11 install -r reqs.txt six"),
            ["-r /w/reqs.txt", "pypi:six"]
        );
        assert_eq!(
            pkgs("cd sub && pip install -rreq.txt"),
            ["-r /w/sub/req.txt"]
        );
        assert_eq!(
            pkgs("uv pip install 'requests[socks]==2.31.0'"),
            ["pypi:requests@2.31.0"]
        );
        assert_eq!(pkgs("uv add httpx"), ["pypi:httpx"]);
        assert_eq!(pkgs("poetry add --group dev pytest"), ["pypi:pytest"]);
        assert_eq!(
            pkgs("PIP_NO_CACHE=1 pip install -e . black"),
            ["pypi:black"]
        );
        assert_eq!(pkgs("uvx ruff check ."), ["pypi:ruff"]);
        assert!(pkgs("pip list && pip show requests && python -m venv x").is_empty());
    }

    #[test]
    fn npm_family() {
        assert_eq!(pkgs("npm i -D lodahs"), ["npm:lodahs"]);
        assert_eq!(
            pkgs("npm install @types/node@20.11.0 react@^18 left-pad@latest ./pkg user/repo"),
            ["npm:@types/node@20.11.0", "npm:react", "npm:left-pad"]
        );
        assert_eq!(
            pkgs("npm install my-alias@npm:express@4.18.2"),
            ["npm:express@4.18.2"]
        );
        assert_eq!(pkgs("pnpm add --filter web zod"), ["npm:zod"]);
        assert_eq!(pkgs("yarn add axios"), ["npm:axios"]);
        assert_eq!(pkgs("npx create-react-ap my-app"), ["npm:create-react-ap"]);
        assert_eq!(pkgs("npx -p typescript tsc"), ["npm:typescript"]);
        assert!(pkgs("npm install").is_empty());
        assert!(pkgs("npm run build | grep install").is_empty());
    }

    #[test]
    fn cargo_and_go() {
        assert_eq!(
            pkgs("cargo add serde --features derive tokio@1.38.0"),
            ["crates.io:serde", "crates.io:tokio@1.38.0"]
        );
        assert_eq!(
            pkgs("cargo install ripgrep --vers 14.1.0"),
            ["crates.io:ripgrep@14.1.0"]
        );
        assert!(pkgs("cargo install --git https://x/y").is_empty());
        assert_eq!(
            pkgs("go get github.com/spf13/cobra@v1.8.0 ./..."),
            ["go:github.com/spf13/cobra@v1.8.0"]
        );
        assert_eq!(
            pkgs("go install golang.org/x/tools/gopls@latest"),
            ["go:golang.org/x/tools/gopls"]
        );
        assert!(pkgs("go build ./... && cargo build").is_empty());
    }

    #[test]
    fn input_shapes() {
        let claude: HookInput = serde_json::from_str(
            r#"{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"pip install x"},"cwd":"/tmp"}"#,
        )
        .unwrap();
        assert_eq!(claude.shell_command(), Some("pip install x"));
        let cursor: HookInput =
            serde_json::from_str(r#"{"command":"npm i y","cwd":"/tmp"}"#).unwrap();
        assert_eq!(cursor.shell_command(), Some("npm i y"));
        let edit: HookInput =
            serde_json::from_str(r#"{"tool_name":"Edit","tool_input":{"file_path":"a"}}"#).unwrap();
        assert_eq!(edit.shell_command(), None);
    }

    #[test]
    fn deny_renders_claude_code_json() {
        let out = render(&HookDecision::Deny("no".into()), HookFormat::ClaudeCode).unwrap();
        assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "deny");
        assert_eq!(out["hookSpecificOutput"]["permissionDecisionReason"], "no");
        assert_eq!(render(&HookDecision::Allow, HookFormat::ClaudeCode), None);
        let cursor = render(&HookDecision::Allow, HookFormat::Cursor).unwrap();
        assert_eq!(cursor["permission"], "allow");
    }
}
