//! Known ways out of a sandbox, each tried from inside by
//! `hakoniwa-probe escape CLASS` under the defaults and under
//! `--unshare-all`, as root and as an unprivileged caller. Every attempt
//! must fail; the comment on each test names what stops it.
//!
//! ```text
//! $ hakoniwa run -- hakoniwa-probe escape keyring
//! {"get_keyring_id":{"errno":1,"ok":false,…},"read":{…},"request_key":{…}}
//! ```

#[macro_use]
mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde_json::Value;

use common::facts::assert_refused;
use common::run::Invocation;
use common::{host, Caller};

sandbox_tests![
    no_keystrokes_reach_the_callers_terminal,
    a_new_session_has_no_terminal_at_all,
    leaked_descriptors_reach_nothing_of_the_host,
    the_working_directory_is_inside_the_new_root,
    proc_and_sys_do_not_open_for_writing,
    the_callers_keyring_is_out_of_reach,
    read_only_binds_stay_read_only_for_root_inside,
    raw_devices_are_out_of_reach,
    init_cannot_be_traced_robbed_or_stopped,
    a_double_forked_daemon_dies_with_the_run,
    no_new_user_namespaces,
    the_32_bit_entry_point_is_filtered_too,
];

const EPERM: i32 = 1;

/// Every escape is tried in both.
const CONFIGURATIONS: [&[&str]; 2] = [&[], &["--unshare-all"]];

/// `run_args` of each configuration followed by `extra`.
fn configurations(extra: &[&'static str]) -> Vec<Vec<&'static str>> {
    CONFIGURATIONS
        .iter()
        .map(|base| base.iter().chain(extra).copied().collect())
        .collect()
}

fn escape(caller: &Caller, run_args: &[&str], class: &[&str]) -> Value {
    let mut probe_args = vec!["escape"];
    probe_args.extend_from_slice(class);
    caller.attempt(run_args, &probe_args)
}

/// A pseudo-terminal for the caller: `hakoniwa` runs with its slave as
/// stdin and controlling terminal, as from an interactive shell; the test
/// keeps the master and sees there what reaches the terminal.
struct Terminal {
    master: OwnedFd,
    slave_path: String,
    /// Kept open so the terminal outlives the run.
    _slave: OwnedFd,
}

impl Terminal {
    fn open(caller: &Caller) -> Terminal {
        let pty = nix::pty::openpty(None, None).expect("open a pseudo-terminal");
        let fd_link = format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&pty.slave)
        );
        let slave_path = std::fs::read_link(fd_link)
            .expect("the slave's path")
            .to_string_lossy()
            .into_owned();
        std::os::unix::fs::fchown(&pty.slave, Some(caller.uid()), Some(caller.gid()))
            .expect("give the terminal to the caller");
        Terminal {
            master: pty.master,
            slave_path,
            _slave: pty.slave,
        }
    }

    /// `invocation` started in a new session whose controlling terminal
    /// is this one (`setsid --ctty`, util-linux), on stdin.
    fn attach(&self, invocation: Invocation) -> Invocation {
        let script = format!("exec setsid --ctty \"$@\" <{}", self.slave_path);
        let words = ["sh", "-c", &script, "sh"].map(std::ffi::OsStr::new);
        invocation.through(&words)
    }

    /// Whether anything arrived on the terminal (an injected keystroke is
    /// echoed there) within `wait`.
    fn received_anything(&self, wait: Duration) -> bool {
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(wait).expect("a short wait");
        poll(&mut fds, timeout).expect("poll the terminal") > 0
    }
}

fn tty_attempt(caller: &Caller, terminal: &Terminal, run_args: &[&str]) -> Value {
    let invocation = caller.probe(run_args, &["escape", "tty"]);
    terminal.attach(invocation).output().json()
}

/// TIOCSTI and TIOCLINUX on the caller's own terminal, which the kernel
/// allows a process of its session: the `default` seccomp profile refuses
/// both ioctls, so nothing is typed for the caller's shell. Job control
/// needs the program to keep the terminal, and it does.
fn no_keystrokes_reach_the_callers_terminal(caller: &Caller) {
    for run_args in configurations(&[]) {
        let terminal = Terminal::open(caller);
        let report = tty_attempt(caller, &terminal, &run_args);
        // EPERM is the filter's answer; a pty alone would say ENOTTY.
        assert_refused(&report["tiocsti"], Some(EPERM), "TIOCSTI");
        assert_refused(&report["tioclinux"], Some(EPERM), "TIOCLINUX");
        assert_ne!(
            report["tty_nr"], 0,
            "the program lost the terminal: {report}"
        );
        assert!(
            !terminal.received_anything(Duration::from_millis(100)),
            "{run_args:?}: something reached the terminal: {report}"
        );
    }
}

