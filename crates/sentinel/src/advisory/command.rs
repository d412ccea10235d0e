//! `sentinel db …`: the local OSV advisory mirror.
//!
//! - `db import PATH…` — an OSV `all.zip`, a directory of OSV JSON records, or one record;
//!   streaming, all-or-nothing per path, idempotent; progress bar on stderr.
//! - `db update [--ecosystem E]…` — from OSV's dump bucket (`SENTINEL_OSV_DUMP_URL`), whole dump
//!   the first time, then incremental through `modified_id.csv`.
//! - `db status` — ecosystems, record counts, newest record, age of the mirror.
//! - `db query ECOSYSTEM PACKAGE…` — what the local store knows about packages (exit 2 when an
//!   advisory affects one, 0 otherwise); no registry, no network.
//!
//! Every command takes `--json` for a stable machine-readable answer on stdout.
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};

use super::import::{self, Progress};
use super::store::{ImportStats, Status, Store};
use super::{ECOSYSTEMS, osv_ecosystem, update};
use crate::policy::Policy;

/// `sentinel db …`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Import OSV records: an ecosystem's all.zip, a directory of OSV .json files, or one file.
    Import(ImportArgs),
    /// Download each ecosystem's OSV dump (incrementally after the first time).
    Update(UpdateArgs),
    /// Show the mirror: ecosystems, record counts, newest record, age.
    Status(StatusArgs),
    /// Advisories the local store holds for packages (no registry, no network):
    /// `sentinel db query pypi jinja2@2.10 requests`.
    Query(QueryArgs),
}

/// `sentinel db query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Ecosystem: pypi, npm, crates.io or go.
    pub ecosystem: String,
    /// Packages: `name` or `name@version` (PyPI also `name==version`).
    #[arg(required = true)]
    pub packages: Vec<String>,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sentinel db import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// all.zip files, directories of OSV JSON records, or single .json records.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sentinel db update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Only these ecosystems (pypi, npm, crates.io, go); default: all four.
    #[arg(long = "ecosystem", short = 'e', value_name = "ECOSYSTEM")]
    pub ecosystems: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sentinel db status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
}

fn progress() -> Progress {
    if std::io::stderr().is_terminal() {
        Progress::Bar
    } else {
        Progress::Quiet
    }
}

fn open(policy: &Policy) -> Result<Store> {
    let path = policy.cache_dir().join("advisories.db");
    Store::open(&path).context(
        "opening the advisory store (check the cache directory, --cache-dir or SENTINEL_CACHE_DIR)",
    )
}

fn stats_line(s: &ImportStats) -> String {
    format!(
        "{} records read: {} new, {} updated, {} unchanged, {} withdrawn dropped{}",
        s.read,
        s.inserted,
        s.updated,
        s.unchanged,
        s.withdrawn,
        s.newest_modified
            .as_deref()
            .map(|m| format!("; newest {m}"))
            .unwrap_or_default()
    )
}

/// Human rendering of `db status`.
pub fn render_status(s: &Status) -> String {
    let mut out = format!("advisory store {} — {} records\n", s.path, s.records);
    if s.ecosystems.is_empty() {
        out.push_str("empty: run `sentinel db import <all.zip>` or `sentinel db update`\n");
        return out;
    }
    out.push_str(&format!(
        "{:<12} {:>8} {:>10}  {:<22} {:<10} source\n",
        "ecosystem", "records", "malicious", "newest record", "age"
    ));
    for e in &s.ecosystems {
        let age = e
            .age_seconds
            .map(human_age)
            .unwrap_or_else(|| "online only".into());
        out.push_str(&format!(
            "{:<12} {:>8} {:>10}  {:<22} {:<10} {}\n",
            e.ecosystem,
            e.records,
            e.malicious,
            e.newest_modified.as_deref().unwrap_or("-"),
            age,
            e.source.as_deref().unwrap_or("-")
        ));
    }
    out
}

