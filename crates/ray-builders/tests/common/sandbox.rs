//! A scratch directory where generated container commands run under real bash, with stub `ray` and `python`
//! programs that record their arguments instead of doing anything.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::kubelet::Process;

/// A scratch directory with stub programs; every `ray` call appends its arguments to `calls`, each as `A<arg>` and
/// NUL, then `E` and NUL to end the call (so empty arguments are kept).
pub struct Sandbox {
    dir: tempfile::TempDir,
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write stub");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod stub");
}

impl Sandbox {
    /// A new, empty sandbox.
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin dir");
        let calls = dir.path().join("calls");
        write_script(
            &bin.join("ray"),
            &format!(
                "#!/bin/bash\nfor a in \"$@\"; do printf 'A%s\\0' \"$a\" >> {calls:?}; done\nprintf 'E\\0' >> {calls:?}\n# `ray job status` reports an unknown job, so the submitter submits.\n[ \"$1 $2\" = 'job status' ] && exit 1\nexit 0\n"
            ),
        );
        write_script(&bin.join("python"), "#!/bin/bash\nexit 0\n");
        Sandbox { dir }
    }

    /// The sandbox directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, program: &[u8], args: &[Vec<u8>]) -> Command {
        let mut command = Command::new(OsStr::from_bytes(program));
        command
            .args(args.iter().map(|a| OsStr::from_bytes(a)))
            .current_dir(self.path())
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    self.path().join("bin").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("RAY_START_ULIMIT_OPEN_FILES", "256");
        command
    }

    /// Runs `bash -c -- script` with the given extra environment (on top of the test's own).
    pub fn run(&self, script: &str, env: &[(&str, &str)]) {
        let status = self
            .command(b"bash", &[b"-c".to_vec(), b"--".to_vec(), script.into()])
            .envs(env.iter().copied())
            .status()
            .expect("bash runs");
        assert!(status.success(), "script failed: {script}");
    }

    /// Runs a process as the kubelet starts it, with exactly its environment (plus `PATH` to find the stubs).
    /// Returns whether it succeeded.
    pub fn run_process(&self, process: &Process) -> bool {
        let (program, args) = process.argv.split_first().expect("a command");
        let program = if program == b"/bin/bash" {
            b"bash".as_slice()
        } else {
            program
        };
        let mut command = self.command(program, args);
        command.env_clear().env(
            "PATH",
            format!(
                "{}:{}",
                self.path().join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
        for (name, value) in &process.env {
            command.env(OsStr::from_bytes(name), OsStr::from_bytes(value));
        }
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("the process starts")
            .success()
    }

    /// The recorded `ray` calls, each as its argument list (raw bytes).
    pub fn raw_calls(&self) -> Vec<Vec<Vec<u8>>> {
        let raw = std::fs::read(self.path().join("calls")).unwrap_or_default();
        let mut calls = Vec::new();
        let mut current = Vec::new();
        let mut fields: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
        // The file ends with a NUL, so the last field is empty.
        fields.pop();
        for field in fields {
            match field.split_first() {
                Some((b'A', arg)) => current.push(arg.to_vec()),
                _ => calls.push(std::mem::take(&mut current)),
            }
        }
        calls
    }

    /// The recorded `ray` calls as text.
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.raw_calls()
            .into_iter()
            .map(|call| {
                call.into_iter()
                    .map(|a| String::from_utf8(a).expect("utf-8"))
                    .collect()
            })
            .collect()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        let _ = std::fs::remove_file(self.path().join("calls"));
    }

    /// Files created in the sandbox other than our own: proof that an injected command ran.
    pub fn stray_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path())
            .expect("read sandbox")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                !matches!(
                    p.file_name().and_then(|n| n.to_str()),
                    Some("bin" | "calls")
                )
            })
            .collect()
    }
}

/// The environment variables of `pairs`, as the kubelet map holds them.
pub fn env_map(pairs: &[(&str, &str)]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}
