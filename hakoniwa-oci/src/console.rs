//! `--console-socket`: a container whose `process.terminal` is true gets a
//! new pseudo-terminal. Its master end goes to the engine through the
//! socket (an `SCM_RIGHTS` message, as conmon and containerd's shim expect
//! it, with the terminal's name as the data); its slave end becomes the
//! program's standard streams and the controlling terminal of its session
//! (`Runctl::TerminalSession`).
//!
//! The terminal is one of the host's devpts: inside the container it has
//! no name under `/dev/pts` (the container has its own devpts instance).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::Command as HostCommand;

use nix::fcntl::{self, OFlag};
use nix::pty;
use nix::sys::socket::{
    self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::sys::stat::Mode;

use crate::error::{Error, Result, SpecError};
use crate::lower;
use crate::spec::Spec;

/// Makes a terminal, sends its master end to `socket`, and returns the
/// slave end.
pub fn hand_over(socket: &Path) -> Result<OwnedFd> {
    let failed = |what: &'static str| {
        move |errno: nix::errno::Errno| Error::Console {
            what,
            socket: socket.to_path_buf(),
            source: errno.into(),
        }
    };
    let master = pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(failed("open a terminal for"))?;
    pty::grantpt(&master).map_err(failed("open a terminal for"))?;
    pty::unlockpt(&master).map_err(failed("open a terminal for"))?;
    let name = pty::ptsname_r(&master).map_err(failed("open a terminal for"))?;
    let slave = fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(failed("open a terminal for"))?;

    let connection = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(failed("connect to"))?;
    let address = UnixAddr::new(socket).map_err(failed("connect to"))?;
    socket::connect(connection.as_raw_fd(), &address).map_err(failed("connect to"))?;
    let fds = [master.as_raw_fd()];
    socket::sendmsg::<()>(
        connection.as_raw_fd(),
        &[IoSlice::new(name.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(failed("send the terminal to"))?;
    Ok(slave)
}

/// Whether the configuration asks for a terminal.
pub fn needs_terminal(spec: &Spec) -> bool {
    spec.process().as_ref().is_some_and(lower::terminal)
}

pub fn no_console_socket(bundle: &Path) -> Error {
    Error::Bundle {
        bundle: bundle.to_path_buf(),
        source: SpecError::field(
            "process.terminal",
            "a terminal needs a console socket: create --console-socket SOCKET",
        ),
    }
}

/// Makes `terminal` the standard streams of a process this runtime starts
/// (the supervisor, a detached exec), which the program inherits.
pub fn give_terminal(command: &mut HostCommand, terminal: OwnedFd) -> Result<()> {
    let copy = |fd: &OwnedFd| {
        fd.try_clone()
            .map_err(|e| Error::file("duplicate", Path::new("the terminal"), e))
    };
    command
        .stdin(copy(&terminal)?)
        .stdout(copy(&terminal)?)
        .stderr(terminal);
    Ok(())
}
