//! The limits of a [`Cgroup`], checked, and lowered to the files of each
//! cgroup version: which controller, which file, which value, in the order
//! they must be written. Pure: no file is touched here.

use std::path::{Component, PathBuf};

use super::{Cgroup, CgroupVersion};
use crate::error::{Error, Result};

/// A cgroup controller (in v1, a hierarchy of its own or shared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Controller {
    Memory,
    Pids,
    Cpu,
    /// v1 only: the CPU usage counter (v2 counts it in every cgroup).
    Cpuacct,
    /// Freezing every process at once: a hierarchy of its own in v1, and
    /// in v2 a core file of every cgroup (`cgroup.freeze`, Linux 5.2).
    Freezer,
}

impl Controller {
    /// Its name in `/proc/self/cgroup`, mount options and
    /// `cgroup.controllers`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Freezer => "freezer",
        }
    }

    /// Whether every v2 cgroup has it without enabling it: it is then
    /// neither in `cgroup.controllers` nor written to
    /// `cgroup.subtree_control`.
    pub(crate) fn v2_core(self) -> bool {
        self == Controller::Freezer
    }
}

/// The CFS period the `cpus` quota is given for, in microseconds (the
/// kernel's default, and what Docker uses).
pub(crate) const CPU_PERIOD_US: u64 = 100_000;

/// The smallest quota the kernel takes, in microseconds.
const MIN_CPU_QUOTA_US: u64 = 1_000;

/// `cpu.shares` (v1) that stands for the default `cpu.weight` (v2) of 100.
const DEFAULT_SHARES: u64 = 1024;

/// One value to write into a file of the sandbox's cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Setting {
    pub controller: Controller,
    pub file: &'static str,
    pub value: String,
}

/// The limits, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CgroupPlan {
    memory: Option<u64>,
    memory_swap: Option<u64>,
    pids: Option<u64>,
    cpu_quota_us: Option<u64>,
    cpu_weight: Option<u64>,
    freezer: bool,
    /// Where the cgroup goes, when not beneath the caller's own.
    pub(crate) path: Option<PathBuf>,
}

impl CgroupPlan {
    pub(crate) fn new(cgroup: &Cgroup) -> Result<Self> {
        let invalid = |limit, reason: String| Err(Error::InvalidCgroup { limit, reason });
        match (cgroup.memory, cgroup.memory_swap) {
            (None, Some(_)) => {
                return invalid(
                    "memory-swap",
                    "it counts memory and swap together, so it needs a memory limit".into(),
                )
            }
            (Some(memory), Some(swap)) if swap < memory => {
                return invalid(
                    "memory-swap",
                    format!("{swap} bytes is less than the memory limit of {memory} bytes"),
                )
            }
            _ => {}
        }
        if cgroup.pids == Some(0) {
            return invalid("pids", "the sandbox's init needs one process".into());
        }
        let cpu_quota_us = match cgroup.cpus {
            Some(cpus)
                if !cpus.is_finite() || cpus * (CPU_PERIOD_US as f64) < MIN_CPU_QUOTA_US as f64 =>
            {
                return invalid("cpus", format!("{cpus} is below the smallest quota, 0.01"))
            }
            Some(cpus) => Some((cpus * CPU_PERIOD_US as f64).round() as u64),
            None => None,
        };
        if let Some(weight) = cgroup.cpu_weight.filter(|w| !(1..=10_000).contains(w)) {
            return invalid("cpu-weight", format!("{weight} is not from 1 to 10000"));
        }
        if let Some(path) = &cgroup.path {
            // A path that climbs out (`..`) would leave the hierarchy, or
            // the caller's cgroup for a relative one.
            let fine = path
                .components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
                && path.components().any(|c| matches!(c, Component::Normal(_)));
            if !fine {
                return invalid(
                    "path",
                    format!("{} must name a cgroup without `.` or `..`", path.display()),
                );
            }
        }
        Ok(Self {
            memory: cgroup.memory,
            memory_swap: cgroup.memory_swap,
            pids: cgroup.pids,
            cpu_quota_us,
            cpu_weight: cgroup.cpu_weight,
            freezer: cgroup.freezer,
            path: cgroup.path.clone(),
        })
    }

    /// The controllers the limits need: without one of them, the run
    /// stops.
    /// (v1 counts CPU time in the cpuacct hierarchy, which only counts:
    /// it is never required.)
    pub(crate) fn required(&self) -> Vec<Controller> {
        let mut needed = Vec::new();
        if self.memory.is_some() {
            needed.push(Controller::Memory);
        }
        if self.pids.is_some() {
            needed.push(Controller::Pids);
        }
        if self.cpu_quota_us.is_some() || self.cpu_weight.is_some() {
            needed.push(Controller::Cpu);
        }
        if self.freezer {
            needed.push(Controller::Freezer);
        }
        needed
    }

