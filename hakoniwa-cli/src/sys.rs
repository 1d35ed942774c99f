//! The command's only `unsafe`: taking over a descriptor number the caller
//! handed us (`--status-fd`).

use std::fs::File;
use std::io;
use std::os::fd::FromRawFd;

/// Takes ownership of descriptor `fd`, after checking that it is open and
/// not one of the standard streams.
pub(crate) fn take_fd(fd: i32) -> io::Result<File> {
    if fd <= 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "standard streams cannot be used",
        ));
    }
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // Close-on-exec, so the sandbox never inherits it.
    // SAFETY: plain fcntl on an open descriptor.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: the descriptor is open, and nothing else in this process owns
    // it: the caller passed it to us for this use only.
    Ok(unsafe { File::from_raw_fd(fd) })
}
