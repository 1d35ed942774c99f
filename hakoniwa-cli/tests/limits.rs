//! Resource limits, wall time, and the run report: what the program sees
//! through `getrlimit`, what happens at each limit, and what the report says.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::host;
use common::Caller;

sandbox_tests![
    every_limit_flag_is_seen_by_getrlimit,
    fsize_turns_big_writes_into_efbig_or_sigxfsz,
    nofile_turns_extra_opens_into_emfile,
    cpu_limit_kills_a_busy_loop_but_not_a_sleeper,
    as_limit_refuses_a_large_allocation,
    nproc_limit_refuses_extra_processes,
    walltime_kills_the_whole_sandbox_in_time,
    metrics_report_max_rss_of_a_large_program,
    peak_memory_is_read_at_exit_when_asked,
    report_follows_the_documented_schema,
    status_fd_streams_start_and_end,
    bad_limit_values_are_refused,
];

/// `hakoniwa run RUN_ARGS… --report - -b BIN:/probe -- probe PROBE_ARGS…`:
/// the probe's last JSON line, and the report that follows its lines.
fn probe_with_report(caller: &Caller, run_args: &[&str], probe_args: &[&str]) -> (Value, Value) {
    let mut args = run_args.to_vec();
    args.extend(["--report", "-"]);
    let outcome = caller.probe(&args, probe_args).output();
    let text = outcome.stdout.clone();
    // The probe prints one-line objects; the report is pretty-printed.
    let start = text.find("{\n").unwrap_or(0);
    let (lines, report) = text.split_at(start);
    let line = lines
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or(Value::Null);
    let report = serde_json::from_str(report)
        .unwrap_or_else(|err| panic!("the report is not JSON: {err}\n{outcome}"));
    (line, report)
}

/// Just the report, for a probe that prints nothing (or dies).
fn report(caller: &Caller, run_args: &[&str], probe_args: &[&str]) -> Value {
    let mut args = run_args.to_vec();
    args.extend(["--report", "-"]);
    let outcome = caller.probe(&args, probe_args).output();
    serde_json::from_str(&outcome.stdout)
        .unwrap_or_else(|err| panic!("the report is not JSON: {err}\n{outcome}"))
}

fn every_limit_flag_is_seen_by_getrlimit(caller: &Caller) {
    let limits = caller
        .probe(
            &[
                "--limit-as",
                "1G",
                "--limit-core",
                "0",
                "--limit-cpu",
                "30",
                "--limit-fsize",
                "64M",
                "--limit-memlock",
                "64k",
                "--limit-nofile",
                "64",
                "--limit-nproc",
                "1000",
                "--limit-stack",
                "4M",
            ],
            &["rlimits"],
        )
        .output()
        .json();
    let expected = [
        ("as", 1u64 << 30),
        ("core", 0),
        ("cpu", 30),
        ("fsize", 64 << 20),
        ("memlock", 64 << 10),
        ("nofile", 64),
        ("nproc", 1000),
        ("stack", 4 << 20),
    ];
    for (name, value) in expected {
        // CPU time: SIGXCPU at the soft limit, SIGKILL a second later.
        let hard = if name == "cpu" { value + 1 } else { value };
        assert_eq!(
            limits[name],
            serde_json::json!([value, hard]),
            "{name}: {limits}"
        );
    }
}

fn fsize_turns_big_writes_into_efbig_or_sigxfsz(caller: &Caller) {
    let attempt = caller
        .attempt(
            &["--tmpfs", "/tmp", "--limit-fsize", "1k"],
            &["write-bytes", "/tmp/big", "5000"],
        )
        .get("write")
        .cloned()
        .unwrap_or_default();
    assert_eq!(attempt["errno"], libc_errno("EFBIG"), "{attempt}");
    // Not ignored, SIGXFSZ kills the program, and the report names the limit.
    let report = report(
        caller,
        &["--tmpfs", "/tmp", "--limit-fsize", "1k"],
        &["kill-self", "25"],
    );
    assert_eq!(report["kind"], "signaled", "{report}");
    assert_eq!(report["limit"], "file-size", "{report}");
}

fn nofile_turns_extra_opens_into_emfile(caller: &Caller) {
    let attempt = caller.attempt(&["--limit-nofile", "10"], &["open-files", "20"]);
    assert_eq!(attempt["open"]["errno"], libc_errno("EMFILE"), "{attempt}");
    // 0, 1, 2 and whatever the runtime of the probe opened came first.
    assert!(attempt["opened"].as_u64().unwrap() < 10, "{attempt}");
}

