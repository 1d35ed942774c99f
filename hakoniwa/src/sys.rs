//! The only module with `unsafe`: thin wrappers over the system calls that
//! `nix` does not cover, or covers with an allocation we cannot afford in a
//! freshly cloned child.
//!
//! Every function here is async-signal-safe: it makes one or a few system
//! calls and touches no allocator, lock or thread-local state.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::ptr;

use libc::c_char;
use nix::errno::Errno;
use nix::unistd::Pid;

/// Result of a fork-like call.
pub(crate) enum Forked {
    /// We are the caller; the new process has this pid.
    Parent(Pid),
    /// We are the new process.
    Child,
}

/// `struct clone_args` from `<linux/sched.h>` (version 0, 64 bytes).
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// Like `fork(2)`, with `flags` (`CLONE_NEW*`) applied to the new process.
///
/// This is the raw system call, not glibc's `fork`: no `atfork` handlers run,
/// so it is safe in a multi-threaded caller as long as the child only makes
/// system calls until it execs or exits.
pub(crate) fn clone_process(flags: u64) -> Result<Forked, Errno> {
    let mut args = CloneArgs {
        flags,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
    };
    // SAFETY: clone3 with no stack behaves like fork: the child continues on
    // a copy of this stack. `args` is a valid clone_args of the given size.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as libc::pid_t))),
    }
}

/// Ends the calling process at once, without running destructors or
/// `atexit` handlers (which may take locks held by threads that are gone).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// `dup2(2)` on raw descriptor numbers; the new descriptor is not close-on-exec.
pub(crate) fn dup2(old: RawFd, new: RawFd) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    Errno::result(unsafe { libc::dup2(old, new) }).map(drop)
}

/// Duplicates `fd` to a descriptor numbered `min` or above, close-on-exec.
pub(crate) fn dup_above(fd: RawFd, min: RawFd) -> Result<RawFd, Errno> {
    // SAFETY: plain system call on integers.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })
}

/// Closes every descriptor in `first..=last`.
pub(crate) fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: the descriptors closed are not used afterwards by this process:
    // the callers own no Rust handle to them.
    Errno::result(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) }).map(drop)
}

/// `struct mount_attr` from `<linux/mount.h>`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `MOUNT_ATTR_RDONLY` from `<linux/mount.h>`.
pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `MOUNT_ATTR_NOSUID` from `<linux/mount.h>`.
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// `MOUNT_ATTR_NOEXEC` from `<linux/mount.h>`.
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `mount_setattr(2)`: sets `attrs` on the mount at `path`, and on every
/// mount below it when `recursive`. Unlike a `MS_REMOUNT`, it only adds the
/// flags given and so never trips over flags the kernel has locked.
pub(crate) fn mount_setattr(path: &CStr, recursive: bool, attrs: u64) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 } | libc::AT_NO_AUTOMOUNT;
    // SAFETY: `path` is NUL-terminated and `attr` is a valid mount_attr of
    // the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// `execve(2)` with argument and environment arrays prepared before fork
/// (each ends with a null pointer). Returns only on failure.
pub(crate) fn execve(path: &CStr, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    debug_assert!(argv.last() == Some(&ptr::null()) && envp.last() == Some(&ptr::null()));
    // SAFETY: the arrays are null-terminated arrays of pointers to
    // NUL-terminated strings owned by the plan, which outlives this call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

/// Sets every signal but SIGKILL and SIGSTOP back to its default action.
/// Ignored signals survive `execve`; the caller may have ignored SIGPIPE
/// (the Rust runtime does), and the program must not inherit that.
pub(crate) fn reset_signal_dispositions() {
    for signal in 1..libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL runs no code of ours in signal context;
        // failures (EINVAL for signals glibc reserves) are harmless.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
}

/// Drops `capability` from the bounding set (`PR_CAPBSET_DROP`).
pub(crate) fn drop_bounding_capability(capability: u32) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, capability as libc::c_ulong, 0, 0, 0) };
    Errno::result(ret).map(drop)
}

/// Clears the ambient capability set.
pub(crate) fn clear_ambient_capabilities() -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit capability sets in two words.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets the calling thread's effective, permitted and inheritable sets to
/// `capabilities` (a bit mask indexed by capability number).
pub(crate) fn set_capabilities(capabilities: u64) -> Result<(), Errno> {
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let low = capabilities as u32;
    let high = (capabilities >> 32) as u32;
    let data = [
        CapData {
            effective: low,
            permitted: low,
            inheritable: low,
        },
        CapData {
            effective: high,
            permitted: high,
            inheritable: high,
        },
    ];
    // SAFETY: header and data are valid for capset with version 3 (two
    // CapData entries).
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    Errno::result(ret).map(drop)
}

/// Reaps any one child that has ended, without waiting: its pid, raw wait
/// status and resource usage, or `None` when no child has ended.
pub(crate) fn wait_any_nohang() -> Result<Option<(Pid, i32, libc::rusage)>, Errno> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid out-pointers.
    let pid = Errno::result(unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, &mut usage) })?;
    Ok((pid > 0).then(|| (Pid::from_raw(pid), status, usage)))
}

/// Arms a one-shot `ITIMER_REAL` timer: SIGALRM after `after`.
pub(crate) fn set_alarm(after: std::time::Duration) -> Result<(), Errno> {
    let value = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: after.as_secs() as libc::time_t,
            // A zero timer would disarm it: round up to a microsecond.
            tv_usec: (after.subsec_micros().max(u32::from(after.is_zero()))) as libc::suseconds_t,
        },
    };
    // SAFETY: `value` is a valid itimerval; the old value is not asked for.
    let ret = unsafe { libc::setitimer(libc::ITIMER_REAL, &value, ptr::null_mut()) };
    Errno::result(ret).map(drop)
}

/// Waits for the child `pid` to end: its raw wait status.
pub(crate) fn wait_child(pid: Pid) -> Result<i32, Errno> {
    waitpid(pid, 0).map(|status| status.unwrap_or(0))
}

/// The raw wait status of the child `pid` if it has ended, without waiting.
pub(crate) fn try_wait_child(pid: Pid) -> Result<Option<i32>, Errno> {
    waitpid(pid, libc::WNOHANG)
}

fn waitpid(pid: Pid, flags: libc::c_int) -> Result<Option<i32>, Errno> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        match Errno::result(unsafe { libc::waitpid(pid.as_raw(), &mut status, flags) }) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(status)),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}
