//! Landlock: what the program may reach even inside its own view of the
//! filesystem and network.
//!
//! A [`Ruleset`] says which kinds of access are *restricted* (everything
//! of that kind is denied) and which are then *allowed* again: paths with
//! `r`, `w`, `x` access, TCP ports for bind or connect. Scopes cut the
//! program off from abstract unix sockets and processes outside the
//! sandbox. Paths are paths inside the sandbox.
//!
//! The halves: `abi.rs` decides, in the caller, which rights the running
//! kernel can enforce and what the [`CompatMode`] makes of the rest;
//! `plan.rs` lowers the ruleset to the structures the child passes to the
//! kernel; `apply.rs` is the child's part, system calls only;
//! `enforcement.rs` is what the caller is told was enforced.

mod abi;
pub(crate) mod apply;
mod enforcement;
pub(crate) mod plan;

use std::collections::BTreeSet;
use std::fmt;
use std::ops::BitOr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use enforcement::{Enforcement, MissingRight};

/// A kind of access that a [`Ruleset`] can restrict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// Every filesystem access: reading, writing, executing, creating,
    /// removing, renaming, truncating files, `ioctl` on devices.
    Fs,
    /// Binding TCP sockets to ports.
    TcpBind,
    /// Connecting TCP sockets to ports.
    TcpConnect,
}

impl Resource {
    /// Every resource, in the order of their names.
    pub const ALL: [Resource; 3] = [Resource::Fs, Resource::TcpBind, Resource::TcpConnect];
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resource::Fs => "fs",
            Resource::TcpBind => "tcp.bind",
            Resource::TcpConnect => "tcp.connect",
        })
    }
}

impl FromStr for Resource {
    type Err = ParseError;

    /// `fs`, `tcp.bind` or `tcp.connect`.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Resource::ALL
            .into_iter()
            .find(|resource| resource.to_string() == s)
            .ok_or_else(|| ParseError::new("restriction", s, "fs, tcp.bind or tcp.connect"))
    }
}

/// What a program may do beneath a path once [`Resource::Fs`] is
/// restricted: any union of [`R`](Self::R), [`W`](Self::W), [`X`](Self::X).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FsAccess(u8);

impl FsAccess {
    /// Read files, list directories.
    pub const R: FsAccess = FsAccess(1);
    /// Write, create, remove, rename, link, truncate files and
    /// directories; `ioctl` on devices.
    pub const W: FsAccess = FsAccess(2);
    /// Execute files.
    pub const X: FsAccess = FsAccess(4);

    /// Whether every access of `other` is in `self`.
    pub fn contains(self, other: FsAccess) -> bool {
        self.0 & other.0 == other.0
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for FsAccess {
    type Output = FsAccess;

    fn bitor(self, other: FsAccess) -> FsAccess {
        FsAccess(self.0 | other.0)
    }
}

impl fmt::Display for FsAccess {
    /// `r`, `rw`, `rx`, `rwx`…
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (access, letter) in [(FsAccess::R, "r"), (FsAccess::W, "w"), (FsAccess::X, "x")] {
            if self.contains(access) {
                f.write_str(letter)?;
            }
        }
        Ok(())
    }
}

impl FromStr for FsAccess {
    type Err = ParseError;

    /// Letters among `r`, `w`, `x`, as in `rx` (the form of hakoniwa 1.x
    /// profiles).
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let invalid = || ParseError::new("filesystem access", s, "letters among r, w and x");
        let mut access = FsAccess(0);
        for letter in s.chars() {
            access = access
                | match letter {
                    'r' => FsAccess::R,
                    'w' => FsAccess::W,
                    'x' => FsAccess::X,
                    _ => return Err(invalid()),
                };
        }
        if access.is_empty() {
            return Err(invalid());
        }
        Ok(access)
    }
}

/// What a program may do with a TCP port once the matching resource is
/// restricted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetAccess {
    /// Bind a TCP socket to the port.
    TcpBind,
    /// Connect a TCP socket to the port.
    TcpConnect,
}

impl NetAccess {
    /// The resource this access is an exception to.
    pub fn resource(self) -> Resource {
        match self {
            NetAccess::TcpBind => Resource::TcpBind,
            NetAccess::TcpConnect => Resource::TcpConnect,
        }
    }
}

/// Something outside the sandbox the program can be cut off from
/// (landlock ABI 6, Linux 6.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Connecting to abstract unix sockets created outside the sandbox
    /// (X11's `@/tmp/.X11-unix/X0`, D-Bus session buses).
    AbstractUnixSocket,
    /// Sending signals to processes outside the sandbox.
    Signal,
}

impl Scope {
    /// Every scope, in the order of their names.
    pub const ALL: [Scope; 2] = [Scope::AbstractUnixSocket, Scope::Signal];
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::AbstractUnixSocket => "abstract-unix",
            Scope::Signal => "signal",
        })
    }
}

impl FromStr for Scope {
    type Err = ParseError;

    /// `abstract-unix` or `signal`.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.to_string() == s)
            .ok_or_else(|| ParseError::new("landlock scope", s, "abstract-unix or signal"))
    }
}

/// What to do when the kernel cannot enforce everything a ruleset asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CompatMode {
    /// Refuse to run: spawning fails with [`Error::Landlock`](crate::Error::Landlock),
    /// which names each right that is missing and the ABI it needs.
    #[default]
    HardRequirement,
    /// Run with what the kernel enforces (possibly nothing) and say so in
    /// [`ExitStatus::landlock`](crate::ExitStatus::landlock).
    BestEffort,
}

