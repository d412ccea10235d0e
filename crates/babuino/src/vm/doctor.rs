//! `babuino doctor` data for the micro-VM backend: each requirement, whether this host meets it,
//! and what to do when it does not.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use super::assets;
use super::qemu::{self, KvmStatus};

/// One requirement of the backend.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// What to do when `ok` is false.
    pub fix: Option<String>,
}

/// All checks of the VM backend; `verify_hashes` also re-hashes the assets (slow: ~1 s).
pub fn checks(asset_dir: &Path, verify_hashes: bool) -> Vec<Check> {
    let mut v = Vec::new();
    let qemu_version = Command::new(qemu::QEMU)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        });
    v.push(Check {
        name: "qemu".into(),
        ok: qemu_version.is_some(),
        detail: qemu_version
            .clone()
            .unwrap_or_else(|| format!("{} not found", qemu::QEMU)),
        fix: qemu_version
            .is_none()
            .then(|| "apt-get install qemu-system-x86".into()),
    });
    let kvm = qemu::kvm_status();
    let (accel, reason) = qemu::choose_accel(qemu::AccelChoice::Auto);
    v.push(Check {
        name: "accelerator".into(),
        ok: true,
        detail: format!("{} ({reason})", accel.name()),
        fix: (kvm != KvmStatus::Fast)
            .then(|| "runs under TCG (software emulation, seconds per boot); on a host with KVM it boots in well under a second".into()),
    });
    let mksquashfs = Command::new("mksquashfs").arg("-version").output().is_ok();
    v.push(Check {
        name: "mksquashfs".into(),
        ok: mksquashfs,
        detail: if mksquashfs {
            "packs the code directory per run".into()
        } else {
            "not found".into()
        },
        fix: (!mksquashfs).then(|| "apt-get install squashfs-tools".into()),
    });
    match assets::load(asset_dir) {
        Ok(a) => {
            let bad = if verify_hashes {
                assets::verify(&a).unwrap_or_else(|e| vec![e.to_string()])
            } else {
                Vec::new()
            };
            v.push(Check {
                name: "guest assets".into(),
                ok: bad.is_empty(),
                detail: if bad.is_empty() {
                    format!("{} (kernel {})", a.dir.display(), a.manifest.kernel_version)
                } else {
                    format!("checksum mismatch: {}", bad.join(", "))
                },
                fix: (!bad.is_empty()).then(|| "babuino setup vm --force".into()),
            });
        }
        Err(e) => v.push(Check {
            name: "guest assets".into(),
            ok: false,
            detail: e.to_string(),
            fix: Some("babuino setup vm".into()),
        }),
    }
    v
}
