//! OSV range evaluation ("Evaluation" in the osv-schema): a version is affected when it is listed
//! in `versions[]` or falls inside a `SEMVER`/`ECOSYSTEM` range. Events are sorted with the
//! ecosystem's own ordering, whatever their order in the record: `introduced` opens (`"0"` means
//! from the start), `fixed` closes exclusively, `last_affected` closes inclusively, `limit` caps
//! the range. `GIT` ranges name commits and cannot be compared with versions: they are ignored.
//!
//! When a version does not parse in its ecosystem the comparison is conservative (the package
//! counts as affected) and the outcome carries the reason, so the finding can say so.
use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::osv;
use super::version::{Scheme, Version};

/// What the store keeps of one `affected[]` entry: just what evaluation needs. Listed versions
/// are kept in canonical spelling (see [`Version::canonical`]; as written when they do not
/// parse), sorted, so a lookup is a binary search rather than hundreds of parses.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Matcher {
    #[serde(default, rename = "n", skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    #[serde(default, rename = "r", skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<osv::Range>,
}

impl Matcher {
    /// Keeps the explicit versions (canonical, sorted) and the version-comparable ranges of an
    /// entry.
    pub fn from_affected(scheme: Scheme, affected: &osv::Affected) -> Matcher {
        let mut versions: Vec<String> = affected
            .versions
            .iter()
            .map(|v| {
                scheme
                    .parse(v)
                    .map_or_else(|| v.trim().to_owned(), |p| p.canonical())
            })
            .collect();
        versions.sort();
        versions.dedup();
        Matcher {
            versions,
            ranges: affected
                .ranges
                .iter()
                .filter(|r| comparable(r))
                .cloned()
                .collect(),
        }
    }

    /// Whether the entry affects any version at all (a withdrawn-like entry with neither versions
    /// nor an `introduced` affects none).
    pub fn affects_some_version(&self) -> bool {
        !self.versions.is_empty()
            || self
                .ranges
                .iter()
                .any(|r| r.events.iter().any(|e| e.introduced.is_some()))
    }

    /// Whether the entry affects every version: a range opened at the very start (`0`, or
    /// RustSec's `0.0.0-0`) that nothing closes.
    pub fn affects_all_versions(&self) -> bool {
        self.ranges.iter().any(|r| {
            let starts_at_zero = r
                .events
                .iter()
                .any(|e| matches!(e.introduced.as_deref(), Some("0" | "0.0.0-0" | "0.0.0")));
            let closed = r
                .events
                .iter()
                .any(|e| e.fixed.is_some() || e.last_affected.is_some() || e.limit.is_some());
            starts_at_zero && !closed
        })
    }

    /// Every `fixed` version the entry names, as written.
    pub fn fixed_versions(&self) -> impl Iterator<Item = &str> {
        self.ranges
            .iter()
            .flat_map(|r| r.events.iter().filter_map(|e| e.fixed.as_deref()))
    }