/// The CLI sets the hard limit one second above the soft one, so the
/// program gets SIGXCPU first (and SIGKILL only if it ignores that).
fn cpu_limit_kills_a_busy_loop_but_not_a_sleeper(caller: &Caller) {
    let report_busy = report(caller, &["--limit-cpu", "1"], &["spin"]);
    assert_eq!(report_busy["limit"], "cpu-time", "{report_busy}");
    assert_eq!(
        report_busy["signal"],
        libc_signal("SIGXCPU"),
        "{report_busy}"
    );
    let cpu_us = report_busy["rusage"]["user_time_us"].as_u64().unwrap()
        + report_busy["rusage"]["system_time_us"].as_u64().unwrap();
    // wait4's CPU time is sampled and can fall a few ticks short of the
    // time the kernel compared with the limit.
    assert!(cpu_us >= 900_000, "{report_busy}");
    // Sleeping uses no CPU: two seconds asleep under a one-second limit.
    let (_, report_sleeper) = probe_with_report(caller, &["--limit-cpu", "1"], &["sleep", "2"]);
    assert_eq!(report_sleeper["kind"], "exited", "{report_sleeper}");
}

fn as_limit_refuses_a_large_allocation(caller: &Caller) {
    let attempt = caller.attempt(&["--limit-as", "256M"], &["alloc", "512"]);
    assert_eq!(attempt["alloc"]["errno"], libc_errno("ENOMEM"), "{attempt}");
    let attempt = caller.attempt(&["--limit-as", "256M"], &["alloc", "16"]);
    assert_eq!(attempt["alloc"]["ok"], true, "{attempt}");
}

/// RLIMIT_NPROC counts the processes of the program's real uid (init
/// included, same uid); the kernel does not enforce it for uid 0 of the
/// host, so as root the spawns succeed.
fn nproc_limit_refuses_extra_processes(caller: &Caller) {
    let attempt = caller.attempt(&["--limit-nproc", "2"], &["spawn-many", "4"]);
    if caller.is_root() {
        assert_eq!(attempt["spawn"]["ok"], true, "{attempt}");
    } else {
        assert_eq!(attempt["spawn"]["errno"], libc_errno("EAGAIN"), "{attempt}");
    }
}

/// `sleep 30` under a one-second wall time ends within two seconds, says
/// timed out, and leaves nothing: not even a child that ignores SIGTERM.
fn walltime_kills_the_whole_sandbox_in_time(caller: &Caller) {
    let marker = format!("MARK=walltime-{}-{}", std::process::id(), caller.uid());
    let script = "trap '' TERM; (trap '' TERM; sleep 30) & exec sleep 30";
    let started = Instant::now();
    let args = [
        "--limit-walltime",
        "1",
        "--report",
        "-",
        "--devfs",
        "/dev",
        "-e",
        &marker,
    ];
    let outcome = caller.run(&args, &["/bin/sh", "-c", script]).output();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "took {elapsed:?}\n{outcome}"
    );
    assert_eq!(outcome.code(), 137, "{outcome}");
    let report: Value = serde_json::from_str(&outcome.stdout).expect("report");
    assert_eq!(report["kind"], "timed-out", "{report}");
    assert_eq!(report["limit"], "wall-time", "{report}");
    assert!(
        outcome.stderr.contains("wall-time limit"),
        "no line says why\n{outcome}"
    );
    assert!(
        host::processes_marked(&marker).is_empty(),
        "{marker} survived"
    );
}

/// A program that touches 200 MiB reports a max RSS within 10% of that.
fn metrics_report_max_rss_of_a_large_program(caller: &Caller) {
    let (line, report) = probe_with_report(caller, &[], &["alloc", "200"]);
    assert_eq!(line["touched_mib"], 200, "{line}");
    let max_rss_kib = report["rusage"]["max_rss_kib"].as_u64().unwrap() as f64;
    let expected = 200.0 * 1024.0;
    assert!(
        (max_rss_kib - expected).abs() <= expected * 0.10,
        "max rss {max_rss_kib} KiB, expected about {expected}\n{report}"
    );
}

