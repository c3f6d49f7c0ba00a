//! Fields that hold a YAML document as a string (`runtimeEnvYAML`, `serveConfigV2`).

/// Parses `text` as one YAML document and requires it to be a mapping (or empty).
///
/// `what` names the content for the message, for example "the Ray runtime environment". The error says where the
/// YAML is broken (line and column inside the string) or what kind of value was found instead of a mapping.
pub(crate) fn check_yaml_mapping(text: &str, what: &str) -> garde::Result {
    match crate::parse::yaml_to_json(text) {
        Ok(None) | Ok(Some(serde_json::Value::Object(_))) => Ok(()),
        Ok(Some(other)) => Err(garde::Error::new(format!(
            "{what} must be a YAML mapping (key: value pairs), but this is {}",
            describe(&other)
        ))),
        Err(crate::parse::ParseError::Syntax {
            line: Some(line),
            column: Some(column),
            message,
        }) => Err(garde::Error::new(format!(
            "{what} is not valid YAML: {message} (line {line}, column {column} of the string)"
        ))),
        Err(error) => Err(garde::Error::new(format!(
            "{what} is not valid YAML: {error}"
        ))),
    }
}

/// "a list", "a string", ... for messages.
pub(crate) fn describe(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "empty",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}
