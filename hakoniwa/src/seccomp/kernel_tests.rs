//! The compiler checked against the kernel: each filter is installed in a
//! throw-away forked child (never in the test runner), which makes the
//! probed syscalls and reports what the kernel answered; the interpreter
//! must have predicted each answer.
//!
//! No probed syscall ever runs: before the filter under test, the child
//! installs a *marker* filter that answers every syscall but the harness's
//! own (`write`, `exit_group`, `seccomp`) with `ERRNO(MARKER)`. The kernel
//! runs every filter and keeps the most restrictive action, and among
//! equal ones the newest filter's data; so an allowed (or logged, or
//! traced) syscall comes back as `-MARKER`, a refused one with the profile's
//! errno, and a killing one kills the child with `SIGSYS`.

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{self, FcntlArg, OFlag};
use nix::sys::prctl;
use nix::unistd;

use super::arch::Arch;
use super::bpf::{self, Jump};
use super::compile::{compile, Compiled, Target};
use super::presets::{TIOCLINUX, TIOCSTI};
use super::tests::{self as interpreter_tests, Random};
use super::{Action, Filter, UserNamespaces};
use crate::sys::{self, Forked};

/// The errno the marker filter answers with.
const MARKER: i32 = 4000;

/// `TIOCGWINSZ`: a harmless ioctl.
const TIOCGWINSZ: u64 = 0x5413;

/// What the kernel did with a probed syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Observed {
    /// The filter under test let it through (to the marker).
    Passed,
    /// It failed with this errno.
    Errno(i32),
    /// The child was killed by this signal.
    Signal(i32),
}

/// What the interpreter says the kernel will do.
fn predicted(compiled: &Compiled, nr: u32, args: [u64; 6]) -> Observed {
    let value = interpreter_tests::verdict(compiled, Arch::X86_64, nr, args);
    let action = value & libc::SECCOMP_RET_ACTION_FULL;
    match action {
        libc::SECCOMP_RET_ERRNO => Observed::Errno((value & libc::SECCOMP_RET_DATA) as i32),
        libc::SECCOMP_RET_ALLOW | libc::SECCOMP_RET_LOG | libc::SECCOMP_RET_TRACE => {
            Observed::Passed
        }
        _ => Observed::Signal(libc::SIGSYS),
    }
}

/// The harness's own syscalls, which the marker lets through and which
/// are therefore never probed.
fn harness_syscalls() -> [u32; 3] {
    ["write", "exit_group", "seccomp"].map(|name| Arch::X86_64.syscall(name).unwrap())
}

fn marker_filter() -> Vec<libc::sock_filter> {
    let mut program = vec![bpf::load(bpf::NR)];
    for nr in harness_syscalls() {
        program.push(bpf::jump(Jump::Eq, nr, 0, 1));
        program.push(bpf::ret(Action::Allow));
    }
    program.push(bpf::ret(Action::Errno(MARKER)));
    program
}

/// One record from the child: probe index, raw result.
const RECORD: usize = 16;

/// Runs `probes` under `compiled` in forked children and returns what the
/// kernel did with each.
fn observe(compiled: &Compiled, probes: &[(u32, [u64; 6])]) -> Vec<Observed> {
    let marker = marker_filter();
    let mut observed = Vec::with_capacity(probes.len());
    while observed.len() < probes.len() {
        let start = observed.len();
        // At most 4096 records per child, well within a pipe's buffer.
        let batch = &probes[start..probes.len().min(start + 4096)];
        let (reader, writer) = unistd::pipe().unwrap();
        let pid = match sys::clone_process(0).unwrap() {
            Forked::Child => probe_child(&marker, compiled, batch, start, &writer),
            Forked::Parent(pid) => pid,
        };
        drop(writer);
        let status = sys::wait_child(pid).unwrap();
        let records = read_records(&reader);
        for (index, result) in records {
            assert_eq!(index, observed.len(), "records out of order");
            observed.push(if result == -i64::from(MARKER) {
                Observed::Passed
            } else {
                assert!(result < 0, "probe {index} returned {result}: it ran");
                Observed::Errno(-result as i32)
            });
        }
        if libc::WIFSIGNALED(status) {
            observed.push(Observed::Signal(libc::WTERMSIG(status)));
        } else {
            assert_eq!(libc::WEXITSTATUS(status), 0, "probe child failed");
        }
    }
    observed
}

/// The child: marker filter, the filter under test, the probes. System
/// calls only, as after any fork of the test runner.
fn probe_child(
    marker: &[libc::sock_filter],
    compiled: &Compiled,
    probes: &[(u32, [u64; 6])],
    first: usize,
    out: &OwnedFd,
) -> ! {
    // A SIGSYS must not leave a core file behind.
    let ready = prctl::set_dumpable(false)
        .and_then(|()| prctl::set_no_new_privs())
        .and_then(|()| sys::install_seccomp_filter(marker, 0))
        .and_then(|()| {
            let program = &compiled.program;
            sys::install_seccomp_filter(&program.instructions, program.flags)
        });
    if ready.is_err() {
        sys::exit_now(2);
    }
    for (offset, (nr, args)) in probes.iter().enumerate() {
        let result = sys::raw_syscall(*nr, *args);
        let mut record = [0u8; RECORD];
        record[..8].copy_from_slice(&((first + offset) as u64).to_ne_bytes());
        record[8..].copy_from_slice(&result.to_ne_bytes());
        if unistd::write(out.as_fd(), &record) != Ok(RECORD) {
            sys::exit_now(3);
        }
    }
    sys::exit_now(0)
}

