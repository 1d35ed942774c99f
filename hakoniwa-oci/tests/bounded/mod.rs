//! Running a command to its end within a deadline, its output in files
//! (engines leave detached processes holding pipes): what the lifecycle
//! and the engine tests share.

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// Runs `command` with its standard output and error in the files
/// `stdout` and `stderr`; fails the test if it has not ended by `deadline`.
pub fn run_within(
    command: &mut Command,
    deadline: Duration,
    stdout: &Path,
    stderr: &Path,
) -> ExitStatus {
    command
        .stdout(File::create(stdout).expect("create stdout file"))
        .stderr(File::create(stderr).expect("create stderr file"));
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            panic!("{command:?} did not end within {deadline:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}
