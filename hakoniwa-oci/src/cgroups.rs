//! The container's cgroup: `linux.resources` → the library's `Cgroup`
//! limits, `linux.cgroupsPath` → where it goes. Part of the one mapping
//! path (`lower.rs` calls it); `update` maps its resources here too.

use std::path::PathBuf;

use hakoniwa::{Cgroup, Container};
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

use crate::error::SpecError;
use crate::spec::Linux;

/// Gives the container a cgroup when `linux.resources` sets a limit,
/// `linux.cgroupsPath` names one, or `needed` (a pid namespace joined by
/// path, which the library only joins with one): always freezable, for
/// `pause`. Otherwise the container has no cgroup of its own (and cannot
/// be paused).
pub fn lower(container: &mut Container, linux: &Linux, needed: bool) -> Result<(), SpecError> {
    let limits = match linux.resources() {
        Some(resources) => limits(resources)?,
        None => None,
    };
    let path = match linux.cgroups_path() {
        None => None,
        Some(path) if path.as_os_str().is_empty() => None,
        Some(path) => {
            let text = path
                .to_str()
                .ok_or_else(|| SpecError::field("linux.cgroupsPath", "not valid UTF-8"))?;
            Some(cgroup_path(text)?)
        }
    };
    if limits.is_none() && path.is_none() && !needed {
        return Ok(());
    }
    let mut cgroup = limits.unwrap_or_default();
    cgroup.freezer();
    if let Some(path) = path {
        cgroup.path(path);
    }
    container.cgroup(cgroup);
    Ok(())
}

/// `linux.resources` as limits: `memory.limit`, `memory.swap` (memory and
/// swap together), `pids.limit`, `cpu.quota` over `cpu.period`,
/// `cpu.shares`; `None` when none is set. Values that mean "no limit" (0,
/// -1) set nothing. The devices rules are accepted without a devices
/// cgroup: the library's devfs holds only `null zero full random urandom
/// tty` and the nodes of `linux.devices`, bound from the host, and no other
/// device can be made. Any other knob is refused, naming it.
pub fn limits(resources: &LinuxResources) -> Result<Option<Cgroup>, SpecError> {
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
    Ok(limited.then_some(cgroup))
}

/// `linux.cgroupsPath` as the library's path: a path as it is (absolute
/// from each hierarchy's root, relative from the runtime's own cgroup), or
/// systemd's `slice:prefix:name` as the directory systemd gives that scope
/// (`kubepods-besteffort.slice:cri-containerd:abc` is
/// `/kubepods.slice/kubepods-besteffort.slice/cri-containerd-abc.scope`).
/// Told apart by their form, as the engine picks one with the cgroup
/// manager it passes `--systemd-cgroup` for.
fn cgroup_path(text: &str) -> Result<PathBuf, SpecError> {
    let invalid =
        |reason: &str| SpecError::field("linux.cgroupsPath", format!("{text:?} {reason}"));
    let parts: Vec<&str> = text.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Ok(PathBuf::from(text));
    };
    if text.contains('/') {
        return Ok(PathBuf::from(text));
    }
    if name.is_empty() || name.ends_with(".slice") {
        return Err(invalid(
            "names no scope: systemd's form is slice:prefix:name, and a slice as the \
             container's cgroup is not supported",
        ));
    }
    let slice = match slice {
        "" => "system.slice",
        slice if slice.ends_with(".slice") => slice,
        _ => {
            return Err(invalid(
                "is not systemd's form: the slice must end in .slice",
            ))
        }
    };
    let mut path = PathBuf::from("/");
    // A slice's name says its parents: `a-b.slice` is in `a.slice`; `-.slice`
    // is the root.
    let stem = slice.trim_end_matches(".slice");
    if stem != "-" {
        if stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
            return Err(invalid("has a slice name systemd refuses"));
        }
        let mut parent = String::new();
        for word in stem.split('-') {
            if !parent.is_empty() {
                parent.push('-');
            }
            parent.push_str(word);
            path.push(format!("{parent}.slice"));
        }
    }
    path.push(match prefix {
        "" => format!("{name}.scope"),
        prefix => format!("{prefix}-{name}.scope"),
    });
    Ok(path)
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
        match limits(&resources) {
            Ok(_) => panic!("accepted"),
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
        assert_eq!(limits(&resources).unwrap_or_else(|e| panic!("{e}")), None);
    }

    #[test]
    fn a_cgroups_path_is_a_path_or_systemds_form() {
        let path = |text| cgroup_path(text).map(|p| p.display().to_string());
        assert_eq!(
            path("/libpod_parent/libpod-1").ok().as_deref(),
            Some("/libpod_parent/libpod-1")
        );
        assert_eq!(path("box").ok().as_deref(), Some("box"));
        assert_eq!(
            path("kubepods-besteffort-pod1.slice:cri-containerd:abc")
                .ok()
                .as_deref(),
            Some("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope")
        );
        assert_eq!(
            path(":libpod:abc").ok().as_deref(),
            Some("/system.slice/libpod-abc.scope")
        );
        assert_eq!(path("-.slice::abc").ok().as_deref(), Some("/abc.scope"));
        for bad in [
            "machine.slice:libpod:",
            "a.slice:x:b.slice",
            "user:libpod:abc",
            "a--b.slice:x:y",
        ] {
            let error = path(bad).expect_err(bad).to_string();
            assert!(error.starts_with("linux.cgroupsPath: "), "{error}");
        }
    }
}
