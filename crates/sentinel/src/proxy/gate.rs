//! The proxy's question to the engine: may this package (and this version) be served?
use futures::future::BoxFuture;

/// The two registries the proxy fronts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Registry {
    /// PyPI's simple API and its files.
    Pypi,
    /// The npm registry's package documents and tarballs.
    Npm,
}

impl Registry {
    /// The ecosystem name users see in messages (`pypi`, `npm`).
    pub fn label(self) -> &'static str {
        match self {
            Registry::Pypi => "pypi",
            Registry::Npm => "npm",
        }
    }
}

/// One question: a package, optionally at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Which registry the name belongs to.
    pub registry: Registry,
    /// The package name as the client asked for it.
    pub name: String,
    /// A concrete version, when the question is about one release.
    pub version: Option<String>,
}

impl Query {
    /// The package the engine is asked about.
    pub fn package(&self) -> crate::PackageRef {
        crate::PackageRef {
            ecosystem: match self.registry {
                Registry::Pypi => crate::Ecosystem::Pypi,
                Registry::Npm => crate::Ecosystem::Npm,
            },
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }
}

/// Rule of a refusal because the judgement could not be recorded in the audit log
/// ([`crate::audit::AuditingGate`]): the proxy answers 503 and serves nothing.
pub const AUDIT_FAILED: &str = "audit-failed";

/// The answer the proxy acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// True when the package (version) may be served.
    pub allowed: bool,
    /// The stable code of the rule that decided (a finding code such as `typosquat`).
    pub rule: String,
    /// Why, in one sentence a user can act on.
    pub reason: String,
    /// The package the user probably meant, when there is one.
    pub alternative: Option<String>,
}

impl Judgement {
    /// An allowing judgement (no rule fired).
    pub fn allow() -> Self {
        Judgement {
            allowed: true,
            rule: String::new(),
            reason: String::new(),
            alternative: None,
        }
    }

    /// The one-line message shown to clients: names the package, the rule and the alternative.
    pub fn message(&self, query: &Query) -> String {
        let target = match &query.version {
            Some(v) => format!("{}:{}@{}", query.registry.label(), query.name, v),
            None => format!("{}:{}", query.registry.label(), query.name),
        };
        let mut msg = format!(
            "sentinel blocked {target} (rule {}): {}",
            self.rule, self.reason
        );
        if let Some(alt) = &self.alternative {
            msg.push_str(&format!("; use `{alt}` instead"));
        }
        msg
    }
}

/// Decides queries. The engine implements it; answers come back in the order asked.
pub trait Gate: Send + Sync + 'static {
    /// Judges every query; the result has one judgement per query, in order.
    fn judge(&self, queries: Vec<Query>) -> BoxFuture<'_, Vec<Judgement>>;
}