fn read_records(reader: &OwnedFd) -> Vec<(usize, i64)> {
    fcntl::fcntl(reader, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = unistd::read(reader, &mut buf) {
        bytes.extend_from_slice(&buf[..n]);
    }
    bytes
        .chunks_exact(RECORD)
        .map(|record| {
            let index = u64::from_ne_bytes(record[..8].try_into().unwrap());
            let result = i64::from_ne_bytes(record[8..].try_into().unwrap());
            (index as usize, result)
        })
        .collect()
}

fn assert_kernel_agrees(compiled: &Compiled, probes: &[(u32, [u64; 6])], what: &str) {
    let observed = observe(compiled, probes);
    for ((nr, args), seen) in probes.iter().zip(observed) {
        let expected = predicted(compiled, *nr, *args);
        assert_eq!(
            seen, expected,
            "{what}: syscall {nr} with {args:x?}: the kernel did {seen:?}, the interpreter says {expected:?}"
        );
    }
}

/// Whether this test can run here: x86-64 (the probes use its numbers).
fn supported() -> bool {
    if cfg!(target_arch = "x86_64") {
        return true;
    }
    {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: the kernel tests probe x86-64 syscall numbers"
        );
    }
    false
}

#[test]
fn built_in_profiles_agree_with_the_kernel() {
    if !supported() {
        return;
    }
    let harness = harness_syscalls();
    let mut random = Random::new(7);
    let mut probes = Vec::new();
    // `uretprobe` (335) and `uprobe` (336) are left out: the kernel lets
    // them past seccomp (they only work from a probe's trampoline, and
    // answer SIGILL or ENXIO anywhere else).
    let numbers = (0..=470)
        .chain([600, 1000])
        .filter(|nr| ![335, 336].contains(nr))
        .filter(|nr| !harness.contains(nr));
    for nr in numbers {
        probes.push((nr, [0; 6]));
        let mut args = [0; 6];
        for arg in &mut args {
            *arg = interpreter_tests::edge_value(&mut random, &[]);
        }
        probes.push((nr, args));
    }
    let nr = |name| Arch::X86_64.syscall(name).unwrap();
    let one = |value: u64| [value, 0, 0, 0, 0, 0];
    let newuser = libc::CLONE_NEWUSER as u64;
    for persona in [0, 8, 0x20000, 0x20008, 0xffff_ffff, 0x40_0000, 1 << 32] {
        probes.push((nr("personality"), one(persona)));
    }
    for request in [TIOCSTI, TIOCLINUX, TIOCGWINSZ] {
        probes.push((nr("ioctl"), [0, request, 0, 0, 0, 0]));
        probes.push((nr("ioctl"), [0, request | 1 << 32, 0, 0, 0, 0]));
    }
    probes.push((nr("unshare"), one(newuser)));
    probes.push((nr("unshare"), one(libc::CLONE_NEWNS as u64)));
    probes.push((nr("clone"), one(newuser | libc::SIGCHLD as u64)));
    probes.push((nr("socket"), [16, 3, 9, 0, 0, 0]));
    probes.push((nr("socket"), [2, 1, 0, 0, 0, 0]));
    // x32 numbers: killed before any x86-64 rule.
    probes.push((nr("getppid") | super::arch::X32_SYSCALL_BIT, [0; 6]));

    let profiles = [
        Filter::hardened(UserNamespaces::Deny),
        Filter::hardened(UserNamespaces::Allow),
        Filter::podman(),
        Filter::audit(),
    ];
    for filter in &profiles {
        for capabilities in [None, Some(0), Some(0xa804_05fb)] {
            let target = Target::current(capabilities).unwrap();
            let compiled = compile(filter, &target).unwrap();
            let what = format!("{} with capabilities {capabilities:x?}", filter.name);
            assert_kernel_agrees(&compiled, &probes, &what);
        }
    }
}

#[test]
fn random_profiles_agree_with_the_kernel() {
    if !supported() {
        return;
    }
    let mut random = Random::new(0xb0f);
    let target = Target::current(Some(0)).unwrap();
    for _ in 0..150 {
        let mut filter = interpreter_tests::random_filter(&mut random);
        if random.below(4) == 0 {
            let kill = *random.pick(&[Action::KillProcess, Action::KillThread, Action::Trap]);
            let name = *random.pick(&interpreter_tests::POOL);
            filter.add_rule(kill, name);
        }
        // The harness reports with `write` and ends with `exit_group`.
        filter.add_rule(Action::Allow, "write");
        filter.add_rule(Action::Allow, "exit_group");
        let compiled = compile(&filter, &target).unwrap();
        let probes: Vec<(u32, [u64; 6])> = (0..30)
            .map(|_| {
                let name = *random.pick(&interpreter_tests::POOL);
                let nr = Arch::X86_64.syscall(name).unwrap();
                (nr, interpreter_tests::random_args(&mut random, &filter))
            })
            .collect();
        assert_kernel_agrees(&compiled, &probes, &format!("{filter:?}"));
    }
}
