//! The program's terminal (`Command::terminal`): a new pseudo-terminal
//! from the sandbox's own devpts, so that it has a name inside (`tty`
//! prints `/dev/pts/0`), as a terminal allocated by an OCI runtime from
//! the container's `/dev/ptmx` does.
//!
//! Both halves live here. The caller checks that the sandbox has a devpts
//! to allocate from ([`TerminalPlan::new`]) and receives the master
//! ([`Terminal`]). Init, once the root is built (or the namespaces of a
//! running sandbox are joined), opens `/dev/ptmx`, binds the slave at
//! `/dev/console`, makes it its standard streams for the program to
//! inherit, and sends the master over the channel ([`make`]). The program
//! then starts a new session with the slave as its controlling terminal
//! (`program.rs`).

use std::ffi::CStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{self, OFlag};
use nix::mount::{self, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{self, Uid};

use crate::container::{Container, Mount};
use crate::error::{Error, Result};
use crate::metrics::write_decimal;
use crate::runtime::channel::SandboxEnd;
use crate::sys;

/// The program's terminal, as the caller holds it.
#[derive(Debug)]
pub struct Terminal {
    /// The master end: what is written to it is the program's input, and
    /// what the program writes is read from it. Reads fail with `EIO` once
    /// every process of the sandbox has closed the terminal.
    pub master: OwnedFd,
    /// The terminal's name inside the sandbox (`/dev/pts/0`).
    pub name: PathBuf,
}

impl Terminal {
    pub(crate) fn new(master: OwnedFd, number: u32) -> Self {
        Self {
            master,
            name: Path::new("/dev/pts").join(number.to_string()),
        }
    }

    /// Sets the terminal's size, in rows and columns (`TIOCSWINSZ`); the
    /// program's session gets `SIGWINCH`.
    pub fn resize(&self, rows: u16, columns: u16) -> std::io::Result<()> {
        sys::set_window_size(&self.master, rows, columns).map_err(std::io::Error::from)
    }
}

/// What init does for the terminal.
#[derive(Debug)]
pub(crate) struct TerminalPlan {
    /// Whether the terminal is bound at `/dev/console` (not for a running
    /// sandbox entered: its `/dev/console` is its own program's).
    console: bool,
    /// The program's user, who is given the terminal.
    owner: Option<Uid>,
}

impl TerminalPlan {
    /// Caller side: a new sandbox must have a devfs at `/dev`, whose devpts
    /// instance the terminal comes from; one entered must have a
    /// `/dev/ptmx`, which init finds out.
    pub(crate) fn new(container: &Container, owner: Option<Uid>) -> Result<Self> {
        let entered = container.enter.is_some();
        let devfs = container
            .mounts
            .iter()
            .any(|mount| matches!(mount, Mount::Devfs { target } if target == Path::new("/dev")));
        if !entered && !devfs {
            return Err(Error::NoDevpts);
        }
        Ok(Self {
            console: !entered,
            owner,
        })
    }

    /// Whether a `/dev/console` mount point is needed.
    pub(crate) fn binds_console(&self) -> bool {
        self.console
    }
}

/// Init side, inside the finished root: makes the terminal, gives it to
/// the program's user, binds it at `/dev/console`, puts it on the standard
/// streams and sends the master to the caller. System calls only.
pub(crate) fn make(plan: &TerminalPlan, channel: &SandboxEnd) -> Result<(), Errno> {
    // `/dev/ptmx` is the link to `pts/ptmx`: the sandbox's own instance.
    let master = fcntl::open(
        c"/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    sys::unlock_pty(&master)?;
    let number = sys::pty_number(&master)?;
    let slave = sys::open_pty_slave(&master)?;
    // The slave is init's; the program, once it has switched, must be able
    // to open it again by name (as runc gives the console to the process's
    // user).
    if let Some(owner) = plan.owner {
        unistd::fchown(&slave, Some(owner), None)?;
    }
    if plan.console {
        let path = PtsPath::new(number);
        mount::mount(
            Some(path.as_c_str()),
            c"/dev/console",
            None::<&CStr>,
            MsFlags::MS_BIND,
            None::<&CStr>,
        )?;
    }
    for stream in 0..=2 {
        sys::dup2(slave.as_raw_fd(), stream)?;
    }
    channel.terminal(&master, number)
}

/// `/dev/pts/N`, formatted without allocating.
struct PtsPath {
    buf: [u8; 32],
}

impl PtsPath {
    const PREFIX: &'static [u8] = b"/dev/pts/";

    fn new(number: u32) -> Self {
        let mut buf = [0u8; 32];
        buf[..Self::PREFIX.len()].copy_from_slice(Self::PREFIX);
        write_decimal(&mut buf[Self::PREFIX.len()..], number);
        Self { buf }
    }

    fn as_c_str(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/dev/pts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slave_path_is_formatted_without_the_heap() {
        assert_eq!(PtsPath::new(0).as_c_str(), c"/dev/pts/0");
        assert_eq!(PtsPath::new(4096).as_c_str(), c"/dev/pts/4096");
        assert_eq!(
            Terminal::new(std::fs::File::open("/dev/null").unwrap().into(), 12).name,
            Path::new("/dev/pts/12")
        );
    }
}
