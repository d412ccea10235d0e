//! Command line of cutufato (the binary only calls [`main`]).
//!
//! Exit codes: 0 success; 1 a finding (unsupported content, a chunk not at its cited place);
//! 2 bad input or usage (the message on stderr says what to fix); 70 internal error.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli_attr::{self, AttributeArgs, DocsCmd, EvalArgs, Outcome};

/// Signed, tamper-evident audit trail of LLM decisions, with source attribution.
#[derive(Debug, Parser)]
#[command(name = "cutufato", version)]
struct Cli {
    /// Directory of the log and the document store.
    #[arg(
        long,
        global = true,
        env = "CUTUFATO_HOME",
        default_value = ".cutufato"
    )]
    home: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Ingest, list, show, chunk and verify source documents.
    #[command(subcommand)]
    Docs(DocsCmd),
    /// Attribute each sentence of a response to the context chunks that support it and flag what
    /// nothing supports (exit 1 when something is unsupported).
    Attribute(AttributeArgs),
    /// Score hallucination detection on RAGTruth-layout JSONL.
    Eval(EvalArgs),
}

/// Parses arguments and runs the command; returns the documented exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Docs(cmd) => cli_attr::docs(&cli.home, cmd),
        Cmd::Attribute(args) => cli_attr::attribute(args),
        Cmd::Eval(args) => cli_attr::eval(args),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Finding) => ExitCode::from(1),
        Err(e) => {
            eprintln!("cutufato: {e:#}");
            ExitCode::from(2)
        }
    }
}
