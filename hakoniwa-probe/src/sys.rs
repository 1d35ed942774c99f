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

/// `getrlimit(2)`: the soft and hard limits of `resource`
/// (`u64::MAX` is `RLIM_INFINITY`).
pub fn getrlimit(resource: libc::__rlimit_resource_t) -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer for the call.
    check(unsafe { libc::getrlimit(resource, &mut limit) })?;
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// Ignores `signal`, so that the error it would have turned into a death
/// (SIGXFSZ → EFBIG) is reported instead.
pub fn ignore_signal(signal: i32) {
    // SAFETY: installing SIG_IGN runs no code in signal context.
    unsafe { libc::signal(signal, libc::SIG_IGN) };
}

/// `kill(2)`.
pub fn kill(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    check(unsafe { libc::kill(pid, signal) })
}

/// Installs a seccomp filter that fails `landlock_create_ruleset` with
/// `ENOSYS` and allows everything else; sets no_new_privs first, as an
/// unprivileged caller must. Inherited across fork and exec.
pub fn deny_landlock() -> io::Result<()> {
    const LOAD_NR: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JUMP_IF_EQUAL: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RETURN: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let statement = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let filter = [
        // seccomp_data.nr is at offset 0.
        statement(LOAD_NR, 0),
        libc::sock_filter {
            code: JUMP_IF_EQUAL,
            jt: 0,
            jf: 1,
            k: libc::SYS_landlock_create_ruleset as u32,
        },
        statement(RETURN, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        statement(RETURN, libc::SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: plain prctl on integers.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    // SAFETY: `program` points to `filter`, which outlives the call; the
    // kernel copies the filter.
    check(unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &program as *const libc::sock_fprog,
        )
    })
}