fn human_age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Runs a `db` command; returns the exit code (errors become exit code 4 in the CLI).
pub fn run(cmd: DbCommand, policy: &Policy) -> Result<(String, u8)> {
    match cmd {
        DbCommand::Import(a) => {
            let mut store = open(policy)?;
            let mut results = Vec::new();
            let mut text = String::new();
            for p in &a.paths {
                let stats = import::import_path(&mut store, p, progress()).with_context(|| {
                    format!("importing {} (nothing from it was imported)", p.display())
                })?;
                text.push_str(&format!("{}: {}\n", p.display(), stats_line(&stats)));
                results.push(serde_json::json!({ "path": p, "stats": stats }));
            }
            if a.json {
                return Ok((
                    format!(
                        "{}\n",
                        serde_json::json!({ "imports": results, "store": store.path() })
                    ),
                    0,
                ));
            }
            Ok((text, 0))
        }
        DbCommand::Update(a) => {
            let mode = policy
                .advisories
                .effective_mode()
                .map_err(crate::cli::UsageError)?;
            if policy.offline || mode == super::check::Mode::Offline {
                bail!(
                    "offline mode forbids `db update`; use `sentinel db import <all.zip>` with a dump copied here"
                );
            }
            let ecos: Vec<&str> = if a.ecosystems.is_empty() {
                ECOSYSTEMS.to_vec()
            } else {
                a.ecosystems
                    .iter()
                    .map(|e| osv_ecosystem(e).map_err(|e| crate::cli::UsageError(e.to_string())))
                    .collect::<Result<_, _>>()?
            };
            let mut store = open(policy)?;
            let base = policy.advisories.dump_url();
            let work = policy.cache_dir().join("downloads");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let updated = rt
                .block_on(update::update(&mut store, &base, &ecos, &work, progress()))
                .with_context(|| {
                    format!(
                        "updating the advisory mirror from {base} (the store keeps what it had)"
                    )
                })?;
            if a.json {
                return Ok((
                    format!(
                        "{}\n",
                        serde_json::json!({ "updated": updated, "store": store.path() })
                    ),
                    0,
                ));
            }
            let mut text = String::new();
            for u in &updated {
                let how = match u.method {
                    update::Method::FullDump => "full dump",
                    update::Method::Incremental => "incremental",
                };
                text.push_str(&format!(
                    "{} ({how}): {}\n",
                    u.ecosystem,
                    stats_line(&u.stats)
                ));
            }
            Ok((text, 0))
        }
        DbCommand::Query(a) => {
            let eco: crate::Ecosystem =
                a.ecosystem
                    .parse()
                    .map_err(|e: crate::ecosystem::UnknownEcosystem| {
                        crate::cli::UsageError(e.to_string())
                    })?;
            let store = open(policy)?;
            let mut reports = Vec::new();
            for spec in &a.packages {
                let p = crate::PackageRef::parse(eco, spec);
                reports.push(
                    store
                        .lookup(eco.osv_name(), &p.name, p.version.as_deref())
                        .context("reading the advisory store")?,
                );
            }
            let affected = reports.iter().any(|r| !r.hits.is_empty());
            // 0: nothing known; 2: something affects what was asked (like `check`'s block).
            let code = if affected { 2 } else { 0 };
            if a.json {
                return Ok((
                    format!("{}\n", serde_json::json!({ "reports": reports })),
                    code,
                ));
            }
            let mut text = String::new();
            for r in &reports {
                let what = match &r.version {
                    Some(v) => format!("{}:{}@{v}", eco.as_str(), r.name),
                    None => format!("{}:{}", eco.as_str(), r.name),
                };
                if r.hits.is_empty() {
                    text.push_str(&format!("{what}: no known advisory\n"));
                    continue;
                }
                text.push_str(&format!("{what}: {} advisories", r.hits.len()));
                if let Some(s) = &r.nearest_safe {
                    text.push_str(&format!(", nearest safe version {s}"));
                }
                text.push('\n');
                for h in &r.hits {
                    let kind = if h.malicious {
                        "MALICIOUS".to_owned()
                    } else {
                        h.severity.as_str().to_owned()
                    };
                    let score = h.score.map(|s| format!(" {s:.1}")).unwrap_or_default();
                    text.push_str(&format!(
                        "  {} [{kind}{score}] {}; affected {}; fixed {}\n",
                        h.id,
                        h.summary.as_deref().unwrap_or("-"),
                        h.affected.join(" | "),
                        if h.fixed.is_empty() {
                            "-".to_owned()
                        } else {
                            h.fixed.join(", ")
                        }
                    ));
                }
            }
            Ok((text, code))
        }
        DbCommand::Status(a) => {
            let store = open(policy)?;
            let status = store.status().context("reading the advisory store")?;
            if a.json {
                return Ok((format!("{}\n", serde_json::to_string_pretty(&status)?), 0));
            }
            Ok((render_status(&status), 0))
        }
    }
}
