//! The compiler checked with the BPF interpreter: the built-in profiles
//! give the verdicts they promise, and random profiles give the verdicts a
//! direct reading of the profile gives.

use super::arch::{self, Arch, Host};
use super::bpf::interpreter::{self, Data};
use super::bpf::{self, return_value};
use super::compile::{compile, Compiled, Target};
use super::presets::{TIOCLINUX, TIOCSTI};
use super::{Action, ArgCmp, ArgCmpOp, Filter, UserNamespaces};

/// A program as the default CLI run gives it: uid 0 in its namespace with
/// the container-engine capability set (CAP_AUDIT_WRITE included).
const ROOT_CAPS: u64 = 0xa804_05fb;

pub(super) fn x86_64_target(capabilities: u64) -> Target {
    Target {
        host: Host::of(Arch::X86_64),
        capabilities,
        kernel: (6, 8),
    }
}

pub(super) fn verdict(compiled: &Compiled, arch: Arch, nr: u32, args: [u64; 6]) -> u32 {
    let data = Data {
        nr,
        arch: arch.audit(),
        args,
    };
    interpreter::run(&compiled.program.instructions, &data).0
}

fn call(compiled: &Compiled, arch: Arch, name: &str, args: [u64; 6]) -> u32 {
    let nr = arch
        .syscall(name)
        .unwrap_or_else(|| panic!("{name} on {arch}"));
    verdict(compiled, arch, nr, args)
}

fn ret(action: Action) -> u32 {
    return_value(action)
}

/// `TIOCGWINSZ`: a harmless ioctl.
const TIOCGWINSZ: u64 = 0x5413;
const ALLOW: Action = Action::Allow;
const EPERM: Action = Action::Errno(libc::EPERM);
const ENOSYS: Action = Action::Errno(libc::ENOSYS);
const EINVAL: Action = Action::Errno(libc::EINVAL);

#[test]
fn podman_allows_the_usual_and_refuses_the_privileged() {
    let podman = compile(&Filter::podman(), &x86_64_target(0)).unwrap();
    for name in ["read", "getppid", "execve", "clone3", "keyctl", "unshare"] {
        assert_eq!(
            call(&podman, Arch::X86_64, name, [0; 6]),
            ret(ALLOW),
            "{name}"
        );
    }
    // Listed only with the capability they need, which this program lacks.
    for name in ["chroot", "kexec_load", "perf_event_open", "userfaultfd"] {
        assert_eq!(
            call(&podman, Arch::X86_64, name, [0; 6]),
            ret(EPERM),
            "{name}"
        );
    }
    // Not listed at all: ENOSYS, as for a syscall the kernel lacks.
    assert_eq!(
        call(&podman, Arch::X86_64, "io_uring_setup", [0; 6]),
        ret(ENOSYS)
    );
    assert_eq!(verdict(&podman, Arch::X86_64, 4000, [0; 6]), ret(ENOSYS));
    // personality: only the listed personas.
    for persona in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
        let args = [persona, 0, 0, 0, 0, 0];
        assert_eq!(call(&podman, Arch::X86_64, "personality", args), ret(ALLOW));
    }
    let args = [0x0040_0000, 0, 0, 0, 0, 0]; // READ_IMPLIES_EXEC
    assert_eq!(
        call(&podman, Arch::X86_64, "personality", args),
        ret(ENOSYS)
    );
    // With CAP_SYS_CHROOT the rule that allows chroot applies instead.
    let root = compile(&Filter::podman(), &x86_64_target(ROOT_CAPS)).unwrap();
    assert_eq!(call(&root, Arch::X86_64, "chroot", [0; 6]), ret(ALLOW));
}

#[test]
fn podman_socket_rules_follow_cap_audit_write() {
    let audit_socket = [16, 3, 9, 0, 0, 0]; // AF_NETLINK, SOCK_RAW, NETLINK_AUDIT
    let inet = [2, 1, 0, 0, 0, 0];
    let without = compile(&Filter::podman(), &x86_64_target(0)).unwrap();
    assert_eq!(
        call(&without, Arch::X86_64, "socket", audit_socket),
        ret(EINVAL)
    );
    assert_eq!(call(&without, Arch::X86_64, "socket", inet), ret(ALLOW));
    let with = compile(&Filter::podman(), &x86_64_target(ROOT_CAPS)).unwrap();
    assert_eq!(
        call(&with, Arch::X86_64, "socket", audit_socket),
        ret(ALLOW)
    );
}

