//! pasta, both halves, all in the caller: its command line, planned before
//! the clone, and its process, which the parent starts once the id maps
//! are written and awaits before init is told to go on, and which ends
//! when the sandbox ends.
//!
//! Lifetime: pasta does not end by itself when the sandbox does (it holds
//! the namespace open), and its self-isolation clears a parent-death
//! signal set on it. So a small keeper, a fork of ours that only makes
//! system calls, starts it and holds the read end of a pipe whose write
//! end only our process has: when we die, even by SIGKILL, the pipe
//! closes and the keeper kills pasta; dropping [`PastaProcess`] does the
//! same at once. Like the sandbox's init, the keeper is tied to our
//! process, not to the thread that spawned it. Both run in their own
//! process group, so a Ctrl-C at the terminal is the program's alone.
//!
//! Readiness: pasta writes its pid to the `--pid` file "once
//! initialisation is done" (pasta(1)), the interface configured. The file
//! is its own stdout, a pipe to us: pasta closes every other descriptor it
//! inherits (newer versions), and opens the file after joining the
//! sandbox's user namespace (older ones), from where our `/proc/PID/fd`
//! is out of reach.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::ptr;
use std::time::{Duration, Instant};

use libc::c_char;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{self, AccessFlags, Pid};

use super::Pasta;
use crate::error::{io_error, Error, Result};
use crate::plan::DEFAULT_PATH;
use crate::sys::{self, Forked};

/// The program, looked up in the caller's `PATH`.
const PROGRAM: &str = "pasta";

/// Where pasta writes its pid when ready: its stdout (see above).
const PID_FILE: &str = "/proc/self/fd/1";

/// The device through which pasta creates the sandbox's interface.
const TUN: &str = "/dev/net/tun";

/// How long pasta may take to configure the sandbox's interface.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Options that hakoniwa sets itself, and why the caller may not.
const RESERVED: [(&str, &str, &str); 5] = [
    ("", "--netns", "pasta joins the sandbox's namespaces"),
    ("", "--userns", "pasta joins the sandbox's namespaces"),
    ("", "--netns-only", "pasta joins the sandbox's namespaces"),
    (
        "-P",
        "--pid",
        "hakoniwa reads it to know when the network is ready",
    ),
    (
        "",
        "--runas",
        "pasta runs as the caller, so that it dies with the sandbox",
    ),
];

/// The port-forwarding options, off unless asked for.
const FORWARDS: [(&str, &str); 4] = [
    ("-t", "--tcp-ports"),
    ("-u", "--udp-ports"),
    ("-T", "--tcp-ns"),
    ("-U", "--udp-ns"),
];

/// Not a pasta option (as in podman): asks for the gateway address to be
/// mapped to the host, which is pasta's own default, by leaving out
/// `--no-map-gw`.
const MAP_GW: &str = "--map-gw";

/// pasta's command line but for the pid file and the sandbox's pid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PastaPlan {
    args: Vec<String>,
}

impl PastaPlan {
    /// The command line for `pasta`, run by the calling user. As root,
    /// pasta would switch to `nobody` by default, which can neither join a
    /// namespace root owns nor keep its parent-death signal: it is told to
    /// stay who we are.
    pub(crate) fn new(pasta: &Pasta) -> Result<Self> {
        let runas = unistd::geteuid()
            .is_root()
            .then(|| (unistd::getuid().as_raw(), unistd::getgid().as_raw()));
        Self::with_runas(pasta, runas)
    }

    fn with_runas(pasta: &Pasta, runas: Option<(u32, u32)>) -> Result<Self> {
        let given = |short: &str, long: &str| {
            pasta
                .args
                .iter()
                .filter_map(|arg| option_name(arg))
                .any(|name| (!short.is_empty() && name == short) || name == long)
        };
        for (short, long, reason) in RESERVED {
            if given(short, long) {
                return Err(Error::PastaOption {
                    option: long.to_string(),
                    reason,
                });
            }
        }
        let mut args = Vec::new();
        if !given("-f", "--foreground") {
            args.push("--foreground".to_string());
        }
        if !given("", "--config-net") {
            args.push("--config-net".to_string());
        }
        if !given("", MAP_GW) && !given("", "--no-map-gw") {
            args.push("--no-map-gw".to_string());
        }
        for (short, long) in FORWARDS {
            if !given(short, long) {
                args.extend([short.to_string(), "none".to_string()]);
            }
        }
        if let Some((uid, gid)) = runas {
            args.extend(["--runas".to_string(), format!("{uid}:{gid}")]);
        }
        args.extend(pasta.args.iter().filter(|arg| *arg != MAP_GW).cloned());
        Ok(Self { args })
    }

