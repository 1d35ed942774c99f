//! Passing the signals sent to `hakoniwa` on to the sandbox, while waiting
//! for it to end.
//!
//! The forwarded signals and `SIGCHLD` are blocked and read from a
//! signalfd by the main thread: a forwarded one is sent to the sandbox's
//! init (which passes it to the program), and `SIGCHLD` says the sandbox
//! may have ended. No thread is needed. A signal the terminal raised
//! (Ctrl-C, Ctrl-\) is not passed on: the program, in the same process
//! group, got it already.

use std::os::fd::AsFd;

use hakoniwa::{Child, ExitStatus, PASSED_ON_SIGNALS};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use crate::cli::CliError;

/// `si_code` of a signal the kernel raised itself, e.g. for the terminal.
const SI_KERNEL: i32 = 0x80;

/// Forwarded signals and `SIGCHLD`, blocked and waiting to be read.
pub(crate) struct Forwarder {
    signals: SignalFd,
}

fn failed(errno: nix::errno::Errno) -> CliError {
    CliError::new(format!(
        "failed to set up signal forwarding: {}",
        errno.desc()
    ))
}

impl Forwarder {
    /// Blocks the signals in this (the main, only) thread, before the
    /// sandbox exists, so that none is lost; the sandbox unblocks them.
    pub(crate) fn block() -> Result<Self, CliError> {
        let mut set = SigSet::empty();
        let passed_on = PASSED_ON_SIGNALS
            .into_iter()
            .filter_map(|signal| Signal::try_from(signal).ok());
        for signal in passed_on.chain([Signal::SIGCHLD]) {
            set.add(signal);
        }
        signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(failed)?;
        let signals = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).map_err(failed)?;
        Ok(Self { signals })
    }

    /// Waits for `child` to end, passing on every forwarded signal that
    /// arrives meanwhile. The sandbox's report says it has ended, often
    /// before its init has finished exiting (and raised `SIGCHLD`).
    pub(crate) fn wait(self, child: &mut Child) -> Result<ExitStatus, CliError> {
        let pid = Pid::from_raw(child.id() as i32);
        loop {
            // A SIGCHLD read before the spawn returned is covered too: the
            // sandbox is looked at after every wake-up.
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            let mut fds = [
                PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(child.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(failed(errno)),
            }
            let signalled = fds[0]
                .revents()
                .is_some_and(|events| events.contains(PollFlags::POLLIN));
            if !signalled {
                continue;
            }
            let info = match self.signals.read_signal() {
                Ok(Some(info)) => info,
                Ok(None) => continue,
                Err(errno) => return Err(failed(errno)),
            };
            if info.ssi_signo == Signal::SIGCHLD as u32 || info.ssi_code == SI_KERNEL {
                continue;
            }
            if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
                log::debug!("passing {signal} on to the sandbox");
                let _ = signal::kill(pid, signal);
            }
        }
    }
}
