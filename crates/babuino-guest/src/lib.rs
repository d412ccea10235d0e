//! Babuino's guest side: the wire protocol shared with the host ([`proto`]) and the init that runs
//! as PID 1 inside the micro-VM (the `babuino-guest` binary, built statically by `babuino setup vm`).
//!
//! It is not a general init system: it mounts what one run needs, runs one program as an
//! unprivileged user, streams its output over a virtio-serial port and powers the VM off.
#![forbid(unsafe_code)]

pub mod proto;
