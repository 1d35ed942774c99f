//! ABI negotiation, in the caller: which rights a ruleset asks the kernel
//! to handle, which of them the running kernel knows, and what the
//! [`CompatMode`] makes of the difference.
//!
//! The table of which ABI introduced which right is the `landlock` crate's
//! (`Access::from_all`); the kernel's ABI is read with one system call.

use landlock::{make_bitflags, Access, AccessFs, AccessNet, BitFlags, Scope as ScopeRight, ABI};

use super::{CompatMode, Enforcement, FsAccess, MissingRight, NetAccess, Resource, Ruleset, Scope};

/// The newest ABI whose rights hakoniwa handles. Pinned rather than read
/// from the kernel, so that a ruleset means the same on every machine:
/// restricting `fs` always includes `truncate` (ABI 3) and `ioctl_dev`
/// (ABI 5). Rights of later ABIs (`resolve_unix`, UDP) are not handled.
const TARGET: ABI = ABI::V6;

/// The ABIs up to [`TARGET`], oldest first.
const ABIS: [ABI; 6] = [ABI::V1, ABI::V2, ABI::V3, ABI::V4, ABI::V5, ABI::V6];

/// The rights that apply to a file that is not a directory; a rule on a
/// file may only allow these (the kernel refuses others with `EINVAL`).
pub(super) const FILE_RIGHTS: BitFlags<AccessFs> =
    make_bitflags!(AccessFs::{ReadFile | WriteFile | Execute | Truncate | IoctlDev});

/// What the running kernel offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Landlock with this ABI version (1 or more).
    Abi(u32),
    /// Built without landlock (`ENOSYS`).
    NotBuilt,
    /// Built with landlock, not enabled at boot (`EOPNOTSUPP`).
    NotEnabled,
}

impl Kernel {
    /// Asks the running kernel.
    pub(crate) fn current() -> Kernel {
        match crate::sys::landlock_abi_version() {
            Ok(version) => Kernel::Abi(version),
            Err(nix::errno::Errno::EOPNOTSUPP) => Kernel::NotEnabled,
            Err(_) => Kernel::NotBuilt,
        }
    }

    pub(crate) fn abi(self) -> u32 {
        match self {
            Kernel::Abi(version) => version,
            Kernel::NotBuilt | Kernel::NotEnabled => 0,
        }
    }

    /// Why the kernel lacks rights, in words, for messages.
    pub(crate) fn describe(self) -> String {
        match self {
            Kernel::Abi(version) => format!("the kernel has landlock ABI {version}"),
            Kernel::NotBuilt => "the kernel has no landlock (not built in)".to_string(),
            Kernel::NotEnabled => "landlock is not enabled in this kernel".to_string(),
        }
    }

    /// How to get the missing rights, or to run without them.
    pub(crate) fn hint(self) -> String {
        let fix = match self {
            Kernel::Abi(_) => "use a newer kernel",
            Kernel::NotBuilt => "use a kernel built with CONFIG_SECURITY_LANDLOCK=y",
            Kernel::NotEnabled => {
                "add landlock to the lsm= kernel parameter (/sys/kernel/security/lsm lists the active ones)"
            }
        };
        format!("{fix}, or accept partial enforcement with --landlock-compat best-effort (CompatMode::BestEffort)")
    }

    fn crate_abi(self) -> ABI {
        // The crate maps versions above those it knows to the newest it
        // knows; everything here stops at TARGET anyway.
        ABI::from(i32::try_from(self.abi()).unwrap_or(i32::MAX))
    }
}

/// The access masks of a ruleset, as `struct landlock_ruleset_attr` holds
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rights {
    pub fs: u64,
    pub net: u64,
    pub scoped: u64,
}

impl Rights {
    fn intersect(self, other: Rights) -> Rights {
        Rights {
            fs: self.fs & other.fs,
            net: self.net & other.net,
            scoped: self.scoped & other.scoped,
        }
    }

    fn without(self, other: Rights) -> Rights {
        Rights {
            fs: self.fs & !other.fs,
            net: self.net & !other.net,
            scoped: self.scoped & !other.scoped,
        }
    }

    pub(crate) fn is_empty(self) -> bool {
        self.fs == 0 && self.net == 0 && self.scoped == 0
    }
}