#[test]
fn default_adds_its_hardening() {
    let default = Filter::hardened(UserNamespaces::Deny);
    let compiled = compile(&default, &x86_64_target(ROOT_CAPS)).unwrap();
    for arch in [Arch::X86_64, Arch::X86] {
        let call = |name, args| call(&compiled, arch, name, args);
        for name in [
            "keyctl",
            "add_key",
            "request_key",
            "perf_event_open",
            "userfaultfd",
        ] {
            assert_eq!(call(name, [0; 6]), ret(EPERM), "{name} on {arch}");
        }
        for name in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            assert_eq!(call(name, [0; 6]), ret(ENOSYS), "{name} on {arch}");
        }
        let tiocsti = TIOCSTI;
        assert_eq!(call("ioctl", [0, tiocsti, 0, 0, 0, 0]), ret(EPERM));
        assert_eq!(call("ioctl", [0, TIOCLINUX, 0, 0, 0, 0]), ret(EPERM));
        // The kernel reads the request as 32 bits: high bits change nothing.
        assert_eq!(
            call("ioctl", [0, tiocsti | 1 << 32, 0, 0, 0, 0]),
            ret(EPERM)
        );
        assert_eq!(call("ioctl", [0, TIOCGWINSZ, 0, 0, 0, 0]), ret(ALLOW));
        let newuser = libc::CLONE_NEWUSER as u64;
        let newns = libc::CLONE_NEWNS as u64;
        assert_eq!(
            call("unshare", [newuser | newns, 0, 0, 0, 0, 0]),
            ret(EPERM)
        );
        assert_eq!(call("unshare", [newns, 0, 0, 0, 0, 0]), ret(ALLOW));
        assert_eq!(call("clone", [newuser, 0, 0, 0, 0, 0]), ret(EPERM));
        assert_eq!(
            call("clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
            ret(ALLOW)
        );
        assert_eq!(call("clone3", [0; 6]), ret(ENOSYS));
        assert_eq!(call("getppid", [0; 6]), ret(ALLOW));
    }
    let mut allowing = Filter::hardened(UserNamespaces::Allow);
    allowing.name("default+userns");
    let compiled = compile(&allowing, &x86_64_target(ROOT_CAPS)).unwrap();
    let newuser = [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0];
    assert_eq!(
        call(&compiled, Arch::X86_64, "unshare", newuser),
        ret(ALLOW)
    );
    assert_eq!(call(&compiled, Arch::X86_64, "clone3", [0; 6]), ret(ALLOW));
    assert_eq!(call(&compiled, Arch::X86_64, "keyctl", [0; 6]), ret(EPERM));
}

#[test]
fn other_architectures_and_x32_are_killed() {
    let kill = ret(Action::KillProcess);
    let default = compile(&Filter::hardened(UserNamespaces::Deny), &x86_64_target(0)).unwrap();
    let getppid = Arch::X86_64.syscall("getppid").unwrap();
    assert_eq!(verdict(&default, Arch::Aarch64, getppid, [0; 6]), kill);
    // x32: the x86-64 number with bit 30 set never reaches the x86-64 rules.
    let x32 = getppid | arch::X32_SYSCALL_BIT;
    assert_eq!(verdict(&default, Arch::X86_64, x32, [0; 6]), kill);
    assert_eq!(verdict(&default, Arch::X86_64, u32::MAX, [0; 6]), kill);
    // The compat architecture only when the profile lists it.
    let mut native_only = Filter::new(ENOSYS);
    native_only.add_rule(ALLOW, "getppid");
    let compiled = compile(&native_only, &x86_64_target(0)).unwrap();
    assert_eq!(call(&compiled, Arch::X86_64, "getppid", [0; 6]), ret(ALLOW));
    assert_eq!(call(&compiled, Arch::X86, "getppid", [0; 6]), kill);
    native_only.add_arch(Arch::X86);
    let compiled = compile(&native_only, &x86_64_target(0)).unwrap();
    assert_eq!(call(&compiled, Arch::X86, "getppid", [0; 6]), ret(ALLOW));
}

