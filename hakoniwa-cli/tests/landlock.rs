//! Landlock: the program reaches only what the `--landlock-*` rules allow,
//! the kernel refuses the rest with EACCES (EPERM for scopes), and a
//! restriction the kernel cannot enforce stops the run unless best effort
//! was chosen — whether `hakoniwa` was started by root or not.
//!
//! Every probe runs with `--landlock-fs-rx /probe` when the filesystem is
//! restricted: without it, the probe itself could not be executed.

#[macro_use]
mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

use common::binaries::PROBE;
use common::facts::{assert_allowed, assert_refused, EACCES};
use common::Caller;

sandbox_tests![
    fs_rules_allow_only_what_they_say,
    exec_needs_an_rx_rule,
    tcp_bind_only_on_listed_ports,
    tcp_connect_only_to_listed_ports,
    loopback_is_up_in_a_new_network_namespace,
    signal_scope_cuts_off_processes_outside,
    abstract_unix_scope_cuts_off_host_sockets,
    missing_allowed_path_stops_the_run,
    optional_path_may_be_missing,
    hard_requirement_stops_the_run_without_landlock,
    hard_requirement_stops_the_run_above_the_kernel_abi,
    best_effort_runs_and_reports_what_is_missing,
    report_says_what_was_enforced,
    bad_values_are_refused,
];

const EPERM: i32 = 1;

/// Three directories owned by the caller, bound read-write at `/ro`,
/// `/rw` and `/other`, each holding a file `f`: only landlock can refuse.
fn data_binds(caller: &Caller) -> Vec<String> {
    ["ro", "rw", "other"]
        .iter()
        .flat_map(|name| {
            let dir = caller.dir(name);
            caller.file(&format!("{name}/f"), "data\n", 0o644);
            ["-B".to_string(), format!("{}:/{name}", dir.display())]
        })
        .collect()
}

fn args<'a>(binds: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = binds.iter().map(String::as_str).collect();
    args.extend_from_slice(more);
    args
}

const FS_RULES: [&str; 6] = [
    "--landlock-fs-rx",
    "/probe",
    "--landlock-fs-ro",
    "/ro",
    "--landlock-fs-rw",
    "/rw",
];

fn fs_rules_allow_only_what_they_say(caller: &Caller) {
    let binds = data_binds(caller);
    // Without rules, everything below is allowed: what refuses below is
    // landlock, not the mounts or the file modes.
    let report = caller.attempt(&args(&binds, &[]), &["write", "/other/g"]);
    assert_allowed(&report["write"], "write in /other without landlock");

    let ruled = args(&binds, &FS_RULES);
    let attempt = |probe_args: &[&str]| caller.attempt(&ruled, probe_args);
    assert_allowed(&attempt(&["read", "/ro/f"])["read"], "read /ro/f");
    assert_allowed(&attempt(&["read", "/ro"])["read"], "list /ro");
    assert_refused(
        &attempt(&["write", "/ro/g"])["write"],
        Some(EACCES),
        "write in /ro",
    );
    assert_allowed(&attempt(&["read", "/rw/f"])["read"], "read /rw/f");
    assert_allowed(&attempt(&["write", "/rw/g"])["write"], "write in /rw");
    assert_refused(
        &attempt(&["read", "/other/f"])["read"],
        Some(EACCES),
        "read /other/f",
    );
    assert_refused(
        &attempt(&["write", "/other/h"])["write"],
        Some(EACCES),
        "write in /other",
    );
    assert_refused(
        &attempt(&["read", "/etc/passwd"])["read"],
        Some(EACCES),
        "read /etc/passwd",
    );
    assert!(caller.path("rw/g").exists());
    assert!(!caller.path("ro/g").exists() && !caller.path("other/h").exists());
}

/// A copy of the probe at `/tools/hakoniwa-probe`.
fn tools_bind(caller: &Caller) -> String {
    let tools = caller.dir("tools");
    fs::copy(
        caller.bin_dir().join("hakoniwa-probe"),
        tools.join("hakoniwa-probe"),
    )
    .expect("copy the probe");
    format!("{}:/tools", tools.display())
}

