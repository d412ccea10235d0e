//! Command line of babuino (the binary only calls [`main`]).
//!
//! Exit codes of `babuino run`: the program's own exit code when it exits by itself; 121 output
//! cap, 122 process limit, 123 memory limit, 124 timeout, 125 sandbox could not be set up (or
//! backend unavailable), 126/127 program not executable / not found inside the sandbox,
//! 128+N killed by signal N; 120 a package of `--packages` was refused by Sentinel or failed to
//! install (the program did not run); 2 bad input (nothing was run).

use crate::backend::{OutputSink, Stream, backend_for};
use crate::report::{Event, RunReport};
use crate::spec::{self, BackendKind, Interpreter, RunSpec, SYSTEM_BIN_DIRS};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code for bad input (nothing was run).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the sandbox could not be set up.
pub const EXIT_SETUP: u8 = 125;

#[derive(Parser, Debug)]
#[command(
    name = "babuino",
    version,
    about = "Run agent-written code in a sandbox where it can touch nothing it was not given"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a script or executable in a sandbox
    Run(Box<RunArgs>),
    /// Remove what runs of a killed babuino left behind (processes, cgroups, state)
    Cleanup,
    /// Show which isolation features this host offers
    Check,
    /// Prepare a backend once (downloads and builds what it needs; idempotent)
    Setup {
        #[command(subcommand)]
        what: SetupWhat,
    },
    /// List what each backend needs and whether this host has it
    Doctor {
        /// Print the checks as JSON
        #[arg(long)]
        json: bool,
        /// Also re-hash the micro-VM assets against their manifest
        #[arg(long)]
        verify: bool,
    },
}

#[derive(Subcommand, Debug)]
enum SetupWhat {
    /// Build the micro-VM guest assets (kernel, initramfs, root filesystem) into the cache
    Vm {
        /// Asset directory [default: $BABUINO_CACHE/vm or ~/.cache/babuino/vm]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Use this static babuino-guest binary instead of building it from the sources
        #[arg(long, value_name = "FILE")]
        guest: Option<PathBuf>,
        /// Rebuild everything
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args, Debug)]
#[command(
    after_help = "Exit codes: the program's own code when it exits by itself; 2 bad input \
(nothing ran); 120 a package was refused by Sentinel or failed to install (the program did not \
run); 121 output cap; 122 process limit; 123 memory limit; 124 timeout; 125 sandbox \
setup failed or backend unavailable; 126/127 program not executable/not found; 128+N killed by \
signal N."
)]
struct RunArgs {
    /// Allow connections to HOST[:PORT] through the egress proxy (exact name or *.domain;
    /// repeatable or comma-separated; without a port, 80 and 443); @pypi and @npm let pip and
    /// npm install through Sentinel's registry proxy; @crates allows crates.io directly
    #[arg(
        long = "network-allow",
        value_name = "HOST[:PORT]",
        value_delimiter = ','
    )]
    network_allow: Vec<String>,
    /// Install the packages of FILE (requirements.txt-style for pip, or package.json for npm)
    /// through Sentinel in a sandbox of their own, then mount them read-only at /packages
    /// (repeatable)
    #[arg(long, value_name = "FILE")]
    packages: Vec<PathBuf>,
    /// Time the install phase of --packages may take [default: 5m]
    #[arg(long = "install-timeout", value_name = "DURATION")]
    install_timeout: Option<String>,
    /// Allow registry hosts named in --network-allow (pypi.org, files.pythonhosted.org,
    /// registry.npmjs.org) directly, without Sentinel's checks (fails open: reported as degraded)
    #[arg(long = "unchecked-registry")]
    unchecked_registry: bool,
    /// Memory limit of the whole sandbox [default: 512M]
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// CPU share in cores [default: 1]
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    cpus: Option<String>,
    /// Wall-clock timeout; the whole process tree is killed when it passes [default: 30s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    timeout: Option<String>,
    /// Maximum number of processes and threads [default: 256]
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pids: Option<String>,
    /// Cap on stdout plus stderr; the program is killed past it [default: 16M]
    #[arg(long = "output-limit", value_name = "SIZE")]
    output_limit: Option<String>,
    /// Size of the writable /tmp and /out [default: 64M]
    #[arg(long = "tmp-size", value_name = "SIZE")]
    tmp_size: Option<String>,
    /// Pass NAME=VALUE into the sandbox (repeatable); nothing else of your environment is passed
    #[arg(long, value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Copy the sandbox's /out into DIR after the run (regular files and directories only)
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Directory mounted read-only at /code [default: the program's directory]
    #[arg(long = "code-dir", value_name = "DIR")]
    code_dir: Option<PathBuf>,
    /// How to run the program: python3, node, sh, bash or exec [default: by extension or #!]
    #[arg(long, value_name = "NAME")]
    interpreter: Option<String>,
    /// Isolation backend: native, kvm, gvisor, wasm or auto
    #[arg(long = "sandbox", alias = "backend", value_name = "BACKEND")]
    sandbox: Option<String>,
    /// Accelerator of the micro-VM backend: auto (KVM when usable and fast, else TCG), kvm, tcg
    #[arg(long, value_enum, value_name = "ACCEL")]
    accel: Option<crate::vm::AccelChoice>,
    /// Print the run report as JSON on stdout (program output goes to stderr)
    #[arg(long)]
    json: bool,
    /// Give the program babuino's stdin (a pipe or file, not a terminal) instead of /dev/null
    #[arg(long)]
    stdin: bool,
    /// Do not print babuino's own lines (header, events, summary)
    #[arg(long, short)]
    quiet: bool,
    /// Config file [default: $BABUINO_CONFIG or ~/.config/babuino/config.toml if present]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The script or executable (a file), or a command from /usr/bin, then its arguments
    #[arg(
        value_name = "PROGRAM [ARGS]...",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..
    )]
    command: Vec<String>,
}

