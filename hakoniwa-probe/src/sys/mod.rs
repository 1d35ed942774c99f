//! The probe's only `unsafe`: thin wrappers around the syscalls that std
//! does not offer.
#![allow(unsafe_code)]

pub mod syscalls;

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

/// `ioctl(fd, TIOCSTI, &byte)`: pushes `byte` into the terminal's input,
/// as if typed.
pub fn push_terminal_input(fd: libc::c_int, byte: u8) -> io::Result<()> {
    // SAFETY: TIOCSTI reads one byte through the pointer, which points to a
    // local that outlives the call.
    check(unsafe { libc::ioctl(fd, libc::TIOCSTI, &byte as *const u8) })
}

/// `ioctl(fd, TIOCLINUX, &subcode)`: the virtual-console requests, among
/// them `TIOCL_PASTESEL`, which pastes the selection as input.
pub fn console_request(fd: libc::c_int, subcode: u8) -> io::Result<()> {
    let mut argument = [subcode, 0];
    // SAFETY: TIOCLINUX reads the subcode (and may write a result) through
    // the pointer, which points to a local buffer that outlives the call.
    check(unsafe { libc::ioctl(fd, libc::TIOCLINUX, argument.as_mut_ptr()) })
}

/// Whether descriptor `fd` is open (`fcntl(F_GETFD)`), without `/proc`.
pub fn is_open(fd: libc::c_int) -> bool {
    // SAFETY: F_GETFD takes no argument and touches no memory.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// `mknod(path, S_IFBLK | 0600, makedev(major, minor))`.
pub fn make_block_device(path: &CStr, major: u32, minor: u32) -> io::Result<()> {
    let mode = libc::S_IFBLK | 0o600;
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::mknod(path.as_ptr(), mode, libc::makedev(major, minor)) })
}

/// `PTRACE_ATTACH` to `pid`, detached again at once if it worked.
pub fn ptrace_attach(pid: libc::pid_t) -> io::Result<()> {
    let null = ptr::null_mut::<libc::c_void>();
    // SAFETY: PTRACE_ATTACH and PTRACE_DETACH take no memory argument.
    let rc = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, null, null) };
    check(rc as libc::c_int)?;
    // SAFETY: as above.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, null, null) };
    Ok(())
}

/// Who runs on after a [`fork`].
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// `fork(2)`. The probe is single-threaded where it forks.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the probe has one thread at this point, so the child holds
    // no lock another thread owned.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// `setsid(2)`.
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid has no memory-safety preconditions.
    check(unsafe { libc::setsid() })
}

/// `close_range(first, ~0, 0)`.
pub fn close_from(first: u32) {
    // SAFETY: closing descriptors touches no memory the program still uses;
    // callers drop nothing that owns one of them afterwards.
    unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
}

/// `_exit(code)`: leaves without running destructors or flushing stdio,
/// as a forked child must.
pub fn exit_now(code: libc::c_int) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// `waitpid(pid)`: the child's exit code, or 128 + its signal.
pub fn wait_exit_code(pid: libc::pid_t) -> io::Result<i32> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(io::Error::last_os_error());
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Ok(128 + libc::WTERMSIG(status))
    }
}

/// `clone(CLONE_NEWUSER | SIGCHLD)` through the raw syscall (the flags are
/// its first argument, where a filter can read them); the child exits at
/// once and is reaped.
pub fn clone_new_user() -> io::Result<()> {
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: without CLONE_VM the child runs on a copy of this stack, as
    // after fork, and leaves with _exit before touching anything else.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => exit_now(0),
        pid => wait_exit_code(pid as libc::pid_t).map(drop),
    }
}

/// `clone3` with `CLONE_NEWUSER`: its flags sit in memory, out of a seccomp
/// filter's reach, so a filter must refuse `clone3` as a whole.
pub fn clone3_new_user() -> io::Result<()> {
    // struct clone_args (CLONE_ARGS_SIZE_VER0): flags, pidfd, child_tid,
    // parent_tid, exit_signal, stack, stack_size, tls.
    let mut args = [0u64; 8];
    args[0] = libc::CLONE_NEWUSER as u64;
    args[4] = libc::SIGCHLD as u64;
    // SAFETY: `args` is a valid clone_args of the size given; without
    // CLONE_VM the child runs on a copy of this stack and leaves with _exit.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args.as_mut_ptr(),
            std::mem::size_of_val(&args),
        )
    };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => exit_now(0),
        pid => wait_exit_code(pid as libc::pid_t).map(drop),
    }
}

/// `keyctl(operation, id, buffer, length)`; returns the kernel's value.
pub fn keyctl(operation: libc::c_int, id: i64, buffer: &mut [u8]) -> io::Result<i64> {
    // SAFETY: the operations used take an id and an optional buffer whose
    // length is given with it; the buffer outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            operation,
            id,
            buffer.as_mut_ptr(),
            buffer.len(),
        )
    };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `request_key(kind, description, NULL, 0)`.
pub fn request_key(kind: &CStr, description: &CStr) -> io::Result<i64> {
    // SAFETY: both strings are NUL-terminated and outlive the call; NULL
    // callout info asks the kernel to look only.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_request_key,
            kind.as_ptr(),
            description.as_ptr(),
            ptr::null::<libc::c_char>(),
            0,
        )
    };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `unshare(flags)`.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare has no memory-safety preconditions.
    check(unsafe { libc::unshare(flags) })
}
