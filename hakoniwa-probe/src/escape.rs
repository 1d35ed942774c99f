//! `escape CLASS [ARG...]`: tries one known way out of a sandbox and reports
//! each attempt as `{"ok", "errno", "error"}`, like the other attempts; the
//! tests in `hakoniwa-cli/tests/escape.rs` assert that every one failed.
//!
//! ```text
//! tty                TIOCSTI and TIOCLINUX (paste) on stdin, the caller's terminal
//! fds MARKER         every descriptor above 2; can one reach the host file MARKER?
//! cwd MARKER         the working directory; can `../../…/MARKER` reach the host file?
//! open-write PATH…   open each PATH for writing (nothing is written)
//! keyring            read the session keyring, look a key up in it
//! devices DIR        mknod a block device in DIR; open every block device in /dev
//! init               ptrace, /proc/1/{environ,fd} and signals aimed at init
//! daemon             setsid and fork twice; the grandchild sleeps on, stdio closed
//! userns             clone, clone3 and unshare with CLONE_NEWUSER
//! ```

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::actions::outcome;
use crate::sys;

/// The classes `escape` knows.
pub const COMMANDS: [&str; 9] = [
    "tty",
    "fds",
    "cwd",
    "open-write",
    "keyring",
    "devices",
    "init",
    "daemon",
    "userns",
];

/// Highest descriptor number tried by hand, besides those `/proc` lists.
const LAST_FD_TRIED: i32 = 1024;

/// `TIOCL_PASTESEL` from `<linux/tiocl.h>`: paste the console selection
/// into the terminal's input.
const TIOCL_PASTESEL: u8 = 3;

/// `KEYCTL_GET_KEYRING_ID`, `KEYCTL_READ` and `KEY_SPEC_SESSION_KEYRING`
/// from `<linux/keyctl.h>`.
const KEYCTL_GET_KEYRING_ID: libc::c_int = 0;
const KEYCTL_READ: libc::c_int = 11;
const KEY_SPEC_SESSION_KEYRING: i64 = -3;

/// Runs `escape COMMAND ARGS…`, or says what is wrong with the command line.
pub fn run(command: &str, args: &[&str]) -> Result<Value, String> {
    Ok(match (command, args) {
        ("tty", []) => tty(),
        ("fds", [marker]) => fds(marker),
        ("cwd", [marker]) => cwd(marker),
        ("open-write", paths) if !paths.is_empty() => open_write(paths),
        ("keyring", []) => keyring(),
        ("devices", [dir]) => devices(dir),
        ("init", []) => init(),
        ("daemon", []) => daemon(),
        ("userns", []) => userns(),
        _ => return Err(format!("escape {command}: unexpected arguments {args:?}")),
    })
}

/// Keystroke injection into the terminal on stdin, which the caller's
/// shell would read once the sandbox ends. `tty_nr` is the program's
/// controlling terminal (`/proc/self/stat`), 0 for none.
fn tty() -> Value {
    json!({
        "tiocsti": outcome(sys::push_terminal_input(0, b'x')),
        "tioclinux": outcome(sys::console_request(0, TIOCL_PASTESEL)),
        "tty_nr": controlling_terminal(),
    })
}

/// The 7th field of `/proc/self/stat`; the command name before it may
/// hold spaces, so fields are counted after its closing parenthesis.
fn controlling_terminal() -> Option<u64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let (_, after_name) = stat.rsplit_once(") ")?;
    after_name.split(' ').nth(4)?.parse().ok()
}

/// Descriptors the program holds beyond stdio, found with `fcntl` (no
/// `/proc` needed), and whether one leads to the host's `MARKER` (an
/// absolute host path): through `/proc/self/fd/N/…` for a directory, by
/// reading it for a file.
fn fds(marker: &str) -> Value {
    let open: Vec<i32> = (3..=LAST_FD_TRIED).filter(|&fd| sys::is_open(fd)).collect();
    let relative = marker.trim_start_matches('/');
    let reached: Vec<i32> = open
        .iter()
        .copied()
        .filter(|fd| {
            let through = format!("/proc/self/fd/{fd}/{relative}");
            fs::metadata(through).is_ok()
        })
        .collect();
    json!({
        "open": open,
        "reached_marker": reached,
        "marker_by_path": outcome(fs::metadata(marker).map(drop)),
    })
}

/// The working directory, and whether climbing `..` from it reaches the
/// host's `MARKER` (runc CVE-2024-21626: a working directory left outside
/// the new root).
fn cwd(marker: &str) -> Value {
    let climb = "../".repeat(64) + marker.trim_start_matches('/');
    json!({
        "cwd": std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned()),
        "climb_to_marker": outcome(fs::metadata(climb).map(drop)),
    })
}

