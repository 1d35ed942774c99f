//! `--seccomp NAME|PATH`: every run is filtered, by `default` unless told
//! otherwise.
//!
//! ```text
//! $ hakoniwa run -- keyctl ...            # EPERM: the keyring is the caller's
//! $ hakoniwa run --seccomp podman -- ...  # podman's profile, as it ships
//! $ hakoniwa run --seccomp unconfined -- ...
//! $ hakoniwa run --seccomp ./profile.json -- ...
//! ```

#[macro_use]
mod common;

use common::facts::{assert_allowed, assert_refused};
use common::Caller;

sandbox_tests![
    every_run_is_filtered_unless_unconfined,
    default_refuses_keyring_io_uring_and_user_namespaces,
    default_refuses_tiocsti_whatever_the_high_bits,
    default_covers_the_32_bit_entry_point,
    podman_and_allow_userns_let_user_namespaces_through,
    a_json_profile_is_applied,
    the_filter_is_in_place_before_exec,
    a_bad_profile_gives_125_naming_file_and_entry,
    verbose_run_describes_the_filter,
];

const EPERM: i32 = 1;
const ENOSYS: i32 = 38;

/// `Seccomp: 2` in `/proc/self/status` is filter mode.
fn every_run_is_filtered_unless_unconfined(caller: &Caller) {
    for (args, mode) in [
        (&[][..], "2"),
        (&["--seccomp", "default"][..], "2"),
        (&["--seccomp", "podman"][..], "2"),
        (&["--seccomp", "audit"][..], "2"),
        (&["--seccomp", "unconfined"][..], "0"),
    ] {
        let facts = caller.facts(args);
        assert_eq!(facts["status"]["Seccomp"], mode, "with {args:?}");
    }
}

fn default_refuses_keyring_io_uring_and_user_namespaces(caller: &Caller) {
    let keyctl = caller.attempt(&[], &["syscall", "keyctl"]);
    assert_refused(&keyctl, Some(EPERM), "keyctl");
    let io_uring = caller.attempt(&[], &["syscall", "io-uring-setup"]);
    assert_refused(&io_uring, Some(ENOSYS), "io_uring_setup");
    let userns = caller.attempt(&[], &["syscall", "unshare-user"]);
    assert_refused(&userns, Some(EPERM), "unshare(CLONE_NEWUSER)");
}

/// TIOCSTI on the program's own controlling terminal — which the kernel
/// allows without a filter — is refused, with or without bit 32 set in the
/// request (the kernel reads only 32 bits of it).
fn default_refuses_tiocsti_whatever_the_high_bits(caller: &Caller) {
    for attempt in ["tiocsti", "tiocsti-high"] {
        let refused = caller.attempt(&["--devfs", "/dev"], &["syscall", attempt]);
        assert_refused(&refused, Some(EPERM), attempt);
    }
    let unfiltered = caller.attempt(
        &["--devfs", "/dev", "--seccomp", "unconfined"],
        &["syscall", "tiocsti"],
    );
    if unfiltered["ok"] != true {
        eprintln!(
            "note: TIOCSTI fails without a filter too on this kernel \
             (dev.tty.legacy_tiocsti=0?): {unfiltered}"
        );
    }
}

/// A 64-bit program can still enter the kernel through `int 0x80` with
/// i386 numbers; the filter covers that table too.
fn default_covers_the_32_bit_entry_point(caller: &Caller) {
    if !cfg!(target_arch = "x86_64") {
        skipped!("skipped: int 0x80 is an x86-64 matter");
        return;
    }
    let getppid = caller.attempt(&[], &["syscall", "int80-getppid"]);
    if getppid["ok"] != true {
        skipped!("skipped: this kernel has no IA-32 emulation: {getppid}");
        return;
    }
    let keyctl = caller.attempt(&[], &["syscall", "int80-keyctl"]);
    assert_refused(&keyctl, Some(EPERM), "keyctl through int 0x80");
}

fn podman_and_allow_userns_let_user_namespaces_through(caller: &Caller) {
    for args in [&["--seccomp", "podman"][..], &["--allow-userns"][..]] {
        let userns = caller.attempt(args, &["syscall", "unshare-user"]);
        assert_allowed(&userns, &format!("unshare(CLONE_NEWUSER) with {args:?}"));
    }
}

fn a_json_profile_is_applied(caller: &Caller) {
    let profile = caller.file(
        "profile.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]}"#,
        0o644,
    );
    let profile = profile.to_str().expect("a UTF-8 path");
    let keyctl = caller.attempt(&["--seccomp", profile], &["syscall", "keyctl"]);
    assert_refused(&keyctl, Some(42), "keyctl under the JSON profile");
}

/// A profile that refuses `execve` stops the program itself: the filter
/// is installed before the program runs, not after.
fn the_filter_is_in_place_before_exec(caller: &Caller) {
    let profile = caller.file(
        "no-exec.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execve", "execveat"], "action": "SCMP_ACT_ERRNO"}]}"#,
        0o644,
    );
    let profile = profile.to_str().expect("a UTF-8 path");
    let outcome = caller
        .probe(&["--seccomp", profile], &["exit", "0"])
        .output();
    assert_eq!(outcome.code(), 126, "{outcome}");
    assert!(
        outcome.stderr.contains("Operation not permitted"),
        "{outcome}"
    );
}

fn a_bad_profile_gives_125_naming_file_and_entry(caller: &Caller) {
    let profile = caller.file(
        "typo.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["getppidd"], "action": "SCMP_ACT_ERRNO"}]}"#,
        0o644,
    );
    let path = profile.to_str().expect("a UTF-8 path");
    let outcome = caller.run(&["--seccomp", path], &["true"]).output();
    outcome.assert_setup_failure(path);
    assert!(
        outcome.stderr.contains("syscalls[1]") && outcome.stderr.contains("getppidd"),
        "{outcome}"
    );
    let outcome = caller
        .run(&["--seccomp", "no-such-profile"], &["true"])
        .output();
    outcome.assert_setup_failure("no-such-profile");
}

/// `-vv` names the profile and says how large its filter is.
fn verbose_run_describes_the_filter(caller: &Caller) {
    let outcome = caller.hakoniwa(&["-vv", "run", "--", "true"]).output();
    outcome.success();
    assert!(
        outcome.stderr.contains("seccomp profile: default"),
        "{outcome}"
    );
    assert!(
        outcome.stderr.contains("architectures x86_64 x86") || !cfg!(target_arch = "x86_64"),
        "{outcome}"
    );
    assert!(outcome.stderr.contains("BPF instructions"), "{outcome}");
}
