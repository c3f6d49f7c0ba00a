//! Child processes that never outlive their owner.
//!
//! Every environment (a control plane, a Ray head) gets a run directory and a [`Supervisor`]. Each child is started
//! in a process group of its own, with its output in `<run dir>/logs/<name>.log`. Three layers make sure nothing is
//! left running:
//!
//! 1. [`Supervisor`]'s `Drop` stops the groups in reverse start order (SIGTERM, then SIGKILL after a grace period)
//!    and kills any process whose command line still names the run directory (Ray daemons, for example, are
//!    started by `ray start` and would survive a kill of `ray start` alone). This runs on normal drop and while a
//!    panicking test unwinds.
//! 2. A watchdog `sh` process reads the list of process groups from a pipe whose write end only the owner holds.
//!    When the owner dies for any reason, even SIGKILL, the kernel closes the pipe, the watchdog reads end-of-file,
//!    kills the groups, sweeps the run directory's processes and removes the directory. This is what tears down a
//!    control plane held in a `static` (statics are never dropped) when the test binary exits. It needs no
//!    `unsafe` (no `prctl(PR_SET_PDEATHSIG)` in a `pre_exec` hook) and, unlike a parent-death signal, it does not
//!    fire when the *thread* that spawned the child ends.
//! 3. On start, [`clean_stale_runs`] removes run directories whose owner process is gone and kills what is left of
//!    them, in case even the watchdog was killed.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// Name of the file, in a run directory, that holds the owning process id.
const OWNER_FILE: &str = "owner";
/// Name of the file, in a run directory, that lists the process groups started in it, one per line.
const GROUPS_FILE: &str = "groups";
/// How long a child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// The watchdog. `$WATCH_DIR` comes from the environment, not argv, so that the sweep (which kills every process
/// whose command line names the run directory) cannot match the watchdog or its `grep`; `grep -f -` reads the
/// pattern from stdin for the same reason.
const WATCHDOG: &str = r#"
trap '' INT HUP
groups=' '
remove=$WATCH_REMOVE
while IFS= read -r line; do
  case $line in
    keep) remove=0 ;;
    +*) groups="$groups${line#+} " ;;
    -*) groups=$(printf '%s' "$groups" | sed "s/ ${line#-} / /") ;;
  esac
done
for g in $groups; do kill -s TERM -- "-$g" 2>/dev/null; done
if [ -n "${groups# }" ]; then sleep 2; fi
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
for f in $(printf '%s/\n' "$WATCH_DIR" | grep -alFf - /proc/[0-9]*/cmdline 2>/dev/null); do
  p=${f#/proc/}; p=${p%/cmdline}
  if [ "$p" != "$$" ]; then kill -s KILL "$p" 2>/dev/null; fi
done
if [ "$remove" = 1 ]; then rm -rf -- "$WATCH_DIR"; fi
"#;

/// One started child.
#[derive(Debug)]
struct Supervised {
    name: String,
    /// The current process: replaced by [`Supervisor::respawn`].
    child: Child,
    /// What it was started with, so [`Supervisor::respawn`] can start it again exactly so.
    recipe: Recipe,
    log: PathBuf,
    /// Waited for: its pid may be reused, so it must not be signalled any more.
    reaped: bool,
    /// Stopped on purpose by [`Supervisor::stop`], not exited by itself.
    stopped: bool,
}

/// The parts of a [`Command`] needed to build it again (a `Command` cannot be cloned).
#[derive(Debug, Clone)]
struct Recipe {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    current_dir: Option<PathBuf>,
}

impl Recipe {
    fn of(command: &Command) -> Self {
        Self {
            program: command.get_program().to_owned(),
            args: command.get_args().map(OsStr::to_owned).collect(),
            envs: command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(OsStr::to_owned)))
                .collect(),
            current_dir: command.get_current_dir().map(Path::to_owned),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }
}

/// Owns a run directory and the processes started in it; see the module docs.
#[derive(Debug)]
pub(crate) struct Supervisor {
    dir: PathBuf,
    children: Vec<Supervised>,
    watchdog: Option<Child>,
    watchdog_pipe: Option<ChildStdin>,
}

