//! Group commit: many threads call [`GroupCommit::record`] one decision at a time, and a single
//! writer thread commits whatever has queued up as one batch (one transaction, one fsync, one
//! checkpoint). Each caller returns once its record is durable, as with [`Auditor::record`].

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::auditor::{Auditor, LogError};
use crate::record::Decision;

type Reply = mpsc::Sender<Result<String, String>>;

/// A cloneable handle to a writer thread that owns the [`Auditor`].
#[derive(Debug, Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<(Decision, Reply)>,
}

/// The writer thread; join it after dropping every [`GroupCommit`] handle.
#[derive(Debug)]
pub struct Writer(JoinHandle<()>);

impl Writer {
    /// Waits until every queued record is committed and the writer has stopped.
    pub fn join(self) {
        let _ = self.0.join();
    }
}

impl GroupCommit {
    /// Moves `auditor` to a writer thread that commits up to `max_batch` queued records at once.
    pub fn start(mut auditor: Auditor, max_batch: usize) -> (Self, Writer) {
        let (tx, rx) = mpsc::channel::<(Decision, Reply)>();
        let max_batch = max_batch.max(1);
        let handle = std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut queued = vec![first];
                while queued.len() < max_batch {
                    match rx.try_recv() {
                        Ok(item) => queued.push(item),
                        Err(_) => break,
                    }
                }
                let (decisions, replies): (Vec<Decision>, Vec<Reply>) = queued.into_iter().unzip();
                match auditor.record_batch(decisions) {
                    Ok(ids) => {
                        for (id, reply) in ids.into_iter().zip(replies) {
                            let _ = reply.send(Ok(id));
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                }
            }
        });
        (Self { tx }, Writer(handle))
    }

    /// Records one decision; returns its execution id once it is committed and checkpointed.
    /// Invalid input is rejected here, so one bad record never fails the others' batch.
    pub fn record(&self, decision: Decision) -> Result<String, LogError> {
        crate::auditor::validate(&decision)?;
        let (reply, answer) = mpsc::channel();
        self.tx
            .send((decision, reply))
            .map_err(|_| LogError::Invalid("the log writer has stopped".into()))?;
        answer
            .recv()
            .map_err(|_| LogError::Invalid("the log writer has stopped".into()))?
            .map_err(LogError::Batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_callers_share_commits() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("l");
        let log = Auditor::init(&dir, Some("example.com/group")).unwrap();
        let (gc, writer) = GroupCommit::start(log, 256);
        let ids: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|t| {
                    let gc = gc.clone();
                    s.spawn(move || {
                        (0..25)
                            .map(|i| {
                                gc.record(Decision::new(format!("q{t}-{i}"), "a", "m"))
                                    .unwrap()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        assert!(
            gc.record(Decision::new("q", "a", " ")).is_err(),
            "invalid input rejected"
        );
        drop(gc);
        writer.join();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 200);
        let log = Auditor::open(&dir).unwrap();
        let r = log
            .verify_all(&log.trusted_keys().unwrap(), &[], |_, _| {})
            .unwrap();
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.entries, 200);
        assert!(r.checkpoints <= 201);
    }
}
