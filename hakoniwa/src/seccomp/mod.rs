//! Seccomp: a syscall filter for the program, given as a profile (rules
//! by syscall name) and compiled to classic BPF in the caller.
//!
//! - [`Filter`]: the profile model, built in code or loaded from the
//!   Docker/OCI JSON format ([`Filter::from_json`], [`Filter::from_file`]);
//! - built-in profiles: [`Filter::podman`], [`Filter::hardened`] (the
//!   `default` of the CLI), [`Filter::audit`];
//! - `compile.rs`: profile → BPF, before the sandbox's process exists;
//!   the program installs it with one system call, right before `execve`.
//!
//! Rules are looked at in the order they were added: for a syscall, the
//! first rule whose argument comparisons all hold gives the action; a
//! syscall no rule matches gets the default action. A syscall from an
//! architecture the filter does not cover kills the process.

mod arch;
pub(crate) mod bpf;
pub(crate) mod compile;
mod json;
#[cfg(test)]
mod kernel_tests;
mod layout;
pub(crate) mod prebuilt;
mod presets;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use arch::Arch;
pub use presets::UserNamespaces;

/// What happens to a syscall a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The syscall runs.
    Allow,
    /// The syscall fails with this errno, without running.
    Errno(i32),
    /// The whole process is killed (as by an uncaught `SIGSYS`).
    KillProcess,
    /// The calling thread is killed.
    KillThread,
    /// The syscall runs and is logged by the audit subsystem.
    Log,
    /// A ptrace tracer is notified with this value; without a tracer the
    /// syscall fails with `ENOSYS`.
    Trace(u16),
    /// The thread gets a `SIGSYS`.
    Trap,
}

/// A comparison operator of an [`ArgCmp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgCmpOp {
    /// `arg != datum_a`
    Ne,
    /// `arg < datum_a`
    Lt,
    /// `arg <= datum_a`
    Le,
    /// `arg == datum_a`
    Eq,
    /// `arg > datum_a`
    Gt,
    /// `arg >= datum_a`
    Ge,
    /// `arg & datum_a == datum_b`
    MaskedEq,
}

/// A condition on one argument of a syscall (unsigned, 64 bits; on a
/// 32-bit architecture the argument is its low 32 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgCmp {
    pub(crate) arg: u32,
    pub(crate) op: ArgCmpOp,
    pub(crate) datum_a: u64,
    pub(crate) datum_b: u64,
}

impl ArgCmp {
    /// Argument `arg` (0 to 5) compared with `datum_a` (and, for
    /// [`ArgCmpOp::MaskedEq`], masked with `datum_a` and compared with
    /// `datum_b`).
    pub fn new(arg: u32, op: ArgCmpOp, datum_a: u64, datum_b: u64) -> Self {
        Self {
            arg,
            op,
            datum_a,
            datum_b,
        }
    }
}

/// When a rule applies, as the Docker format's `includes` and `excludes`
/// say: checked against the host and the capabilities the program holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Condition {
    /// Go names of architectures (`amd64`, `arm64`…) the rule is for.
    pub include_arches: Vec<String>,
    /// … and those it is not for.
    pub exclude_arches: Vec<String>,
    /// The rule applies only if the program holds all of these.
    pub include_caps: u64,
    /// The rule does not apply if the program holds any of these.
    pub exclude_caps: u64,
    /// The rule applies only on this kernel (major, minor) or newer.
    pub min_kernel: Option<(u32, u32)>,
    /// The rule does not apply on this kernel or newer.
    pub exclude_min_kernel: Option<(u32, u32)>,
}

/// One rule: an action for some syscalls, maybe only when their arguments
/// compare as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    pub args: Vec<ArgCmp>,
    pub condition: Condition,
    /// Where the rule came from, for messages (`syscalls[3]`).
    pub origin: String,
    /// Its names and argument indices were checked when it was made (by
    /// the JSON loader, or as constants under test); the compiler checks
    /// the others. Looking a name up in every architecture's table is the
    /// slowest part of a compile.
    pub checked: bool,
}

/// A seccomp profile: a default action, the architectures covered, and
/// rules in order.
///
/// ```
/// use hakoniwa::seccomp::{Action, ArgCmp, ArgCmpOp, Filter};
///
/// let mut filter = Filter::new(Action::Errno(libc::EPERM));
/// filter
///     .add_rule(Action::Allow, "read")
///     .add_rule_conditional(Action::Allow, "personality", &[ArgCmp::new(0, ArgCmpOp::Eq, 0, 0)]);
/// assert_eq!(filter.rule_count(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub(crate) name: String,
    pub(crate) default_action: Action,
    /// Architectures besides the host's own, which is always covered.
    pub(crate) architectures: Vec<Arch>,
    pub(crate) rules: Vec<Rule>,
    /// `SECCOMP_FILTER_FLAG_*` to install with.
    pub(crate) flags: u32,
}

