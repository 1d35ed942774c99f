//! What `hakoniwa run` exits with:
//!
//! | code    | meaning                                              |
//! |---------|------------------------------------------------------|
//! | program's own | the program exited                             |
//! | 128+N   | the program was killed by signal N                   |
//! | 125     | the sandbox could not be set up; one error line      |
//! | 126     | the program was found but could not be executed      |
//! | 127     | the program was not found inside the sandbox         |
//!
//! A setup failure leaves nothing behind on the host.

#[macro_use]
mod common;

use std::path::Path;

use common::host::Traces;
use common::Caller;

sandbox_tests![
    program_exit_code_is_passed_through,
    death_by_signal_gives_128_plus_the_signal,
    missing_program_gives_127,
    unexecutable_program_gives_126,
    missing_bind_source_gives_125_naming_it,
    bad_input_gives_125_and_creates_nothing,
];

fn program_exit_code_is_passed_through(caller: &Caller) {
    for code in [0, 3] {
        let outcome = caller.probe(&[], &["exit", &code.to_string()]).output();
        assert_eq!(outcome.code(), code, "{outcome}");
    }
}

/// SIGTERM is 15 and SIGKILL 9 on every Linux arch.
fn death_by_signal_gives_128_plus_the_signal(caller: &Caller) {
    for signal in [15, 9] {
        let outcome = caller
            .probe(&[], &["kill-self", &signal.to_string()])
            .output();
        assert_eq!(outcome.code(), 128 + signal, "{outcome}");
    }
}

/// Missing by path and missing from the default PATH; the error names the
/// program.
fn missing_program_gives_127(caller: &Caller) {
    for program in ["/no/such/program", "no-such-program"] {
        let outcome = caller.run(&[], &[program]).output();
        assert_eq!(outcome.code(), 127, "{outcome}");
        assert!(
            outcome.stderr.contains(program),
            "the error does not name {program}\n{outcome}"
        );
    }
}

/// A file without the execute bit, and a directory.
fn unexecutable_program_gives_126(caller: &Caller) {
    let data = caller.dir("data");
    caller.file("data/script", "#!/bin/sh\nexit 0\n", 0o644);
    let bind = format!("{}:/data", data.display());
    for program in ["/data/script", "/data"] {
        let outcome = caller.run(&["-b", &bind], &[program]).output();
        assert_eq!(outcome.code(), 126, "{outcome}");
    }
}

/// ```text
/// $ hakoniwa run -b /no/such/dir:/data -- true
/// hakoniwa: …/no/such/dir…: No such file or directory
/// $ echo $?
/// 125
/// ```
fn missing_bind_source_gives_125_naming_it(caller: &Caller) {
    let missing = caller.path("no-such-dir");
    let bind = format!("{}:/data", missing.display());
    let outcome = caller.run(&["-b", &bind], &["true"]).output();
    outcome.assert_setup_failure(missing.to_str().expect("UTF-8"));
    assert!(
        !missing.exists(),
        "hakoniwa created the missing source\n{outcome}"
    );
}

/// Each bad command line fails before the sandbox exists: exit 125, one
/// line naming what is wrong, and no file, directory or mount left on the
/// host — not even the relative path resolved against the caller's cwd.
fn bad_input_gives_125_and_creates_nothing(caller: &Caller) {
    let data = caller.dir("data");
    let not_a_dir = caller.file("not-a-dir", "", 0o644);
    let missing = caller.path("missing");
    let (data, not_a_dir, missing) = (utf8(&data), utf8(&not_a_dir), utf8(&missing));
    let relative = format!("{data}:relative/data");
    let missing_rw = format!("{missing}:/data");

    let cases: [(&[&str], &[&str], &str); 9] = [
        (&["--no-such-flag"], &["true"], "--no-such-flag"),
        (&["--hostname"], &[], "--hostname"),
        (&["-b", &relative], &["true"], "relative/data"),
        (&["--tmpfs", "relative-tmp"], &["true"], "relative-tmp"),
        (&["-B", &missing_rw], &["true"], missing),
        (&["-w", &missing_rw], &["true"], missing),
        (&["--rootfs", not_a_dir], &["true"], not_a_dir),
        (&["--rootfs", missing], &["true"], missing),
        // The empty command has no name to quote; the format is checked.
        (&[], &[""], ""),
    ];
    let mut failures = Vec::new();
    for (run_args, command, culprit) in cases {
        let traces = Traces::now(caller.uid());
        let outcome = if command.is_empty() {
            let mut args = vec!["run"];
            args.extend_from_slice(run_args);
            caller.hakoniwa(&args).output()
        } else {
            caller.run(run_args, command).output()
        };
        // Check every case before failing, so one run shows all that is wrong.
        let problems = outcome.setup_failure_problems(culprit);
        if !problems.is_empty() {
            failures.push(format!("{}\n{outcome}", problems.join("\n")));
        }
        caller.assert_cwd_untouched(&outcome);
        traces.assert_no_new(&outcome.command);
        assert!(!Path::new(missing).exists(), "created {missing}\n{outcome}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("scratch paths are UTF-8")
}