/// `--new-session`: no controlling terminal, so TIOCSTI is refused by the
/// kernel itself, even with no seccomp filter.
fn a_new_session_has_no_terminal_at_all(caller: &Caller) {
    for run_args in configurations(&["--new-session", "--seccomp", "unconfined"]) {
        let terminal = Terminal::open(caller);
        let report = tty_attempt(caller, &terminal, &run_args);
        assert_eq!(report["tty_nr"], 0, "{run_args:?}: {report}");
        assert_refused(&report["tiocsti"], None, "TIOCSTI");
        assert!(
            !terminal.received_anything(Duration::from_millis(100)),
            "{run_args:?}: something reached the terminal: {report}"
        );
    }
}

/// A host file only a leaked descriptor could lead to.
fn marker(caller: &Caller) -> String {
    let path = caller.file("marker", "host\n", 0o644);
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// The caller holds, without close-on-exec, the host's `/`, a host
/// directory and a host file: `close_range` before exec leaves the
/// program none of them.
fn leaked_descriptors_reach_nothing_of_the_host(caller: &Caller) {
    let marker = marker(caller);
    let scratch = caller.path("");
    let script = format!("exec \"$@\" 7</ 8<{} 9<{marker}", scratch.display());
    let words = ["sh", "-c", &script, "sh"].map(std::ffi::OsStr::new);
    for run_args in configurations(&[]) {
        let report = caller
            .probe(&run_args, &["escape", "fds", &marker])
            .through(&words)
            .output()
            .json();
        assert_eq!(
            report["open"],
            serde_json::json!([]),
            "{run_args:?}: {report}"
        );
        assert_eq!(report["reached_marker"], serde_json::json!([]), "{report}");
        assert_refused(&report["marker_by_path"], None, "the marker by its path");
    }
}

/// `hakoniwa` started from a host directory, with that directory also
/// leaked as fd 7 and named as the working directory through
/// `/proc/self/fd/7` (runc CVE-2024-21626): the program starts inside
/// the new root, or not at all, and `..` leads nowhere outside.
fn the_working_directory_is_inside_the_new_root(caller: &Caller) {
    let marker = marker(caller);
    let dir = caller.path("cwd");
    let script = format!("cd {0} && exec \"$@\" 7<{0}", dir.display());
    let words = ["sh", "-c", &script, "sh"].map(std::ffi::OsStr::new);
    for run_args in configurations(&[]) {
        let through_fd: Vec<&str> = run_args
            .iter()
            .copied()
            .chain(["-w", ":/proc/self/fd/7"])
            .collect();
        for args in [&run_args, &through_fd] {
            let outcome = caller
                .probe(args, &["escape", "cwd", &marker])
                .through(&words)
                .output();
            if outcome.code() == 125 {
                continue;
            }
            let report = outcome.json();
            let cwd = report["cwd"].as_str().unwrap_or_default();
            assert!(
                cwd.starts_with('/') && !cwd.contains(&*dir.to_string_lossy()),
                "{args:?}: the program starts outside the root: {report}"
            );
            assert_refused(&report["climb_to_marker"], None, "climbing to the marker");
        }
    }
}

/// The host kernel's switches, opened for writing (nothing is written) by
/// root inside, with the host's `/sys` bound in: `/proc/sys` and the other
/// kernel entries are read-only or hidden, binds are read-only, and the
/// sandbox's root is root of its user namespace only.
fn proc_and_sys_do_not_open_for_writing(caller: &Caller) {
    let paths: Vec<&str> = [
        "/proc/sysrq-trigger",
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/hostname",
        "/proc/sys/vm/drop_caches",
        "/sys/power/state",
        "/sys/kernel/mm/transparent_hugepage/enabled",
    ]
    .into_iter()
    .filter(|path| Path::new(path).exists())
    .collect();
    let mut class = vec!["open-write"];
    class.extend(&paths);
    for run_args in configurations(&["-u", "0", "-g", "0", "-b", "/sys"]) {
        let report = escape(caller, &run_args, &class);
        for path in &paths {
            assert_refused(&report[*path], None, &format!("{run_args:?}: open {path}"));
        }
    }
}

/// The session keyring is not namespaced: the `default` seccomp profile
/// refuses `keyctl` and `request_key`.
fn the_callers_keyring_is_out_of_reach(caller: &Caller) {
    for run_args in configurations(&[]) {
        let report = escape(caller, &run_args, &["keyring"]);
        for attempt in ["get_keyring_id", "read", "request_key"] {
            assert_refused(&report[attempt], None, &format!("{run_args:?}: {attempt}"));
        }
    }
}

/// Root inside holds no `CAP_SYS_ADMIN`: the read-only binds cannot be
/// remounted writable, nor unmounted to uncover what is below.
fn read_only_binds_stay_read_only_for_root_inside(caller: &Caller) {
    for run_args in configurations(&["-u", "0", "-g", "0"]) {
        for path in ["/usr", "/"] {
            let remount = caller.attempt(&run_args, &["remount-rw", path]);
            assert_refused(&remount["bind_remount"], None, &format!("remount {path}"));
            assert_refused(&remount["remount"], None, &format!("remount {path}"));
            let umount = caller.attempt(&run_args, &["umount", path]);
            assert_refused(&umount["umount"], None, &format!("umount {path}"));
            assert_refused(&umount["detach"], None, &format!("umount -l {path}"));
        }
    }
}

/// No block device node can be made (`mknod` needs `CAP_MKNOD` in the
/// host's user namespace), the sandbox's `/dev` holds none to open, and
/// the host's own, bound in with `-b /dev`, do not open either: binds are
/// `nodev` (as the host's root, `/dev/sda`'s owner, the open would succeed
/// otherwise).
fn raw_devices_are_out_of_reach(caller: &Caller) {
    let mut devs: Vec<&[&'static str]> = vec![&["--devfs", "/dev"]];
    if host_has_a_block_device() {
        devs.push(&["-b", "/dev"]);
    } else {
        eprintln!(
            "raw_devices_are_out_of_reach: skipped -b /dev: the host's /dev has no block device"
        );
    }
    for dev in devs {
        let mut extra = vec!["-u", "0", "-g", "0", "--tmpfs", "/scratch"];
        extra.extend_from_slice(dev);
        for run_args in configurations(&extra) {
            let report = escape(caller, &run_args, &["devices", "/scratch"]);
            assert_refused(&report["mknod"], None, "mknod of a block device");
            let attempts = report["open"].as_object().expect("open");
            if dev[0] == "-b" {
                assert!(!attempts.is_empty(), "no block device tried: {report}");
            }
            let opened: Vec<&String> = attempts
                .iter()
                .filter(|(_, attempt)| attempt["ok"] == true)
                .map(|(path, _)| path)
                .collect();
            assert!(opened.is_empty(), "{run_args:?}: opened {opened:?}");
        }
    }
}

fn host_has_a_block_device() -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| entry.file_type().is_ok_and(|t| t.is_block_device()))
}

