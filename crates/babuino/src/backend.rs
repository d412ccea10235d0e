//! The backend abstraction every isolation mechanism implements.

use crate::report::{Event, RunReport};
use crate::spec::{BackendKind, RunSpec};

/// Errors that stop a backend before or around the run (not the program's own failure, which is
/// reported in [`RunReport::exit`]).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("backend {0} is not available on this host: {1}")]
    Unavailable(BackendKind, String),
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
}

impl BackendError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BackendError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives the program's output and the run's events while it runs.
pub trait OutputSink: Send {
    /// A chunk of the program's output (already within the output cap).
    fn output(&mut self, stream: Stream, data: &[u8]);
    /// An event, as soon as it is known.
    fn event(&mut self, event: &Event);
}

/// Keeps everything in memory (tests, `--json` when output is not wanted on the terminal).
#[derive(Debug, Default)]
pub struct CollectSink {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub events: Vec<Event>,
}

impl OutputSink for CollectSink {
    fn output(&mut self, stream: Stream, data: &[u8]) {
        match stream {
            Stream::Stdout => self.stdout.extend_from_slice(data),
            Stream::Stderr => self.stderr.extend_from_slice(data),
        }
    }
    fn event(&mut self, event: &Event) {
        self.events.push(event.clone());
    }
}

/// An isolation mechanism.
pub trait Backend {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// Whether it can run on this host, and if not why (shown to the user).
    fn available(&self) -> Result<(), String>;
    /// Runs the spec to completion, streaming output into `sink`. The sandbox is gone when
    /// this returns, whatever the outcome.
    fn run(&self, spec: &RunSpec, sink: &mut dyn OutputSink) -> Result<RunReport, BackendError>;
}

/// The backend for `kind` (`Auto` picks the strongest one available here).
pub fn backend_for(kind: BackendKind) -> Result<Box<dyn Backend>, BackendError> {
    let native = || -> Result<Box<dyn Backend>, BackendError> {
        let b = crate::native::NativeBackend {
            proxy_options: crate::egress::ProxyOptions::from_env()
                .map_err(|e| BackendError::Setup(e.to_string()))?,
        };
        b.available()
            .map_err(|why| BackendError::Unavailable(BackendKind::Native, why))?;
        Ok(Box::new(b))
    };
    match kind {
        BackendKind::Native | BackendKind::Auto => native(),
        BackendKind::Kvm => {
            let b = crate::vm::VmBackend::from_env()?;
            b.available()
                .map_err(|why| BackendError::Unavailable(BackendKind::Kvm, why))?;
            Ok(Box::new(b))
        }
        other => Err(BackendError::Unavailable(
            other,
            "not built into this babuino yet".to_string(),
        )),
    }
}

static INTERRUPT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Records that the user asked to stop (SIGINT, SIGTERM, SIGHUP); running backends poll
/// [`interrupted`] and tear their sandbox down.
pub fn request_interrupt(signal: i32) {
    INTERRUPT.store(signal, std::sync::atomic::Ordering::SeqCst);
}

/// The signal that interrupted babuino, if any.
pub fn interrupted() -> Option<i32> {
    match INTERRUPT.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to [`request_interrupt`] (call before starting threads
/// or sandboxes: the signals are blocked and waited for on a dedicated thread).
pub fn install_interrupt_handler() {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGHUP);
    if set.thread_block().is_err() {
        return;
    }
    std::thread::spawn(move || {
        while let Ok(sig) = set.wait() {
            request_interrupt(sig as i32);
        }
    });
}
