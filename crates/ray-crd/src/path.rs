//! Paths into an OpenAPI v3 schema, written the way a user reads a manifest.
//!
//! `workerGroupSpecs[].template` means: the property `workerGroupSpecs`, then the schema of its array items, then the
//! property `template`. Maps (`additionalProperties`) are written `name{}`. The same notation is used by the shrink
//! table ([`crate::shrink`]) and by the tests that check the API reference's fields.

use std::fmt;

use serde_json::Value;

/// One step from a schema node to a child schema node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The schema of a named property (`properties.<name>`).
    Property(String),
    /// The schema of an array's items (`items`), written `[]`.
    Items,
    /// The schema of a map's values (`additionalProperties`), written `{}`.
    Values,
}

/// A path of [`Step`]s, parsed from the dotted notation described in the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchemaPath(pub Vec<Step>);

impl SchemaPath {
    /// Parses `a.b[].c{}`; an empty string is the empty path (the node itself).
    ///
    /// Returns `None` for malformed paths: empty segments (`a..b`) or brackets anywhere but at a segment's end.
    pub fn parse(text: &str) -> Option<Self> {
        let mut steps = Vec::new();
        if text.is_empty() {
            return Some(Self(steps));
        }
        for segment in text.split('.') {
            let mut name = segment;
            let mut suffix = Vec::new();
            loop {
                if let Some(rest) = name.strip_suffix("[]") {
                    suffix.push(Step::Items);
                    name = rest;
                } else if let Some(rest) = name.strip_suffix("{}") {
                    suffix.push(Step::Values);
                    name = rest;
                } else {
                    break;
                }
            }
            if name.is_empty() || name.contains(['[', ']', '{', '}']) {
                return None;
            }
            steps.push(Step::Property(name.to_owned()));
            steps.extend(suffix.into_iter().rev());
        }
        Some(Self(steps))
    }

    /// Whether this path ends with `suffix`.
    pub fn ends_with(&self, suffix: &SchemaPath) -> bool {
        self.0.ends_with(&suffix.0)
    }

    /// This path with one more step.
    pub fn child(&self, step: Step) -> Self {
        let mut steps = self.0.clone();
        steps.push(step);
        Self(steps)
    }

    /// This path followed by `rest`.
    pub fn join(&self, rest: &SchemaPath) -> Self {
        let mut steps = self.0.clone();
        steps.extend(rest.0.iter().cloned());
        Self(steps)
    }

    /// The schema node this path leads to from `schema`, if every step exists.
    pub fn resolve<'a>(&self, schema: &'a Value) -> Option<&'a Value> {
        self.0
            .iter()
            .try_fold(schema, |node, step| child(node, step))
    }

    /// The schema node this path leads to from `schema`, mutably, if every step exists.
    pub fn resolve_mut<'a>(&self, schema: &'a mut Value) -> Option<&'a mut Value> {
        self.0
            .iter()
            .try_fold(schema, |node, step| child_mut(node, step))
    }
}

impl fmt::Display for SchemaPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for step in &self.0 {
            match step {
                Step::Property(name) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Step::Items => f.write_str("[]")?,
                Step::Values => f.write_str("{}")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// The child schema reached by one step, if present.
pub fn child<'a>(node: &'a Value, step: &Step) -> Option<&'a Value> {
    match step {
        Step::Property(name) => node.get("properties")?.get(name),
        Step::Items => node.get("items"),
        Step::Values => node.get("additionalProperties").filter(|v| v.is_object()),
    }
}

/// The child schema reached by one step, mutably, if present.
pub fn child_mut<'a>(node: &'a mut Value, step: &Step) -> Option<&'a mut Value> {
    match step {
        Step::Property(name) => node.get_mut("properties")?.get_mut(name),
        Step::Items => node.get_mut("items"),
        Step::Values => node
            .get_mut("additionalProperties")
            .filter(|v| v.is_object()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for text in [
            "spec",
            "spec.workerGroupSpecs[].template",
            "status.endpoints{}",
            "a[][]",
            "",
        ] {
            let path = SchemaPath::parse(text).expect(text);
            assert_eq!(path.to_string(), text);
        }
        assert_eq!(
            SchemaPath::parse("a[].b").map(|p| p.0),
            Some(vec![
                Step::Property("a".into()),
                Step::Items,
                Step::Property("b".into())
            ])
        );
    }

    #[test]
    fn rejects_malformed_paths() {
        for text in ["a..b", ".a", "a.", "[]", "a[x]", "a[]b"] {
            assert_eq!(SchemaPath::parse(text), None, "{text}");
        }
    }

    #[test]
    fn resolves_properties_items_and_values() {
        let schema = serde_json::json!({
            "properties": {
                "a": { "items": { "properties": { "b": { "type": "string" } } } },
                "m": { "additionalProperties": { "type": "integer" } }
            }
        });
        let b = SchemaPath::parse("a[].b").and_then(|p| p.resolve(&schema).cloned());
        assert_eq!(b, Some(serde_json::json!({ "type": "string" })));
        let m = SchemaPath::parse("m{}").and_then(|p| p.resolve(&schema).cloned());
        assert_eq!(m, Some(serde_json::json!({ "type": "integer" })));
        assert!(
            SchemaPath::parse("a.b")
                .and_then(|p| p.resolve(&schema).cloned())
                .is_none()
        );
    }
}