    /// The command line, for the log.
    pub(crate) fn describe(&self) -> String {
        format!("{PROGRAM} {}", self.args.join(" "))
    }
}

/// `--name` of `--name=value`, `-x` of `-xVALUE`; `None` for a value.
fn option_name(arg: &str) -> Option<&str> {
    if let Some(long) = arg.strip_prefix("--") {
        let end = long.find('=').unwrap_or(long.len());
        return (end > 0).then(|| &arg[..2 + end]);
    }
    let mut chars = arg.char_indices().skip(1);
    match (arg.starts_with('-'), chars.next()) {
        (true, Some((_, c))) => Some(&arg[..1 + c.len_utf8()]),
        _ => None,
    }
}

/// A running pasta, behind its keeper. Dropping it ends both.
#[derive(Debug)]
pub(crate) struct PastaProcess {
    keeper: Pid,
    ended: bool,
    /// The write end of the keeper's lifeline: closed when we exit.
    _lifeline: OwnedFd,
    /// The read end of pasta's stdout, where it says it is ready; kept
    /// open so that pasta never writes into a closed pipe.
    stdout: OwnedFd,
}

/// What the keeper needs, prepared before the fork.
struct Exec {
    path: CString,
    _strings: Vec<CString>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
}

impl PastaProcess {
    /// Starts pasta on the namespaces of `sandbox` and waits until it has
    /// configured the interface; its stderr then goes to the log.
    pub(crate) fn start(plan: &PastaPlan, sandbox: Pid) -> Result<Self> {
        let start_error = |source| Error::PastaStart { source };
        let mut args = plan.args.clone();
        args.extend([
            "--pid".to_string(),
            PID_FILE.to_string(),
            sandbox.to_string(),
        ]);
        let exec = Exec::new(&args)?;
        let (stdout, stdout_writer) = io::pipe().map_err(start_error)?;
        let (stderr, stderr_writer) = io::pipe().map_err(start_error)?;
        let null = File::open("/dev/null").map_err(start_error)?;
        // The keeper's end must not sit on 0, 1 or 2, where its streams go:
        // `try_clone` duplicates from 3 upwards.
        let (lifeline, lifeline_writer) = io::pipe().map_err(start_error)?;
        let lifeline = OwnedFd::from(lifeline);
        let lifeline = if lifeline.as_raw_fd() > 2 {
            lifeline
        } else {
            lifeline.try_clone().map_err(start_error)?
        };
        let streams = [
            null.as_raw_fd(),
            stdout_writer.as_raw_fd(),
            stderr_writer.as_raw_fd(),
        ];
        log::debug!("network: {}", args.join(" "));
        let started = Instant::now();
        // Blocked before the fork, so that the keeper misses none.
        let mut watched = SigSet::empty();
        watched.add(Signal::SIGTERM);
        watched.add(Signal::SIGCHLD);
        let mut old_mask = SigSet::empty();
        signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&watched), Some(&mut old_mask))
            .map_err(|errno| start_error(io_error(errno)))?;
        let forked = sys::clone_process(0);
        if let Ok(Forked::Child) = forked {
            keep(&exec, &lifeline, streams, &watched)
        }
        let _ = signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
        let keeper = match forked {
            Ok(Forked::Parent(pid)) => pid,
            _ => return Err(start_error(io::Error::last_os_error())),
        };
        drop((null, stdout_writer, stderr_writer, lifeline));
        let mut process = PastaProcess {
            keeper,
            ended: false,
            _lifeline: lifeline_writer.into(),
            stdout: stdout.into(),
        };
        let mut stderr = File::from(OwnedFd::from(stderr));
        let said = process.wait_until_ready(&mut stderr)?;
        log::info!("network: pasta ready after {:?}", started.elapsed());
        log_lines(&said);
        // pasta may still speak (an error while the sandbox runs); a full
        // pipe would stall it. The thread ends when pasta does.
        let _ = std::thread::Builder::new()
            .name("pasta-log".into())
            .spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(|line| line.ok()) {
                    log::debug!("pasta: {line}");
                }
            });
        Ok(process)
    }

    /// Waits for pasta to write its pid to its stdout; collects what it
    /// says on stderr meanwhile. Fails when it exits first, or takes too
    /// long.
    fn wait_until_ready(&mut self, stderr: &mut File) -> Result<Vec<u8>> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut written = Vec::new();
        let mut said = Vec::new();
        let mut open = (true, true);
        loop {
            if let Some(end) = written.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = written.drain(..=end).collect();
                if String::from_utf8_lossy(&line).trim().parse::<u32>().is_ok() {
                    return Ok(said);
                }
                // Not its pid: something else pasta printed; say it.
                said.extend(line);
                continue;
            }
            if let Ok(Some(status)) = sys::try_wait_child(self.keeper) {
                self.ended = true;
                // It has exited: what it said is all in the pipe.
                let _ = stderr.read_to_end(&mut said);
                log_lines(&said);
                return Err(failure(exit_status(status), &said));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log_lines(&said);
                return Err(failure(format!("not ready after {READY_TIMEOUT:?}"), &said));
            }
            // With both pipes closed, look now and then whether it exited.
            let wait = match open {
                (false, false) => left.min(Duration::from_millis(10)),
                _ => left,
            };
            let events = {
                let mut fds = Vec::new();
                if open.0 {
                    fds.push(PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN));
                }
                if open.1 {
                    fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
                }
                let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(errno) => return Err(failure(format!("poll: {errno}"), &said)),
                }
                let mut events = fds
                    .iter()
                    .map(|fd| fd.revents().is_some_and(|e| !e.is_empty()));
                (
                    open.0 && events.next().unwrap_or(false),
                    open.1 && events.next().unwrap_or(false),
                )
            };
            let mut chunk = [0; 4096];
            if events.0 {
                match unistd::read(&self.stdout, &mut chunk) {
                    Ok(0) | Err(_) => open.0 = false,
                    Ok(n) => written.extend_from_slice(&chunk[..n]),
                }
            }
            if events.1 {
                match stderr.read(&mut chunk) {
                    Ok(0) | Err(_) => open.1 = false,
                    Ok(n) => said.extend_from_slice(&chunk[..n]),
                }
            }
        }
    }

    /// Ends pasta at the end of the sandbox, saying so if it had ended by
    /// itself before.
    pub(crate) fn end(mut self) {
        if let Ok(Some(status)) = sys::try_wait_child(self.keeper) {
            self.ended = true;
            log::warn!(
                "pasta ended while the sandbox ran ({}): the sandbox had lost its network",
                exit_status(status)
            );
        }
    }
}

