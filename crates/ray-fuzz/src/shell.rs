//! Shell quoting of user values (`ray_builders::shell`): whatever the value, the quoted word reaches the program as
//! exactly that value, after the kubelet's `$(VAR)` expansion and bash's word splitting.

use ray_builders::shell::{
    KubeletToken, ParamValue, is_shell_identifier, kubelet_tokens, quote, split_words,
};

/// What the kubelet passes to bash for a quoted word. A quoted word must hold no kubelet reference of its own:
/// every `$(...)` that reaches bash comes from a literal the user wrote, escaped as `$$(`.
fn kubelet_expand(quoted: &str) -> String {
    kubelet_tokens(quoted)
        .into_iter()
        .map(|token| match token {
            KubeletToken::Text(text) => text,
            KubeletToken::Ref(name) => {
                panic!("the quoted word {quoted:?} holds a kubelet reference $({name})")
            }
        })
        .collect()
}

/// The word bash receives for `value`, written without expansion: the value as the kubelet reads it, with each
/// reference to a shell variable name as the `${NAME-$(NAME)}` bash expands as data (the variable, or the text
/// `$(NAME)` the kubelet leaves when the container has no such variable).
fn expected(value: &str) -> String {
    kubelet_tokens(value)
        .into_iter()
        .map(|token| match token {
            KubeletToken::Text(text) => text,
            KubeletToken::Ref(name) if is_shell_identifier(name) => {
                format!("${{{name}-$({name})}}")
            }
            KubeletToken::Ref(name) => format!("$({name})"),
        })
        .collect()
}

/// `word` is one shell word that bash reads as `want`.
fn check_word(word: &str, want: &str) {
    let words = shlex::split(&kubelet_expand(word))
        .unwrap_or_else(|| panic!("the quoted word {word:?} does not split"));
    assert_eq!(words, [want], "quoting {want:?} as {word:?}");
}

fn check_quote(value: &str) {
    match quote(value, "field") {
        Ok(word) => check_word(&word, &expected(value)),
        Err(error) => {
            assert!(value.contains('\0'), "{value:?} refused: {error}");
            assert!(error.to_string().starts_with("field: "), "{error}");
        }
    }
}

pub(crate) fn shell(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    check_quote(value);
    // An entrypoint split into words; each word quoted again reaches bash as that word.
    if let Ok(words) = split_words(value, "spec.entrypoint") {
        for word in &words {
            check_quote(word);
        }
    }
    // A rayStartParams value.
    let param = ParamValue::parse(value);
    if let Ok(word) = param.render_word("--param=", "spec.rayStartParams.param") {
        let want = match &param {
            ParamValue::Literal(text) => expected(&format!("--param={text}")),
            ParamValue::EnvRef(name) => format!("--param=${{{name}}}"),
        };
        check_word(&word, &want);
    }
}
