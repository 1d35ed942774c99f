//! Escape classes closed by default, tried from inside: descriptors the
//! caller held, `/proc` entries that reach the host kernel, host sysctls,
//! and signals aimed at the sandbox's init.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;

use serde_json::Value;

use common::facts::{self, assert_refused, EROFS};
use common::Caller;

sandbox_tests![
    only_passed_descriptors_reach_the_program,
    closed_streams_of_hakoniwa_reach_the_program_as_dev_null,
    proc_entries_that_reach_the_host_kernel_are_hidden_or_read_only,
    root_inside_cannot_write_host_sysctls,
    the_program_cannot_fake_a_wall_time_kill,
];

fn fd_numbers(facts: &Value) -> BTreeSet<u64> {
    facts["fds"]
        .as_array()
        .expect("fds")
        .iter()
        .filter_map(|fd| fd["fd"].as_u64())
        .collect()
}

/// The caller leaves fds 5 and 7 open without close-on-exec; only the one
/// passed with `--pass-fd` reaches the program, with its number.
fn only_passed_descriptors_reach_the_program(caller: &Caller) {
    let facts = caller
        .probe(&["--pass-fd", "5"], &["facts"])
        .extra_fd(5)
        .extra_fd(7)
        .output()
        .json();
    let fds = fd_numbers(&facts);
    assert!(fds.contains(&5), "the passed fd is missing: {facts}");
    assert!(
        !fds.contains(&7),
        "a leaked fd reached the program: {facts}"
    );
    let outcome = caller.run(&["--pass-fd", "9"], &["true"]).output();
    outcome.assert_setup_failure("9");
}

/// `hakoniwa` started with its standard input and error closed: the
/// program gets `/dev/null` on them, not a descriptor `hakoniwa` opened
/// later and that took the free number (its channel to the sandbox, say).
fn closed_streams_of_hakoniwa_reach_the_program_as_dev_null(caller: &Caller) {
    let close = ["sh", "-c", "exec \"$@\" 0<&- 2>&-", "sh"].map(OsStr::new);
    let facts = caller
        .probe(&[], &["facts"])
        .through(&close)
        .output()
        .json();
    let fds = facts["fds"].as_array().expect("fds");
    for stream in [0, 2] {
        let fd = fds
            .iter()
            .find(|fd| fd["fd"] == stream)
            .unwrap_or_else(|| panic!("fd {stream} is not open: {facts}"));
        assert_eq!(fd["target"], "/dev/null", "fd {stream}: {facts}");
    }
}

fn proc_entries_that_reach_the_host_kernel_are_hidden_or_read_only(caller: &Caller) {
    let facts = caller.facts(&[]);
    for path in ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"] {
        if std::path::Path::new(path).exists() {
            let mount = facts::mount_at(&facts, path).unwrap_or_else(|| panic!("{path}: {facts}"));
            assert_eq!(mount["read_only"], true, "{path}: {mount}");
        }
    }
    for path in ["/proc/keys", "/proc/timer_list", "/proc/interrupts"] {
        if std::path::Path::new(path).exists() {
            let mount = facts::mount_at(&facts, path).unwrap_or_else(|| panic!("{path}: {facts}"));
            assert_ne!(mount["fs_type"], "proc", "{path} is not hidden: {mount}");
        }
    }
    let write = caller.attempt(&[], &["write", "/proc/sysrq-trigger"]);
    assert_refused(&write["write"], None, "write /proc/sysrq-trigger");
}

/// Even mapped to root, and even when the caller is root, the program
/// cannot change the host kernel's settings.
fn root_inside_cannot_write_host_sysctls(caller: &Caller) {
    for path in ["/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname"] {
        let write = caller.attempt(&["-u", "0", "-g", "0"], &["write", path]);
        assert_refused(&write["write"], Some(EROFS), path);
    }
}

/// SIGALRM sent to init from inside is not the wall-time limit: the
/// program runs on and exits normally.
fn the_program_cannot_fake_a_wall_time_kill(caller: &Caller) {
    let outcome = caller
        .run(
            &["--limit-walltime", "10"],
            &[
                "/bin/sh",
                "-c",
                "kill -ALRM 1; kill -TERM 1; sleep 0.2; exit 4",
            ],
        )
        .output();
    assert_eq!(outcome.code(), 4, "{outcome}");
}
