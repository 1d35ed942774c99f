//! The machine-readable run report (`--report`) and status stream
//! (`--status-fd`). The schema is documented in docs/report.md; bump
//! `VERSION` on any incompatible change.

use std::fs::File;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use hakoniwa::{CgroupVersion, ExitKind, ExitStatus, Limit};
use serde_json::{json, Value};

use crate::cli::CliError;

/// The schema version of the report and of every status line.
const VERSION: u32 = 1;

/// The report of one run, filled in when it ends.
pub(crate) struct Report {
    started: SystemTime,
    document: Value,
}

impl Report {
    /// Notes the start time.
    pub(crate) fn start() -> Self {
        Self {
            started: SystemTime::now(),
            document: Value::Null,
        }
    }

    /// Fills in how the run ended.
    pub(crate) fn end(&mut self, pid: u32, status: &ExitStatus) {
        let kind = match status.kind {
            ExitKind::Exited(_) => "exited",
            ExitKind::Signaled(_) => "signaled",
            ExitKind::TimedOut => "timed-out",
            ExitKind::SetupFailed(_) => "setup-failed",
        };
        let limit = status.limit.map(|limit| match limit {
            Limit::WallTime => "wall-time",
            Limit::CpuTime => "cpu-time",
            Limit::FileSize => "file-size",
            Limit::Memory => "memory",
        });
        let rusage = status.rusage.map(|usage| {
            json!({
                "real_time_us": usage.real_time.as_micros() as u64,
                "user_time_us": usage.user_time.as_micros() as u64,
                "system_time_us": usage.system_time.as_micros() as u64,
                "max_rss_kib": usage.max_rss,
                "minor_faults": usage.minor_faults,
                "major_faults": usage.major_faults,
                "voluntary_context_switches": usage.voluntary_context_switches,
                "involuntary_context_switches": usage.involuntary_context_switches,
            })
        });
        self.document = json!({
            "version": VERSION,
            "kind": kind,
            "code": status.code,
            "exit_code": status.exit_code,
            "signal": status.signal(),
            "limit": limit,
            "reason": status.reason,
            "pid": pid,
            "started_at_unix_us": unix_micros(self.started),
            "ended_at_unix_us": unix_micros(SystemTime::now()),
            "rusage": rusage,
            "proc_status": status.proc_pid_status.map(|peak| json!({
                "vm_peak_kib": peak.vm_peak,
                "vm_hwm_kib": peak.vm_hwm,
            })),
            "cgroup": status.cgroup.as_ref().map(|usage| json!({
                "version": match usage.version {
                    CgroupVersion::V1 => 1,
                    CgroupVersion::V2 => 2,
                },
                "paths": usage.paths,
                "memory_peak_bytes": usage.memory_peak,
                "oom_kills": usage.oom_kills,
                "pids_peak": usage.pids_peak,
                "cpu_time_us": usage.cpu_time.map(|time| time.as_micros() as u64),
            })),
            "landlock": status.landlock.as_ref().map(|enforcement| json!({
                "kernel_abi": enforcement.kernel_abi(),
                "complete": enforcement.is_complete(),
                "missing": enforcement.missing().iter().map(|right| json!({
                    "right": right.name,
                    "abi": right.abi,
                })).collect::<Vec<_>>(),
            })),
        });
    }

    /// Writes the report to `path`, or to stdout for `-`.
    pub(crate) fn write(&self, path: &str) -> Result<(), CliError> {
        let text = format!("{:#}\n", self.document);
        let written = if path == "-" {
            std::io::stdout().write_all(text.as_bytes())
        } else {
            std::fs::write(path, text)
        };
        written.map_err(|err| CliError {
            message: format!("failed to write the report to {path}"),
            source: Some(Box::new(err)),
            hint: None,
        })
    }
}

fn unix_micros(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| since.as_micros() as u64)
        .unwrap_or(0)
}

/// The descriptor given with `--status-fd`, written one JSON line per
/// event.
pub(crate) struct StatusFd(File);

impl StatusFd {
    /// Takes over descriptor `fd`; fails if it is not open.
    pub(crate) fn open(fd: i32) -> Result<Self, CliError> {
        crate::sys::take_fd(fd)
            .map(StatusFd)
            .map_err(|err| CliError {
                message: format!("invalid --status-fd {fd}"),
                source: Some(Box::new(err)),
                hint: Some("open the descriptor in the calling shell, e.g. 3>status.jsonl".into()),
            })
    }

    /// The program has started; `pid` is the sandbox's init on the host.
    pub(crate) fn started(&mut self, pid: u32) {
        self.line(&json!({ "version": VERSION, "event": "started", "pid": pid }));
    }

    /// The run has ended: the report, as one line.
    pub(crate) fn ended(&mut self, report: &Report) {
        let mut line = report.document.clone();
        line["event"] = json!("ended");
        self.line(&line);
    }

    fn line(&mut self, value: &Value) {
        if let Err(err) = writeln!(self.0, "{value}") {
            log::warn!("failed to write to --status-fd: {err}");
        }
    }
}
