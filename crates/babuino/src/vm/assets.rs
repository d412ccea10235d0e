//! Guest assets of the micro-VM, built once into a cache directory by `babuino setup vm`:
//!
//! | file | what | from |
//! | --- | --- | --- |
//! | `vmlinux` | Debian's cloud kernel, LZ4 payload of its `vmlinuz` decompressed (PVH ELF) | `linux-image-cloud-amd64` |
//! | `initramfs.cpio` | `/init` = static `babuino-guest`, virtio/squashfs modules, `/modules` load order | same kernel package + this workspace |
//! | `rootfs.sqfs` | read-only root: `debootstrap --variant=minbase --include=python3 bookworm`, LZ4 squashfs | Debian |
//! | `manifest.json` | sha256 and size of each file, kernel version, guest hash | written last |
//!
//! Every step is skipped when its output is already recorded in the manifest, so a second
//! `babuino setup vm` costs a few hashes. A run refuses to start unless the manifest exists and
//! each file has the recorded size.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cpio::Cpio;

/// Modules the guest needs, in load order (each needs the ones before it).
pub const GUEST_MODULES: &[&str] = &[
    "kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_mmio.ko",
    "kernel/drivers/block/virtio_blk.ko",
    "kernel/drivers/char/virtio_console.ko",
    "kernel/fs/squashfs/squashfs.ko",
];

const KERNEL_META_PACKAGE: &str = "linux-image-cloud-amd64";
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// Bumped when the layout of the assets changes, so old caches are rebuilt.
const FORMAT: u32 = 4;

/// What went wrong while building or checking the guest assets.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{tool} failed ({status}): {stderr}")]
    Tool {
        tool: String,
        status: String,
        stderr: String,
    },
    #[error("required tool '{0}' is not installed (Debian package: {1})")]
    MissingTool(String, &'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("micro-VM assets are missing or incomplete in {dir}: {why}; run `babuino setup vm`")]
    NotSetUp { dir: PathBuf, why: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AssetError {
    let what = what.into();
    move |source| AssetError::Io { what, source }
}

/// One file of the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub sha256: String,
    pub size: u64,
}

/// `manifest.json` of the asset cache.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Manifest {
    pub format: u32,
    pub kernel_package: String,
    pub kernel_version: String,
    pub guest_sha256: String,
    pub files: std::collections::BTreeMap<String, FileEntry>,
}

/// Paths of the built assets.
#[derive(Debug, Clone)]
pub struct Assets {
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    pub rootfs: PathBuf,
    pub manifest: Manifest,
}

/// The asset directory: `$BABUINO_CACHE/vm`, else `$XDG_CACHE_HOME/babuino/vm`, else
/// `~/.cache/babuino/vm`.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BABUINO_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("vm");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/var/cache"));
    base.join("babuino").join("vm")
}

fn manifest_path(dir: &Path) -> PathBuf {
    dir.join("manifest.json")
}

fn read_manifest(dir: &Path) -> Option<Manifest> {
    let text = fs::read_to_string(manifest_path(dir)).ok()?;
    serde_json::from_str::<Manifest>(&text)
        .ok()
        .filter(|m| m.format == FORMAT)
}

/// Loads the assets of `dir`, checking that each file exists with its recorded size (hashes are
/// checked by `babuino setup vm` and `babuino doctor`, not on every run).
pub fn load(dir: &Path) -> Result<Assets, AssetError> {
    let not = |why: String| AssetError::NotSetUp {
        dir: dir.to_path_buf(),
        why,
    };
    let manifest =
        read_manifest(dir).ok_or_else(|| not("no manifest.json of the current format".into()))?;
    for (name, entry) in &manifest.files {
        let md = fs::metadata(dir.join(name)).map_err(|e| not(format!("{name}: {e}")))?;
        if md.len() != entry.size {
            return Err(not(format!(
                "{name} has {} bytes, manifest says {}",
                md.len(),
                entry.size
            )));
        }
    }
    for name in ["vmlinux", "initramfs.cpio", "rootfs.sqfs"] {
        if !manifest.files.contains_key(name) {
            return Err(not(format!("{name} is not in the manifest")));
        }
    }
    Ok(Assets {
        dir: dir.to_path_buf(),
        kernel: dir.join("vmlinux"),
        initramfs: dir.join("initramfs.cpio"),
        rootfs: dir.join("rootfs.sqfs"),
        manifest,
    })
}

