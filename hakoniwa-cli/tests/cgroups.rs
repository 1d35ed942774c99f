//! Cgroup limits (`--memory`, `--pids`, `--cpus`): what each does to a
//! program that goes past it, what the report counts, and that no cgroup
//! outlives its run. Where the caller can have no cgroup (rootless without
//! a delegated v2 subtree), the documented error instead.

#[macro_use]
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::Caller;

sandbox_tests![
    a_large_allocation_is_oom_killed_and_reported_as_such,
    a_fork_bomb_is_contained_by_pids,
    cpus_writes_the_quota_and_holds_a_busy_loop_near_it,
    no_cgroup_is_left_after_many_runs_some_killed,
    impossible_limits_are_refused_before_any_cgroup,
    without_a_writable_cgroup_the_error_says_how_to_get_one,
];

/// `--report -` added to `run_args`: the report, which follows whatever
/// the probe printed.
fn report(caller: &Caller, run_args: &[&str], probe_args: &[&str]) -> Value {
    let mut args = run_args.to_vec();
    args.extend(["--report", "-"]);
    let outcome = caller.probe(&args, probe_args).output();
    let start = outcome.stdout.find("{\n").unwrap_or(0);
    serde_json::from_str(&outcome.stdout[start..])
        .unwrap_or_else(|err| panic!("the report is not JSON: {err}\n{outcome}"))
}

/// Whether this caller can have a cgroup. When it cannot, the refusal
/// must be the documented one; the test then says it is skipped.
fn cgroups_for(caller: &Caller) -> bool {
    let outcome = caller.run(&["--pids", "64"], &["true"]).output();
    if outcome.status.code() == Some(0) {
        return true;
    }
    outcome.assert_setup_failure("cannot apply cgroup limits (pids)");
    let name = thread::current().name().unwrap_or("test").to_owned();
    skipped!(
        "skipped: {name}: uid {} has no writable cgroup here: {}",
        caller.uid(),
        outcome.stderr.lines().next().unwrap_or_default()
    );
    false
}

/// The directories the caller's cgroups are made in (the parents of the
/// cgroup paths of a run that uses every controller).
fn cgroup_parents(caller: &Caller) -> Vec<PathBuf> {
    let every = ["--pids", "64", "--memory", "1G", "--cpus", "4"];
    let report = report(caller, &every, &["exit", "0"]);
    report["cgroup"]["paths"]
        .as_array()
        .unwrap_or_else(|| panic!("no cgroup paths in the report: {report:#}"))
        .iter()
        .map(|path| {
            Path::new(path.as_str().expect("a path"))
                .parent()
                .expect("a parent")
                .to_path_buf()
        })
        .collect()
}

/// The cgroups named for `hakoniwa` process `pid` in `parents`.
fn cgroups_of(parents: &[PathBuf], pid: u32) -> Vec<PathBuf> {
    let prefix = format!("hakoniwa-{pid}-");
    parents
        .iter()
        .flat_map(|parent| fs::read_dir(parent).into_iter().flatten().flatten())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
        .collect()
}

fn a_large_allocation_is_oom_killed_and_reported_as_such(caller: &Caller) {
    if !cgroups_for(caller) {
        return;
    }
    let report = report(caller, &["--memory", "256M"], &["alloc", "1024"]);
    assert_eq!(report["limit"], "memory", "{report:#}");
    assert_eq!(report["kind"], "signaled", "{report:#}");
    assert_eq!(report["signal"], 9, "{report:#}");
    assert_eq!(report["code"], 137, "{report:#}");
    assert!(
        report["reason"]
            .as_str()
            .is_some_and(|r| r.contains("out of memory")),
        "{report:#}"
    );
    let cgroup = &report["cgroup"];
    assert!(cgroup["oom_kills"].as_u64() >= Some(1), "{report:#}");
    let peak = cgroup["memory_peak_bytes"].as_u64().expect("a memory peak");
    assert!(
        peak > 200 << 20 && peak <= 256 << 20,
        "peak {peak} bytes\n{report:#}"
    );
}

