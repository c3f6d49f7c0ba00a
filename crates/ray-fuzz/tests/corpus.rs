//! Replays every committed fuzz input (`fuzz/corpus/<target>/*`, which includes every input that once found a bug)
//! through its target on the stable toolchain, so `cargo test --workspace` re-checks them without nightly.

use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

/// Runs a target on a thread with the stack libFuzzer's main thread has (8 MiB), like the fuzzer does.
fn replay(target: &'static ray_fuzz::Target, path: PathBuf) {
    let data = std::fs::read(&path).expect("a corpus file reads");
    let name = path.display().to_string();
    std::thread::Builder::new()
        .stack_size(8 * 1024 * 1024)
        .spawn(move || (target.run)(&data))
        .expect("a thread starts")
        .join()
        .unwrap_or_else(|_| panic!("{}: the input {name} fails", target.name));
}

#[test]
fn every_corpus_input_replays_without_a_finding() {
    let mut replayed = 0;
    for target in ray_fuzz::TARGETS {
        let dir = corpus_dir().join(target.name);
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}; every target has a seed corpus", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        entries.sort();
        assert!(!entries.is_empty(), "{}: no seed inputs", dir.display());
        for path in entries {
            replay(target, path);
            replayed += 1;
        }
    }
    println!("replayed {replayed} corpus inputs");
}

#[test]
fn every_target_has_a_corpus_and_a_fuzz_binary() {
    let fuzz = corpus_dir().join("..");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for target in ray_fuzz::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{}\"", target.name)),
            "fuzz/Cargo.toml has no [[bin]] {}",
            target.name
        );
        assert!(
            fuzz.join("fuzz_targets")
                .join(format!("{}.rs", target.name))
                .is_file(),
            "fuzz/fuzz_targets/{}.rs is missing",
            target.name
        );
    }
}
