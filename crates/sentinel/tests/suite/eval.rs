//! `sentinel eval`: the labelled evaluation runs from one command and meets its aims.
use super::support::Sentinel;

#[test]
fn eval_meets_the_recall_aim_and_never_flags_popular_names() {
    let s = Sentinel::unreachable();
    let r = s.run(&["eval", "--ecosystem", "crates.io", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let c = &j[0];
    assert_eq!(c["ecosystem"], "crates.io");
    assert!(c["synthetic_total"].as_u64().unwrap() > 4000);
    assert!(c["synthetic_recall_pct"].as_f64().unwrap() >= 90.0, "{c}");
    assert_eq!(c["fp_deployed"], 0, "{c}");
    assert!(c["incidents_total"].as_u64().unwrap() >= 5, "{c}");
    assert!(c["incidents_detected"].as_u64().unwrap() >= 1, "{c}");
    let r = s.run(&["eval", "--ecosystem", "go"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("ecosystem"), "{}", r.stdout);
}
