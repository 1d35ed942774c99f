//! The only module with `unsafe`: thin wrappers over the system calls that
//! `nix` does not cover, or covers with an allocation we cannot afford in a
//! freshly cloned child.
//!
//! Every function here is async-signal-safe: it makes one or a few system
//! calls and touches no allocator, lock or thread-local state.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use libc::c_char;
use nix::errno::Errno;
use nix::fcntl::OFlag;
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

/// Size of the stack a vforked program runs its last steps on.
const VFORK_STACK: usize = 256 * 1024;

/// Starts `run` in a new process that shares this one's memory and runs on
/// a stack of its own (`CLONE_VM | CLONE_VFORK`, as `posix_spawn` does):
/// nothing is copied, and this process is suspended until the new one
/// executes a program or exits. `run` must not return, and must make only
/// system calls that touch no memory of this process but its own stack
/// and what it reads.
pub(crate) fn vfork_run<F: FnOnce()>(run: F) -> Result<Pid, Errno> {
    extern "C" fn trampoline<F: FnOnce()>(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` points at the `ManuallyDrop<F>` below, alive and
        // untouched while the caller is suspended; it is read exactly once.
        let run = unsafe { ptr::read(arg.cast::<F>()) };
        run();
        // `run` executes a program or exits; should it return, end here.
        exit_now(125)
    }
    // SAFETY: an anonymous private mapping of the given size; checked below.
    let stack = unsafe {
        libc::mmap(
            ptr::null_mut(),
            VFORK_STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    // The new process owns `run` from here: never dropped by this one.
    let mut run = std::mem::ManuallyDrop::new(run);
    // SAFETY: the stack grows down from the end of the mapping, 16-byte
    // aligned (mmap returns page-aligned memory); `trampoline::<F>` matches
    // what clone calls; the caller is suspended until the new process
    // leaves this memory (CLONE_VFORK), so `run` outlives its use.
    let pid = unsafe {
        libc::clone(
            trampoline::<F>,
            stack.cast::<u8>().add(VFORK_STACK).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut *run as *mut F).cast(),
        )
    };
    let result = Errno::result(pid).map(Pid::from_raw);
    // SAFETY: the new process has executed or exited: the stack is unused.
    unsafe { libc::munmap(stack, VFORK_STACK) };
    result
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

/// Clears close-on-exec on `fd`.
pub(crate) fn clear_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).map(drop)
}

/// The descriptor flags of `fd`; fails when it is not open.
pub(crate) fn fd_flags(fd: RawFd) -> Result<i32, Errno> {
    // SAFETY: plain system call on integers.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_GETFD) })
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
/// `MOUNT_ATTR_NODEV` from `<linux/mount.h>`.
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;
/// `MOUNT_ATTR_NOEXEC` from `<linux/mount.h>`.
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `mount_setattr(2)`: sets `attrs` on the mount `fd` refers to, and on
/// every mount below it when `recursive`. Unlike a `MS_REMOUNT`, it only
/// adds the flags given and so never trips over flags the kernel has locked.
pub(crate) fn mount_setattr_fd(fd: &OwnedFd, recursive: bool, attrs: u64) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `fd` is open, the empty path is NUL-terminated, and `attr` is
    // a valid mount_attr of the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 },
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// `struct open_how` from `<linux/openat2.h>`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `RESOLVE_NO_MAGICLINKS`: no `/proc/PID/fd`-style links on the way.
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// `RESOLVE_IN_ROOT`: resolve as if `dirfd` were `/`: absolute links and
/// `..` stay inside it.
const RESOLVE_IN_ROOT: u64 = 0x10;

/// `openat2(2)` of `path` under `root`, with `root` as the root of the
/// resolution: no symbolic link or `..` in the path can lead outside it.
pub(crate) fn open_in_root(root: &OwnedFd, path: &CStr, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow {
        flags: flags.bits() as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `path` is NUL-terminated, `how` a valid open_how of the size
    // passed; on success the kernel returns a new descriptor we now own.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: `fd` was just returned by the kernel and is owned by no one
    // else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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

/// Adds `capability` to the ambient set, so that it survives `execve` for a
/// program whose uid is not 0. It must be permitted and inheritable.
pub(crate) fn raise_ambient_capability(capability: u32) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            capability as libc::c_ulong,
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

/// Sets the calling thread's effective and permitted sets to `capabilities`
/// and its inheritable set to `inheritable` (bit masks indexed by
/// capability number).
pub(crate) fn set_capabilities(capabilities: u64, inheritable: u64) -> Result<(), Errno> {
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let low = capabilities as u32;
    let high = (capabilities >> 32) as u32;
    let inheritable_low = inheritable as u32;
    let inheritable_high = (inheritable >> 32) as u32;
    let data = [
        CapData {
            effective: low,
            permitted: low,
            inheritable: inheritable_low,
        },
        CapData {
            effective: high,
            permitted: high,
            inheritable: inheritable_high,
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

/// Waits for every child to end and reaps it, until there is none left
/// (`__WALL`: children that chose another exit signal count too).
pub(crate) fn reap_all_children() {
    while waitpid(Pid::from_raw(-1), libc::__WALL).is_ok() {}
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

/// `struct landlock_ruleset_attr` from `<linux/landlock.h>`, up to
/// `scoped` (ABI 6). A kernel whose struct is shorter accepts this one as
/// long as the fields it does not know are zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LandlockRulesetAttr {
    pub handled_access_fs: u64,
    pub handled_access_net: u64,
    pub scoped: u64,
}

/// `struct landlock_path_beneath_attr`, packed as in the kernel's header.
#[repr(C, packed)]
struct LandlockPathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// `struct landlock_net_port_attr`.
#[repr(C)]
struct LandlockNetPortAttr {
    allowed_access: u64,
    port: u64,
}

/// `LANDLOCK_CREATE_RULESET_VERSION`.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
/// `LANDLOCK_RULE_PATH_BENEATH`.
const LANDLOCK_RULE_PATH_BENEATH: libc::c_uint = 1;
/// `LANDLOCK_RULE_NET_PORT`.
const LANDLOCK_RULE_NET_PORT: libc::c_uint = 2;

/// The landlock ABI version of the running kernel: `ENOSYS` when it was
/// built without landlock, `EOPNOTSUPP` when landlock is not enabled.
pub(crate) fn landlock_abi_version() -> Result<u32, Errno> {
    // SAFETY: with LANDLOCK_CREATE_RULESET_VERSION the kernel requires a
    // null attribute pointer and a size of 0, and reads nothing.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            ptr::null::<LandlockRulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    Errno::result(ret).map(|version| version as u32)
}

/// `landlock_create_ruleset(2)`: a new ruleset handling what `attr` says.
pub(crate) fn landlock_create_ruleset(attr: &LandlockRulesetAttr) -> Result<OwnedFd, Errno> {
    // SAFETY: `attr` is a valid landlock_ruleset_attr of the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            attr as *const LandlockRulesetAttr,
            std::mem::size_of::<LandlockRulesetAttr>(),
            0,
        )
    };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `landlock_add_rule(2)`: allows `allowed` beneath the file or directory
/// open as `parent` (an `O_PATH` descriptor will do).
pub(crate) fn landlock_add_path_rule(
    ruleset: BorrowedFd<'_>,
    allowed: u64,
    parent: BorrowedFd<'_>,
) -> Result<(), Errno> {
    let attr = LandlockPathBeneathAttr {
        allowed_access: allowed,
        parent_fd: parent.as_raw_fd(),
    };
    // SAFETY: `attr` is a valid landlock_path_beneath_attr for this rule
    // type; both descriptors are open for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_PATH_BENEATH,
            &attr as *const LandlockPathBeneathAttr,
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `landlock_add_rule(2)`: allows `allowed` on TCP `port`.
pub(crate) fn landlock_add_port_rule(
    ruleset: BorrowedFd<'_>,
    allowed: u64,
    port: u64,
) -> Result<(), Errno> {
    let attr = LandlockNetPortAttr {
        allowed_access: allowed,
        port,
    };
    // SAFETY: `attr` is a valid landlock_net_port_attr for this rule type.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_NET_PORT,
            &attr as *const LandlockNetPortAttr,
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `landlock_restrict_self(2)`: enforces `ruleset` on the calling thread
/// and everything it executes; needs no_new_privs (or `CAP_SYS_ADMIN`).
pub(crate) fn landlock_restrict_self(ruleset: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: plain system call on a descriptor that is open.
    let ret = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0) };
    Errno::result(ret).map(drop)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`: installs a filter on
/// the calling thread and everything it executes; needs no_new_privs (or
/// `CAP_SYS_ADMIN`).
pub(crate) fn install_seccomp_filter(
    program: &[libc::sock_filter],
    flags: u32,
) -> Result<(), Errno> {
    let len = u16::try_from(program.len()).map_err(|_| Errno::EINVAL)?;
    let prog = libc::sock_fprog {
        len,
        // The kernel copies the instructions and never writes through this.
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `len` valid instructions that outlive the
    // call; the kernel copies them before returning.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    Errno::result(ret).map(drop)
}

/// Test only: makes syscall `nr` with `args` and returns what the kernel
/// returned (`-errno` on failure), for checking filters against the
/// kernel in a throw-away child.
#[cfg(test)]
pub(crate) fn raw_syscall(nr: u32, args: [u64; 6]) -> i64 {
    // SAFETY: only called in a forked child whose filters answer every
    // probed call without running it (see `seccomp::kernel_tests`), so no
    // memory is touched through these arguments.
    let ret = unsafe {
        libc::syscall(
            libc::c_long::from(nr as i32),
            args[0],
            args[1],
            args[2],
            args[3],
            args[4],
            args[5],
        )
    };
    if ret == -1 {
        -(Errno::last_raw() as i64)
    } else {
        ret
    }
}

/// Makes the terminal open on `fd` the controlling terminal of this
/// process's session (`TIOCSCTTY`, `ioctl_tty(2)`), without stealing one
/// that is another session's.
pub(crate) fn set_controlling_terminal(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal), no
    // pointer; an fd that is not a terminal fails with ENOTTY.
    Errno::result(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }).map(drop)
}

/// Sets the NIS domain name of the current uts namespace
/// (`setdomainname(2)`).
pub(crate) fn set_domainname(name: &CStr) -> Result<(), Errno> {
    let bytes = name.to_bytes();
    // SAFETY: the pointer and length describe `name`'s bytes, which the
    // kernel only reads.
    Errno::result(unsafe { libc::setdomainname(bytes.as_ptr().cast(), bytes.len()) }).map(drop)
}

/// Sets `IFF_UP` on the loopback device `lo` of the current network
/// namespace (`SIOCSIFFLAGS`, as `ip link set lo up` does).
pub(crate) fn bring_loopback_up() -> Result<(), Errno> {
    // SAFETY: plain system call; the descriptor returned is owned below.
    let fd = Errno::result(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    })?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data, valid when zeroed.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as c_char;
    }
    // SAFETY: `request` is a valid ifreq naming an interface; the kernel
    // fills in its flags.
    Errno::result(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) })?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: `request` is a valid ifreq with the name and the new flags.
    Errno::result(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) })
        .map(drop)
}