/// The config file: defaults for `babuino run` flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub memory: Option<String>,
    pub cpus: Option<toml::Value>,
    pub timeout: Option<String>,
    pub pids: Option<u64>,
    pub output_limit: Option<String>,
    pub tmp_size: Option<String>,
    #[serde(default)]
    pub network_allow: Vec<String>,
    pub sandbox: Option<String>,
}

fn load_config(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => std::env::var_os("BABUINO_CONFIG")
            .map(PathBuf::from)
            .or_else(|| {
                let base = std::env::var_os("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config"))
                    })?;
                let p = base.join("babuino/config.toml");
                p.exists().then_some(p)
            }),
    };
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// Builds the run spec from flags and config; every error is bad input.
fn build_spec(a: &RunArgs) -> anyhow::Result<(RunSpec, crate::packages::NetworkRequest)> {
    let cfg = load_config(a.config.as_deref())?;
    let Some((program, rest)) = a.command.split_first() else {
        bail!("no program given (usage: babuino run [OPTIONS] PROGRAM [ARGS]...)");
    };
    let interpreter = a
        .interpreter
        .as_deref()
        .map(Interpreter::parse)
        .transpose()?;
    let p = Path::new(program);
    let is_system = std::fs::canonicalize(p)
        .ok()
        .and_then(|c| c.parent().map(Path::to_path_buf))
        .is_some_and(|parent| {
            SYSTEM_BIN_DIRS
                .iter()
                .chain(["/usr/sbin", "/sbin"].iter())
                .any(|d| parent == Path::new(d))
        });
    let mut spec = if p.is_file() && !is_system {
        RunSpec::for_program(p, interpreter)?
    } else if is_system || (!program.contains('/') && !p.exists()) {
        let canon = std::fs::canonicalize(p).ok();
        match canon {
            Some(c) if is_system => RunSpec::for_command(&c.to_string_lossy())?,
            _ => RunSpec::for_command(program)
                .map_err(|_| spec::SpecError::MissingProgram(PathBuf::from(program)))?,
        }
    } else {
        RunSpec::for_program(p, interpreter)?
    };
    let mut args = rest.to_vec();
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    spec.args = args;
    if let Some(dir) = &a.code_dir {
        let d = std::fs::canonicalize(dir).map_err(|_| spec::SpecError::BadCodeDir(dir.clone()))?;
        if !spec.program.starts_with(&d) && spec.interpreter != Interpreter::Exec {
            bail!(
                "program {} is not inside --code-dir {}",
                spec.program.display(),
                d.display()
            );
        }
        spec.code_dir = Some(d);
    } else {
        spec.check_code_dir()?;
    }
    let l = &mut spec.limits;
    if let Some(v) = a.memory.as_ref().or(cfg.memory.as_ref()) {
        l.memory_bytes = spec::parse_size(v)?;
    }
    let cfg_cpus = cfg.cpus.as_ref().map(|v| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    if let Some(v) = a.cpus.as_ref().or(cfg_cpus.as_ref()) {
        l.cpus = spec::parse_cpus(v)?;
    }
    if let Some(v) = a.timeout.as_ref().or(cfg.timeout.as_ref()) {
        l.timeout = spec::parse_duration(v)?;
    }
    let cfg_pids = cfg.pids.map(|p| p.to_string());
    if let Some(v) = a.pids.as_ref().or(cfg_pids.as_ref()) {
        l.pids = spec::parse_pids(v)?;
    }
    if let Some(v) = a.output_limit.as_ref().or(cfg.output_limit.as_ref()) {
        l.output_bytes = spec::parse_size(v)?;
    }
    if let Some(v) = a.tmp_size.as_ref().or(cfg.tmp_size.as_ref()) {
        l.tmp_bytes = spec::parse_size(v)?;
    }
    if l.memory_bytes < (8 << 20) {
        bail!("--memory must be at least 8M (a smaller sandbox cannot start an interpreter)");
    }
    let allow = if a.network_allow.is_empty() {
        &cfg.network_allow
    } else {
        &a.network_allow
    };
    let net = crate::packages::apply_allow_list(&mut spec, allow, a.unchecked_registry)?;
    for e in &a.env {
        let (k, v) = spec::parse_env(e)?;
        spec.env.insert(k, v);
    }
    spec.output_dir = a.output.clone();
    if a.stdin {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            bail!("--stdin needs a pipe or a file: a terminal would give the sandbox your tty");
        }
        spec.stdin = true;
    }
    if let Some(out) = &spec.output_dir
        && out.exists()
        && !out.is_dir()
    {
        bail!("--output {} exists and is not a directory", out.display());
    }
    spec.backend = match a.sandbox.as_ref().or(cfg.sandbox.as_ref()) {
        Some(s) => s.parse::<BackendKind>()?,
        None => BackendKind::Auto,
    };
    Ok((spec, net))
}