impl Drop for PastaProcess {
    /// SIGTERM tells the keeper to kill pasta, reap it and exit.
    fn drop(&mut self) {
        if !self.ended {
            let _ = signal::kill(self.keeper, Signal::SIGTERM);
            let _ = sys::wait_child(self.keeper);
        }
    }
}

impl Exec {
    /// pasta's path in the caller's `PATH`, its arguments and our
    /// environment, as C arrays.
    fn new(args: &[String]) -> Result<Self> {
        let not_found = || Error::PastaStart {
            source: io::Error::from_raw_os_error(libc::ENOENT),
        };
        let search = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
        let path = std::env::split_paths(&search)
            .map(|dir| dir.join(PROGRAM))
            .find(|path| {
                path.is_file() && unistd::access(path.as_path(), AccessFlags::X_OK).is_ok()
            })
            .ok_or_else(not_found)?;
        let path = CString::new(path.into_os_string().into_vec()).map_err(|_| not_found())?;
        let c_string = |bytes: Vec<u8>| {
            CString::new(bytes).map_err(|_| Error::PastaOption {
                option: "(an option)".to_string(),
                reason: "it contains a NUL byte",
            })
        };
        let argv = std::iter::once(Ok(CString::from(c"pasta")))
            .chain(args.iter().map(|arg| c_string(arg.clone().into_bytes())))
            .collect::<Result<Vec<_>>>()?;
        let envp = std::env::vars_os()
            .map(|(name, value)| {
                let mut entry = name.into_vec();
                entry.push(b'=');
                entry.extend(value.into_vec());
                c_string(entry)
            })
            .collect::<Result<Vec<_>>>()?;
        let pointers = |strings: &[CString]| {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(ptr::null()))
                .collect()
        };
        Ok(Self {
            path,
            argv: pointers(&argv),
            envp: pointers(&envp),
            _strings: argv.into_iter().chain(envp).collect(),
        })
    }
}

