//! Babuino: run agent-written code where it can touch nothing it was not given.

pub mod cli;
pub mod vm;