/// Opens each path for writing and closes it at once: enough to show the
/// kernel would take a write, without writing to a host sysctl.
fn open_write(paths: &[&str]) -> Value {
    let attempts: Map<String, Value> = paths
        .iter()
        .map(|path| {
            let opened = fs::OpenOptions::new().write(true).open(path).map(drop);
            (path.to_string(), outcome(opened))
        })
        .collect();
    Value::Object(attempts)
}

/// The session keyring is not namespaced: a program that reads it reads
/// the caller's secrets.
fn keyring() -> Value {
    let id = sys::keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, &mut []);
    let mut keys = [0u8; 256];
    let read = sys::keyctl(KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, &mut keys);
    let lookup = sys::request_key(c"user", c"hakoniwa-probe-absent-key");
    json!({
        "get_keyring_id": outcome(id.map(drop)),
        "read": outcome(read.map(drop)),
        "request_key": outcome(lookup.map(drop)),
    })
}

/// Raw disk access: make a node for the first SCSI disk (8:0) in `DIR`,
/// and open every block device in `/dev` and the memory devices.
fn devices(dir: &str) -> Value {
    let node = format!("{}/hakoniwa-probe-sda", dir.trim_end_matches('/'));
    let mknod = match CString::new(node.clone()) {
        Ok(path) => sys::make_block_device(&path, 8, 0),
        Err(_) => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let _ = fs::remove_file(&node);
    let mut opened = Map::new();
    let block_devices = fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_block_device()))
        .map(|entry| entry.path());
    let memory = ["/dev/mem", "/dev/kmem", "/dev/port"]
        .map(PathBuf::from)
        .into_iter()
        .filter(|path| path.exists());
    for path in block_devices.chain(memory) {
        let result = fs::File::open(&path).map(drop);
        opened.insert(path.to_string_lossy().into_owned(), outcome(result));
    }
    json!({ "mknod": outcome(mknod), "open": opened })
}

/// Init holds the channel to the caller: reaching into it (ptrace, its
/// descriptors through `/proc/1/fd`, its memory) would let the program
/// speak for the sandbox; killing or stopping it would end or hang the run.
fn init() -> Value {
    let ptrace = sys::ptrace_attach(1);
    let environ = fs::read("/proc/1/environ").map(drop);
    let stolen: Vec<i32> = (0..16)
        .filter(|fd| fs::File::open(format!("/proc/1/fd/{fd}")).is_ok())
        .collect();
    let mut signals = Map::new();
    for (name, signal) in [("SIGSTOP", libc::SIGSTOP), ("SIGKILL", libc::SIGKILL)] {
        signals.insert(name.into(), outcome(sys::kill(1, signal)));
    }
    // Give a signal that did land time to act before reporting.
    std::thread::sleep(Duration::from_millis(100));
    json!({
        "ptrace_attach": outcome(ptrace),
        "read_environ": outcome(environ),
        "opened_fds": stolen,
        "signals_sent": signals,
    })
}

/// The classic daemon: fork, `setsid`, fork again, and the grandchild
/// lives on with stdio closed, so that nothing but its process ties it to
/// the run. The report comes once the grandchild is running.
fn daemon() -> Value {
    let ready = match pipe() {
        Ok(pipe) => pipe,
        Err(error) => return json!({ "daemon": outcome(Err(error)) }),
    };
    match sys::fork() {
        Ok(sys::Forked::Child) => {
            let _ = sys::setsid();
            if let Ok(sys::Forked::Child) = sys::fork() {
                // Everything closed, the write end of the pipe last: EOF
                // tells the probe the daemon is on its own.
                sys::close_from(0);
                std::thread::sleep(Duration::from_secs(60));
            }
            sys::exit_now(0)
        }
        Ok(sys::Forked::Parent(pid)) => {
            drop(ready.1);
            let _ = sys::wait_exit_code(pid);
            let mut rest = Vec::new();
            let mut read_end = ready.0;
            let waited = read_end.read_to_end(&mut rest).map(drop);
            json!({ "daemon": outcome(waited) })
        }
        Err(error) => json!({ "daemon": outcome(Err(error)) }),
    }
}

fn pipe() -> io::Result<(fs::File, fs::File)> {
    let (read, write) = io::pipe()?;
    Ok((OwnedFd::from(read).into(), OwnedFd::from(write).into()))
}

/// A new user namespace gives the program every capability over new
/// namespaces of its own: a large kernel surface. `clone` and `unshare`
/// carry the flag where a filter sees it; `clone3` does not.
fn userns() -> Value {
    json!({
        "clone": outcome(sys::clone_new_user()),
        "clone3": outcome(sys::clone3_new_user()),
        "unshare": outcome(sys::unshare(libc::CLONE_NEWUSER)),
    })
}
