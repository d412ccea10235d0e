//! The micro-VM as a [`Backend`]: maps the shared [`RunSpec`] onto a VM run and the VM's result
//! onto the shared [`RunReport`].

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::backend::{Backend, BackendError, OutputSink};
use crate::egress::{EgressProxy, ProxyListen, ProxyOptions};
use crate::report::{Event, EventKind, Exit, RunReport, Timings, new_run_id};
use crate::spec::{BackendKind, RunSpec};

use super::assets;
use super::qemu::{self, AccelChoice};
use super::run::{self, GUEST_PROXY_PORT, VmConfig, VmExit, VmJob};

/// Smallest VM the guest kernel and an interpreter fit in.
pub const MIN_MEMORY_MIB: u64 = 128;
/// Default longest boot (TCG on a loaded 2-core host can take tens of seconds).
pub const DEFAULT_BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The micro-VM backend.
#[derive(Debug, Clone)]
pub struct VmBackend {
    pub accel: AccelChoice,
    pub asset_dir: PathBuf,
    pub boot_timeout: Duration,
    pub proxy_options: ProxyOptions,
}

impl VmBackend {
    /// Defaults, with `BABUINO_VM_ACCEL` (auto, kvm, tcg) and `BABUINO_VM_BOOT_TIMEOUT`
    /// (seconds) read from the environment.
    pub fn from_env() -> Result<Self, BackendError> {
        let accel = match std::env::var("BABUINO_VM_ACCEL").as_deref() {
            Ok("kvm") => AccelChoice::Kvm,
            Ok("tcg") => AccelChoice::Tcg,
            Ok("auto") | Ok("") | Err(_) => AccelChoice::Auto,
            Ok(other) => {
                return Err(BackendError::Setup(format!(
                    "BABUINO_VM_ACCEL={other:?}: expected auto, kvm or tcg"
                )));
            }
        };
        let boot_timeout = match std::env::var("BABUINO_VM_BOOT_TIMEOUT") {
            Ok(v) => Duration::from_secs(v.trim().parse::<u64>().map_err(|_| {
                BackendError::Setup(format!(
                    "BABUINO_VM_BOOT_TIMEOUT={v:?}: expected whole seconds"
                ))
            })?),
            Err(_) => DEFAULT_BOOT_TIMEOUT,
        };
        Ok(VmBackend {
            accel,
            asset_dir: assets::default_dir(),
            boot_timeout,
            proxy_options: ProxyOptions::from_env()
                .map_err(|e| BackendError::Setup(e.to_string()))?,
        })
    }
}

