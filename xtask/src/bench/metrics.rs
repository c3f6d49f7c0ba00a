//! Reading the operator's Prometheus endpoint: API requests by verb and resource, and reconcile counts.
//!
//! Only the two series the benchmark needs are read (see docs/performance.md):
//! `ray_operator_kube_api_requests_total{verb,resource,code}` and `ray_operator_reconcile_total{controller,result,category}`. The text format is simple enough to read line by line.

use std::collections::BTreeMap;

use serde::Serialize;

/// The counter of API requests the operator sent, by verb, resource and response code.
pub const API_REQUESTS: &str = "ray_operator_kube_api_requests_total";
/// The counter of finished reconciles, by controller and result.
pub const RECONCILES: &str = "ray_operator_reconcile_total";
/// Verbs that change state in the API server.
pub const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// One sample line: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name (for counters, with its `_total` suffix).
    pub name: String,
    /// Label names and values.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// Parses the Prometheus text exposition format, skipping comments and lines it cannot read.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let close = line.rfind('}')?;
            (
                &line[..open],
                parse_labels(&line[open + 1..close])?,
                &line[close + 1..],
            )
        }
        None => {
            let space = line.find(char::is_whitespace)?;
            (&line[..space], BTreeMap::new(), &line[space..])
        }
    };
    // The value, optionally followed by a timestamp.
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name: name.trim().to_string(),
        labels,
        value,
    })
}

fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(labels);
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        labels.insert(name.trim().to_string(), value);
    }
}

/// What one scrape says, reduced to what the report needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// API requests by `verb resource` (response codes summed).
    pub requests: BTreeMap<String, f64>,
    /// Reconciles by controller (results summed).
    pub reconciles: BTreeMap<String, f64>,
    /// Whether the request counter was present at all (the operator may predate it).
    pub has_requests: bool,
}

impl Snapshot {
    /// Reduces a scrape.
    pub fn from_text(text: &str) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for sample in parse(text) {
            let label = |k: &str| sample.labels.get(k).cloned().unwrap_or_default();
            if sample.name == API_REQUESTS {
                snapshot.has_requests = true;
                *snapshot
                    .requests
                    .entry(format!("{} {}", label("verb"), label("resource")))
                    .or_default() += sample.value;
            } else if sample.name == RECONCILES {
                *snapshot.reconciles.entry(label("controller")).or_default() += sample.value;
            }
        }
        snapshot
    }

    /// What happened between `earlier` and `self` (counters only grow, so this is a per-key difference).
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        let diff = |now: &BTreeMap<String, f64>, then: &BTreeMap<String, f64>| {
            now.iter()
                .map(|(k, v)| (k.clone(), v - then.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, v)| *v > 0.0)
                .collect()
        };
        Snapshot {
            requests: diff(&self.requests, &earlier.requests),
            reconciles: diff(&self.reconciles, &earlier.reconciles),
            has_requests: self.has_requests,
        }
    }

    /// Total API requests.
    pub fn total_requests(&self) -> f64 {
        // `+ 0.0` turns the empty sum's -0.0 into 0.
        self.requests.values().sum::<f64>() + 0.0
    }

    /// API requests that change something (create, update, patch, delete, deletecollection).
    pub fn write_requests(&self) -> f64 {
        self.requests
            .iter()
            .filter(|(k, _)| {
                let verb = k.split(' ').next().unwrap_or("");
                WRITE_VERBS.contains(&verb)
            })
            .map(|(_, v)| v)
            .sum::<f64>()
            + 0.0
    }

    /// Total reconciles over every controller.
    pub fn total_reconciles(&self) -> f64 {
        self.reconciles.values().sum::<f64>() + 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = r#"
# HELP ray_operator_kube_api_requests_total API requests.
# TYPE ray_operator_kube_api_requests_total counter
ray_operator_kube_api_requests_total{verb="create",resource="pods",code="201"} 110
ray_operator_kube_api_requests_total{verb="create",resource="pods",code="409"} 2
ray_operator_kube_api_requests_total{code="200",resource="rayclusters",verb="patch"} 30 1700000000000
ray_operator_kube_api_requests_total{verb="get",resource="services",code="200"} 40
ray_operator_reconcile_total{controller="raycluster",result="success"} 50
ray_operator_reconcile_total{controller="raycluster",result="error"} 1
process_resident_memory_bytes 1.5e7
weird_metric{a="x\"y,z"} 3
"#;

    #[test]
    fn reads_requests_by_verb_and_resource_and_reconciles() {
        let s = Snapshot::from_text(SCRAPE);
        assert!(s.has_requests);
        assert_eq!(s.requests["create pods"], 112.0);
        assert_eq!(s.requests["patch rayclusters"], 30.0);
        assert_eq!(s.total_requests(), 182.0);
        assert_eq!(s.write_requests(), 142.0);
        assert_eq!(s.reconciles["raycluster"], 51.0);
    }

    #[test]
    fn escaped_quotes_and_plain_lines_parse() {
        let samples = parse(SCRAPE);
        let weird = samples
            .iter()
            .find(|s| s.name == "weird_metric")
            .expect("parsed");
        assert_eq!(weird.labels["a"], "x\"y,z");
        let rss = samples
            .iter()
            .find(|s| s.name == "process_resident_memory_bytes")
            .expect("parsed");
        assert_eq!(rss.value, 1.5e7);
    }

    #[test]
    fn a_difference_keeps_only_what_grew() {
        let before = Snapshot::from_text(SCRAPE);
        let after = Snapshot::from_text(&SCRAPE.replace("} 40", "} 45"));
        let d = after.since(&before);
        assert_eq!(d.requests.len(), 1);
        assert_eq!(d.requests["get services"], 5.0);
        assert_eq!(d.write_requests(), 0.0);
    }

    #[test]
    fn an_endpoint_without_the_counter_is_recognised() {
        assert!(!Snapshot::from_text("up 1\n").has_requests);
    }
}
