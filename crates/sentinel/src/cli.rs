//! Command line of sentinel (the binary only calls [`main`]).
//!
//! Exit codes: 0 everything allowed, 1 something warned (policy `warn-exit-code`), 2 something
//! blocked, 3 usage error, 4 I/O, configuration or internal error (a missing `--audit` log too),
//! 5 the verdicts were printed but could not be recorded in the `--audit` log.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::corpus::Corpora;
use crate::ecosystem::{Ecosystem, PackageRef};
use crate::engine::Engine;
use crate::manifest::{self, ManifestKind};
use crate::policy::Policy;
use crate::report::{self, Format};
use crate::verdict::{Decision, Verdict};

mod frontends;

/// Exit code: everything allowed.
pub const EXIT_ALLOW: u8 = 0;
/// Exit code: something warned (default; policy `warn-exit-code` may change it).
pub const EXIT_WARN: u8 = 1;
/// Exit code: something blocked.
pub const EXIT_BLOCK: u8 = 2;
/// Exit code: usage error (bad flags or arguments).
pub const EXIT_USAGE: u8 = 3;
/// Exit code: I/O, configuration or internal error.
pub const EXIT_ERROR: u8 = 4;
/// Exit code: the verdicts were printed but could not be recorded in the `--audit` log.
pub const EXIT_AUDIT: u8 = 5;

/// Sentinel: dependency firewall. Is this package real, the one meant, and safe?
#[derive(Debug, Parser)]
#[command(name = "sentinel", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 all allowed, 1 something warned, 2 something blocked, 3 usage error, 4 I/O or configuration error (also: no log at --audit DIR), 5 verdicts printed but not recorded in the --audit log."
)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Policy file (default: sentinel.toml found upward from the working directory).
    #[arg(long, global = true, env = "SENTINEL_POLICY", value_name = "PATH")]
    pub policy: Option<PathBuf>,
    /// Answer from the cache and corpora only; never touch the network.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Cache directory (default: $SENTINEL_CACHE_DIR, else ~/.cache/sentinel).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// When a registry cannot be reached, warn instead of blocking.
    #[arg(long, global = true)]
    pub fail_open: bool,
    /// Directory of corpus files ({pypi,npm,crates,go}.tsv) replacing the embedded ones.
    #[arg(long, global = true, value_name = "DIR")]
    pub corpus_dir: Option<PathBuf>,
    /// Show information-only findings and facts too.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Record blocks and warnings of check, scan, proxy, mcp and hook in this Cutufato log
    /// (made by `cutufato init --dir DIR`). Fails closed: an answer that cannot be recorded is
    /// not acted on (exit 5, proxy 503, MCP tool error, hook deny). See docs/sentinel-audit.md.
    #[arg(long, global = true, env = "SENTINEL_AUDIT", value_name = "DIR")]
    pub audit: Option<PathBuf>,
    /// With --audit: record allowed verdicts too.
    #[arg(long, global = true)]
    pub audit_all: bool,
    /// With --audit: the agent session the records belong to.
    #[arg(long, global = true, env = "TRIAD_SESSION", value_name = "ID")]
    pub audit_session: Option<String>,
}

/// Sentinel's commands. Other modules add variants here (`db`, `mcp`, `proxy`, `hook`).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check packages by name: `sentinel check pypi requests==2.31.0 flask`.
    Check(CheckArgs),
    /// Check every dependency of manifests and lockfiles.
    Scan(ScanArgs),
    /// Popular-name corpora: show what is loaded, or rebuild from registries.
    #[command(subcommand)]
    Corpus(CorpusCommand),
    /// Typosquat evaluation: recall on squats and false positives on popular names.
    Eval(EvalArgs),
    /// Policy file helpers.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// OSV advisory mirror: `db import`, `db update`, `db status`.
    #[command(subcommand)]
    Db(crate::advisory::command::DbCommand),
    /// Serve the MCP tools to AI assistants (stdio, or streamable HTTP with --http).
    Mcp(frontends::McpArgs),
    /// Registry proxy for pip and npm that refuses what Sentinel blocks.
    Proxy(frontends::ProxyArgs),
    /// Pre-tool-use hook for coding assistants: denies installs of blocked packages.
    Hook(frontends::HookArgs),
}

