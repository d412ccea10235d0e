//! Cgroups for one run: memory, CPU and process limits, OOM and pids accounting, and killing the
//! whole tree. Works with cgroup v2 and with v1 (hybrid hosts put the controllers on v1).

use crate::spec::Limits;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CG_ROOT: &str = "/sys/fs/cgroup";
const CFS_PERIOD_US: u64 = 100_000;

/// Errors creating or configuring cgroups.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no usable cgroup hierarchy with the {0} controller (need cgroup v2 or v1 memory, pids and cpu)"
    )]
    NoController(&'static str),
    #[error("cannot create cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot set {file} in cgroup {path}: {source}")]
    Write {
        path: PathBuf,
        file: String,
        source: io::Error,
    },
}

/// Which cgroup version is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The cgroups of one run.
#[derive(Debug)]
pub struct RunCgroups {
    pub version: Version,
    /// Directories created for this run (v1: one per controller; v2: one).
    pub dirs: Vec<PathBuf>,
    memory: PathBuf,
    pids: PathBuf,
    freezer: Option<PathBuf>,
}

/// The path of our own cgroup in a v1 controller hierarchy or in v2 (`""` key).
fn own_cgroup(controller: &str) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrls.split(',').any(|c| c == controller) {
            return Some(path.to_string());
        }
    }
    None
}

fn v2_root() -> Option<PathBuf> {
    // Pure v2 host: /sys/fs/cgroup is the unified hierarchy with controllers.
    let root = Path::new(CG_ROOT);
    if root.join("cgroup.controllers").exists() {
        return Some(root.to_path_buf());
    }
    None
}

fn v2_own_dir() -> Option<PathBuf> {
    let root = v2_root()?;
    let own = own_cgroup("")?;
    Some(root.join(own.trim_start_matches('/')))
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    fs::write(dir.join(file), value).map_err(|source| CgroupError::Write {
        path: dir.to_path_buf(),
        file: file.to_string(),
        source,
    })
}

fn mkdir(path: &Path) -> Result<(), CgroupError> {
    fs::create_dir(path).map_err(|source| CgroupError::Create {
        path: path.to_path_buf(),
        source,
    })
}

impl RunCgroups {
    /// Creates the cgroups for run `id` and applies the limits.
    pub fn create(id: &str, limits: &Limits) -> Result<Self, CgroupError> {
        let name = format!("babuino-{id}");
        if let (Some(root), Some(own)) = (v2_root(), v2_own_dir()) {
            // As root, runs live under <root>/babuino (the root cgroup is exempt from the "no
            // internal processes" rule, so controllers can be enabled below it); otherwise under
            // our own (delegated) cgroup.
            let base = if nix::unistd::geteuid().is_root() {
                root
            } else {
                own
            };
            let controllers =
                fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
            if controllers.split_whitespace().any(|c| c == "memory")
                && controllers.split_whitespace().any(|c| c == "pids")
            {
                return Self::create_v2(&base, &name, limits);
            }
        }
        Self::create_v1(&name, limits)
    }

