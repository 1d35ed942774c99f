//! What landlock enforced for a run, as the caller reports it.

use std::fmt;

/// A right the kernel could not enforce, and the landlock ABI it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingRight {
    /// The right, e.g. `fs.truncate`, `tcp.bind`, `scope.signal`; `fs`
    /// alone when the kernel has no filesystem rights at all.
    pub name: &'static str,
    /// The landlock ABI that introduced it.
    pub abi: u32,
}

impl fmt::Display for MissingRight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (needs ABI {})", self.name, self.abi)
    }
}

/// What landlock enforced for a run: all the ruleset asked for, or —
/// under [`CompatMode::BestEffort`](crate::landlock::CompatMode::BestEffort) — part of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enforcement {
    pub(super) kernel_abi: u32,
    pub(super) missing: Vec<MissingRight>,
}

impl Enforcement {
    /// The landlock ABI of the running kernel; 0 when it has none.
    pub fn kernel_abi(&self) -> u32 {
        self.kernel_abi
    }

    /// Whether everything the ruleset asked for is enforced.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// The rights that are not enforced.
    pub fn missing(&self) -> &[MissingRight] {
        &self.missing
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "landlock ABI {}: ", self.kernel_abi)?;
        if self.missing.is_empty() {
            return f.write_str("fully enforced");
        }
        f.write_str("not enforced: ")?;
        for (i, right) in self.missing.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{right}")?;
        }
        Ok(())
    }
}