/// The keeper: a fork of ours whose only job is that pasta does not
/// outlive us. It kills pasta when its `lifeline` closes (our process is
/// gone, even by SIGKILL) or on SIGTERM (`PastaProcess` dropped), and
/// exits with pasta's status when pasta exits first.
///
/// Runs in a fork of a possibly multi-threaded caller: system calls only.
fn keep(exec: &Exec, lifeline: &OwnedFd, streams: [RawFd; 3], watched: &SigSet) -> ! {
    let ready = (|| {
        // Its own process group: a Ctrl-C at the terminal is the program's.
        unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
        // Standard streams onto 0, 1, 2 (staged above them first), and
        // nothing else of ours kept open.
        let mut staged = [0; 3];
        for (slot, fd) in staged.iter_mut().zip(streams) {
            *slot = sys::dup_above(fd, 3)?;
        }
        for (target, fd) in staged.into_iter().enumerate() {
            sys::dup2(fd, target as RawFd)?;
        }
        // Everything else goes but the lifeline (above 2, close-on-exec:
        // pasta does not get it).
        let keep = lifeline.as_raw_fd() as u32;
        if keep > 3 {
            sys::close_range(3, keep - 1)?;
        }
        sys::close_range(keep + 1, u32::MAX)?;
        SignalFd::with_flags(watched, SfdFlags::SFD_CLOEXEC)
    })();
    let Ok(signals) = ready else {
        sys::exit_now(KEEPER_FAILED)
    };
    let pasta = match sys::clone_process(0) {
        Ok(Forked::Child) => {
            // As std does for a child: pasta takes an ignored SIGPIPE (Rust
            // ignores it) for a failure to install its own handlers.
            sys::reset_signal_dispositions();
            let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            let _ = sys::execve(&exec.path, &exec.argv, &exec.envp);
            sys::exit_now(KEEPER_FAILED)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(_) => sys::exit_now(KEEPER_FAILED),
    };
    // What the sandbox sent last may still be in pasta's sockets and pipes
    // when the sandbox ends (a server's last answer, a client's last
    // bytes): pasta gets `PASTA_LINGER` to pass it on. A process of its own
    // waits that out, holding nothing open, and the keeper exits at once, so
    // that whoever waits for the keeper does not wait for the linger.
    // Nor for pasta's end: once SIGKILL is sent it can run no more of its
    // own code, and its exit takes the kernel 10 to 50 ms (closing its tap
    // device waits for an RCU barrier). Both are reaped by whoever adopts
    // them when the keeper is gone.
    let end_pasta = || -> ! {
        if let Ok(Forked::Child) | Err(_) = sys::clone_process(0) {
            let _ = sys::close_range(0, u32::MAX);
            // nanosleep, restarted after a signal: no allocation, no lock.
            std::thread::sleep(PASTA_LINGER);
            let _ = signal::kill(pasta, Signal::SIGKILL);
        }
        sys::exit_now(0)
    };
    loop {
        let mut fds = [
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(lifeline.as_fd(), PollFlags::POLLIN),
        ];
        let _ = poll(&mut fds, PollTimeout::NONE);
        if fds[1].revents().is_some_and(|events| !events.is_empty()) {
            // Our caller's process is gone: its end of the lifeline closed.
            end_pasta()
        }
        if !fds[0]
            .revents()
            .is_some_and(|events| events.contains(PollFlags::POLLIN))
        {
            continue;
        }
        match signals.read_signal() {
            Ok(Some(info)) if info.ssi_signo == Signal::SIGTERM as u32 => end_pasta(),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => {
                let _ = signal::kill(pasta, Signal::SIGKILL);
                sys::exit_now(KEEPER_FAILED)
            }
        }
        if let Ok(Some(status)) = sys::try_wait_child(pasta) {
            // Passed on as our own exit: the code, or 128 + the signal.
            let code = match (libc::WIFEXITED(status), libc::WTERMSIG(status)) {
                (true, _) => libc::WEXITSTATUS(status),
                (false, signal) => 128 + signal,
            };
            sys::exit_now(code)
        }
    }
}

/// Exit code of the keeper when it could not start pasta.
const KEEPER_FAILED: i32 = 127;

/// How long pasta goes on once the sandbox has ended, to pass on what the
/// sandbox sent last; then it is killed. On this machine pasta needs well
/// under a millisecond for a last answer; this covers a loaded one.
const PASTA_LINGER: Duration = Duration::from_millis(50);

/// The keeper's wait status, which is pasta's (see [`keep`]).
fn exit_status(status: i32) -> String {
    match libc::WEXITSTATUS(status) {
        KEEPER_FAILED => "it could not be executed".to_string(),
        code if code > 128 => format!("killed by signal {}", code - 128),
        code => format!("exit code {code}"),
    }
}

/// The error for a pasta that did not get ready: how it ended, and what
/// it said last (or, when it printed its usage, what came before).
fn failure(status: String, said: &[u8]) -> Error {
    let text = String::from_utf8_lossy(said);
    let lines: Vec<&str> = messages(&text).collect();
    let message = match lines.iter().position(|line| line.starts_with("Usage:")) {
        Some(usage) if usage > 0 => lines[usage - 1],
        _ => lines.last().copied().unwrap_or("it printed nothing"),
    };
    Error::Pasta {
        status,
        message: message.to_string(),
        hint: tun_hint(),
    }
}

/// pasta creates the sandbox's interface through `/dev/net/tun`, which
/// most distributions make mode 0666; some container images do not.
fn tun_hint() -> Option<String> {
    let access = AccessFlags::R_OK | AccessFlags::W_OK;
    unistd::access(TUN, access).err().map(|errno| {
        format!(
            "pasta needs to read and write {TUN}, which you cannot ({errno}); \
             most distributions make it mode 0666: sudo chmod 0666 {TUN}"
        )
    })
}

/// pasta's lines, without its complaints that there is no syslog (it
/// logs to both, and says so for every line when `/dev/log` is missing).
fn messages(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|line| {
        let no_syslog = line.starts_with("Failed to send ") && line.ends_with(" to syslog");
        !line.is_empty() && !no_syslog
    })
}