/// `sentinel check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Ecosystem: pypi, npm, crates.io (crates, cargo) or go.
    pub ecosystem: String,
    /// Packages: `name`, `name@version`, `@scope/name@version`, PyPI `name==version`.
    #[arg(required = true)]
    pub packages: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `sentinel scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Manifest or lockfile paths.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Manifest kind when the file name does not tell (e.g. requirements.txt, package-lock.json).
    #[arg(long)]
    pub kind: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `sentinel corpus …`.
#[derive(Debug, Subcommand)]
pub enum CorpusCommand {
    /// Show the corpora in use: size, source, top names.
    Info,
    /// Rebuild a corpus file from what the registries expose (see docs/sentinel-corpus.md).
    Update(CorpusUpdateArgs),
}

/// `sentinel corpus update`.
#[derive(Debug, Args)]
pub struct CorpusUpdateArgs {
    /// Ecosystem to rebuild: pypi, npm, crates.io or go.
    pub ecosystem: String,
    /// Ranking source (URL or path). PyPI: a `top-pypi-packages` JSON (default: the public one);
    /// crates.io: the db dump's `crates.csv` (required); Go: a module list (required); npm: not used.
    #[arg(long)]
    pub source: Option<String>,
    /// crates.io: the db dump's `crate_downloads.csv`, for dumps that keep counts there.
    #[arg(long)]
    pub downloads_csv: Option<String>,
    /// npm downloads API base URL.
    #[arg(long, default_value = crate::corpus_update::NPM_DOWNLOADS_API, env = "SENTINEL_NPM_DOWNLOADS_URL")]
    pub npm_api: String,
    /// npm: names to rank (a corpus TSV); default: the corpus in use.
    #[arg(long, value_name = "PATH")]
    pub names: Option<PathBuf>,
    /// Keep at most this many names (default: 15,000 PyPI, 50,000 npm, 5,000 crates.io, all Go).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output file (written only when the refresh succeeded).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

/// `sentinel eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Only this ecosystem.
    #[arg(long)]
    pub ecosystem: Option<String>,
    /// Labelled incident list (TSV: ecosystem, name, target, source); default: the built-in one.
    #[arg(long, value_name = "PATH")]
    pub incidents: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Registry facts (TSV: ecosystem, name, first_release, versions, source, recorded) applied
    /// to the PyPI and crates.io leave-one-out false positives; default: the built-in ones.
    #[arg(long, value_name = "PATH")]
    pub facts: Option<PathBuf>,
    /// Network: look up the facts of every PyPI and crates.io leave-one-out false positive in
    /// the live registries and write them to PATH (then evaluate with them).
    #[arg(long, value_name = "PATH")]
    pub record_facts: Option<PathBuf>,
}

/// `sentinel policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write a commented sentinel.toml into the current directory (refuses to overwrite).
    Init,
    /// Print the commented example policy.
    Example,
    /// Load the policy in force and print where it came from.
    Show,
}

