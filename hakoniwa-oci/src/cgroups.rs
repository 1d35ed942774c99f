//! `linux.resources` → the library's `Cgroup`: part of the one mapping
//! path (`lower.rs` calls it).

use hakoniwa::{Cgroup, Container};
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

use crate::error::SpecError;

/// `linux.resources`, through the library's cgroup (made beneath the
/// runtime's own; `linux.cgroupsPath` is not read): `memory.limit`,
/// `memory.swap` (memory and swap together), `pids.limit`, `cpu.quota` over
/// `cpu.period`, `cpu.shares`. Values that mean "no limit" (0, -1) set
/// nothing. The devices rules are accepted without a devices cgroup: the
/// library's devfs holds only `null zero full random urandom tty`, bound
/// from the host, and no other device can be made. Any other knob is
/// refused, naming it.
pub fn lower(container: &mut Container, resources: &LinuxResources) -> Result<(), SpecError> {
    refuse_unsupported(resources)?;
    let limit = |value: Option<i64>| value.and_then(|n| u64::try_from(n).ok()).filter(|n| *n > 0);
    let mut cgroup = Cgroup::new();
    let mut limited = false;
    if let Some(memory) = resources.memory() {
        if let Some(bytes) = limit(memory.limit()) {
            cgroup.memory(bytes);
            limited = true;
            if let Some(total) = limit(memory.swap()) {
                cgroup.memory_swap(total);
            }
        }
    }
    if let Some(count) = resources
        .pids()
        .as_ref()
        .and_then(|p| limit(Some(p.limit())))
    {
        cgroup.pids(count);
        limited = true;
    }
    if let Some(cpu) = resources.cpu() {
        if let Some(quota) = limit(cpu.quota()) {
            let period = cpu.period().filter(|p| *p > 0).unwrap_or(100_000);
            cgroup.cpus(quota as f64 / period as f64);
            limited = true;
        }
        if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
            // cgroup v1's shares (1024 by default) as a weight (100 by
            // default), as runc converts them.
            cgroup.cpu_weight((shares * 100 / 1024).clamp(1, 10_000));
            limited = true;
        }
    }
    if limited {
        container.cgroup(cgroup);
    }
    Ok(())
}

/// The knobs of `linux.resources` this runtime does not apply: present is
/// refused, naming the first.
fn refuse_unsupported(resources: &LinuxResources) -> Result<(), SpecError> {
    let memory = resources
        .memory()
        .as_ref()
        .map(memory_knobs)
        .unwrap_or_default();
    let cpu = resources.cpu().as_ref().map(cpu_knobs).unwrap_or_default();
    let groups = [
        ("blockIO", resources.block_io().is_some()),
        (
            "hugepageLimits",
            resources
                .hugepage_limits()
                .as_ref()
                .is_some_and(|l| !l.is_empty()),
        ),
        ("network", resources.network().is_some()),
        (
            "rdma",
            resources.rdma().as_ref().is_some_and(|r| !r.is_empty()),
        ),
        (
            "unified",
            resources.unified().as_ref().is_some_and(|u| !u.is_empty()),
        ),
    ];
    let unsupported = memory
        .iter()
        .map(|(knob, given)| (format!("memory.{knob}"), *given))
        .chain(
            cpu.iter()
                .map(|(knob, given)| (format!("cpu.{knob}"), *given)),
        )
        .chain(
            groups
                .iter()
                .map(|(group, given)| (group.to_string(), *given)),
        )
        .find(|(_, given)| *given);
    match unsupported {
        Some((knob, _)) => Err(SpecError::field(
            format!("linux.resources.{knob}"),
            "not supported yet",
        )),
        None => Ok(()),
    }
}

fn memory_knobs(memory: &LinuxMemory) -> Vec<(&'static str, bool)> {
    // `kernel` is deprecated by the specification; a runtime that cannot
    // set it must still refuse it.
    #[allow(deprecated)]
    let kernel = memory.kernel();
    vec![
        ("reservation", memory.reservation().is_some()),
        ("kernel", kernel.is_some()),
        ("kernelTCP", memory.kernel_tcp().is_some()),
        ("swappiness", memory.swappiness().is_some()),
        ("disableOOMKiller", memory.disable_oom_killer().is_some()),
        ("useHierarchy", memory.use_hierarchy().is_some()),
        ("checkBeforeUpdate", memory.check_before_update().is_some()),
    ]
}

fn cpu_knobs(cpu: &LinuxCpu) -> Vec<(&'static str, bool)> {
    vec![
        ("idle", cpu.idle().is_some()),
        ("burst", cpu.burst().is_some()),
        ("realtimeRuntime", cpu.realtime_runtime().is_some()),
        ("realtimePeriod", cpu.realtime_period().is_some()),
        ("cpus", cpu.cpus().as_ref().is_some_and(|c| !c.is_empty())),
        ("mems", cpu.mems().as_ref().is_some_and(|m| !m.is_empty())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(resources: &str) -> String {
        let resources = serde_json::from_str(resources).expect("resources");
        match lower(&mut Container::empty(), &resources) {
            Ok(()) => panic!("accepted"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn resources_not_applied_are_refused_by_name() {
        let error = refused(r#"{"blockIO": {"weight": 10}}"#);
        assert!(error.starts_with("linux.resources.blockIO: "), "{error}");
        let error = refused(r#"{"memory": {"reservation": 1}}"#);
        assert!(
            error.starts_with("linux.resources.memory.reservation: "),
            "{error}"
        );
        let accepted = r#"{"devices": [{"allow": false, "access": "rwm"}], "pids": {"limit": 0}}"#;
        let resources = serde_json::from_str(accepted).expect("resources");
        lower(&mut Container::empty(), &resources).unwrap_or_else(|e| panic!("{e}"));
    }
}
