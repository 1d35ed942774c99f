//! The probe's only `unsafe`: thin wrappers around the syscalls that std
//! does not offer.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::ptr;

/// What `MS_REMOUNT` changes.
#[derive(Clone, Copy)]
pub enum RemountScope {
    /// `MS_REMOUNT|MS_BIND`: the flags of this one mount point.
    MountPoint,
    /// `MS_REMOUNT`: the file system (superblock) behind it.
    Superblock,
}

/// How `umount2` detaches.
#[derive(Clone, Copy)]
pub enum Unmount {
    /// Fails with `EBUSY` while the mount is in use.
    Plain,
    /// `MNT_DETACH`: detach now, clean up when no longer busy.
    Detach,
}

/// Remounts `path` without `MS_RDONLY`, that is read-write.
pub fn remount(path: &CStr, scope: RemountScope) -> io::Result<()> {
    let flags = match scope {
        RemountScope::MountPoint => libc::MS_REMOUNT | libc::MS_BIND,
        RemountScope::Superblock => libc::MS_REMOUNT,
    };
    // SAFETY: `path` is a NUL-terminated string that outlives the call; the
    // kernel accepts NULL for source, type and data of a remount.
    let rc = unsafe { libc::mount(ptr::null(), path.as_ptr(), ptr::null(), flags, ptr::null()) };
    check(rc)
}

pub fn umount(path: &CStr, how: Unmount) -> io::Result<()> {
    let flags = match how {
        Unmount::Plain => 0,
        Unmount::Detach => libc::MNT_DETACH,
    };
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let rc = unsafe { libc::umount2(path.as_ptr(), flags) };
    check(rc)
}

/// Restores the default action of `signal`, unblocks it and sends it to
/// this process. Returns only if that did not kill the process.
pub fn die_by_signal(signal: libc::c_int) -> io::Error {
    // SAFETY: SIG_DFL installs no handler, so no Rust code runs on delivery.
    // Failure (SIGKILL and SIGSTOP cannot be changed) is harmless here.
    unsafe { libc::signal(signal, libc::SIG_DFL) };
    // SAFETY: `set` is a local sigset_t initialised by sigemptyset before
    // use; the old mask pointer may be NULL.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut());
    }
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(libc::getpid(), signal) };
    match check(rc) {
        Err(error) => error,
        Ok(()) => io::Error::other(format!("still alive after signal {signal}")),
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
