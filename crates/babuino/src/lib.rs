//! Babuino: run agent-written code where it can touch nothing it was not given.
//!
//! The library holds everything; the `babuino` binary only calls [`cli::main`].
//! - [`spec`]: the backend-neutral run spec (program, code dir, env, limits, allow-list).
//! - [`report`]: the run report (exit, events, timings), the stable `--json` output.
//! - [`backend`]: the [`backend::Backend`] trait every isolation mechanism implements.
//! - [`egress`]: the host-side egress proxy enforcing the domain allow-list.
//! - [`native`]: the Linux backend (namespaces, seccomp, Landlock, cgroups).
//! - [`packages`]: `--packages` and `@pypi`/`@npm`: installs only through Sentinel's proxy.
//! - [`vm`]: the micro-VM backend (QEMU `microvm`, its own guest kernel; KVM or TCG).
//!
//! What it is not: a defence against kernel exploits (the native backend shares the host kernel;
//! use the micro-VM backend for that).

pub mod backend;
pub mod cgroup;
pub mod cli;
pub mod egress;
pub mod native;
pub mod packages;
pub mod report;
pub mod spec;
mod sys;
pub mod vm;
