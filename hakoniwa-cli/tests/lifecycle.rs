//! The sandbox lives and dies with `hakoniwa`: signals sent to `hakoniwa`
//! reach the program, the end of the program or of `hakoniwa` ends every
//! process inside, and no run — successful, failed or killed — leaves a
//! process, a temp dir or a mount behind.

#[macro_use]
mod common;

use std::fs;
use std::thread;
use std::time::Duration;

use std::os::unix::process::ExitStatusExt;

use common::host::{self, Traces};
use common::run::Invocation;
use common::Caller;

sandbox_tests![
    sigterm_and_sigint_reach_the_program,
    sigkill_of_hakoniwa_kills_the_sandbox,
    program_exit_ends_the_sandbox,
    runs_leave_nothing_behind,
];

/// How long the sandbox may outlive a SIGKILLed `hakoniwa`.
const DEATH_DEADLINE: Duration = Duration::from_secs(1);

/// Inside the sandbox: a background `sleep` the runtime does not know
/// about, and the probe announcing itself, then sleeping.
const SLEEPERS: &str = "sleep 1000 & exec /probe/hakoniwa-probe sleep 1000";

/// `hakoniwa run RUN_ARGS… --devfs /dev -b BIN:/probe -- /bin/sh -c SCRIPT`
/// (`sh` gives a background job `/dev/null` as its stdin).
fn shell(caller: &Caller, run_args: &[&str], script: &str) -> Invocation {
    let bind = caller.probe_bind();
    let mut args = run_args.to_vec();
    args.extend(["--devfs", "/dev", "-b", &bind]);
    caller.run(&args, &["/bin/sh", "-c", script])
}

/// `kill -TERM` (or `-INT`, as Ctrl-C would) to `hakoniwa` kills the
/// program by that signal, so `hakoniwa` exits 128+N.
fn sigterm_and_sigint_reach_the_program(caller: &Caller) {
    for (signal, number) in [("TERM", 15), ("INT", 2)] {
        let mut running = caller
            .probe(&[], &["sleep", "1000"])
            .default_signals()
            .spawn();
        running.read_line();
        running.signal(signal);
        let outcome = running.wait();
        assert_eq!(outcome.code(), 128 + number, "SIG{signal}\n{outcome}");
    }
}

/// `kill -KILL` to `hakoniwa` — which it cannot catch or forward — still
/// takes every process of the sandbox down within a second, including one
/// the program left in the background.
fn sigkill_of_hakoniwa_kills_the_sandbox(caller: &Caller) {
    let mut running = shell(caller, &[], SLEEPERS).spawn();
    running.read_line();
    // The background `sleep` may still be a forked `sh` for a moment.
    let sandbox = host::descendants_until(running.pid(), Duration::from_secs(5), |tree| {
        ["hakoniwa-probe", "sleep"]
            .iter()
            .all(|comm| tree.iter().any(|p| p.comm == *comm))
    });

    running.kill();
    let survivors = host::wait_for_death(&sandbox, DEATH_DEADLINE);
    assert!(
        survivors.is_empty(),
        "alive {DEATH_DEADLINE:?} after SIGKILL to hakoniwa: {survivors:#?}"
    );
    let outcome = running.wait();
    assert_eq!(outcome.status.signal(), Some(9), "{outcome}");
}

/// ```text
/// $ hakoniwa run -- sh -c 'sleep 1000 >/dev/null 2>&1 & exit 4'; echo $?
/// 4
/// ```
/// at once: when the program exits, what it left running has been killed
/// and reaped by the time `hakoniwa` returns (init ends it before it
/// reports). The `sleep` holds none of the streams the harness reads, so
/// nothing but that order keeps it from outliving the run for a moment.
fn program_exit_ends_the_sandbox(caller: &Caller) {
    let marker = format!(
        "HAKONIWA_TEST_MARKER=exit.{}.{:?}",
        std::process::id(),
        caller.user()
    );
    for _ in 0..10 {
        let script = "sleep 1000 >/dev/null 2>&1 & exit 4";
        let outcome = shell(caller, &["-e", &marker], script).output();
        assert_eq!(outcome.code(), 4, "{outcome}");
        let left = host::processes_marked(&marker);
        assert!(left.is_empty(), "running when hakoniwa returned: {left:#?}");
    }
}

/// Runs per caller in the leak test.
const RUNS: usize = 200;

/// 200 runs of five kinds: success; setup failure; a program that kills
/// itself; a program that exits leaving a background process; `hakoniwa`
/// SIGKILLed — half of those once the program runs, half a few
/// milliseconds in, in the middle of the setup. Afterwards: no process of
/// any run, nothing new in the temp dirs (the caller's `TMPDIR` points to
/// an empty directory of its own, which must stay empty), no new mount on
/// the host.
fn runs_leave_nothing_behind(caller: &Caller) {
    let marker = format!(
        "HAKONIWA_TEST_MARKER=leak.{}.{:?}",
        std::process::id(),
        caller.user()
    );
    let tmpdir = caller.dir("tmpdir");
    let missing = format!("{}:/data", caller.path("missing").display());
    let traces = Traces::now(caller.uid());

    for i in 0..RUNS {
        let mark = ["-e", marker.as_str()];
        match i % 5 {
            0 => {
                let outcome = caller
                    .probe(&mark, &["exit", "0"])
                    .env("TMPDIR", &tmpdir)
                    .output();
                assert_eq!(outcome.code(), 0, "{outcome}");
            }
            1 => {
                let outcome = caller
                    .probe(&[&mark[..], &["-b", &missing]].concat(), &["exit", "0"])
                    .env("TMPDIR", &tmpdir)
                    .output();
                assert_eq!(outcome.code(), 125, "{outcome}");
            }
            2 => {
                let outcome = caller
                    .probe(&mark, &["kill-self", "9"])
                    .env("TMPDIR", &tmpdir)
                    .output();
                assert_eq!(outcome.code(), 128 + 9, "{outcome}");
            }
            3 => {
                let outcome = shell(caller, &mark, "sleep 1000 & exit 0")
                    .env("TMPDIR", &tmpdir)
                    .output();
                assert_eq!(outcome.code(), 0, "{outcome}");
            }
            _ => {
                let mut running = shell(caller, &mark, SLEEPERS)
                    .env("TMPDIR", &tmpdir)
                    .spawn();
                if (i / 5) % 2 == 0 {
                    running.read_line();
                    if i == 4 {
                        // The check at the end must be able to see a run.
                        let marked = host::processes_marked(&marker);
                        assert!(
                            marked.len() >= 2,
                            "the marker misses sandbox processes: {marked:#?}"
                        );
                    }
                } else {
                    thread::sleep(Duration::from_millis((i % 7) as u64));
                }
                running.kill();
                running.wait();
            }
        }
    }

    let left = wait_for_marked(&marker);
    assert!(left.is_empty(), "processes left by the runs: {left:#?}");
    traces.assert_no_new(&format!("after {RUNS} runs"));
    let in_tmpdir: Vec<_> = fs::read_dir(&tmpdir)
        .expect("list TMPDIR")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(in_tmpdir.is_empty(), "left in TMPDIR: {in_tmpdir:?}");
}

/// Processes carrying `marker`, once those still dying have had a moment.
fn wait_for_marked(marker: &str) -> Vec<host::Process> {
    let left = host::processes_marked(marker);
    host::wait_for_death(&left, DEATH_DEADLINE)
}
