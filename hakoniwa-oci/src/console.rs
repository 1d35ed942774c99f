//! `--console-socket`: a container (or an `exec`) whose `process.terminal`
//! is true gets a new pseudo-terminal from the container's own devpts
//! (`Command::terminal`): the program's standard streams and the
//! controlling terminal of its session, bound at `/dev/console` for the
//! container's program. Its master end goes to the engine through the
//! socket (an `SCM_RIGHTS` message, as conmon and containerd's shim expect
//! it, with the terminal's name inside the container as the data).

use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use hakoniwa::Terminal;
use nix::sys::socket::{
    self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};

use crate::error::{Error, Result, SpecError};
use crate::lower;
use crate::spec::Spec;

/// Sends the master end of `terminal` to `socket`, sized first as
/// `process.consoleSize` says (rows, columns), if it does.
pub fn hand_over(socket: &Path, terminal: &Terminal, size: Option<(u16, u16)>) -> Result<()> {
    let failed = |what: &'static str| {
        move |errno: nix::errno::Errno| Error::Console {
            what,
            socket: socket.to_path_buf(),
            source: errno.into(),
        }
    };
    if let Some((rows, columns)) = size {
        terminal
            .resize(rows, columns)
            .map_err(|source| Error::Console {
                what: "size the terminal for",
                socket: socket.to_path_buf(),
                source,
            })?;
    }
    let connection = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(failed("connect to"))?;
    let address = UnixAddr::new(socket).map_err(failed("connect to"))?;
    socket::connect(connection.as_raw_fd(), &address).map_err(failed("connect to"))?;
    let fds = [terminal.master.as_raw_fd()];
    socket::sendmsg::<()>(
        connection.as_raw_fd(),
        &[IoSlice::new(terminal.name.as_os_str().as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(failed("send the terminal to"))?;
    Ok(())
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