#[test]
fn an_allowed_syscall_costs_a_handful_of_instructions() {
    let default = compile(&Filter::hardened(UserNamespaces::Deny), &x86_64_target(0)).unwrap();
    let data = Data {
        nr: Arch::X86_64.syscall("getppid").unwrap(),
        arch: arch::AUDIT_ARCH_X86_64,
        args: [0; 6],
    };
    let (verdict, steps) = interpreter::run(&default.program.instructions, &data);
    assert_eq!(verdict, ret(ALLOW));
    assert!(steps <= 16, "getppid takes {steps} instructions");
    assert!(default.program.instructions.len() < bpf::MAX_INSTRUCTIONS);
}

#[test]
fn filters_built_in_code_are_checked() {
    let mut filter = Filter::new(ALLOW);
    filter.add_rule(EPERM, "getppidd");
    let err = compile(&filter, &x86_64_target(0)).unwrap_err().to_string();
    assert!(
        err.contains("rule #0: unknown system call \"getppidd\""),
        "{err}"
    );
    let mut filter = Filter::new(ALLOW);
    filter.add_rule_conditional(EPERM, "read", &[ArgCmp::new(6, ArgCmpOp::Eq, 0, 0)]);
    let err = compile(&filter, &x86_64_target(0)).unwrap_err().to_string();
    assert!(err.contains("argument index 6"), "{err}");
}

#[test]
fn audit_logs_everything() {
    let audit = compile(&Filter::audit(), &x86_64_target(0)).unwrap();
    assert_eq!(
        call(&audit, Arch::X86_64, "reboot", [0; 6]),
        ret(Action::Log)
    );
    assert_eq!(call(&audit, Arch::X86, "reboot", [0; 6]), ret(Action::Log));
}

/// A small seeded generator (xorshift64*), enough for random profiles.
pub(super) struct Random(u64);

