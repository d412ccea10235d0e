//! The micro-VM backend (`--sandbox kvm`): the program runs in a throwaway QEMU `microvm` with its
//! own guest kernel, KVM-accelerated where KVM is fast, TCG (software emulation) elsewhere.
//!
//! - [`assets`]: `babuino setup vm` builds the kernel, initramfs and read-only root once.
//! - [`qemu`]: the QEMU command line and the accelerator choice.
//! - [`run`]: one run: pack the code, start QEMU in its jail, speak to the guest agent
//!   (`babuino-guest`) over a virtio-serial port, enforce limits, destroy the VM.
//! - [`backend`]: the [`crate::backend::Backend`] implementation (spec → VM → report).
//! - [`doctor`]: what this backend needs and whether the host has it.
//!
//! It is not a general VM manager: one VM per run, nothing persists between runs.

pub mod assets;
pub mod backend;
pub mod cpio;
pub mod doctor;
pub mod qemu;
pub mod run;

pub use assets::{AssetError, Assets};
pub use backend::VmBackend;
pub use qemu::{Accel, AccelChoice};
pub use run::{VmConfig, VmError, VmExit, VmJob, VmReport};