impl Supervisor {
    /// Takes ownership of `dir` (created if missing): records this process as its owner and starts the watchdog.
    /// With `remove_on_exit` the directory is deleted when the supervisor stops or its owner dies.
    pub(crate) fn new(dir: &Path, remove_on_exit: bool) -> Result<Self> {
        fs::create_dir_all(dir.join("logs"))
            .map_err(Error::io(format!("creating {}", dir.display())))?;
        fs::write(dir.join(OWNER_FILE), std::process::id().to_string()).map_err(Error::io(
            format!("writing the owner file in {}", dir.display()),
        ))?;
        fs::write(dir.join(GROUPS_FILE), "").map_err(Error::io(format!(
            "writing the groups file in {}",
            dir.display()
        )))?;
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .env("WATCH_DIR", dir)
            .env("WATCH_REMOVE", if remove_on_exit { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: a Ctrl-C in the terminal must not kill the watchdog before it has cleaned up.
            .process_group(0)
            .spawn()
            .map_err(Error::io("starting the watchdog (sh)"))?;
        let pipe = watchdog.stdin.take();
        Ok(Self {
            dir: dir.to_owned(),
            children: Vec::new(),
            watchdog: Some(watchdog),
            watchdog_pipe: pipe,
        })
    }

    /// The run directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `name`'s output goes.
    pub(crate) fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }

    /// Starts `command` as `name` in a new process group, output appended to its log, and registers it with the
    /// watchdog before returning.
    pub(crate) fn spawn(&mut self, name: &str, command: Command) -> Result<u32> {
        if self.children.iter().any(|c| c.name == name) {
            return Err(Error::Other(format!(
                "a process named {name} was already started"
            )));
        }
        let recipe = Recipe::of(&command);
        let log = self.log_path(name);
        let child = self.launch(name, command, &log)?;
        let pid = child.id();
        self.children.push(Supervised {
            name: name.to_owned(),
            child,
            recipe,
            log,
            reaped: false,
            stopped: false,
        });
        Ok(pid)
    }

    /// Stops `name` (SIGTERM to its group, SIGKILL after the grace period) and waits until its leader is gone; it
    /// can be started again with [`Self::respawn`]. Stopping a child that already exited is not an error.
    pub(crate) fn stop(&mut self, name: &str) -> Result<()> {
        let index = self.index_of(name)?;
        let c = &mut self.children[index];
        if !c.reaped {
            stop_group(&mut c.child);
            c.reaped = true;
        }
        c.stopped = true;
        let pid = c.child.id();
        self.forget_group(pid)
    }

    /// Starts `name` again with the command it was first started with, output appended to the same log. Fails if
    /// it still runs. Returns the new process id.
    pub(crate) fn respawn(&mut self, name: &str) -> Result<u32> {
        let index = self.index_of(name)?;
        if self.check_running(name).is_ok() {
            return Err(Error::Other(format!("{name} is running; stop it first")));
        }
        let old = self.children[index].child.id();
        // `check_running` reaped it if it had exited by itself; an explicit `stop` already told the watchdog.
        self.forget_group(old)?;
        let command = self.children[index].recipe.command();
        let log = self.children[index].log.clone();
        let child = self.launch(name, command, &log)?;
        let pid = child.id();
        let c = &mut self.children[index];
        c.child = child;
        c.reaped = false;
        c.stopped = false;
        Ok(pid)
    }

    /// Spawns `command` in a process group of its own with its output appended to `log`, and tells the watchdog
    /// and the groups file about the group.
    fn launch(&mut self, name: &str, mut command: Command, log: &Path) -> Result<Child> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(Error::io(format!("opening {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(Error::io(format!("opening {}", log.display())))?;
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(Error::io(format!("starting {name} ({program})")))?;
        let pid = child.id();
        self.tell_watchdog(&format!("+{pid}"));
        let mut groups = OpenOptions::new()
            .append(true)
            .open(self.dir.join(GROUPS_FILE))
            .map_err(Error::io("recording a process group"))?;
        writeln!(groups, "{pid}").map_err(Error::io("recording a process group"))?;
        Ok(child)
    }

    /// Removes a stopped group from the watchdog's list and the groups file, so that neither ever signals a
    /// recycled pid. Idempotent.
    fn forget_group(&mut self, pid: u32) -> Result<()> {
        self.tell_watchdog(&format!("-{pid}"));
        let path = self.dir.join(GROUPS_FILE);
        let groups = fs::read_to_string(&path).map_err(Error::io("reading the groups file"))?;
        let kept: String = groups
            .lines()
            .filter(|l| l.trim() != pid.to_string())
            .map(|l| format!("{l}\n"))
            .collect();
        if kept != groups {
            fs::write(&path, kept).map_err(Error::io("rewriting the groups file"))?;
        }
        Ok(())
    }

    fn index_of(&self, name: &str) -> Result<usize> {
        self.children
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| Error::Other(format!("no process named {name} was started")))
    }

    /// Process ids of the children still running (the group leaders), then of the watchdog.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.children
            .iter()
            .filter(|c| !c.reaped)
            .map(|c| c.child.id())
            .chain(self.watchdog.as_ref().map(Child::id))
            .collect()
    }

    /// Fails with the exit status and log tail if `name` has exited.
    pub(crate) fn check_running(&mut self, name: &str) -> Result<()> {
        let Some(c) = self.children.iter_mut().find(|c| c.name == name) else {
            return Err(Error::Other(format!("no process named {name} was started")));
        };
        if c.stopped {
            return Err(Error::Other(format!("{name} was stopped on purpose")));
        }
        match c.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                c.reaped = true;
                Err(exited_error(name, &status.to_string(), &c.log))
            }
            Err(e) => Err(Error::io(format!("checking on {name}"))(e)),
        }
    }

    /// Stops every child (reverse start order), sweeps leftovers, lets the watchdog finish. Idempotent.
    pub(crate) fn shutdown(&mut self) {
        while let Some(mut c) = self.children.pop() {
            if !c.reaped {
                stop_group(&mut c.child);
            }
            self.tell_watchdog(&format!("-{}", c.child.id()));
        }
        sweep(&self.dir);
        // Closing the pipe lets the watchdog run its end-of-file path (now: nothing to kill, remove the dir).
        self.watchdog_pipe = None;
        if let Some(mut w) = self.watchdog.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if !matches!(w.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = w.kill();
            let _ = w.wait();
        }
    }

    /// Keeps the run directory (logs, etcd data) after the processes stop, for a person to inspect after a failed
    /// start. The next start removes it once this process is gone ([`clean_stale_runs`]).
    pub(crate) fn keep_dir(&mut self) {
        self.tell_watchdog("keep");
    }

    fn tell_watchdog(&mut self, line: &str) {
        if let Some(pipe) = self.watchdog_pipe.as_mut() {
            // If the watchdog is gone, layers 1 and 3 still clean up; nothing useful to do with the error here.
            let _ = writeln!(pipe, "{line}");
            let _ = pipe.flush();
        }
    }

    /// Test hook: closes the watchdog pipe without stopping anything, exactly what the kernel does when the owner
    /// dies, then waits for the watchdog to finish. The children are forgotten (the watchdog owns them now).
    #[cfg(test)]
    pub(crate) fn abandon_to_watchdog(&mut self) {
        self.watchdog_pipe = None;
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.wait();
        }
        for c in &mut self.children {
            let _ = c.child.wait();
            c.reaped = true;
        }
        self.children.clear();
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// SIGTERM to the child's group, up to [`GRACE`] for the leader to exit, then SIGKILL to the group (members that
/// outlived the leader included).
fn stop_group(child: &mut Child) {
    let Ok(raw) = i32::try_from(child.id()) else {
        return;
    };
    let group = Pid::from_raw(raw);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
}