/// `rmdir(2)`: removes an empty directory (a cgroup with no process).
pub(crate) fn rmdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is a valid NUL-terminated string for the call's length.
    Errno::result(unsafe { libc::rmdir(path.as_ptr()) }).map(drop)
}

/// Sets the size of `terminal` (`TIOCSWINSZ`, `ioctl_tty(2)`).
pub(crate) fn set_window_size(terminal: &OwnedFd, rows: u16, columns: u16) -> Result<(), Errno> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which points
    // at `size`, alive for the call.
    Errno::result(unsafe { libc::ioctl(terminal.as_raw_fd(), libc::TIOCSWINSZ, &size) }).map(drop)
}

/// Unlocks the pseudo-terminal whose master is `master`, so that its slave
/// may be opened (`TIOCSPTLCK` with 0, what `unlockpt(3)` does).
pub(crate) fn unlock_pty(master: &OwnedFd) -> Result<(), Errno> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which lives
    // for the call.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) }).map(drop)
}

/// The number of the pseudo-terminal whose master is `master` in its
/// devpts instance: its slave is `pts/N` there (`TIOCGPTN`).
pub(crate) fn pty_number(master: &OwnedFd) -> Result<u32, Errno> {
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer, which
    // lives for the call.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) })?;
    Ok(number)
}

