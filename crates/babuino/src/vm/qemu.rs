//! The QEMU command line (a pure function of the configuration, so it is unit-tested) and the
//! choice of accelerator.

use std::ffi::OsString;
use std::path::Path;

/// QEMU binary looked up in `PATH`.
pub const QEMU: &str = "qemu-system-x86_64";

/// Kernel command line. `tsc_early_khz` stops the intermittent TCG boot hang after
/// "could not calculate TSC khz" (see docs/babuino-vm.md); `panic=-1 reboot=t` turn any guest
/// panic or reboot into a QEMU exit (with `-no-reboot`).
pub const KERNEL_ARGS: &str =
    "console=ttyS0 panic=-1 reboot=t tsc_early_khz=2000000 quiet loglevel=3 audit=1";

/// The kernel command line, plus `$BABUINO_VM_KERNEL_ARGS` (a debugging aid: for example
/// `loglevel=7` to see the guest kernel's messages in boot errors).
fn kernel_args() -> String {
    match std::env::var("BABUINO_VM_KERNEL_ARGS") {
        Ok(extra) if !extra.trim().is_empty() => format!("{KERNEL_ARGS} {}", extra.trim()),
        _ => KERNEL_ARGS.to_string(),
    }
}

/// Hardware accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// What the user asked for with `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AccelChoice {
    /// KVM when it is usable and known to be fast, else TCG.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

/// The accelerator to use and why.
pub fn choose_accel(choice: AccelChoice) -> (Accel, String) {
    match choice {
        AccelChoice::Kvm => (Accel::Kvm, "forced with --accel kvm".into()),
        AccelChoice::Tcg => (Accel::Tcg, "forced with --accel tcg".into()),
        AccelChoice::Auto => {
            let kvm = kvm_status();
            match kvm {
                KvmStatus::Fast => (Accel::Kvm, "/dev/kvm is usable".into()),
                other => (Accel::Tcg, other.describe()),
            }
        }
    }
}

/// What this host's KVM looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmStatus {
    Fast,
    Absent,
    NoAccess(String),
    /// Nested "PVM" virtualisation: tiny guests run, a Linux kernel boots for minutes.
    NestedPvm,
}

impl KvmStatus {
    pub fn describe(&self) -> String {
        match self {
            KvmStatus::Fast => "/dev/kvm is usable".into(),
            KvmStatus::Absent => "no /dev/kvm on this host".into(),
            KvmStatus::NoAccess(e) => format!("/dev/kvm is not usable: {e}"),
            KvmStatus::NestedPvm => {
                "/dev/kvm is nested PVM (kvm_pvm), which boots Linux guests very slowly".into()
            }
        }
    }
}

pub fn kvm_status() -> KvmStatus {
    if !Path::new("/dev/kvm").exists() {
        return KvmStatus::Absent;
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return KvmStatus::NoAccess(e.to_string());
    }
    if Path::new("/sys/module/kvm_pvm").exists() {
        return KvmStatus::NestedPvm;
    }
    KvmStatus::Fast
}

/// File descriptors QEMU inherits (it opens nothing by path: it runs under a uid of its own in its own
/// namespaces, where the cache directory is not reachable).
#[derive(Debug, Clone, Copy)]
pub struct Fds {
    pub kernel: i32,
    pub initrd: i32,
    pub rootfs: i32,
    pub code: i32,
    pub control: i32,
}

/// Everything the command line depends on.
#[derive(Debug, Clone)]
pub struct QemuArgs {
    pub accel: Accel,
    pub memory_mib: u64,
    pub vcpus: u32,
    pub fds: Fds,
}