    /// Human description of the affected versions, e.g. `>= 1.0.0, < 1.2.6`.
    pub fn describe(&self, scheme: Scheme) -> Vec<String> {
        let mut out = Vec::new();
        for range in &self.ranges {
            let mut open: Option<String> = None;
            for (_, ev) in sorted_events(scheme, range).0 {
                match ev {
                    Ev::Introduced(v) => {
                        open = Some(if v == "0" {
                            String::new()
                        } else {
                            format!(">= {v}")
                        })
                    }
                    Ev::Fixed(v) | Ev::LastAffected(v) | Ev::Limit(v) => {
                        if let Some(lo) = open.take() {
                            let op = if matches!(ev, Ev::LastAffected(_)) {
                                "<="
                            } else {
                                "<"
                            };
                            let hi = format!("{op} {v}");
                            out.push(if lo.is_empty() {
                                hi
                            } else {
                                format!("{lo}, {hi}")
                            });
                        }
                    }
                }
            }
            if let Some(lo) = open {
                out.push(if lo.is_empty() {
                    "all versions".to_owned()
                } else {
                    lo
                });
            }
        }
        if !self.versions.is_empty() {
            if !self.ranges.is_empty() {
                // Usually the ranges spelled out (PYSEC); the ranges say it better.
                out.push(format!("{} listed versions", self.versions.len()));
            } else {
                const SHOWN: usize = 8;
                let mut listed = self
                    .versions
                    .iter()
                    .take(SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if self.versions.len() > SHOWN {
                    listed.push_str(&format!(" and {} more", self.versions.len() - SHOWN));
                }
                out.push(format!("versions {listed}"));
            }
        }
        out
    }
}

fn comparable(range: &osv::Range) -> bool {
    range.kind == "SEMVER" || range.kind == "ECOSYSTEM"
}

/// Result of evaluating one entry against one version.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    pub affected: bool,
    /// Set when a version could not be compared and the answer is the conservative one.
    pub uncertain: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Ev<'a> {
    Introduced(&'a str),
    Fixed(&'a str),
    LastAffected(&'a str),
    Limit(&'a str),
}

impl Ev<'_> {
    /// Tie order at one version: an empty range (introduced X, fixed X) stays empty.
    fn rank(&self) -> u8 {
        match self {
            Ev::Introduced(_) => 0,
            Ev::LastAffected(_) => 1,
            Ev::Fixed(_) => 2,
            Ev::Limit(_) => 3,
        }
    }
}

/// Sort key: `None` is "before every version" (`introduced: "0"`).
type Key = Option<Version>;

/// A range's events in ecosystem order, and why some bound did not parse (if one did not).
type SortedRange<'a> = (Vec<(Key, Ev<'a>)>, Option<String>);

/// The range's events in ecosystem order; the flag says some bound did not parse (an
/// unparsable `introduced` is read as `"0"` and an unparsable end is dropped: both widen the
/// range, never narrow it).
fn sorted_events<'a>(scheme: Scheme, range: &'a osv::Range) -> SortedRange<'a> {
    let mut unparsed = None;
    let mut events = Vec::with_capacity(range.events.len());
    for e in &range.events {
        let (text, ev) = if let Some(v) = &e.introduced {
            (v.as_str(), Ev::Introduced(v))
        } else if let Some(v) = &e.fixed {
            (v.as_str(), Ev::Fixed(v))
        } else if let Some(v) = &e.last_affected {
            (v.as_str(), Ev::LastAffected(v))
        } else if let Some(v) = &e.limit {
            (v.as_str(), Ev::Limit(v))
        } else {
            continue;
        };
        if matches!(ev, Ev::Introduced(_)) && text == "0" {
            events.push((None, ev));
            continue;
        }
        match scheme.parse(text) {
            Some(parsed) => events.push((Some(parsed), ev)),
            None => {
                unparsed.get_or_insert_with(|| {
                    format!("advisory bound `{text}` is not a valid version")
                });
                if matches!(ev, Ev::Introduced(_)) {
                    events.push((None, ev));
                }
            }
        }
    }
    events.sort_by(|(ka, ea), (kb, eb)| cmp_key(ka, kb).then(ea.rank().cmp(&eb.rank())));
    (events, unparsed)
}

fn cmp_key(a: &Key, b: &Key) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y),
    }
}

/// Evaluates one range on a parsed version, with the result of the schema's pseudo-code (walk
/// the sorted events: `introduced` at or below `v` sets affected, `fixed`/`limit` at or below
/// `v` clears it, `last_affected` strictly below `v` clears it). Each event that fires sets a
/// constant, so the answer is the effect of the last firing event; it is found by binary
/// search plus a short backward scan instead of a walk over every event (ranges of Go modules
/// with many release branches have hundreds).
fn in_range(events: &[(Key, Ev<'_>)], v: &Version) -> bool {
    let at_or_below = events.partition_point(|(key, _)| match key {
        None => true,
        Some(k) => k <= v,
    });
    for (key, ev) in events[..at_or_below].iter().rev() {
        match ev {
            Ev::Introduced(_) => return true,
            Ev::Fixed(_) | Ev::Limit(_) => return false,
            // Fires only strictly below `v`; at `v` it is still inclusive.
            Ev::LastAffected(_) => {
                if key.as_ref().is_some_and(|k| k < v) {
                    return false;
                }
            }
        }
    }
    false
}

/// Whether `version` (as the user wrote it) is affected by the entry.
pub fn evaluate(scheme: Scheme, matcher: &Matcher, version: &str) -> Outcome {
    let parsed = scheme.parse(version);
    evaluate_parsed(scheme, matcher, version, parsed.as_ref())
}

/// [`evaluate`] with the version already parsed (`None`: it does not parse).
pub fn evaluate_parsed(
    scheme: Scheme,
    matcher: &Matcher,
    version: &str,
    parsed: Option<&Version>,
) -> Outcome {
    matcher.compile(scheme).evaluate(version, parsed)
}

/// A matcher with its range events parsed and sorted once, for evaluating many versions.
#[derive(Debug)]
pub struct Compiled<'a> {
    matcher: &'a Matcher,
    ranges: Vec<SortedRange<'a>>,
}

impl Matcher {
    /// Parses and sorts the range events once.
    pub fn compile(&self, scheme: Scheme) -> Compiled<'_> {
        Compiled {
            matcher: self,
            ranges: self
                .ranges
                .iter()
                .map(|r| sorted_events(scheme, r))
                .collect(),
        }
    }
}