    /// The controllers that count what the sandbox used, taken when the
    /// host has them.
    pub(crate) fn accounting(version: CgroupVersion) -> &'static [Controller] {
        match version {
            CgroupVersion::V1 => &[Controller::Memory, Controller::Pids, Controller::Cpuacct],
            CgroupVersion::V2 => &[Controller::Memory, Controller::Pids],
        }
    }

    /// The files to write, in order.
    pub(crate) fn settings(&self, version: CgroupVersion) -> Vec<Setting> {
        use CgroupVersion::{V1, V2};
        use Controller::{Cpu, Memory, Pids};
        let mut settings = Vec::new();
        let mut set = |controller, file, value: String| {
            settings.push(Setting {
                controller,
                file,
                value,
            })
        };
        // "max" means no limit, except where v1 wants -1.
        let bytes = |value: u64| match (value, version) {
            (u64::MAX, V1) => "-1".to_string(),
            (u64::MAX, V2) => "max".to_string(),
            (value, _) => value.to_string(),
        };
        if let Some(memory) = self.memory {
            match version {
                V1 => set(Memory, "memory.limit_in_bytes", bytes(memory)),
                V2 => set(Memory, "memory.max", bytes(memory)),
            }
        }
        // v1 refuses memory+swap below the memory limit: written after it.
        if let (Some(memory), Some(swap)) = (self.memory, self.memory_swap) {
            match version {
                V1 => set(Memory, "memory.memsw.limit_in_bytes", bytes(swap)),
                V2 if swap == u64::MAX => set(Memory, "memory.swap.max", bytes(swap)),
                V2 => set(Memory, "memory.swap.max", bytes(swap - memory)),
            }
        }
        if let Some(pids) = self.pids {
            let value = match pids {
                u64::MAX => "max".to_string(),
                pids => pids.to_string(),
            };
            set(Pids, "pids.max", value);
        }
        if let Some(quota) = self.cpu_quota_us {
            match version {
                V1 => {
                    set(Cpu, "cpu.cfs_period_us", CPU_PERIOD_US.to_string());
                    set(Cpu, "cpu.cfs_quota_us", quota.to_string());
                }
                V2 => set(Cpu, "cpu.max", format!("{quota} {CPU_PERIOD_US}")),
            }
        }
        if let Some(weight) = self.cpu_weight {
            match version {
                V1 => set(Cpu, "cpu.shares", shares(weight).to_string()),
                V2 => set(Cpu, "cpu.weight", weight.to_string()),
            }
        }
        settings
    }

    /// The limits in words, for `-v` and `--dry-run`.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        let amount = |value: u64, unit: &str| match value {
            u64::MAX => "unlimited".to_string(),
            value => format!("{value}{unit}"),
        };
        if let Some(memory) = self.memory {
            parts.push(format!("memory {}", amount(memory, " bytes")));
        }
        if let Some(swap) = self.memory_swap {
            parts.push(format!("memory+swap {}", amount(swap, " bytes")));
        }
        if let Some(pids) = self.pids {
            parts.push(format!("pids {}", amount(pids, "")));
        }
        if let Some(quota) = self.cpu_quota_us {
            parts.push(format!("cpu {quota}us per {CPU_PERIOD_US}us"));
        }
        if let Some(weight) = self.cpu_weight {
            parts.push(format!("cpu weight {weight}"));
        }
        if self.freezer {
            parts.push("freezable".to_string());
        }
        if let Some(path) = &self.path {
            parts.push(format!("at {}", path.display()));
        }
        match parts.is_empty() {
            true => "cgroup: no limit (accounting only)".to_string(),
            false => format!("cgroup: {}", parts.join(", ")),
        }
    }
}

/// v1 `cpu.shares` for a v2 `cpu.weight`: proportional, so that the
/// default weight 100 gives the default 1024 shares, within the kernel's
/// 2 to 262144.
fn shares(weight: u64) -> u64 {
    (weight * DEFAULT_SHARES / 100).clamp(2, 262_144)
}

#[cfg(test)]
mod tests {
    use super::*;
    use CgroupVersion::{V1, V2};

    fn plan(build: impl FnOnce(&mut Cgroup)) -> CgroupPlan {
        let mut cgroup = Cgroup::new();
        build(&mut cgroup);
        CgroupPlan::new(&cgroup).unwrap()
    }

    fn files(plan: &CgroupPlan, version: CgroupVersion) -> Vec<(&'static str, String)> {
        plan.settings(version)
            .into_iter()
            .map(|setting| (setting.file, setting.value))
            .collect()
    }

