//! `syscall NAME`: attempts a syscall a seccomp profile may refuse, and
//! reports `{"syscall": NAME, "ok": bool, "errno": N|null, "value": N|null}`.
//!
//! ```text
//! keyctl          keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
//! tiocsti         ioctl(TIOCSTI) on a pty that is the caller's controlling terminal
//! tiocsti-high    the same with bit 32 of the request set (the kernel ignores it)
//! unshare-user    unshare(CLONE_NEWUSER)
//! io-uring-setup  io_uring_setup(1, {0})
//! int80-getppid   getppid through the 32-bit `int 0x80` entry (x86-64 only)
//! int80-keyctl    keyctl as above, through `int 0x80`
//! ```
//!
//! `syscall-loop getppid|personality N` times N calls (for the benchmark in
//! `scripts/bench-seccomp.sh`) and reports `{"ns_per_call": F}`.

use std::ffi::CStr;
use std::io;

use serde_json::{json, Value};

/// The names `syscall` knows.
pub const NAMES: [&str; 7] = [
    "keyctl",
    "tiocsti",
    "tiocsti-high",
    "unshare-user",
    "io-uring-setup",
    "int80-getppid",
    "int80-keyctl",
];

/// `TIOCSTI` (`<asm-generic/ioctls.h>`), as a 64-bit request word.
const TIOCSTI: u64 = 0x5412;
/// `KEYCTL_GET_KEYRING_ID` from `<linux/keyctl.h>`.
const KEYCTL_GET_KEYRING_ID: u64 = 0;
/// `KEY_SPEC_SESSION_KEYRING`.
const KEY_SPEC_SESSION_KEYRING: i32 = -3;

/// Attempts `name` (one of [`NAMES`]).
pub fn attempt(name: &str) -> Value {
    let result = match name {
        "keyctl" => keyctl(),
        "tiocsti" => tiocsti(0),
        "tiocsti-high" => tiocsti(1 << 32),
        "unshare-user" => check(raw(libc::SYS_unshare, [libc::CLONE_NEWUSER as u64, 0, 0])),
        "io-uring-setup" => io_uring_setup(),
        "int80-getppid" => int80(I386_GETPPID, [0, 0, 0]),
        "int80-keyctl" => int80(
            I386_KEYCTL,
            [
                KEYCTL_GET_KEYRING_ID as u32,
                KEY_SPEC_SESSION_KEYRING as u32,
                0,
            ],
        ),
        _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    match result {
        Ok(value) => json!({ "syscall": name, "ok": true, "errno": null, "value": value }),
        Err(error) => json!({
            "syscall": name,
            "ok": false,
            "errno": error.raw_os_error(),
            "error": error.to_string(),
            "value": null,
        }),
    }
}

/// `syscall-loop NAME N`: `getppid()` or `personality(0xffffffff)` (the
/// query form podman's profile allows) N times.
pub fn time_loop(name: &str, count: u64) -> Value {
    let (nr, arg) = match name {
        "getppid" => (libc::SYS_getppid, 0),
        "personality" => (libc::SYS_personality, 0xffff_ffff),
        _ => return json!({ "error": format!("no loop for {name}") }),
    };
    let start = std::time::Instant::now();
    for _ in 0..count {
        std::hint::black_box(raw(nr, [arg, 0, 0]));
    }
    let elapsed = start.elapsed().as_nanos() as f64;
    json!({ "syscall": name, "calls": count, "ns_per_call": elapsed / count.max(1) as f64 })
}

fn raw(nr: libc::c_long, args: [u64; 3]) -> libc::c_long {
    // SAFETY: the syscalls made through here take integers, or pointers
    // the callers pass to valid memory that outlives the call.
    unsafe { libc::syscall(nr, args[0], args[1], args[2]) }
}

fn check(ret: libc::c_long) -> io::Result<i64> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn keyctl() -> io::Result<i64> {
    let args = [KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING as u64, 0];
    check(raw(libc::SYS_keyctl, args))
}

fn io_uring_setup() -> io::Result<i64> {
    // `struct io_uring_params` is 120 bytes; zeroed asks for the defaults.
    let mut params = [0u8; 120];
    let fd = check(raw(
        libc::SYS_io_uring_setup,
        [1, params.as_mut_ptr() as u64, 0],
    ))?;
    // SAFETY: `fd` was just returned to us and is not used again.
    unsafe { libc::close(fd as i32) };
    Ok(fd)
}

/// Pushes one byte into the input of a pty that a fresh session holds as
/// its controlling terminal — the one case where the kernel itself allows
/// TIOCSTI without `CAP_SYS_ADMIN` — in a forked child, since `setsid`
/// fails for a process group leader. `high` is or-ed into the request.
fn tiocsti(high: u64) -> io::Result<i64> {
    let ptmx = open(c"/dev/ptmx")?;
    let mut unlock: libc::c_int = 0;
    let mut number: libc::c_uint = 0;
    // SAFETY: both ioctls take a pointer to an int that outlives the call.
    let ok = unsafe {
        libc::ioctl(ptmx, libc::TIOCSPTLCK, &mut unlock) == 0
            && libc::ioctl(ptmx, libc::TIOCGPTN, &mut number) == 0
    };
    if !ok {
        return Err(io::Error::last_os_error());
    }
    let path = std::ffi::CString::new(format!("/dev/pts/{number}")).expect("no NUL");
    // SAFETY: fork in a single-threaded program; the child makes system
    // calls only and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let errno = match open(&path).and_then(|tty| steal_input(tty, high)) {
            Ok(()) => 0,
            Err(error) => error.raw_os_error().unwrap_or(255),
        };
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(errno) };
    }
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    if pid < 0 || unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(io::Error::last_os_error());
    }
    match libc::WEXITSTATUS(status) {
        0 => Ok(0),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

fn steal_input(tty: libc::c_int, high: u64) -> io::Result<()> {
    let byte = b'x';
    // SAFETY: plain syscalls; TIOCSTI reads one byte from `byte`, which
    // outlives the call. The request goes through `syscall` so that its
    // high bits reach the kernel as given.
    let ret = unsafe {
        if libc::setsid() < 0 || libc::ioctl(tty, libc::TIOCSCTTY, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
        libc::syscall(libc::SYS_ioctl, tty, TIOCSTI | high, &byte as *const u8)
    };
    check(ret).map(drop)
}

fn open(path: &CStr) -> io::Result<libc::c_int> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(fd)
    }
}

/// `getppid` and `keyctl` in the i386 table (`arch/x86/entry/syscalls/syscall_32.tbl`).
const I386_GETPPID: u32 = 64;
const I386_KEYCTL: u32 = 288;

/// A syscall through the 32-bit entry point, from this 64-bit program.
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32, args: [u32; 3]) -> io::Result<i64> {
    let ret: i32;
    // SAFETY: `int 0x80` with integer arguments only. rbx cannot be named
    // as an operand, so the first argument is swapped into it and back;
    // r8-r11 are declared clobbered, as older kernels did not keep them.
    unsafe {
        std::arch::asm!(
            "xchg {first:r}, rbx",
            "int 0x80",
            "xchg {first:r}, rbx",
            first = inout(reg) u64::from(args[0]) => _,
            inlateout("eax") nr as i32 => ret,
            in("ecx") args[1],
            in("edx") args[2],
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    if (-4095..0).contains(&ret) {
        Err(io::Error::from_raw_os_error(-ret))
    } else {
        Ok(i64::from(ret))
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn int80(_nr: u32, _args: [u32; 3]) -> io::Result<i64> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}