    fn create_v2(base: &Path, name: &str, limits: &Limits) -> Result<Self, CgroupError> {
        // Controllers can only be enabled for the children of a cgroup without processes, so
        // runs live under a `babuino` parent with the controllers enabled.
        let parent = base.join("babuino");
        if !parent.exists() {
            mkdir(&parent)?;
        }
        let _ = fs::write(base.join("cgroup.subtree_control"), "+memory +pids +cpu");
        let _ = fs::write(parent.join("cgroup.subtree_control"), "+memory +pids +cpu");
        let dir = parent.join(name);
        mkdir(&dir)?;
        let cg = RunCgroups {
            version: Version::V2,
            dirs: vec![dir.clone()],
            memory: dir.clone(),
            pids: dir.clone(),
            freezer: Some(dir.clone()),
        };
        let setup = || -> Result<(), CgroupError> {
            write(&dir, "memory.max", &limits.memory_bytes.to_string())?;
            let _ = fs::write(dir.join("memory.swap.max"), "0");
            write(&dir, "pids.max", &limits.pids.to_string())?;
            let quota = (limits.cpus * CFS_PERIOD_US as f64).round() as u64;
            if fs::metadata(dir.join("cpu.max")).is_ok() {
                write(&dir, "cpu.max", &format!("{quota} {CFS_PERIOD_US}"))?;
            }
            Ok(())
        };
        if let Err(e) = setup() {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    fn create_v1(name: &str, limits: &Limits) -> Result<Self, CgroupError> {
        let mut dirs = Vec::new();
        let mut make =
            |ctrl: &'static str, required: bool| -> Result<Option<PathBuf>, CgroupError> {
                let base = Path::new(CG_ROOT).join(ctrl);
                let Some(own) = own_cgroup(ctrl) else {
                    return if required {
                        Err(CgroupError::NoController(ctrl))
                    } else {
                        Ok(None)
                    };
                };
                if !base.exists() {
                    return if required {
                        Err(CgroupError::NoController(ctrl))
                    } else {
                        Ok(None)
                    };
                }
                let dir = base.join(own.trim_start_matches('/')).join(name);
                match fs::create_dir(&dir) {
                    Ok(()) => {
                        dirs.push(dir.clone());
                        Ok(Some(dir))
                    }
                    Err(source) if required => Err(CgroupError::Create { path: dir, source }),
                    Err(_) => Ok(None),
                }
            };
        let result = (|| {
            let memory = make("memory", true)?.ok_or(CgroupError::NoController("memory"))?;
            let pids = make("pids", true)?.ok_or(CgroupError::NoController("pids"))?;
            let cpu = make("cpu", false)?;
            let freezer = make("freezer", false)?;
            Ok::<_, CgroupError>((memory, pids, cpu, freezer))
        })();
        let (memory, pids, cpu, freezer) = match result {
            Ok(v) => v,
            Err(e) => {
                for d in dirs.iter().rev() {
                    let _ = fs::remove_dir(d);
                }
                return Err(e);
            }
        };
        let cg = RunCgroups {
            version: Version::V1,
            dirs,
            memory,
            pids,
            freezer,
        };
        let setup = || -> Result<(), CgroupError> {
            write(
                &cg.memory,
                "memory.limit_in_bytes",
                &limits.memory_bytes.to_string(),
            )?;
            // Without this the limit can be dodged by swapping, where swap accounting is on.
            let _ = fs::write(
                cg.memory.join("memory.memsw.limit_in_bytes"),
                limits.memory_bytes.to_string(),
            );
            let _ = fs::write(cg.memory.join("memory.swappiness"), "0");
            write(&cg.pids, "pids.max", &limits.pids.to_string())?;
            if let Some(cpu) = &cpu {
                let quota = (limits.cpus * CFS_PERIOD_US as f64).round() as u64;
                write(cpu, "cpu.cfs_period_us", &CFS_PERIOD_US.to_string())?;
                write(cpu, "cpu.cfs_quota_us", &quota.max(1000).to_string())?;
            }
            Ok(())
        };
        if let Err(e) = setup() {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    /// Moves process `pid` (and its future children) into every cgroup of the run.
    pub fn add(&self, pid: i32) -> Result<(), CgroupError> {
        for d in &self.dirs {
            write(d, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Files a single-threaded process writes `0` into to move itself into the run's cgroups.
    ///
    /// On v1 these are the `tasks` files: a thread moving itself there skips the global
    /// threadgroup lock, whose RCU synchronisation otherwise costs ~15 ms per run.
    pub fn self_attach_files(&self) -> Vec<PathBuf> {
        let file = match self.version {
            Version::V1 => "tasks",
            Version::V2 => "cgroup.procs",
        };
        self.dirs.iter().map(|d| d.join(file)).collect()
    }

    /// Whether the kernel OOM-killed something in the run.
    pub fn oom_killed(&self) -> bool {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        counter(&self.memory.join(file), "oom_kill") > 0
    }

    /// Whether a fork failed because of the process limit.
    pub fn pids_hit(&self) -> bool {
        counter(&self.pids.join("pids.events"), "max") > 0
    }

    /// Processes still in the run's cgroups.
    pub fn procs(&self) -> Vec<i32> {
        let mut v: Vec<i32> = Vec::new();
        for d in &self.dirs {
            if let Ok(t) = fs::read_to_string(d.join("cgroup.procs")) {
                v.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Kills every process of the run (freezing first so none can fork away) and waits until the
    /// cgroups are empty or `wait` passes.
    pub fn kill_all(&self, wait: Duration) {
        kill_dirs(&self.dirs, self.freezer.as_deref(), self.version, wait);
    }

    /// Removes the cgroup directories (they must be empty of processes).
    pub fn remove(&self) {
        remove_dirs(&self.dirs);
    }
}

fn counter(path: &Path, key: &str) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let mut it = l.split_whitespace();
                (it.next() == Some(key))
                    .then(|| it.next().and_then(|n| n.parse().ok()))
                    .flatten()
            })
        })
        .unwrap_or(0)
}

fn kill_dirs(dirs: &[PathBuf], freezer: Option<&Path>, version: Version, wait: Duration) {
    let freeze = |on: bool| {
        if let Some(f) = freezer {
            let _ = match version {
                Version::V1 => fs::write(
                    f.join("freezer.state"),
                    if on { "FROZEN" } else { "THAWED" },
                ),
                Version::V2 => fs::write(f.join("cgroup.freeze"), if on { "1" } else { "0" }),
            };
        }
    };
    // cgroup v2 has a one-shot kill.
    if version == Version::V2 {
        for d in dirs {
            let _ = fs::write(d.join("cgroup.kill"), "1");
        }
    }
    let deadline = Instant::now() + wait;
    loop {
        let mut pids = Vec::new();
        for d in dirs {
            if let Ok(t) = fs::read_to_string(d.join("cgroup.procs")) {
                pids.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        if pids.is_empty() {
            freeze(false);
            return;
        }
        freeze(true);
        for p in &pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Frozen tasks only die once thawed.
        freeze(false);
        if Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn remove_dirs(dirs: &[PathBuf]) {
    for d in dirs.iter().rev() {
        for _ in 0..50 {
            match fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }
}

/// Where the cgroups of run `id` would be (for reaping a run that died before recording them).
pub fn candidate_dirs(id: &str) -> Vec<PathBuf> {
    let name = format!("babuino-{id}");
    let mut v = Vec::new();
    for ctrl in ["memory", "pids", "cpu", "freezer"] {
        if let Some(own) = own_cgroup(ctrl) {
            v.push(
                Path::new(CG_ROOT)
                    .join(ctrl)
                    .join(own.trim_start_matches('/'))
                    .join(&name),
            );
        }
    }
    if let Some(root) = v2_root() {
        v.push(root.join("babuino").join(&name));
        if let Some(own) = v2_own_dir() {
            v.push(own.join("babuino").join(&name));
        }
    }
    v.retain(|d| d.is_dir());
    v
}

/// Kills whatever is left in cgroup directories recorded by a run that died, and removes them.
pub fn reap_dirs(dirs: &[PathBuf]) {
    let version = if dirs.iter().any(|d| d.join("cgroup.kill").exists()) {
        Version::V2
    } else {
        Version::V1
    };
    let freezer = dirs
        .iter()
        .find(|d| d.join("freezer.state").exists() || d.join("cgroup.freeze").exists())
        .cloned();
    kill_dirs(dirs, freezer.as_deref(), version, Duration::from_secs(2));
    remove_dirs(dirs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kernel_counters() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("memory.oom_control");
        fs::write(&f, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").unwrap();
        assert_eq!(counter(&f, "oom_kill"), 3);
        assert_eq!(counter(&f, "under_oom"), 0);
        let p = dir.path().join("pids.events");
        fs::write(&p, "max 12\n").unwrap();
        assert_eq!(counter(&p, "max"), 12);
        assert_eq!(counter(&dir.path().join("missing"), "max"), 0);
    }
}