/// `--peak-memory`: VmPeak and VmHWM of the program as it exits; without
/// it, nothing is traced and the report says null.
fn peak_memory_is_read_at_exit_when_asked(caller: &Caller) {
    let (_, report) = probe_with_report(caller, &["--peak-memory"], &["alloc", "200"]);
    let hwm = report["proc_status"]["vm_hwm_kib"]
        .as_u64()
        .expect("vm_hwm_kib") as f64;
    let peak = report["proc_status"]["vm_peak_kib"]
        .as_u64()
        .expect("vm_peak_kib") as f64;
    let expected = 200.0 * 1024.0;
    assert!((hwm - expected).abs() <= expected * 0.10, "{report}");
    assert!(peak >= hwm, "{report}");
    let (_, report) = probe_with_report(caller, &[], &["alloc", "1"]);
    assert!(report["proc_status"].is_null(), "{report}");
}

/// Every field of docs/report.md, with its type.
fn report_follows_the_documented_schema(caller: &Caller) {
    let report = report(caller, &[], &["exit", "3"]);
    let object = report.as_object().expect("an object");
    let fields: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut expected = vec![
        "cgroup",
        "code",
        "ended_at_unix_us",
        "exit_code",
        "kind",
        "landlock",
        "limit",
        "pid",
        "proc_status",
        "reason",
        "rusage",
        "signal",
        "started_at_unix_us",
        "version",
    ];
    expected.sort();
    assert_eq!(fields, expected, "{report}");
    assert_eq!(report["version"], 1);
    assert_eq!(report["kind"], "exited");
    assert_eq!(
        (report["code"].as_i64(), report["exit_code"].as_i64()),
        (Some(3), Some(3))
    );
    assert!(report["signal"].is_null() && report["limit"].is_null());
    assert!(report["reason"].is_string() && report["pid"].is_u64());
    let started = report["started_at_unix_us"].as_u64().unwrap();
    let ended = report["ended_at_unix_us"].as_u64().unwrap();
    assert!(started <= ended, "{report}");
    let rusage = report["rusage"].as_object().expect("rusage");
    for field in [
        "real_time_us",
        "user_time_us",
        "system_time_us",
        "max_rss_kib",
        "minor_faults",
        "major_faults",
        "voluntary_context_switches",
        "involuntary_context_switches",
    ] {
        assert!(rusage[field].is_u64(), "{field}: {report}");
    }
    assert_eq!(rusage.len(), 8, "{report}");
    // A program that never ran has no usage, and the kind says why.
    let failed = report_of_missing_program(caller);
    assert_eq!(failed["kind"], "setup-failed", "{failed}");
    assert_eq!(failed["code"], 127, "{failed}");
    assert!(failed["rusage"].is_null(), "{failed}");
}

fn report_of_missing_program(caller: &Caller) -> Value {
    let outcome = caller
        .run(&["--report", "-"], &["/no/such/program"])
        .output();
    serde_json::from_str(&outcome.stdout)
        .unwrap_or_else(|err| panic!("the report is not JSON: {err}\n{outcome}"))
}

/// `--status-fd 3`: a `started` line with the host pid, then an `ended`
/// line with the report's content.
fn status_fd_streams_start_and_end(caller: &Caller) {
    let outcome = caller
        .run(&["--status-fd", "3"], &["true"])
        .fd_to_stdout(3)
        .output();
    let lines: Vec<Value> = outcome
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{outcome}");
    assert_eq!(lines[0]["event"], "started", "{outcome}");
    assert!(lines[0]["pid"].is_u64(), "{outcome}");
    assert_eq!(lines[1]["event"], "ended", "{outcome}");
    assert_eq!(lines[1]["kind"], "exited", "{outcome}");
    assert_eq!(lines[1]["pid"], lines[0]["pid"], "{outcome}");
}

fn bad_limit_values_are_refused(caller: &Caller) {
    for (flag, value) in [
        ("--limit-as", "-1"),
        ("--limit-as", "12X"),
        ("--limit-nofile", "many"),
        ("--limit-cpu", "1.5"),
        ("--limit-walltime", "0"),
        ("--limit-walltime", "-2"),
    ] {
        let outcome = caller.run(&[flag, value], &["true"]).output();
        outcome.assert_setup_failure(flag);
    }
}

fn libc_signal(name: &str) -> Value {
    let number = match name {
        "SIGXCPU" => 24,
        other => panic!("unknown signal {other}"),
    };
    Value::from(number)
}

fn libc_errno(name: &str) -> Value {
    let number = match name {
        "EFBIG" => 27,
        "EMFILE" => 24,
        "ENOMEM" => 12,
        "EAGAIN" => 11,
        other => panic!("unknown errno {other}"),
    };
    Value::from(number)
}