/// Parses arguments and runs the command; returns the documented exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_ALLOW
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(cli.global.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = if e.downcast_ref::<UsageError>().is_some() {
                EXIT_USAGE
            } else {
                EXIT_ERROR
            };
            eprintln!("sentinel: error: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn init_tracing(verbose: bool) {
    let filter = std::env::var("SENTINEL_LOG").ok().unwrap_or_else(|| {
        if verbose {
            "sentinel=info"
        } else {
            "sentinel=error"
        }
        .into()
    });
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .without_time()
        .try_init();
}

/// A usage error (exit code 3) rather than an I/O or configuration error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Loads the policy: `--policy`, else sentinel.toml upward from the working directory, else
/// defaults; then applies the global flags.
pub fn load_policy(g: &GlobalArgs) -> Result<(Policy, Option<PathBuf>)> {
    crate::embed::load_policy(&engine_options(g))
        .context("loading the policy (fix the file or pass --policy)")
}

fn engine_options(g: &GlobalArgs) -> crate::embed::EngineOptions {
    crate::embed::EngineOptions {
        policy: g.policy.clone(),
        offline: g.offline,
        cache_dir: g.cache_dir.clone(),
        no_cache: g.no_cache,
        fail_open: g.fail_open,
        corpus_dir: g.corpus_dir.clone(),
    }
}

fn build_engine(g: &GlobalArgs) -> Result<Engine> {
    // One constructor for the CLI and embedders (Babuino): same policy, env and corpora.
    Ok(crate::embed::build_engine(&engine_options(g))?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn exit_for(verdicts: &[Verdict], policy: &Policy) -> u8 {
    match report::overall(verdicts) {
        Decision::Allow => EXIT_ALLOW,
        Decision::Warn => policy.warn_exit(),
        Decision::Block => EXIT_BLOCK,
    }
}

fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())
        .and_then(|()| out.flush())
        .or_else(|e| {
            // A closed pipe (`| head`) is not an error worth reporting.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                Ok(())
            } else {
                Err(e)
            }
        })
        .context("writing to stdout")
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let g = cli.global;
    match cli.command {
        Command::Mcp(a) => frontends::mcp(a, &g),
        Command::Proxy(a) => frontends::proxy(a, &g),
        Command::Hook(a) => frontends::hook(a, &g),
        Command::Check(a) => {
            let eco: Ecosystem = a
                .ecosystem
                .parse()
                .map_err(|e: crate::ecosystem::UnknownEcosystem| UsageError(e.to_string()))?;
            let pkgs: Vec<PackageRef> = a
                .packages
                .iter()
                .map(|s| PackageRef::parse(eco, s))
                .collect();
            let audit = frontends::open_audit(&g)?;
            let engine = build_engine(&g)?;
            let verdicts = runtime()?.block_on(engine.validate_many(&pkgs));
            print(&report::render(&verdicts, a.format, None, g.verbose))?;
            let ctx = crate::audit::AuditContext::new(crate::audit::Frontend::Check);
            let items: Vec<_> = verdicts.iter().map(|v| (v, &ctx)).collect();
            Ok(frontends::record(
                audit.as_deref(),
                &items,
                exit_for(&verdicts, engine.policy()),
            ))
        }
        Command::Scan(a) => {
            let kind = match &a.kind {
                Some(k) => Some(k.parse::<ManifestKind>().map_err(UsageError)?),
                None => None,
            };
            let audit = frontends::open_audit(&g)?;
            let mut pkgs = Vec::new();
            let mut origins: Vec<String> = Vec::new();
            for f in &a.files {
                let (k, mut p) = manifest::parse_path(f, kind)
                    .with_context(|| format!("reading manifest {}", f.display()))?;
                tracing::info!("{}: {} packages ({k})", f.display(), p.len());
                origins.extend(std::iter::repeat_n(f.display().to_string(), p.len()));
                pkgs.append(&mut p);
            }
            let engine = build_engine(&g)?;
            let rt = runtime()?;
            let verdicts = if pkgs.len() > 20
                && a.format == Format::Text
                && std::io::IsTerminal::is_terminal(&std::io::stderr())
            {
                let bar = indicatif::ProgressBar::new(pkgs.len() as u64);
                let v = rt.block_on(async {
                    // One batched OSV query for the whole manifest first.
                    engine.prefetch_advisories(&pkgs).await;
                    use futures::StreamExt;
                    let n = engine.policy().network.concurrency.max(1);
                    futures::stream::iter(pkgs.iter())
                        .map(|p| {
                            let e = engine.clone();
                            let bar = bar.clone();
                            async move {
                                let v = e.validate(p).await;
                                bar.inc(1);
                                v
                            }
                        })
                        .buffered(n)
                        .collect::<Vec<_>>()
                        .await
                });
                bar.finish_and_clear();
                v
            } else {
                rt.block_on(engine.validate_many(&pkgs))
            };
            if a.format == Format::Sarif {
                let locations: Vec<Option<&str>> =
                    origins.iter().map(|o| Some(o.as_str())).collect();
                let doc = report::sarif_value_at(&verdicts, &locations);
                print(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
            } else {
                print(&report::render(&verdicts, a.format, None, g.verbose))?;
            }
            let contexts: Vec<_> = origins
                .iter()
                .map(|o| crate::audit::AuditContext::manifest(crate::audit::Frontend::Scan, o))
                .collect();
            let items: Vec<_> = verdicts.iter().zip(&contexts).collect();
            Ok(frontends::record(
                audit.as_deref(),
                &items,
                exit_for(&verdicts, engine.policy()),
            ))
        }
        Command::Corpus(CorpusCommand::Info) => {
            let (policy, _) = load_policy(&g)?;
            let corpora = match &g.corpus_dir {
                Some(d) => Corpora::from_dir(d),
                None => Corpora::new(
                    policy
                        .corpus
                        .iter()
                        .filter_map(|(k, p)| Some((k.parse::<Ecosystem>().ok()?, p.clone())))
                        .collect(),
                ),
            };
            let mut out = String::new();
            for eco in Ecosystem::ALL {
                match corpora.get(eco) {
                    Ok(c) => out.push_str(&format!(
                        "{:<10} {:>6} names  source {}  top: {}\n",
                        eco.as_str(),
                        c.len(),
                        c.source,
                        c.names
                            .iter()
                            .take(5)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    Err(e) => out.push_str(&format!("{:<10} error: {e}\n", eco.as_str())),
                }
            }
            print(&out)?;
            Ok(EXIT_ALLOW)
        }
        Command::Corpus(CorpusCommand::Update(a)) => {
            corpus_update(&a, &g)?;
            Ok(EXIT_ALLOW)
        }
        Command::Eval(a) => {
            let only = match &a.ecosystem {
                Some(e) => Some(
                    e.parse::<Ecosystem>()
                        .map_err(|e| UsageError(e.to_string()))?,
                ),
                None => None,
            };
            let (policy, _) = load_policy(&g)?;
            let corpora = match &g.corpus_dir {
                Some(d) => Corpora::from_dir(d),
                None => Corpora::default(),
            };
            let mut facts = a.facts.clone();
            if let Some(path) = &a.record_facts {
                if g.offline {
                    return Err(UsageError(
                        "--record-facts asks the live registries; drop --offline".into(),
                    )
                    .into());
                }
                let results = crate::eval::run(
                    &corpora,
                    &policy.typosquat,
                    only,
                    a.incidents.as_deref(),
                    None,
                )?;
                // The registries the engine would ask: the policy's, with the same
                // `SENTINEL_*_URL` overrides.
                let mut registries = policy.registries.clone();
                registries.apply_env();
                let client = crate::registry::RegistryClient::new(
                    registries.clone(),
                    policy.network.clone(),
                )?;
                let bar = indicatif::ProgressBar::new(0);
                let b2 = bar.clone();
                let rec = runtime()?.block_on(crate::eval::record_facts(
                    &client,
                    &registries,
                    &results,
                    jiff::Timestamp::now(),
                    move |done, total| {
                        b2.set_length(total as u64);
                        b2.set_position(done as u64);
                    },
                ));
                bar.finish_and_clear();
                std::fs::write(path, &rec.tsv)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!(
                    "wrote {} rows to {}; not in the registry: {}; failed: {}",
                    rec.rows,
                    path.display(),
                    rec.not_found.len(),
                    rec.failed.len()
                );
                for f in rec.not_found.iter().chain(&rec.failed) {
                    eprintln!("  no facts: {f}");
                }
                facts = Some(path.clone());
            }
            let results = crate::eval::run(
                &corpora,
                &policy.typosquat,
                only,
                a.incidents.as_deref(),
                facts.as_deref(),
            )?;
            if a.json {
                print(&format!("{}\n", serde_json::to_string_pretty(&results)?))?;
            } else {
                print(&crate::eval::render(&results))?;
            }
            Ok(EXIT_ALLOW)
        }
        Command::Db(cmd) => {
            let (policy, _) = load_policy(&g)?;
            let (out, code) = crate::advisory::command::run(cmd, &policy)?;
            print(&out)?;
            Ok(code)
        }
        Command::Policy(PolicyCommand::Example) => {
            print(crate::policy::EXAMPLE)?;
            Ok(EXIT_ALLOW)
        }
        Command::Policy(PolicyCommand::Init) => {
            let p = Path::new(crate::policy::POLICY_FILE);
            if p.exists() {
                bail!("{} already exists; edit it or remove it first", p.display());
            }
            std::fs::write(p, crate::policy::EXAMPLE).context("writing sentinel.toml")?;
            eprintln!("wrote {}", p.display());
            Ok(EXIT_ALLOW)
        }
        Command::Policy(PolicyCommand::Show) => {
            let (policy, path) = load_policy(&g)?;
            let src = path.map_or("defaults (no sentinel.toml found)".into(), |p| {
                p.display().to_string()
            });
            let body = toml::to_string_pretty(&policy).context("rendering the policy")?;
            print(&format!("# policy from {src}\n{body}"))?;
            Ok(EXIT_ALLOW)
        }
    }
}

/// `sentinel corpus update`: fetches everything first (with a progress bar), then writes the file.
fn corpus_update(a: &CorpusUpdateArgs, g: &GlobalArgs) -> Result<()> {
    use crate::corpus_update as cu;
    let eco: Ecosystem = a
        .ecosystem
        .parse()
        .map_err(|e: crate::ecosystem::UnknownEcosystem| UsageError(e.to_string()))?;
    let (policy, _) = load_policy(g)?;
    let client = crate::registry::http_builder(&policy.network)?
        .timeout(std::time::Duration::from_secs_f64(
            policy.network.timeout_secs.max(1.0) * 6.0,
        ))
        .user_agent(concat!("sentinel/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let opts = cu::FetchOptions::default();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let b2 = bar.clone();
    let progress = move |p: cu::Progress| {
        b2.set_message(p.stage);
        if let Some(t) = p.total {
            b2.set_length(t);
        }
        b2.set_position(p.done);
    };
    let need_source = |what: &str| -> Result<cu::Source> {
        match &a.source {
            Some(s) => Ok(cu::Source::parse(s)),
            None => Err(UsageError(format!("{eco} needs --source ({what})")).into()),
        }
    };
    let rt = runtime()?;
    let (column, rows) = match eco {
        Ecosystem::Pypi => {
            let src = cu::Source::parse(a.source.as_deref().unwrap_or(cu::PYPI_RANKING_URL));
            let rows = rt.block_on(cu::pypi_top_packages(
                &client,
                &src,
                Some(a.limit.unwrap_or(15_000)),
                &opts,
                &progress,
            ));
            (cu::PYPI_COLUMN, rows)
        }
        Ecosystem::Npm => {
            let names: Vec<String> = match &a.names {
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    cu::parse_tsv(&p.display().to_string(), &text)?
                        .into_iter()
                        .map(|r| r.name)
                        .collect()
                }
                None => crate::corpus::embedded_text(Ecosystem::Npm)
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split('\t').next())
                    .map(str::to_string)
                    .collect(),
            };
            let rows = rt.block_on(cu::npm_downloads(
                &client,
                &a.npm_api,
                "last-month",
                &names,
                cu::NPM_BULK_LIMIT,
                &opts,
                &progress,
            ));
            let rows = rows.map(|r| cu::rank(r, Some(a.limit.unwrap_or(50_000))));
            (cu::NPM_COLUMN, rows)
        }
        Ecosystem::CratesIo => {
            let src = need_source("the crates.io db dump's crates.csv")?;
            let dl = a.downloads_csv.as_deref().map(cu::Source::parse);
            let rows = rt.block_on(cu::crates_from_db_dump(
                &client,
                &src,
                dl.as_ref(),
                Some(a.limit.unwrap_or(5_000)),
                &opts,
                &progress,
            ));
            (cu::CRATES_COLUMN, rows)
        }
        Ecosystem::Go => {
            let src = need_source("a list of module paths")?;
            let rows = rt.block_on(cu::go_from_list(&client, &src, a.limit, &opts, &progress));
            (cu::GO_COLUMN, rows)
        }
    };
    bar.finish_and_clear();
    let rows = rows.with_context(|| format!("rebuilding the {eco} corpus"))?;
    cu::write_tsv(&a.out, column, &rows).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("wrote {} {eco} names to {}", rows.len(), a.out.display());
    Ok(())
}
