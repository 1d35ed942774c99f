//! `hakoniwa-probe` runs *inside* a sandbox and prints one JSON object on
//! stdout describing what it sees, so that tests assert on facts instead of
//! on the text of other tools.
//!
//! ```text
//! hakoniwa-probe [facts]        ids, maps, mounts, processes, fds, caps, namespaces…
//! hakoniwa-probe list PATH      entries of a directory, with types and symlink targets
//! hakoniwa-probe write PATH     try to create and write a file
//! hakoniwa-probe remount-rw PATH
//!                               try to make a mount writable again
//! hakoniwa-probe umount PATH    try to unmount a mount point
//! hakoniwa-probe sleep SECS     print {"pid": N} once started, then sleep
//! hakoniwa-probe exit CODE      exit with CODE
//! hakoniwa-probe kill-self SIG  die by signal SIG (a number)
//! hakoniwa-probe rlimits        soft and hard limits of every resource
//! hakoniwa-probe write-bytes PATH N
//!                               write N bytes (SIGXFSZ ignored)
//! hakoniwa-probe open-files N   open N descriptors
//! hakoniwa-probe alloc MIB      allocate and touch MIB mebibytes
//! hakoniwa-probe spawn-many N   start N child processes
//! hakoniwa-probe spin           use CPU until killed
//! hakoniwa-probe read PATH | exec PATH [ARG...] | tcp-bind PORT | tcp-connect PORT
//!                | signal PID | abstract-connect NAME
//!                               attempts landlock may refuse (see access.rs)
//! hakoniwa-probe tcp-serve ADDR | tcp-request ADDR TEXT | udp-recv ADDR | udp-send ADDR TEXT
//!                               one exchange through the sandbox's network (see net.rs)
//! hakoniwa-probe syscall NAME  attempt a syscall seccomp may refuse (see sys/syscalls.rs)
//! hakoniwa-probe syscall-loop NAME N
//!                               time N calls of getppid or personality
//! hakoniwa-probe escape CLASS [ARG...]
//!                               try a known way out of the sandbox (see escape.rs)
//! hakoniwa-probe without-landlock COMMAND [ARG...]
//!                               (on the host) run COMMAND as if the kernel had no landlock
//! ```
//!
//! Attempts (`write`, `remount-rw`, `umount`) always exit 0 and report
//! `{"ok": bool, "errno": N|null, "error": "text"|null}`: whether the
//! sandbox refused is the fact being reported, not a failure of the probe.
//! A usage error exits 2.

mod access;
mod actions;
mod escape;
mod facts;
mod limits;
mod mountinfo;
mod net;
mod sys;

use std::io::Write;
use std::process::ExitCode;

/// Exit code for a command line the probe does not understand.
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = match args.as_slice() {
        [] | ["facts"] => facts::collect(),
        ["list", path] => facts::list_dir(path.as_ref()),
        ["write", path] => actions::write_file(path.as_ref()),
        ["remount-rw", path] => actions::remount_rw(path),
        ["umount", path] => actions::umount(path),
        ["sleep", secs] => match secs.parse() {
            Ok(secs) => actions::sleep(secs),
            Err(_) => return usage(&format!("not a number of seconds: {secs}")),
        },
        ["exit", code] => match code.parse() {
            Ok(code) => actions::exit(code),
            Err(_) => return usage(&format!("not an exit code: {code}")),
        },
        ["kill-self", signal] => match signal.parse() {
            Ok(signal) => actions::kill_self(signal),
            Err(_) => return usage(&format!("not a signal number: {signal}")),
        },
        ["rlimits"] => limits::rlimits(),
        ["write-bytes", path, count] => match count.parse() {
            Ok(count) => limits::write_bytes(path.as_ref(), count),
            Err(_) => return usage(&format!("not a byte count: {count}")),
        },
        ["open-files", count] => match count.parse() {
            Ok(count) => limits::open_files(count),
            Err(_) => return usage(&format!("not a count: {count}")),
        },
        ["alloc", mib] => match mib.parse() {
            Ok(mib) => limits::alloc(mib),
            Err(_) => return usage(&format!("not a size in MiB: {mib}")),
        },
        ["spawn-many", count] => match count.parse() {
            Ok(count) => limits::spawn_many(count),
            Err(_) => return usage(&format!("not a count: {count}")),
        },
        ["spin"] => limits::spin(),
        ["syscall", name] if sys::syscalls::NAMES.contains(name) => sys::syscalls::attempt(name),
        ["syscall-loop", name, count] => match count.parse() {
            Ok(count) => sys::syscalls::time_loop(name, count),
            Err(_) => return usage(&format!("not a count: {count}")),
        },
        ["escape", command, rest @ ..] if escape::COMMANDS.contains(command) => {
            match escape::run(command, rest) {
                Ok(report) => report,
                Err(problem) => return usage(&problem),
            }
        }
        [command, rest @ ..] if net::COMMANDS.contains(command) => match net::run(command, rest) {
            Ok(report) => report,
            Err(problem) => return usage(&problem),
        },
        [command, rest @ ..] if access::COMMANDS.contains(command) => {
            match access::run(command, rest) {
                Ok(report) => report,
                Err(problem) => return usage(&problem),
            }
        }
        _ => return usage(&format!("unknown command line: {args:?}")),
    };
    print(&report);
    ExitCode::SUCCESS
}

/// Prints one JSON object on one line and flushes, so that a reader waiting
/// for the line (see `sleep`) gets it at once.
fn print(report: &serde_json::Value) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout leaves nobody to report to; exiting 0 is as good as any.
    let _ = writeln!(stdout, "{report}");
    let _ = stdout.flush();
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("hakoniwa-probe: {problem}");
    eprintln!("usage: hakoniwa-probe [facts | list PATH | write PATH | remount-rw PATH | umount PATH | sleep SECS | exit CODE | kill-self SIGNAL | rlimits | write-bytes PATH N | open-files N | alloc MIB | spawn-many N | spin]");
    ExitCode::from(USAGE_ERROR)
}
