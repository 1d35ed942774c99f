//! `linux.resources` → the library's `Cgroup`: part of the one mapping
//! path (`lower.rs` calls it).

use hakoniwa::{Cgroup, Container};

use crate::error::SpecError;
use crate::spec;

/// `linux.resources`, through the library's cgroup (made beneath the
/// runtime's own; `linux.cgroupsPath` is not read): `memory.limit`,
/// `memory.swap` (memory and swap together), `pids.limit`, `cpu.quota` over
/// `cpu.period`, `cpu.shares`. Values that mean "no limit" (0, -1) set
/// nothing. The devices rules are accepted without a devices cgroup: the
/// library's devfs holds only `null zero full random urandom tty`, bound
/// from the host, and no other device can be made. Any other knob is
/// refused, naming it.
pub fn lower(container: &mut Container, resources: &spec::Resources) -> Result<(), SpecError> {
    let mut cgroup = Cgroup::new();
    let mut limited = false;
    let groups = [
        ("memory", &resources.memory, &["limit", "swap"][..]),
        ("cpu", &resources.cpu, &["quota", "period", "shares"][..]),
        ("pids", &resources.pids, &["limit"][..]),
    ];
    for (group, knobs, known) in groups {
        if let Some(unknown) = knobs.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(SpecError::field(
                format!("linux.resources.{group}.{unknown}"),
                "not supported yet",
            ));
        }
    }
    if let Some(other) = resources.other.keys().next() {
        return Err(SpecError::field(
            format!("linux.resources.{other}"),
            "not supported yet",
        ));
    }
    let number =
        |group: &str, knobs: &serde_json::Map<String, serde_json::Value>, knob: &str| match knobs
            .get(knob)
        {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => value
                .as_i64()
                .map(|n| u64::try_from(n).ok().filter(|n| *n > 0))
                .ok_or_else(|| {
                    SpecError::field(format!("linux.resources.{group}.{knob}"), "not an integer")
                }),
        };
    if let Some(bytes) = number("memory", &resources.memory, "limit")? {
        cgroup.memory(bytes);
        limited = true;
        if let Some(total) = number("memory", &resources.memory, "swap")? {
            cgroup.memory_swap(total);
        }
    }
    if let Some(count) = number("pids", &resources.pids, "limit")? {
        cgroup.pids(count);
        limited = true;
    }
    if let Some(quota) = number("cpu", &resources.cpu, "quota")? {
        let period = number("cpu", &resources.cpu, "period")?.unwrap_or(100_000);
        cgroup.cpus(quota as f64 / period as f64);
        limited = true;
    }
    if let Some(shares) = number("cpu", &resources.cpu, "shares")? {
        // cgroup v1's shares (1024 by default) as a weight (100 by
        // default), as runc converts them.
        cgroup.cpu_weight((shares * 100 / 1024).clamp(1, 10_000));
        limited = true;
    }
    if limited {
        container.cgroup(cgroup);
    }
    Ok(())
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