/// The rights `ruleset` asks the kernel to handle (deny unless allowed).
fn requested(ruleset: &Ruleset) -> Rights {
    let mut rights = Rights::default();
    for resource in &ruleset.restrictions {
        match resource {
            Resource::Fs => rights.fs |= AccessFs::from_all(TARGET).bits(),
            Resource::TcpBind => rights.net |= AccessNet::BindTcp as u64,
            Resource::TcpConnect => rights.net |= AccessNet::ConnectTcp as u64,
        }
    }
    for scope in &ruleset.scopes {
        rights.scoped |= match scope {
            Scope::AbstractUnixSocket => ScopeRight::AbstractUnixSocket as u64,
            Scope::Signal => ScopeRight::Signal as u64,
        };
    }
    rights
}

/// The rights of [`TARGET`] that `kernel` can handle.
fn supported(kernel: Kernel) -> Rights {
    let abi = kernel.crate_abi();
    let target = Rights {
        fs: AccessFs::from_all(TARGET).bits(),
        net: AccessNet::from_all(TARGET).bits(),
        scoped: ScopeRight::from_all(TARGET).bits(),
    };
    let kernel = Rights {
        fs: AccessFs::from_all(abi).bits(),
        net: AccessNet::from_all(abi).bits(),
        scoped: ScopeRight::from_all(abi).bits(),
    };
    target.intersect(kernel)
}

/// The kernel rights an [`FsAccess`] allows.
pub(super) fn fs_rights(access: FsAccess) -> u64 {
    let mut rights = BitFlags::<AccessFs>::EMPTY;
    if access.contains(FsAccess::R) {
        rights |= AccessFs::ReadFile | AccessFs::ReadDir;
    }
    if access.contains(FsAccess::W) {
        rights |= AccessFs::from_write(TARGET);
    }
    if access.contains(FsAccess::X) {
        rights |= AccessFs::Execute;
    }
    rights.bits()
}

/// The kernel right a [`NetAccess`] allows.
pub(super) fn net_right(access: NetAccess) -> u64 {
    match access {
        NetAccess::TcpBind => AccessNet::BindTcp as u64,
        NetAccess::TcpConnect => AccessNet::ConnectTcp as u64,
    }
}

/// What the kernel will be asked to handle, and what that leaves out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub handled: Rights,
    pub enforcement: Enforcement,
}

/// Negotiates `ruleset` with `kernel`. Under [`CompatMode::HardRequirement`]
/// any missing right is an error: the list of them, for the message.
pub(crate) fn negotiate(
    ruleset: &Ruleset,
    kernel: Kernel,
) -> Result<Negotiated, Vec<MissingRight>> {
    let requested = requested(ruleset);
    let handled = requested.intersect(supported(kernel));
    let mut unenforced = requested.without(handled);
    // Without `refer` (ABI 1) the kernel denies every rename or link
    // across directories: stricter than asked, not weaker.
    unenforced.fs &= !(AccessFs::Refer as u64);
    let missing = missing_rights(unenforced);
    if !missing.is_empty() && ruleset.compat == CompatMode::HardRequirement {
        return Err(missing);
    }
    Ok(Negotiated {
        handled,
        enforcement: Enforcement {
            kernel_abi: kernel.abi(),
            missing,
        },
    })
}

/// Each right in `rights`, named, with the ABI that introduced it.
fn missing_rights(rights: Rights) -> Vec<MissingRight> {
    let mut missing = Vec::new();
    let basic_fs = AccessFs::from_all(ABI::V1).bits();
    let fs = if rights.fs & basic_fs == basic_fs {
        // No landlock at all: one entry says it better than sixteen.
        missing.push(MissingRight {
            name: "fs",
            abi: ABI::V1 as u32,
        });
        0
    } else {
        rights.fs
    };
    for right in BitFlags::<AccessFs>::from_bits_truncate(fs).iter() {
        missing.push(MissingRight {
            name: fs_name(right),
            abi: introduced(BitFlags::from(right)),
        });
    }
    for right in BitFlags::<AccessNet>::from_bits_truncate(rights.net).iter() {
        missing.push(MissingRight {
            name: net_name(right),
            abi: introduced(BitFlags::from(right)),
        });
    }
    for right in BitFlags::<ScopeRight>::from_bits_truncate(rights.scoped).iter() {
        missing.push(MissingRight {
            name: scope_name(right),
            abi: introduced(BitFlags::from(right)),
        });
    }
    missing
}

/// The first ABI whose rights include `right`.
fn introduced<A: Access>(right: BitFlags<A>) -> u32 {
    ABIS.into_iter()
        .find(|abi| A::from_all(*abi).contains(right))
        .map_or(TARGET as u32, |abi| abi as u32)
}