impl fmt::Display for CompatMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompatMode::HardRequirement => "hard-requirement",
            CompatMode::BestEffort => "best-effort",
        })
    }
}

impl FromStr for CompatMode {
    type Err = ParseError;

    /// `hard-requirement` or `best-effort`.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        [CompatMode::HardRequirement, CompatMode::BestEffort]
            .into_iter()
            .find(|mode| mode.to_string() == s)
            .ok_or_else(|| {
                ParseError::new(
                    "landlock compatibility",
                    s,
                    "hard-requirement or best-effort",
                )
            })
    }
}

/// A name that is not one of the known ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} (expected {expected})")]
pub struct ParseError {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl ParseError {
    fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        Self {
            what,
            value: value.to_string(),
            expected,
        }
    }
}

/// An exception to [`Resource::Fs`]: `access` beneath `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FsRule {
    pub path: PathBuf,
    pub access: FsAccess,
    /// Skipped, instead of failing the run, when `path` does not exist in
    /// the sandbox.
    pub optional: bool,
}

/// An exception to [`Resource::TcpBind`] or [`Resource::TcpConnect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NetRule {
    pub port: u16,
    pub access: NetAccess,
}

/// Landlock rules for a sandbox, given to
/// [`Container::landlock_ruleset`](crate::Container::landlock_ruleset).
///
/// ```
/// use hakoniwa::landlock::{FsAccess, NetAccess, Ruleset};
///
/// // Read the system, write only /tmp, connect only to port 443.
/// let mut ruleset = Ruleset::new();
/// ruleset
///     .add_fs_rule("/usr", FsAccess::R | FsAccess::X)
///     .add_fs_rule("/etc", FsAccess::R)
///     .add_fs_rule("/tmp", FsAccess::R | FsAccess::W)
///     .add_net_rule(443, NetAccess::TcpConnect);
/// ```
///
/// Rules are checked when a command spawns: a path must be absolute, and
/// under [`CompatMode::HardRequirement`] (the default) the kernel must be
/// able to enforce every restriction. A path that does not exist in the
/// sandbox stops the run, unless its rule was added with
/// [`add_optional_fs_rule`](Self::add_optional_fs_rule).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub(crate) restrictions: BTreeSet<Resource>,
    pub(crate) fs_rules: Vec<FsRule>,
    pub(crate) net_rules: Vec<NetRule>,
    pub(crate) scopes: BTreeSet<Scope>,
    pub(crate) compat: CompatMode,
}

impl Ruleset {
    /// A ruleset that restricts nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Denies every access of the kind `resource`, except what rules
    /// allow.
    pub fn restrict(&mut self, resource: Resource) -> &mut Self {
        self.restrictions.insert(resource);
        self
    }

    /// Allows `access` beneath `path` (a path in the sandbox); restricts
    /// [`Resource::Fs`].
    pub fn add_fs_rule<P: AsRef<Path>>(&mut self, path: P, access: FsAccess) -> &mut Self {
        self.push_fs_rule(path.as_ref(), access, false)
    }

    /// Like [`add_fs_rule`](Self::add_fs_rule), but the rule is skipped
    /// when `path` does not exist in the sandbox.
    pub fn add_optional_fs_rule<P: AsRef<Path>>(&mut self, path: P, access: FsAccess) -> &mut Self {
        self.push_fs_rule(path.as_ref(), access, true)
    }

    fn push_fs_rule(&mut self, path: &Path, access: FsAccess, optional: bool) -> &mut Self {
        self.fs_rules.push(FsRule {
            path: path.to_path_buf(),
            access,
            optional,
        });
        self.restrict(Resource::Fs)
    }

    /// Allows `access` on TCP `port`; restricts the matching resource.
    pub fn add_net_rule(&mut self, port: u16, access: NetAccess) -> &mut Self {
        self.net_rules.push(NetRule { port, access });
        self.restrict(access.resource())
    }

    /// Cuts the program off from what `scope` names outside the sandbox.
    pub fn scope(&mut self, scope: Scope) -> &mut Self {
        self.scopes.insert(scope);
        self
    }

    /// What to do when the kernel cannot enforce it all.
    pub fn compat(&mut self, mode: CompatMode) -> &mut Self {
        self.compat = mode;
        self
    }

    /// Whether the ruleset restricts anything at all.
    pub fn is_empty(&self) -> bool {
        self.restrictions.is_empty() && self.scopes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for resource in Resource::ALL {
            assert_eq!(resource.to_string().parse(), Ok(resource));
        }
        for scope in Scope::ALL {
            assert_eq!(scope.to_string().parse(), Ok(scope));
        }
        assert_eq!("best-effort".parse(), Ok(CompatMode::BestEffort));
        let err = "udp".parse::<Resource>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown restriction \"udp\" (expected fs, tcp.bind or tcp.connect)"
        );
    }

    #[test]
    fn fs_access_reads_letters() {
        assert_eq!("rx".parse(), Ok(FsAccess::R | FsAccess::X));
        assert_eq!((FsAccess::W | FsAccess::R).to_string(), "rw");
        assert!("".parse::<FsAccess>().is_err());
        assert!("rq".parse::<FsAccess>().is_err());
    }

    #[test]
    fn rules_imply_their_restriction() {
        let mut ruleset = Ruleset::new();
        assert!(ruleset.is_empty());
        ruleset
            .add_fs_rule("/usr", FsAccess::R)
            .add_net_rule(443, NetAccess::TcpConnect);
        let expected = BTreeSet::from([Resource::Fs, Resource::TcpConnect]);
        assert_eq!(ruleset.restrictions, expected);
        assert!(!ruleset.is_empty());
    }
}
