//! The bodies of the fuzz targets: one function per decoder or pure function that sees user input, each asserting
//! the invariants that hold for it (never panicking on any input is the least of them).
//!
//! `fuzz/` (a cargo-fuzz package, nightly only) runs each function of [`TARGETS`] under libFuzzer; `cargo xtask
//! fuzz` builds and runs them. The corpus in `fuzz/corpus/<target>/`, including every input that once found a bug,
//! replays through the same functions on the stable toolchain in this crate's tests, so `cargo test --workspace`
//! re-checks it without nightly.
//!
//! A panic here is a finding: either the code under test panicked, or an invariant does not hold.

mod dashboard;
mod manifests;
mod shell;
mod webhook;

/// One fuzz target: its name (also its directory in `fuzz/corpus/` and its binary in `fuzz/fuzz_targets/`), the
/// function libFuzzer calls, and the largest input worth trying.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// Runs one input; panics on a finding.
    pub run: fn(&[u8]),
    /// libFuzzer's `-max_len` for this target.
    pub max_len: usize,
}

/// 64 KiB: enough for any field value or dashboard answer.
const SMALL: usize = 64 * 1024;
/// 256 KiB: room for manifests with several worker groups and reviews carrying them.
const LARGE: usize = 256 * 1024;

/// Every target, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "manifest_yaml",
        run: manifests::manifest_yaml,
        max_len: LARGE,
    },
    Target {
        name: "manifest_json",
        run: manifests::manifest_json,
        max_len: LARGE,
    },
    Target {
        name: "validate",
        run: manifests::validate,
        max_len: LARGE,
    },
    Target {
        name: "convert",
        run: manifests::convert,
        max_len: LARGE,
    },
    Target {
        name: "render",
        run: manifests::render,
        max_len: LARGE,
    },
    Target {
        name: "shell",
        run: shell::shell,
        max_len: SMALL,
    },
    Target {
        name: "embedded_yaml",
        run: manifests::embedded_yaml,
        max_len: SMALL,
    },
    Target {
        name: "dashboard_response",
        run: dashboard::dashboard_response,
        max_len: SMALL,
    },
    Target {
        name: "webhook_admission",
        run: webhook::admission,
        max_len: LARGE,
    },
    Target {
        name: "webhook_conversion",
        run: webhook::conversion,
        max_len: LARGE,
    },
];

/// The target of this name.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
