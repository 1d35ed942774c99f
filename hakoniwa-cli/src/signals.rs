//! Passing the signals sent to `hakoniwa` on to the sandbox.
//!
//! The signals are blocked in every thread and read from a signalfd by a
//! small thread, which sends them to the sandbox's init (which passes them
//! to the program). A signal the terminal raised (Ctrl-C, Ctrl-\) is not
//! passed on: the program, in the same process group, got it already.

use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use crate::cli::CliError;

/// The signals passed on.
const FORWARDED: [Signal; 6] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// `si_code` of a signal the kernel raised itself, e.g. for the terminal.
const SI_KERNEL: i32 = 0x80;

/// Forwarded signals, blocked and waiting to be read.
pub(crate) struct Forwarder {
    signals: SignalFd,
}

impl Forwarder {
    /// Blocks the forwarded signals in this (the main, only) thread.
    pub(crate) fn block() -> Result<Self, CliError> {
        let mut set = SigSet::empty();
        for signal in FORWARDED {
            set.add(signal);
        }
        let failed = |errno: nix::errno::Errno| {
            CliError::new(format!(
                "failed to set up signal forwarding: {}",
                errno.desc()
            ))
        };
        signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(failed)?;
        let signals = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).map_err(failed)?;
        Ok(Self { signals })
    }

    /// Passes every signal read from now on to `pid`, from a thread that
    /// lives as long as the process.
    pub(crate) fn forward_to(self, pid: u32) {
        let pid = Pid::from_raw(pid as i32);
        std::thread::spawn(move || loop {
            let info = match self.signals.read_signal() {
                Ok(Some(info)) => info,
                Ok(None) => continue,
                Err(_) => return,
            };
            if info.ssi_code == SI_KERNEL {
                continue;
            }
            if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
                log::debug!("passing {signal} on to the sandbox");
                let _ = signal::kill(pid, signal);
            }
        });
    }
}
