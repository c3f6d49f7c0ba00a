//! The runtime crate is Ray-free: it must not depend on any ray.io crate of this workspace, so that leader
//! election, metrics plumbing and the runner can be reused (and reasoned about) without the Ray domain.

use std::process::Command;

#[test]
fn no_ray_crate_in_the_dependency_tree() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "operator-runtime",
            "-e",
            "normal,build",
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
        stdout
            .lines()
            .any(|line| line.starts_with("operator-runtime ")),
        "unexpected output: {stdout}"
    );
    assert!(
        stdout.lines().any(|line| line.starts_with("kube ")),
        "the runtime is built on kube: {stdout}"
    );
    let ray: Vec<&str> = stdout
        .lines()
        .filter(|line| {
            line.split(' ')
                .next()
                .is_some_and(|name| name.starts_with("ray-"))
        })
        .collect();
    assert!(
        ray.is_empty(),
        "operator-runtime must not depend on {ray:?}"
    );
}