/// Init is not dumpable: the program cannot ptrace it, read its
/// environment or open its descriptors (among them the channel to the
/// caller) through `/proc/1` — not even with `CAP_SYS_PTRACE`, which
/// would pass every other check; and signals it did not ask for do not
/// stop or kill a pid namespace's init — the program lives on to report.
fn init_cannot_be_traced_robbed_or_stopped(caller: &Caller) {
    let mut all = configurations(&[]);
    all.extend(configurations(&["--cap-add", "SYS_PTRACE"]));
    for run_args in all {
        let report = escape(caller, &run_args, &["init"]);
        assert_refused(&report["ptrace_attach"], None, "ptrace init");
        assert_refused(&report["read_environ"], None, "read /proc/1/environ");
        assert_eq!(report["opened_fds"], serde_json::json!([]), "{report}");
    }
}

/// A daemon that left the program's session and process tree is still in
/// the sandbox's pid namespace, which ends with the run.
fn a_double_forked_daemon_dies_with_the_run(caller: &Caller) {
    for (n, run_args) in configurations(&[]).into_iter().enumerate() {
        let marker = format!(
            "MARK=escape-daemon-{}-{}-{n}",
            std::process::id(),
            caller.uid()
        );
        let mut args = run_args.clone();
        args.extend(["-e", &marker]);
        let report = escape(caller, &args, &["daemon"]);
        assert_eq!(
            report["daemon"]["ok"], true,
            "the daemon did not start: {report}"
        );
        let left = host::wait_for_death(&host::processes_marked(&marker), Duration::from_secs(2));
        assert!(
            left.is_empty(),
            "{run_args:?}: the daemon outlived the run: {left:#?}"
        );
    }
}

/// `clone` and `unshare` with `CLONE_NEWUSER` are refused by the `default`
/// seccomp profile, and `clone3` as a whole (its flags are out of a
/// filter's reach).
fn no_new_user_namespaces(caller: &Caller) {
    for run_args in configurations(&[]) {
        let report = escape(caller, &run_args, &["userns"]);
        for attempt in ["clone", "clone3", "unshare"] {
            assert_refused(&report[attempt], None, &format!("{run_args:?}: {attempt}"));
        }
    }
}

/// A 64-bit program entering the kernel through `int 0x80` uses the i386
/// table; the filter covers it.
fn the_32_bit_entry_point_is_filtered_too(caller: &Caller) {
    if !cfg!(target_arch = "x86_64") {
        skipped!("skipped: int 0x80 is an x86-64 matter");
        return;
    }
    for run_args in configurations(&[]) {
        let getppid = caller.attempt(&run_args, &["syscall", "int80-getppid"]);
        if getppid["ok"] != true {
            skipped!("skipped: this kernel has no IA-32 emulation: {getppid}");
            return;
        }
        let keyctl = caller.attempt(&run_args, &["syscall", "int80-keyctl"]);
        assert_refused(&keyctl, None, "keyctl through int 0x80");
    }
}