impl Backend for VmBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Kvm
    }

    fn available(&self) -> Result<(), String> {
        let ok = std::process::Command::new(qemu::QEMU)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return Err(format!(
                "{} is not installed (apt-get install qemu-system-x86)",
                qemu::QEMU
            ));
        }
        assets::load(&self.asset_dir)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn run(&self, spec: &RunSpec, sink: &mut dyn OutputSink) -> Result<RunReport, BackendError> {
        let started = Instant::now();
        let unavailable = |why: String| BackendError::Unavailable(BackendKind::Kvm, why);
        let assets = assets::load(&self.asset_dir).map_err(|e| unavailable(e.to_string()))?;
        spec.check_code_dir()?;
        if let Some(m) = spec.mounts.first() {
            // The guest has no way to see host directories other than the code directory yet:
            // refuse rather than run without what the spec promised.
            return Err(unavailable(format!(
                "the micro-VM cannot mount {} at {} (only the native backend mounts extra directories)",
                m.host.display(),
                m.sandbox.display()
            )));
        }
        let memory_mib = spec.limits.memory_bytes >> 20;
        if memory_mib < MIN_MEMORY_MIB {
            return Err(BackendError::Setup(format!(
                "the micro-VM needs at least {MIN_MEMORY_MIB}M of memory (--memory {}M given)",
                memory_mib
            )));
        }
        let vcpus = (spec.limits.cpus.ceil() as u32).clamp(1, 64);
        let (accel, accel_reason) = qemu::choose_accel(self.accel);

        // The egress proxy, when hosts are allowed: the guest reaches it only through the
        // relay on the control channel (the VM has no NIC).
        let proxy = if spec.network.is_blocked() {
            None
        } else {
            let listen = ProxyListen::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
            Some(
                EgressProxy::start(
                    spec.network.clone(),
                    listen,
                    self.proxy_options.clone(),
                    started,
                )
                .map_err(|e| BackendError::Setup(format!("egress proxy: {e}")))?,
            )
        };
        let proxy_addr = match proxy.as_ref().map(|p| p.listen().clone()) {
            Some(ProxyListen::Tcp(a)) => Some(a),
            _ => None,
        };
        let proxy_rx = proxy.as_ref().map(|p| p.subscribe());

        let mut env: Vec<(String, String)> = spec.sandbox_env().into_iter().collect();
        if proxy_addr.is_some() {
            let url = format!("http://127.0.0.1:{GUEST_PROXY_PORT}");
            for k in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
                env.retain(|(ek, _)| ek != k);
                env.push((k.to_string(), url.clone()));
            }
        }
        let job = VmJob {
            argv: spec.argv()?,
            env,
            code_dir: spec.code_dir.clone(),
            stdin: spec.stdin,
        };
        let cfg = VmConfig {
            assets: assets.clone(),
            accel,
            accel_reason: accel_reason.clone(),
            memory_mib,
            vcpus,
            timeout: spec.limits.timeout,
            boot_timeout: self.boot_timeout,
            output_limit: spec.limits.output_bytes,
            output_dir: spec.output_dir.clone(),
            output_files_limit: spec.limits.tmp_bytes,
            pids: spec.limits.pids,
            tmp_bytes: spec.limits.tmp_bytes,
            proxy: proxy_addr,
        };
        let mut report = RunReport::new(
            new_run_id(),
            BackendKind::Kvm,
            spec.display_name(),
            spec.limits.clone(),
            spec.network.clone(),
        );
        let d = &mut report.details;
        d.insert("vmm".into(), "qemu microvm".into());
        d.insert("accel".into(), accel.name().into());
        d.insert("accel_reason".into(), accel_reason.into());
        d.insert("vcpus".into(), vcpus.into());
        d.insert("memory_mib".into(), memory_mib.into());
        d.insert(
            "guest_kernel".into(),
            assets.manifest.kernel_version.clone().into(),
        );
        d.insert(
            "network".into(),
            if proxy_addr.is_some() {
                "no NIC; egress proxy relay on 127.0.0.1:3128 over the control channel".into()
            } else {
                "no NIC".into()
            },
        );
        let mut notes: Vec<Event> = Vec::new();
        let mut note = |sink: &mut dyn OutputSink, detail: String| {
            let ev = Event {
                time_ms: started.elapsed().as_millis() as u64,
                kind: EventKind::Info,
                detail,
            };
            sink.event(&ev);
            notes.push(ev);
        };
        note(
            sink,
            format!(
                "starting micro-VM (qemu microvm, accel={}: {}) · {memory_mib} MiB · {vcpus} vCPU",
                accel.name(),
                cfg.accel_reason
            ),
        );
        let result = run::run(&cfg, &job, sink, proxy_rx.as_ref(), started);
        if let Ok(vm) = &result {
            note(
                sink,
                format!(
                    "boot {:.1} s (guest agent up at {:.1} s of guest time) · run {:.1} s · VM destroyed",
                    vm.boot_ms as f64 / 1000.0,
                    vm.guest_agent_ms as f64 / 1000.0,
                    vm.run_ms as f64 / 1000.0
                ),
            );
        }
        let teardown = Instant::now();
        // Late proxy events (a connection refused just before the end).
        let late: Vec<_> = proxy_rx
            .map(|rx| rx.try_iter().collect())
            .unwrap_or_default();
        if let Some(p) = proxy {
            p.shutdown();
        }
        let vm = result.map_err(|e| BackendError::Setup(e.to_string()))?;
        for ev in late {
            sink.event(&ev);
            report.events.push(ev);
        }
        report.events.splice(0..0, vm.events.iter().cloned());
        report.events.extend(notes);
        report.events.sort_by_key(|e| e.time_ms);
        report.details.insert("boot_ms".into(), vm.boot_ms.into());
        report
            .details
            .insert("guest_boot_ms".into(), vm.guest_boot_ms.into());
        report
            .details
            .insert("guest_agent_ms".into(), vm.guest_agent_ms.into());
        let mut jail = String::from(
            "own net/ipc/uts namespaces, a uid of its own per VM when started as root, no_new_privs, \
             -sandbox on (spawn, setuid, resource control denied)",
        );
        if vm.qemu_landlock {
            jail.push_str(", landlock (reads its program files and the guest assets only)");
        }
        report.details.insert("qemu_jail".into(), jail.into());
        let exit = match vm.exit {
            VmExit::Code { code } if code != 0 && vm.pids_hit => Exit::Pids,
            VmExit::Code { code } => Exit::Code(code),
            VmExit::Signal { .. } if vm.pids_hit => Exit::Pids,
            VmExit::Signal { signal } => Exit::Signal(signal),
            VmExit::Memory => Exit::Memory,
            VmExit::Timeout => Exit::Timeout,
            VmExit::OutputLimit => Exit::OutputCap,
        };
        report.set_exit(exit);
        report.stdout.bytes = vm.stdout_bytes;
        report.stderr.bytes = vm.stderr_bytes;
        report.stdout.truncated = vm.truncated;
        report.stderr.truncated = vm.truncated;
        report.outputs = vm.output_files;
        let total = started.elapsed().as_secs_f64() * 1000.0;
        report.timings = Timings {
            setup_ms: vm.boot_ms as f64,
            run_ms: vm.run_ms as f64,
            teardown_ms: teardown.elapsed().as_secs_f64() * 1000.0,
            total_ms: total,
            install_ms: None,
        };
        Ok(report)
    }
}