/// Re-hashes every file of the manifest; the names whose content differs.
pub fn verify(assets: &Assets) -> Result<Vec<String>, AssetError> {
    let mut bad = Vec::new();
    for (name, entry) in &assets.manifest.files {
        if sha256_file(&assets.dir.join(name))?.0 != entry.sha256 {
            bad.push(name.clone());
        }
    }
    Ok(bad)
}

/// sha256 (hex) and size of a file.
pub fn sha256_file(path: &Path) -> Result<(String, u64), AssetError> {
    let mut f = fs::File::open(path).map_err(io(format!("open {}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(io(format!("read {}", path.display())))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex::encode(h.finalize()), size))
}

/// Options of `babuino setup vm`.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    pub dir: PathBuf,
    /// A prebuilt static guest binary; else it is built from this workspace with cargo.
    pub guest: Option<PathBuf>,
    /// Rebuild every asset even when the manifest says it is there.
    pub force: bool,
}

fn run_tool(cmd: &mut Command, tool: &str) -> Result<Vec<u8>, AssetError> {
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            AssetError::MissingTool(tool.to_string(), package_of(tool))
        } else {
            AssetError::Io {
                what: format!("run {tool}"),
                source: e,
            }
        }
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(AssetError::Tool {
            tool: tool.to_string(),
            status: out.status.to_string(),
            stderr: tail,
        });
    }
    Ok(out.stdout)
}

/// Debian package that provides a tool `babuino setup vm` runs.
pub fn package_of(tool: &str) -> &'static str {
    match tool {
        "apt-get" => "apt",
        "dpkg-deb" => "dpkg",
        "lz4" => "lz4",
        "debootstrap" => "debootstrap",
        "mksquashfs" => "squashfs-tools",
        "cargo" => "the Rust toolchain (rustup)",
        "qemu-system-x86_64" => "qemu-system-x86",
        _ => "unknown",
    }
}

