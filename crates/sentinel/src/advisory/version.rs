//! Version ordering per ecosystem, as OSV's evaluation rules require: PEP 440 for PyPI (epochs,
//! pre/post/dev and local versions), SemVer 2 precedence for npm and crates.io (build metadata
//! ignored), Go module versions (SemVer with a `v`, pseudo-versions, `+incompatible`).
//!
//! Parsing is lenient where registries are: `1.0` reads as `1.0.0` for SemVer ecosystems and a
//! leading `v` or `go` is dropped. A version that still does not parse is reported as `None`;
//! callers then compare conservatively and say so.
use std::cmp::Ordering;
use std::str::FromStr;

/// Which ordering an ecosystem's versions follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// PEP 440 (PyPI).
    Pep440,
    /// SemVer 2 precedence (npm, crates.io).
    Semver,
    /// Go module versions: SemVer with a leading `v`, pseudo-versions are pre-releases.
    Go,
}

impl Scheme {
    /// The ordering of an OSV ecosystem name (`PyPI`, `npm`, `crates.io`, `Go`); ecosystems we do
    /// not know are compared as SemVer, which is what most of them use.
    pub fn for_ecosystem(osv_ecosystem: &str) -> Scheme {
        match osv_ecosystem {
            "PyPI" => Scheme::Pep440,
            "Go" => Scheme::Go,
            _ => Scheme::Semver,
        }
    }

    /// Parses `text` in this ordering; `None` when it is not a version of this ecosystem.
    pub fn parse(self, text: &str) -> Option<Version> {
        let text = text.trim();
        match self {
            Scheme::Pep440 => pep440_rs::Version::from_str(text).ok().map(Version::Pep440),
            Scheme::Semver => parse_semver(text).map(Version::Semver),
            Scheme::Go => {
                let t = text.strip_prefix("go").unwrap_or(text);
                parse_semver(t).map(Version::Semver)
            }
        }
    }
}

/// A parsed version of one ecosystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Version {
    /// A PEP 440 version.
    Pep440(pep440_rs::Version),
    /// A SemVer version whose build metadata has been removed (it does not take part in
    /// precedence).
    Semver(semver::Version),
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Version::Pep440(a), Version::Pep440(b)) => a.cmp(b),
            (Version::Semver(a), Version::Semver(b)) => a.cmp_precedence(b),
            // Never happens within one ecosystem; a fixed order keeps sorting total.
            (Version::Pep440(_), Version::Semver(_)) => Ordering::Less,
            (Version::Semver(_), Version::Pep440(_)) => Ordering::Greater,
        }
    }
}

impl Version {
    /// A canonical spelling: two versions are equal exactly when their canonical spellings are
    /// (PEP 440 trailing zeros trimmed, so `8` and `8.0` agree; SemVer without build metadata).
    pub fn canonical(&self) -> String {
        match self {
            Version::Pep440(v) => {
                let release = v.release();
                let keep = release.iter().rposition(|&n| n != 0).map_or(1, |i| i + 1);
                v.clone().with_release(release[..keep].to_vec()).to_string()
            }
            Version::Semver(v) => v.to_string(),
        }
    }
}