impl Random {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Values around the interesting edges: zero, small, the 32-bit boundary,
/// all ones, and values with only the high word set.
pub(super) fn edge_value(random: &mut Random, others: &[u64]) -> u64 {
    let edges = [
        0,
        1,
        2,
        0x7fff_ffff,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        u64::MAX,
        u64::MAX - 1,
        0x8000_0000_0000_0000,
    ];
    match random.below(4) {
        0 => *random.pick(&edges),
        1 if !others.is_empty() => {
            let base = *random.pick(others);
            base.wrapping_add(random.below(3)).wrapping_sub(1)
        }
        2 => random.below(16),
        _ => random.next(),
    }
}

/// Syscalls random profiles use; none is needed by the kernel test's
/// harness (`write`, `exit_group`, `seccomp`).
pub(super) const POOL: [&str; 8] = [
    "getppid",
    "getpid",
    "personality",
    "getpriority",
    "dup",
    "umask",
    "ioctl",
    "fcntl",
];

pub(super) fn random_action(random: &mut Random) -> Action {
    match random.below(5) {
        0 | 1 => Action::Allow,
        2 => Action::Errno(1 + random.below(4094) as i32),
        3 => Action::Log,
        _ => Action::Errno(1 + random.below(40) as i32),
    }
}

pub(super) fn random_op(random: &mut Random) -> ArgCmpOp {
    *random.pick(&[
        ArgCmpOp::Eq,
        ArgCmpOp::Ne,
        ArgCmpOp::Lt,
        ArgCmpOp::Le,
        ArgCmpOp::Gt,
        ArgCmpOp::Ge,
        ArgCmpOp::MaskedEq,
    ])
}

/// A profile of 1 to 6 rules over `POOL`, each with 0 to 3 comparisons on
/// the first three arguments.
pub(super) fn random_filter(random: &mut Random) -> Filter {
    let mut filter = Filter::new(random_action(random));
    filter.add_arch(Arch::X86);
    for _ in 0..1 + random.below(6) {
        let name = *random.pick(&POOL);
        let args: Vec<ArgCmp> = (0..random.below(4))
            .map(|_| {
                let a = edge_value(random, &[]);
                let b = edge_value(random, &[a]);
                ArgCmp::new(random.below(3) as u32, random_op(random), a, b)
            })
            .collect();
        filter.add_rule_conditional(random_action(random), name, &args);
    }
    filter
}

/// Arguments near the values `filter` compares with.
pub(super) fn random_args(random: &mut Random, filter: &Filter) -> [u64; 6] {
    let data: Vec<u64> = filter
        .rules
        .iter()
        .flat_map(|rule| rule.args.iter().flat_map(|cmp| [cmp.datum_a, cmp.datum_b]))
        .collect();
    let mut args = [0; 6];
    for arg in &mut args[..3] {
        *arg = edge_value(random, &data);
    }
    args
}

/// What the profile means, read directly: the first rule for this syscall
/// whose comparisons all hold, else the default.
pub(super) fn reference(filter: &Filter, arch: Arch, nr: u32, args: [u64; 6]) -> Action {
    for rule in &filter.rules {
        if !rule.names.iter().any(|name| arch.syscall(name) == Some(nr)) {
            continue;
        }
        let holds = rule.args.iter().all(|cmp| {
            let mut arg = args[cmp.arg as usize];
            if arch.is_32bit() {
                arg &= 0xffff_ffff;
            }
            match cmp.op {
                ArgCmpOp::Eq => arg == cmp.datum_a,
                ArgCmpOp::Ne => arg != cmp.datum_a,
                ArgCmpOp::Lt => arg < cmp.datum_a,
                ArgCmpOp::Le => arg <= cmp.datum_a,
                ArgCmpOp::Gt => arg > cmp.datum_a,
                ArgCmpOp::Ge => arg >= cmp.datum_a,
                ArgCmpOp::MaskedEq => arg & cmp.datum_a == cmp.datum_b,
            }
        });
        if holds {
            return rule.action;
        }
    }
    filter.default_action
}

#[test]
fn random_profiles_compile_to_what_they_mean() {
    let mut random = Random::new(0x5eed);
    for _ in 0..2000 {
        let filter = random_filter(&mut random);
        assert_compiled_as_meant(&filter, &mut random, 20);
    }
}

/// Long enough that jumps cannot reach their targets (255 instructions at
/// most): the layout steps in with `ja`s and repeated `ret`s.
#[test]
fn long_profiles_compile_to_what_they_mean() {
    let mut random = Random::new(0x10ad);
    for _ in 0..20 {
        let mut filter = Filter::new(random_action(&mut random));
        filter.add_arch(Arch::X86);
        for _ in 0..150 {
            let name = *random.pick(&POOL);
            let args: Vec<ArgCmp> = (0..3)
                .map(|arg| {
                    let a = edge_value(&mut random, &[]);
                    let b = edge_value(&mut random, &[a]);
                    ArgCmp::new(arg, random_op(&mut random), a, b)
                })
                .collect();
            filter.add_rule_conditional(random_action(&mut random), name, &args);
        }
        let length = compile(&filter, &x86_64_target(0))
            .unwrap()
            .program
            .instructions
            .len();
        assert!(length > 4 * 255, "only {length} instructions");
        assert_compiled_as_meant(&filter, &mut random, 500);
    }
}

/// Compiles `filter` and checks the verdicts of `times` random calls of
/// `POOL` against what the profile means.
fn assert_compiled_as_meant(filter: &Filter, random: &mut Random, times: usize) {
    let compiled = compile(filter, &x86_64_target(0)).unwrap();
    for _ in 0..times {
        let arch = *random.pick(&[Arch::X86_64, Arch::X86]);
        let name = *random.pick(&POOL);
        let nr = arch.syscall(name).unwrap();
        let args = random_args(random, filter);
        assert_eq!(
            verdict(&compiled, arch, nr, args),
            ret(reference(filter, arch, nr, args)),
            "{name} on {arch} with {args:x?} under {filter:#?}"
        );
    }
}

/// An endless file (a device, a pipe) is an error, not all of the memory.
#[test]
fn a_profile_file_is_read_up_to_16_mib() {
    let err = Filter::from_file("/dev/zero").unwrap_err();
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("larger than 16 MiB"), "{err}");
}
