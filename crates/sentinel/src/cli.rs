//! Command line of sentinel (the binary only calls [`main`]).
use std::process::ExitCode;

/// Parses arguments and runs the command; returns the documented exit code.
pub fn main() -> ExitCode {
    eprintln!("sentinel: not yet implemented");
    ExitCode::from(70)
}
