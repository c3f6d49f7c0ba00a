//! The types crate must stay usable by tools without an async runtime or a Kubernetes client.

use std::process::Command;

#[test]
fn no_runtime_or_client_in_the_normal_dependency_tree() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "ray-api-v1",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.lines().any(|line| line.starts_with("ray-api-v1 ")),
        "unexpected output: {stdout}"
    );
    let forbidden = [
        "tokio",
        "kube-runtime",
        "kube-client",
        "hyper",
        "tower",
        "reqwest",
    ];
    let found: Vec<&str> = stdout
        .lines()
        .filter(|line| {
            forbidden
                .iter()
                .any(|name| line.split(' ').next() == Some(name))
        })
        .collect();
    assert!(found.is_empty(), "ray-api-v1 must not depend on {found:?}");
}