fn a_fork_bomb_is_contained_by_pids(caller: &Caller) {
    if !cgroups_for(caller) {
        return;
    }
    let started = Instant::now();
    let report = report(caller, &["--pids", "32"], &["spawn-many", "200"]);
    assert_eq!(report["kind"], "exited", "{report:#}");
    let peak = report["cgroup"]["pids_peak"].as_u64();
    // Kernels before 6.1 do not count the peak.
    if let Some(peak) = peak {
        assert!(peak <= 32, "pids peak {peak}\n{report:#}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let outcome = caller
        .probe(&["--pids", "32"], &["spawn-many", "200"])
        .output();
    let line: Value = outcome
        .stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no probe line\n{outcome}"));
    let spawned = line["spawned"].as_u64().expect("a count");
    // Init and the probe count too.
    assert!(spawned <= 30, "{line}\n{outcome}");
    assert_eq!(line["spawn"]["errno"], libc::EAGAIN, "{line}");
}

fn cpus_writes_the_quota_and_holds_a_busy_loop_near_it(caller: &Caller) {
    if !cgroups_for(caller) {
        return;
    }
    let parents = cgroup_parents(caller);
    let mut args = vec!["--cpus", "0.25", "--limit-walltime", "2", "--report", "-"];
    let bind = caller.probe_bind();
    args.extend(["-b", &bind]);
    let running = caller
        .run(&args, &[common::binaries::PROBE, "spin"])
        .spawn();
    // The limit as the kernel holds it: v1 cpu.cfs_quota_us, v2 cpu.max.
    // The directory exists a moment before the limit is written into it:
    // the kernel's "no limit" means not yet.
    let deadline = Instant::now() + Duration::from_secs(2);
    let quota = loop {
        let found = cgroups_of(&parents, running.pid())
            .into_iter()
            .find_map(|dir| {
                fs::read_to_string(dir.join("cpu.cfs_quota_us"))
                    .or_else(|_| fs::read_to_string(dir.join("cpu.max")))
                    .ok()
            })
            .filter(|quota| quota != "-1\n" && !quota.starts_with("max "));
        match found {
            Some(quota) => break quota,
            None if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            None => panic!("no cgroup with a CPU limit for pid {}", running.pid()),
        }
    };
    assert!(
        ["25000\n", "25000 100000\n"].contains(&quota.as_str()),
        "{quota:?}"
    );
    let outcome = running.wait();
    let report: Value = serde_json::from_str(&outcome.stdout)
        .unwrap_or_else(|err| panic!("the report is not JSON: {err}\n{outcome}"));
    assert_eq!(report["limit"], "wall-time", "{report:#}");
    // A quarter of a core over 2 s is 500 ms; loose bounds for busy hosts.
    let cpu = report["cgroup"]["cpu_time_us"].as_u64().expect("CPU time");
    assert!(
        (250_000..=800_000).contains(&cpu),
        "CPU time {cpu} us\n{report:#}"
    );
}

fn no_cgroup_is_left_after_many_runs_some_killed(caller: &Caller) {
    if !cgroups_for(caller) {
        return;
    }
    let parents = cgroup_parents(caller);
    let mut pids = Vec::new();
    for run in 0..100 {
        let limits = ["--pids", "64", "--memory", "64M"];
        if run % 10 == 9 {
            // hakoniwa itself SIGKILLed while the program runs.
            let mut running = caller.probe(&limits, &["sleep", "30"]).spawn();
            running.read_line();
            pids.push(running.pid());
            running.kill();
            running.wait();
        } else {
            let running = caller.run(&limits, &["true"]).spawn();
            pids.push(running.pid());
            running.wait().success();
        }
    }
    // The keeper of a killed run removes its cgroup within moments.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<PathBuf> = pids
            .iter()
            .flat_map(|pid| cgroups_of(&parents, *pid))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn impossible_limits_are_refused_before_any_cgroup(caller: &Caller) {
    for (args, culprit) in [
        (&["--cpus", "0.001"][..], "invalid cgroup limit cpus"),
        (
            &["--memory-swap", "1G"][..],
            "invalid cgroup limit memory-swap",
        ),
        (
            &["--memory", "1G", "--memory-swap", "512M"][..],
            "invalid cgroup limit memory-swap",
        ),
        (
            &["--cpu-weight", "0"][..],
            "invalid cgroup limit cpu-weight",
        ),
        (&["--pids", "0"][..], "invalid cgroup limit pids"),
    ] {
        caller
            .run(args, &["true"])
            .output()
            .assert_setup_failure(culprit);
    }
}

fn without_a_writable_cgroup_the_error_says_how_to_get_one(caller: &Caller) {
    let outcome = caller.run(&["--memory", "64M"], &["true"]).output();
    if outcome.status.code() == Some(0) {
        skipped!(
            "skipped: uid {} has a writable cgroup here, so there is no error to see",
            caller.uid()
        );
        return;
    }
    outcome.assert_setup_failure("cannot apply cgroup limits (memory)");
    assert!(
        outcome
            .stderr
            .contains("hint: cgroup limits need a cgroup you may write")
            && outcome
                .stderr
                .contains("systemd-run --user --scope -p Delegate=yes hakoniwa run"),
        "{outcome}"
    );
}
