//! Flags a user can get wrong are refused up front, naming the flag, before the operator connects anywhere.

use std::process::Command;

fn run_with(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ray-operator"))
        .arg("run")
        .args(["--metrics-addr", "off", "--health-addr", "off"])
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

#[test]
fn a_server_address_that_is_not_one_is_refused_naming_the_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_ray-operator"))
        .args([
            "run",
            "--metrics-addr",
            "localhost-ish",
            "--health-addr",
            "off",
        ])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--metrics-addr"), "{stderr}");
    assert!(stderr.contains("or off"), "{stderr}");
}

#[test]
fn a_taken_port_is_refused_naming_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = taken.local_addr().expect("bound").to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_ray-operator"))
        .args(["run", "--metrics-addr", "off", "--health-addr", &address])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("--health-addr {address}: cannot listen there")),
        "{stderr}"
    );
}

#[test]
fn leader_election_timings_that_cannot_work_are_refused_naming_the_flags() {
    let (ok, stderr) = run_with(&[
        "--leader-elect",
        "--leader-election-lease-duration-seconds",
        "5",
        "--leader-election-renew-deadline-seconds",
        "5",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("--leader-election-renew-deadline-seconds (5) must be less than --leader-election-lease-duration-seconds (5)"),
        "{stderr}"
    );
}
