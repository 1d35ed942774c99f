//! The command's only `unsafe`: the process's start (`main.rs` does
//! without Rust's), the `pow` that keeps libm.so out, and taking over a
//! descriptor number the caller handed us (`--status-fd`).

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

/// What Rust's start-up does before `main` and the command needs (see
/// `main.rs`): a standard stream that is closed gets `/dev/null`, so that
/// no descriptor opened later (the channel to the sandbox, say) takes its
/// number and is passed on as the program's stream; and writing to a
/// closed pipe is an error (EPIPE) rather than the end of the process.
pub fn prepare_process() {
    let mut streams = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `streams` is an array of three valid `pollfd`s.
    if unsafe { libc::poll(streams.as_mut_ptr(), 3, 0) } == -1 {
        std::process::abort();
    }
    for stream in streams.iter().filter(|s| s.revents & libc::POLLNVAL != 0) {
        // The lowest free number is this stream's: those below are open.
        // SAFETY: a constant, NUL-terminated path.
        if unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } != stream.fd {
            std::process::abort();
        }
    }
    // SAFETY: SIG_IGN installs no handler.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// `pow`, the only function of libm the command calls (minijinja's `**`
/// on floats), from the `libm` crate. Defined here, it leaves libm.so out
/// of the binary's needs, which every run would otherwise load, map and
/// relocate for a template operator: 300 KiB of resident memory.
#[no_mangle]
pub extern "C" fn pow(base: f64, exponent: f64) -> f64 {
    libm::pow(base, exponent)
}