/// SemVer with the leniency registries and advisories need: optional leading `v`/`=`, missing
/// minor/patch filled with zeros (`1.0` → `1.0.0`), build metadata dropped.
fn parse_semver(text: &str) -> Option<semver::Version> {
    let t = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('='))
        .unwrap_or(text)
        .trim();
    if t.is_empty() {
        return None;
    }
    let parsed = match semver::Version::parse(t) {
        Ok(v) => v,
        Err(_) => {
            // Pad the numeric core: `1` or `1.0`, possibly followed by `-pre` or `+build`.
            let split = t.find(['-', '+']).unwrap_or(t.len());
            let (core, rest) = t.split_at(split);
            let parts: Vec<&str> = core.split('.').collect();
            if parts.is_empty()
                || parts.len() > 2
                || parts
                    .iter()
                    .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
            {
                return None;
            }
            let mut padded = core.to_owned();
            for _ in parts.len()..3 {
                padded.push_str(".0");
            }
            padded.push_str(rest);
            semver::Version::parse(&padded).ok()?
        }
    };
    Some(semver::Version {
        build: semver::BuildMetadata::EMPTY,
        ..parsed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(scheme: Scheme, a: &str, b: &str) -> Ordering {
        let (Some(x), Some(y)) = (scheme.parse(a), scheme.parse(b)) else {
            panic!("unparsable: {a} or {b}");
        };
        x.cmp(&y)
    }

    #[test]
    fn pep440_orders_pre_dev_post_local_and_epochs() {
        use Ordering::*;
        let s = Scheme::Pep440;
        assert_eq!(cmp(s, "0.24.dev0", "0.24rc1"), Less);
        assert_eq!(cmp(s, "1.0a1", "1.0b1"), Less);
        assert_eq!(cmp(s, "1.0rc1", "1.0"), Less);
        assert_eq!(cmp(s, "1.0", "1.0.post0"), Less);
        assert_eq!(cmp(s, "1.0.post0", "1.0.post1"), Less);
        assert_eq!(cmp(s, "1.0", "1.0+local.1"), Less);
        assert_eq!(cmp(s, "1!0.1", "2.0"), Greater, "epoch wins over release");
        assert_eq!(cmp(s, "8", "8.0"), Equal);
        assert_eq!(cmp(s, "3.1.8dev0", "3.1.8.dev0"), Equal);
        assert_eq!(cmp(s, "0.1.2-1", "0.1.2.post1"), Equal);
        assert_eq!(cmp(s, "1.7a0", "1.7b4"), Less);
        assert_eq!(cmp(s, "1.8c1", "1.8rc1"), Equal);
        assert!(s.parse("2019-09-12").is_none(), "not PEP 440");
        let canon = |v: &str| s.parse(v).map(|v| v.canonical());
        assert_eq!(canon("8"), canon("8.0.0"));
        assert_eq!(canon("3.1.8dev0"), canon("3.1.8.dev0"));
        assert_ne!(canon("1.0"), canon("1.0.post0"));
        assert_ne!(canon("1.0"), canon("1!1.0"));
    }

    #[test]
    fn semver_precedence_ignores_build_and_pads() {
        use Ordering::*;
        let s = Scheme::Semver;
        assert_eq!(cmp(s, "1.0", "1.0.0"), Equal);
        assert_eq!(cmp(s, "1", "1.0.0"), Equal);
        assert_eq!(cmp(s, "5.0.0-alpha.1", "5.0.0-beta.3"), Less);
        assert_eq!(cmp(s, "5.0.0-beta.3", "5.0.0"), Less);
        assert_eq!(cmp(s, "0.0.0-0", "0.0.0"), Less);
        assert_eq!(cmp(s, "0.2.6-0", "0.2.6"), Less);
        assert_eq!(cmp(s, "1.0.0+build.5", "1.0.0"), Equal);
        assert_eq!(cmp(s, "v2.3.4", "2.3.4"), Equal);
        assert!(s.parse("latest").is_none());
        assert!(s.parse("1.x").is_none());
    }

    #[test]
    fn go_pseudo_versions_and_incompatible() {
        use Ordering::*;
        let s = Scheme::Go;
        assert_eq!(
            cmp(s, "v1.3.0", "1.3.1-0.20190301021747-ccb9e902956d"),
            Less
        );
        assert_eq!(
            cmp(s, "1.3.1-0.20190301021747-ccb9e902956d", "v1.3.1"),
            Less
        );
        assert_eq!(cmp(s, "v3.2.0+incompatible", "3.2.0"), Equal);
        assert_eq!(cmp(s, "v0.0.0-20150717181359-44718f8a89b0", "0.0.1"), Less);
        assert_eq!(
            cmp(
                s,
                "0.0.0-20200101000000-abcdef123456",
                "0.0.0-20210101000000-abcdef123456"
            ),
            Less
        );
        assert_eq!(cmp(s, "1.27.0-rc.2", "1.27.0-rc.3"), Less);
        assert_eq!(cmp(s, "go1.21.3", "1.21.3"), Equal);
        assert_eq!(cmp(s, "go1.21", "1.21.0"), Equal);
    }
}
