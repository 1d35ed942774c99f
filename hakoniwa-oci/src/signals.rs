//! `kill`: a signal, by name or number, to a container's process — or,
//! with `--all`, to every one of them.

use std::str::FromStr;

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::control;
use crate::error::{Error, Result};
use crate::lifecycle::wrong_status;
use crate::processes;
use crate::state::{Root, State, Status};

/// `kill ID [SIGNAL]`: to the held program while `created` (a signal that
/// ends it ends the container), to the sandbox's init while `running`
/// (which passes it to the program; SIGKILL ends the whole sandbox).
///
/// With `all`, a running container's every process gets it directly —
/// but `KILL`, which init gets: the pid namespace then ends with it (in a
/// pod's, joined by path, the container's cgroup is killed when init
/// ends).
///
/// A paused container is thawed once the signal is sent: a frozen process
/// takes no signal, not even `KILL` under the v1 freezer.
pub fn kill(root: &Root, id: &str, signal: &str, all: bool) -> Result<()> {
    let signal = parse_signal(signal)?;
    let state = root.container(id)?.load()?;
    let pid = match (state.status, state.pid) {
        (Status::Created | Status::Running | Status::Paused, Some(pid)) => pid,
        _ => return Err(wrong_status(&state, "signal")),
    };
    if all && state.status != Status::Created && signal != Signal::SIGKILL {
        for process in processes::members(pid, state.hakoniwa.cgroup.as_ref()) {
            send(id, process, signal)?;
        }
        return control::thaw_if_paused(&state);
    }
    signal_container(&state, pid, signal)
}

/// Sends `signal` to the container's `pid`, then thaws the container if
/// it was paused.
pub fn signal_container(state: &State, pid: u32, signal: Signal) -> Result<()> {
    send(&state.id, pid, signal)?;
    control::thaw_if_paused(state)
}

/// `KILL`, `SIGKILL` or `9`.
fn parse_signal(text: &str) -> Result<Signal> {
    let invalid = || Error::InvalidSignal(text.to_string());
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| invalid());
    }
    let name = text.to_ascii_uppercase();
    let name = if name.starts_with("SIG") {
        name
    } else {
        format!("SIG{name}")
    };
    Signal::from_str(&name).map_err(|_| invalid())
}

pub fn send(id: &str, pid: u32, signal: Signal) -> Result<()> {
    let pid = Pid::from_raw(pid as i32);
    match signal::kill(pid, signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(errno) => Err(Error::Process {
            what: "signal",
            id: id.to_string(),
            source: errno.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_names_or_numbers() {
        assert_eq!(parse_signal("KILL").ok(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("sigterm").ok(), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("10").ok(), Some(Signal::SIGUSR1));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
