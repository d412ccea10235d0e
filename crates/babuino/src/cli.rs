//! Command line of babuino (the binary only calls [`main`]).
//!
//! Exit codes of `babuino run`: the program's own exit code; 128+N when it was killed by signal
//! N; 124 when the time limit ended it; 137 when the memory limit did; 125 when the output limit
//! did; 2 for bad usage; 70 when babuino itself failed (assets missing, QEMU absent, boot stall).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::vm::{self, AccelChoice, VmExit};

/// Exit code when the time limit ended the run.
pub const EXIT_TIMEOUT: u8 = 124;
/// Exit code when the output limit ended the run.
pub const EXIT_OUTPUT_LIMIT: u8 = 125;
/// Exit code when the memory limit ended the run.
pub const EXIT_MEMORY: u8 = 137;
/// Exit code when babuino itself failed.
pub const EXIT_INTERNAL: u8 = 70;

#[derive(Debug, Parser)]
#[command(
    name = "babuino",
    version,
    about = "run agent-written code where it can touch nothing it was not given"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Prepare a backend once (downloads and builds its assets).
    Setup {
        #[command(subcommand)]
        what: SetupWhat,
    },
    /// Run a program in a sandbox.
    Run(RunArgs),
    /// List what each backend needs and whether this host has it.
    Doctor {
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
        /// Also re-hash the micro-VM assets against their manifest.
        #[arg(long)]
        verify: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SetupWhat {
    /// Build the micro-VM guest assets (kernel, initramfs, root filesystem) into the cache.
    Vm {
        /// Asset directory (default: $BABUINO_CACHE/vm or ~/.cache/babuino/vm).
        #[arg(long, env = "BABUINO_VM_DIR")]
        dir: Option<PathBuf>,
        /// Use this static babuino-guest binary instead of building it from the sources.
        #[arg(long)]
        guest: Option<PathBuf>,
        /// Rebuild everything.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Sandbox {
    /// QEMU micro-VM with its own kernel (KVM when fast, else TCG).
    Kvm,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Backend.
    #[arg(long, value_enum, default_value = "kvm")]
    sandbox: Sandbox,
    /// Accelerator of the micro-VM.
    #[arg(long, value_enum, default_value = "auto")]
    accel: AccelChoice,
    /// Directory the program sees read-only as its working directory (default: the script's
    /// directory when the program is a script file, else nothing).
    #[arg(long)]
    code: Option<PathBuf>,
    /// Copy what the program writes under /tmp/output into this host directory.
    #[arg(long)]
    output: Option<PathBuf>,
    /// RAM of the sandbox, in MiB.
    #[arg(long, default_value_t = 512)]
    memory_mib: u64,
    /// Virtual CPUs.
    #[arg(long, default_value_t = 1)]
    cpus: u32,
    /// Time limit of the program in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Longest boot before the run fails (seconds).
    #[arg(long, default_value_t = 90)]
    boot_timeout: u64,
    /// Most bytes of stdout + stderr.
    #[arg(long, default_value_t = 16 << 20)]
    max_output: u64,
    /// Hosts the program may reach through the egress proxy (not yet supported by the VM
    /// backend: it refuses to run rather than run open).
    #[arg(long = "allow")]
    allow: Vec<String>,
    /// Environment variable for the program (NAME=VALUE); nothing else is passed.
    #[arg(long = "env")]
    env: Vec<String>,
    /// Asset directory of the micro-VM.
    #[arg(long, env = "BABUINO_VM_DIR")]
    vm_dir: Option<PathBuf>,
    /// Print the run report as JSON on stdout (the program's output then goes to stderr).
    #[arg(long)]
    json: bool,
    /// Program (a script file is run with its interpreter) and arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Parses arguments and runs the command; returns the documented exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("babuino: error: {e:#}");
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Setup {
            what: SetupWhat::Vm { dir, guest, force },
        } => {
            let dir = dir.unwrap_or_else(vm::assets::default_dir);
            let opts = vm::assets::SetupOptions {
                dir: dir.clone(),
                guest,
                force,
            };
            let assets =
                vm::assets::setup(&opts, &mut |line| eprintln!("[babuino] setup vm {line}"))
                    .with_context(|| format!("building micro-VM assets in {}", dir.display()))?;
            for (name, f) in &assets.manifest.files {
                eprintln!("[babuino]   {name}: {} bytes, sha256 {}", f.size, f.sha256);
            }
            eprintln!("[babuino] setup vm: ready in {}", assets.dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Doctor { json, verify } => {
            let checks = vm::doctor::checks(&vm::assets::default_dir(), verify);
            if json {
                let v = serde_json::json!({ "backends": { "kvm": checks } });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("backend kvm (QEMU micro-VM):");
                for c in &checks {
                    println!(
                        "  [{}] {}: {}",
                        if c.ok { "ok" } else { "missing" },
                        c.name,
                        c.detail
                    );
                    if let Some(fix) = &c.fix {
                        println!("        {fix}");
                    }
                }
            }
            let ok = checks.iter().all(|c| c.ok);
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Run(args) => run(args),
    }
}

/// The argv and code directory of `babuino run PROGRAM ARGS…`: a script file is run by its
/// interpreter from its own directory.
fn resolve_command(
    command: &[String],
    code: Option<&Path>,
) -> anyhow::Result<(Vec<String>, Option<PathBuf>)> {
    let Some(first) = command.first() else {
        bail!("nothing to run: give a program or a script")
    };
    let p = Path::new(first);
    let interpreter = match p.extension().and_then(|e| e.to_str()) {
        Some("py") => Some("python3"),
        Some("sh") => Some("sh"),
        _ => None,
    };
    if let Some(interp) = interpreter
        && p.is_file()
    {
        let abs = std::fs::canonicalize(p).with_context(|| format!("resolving {first}"))?;
        let dir = abs.parent().map(Path::to_path_buf);
        let code_dir = code.map(Path::to_path_buf).or(dir.clone());
        let in_guest = match (&code_dir, &dir) {
            (Some(c), Some(d)) if std::fs::canonicalize(c).ok().as_deref() == Some(d.as_path()) => {
                abs.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }
            _ => bail!("{first} is outside the code directory; put it in --code or drop --code"),
        };
        let mut argv = vec![interp.to_string(), in_guest];
        argv.extend(command[1..].iter().cloned());
        return Ok((argv, code_dir));
    }
    Ok((command.to_vec(), code.map(Path::to_path_buf)))
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let Sandbox::Kvm = args.sandbox;
    if !args.allow.is_empty() {
        bail!(
            "the micro-VM backend does not support --allow yet; nothing was run (network stays blocked \
             rather than open): drop --allow or use another backend"
        );
    }
    let (argv, code_dir) = resolve_command(&args.command, args.code.as_deref())?;
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), "/tmp".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
    ];
    for kv in &args.env {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--env {kv}: expected NAME=VALUE")
        };
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
    if args.memory_mib < 96 {
        bail!(
            "--memory-mib {}: the micro-VM needs at least 96 MiB",
            args.memory_mib
        );
    }
    if args.cpus == 0 {
        bail!("--cpus must be at least 1");
    }
    let dir = args.vm_dir.clone().unwrap_or_else(vm::assets::default_dir);
    let assets = vm::assets::load(&dir)?;
    let (accel, accel_reason) = vm::qemu::choose_accel(args.accel);
    let cfg = vm::VmConfig {
        assets,
        accel,
        accel_reason,
        memory_mib: args.memory_mib,
        vcpus: args.cpus,
        timeout: Duration::from_secs(args.timeout),
        boot_timeout: Duration::from_secs(args.boot_timeout),
        output_limit: args.max_output,
        output_dir: args.output.clone(),
        output_files_limit: 256 << 20,
    };
    let label = args
        .command
        .first()
        .map(|c| c.rsplit('/').next().unwrap_or(c).to_string())
        .unwrap_or_default();
    if !args.json {
        eprintln!(
            "[babuino] starting micro-VM (qemu microvm, accel={}) · {} MiB · {} vCPU",
            accel.name(),
            args.memory_mib,
            args.cpus
        );
        eprintln!(
            "[babuino] filesystem: code read-only · network: blocked (no NIC) · limits: {} MiB RAM, {} s",
            args.memory_mib, args.timeout
        );
    }
    let job = vm::VmJob {
        argv,
        env,
        code_dir,
    };
    let json = args.json;
    let mut sink = |s: vm::run::Stream, b: &[u8]| {
        let _ = match (s, json) {
            (vm::run::Stream::Stdout, false) => std::io::stdout()
                .write_all(b)
                .and_then(|_| std::io::stdout().flush()),
            _ => std::io::stderr().write_all(b),
        };
    };
    let report = vm::run::run(&cfg, &job, &mut sink).context("micro-VM run failed")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for d in &report.denials {
            eprintln!("[babuino] denied ({}): {}", d.kind, d.detail);
        }
        for s in &report.skipped_outputs {
            eprintln!("[babuino] output {} not copied: {}", s.kind, s.detail);
        }
        if let Some(o) = &args.output {
            eprintln!(
                "[babuino] {} output file(s) copied to {}",
                report.output_files.len(),
                o.display()
            );
        }
        let how = match report.exit {
            VmExit::Code { code } => format!("exit code {code}"),
            VmExit::Signal { signal } => format!("killed by signal {signal}"),
            VmExit::Memory => format!("stopped: memory limit ({} MiB) reached", report.memory_mib),
            VmExit::Timeout => format!("stopped: time limit ({} s) reached", args.timeout),
            VmExit::OutputLimit => {
                format!("stopped: output limit ({} bytes) reached", args.max_output)
            }
        };
        eprintln!(
            "[babuino] [{label}] {how} · execution complete in {:.1} s (boot {:.1} s, accel {}) · VM destroyed",
            report.total_ms as f64 / 1000.0,
            report.boot_ms as f64 / 1000.0,
            report.accel.name()
        );
    }
    Ok(match report.exit {
        VmExit::Code { code } => ExitCode::from((code & 0xff) as u8),
        VmExit::Signal { signal } => ExitCode::from((128 + signal).clamp(0, 255) as u8),
        VmExit::Memory => ExitCode::from(EXIT_MEMORY),
        VmExit::Timeout => ExitCode::from(EXIT_TIMEOUT),
        VmExit::OutputLimit => ExitCode::from(EXIT_OUTPUT_LIMIT),
    })
}