impl Filter {
    /// A filter with no rule: every syscall gets `default_action`. It
    /// covers the host's architecture; see [`add_arch`](Self::add_arch).
    pub fn new(default_action: Action) -> Self {
        Self {
            name: "custom".to_string(),
            default_action,
            architectures: Vec::new(),
            rules: Vec::new(),
            flags: 0,
        }
    }

    /// Names the filter in messages and logs.
    pub fn name(&mut self, name: &str) -> &mut Self {
        self.name = name.to_string();
        self
    }

    /// Covers `arch` too (the host's compat architecture, such as
    /// [`Arch::X86`] on x86-64). Syscalls from an architecture not
    /// covered kill the process. [`Arch::X32`] is accepted but never
    /// compiled: x32 syscalls always kill.
    pub fn add_arch(&mut self, arch: Arch) -> &mut Self {
        if !self.architectures.contains(&arch) {
            self.architectures.push(arch);
        }
        self
    }

    /// Adds a rule: `action` for every call of `syscall`.
    pub fn add_rule(&mut self, action: Action, syscall: &str) -> &mut Self {
        self.add_rule_conditional(action, syscall, &[])
    }

    /// Adds a rule: `action` for the calls of `syscall` whose arguments
    /// satisfy every comparison in `args`.
    pub fn add_rule_conditional(
        &mut self,
        action: Action,
        syscall: &str,
        args: &[ArgCmp],
    ) -> &mut Self {
        let origin = format!("rule #{}", self.rules.len());
        self.rules.push(Rule {
            names: vec![syscall.to_string()],
            action,
            args: args.to_vec(),
            condition: Condition::default(),
            origin,
            checked: false,
        });
        self
    }

    /// The number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The filter's name: a built-in profile's, a file's path, or `custom`.
    pub fn profile_name(&self) -> &str {
        &self.name
    }

    /// Loads a profile in the Docker/OCI JSON format; `name` names it in
    /// messages.
    pub fn from_json(name: &str, text: &str) -> Result<Self, Error> {
        json::parse(name, text, json::Names::Check)
    }

    /// Loads a profile file in the Docker/OCI JSON format.
    pub fn from_file<P: AsRef<Path>>(path: P) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = read_bounded(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        json::parse(&path.display().to_string(), &text, json::Names::Check)
    }
}

/// The file's text, at most 16 MiB of it (podman's profile is 17 KiB), so
/// that `/dev/zero` or an endless pipe is an error, not all of the memory.
fn read_bounded(path: &Path) -> io::Result<String> {
    use std::io::Read;
    const LIMIT: u64 = 16 << 20;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(LIMIT + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > LIMIT {
        return Err(io::Error::other("larger than 16 MiB"));
    }
    Ok(text)
}

/// A profile that cannot be loaded or compiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file cannot be read.
    #[error("failed to read seccomp profile {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The text is not a profile.
    #[error("invalid seccomp profile {profile}: {source}")]
    Json {
        /// The profile's name or file.
        profile: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// An entry of the profile is wrong.
    #[error("invalid seccomp profile {profile}: {entry}: {reason}")]
    Invalid {
        /// The profile's name or file.
        profile: String,
        /// Which entry (`syscalls[3]`, `defaultAction`).
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A syscall name that no Linux architecture has.
    #[error("invalid seccomp profile {profile}: {entry}: unknown system call {name:?}")]
    UnknownSyscall {
        /// The profile's name or file.
        profile: String,
        /// Which entry.
        entry: String,
        /// The name.
        name: String,
    },
    /// This machine's architecture is not one hakoniwa compiles filters for.
    #[error("seccomp filters are not supported on this architecture (only x86_64 and aarch64)")]
    UnsupportedArch,
    /// The filter is larger than the kernel accepts.
    #[error("seccomp profile {profile} compiles to {length} BPF instructions, more than the kernel's limit of {limit}")]
    TooLong {
        /// The profile's name or file.
        profile: String,
        /// Its length.
        length: usize,
        /// `BPF_MAXINSNS`.
        limit: usize,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Allow => f.write_str("allow"),
            Action::Errno(errno) => write!(f, "errno {errno}"),
            Action::KillProcess => f.write_str("kill-process"),
            Action::KillThread => f.write_str("kill-thread"),
            Action::Log => f.write_str("log"),
            Action::Trace(data) => write!(f, "trace {data}"),
            Action::Trap => f.write_str("trap"),
        }
    }
}