/// Opens the slave of the pseudo-terminal whose master is `master`
/// through the master itself (`TIOCGPTPEER`, Linux 4.13): the slave of
/// that very devpts instance, whatever a path would resolve to.
pub(crate) fn open_pty_slave(master: &OwnedFd) -> Result<OwnedFd, Errno> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as an integer, no pointer.
    let fd = Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) })?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `data` on the socket `socket` with the descriptor `passed`
/// attached (`SCM_RIGHTS`), from a buffer on the stack: `nix`'s `sendmsg`
/// allocates its control buffer.
pub(crate) fn send_with_fd(socket: RawFd, data: &[u8], passed: RawFd) -> Result<(), Errno> {
    // Room for one cmsghdr carrying one int, aligned as cmsghdr needs.
    let mut control = [0u64; 4];
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    if space > std::mem::size_of_val(&control) {
        return Err(Errno::EINVAL);
    }
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data, valid when zeroed.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = space;
    // SAFETY: the control buffer is CMSG_SPACE(sizeof(int)) long (checked
    // above) and 8-byte aligned, so CMSG_FIRSTHDR returns a header inside
    // it and CMSG_DATA an int's room after that header.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
        ptr::write_unaligned(libc::CMSG_DATA(header).cast::<libc::c_int>(), passed);
    }
    loop {
        // SAFETY: `message` points at `iov` and `control`, which outlive
        // the call; `data` is only read.
        let sent = unsafe { libc::sendmsg(socket, &message, libc::MSG_NOSIGNAL) };
        match Errno::result(sent) {
            Err(Errno::EINTR) => continue,
            other => return other.map(drop),
        }
    }
}

/// Takes ownership of a descriptor the kernel installed in this process
/// with an `SCM_RIGHTS` message just received.
pub(crate) fn received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed this descriptor for the message read
    // just now; nothing else in this process knows of it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
