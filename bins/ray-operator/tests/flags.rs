//! Flags a user can get wrong are refused up front, naming the flag, before the operator connects anywhere.

use std::process::Command;

fn run_with(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ray-operator"))
        .arg("run")
        .args(args)
        // No cluster is needed: the flags are checked first. An unreachable kubeconfig proves nothing is contacted.
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_rate_that_is_not_positive_is_refused_naming_the_flag() {
    for qps in ["--kube-api-qps=0", "--kube-api-qps=-5"] {
        let (ok, stderr) = run_with(&[qps]);
        assert!(!ok, "qps {qps} must be refused");
        assert!(
            stderr.contains("--kube-api-qps must be a positive number"),
            "{stderr}"
        );
    }
}

#[test]
fn a_burst_of_zero_is_refused_naming_the_flag() {
    let (ok, stderr) = run_with(&["--kube-api-burst", "0"]);
    assert!(!ok);
    assert!(
        stderr.contains("--kube-api-burst must be at least 1"),
        "{stderr}"
    );
}