/// Prints the program's output with `[name]` prefixes and babuino's events as `[babuino]` lines.
struct TermSink {
    name: String,
    json: bool,
    quiet: bool,
    partial: [Vec<u8>; 2],
}

impl TermSink {
    fn write_line(&self, stream: Stream, line: &[u8]) {
        let mut buf = Vec::with_capacity(line.len() + self.name.len() + 4);
        buf.extend_from_slice(format!("[{}] ", self.name).as_bytes());
        buf.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            buf.push(b'\n');
        }
        let _ = if stream == Stream::Stdout && !self.json {
            std::io::stdout().lock().write_all(&buf)
        } else {
            std::io::stderr().lock().write_all(&buf)
        };
    }
    fn flush(&mut self) {
        for (i, s) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            let rest = std::mem::take(&mut self.partial[i]);
            if !rest.is_empty() {
                self.write_line(s, &rest);
            }
        }
        let _ = std::io::stdout().flush();
    }
}

impl OutputSink for TermSink {
    fn output(&mut self, stream: Stream, data: &[u8]) {
        let i = if stream == Stream::Stdout { 0 } else { 1 };
        let mut buf = std::mem::take(&mut self.partial[i]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            self.write_line(stream, &buf[start..start + pos + 1]);
            start += pos + 1;
        }
        // Keep long unterminated output from growing without bound.
        if buf.len() - start > 64 << 10 {
            self.write_line(stream, &buf[start..]);
            start = buf.len();
        }
        self.partial[i] = buf[start..].to_vec();
    }
    fn event(&mut self, event: &Event) {
        if !self.quiet {
            eprintln!("[babuino] {}: {}", event.kind.label(), event.detail);
        }
    }
}

fn human_size(b: u64) -> String {
    if b >= 1 << 30 && b.is_multiple_of(1 << 30) {
        format!("{} GiB", b >> 30)
    } else if b >= 1 << 20 {
        format!("{} MiB", b >> 20)
    } else {
        format!("{} KiB", b >> 10)
    }
}

