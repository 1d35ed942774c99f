//! The built-in profiles: `podman` as containers/common ships it, `default`
//! (podman plus what matters outside a container engine), and `audit`.

use std::sync::OnceLock;

use super::{arch, json};
use super::{Action, ArgCmp, ArgCmpOp, Condition, Filter, Rule};

/// The containers/common default profile, unmodified (see
/// `assets/seccomp/README.md` for its origin and license).
const PODMAN_JSON: &str = include_str!("../../assets/seccomp/podman.json");

/// Whether the `default` profile lets the program create user namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserNamespaces {
    /// `unshare`/`clone` with `CLONE_NEWUSER` fail with `EPERM`, and
    /// `clone3` (whose flags a filter cannot read) with `ENOSYS`, so that
    /// C libraries fall back to `clone`.
    Deny,
    /// As `podman` does.
    Allow,
}

impl Filter {
    /// The default profile of podman (containers/common), as it ships:
    /// unknown syscalls fail with `ENOSYS`, privileged ones with `EPERM`
    /// unless the program holds the capability they need.
    pub fn podman() -> Self {
        static PODMAN: OnceLock<Filter> = OnceLock::new();
        PODMAN
            .get_or_init(|| {
                json::parse("podman", PODMAN_JSON, json::Names::Trust)
                    .expect("the embedded profile is valid")
            })
            .clone()
    }

    /// `default`: [`podman`](Self::podman) with rules in front that also
    /// refuse, whatever the program's capabilities:
    ///
    /// - the keyring (`keyctl`, `add_key`, `request_key`: `EPERM`), which
    ///   is not namespaced: the session keyring is the caller's;
    /// - `ioctl` `TIOCSTI` and `TIOCLINUX` (`EPERM`), which push keystrokes
    ///   into a terminal the sandbox shares with the caller; only the low
    ///   32 bits of the request are compared, as the kernel only reads them;
    /// - `perf_event_open` and `userfaultfd` (`EPERM`), and `io_uring_*`
    ///   (`ENOSYS`, so programs fall back to `epoll`): large kernel attack
    ///   surfaces sandboxed programs do not need;
    /// - with [`UserNamespaces::Deny`], new user namespaces.
    pub fn hardened(user_namespaces: UserNamespaces) -> Self {
        let mut filter = Filter::podman();
        filter.name = "default".to_string();
        let mut rules = hardening(user_namespaces);
        rules.append(&mut filter.rules);
        filter.rules = rules;
        filter
    }

    /// `audit`: every syscall is allowed and logged (`SECCOMP_RET_LOG`),
    /// from the host's architecture and its compat one.
    pub fn audit() -> Self {
        let mut filter = Filter::new(Action::Log);
        filter.name("audit");
        if let Some(compat) = arch::host().and_then(|host| host.compat) {
            filter.add_arch(compat);
        }
        filter
    }
}

/// The whole 32-bit `ioctl` request: the kernel truncates it to an
/// `unsigned int`, so bits above 31 must not let a request slip past.
const IOCTL_REQUEST_MASK: u64 = 0xffff_ffff;
/// `TIOCSTI` (`<asm-generic/ioctls.h>`, the same on x86 and arm): push a
/// byte into a terminal's input.
pub(crate) const TIOCSTI: u64 = 0x5412;
/// `TIOCLINUX`: its subcommand 2 selects and pastes console text.
pub(crate) const TIOCLINUX: u64 = 0x541c;

fn hardening(user_namespaces: UserNamespaces) -> Vec<Rule> {
    let eperm = Action::Errno(libc::EPERM);
    let enosys = Action::Errno(libc::ENOSYS);
    let newuser = libc::CLONE_NEWUSER as u64;
    let request = |value: u64| ArgCmp::new(1, ArgCmpOp::MaskedEq, IOCTL_REQUEST_MASK, value);
    let mut rules = vec![
        rule("keyring", &["keyctl", "add_key", "request_key"], eperm, &[]),
        rule("TIOCSTI", &["ioctl"], eperm, &[request(TIOCSTI)]),
        rule("TIOCLINUX", &["ioctl"], eperm, &[request(TIOCLINUX)]),
        rule("perf", &["perf_event_open"], eperm, &[]),
        rule("userfaultfd", &["userfaultfd"], eperm, &[]),
        rule(
            "io_uring",
            &["io_uring_setup", "io_uring_enter", "io_uring_register"],
            enosys,
            &[],
        ),
    ];
    if user_namespaces == UserNamespaces::Deny {
        let flags = [ArgCmp::new(0, ArgCmpOp::MaskedEq, newuser, newuser)];
        rules.push(rule(
            "user namespaces",
            &["unshare", "clone"],
            eperm,
            &flags,
        ));
        rules.push(rule("user namespaces (clone3)", &["clone3"], enosys, &[]));
    }
    rules
}

fn rule(what: &str, names: &[&str], action: Action, args: &[ArgCmp]) -> Rule {
    Rule {
        names: names.iter().map(|n| n.to_string()).collect(),
        action,
        args: args.to_vec(),
        condition: Condition::default(),
        origin: format!("default hardening: {what}"),
        checked: true,
    }
}