impl Compiled<'_> {
    /// Whether `version` (parsed as `parsed`, `None` when it does not parse) is affected.
    pub fn evaluate(&self, version: &str, parsed: Option<&Version>) -> Outcome {
        let matcher = self.matcher;
        let listed = |v: &str| {
            matcher
                .versions
                .binary_search_by(|x| x.as_str().cmp(v))
                .is_ok()
        };
        if listed(version.trim()) {
            return Outcome {
                affected: true,
                uncertain: None,
            };
        }
        let Some(v) = parsed else {
            // The version cannot be ordered: conservatively affected if the entry affects
            // anything.
            return if matcher.affects_some_version() {
                Outcome {
                    affected: true,
                    uncertain: Some(format!(
                        "version `{version}` is not a valid version of this ecosystem; treated as affected"
                    )),
                }
            } else {
                Outcome::default()
            };
        };
        if !matcher.versions.is_empty() && listed(&v.canonical()) {
            return Outcome {
                affected: true,
                uncertain: None,
            };
        }
        for (events, unparsed) in &self.ranges {
            if in_range(events, v) {
                return Outcome {
                    affected: true,
                    uncertain: unparsed.clone(),
                };
            }
        }
        // Not affected; an unparsed bound can only have widened the ranges, so this is certain.
        Outcome::default()
    }
}

/// The nearest version at or above `from` (or, with no `from`, the lowest version from which on
/// every known fix holds) that none of `matchers` affects, chosen among the versions the records
/// name as fixes. `None` when no fixed version is safe (e.g. an open range with no fix).
pub fn nearest_safe(scheme: Scheme, matchers: &[&Matcher], from: Option<&str>) -> Option<String> {
    let compiled: Vec<Compiled<'_>> = matchers.iter().map(|m| m.compile(scheme)).collect();
    nearest_safe_compiled(scheme, &compiled, from)
}