fn header(spec: &RunSpec, backend: BackendKind) -> String {
    let fs = if spec.code_dir.is_some() {
        "code read-only"
    } else {
        "system read-only"
    };
    let net = if spec.network.is_blocked() {
        "blocked".to_string()
    } else {
        let mut hosts: Vec<String> = spec.network.allow.iter().map(|h| h.to_string()).collect();
        if let Some(r) = &spec.network.registry {
            let ecos: Vec<&str> = r.ecosystems.iter().map(|e| e.as_str()).collect();
            hosts.push(format!("{} through sentinel", ecos.join("/")));
        }
        format!("only {}", hosts.join(", "))
    };
    let l = &spec.limits;
    let cpus = if l.cpus == 1.0 {
        "1 CPU".to_string()
    } else {
        format!("{} CPUs", l.cpus)
    };
    format!(
        "[babuino] backend: {backend} · filesystem: {fs} · network: {net} · limits: {}, {cpus}, {} s",
        human_size(l.memory_bytes),
        l.timeout.as_secs_f64()
    )
}

fn run(a: RunArgs) -> ExitCode {
    let (mut spec, net) = match build_spec(&a) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("babuino: {e:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut packages = match crate::packages::Session::new(
        &a.packages,
        a.install_timeout.as_deref(),
        net,
        &spec,
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("babuino: {e:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let chosen = match (spec.backend, a.accel) {
        (BackendKind::Kvm, Some(accel)) => crate::vm::VmBackend::from_env().and_then(|mut b| {
            use crate::backend::Backend;
            b.accel = accel;
            b.available()
                .map_err(|why| crate::backend::BackendError::Unavailable(BackendKind::Kvm, why))?;
            Ok(Box::new(b) as Box<dyn crate::backend::Backend>)
        }),
        _ => backend_for(spec.backend),
    };
    let backend = match chosen {
        Ok(b) => b,
        Err(e) => {
            eprintln!("babuino: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    // Sentinel's proxy starts threads: signals must be blocked before (see the handler).
    crate::backend::install_interrupt_handler();
    if let Err(e) = packages.start(&mut spec) {
        eprintln!("babuino: {e}");
        return ExitCode::from(if e.is_usage() { EXIT_USAGE } else { EXIT_SETUP });
    }
    if !a.quiet && !a.json {
        eprintln!("{}", header(&spec, backend.kind()));
    }
    let quiet = a.quiet || a.json;
    let mut sink = TermSink {
        name: spec.display_name(),
        json: a.json,
        quiet,
        partial: [Vec::new(), Vec::new()],
    };
    let mut install_sink = TermSink {
        name: "install".into(),
        json: a.json,
        quiet,
        partial: [Vec::new(), Vec::new()],
    };
    let prepared = packages.prepare(
        &*backend,
        &mut spec,
        &mut sink,
        &mut install_sink,
        &mut |line| {
            if !quiet {
                eprintln!("[babuino] {line}");
            }
        },
    );
    install_sink.flush();
    match prepared {
        Ok(None) => {}
        Ok(Some(refused)) => return finish(&a, &mut sink, &refused),
        Err(e) => {
            eprintln!("babuino: {e}");
            return ExitCode::from(if e.is_usage() { EXIT_USAGE } else { EXIT_SETUP });
        }
    }
    let mut report: RunReport = match backend.run(&spec, &mut sink) {
        Ok(r) => r,
        Err(e) => {
            sink.flush();
            eprintln!("babuino: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    sink.flush();
    packages.complete(&mut report, &mut sink);
    finish(&a, &mut sink, &report)
}

/// Prints the report (JSON or the human summary line) and returns babuino's exit code.
fn finish(a: &RunArgs, sink: &mut TermSink, report: &RunReport) -> ExitCode {
    sink.flush();
    if a.json {
        match serde_json::to_string_pretty(report) {
            Ok(j) => println!("{j}"),
            Err(e) => eprintln!("babuino: cannot encode the report: {e}"),
        }
    } else if !a.quiet {
        let ran = !matches!(report.exit, crate::report::Exit::PackagesRefused(_));
        eprintln!(
            "[babuino] {} after {:.2} s{}",
            report.exit.describe(),
            report.timings.total_ms / 1000.0,
            if ran { " · sandbox destroyed" } else { "" }
        );
    }
    ExitCode::from(report.exit_code)
}

fn check() -> ExitCode {
    use crate::backend::Backend;
    let native = crate::native::NativeBackend::default();
    println!(
        "native backend: {}",
        match native.available() {
            Ok(()) => "available".to_string(),
            Err(why) => format!("unavailable ({why})"),
        }
    );
    println!(
        "landlock: {}",
        match crate::native::landlock_abi() {
            Ok(v) => format!("ABI {v}"),
            Err(e) if e == libc::EOPNOTSUPP => "built in but disabled (best effort)".to_string(),
            Err(_) => "not in this kernel (best effort)".to_string(),
        }
    );
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    println!("cgroups: {}", if v2 { "v2" } else { "v1 (or hybrid)" });
    println!("runtime dir: {}", crate::native::runtime_dir().display());
    ExitCode::SUCCESS
}

/// Parses arguments and runs the command; returns the documented exit code.
pub fn main() -> ExitCode {
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() == Some(std::ffi::OsStr::new(crate::native::init::INIT_ARG)) {
        crate::native::init::main();
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Cmd::Run(a) => run(*a),
        Cmd::Cleanup => {
            let dir = crate::native::runtime_dir();
            let reaped = crate::native::reap_leftovers(&dir);
            eprintln!(
                "babuino: removed {} leftover run(s) from {}",
                reaped.len(),
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Cmd::Check => check(),
        Cmd::Setup {
            what: SetupWhat::Vm { dir, guest, force },
        } => setup_vm(dir, guest, force),
        Cmd::Doctor { json, verify } => doctor(json, verify),
    }
}

fn setup_vm(dir: Option<PathBuf>, guest: Option<PathBuf>, force: bool) -> ExitCode {
    let dir = dir.unwrap_or_else(crate::vm::assets::default_dir);
    let opts = crate::vm::assets::SetupOptions {
        dir: dir.clone(),
        guest,
        force,
    };
    let res = crate::vm::assets::setup(&opts, &mut |line| eprintln!("[babuino] setup vm {line}"))
        .with_context(|| format!("building micro-VM assets in {}", dir.display()));
    match res {
        Ok(assets) => {
            for (name, f) in &assets.manifest.files {
                eprintln!("[babuino]   {name}: {} bytes, sha256 {}", f.size, f.sha256);
            }
            eprintln!("[babuino] setup vm: ready in {}", assets.dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("babuino: {e:#}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

/// `babuino doctor`: per backend, what it needs and whether this host has it. Exit 0 when every
/// check of every backend passes, 1 otherwise (the report says which and how to fix it).
fn doctor(json: bool, verify: bool) -> ExitCode {
    use crate::backend::Backend;
    let native = crate::native::NativeBackend::default();
    let native_check = crate::vm::doctor::Check {
        name: "kernel features".into(),
        ok: native.available().is_ok(),
        detail: match native.available() {
            Ok(()) => "namespaces, seccomp, Landlock and cgroups usable".into(),
            Err(why) => why,
        },
        fix: None,
    };
    let vm = crate::vm::doctor::checks(&crate::vm::assets::default_dir(), verify);
    let all_ok = native_check.ok && vm.iter().all(|c| c.ok);
    if json {
        let v = serde_json::json!({
            "ok": all_ok,
            "backends": { "native": [native_check], "kvm": vm },
        });
        match serde_json::to_string_pretty(&v) {
            Ok(j) => println!("{j}"),
            Err(e) => eprintln!("babuino: {e}"),
        }
    } else {
        let show = |title: &str, checks: &[crate::vm::doctor::Check]| {
            println!("{title}");
            for c in checks {
                println!(
                    "  [{}] {}: {}",
                    if c.ok { "ok" } else { "missing" },
                    c.name,
                    c.detail
                );
                if let Some(fix) = &c.fix {
                    println!("        -> {fix}");
                }
            }
        };
        show(
            "backend native (namespaces, seccomp, Landlock, cgroups):",
            &[native_check],
        );
        show("backend kvm (QEMU micro-VM, own guest kernel):", &vm);
    }
    ExitCode::from(if all_ok { 0 } else { 1 })
}