fn fs_name(right: AccessFs) -> &'static str {
    match right {
        AccessFs::Execute => "fs.execute",
        AccessFs::WriteFile => "fs.write_file",
        AccessFs::ReadFile => "fs.read_file",
        AccessFs::ReadDir => "fs.read_dir",
        AccessFs::RemoveDir => "fs.remove_dir",
        AccessFs::RemoveFile => "fs.remove_file",
        AccessFs::MakeChar => "fs.make_char",
        AccessFs::MakeDir => "fs.make_dir",
        AccessFs::MakeReg => "fs.make_reg",
        AccessFs::MakeSock => "fs.make_sock",
        AccessFs::MakeFifo => "fs.make_fifo",
        AccessFs::MakeBlock => "fs.make_block",
        AccessFs::MakeSym => "fs.make_sym",
        AccessFs::Refer => "fs.refer",
        AccessFs::Truncate => "fs.truncate",
        AccessFs::IoctlDev => "fs.ioctl_dev",
        _ => "fs (a newer right)",
    }
}

fn net_name(right: AccessNet) -> &'static str {
    match right {
        AccessNet::BindTcp => "tcp.bind",
        AccessNet::ConnectTcp => "tcp.connect",
        _ => "net (a newer right)",
    }
}

fn scope_name(right: ScopeRight) -> &'static str {
    match right {
        ScopeRight::AbstractUnixSocket => "scope.abstract-unix",
        ScopeRight::Signal => "scope.signal",
        _ => "scope (a newer one)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(missing: &[MissingRight]) -> Vec<String> {
        missing.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn rights_map_to_the_abi_that_introduced_them() {
        let mut ruleset = Ruleset::new();
        ruleset
            .restrict(Resource::Fs)
            .restrict(Resource::TcpBind)
            .scope(Scope::Signal);
        let missing = negotiate(&ruleset, Kernel::Abi(2)).unwrap_err();
        assert_eq!(
            names(&missing),
            [
                "fs.truncate (needs ABI 3)",
                "fs.ioctl_dev (needs ABI 5)",
                "tcp.bind (needs ABI 4)",
                "scope.signal (needs ABI 6)"
            ]
        );
        let missing = negotiate(&ruleset, Kernel::Abi(5)).unwrap_err();
        assert_eq!(names(&missing), ["scope.signal (needs ABI 6)"]);
        assert!(negotiate(&ruleset, Kernel::Abi(6)).is_ok());
    }

    #[test]
    fn a_newer_kernel_handles_no_more_than_the_target() {
        let mut ruleset = Ruleset::new();
        ruleset.restrict(Resource::Fs);
        let negotiated = negotiate(&ruleset, Kernel::Abi(99)).unwrap();
        assert_eq!(negotiated.handled.fs, AccessFs::from_all(ABI::V5).bits());
        assert!(negotiated.enforcement.is_complete());
    }

    #[test]
    fn best_effort_handles_what_the_kernel_has() {
        let mut ruleset = Ruleset::new();
        ruleset
            .restrict(Resource::Fs)
            .restrict(Resource::TcpConnect)
            .compat(CompatMode::BestEffort);
        let negotiated = negotiate(&ruleset, Kernel::Abi(1)).unwrap();
        assert_eq!(negotiated.handled.fs, AccessFs::from_all(ABI::V1).bits());
        assert_eq!(negotiated.handled.net, 0);
        assert_eq!(negotiated.enforcement.kernel_abi(), 1);
        assert_eq!(
            negotiated.enforcement.to_string(),
            "landlock ABI 1: not enforced: fs.truncate (needs ABI 3), fs.ioctl_dev (needs ABI 5), tcp.connect (needs ABI 4)"
        );
        let none = negotiate(&ruleset, Kernel::NotEnabled).unwrap();
        assert!(none.handled.is_empty());
        assert_eq!(none.enforcement.kernel_abi(), 0);
    }

    #[test]
    fn access_letters_map_to_kernel_rights() {
        let read = AccessFs::ReadFile as u64 | AccessFs::ReadDir as u64;
        assert_eq!(fs_rights(FsAccess::R), read);
        assert_eq!(fs_rights(FsAccess::X), AccessFs::Execute as u64);
        let all = fs_rights(FsAccess::R | FsAccess::W | FsAccess::X);
        assert_eq!(all, AccessFs::from_all(TARGET).bits());
        assert_eq!(
            fs_rights(FsAccess::W) & AccessFs::Truncate as u64,
            AccessFs::Truncate as u64
        );
    }
}