    fn pairs(list: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        list.iter().map(|(f, v)| (*f, v.to_string())).collect()
    }

    #[test]
    fn every_limit_goes_to_its_v2_file() {
        let plan = plan(|c| {
            c.memory(256 << 20)
                .memory_swap(512 << 20)
                .pids(32)
                .cpus(0.25)
                .cpu_weight(50);
        });
        assert_eq!(
            files(&plan, V2),
            pairs(&[
                ("memory.max", "268435456"),
                ("memory.swap.max", "268435456"),
                ("pids.max", "32"),
                ("cpu.max", "25000 100000"),
                ("cpu.weight", "50"),
            ])
        );
        assert_eq!(
            plan.required(),
            [Controller::Memory, Controller::Pids, Controller::Cpu]
        );
    }

    #[test]
    fn every_limit_goes_to_its_v1_file_in_a_valid_order() {
        let plan = plan(|c| {
            c.memory(256 << 20)
                .memory_swap(512 << 20)
                .pids(32)
                .cpus(1.5)
                .cpu_weight(50);
        });
        assert_eq!(
            files(&plan, V1),
            pairs(&[
                ("memory.limit_in_bytes", "268435456"),
                ("memory.memsw.limit_in_bytes", "536870912"),
                ("pids.max", "32"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "150000"),
                ("cpu.shares", "512"),
            ])
        );
        let controllers: Vec<Controller> = plan.settings(V1).iter().map(|s| s.controller).collect();
        assert_eq!(controllers[0], Controller::Memory);
        assert_eq!(controllers[5], Controller::Cpu);
    }

    #[test]
    fn unlimited_is_spelled_as_each_version_wants() {
        let plan = plan(|c| {
            c.memory(u64::MAX).memory_swap(u64::MAX).pids(u64::MAX);
        });
        assert_eq!(
            files(&plan, V1),
            pairs(&[
                ("memory.limit_in_bytes", "-1"),
                ("memory.memsw.limit_in_bytes", "-1"),
                ("pids.max", "max"),
            ])
        );
        assert_eq!(
            files(&plan, V2),
            pairs(&[
                ("memory.max", "max"),
                ("memory.swap.max", "max"),
                ("pids.max", "max"),
            ])
        );
    }

    #[test]
    fn accounting_only_writes_nothing_and_needs_nothing() {
        let plan = plan(|_| {});
        assert!(plan.settings(V1).is_empty() && plan.settings(V2).is_empty());
        assert!(plan.required().is_empty());
        assert_eq!(plan.describe(), "cgroup: no limit (accounting only)");
        assert!(CgroupPlan::accounting(V1).contains(&Controller::Cpuacct));
        assert!(!CgroupPlan::accounting(V2).contains(&Controller::Cpuacct));
    }

    #[test]
    fn weights_map_to_shares_around_the_defaults() {
        assert_eq!(shares(100), 1024);
        assert_eq!(shares(1), 10);
        assert_eq!(shares(10_000), 102_400);
    }

    #[test]
    fn impossible_limits_are_refused_naming_the_limit() {
        let refused = |build: fn(&mut Cgroup)| {
            let mut cgroup = Cgroup::new();
            build(&mut cgroup);
            match CgroupPlan::new(&cgroup) {
                Err(Error::InvalidCgroup { limit, .. }) => limit,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(refused(|c| _ = c.memory_swap(1 << 30)), "memory-swap");
        assert_eq!(
            refused(|c| _ = c.memory(1 << 30).memory_swap(1 << 20)),
            "memory-swap"
        );
        assert_eq!(refused(|c| _ = c.pids(0)), "pids");
        assert_eq!(refused(|c| _ = c.cpus(0.001)), "cpus");
        assert_eq!(refused(|c| _ = c.cpus(f64::NAN)), "cpus");
        assert_eq!(refused(|c| _ = c.cpu_weight(0)), "cpu-weight");
        assert_eq!(refused(|c| _ = c.cpu_weight(10_001)), "cpu-weight");
        assert_eq!(refused(|c| _ = c.path("/kubepods/../x")), "path");
        assert_eq!(refused(|c| _ = c.path("/")), "path");
        assert_eq!(refused(|c| _ = c.path("")), "path");
    }

    #[test]
    fn a_freezer_is_required_and_writes_nothing() {
        let plan = plan(|c| {
            c.freezer().path("/kubepods/pod1/c1");
        });
        assert_eq!(plan.required(), [Controller::Freezer]);
        assert!(plan.settings(V1).is_empty());
        assert_eq!(plan.describe(), "cgroup: freezable, at /kubepods/pod1/c1");
    }
}
