//! Architectures: the `AUDIT_ARCH_*` value the kernel puts in
//! `seccomp_data.arch`, the syscall table of each, and which of them a
//! program on this host can call the kernel with.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// An architecture (calling convention) a syscall can arrive with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// x86-64 (`SCMP_ARCH_X86_64`).
    X86_64,
    /// 32-bit x86 (`SCMP_ARCH_X86`): what `int 0x80` reaches on an x86-64
    /// kernel with IA-32 emulation.
    X86,
    /// The x32 ABI (`SCMP_ARCH_X32`): x86-64 numbers with bit 30 set.
    X32,
    /// 64-bit ARM (`SCMP_ARCH_AARCH64`).
    Aarch64,
    /// 32-bit ARM (`SCMP_ARCH_ARM`), the compat mode of an arm64 kernel.
    Arm,
}

/// `__AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE | EM_X86_64` (`<linux/audit.h>`).
pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `__AUDIT_ARCH_LE | EM_386`.
pub(crate) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `__AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE | EM_AARCH64`.
pub(crate) const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `__AUDIT_ARCH_LE | EM_ARM`.
pub(crate) const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
/// `__X32_SYSCALL_BIT`: an x32 syscall arrives as `AUDIT_ARCH_X86_64` with
/// this bit set in its number, so the x86-64 part of a filter must look
/// at it before anything else.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The SCMP names of the OCI format that we know; the ones we cannot run
/// on any host we support are accepted and ignored.
const SCMP_NAMES: [&str; 21] = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
];

impl Arch {
    /// The `SCMP_ARCH_*` name; `Ok(None)` for a valid name of an
    /// architecture we never run on, `Err` for an unknown one.
    pub(crate) fn from_scmp(name: &str) -> Result<Option<Arch>, ()> {
        let arch = match name {
            "SCMP_ARCH_X86_64" => Arch::X86_64,
            "SCMP_ARCH_X86" => Arch::X86,
            "SCMP_ARCH_X32" => Arch::X32,
            "SCMP_ARCH_AARCH64" => Arch::Aarch64,
            "SCMP_ARCH_ARM" => Arch::Arm,
            other if SCMP_NAMES.contains(&other) => return Ok(None),
            _ => return Err(()),
        };
        Ok(Some(arch))
    }

    /// The value of `seccomp_data.arch` for this architecture.
    pub(crate) fn audit(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::X86 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
            Arch::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// Whether arguments are 32 bits wide (the high word is never looked at).
    pub(crate) fn is_32bit(self) -> bool {
        matches!(self, Arch::X86 | Arch::Arm)
    }

    /// The number of `name` on this architecture.
    pub(crate) fn syscall(self, name: &str) -> Option<u32> {
        table(self).get(name).copied()
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::X86 => "x86",
            Arch::X32 => "x32",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
        })
    }
}

/// What a program on this host can reach the kernel with: its own
/// architecture, and the compat one the kernel may also accept.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Host {
    pub native: Arch,
    pub compat: Option<Arch>,
    /// The name Go gives the native architecture, which the Docker format's
    /// `includes.arches` / `excludes.arches` compare against.
    pub go_name: &'static str,
}

/// This host, or `None` where seccomp is not supported by hakoniwa.
pub(crate) fn host() -> Option<Host> {
    if cfg!(target_arch = "x86_64") {
        Some(Host::of(Arch::X86_64))
    } else if cfg!(target_arch = "aarch64") {
        Some(Host::of(Arch::Aarch64))
    } else {
        None
    }
}

impl Host {
    /// A host whose programs are native to `native`: its compat
    /// architecture and Go name follow from it.
    pub(crate) fn of(native: Arch) -> Self {
        let (compat, go_name) = match native {
            Arch::X86_64 | Arch::X32 => (Some(Arch::X86), "amd64"),
            Arch::X86 => (None, "386"),
            Arch::Aarch64 => (Some(Arch::Arm), "arm64"),
            Arch::Arm => (None, "arm"),
        };
        Self {
            native,
            compat,
            go_name,
        }
    }
}

/// ARM's private syscalls (`__ARM_NR_*` in `<asm/unistd.h>`), which the
/// `syscalls` crate does not list.
const ARM_PRIVATE: [(&str, u32); 6] = [
    ("breakpoint", 0x0f_0001),
    ("cacheflush", 0x0f_0002),
    ("usr26", 0x0f_0003),
    ("usr32", 0x0f_0004),
    ("set_tls", 0x0f_0005),
    ("get_tls", 0x0f_0006),
];

type Table = HashMap<&'static str, u32>;

/// Name → number for `arch`, built once.
fn table(arch: Arch) -> &'static Table {
    static X86_64: OnceLock<Table> = OnceLock::new();
    static X86: OnceLock<Table> = OnceLock::new();
    static AARCH64: OnceLock<Table> = OnceLock::new();
    static ARM: OnceLock<Table> = OnceLock::new();
    macro_rules! build {
        ($module:ident) => {
            syscalls::$module::Sysno::iter()
                .map(|sysno| (sysno.name(), sysno.id() as u32))
                .collect::<Table>()
        };
    }
    match arch {
        // x32 is never compiled (see `compile.rs`); its names are x86-64's.
        Arch::X86_64 | Arch::X32 => X86_64.get_or_init(|| build!(x86_64)),
        Arch::X86 => X86.get_or_init(|| build!(x86)),
        Arch::Aarch64 => AARCH64.get_or_init(|| build!(aarch64)),
        Arch::Arm => ARM.get_or_init(|| {
            let mut table = build!(arm);
            table.extend(ARM_PRIVATE);
            table
        }),
    }
}

/// Whether `name` is a syscall on any architecture Linux has: a name that
/// is not is a typo, while one missing only here is for another machine.
pub(crate) fn is_known_anywhere(name: &str) -> bool {
    // The host's tables are hashed; the others are long `match`es, asked
    // only for the few names the host does not have.
    if let Some(host) = host() {
        let hashed = [Some(host.native), host.compat];
        if hashed
            .iter()
            .flatten()
            .any(|arch| arch.syscall(name).is_some())
        {
            return true;
        }
    }
    macro_rules! any_table {
        ($($module:ident),*) => {
            false $(|| syscalls::$module::Sysno::from_str(name).is_ok())*
        };
    }
    ARM_PRIVATE.iter().any(|(private, _)| *private == name)
        || any_table!(
            x86_64,
            x86,
            aarch64,
            arm,
            loongarch64,
            mips,
            mips64,
            powerpc,
            powerpc64,
            riscv32,
            riscv64,
            s390x,
            sparc,
            sparc64
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_the_numbers_the_kernel_uses() {
        assert_eq!(Arch::X86_64.syscall("getppid"), Some(110));
        assert_eq!(Arch::X86.syscall("getppid"), Some(64));
        assert_eq!(Arch::X86.syscall("keyctl"), Some(288));
        assert_eq!(Arch::X86_64.syscall("_llseek"), None);
        assert_eq!(Arch::Arm.syscall("set_tls"), Some(0x0f_0005));
        assert!(is_known_anywhere("_llseek"));
        assert!(is_known_anywhere("riscv_flush_icache"));
        assert!(!is_known_anywhere("getppidd"));
    }
}
