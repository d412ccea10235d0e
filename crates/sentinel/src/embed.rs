//! Sentinel inside another program (Babuino's sandboxed installs): the engine and the registry
//! proxy's configuration built from exactly what the `sentinel` command line reads, so an
//! embedded Sentinel and `sentinel check` give the same verdicts.
//!
//! Read here: the policy (`--policy`, else `SENTINEL_POLICY`, else `sentinel.toml` found upward
//! from the working directory, else the defaults); the cache directory (`SENTINEL_CACHE_DIR`,
//! through the policy); the registry URLs (`SENTINEL_PYPI_URL`, `SENTINEL_NPM_URL`, …) and the
//! advisory mode (`SENTINEL_ADVISORIES`), which the engine applies itself; and the proxy's
//! upstreams (`SENTINEL_PROXY_PYPI_SIMPLE`, `SENTINEL_PROXY_PYPI_FILES`, `SENTINEL_PROXY_NPM`).
use std::path::PathBuf;

use crate::corpus::Corpora;
use crate::engine::{Config, Engine, EngineError};
use crate::policy::{FailMode, Policy, PolicyError};
use crate::proxy::ProxyConfig;

/// Errors building an embedded Sentinel.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The policy file could not be loaded (the cause is the error's source).
    #[error("loading the policy (fix the file or pass --policy)")]
    Policy(#[from] PolicyError),
    /// The engine could not start (the cause is the error's source).
    #[error("starting the engine")]
    Engine(#[from] EngineError),
}

/// The engine options of the `sentinel` command line (its global flags).
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Policy file; `None`: `sentinel.toml` upward from the working directory, else defaults.
    pub policy: Option<PathBuf>,
    /// Answer from the cache and corpora only.
    pub offline: bool,
    /// Cache directory replacing the policy's.
    pub cache_dir: Option<PathBuf>,
    /// Run without any cache.
    pub no_cache: bool,
    /// Warn instead of blocking when a registry cannot be reached.
    pub fail_open: bool,
    /// Corpus files replacing the embedded ones.
    pub corpus_dir: Option<PathBuf>,
}

impl EngineOptions {
    /// The options a `sentinel` run without flags would have: only `SENTINEL_POLICY` is read
    /// here (every other variable is read where the CLI reads it too).
    pub fn from_env() -> Self {
        EngineOptions {
            policy: std::env::var_os("SENTINEL_POLICY")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            ..EngineOptions::default()
        }
    }
}

/// Loads the policy the options name and applies the flags; returns where it came from.
pub fn load_policy(o: &EngineOptions) -> Result<(Policy, Option<PathBuf>), PolicyError> {
    let path = match &o.policy {
        Some(p) => Some(p.clone()),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| Policy::find_upward(&d)),
    };
    let mut policy = match &path {
        Some(p) => Policy::load(p)?,
        None => Policy::default(),
    };
    if o.offline {
        policy.offline = true;
    }
    if o.fail_open {
        policy.fail = FailMode::Open;
    }
    if let Some(d) = &o.cache_dir {
        policy.cache.dir = Some(d.clone());
    }
    Ok((policy, path))
}

/// Builds the engine exactly as the `sentinel` command line does.
pub fn build_engine(o: &EngineOptions) -> Result<Engine, EmbedError> {
    let (policy, _) = load_policy(o)?;
    let corpora = o.corpus_dir.as_deref().map(Corpora::from_dir);
    Ok(Engine::new(Config {
        policy,
        corpora,
        no_cache: o.no_cache,
    })?)
}

/// The registry proxy's upstreams from `SENTINEL_PROXY_PYPI_SIMPLE`, `SENTINEL_PROXY_PYPI_FILES`
/// and `SENTINEL_PROXY_NPM` (the variables `sentinel proxy` reads), else the public registries.
/// Links go back to the proxy under each request's `Host` (no fixed public URL).
pub fn proxy_config_from_env() -> ProxyConfig {
    let mut c = ProxyConfig::default();
    for (var, slot) in [
        ("SENTINEL_PROXY_PYPI_SIMPLE", &mut c.pypi_simple),
        ("SENTINEL_PROXY_PYPI_FILES", &mut c.pypi_files),
        ("SENTINEL_PROXY_NPM", &mut c.npm_registry),
    ] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            *slot = v;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_apply_like_the_cli_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sentinel.toml");
        std::fs::write(&file, "offline = false\n").unwrap();
        let o = EngineOptions {
            policy: Some(file.clone()),
            offline: true,
            cache_dir: Some(dir.path().join("c")),
            fail_open: true,
            ..EngineOptions::default()
        };
        let (p, from) = load_policy(&o).unwrap();
        assert_eq!(from, Some(file));
        assert!(p.offline);
        assert_eq!(p.fail, FailMode::Open);
        assert_eq!(p.cache.dir, Some(dir.path().join("c")));
        let bad = EngineOptions {
            policy: Some(dir.path().join("missing.toml")),
            ..EngineOptions::default()
        };
        assert!(matches!(build_engine(&bad), Err(EmbedError::Policy(_))));
    }
}