fn log_lines(said: &[u8]) {
    for line in messages(&String::from_utf8_lossy(said)) {
        log::debug!("pasta: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str], runas: Option<(u32, u32)>) -> Result<Vec<String>> {
        let mut pasta = Pasta::new();
        pasta.args(args);
        PastaPlan::with_runas(&pasta, runas).map(|plan| plan.args)
    }

    #[test]
    fn defaults_configure_the_interface_and_forward_nothing() {
        let args = plan(&[], None).unwrap();
        assert_eq!(
            args.join(" "),
            "--foreground --config-net --no-map-gw -t none -u none -T none -U none"
        );
    }

    #[test]
    fn root_keeps_its_ids() {
        let args = plan(&[], Some((0, 0))).unwrap();
        assert!(args.join(" ").ends_with("--runas 0:0"), "{args:?}");
    }

    #[test]
    fn a_forward_replaces_its_default_only() {
        let args = plan(&["-t", "8080", "--udp-ns=53"], None).unwrap();
        assert_eq!(
            args.join(" "),
            "--foreground --config-net --no-map-gw -u none -T none -t 8080 --udp-ns=53"
        );
        let args = plan(&["-t8080"], None).unwrap().join(" ");
        assert!(
            !args.contains("-t none") && args.contains("-u none"),
            "{args}"
        );
    }

    #[test]
    fn map_gw_is_an_opt_in_not_passed_on() {
        let args = plan(&["--map-gw"], None).unwrap();
        assert!(!args.iter().any(|a| a.contains("map-gw")), "{args:?}");
    }

    #[test]
    fn given_switches_are_not_repeated() {
        let args = plan(&["-f", "--config-net"], None).unwrap();
        assert_eq!(args.iter().filter(|a| *a == "--config-net").count(), 1);
        assert!(!args.contains(&"--foreground".to_string()));
    }

    #[test]
    fn options_that_take_over_pasta_are_refused() {
        for option in ["--netns=/run/netns/x", "--userns", "-P", "--pid", "--runas"] {
            let err = plan(&[option, "x"], None).unwrap_err();
            assert!(matches!(err, Error::PastaOption { .. }), "{option}: {err}");
        }
    }

    #[test]
    fn option_names() {
        assert_eq!(option_name("--tcp-ports=80"), Some("--tcp-ports"));
        assert_eq!(option_name("-t80"), Some("-t"));
        assert_eq!(option_name("-t"), Some("-t"));
        assert_eq!(option_name("8080"), None);
        assert_eq!(option_name("-"), None);
        assert_eq!(option_name("--"), None);
    }

    #[test]
    fn syslog_complaints_are_not_messages() {
        let text = "Failed to send 47 bytes to syslog\npasta: unrecognized option '--x'\n";
        assert_eq!(
            messages(text).collect::<Vec<_>>(),
            ["pasta: unrecognized option '--x'"]
        );
    }
}