/// [`nearest_safe`] over already compiled matchers.
pub fn nearest_safe_compiled(
    scheme: Scheme,
    compiled: &[Compiled<'_>],
    from: Option<&str>,
) -> Option<String> {
    // Fixes are the candidates; `introduced` points bound the safe tail when no `from` is given.
    let mut points: Vec<(&Version, &str, bool)> = Vec::new();
    for c in compiled {
        for (events, _) in &c.ranges {
            for (key, ev) in events {
                match (key, ev) {
                    (Some(v), Ev::Fixed(f)) => points.push((v, f, true)),
                    (Some(v), Ev::Introduced(i)) => points.push((v, i, false)),
                    _ => {}
                }
            }
        }
    }
    points.sort_by(|a, b| a.0.cmp(b.0).then(a.2.cmp(&b.2)));
    points.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
    let safe = |(v, text, _): &(&Version, &str, bool)| {
        compiled.iter().all(|c| !c.evaluate(text, Some(v)).affected)
    };
    match from.and_then(|f| scheme.parse(f)) {
        Some(start) => points
            .iter()
            .filter(|(v, _, fix)| *fix && **v >= start)
            .find(|c| safe(c))
            .map(|c| c.1.to_owned()),
        None => {
            // Lowest fix of the trailing run of safe points.
            let mut best = None;
            for c in points.iter().rev() {
                if !safe(c) {
                    break;
                }
                if c.2 {
                    best = Some(c.1.to_owned());
                }
            }
            best
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(kind: &str, events: &[(&str, &str)]) -> osv::Range {
        osv::Range {
            kind: kind.into(),
            events: events
                .iter()
                .map(|(k, v)| {
                    let mut e = osv::Event::default();
                    let v = Some((*v).to_owned());
                    match *k {
                        "introduced" => e.introduced = v,
                        "fixed" => e.fixed = v,
                        "last_affected" => e.last_affected = v,
                        _ => e.limit = v,
                    }
                    e
                })
                .collect(),
        }
    }

    fn m(ranges: Vec<osv::Range>, versions: &[&str]) -> Matcher {
        Matcher {
            versions: versions.iter().map(|s| (*s).to_owned()).collect(),
            ranges,
        }
    }

    fn hit(s: Scheme, matcher: &Matcher, v: &str) -> bool {
        evaluate(s, matcher, v).affected
    }

    #[test]
    fn unsorted_events_are_sorted_by_version() {
        // PYSEC-2023-192 (urllib3) lists 2.0.0, 2.0.6, 0, 1.26.17.
        let r = range(
            "ECOSYSTEM",
            &[
                ("introduced", "2.0.0"),
                ("fixed", "2.0.6"),
                ("introduced", "0"),
                ("fixed", "1.26.17"),
            ],
        );
        let x = m(vec![r], &[]);
        let s = Scheme::Pep440;
        assert!(hit(s, &x, "1.26.16"));
        assert!(!hit(s, &x, "1.26.17"));
        assert!(!hit(s, &x, "1.26.18"));
        assert!(hit(s, &x, "2.0.0"));
        assert!(hit(s, &x, "2.0.5"));
        assert!(!hit(s, &x, "2.0.6"));
        assert!(hit(s, &x, "0.1"));
    }

    #[test]
    fn last_affected_is_inclusive_and_fixed_exclusive() {
        let s = Scheme::Semver;
        let x = m(
            vec![range(
                "SEMVER",
                &[("introduced", "1.1.5"), ("last_affected", "1.1.7")],
            )],
            &[],
        );
        assert!(!hit(s, &x, "1.1.4"));
        assert!(hit(s, &x, "1.1.5"));
        assert!(hit(s, &x, "1.1.7"));
        assert!(!hit(s, &x, "1.1.8"));
        let y = m(
            vec![range("SEMVER", &[("introduced", "0"), ("fixed", "1.2.6")])],
            &[],
        );
        assert!(hit(s, &y, "1.2.5"));
        assert!(hit(s, &y, "0.0.1-alpha"));
        assert!(!hit(s, &y, "1.2.6"));
    }

    #[test]
    fn prereleases_inside_and_at_bounds() {
        let s = Scheme::Semver;
        let x = m(
            vec![range(
                "SEMVER",
                &[("introduced", "5.0.0-alpha.1"), ("fixed", "5.0.0-beta.3")],
            )],
            &[],
        );
        assert!(hit(s, &x, "5.0.0-beta.2"));
        assert!(!hit(s, &x, "5.0.0-beta.3"));
        assert!(!hit(s, &x, "5.0.0-alpha.0"));
        assert!(!hit(s, &x, "4.19.2"));
        // RustSec writes "unaffected" windows as pre-release lower bounds (time, RUSTSEC-2020-0071).
        let t = m(
            vec![range(
                "SEMVER",
                &[
                    ("introduced", "0.2.1-0"),
                    ("fixed", "0.2.1"),
                    ("introduced", "0.2.7-0"),
                    ("fixed", "0.2.23"),
                ],
            )],
            &[],
        );
        assert!(!hit(s, &t, "0.2.6"));
        assert!(hit(s, &t, "0.2.1-beta"));
        assert!(hit(s, &t, "0.2.7"));
        assert!(!hit(s, &t, "0.2.23"));
    }

    #[test]
    fn several_ranges_and_version_lists() {
        let s = Scheme::Semver;
        let x = m(
            vec![
                range("SEMVER", &[("introduced", "0"), ("fixed", "0.2.4")]),
                range("SEMVER", &[("introduced", "1.0.0"), ("fixed", "1.2.6")]),
            ],
            &["3.0.1"],
        );
        assert!(hit(s, &x, "0.2.1"));
        assert!(!hit(s, &x, "0.9.0"));
        assert!(hit(s, &x, "1.2.5"));
        assert!(hit(s, &x, "3.0.1"));
        assert!(!hit(s, &x, "3.0.2"));
        // GIT ranges are dropped when the matcher is built.
        let a = osv::Affected {
            package: None,
            severity: vec![],
            ranges: vec![range("GIT", &[("introduced", "0"), ("fixed", "abc123")])],
            versions: vec![],
            database_specific: None,
            ecosystem_specific: None,
        };
        assert!(!Matcher::from_affected(s, &a).affects_some_version());
    }

    #[test]
    fn unparsable_versions_are_conservative_and_say_so() {
        let s = Scheme::Pep440;
        // PYSEC-2019-125 (steam): fixed "2019-09-12" is not PEP 440; the range stays open.
        let x = m(
            vec![range(
                "ECOSYSTEM",
                &[("introduced", "0"), ("fixed", "2019-09-12")],
            )],
            &[],
        );
        let out = evaluate(s, &x, "2020.1");
        assert!(out.affected);
        assert!(
            out.uncertain
                .as_deref()
                .is_some_and(|u| u.contains("2019-09-12"))
        );
        // A query version that is not PEP 440: affected, flagged.
        let y = m(
            vec![range(
                "ECOSYSTEM",
                &[("introduced", "1.0"), ("fixed", "2.0")],
            )],
            &[],
        );
        let out = evaluate(s, &y, "not-a-version");
        assert!(out.affected && out.uncertain.is_some());
        // Listed literally: certain.
        let z = Matcher::from_affected(
            s,
            &osv::Affected {
                package: None,
                severity: vec![],
                ranges: vec![],
                versions: vec!["0.8.0-alpha2".into(), "not-pep-440".into()],
                database_specific: None,
                ecosystem_specific: None,
            },
        );
        assert_eq!(
            z.versions,
            vec!["0.8a2".to_owned(), "not-pep-440".to_owned()]
        );
        assert!(hit(s, &z, "not-pep-440"));
        assert_eq!(
            evaluate(s, &z, "0.8.0-alpha2"),
            Outcome {
                affected: true,
                uncertain: None
            }
        );
        assert!(hit(s, &z, "0.8.0a2"));
    }

    #[test]
    fn limit_caps_the_range() {
        let s = Scheme::Semver;
        let x = m(
            vec![range(
                "SEMVER",
                &[("introduced", "1.0.0"), ("limit", "2.0.0")],
            )],
            &[],
        );
        assert!(hit(s, &x, "1.5.0"));
        assert!(!hit(s, &x, "2.0.0"));
    }

    #[test]
    fn nearest_safe_version() {
        let s = Scheme::Semver;
        let a = m(
            vec![range("SEMVER", &[("introduced", "0"), ("fixed", "1.2.3")])],
            &[],
        );
        let b = m(
            vec![range(
                "SEMVER",
                &[("introduced", "1.0.0"), ("fixed", "1.2.6")],
            )],
            &[],
        );
        let c = m(
            vec![range(
                "SEMVER",
                &[("introduced", "2.0.0"), ("fixed", "2.0.1")],
            )],
            &[],
        );
        let ms = [&a, &b, &c];
        assert_eq!(
            nearest_safe(s, &ms, Some("1.0.5")).as_deref(),
            Some("1.2.6")
        );
        assert_eq!(
            nearest_safe(s, &ms, Some("0.5.0")).as_deref(),
            Some("1.2.6")
        );
        assert_eq!(
            nearest_safe(s, &ms, Some("2.0.0")).as_deref(),
            Some("2.0.1")
        );
        assert_eq!(nearest_safe(s, &ms, None).as_deref(), Some("2.0.1"));
        let open = m(vec![range("SEMVER", &[("introduced", "0")])], &[]);
        assert_eq!(nearest_safe(s, &[&open], None), None);
        assert_eq!(a.describe(s), vec!["< 1.2.3".to_owned()]);
        assert_eq!(b.describe(s), vec![">= 1.0.0, < 1.2.6".to_owned()]);
        assert_eq!(open.describe(s), vec!["all versions".to_owned()]);
    }
}