/// Builds whatever is missing, printing progress to `progress`. Returns the loaded assets.
pub fn setup(opts: &SetupOptions, progress: &mut dyn FnMut(&str)) -> Result<Assets, AssetError> {
    let dir = &opts.dir;
    fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    let _lock = Lock::take(&dir.join(".lock"))?;
    let mut man = match read_manifest(dir) {
        Some(m) if !opts.force => m,
        _ => Manifest {
            format: FORMAT,
            ..Default::default()
        },
    };
    let have = |man: &Manifest, name: &str| -> bool {
        man.files
            .get(name)
            .is_some_and(|e| fs::metadata(dir.join(name)).is_ok_and(|m| m.len() == e.size))
    };
    let work = dir.join("work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(io("create work dir"))?;

    // 1. Kernel and modules.
    let modules_dir = dir.join("modules");
    let kernel_ok = have(&man, "vmlinux")
        && GUEST_MODULES
            .iter()
            .all(|m| modules_dir.join(module_file(m)).exists());
    if kernel_ok {
        progress(&format!("[1/4] kernel {}: cached", man.kernel_version));
    } else {
        progress(&format!(
            "[1/4] kernel: downloading {KERNEL_META_PACKAGE} (apt-get download)"
        ));
        let (pkg, version) = fetch_kernel(&work, dir, &modules_dir)?;
        man.kernel_package = pkg;
        man.kernel_version = version;
        record(&mut man, dir, "vmlinux")?;
        man.files.remove("initramfs.cpio");
        progress(&format!(
            "      kernel {} → vmlinux ({} MB)",
            man.kernel_version,
            man.files["vmlinux"].size >> 20
        ));
    }

    // 2. Static guest agent.
    progress("[2/4] guest agent: building static babuino-guest");
    let guest = match &opts.guest {
        Some(p) => p.clone(),
        None => build_guest(dir)?,
    };
    let (guest_sha, _) = sha256_file(&guest)?;

    // 3. initramfs.
    if have(&man, "initramfs.cpio") && man.guest_sha256 == guest_sha {
        progress("[3/4] initramfs: cached");
    } else {
        progress("[3/4] initramfs: /init + modules");
        write_initramfs(&dir.join("initramfs.cpio"), &guest, &modules_dir)?;
        man.guest_sha256 = guest_sha;
        record(&mut man, dir, "initramfs.cpio")?;
    }

    // 4. Root filesystem.
    if have(&man, "rootfs.sqfs") {
        progress("[4/4] root filesystem: cached");
    } else {
        progress(&format!(
            "[4/4] root filesystem: debootstrap {SUITE} minbase + python3 (about a minute)"
        ));
        build_rootfs(&work, &dir.join("rootfs.sqfs"), progress)?;
        record(&mut man, dir, "rootfs.sqfs")?;
    }
    let _ = fs::remove_dir_all(&work);
    man.format = FORMAT;
    let text = serde_json::to_string_pretty(&man)
        .map_err(|e| AssetError::Invalid(format!("manifest: {e}")))?;
    let tmp = dir.join("manifest.json.tmp");
    fs::write(&tmp, text).map_err(io("write manifest"))?;
    fs::rename(&tmp, manifest_path(dir)).map_err(io("write manifest"))?;
    load(dir)
}

fn record(man: &mut Manifest, dir: &Path, name: &str) -> Result<(), AssetError> {
    let (sha256, size) = sha256_file(&dir.join(name))?;
    man.files
        .insert(name.to_string(), FileEntry { sha256, size });
    Ok(())
}

fn module_file(m: &str) -> &str {
    m.rsplit('/').next().unwrap_or(m)
}

/// Downloads the cloud kernel package (without installing it), extracts `vmlinux` and the
/// guest modules. Returns (package, version).
fn fetch_kernel(
    work: &Path,
    dir: &Path,
    modules_dir: &Path,
) -> Result<(String, String), AssetError> {
    run_tool(
        Command::new("apt-get")
            .arg("download")
            .arg(KERNEL_META_PACKAGE)
            .current_dir(work),
        "apt-get",
    )?;
    let meta = find_deb(work, KERNEL_META_PACKAGE)?;
    let depends = String::from_utf8_lossy(&run_tool(
        Command::new("dpkg-deb").arg("-f").arg(&meta).arg("Depends"),
        "dpkg-deb",
    )?)
    .into_owned();
    let pkg = depends
        .split(',')
        .map(|d| d.trim().split(' ').next().unwrap_or(""))
        .find(|d| d.starts_with("linux-image-"))
        .ok_or_else(|| {
            AssetError::Invalid(format!(
                "{KERNEL_META_PACKAGE} depends on no kernel image: {depends}"
            ))
        })?
        .to_string();
    run_tool(
        Command::new("apt-get")
            .arg("download")
            .arg(&pkg)
            .current_dir(work),
        "apt-get",
    )?;
    let deb = find_deb(work, &pkg)?;
    let version = String::from_utf8_lossy(&run_tool(
        Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Version"),
        "dpkg-deb",
    )?)
    .trim()
    .to_string();
    let x = work.join("kernel");
    run_tool(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x),
        "dpkg-deb",
    )?;
    let release = pkg.trim_start_matches("linux-image-");
    let vmlinuz = x.join("boot").join(format!("vmlinuz-{release}"));
    let z = fs::read(&vmlinuz).map_err(io(format!("read {}", vmlinuz.display())))?;
    let elf = decompress_vmlinuz(&z)?;
    let tmp = dir.join("vmlinux.tmp");
    fs::write(&tmp, elf).map_err(io("write vmlinux"))?;
    fs::rename(&tmp, dir.join("vmlinux")).map_err(io("write vmlinux"))?;
    let _ = fs::remove_dir_all(modules_dir);
    fs::create_dir_all(modules_dir).map_err(io("create modules dir"))?;
    let mdir = x.join("lib/modules").join(release);
    for m in GUEST_MODULES {
        fs::copy(mdir.join(m), modules_dir.join(module_file(m)))
            .map_err(io(format!("copy module {m}")))?;
    }
    Ok((pkg, version))
}

