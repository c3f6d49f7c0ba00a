//! The operator's memory and CPU time, sampled from /proc while the benchmark runs.
//!
//! RSS comes from `VmRSS` and the kernel's own high-water mark `VmHWM` (so a peak between two samples is not
//! missed); CPU time is `utime + stime` from `/proc/<pid>/stat`, in clock ticks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Seconds since sampling started.
    pub at: f64,
    /// Resident set size, MiB.
    pub rss_mib: f64,
    /// Peak resident set size so far (`VmHWM`), MiB.
    pub peak_rss_mib: f64,
    /// CPU seconds used so far (user + system).
    pub cpu_seconds: f64,
}

/// Reads one process's memory and CPU time now; `None` once it has exited.
pub fn read(pid: u32, ticks_per_second: f64) -> Option<(f64, f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<f64> {
        status
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let rss = kib("VmRSS:")? / 1024.0;
    let peak = kib("VmHWM:")? / 1024.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some((rss, peak, cpu_ticks(&stat)? / ticks_per_second))
}

/// `utime + stime` from a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted after its closing parenthesis.
pub fn cpu_ticks(stat: &str) -> Option<f64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`), 100 on every Linux this runs on.
pub fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map(|t| t as f64)
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// CPU seconds used so far by each of `pids`, summed by command name (`kube-apiserver`, `etcd`, `kwok`, ...).
pub fn cpu_by_command(pids: &[u32]) -> std::collections::BTreeMap<String, f64> {
    let ticks = ticks_per_second();
    let mut out = std::collections::BTreeMap::new();
    for pid in pids {
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if let Some((_, _, cpu)) = read(*pid, ticks) {
            *out.entry(comm.trim().to_string()).or_insert(0.0) += cpu;
        }
    }
    out
}

/// Samples a process every `interval` on a thread of its own until dropped.
pub struct Sampler {
    readings: Arc<Mutex<Vec<Reading>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    started: Instant,
    pid: u32,
    ticks: f64,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32, interval: Duration) -> Sampler {
        let readings = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let ticks = ticks_per_second();
        let thread = {
            let (readings, stop) = (readings.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match read(pid, ticks) {
                        Some((rss_mib, peak_rss_mib, cpu_seconds)) => {
                            if let Ok(mut r) = readings.lock() {
                                r.push(Reading {
                                    at: started.elapsed().as_secs_f64(),
                                    rss_mib,
                                    peak_rss_mib,
                                    cpu_seconds,
                                });
                            }
                        }
                        None => return,
                    }
                    std::thread::sleep(interval);
                }
            })
        };
        Sampler {
            readings,
            stop,
            thread: Some(thread),
            started,
            pid,
            ticks,
        }
    }

    /// A reading taken right now (also recorded), or the last one if the process is gone.
    pub fn now(&self) -> Reading {
        let at = self.started.elapsed().as_secs_f64();
        match read(self.pid, self.ticks) {
            Some((rss_mib, peak_rss_mib, cpu_seconds)) => {
                let reading = Reading {
                    at,
                    rss_mib,
                    peak_rss_mib,
                    cpu_seconds,
                };
                if let Ok(mut r) = self.readings.lock() {
                    r.push(reading);
                }
                reading
            }
            None => self.last().unwrap_or(Reading {
                at,
                rss_mib: 0.0,
                peak_rss_mib: 0.0,
                cpu_seconds: 0.0,
            }),
        }
    }

    fn last(&self) -> Option<Reading> {
        self.readings.lock().ok()?.last().copied()
    }

    /// The highest RSS sampled between two readings (inclusive).
    pub fn peak_between(&self, from: &Reading, to: &Reading) -> f64 {
        self.readings
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|x| x.at >= from.at && x.at <= to.at)
                    .map(|x| x.rss_mib)
                    .fold(from.rss_mib.max(to.rss_mib), f64::max)
            })
            .unwrap_or(to.rss_mib)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_a_name_with_spaces_and_parentheses() {
        let stat =
            "1234 (ray op (x)) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(325.0));
    }

    #[test]
    fn this_process_can_be_read() {
        let (rss, peak, cpu) = read(std::process::id(), ticks_per_second()).expect("own /proc");
        assert!(rss > 0.0 && peak >= rss && cpu >= 0.0, "{rss} {peak} {cpu}");
    }
}
