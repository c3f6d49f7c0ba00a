//! The quantity parser and the name formats give Kubernetes' answers: `tests/data/kubernetes-formats.tsv` holds what
//! k8s.io/apimachinery v0.37.2 (`resource.ParseQuantity` and the `validation.Is*` checks) answered for each input,
//! recorded from a Go program; each line is checked here.

use super::names::{
    config_key_problem, dns1123_label_problem, dns1123_subdomain_problem, env_var_name_problem,
    label_value_problem, port_name_problem, qualified_name_problem,
};
use crate::quantity::parse_nanos;

const TABLE: &str = include_str!("../../tests/data/kubernetes-formats.tsv");

#[test]
fn every_recorded_answer_matches() {
    let mut checked = 0;
    let mut differences = Vec::new();
    for line in TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut fields = line.split('\t');
        let (Some(kind), Some(input), Some(expected), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            panic!("malformed line: {line:?}");
        };
        let input: String = serde_json::from_str(input).expect("a JSON string");
        let ours = match kind {
            "q" => parse_nanos(&input).map_or_else(|_| "err".to_owned(), |n| n.to_string()),
            "env" => env_var_name_problem(&input).is_none().to_string(),
            "port" => port_name_problem(&input).is_none().to_string(),
            "qn" => qualified_name_problem(&input).is_none().to_string(),
            "lv" => label_value_problem(&input).is_none().to_string(),
            "dns" => dns1123_label_problem(&input).is_none().to_string(),
            "sub" => dns1123_subdomain_problem(&input).is_none().to_string(),
            "ck" => config_key_problem(&input).is_none().to_string(),
            other => panic!("unknown kind {other:?}"),
        };
        if ours != expected {
            differences.push(format!(
                "{kind} {input:?}: Kubernetes {expected}, ours {ours}"
            ));
        }
        checked += 1;
    }
    assert!(checked > 1500, "only {checked} lines");
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
