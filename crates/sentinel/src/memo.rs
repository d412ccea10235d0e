//! A short-lived in-process memo of verdicts for the long-running frontends (MCP server, proxy).
//!
//! An assistant asks about the same names again and again, and the proxy judges every version of
//! a package document on each request; the engine's answer for a package does not change within
//! a minute (its registry cache lives for hours), so the frontends keep verdicts for
//! [`MEMO_TTL`]. "Could not verify" verdicts are never kept: the next call retries the registry.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::verdict::codes;
use crate::{Engine, PackageRef, Verdict};

/// How long a verdict is reused.
pub const MEMO_TTL: Duration = Duration::from_secs(60);
/// Most verdicts kept; the memo is emptied when full (a bound on memory, not an LRU).
pub const MEMO_CAPACITY: usize = 50_000;

/// The engine behind a verdict memo.
#[derive(Debug)]
pub struct MemoEngine {
    engine: Engine,
    ttl: Duration,
    map: Mutex<HashMap<PackageRef, (Instant, Verdict)>>,
}

impl MemoEngine {
    /// Wraps `engine`; `ttl` zero disables the memo.
    pub fn new(engine: Engine, ttl: Duration) -> Self {
        MemoEngine {
            engine,
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The engine itself.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn get(&self, pkg: &PackageRef) -> Option<Verdict> {
        let map = self.map.lock().ok()?;
        let (at, v) = map.get(pkg)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    fn put(&self, pkg: &PackageRef, v: &Verdict) {
        if self.ttl.is_zero() || v.has(codes::UNVERIFIED) {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= MEMO_CAPACITY {
                map.clear();
            }
            map.insert(pkg.clone(), (Instant::now(), v.clone()));
        }
    }

    /// Same answer as [`Engine::validate`], from the memo when fresh.
    pub async fn validate(&self, pkg: &PackageRef) -> Verdict {
        if let Some(v) = self.get(pkg) {
            return v;
        }
        let v = self.engine.validate(pkg).await;
        self.put(pkg, &v);
        v
    }

    /// Validates many packages concurrently; verdicts in the order asked.
    pub async fn validate_all(&self, pkgs: &[PackageRef]) -> Vec<Verdict> {
        futures::future::join_all(pkgs.iter().map(|p| self.validate(p))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::{Config, Ecosystem};

    fn engine(dir: &std::path::Path) -> Engine {
        let mut policy = Policy {
            offline: true,
            ..Policy::default()
        };
        policy.cache.dir = Some(dir.to_path_buf());
        policy.packages.deny = vec!["npm:evil-*".into()];
        Engine::new(Config {
            policy,
            corpora: None,
            no_cache: true,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn memo_keeps_verdicts_but_not_unverified_ones() {
        let dir = tempfile::tempdir().unwrap();
        let m = MemoEngine::new(engine(dir.path()), Duration::from_secs(60));
        let denied = PackageRef::new(Ecosystem::Npm, "evil-pkg");
        let first = m.validate(&denied).await;
        assert_eq!(first.decision, crate::Decision::Block);
        assert_eq!(m.validate(&denied).await, first);
        assert_eq!(m.map.lock().unwrap().len(), 1);
        // Offline and uncached: "could not verify", never memoised.
        let unknown = PackageRef::new(Ecosystem::Pypi, "six");
        assert!(m.validate(&unknown).await.has(codes::UNVERIFIED));
        assert_eq!(m.map.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn zero_ttl_disables_the_memo() {
        let dir = tempfile::tempdir().unwrap();
        let m = MemoEngine::new(engine(dir.path()), Duration::ZERO);
        m.validate(&PackageRef::new(Ecosystem::Npm, "evil-pkg"))
            .await;
        assert!(m.map.lock().unwrap().is_empty());
    }
}