fn exec_needs_an_rx_rule(caller: &Caller) {
    let tools = tools_bind(caller);
    let tool = "/tools/hakoniwa-probe";
    let read_only = [
        "-b",
        &tools,
        "--landlock-fs-rx",
        "/probe",
        "--landlock-fs-ro",
        "/tools",
    ];
    let report = caller.attempt(&read_only, &["exec", tool, "exit", "0"]);
    assert_refused(&report["exec"], Some(EACCES), "exec from an r-only path");
    let executable = ["-b", &tools, "--landlock-fs-rx", "/probe:/tools"];
    let report = caller.attempt(&executable, &["exec", tool, "exit", "3"]);
    assert_allowed(&report["exec"], "exec from an rx path");
    assert_eq!(report["code"], 3, "{report}");
}

fn tcp_bind_only_on_listed_ports(caller: &Caller) {
    let rules = ["--unshare-network", "--landlock-tcp-bind", "8080,8081"];
    assert_allowed(
        &caller.attempt(&rules, &["tcp-bind", "8081"])["bind"],
        "bind 8081",
    );
    let report = caller.attempt(&rules, &["tcp-bind", "8082"]);
    assert_refused(&report["bind"], Some(EACCES), "bind 8082");
}

fn tcp_connect_only_to_listed_ports(caller: &Caller) {
    let rules = ["--unshare-network", "--landlock-tcp-connect", "8443"];
    let report = caller.attempt(&rules, &["tcp-connect", "8443"]);
    assert_allowed(&report["connect"], "connect to 8443");
    let report = caller.attempt(&rules, &["tcp-connect", "8444"]);
    assert_allowed(&report["listen"], "listen on 8444 (bind is not restricted)");
    assert_refused(&report["connect"], Some(EACCES), "connect to 8444");
}

fn loopback_is_up_in_a_new_network_namespace(caller: &Caller) {
    let report = caller.attempt(&["--unshare-network"], &["tcp-connect", "8080"]);
    assert_allowed(&report["listen"], "listen on 127.0.0.1:8080");
    assert_allowed(&report["connect"], "connect to 127.0.0.1:8080");
}

/// The kernel's landlock ABI, from the report of a best-effort run.
fn kernel_abi(caller: &Caller) -> u64 {
    let report = caller.dir("reports").join("abi.json");
    let report_arg = report.to_str().expect("a UTF-8 path");
    let flags = [
        "--landlock-scope",
        "signal",
        "--landlock-compat",
        "best-effort",
        "--report",
        report_arg,
    ];
    caller.probe(&flags, &["exit", "0"]).output().success();
    let text = fs::read_to_string(&report).expect("read the report");
    let report: serde_json::Value = serde_json::from_str(&text).expect("a JSON report");
    report["landlock"]["kernel_abi"]
        .as_u64()
        .expect("kernel_abi in the report")
}

fn skip_below_abi(caller: &Caller, abi: u64, what: &str) -> bool {
    let kernel = kernel_abi(caller);
    if kernel < abi {
        skipped!("skipped: {what} needs landlock ABI {abi}, the kernel has {kernel}");
    }
    kernel < abi
}

fn signal_scope_cuts_off_processes_outside(caller: &Caller) {
    if skip_below_abi(caller, 6, "--landlock-scope signal") {
        return;
    }
    // The sandbox's init is pid 1, outside the program's landlock domain.
    let report = caller.attempt(&[], &["signal", "1"]);
    assert_allowed(&report["signal"], "kill(1, 0) without a scope");
    let report = caller.attempt(&["--landlock-scope", "signal"], &["signal", "1"]);
    assert_refused(
        &report["signal"],
        Some(EPERM),
        "kill(1, 0) with the signal scope",
    );
}

fn abstract_unix_scope_cuts_off_host_sockets(caller: &Caller) {
    if skip_below_abi(caller, 6, "--landlock-scope abstract-unix") {
        return;
    }
    let name = format!(
        "hakoniwa-cli-test.{}.{:?}",
        std::process::id(),
        caller.user()
    );
    let address = SocketAddr::from_abstract_name(&name).expect("an abstract address");
    let _listener = UnixListener::bind_addr(&address).expect("listen on the host");
    let report = caller.attempt(&[], &["abstract-connect", &name]);
    assert_allowed(&report["connect"], "connect to a host abstract socket");
    let scoped = ["--landlock-scope", "abstract-unix"];
    let report = caller.attempt(&scoped, &["abstract-connect", &name]);
    assert_refused(
        &report["connect"],
        Some(EPERM),
        "connect with the abstract-unix scope",
    );
}