/// The error for a child that exited: recognises "address already in use" so a port conflict gets its own message.
pub(crate) fn exited_error(name: &str, status: &str, log: &Path) -> Error {
    let tail = log_tail(log, 30);
    if let Some(port) = port_in_use(&tail) {
        return Error::PortTaken {
            component: name.to_owned(),
            port,
        };
    }
    Error::ProcessExited {
        component: name.to_owned(),
        status: status.to_owned(),
        log: log.to_owned(),
        tail,
    }
}

/// Finds `127.0.0.1:<port>: bind: address already in use` (Go) or similar in a log and returns the port.
fn port_in_use(log: &str) -> Option<u16> {
    log.lines()
        .filter(|l| l.contains("address already in use"))
        .find_map(|l| {
            l.split(|c: char| c.is_whitespace() || c == '"' || c == ',')
                .filter_map(|word| word.trim_end_matches(':').rsplit_once(':'))
                .find_map(|(host, port)| {
                    (host.ends_with("127.0.0.1") || host.ends_with("localhost"))
                        .then(|| port.parse().ok())
                        .flatten()
                })
        })
}

/// The last `lines` lines of a log file (at most 64 KiB are read), or a note that it could not be read.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Kills every process whose command line mentions `dir/` (but never this process), and waits up to two seconds
/// for them to be gone, so a caller that checks right afterwards sees them gone.
fn sweep(dir: &Path) {
    let pids = processes_mentioning(dir);
    for &pid in &pids {
        if let Ok(raw) = i32::try_from(pid) {
            let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
        }
    }
    wait_gone(&pids, Duration::from_secs(2));
}