fn find_deb(dir: &Path, pkg: &str) -> Result<PathBuf, AssetError> {
    let prefix = format!("{pkg}_");
    fs::read_dir(dir)
        .map_err(io("list downloads"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy().starts_with(&prefix) && n.to_string_lossy().ends_with(".deb")
            })
        })
        .ok_or_else(|| AssetError::Invalid(format!("apt-get download {pkg} produced no .deb")))
}

/// LZ4 legacy-frame magic (`lz4 -l`), which the kernel's LZ4 `vmlinuz` payload uses.
const LZ4_LEGACY_MAGIC: [u8; 4] = [0x02, 0x21, 0x4c, 0x18];

/// Extracts the ELF kernel from a bzImage whose payload is LZ4-compressed (as
/// `scripts/extract-vmlinux` does): find the LZ4 magic, decompress with `lz4`, check the ELF
/// magic.
pub fn decompress_vmlinuz(z: &[u8]) -> Result<Vec<u8>, AssetError> {
    let mut from = 0;
    while let Some(pos) = z[from..].windows(4).position(|w| w == LZ4_LEGACY_MAGIC) {
        let start = from + pos;
        let mut child = Command::new("lz4")
            .args(["-dc"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    AssetError::MissingTool("lz4".into(), "lz4")
                } else {
                    AssetError::Io {
                        what: "run lz4".into(),
                        source: e,
                    }
                }
            })?;
        let input = z[start..].to_vec();
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| AssetError::Invalid("lz4 stdin".into()))?;
        let writer = std::thread::spawn(move || {
            // lz4 stops reading at the end of the frame; the rest is the bzImage trailer.
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().map_err(io("run lz4"))?;
        let _ = writer.join();
        if out.stdout.len() > 4 && out.stdout[..4] == *b"\x7fELF" {
            return Ok(out.stdout);
        }
        from = start + 1;
    }
    Err(AssetError::Invalid(
        "no LZ4-compressed ELF kernel found in vmlinuz".into(),
    ))
}

/// Builds the static guest agent with cargo from this workspace (libc statically linked).
fn build_guest(dir: &Path) -> Result<PathBuf, AssetError> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest = ws.join("Cargo.toml");
    if !manifest.exists() || !ws.join("crates/babuino-guest").exists() {
        return Err(AssetError::Invalid(format!(
            "the babuino-guest sources are not at {}; pass --guest PATH to a static babuino-guest binary",
            ws.display()
        )));
    }
    let target_dir = dir.join("guest-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_tool(
        Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "babuino-guest",
                "--target",
                "x86_64-unknown-linux-gnu",
            ])
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            .env(
                "RUSTFLAGS",
                "-C target-feature=+crt-static -C strip=symbols",
            )
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET"),
        "cargo",
    )?;
    let bin = target_dir.join("x86_64-unknown-linux-gnu/release/babuino-guest");
    let data = fs::read(&bin).map_err(io(format!("read {}", bin.display())))?;
    if !is_static_elf(&data) {
        return Err(AssetError::Invalid(format!(
            "{} is not a statically linked ELF",
            bin.display()
        )));
    }
    Ok(bin)
}