fn missing_allowed_path_stops_the_run(caller: &Caller) {
    let rules = ["--landlock-fs-rx", "/probe", "--landlock-fs-ro", "/nope"];
    let outcome = caller.probe(&rules, &["exit", "0"]).output();
    outcome.assert_setup_failure("allowing r beneath /nope");
    assert!(
        outcome.stderr.contains("No such file or directory"),
        "{outcome}"
    );
}

fn optional_path_may_be_missing(caller: &Caller) {
    let rules = [
        "--landlock-fs-rx",
        "/probe",
        "--landlock-fs-ro",
        "?/nope:/probe",
    ];
    let report = caller.attempt(&rules, &["read", "/etc/passwd"]);
    assert_refused(&report["read"], Some(EACCES), "read /etc/passwd");
}

/// `hakoniwa ARGS…` run as if the kernel had no landlock.
fn without_landlock(caller: &Caller, run_args: &[&str], command: &[&str]) -> common::run::Outcome {
    let probe = caller.bin_dir().join("hakoniwa-probe");
    caller
        .run(run_args, command)
        .through(&[probe.as_os_str(), OsStr::new("without-landlock")])
        .output()
}

fn hard_requirement_stops_the_run_without_landlock(caller: &Caller) {
    let outcome = without_landlock(caller, &["--landlock-fs-ro", "/usr"], &["true"]);
    outcome.assert_setup_failure("landlock cannot enforce fs (needs ABI 1)");
    assert!(
        outcome.stderr.contains("the kernel has no landlock"),
        "{outcome}"
    );
    assert!(outcome.stderr.contains("hint: "), "{outcome}");
}

fn hard_requirement_stops_the_run_above_the_kernel_abi(caller: &Caller) {
    let kernel = kernel_abi(caller);
    if kernel >= 6 {
        skipped!(
            "skipped: the kernel has landlock ABI {kernel}, which enforces every right hakoniwa \
             asks for (see hard_requirement_stops_the_run_without_landlock)"
        );
        return;
    }
    let outcome = caller
        .run(&["--landlock-scope", "signal"], &["true"])
        .output();
    outcome.assert_setup_failure("scope.signal (needs ABI 6)");
}

fn best_effort_runs_and_reports_what_is_missing(caller: &Caller) {
    let binds = data_binds(caller);
    let probe_bind = caller.probe_bind();
    let mut run_args = args(&binds, &["-b", &probe_bind]);
    run_args.extend([
        "--landlock-compat",
        "best-effort",
        "--landlock-fs-ro",
        "/ro",
    ]);
    let outcome = without_landlock(caller, &run_args, &[PROBE, "write", "/ro/g"]);
    let report = outcome.json();
    assert!(
        outcome
            .stderr
            .contains("best effort: landlock ABI 0: not enforced: fs (needs ABI 1)"),
        "{outcome}"
    );
    // Nothing was enforced, and nothing was: the write went through.
    assert_allowed(&report["write"], "write in /ro with nothing enforced");
}

fn report_says_what_was_enforced(caller: &Caller) {
    let report = caller.dir("reports").join("run.json");
    let report_arg = report.to_str().expect("a UTF-8 path");
    let flags = ["--landlock-fs-rx", "/probe", "--report", report_arg];
    caller.probe(&flags, &["exit", "0"]).output().success();
    let text = fs::read_to_string(&report).expect("read the report");
    let report: serde_json::Value = serde_json::from_str(&text).expect("a JSON report");
    let landlock = &report["landlock"];
    assert_eq!(landlock["complete"], true, "{report}");
    assert_eq!(landlock["missing"], serde_json::json!([]), "{report}");
    assert!(landlock["kernel_abi"].as_u64() >= Some(5), "{report}");
}

fn bad_values_are_refused(caller: &Caller) {
    for (flag, value, culprit) in [
        (
            "--landlock-restrict",
            "fs,udp",
            "unknown restriction \"udp\"",
        ),
        (
            "--landlock-tcp-bind",
            "80,65536",
            "\"65536\" is not a port number",
        ),
        (
            "--landlock-tcp-connect",
            "https",
            "\"https\" is not a port number",
        ),
        ("--landlock-fs-ro", "/usr:home", "\"home\" is not absolute"),
        ("--landlock-scope", "x11", "unknown landlock scope \"x11\""),
        (
            "--landlock-compat",
            "lenient",
            "unknown landlock compatibility",
        ),
    ] {
        let outcome = caller.run(&[flag, value], &["true"]).output();
        outcome.assert_setup_failure(culprit);
    }
}