/// Waits until none of `pids` runs, or `timeout` passes; returns those still running.
pub fn wait_gone(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|&p| is_running(p)).collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Process ids whose command line contains `dir/`, excluding our own.
pub(crate) fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = format!("{}/", dir.display());
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| {
                    String::from_utf8_lossy(&raw)
                        .replace('\0', " ")
                        .contains(&needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Whether a process with this id runs. A zombie (exited, not yet reaped by its parent) counts as gone: it holds
/// no memory, ports or files any more.
pub fn is_running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Removes run directories under `parent` whose name starts with `prefix` and whose owner process is gone, killing
/// whatever still runs from them. Returns the directories removed. Directories of live owners are left alone.
pub(crate) fn clean_stale_runs(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(prefix) {
            continue;
        }
        let dir = entry.path();
        if let Some(owner) = stale_owner(&dir) {
            kill_run(&dir);
            if fs::remove_dir_all(&dir).is_ok() {
                eprintln!(
                    "ray-testenv: removed {} left over from a run that ended without cleaning up (pid {owner})",
                    dir.display()
                );
                removed.push(dir);
            }
        }
    }
    removed
}

/// The process recorded as the owner of run directory `dir`, if it has one.
fn owner(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join(OWNER_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `Some(pid)` if `dir` is a run directory whose owner `pid` no longer runs.
pub(crate) fn stale_owner(dir: &Path) -> Option<u32> {
    owner(dir).filter(|&pid| !is_running(pid))
}

/// `Some(pid)` if `dir` is a run directory whose owner still runs.
pub(crate) fn live_owner(dir: &Path) -> Option<u32> {
    owner(dir).filter(|&pid| is_running(pid))
}

/// Kills the recorded process groups of a dead run (only groups whose members still mention the run directory, so
/// a recycled pid is never hit), then every process that mentions it.
pub(crate) fn kill_run(dir: &Path) {
    let mentioning = processes_mentioning(dir);
    if let Ok(groups) = fs::read_to_string(dir.join(GROUPS_FILE)) {
        for group in groups.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let ours = mentioning
                .iter()
                .any(|&pid| process_group_of(pid) == Some(group));
            if ours {
                let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
            }
        }
    }
    sweep(dir);
}

/// The process group of `pid`, from `/proc/<pid>/stat`.
fn process_group_of(pid: u32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command: state ppid pgrp ...
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_port_in_a_go_bind_error() {
        let log = "E1125 run.go:72] \"command failed\" err=\"failed to listen on 127.0.0.1:6443: listen tcp 127.0.0.1:6443: bind: address already in use\"";
        assert_eq!(port_in_use(log), Some(6443));
        assert_eq!(port_in_use("everything is fine on 127.0.0.1:6443"), None);
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.log");
        fs::write(&path, "a\nb\nc\nd\n").expect("write");
        assert_eq!(log_tail(&path, 2), "c\nd");
        assert!(log_tail(&dir.path().join("missing"), 2).contains("cannot read"));
    }

    #[test]
    fn drop_stops_children_and_removes_the_dir() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("run");
        let mut sup = Supervisor::new(&dir, true).expect("supervisor");
        let mut cmd = Command::new("sleep");
        cmd.arg("300");
        let pid = sup.spawn("sleeper", cmd).expect("spawn");
        let pids = sup.pids();
        assert_eq!(pids.len(), 2, "the child and the watchdog: {pids:?}");
        assert_eq!(pids[0], pid);
        assert!(pids.iter().all(|&p| is_running(p)));
        drop(sup);
        let alive: Vec<u32> = pids.into_iter().filter(|&p| is_running(p)).collect();
        assert!(alive.is_empty(), "survived drop: {alive:?}");
        assert!(!dir.exists(), "run dir survived drop");
    }

    #[test]
    fn a_stopped_child_is_respawned_with_the_same_command() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("run");
        let mut sup = Supervisor::new(&dir, true).expect("supervisor");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("echo started $MARK; exec sleep 303")
            .env("MARK", "x1");
        let first = sup.spawn("sleeper", cmd).expect("spawn");
        std::thread::sleep(Duration::from_millis(200));
        assert!(sup.respawn("sleeper").is_err(), "respawned a running child");
        sup.stop("sleeper").expect("stop");
        assert!(!is_running(first));
        assert!(sup.check_running("sleeper").is_err());
        let groups = |dir: &Path| fs::read_to_string(dir.join(GROUPS_FILE)).expect("groups");
        assert!(!groups(&dir).contains(&first.to_string()));
        let second = sup.respawn("sleeper").expect("respawn");
        assert_ne!(first, second);
        assert!(is_running(second));
        sup.check_running("sleeper").expect("running again");
        assert_eq!(groups(&dir).trim(), second.to_string());
        assert_eq!(sup.pids()[0], second);
        std::thread::sleep(Duration::from_millis(200));
        let log = fs::read_to_string(sup.log_path("sleeper")).expect("log");
        assert_eq!(log, "started x1\nstarted x1\n", "the log is appended to");
        drop(sup);
        assert!(!is_running(second), "survived drop");
    }

    #[test]
    fn watchdog_cleans_up_when_the_owner_goes_away() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("run");
        let mut sup = Supervisor::new(&dir, true).expect("supervisor");
        // A grandchild that leaves the group, as a daemonising program would; only the sweep can find it.
        let mut cmd = Command::new("sh");
        let marker = dir.join("marker");
        fs::write(&marker, "").expect("write marker");
        cmd.arg("-c").arg(format!(
            "setsid tail -f {} >/dev/null & exec sleep 302",
            marker.display()
        ));
        let pid = sup.spawn("sleeper", cmd).expect("spawn");
        std::thread::sleep(Duration::from_millis(300));
        let escaped = processes_mentioning(&dir);
        assert_eq!(
            escaped.len(),
            1,
            "the setsid sleeper should be found: {escaped:?}"
        );
        sup.abandon_to_watchdog();
        // SIGKILLed processes take a moment to exit.
        let alive = wait_gone(&[pid, escaped[0]], Duration::from_secs(5));
        assert!(alive.is_empty(), "survived their owner: {alive:?}");
        assert!(!dir.exists(), "run dir survived");
    }

    #[test]
    fn stale_runs_are_removed_and_live_ones_kept() {
        let parent = tempfile::tempdir().expect("tempdir");
        let stale = parent.path().join("kt-stale");
        let live = parent.path().join("kt-live");
        fs::create_dir_all(&stale).expect("mkdir");
        fs::create_dir_all(&live).expect("mkdir");
        // A pid that cannot exist (above the kernel's pid_max limit of 2^22).
        fs::write(stale.join(OWNER_FILE), "4294967").expect("write");
        fs::write(live.join(OWNER_FILE), std::process::id().to_string()).expect("write");
        let removed = clean_stale_runs(parent.path(), "kt-");
        assert_eq!(removed, vec![stale.clone()]);
        assert!(!stale.exists());
        assert!(live.exists());
        assert_eq!(live_owner(&live), Some(std::process::id()));
    }
}