/// True for an ELF without a PT_INTERP program header (statically linked).
pub fn is_static_elf(data: &[u8]) -> bool {
    if data.len() < 64 || data[..4] != *b"\x7fELF" || data[4] != 2 {
        return false;
    }
    let u64_at = |o: usize| {
        data.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    for i in 0..phnum as usize {
        let off = phoff as usize + i * phentsize as usize;
        match data.get(off..off + 4) {
            Some(t) if u32::from_le_bytes([t[0], t[1], t[2], t[3]]) == 3 => return false, // PT_INTERP
            Some(_) => {}
            None => return false,
        }
    }
    true
}

/// The initramfs: `/init` (the guest agent), the modules and their load order.
pub fn write_initramfs(out: &Path, guest: &Path, modules_dir: &Path) -> Result<(), AssetError> {
    let mut c = Cpio::new();
    for d in ["dev", "proc", "sys", "newroot", "lib", "lib/modules"] {
        c.dir(d, 0o755);
    }
    let init = fs::read(guest).map_err(io(format!("read {}", guest.display())))?;
    c.file("init", 0o755, &init);
    let mut order = String::new();
    for m in GUEST_MODULES {
        let name = module_file(m);
        let data = fs::read(modules_dir.join(name)).map_err(io(format!("read module {name}")))?;
        c.file(&format!("lib/modules/{name}"), 0o644, &data);
        order.push_str(name.trim_end_matches(".ko"));
        order.push('\n');
    }
    c.file("modules", 0o644, order.as_bytes());
    let tmp = out.with_extension("tmp");
    fs::write(&tmp, c.finish()).map_err(io("write initramfs"))?;
    fs::rename(&tmp, out).map_err(io("write initramfs"))
}

fn build_rootfs(work: &Path, out: &Path, progress: &mut dyn FnMut(&str)) -> Result<(), AssetError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(AssetError::Invalid(
            "building the root filesystem needs root (debootstrap); run `sudo babuino setup vm` once".into(),
        ));
    }
    let root = work.join("rootfs");
    run_tool(
        Command::new("debootstrap")
            .args(["--variant=minbase", "--include=python3", SUITE])
            .arg(&root)
            .arg(MIRROR),
        "debootstrap",
    )?;
    progress("      debootstrap done; packing squashfs (lz4)");
    // Mount points the guest agent uses, and a named unprivileged user for the program.
    fs::create_dir_all(root.join("code")).map_err(io("mkdir /code"))?;
    fs::create_dir_all(root.join("out")).map_err(io("mkdir /out"))?;
    // debootstrap copies the host's resolver configuration; the guest has no DNS (names are
    // resolved by the host's egress proxy), so it gets none of the host's details.
    // Remove first: a symbolic link there would point into the host.
    for f in ["etc/resolv.conf", "etc/hostname"] {
        let _ = fs::remove_file(root.join(f));
    }
    fs::write(
        root.join("etc/resolv.conf"),
        "# babuino guest: no DNS; HTTP(S)_PROXY resolves names on the host\n",
    )
    .map_err(io("write /etc/resolv.conf"))?;
    fs::write(root.join("etc/hostname"), "babuino\n").map_err(io("write /etc/hostname"))?;
    let mut passwd = fs::OpenOptions::new()
        .append(true)
        .open(root.join("etc/passwd"))
        .map_err(io("open /etc/passwd"))?;
    writeln!(passwd, "sandbox:x:1000:1000:babuino sandbox:/tmp:/bin/sh")
        .map_err(io("write /etc/passwd"))?;
    let mut group = fs::OpenOptions::new()
        .append(true)
        .open(root.join("etc/group"))
        .map_err(io("open /etc/group"))?;
    writeln!(group, "sandbox:x:1000:").map_err(io("write /etc/group"))?;
    // Caches and docs the sandbox never uses.
    for d in [
        "var/cache/apt",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/locale",
    ] {
        let p = root.join(d);
        if p.exists() {
            let _ = fs::remove_dir_all(&p);
            let _ = fs::create_dir_all(&p);
        }
    }
    let tmp = out.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    run_tool(
        Command::new("mksquashfs").arg(&root).arg(&tmp).args([
            "-comp",
            "lz4",
            "-noappend",
            "-quiet",
            "-no-progress",
        ]),
        "mksquashfs",
    )?;
    fs::rename(&tmp, out).map_err(io("write rootfs"))?;
    let _ = fs::remove_dir_all(&root);
    Ok(())
}

/// An exclusive lock file (flock) so two setups never interleave.
struct Lock(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

impl Lock {
    fn take(path: &Path) -> Result<Self, AssetError> {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io("open lock"))?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map(Lock)
            .map_err(|(_, e)| AssetError::Io {
                what: "lock asset dir".into(),
                source: e.into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_elf_detection() {
        assert!(!is_static_elf(b"not an elf"));
        // The test binary itself is dynamically linked (has PT_INTERP).
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&me));
    }

    #[test]
    fn vmlinuz_without_lz4_payload_is_refused() {
        let err = decompress_vmlinuz(&[0u8; 4096]).unwrap_err();
        assert!(err.to_string().contains("no LZ4"), "{err}");
    }

    #[test]
    fn load_reports_missing_setup() {
        let d = tempfile::tempdir().unwrap();
        let err = load(d.path()).unwrap_err();
        assert!(err.to_string().contains("babuino setup vm"), "{err}");
    }
}
