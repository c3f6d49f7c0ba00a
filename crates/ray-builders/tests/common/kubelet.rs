//! What the kubelet does to a container before its process starts: it builds the environment from `env` (each
//! value expanded with the variables defined before it, a later entry of the same name replacing an earlier one)
//! and expands `$(NAME)` in `command` and `args` with that environment.
//!
//! A port of Kubernetes' `third_party/forked/golang/expansion/expand.go`, written independently of
//! `ray_builders::shell` so the tests check the builders against the kubelet, not against themselves. It works on
//! bytes, as Go does: `$` followed by a non-ASCII byte is written as `$` plus that byte read as a Latin-1
//! character, exactly like Go's `string(input[0])`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvVar};

/// A container environment: names to values, as bytes.
pub type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// Expands `$(NAME)` references in `input`; `mapping` returns a name's value, or `None` to leave `$(NAME)`.
pub fn expand_with(input: &[u8], mapping: &dyn Fn(&[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    scan(input, mapping, true)
}

/// Reads `input` as the kubelet does, but keeps `$` followed by any other byte as it is (the kubelet's Latin-1
/// quirk left out): the meaning a user gives a value.
pub fn read_references(input: &[u8], mapping: &dyn Fn(&[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    scan(input, mapping, false)
}

fn scan(input: &[u8], mapping: &dyn Fn(&[u8]) -> Option<Vec<u8>>, latin1: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < input.len() {
        if input[cursor] == b'$' && cursor + 1 < input.len() {
            out.extend_from_slice(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest[0] {
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match rest[1..].iter().position(|b| *b == b')') {
                    Some(len) => {
                        let name = &rest[1..1 + len];
                        match mapping(name) {
                            Some(value) => out.extend_from_slice(&value),
                            None => {
                                out.extend_from_slice(b"$(");
                                out.extend_from_slice(name);
                                out.push(b')');
                            }
                        }
                        len + 2
                    }
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                other => {
                    out.push(b'$');
                    if latin1 {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(char::from(other).encode_utf8(&mut buf).as_bytes());
                    } else {
                        out.push(other);
                    }
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&input[checkpoint.min(input.len())..]);
    out
}

/// Expands with the variables of `env`: a defined name gives its value, an undefined one stays `$(NAME)`.
pub fn expand(input: &[u8], env: &Map) -> Vec<u8> {
    expand_with(input, &|name| env.get(name).cloned())
}

/// A stand-in for what the kubelet reads from the pod for a `valueFrom` variable (a field, a Secret, ...): data
/// the test knows.
pub fn value_from_stand_in(var: &EnvVar) -> Vec<u8> {
    format!("from:{}", var.name).into_bytes()
}

/// The container's environment as the kubelet builds it.
pub fn environment(env: &[EnvVar]) -> Map {
    let mut map = BTreeMap::new();
    for var in env {
        let value = match &var.value {
            Some(v) => expand(v.as_bytes(), &map),
            None if var.value_from.is_some() => value_from_stand_in(var),
            None => Vec::new(),
        };
        map.insert(var.name.as_bytes().to_vec(), value);
    }
    map
}

/// The process the kubelet starts for a container: its arguments (command then args, expanded) and environment.
pub struct Process {
    /// `command` followed by `args`, after expansion.
    pub argv: Vec<Vec<u8>>,
    /// The environment.
    pub env: Map,
}

/// Builds the process of `container`.
pub fn process(container: &Container) -> Process {
    let env = environment(container.env.as_deref().unwrap_or_default());
    let argv = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .map(|a| expand(a.as_bytes(), &env))
        .collect();
    Process { argv, env }
}