/// The argument vector (without the program name).
pub fn args(a: &QemuArgs) -> Vec<OsString> {
    let fd = |n: i32| format!("/proc/self/fd/{n}");
    let mut v: Vec<String> = vec![
        "-M".into(),
        "microvm,x-option-roms=off,isa-serial=on,rtc=off".into(),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-nographic".into(),
        "-no-reboot".into(),
        // The guest console (kernel messages, agent diagnostics) goes to QEMU's stdout.
        "-serial".into(),
        "stdio".into(),
        "-m".into(),
        format!("{}M", a.memory_mib),
        "-smp".into(),
        a.vcpus.to_string(),
    ];
    match a.accel {
        Accel::Kvm => v.extend([
            "-accel".into(),
            "kvm".into(),
            "-cpu".into(),
            "host,-arch-capabilities,pmu=off".into(),
        ]),
        Accel::Tcg => v.extend(["-accel".into(), "tcg".into()]),
    }
    v.extend([
        // Disks come as descriptor sets: QEMU dups them instead of reopening a path (the code
        // image is already deleted, and Landlock lets QEMU open nothing outside the assets).
        "-add-fd".into(),
        format!("fd={},set=1,opaque=rootfs", a.fds.rootfs),
        "-add-fd".into(),
        format!("fd={},set=2,opaque=code", a.fds.code),
        "-kernel".into(),
        fd(a.fds.kernel),
        "-initrd".into(),
        fd(a.fds.initrd),
        "-append".into(),
        kernel_args(),
        "-drive".into(),
        "id=root,file=/dev/fdset/1,format=raw,if=none,readonly=on".into(),
        "-device".into(),
        "virtio-blk-device,drive=root,serial=babuino-root".into(),
        "-drive".into(),
        "id=code,file=/dev/fdset/2,format=raw,if=none,readonly=on".into(),
        "-device".into(),
        "virtio-blk-device,drive=code,serial=babuino-code".into(),
        "-chardev".into(),
        format!("socket,id=ctl,fd={}", a.fds.control),
        "-device".into(),
        "virtio-serial-device".into(),
        "-device".into(),
        "virtserialport,chardev=ctl,name=babuino".into(),
        // No NIC at all: the guest reaches the network only through the control channel.
        "-nic".into(),
        "none".into(),
        // QEMU's own seccomp filter: no exec, no setuid, no scheduler/resource games.
        "-sandbox".into(),
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny".into(),
    ]);
    v.into_iter().map(OsString::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(accel: Accel) -> Vec<String> {
        let a = QemuArgs {
            accel,
            memory_mib: 256,
            vcpus: 2,
            fds: Fds {
                kernel: 10,
                initrd: 11,
                rootfs: 12,
                code: 13,
                control: 14,
            },
        };
        args(&a)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn no_nic_and_seccomp_sandbox_always() {
        let v = sample(Accel::Tcg);
        let joined = v.join(" ");
        assert!(joined.contains("-nic none"), "{joined}");
        assert!(!joined.contains("-netdev"), "{joined}");
        assert!(joined.contains(
            "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
        ));
        assert!(joined.contains("-nodefaults"));
    }

    #[test]
    fn disks_are_read_only_and_named() {
        let v = sample(Accel::Tcg);
        let drives: Vec<&String> = v.iter().filter(|s| s.starts_with("id=")).collect();
        assert_eq!(drives.len(), 2);
        assert!(
            drives.iter().all(|d| d.contains("readonly=on")),
            "{drives:?}"
        );
        assert!(v.iter().any(|s| s.contains("serial=babuino-root")));
        assert!(v.iter().any(|s| s.contains("serial=babuino-code")));
    }

    #[test]
    fn limits_and_accel_reach_the_command_line() {
        let v = sample(Accel::Kvm);
        let pos = |x: &str| v.iter().position(|s| s == x).unwrap();
        assert_eq!(v[pos("-m") + 1], "256M");
        assert_eq!(v[pos("-smp") + 1], "2");
        assert_eq!(v[pos("-accel") + 1], "kvm");
        assert_eq!(v[pos("-cpu") + 1], "host,-arch-capabilities,pmu=off");
        let v = sample(Accel::Tcg);
        assert!(!v.iter().any(|s| s == "-cpu"));
        assert!(v.iter().any(|s| s.contains("tsc_early_khz=2000000")));
    }

    #[test]
    fn forced_accel_is_respected() {
        assert_eq!(choose_accel(AccelChoice::Tcg).0, Accel::Tcg);
        assert_eq!(choose_accel(AccelChoice::Kvm).0, Accel::Kvm);
    }
}
